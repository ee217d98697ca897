//! The full run (`cargo bench` without `OSPS_BENCH_ONLY`): the floors, osps in rounds mode
//! beside them, the serving tables and the pool, then the targets, the table and the JSON
//! report.

use std::num::NonZeroUsize;

use super::floors::{
    Baseline, LargeFloor, Memcpy, fifo_baseline, large_floor, memcpy_gbs, shm_floor,
};
use super::forked::Busy;
use super::machine::{loadavg, machine};
use super::osps_bin;
use super::pipelined;
use super::pool::pool_rows;
use super::report::{self, Report};
use super::rounds::{PAYLOADS, has_taskset, osps_row, process_time, same_core_fifo};
use super::serve;
use super::stats::Percentiles;
use super::targets;

/// Measures everything, prints the table and writes it to [`report::output_path`].
pub(super) fn run(quick: bool) {
    let load_before = loadavg();
    let scale = |n: usize| if quick { n / 10 } else { n };
    eprintln!("osps bench: baselines ...");

    let fifo = Percentiles::of(fifo_baseline(scale(30_000)));
    let floor = Percentiles::of(shm_floor(scale(300_000)));
    let mut baselines = vec![
        Baseline {
            name: "fifo ping-pong",
            same_core: false,
            round_trips: scale(30_000),
            latency: fifo,
        },
        Baseline {
            name: "shm busy-poll",
            same_core: false,
            round_trips: scale(300_000),
            latency: floor,
        },
    ];

    let large = {
        let n = if quick { 200 } else { 2_000 };
        let latency = Percentiles::of(large_floor(1 << 20, n));
        LargeFloor {
            bytes: 1 << 20,
            round_trips: n,
            latency,
            gb_per_s: (1u64 << 20) as f64 / latency.p50_ns.max(1) as f64,
        }
    };

    let memcpy: Vec<Memcpy> = [64 << 10, 1 << 20]
        .into_iter()
        .map(|b| Memcpy {
            bytes: b,
            gb_per_s: memcpy_gbs(b),
        })
        .collect();

    eprintln!("osps bench: osps rounds ...");
    let mut osps = Vec::new();
    for sync in ["fifo", "adaptive"] {
        for payload in PAYLOADS {
            osps.push(osps_row(sync, payload, false, 0, fifo, floor, quick));
        }
    }
    let mut notes = Vec::new();
    if has_taskset() {
        let (fifo_same, row) = same_core_fifo(quick, floor);
        osps.push(row);
        osps.push(osps_row(
            "adaptive",
            64,
            true,
            0,
            fifo_same.latency,
            floor,
            quick,
        ));
        baselines.push(fifo_same);
    } else {
        notes.push("taskset not found: no same-core osps rows".to_string());
    }
    // One busy process per CPU less one, then one per CPU (on the 2-CPU machines this
    // was tuned on: 1 and 2). Each loop ends by itself after a few minutes at most.
    let cpus = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
    for busy in [cpus.saturating_sub(1).max(1), cpus] {
        eprintln!("osps bench: beside {busy} busy processes ...");
        let _loops = Busy::start(busy, if quick { 120 } else { 600 });
        for sync in ["fifo", "adaptive"] {
            osps.push(osps_row(sync, 64, false, busy, fifo, floor, quick));
        }
    }

    eprintln!("osps bench: whole process ...");
    let process = process_time(quick);

    eprintln!("osps bench: serving clients ...");
    let serve = serve::rows(quick);
    eprintln!("osps bench: serving pool, fifo and adaptive ...");
    let pool = pool_rows(quick);

    let targets = targets::all(&osps, &large, &process, cpus, &serve, &pool);

    let report = Report {
        machine: machine(load_before),
        command: "cargo bench --bench bench",
        osps_version: env!("CARGO_PKG_VERSION"),
        osps_binary: osps_bin(),
        baselines,
        large_floor: large,
        memcpy,
        osps,
        notes,
        process_rounds_1: process,
        serve,
        pool,
        targets,
    };
    report::print_table(&report);
    pipelined::report(quick);
    report::write(&report);
}
