//! Delivery to the main loop: the [`SelfPipe`] whose read end the loop `poll`s, and the
//! [`Pending`] signals one drain of it reports. The pipe also remembers requests: a stop
//! signal seen once stays seen, a SIGUSR1 stays noted until taken, so a drain anywhere
//! loses nothing. The bytes come from `handler.rs`; `install.rs` opens the pipe and
//! builds the value; the stop signals' order is the policy's (`policy.rs`).

use std::cell::Cell;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::signal::Signal::SIGUSR1;

use super::handler::{ARRIVED, WRITE_FD};
use super::policy::Signo;

/// The signals seen since the last [`SelfPipe::drain`]: a set of signal numbers (1..128,
/// every number Linux has), so a new signal needs no new field; and the stop signal
/// among them, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    set: u128,
    stop: Option<Signo>,
}

impl Pending {
    fn add(&mut self, signal: i32) {
        if (1..128).contains(&signal) {
            self.set |= 1 << signal;
        }
    }

    fn has_number(&self, n: i32) -> bool {
        (1..128).contains(&n) && self.set & (1 << n) != 0
    }

    /// Whether `signal` arrived.
    pub fn has(&self, signal: Signal) -> bool {
        self.has_number(signal as i32)
    }

    /// Notes the first of `stops` (in their order) that arrived.
    fn find_stop(&mut self, stops: &[Signo]) {
        self.stop = stops.iter().copied().find(|s| self.has_number(s.raw()));
    }

    /// The stop signal among them (the first in its policy's order when several came):
    /// someone asked us to stop.
    pub fn stop_signal(&self) -> Option<Signo> {
        self.stop
    }

    /// SIGCHLD: a child changed state (worth a `waitpid` with `WNOHANG`).
    pub fn child(&self) -> bool {
        self.has(Signal::SIGCHLD)
    }
}

/// The read end of the self-pipe; the write end lives in the handler's static.
#[derive(Debug)]
pub struct SelfPipe {
    pub(super) read: OwnedFd,
    pub(super) _write: OwnedFd,
    /// The signals routed as stops, in the order a drain looks for them.
    pub(super) stops: Vec<Signo>,
    /// The stop signal a drain saw first. Not atomics: only the thread that drains
    /// reads these, the handler never touches them.
    pub(super) stop: Cell<Option<Signo>>,
    /// A drain saw SIGUSR1 that nobody has answered yet.
    pub(super) status: Cell<bool>,
    /// A stop signal came while the secondaries were being stopped: the rest of the stop
    /// waits for none of them (see [`Self::hurry`]).
    pub(super) hurry: Cell<bool>,
    /// When a drain first saw a stop signal (see [`SAME_REQUEST`]).
    pub(super) first_stop_at: Cell<Option<Instant>>,
}

/// A stop signal seen again within this time of the first is the same request, not
/// "Ctrl-C again": `timeout(1)` sends its signal to the process and then to the process
/// group it is in, and a terminal's Ctrl-C reaches every process of the foreground group,
/// so one request often arrives twice, microseconds apart. A person pressing Ctrl-C twice
/// takes far longer than this.
pub const SAME_REQUEST: Duration = Duration::from_millis(100);

impl Drop for SelfPipe {
    fn drop(&mut self) {
        // The handler must never write to a descriptor number that may be reused.
        WRITE_FD.store(-1, Ordering::Relaxed);
    }
}

impl SelfPipe {
    /// The descriptor to `poll` for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Whether a stop was asked for (a stop signal seen by a drain so far).
    pub fn stop_requested(&self) -> bool {
        self.stop.get().is_some()
    }

    /// The signal that asked us to stop, if one did.
    pub fn stop_signal(&self) -> Option<Signo> {
        self.stop.get()
    }

    /// Notes that a stop signal came while the secondaries were being stopped (Ctrl-C
    /// again): from now on the stop waits for no secondary, it kills those that remain.
    pub fn hurry(&self) {
        self.hurry.set(true);
    }

    /// Whether [`Self::hurry`] was called.
    pub fn hurried(&self) -> bool {
        self.hurry.get()
    }

    /// Whether a SIGUSR1 asked for a status line since the last call (`true` once).
    pub fn take_status_request(&self) -> bool {
        self.status.replace(false)
    }

    /// Empties the pipe and says which signals arrived; a stop signal or SIGUSR1 among
    /// them is also remembered (see [`Self::stop_requested`], [`Self::take_status_request`]).
    pub fn drain(&self) -> Pending {
        ARRIVED.store(false, Ordering::Relaxed);
        let mut pending = Pending::default();
        let mut buf = [0u8; 64];
        loop {
            match nix::unistd::read(&self.read, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    for &b in &buf[..n] {
                        pending.add(i32::from(b));
                    }
                }
            }
        }
        pending.find_stop(&self.stops);
        match (self.stop.get(), pending.stop_signal()) {
            (None, Some(signal)) => {
                self.stop.set(Some(signal));
                self.first_stop_at.set(Some(Instant::now()));
            }
            (Some(_), Some(_))
                if self
                    .first_stop_at
                    .get()
                    .is_some_and(|t| t.elapsed() < SAME_REQUEST) =>
            {
                // The first request delivered twice: not a stop signal "during the stop".
                pending.stop = None;
            }
            _ => {}
        }
        if pending.has(SIGUSR1) {
            self.status.set(true);
        }
        pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::signals::policy::{PRIMARY, SECONDARY, Treatment};
    use nix::sys::signal::Signal::{SIGHUP, SIGINT, SIGTERM};

    #[test]
    fn pending_is_a_set_of_signals() {
        let stops: Vec<Signo> = [SIGINT, SIGTERM, SIGHUP].map(Signo::from).into();
        let mut p = Pending::default();
        p.find_stop(&stops);
        assert!(p.stop_signal().is_none() && !p.child());
        p.add(libc::SIGCHLD);
        assert!(p.child());
        p.add(libc::SIGUSR1);
        p.find_stop(&stops);
        assert!(
            p.stop_signal().is_none(),
            "SIGUSR1 asks for a status, not a stop"
        );
        p.add(libc::SIGTERM);
        p.find_stop(&stops);
        assert_eq!(p.stop_signal(), Some(Signo::from(SIGTERM)));
        assert!(p.has(Signal::SIGTERM) && !p.has(Signal::SIGINT));
        p.add(0);
        p.add(200);
        assert!(!p.has(Signal::SIGHUP));
        p.add(libc::SIGHUP);
        p.find_stop(&stops);
        assert_eq!(
            p.stop_signal(),
            Some(Signo::from(SIGTERM)),
            "the first in the given order"
        );
        // The last real-time signal fits too (64 on x86, 127 on MIPS).
        let mut p = Pending::default();
        let max = Signo::new(libc::SIGRTMAX());
        p.add(max.raw());
        p.find_stop(&[max]);
        assert_eq!(p.stop_signal(), Some(max));
    }

    #[test]
    fn a_drain_reports_as_a_stop_exactly_the_stop_signals_of_each_policy() {
        for policy in [PRIMARY, SECONDARY] {
            let stops: Vec<Signo> = policy
                .decisions()
                .filter(|&(_, t)| t.stops())
                .map(|(s, _)| s)
                .collect();
            for (signal, treatment) in policy.decisions() {
                let mut p = Pending::default();
                p.add(signal.raw());
                p.find_stop(&stops);
                assert_eq!(
                    p.stop_signal().is_some(),
                    matches!(treatment, Treatment::Stop | Treatment::Bus),
                    "{signal} is {treatment:?}"
                );
            }
        }
    }
}
