//! What the primary reports at the end: plain text for people, or one JSON object on
//! stdout (`--json`) for scripts. The keys are documented in osps-primary(1) and
//! schema/primary.schema.json; the text is for reading (plural forms, latencies in
//! ns/µs/ms/s), so scripts should use the JSON.

use std::io::Write;

use serde::Serialize;

use crate::pair::turn::SyncMode;
use crate::primary::stats::Latency;
use crate::primary::worker::Death;

/// Which mode ran: each prints its own summary, named by this key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Rounds,
    Serve,
}

/// What ended the run (`stopped_by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoppedBy {
    /// `--rounds N` were done.
    Rounds,
    /// A signal asked for the orderly stop.
    Signal,
    /// Every secondary died more often than `--max-restarts` allows.
    GaveUp,
    /// A failure of the primary itself (the segment truncated under it, say).
    Error,
}

impl StoppedBy {
    /// The name the text summary shows, the same as the JSON's.
    pub fn as_str(self) -> &'static str {
        match self {
            StoppedBy::Rounds => "rounds",
            StoppedBy::Signal => "signal",
            StoppedBy::GaveUp => "gave-up",
            StoppedBy::Error => "error",
        }
    }
}

/// The summary of either mode.
pub enum Report {
    Rounds(Summary),
    Serve(ServeSummary),
}

impl Report {
    /// Prints the summary on stdout. A reader that went away (EPIPE: `| head -1`) is
    /// not an error; any other failure (a full disk, `/dev/full`) is, in one line that
    /// names stdout: a summary cut short must not look like a run that went well.
    pub fn print(&self, json: bool) -> color_eyre::Result<()> {
        let written = match self {
            Report::Rounds(s) => print(s, json, |out| s.write_text(out)),
            Report::Serve(s) => print(s, json, |out| s.write_text(out)),
        };
        match written {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                color_eyre::eyre::bail!("writing to stdout: {e} (the summary is lost)")
            }
            _ => Ok(()),
        }
    }
}

/// "1 round", "2 rounds", "0 rounds".
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `n` with `noun`'s plural in `s` when it is not 1: "1 round", "2 rounds".
fn plural(n: u64, noun: &str) -> String {
    count(n, noun, &format!("{noun}s"))
}

/// A duration in nanoseconds for people: "310 ns", "8.1 µs", "16.1 ms", "2.5 s"; one
/// decimal below 100 of the unit, none above.
fn human_ns(ns: u64) -> String {
    if ns < 1_000 {
        return format!("{ns} ns");
    }
    // The smallest unit under 1000 after rounding (999.96 µs reads "1.0 ms", not "1000 µs").
    let (unit, v) = [("µs", 1e3), ("ms", 1e6)]
        .iter()
        .map(|&(unit, scale)| (unit, ns as f64 / scale))
        .find(|&(_, v)| v < 999.5)
        .unwrap_or(("s", ns as f64 / 1e9));
    if v < 99.95 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.0} {unit}")
    }
}

/// Writes a summary to stdout, as one JSON line or as text, and flushes it (so that a
/// failed write is seen here).
fn print<T: Serialize>(
    value: &T,
    json: bool,
    text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, value)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))?;
    } else {
        text(&mut out)?;
    }
    out.flush()
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// 1: the keys below (see schema/primary.schema.json).
    pub schema_version: u32,
    /// Always `Mode::Rounds` (a serving run prints a [`ServeSummary`]).
    pub mode: Mode,
    pub name: String,
    pub sync: SyncMode,
    /// Rounds completed and verified.
    pub rounds: u64,
    /// Rounds lost: the secondary died during them twice, or the run gave up.
    pub rounds_failed: u64,
    /// Rounds retried on a fresh secondary after the first one died during them.
    pub rounds_retried: u64,
    pub payload_bytes: u64,
    pub bytes_to_secondary: u64,
    pub bytes_from_secondary: u64,
    /// Replies that did not match their request.
    pub corruptions: u64,
    /// corruptions + rounds_failed.
    pub errors: u64,
    /// Round trip of each completed round, handshake excluded.
    pub latency_ns: Latency,
    pub restarts: u64,
    pub deaths: Vec<Death>,
    pub secondary_pid: Option<u32>,
    /// The last secondary's exit code (0 after an orderly stop), null if killed by a signal.
    pub secondary_exit: Option<i32>,
    pub secondary_signal: Option<i32>,
    pub stopped_by: StoppedBy,
    pub elapsed_ms: u64,
}

impl Summary {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let l = &self.latency_ns;
        writeln!(
            out,
            "instance {}: {} of {} ({} sync) in {} ms, stopped by {}",
            self.name,
            plural(self.rounds, "round"),
            plural(self.payload_bytes, "byte"),
            self.sync.as_str(),
            self.elapsed_ms,
            self.stopped_by.as_str()
        )?;
        writeln!(
            out,
            "  bytes: {} to the secondary, {} back",
            self.bytes_to_secondary, self.bytes_from_secondary
        )?;
        writeln!(
            out,
            "  round trip: p50 {}, p99 {}, max {}",
            human_ns(l.p50),
            human_ns(l.p99),
            human_ns(l.max)
        )?;
        writeln!(
            out,
            "  errors: {} ({}, {}, {} retried)",
            self.errors,
            count(self.corruptions, "corrupted reply", "corrupted replies"),
            plural(self.rounds_failed, "failed round"),
            self.rounds_retried
        )?;
        let exit = match (self.secondary_exit, self.secondary_signal) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => "unknown".into(),
        };
        writeln!(
            out,
            "  secondary: pid {}, {exit}, {}",
            self.secondary_pid.map_or("-".into(), |p| p.to_string()),
            plural(self.restarts, "restart")
        )?;
        for d in &self.deaths {
            writeln!(
                out,
                "  secondary {} {} ({}, {})",
                d.pid, d.how, d.cause, d.during
            )?;
        }
        Ok(())
    }
}

/// What the serving primary reports at the end.
#[derive(Debug, Serialize)]
pub struct ServeSummary {
    /// 1: the keys below (see schema/primary.schema.json).
    pub schema_version: u32,
    /// Always `Mode::Serve` (a run of rounds prints a [`Summary`]).
    pub mode: Mode,
    pub name: String,
    pub secondaries: usize,
    pub clients_served: u64,
    pub requests: u64,
    pub errors: u64,
    pub retried: u64,
    pub failed: u64,
    /// Requests answered `ERR shutting down` (in `requests`, not in `errors`).
    pub cut_short: u64,
    /// Requests answered `ERR busy` by the primary itself (the shared queue was full).
    pub busy: u64,
    /// Lines answered `ERR line too long` (each ends its client's input).
    pub too_long: u64,
    /// Newcomers answered `ERR too many clients` (beyond --max-clients, or out of
    /// descriptors) and closed.
    pub turned_away: u64,
    pub restarts: u64,
    pub deaths: Vec<Death>,
    pub stopped_by: StoppedBy,
    pub elapsed_ms: u64,
}

impl ServeSummary {
    /// The summary of a serving run of instance `name` that has served nothing yet (and
    /// would end by a signal).
    pub fn new(name: String, secondaries: usize) -> ServeSummary {
        ServeSummary {
            schema_version: 1,
            mode: Mode::Serve,
            name,
            secondaries,
            clients_served: 0,
            requests: 0,
            errors: 0,
            retried: 0,
            failed: 0,
            cut_short: 0,
            busy: 0,
            too_long: 0,
            turned_away: 0,
            restarts: 0,
            deaths: Vec::new(),
            stopped_by: StoppedBy::Signal,
            elapsed_ms: 0,
        }
    }

    /// Counts the lines the primary answered itself.
    pub fn count_refused(&mut self, refused: crate::primary::clients::Refused) {
        self.busy += refused.busy;
        self.too_long += refused.too_long;
    }

    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "instance {}: {} from {} over {}, {}, {} retried, {} failed, {} cut short, {} \
             busy, {} too long, {} turned away, {}, stopped by {}",
            self.name,
            plural(self.requests, "request"),
            plural(self.clients_served, "client"),
            count(self.secondaries as u64, "secondary", "secondaries"),
            plural(self.errors, "error"),
            self.retried,
            self.failed,
            self.cut_short,
            self.busy,
            self.too_long,
            self.turned_away,
            plural(self.restarts, "restart"),
            self.stopped_by.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primary::stats::Latency;

    fn text(f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn latencies_read_in_human_units() {
        assert_eq!(human_ns(0), "0 ns");
        assert_eq!(human_ns(310), "310 ns");
        assert_eq!(human_ns(999), "999 ns");
        assert_eq!(human_ns(1_000), "1.0 µs");
        assert_eq!(human_ns(8_140), "8.1 µs");
        assert_eq!(human_ns(123_456), "123 µs");
        assert_eq!(human_ns(999_999), "1.0 ms");
        assert_eq!(human_ns(16_067_253), "16.1 ms");
        assert_eq!(human_ns(2_500_000_000), "2.5 s");
        assert_eq!(human_ns(u64::MAX), "18446744074 s");
    }

    #[test]
    fn counts_use_the_right_plural() {
        assert_eq!(plural(1, "round"), "1 round");
        assert_eq!(plural(0, "round"), "0 rounds");
        assert_eq!(plural(2, "restart"), "2 restarts");
        assert_eq!(count(1, "secondary", "secondaries"), "1 secondary");
    }

    #[test]
    fn the_rounds_text_names_the_instance_once() {
        let s = Summary {
            schema_version: 1,
            mode: Mode::Rounds,
            name: "osps".into(),
            sync: SyncMode::Fifo,
            rounds: 1,
            rounds_failed: 0,
            rounds_retried: 0,
            payload_bytes: 64,
            bytes_to_secondary: 64,
            bytes_from_secondary: 64,
            corruptions: 1,
            errors: 1,
            latency_ns: Latency {
                p50: 310,
                p99: 8_100,
                max: 16_067_253,
                mean: 1_000,
            },
            restarts: 1,
            deaths: Vec::new(),
            secondary_pid: Some(42),
            secondary_exit: Some(0),
            secondary_signal: None,
            stopped_by: StoppedBy::Rounds,
            elapsed_ms: 3,
        };
        let t = text(|out| s.write_text(out));
        assert!(
            t.starts_with("instance osps: 1 round of 64 bytes (fifo sync)"),
            "{t}"
        );
        assert!(
            t.contains("round trip: p50 310 ns, p99 8.1 µs, max 16.1 ms"),
            "{t}"
        );
        assert!(
            t.contains("(1 corrupted reply, 0 failed rounds, 0 retried)"),
            "{t}"
        );
        assert!(t.contains("pid 42, exit status 0, 1 restart\n"), "{t}");
    }

    #[test]
    fn the_serving_text_uses_plurals() {
        let s = ServeSummary {
            clients_served: 1,
            requests: 2,
            ..ServeSummary::new("web".into(), 1)
        };
        let t = text(|out| s.write_text(out));
        assert_eq!(
            t,
            "instance web: 2 requests from 1 client over 1 secondary, 0 errors, 0 retried, \
             0 failed, 0 cut short, 0 busy, 0 too long, 0 turned away, 0 restarts, stopped \
             by signal\n"
        );
    }

    fn json(value: &impl Serialize) -> String {
        serde_json::to_string(value).unwrap()
    }

    #[test]
    fn the_states_read_the_same_in_json_and_text() {
        for (stopped, name) in [
            (StoppedBy::Rounds, "rounds"),
            (StoppedBy::Signal, "signal"),
            (StoppedBy::GaveUp, "gave-up"),
            (StoppedBy::Error, "error"),
        ] {
            assert_eq!(json(&stopped), format!("\"{name}\""));
            assert_eq!(stopped.as_str(), name);
        }
        assert_eq!(json(&Mode::Rounds), "\"rounds\"");
        assert_eq!(json(&Mode::Serve), "\"serve\"");
        for sync in [SyncMode::Fifo, SyncMode::Adaptive] {
            assert_eq!(json(&sync), format!("\"{}\"", sync.as_str()));
        }
        let v = serde_json::to_value(ServeSummary::new("web".into(), 2)).unwrap();
        assert_eq!(v["mode"], "serve");
        assert_eq!(v["stopped_by"], "signal");
    }
}
