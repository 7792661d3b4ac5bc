//! One source for every memory budget.
//!
//! [`MemoryLimits`] knows how much memory this process may use (physical
//! memory, or its memory cgroup's limit when lower) and derives every
//! budget from it, so that no component carries a fixed number of its own
//! (and no third-party default refuses a valid input):
//!
//! | budget | default |
//! |---|---|
//! | [`chunk_cache_bytes`](MemoryLimits::chunk_cache_bytes): decoded chunks held during one walk | 1 GiB, at most an eighth of the available memory |
//! | [`release_behind_above`](MemoryLimits::release_behind_above): mappings larger than this release the pages behind a walk | a quarter of the available memory |
//! | [`decode_bytes`](MemoryLimits::decode_bytes): one whole-image decode in memory (TIFF through `image`) | half of the available memory |
//! | [`decode_in_memory_bytes`](MemoryLimits::decode_in_memory_bytes): larger PNG and JPEG images are decoded to a mapped temporary file instead | 256 MiB, at most half of the available memory |
//!
//! Where the available memory cannot be read the defaults assume 4 GiB.

/// Memory budgets, all derived from one figure; see [`crate::io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    available: u64,
}

/// What the budgets assume when the system does not say.
const FALLBACK: u64 = 4 << 30;

impl Default for MemoryLimits {
    fn default() -> Self {
        Self::detect()
    }
}

impl MemoryLimits {
    /// The limits of this process: physical memory, or the memory
    /// cgroup's limit (v1 `memory.limit_in_bytes`, v2 `memory.max`) if
    /// lower; 4 GiB where neither can be read.
    pub fn detect() -> Self {
        MemoryLimits {
            available: available_memory().unwrap_or(FALLBACK),
        }
    }

    /// Limits computed as if `bytes` of memory were available.
    pub fn with_available(bytes: u64) -> Self {
        MemoryLimits {
            available: bytes.max(1),
        }
    }

    /// The memory the budgets are derived from.
    pub fn available(&self) -> u64 {
        self.available
    }

    /// Bytes of decoded chunks one walk may hold: 1 GiB, at most an eighth
    /// of the available memory.
    pub fn chunk_cache_bytes(&self) -> usize {
        let b = (1u64 << 30).min(self.available / 8);
        usize::try_from(b).unwrap_or(usize::MAX)
    }

    /// Mappings longer than this release the pages behind a walk: a quarter
    /// of the available memory.
    pub fn release_behind_above(&self) -> u64 {
        self.available / 4
    }

    /// Bytes one whole-image decode may allocate: half of the available
    /// memory.
    pub fn decode_bytes(&self) -> u64 {
        self.available / 2
    }

    /// The default of [`decode_in_memory_bytes`](Self::decode_in_memory_bytes)
    /// on a machine with memory to spare: 256 MiB. An 8192² RGB slide
    /// (192 MiB) still decodes in memory; above that, decoding into a
    /// mapped file costs no more time, and keeps the resident set at a few
    /// tens of MB instead of the image's size. (libvips, behind the Python
    /// original, decodes to a file above 100 MB.)
    pub const DECODE_IN_MEMORY_DEFAULT: u64 = 256 << 20;

    /// The largest decoded PNG or JPEG image kept in memory when no decode
    /// cache is given: [`DECODE_IN_MEMORY_DEFAULT`](Self::DECODE_IN_MEMORY_DEFAULT)
    /// (256 MiB), at most half of the available memory
    /// ([`decode_bytes`](Self::decode_bytes)). A larger image is decoded
    /// into a temporary file and memory-mapped, so its pages are file
    /// cache that the kernel can write back and reclaim, not this
    /// process's memory.
    pub fn decode_in_memory_bytes(&self) -> u64 {
        Self::DECODE_IN_MEMORY_DEFAULT.min(self.decode_bytes())
    }
}

/// Physical memory, or the memory cgroup's limit if lower.
#[cfg(unix)]
fn available_memory() -> Option<u64> {
    // SAFETY: sysconf only reads configuration values.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let physical = u64::try_from(pages)
        .ok()?
        .checked_mul(u64::try_from(page).ok().filter(|&p| p > 0)?)?;
    Some(cgroup_memory_limit().map_or(physical, |c| c.min(physical)))
}

#[cfg(not(unix))]
fn available_memory() -> Option<u64> {
    None
}

#[cfg(unix)]
fn cgroup_memory_limit() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroups.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let file = if controllers.split(',').any(|c| c == "memory") {
            format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")
        } else if controllers.is_empty() {
            format!("/sys/fs/cgroup{path}/memory.max")
        } else {
            return None;
        };
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn detected_memory_is_at_most_physical_memory() {
        // SAFETY: sysconf only reads configuration values.
        let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) } as u64;
        // SAFETY: as above.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        let limit = available_memory().expect("Linux reports its memory");
        assert!(limit > 0 && limit <= pages * page);
    }

    #[test]
    fn budgets_follow_the_available_memory() {
        let big = MemoryLimits::with_available(64 << 30);
        assert_eq!(big.chunk_cache_bytes(), 1 << 30);
        assert_eq!(big.release_behind_above(), 16 << 30);
        assert_eq!(big.decode_bytes(), 32 << 30);
        assert_eq!(big.decode_in_memory_bytes(), 256 << 20);
        let small = MemoryLimits::with_available(1 << 30);
        assert_eq!(small.chunk_cache_bytes(), 128 << 20);
        assert_eq!(small.release_behind_above(), 256 << 20);
        assert_eq!(small.decode_in_memory_bytes(), 256 << 20);
        let tiny = MemoryLimits::with_available(256 << 20);
        assert_eq!(tiny.decode_in_memory_bytes(), 128 << 20);
    }
}
