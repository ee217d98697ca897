//! The processes the bench forks or pins: the floors' forked child, CPU-0 pinning for the
//! same-core rows, and the CPU-bound loops of the "busy" rows.

use std::hint::black_box;

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork};

/// A forked child, killed and reaped if the parent leaves early (a panic).
pub(super) struct Forked(Option<Pid>);

impl Forked {
    /// Forks; the child runs `child` (which must only make async-signal-safe calls)
    /// and `_exit`s with its result.
    pub(super) fn spawn(child: impl FnOnce() -> i32) -> Forked {
        // SAFETY: the child only runs `child`, which by contract makes async-signal-safe
        // calls and allocates nothing, then `_exit`s without running destructors or atexit.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = child();
                // SAFETY: _exit is async-signal-safe and never returns.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => Forked(Some(child)),
        }
    }

    pub(super) fn wait(mut self) {
        if let Some(pid) = self.0.take() {
            let status = waitpid(pid, None).expect("waitpid");
            assert!(
                matches!(status, nix::sys::wait::WaitStatus::Exited(_, 0)),
                "baseline child ended with {status:?}"
            );
        }
    }
}

impl Drop for Forked {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
    }
}

/// Pins this process (and the children it forks or spawns from now on) to CPU 0 while
/// alive; restores the previous affinity on drop.
pub(super) struct Pinned(CpuSet);

impl Pinned {
    pub(super) fn cpu0() -> Pinned {
        let before = sched_getaffinity(Pid::from_raw(0)).expect("sched_getaffinity");
        let mut one = CpuSet::new();
        one.set(0).expect("CPU 0");
        sched_setaffinity(Pid::from_raw(0), &one).expect("sched_setaffinity");
        Pinned(before)
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = sched_setaffinity(Pid::from_raw(0), &self.0);
    }
}

/// Seconds of CLOCK_MONOTONIC. Async-signal-safe (a forked child may call it).
pub(super) fn monotonic_s() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into; clock_gettime is async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec
}

/// CPU-bound processes for the "busy" rows: each spins until killed or for at most
/// `limit_s` seconds (so an aborted bench leaves nothing running). Killed on drop.
pub(super) struct Busy {
    /// Held only to be dropped: `Forked`'s drop kills and reaps each loop.
    _loops: Vec<Forked>,
}

impl Busy {
    pub(super) fn start(n: usize, limit_s: i64) -> Busy {
        Busy {
            _loops: (0..n)
                .map(|_| {
                    Forked::spawn(|| {
                        let until = monotonic_s() + limit_s;
                        let mut x = 0u64;
                        while monotonic_s() < until {
                            for _ in 0..100_000 {
                                x = black_box(x.wrapping_add(1));
                            }
                        }
                        0
                    })
                })
                .collect(),
        }
    }
}
