//! Plain words of the audit's lines, for the report (`words.rs` names processes on top
//! of these) and for `-v` (`live.rs`): a time in milliseconds, a signal by its name, a
//! path with odd bytes escaped. A leaf: it imports nothing of the audit.

pub fn ms(us: u64) -> f64 {
    (us as f64 / 1000.0 * 10.0).round() / 10.0
}

pub fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_string())
}

/// A path for people: printable ASCII as it is, anything else escaped (`\n`, `\xff`).
pub fn escape(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if !text.contains('\u{fffd}') && !bytes.iter().any(|b| b.is_ascii_control()) {
        return text.into_owned();
    }
    bytes
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_escaped_for_people_only_when_needed() {
        assert_eq!(escape(b"/tmp/a b"), "/tmp/a b");
        assert_eq!(escape(b"/tmp/a\nb"), "/tmp/a\\nb");
        assert_eq!(escape(b"/tmp/\xffx"), "/tmp/\\xffx");
    }
}
