//! Installing a policy: setting each signal's disposition (through libc, whose real-time
//! signals nix cannot name), keeping the conventions a policy must not break (`nohup`'s
//! ignored SIGHUP, a profiler's handler), unblocking what we handle, and opening the
//! self-pipe the handlers of `handler.rs` write to. It builds the [`SelfPipe`] of
//! `pipe.rs` from the decisions of `policy.rs`; neither imports this file.

use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use color_eyre::eyre::{Result, WrapErr};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::signal::Signal::SIGHUP;

use super::handler::{WRITE_FD, forward_stop, on_signal, on_stop};
use super::pipe::SelfPipe;
use super::policy::{Policy, Signo, Treatment};

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

    /// Applies a policy ([`PRIMARY`](super::PRIMARY) or [`SECONDARY`](super::SECONDARY)):
    /// ignores what it ignores and routes the rest into a new self-pipe. Two conventions
    /// are kept: a SIGHUP that was ignored when we started (`nohup osps primary`) stays
    /// ignored, and a signal to ignore that already has a handler (a profiler loaded
    /// before `main`) keeps it.
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
            first_stop_at: Cell::new(None),
        })
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
