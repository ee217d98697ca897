//! The two clocks osps reads: `CLOCK_MONOTONIC` for intervals and heartbeats (comparable
//! between the processes of one machine, never set back), and the wall clock for the
//! instants people read (a segment's creation time, the moment of a view).

use std::time::{SystemTime, UNIX_EPOCH};

/// `CLOCK_MONOTONIC` in nanoseconds: comparable between processes of one machine.
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

/// The wall clock in milliseconds since the Unix epoch (0 for a clock set before 1970).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The wall clock in whole seconds since the Unix epoch.
pub fn unix_s() -> i64 {
    (unix_ms() / 1000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_never_goes_back() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(a > 0 && b >= a);
    }

    #[test]
    fn wall_clock_agrees_in_both_units() {
        let ms = unix_ms();
        let s = unix_s();
        assert!(ms > 1_600_000_000_000, "the clock reads {ms} ms");
        assert!((ms / 1000) as i64 - s <= 1);
    }
}
