//! The description of the machine that goes with the figures: CPUs, kernel, date and the
//! load averages before and after the run.

use std::num::NonZeroUsize;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

#[derive(Debug, Serialize)]
pub(super) struct Machine {
    pub(super) nproc: usize,
    pub(super) kernel: String,
    pub(super) cpu: String,
    pub(super) date: String,
    /// /proc/loadavg before and after the run: other work on the machine skews figures.
    pub(super) load_before: String,
    pub(super) load_after: String,
}

/// The 1, 5 and 15 minute load averages.
pub(super) fn loadavg() -> String {
    read_trimmed("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Today's UTC date and time, ISO 8601 (civil-from-days, no date crate needed).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

pub(super) fn machine(load_before: String) -> Machine {
    let cpuinfo = read_trimmed("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    Machine {
        nproc: std::thread::available_parallelism().map_or(0, NonZeroUsize::get),
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        cpu,
        date: utc_now(),
        load_before,
        load_after: loadavg(),
    }
}
