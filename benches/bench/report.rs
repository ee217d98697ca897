//! The report of the full run: the table on stdout and the same figures as JSON in
//! `target/osps-bench.json`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::floors::{Baseline, LargeFloor, Memcpy};
use super::machine::Machine;
use super::pool::{POOL_SECONDARIES, PoolRow};
use super::rounds::{Osps, Process};
use super::serve;
use super::targets::Target;

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) machine: Machine,
    pub(super) command: &'static str,
    pub(super) osps_version: &'static str,
    pub(super) osps_binary: String,
    pub(super) baselines: Vec<Baseline>,
    pub(super) large_floor: LargeFloor,
    pub(super) memcpy: Vec<Memcpy>,
    pub(super) osps: Vec<Osps>,
    /// Why a row is missing, when one is.
    pub(super) notes: Vec<String>,
    pub(super) process_rounds_1: Process,
    /// The serving mode under load, next to a bare echo server.
    pub(super) serve: Vec<serve::ServeRow>,
    /// The serving pool in fifo and in adaptive mode under the same load.
    pub(super) pool: Vec<PoolRow>,
    pub(super) targets: Vec<Target>,
}

/// Writes the report as JSON to [`output_path`].
pub(super) fn write(report: &Report) {
    let path = output_path();
    let json = serde_json::to_string_pretty(report).expect("serialising the report");
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("creating the target directory");
    }
    std::fs::write(&path, json + "\n")
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    println!("\nwritten to {}", path.display());
}

pub(super) fn output_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    target.join("osps-bench.json")
}

pub(super) fn us(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1e3)
}

pub(super) fn print_table(r: &Report) {
    let m = &r.machine;
    println!(
        "osps {} bench, {} ({} CPUs, {}, Linux {})",
        r.osps_version, m.date, m.nproc, m.cpu, m.kernel
    );
    println!(
        "load average before: {}   after: {}\n",
        m.load_before, m.load_after
    );
    println!(
        "{:<34} {:>10} {:>10} {:>9} {:>9} {:>9}",
        "round trip", "p50 us", "p99 us", "GB/s", "x fifo", "x shm"
    );
    for b in &r.baselines {
        let name = format!(
            "{}{}",
            b.name,
            if b.same_core { " (same core)" } else { "" }
        );
        println!(
            "{name:<34} {:>10} {:>10} {:>9} {:>9} {:>9}",
            us(b.latency.p50_ns),
            us(b.latency.p99_ns),
            "",
            "",
            ""
        );
    }
    let l = &r.large_floor;
    println!(
        "{:<34} {:>10} {:>10} {:>9.3} {:>9} {:>9}",
        format!("floor {} (busy-poll, reverse)", human_bytes(l.bytes as u64)),
        us(l.latency.p50_ns),
        us(l.latency.p99_ns),
        l.gb_per_s,
        "",
        ""
    );
    for o in &r.osps {
        let place = match (o.same_core, o.busy) {
            (true, _) => " (same core)".to_string(),
            (false, 0) => String::new(),
            (false, 1) => " (1 busy)".to_string(),
            (false, n) => format!(" ({n} busy)"),
        };
        let name = format!("osps {} {}{place}", o.sync, human_bytes(o.payload_bytes));
        println!(
            "{name:<34} {:>10} {:>10} {:>9.3} {:>9.2} {:>9.1}",
            us(o.latency.p50_ns),
            us(o.latency.p99_ns),
            o.gb_per_s,
            o.vs_fifo_baseline,
            o.vs_shm_floor
        );
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    println!();
    for c in &r.memcpy {
        println!(
            "memcpy {:<27} {:>9.2} GB/s",
            human_bytes(c.bytes as u64),
            c.gb_per_s
        );
    }
    let p = &r.process_rounds_1;
    println!(
        "osps primary --rounds 1 (process)  median {:.2} ms, p90 {:.2} ms over {} runs",
        p.median_ms, p.p90_ms, p.runs
    );
    serve::print_rows(&r.serve);
    println!(
        "\n{:<34} {:>8} {:>12} {:>10} {:>10}",
        format!("serving pool ({POOL_SECONDARIES} secondaries)"),
        "clients",
        "requests/s",
        "p50 us",
        "p99 us"
    );
    for p in &r.pool {
        println!(
            "{:<34} {:>8} {:>12.0} {:>10} {:>10}",
            format!("osps --serve --sync {}", p.sync),
            p.clients,
            p.requests_per_s,
            us(p.latency.p50_ns),
            us(p.latency.p99_ns)
        );
    }
    println!(
        "\ntargets (issues 5, 11 and 14; ratio = measured / limit, or limit / measured for \">=\": at most 1 when met):"
    );
    for t in &r.targets {
        println!(
            "  {:<6} {:<48} {:>10} {:>6.2}  (limit {})",
            if t.met { "met" } else { "MISSED" },
            t.what,
            t.measured,
            t.ratio,
            t.limit
        );
    }
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}
