//! A handle on a process that is not our child: `pidfd_open(2)` pins the process itself,
//! so a signal sent through the handle can never reach another process that reused its
//! pid, and the handle turns readable when the process exits (no `/proc` polling).
//!
//! Only a parent can rely on a pid (its unreaped child's pid is never reused); `osps stop`
//! and `osps cleanup` signal processes they did not start, found through `/proc`. They open
//! a handle first, check that the pid still names the process they identified (after the
//! open, the check is about the pinned process), and only then signal through the handle.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;

/// An open handle on a live process.
#[derive(Debug)]
pub struct Process {
    pid: i32,
    fd: OwnedFd,
}

impl Process {
    /// Opens a handle on `pid`; `Ok(None)` when no such process exists (any more).
    pub fn open(pid: i32) -> Result<Option<Process>> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; it
        // touches no memory of ours.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return match Errno::last() {
                Errno::ESRCH => Ok(None),
                e => Err(e).wrap_err_with(|| {
                    format!("pidfd_open({pid}) (Linux 5.3 or later is needed to signal safely)")
                }),
            };
        }
        // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(Some(Process { pid, fd }))
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signal` to the pinned process; one that already exited is not an error.
    pub fn signal(&self, signal: Signal) -> Result<()> {
        // SAFETY: pidfd_send_signal with our open pidfd, a valid signal number, no siginfo
        // (NULL) and no flags.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                signal as libc::c_int,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        match r {
            0 => Ok(()),
            _ => match Errno::last() {
                Errno::ESRCH => Ok(()),
                e => Err(e).wrap_err_with(|| format!("sending {signal} to process {}", self.pid)),
            },
        }
    }

    /// Whether it exited (a zombie counts as exited), waiting up to `timeout`.
    pub fn exited_within(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = u16::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(n) if n > 0 => return true,
                Ok(_) if left.is_zero() => return false,
                Ok(_) | Err(Errno::EINTR) => {}
                // A pidfd that cannot be polled: fall back to what /proc says.
                Err(_) => return !crate::os::procfs::alive(self.pid),
            }
        }
    }
}

/// Waits until every one of `procs` exited; false if one still runs after `timeout`.
pub fn all_exited_within(procs: &[Process], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    procs
        .iter()
        .all(|p| p.exited_within(deadline.saturating_duration_since(Instant::now())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_signals_and_sees_the_exit_of_its_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let p = Process::open(child.id() as i32).unwrap().unwrap();
        assert!(!p.exited_within(Duration::from_millis(20)));
        p.signal(Signal::SIGKILL).unwrap();
        assert!(p.exited_within(Duration::from_secs(5)));
        child.wait().unwrap();
        // Reaped: the pinned process is gone, and signalling it is still not an error.
        p.signal(Signal::SIGTERM).unwrap();
    }

    #[test]
    fn no_handle_on_a_pid_that_does_not_exist() {
        // 2^22 + 1 is above Linux's pid_max.
        assert!(Process::open(4_194_305).unwrap().is_none());
    }
}
