//! The real osps binary in rounds mode (`osps primary --rounds`): each sync mode at each
//! payload size, on one core and beside busy loops, as ratios to the floors; and the
//! whole-process time of `osps primary --rounds 1`.

use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Serialize;

use super::floors::{Baseline, fifo_baseline};
use super::forked::Pinned;
use super::osps_bin;
use super::stats::{Percentiles, median_of};

pub(super) const PAYLOADS: [u64; 4] = [64, 4096, 64 << 10, 1 << 20];
/// Runs of osps per configuration; the figures are the medians over runs.
const REPEATS: usize = 5;
const PROCESS_RUNS: usize = 30;

#[derive(Debug, Serialize)]
pub(super) struct Osps {
    pub(super) sync: &'static str,
    pub(super) payload_bytes: u64,
    pub(super) size: &'static str,
    pub(super) same_core: bool,
    /// CPU-bound processes running beside it (the bench's own busy loops).
    pub(super) busy: usize,
    pub(super) rounds: u64,
    pub(super) runs: usize,
    /// Medians over the runs of each run's p50 and p99 (from `osps primary --json`).
    #[serde(flatten)]
    pub(super) latency: Percentiles,
    /// Payload bytes per p50 round trip.
    pub(super) gb_per_s: f64,
    /// p50 over the FIFO baseline's p50 (the same-core baseline for same-core rows).
    pub(super) vs_fifo_baseline: f64,
    /// p50 over the shared-memory floor's p50.
    pub(super) vs_shm_floor: f64,
}

#[derive(Debug, Serialize)]
pub(super) struct Process {
    pub(super) runs: usize,
    pub(super) median_ms: f64,
    pub(super) p90_ms: f64,
}

/// Runs `osps primary` once and returns its reported p50 and p99.
fn osps_once(
    sync: &str,
    payload: u64,
    size: &str,
    rounds: u64,
    same_core: bool,
    tag: &str,
) -> Percentiles {
    let dir = tempfile::Builder::new()
        .prefix("osps-bench-")
        .tempdir()
        .expect("tempdir");
    let name = format!("bench-{}-{tag}", std::process::id());
    let mut cmd = if same_core {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", &osps_bin()]);
        c
    } else {
        Command::new(osps_bin())
    };
    cmd.args(["-q", "primary", "--json", "--sync", sync, "--size", size])
        .args([
            "--payload",
            &payload.to_string(),
            "--rounds",
            &rounds.to_string(),
        ])
        .arg("--runtime-dir")
        .arg(dir.path().join("run")) // osps makes it, mode 0700
        .args(["--name", &name])
        .stdin(Stdio::null());
    let out = cmd.output().expect("running osps");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "osps {sync} {payload} B failed ({}): {}{}",
        out.status,
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(text.trim()).expect("osps --json output");
    assert_eq!(
        v["rounds"].as_u64(),
        Some(rounds),
        "osps ran fewer rounds: {text}"
    );
    assert_eq!(v["payload_bytes"].as_u64(), Some(payload), "{text}");
    let ns = |k: &str| v["latency_ns"][k].as_u64().expect("latency_ns field");
    Percentiles {
        p50_ns: ns("p50"),
        p99_ns: ns("p99"),
    }
}

/// Rounds per run of `osps primary` for one configuration: enough for a stable p99, and
/// at least tens of milliseconds per run.
fn rounds_for(sync: &str, payload: u64, quick: bool) -> u64 {
    let rounds: u64 = match payload {
        p if p >= 1 << 20 => 2_000,
        p if p >= 64 << 10 => 10_000,
        _ if sync == "adaptive" => 200_000,
        _ => 20_000,
    };
    if quick { rounds / 10 } else { rounds }
}

/// The `--size` that holds `payload`.
fn size_for(payload: u64) -> &'static str {
    if payload > (256 << 10) { "4M" } else { "1M" }
}

/// `REPEATS` runs of one configuration: medians of their p50s and p99s.
pub(super) fn osps_row(
    sync: &'static str,
    payload: u64,
    same_core: bool,
    busy: usize,
    fifo: Percentiles,
    floor: Percentiles,
    quick: bool,
) -> Osps {
    let rounds = rounds_for(sync, payload, quick);
    let runs: Vec<Percentiles> = (0..REPEATS)
        .map(|r| {
            osps_once(
                sync,
                payload,
                size_for(payload),
                rounds,
                same_core,
                &format!("{sync}-{payload}-{same_core}-{busy}-{r}"),
            )
        })
        .collect();
    osps_summary(sync, payload, same_core, busy, rounds, &runs, fifo, floor)
}

/// The row of a configuration from its runs.
#[allow(clippy::too_many_arguments)]
fn osps_summary(
    sync: &'static str,
    payload: u64,
    same_core: bool,
    busy: usize,
    rounds: u64,
    runs: &[Percentiles],
    fifo: Percentiles,
    floor: Percentiles,
) -> Osps {
    let latency = median_of(runs);
    let p50 = latency.p50_ns;
    Osps {
        sync,
        payload_bytes: payload,
        size: size_for(payload),
        same_core,
        busy,
        rounds,
        runs: runs.len(),
        latency,
        gb_per_s: payload as f64 / p50.max(1) as f64,
        vs_fifo_baseline: p50 as f64 / fifo.p50_ns.max(1) as f64,
        vs_shm_floor: p50 as f64 / floor.p50_ns.max(1) as f64,
    }
}

/// Runs of the bare FIFO ping-pong and of `osps --sync fifo` (64 B), both on CPU 0, for
/// the same-core comparison.
const SAME_CORE_RUNS: usize = 7;

/// The same-core comparison of `--sync fifo` with the bare FIFO ping-pong: the baseline's
/// figure and osps's row.
///
/// On one core the ratio hangs on whatever else runs on that core and on whether the
/// woken side preempts the writer, and both drift over seconds: one baseline measured
/// before five osps runs gave 0.80x in one bench and 1.24x in the next, on the same
/// build. So the two alternate, short runs each, and each side's figure is the median of
/// its runs' p50s: a drift or a burst of other work then weighs on both sides alike, or
/// lands in a run the median discards.
pub(super) fn same_core_fifo(quick: bool, floor: Percentiles) -> (Baseline, Osps) {
    let round_trips = if quick { 3_000 } else { 10_000 };
    let rounds = rounds_for("fifo", 64, quick);
    let mut base_runs = Vec::new();
    let mut osps_runs = Vec::new();
    for r in 0..SAME_CORE_RUNS {
        base_runs.push({
            let _pin = Pinned::cpu0();
            Percentiles::of(fifo_baseline(round_trips))
        });
        osps_runs.push(osps_once(
            "fifo",
            64,
            size_for(64),
            rounds,
            true,
            &format!("fifo-64-same-{r}"),
        ));
    }
    let baseline = Baseline {
        name: "fifo ping-pong",
        same_core: true,
        round_trips: round_trips * SAME_CORE_RUNS,
        latency: median_of(&base_runs),
    };
    let row = osps_summary(
        "fifo",
        64,
        true,
        0,
        rounds,
        &osps_runs,
        baseline.latency,
        floor,
    );
    (baseline, row)
}

/// Whole-process time of `osps primary --rounds 1`: spawn to reaped, cleanup included.
pub(super) fn process_time(quick: bool) -> Process {
    let dir = tempfile::Builder::new()
        .prefix("osps-bench-")
        .tempdir()
        .expect("tempdir");
    let runs = if quick { 5 } else { PROCESS_RUNS };
    let mut ms = Vec::new();
    for i in 0..runs + 2 {
        let name = format!("bench-{}-once-{i}", std::process::id());
        let t0 = Instant::now();
        let status = Command::new(osps_bin())
            .args([
                "-q",
                "primary",
                "--rounds",
                "1",
                "--name",
                &name,
                "--runtime-dir",
            ])
            .arg(dir.path().join("run"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .expect("running osps");
        let dt = t0.elapsed();
        assert!(status.success(), "osps primary --rounds 1 failed: {status}");
        if i >= 2 {
            ms.push(dt.as_secs_f64() * 1e3);
        }
    }
    ms.sort_by(f64::total_cmp);
    Process {
        runs,
        median_ms: ms[ms.len() / 2],
        p90_ms: ms[((ms.len() as f64 * 0.9).ceil() as usize).clamp(1, ms.len()) - 1],
    }
}

pub(super) fn has_taskset() -> bool {
    Command::new("taskset")
        .args(["-c", "0", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
