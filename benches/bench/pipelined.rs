//! The serving mode with pipelining: 8 clients, each writing 32 requests at once and
//! then reading the 32 replies (osps as it runs by default, and with `--share-cpu never`),
//! against two Unix-socket echo servers with the same
//! clients, measured in the same run: the serving table's bare echo (a thread per
//! connection, one `write` per line) and the coalescing echo (all the lines of one read
//! in one `write`, as a C echo server does), the fair reference: `x echo` is over it. Requests per second, and p50/p99 of a whole batch
//! (from its write to its last reply). Printed as its own table after the main one and
//! written to `osps-bench-pipelined.json` next to `osps-bench.json`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::report::us;
use super::serve::{COALESCING, Server, start_coalescing_echo, start_echo};
use super::stats::Percentiles;

const CLIENTS: usize = 8;
/// Requests each client has in flight at once.
const DEPTH: usize = 32;
/// Runs of each server; the rows are their medians. Nine runs of 256 000 requests: with
/// three of 128 000 (80-200 ms each), two runs of the same binaries differed by up to
/// 0.42-0.58 in the ratio to the echo, and with five the ratio of 20 runs of the bench
/// still spread over 0.47-0.64.
const ROUNDS: usize = 9;

#[derive(Debug, Serialize)]
pub struct PipelinedRow {
    pub server: &'static str,
    pub clients: usize,
    pub depth: usize,
    pub requests: usize,
    pub requests_per_s: f64,
    /// Of a whole batch of `depth` requests.
    #[serde(flatten)]
    pub batch_latency: Percentiles,
    /// Requests per second over the coalescing echo server's with the same clients.
    pub vs_echo: Option<f64>,
}

/// `CLIENTS` threads, each sending `batches` batches of `DEPTH` requests.
fn load(path: &Path, batches: usize) -> (f64, Percentiles) {
    let started = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let path = path.to_path_buf();
            std::thread::spawn(move || {
                let stream = UnixStream::connect(&path).expect("connecting");
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .expect("timeout");
                let mut out = stream.try_clone().expect("clone");
                let mut reader = BufReader::with_capacity(64 * 1024, stream);
                let mut line = String::new();
                let mut samples = Vec::with_capacity(batches);
                let mut batch = String::new();
                for b in 0..batches {
                    batch.clear();
                    for i in 0..DEPTH {
                        batch.push_str(&format!("ECHO client {c} batch {b} request {i}\n"));
                    }
                    let t = Instant::now();
                    out.write_all(batch.as_bytes()).expect("sending");
                    for i in 0..DEPTH {
                        line.clear();
                        reader.read_line(&mut line).expect("reading a reply");
                        // The echo server returns the whole line, osps the text after ECHO.
                        let want = format!("client {c} batch {b} request {i}\n");
                        assert!(line.ends_with(&want), "wrong reply {line:?}, want {want:?}");
                    }
                    samples.push(t.elapsed().as_nanos() as u64);
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::with_capacity(CLIENTS * batches);
    for t in threads {
        all.extend(t.join().expect("a load thread failed"));
    }
    let requests = (all.len() * DEPTH) as f64;
    (
        requests / started.elapsed().as_secs_f64(),
        Percentiles::of(all),
    )
}

/// The pipelined rows: the two echo servers, then osps, in turn [`ROUNDS`] times
/// (medians), so a slow moment of the machine falls on all three alike.
pub fn rows(quick: bool) -> Vec<PipelinedRow> {
    let batches = if quick { 50 } else { 1000 };
    let dir = tempfile::Builder::new()
        .prefix("osps-bench-echo-pipelined-")
        .tempdir()
        .expect("tempdir");
    let echo_path = dir.path().join("echo.sock");
    start_echo(&echo_path);
    let coalescing_path = dir.path().join("coalescing.sock");
    start_coalescing_echo(&coalescing_path);
    let requests = CLIENTS * DEPTH * batches;
    let server = Server::start();
    // The same server placed by the kernel alone: what `--share-cpu auto` adds.
    let apart = Server::start_with(&["--secondaries", "4", "--share-cpu", "never"]);
    let servers: [(&'static str, &Path); 4] = [
        (super::serve::ECHO, &echo_path),
        (COALESCING, &coalescing_path),
        ("osps --serve (4 secondaries)", &server.socket),
        ("  the same, --share-cpu never", &apart.socket),
    ];
    let mut runs: Vec<(Vec<f64>, Vec<Percentiles>)> = vec![Default::default(); servers.len()];
    for _ in 0..ROUNDS {
        for (run, (_, path)) in runs.iter_mut().zip(servers) {
            let (rps, latency) = load(path, batches);
            run.0.push(rps);
            run.1.push(latency);
        }
    }
    let medians: Vec<(f64, Percentiles)> = runs
        .into_iter()
        .map(|(rps, latency)| {
            (
                super::stats::median_f64(rps),
                super::stats::median_of(&latency),
            )
        })
        .collect();
    let fair = medians[1].0;
    servers
        .into_iter()
        .zip(medians)
        .map(|((name, _), (rps, latency))| PipelinedRow {
            server: name,
            clients: CLIENTS,
            depth: DEPTH,
            requests: ROUNDS * requests,
            requests_per_s: rps,
            batch_latency: latency,
            vs_echo: (name != COALESCING).then(|| rps / fair),
        })
        .collect()
}

/// Measures, prints the table, and writes the rows as JSON next to the main report.
pub fn report(quick: bool) {
    eprintln!("osps bench: serving pipelined clients ...");
    let rows = rows(quick);
    println!(
        "\n{:<34} {:>8} {:>12} {:>10} {:>10} {:>9}",
        "serving, pipelined (32 in flight)",
        "clients",
        "requests/s",
        "batch p50",
        "batch p99",
        "x coalesc"
    );
    for r in &rows {
        println!(
            "{:<34} {:>8} {:>12.0} {:>10} {:>10} {:>9}",
            r.server,
            r.clients,
            r.requests_per_s,
            us(r.batch_latency.p50_ns),
            us(r.batch_latency.p99_ns),
            r.vs_echo.map_or(String::new(), |v| format!("{v:.2}"))
        );
    }
    let osps = rows.iter().find(|r| r.server.starts_with("osps"));
    let met = osps.and_then(|r| r.vs_echo).is_some_and(|v| v >= 0.5);
    println!(
        "  {:<6} {:<48} (limit >= 0.50x, issue 24)",
        if met { "met" } else { "MISSED" },
        "pipelined osps vs coalescing echo"
    );
    let path = super::report::output_path().with_file_name("osps-bench-pipelined.json");
    let json = serde_json::to_string_pretty(&rows).expect("serialising the pipelined rows");
    std::fs::write(&path, json + "\n")
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    println!("written to {}", path.display());
}
