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
//! [`PRIMARY`] (the secondary's choices are in [`SECONDARY`]), the real-time ones too:
//! nix's `Signal` cannot name them, so a signal is a number here ([`Signo`]).
//!
//! | signal | primary | secondary | why |
//! |---|---|---|---|
//! | SIGINT, SIGTERM | stop in order | SIGINT ignored; SIGTERM waits for the primary's stop | Ctrl-C and `kill` mean "stop" |
//! | SIGHUP | stop in order (still ignored when inherited ignored: `nohup`) | ignored | the terminal or the SSH session is gone: nobody watches any more |
//! | SIGALRM | stop in order | ignored | "time is up" (`timeout -s ALRM`); osps arms no alarm, so one that arrives was sent to end it |
//! | SIGPWR, SIGSTKFLT, SIGIO, SIGXCPU, SIGRTMIN..=SIGRTMAX | stop in order | as SIGTERM | osps uses none of them (no `O_ASYNC`, no real-time signal, no CPU limit of its own): one that arrives was sent to end it (a UPS daemon's power warning, the `ulimit -t` CPU limit) or by mistake, and either way only the orderly stop leaves nothing behind |
//! | SIGUSR1 | one status line on stderr, runs on | ignored | the `dd` convention |
//! | SIGUSR2 | ignored | ignored | no meaning assigned: a stray one (a `pkill -USR2` aimed at another program) must not end an instance |
//! | SIGVTALRM, SIGPROF | ignored, unless a handler is already installed | same | profiling timers: they mean "a timer fired", never "stop"; a profiler loaded before `main` keeps its handler |
//! | SIGPIPE | ignored | ignored | a write to a FIFO or socket whose reader died returns `EPIPE`, and a closed stdout is an error we handle |
//! | SIGXFSZ | ignored | ignored | growing a file past `RLIMIT_FSIZE` (`ulimit -f`) fails with `EFBIG`, which we report, instead of a core dump that leaves the instance behind |
//! | SIGQUIT, SIGTRAP, SIGSYS | default: a core dump | same | the exceptions: Ctrl-\\, a debugger's breakpoint, a system call a seccomp filter forbids; a core dump is what one wants then |
//! | SIGILL, SIGFPE, SIGSEGV, SIGABRT | default: a core dump | same | a crash of our own, which must stay loud |
//! | SIGBUS | a fault in the segment is absorbed (`sigbus.rs`); one sent by a process (`kill -BUS`) stops in order; any other fault is a crash | same, a sent one as SIGTERM | a truncated segment must not kill us, and a sent SIGBUS is no fault but a request to end |
//!
//! The secondary ignores every signal that a terminal or a process-group `kill` sends
//! to the whole group, because the primary receives it too and stops the secondary in
//! order; a secondary whose primary died still ends, by end of file on its FIFO or the
//! kernel's SIGTERM (`PR_SET_PDEATHSIG`). An ignored disposition (`SIG_IGN`) survives
//! `exec`, which the secondary relies on between the primary's fork and its own `main`.
//! So does the signal mask: installing a policy unblocks every signal it handles, or a
//! parent that blocked SIGTERM before starting us would leave us deaf to it.
//! SIGKILL and SIGSTOP cannot be caught, and the two or three real-time signals below
//! SIGRTMIN are the C library's own (glibc's thread cancellation and set*id broadcast):
//! it refuses to let a program handle them. After any such death, `osps cleanup`
//! removes what is left.

use std::cell::Cell;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use color_eyre::eyre::{Result, WrapErr};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::signal::Signal::{
    SIGABRT, SIGALRM, SIGBUS, SIGCHLD, SIGFPE, SIGHUP, SIGILL, SIGINT, SIGIO, SIGPIPE, SIGPROF,
    SIGPWR, SIGQUIT, SIGSEGV, SIGSTKFLT, SIGSYS, SIGTERM, SIGTRAP, SIGUSR1, SIGUSR2, SIGVTALRM,
    SIGXCPU, SIGXFSZ,
};

use Treatment::{Bus, Child, CoreDump, Ignore, Status, Stop};
use Why::{Asked, Crash, Debugging, Harmless, Over, Plain, Unused};

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

/// The handler of a routed signal that is no stop (SIGUSR1, SIGCHLD).
extern "C" fn on_signal(signal: libc::c_int) {
    ARRIVED.store(true, Ordering::Relaxed);
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // Every signal number fits: Linux has at most 127 (64 on most architectures).
        let byte = signal as u8;
        let saved = Errno::last_raw();
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking, so a full pipe
        // (signals already pending) just drops the byte, which loses nothing we need.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        Errno::set_raw(saved);
    }
}

/// The handler of a stop signal: the disposition itself says it is one, so the handler
/// needs no table (and nothing that is not async-signal-safe) to tell.
extern "C" fn on_stop(signal: libc::c_int) {
    STOP_ARRIVED.store(true, Ordering::Relaxed);
    on_signal(signal);
}

/// Passes `signal` on to the main loop as a request to stop, as our own stop handler
/// does: for a handler that is not ours to install here (`sigbus.rs`, for a SIGBUS sent
/// by a process). Async-signal-safe: atomics and one write(2).
/// Returns false, doing nothing, when no self-pipe is installed (a process that only
/// looks at segments: inspect, top): nobody would read the request.
pub fn forward_stop(signal: libc::c_int) -> bool {
    if WRITE_FD.load(Ordering::Relaxed) < 0 {
        return false;
    }
    on_stop(signal);
    true
}

/// A signal by its number. nix's `Signal` names only the classic ones; the real-time
/// signals, whose numbers the C library fixes only at run time, are decided, routed and
/// named as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signo(libc::c_int);

impl Signo {
    /// Signal number `n`.
    #[cfg(test)]
    pub fn new(n: libc::c_int) -> Signo {
        Signo(n)
    }

    /// Its number.
    pub fn raw(self) -> libc::c_int {
        self.0
    }

    /// Every real-time signal a program may use, SIGRTMIN..=SIGRTMAX.
    pub fn realtime() -> impl Iterator<Item = Signo> {
        (libc::SIGRTMIN()..=libc::SIGRTMAX()).map(Signo)
    }
}

impl From<Signal> for Signo {
    fn from(signal: Signal) -> Signo {
        Signo(signal as libc::c_int)
    }
}

impl PartialEq<Signal> for Signo {
    fn eq(&self, other: &Signal) -> bool {
        self.0 == *other as libc::c_int
    }
}

/// "SIGTERM", "SIGRTMIN+1", or "signal 32" when it has no name.
impl fmt::Display for Signo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name(self.0) {
            Some(name) => f.write_str(&name),
            None => write!(f, "signal {}", self.0),
        }
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
    /// Left at its default action, a core dump, on purpose: nothing is installed.
    CoreDump,
    /// SIGBUS, whose handler is `sigbus.rs`'s: a fault in the segment is absorbed, any
    /// other fault is a crash, and one sent by a process (`kill -BUS`) comes through the
    /// self-pipe as a stop.
    Bus,
}

impl Treatment {
    /// Whether a signal so treated asks for the orderly stop when it reaches the main
    /// loop.
    pub fn stops(self) -> bool {
        matches!(self, Treatment::Stop | Treatment::Bus)
    }
}

/// Why a signal is treated so (the last column above): the man pages list signals by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// It means "stop": Ctrl-C, `kill`.
    Asked,
    /// Nobody watches any more (terminal or session gone), or the time is up.
    Over,
    /// Of no use to osps and fatal by default: only the orderly stop leaves nothing behind.
    Unused,
    /// The treatment says it all: SIGUSR1's status line, SIGCHLD, SIGBUS's own handler.
    Plain,
    /// It never means "stop", so it must not end an instance.
    Harmless,
    /// A debugging aid, whose core dump is what one wants then.
    Debugging,
    /// A crash of our own, which must stay loud.
    Crash,
}

/// A signal, its treatment, why, and the man page's note after its name ("" for none).
#[derive(Clone, Copy, Debug)]
struct Rule(Signal, Treatment, Why, &'static str);

/// What one role does with every signal: the classic ones by name, in the order in
/// which a drain picks the stop signal it reports when several arrived, then every
/// real-time signal alike.
#[derive(Debug)]
pub struct Policy {
    named: &'static [Rule],
    realtime: (Treatment, Why),
}

impl Policy {
    /// Every signal it decides, with its treatment: the named ones in table order, then
    /// the real-time ones.
    pub fn decisions(&self) -> impl Iterator<Item = (Signo, Treatment)> + '_ {
        let named = self.named.iter().map(|r| (Signo::from(r.0), r.1));
        named.chain(Signo::realtime().map(|s| (s, self.realtime.0)))
    }

    /// The named signals in table order, each with its treatment, why and note.
    pub fn explained(&self) -> impl Iterator<Item = (Signo, Treatment, Why, &'static str)> + '_ {
        self.named.iter().map(|r| (Signo::from(r.0), r.1, r.2, r.3))
    }

    /// The treatment of every real-time signal, and why.
    pub fn realtime(&self) -> (Treatment, Why) {
        self.realtime
    }

    /// What it does with `signal`, if it decides it.
    #[cfg(test)]
    pub fn treatment(&self, signal: Signo) -> Option<Treatment> {
        self.decisions().find(|&(s, _)| s == signal).map(|(_, t)| t)
    }
}

/// The primary's policy (the table in the module documentation).
#[rustfmt::skip]
pub const PRIMARY: &Policy = &Policy {
    named: &[
        Rule(SIGINT,    Stop,     Asked,       ""),
        Rule(SIGTERM,   Stop,     Asked,       ""),
        Rule(SIGHUP,    Stop,     Over,        "the terminal closed, the SSH session dropped"),
        Rule(SIGALRM,   Stop,     Over,        "time is up, as `timeout -s ALRM` sends; osps arms no alarm"),
        Rule(SIGPWR,    Stop,     Unused,      "a UPS daemon's power warning"),
        Rule(SIGXCPU,   Stop,     Unused,      "the CPU time limit, `ulimit -t`"),
        Rule(SIGSTKFLT, Stop,     Unused,      ""),
        Rule(SIGIO,     Stop,     Unused,      "SIGPOLL"),
        Rule(SIGUSR1,   Status,   Plain,       ""),
        Rule(SIGCHLD,   Child,    Plain,       ""),
        Rule(SIGUSR2,   Ignore,   Harmless,    "no meaning is assigned to it"),
        Rule(SIGVTALRM, Ignore,   Harmless,    "profiling timers; a handler a profiler installed before osps started is kept"),
        Rule(SIGPROF,   Ignore,   Harmless,    "profiling timers; a handler a profiler installed before osps started is kept"),
        Rule(SIGPIPE,   Ignore,   Harmless,    "a write to a closed FIFO or socket returns `EPIPE`"),
        Rule(SIGXFSZ,   Ignore,   Harmless,    ""),
        Rule(SIGQUIT,   CoreDump, Debugging,   "the terminal's quit key"),
        Rule(SIGTRAP,   CoreDump, Debugging,   "a debugger's breakpoint"),
        Rule(SIGSYS,    CoreDump, Debugging,   "a system call that a seccomp filter forbids"),
        Rule(SIGSEGV,   CoreDump, Crash,       ""),
        Rule(SIGILL,    CoreDump, Crash,       ""),
        Rule(SIGFPE,    CoreDump, Crash,       ""),
        Rule(SIGABRT,   CoreDump, Crash,       ""),
        Rule(SIGBUS,    Bus,      Plain,       ""),
    ],
    realtime: (Stop, Unused),
};

/// The secondary's policy: only SIGTERM and the signals the primary takes as SIGTERM are
/// seen (it stops only when its primary is gone); everything a terminal or a group
/// `kill` sends is left to the primary.
#[rustfmt::skip]
pub const SECONDARY: &Policy = &Policy {
    named: &[
        Rule(SIGTERM,   Stop,     Asked,       ""),
        Rule(SIGPWR,    Stop,     Unused,      ""),
        Rule(SIGXCPU,   Stop,     Unused,      ""),
        Rule(SIGSTKFLT, Stop,     Unused,      ""),
        Rule(SIGIO,     Stop,     Unused,      ""),
        Rule(SIGINT,    Ignore,   Asked,       ""),
        Rule(SIGHUP,    Ignore,   Over,        ""),
        Rule(SIGALRM,   Ignore,   Over,        ""),
        Rule(SIGUSR1,   Ignore,   Plain,       ""),
        Rule(SIGUSR2,   Ignore,   Harmless,    ""),
        Rule(SIGVTALRM, Ignore,   Harmless,    ""),
        Rule(SIGPROF,   Ignore,   Harmless,    ""),
        Rule(SIGPIPE,   Ignore,   Harmless,    ""),
        Rule(SIGXFSZ,   Ignore,   Harmless,    ""),
        Rule(SIGQUIT,   CoreDump, Debugging,   ""),
        Rule(SIGTRAP,   CoreDump, Debugging,   ""),
        Rule(SIGSYS,    CoreDump, Debugging,   ""),
        Rule(SIGSEGV,   CoreDump, Crash,       ""),
        Rule(SIGILL,    CoreDump, Crash,       ""),
        Rule(SIGFPE,    CoreDump, Crash,       ""),
        Rule(SIGABRT,   CoreDump, Crash,       ""),
        Rule(SIGBUS,    Bus,      Plain,       ""),
    ],
    realtime: (Stop, Unused),
};

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
    read: OwnedFd,
    _write: OwnedFd,
    /// The signals routed as stops, in the order a drain looks for them.
    stops: Vec<Signo>,
    /// The stop signal a drain saw first. Not atomics: only the thread that drains
    /// reads these, the handler never touches them.
    stop: Cell<Option<Signo>>,
    /// A drain saw SIGUSR1 that nobody has answered yet.
    status: Cell<bool>,
    /// A stop signal came while the secondaries were being stopped: the rest of the stop
    /// waits for none of them (see [`Self::hurry`]).
    hurry: Cell<bool>,
}

impl Drop for SelfPipe {
    fn drop(&mut self) {
        // The handler must never write to a descriptor number that may be reused.
        WRITE_FD.store(-1, Ordering::Relaxed);
    }
}

/// The disposition `signal` has now, without changing it.
fn current(signal: Signo) -> Result<libc::sighandler_t> {
    // SAFETY: sigaction with a null new action only reads the current one into `old`,
    // a plain C struct for which all-zero is a valid value.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: see above; `old` is a valid, writable sigaction.
    let rc = unsafe { libc::sigaction(signal.raw(), std::ptr::null(), &mut old) };
    if rc != 0 {
        return Err(Errno::last()).wrap_err_with(|| format!("reading the disposition of {signal}"));
    }
    Ok(old.sa_sigaction)
}

/// Sets the disposition of `signal` to `handler` (a function of ours, or `SIG_IGN`):
/// through libc rather than nix, whose `Signal` has no real-time signals.
fn set_disposition(signal: Signo, handler: libc::sighandler_t) -> Result<()> {
    // SAFETY: a plain C struct for which all-zero is a valid value.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    // Our handlers write one byte and return: an interrupted system call may restart.
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: sigemptyset initialises the valid sigset_t inside `action`.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is fully initialised; a handler of ours only touches atomics and
    // calls write(2) on a descriptor that stays open as long as the SelfPipe (stored in
    // the process-wide static until then). The old action is not wanted (null).
    let rc = unsafe { libc::sigaction(signal.raw(), &action, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(Errno::last()).wrap_err_with(|| format!("setting the disposition of {signal}"));
    }
    Ok(())
}

impl SelfPipe {
    /// Routes `stops`, each a request to stop, into a new self-pipe (one per process): for
    /// a command with no policy of its own (`osps top`'s Ctrl-C).
    pub fn install(stops: &[Signal]) -> Result<SelfPipe> {
        let routed: Vec<_> = stops
            .iter()
            .map(|&s| (Signo::from(s), Treatment::Stop))
            .collect();
        SelfPipe::route(&routed)
    }

    /// Applies a policy ([`PRIMARY`] or [`SECONDARY`]): ignores what it ignores and
    /// routes the rest into a new self-pipe. Two conventions are kept: a SIGHUP that
    /// was ignored when we started (`nohup osps primary`) stays ignored, and a signal
    /// to ignore that already has a handler (a profiler loaded before `main`) keeps it.
    pub fn install_policy(policy: &Policy) -> Result<SelfPipe> {
        let mut routed = Vec::new();
        for (signal, treatment) in policy.decisions() {
            match treatment {
                Treatment::Ignore if current(signal)? == libc::SIG_DFL => ignore(signal)?,
                Treatment::Ignore => {}
                Treatment::Stop if signal == SIGHUP && current(signal)? == libc::SIG_IGN => {}
                Treatment::Stop | Treatment::Status | Treatment::Child | Treatment::Bus => {
                    routed.push((signal, treatment));
                }
                Treatment::CoreDump => {}
            }
        }
        SelfPipe::route(&routed)
    }

    /// Installs the handlers for `routed` (each a Stop, Status, Child or Bus) and opens
    /// the pipe they write to.
    fn route(routed: &[(Signo, Treatment)]) -> Result<SelfPipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .wrap_err("creating the signal self-pipe")?;
        WRITE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
        let stops: Vec<Signo> = routed
            .iter()
            .filter(|&&(_, t)| t.stops())
            .map(|&(s, _)| s)
            .collect();
        for &(signal, treatment) in routed {
            let handler: extern "C" fn(libc::c_int) = match treatment {
                Treatment::Stop => on_stop,
                Treatment::Status | Treatment::Child => on_signal,
                // Its handler is sigbus.rs's, which passes a sent one on as a stop.
                Treatment::Bus => {
                    crate::os::sigbus::arm_with_stop(forward_stop);
                    continue;
                }
                Treatment::Ignore | Treatment::CoreDump => continue,
            };
            set_disposition(signal, handler as libc::sighandler_t)
                .wrap_err_with(|| format!("installing a handler for {signal}"))?;
        }
        let handled: Vec<Signo> = routed.iter().map(|&(s, _)| s).collect();
        unblock(&handled)?;
        Ok(SelfPipe {
            read,
            _write: write,
            stops,
            stop: Cell::new(None),
            status: Cell::new(false),
            hurry: Cell::new(false),
        })
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
        if let (None, Some(signal)) = (self.stop.get(), pending.stop_signal()) {
            self.stop.set(Some(signal));
        }
        if pending.has(SIGUSR1) {
            self.status.set(true);
        }
        pending
    }
}

/// Unblocks `signals` in the calling thread. The signal mask survives `exec`: a parent
/// that blocked SIGTERM (a script's `pthread_sigmask` before `execv`, a careless service
/// manager) would leave it pending for ever and us deaf to it. Called from the main
/// thread with the handlers already installed, so a signal that was pending reaches our
/// handler now, and every thread started later inherits the mask (the watchdog then
/// blocks everything for itself, on purpose).
pub fn unblock(signals: &[Signo]) -> Result<()> {
    // SAFETY: a plain C struct, initialised by sigemptyset before any other use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for &signal in signals {
        // SAFETY: `set` is an initialised sigset_t; a number it cannot hold is refused
        // with -1, which we report.
        if unsafe { libc::sigaddset(&mut set, signal.raw()) } != 0 {
            return Err(Errno::last()).wrap_err_with(|| format!("adding {signal} to a set"));
        }
    }
    // SAFETY: `set` is an initialised sigset_t; the old mask is not wanted (null).
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        // pthread_sigmask returns the error number rather than setting errno.
        return Err(Errno::from_raw(rc)).wrap_err("unblocking the signals we handle");
    }
    Ok(())
}

/// Ignores `signal` (`SIG_IGN`, which also survives `exec`).
fn ignore(signal: Signo) -> Result<()> {
    set_disposition(signal, libc::SIG_IGN).wrap_err_with(|| format!("ignoring {signal}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A signal's default action, as signal(7) lists it for x86 and ARM Linux.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Action {
        Term,
        Core,
        Ign,
        Stop,
        Cont,
    }

    /// signal(7)'s table, 1..=31 (32 and up are real-time signals, default Term).
    const DEFAULTS: [(i32, &str, Action); 31] = {
        use Action::*;
        [
            (1, "SIGHUP", Term),
            (2, "SIGINT", Term),
            (3, "SIGQUIT", Core),
            (4, "SIGILL", Core),
            (5, "SIGTRAP", Core),
            (6, "SIGABRT", Core),
            (7, "SIGBUS", Core),
            (8, "SIGFPE", Core),
            (9, "SIGKILL", Term),
            (10, "SIGUSR1", Term),
            (11, "SIGSEGV", Core),
            (12, "SIGUSR2", Term),
            (13, "SIGPIPE", Term),
            (14, "SIGALRM", Term),
            (15, "SIGTERM", Term),
            (16, "SIGSTKFLT", Term),
            (17, "SIGCHLD", Ign),
            (18, "SIGCONT", Cont),
            (19, "SIGSTOP", Stop),
            (20, "SIGTSTP", Stop),
            (21, "SIGTTIN", Stop),
            (22, "SIGTTOU", Stop),
            (23, "SIGURG", Ign),
            (24, "SIGXCPU", Core),
            (25, "SIGXFSZ", Core),
            (26, "SIGVTALRM", Term),
            (27, "SIGPROF", Term),
            (28, "SIGWINCH", Ign),
            (29, "SIGIO", Term),
            (30, "SIGPWR", Term),
            (31, "SIGSYS", Core),
        ]
    };

    /// The default action of signal `n` (1..=SIGRTMAX).
    fn default_of(n: i32) -> Action {
        match DEFAULTS.iter().find(|&&(m, _, _)| m == n) {
            Some(&(_, _, d)) => d,
            None => Action::Term,
        }
    }

    #[test]
    fn the_table_of_default_actions_names_the_signals_this_system_numbers() {
        for (n, name, _) in DEFAULTS {
            assert_eq!(super::name(n).as_deref(), Some(name), "signal {n}");
        }
        assert_eq!(libc::SIGRTMAX(), 64, "Linux on x86 and ARM");
    }

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
        assert_eq!(Signo::new(min + 2).to_string(), "SIGRTMIN+2");
        assert_eq!(Signo::new(32).to_string(), "signal 32");
    }

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

    #[test]
    fn every_signal_whose_default_kills_is_decided_for_both_roles() {
        let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        for (role, policy) in [("primary", PRIMARY), ("secondary", SECONDARY)] {
            for n in 1..=rtmax {
                let fatal = matches!(default_of(n), Action::Term | Action::Core);
                let decided = policy.treatment(Signo::new(n));
                // SIGKILL cannot be caught; the C library keeps 32..SIGRTMIN for itself.
                let undecidable = n == libc::SIGKILL || (32..rtmin).contains(&n);
                if undecidable {
                    assert_eq!(decided, None, "{role}: {} cannot be decided", Signo::new(n));
                } else if fatal {
                    assert!(
                        decided.is_some(),
                        "{role}: {} is not decided",
                        Signo::new(n)
                    );
                }
                let n_decisions = policy.decisions().filter(|&(s, _)| s.raw() == n).count();
                assert!(n_decisions <= 1, "{role}: {} decided twice", Signo::new(n));
            }
            // The exceptions, left to their core dump: a debugging aid, or a crash.
            let core: Vec<String> = policy
                .decisions()
                .filter(|&(_, t)| t == Treatment::CoreDump)
                .map(|(s, _)| s.to_string())
                .collect();
            assert_eq!(
                core,
                [
                    "SIGQUIT", "SIGTRAP", "SIGSYS", "SIGSEGV", "SIGILL", "SIGFPE", "SIGABRT"
                ],
                "{role}"
            );
            assert_eq!(policy.treatment(SIGBUS.into()), Some(Treatment::Bus));
        }
    }

    #[test]
    fn the_secondary_takes_as_sigterm_what_the_primary_stops_on_but_group_signals() {
        // What a terminal or `timeout` sends to the whole group reaches the primary too,
        // which stops the secondary in order: the secondary ignores it.
        let group = [SIGINT, SIGHUP, SIGALRM].map(Signo::from);
        for (signal, treatment) in PRIMARY.decisions() {
            let theirs = SECONDARY.treatment(signal);
            let expected = match treatment {
                Treatment::Stop if group.contains(&signal) => Treatment::Ignore,
                Treatment::Status => Treatment::Ignore,
                Treatment::Child => continue,
                t => t,
            };
            assert_eq!(theirs, Some(expected), "{signal}");
        }
        assert!(
            SECONDARY
                .decisions()
                .all(|(s, _)| PRIMARY.treatment(s).is_some()),
            "the secondary decides nothing the primary does not"
        );
    }
}
