//! Where a NIfTI volume's bytes are: the header and image files of a
//! single file or a `.hdr`/`.img` pair (each possibly gzipped), and the
//! decode cache for gzipped voxels.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::bufread::GzDecoder;
use flate2::read::MultiGzDecoder;

use crate::error::{Error, Result};
use crate::io::DecodeCache;

/// How the files of a NIfTI volume are laid out on disk.
pub(super) struct Files {
    pub(super) header: PathBuf,
    pub(super) header_gz: bool,
    pub(super) data: PathBuf,
    pub(super) data_gz: bool,
}

fn lower_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// `path` with its last `strip` characters replaced by `add`.
fn with_suffix(path: &Path, strip: usize, add: &str) -> PathBuf {
    let s = path.as_os_str().to_string_lossy();
    PathBuf::from(format!("{}{add}", &s[..s.len() - strip]))
}

fn first_existing(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates.iter().find(|p| p.exists()).cloned()
}

pub(super) fn locate(path: &Path) -> Result<Files> {
    let name = lower_name(path);
    let is_gz = |p: &Path| lower_name(p).ends_with(".gz");
    let pair = |hdr: PathBuf, img: PathBuf| Files {
        header_gz: is_gz(&hdr),
        data_gz: is_gz(&img),
        header: hdr,
        data: img,
    };
    let missing = |what: &str, tried: &[PathBuf]| {
        Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no {what} found next to it (tried {tried:?})"),
            ),
        )
    };
    if name.ends_with(".hdr") || name.ends_with(".hdr.gz") {
        let strip = if name.ends_with(".gz") { 7 } else { 4 };
        let tried = [
            with_suffix(path, strip, ".img"),
            with_suffix(path, strip, ".img.gz"),
        ];
        let img = first_existing(&tried).ok_or_else(|| missing("image file", &tried))?;
        Ok(pair(path.to_path_buf(), img))
    } else if name.ends_with(".img") || name.ends_with(".img.gz") {
        let strip = if name.ends_with(".gz") { 7 } else { 4 };
        let tried = [
            with_suffix(path, strip, ".hdr"),
            with_suffix(path, strip, ".hdr.gz"),
        ];
        let hdr = first_existing(&tried).ok_or_else(|| missing("header file", &tried))?;
        Ok(pair(hdr, path.to_path_buf()))
    } else {
        // .nii, .nii.gz, or anything else: sniff the gzip magic
        let mut magic = [0u8; 2];
        let n = File::open(path)
            .and_then(|mut f| f.read(&mut magic))
            .map_err(|e| Error::io(path, e))?;
        let gz = n == 2 && magic == [0x1f, 0x8b];
        Ok(Files {
            header: path.to_path_buf(),
            header_gz: gz,
            data: path.to_path_buf(),
            data_gz: gz,
        })
    }
}

/// Reads up to `n` bytes from the start of a file, through gzip if asked.
pub(super) fn read_prefix(path: &Path, gz: bool, n: usize) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::with_capacity(n);
    let reader: Box<dyn Read> = if gz {
        Box::new(MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(file)
    };
    reader
        .take(n as u64)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

/// Decompresses the first `needed` bytes of the gzip members in `input`
/// into `out`; returns how many there were. Each member that holds some
/// of them is read to its end, so that its CRC-32 and length are checked
/// (a corrupt stream is an error, never other values); the members after
/// them, and anything after the last member, are not read.
fn decompress(input: impl Read, needed: u64, out: &mut impl Write) -> std::io::Result<u64> {
    let mut input = BufReader::with_capacity(1 << 20, input);
    let mut copied = 0;
    while copied < needed {
        // another member follows (gzip's magic), or the stream has ended
        if !input.fill_buf()?.starts_with(&[0x1f, 0x8b]) && copied > 0 {
            break;
        }
        let mut member = GzDecoder::new(&mut input);
        let n = std::io::copy(&mut (&mut member).take(needed - copied), out)?;
        std::io::copy(&mut member, &mut std::io::sink())?;
        copied += n;
        if n == 0 && input.fill_buf()?.is_empty() {
            break;
        }
    }
    Ok(copied)
}

/// The decompressed copy of `source` (its first `needed` bytes) in
/// `cache`, made atomically if it is not already there (then the cache is
/// kept to its limits), or marked as used if it is. Returns the cache
/// file's path.
pub(super) fn cached(
    source: &Path,
    needed: u64,
    prefix: &[u8],
    cache: &DecodeCache,
) -> Result<PathBuf> {
    let stem = lower_name(source);
    let target = cache.target(source, &needed.to_le_bytes(), stem.trim_end_matches(".gz"))?;
    // Reuse a complete copy whose first bytes match the source's (one that
    // cannot be read, or was just evicted by another process, is rewritten).
    if let Ok(m) = std::fs::metadata(&target) {
        let head = read_prefix(&target, false, prefix.len()).ok();
        if m.len() == needed && head.as_deref() == Some(prefix) {
            DecodeCache::touch(&target);
            return Ok(target);
        }
    }
    cache.write(&target, |writer, _| {
        let input = File::open(source).map_err(|e| Error::io(source, e))?;
        let copied = decompress(input, needed, writer).map_err(|e| Error::io(source, e))?;
        if copied < needed {
            return Err(Error::Truncated {
                path: source.to_path_buf(),
                needed,
                actual: copied,
            });
        }
        Ok(())
    })?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::decompress;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn run(input: &[u8], needed: u64) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let n = decompress(input, needed, &mut out)?;
        assert_eq!(n, out.len() as u64);
        Ok(out)
    }

    #[test]
    fn members_are_joined_and_each_is_checked() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut two = gz(&data[..1234]);
        two.extend(gz(&data[1234..]));
        assert_eq!(run(&two, 5000).unwrap(), data);
        // the first bytes only: the members after them are not read
        assert_eq!(run(&two, 100).unwrap(), &data[..100]);
        let mut bad_second = two.clone();
        let n = bad_second.len();
        bad_second[n - 8] ^= 1;
        assert_eq!(run(&bad_second, 1234).unwrap(), &data[..1234]);
        assert!(run(&bad_second, 1235).is_err());
        // zeros after the last member are not read
        let mut padded = two.clone();
        padded.extend([0u8; 16]);
        assert_eq!(run(&padded, 5000).unwrap(), data);
        // a stream that ends early gives fewer bytes
        assert_eq!(run(&gz(&data[..10]), 5000).unwrap(), &data[..10]);
        // the CRC-32 and the length of a member that holds needed bytes
        // are checked, even when only its first bytes are needed
        let one = gz(&data);
        for back in [8, 5, 4, 1] {
            let mut bad = one.clone();
            let n = bad.len();
            bad[n - back] ^= 1;
            assert!(run(&bad, 5000).is_err(), "byte {back} from the end");
            assert!(run(&bad, 100).is_err(), "byte {back} from the end");
        }
        // not gzip at all
        assert!(run(b"plain bytes, not gzip", 10).is_err());
    }
}
