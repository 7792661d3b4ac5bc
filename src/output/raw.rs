//! Raw binary outputs through a writable mapping.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use memmap2::MmapMut;

use super::{check_write, finished, OutputVolume};
use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::grid::Region;
use crate::layout::{checked_size, LayoutMut, MemoryOrder};

/// Options of a raw output: shape, type, memory order, byte order and an
/// optional header written before the voxels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOutputOptions {
    shape: Vec<usize>,
    dtype: DType,
    order: MemoryOrder,
    byte_order: ByteOrder,
    header: Vec<u8>,
    /// `Some(resume)`: a stable temporary name, kept when dropped.
    resumable: Option<bool>,
}

impl RawOutputOptions {
    /// A C-order, native-endian output of `shape` and `dtype` with no
    /// header.
    pub fn new(shape: &[usize], dtype: DType) -> Self {
        RawOutputOptions {
            shape: shape.to_vec(),
            dtype,
            order: MemoryOrder::C,
            byte_order: ByteOrder::native(),
            header: Vec::new(),
            resumable: None,
        }
    }

    /// A resumable output: written under a stable temporary name
    /// (`.<name>.resumable.impart-tmp`) that is kept when the output is
    /// dropped unfinished; with `resume`, an existing temporary file of the
    /// right size is reopened with what it holds
    /// ([`RawOutput::resumed`] says so) instead of started afresh. Whoever
    /// resumes must know which parts of it are complete (a stitch's
    /// journal).
    pub fn resumable(mut self, resume: bool) -> Self {
        self.resumable = Some(resume);
        self
    }

    /// Memory order of the voxels in the file.
    pub fn order(mut self, order: MemoryOrder) -> Self {
        self.order = order;
        self
    }

    /// Byte order of the voxels in the file.
    pub fn byte_order(mut self, byte_order: ByteOrder) -> Self {
        self.byte_order = byte_order;
        self
    }

    /// Bytes written before the voxels (the voxels start at its length).
    pub fn header(mut self, header: Vec<u8>) -> Self {
        self.header = header;
        self
    }

    /// Creates the output for `path`: a zero-filled file under a temporary
    /// name beside it, mapped for writing; [`OutputVolume::finish`] renames
    /// it to `path`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLayout`] for an empty or oversized shape,
    /// [`Error::Io`] if the file cannot be created, sized or mapped, or
    /// (Linux) its file system has no room for it: its blocks are reserved
    /// here, so a full disk is this error, not a crash on a later write.
    pub fn create(&self, path: impl AsRef<Path>) -> Result<RawOutput> {
        RawOutput::create(path.as_ref(), self)
    }
}

/// A raw binary output; see [`RawOutputOptions`].
#[derive(Debug)]
pub struct RawOutput {
    path: PathBuf,
    tmp: PathBuf,
    name: String,
    options: RawOutputOptions,
    strides: Vec<usize>,
    /// The mapping, until `finish`.
    map: Mutex<Option<MmapMut>>,
    /// Reopened from an earlier run.
    resumed: bool,
}

impl RawOutput {
    fn create(path: &Path, options: &RawOutputOptions) -> Result<Self> {
        let name = path.display().to_string();
        let (_, nbytes) = checked_size(&name, &options.shape, options.dtype)?;
        let total =
            nbytes
                .checked_add(options.header.len())
                .ok_or_else(|| Error::InvalidLayout {
                    volume: name.clone(),
                    detail: "header plus voxels overflow".into(),
                })?;
        let (tmp, resumed) = match options.resumable {
            None => (crate::io::temp_path(path), false),
            Some(resume) => {
                let tmp = crate::io::resumable_temp_path(path);
                let same =
                    std::fs::metadata(&tmp).is_ok_and(|m| m.is_file() && m.len() == total as u64);
                if !(resume && same) {
                    crate::io::remove_if_exists(&tmp)?;
                }
                (tmp, resume && same)
            }
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(!resumed)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        let mapped = (|| {
            if !resumed {
                file.set_len(total as u64).map_err(|e| Error::io(&tmp, e))?;
            }
            // a reopened file too: a killed run may have sized it only
            reserve(&file, &tmp, total as u64)?;
            // SAFETY: the file was created just above under a name unique to
            // this process and write (`io::temp_path`), with `create_new`, and
            // sized to `total` bytes, or (resumable) is this output's own
            // temporary file of `total` bytes, reopened; nothing else
            // truncates or maps it while this value lives (the docs of
            // `RawOutput` say so: one run per output), so the mapping stays
            // valid. All access goes through bounds-checked
            // slices of it, under a mutex.
            let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| Error::io(&tmp, e))?;
            map[..options.header.len()].copy_from_slice(&options.header);
            Ok(map)
        })();
        let map = match mapped {
            Ok(map) => map,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        Ok(RawOutput {
            path: path.to_path_buf(),
            tmp,
            name,
            strides: options.order.strides(&options.shape),
            options: options.clone(),
            map: Mutex::new(Some(map)),
            resumed,
        })
    }

    /// Whether a resumable output reopened an earlier run's temporary file
    /// (see [`RawOutputOptions::resumable`]).
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the mapping and hands the complete temporary file to
    /// `complete` (which renames it, or compresses it into `path`).
    pub(crate) fn finish_with(
        &self,
        complete: impl FnOnce(&Path, &Path) -> Result<()>,
    ) -> Result<()> {
        let mut guard = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let Some(map) = guard.take() else {
            return Ok(());
        };
        map.flush().map_err(|e| Error::io(&self.tmp, e))?;
        drop(map);
        let result = File::open(&self.tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(&self.tmp, e))
            .and_then(|()| complete(&self.tmp, &self.path));
        // a resumable output keeps its work for the next run
        if result.is_err() && self.options.resumable.is_none() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result
    }
}

/// Reserves the disk blocks of the file's first `len` bytes (Linux), so a
/// full file system is an [`Error::Io`] (`ENOSPC`, naming `path`) here
/// rather than a SIGBUS, which kills the process, on a later write through
/// the mapping. Where the file system cannot reserve blocks, the file
/// stays sparse, as elsewhere.
fn reserve(file: &File, path: &Path, len: u64) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        let Ok(len) = libc::off_t::try_from(len) else {
            return Ok(());
        };
        if len == 0 {
            return Ok(());
        }
        loop {
            // SAFETY: fallocate on a descriptor this function borrows open
            // (mode 0: allocate, keeping what the range holds); no memory
            // is read or written.
            if unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) } == 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => return Ok(()),
                _ => return Err(Error::io(path, e)),
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, path, len);
        Ok(())
    }
}

impl OutputVolume for RawOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn shape(&self) -> &[usize] {
        &self.options.shape
    }

    fn dtype(&self) -> DType {
        self.options.dtype
    }

    fn write_region(&self, region: &Region, data: &[u8]) -> Result<()> {
        let o = &self.options;
        check_write(&self.name, &o.shape, o.dtype, region, data)?;
        let mut guard = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let map = guard.as_mut().ok_or_else(|| finished(&self.name))?;
        let voxels = &mut map[o.header.len()..];
        LayoutMut::new(voxels, &o.shape, &self.strides, o.dtype, o.byte_order)?
            .write_region(region, data)
    }

    fn finish(&self) -> Result<()> {
        self.finish_with(|tmp, path| std::fs::rename(tmp, path).map_err(|e| Error::io(path, e)))
    }
}

impl Drop for RawOutput {
    /// An output dropped before `finish` leaves nothing behind (a resumable
    /// one keeps its temporary file for the next run).
    fn drop(&mut self) {
        let map = self.map.get_mut().unwrap_or_else(|e| e.into_inner());
        if map.take().is_some() && self.options.resumable.is_none() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
