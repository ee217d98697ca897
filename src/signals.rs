//! Signals, the self-pipe way: a handler may do almost nothing safely, so ours writes
//! one byte (the signal number) into a non-blocking, close-on-exec pipe. The main loop
//! `poll`s the read end together with its FIFO, and learns about SIGINT, SIGTERM and
//! SIGCHLD at the exact point where it can act on them.
//!
//! SIGPIPE is ignored, so writing to a FIFO whose reader died returns `EPIPE` instead
//! of killing us, and a closed stdout (`osps inspect | head`) is an error we can handle.

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

/// The signals seen since the last [`SelfPipe::drain`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    pub interrupt: bool,
    pub terminate: bool,
    pub child: bool,
}

impl Pending {
    /// SIGINT or SIGTERM: the user asked us to stop.
    pub fn stop(&self) -> bool {
        self.interrupt || self.terminate
    }
}

/// The read end of the self-pipe; the write end lives in the handler's static.
#[derive(Debug)]
pub struct SelfPipe {
    read: OwnedFd,
    _write: OwnedFd,
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
        })
    }

    /// The descriptor to `poll` for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Empties the pipe and says which signals arrived.
    pub fn drain(&self) -> Pending {
        ARRIVED.store(false, Ordering::Relaxed);
        let mut pending = Pending::default();
        let mut buf = [0u8; 64];
        loop {
            match nix::unistd::read(&self.read, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    for &b in &buf[..n] {
                        match i32::from(b) {
                            libc::SIGINT => pending.interrupt = true,
                            libc::SIGTERM => pending.terminate = true,
                            libc::SIGCHLD => pending.child = true,
                            _ => {}
                        }
                    }
                }
            }
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
