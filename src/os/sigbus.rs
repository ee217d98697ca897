//! Surviving a segment truncated under our feet.
//!
//! If another process shrinks the shared object while we have it mapped, touching a
//! page past the new end raises SIGBUS, which would kill us. We install a SIGBUS
//! handler that, for a fault inside a registered mapping, maps a private zero page over
//! the faulting page (so the access completes, reading zeros) and raises a flag. The
//! code that touched the segment then checks [`faults`] and reports a clear error.
//! A fault anywhere else restores the default action, so real bugs still crash loudly.
//!
//! A SIGBUS sent by a process (`kill -BUS`: `si_code` <= 0, and no faulting address,
//! the field holds the sender's pid and uid instead) is no fault at all: the handler
//! leaves itself installed and passes it on to the main loop as a request to stop in
//! order, as SIGTERM is (`signals/handler.rs`).

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

const SLOTS: usize = 8;
static BASES: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static LENS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static FAULTS: AtomicUsize = AtomicUsize::new(0);
/// The page size, read once at install so the handler makes no library call for it.
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
/// What a SIGBUS sent by a process turns into: a `fn(signal) -> bool` set by whoever owns
/// the process's signal policy ([`arm_with_stop`]), 0 while none is. The handler loads it
/// (Acquire, pairing with the Release store) and calls it.
static SENT: AtomicUsize = AtomicUsize::new(0);

/// A registered mapping; dropping it unregisters the range.
#[derive(Debug)]
pub struct Guard {
    slot: Option<usize>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            LENS[i].store(0, Ordering::SeqCst);
            BASES[i].store(0, Ordering::SeqCst);
        }
    }
}

/// Protects `len` bytes at `base` from SIGBUS. If all slots are taken the mapping is
/// simply unprotected (a fault then kills the process, as without this module).
pub fn protect(base: *const u8, len: usize) -> Guard {
    arm();
    for i in 0..SLOTS {
        if BASES[i]
            .compare_exchange(0, base as usize, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            LENS[i].store(len, Ordering::SeqCst);
            return Guard { slot: Some(i) };
        }
    }
    Guard { slot: None }
}

/// How many faults were absorbed in this process so far (one atomic load). A mapping
/// that lost pages stays broken, so callers compare counts rather than reset a flag.
pub fn faults() -> usize {
    FAULTS.load(Ordering::SeqCst)
}

/// Installs the handler, once per process: by [`protect`], and by the signal policy at
/// start, so that a `kill -BUS` before the segment exists is a stop, too.
pub fn arm() {
    INSTALL.call_once(install);
}

/// Arms the handler, and hands every SIGBUS sent by a process (`kill -BUS`, not a fault)
/// to `stop`, which must be async-signal-safe and return whether it took the signal as a
/// request to stop. Whoever owns the signal policy calls this; this module names none.
pub fn arm_with_stop(stop: fn(libc::c_int) -> bool) {
    SENT.store(stop as usize, Ordering::Release);
    arm();
}

/// The hook of [`arm_with_stop`] on `signal`: false when none is set or it refused.
fn pass_sent(signal: libc::c_int) -> bool {
    let hook = SENT.load(Ordering::Acquire);
    if hook == 0 {
        return false;
    }
    // SAFETY: the only non-zero value ever stored in SENT is a `fn(c_int) -> bool`
    // converted to usize by arm_with_stop; converting it back gives that function.
    let stop: fn(libc::c_int) -> bool = unsafe { std::mem::transmute(hook) };
    stop(signal)
}

fn install() {
    if let Ok(page) = usize::try_from(crate::units::page_size()) {
        if page.is_power_of_two() {
            PAGE.store(page, Ordering::SeqCst);
        }
    }
    // SA_RESTART for a SIGBUS sent by a process, which arrives at any moment as our
    // other handled signals do (a fault happens only at the access it interrupts).
    let action = SigAction::new(
        SigHandler::SigAction(on_sigbus),
        SaFlags::SA_SIGINFO | SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler touches only atomics and makes only async-signal-safe calls
    // (mmap, signal, write). If installing fails we are merely unprotected; nothing else
    // depends on it.
    let _ = unsafe { sigaction(Signal::SIGBUS, &action) };
}

extern "C" fn on_sigbus(signal: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for SA_SIGINFO handlers.
    let code = unsafe { (*info).si_code };
    // Sent by a process (SI_USER from kill, SI_QUEUE, SI_TKILL...: the kernel's own
    // codes are positive). Its si_addr is no address, and nothing faulted: keep the
    // handler for a truncation to come, and ask for the orderly stop, as SIGTERM does.
    if code <= 0 {
        if !pass_sent(signal) {
            // No main loop to stop in order (inspect, top): the signal's own default,
            // as if we had no handler.
            // SAFETY: signal(2) and raise(3) are async-signal-safe; SIG_DFL is valid.
            unsafe {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
                libc::raise(libc::SIGBUS);
            }
        }
        return;
    }
    // SAFETY: as above; for a fault (si_code > 0), si_addr is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    for i in 0..SLOTS {
        let base = BASES[i].load(Ordering::SeqCst);
        let len = LENS[i].load(Ordering::SeqCst);
        if base != 0 && addr >= base && addr < base.saturating_add(len) {
            // SAFETY: mmap is a plain syscall (async-signal-safe in practice);
            // the page lies inside a mapping we own and registered, so replacing it with
            // an anonymous page affects nothing but that mapping.
            unsafe {
                let page = PAGE.load(Ordering::SeqCst);
                let start = addr & !(page - 1);
                let p = libc::mmap(
                    start as *mut libc::c_void,
                    page,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                );
                if p != libc::MAP_FAILED {
                    FAULTS.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        }
    }
    // Not ours: let the default action (terminate with a core dump) happen on return.
    // SAFETY: signal() with SIG_DFL is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
}
