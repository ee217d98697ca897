//! `cargo bench`: osps against the limits of its design, measured in one run.
//!
//! Two baselines bound what a round trip can cost between two processes on this machine:
//! a bare ping-pong over two FIFOs (the limit for blocking synchronisation, what `--sync
//! fifo` cannot beat) and a bare busy-poll ping-pong on two counters in shared memory (the
//! floor, what `--sync adaptive` approaches). Next to them: memcpy bandwidth (the limit
//! for large payloads), the real `osps` binary in both modes at four payload sizes, and
//! the whole-process time of `osps primary --rounds 1`. Every osps figure is given as a
//! ratio to the baselines measured in the same run, so a slower or busier machine does
//! not change the verdict much.
//!
//! A third floor bounds large payloads: the same work as an osps round (write a 1 MiB
//! pattern, the other process reverses it in place, the first checks it) done by the
//! simplest program, busy-polling two counters. And since adaptive must never lose to
//! fifo, both run again beside CPU-bound loops the bench starts and stops itself (one per
//! CPU less one, then one per CPU), pinned to one CPU, and as the serving mode's pool of
//! secondaries under the serving table's client load.
//!
//! The table goes to stdout and the same figures, with a description of the machine, to
//! `target/osps-bench.json` (or `$CARGO_TARGET_DIR/osps-bench.json`). Nothing here is an
//! assertion: the test suite never depends on timing. `OSPS_BENCH_QUICK=1` runs a tenth
//! of the rounds, for trying the bench itself; `OSPS_BENCH_BIN=path` measures another
//! osps binary (an older build) against the same baselines; `OSPS_BENCH_ONLY=serve` runs
//! only the serving tables (`=pipelined` only the pipelined one), `OSPS_BENCH_ONLY=views`
//! the views among 2 000 files in `/dev/shm`, `OSPS_BENCH_ONLY=audit` what `osps audit`
//! costs a program, and `OSPS_BENCH_ONLY=designs` other designs of server beside osps
//! (all printed, not written to the JSON report).
//!
//! The baselines' second process is a forked child that does only the ping-pong with
//! async-signal-safe calls (open, read, write, atomics, clock_gettime) and then `_exit`s.
//! Processes are not pinned for the main figures; the "same core" rows pin both
//! processes to CPU 0 to show the cost of sharing one core.

#[path = "bench/audit.rs"]
mod audit;
#[path = "bench/designs.rs"]
mod designs;
#[path = "bench/floors.rs"]
mod floors;
#[path = "bench/forked.rs"]
mod forked;
#[path = "bench/full.rs"]
mod full;
#[path = "bench/machine.rs"]
mod machine;
#[path = "bench/pipelined.rs"]
mod pipelined;
#[path = "bench/pool.rs"]
mod pool;
#[path = "bench/report.rs"]
mod report;
#[path = "bench/rounds.rs"]
mod rounds;
#[path = "bench/serve.rs"]
mod serve;
#[path = "bench/stats.rs"]
mod stats;
#[path = "bench/targets.rs"]
mod targets;
#[path = "bench/views.rs"]
mod views;

/// The osps binary under test: the one cargo built, or `$OSPS_BENCH_BIN` (to compare
/// an older build against the baselines of the same run).
fn osps_bin() -> String {
    std::env::var("OSPS_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_osps").to_string())
}

fn main() {
    let quick = std::env::var_os("OSPS_BENCH_QUICK").is_some();
    if std::env::var_os("OSPS_BENCH_ONLY").is_some_and(|v| v == "serve") {
        // Only the serving tables (issue 11's figures), for a short run while tuning.
        serve::report_only(quick);
        pipelined::report(quick);
        return;
    }
    if std::env::var_os("OSPS_BENCH_ONLY").is_some_and(|v| v == "pipelined") {
        // Only the pipelined table (issue 24's first figure).
        pipelined::report(quick);
        return;
    }
    if std::env::var_os("OSPS_BENCH_ONLY").is_some_and(|v| v == "views") {
        // The views among many files in /dev/shm (see bench/views.rs).
        views::report(&osps_bin());
        return;
    }
    if std::env::var_os("OSPS_BENCH_ONLY").is_some_and(|v| v == "audit") {
        // What osps audit costs the program it follows (issue 27's figures).
        audit::report(quick);
        return;
    }
    if std::env::var_os("OSPS_BENCH_ONLY").is_some_and(|v| v == "designs") {
        // Other shapes of server next to osps (see bench/designs.rs).
        designs::report(quick);
        return;
    }
    // Everything, with the JSON report (see bench/full.rs).
    full::run(quick);
}
