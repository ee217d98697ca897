//! The serving pool (`osps primary --serve --secondaries 2`) in fifo and in adaptive mode
//! under the same client load: adaptive must never lose to fifo.

use serde::Serialize;

use super::serve;
use super::stats::{Percentiles, median_f64, median_of};

/// The serving pool in one sync mode under one client load.
#[derive(Debug, Serialize)]
pub(super) struct PoolRow {
    pub(super) sync: &'static str,
    pub(super) secondaries: usize,
    pub(super) clients: usize,
    pub(super) runs: usize,
    /// Medians over the runs.
    pub(super) requests_per_s: f64,
    #[serde(flatten)]
    pub(super) latency: Percentiles,
}

/// Secondaries of the pool comparison: more than one, so that requests queue for a free
/// one as they do in the serving mode, and no more than this machine's two CPUs.
pub(super) const POOL_SECONDARIES: usize = 2;
/// Client counts of the pool comparison, with the name of each one's target. One client
/// leaves the server idle between its requests: what it feels is latency, so the target
/// compares p50. Eight clients, each sending its next request as soon as it has a reply,
/// keep the server saturated: then p50 is mostly time spent queueing behind the other
/// clients (a closed loop), and "slower" means fewer requests per second, so the target
/// compares fifo's requests/s with adaptive's (at most 1: adaptive serves at least as many).
pub(super) const POOL_CLIENTS: [(usize, &str); 2] = [
    (1, "serving pool: adaptive vs fifo p50, 1 client"),
    (8, "serving pool: fifo vs adaptive req/s, 8 clients"),
];
/// Servers per sync mode in the pool comparison.
const POOL_RUNS: usize = 3;

/// `osps primary --serve --secondaries 2` in fifo and in adaptive mode under the client
/// load of the serving table (clients sending one request at a time). The modes alternate,
/// a fresh server each time, and each figure is the median over that mode's runs, so
/// that a drift of the machine weighs on both modes alike (as in
/// [`same_core_fifo`](super::rounds::same_core_fifo)).
pub(super) fn pool_rows(quick: bool) -> Vec<PoolRow> {
    let total = if quick { 4_000 } else { 40_000 };
    let per_client = |clients: usize| (total / clients).max(100);
    let mut runs: Vec<(&'static str, usize, f64, Percentiles)> = Vec::new();
    for _ in 0..POOL_RUNS {
        for sync in ["fifo", "adaptive"] {
            let secondaries = POOL_SECONDARIES.to_string();
            let server =
                serve::Server::start_with(&["--secondaries", &secondaries, "--sync", sync]);
            for (clients, _) in POOL_CLIENTS {
                let (rps, latency) =
                    serve::client_load(&server.socket, clients, per_client(clients));
                runs.push((sync, clients, rps, latency));
            }
        }
    }
    let mut rows = Vec::new();
    for sync in ["fifo", "adaptive"] {
        for (clients, _) in POOL_CLIENTS {
            let mine: Vec<_> = runs
                .iter()
                .filter(|r| r.0 == sync && r.1 == clients)
                .collect();
            rows.push(PoolRow {
                sync,
                secondaries: POOL_SECONDARIES,
                clients,
                runs: mine.len(),
                requests_per_s: median_f64(mine.iter().map(|r| r.2).collect()),
                latency: median_of(&mine.iter().map(|r| r.3).collect::<Vec<_>>()),
            });
        }
    }
    rows
}
