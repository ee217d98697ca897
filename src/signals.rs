//! Signals, the self-pipe way: a handler may do almost nothing safely, so ours writes
//! one byte (the signal number) into a non-blocking, close-on-exec pipe. The main loop
//! `poll`s the read end together with its FIFO, and learns about SIGINT, SIGTERM and
//! SIGCHLD at the exact point where it can act on them.
//!
//! The pipe object also remembers a stop request: once a drain has seen SIGINT or SIGTERM,
//! [`SelfPipe::stop_requested`] says so for the rest of the run, so no function has to
//! carry a "stop" flag back to its caller.
//!
//! SIGPIPE is ignored, so writing to a FIFO whose reader died returns `EPIPE` instead
//! of killing us, and a closed stdout (`osps inspect | head`) is an error we can handle.

use std::cell::Cell;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use color_eyre::eyre::{Result, WrapErr};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
/// Set by the handler: lets a busy loop notice a signal with one load, no syscall.
static ARRIVED: AtomicBool = AtomicBool::new(false);

/// Whether a signal arrived since the last [`SelfPipe::drain`] (one atomic load).
pub fn arrived() -> bool {
    ARRIVED.load(Ordering::Relaxed)
}

extern "C" fn on_signal(signal: libc::c_int) {
    ARRIVED.store(true, Ordering::Relaxed);
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

    /// SIGINT or SIGTERM: the user asked us to stop.
    pub fn stop(&self) -> bool {
        self.has(Signal::SIGINT) || self.has(Signal::SIGTERM)
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
    /// A drain saw SIGINT or SIGTERM. Not an
    /// atomic: only the thread that drains reads it, the handler never touches it.
    stop: Cell<bool>,
}

impl Drop for SelfPipe {
    fn drop(&mut self) {
        // The handler must never write to a descriptor number that may be reused.
        WRITE_FD.store(-1, Ordering::Relaxed);
    }
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
            stop: Cell::new(false),
        })
    }

    /// The descriptor to `poll` for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Whether a stop was asked for (SIGINT or SIGTERM seen by a drain so far).
    pub fn stop_requested(&self) -> bool {
        self.stop.get()
    }

    /// Empties the pipe and says which signals arrived; a SIGINT or SIGTERM among them is
    /// also remembered (see [`Self::stop_requested`]).
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
        if pending.stop() {
            self.stop.set(true);
        }
        pending
    }
}

/// Ignores `signal` (SIGPIPE in every process; SIGINT in the secondary).
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
    fn pending_is_a_set_of_signals() {
        let mut p = Pending::default();
        assert!(!p.stop() && !p.child());
        p.add(libc::SIGCHLD);
        assert!(p.child() && !p.stop());
        p.add(libc::SIGTERM);
        assert!(p.stop() && p.has(Signal::SIGTERM) && !p.has(Signal::SIGINT));
        p.add(0);
        p.add(200);
        assert!(!p.has(Signal::SIGHUP));
    }
}
