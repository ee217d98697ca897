//! The stop signals to the audit ([`STOP_SIGNALS`]), and a periodic SIGALRM, all without
//! SA_RESTART: the tracer sleeps in waitpid(2), and each of these signals interrupts it
//! (EINTR), so it can look at the clock (grace, --timeout) and at a stop request. The timer repeats
//! every 20 ms, so a signal that arrives just before waitpid is entered costs at most
//! one period, never a hang. SIGUSR1 and SIGUSR2, which a program may send its whole
//! process group (the audit's too), are caught and ignored.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use color_eyre::eyre::{Result, eyre};

/// The signals that stop the audit (after its report, with 128 + the signal).
pub const STOP_SIGNALS: [i32; 4] = [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM];

/// The stop signal that arrived (0: none). Relaxed is enough: the flag is only read
/// after waitpid returned, in the same thread the handler ran in.
static STOP: AtomicI32 = AtomicI32::new(0);
/// How many stop signals arrived: a second one from the user means "now".
static COUNT: AtomicI32 = AtomicI32::new(0);

/// Who sent the last stop signal (si_pid: 0 for the terminal's Ctrl-C).
static SENDER: AtomicI32 = AtomicI32::new(0);

/// When the first and the last stop signal arrived (CLOCK_MONOTONIC, nanoseconds): how
/// far apart they came, whatever the tracer was doing meanwhile.
static FIRST_AT: AtomicU64 = AtomicU64::new(0);
static LAST_AT: AtomicU64 = AtomicU64::new(0);

/// CLOCK_MONOTONIC in nanoseconds (clock_gettime is async-signal-safe); 0 if unreadable.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the time into our local.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) } != 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

extern "C" fn on_stop(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t; si_pid is a plain read.
    let sender = unsafe { info.as_ref().map_or(0, |i| i.si_pid()) };
    SENDER.store(sender, Ordering::Relaxed);
    STOP.store(signal, Ordering::Relaxed);
    let now = monotonic_ns();
    if COUNT.fetch_add(1, Ordering::Relaxed) == 0 {
        FIRST_AT.store(now, Ordering::Relaxed);
    }
    LAST_AT.store(now, Ordering::Relaxed);
}

/// How long after the first stop signal the last one arrived.
pub fn last_after_first() -> std::time::Duration {
    let (first, last) = (
        FIRST_AT.load(Ordering::Relaxed),
        LAST_AT.load(Ordering::Relaxed),
    );
    std::time::Duration::from_nanos(last.saturating_sub(first))
}

/// The pid that sent the stop signal, if a process did (not the kernel, not Ctrl-C).
pub fn sender() -> Option<i32> {
    match SENDER.load(Ordering::Relaxed) {
        0 => None,
        p => Some(p),
    }
}

/// Forgets a stop signal that was not meant for the audit: the program's own `kill 0`
/// (a shell script's `trap 'kill 0' EXIT`) reaches the audit, which shares its group.
pub fn forget() {
    STOP.store(0, Ordering::Relaxed);
    COUNT.store(0, Ordering::Relaxed);
    SENDER.store(0, Ordering::Relaxed);
}

/// How many stop signals arrived so far (the tracer tells whose they were, see
/// `Tracer::insisted`).
pub fn count() -> i32 {
    COUNT.load(Ordering::Relaxed)
}

extern "C" fn on_tick(_: libc::c_int) {}

/// The stop signal received so far, if any.
pub fn stop_signal() -> Option<i32> {
    match STOP.load(Ordering::Relaxed) {
        0 => None,
        s => Some(s),
    }
}

fn set_handler(signal: libc::c_int, handler: usize, flags: libc::c_int) -> Result<()> {
    // SAFETY: sigaction is plain data; all-zero is a valid start (empty mask, no
    // SA_RESTART, on purpose).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = flags;
    // SAFETY: `action` is initialised; the handlers only store to an atomic, which is
    // async-signal-safe.
    if unsafe { libc::sigaction(signal, &raw const action, std::ptr::null_mut()) } == -1 {
        return Err(eyre!(
            "installing a handler for signal {signal}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Whether `signal` is ignored (SIG_IGN) now.
fn ignored(signal: libc::c_int) -> Result<bool> {
    // SAFETY: all-zero is a valid sigaction for the kernel to write into.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`.
    if unsafe { libc::sigaction(signal, std::ptr::null(), &raw mut old) } == -1 {
        return Err(eyre!(
            "reading how signal {signal} is handled: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(old.sa_sigaction == libc::SIG_IGN)
}

/// Installs the handlers and starts the periodic timer.
pub fn install() -> Result<()> {
    type Stop = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);
    type Tick = extern "C" fn(libc::c_int);
    let stop = on_stop as Stop as usize;
    // SIGHUP (a closed terminal hangs up the whole group) and SIGQUIT (Ctrl-\) stop the
    // audit as SIGTERM does: by their default action the audit would die without its
    // report, and through PTRACE_O_EXITKILL take the program with it before the
    // program's own handler ran.
    // One ignored when the audit started (`nohup`, a script's `CMD &`) stays ignored, for
    // the audit and, across exec, for the program, as a shell leaves it.
    for signal in STOP_SIGNALS {
        if !ignored(signal)? {
            set_handler(signal, stop, libc::SA_SIGINFO)?;
        }
    }
    set_handler(libc::SIGALRM, on_tick as Tick as usize, 0)?;
    // A program tells all its children at once with kill(0, SIGUSR1): the audit, in its
    // process group, gets the signal too, and its default action would end the audit
    // and, through PTRACE_O_EXITKILL, the program. A handler, not SIG_IGN, which the
    // program would inherit across exec.
    for ignored in [libc::SIGUSR1, libc::SIGUSR2] {
        set_handler(ignored, on_tick as Tick as usize, libc::SA_RESTART)?;
    }
    let period = libc::timeval {
        tv_sec: 0,
        tv_usec: 20_000,
    };
    let timer = libc::itimerval {
        it_interval: period,
        it_value: period,
    };
    // SAFETY: setitimer reads `timer`; the old value is not wanted.
    if unsafe { libc::setitimer(libc::ITIMER_REAL, &raw const timer, std::ptr::null_mut()) } == -1 {
        return Err(eyre!(
            "starting a timer: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
