//! What the primary reports at the end: plain text for people, or one JSON object on
//! stdout (`--json`) for scripts. The keys are documented in osps-primary(1).

use std::io::Write;

use serde::Serialize;

use crate::stats::Latency;

/// How one secondary ended before the orderly stop.
#[derive(Clone, Debug, Serialize)]
pub struct Death {
    pub pid: u32,
    /// "exited with status 1", "killed by signal 9 (SIGKILL)", ...
    pub how: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// What the primary saw first: "exited", "hung" (no reply within --timeout), ...
    pub cause: String,
    /// "before the handshake", "during round 12", "between rounds", ...
    pub during: String,
}

/// Writes a summary to stdout, as one JSON line or as text; a closed stdout is not an
/// error worth failing for (the run itself is over and went as reported by the status).
pub fn print<T: Serialize>(
    value: &T,
    json: bool,
    text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) {
    let mut out = std::io::stdout().lock();
    let _ = if json {
        serde_json::to_writer(&mut out, value)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        text(&mut out)
    };
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// 1: the keys below (see schema/primary.schema.json).
    pub schema_version: u32,
    /// "rounds" (a serving run prints a different summary, with "serve").
    pub mode: &'static str,
    pub name: String,
    pub sync: &'static str,
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
    /// "rounds", "signal", "gave-up", "error".
    pub stopped_by: &'static str,
    pub elapsed_ms: u64,
}

impl Summary {
    pub fn print(&self, json: bool) {
        print(self, json, |out| self.write_text(out));
    }

    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let l = &self.latency_ns;
        writeln!(
            out,
            "osps {}: {} rounds of {} bytes ({} sync) in {} ms, stopped by {}",
            self.name, self.rounds, self.payload_bytes, self.sync, self.elapsed_ms, self.stopped_by
        )?;
        writeln!(
            out,
            "  bytes: {} to the secondary, {} back",
            self.bytes_to_secondary, self.bytes_from_secondary
        )?;
        writeln!(
            out,
            "  round trip: p50 {} ns, p99 {} ns, max {} ns",
            l.p50, l.p99, l.max
        )?;
        writeln!(
            out,
            "  errors: {} ({} corrupted replies, {} failed rounds, {} retried)",
            self.errors, self.corruptions, self.rounds_failed, self.rounds_retried
        )?;
        let exit = match (self.secondary_exit, self.secondary_signal) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => "unknown".into(),
        };
        writeln!(
            out,
            "  secondary: pid {}, {exit}, {} restarts",
            self.secondary_pid.map_or("-".into(), |p| p.to_string()),
            self.restarts
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
