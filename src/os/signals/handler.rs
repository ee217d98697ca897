//! The signal side of the self-pipe: the handlers themselves and the statics they touch.
//! A handler may do almost nothing safely, so ours store to an atomic and write one byte
//! (the signal number) to the pipe's write end, whose number sits in [`WRITE_FD`].
//! `install.rs` points the dispositions here; `pipe.rs` reads the bytes and clears
//! [`ARRIVED`]. This file imports nothing of its neighbours.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::errno::Errno;

pub(super) static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
/// Set by the handler: lets a busy loop notice a signal with one load, no syscall.
pub(super) static ARRIVED: AtomicBool = AtomicBool::new(false);

/// Set by the handler when a stop signal arrives, and never cleared: a stop is final.
static STOP_ARRIVED: AtomicBool = AtomicBool::new(false);

/// Whether a signal arrived since the last [`SelfPipe::drain`](super::SelfPipe::drain) (one
/// atomic load).
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
pub(super) extern "C" fn on_signal(signal: libc::c_int) {
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
pub(super) extern "C" fn on_stop(signal: libc::c_int) {
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
