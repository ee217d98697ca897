//! How long an adaptive wait spins before it sleeps: a budget that follows how long the
//! peer actually took recently, in the manner of glibc's adaptive mutexes.
//!
//! Spinning pays only when the turn arrives before the budget runs out. A peer that
//! answers within a microsecond or two keeps the budget a little above its usual delay
//! (`2 x average + slack`, so ordinary jitter is still caught without a wake-up). A peer
//! that takes longer than the longest spin allowed (`--spin`), because it is preempted
//! by other work or its turn is long (a megabyte to reverse), makes every spin wasted
//! CPU time, and worse: a waiter that burns its share of a busy CPU is the one the
//! scheduler makes wait a whole time slice, while a sleeper is woken first. Each such
//! miss halves the budget, down to zero. A zero budget is not forever: one wait in
//! [`PROBE_EVERY`] spins the full `--spin` as a probe, so a peer that became fast again
//! is noticed within a few dozen turns.
//!
//! The budget is pure arithmetic on durations (no clock, no memory shared with the
//! peer), so its two promises are property-tested below: it never exceeds `--spin`, and
//! it never stays at zero once the peer answers quickly again.

use std::time::Duration;

/// Added to twice the average spin: the margin that absorbs ordinary jitter.
const SLACK_NS: u64 = 4_000;
/// Below this a budget is not worth a clock read: it becomes zero.
const MIN_NS: u64 = 500;
/// With a zero budget, one wait in this many spins the whole `--spin` as a probe.
pub const PROBE_EVERY: u32 = 32;

/// How one adaptive wait went, as far as the budget is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The turn arrived while spinning, `after_ns` into the spin.
    Caught { after_ns: u64 },
    /// The spin ran out (or did not run): the turn arrived `after_ns` after the wait began.
    Missed { after_ns: u64 },
}

/// The adaptive spin budget of one waiting side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// `--spin`: the longest spin ever allowed.
    max_ns: u64,
    /// Moving average (weight 1/8) of how long the turn took when spinning could catch it.
    avg_ns: u64,
    budget_ns: u64,
    /// Waits since the last spin, counted only while the budget is zero.
    since_spin: u32,
}

impl Budget {
    /// A budget that starts at `max` (optimistic: the first turns show whether spinning pays).
    pub fn new(max: Duration) -> Budget {
        let max_ns = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Budget {
            max_ns,
            avg_ns: max_ns / 2,
            budget_ns: max_ns,
            since_spin: 0,
        }
    }

    /// How long the next wait may spin (zero: sleep at once).
    pub fn next_ns(&mut self) -> u64 {
        if self.budget_ns > 0 || self.max_ns == 0 {
            return self.budget_ns;
        }
        self.since_spin += 1;
        if self.since_spin >= PROBE_EVERY {
            self.since_spin = 0;
            return self.max_ns;
        }
        0
    }

    /// The current budget, for tests and diagnostics.
    #[cfg(test)]
    pub fn current_ns(&self) -> u64 {
        self.budget_ns
    }

    /// Learns from one wait.
    pub fn record(&mut self, outcome: Outcome) {
        match outcome {
            // A longer spin would have caught it: move the average towards the time the
            // turn took, and the budget with it.
            Outcome::Caught { after_ns } | Outcome::Missed { after_ns }
                if after_ns <= self.max_ns =>
            {
                self.avg_ns = moving_average(self.avg_ns, after_ns);
                self.budget_ns = self
                    .avg_ns
                    .saturating_mul(2)
                    .saturating_add(SLACK_NS)
                    .min(self.max_ns);
                self.since_spin = 0;
            }
            // Caught after more than --spin: only a probe (or a budget set before --spin
            // shrank) can do that; keep the budget where it is.
            Outcome::Caught { .. } => {}
            // Even the longest spin allowed would have been wasted.
            Outcome::Missed { .. } => {
                self.budget_ns /= 2;
                if self.budget_ns < MIN_NS {
                    self.budget_ns = 0;
                }
            }
        }
    }
}

/// `avg + (x - avg) / 8`, without overflow or a signed type.
fn moving_average(avg: u64, x: u64) -> u64 {
    if x >= avg {
        avg + (x - avg) / 8
    } else {
        avg - (avg - x) / 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            (0u64..200_000).prop_map(|after_ns| Outcome::Caught { after_ns }),
            (0u64..10_000_000).prop_map(|after_ns| Outcome::Missed { after_ns }),
            Just(Outcome::Missed { after_ns: u64::MAX }),
        ]
    }

    /// One wait against a peer that answers `delay_ns` after the wait began; a sleeper is
    /// woken `wake_ns` after the turn.
    fn simulate(b: &mut Budget, delay_ns: u64, wake_ns: u64) -> bool {
        let spin = b.next_ns();
        let caught = spin > 0 && delay_ns <= spin;
        b.record(if caught {
            Outcome::Caught { after_ns: delay_ns }
        } else {
            Outcome::Missed {
                after_ns: delay_ns.max(spin).saturating_add(wake_ns),
            }
        });
        caught
    }

    proptest! {
        #[test]
        fn the_budget_never_exceeds_the_spin_limit(
            max_us in 0u64..1_000,
            outcomes in proptest::collection::vec(outcome(), 0..500),
        ) {
            let mut b = Budget::new(Duration::from_micros(max_us));
            for o in outcomes {
                prop_assert!(b.next_ns() <= max_us * 1000);
                b.record(o);
                prop_assert!(b.current_ns() <= max_us * 1000);
            }
        }

        #[test]
        fn a_peer_fast_again_gets_spun_for_within_a_probe_period(
            max_us in 1u64..1_000,
            history in proptest::collection::vec(outcome(), 0..500),
            fast_ns in 0u64..1_000,
            wake_ns in 0u64..200_000,
        ) {
            let max_ns = max_us * 1000;
            prop_assume!(fast_ns <= max_ns);
            let mut b = Budget::new(Duration::from_micros(max_us));
            for o in history {
                let _ = b.next_ns();
                b.record(o);
            }
            // Whatever happened before, a fast peer is caught by a spin within one probe
            // period, and from then on every turn is caught.
            let first = (0..=PROBE_EVERY).position(|_| simulate(&mut b, fast_ns, wake_ns));
            prop_assert!(first.is_some(), "never spun again for a fast peer: {b:?}");
            for turn in 0..200 {
                prop_assert!(simulate(&mut b, fast_ns, wake_ns), "missed turn {turn}: {b:?}");
            }
        }
    }

    #[test]
    fn a_slow_peer_brings_the_budget_to_zero_and_probes_stay_rare() {
        let mut b = Budget::new(Duration::from_micros(50));
        for _ in 0..20 {
            let _ = b.next_ns();
            b.record(Outcome::Missed {
                after_ns: 1_000_000,
            });
        }
        assert_eq!(b.current_ns(), 0);
        let spins = (0..PROBE_EVERY * 4).filter(|_| b.next_ns() > 0).count();
        assert_eq!(spins, 4);
    }

    #[test]
    fn a_fast_peer_keeps_the_budget_near_its_delay() {
        let mut b = Budget::new(Duration::from_micros(50));
        for _ in 0..200 {
            assert!(simulate(&mut b, 300, 50_000));
        }
        // 2 x 300 ns + 4 us of slack, give or take the average's rounding.
        assert!((4_000..6_000).contains(&b.current_ns()), "{b:?}");
    }
}
