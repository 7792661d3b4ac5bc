//! `impart cache list` and `impart cache clean [--older-than DURATION]`:
//! the decode cache (decompressed `.nii.gz`, decoded images) seen and
//! emptied through [`impart::DecodeCache`].

use std::time::{Duration, SystemTime};

use impart::io::cache::{CacheEntry, Cleaned, ENV_MAX_AGE, ENV_MAX_BYTES};
use impart::{CacheLimits, DecodeCache, Error, Result};
use serde_json::{json, Value};

use super::text::{human_bytes, print_json};

/// `--older-than`'s parser: [`impart::io::cache::parse_duration`], its
/// message for clap.
pub fn parse_older_than(text: &str) -> std::result::Result<Duration, String> {
    impart::io::cache::parse_duration(text).map_err(|e| match e {
        Error::InvalidArgument { detail, .. } => detail,
        e => e.to_string(),
    })
}

/// A warning on stderr when `IMPART_CACHE_MAX_BYTES` or
/// `IMPART_CACHE_MAX_AGE` does not parse (opening then uses the defaults).
pub fn warn_bad_env() {
    if let Err(e) = CacheLimits::from_env() {
        eprintln!("impart: warning: {e}; the decode cache uses its default limits");
    }
    if let Err(e) = impart::ImageOptions::in_memory_max_from_env() {
        eprintln!("impart: warning: {e}; images use the default in-memory limit");
    }
}

/// Prints the cache's files, least recently used first, and their total.
pub fn list(cache: &DecodeCache, json_out: bool) -> Result<()> {
    warn_bad_env();
    let entries = cache.entries()?;
    let limits = cache.limits();
    let total: u64 = entries.iter().map(CacheEntry::bytes).sum();
    if json_out {
        print_json(&json!({
            "dir": cache.dir().display().to_string(),
            "files": entries.iter().map(entry_json).collect::<Vec<_>>(),
            "count": entries.len(),
            "total_bytes": total,
            "max_bytes": limits.cap(),
            "max_age_seconds": limits.age_limit().map(|d| d.as_secs()),
        }));
        return Ok(());
    }
    println!("{}", cache.dir().display());
    if !entries.is_empty() {
        println!("{:>10}  {:<20}  name", "size", "last use (UTC)");
    }
    for e in &entries {
        println!(
            "{:>10}  {:<20}  {}{}",
            human_bytes(e.bytes()),
            utc(e.last_used()).replace('T', " ").trim_end_matches('Z'),
            e.name(),
            if e.is_temporary() { " (temporary)" } else { "" }
        );
    }
    println!(
        "{} file{}, {} ({} bytes); {}",
        entries.len(),
        plural(entries.len()),
        human_bytes(total),
        total,
        describe(&limits)
    );
    Ok(())
}

/// Removes every cache file, or those unused for longer than
/// `older_than`, and prints what went and the bytes freed.
///
/// # Errors
///
/// As [`DecodeCache::clean`]; then the first file that could not be
/// removed (the others are warnings on stderr), after the report.
pub fn clean(cache: &DecodeCache, older_than: Option<Duration>, json_out: bool) -> Result<()> {
    let cleaned = cache.clean(older_than)?;
    let kept_bytes: u64 = cleaned.kept().iter().map(CacheEntry::bytes).sum();
    if json_out {
        print_json(&json!({
            "dir": cache.dir().display().to_string(),
            "older_than_seconds": older_than.map(|d| d.as_secs()),
            "removed": cleaned.removed().iter().map(entry_json).collect::<Vec<_>>(),
            "removed_count": cleaned.removed().len(),
            "bytes_freed": cleaned.bytes_freed(),
            "kept_count": cleaned.kept().len(),
            "kept_bytes": kept_bytes,
            "failed": cleaned.failed().iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        }));
    } else {
        report(cache, &cleaned, older_than, kept_bytes);
    }
    let mut failed = cleaned.into_failed().into_iter();
    match failed.next() {
        None => Ok(()),
        Some(first) => {
            for e in failed {
                eprintln!("impart: warning: cannot remove {e}");
            }
            Err(first)
        }
    }
}

/// The human report of `clean`.
fn report(cache: &DecodeCache, cleaned: &Cleaned, older_than: Option<Duration>, kept_bytes: u64) {
    for e in cleaned.removed() {
        println!("removed {} ({})", e.name(), human_bytes(e.bytes()));
    }
    let n = cleaned.removed().len();
    if n == 0 {
        println!("nothing to remove in {}", cache.dir().display());
    } else {
        println!(
            "removed {n} file{} from {}, freed {} ({} bytes)",
            plural(n),
            cache.dir().display(),
            human_bytes(cleaned.bytes_freed()),
            cleaned.bytes_freed()
        );
    }
    let kept = cleaned.kept();
    if !kept.is_empty() {
        let writing = kept.iter().filter(|e| e.is_temporary()).count();
        println!(
            "kept {} file{} ({}){}{}",
            kept.len(),
            plural(kept.len()),
            human_bytes(kept_bytes),
            match older_than {
                Some(d) => format!(", used within the last {}", duration_text(d)),
                None => String::new(),
            },
            match writing {
                0 => String::new(),
                n => format!("; {n} being written (temporary files younger than a day)"),
            }
        );
    }
}

/// One file as JSON.
fn entry_json(e: &CacheEntry) -> Value {
    json!({
        "name": e.name(),
        "path": e.path().display().to_string(),
        "bytes": e.bytes(),
        "last_used": utc(e.last_used()),
        "last_used_unix": unix_seconds(e.last_used()),
        "temporary": e.is_temporary(),
    })
}

/// The cap and age limit in words, with where they come from.
fn describe(limits: &CacheLimits) -> String {
    let cap = match limits.cap() {
        Some(b) => format!("cap {}", human_bytes(b)),
        None => "no cap".to_string(),
    };
    let age = match limits.age_limit() {
        Some(d) => format!(", files unused for {} removed", duration_text(d)),
        None => String::new(),
    };
    format!("{cap}{age} (set with {ENV_MAX_BYTES} and {ENV_MAX_AGE})")
}

/// A duration in the largest unit that divides it (`7d`, `90m`, `45s`).
fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, n) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= n && s % n == 0 {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Whole seconds since the Unix epoch (0 before it).
fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `t` as an RFC 3339 UTC time to the second (`2001-09-09T01:46:40Z`),
/// whatever the local time zone.
fn utc(t: SystemTime) -> String {
    let secs = unix_seconds(t);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_and_durations() {
        let at = |s: u64| utc(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_000_000_000), "2001-09-09T01:46:40Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(duration_text(Duration::from_secs(14 * 86_400)), "2w");
        assert_eq!(duration_text(Duration::from_secs(5400)), "90m");
        assert_eq!(duration_text(Duration::from_secs(45)), "45s");
    }
}
