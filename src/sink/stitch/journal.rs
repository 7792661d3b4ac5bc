//! The journal of a resumable stitch: which regions are written.
//!
//! A text file beside the output: a first line describing the job (JSON),
//! then one line `r <id>` per region, appended after the region's values
//! reached the output (a mapped file's pages, a Zarr chunk's file). A run
//! killed at any moment leaves at worst a partial last line, which is
//! ignored: that region is done again. A resumed run trusts the journal only
//! if its first line describes the same job. It is a guard against a killed
//! process, not a power loss: neither the journal nor the output is synced
//! before a region is recorded.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

impl Journal {
    /// Opens the journal at `path` for a job described by `job` (one line of
    /// text, e.g. JSON). With `resume`, a journal of the same job is kept and
    /// the regions it lists are returned; otherwise (or if it describes
    /// another job, or is missing) it is started afresh and the list is
    /// empty.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the journal if it cannot be read or written.
    pub fn open(path: &Path, job: &str, resume: bool) -> Result<(Journal, Vec<usize>)> {
        let job = job.replace('\n', " ");
        let mut done = Vec::new();
        let mut same = false;
        if resume {
            if let Ok(f) = File::open(path) {
                let mut lines = BufReader::new(f).split(b'\n');
                if let Some(Ok(first)) = lines.next() {
                    same = first == job.as_bytes();
                }
                if same {
                    // only complete lines: a killed writer's last line has no '\n'
                    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
                    let complete = text
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .map_or(&text[..0], |p| &text[..p]);
                    for line in complete.split(|&b| b == b'\n').skip(1) {
                        let id = std::str::from_utf8(line)
                            .ok()
                            .and_then(|l| l.strip_prefix("r "))
                            .and_then(|n| n.parse::<usize>().ok());
                        if let Some(id) = id {
                            done.push(id);
                        }
                    }
                    // drop a partial last line before appending
                    let keep = complete.len() as u64 + u64::from(!complete.is_empty());
                    let f = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(|e| Error::io(path, e))?;
                    f.set_len(keep).map_err(|e| Error::io(path, e))?;
                }
            }
        }
        let file = if same {
            OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| Error::io(path, e))?
        } else {
            let mut f = File::create(path).map_err(|e| Error::io(path, e))?;
            f.write_all(format!("{job}\n").as_bytes())
                .map_err(|e| Error::io(path, e))?;
            f
        };
        Ok((
            Journal {
                path: path.to_path_buf(),
                file: Mutex::new(file),
            },
            done,
        ))
    }

    /// Records that region `id` is written.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the journal.
    pub fn record(&self, id: usize) -> Result<()> {
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(format!("r {id}\n").as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the journal (the output is complete).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the journal.
    pub fn remove(&self) -> Result<()> {
        crate::io::remove_if_exists(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_journal_keeps_whole_lines_of_the_same_job() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        let (j, done) = Journal::open(&p, "job A", true).unwrap();
        assert!(done.is_empty());
        j.record(3).unwrap();
        j.record(7).unwrap();
        drop(j);
        // a killed writer's partial line
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"r 1").unwrap();
        drop(f);
        let (j, done) = Journal::open(&p, "job A", true).unwrap();
        assert_eq!(done, vec![3, 7]);
        j.record(1).unwrap();
        drop(j);
        let (_, done) = Journal::open(&p, "job A", true).unwrap();
        assert_eq!(done, vec![3, 7, 1]);
        // another job, or no resume: afresh
        let (_, done) = Journal::open(&p, "job B", true).unwrap();
        assert!(done.is_empty());
        let (_, done) = Journal::open(&p, "job B", false).unwrap();
        assert!(done.is_empty());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "job B\n");
    }
}
