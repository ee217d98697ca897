//! A stop signal to the audit, as the tracer handles it: passed on to the program unless
//! it got it too ([`crate::audit::relay`]), and when a second one means "now".

use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr};

use super::Tracer;
use crate::audit::spawn::Child;
use crate::audit::{interrupt, ptrace, relay};

/// A signal the main process took this recently, when the same signal came to the
/// audit, came to both from one group kill.
const TOOK_WITH_THE_AUDIT: Duration = Duration::from_millis(500);

/// A stop signal this soon after the first is the same event told twice, not the user
/// insisting (a person's second Ctrl-C comes later).
const REPEAT: Duration = Duration::from_millis(100);

/// At most this many waits already queued are handled before deciding whether to pass
/// a stop signal on (a busy program may stop again as fast as it is resumed).
const QUEUED_WAITS: usize = 10_000;

impl Tracer {
    /// Whether the stop signals that came since the last look, after the first one
    /// (`first`), say "now". Not one that the program sent (its handler's `kill(0, sig)`
    /// reaches the audit, in its group), not a SIGHUP after a SIGHUP (a closed terminal
    /// hangs up the group and its shell passes the hangup on: two for one event), and not
    /// one that arrived within [`REPEAT`] of the first (one event told twice).
    pub(super) fn look_for_insistence(&mut self, first: i32, signal: i32) {
        let count = interrupt::count();
        if count <= self.stops_counted {
            return;
        }
        self.stops_counted = count;
        let from_program = interrupt::sender().is_some_and(|p| self.model.proc(p).is_some());
        let hangup_again = first == libc::SIGHUP && signal == libc::SIGHUP;
        if !from_program && !hangup_again && interrupt::last_after_first() >= REPEAT {
            self.insisted = Some(signal);
        }
    }

    /// The first stop signal to the audit: sent on to the main process (or, when it has
    /// ended, to each live process whose parent has) unless it got it too, from the
    /// same group kill (see `relay.rs`). Recorded as sent by the audit (to the group,
    /// or to the process), so that what it ends is not "killed from outside".
    pub(super) fn relay(
        &mut self,
        child: &mut Child,
        argv: &[std::ffi::OsString],
        signal: i32,
    ) -> Result<()> {
        // SAFETY: getpid cannot fail.
        let me = unsafe { libc::getpid() };
        relay::barrier();
        // Pending is read first: a signal goes from pending to taken, never back, and
        // once taken its delivery-stop is among the waits drained next. Read after them,
        // one taken in between would be seen as neither, and sent again.
        let pending: Vec<(i32, bool)> = self
            .tops()
            .into_iter()
            .map(|pid| (pid, relay::pending(pid, signal)))
            .collect();
        for _ in 0..QUEUED_WAITS {
            let Some(wait) = ptrace::poll_any().wrap_err("waiting for the traced processes")?
            else {
                break;
            };
            if !self.dispatch(child, argv, wait)? {
                break;
            }
        }
        let mut to_group = false;
        let mut ended = false;
        for (pid, pending) in pending {
            if pending || self.took_lately(pid, signal) {
                to_group = true;
            } else if self.model.proc(pid).is_some_and(|p| p.alive()) {
                self.pass_on(pid, signal);
            } else {
                ended = true;
            }
        }
        // One that ended among the waits just drained (the main process, as it exits):
        // the processes it left are the ones to tell now.
        if ended {
            for pid in self.tops() {
                if !self.took_lately(pid, signal) && !relay::pending(pid, signal) {
                    self.pass_on(pid, signal);
                }
            }
        }
        if to_group {
            self.model.signalled(me, 0, signal);
        }
        Ok(())
    }

    /// Sends `signal` on to `pid`, and records it as the audit's.
    fn pass_on(&mut self, pid: i32, signal: i32) {
        // SAFETY: getpid cannot fail.
        let me = unsafe { libc::getpid() };
        relay::pass_on(pid, signal);
        self.model.signalled(me, i64::from(pid), signal);
    }

    /// Whether process `pid` took `signal` (its delivery-stop) in the last
    /// [`TOOK_WITH_THE_AUDIT`].
    fn took_lately(&self, pid: i32, signal: i32) -> bool {
        self.took
            .get(&(pid, signal))
            .is_some_and(|t| t.elapsed() < TOOK_WITH_THE_AUDIT)
    }

    /// The processes a stop signal to the audit is passed on to: the main process while
    /// it lives; after it, each live process whose parent has ended (it ends its own
    /// children as it chooses).
    fn tops(&self) -> Vec<i32> {
        let alive = |pid: i32| self.model.proc(pid).is_some_and(|p| p.alive());
        if alive(self.root) {
            return vec![self.root];
        }
        self.model
            .procs
            .iter()
            .filter(|p| p.alive() && !alive(p.ppid))
            .map(|p| p.pid)
            .collect()
    }
}
