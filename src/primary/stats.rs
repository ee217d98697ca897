//! Round-trip latency statistics without allocation per round: a log-linear histogram
//! (32 sub-buckets per power of two, so percentiles are within about 3%) and the exact
//! maximum. Allocated once, before the rounds start.

use serde::Serialize;

const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = SUB + (64 - SUB_BITS as usize) * SUB;

#[derive(Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    sum: u128,
}

/// Percentiles of a histogram, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Latency {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: u64,
}

fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS
    let sub = (v >> (exp - SUB_BITS)) as usize & (SUB - 1);
    SUB + (exp - SUB_BITS) as usize * SUB + sub
}

/// The middle of a bucket's range: the value we report for samples in it.
fn value_of(bucket: usize) -> u64 {
    if bucket < SUB {
        return bucket as u64;
    }
    let exp = (bucket - SUB) / SUB + SUB_BITS as usize;
    let sub = ((bucket - SUB) % SUB) as u64;
    let width = 1u64 << (exp - SUB_BITS as usize);
    let low = (1u64 << exp) + sub * width;
    low + width / 2
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
            sum: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, ns: u64) {
        self.counts[bucket_of(ns)] += 1;
        self.total += 1;
        self.max = self.max.max(ns);
        self.sum += u128::from(ns);
    }

    fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (bucket, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return value_of(bucket).min(self.max);
            }
        }
        self.max
    }

    pub fn summary(&self) -> Latency {
        Latency {
            p50: self.quantile(0.50),
            p99: self.quantile(0.99),
            max: self.max,
            mean: if self.total == 0 {
                0
            } else {
                (self.sum / u128::from(self.total)) as u64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_histogram_reports_zeros() {
        assert_eq!(Histogram::default().summary(), Latency::default());
    }

    #[test]
    fn percentiles_are_close() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 100);
        }
        let s = h.summary();
        assert!((s.p50 as f64 - 500_000.0).abs() / 500_000.0 < 0.04, "{s:?}");
        assert!((s.p99 as f64 - 990_000.0).abs() / 990_000.0 < 0.04, "{s:?}");
        assert_eq!(s.max, 1_000_000);
        assert_eq!(s.mean, 500_050);
    }

    #[test]
    fn every_value_maps_into_range() {
        for v in [0, 1, 31, 32, 33, 1000, u64::MAX / 3, u64::MAX] {
            let b = bucket_of(v);
            assert!(b < BUCKETS, "{v}");
            if v > 0 {
                let back = value_of(b) as f64;
                assert!((back - v as f64).abs() / (v as f64) < 0.04, "{v} -> {back}");
            }
        }
    }
}
