//! Signals, the self-pipe way: a handler may do almost nothing safely, so ours writes
//! one byte (the signal number) into a non-blocking, close-on-exec pipe. The main loop
//! `poll`s the read end together with its FIFO, and learns about each signal at the exact
//! point where it can act on it.
//!
//! The pipe object also remembers requests: once a drain has seen a stop signal,
//! [`SelfPipe::stop_requested`] says so for the rest of the run, and a SIGUSR1 stays
//! noted until [`SelfPipe::take_status_request`] takes it. So a drain anywhere (in a
//! wait for a child, a backoff pause) loses nothing, and no function has to carry a flag
//! back to its caller.
//!
//! Every signal whose default action would kill a primary is decided here, in
//! [`PRIMARY`] (the secondary's choices are in [`SECONDARY`]):
//!
//! | signal | primary | secondary | why |
//! |---|---|---|---|
//! | SIGINT, SIGTERM | stop in order | SIGINT ignored; SIGTERM waits for the primary's stop | Ctrl-C and `kill` mean "stop" |
//! | SIGHUP | stop in order (still ignored when inherited ignored: `nohup`) | ignored | the terminal or the SSH session is gone: nobody watches any more |
//! | SIGALRM | stop in order | ignored | "time is up" (`timeout -s ALRM`); osps arms no alarm, so one that arrives was sent to end it |
//! | SIGUSR1 | one status line on stderr, runs on | ignored | the `dd` convention |
//! | SIGUSR2 | ignored | ignored | no meaning assigned: a stray one (a `pkill -USR2` aimed at another program) must not end an instance |
//! | SIGVTALRM, SIGPROF | ignored, unless a handler is already installed | same | profiling timers: they mean "a timer fired", never "stop"; a profiler loaded before `main` keeps its handler |
//! | SIGPIPE | ignored | ignored | a write to a FIFO or socket whose reader died returns `EPIPE`, and a closed stdout is an error we handle |
//! | SIGXFSZ | ignored | ignored | growing a file past `RLIMIT_FSIZE` (`ulimit -f`) fails with `EFBIG`, which we report, instead of a core dump that leaves the instance behind |
//!
//! The secondary ignores every signal that a terminal or a process-group `kill` sends
//! to the whole group, because the primary receives it too and stops the secondary in
//! order; a secondary whose primary died still ends, by end of file on its FIFO or the
//! kernel's SIGTERM (`PR_SET_PDEATHSIG`). An ignored disposition (`SIG_IGN`) survives
//! `exec`, which the secondary relies on between the primary's fork and its own `main`.
//! SIGQUIT (Ctrl-\\) keeps its default, a core dump for debugging, as its sender asks;
//! SIGKILL and SIGSTOP cannot be caught. After either death, `osps cleanup` removes what
//! is left.

use std::cell::Cell;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use color_eyre::eyre::{Result, WrapErr};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal::{
    SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGPIPE, SIGPROF, SIGTERM, SIGUSR1, SIGUSR2, SIGVTALRM,
    SIGXFSZ,
};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
/// Set by the handler: lets a busy loop notice a signal with one load, no syscall.
static ARRIVED: AtomicBool = AtomicBool::new(false);

/// Set by the handler when a stop signal arrives, and never cleared: a stop is final.
static STOP_ARRIVED: AtomicBool = AtomicBool::new(false);

/// Whether a signal arrived since the last [`SelfPipe::drain`] (one atomic load).
pub fn arrived() -> bool {
    ARRIVED.load(Ordering::Relaxed)
}

/// Whether a stop signal ever arrived: for a wait that cannot poll the self-pipe (the
/// `--hold-zombie` pause) but must not outlast a request to stop.
pub fn stop_arrived() -> bool {
    STOP_ARRIVED.load(Ordering::Relaxed)
}

/// Wakes the main loop from another thread as a signal would (the lock file's watcher,
/// `lockwatch.rs`): the next wait on the self-pipe returns at once and a busy loop sees
/// [`arrived`]. The byte written, 0, is no signal, so a drain reports nothing for it; the
/// waker keeps its own note of why it woke us.
pub fn wake() {
    ARRIVED.store(true, Ordering::Relaxed);
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = 0u8;
        // SAFETY: a one-byte write(2) from a valid buffer to the self-pipe's write end,
        // open as long as the SelfPipe (which sets WRITE_FD to -1 before closing it); the
        // only caller, the lock file's watching thread, is joined before the instance that
        // owns it is dropped, which is before the SelfPipe is. The pipe is non-blocking:
        // when full, a wake-up is already pending and the byte can go.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
}

extern "C" fn on_signal(signal: libc::c_int) {
    ARRIVED.store(true, Ordering::Relaxed);
    if STOP.iter().any(|&s| s as libc::c_int == signal) {
        STOP_ARRIVED.store(true, Ordering::Relaxed);
    }
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = signal as u8;
        let saved = Errno::last_raw();
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking, so a full pipe
        // (signals already pending) just drops the byte, which loses nothing we need.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        Errno::set_raw(saved);
    }
}

/// What a process does with one signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Treatment {
    /// Routed through the self-pipe: the process stops in order (see [`Pending::stop_signal`]).
    Stop,
    /// Routed through the self-pipe: the process prints its status and runs on.
    Status,
    /// Routed through the self-pipe: a child changed state.
    Child,
    /// Ignored (`SIG_IGN`), unless a handler is already installed when we start.
    Ignore,
}

/// The primary's policy (the table in the module documentation).
pub const PRIMARY: &[(Signal, Treatment)] = &[
    (SIGINT, Treatment::Stop),
    (SIGTERM, Treatment::Stop),
    (SIGHUP, Treatment::Stop),
    (SIGALRM, Treatment::Stop),
    (SIGUSR1, Treatment::Status),
    (SIGCHLD, Treatment::Child),
    (SIGUSR2, Treatment::Ignore),
    (SIGVTALRM, Treatment::Ignore),
    (SIGPROF, Treatment::Ignore),
    (SIGPIPE, Treatment::Ignore),
    (SIGXFSZ, Treatment::Ignore),
];

/// The secondary's policy: only SIGTERM is seen (it stops only when its primary is
/// gone); everything a terminal or a group `kill` sends is left to the primary.
pub const SECONDARY: &[(Signal, Treatment)] = &[
    (SIGTERM, Treatment::Stop),
    (SIGINT, Treatment::Ignore),
    (SIGHUP, Treatment::Ignore),
    (SIGALRM, Treatment::Ignore),
    (SIGUSR1, Treatment::Ignore),
    (SIGUSR2, Treatment::Ignore),
    (SIGVTALRM, Treatment::Ignore),
    (SIGPROF, Treatment::Ignore),
    (SIGPIPE, Treatment::Ignore),
    (SIGXFSZ, Treatment::Ignore),
];

/// The signals that ask for an orderly stop ([`Treatment::Stop`] in [`PRIMARY`]).
const STOP: [Signal; 4] = [SIGINT, SIGTERM, SIGHUP, SIGALRM];

/// The signals seen since the last [`SelfPipe::drain`]: a set of signal numbers (1..64),
/// so a new signal needs no new field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending(u64);

impl Pending {
    fn add(&mut self, signal: i32) {
        if (1..64).contains(&signal) {
            self.0 |= 1 << signal;
        }
    }

    /// Whether `signal` arrived.
    pub fn has(&self, signal: Signal) -> bool {
        let n = signal as i32;
        (1..64).contains(&n) && self.0 & (1 << n) != 0
    }

    /// The first stop signal among them (SIGINT, SIGTERM, SIGHUP, SIGALRM, in that
    /// order): someone asked us to stop.
    pub fn stop_signal(&self) -> Option<Signal> {
        STOP.into_iter().find(|&s| self.has(s))
    }

    /// SIGCHLD: a child changed state (worth a `waitpid` with `WNOHANG`).
    pub fn child(&self) -> bool {
        self.has(Signal::SIGCHLD)
    }
}

/// The read end of the self-pipe; the write end lives in the handler's static.
#[derive(Debug)]
pub struct SelfPipe {
    read: OwnedFd,
    _write: OwnedFd,
    /// The stop signal a drain saw first. Not atomics: only the thread that drains
    /// reads these, the handler never touches them.
    stop: Cell<Option<Signal>>,
    /// A drain saw SIGUSR1 that nobody has answered yet.
    status: Cell<bool>,
}

impl Drop for SelfPipe {
    fn drop(&mut self) {
        // The handler must never write to a descriptor number that may be reused.
        WRITE_FD.store(-1, Ordering::Relaxed);
    }
}

/// The disposition `signal` has now, without changing it.
fn current(signal: Signal) -> Result<libc::sighandler_t> {
    // SAFETY: sigaction with a null new action only reads the current one into `old`,
    // a plain C struct for which all-zero is a valid value.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: see above; `old` is a valid, writable sigaction.
    let rc = unsafe { libc::sigaction(signal as libc::c_int, std::ptr::null(), &mut old) };
    if rc != 0 {
        return Err(Errno::last()).wrap_err_with(|| format!("reading the disposition of {signal}"));
    }
    Ok(old.sa_sigaction)
}

impl SelfPipe {
    /// Routes `signals` into a new self-pipe (one per process).
    pub fn install(signals: &[Signal]) -> Result<SelfPipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .wrap_err("creating the signal self-pipe")?;
        WRITE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for &signal in signals {
            // SAFETY: the handler only calls write(2) on a descriptor that stays open as
            // long as the SelfPipe (stored in the process-wide static until then).
            unsafe { sigaction(signal, &action) }
                .wrap_err_with(|| format!("installing a handler for {signal}"))?;
        }
        Ok(SelfPipe {
            read,
            _write: write,
            stop: Cell::new(None),
            status: Cell::new(false),
        })
    }

    /// Applies a policy ([`PRIMARY`] or [`SECONDARY`]): ignores what it ignores and
    /// routes the rest into a new self-pipe. Two conventions are kept: a SIGHUP that
    /// was ignored when we started (`nohup osps primary`) stays ignored, and a signal
    /// to ignore that already has a handler (a profiler loaded before `main`) keeps it.
    pub fn install_policy(policy: &[(Signal, Treatment)]) -> Result<SelfPipe> {
        let mut routed = Vec::new();
        for &(signal, treatment) in policy {
            let now = current(signal)?;
            match treatment {
                Treatment::Ignore if now == libc::SIG_DFL => ignore(signal)?,
                Treatment::Ignore => {}
                Treatment::Stop if signal == SIGHUP && now == libc::SIG_IGN => {}
                Treatment::Stop | Treatment::Status | Treatment::Child => routed.push(signal),
            }
        }
        SelfPipe::install(&routed)
    }

    /// The descriptor to `poll` for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Whether a stop was asked for (a stop signal seen by a drain so far).
    pub fn stop_requested(&self) -> bool {
        self.stop.get().is_some()
    }

    /// The signal that asked us to stop, if one did.
    pub fn stop_signal(&self) -> Option<Signal> {
        self.stop.get()
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
        if let (None, Some(signal)) = (self.stop.get(), pending.stop_signal()) {
            self.stop.set(Some(signal));
        }
        if pending.has(SIGUSR1) {
            self.status.set(true);
        }
        pending
    }
}

/// The name of signal number `n`, if it has one: nix's for the classic signals, and
/// `SIGRTMIN`, `SIGRTMIN+k` or `SIGRTMAX` for the real-time ones, which nix's enum lacks
/// and whose numbers the C library fixes only at run time (it keeps the kernel's first
/// two for itself: those, 32 and 33 on Linux, have no name).
pub fn name(n: libc::c_int) -> Option<String> {
    if let Ok(signal) = Signal::try_from(n) {
        return Some(signal.as_str().to_string());
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    match n {
        _ if n == min => Some("SIGRTMIN".into()),
        _ if n == max => Some("SIGRTMAX".into()),
        _ if n > min && n < max => Some(format!("SIGRTMIN+{}", n - min)),
        _ => None,
    }
}

/// Ignores `signal` (`SIG_IGN`, which also survives `exec`).
pub fn ignore(signal: Signal) -> Result<()> {
    // SAFETY: SIG_IGN installs no code of ours.
    unsafe { nix::sys::signal::signal(signal, SigHandler::SigIgn) }
        .map(drop)
        .wrap_err_with(|| format!("ignoring {signal}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_number_is_named_as_kill_l_names_it_or_not_at_all() {
        assert_eq!(name(libc::SIGTERM).as_deref(), Some("SIGTERM"));
        assert_eq!(name(libc::SIGPWR).as_deref(), Some("SIGPWR"));
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        assert_eq!(name(min).as_deref(), Some("SIGRTMIN"));
        assert_eq!(name(min + 1).as_deref(), Some("SIGRTMIN+1"));
        assert_eq!(name(max).as_deref(), Some("SIGRTMAX"));
        // The C library's own (SIGCANCEL, SIGSETXID in glibc), and no signal at all.
        for n in [0, 32, 33, max + 1, -1] {
            assert_eq!(name(n), None, "{n}");
        }
    }

    #[test]
    fn pending_is_a_set_of_signals() {
        let mut p = Pending::default();
        assert!(p.stop_signal().is_none() && !p.child());
        p.add(libc::SIGCHLD);
        assert!(p.child() && p.stop_signal().is_none());
        p.add(libc::SIGUSR1);
        assert!(
            p.stop_signal().is_none(),
            "SIGUSR1 asks for a status, not a stop"
        );
        p.add(libc::SIGTERM);
        assert_eq!(p.stop_signal(), Some(Signal::SIGTERM));
        assert!(p.has(Signal::SIGTERM) && !p.has(Signal::SIGINT));
        p.add(0);
        p.add(200);
        assert!(!p.has(Signal::SIGHUP));
        p.add(libc::SIGHUP);
        assert_eq!(
            p.stop_signal(),
            Some(Signal::SIGTERM),
            "the first in STOP order"
        );
    }

    #[test]
    fn every_stop_signal_of_the_primary_is_a_stop_for_pending() {
        for &(signal, treatment) in PRIMARY {
            let mut p = Pending::default();
            p.add(signal as i32);
            assert_eq!(
                p.stop_signal().is_some(),
                treatment == Treatment::Stop,
                "{signal} is {treatment:?} in PRIMARY"
            );
        }
    }

    #[test]
    fn every_signal_whose_default_kills_is_decided_for_both_roles() {
        // Default action "terminate" or "core" (signal(7)), catchable, not SIGBUS/SIGSEGV
        // and friends (faults of our own, handled elsewhere or fatal by design).
        let fatal = [
            SIGHUP, SIGINT, SIGTERM, SIGALRM, SIGUSR1, SIGUSR2, SIGVTALRM, SIGPROF, SIGPIPE,
            SIGXFSZ,
        ];
        for policy in [PRIMARY, SECONDARY] {
            for s in fatal {
                assert!(
                    policy.iter().any(|&(p, _)| p == s),
                    "{s} has no treatment in a policy"
                );
            }
        }
        assert!(
            SECONDARY
                .iter()
                .all(|&(s, t)| t == Treatment::Ignore || s == SIGTERM),
            "the secondary leaves every group signal but SIGTERM to the primary"
        );
    }
}
