//! The targets of the full run (issues 5, 11 and 14): each figure against its limit.

use serde::Serialize;

use super::floors::LargeFloor;
use super::pool::{POOL_CLIENTS, PoolRow};
use super::rounds::{Osps, Process};
use super::serve::{self, ServeRow};

#[derive(Debug, Serialize)]
pub(super) struct Target {
    pub(super) what: &'static str,
    pub(super) limit: String,
    pub(super) measured: String,
    /// Measured over the limit: at most 1.0 when met.
    pub(super) ratio: f64,
    pub(super) met: bool,
}

impl Target {
    /// A target "`measured` at most `limit`", both in the unit `unit`.
    fn at_most(what: &'static str, measured: f64, limit: f64, unit: &str) -> Target {
        let ratio = measured / limit;
        let fmt = |v: f64| {
            if unit == "x" {
                format!("{v:.2}x")
            } else {
                format!("{v:.2} {unit}")
            }
        };
        Target {
            what,
            limit: format!("<= {}", fmt(limit)),
            measured: fmt(measured),
            ratio,
            met: ratio <= 1.0,
        }
    }

    /// A target "`measured` at least `limit`" (a ratio, "x"); its ratio is then limit over
    /// measured, so that here too at most 1.0 means met.
    fn at_least(what: &'static str, measured: f64, limit: f64) -> Target {
        let ratio = limit / measured.max(f64::MIN_POSITIVE);
        Target {
            what,
            limit: format!(">= {limit:.2}x"),
            measured: format!("{measured:.2}x"),
            ratio,
            met: ratio <= 1.0,
        }
    }
}

/// The targets met or missed by the figures of a full run.
pub(super) fn all(
    osps: &[Osps],
    large: &LargeFloor,
    process: &Process,
    cpus: usize,
    serve: &[ServeRow],
    pool: &[PoolRow],
) -> Vec<Target> {
    let find = |sync: &str, payload: u64, same: bool, busy: usize| {
        osps.iter().find(|o| {
            o.sync == sync && o.payload_bytes == payload && o.same_core == same && o.busy == busy
        })
    };
    let p50 = |o: &Osps| o.latency.p50_ns as f64;
    let mut targets = Vec::new();
    if let Some(f) = find("fifo", 64, false, 0) {
        targets.push(Target::at_most(
            "fifo 64 B p50 vs bare FIFO ping-pong",
            f.vs_fifo_baseline,
            1.2,
            "x",
        ));
    }
    if let Some(f) = find("fifo", 64, true, 0) {
        targets.push(Target::at_most(
            "same core: fifo 64 B p50 vs bare FIFO ping-pong",
            f.vs_fifo_baseline,
            1.2,
            "x",
        ));
    }
    if let Some(a) = find("adaptive", 64, false, 0) {
        targets.push(Target::at_most(
            "adaptive 64 B p50",
            p50(a) / 1e3,
            2.0,
            "us",
        ));
        targets.push(Target::at_most(
            "adaptive 64 B p99",
            a.latency.p99_ns as f64 / 1e3,
            10.0,
            "us",
        ));
    }
    if let Some(a) = find("adaptive", 1 << 20, false, 0) {
        targets.push(Target::at_most(
            "adaptive 1 MiB p50 vs the 1 MiB floor",
            p50(a) / large.latency.p50_ns.max(1) as f64,
            1.2,
            "x",
        ));
    }
    targets.push(Target::at_most(
        "primary --rounds 1, whole process (median)",
        process.median_ms,
        5.0,
        "ms",
    ));
    for (what, same, busy) in [
        ("adaptive vs fifo 64 B p50, quiet", false, 0),
        ("adaptive vs fifo 64 B p50, same core", true, 0),
        (
            "adaptive vs fifo 64 B p50, 1 busy process",
            false,
            cpus.saturating_sub(1).max(1),
        ),
        ("adaptive vs fifo 64 B p50, 2 busy processes", false, cpus),
    ] {
        if let (Some(f), Some(a)) = (
            find("fifo", 64, same, busy),
            find("adaptive", 64, same, busy),
        ) {
            targets.push(Target::at_most(what, p50(a) / p50(f).max(1.0), 1.0, "x"));
        }
    }

    for (clients, what) in POOL_CLIENTS {
        let row = |sync: &str| pool.iter().find(|r| r.sync == sync && r.clients == clients);
        if let (Some(f), Some(a)) = (row("fifo"), row("adaptive")) {
            let ratio = if clients == 1 {
                a.latency.p50_ns as f64 / f.latency.p50_ns.max(1) as f64
            } else {
                f.requests_per_s / a.requests_per_s.max(f64::MIN_POSITIVE)
            };
            targets.push(Target::at_most(what, ratio, 1.0, "x"));
        }
    }

    // Issue 11: one request at a time, osps against the bare echo server with as many
    // clients, in requests/s and in p99. (The one-loop echo rows are for reading the
    // table, not targets.)
    let serve_row = |server: &str, clients: usize| {
        serve
            .iter()
            .find(|r| r.server.starts_with(server) && r.clients == clients)
    };
    for (clients, what) in [
        (8, "serving 8 clients: osps vs echo requests/s"),
        (32, "serving 32 clients: osps vs echo requests/s"),
    ] {
        if let Some(vs) = serve_row("osps", clients).and_then(|o| o.vs_echo) {
            targets.push(Target::at_least(what, vs, 0.8));
        }
    }
    if let (Some(e), Some(o)) = (serve_row(serve::ECHO, 32), serve_row("osps", 32)) {
        targets.push(Target::at_most(
            "serving 32 clients: osps vs echo p99",
            o.latency.p99_ns as f64 / e.latency.p99_ns.max(1) as f64,
            2.0,
            "x",
        ));
    }
    targets
}
