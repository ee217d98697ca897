//! Where the serving primary and its secondaries run: on one CPU together, or wherever
//! the kernel puts them (`--share-cpu`).
//!
//! A turn is a hand-off: the primary writes requests into a slot and the secondary
//! answers them while the primary, mostly, waits. When the two run on different CPUs,
//! each hand-off that finds the other asleep is a wake-up of another CPU, which on a
//! virtual machine costs tens of microseconds; and on two CPUs the secondaries then take
//! the CPU the clients need. On one CPU together, a hand-off is a switch on that CPU and
//! the other CPUs are left to the clients. Measured on 2 vCPUs with 8 clients keeping 32
//! requests each in flight: +30% requests a second with a light load tool, +0-9% with the
//! bench's clients, which need more CPU themselves (`docs/PERFORMANCE.md`, eighth round).
//!
//! It costs latency when the load is light: a single client sending one request at a
//! time was served in 18 µs (p50) with the processes apart and 48 µs together, since the
//! CPU left to the client then falls idle between its requests and has to be woken. So
//! `auto`, the default, shares a CPU only while the load shows the server is what limits
//! it: its turns carry [`JOIN_PER_TURN`] requests or more on average, at [`JOIN_REQUESTS`]
//! requests a [`WINDOW`] or more, for [`JOIN_AFTER`] windows in a row; they go apart
//! again after [`PART_AFTER`] windows in a row below half of either (so a burst, or a
//! pause between bursts, changes nothing; a window longer than [`STALE`], a pause of the
//! loop, counts as light). And only where the primary may run on two
//! CPUs: the only machines it was measured on (`always` tries it anywhere).
//!
//! Sharing means pinning (`sched_setaffinity`) every thread of the primary and of every
//! secondary to the CPU the primary runs on at that moment; apart means giving them
//! back the CPUs the primary had when it started (a `taskset -p` of the primary since is
//! undone at the next change). A secondary restarted meanwhile inherits the primary's
//! CPUs at its fork, so it is placed like the others. `taskset -pc PID` shows the
//! placement, and so does `-v` in the primary's log each time it changes.
//!
//! Not seen: other processes on the shared CPU. A CPU-bound program on it (a build, say)
//! takes its share of the CPU the server is pinned to, where apart the kernel would have
//! moved the server away; use `--share-cpu never` beside such work.

use std::time::{Duration, Instant};

use crate::cli::ShareCpu;
use crate::os::affinity::{self, Cpus};

/// How long the load is looked at before `auto` decides: short, so that a burst of load
/// gets its CPU within milliseconds.
pub const WINDOW: Duration = Duration::from_millis(10);

/// A window that lasted longer than this held a pause of the loop (it sleeps while no
/// client writes): it is light, whatever it counted, but never loaded. So a pause between
/// bursts does not join, ten in a row (sparse requests, an idle server woken by its
/// heartbeat) part.
const STALE: Duration = Duration::from_millis(40);

/// `auto` shares a CPU from this many requests per turn on average...
pub const JOIN_PER_TURN: u64 = 4;
/// ... and this many requests in a [`WINDOW`] (10 000 a second).
pub const JOIN_REQUESTS: u64 = 100;

/// `auto` joins after this many loaded windows in a row (20 ms: not for one burst)...
pub const JOIN_AFTER: u32 = 2;
/// ... and parts after this many light ones (100 ms: not for a pause between bursts).
pub const PART_AFTER: u32 = 10;

/// `auto` tries a shared CPU only where the primary may run on at most this many CPUs.
const AUTO_MAX_CPUS: usize = 2;

/// Where the serving processes run, and when that changes.
pub struct Placement {
    mode: ShareCpu,
    /// The primary's CPUs when it started, given back when the processes go apart; `None`
    /// when there is nothing to place: with `never`, on one CPU, with `auto` on more
    /// than [`AUTO_MAX_CPUS`], when the kernel refused to say, or after it refused a
    /// placement.
    home: Option<Cpus>,
    /// The CPU shared now, if any.
    shared: Option<usize>,
    /// How many windows in a row wanted the other placement.
    streak: u32,
    /// Where the current window started, and the counters then.
    since: Instant,
    requests_then: u64,
    turns_then: u64,
}

impl Placement {
    pub fn new(mode: ShareCpu, now: Instant) -> Placement {
        let home = match mode {
            ShareCpu::Never => None,
            ShareCpu::Auto | ShareCpu::Always => match affinity::allowed(0) {
                Ok(cpus) if cpus.len() < 2 => {
                    crate::debug!(
                        "--share-cpu: the primary may run on CPU {} only: nothing to place",
                        cpus.describe()
                    );
                    None
                }
                Ok(cpus) if mode == ShareCpu::Auto && cpus.len() > AUTO_MAX_CPUS => {
                    crate::debug!(
                        "--share-cpu auto: the primary may run on {} CPUs ({}), and auto acts \
                         only on {AUTO_MAX_CPUS}: the kernel places the processes \
                         (--share-cpu always pins them together)",
                        cpus.len(),
                        cpus.describe()
                    );
                    None
                }
                Ok(cpus) => Some(cpus),
                Err(e) => {
                    crate::debug!("--share-cpu: {e:#}; the kernel places the processes");
                    None
                }
            },
        };
        Placement {
            mode,
            home,
            shared: None,
            streak: 0,
            since: now,
            requests_then: 0,
            turns_then: 0,
        }
    }

    /// Called once, before the first secondary starts: with `always`, the primary takes
    /// one CPU now, and every secondary inherits it at its fork.
    pub fn start(&mut self) {
        if self.mode == ShareCpu::Always {
            self.join(&[], "--share-cpu always");
        }
    }

    /// The CPU the serving processes share now, if they do.
    #[cfg(test)]
    pub fn shared(&self) -> Option<usize> {
        self.shared
    }

    /// Once per pass of the event loop: at the end of each window, `auto` looks at the
    /// requests and turns of the window (totals since the start) and places the primary
    /// and the secondaries `pids` accordingly.
    pub fn tick(
        &mut self,
        now: Instant,
        requests: u64,
        turns: u64,
        pids: impl FnOnce() -> Vec<i32>,
    ) {
        if self.mode != ShareCpu::Auto
            || self.home.is_none()
            || now.saturating_duration_since(self.since) < WINDOW
        {
            return;
        }
        let load = Load {
            requests: requests.saturating_sub(self.requests_then),
            turns: turns.saturating_sub(self.turns_then),
        };
        let took = now.saturating_duration_since(self.since);
        let seen = load;
        let load = if took > STALE { Load::LIGHT } else { load };
        self.since = now;
        self.requests_then = requests;
        self.turns_then = turns;
        let together = self.shared.is_some();
        if !change_now(&mut self.streak, load, together) {
            return;
        }
        let why = format!(
            "{} windows in a row; the last: {} requests in {} ms, {:.1} a turn on average",
            if together { PART_AFTER } else { JOIN_AFTER },
            seen.requests,
            took.as_millis(),
            seen.per_turn()
        );
        if together {
            self.part(&pids(), &why);
        } else {
            self.join(&pids(), &why);
        }
    }

    /// Pins the primary, then `pids`, to the CPU the primary runs on.
    fn join(&mut self, pids: &[i32], why: &str) {
        let Some(home) = self.home else { return };
        let cpu = match affinity::current_cpu() {
            Ok(cpu) if home.contains(cpu) => cpu,
            Ok(cpu) => {
                // Moved since the start (a `taskset -p` of ours, a cpuset): not ours to
                // pin into; the next window tries again.
                crate::debug!("--share-cpu: on CPU {cpu}, outside {}", home.describe());
                return;
            }
            Err(e) => return self.give_up(&e, pids),
        };
        let Some(one) = Cpus::one(cpu) else { return };
        for &pid in std::iter::once(&0).chain(pids) {
            if let Err(e) = affinity::set_process(pid, &one) {
                return self.give_up(&e, pids);
            }
        }
        self.shared = Some(cpu);
        crate::debug!("the primary and its secondaries now share CPU {cpu} ({why})");
    }

    /// Gives the primary and `pids` back the CPUs the primary started with.
    fn part(&mut self, pids: &[i32], why: &str) {
        let Some(home) = self.home else { return };
        for &pid in pids.iter().chain(std::iter::once(&0)) {
            if let Err(e) = affinity::set_process(pid, &home) {
                return self.give_up(&e, pids);
            }
        }
        self.shared = None;
        crate::debug!(
            "the primary and its secondaries are back on CPUs {} ({why})",
            home.describe()
        );
    }

    /// The kernel refused a placement: everyone goes back home (as far as it lets us)
    /// and the kernel places them from now on. Only speed is at stake.
    fn give_up(&mut self, e: &color_eyre::Report, pids: &[i32]) {
        crate::warn!("{e:#}; the kernel places the primary and its secondaries from now on");
        if let Some(home) = self.home.take() {
            for &pid in pids.iter().chain(std::iter::once(&0)) {
                let _ = affinity::set_process(pid, &home);
            }
        }
        self.shared = None;
    }
}

/// Whether the placement changes after a window of `load` (`together`: the processes
/// share a CPU now), given the windows before it in `streak`: only after [`JOIN_AFTER`]
/// or [`PART_AFTER`] windows in a row that want the other placement.
fn change_now(streak: &mut u32, load: Load, together: bool) -> bool {
    if load.wants_shared(together) == together {
        *streak = 0;
        return false;
    }
    *streak += 1;
    if *streak < if together { PART_AFTER } else { JOIN_AFTER } {
        return false;
    }
    *streak = 0;
    true
}

/// The requests and turns of one window.
#[derive(Clone, Copy, Debug)]
struct Load {
    requests: u64,
    turns: u64,
}

impl Load {
    /// A window that wants the processes apart, whatever they do now.
    const LIGHT: Load = Load {
        requests: 0,
        turns: 0,
    };

    /// Whether the processes should share a CPU over the next window, given whether they
    /// do now: from [`JOIN_PER_TURN`] and [`JOIN_REQUESTS`] up they join, below half of
    /// either they part (in between, they stay as they are).
    fn wants_shared(self, together: bool) -> bool {
        let (per_turn, requests) = if together {
            (JOIN_PER_TURN / 2, JOIN_REQUESTS / 2)
        } else {
            (JOIN_PER_TURN, JOIN_REQUESTS)
        };
        self.turns > 0 && self.requests >= requests && self.requests >= per_turn * self.turns
    }

    fn per_turn(self) -> f64 {
        self.requests as f64 / self.turns.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(requests: u64, turns: u64) -> Load {
        Load { requests, turns }
    }

    #[test]
    fn batches_of_a_loaded_server_join_and_light_load_parts() {
        // 8 clients x 32 in flight: turns of tens of requests.
        assert!(load(20_000, 600).wants_shared(false));
        // One client, one request at a time: one request a turn.
        assert!(!load(300, 300).wants_shared(false));
        // Batches, but too few requests to be load.
        assert!(!load(40, 2).wants_shared(false));
        // Nothing at all.
        assert!(!load(0, 0).wants_shared(false));
        assert!(!load(0, 0).wants_shared(true));
    }

    #[test]
    fn between_the_two_lines_the_placement_stays() {
        // 3 a turn, 200 a window: not enough to join, enough to stay.
        let mid = load(200, 66);
        assert!(!mid.wants_shared(false));
        assert!(mid.wants_shared(true));
        // Below half of the requests, or half the batch: part.
        assert!(!load(49, 5).wants_shared(true));
        assert!(!load(200, 101).wants_shared(true));
    }

    #[test]
    fn a_burst_does_not_join_and_a_pause_does_not_part() {
        let (busy, light) = (load(20_000, 600), load(300, 300));
        let mut streak = 0;
        // One loaded window is a burst; a light one between resets the count.
        assert!(!change_now(&mut streak, busy, false));
        assert!(!change_now(&mut streak, light, false));
        assert!(!change_now(&mut streak, busy, false));
        assert!(change_now(&mut streak, busy, false), "two in a row join");
        // Together: nine light windows (a pause, bursts with gaps) change nothing...
        for _ in 0..PART_AFTER - 1 {
            assert!(!change_now(&mut streak, light, true));
        }
        // ... a loaded one starts the count again...
        assert!(!change_now(&mut streak, busy, true));
        for _ in 0..PART_AFTER - 1 {
            assert!(!change_now(&mut streak, load(0, 0), true));
        }
        // ... and the tenth light one in a row parts.
        assert!(change_now(&mut streak, load(0, 0), true));
        assert_eq!(streak, 0);
    }

    #[test]
    fn sparse_requests_part_and_a_pause_never_joins() {
        // Windows longer than STALE count as light whatever they held.
        let mut streak = 0;
        for _ in 0..PART_AFTER - 1 {
            assert!(!change_now(&mut streak, Load::LIGHT, true));
        }
        assert!(change_now(&mut streak, Load::LIGHT, true));
        assert!(!change_now(&mut streak, Load::LIGHT, false));
        assert!(!change_now(&mut streak, Load::LIGHT, false));
    }

    #[test]
    fn auto_waits_for_a_whole_window() {
        let start = Instant::now();
        let mut p = Placement::new(ShareCpu::Auto, start);
        // Whatever the machine, a tick before the window ends never asks for the pids.
        p.tick(start + WINDOW / 2, 1_000_000, 10, || {
            panic!("placed before the window ended")
        });
        assert_eq!(p.shared(), None);
    }

    #[test]
    fn never_places_anything() {
        let start = Instant::now();
        let mut p = Placement::new(ShareCpu::Never, start);
        p.start();
        p.tick(start + WINDOW * 2, 1_000_000, 10, || {
            panic!("placed with never")
        });
        assert_eq!(p.shared(), None);
    }
}
