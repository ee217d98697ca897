//! Where the serving primary and its secondaries run: on one CPU together, or wherever
//! the kernel puts them (`--share-cpu`).
//!
//! A turn is a hand-off: the primary writes requests into a slot and the secondary
//! answers them while the primary, mostly, waits. When the two run on different CPUs,
//! each hand-off that finds the other asleep is a wake-up of another CPU, which on a
//! virtual machine costs tens of microseconds; and on two CPUs the secondaries then take
//! the CPU the clients need. On one CPU together, a hand-off is a switch on that CPU and
//! the other CPUs are left to the clients. Measured on 2 vCPUs with 8 clients keeping 32
//! requests each in flight, that is about 30% more requests per second
//! (`docs/PERFORMANCE.md`, eighth round).
//!
//! It costs latency when the load is light: a single client sending one request at a
//! time was served in 18 µs (p50) with the processes apart and 48 µs together, since the
//! CPU left to the client then falls idle between its requests and has to be woken. So
//! `auto`, the default, shares a CPU only while the load shows the server is what limits
//! it: its turns carry [`JOIN_PER_TURN`] requests or more on average, over a window of
//! [`WINDOW`], at [`JOIN_REQUESTS`] requests a window or more; they go apart again when
//! a window's load falls below half of that (a pause of the server changes nothing).
//! And only where the primary may run on two CPUs: the only machines it was measured on
//! (`always` tries it anywhere).
//!
//! Sharing means pinning (`sched_setaffinity`) the primary's thread and every secondary
//! to the CPU the primary runs on at that moment; apart means giving them back the CPUs
//! the primary had when it started. A secondary restarted meanwhile inherits the
//! primary's CPUs at its fork, so it is placed like the others. `taskset -pc PID` shows
//! the placement, and so does `-v` in the primary's log each time it changes.

use std::time::{Duration, Instant};

use crate::cli::ShareCpu;
use crate::os::affinity::{self, Cpus};

/// How long the load is looked at before `auto` decides: short, so that a burst of load
/// gets its CPU within milliseconds.
pub const WINDOW: Duration = Duration::from_millis(10);

/// A window that lasted longer than this held a pause of the loop (it sleeps while no
/// client writes): it says nothing of the load, so the placement stays as it is. An idle
/// server's placement costs nothing, and the next load decides it afresh.
const STALE: Duration = Duration::from_millis(40);

/// `auto` shares a CPU from this many requests per turn on average...
pub const JOIN_PER_TURN: u64 = 4;
/// ... and this many requests in a [`WINDOW`] (10 000 a second).
pub const JOIN_REQUESTS: u64 = 100;

/// `auto` tries a shared CPU only where the primary may run on at most this many CPUs.
const AUTO_MAX_CPUS: usize = 2;

/// Where the serving processes run, and when that changes.
pub struct Placement {
    mode: ShareCpu,
    /// The primary's CPUs when it started, given back when the processes go apart; `None`
    /// when there is nothing to place (one CPU, or the kernel refused to say).
    home: Option<Cpus>,
    /// The CPU shared now, if any.
    shared: Option<usize>,
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
        let stale = took > STALE;
        self.since = now;
        self.requests_then = requests;
        self.turns_then = turns;
        if stale {
            return;
        }
        let together = self.shared.is_some();
        let why = || {
            format!(
                "{} requests in the last {} ms, {} a turn on average",
                load.requests,
                took.as_millis(),
                load.per_turn()
            )
        };
        match (together, load.wants_shared(together)) {
            (false, true) => self.join(&pids(), &why()),
            (true, false) => self.part(&pids(), &why()),
            _ => {}
        }
    }

    /// Pins the primary, then `pids`, to the CPU the primary runs on.
    fn join(&mut self, pids: &[i32], why: &str) {
        let Some(home) = self.home else { return };
        let cpu = match affinity::current_cpu() {
            Ok(cpu) if home.contains(cpu) => cpu,
            Ok(_) => return,
            Err(e) => return self.give_up(&e, pids),
        };
        let Some(one) = Cpus::one(cpu) else { return };
        for &pid in std::iter::once(&0).chain(pids) {
            if let Err(e) = affinity::set(pid, &one) {
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
            if let Err(e) = affinity::set(pid, &home) {
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
                let _ = affinity::set(pid, &home);
            }
        }
        self.shared = None;
    }
}

/// The requests and turns of one window.
#[derive(Clone, Copy, Debug)]
struct Load {
    requests: u64,
    turns: u64,
}

impl Load {
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

    fn per_turn(self) -> u64 {
        self.requests / self.turns.max(1)
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
