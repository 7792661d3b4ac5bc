//! The decode cache: decoded copies of files that cannot be mapped
//! (gzipped NIfTI, PNG, TIFF and JPEG images), kept on disk so that they
//! can be, and kept to a size.
//!
//! # Files
//!
//! A cache file lives in `<dir>/impart-cache/` ([`DecodeCache::dir`]) as
//! `<key>-<name>`, where `<key>` is 16 hex digits hashing the source's
//! canonical path, size and modification time (plus what the backend adds),
//! so a changed source gets a new file and an unchanged one reuses it.
//! Files are written under a temporary name
//! (`.<name>.<pid>-<nonce>-<n>.impart-tmp`), synced and renamed, so a crash never
//! leaves a partial file that a later run trusts. Other files in the
//! directory are never listed or removed.
//!
//! # Size and age limits
//!
//! Each cache file costs one uncompressed copy of its source, so the cache
//! is kept under [`CacheLimits`]: after a backend writes a new cache file,
//! the least recently used files are removed until the rest fit
//! [`CacheLimits::max_bytes`] (by default
//! [`CacheLimits::DEFAULT_MAX_BYTES`], 20 GiB), and files unused for longer
//! than [`CacheLimits::max_age`] (by default no limit) go first. A use is
//! recorded by setting a file's modification time when it is reused, so
//! the order does not depend on access times (which `noatime` and
//! `relatime` mounts do not keep). The environment variables
//! [`ENV_MAX_BYTES`] (`IMPART_CACHE_MAX_BYTES`) and [`ENV_MAX_AGE`]
//! (`IMPART_CACHE_MAX_AGE`) override the defaults; an explicit
//! [`CacheLimits`] given to `OpenOptions::cache_limits` or
//! `NiftiOptions::cache_limits` overrides both.
//!
//! Eviction never removes:
//!
//! - the file just written (if it alone is larger than the cap, it stays
//!   and everything else goes);
//! - a temporary file, unless it is older than [`STALE_TEMP_AGE`] (one day:
//!   a writer that crashed; a live writer keeps its file's modification
//!   time fresh);
//! - a file whose name is not a cache file's.
//!
//! Removing a file another volume has open or mapped is safe on Unix: an
//! unlinked file lives on until its last descriptor and mapping go (the
//! disk space comes back then). A process that finds its file removed
//! between looking it up and mapping it decodes the source again. On
//! Windows a file that is open cannot be removed; eviction then leaves it.
//!
//! Eviction is best effort: when it fails (the directory unreadable, a
//! file that cannot be removed), the open that triggered it still
//! succeeds, and nothing is printed. [`DecodeCache::evict`] and
//! [`DecodeCache::clean`] report what they removed and what they could
//! not, for programs (like the `impart cache` command) that want to know.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// The environment variable that sets the default
/// [`CacheLimits::max_bytes`]: a byte count as [`parse_bytes`] reads it
/// (`20G`, `512MiB`, `1073741824`) or `none` for no cap.
pub const ENV_MAX_BYTES: &str = "IMPART_CACHE_MAX_BYTES";

/// The environment variable that sets the default
/// [`CacheLimits::max_age`]: a duration as [`parse_duration`] reads it
/// (`12h`, `7d`, `2w`, plain seconds) or `none` for no limit.
pub const ENV_MAX_AGE: &str = "IMPART_CACHE_MAX_AGE";

/// Temporary files older than this are leftovers of a crashed writer, and
/// eviction and cleaning remove them; younger ones belong to a writer that
/// may still be running and are left alone.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The name of the cache's directory inside the directory it is given.
pub const DIR_NAME: &str = "impart-cache";

/// How large and how old the decode cache may grow; see the
/// [module docs](self).
///
/// ```
/// use std::time::Duration;
/// use impart::io::cache::CacheLimits;
///
/// let limits = CacheLimits::new()
///     .max_bytes(Some(5 << 30))
///     .max_age(Some(Duration::from_secs(7 * 24 * 3600)));
/// assert_eq!(limits.cap(), Some(5 << 30));
/// assert_eq!(CacheLimits::default().cap(), Some(CacheLimits::DEFAULT_MAX_BYTES));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheLimits {
    max_bytes: Option<u64>,
    max_age: Option<Duration>,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            max_bytes: Some(Self::DEFAULT_MAX_BYTES),
            max_age: None,
        }
    }
}

impl CacheLimits {
    /// The default cap, 20 GiB: room for a working set of tens of
    /// decompressed volumes (a 512³ `f32` CT is 512 MiB, an 8192² RGB
    /// image 192 MiB), so a training loop over a data set of gzipped files
    /// does not decompress them again on every epoch, while a full `/tmp`
    /// stays unlikely. A fixed figure rather than a fraction of the disk,
    /// so the cache's size does not depend on the machine; point the cache
    /// at a larger disk and raise the cap for larger data sets, or lower
    /// it where `/tmp` is a RAM-backed `tmpfs`.
    pub const DEFAULT_MAX_BYTES: u64 = 20 << 30;

    /// The defaults: a cap of [`DEFAULT_MAX_BYTES`](Self::DEFAULT_MAX_BYTES),
    /// no age limit. The environment is not read (see
    /// [`from_env`](Self::from_env)).
    pub fn new() -> Self {
        Self::default()
    }

    /// No cap and no age limit: the cache only grows.
    pub fn unlimited() -> Self {
        CacheLimits {
            max_bytes: None,
            max_age: None,
        }
    }

    /// The defaults, overridden by [`ENV_MAX_BYTES`] and [`ENV_MAX_AGE`]
    /// where they are set and not empty. This is what opening a volume
    /// uses when no limits are given (falling back to the defaults if a
    /// variable does not parse).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the variable if its value does
    /// not parse ([`parse_bytes`], [`parse_duration`]) or is not Unicode.
    pub fn from_env() -> Result<Self> {
        let mut limits = Self::default();
        if let Some(text) = env_value(ENV_MAX_BYTES)? {
            limits.max_bytes =
                parse_or_none(&text, parse_bytes).map_err(|e| rename(e, ENV_MAX_BYTES))?;
        }
        if let Some(text) = env_value(ENV_MAX_AGE)? {
            limits.max_age =
                parse_or_none(&text, parse_duration).map_err(|e| rename(e, ENV_MAX_AGE))?;
        }
        Ok(limits)
    }

    /// The cap on the total size of the cache files (`None`: no cap).
    pub fn max_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Files unused for longer than this are removed whatever the cache's
    /// size (`None`: no age limit).
    pub fn max_age(mut self, age: Option<Duration>) -> Self {
        self.max_age = age;
        self
    }

    /// The cap on the total size, as set by [`max_bytes`](Self::max_bytes)
    /// (`None`: no cap).
    pub fn cap(&self) -> Option<u64> {
        self.max_bytes
    }

    /// The age limit, as set by [`max_age`](Self::max_age) (`None`: no
    /// limit).
    pub fn age_limit(&self) -> Option<Duration> {
        self.max_age
    }
}

/// A variable's value, `None` when unset or empty.
fn env_value(name: &'static str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(Error::InvalidArgument {
            what: name,
            detail: format!("{v:?} is not Unicode"),
        }),
    }
}

/// `None` for `none`/`unlimited`/`off`, else `parse(text)`.
fn parse_or_none<T>(text: &str, parse: impl Fn(&str) -> Result<T>) -> Result<Option<T>> {
    match text.trim().to_ascii_lowercase().as_str() {
        "none" | "unlimited" | "off" => Ok(None),
        _ => parse(text).map(Some),
    }
}

/// `e` with `what` in place of its argument's name.
fn rename(e: Error, what: &'static str) -> Error {
    match e {
        Error::InvalidArgument { detail, .. } => Error::InvalidArgument { what, detail },
        e => e,
    }
}

/// Reads a byte count: a whole number with an optional unit `K`, `M`,
/// `G` or `T` (powers of 1024, any case, optionally followed by `iB` or
/// `B`): `20G`, `512MiB`, `1073741824`.
///
/// ```
/// use impart::io::cache::parse_bytes;
/// assert_eq!(parse_bytes("20G")?, 20 << 30);
/// assert_eq!(parse_bytes("512 MiB")?, 512 << 20);
/// assert_eq!(parse_bytes("4096")?, 4096);
/// assert!(parse_bytes("1.5G").is_err());
/// # Ok::<(), impart::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidArgument`] (argument `byte count`) quoting the text if
/// it is not such a number or the count overflows `u64`.
pub fn parse_bytes(text: &str) -> Result<u64> {
    let bad = || {
        Error::InvalidArgument {
        what: "byte count",
        detail: format!(
            "{text:?} is not a byte count (expected a whole number with an optional unit K, M, G or T, powers of 1024, e.g. 512M, 20G or 1073741824)"
        ),
    }
    };
    let (number, unit) = split_number(text).ok_or_else(bad)?;
    let unit = unit.to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(bad()),
    };
    number.checked_mul(1u64 << shift).ok_or_else(bad)
}

/// Reads a duration: a whole number with an optional unit `s`, `m`, `h`,
/// `d` or `w` (seconds, minutes, hours, days, weeks; also `sec`, `min`,
/// `hour(s)`, `day(s)`, `week(s)`); a number alone is seconds: `30m`,
/// `12h`, `7d`, `2w`, `3600`.
///
/// ```
/// use std::time::Duration;
/// use impart::io::cache::parse_duration;
/// assert_eq!(parse_duration("12h")?, Duration::from_secs(12 * 3600));
/// assert_eq!(parse_duration("2w")?, Duration::from_secs(14 * 86400));
/// assert_eq!(parse_duration("90")?, Duration::from_secs(90));
/// assert!(parse_duration("7x").is_err());
/// # Ok::<(), impart::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidArgument`] (argument `duration`) quoting the text if it
/// is not such a duration or it overflows.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        Error::InvalidArgument {
        what: "duration",
        detail: format!(
            "{text:?} is not a duration (expected a whole number with an optional unit s, m, h, d or w, e.g. 30m, 12h, 7d, 2w, or plain seconds)"
        ),
    }
    };
    let (number, unit) = split_number(text).ok_or_else(bad)?;
    let seconds: u64 = match unit {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        _ => return Err(bad()),
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

/// The leading whole number of `text` (trimmed) and the rest, trimmed.
fn split_number(text: &str) -> Option<(u64, &str)> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let number = text[..digits].parse().ok()?;
    Some((number, text[digits..].trim()))
}

/// One file of the cache, as [`DecodeCache::entries`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    path: PathBuf,
    bytes: u64,
    last_used: SystemTime,
    temporary: bool,
}

impl CacheEntry {
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's name (`<key>-<name>`, or a temporary name).
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The file's size.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// When the file was last written or reused (its modification time).
    pub fn last_used(&self) -> SystemTime {
        self.last_used
    }

    /// How long the file has been unused at `now` (zero for a time in the
    /// future).
    pub fn unused_for(&self, now: SystemTime) -> Duration {
        now.duration_since(self.last_used).unwrap_or_default()
    }

    /// Whether this is a temporary file: a cache file being written, or
    /// the leftover of a writer that crashed (when older than
    /// [`STALE_TEMP_AGE`]). Temporary files do not count towards the cap.
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    /// Whether a temporary file is old enough to be a crashed writer's.
    fn is_stale_temp(&self, now: SystemTime) -> bool {
        self.temporary && self.unused_for(now) > STALE_TEMP_AGE
    }
}

/// What [`DecodeCache::evict`] or [`DecodeCache::clean`] removed, left and
/// failed to remove.
#[derive(Debug, Default)]
pub struct Cleaned {
    removed: Vec<CacheEntry>,
    kept: Vec<CacheEntry>,
    failed: Vec<Error>,
}

impl Cleaned {
    /// The files removed, least recently used first.
    pub fn removed(&self) -> &[CacheEntry] {
        &self.removed
    }

    /// The files left in the cache, least recently used first.
    pub fn kept(&self) -> &[CacheEntry] {
        &self.kept
    }

    /// The bytes the removed files held.
    pub fn bytes_freed(&self) -> u64 {
        self.removed.iter().map(|e| e.bytes).sum()
    }

    /// An [`Error::Io`] naming each file that could not be removed.
    pub fn failed(&self) -> &[Error] {
        &self.failed
    }

    /// The errors of [`failed`](Self::failed), owned.
    pub fn into_failed(self) -> Vec<Error> {
        self.failed
    }
}

/// The decode cache in one directory, with its limits; see the
/// [module docs](self).
///
/// ```no_run
/// use std::time::Duration;
/// use impart::io::cache::{CacheLimits, DecodeCache};
///
/// let cache = DecodeCache::in_temp_dir();
/// for entry in cache.entries()? {
///     println!("{} {} bytes", entry.name(), entry.bytes());
/// }
/// // what `impart cache clean --older-than 7d` does
/// let cleaned = cache.clean(Some(Duration::from_secs(7 * 86400)))?;
/// println!("freed {} bytes", cleaned.bytes_freed());
/// // keep it under 5 GiB now
/// DecodeCache::in_temp_dir()
///     .with_limits(CacheLimits::new().max_bytes(Some(5 << 30)))
///     .evict(None)?;
/// # Ok::<(), impart::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeCache {
    dir: PathBuf,
    limits: Option<CacheLimits>,
}

impl DecodeCache {
    /// The cache in `<parent>/impart-cache/` (the directory is made when a
    /// file is first written), with the limits of
    /// [`CacheLimits::from_env`].
    pub fn new(parent: impl AsRef<Path>) -> Self {
        DecodeCache {
            dir: parent.as_ref().join(DIR_NAME),
            limits: None,
        }
    }

    /// The cache in the system temp directory (`/tmp/impart-cache/` on
    /// most Unix systems), where gzipped NIfTI files go by default.
    pub fn in_temp_dir() -> Self {
        Self::new(std::env::temp_dir())
    }

    /// The cache with `limits` instead of those of the environment.
    pub fn with_limits(mut self, limits: CacheLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// The cache's directory, `<parent>/impart-cache`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The limits eviction applies: those given to
    /// [`with_limits`](Self::with_limits), else [`CacheLimits::from_env`],
    /// else (a variable that does not parse) the defaults.
    pub fn limits(&self) -> CacheLimits {
        self.limits
            .unwrap_or_else(|| CacheLimits::from_env().unwrap_or_default())
    }

    /// The cache files and temporary files in the directory, least
    /// recently used first (ties by name); none if the directory does not
    /// exist.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the directory if it exists but cannot be read.
    /// A file that disappears while the directory is read is left out.
    pub fn entries(&self) -> Result<Vec<CacheEntry>> {
        let read = match std::fs::read_dir(&self.dir) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        let mut entries = Vec::new();
        for item in read {
            let item = item.map_err(|e| Error::io(&self.dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let temporary = super::atomic::is_temp_name(&name);
            if !temporary && !is_cache_name(&name) {
                continue;
            }
            // metadata follows no link: a link planted in the directory is
            // not a cache file
            let Ok(meta) = item.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            entries.push(CacheEntry {
                path: item.path(),
                bytes: meta.len(),
                last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                temporary,
            });
        }
        entries.sort_by(|a, b| a.last_used.cmp(&b.last_used).then(a.path.cmp(&b.path)));
        Ok(entries)
    }

    /// Applies the [`limits`](Self::limits): removes temporary files older
    /// than [`STALE_TEMP_AGE`], then cache files unused for longer than
    /// the age limit, then the least recently used cache files until the
    /// rest fit the cap. `keep` (a file just written) is never removed.
    /// Backends call this after writing a cache file, ignoring its result.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the directory if it cannot be read. Files that
    /// cannot be removed are not an error: see [`Cleaned::failed`].
    pub fn evict(&self, keep: Option<&Path>) -> Result<Cleaned> {
        let entries = self.entries()?;
        let doomed = plan_eviction(&entries, &self.limits(), SystemTime::now(), keep);
        Ok(remove(entries, &doomed))
    }

    /// Removes every cache file, or with `unused_for` only those unused
    /// for longer than that, and temporary files older than
    /// [`STALE_TEMP_AGE`] (and than `unused_for`); a younger temporary
    /// file belongs to a writer that may still be running and stays.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the directory if it cannot be read. Files that
    /// cannot be removed are not an error: see [`Cleaned::failed`].
    pub fn clean(&self, unused_for: Option<Duration>) -> Result<Cleaned> {
        let entries = self.entries()?;
        let now = SystemTime::now();
        let age = unused_for.unwrap_or_default();
        let doomed: Vec<bool> = entries
            .iter()
            .map(|e| {
                let old = unused_for.is_none() || e.unused_for(now) > age;
                old && (!e.temporary || e.is_stale_temp(now))
            })
            .collect();
        Ok(remove(entries, &doomed))
    }

    /// Where the cache copy of `source` goes: `<dir>/<key>-<name>`, with
    /// `salt` folded into the key. Makes the directory.
    #[cfg_attr(not(any(feature = "nifti", feature = "image")), allow(dead_code))]
    pub(crate) fn target(&self, source: &Path, salt: &[u8], name: &str) -> Result<PathBuf> {
        let meta = std::fs::metadata(source).map_err(|e| Error::io(source, e))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let canonical = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
        let key = fnv1a(&[
            canonical.as_os_str().to_string_lossy().as_bytes(),
            &meta.len().to_le_bytes(),
            &mtime.to_le_bytes(),
            salt,
        ]);
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        Ok(self.dir.join(format!("{key:016x}-{name}")))
    }

    /// Writes `target` through `fill`, atomically and synced (see
    /// [`super::atomic`]), then evicts (keeping `target`; eviction's
    /// failures are ignored, see the [module docs](self)).
    #[cfg_attr(not(any(feature = "nifti", feature = "image")), allow(dead_code))]
    pub(crate) fn write(
        &self,
        target: &Path,
        fill: impl FnOnce(&mut BufWriter<File>, &Path) -> Result<()>,
    ) -> Result<()> {
        super::atomic::write_atomic(target, true, fill)?;
        let _ = self.evict(Some(target));
        Ok(())
    }

    /// Records a use of the cache file `path` (sets its modification time
    /// to now), so eviction sees it as recently used. Best effort: a file
    /// that cannot be touched (a cache shared read-only) is left as is.
    #[cfg_attr(not(any(feature = "nifti", feature = "image")), allow(dead_code))]
    pub(crate) fn touch(path: &Path) {
        // write access is what Windows needs to set times; no truncation
        if let Ok(file) = std::fs::OpenOptions::new().write(true).open(path) {
            let _ = file.set_modified(SystemTime::now());
        }
    }
}

/// Whether `name` is a cache file's: 16 lowercase hex digits, `-`, a name.
fn is_cache_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 17
        && b[16] == b'-'
        && b[..16]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// Which of `entries` (least recently used first) eviction removes at
/// `now` under `limits`, never `keep`.
fn plan_eviction(
    entries: &[CacheEntry],
    limits: &CacheLimits,
    now: SystemTime,
    keep: Option<&Path>,
) -> Vec<bool> {
    let kept = |e: &CacheEntry| keep.is_some_and(|k| e.path == k);
    let mut doomed: Vec<bool> = entries
        .iter()
        .map(|e| {
            if kept(e) {
                false
            } else if e.temporary {
                e.is_stale_temp(now)
            } else {
                limits.max_age.is_some_and(|age| e.unused_for(now) > age)
            }
        })
        .collect();
    if let Some(cap) = limits.max_bytes {
        let mut total: u64 = entries
            .iter()
            .zip(&doomed)
            .filter(|(e, &d)| !e.temporary && !d)
            .map(|(e, _)| e.bytes)
            .sum();
        for (e, d) in entries.iter().zip(doomed.iter_mut()) {
            if total <= cap {
                break;
            }
            if !*d && !e.temporary && !kept(e) {
                *d = true;
                total -= e.bytes;
            }
        }
    }
    doomed
}

/// Removes the entries marked in `doomed`.
fn remove(entries: Vec<CacheEntry>, doomed: &[bool]) -> Cleaned {
    let mut cleaned = Cleaned::default();
    for (e, &d) in entries.into_iter().zip(doomed) {
        if !d {
            cleaned.kept.push(e);
            continue;
        }
        match std::fs::remove_file(&e.path) {
            Ok(()) => cleaned.removed.push(e),
            // another process removed it first
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                cleaned.failed.push(Error::io(&e.path, err));
                cleaned.kept.push(e);
            }
        }
    }
    cleaned
}

/// FNV-1a over the parts, each followed by a separator byte.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn entry(name: &str, bytes: u64, age_s: u64, now: SystemTime) -> CacheEntry {
        CacheEntry {
            path: PathBuf::from(name),
            bytes,
            last_used: now - Duration::from_secs(age_s),
            temporary: super::super::atomic::is_temp_name(name),
        }
    }

    fn removed(entries: &[CacheEntry], doomed: &[bool]) -> Vec<String> {
        entries
            .iter()
            .zip(doomed)
            .filter(|(_, &d)| d)
            .map(|(e, _)| e.name())
            .collect()
    }

    #[test]
    fn eviction_plan_takes_the_least_recently_used_until_under_the_cap() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30);
        // least recently used first, as `entries` sorts them
        let entries = [
            entry("old", 3 * GIB, 400, now),
            entry(".new.9-0.impart-tmp", 50 * GIB, 300, now),
            entry("mid", 3 * GIB, 200, now),
            entry("recent", 3 * GIB, 100, now),
            entry("written", 3 * GIB, 0, now),
        ];
        let limits = CacheLimits::new().max_bytes(Some(7 * GIB));
        let plan = plan_eviction(&entries, &limits, now, Some(Path::new("written")));
        assert_eq!(removed(&entries, &plan), ["old", "mid"]);
        // a cap below the kept file removes everything else
        let plan = plan_eviction(
            &entries,
            &limits.max_bytes(Some(0)),
            now,
            Some(Path::new("written")),
        );
        assert_eq!(removed(&entries, &plan), ["old", "mid", "recent"]);
        // no cap, no age limit: nothing
        let plan = plan_eviction(&entries, &CacheLimits::unlimited(), now, None);
        assert!(removed(&entries, &plan).is_empty());
        // an age limit removes the old ones even under the cap
        let plan = plan_eviction(
            &entries,
            &CacheLimits::unlimited().max_age(Some(Duration::from_secs(150))),
            now,
            None,
        );
        assert_eq!(removed(&entries, &plan), ["old", "mid"]);
    }

    #[test]
    fn stale_temporary_files_go_live_ones_stay() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30);
        let day = STALE_TEMP_AGE.as_secs();
        let entries = [
            entry(".a.1-0.impart-tmp", 1, day + 1, now),
            entry(".b.2-0.impart-tmp", 1, day - 1, now),
        ];
        let plan = plan_eviction(&entries, &CacheLimits::new().max_bytes(Some(0)), now, None);
        assert_eq!(removed(&entries, &plan), [".a.1-0.impart-tmp"]);
    }

    #[test]
    fn cache_names() {
        assert!(is_cache_name("0123456789abcdef-t1.nii"));
        assert!(!is_cache_name("0123456789abcdef-"));
        assert!(!is_cache_name("0123456789ABCDEF-t1.nii"));
        assert!(!is_cache_name("notes.txt"));
        assert!(!is_cache_name("0123456789abcdefx-t1.nii"));
    }

    #[test]
    fn sizes_and_durations_parse_or_name_the_text() {
        assert_eq!(parse_bytes("0").unwrap(), 0);
        assert_eq!(parse_bytes("1k").unwrap(), 1024);
        assert_eq!(parse_bytes("3 GB").unwrap(), 3 * GIB);
        assert_eq!(parse_bytes("2TiB").unwrap(), 2 << 40);
        for bad in ["", "G", "-1", "1.5G", "12X", "99999999999T"] {
            let e = parse_bytes(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(
            parse_duration(" 5 hours ").unwrap(),
            Duration::from_secs(18_000)
        );
        for bad in ["", "d", "7x", "1.5h", "-3d", "7D", "99999999999999999999w"] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains("not a duration"), "{e}");
        }
        assert_eq!(parse_or_none("None", parse_bytes).unwrap(), None);
    }
}
