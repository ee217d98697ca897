//! Parsing of the human units used on the command line: sizes (`4096`, `64K`, `1M`,
//! `1G`) and durations (`250ms`, `2s`, `1m`, or a bare number of seconds).
//!
//! Pure functions, used as clap value parsers, so a bad value is a usage error
//! (exit status 2) reported before any syscall.

use std::time::Duration;

/// The largest segment osps creates.
pub const MAX_SEGMENT: u64 = 1 << 30;

/// Parses a byte count with an optional binary suffix: `K`, `M`, `G` (also `KiB`, `k`, ...).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "'{text}' is not a size: expected digits with an optional K, M or G suffix, like 4096, 64K or 1M"
        ));
    }
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => {
            return Err(format!(
                "'{text}' has an unknown unit '{suffix}': use K, M or G (powers of 1024)"
            ));
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is too large"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// The system page size (the smallest segment).
pub fn page_size() -> u64 {
    // sysconf cannot fail for _SC_PAGESIZE on Linux; 4096 is the safe fallback.
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(4096)
}

/// Parses `--size`: a byte count that is a multiple of 8, at least a page, at most 1 GiB.
pub fn parse_segment_size(text: &str) -> Result<u64, String> {
    let n = parse_bytes(text)?;
    let page = page_size();
    if n < page {
        return Err(format!(
            "{n} bytes is smaller than one page ({page} bytes): the segment must hold its header and data"
        ));
    }
    if n > MAX_SEGMENT {
        return Err(format!("{n} bytes is more than the 1G limit"));
    }
    if n % 8 != 0 {
        return Err(format!(
            "{n} is not a multiple of 8: the header's 64-bit counters and the data area must stay 8-byte aligned"
        ));
    }
    Ok(n)
}

/// Parses `--payload`: at least one byte (the upper bound depends on `--size`).
pub fn parse_payload(text: &str) -> Result<u64, String> {
    match parse_bytes(text)? {
        0 => Err("the payload must be at least 1 byte".to_string()),
        n => Ok(n),
    }
}

/// Parses a duration: `250ms`, `2s`, `1m`, `50us`, or a bare (possibly decimal) number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || {
        format!("'{text}' is not a duration: use a number with ms, s or m, like 250ms, 2s or 1m")
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds_per_unit = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    let seconds = value * seconds_per_unit;
    if !seconds.is_finite() || seconds > 365.0 * 86400.0 {
        return Err(format!("'{text}' is too long (at most a year)"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Formats a byte count for people: `1M`, `64K`, `4100`.
pub fn format_bytes(n: u64) -> String {
    for (shift, suffix) in [(30, "G"), (20, "M"), (10, "K")] {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{}{suffix}", n >> shift);
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_suffixes() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("64K"), Ok(65536));
        assert_eq!(parse_bytes("1M"), Ok(1 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("2kib"), Ok(2048));
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("K").is_err());
        assert!(parse_bytes("12Q").unwrap_err().contains("unknown unit"));
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("99999999999999999999G").is_err());
        assert!(parse_bytes("17179869184G").is_err());
    }

    #[test]
    fn segment_size_rules() {
        assert_eq!(parse_segment_size("1M"), Ok(1 << 20));
        assert!(parse_segment_size("100").unwrap_err().contains("page"));
        assert!(
            parse_segment_size("4100")
                .unwrap_err()
                .contains("multiple of 8")
        );
        assert!(parse_segment_size("2G").unwrap_err().contains("1G"));
        assert_eq!(parse_segment_size("1G"), Ok(1 << 30));
    }

    #[test]
    fn payload_rules() {
        assert_eq!(parse_payload("64"), Ok(64));
        assert!(parse_payload("0").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("50us"), Ok(Duration::from_micros(50)));
        for bad in ["", "ms", "1x", ".5", "5.", "1..2s", "-1s", "1e9"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
        assert!(parse_duration("999999999h").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bytes(1 << 20), "1M");
        assert_eq!(format_bytes(65536), "64K");
        assert_eq!(format_bytes(4100), "4100");
    }
}
