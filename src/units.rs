//! Parsing of the human units used on the command line: sizes (`4096`, `64K`, `1M`,
//! `1G`) and durations (`250ms`, `2.5s`, `1m30s`, `1h`, `250us`, or a bare number of
//! seconds).
//!
//! Pure functions, used as clap value parsers, so a bad value is a usage error
//! (exit status 2) reported before any syscall.

use std::time::Duration;

/// The largest segment osps creates.
pub const MAX_SEGMENT: u64 = 1 << 30;

/// Parses a byte count with an optional binary suffix: `K`, `M`, `G` (also `KiB`, `k`, ...).
/// `n` and the noun that fits it: "1 restart", "0 restarts", "2 restarts".
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if let Some(why) = leading_dash(text, "a size", "4096, 64K or 1M") {
        return Err(why);
    }
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

/// Parses a size that must be at least one byte (`--payload`, `--max-line`; their upper
/// bounds depend on `--size`).
pub fn parse_nonzero_bytes(text: &str) -> Result<u64, String> {
    match parse_bytes(text)? {
        0 => Err(format!(
            "'{text}' is zero: give at least 1 byte, like 64 or 4K"
        )),
        n => Ok(n),
    }
}

/// The duration units, largest first, with their length in nanoseconds. `us` may also
/// be written `µs`; `min` is kept as an alias of `m`.
const DURATION_UNITS: [(&str, u128); 8] = [
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("min", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("µs", 1_000),
    ("ns", 1),
];

/// Why a value that starts with `-` is refused: a negative number, or (as an option takes
/// such values so that `-1s` reaches this parser) the next option, whose value was
/// forgotten (`--timeout --kill`).
fn leading_dash(text: &str, what: &str, like: &str) -> Option<String> {
    let rest = text.trim().strip_prefix('-')?;
    Some(
        if rest.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
            format!("'{text}' is negative: {what} cannot be; give one like {like}")
        } else {
            format!("'{text}' is not {what} but an option: give {what} before it, like {like}")
        },
    )
}

/// The longest duration accepted: a year, far beyond any sensible timeout or interval.
const MAX_DURATION_NS: u128 = 365 * 86_400 * 1_000_000_000;

/// The list of units every duration error message shows, so a refused value always says
/// what would have been accepted.
pub const DURATION_FORMS: &str = "a number with a unit: ns, us (or µs), ms, s, m or h; \
     several from the largest unit down, like 1m30s or 1h15m; \
     a bare number is seconds (250ms, 2.5s, 1m30s, 1h, 250us, 2)";

/// Parses a duration: a bare (possibly decimal) number of seconds (`2`, `0.5`), one number
/// with a unit (`250ms`, `2.5s`, `50us`, `1h`), or several with units from the largest
/// down (`1m30s`, `1h15m`, `1s500ms`). Exact to the nanosecond (no floating point), at most
/// a year.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("'{text}' is not a duration ({why}): use {DURATION_FORMS}");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad("empty"));
    }
    if let Some(why) = leading_dash(text, "a duration", "2s or 500ms") {
        return Err(why);
    }
    let mut rest = t;
    let mut total: u128 = 0;
    // The previous part's unit in nanoseconds: each part's unit must be smaller.
    let mut previous: Option<u128> = None;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_ns = if unit.is_empty() {
            // A bare number of seconds, only as the whole value ("1m30" is ambiguous).
            if previous.is_some() || !after.is_empty() {
                return Err(bad("every part after the first needs a unit"));
            }
            1_000_000_000
        } else {
            DURATION_UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|&(_, ns)| ns)
                .ok_or_else(|| bad(&format!("unknown unit '{unit}'")))?
        };
        if previous.is_some_and(|p| unit_ns >= p) {
            return Err(bad("units must go from the largest down, each once"));
        }
        previous = Some(unit_ns);
        total = total
            .checked_add(number_nanos(number, unit_ns).ok_or_else(|| bad("not a number"))?)
            .filter(|&n| n <= MAX_DURATION_NS)
            .ok_or_else(|| format!("'{text}' is too long (at most a year)"))?;
        rest = after;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| bad("too long"))?;
    // The remainder of a division by 10^9 always fits in u32.
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Parses a duration as [`parse_duration`], but not zero: a timeout of zero could never
/// be met (every start, round or stop would fail at once), and an interval of zero would
/// make a heartbeat or a refresh spin.
pub fn parse_nonzero_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err(format!(
            "'{text}' is zero: give a duration above 0, like 2s or 500ms"
        )),
        d => Ok(d),
    }
}

/// `number` (digits, optionally one `.` with digits on both sides) times `unit_ns`, in
/// nanoseconds, truncated below a nanosecond; `None` when malformed or beyond a year.
fn number_nanos(number: &str, unit_ns: u128) -> Option<u128> {
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_only(whole) || (number.contains('.') && !digits_only(fraction)) {
        return None;
    }
    // Anything with more digits than this is beyond a year in any unit; refusing early
    // keeps the arithmetic below far from overflow.
    if whole.trim_start_matches('0').len() > 20 {
        return Some(u128::MAX);
    }
    let whole: u128 = whole.parse().ok()?;
    // Digits past the 18th are below a nanosecond even for hours: drop them.
    let fraction = &fraction[..fraction.len().min(18)];
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    whole
        .checked_mul(unit_ns)?
        .checked_add(fraction * unit_ns / scale)
}

/// Parses a count of at least `min` and at most `max` (`--rounds`, `--secondaries`, ...),
/// refusing what is not one with a sentence that says which counts are allowed, rather
/// than Rust's "invalid digit found in string".
pub fn parse_count(text: &str, min: u64, max: u64) -> Result<u64, String> {
    // A bound that only the integer's width sets is not worth a 20-digit number up front.
    let wide = max == u64::MAX || max == u64::from(u32::MAX);
    let allowed = if wide {
        format!("use a whole number of {min} or more")
    } else {
        format!("use a whole number from {min} to {max}")
    };
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        let what = if t.starts_with('-') && t.len() > 1 {
            "is negative"
        } else {
            "is not a whole number"
        };
        return Err(format!("'{text}' {what}: {allowed}"));
    }
    match t.parse::<u64>() {
        Ok(n) if n < min => Err(format!("'{text}' is too small: {allowed}")),
        Ok(n) if n <= max => Ok(n),
        _ if wide => Err(format!("'{text}' is too large: use at most {max}")),
        _ => Err(format!("'{text}' is too large: {allowed}")),
    }
}

/// A count of 1 or more (`--rounds`, `--iterations`).
pub fn parse_positive_count(text: &str) -> Result<u64, String> {
    parse_count(text, 1, u64::MAX)
}

/// A count of 1 or more that fits 32 bits (`--queue`, `--max-clients`, ...).
pub fn parse_positive_count32(text: &str) -> Result<u32, String> {
    parse_count(text, 1, u32::MAX.into()).map(narrow)
}

/// A count of 0 or more that fits 32 bits (`--max-restarts`).
pub fn parse_count32(text: &str) -> Result<u32, String> {
    parse_count(text, 0, u32::MAX.into()).map(narrow)
}

/// A count [`parse_count`] bounded by `u32::MAX` or less.
fn narrow(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
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
    use super::count;

    #[test]
    fn one_of_a_thing_is_singular_and_zero_plural() {
        assert_eq!(count(1u64, "restart", "restarts"), "1 restart");
        assert_eq!(count(0u64, "restart", "restarts"), "0 restarts");
        assert_eq!(count(2u32, "instance", "instances"), "2 instances");
    }

    use super::*;

    #[test]
    fn counts_say_which_are_allowed() {
        assert_eq!(parse_positive_count("3"), Ok(3));
        assert_eq!(parse_count32("0"), Ok(0));
        assert_eq!(parse_count(" 64 ", 1, 64), Ok(64));
        assert_eq!(
            parse_positive_count("-1"),
            Err("'-1' is negative: use a whole number of 1 or more".to_string())
        );
        assert_eq!(
            parse_positive_count("1.5"),
            Err("'1.5' is not a whole number: use a whole number of 1 or more".to_string())
        );
        assert_eq!(
            parse_positive_count("0"),
            Err("'0' is too small: use a whole number of 1 or more".to_string())
        );
        assert_eq!(
            parse_count("65", 1, 64),
            Err("'65' is too large: use a whole number from 1 to 64".to_string())
        );
        assert_eq!(
            parse_positive_count32("4294967296"),
            Err("'4294967296' is too large: use at most 4294967295".to_string())
        );
        assert!(parse_positive_count("99999999999999999999").is_err());
        assert!(parse_count32("").is_err());
        assert!(parse_count32("-").is_err());
    }

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
        assert_eq!(parse_nonzero_bytes("64"), Ok(64));
        assert!(parse_nonzero_bytes("0").is_err());
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
    fn every_unit_and_compound_forms() {
        let cases = [
            ("1m30s", Duration::from_secs(90)),
            ("1h", Duration::from_secs(3600)),
            ("250us", Duration::from_micros(250)),
            ("250µs", Duration::from_micros(250)),
            ("2.5s", Duration::from_millis(2500)),
            ("7ns", Duration::from_nanos(7)),
            ("1.5ms", Duration::from_micros(1500)),
            ("2min", Duration::from_secs(120)),
            ("1h15m", Duration::from_secs(4500)),
            ("1s500ms", Duration::from_millis(1500)),
            ("1h2m3s4ms5us6ns", Duration::new(3723, 4_005_006)),
            ("0", Duration::ZERO),
            // What the primary passes to its secondary.
            ("5000000000ns", Duration::from_secs(5)),
            ("8760h", Duration::from_secs(365 * 86400)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for bad in [
            "30s1m", "1s1s", "1m30", "1ms1m", "s", "1 s", "1.s", "1x5s", "8761h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn a_timeout_is_not_zero() {
        assert_eq!(parse_nonzero_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_nonzero_duration("1ns"), Ok(Duration::from_nanos(1)));
        for zero in ["0", "0s", "0.0ms", "0h0m"] {
            assert!(
                parse_nonzero_duration(zero).unwrap_err().contains("zero"),
                "{zero}"
            );
        }
    }

    #[test]
    fn the_error_lists_every_unit() {
        let err = parse_duration("1x").unwrap_err();
        for unit in ["ns", "us", "µs", "ms", "s", "m", "h", "1m30s"] {
            assert!(err.contains(unit), "{unit} missing from: {err}");
        }
        assert!(err.contains("unknown unit 'x'"), "{err}");
    }

    proptest::proptest! {
        /// Any duration up to a year, written as compound parts from hours down to
        /// nanoseconds (zero parts left out), parses back to itself exactly.
        #[test]
        fn compound_durations_round_trip(ns in 0u64..=365 * 86_400 * 1_000_000_000) {
            let mut rest = ns as u128;
            let mut text = String::new();
            for (unit, size) in DURATION_UNITS.iter().filter(|(u, _)| !matches!(*u, "min" | "µs")) {
                let n = rest / size;
                rest %= size;
                if n > 0 {
                    text.push_str(&format!("{n}{unit}"));
                }
            }
            if text.is_empty() {
                text.push('0');
            }
            proptest::prop_assert_eq!(parse_duration(&text), Ok(Duration::from_nanos(ns)), "{}", text);
        }

        /// A decimal number of milliseconds is exact to the nanosecond.
        #[test]
        fn decimal_milliseconds(whole in 0u64..1_000_000, micros in 0u32..1000) {
            let text = format!("{whole}.{micros:03}ms");
            let want = Duration::from_millis(whole) + Duration::from_micros(u64::from(micros));
            proptest::prop_assert_eq!(parse_duration(&text), Ok(want));
        }

        /// No input makes the parser panic; whatever it accepts is at most a year.
        #[test]
        fn never_panics(text in "[0-9.µsmhnu ]{0,12}") {
            if let Ok(d) = parse_duration(&text) {
                proptest::prop_assert!(d <= Duration::from_secs(365 * 86_400));
            }
        }
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bytes(1 << 20), "1M");
        assert_eq!(format_bytes(65536), "64K");
        assert_eq!(format_bytes(4100), "4100");
    }
}
