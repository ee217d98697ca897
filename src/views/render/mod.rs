//! The operator's views (`osps list`, `osps status`, `osps top`): pure renderers of the
//! instance model that [`crate::instance::discover`] surveys, never a second discovery.
//!
//! [`Row`] is the one summary of an instance that every view starts from, taken at one
//! [`Clock`] reading so that ages are consistent; [`table`] lays rows out as columns,
//! [`fit`] fits columns into a terminal's width, and [`describe`] writes the multi-line
//! description of `osps status`. Everything here is a
//! function from data to text, unit-tested without any process or file.

pub mod describe;
pub mod fit;
pub mod table;

use std::time::Duration;

use serde::Serialize;

use crate::instance::discover::{HeaderView, InstanceReport, Status};
use crate::pair::header::{self, Header, State};

/// When a view was taken: wall-clock milliseconds (the header's creation time is one) and
/// `CLOCK_MONOTONIC` nanoseconds (what `top` divides counter differences by).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    pub unix_ms: u64,
    pub monotonic_ns: u64,
}

impl Clock {
    /// Now.
    pub fn now() -> Clock {
        Clock {
            unix_ms: crate::clock::unix_ms(),
            monotonic_ns: crate::clock::monotonic_ns(),
        }
    }
}

/// What an instance does: rounds (`osps primary`) or serving clients (`--serve`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Rounds,
    Serve,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Rounds => "rounds",
            Mode::Serve => "serve",
        }
    }

    /// What the instance's counter counts.
    pub fn counted(self) -> &'static str {
        match self {
            Mode::Rounds => "rounds",
            Mode::Serve => "requests",
        }
    }
}

/// One secondary as the views show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Worker {
    pub index: usize,
    pub pid: Option<i32>,
    pub alive: bool,
    #[serde(serialize_with = "header::state_or_unknown")]
    pub state: Option<State>,
    pub restarts: u64,
    #[serde(rename = "requests_served")]
    pub served: u64,
    /// Milliseconds since its last heartbeat; `None` when it never beat. (The JSON key
    /// is inspect's.)
    #[serde(rename = "heartbeat_age_ms")]
    pub heartbeat_ms: Option<u64>,
    /// Stopped by a signal (SIGSTOP, Ctrl-Z: state `T`), whatever the header says.
    #[serde(skip)]
    pub stopped: bool,
}

impl Worker {
    /// Its character on the scoreboard, in the spirit of Apache's `mod_status`: `_` idle
    /// (waiting for work), `W` working, `S` starting, `G` stopping gracefully, `T` stopped
    /// by a signal (it does nothing until SIGCONT), `.` dead (no live process, whatever
    /// the header last said).
    pub fn score(&self) -> char {
        if !self.alive {
            return '.';
        }
        if self.stopped {
            return 'T';
        }
        match self.state {
            Some(State::Ready) => '_',
            Some(State::Busy) => 'W',
            Some(State::Starting) => 'S',
            Some(State::Stopping) => 'G',
            _ => '.',
        }
    }
}

/// The summary of one instance that `list` and `top` show, one line each.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub name: String,
    pub status: Status,
    /// `None` without a valid header.
    pub mode: Option<Mode>,
    /// The live primary's pid (the lock's holder); `None` when no primary runs.
    pub primary: Option<i32>,
    pub primary_state: Option<State>,
    /// The secondaries, under inspect's key for them.
    #[serde(rename = "secondaries")]
    pub workers: Vec<Worker>,
    /// Rounds verified (mode rounds) or requests answered (mode serve).
    pub count: Option<u64>,
    /// Restarts of all secondaries together.
    pub restarts: Option<u64>,
    /// Milliseconds since the segment was created.
    pub age_ms: Option<u64>,
    /// Milliseconds since the older heartbeat of the primary and the live secondaries.
    #[serde(rename = "heartbeat_age_ms")]
    pub heartbeat_ms: Option<u64>,
    #[serde(rename = "primary_heartbeat_age_ms")]
    pub primary_heartbeat_ms: Option<u64>,
    pub clients: Option<u64>,
    pub queue: Option<u64>,
}

impl Row {
    /// Live and total secondaries.
    pub fn secondaries(&self) -> (usize, usize) {
        (
            self.workers.iter().filter(|w| w.alive).count(),
            self.workers.len(),
        )
    }

    /// One character per secondary (see [`Worker::score`]).
    pub fn scoreboard(&self) -> String {
        self.workers.iter().map(Worker::score).collect()
    }
}

/// The valid header of an instance, if its segment has one.
pub fn header(instance: &InstanceReport) -> Option<&Header> {
    match &instance.segment.header {
        Some(HeaderView::Valid(h)) => Some(h),
        _ => None,
    }
}

/// The summary of one instance at `clock`.
pub fn row(instance: &InstanceReport, clock: Clock) -> Row {
    let h = header(instance);
    let mode = h.map(|h| {
        // The socket is made before anything is served; requests or a pool also say so
        // when a crash left no socket, and a live primary's command line when someone
        // removed it.
        let serving_primary =
            instance.primary.alive && instance.primary.pid.is_some_and(crate::os::procfs::serves);
        if instance.socket.exists || h.requests > 0 || h.workers > 1 || serving_primary {
            Mode::Serve
        } else {
            Mode::Rounds
        }
    });
    let workers: Vec<Worker> = instance
        .secondaries
        .iter()
        .map(|m| Worker {
            index: m.index,
            pid: m.pid,
            alive: m.alive,
            state: m.state,
            restarts: m.restarts,
            served: m.requests_served,
            heartbeat_ms: m.heartbeat_age_ms,
            stopped: m.alive
                && m.pid
                    .is_some_and(|p| crate::os::procfs::state(p) == Some('T')),
        })
        .collect();
    let primary_alive = instance.primary.alive;
    let primary_heartbeat_ms = instance.primary.heartbeat_age_ms.filter(|_| primary_alive);
    // The older side decides: a side that stopped beating is what an operator must see.
    // Dead secondaries are counted out (the scoreboard shows them), and so is everything
    // of an instance whose primary is gone (its age says how long ago that was). A
    // server's secondaries write theirs only when they take a turn (an idle one is not
    // silent, just idle): its primary's, written every second, decides.
    let heartbeat_ms = if primary_alive && mode == Some(Mode::Serve) {
        primary_heartbeat_ms
    } else if primary_alive {
        workers
            .iter()
            .filter(|w| w.alive)
            .filter_map(|w| w.heartbeat_ms)
            .chain(primary_heartbeat_ms)
            .max()
    } else {
        None
    };
    Row {
        name: instance.name.clone(),
        status: instance.status,
        mode,
        primary: instance.primary.pid.filter(|_| primary_alive),
        primary_state: instance.primary.state,
        count: h.zip(mode).map(|(h, mode)| match mode {
            Mode::Rounds => h.rounds,
            Mode::Serve => h.requests,
        }),
        restarts: h.map(|_| workers.iter().map(|w| w.restarts).sum()),
        age_ms: h.map(|h| clock.unix_ms.saturating_sub(h.created_unix_ms)),
        heartbeat_ms,
        primary_heartbeat_ms,
        clients: instance.clients,
        queue: instance.queue,
        workers,
    }
}

/// A duration for people, at most two units: `850ms`, `12s`, `3m05s`, `2h14m`, `3d04h`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    let s = ms / 1000;
    match s {
        _ if ms < 1000 => format!("{ms}ms"),
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// Milliseconds for people, `-` when unknown.
pub fn human_ms(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "-".into(),
        |ms| human_duration(Duration::from_millis(ms)),
    )
}

/// A number or `-`.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

/// A rate per second for people: `0`, `0.50`, `12.3`, `4567`.
pub fn human_rate(rate: f64) -> String {
    match rate {
        r if r <= 0.0 => "0".into(),
        r if r < 10.0 => format!("{r:.2}"),
        r if r < 100.0 => format!("{r:.1}"),
        r => format!("{r:.0}"),
    }
}

/// A Unix time in milliseconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rest) = (secs / 86400, secs % 86400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

/// ANSI colours for the status words, used only when the caller decided colour is on.
pub fn status_color(status: Status) -> &'static str {
    match status {
        Status::Running => "32",
        Status::Stale | Status::Partial => "33",
        Status::Corrupt => "31",
        Status::Inaccessible => "35",
    }
}

/// The status as the views print it (the same words as `inspect`'s JSON).
pub fn status_word(status: Status) -> &'static str {
    match status {
        Status::Running => "running",
        Status::Stale => "stale",
        Status::Partial => "partial",
        Status::Corrupt => "corrupt",
        Status::Inaccessible => "inaccessible",
    }
}

/// `text` in colour `code` when `color` is on.
pub fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A running instance's row with `count` rounds or requests (the rate tests).
    pub fn with_count(name: &str, count: u64) -> Row {
        let mut row = sample(name, Status::Running);
        row.count = Some(count);
        row
    }

    /// A row for the renderers' tests.
    pub fn sample(name: &str, status: Status) -> Row {
        Row {
            name: name.into(),
            status,
            mode: Some(Mode::Rounds),
            primary: Some(4242),
            primary_state: Some(State::Ready),
            workers: vec![Worker {
                index: 0,
                pid: Some(4243),
                alive: true,
                state: Some(State::Busy),
                restarts: 1,
                served: 10,
                heartbeat_ms: Some(120),
                stopped: false,
            }],
            count: Some(1234),
            restarts: Some(1),
            age_ms: Some(185_000),
            heartbeat_ms: Some(120),
            primary_heartbeat_ms: Some(80),
            clients: Some(0),
            queue: Some(0),
        }
    }

    fn worker(alive: bool, state: State) -> Worker {
        Worker {
            index: 0,
            pid: Some(1),
            alive,
            state: Some(state),
            restarts: 0,
            served: 0,
            heartbeat_ms: None,
            stopped: false,
        }
    }

    #[test]
    fn the_scoreboard_has_one_character_per_secondary() {
        let mut row = sample("a", Status::Running);
        row.workers = vec![
            worker(true, State::Ready),
            worker(true, State::Busy),
            worker(true, State::Starting),
            worker(false, State::Busy),
            worker(true, State::Stopping),
            worker(true, State::Failed),
        ];
        assert_eq!(row.scoreboard(), "_WS.G.");
        assert_eq!(row.secondaries(), (5, 6));
        // One stopped by SIGSTOP is no longer idle or working: `T`, until SIGCONT.
        row.workers[1].stopped = true;
        assert_eq!(row.scoreboard(), "_TS.G.");
    }

    #[test]
    fn durations_use_at_most_two_units() {
        let d = |ms| human_duration(Duration::from_millis(ms));
        assert_eq!(d(0), "0ms");
        assert_eq!(d(850), "850ms");
        assert_eq!(d(12_400), "12s");
        assert_eq!(d(185_000), "3m05s");
        assert_eq!(d(2 * 3_600_000 + 14 * 60_000), "2h14m");
        assert_eq!(d(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
        assert_eq!(human_ms(None), "-");
    }

    #[test]
    fn rates_keep_three_significant_digits() {
        assert_eq!(human_rate(0.0), "0");
        assert_eq!(human_rate(-1.0), "0");
        assert_eq!(human_rate(0.5), "0.50");
        assert_eq!(human_rate(12.34), "12.3");
        assert_eq!(human_rate(4567.4), "4567");
    }

    #[test]
    fn utc_dates_are_civil_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn colour_only_when_asked() {
        assert_eq!(paint("running", "32", false), "running");
        assert_eq!(paint("running", "32", true), "\x1b[32mrunning\x1b[0m");
    }
}
