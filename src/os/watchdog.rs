//! The watchdog that lets a turn wait block in a plain `read` and still keep its deadline
//! and notice signals at once.
//!
//! Waiting with `poll` then `read` costs two system calls per turn where a bare FIFO
//! ping-pong needs one. A blocking `read` alone has no timeout, and our signal handlers
//! are installed with `SA_RESTART` (`signals/install.rs`), so the kernel restarts the `read`
//! after a SIGINT, SIGTERM or SIGCHLD instead of returning. So one helper thread, started
//! at the first such wait, does the watching:
//! - the waiting thread publishes, with plain atomic stores (no system call), "blocked
//!   in wait number `epoch` until `deadline`, signals arrive on self-pipe `fd`", then
//!   reads;
//! - the watchdog sleeps in `ppoll` on that self-pipe until the deadline, and when
//!   either comes while the same wait is still blocked, it sends the waiting thread
//!   SIGURG ([`KICK`]), whose handler does nothing and is installed *without*
//!   `SA_RESTART`: the `read` returns `EINTR`, and the waiter checks its deadline and
//!   its self-pipe.
//!
//! A wait that the watchdog does not cover yet (a deadline earlier than the one it
//! sleeps until, another self-pipe) pokes it, with SIGURG too, which it lets in only
//! while in `ppoll`. While a thread takes turns, the watchdog keeps covering it between
//! its waits (it polls the thread's self-pipe and wakes every [`TICK`]), so the next
//! waits, whose deadlines lie further away than a tick, need no poke: the common turn
//! costs no system call beyond its `read`. A second after the last wait it stops
//! ticking: an idle process stays idle (the next wait pokes it once).
//!
//! A kick can land just before the waiter enters `read` and be lost; the watchdog
//! therefore repeats it every [`REKICK`] for as long as that wait stays blocked.
//!
//! SIGURG is otherwise unused by osps, and its default action is to be ignored: a kick
//! can never kill a process, even a child that execs before installing anything.

use std::cell::Cell;
use std::os::fd::RawFd;
use std::os::unix::thread::JoinHandleExt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// How often a kick is repeated while the wait it targets stays blocked.
const REKICK: Duration = Duration::from_millis(10);

/// How often the watchdog wakes while a thread takes turns (see [`run`]).
const TICK: Duration = Duration::from_millis(100);

/// How long after a thread's last wait the watchdog keeps ticking for it.
const ACTIVE: Duration = Duration::from_secs(1);

/// Deadline value meaning "none".
const NO_DEADLINE: u64 = u64::MAX;

/// Threads that can wait at the same time. A process of osps has one; the unit tests of
/// the turn protocol run both sides in one process, and tests run in parallel.
const SLOTS: usize = 32;

/// The kick: SIGURG, which nothing in osps uses and whose default action is to be ignored
/// (a kick can never kill a process, even one that never installed the handler).
const KICK: Signal = Signal::SIGURG;

/// What one waiting thread published.
struct Slot {
    /// The owning thread's `pthread_t` plus one (0: the slot is free).
    thread: AtomicUsize,
    /// Odd while the thread is blocked, even otherwise; each wait adds 2.
    epoch: AtomicU64,
    /// Nanoseconds since [`base`], or [`NO_DEADLINE`].
    deadline_ns: AtomicU64,
    /// The self-pipe's read end, or -1.
    wake_fd: AtomicI32,
    /// The wake descriptor the watchdog polls for this slot now (-2: none).
    watched_fd: AtomicI32,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    thread: AtomicUsize::new(0),
    epoch: AtomicU64::new(0),
    deadline_ns: AtomicU64::new(NO_DEADLINE),
    wake_fd: AtomicI32::new(-1),
    watched_fd: AtomicI32::new(-2),
};

static SLOTS_TABLE: [Slot; SLOTS] = [FREE; SLOTS];

/// This thread's slot, once claimed; given back when the thread ends.
struct MySlot(Cell<Option<usize>>);

impl Drop for MySlot {
    fn drop(&mut self) {
        if let Some(i) = self.0.get() {
            SLOTS_TABLE[i].thread.store(0, Ordering::Release);
        }
    }
}

thread_local! {
    static MY_SLOT: MySlot = const { MySlot(Cell::new(None)) };
}

/// The watchdog thread's `pthread_t`, once started: a poke is SIGURG sent to it, which
/// it lets in only while it waits in `ppoll` (no descriptor to hold, nothing to drain).
static WATCHDOG: OnceLock<usize> = OnceLock::new();

/// When the watchdog's `poll` ends at the latest, in ns since [`base`] ([`NO_DEADLINE`]:
/// not before something wakes it).
static WATCH_UNTIL: AtomicU64 = AtomicU64::new(NO_DEADLINE);

/// The instant deadlines are counted from (an `Instant` cannot be stored in an atomic).
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn to_ns(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(base()).as_nanos())
        .unwrap_or(NO_DEADLINE - 1)
        .min(NO_DEADLINE - 1)
}

extern "C" fn on_kick(_: libc::c_int) {
    // Nothing to do: the point is that `read` returns EINTR.
}

/// Installs the kick handler and starts the watchdog (once per process).
fn start() -> Result<usize> {
    if let Some(&t) = WATCHDOG.get() {
        return Ok(t);
    }
    // No SA_RESTART: that is the whole point of the kick.
    let action = SigAction::new(
        SigHandler::Handler(on_kick),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing at all, which is async-signal-safe.
    unsafe { sigaction(KICK, &action) }
        .wrap_err("installing the SIGURG handler of the FIFO watchdog")?;
    let handle = std::thread::Builder::new()
        .name("osps-watchdog".into())
        .spawn(run)
        .wrap_err("starting the FIFO watchdog thread")?;
    let thread = handle.as_pthread_t() as usize;
    // Two threads racing here would start two watchdogs; both behave, one is never poked.
    Ok(*WATCHDOG.get_or_init(|| thread))
}

fn my_slot() -> Result<usize> {
    if let Some(i) = MY_SLOT.with(|s| s.0.get()) {
        return Ok(i);
    }
    // A signal mask inherited through exec (a parent that blocked everything) may block
    // SIGURG, and then no kick would ever end this thread's read: let it in, once per
    // thread, at its first wait.
    let mut kick = SigSet::empty();
    kick.add(KICK);
    kick.thread_unblock()
        .wrap_err("unblocking SIGURG, the FIFO watchdog's kick")?;
    // SAFETY: pthread_self has no preconditions and cannot fail.
    let me = unsafe { libc::pthread_self() } as usize + 1;
    for (i, slot) in SLOTS_TABLE.iter().enumerate() {
        if slot
            .thread
            .compare_exchange(0, me, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            MY_SLOT.with(|s| s.0.set(Some(i)));
            return Ok(i);
        }
    }
    bail!("more than {SLOTS} threads wait on FIFOs at once: the watchdog has no room")
}

/// A blocked wait, between [`arm`] and its drop.
pub struct Armed {
    slot: &'static Slot,
    epoch: u64,
}

impl Drop for Armed {
    fn drop(&mut self) {
        self.slot.epoch.store(self.epoch + 1, Ordering::SeqCst);
    }
}

/// Called by a thread about to block in `read`: the watchdog will interrupt it at
/// `deadline` or when `wake` becomes readable. No system call unless the watchdog does
/// not cover this wait yet (see the module comment). The wait ends when `Armed` drops.
pub fn arm(deadline: Option<Instant>, wake: Option<RawFd>) -> Result<Armed> {
    let slot = &SLOTS_TABLE[my_slot()?];
    let poke = start()?;
    let deadline_ns = deadline.map_or(NO_DEADLINE, to_ns);
    let fd = wake.unwrap_or(-1);
    slot.deadline_ns.store(deadline_ns, Ordering::Relaxed);
    slot.wake_fd.store(fd, Ordering::Relaxed);
    // Odd, and new. SeqCst, and stored last: the watchdog reads the epoch first, then the
    // fields above, so an odd epoch comes with this wait's deadline and descriptor.
    let epoch = (slot.epoch.load(Ordering::Relaxed) | 1) + 2;
    slot.epoch.store(epoch, Ordering::SeqCst);
    // Our store above, then these loads; the watchdog publishes what it watches, then
    // re-reads the epochs (all SeqCst): either it sees this wait, or we see that it does
    // not watch it (an earlier deadline or another descriptor) and poke it. In a run of
    // turns the deadlines only move later and the descriptor stays: no poke, no syscall.
    if deadline_ns < WATCH_UNTIL.load(Ordering::SeqCst)
        || (fd >= 0 && slot.watched_fd.load(Ordering::SeqCst) != fd)
    {
        // SAFETY: the watchdog thread never ends; pthread_kill only queues SIGURG, which
        // it blocks except in `ppoll` (a poke sent meanwhile waits for that).
        unsafe { libc::pthread_kill(poke as libc::pthread_t, KICK as libc::c_int) };
    }
    Ok(Armed { slot, epoch })
}

/// What the watchdog remembers of one slot between two looks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Seen {
    epoch: u64,
    /// When `epoch` last changed: a slot busy with turns keeps the watchdog ticking.
    changed: Option<Instant>,
    /// Its self-pipe was readable while it was not blocked: leave the pipe alone (it
    /// stays readable until drained) until its next wait, which will poke us.
    stale: bool,
    /// The epoch last kicked, and when.
    kicked: Option<(u64, Instant)>,
}

/// How the watchdog watches one slot until it looks again: the self-pipe to poll (-1:
/// none) and when to look again at the latest (ns since [`base`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Watch {
    fd: RawFd,
    at: u64,
}

impl Seen {
    /// The plan for one slot whose thread published `epoch` (odd: blocked in a wait until
    /// `deadline_ns`, woken through `wake_fd`), looked at `now`. Pure but for `self`: the
    /// steps of the watchdog's loop, testable with instants of one's choosing.
    fn plan(&mut self, epoch: u64, wake_fd: RawFd, deadline_ns: u64, now: Instant) -> Watch {
        if self.epoch != epoch {
            *self = Seen {
                epoch,
                changed: Some(now),
                stale: false,
                kicked: self.kicked,
            };
        }
        let mut fd = wake_fd;
        let at = if epoch & 1 == 1 {
            match self.kicked {
                // Kicked already and still blocked (the kick came before its `read`, or it
                // has not run yet): look again REKICK later, and not at its self-pipe,
                // which stays readable until it drains it.
                Some((e, t)) if e == epoch => {
                    fd = -1;
                    to_ns(t + REKICK)
                }
                _ => deadline_ns,
            }
        } else if self.changed.is_some_and(|c| now.duration_since(c) < ACTIVE) {
            to_ns(now + TICK)
        } else {
            NO_DEADLINE
        };
        if self.stale {
            fd = -1;
        }
        Watch { fd, at }
    }

    /// After a look at `now` (`ready`: the slot's self-pipe was readable): whether the
    /// thread blocked in wait `epoch` is to be kicked now. Remembers the kick, so that
    /// it is repeated only every [`REKICK`].
    fn kick_due(&mut self, epoch: u64, ready: bool, deadline_ns: u64, now: Instant) -> bool {
        if epoch & 1 == 0 {
            // Not blocked: a readable pipe is the thread's to drain; leave it alone.
            self.stale |= ready;
            return false;
        }
        let due = match self.kicked {
            Some((e, t)) if e == epoch => now >= t + REKICK,
            _ => ready || deadline_ns <= to_ns(now),
        };
        if due {
            self.kicked = Some((epoch, now));
        }
        due
    }
}

/// The watchdog's loop: poll every waiting thread's self-pipe until the earliest
/// deadline, kick the waits that are due or signalled.
///
/// While a thread is taking turns (it waited in the last [`ACTIVE`]) the watchdog wakes
/// at least every [`TICK`] even between its waits, so the next wait's deadline (always
/// further away than a tick) is covered without a poke; and it keeps polling that
/// thread's self-pipe between waits for the same reason. Idle, it sleeps for good.
fn run() {
    // Signals meant for the process are for the threads that handle them, not for us;
    // SIGURG (a poke) only while in `ppoll`.
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&SigSet::all()),
        None,
    );
    let mut in_ppoll = SigSet::all();
    in_ppoll.remove(KICK);
    let mut seen = [Seen::default(); SLOTS];
    loop {
        let now = Instant::now();
        let mut fds: [libc::pollfd; SLOTS] = [libc::pollfd {
            fd: -1,
            events: libc::POLLIN,
            revents: 0,
        }; SLOTS];
        let mut snapshot = [0u64; SLOTS];
        let mut next = NO_DEADLINE;
        for (i, slot) in SLOTS_TABLE.iter().enumerate() {
            let epoch = slot.epoch.load(Ordering::SeqCst);
            snapshot[i] = epoch;
            if slot.thread.load(Ordering::Relaxed) == 0 {
                slot.watched_fd.store(-2, Ordering::SeqCst);
                continue;
            }
            let Watch { fd, at } = seen[i].plan(
                epoch,
                slot.wake_fd.load(Ordering::Relaxed),
                slot.deadline_ns.load(Ordering::Relaxed),
                now,
            );
            fds[i].fd = fd;
            slot.watched_fd
                .store(if fd >= 0 { fd } else { -2 }, Ordering::SeqCst);
            next = next.min(at);
        }
        WATCH_UNTIL.store(next, Ordering::SeqCst);
        // A wait armed while we looked: look again (see `arm`).
        if SLOTS_TABLE
            .iter()
            .zip(snapshot)
            .any(|(slot, e)| slot.epoch.load(Ordering::SeqCst) != e)
        {
            continue;
        }
        let left = Duration::from_nanos(next.saturating_sub(to_ns(Instant::now())));
        let timeout = libc::timespec {
            tv_sec: libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(left.subsec_nanos() as i32),
        };
        let timeout_ptr = if next == NO_DEADLINE {
            std::ptr::null()
        } else {
            &timeout as *const libc::timespec
        };
        // SAFETY: `fds` is a valid array of pollfds (negative descriptors are ignored, one
        // closed meanwhile gives POLLNVAL); the timeout is null or a valid timespec; the
        // mask is a valid sigset_t. A poke (SIGURG) ends it with EINTR: n < 0.
        let n = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                timeout_ptr,
                in_ppoll.as_ref(),
            )
        };
        let now = Instant::now();
        for (i, slot) in SLOTS_TABLE.iter().enumerate() {
            let epoch = snapshot[i];
            if slot.epoch.load(Ordering::SeqCst) != epoch {
                continue;
            }
            let ready = n > 0 && fds[i].fd >= 0 && fds[i].revents != 0;
            let deadline_ns = slot.deadline_ns.load(Ordering::Relaxed);
            if seen[i].kick_due(epoch, ready, deadline_ns, now) {
                let thread = slot.thread.load(Ordering::Relaxed).wrapping_sub(1);
                // SAFETY: the slot's thread claimed it and blocks in `read` right now (its
                // epoch is odd); pthread_kill only queues SIGURG, whose handler does nothing.
                unsafe { libc::pthread_kill(thread as libc::pthread_t, KICK as libc::c_int) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock of the test's own: instants a given number of milliseconds after a start.
    struct Clock(Instant);

    impl Clock {
        fn new() -> Clock {
            Clock(base() + Duration::from_secs(1))
        }
        fn at(&self, ms: u64) -> Instant {
            self.0 + Duration::from_millis(ms)
        }
        fn ns(&self, ms: u64) -> u64 {
            to_ns(self.at(ms))
        }
    }

    const FD: RawFd = 7;

    #[test]
    fn a_blocked_wait_is_watched_until_its_deadline_then_kicked() {
        let c = Clock::new();
        let mut s = Seen::default();
        let deadline = c.ns(50);
        assert_eq!(
            s.plan(1, FD, deadline, c.at(0)),
            Watch {
                fd: FD,
                at: deadline
            }
        );
        assert!(!s.kick_due(1, false, deadline, c.at(20)), "kicked early");
        assert!(
            s.kick_due(1, false, deadline, c.at(50)),
            "not kicked at the deadline"
        );
    }

    #[test]
    fn a_signal_on_the_self_pipe_kicks_at_once() {
        let c = Clock::new();
        let mut s = Seen::default();
        s.plan(3, FD, NO_DEADLINE, c.at(0));
        assert!(s.kick_due(3, true, NO_DEADLINE, c.at(1)));
    }

    #[test]
    fn a_kick_is_repeated_every_rekick_while_the_same_wait_stays_blocked() {
        let c = Clock::new();
        let mut s = Seen::default();
        let deadline = c.ns(5);
        s.plan(1, FD, deadline, c.at(0));
        assert!(s.kick_due(1, false, deadline, c.at(5)));
        // Still blocked in wait 1: its pipe is left alone, the next look is REKICK later.
        let rekick = REKICK.as_millis() as u64;
        assert_eq!(
            s.plan(1, FD, deadline, c.at(6)),
            Watch {
                fd: -1,
                at: c.ns(5 + rekick)
            }
        );
        assert!(!s.kick_due(1, true, deadline, c.at(5 + rekick - 1)));
        assert!(s.kick_due(1, false, deadline, c.at(5 + rekick)));
        // The next wait (epoch 3) is watched afresh, at its own deadline.
        let next = c.ns(200);
        assert_eq!(s.plan(3, FD, next, c.at(30)), Watch { fd: FD, at: next });
    }

    #[test]
    fn between_waits_it_ticks_for_a_second_then_sleeps_for_good() {
        let c = Clock::new();
        let mut s = Seen::default();
        s.plan(1, FD, c.ns(10), c.at(0));
        // The wait ended (epoch 2): tick while turns go on...
        assert_eq!(
            s.plan(2, FD, 0, c.at(10)),
            Watch {
                fd: FD,
                at: to_ns(c.at(10) + TICK)
            }
        );
        let active = ACTIVE.as_millis() as u64;
        assert_eq!(s.plan(2, FD, 0, c.at(10 + active - 1)).at, {
            to_ns(c.at(10 + active - 1) + TICK)
        });
        // ...and a second after the last wait, no deadline at all: an idle process idles.
        assert_eq!(s.plan(2, FD, 0, c.at(10 + active)).at, NO_DEADLINE);
    }

    #[test]
    fn a_pipe_readable_between_waits_is_left_alone_until_the_next_wait() {
        let c = Clock::new();
        let mut s = Seen::default();
        s.plan(2, FD, 0, c.at(0));
        assert!(
            !s.kick_due(2, true, 0, c.at(1)),
            "a thread not blocked is never kicked"
        );
        assert_eq!(
            s.plan(2, FD, 0, c.at(2)).fd,
            -1,
            "a readable pipe polled again"
        );
        // Its next wait pokes the watchdog; from then on its pipe is watched again.
        assert_eq!(s.plan(3, FD, c.ns(90), c.at(3)).fd, FD);
    }
}
