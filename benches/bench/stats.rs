//! Percentiles and medians: how every table here sums up its samples and its runs.

use serde::Serialize;

/// Percentiles of a set of round trips, in nanoseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub(super) struct Percentiles {
    pub(super) p50_ns: u64,
    pub(super) p99_ns: u64,
}

impl Percentiles {
    pub(super) fn of(mut samples: Vec<u64>) -> Percentiles {
        samples.sort_unstable();
        Percentiles {
            p50_ns: nearest_rank(&samples, 0.50),
            p99_ns: nearest_rank(&samples, 0.99),
        }
    }
}

/// The nearest-rank percentile of sorted samples.
fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub(super) fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Medians over runs of their p50s and of their p99s.
pub(super) fn median_of(runs: &[Percentiles]) -> Percentiles {
    Percentiles {
        p50_ns: median_f64(runs.iter().map(|p| p.p50_ns as f64).collect()) as u64,
        p99_ns: median_f64(runs.iter().map(|p| p.p99_ns as f64).collect()) as u64,
    }
}
