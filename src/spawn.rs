//! Starting the secondary and reaping it: the lab's fork + exec + wait, in one place.
//!
//! The primary re-executes its own binary through `/proc/self/exe` (never a path looked
//! up in `PATH`) as `osps secondary ...`. Between fork and exec, in the child, we:
//! - ignore SIGINT, so the terminal's Ctrl-C (sent to the whole foreground process group)
//!   cannot kill the secondary before the primary's orderly stop;
//! - ask for SIGTERM when the parent dies (`PR_SET_PDEATHSIG`), and check `getppid()`
//!   for the race where the parent died before that request.
//!
//! Every descriptor of the primary is close-on-exec (Rust's default, and `O_CLOEXEC` on
//! our own opens), so only stdin/stdout/stderr cross the exec: never the lock.
//!
//! Reaping: a dead child stays a zombie until its parent calls `waitpid`. The primary
//! always waits for its secondary, with a deadline after which it kills it first.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::signals::SelfPipe;

/// Starts `osps secondary` with `args`.
pub fn secondary(args: &[String]) -> Result<Child> {
    let parent = std::process::id() as libc::pid_t;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0("osps")
        .arg("secondary")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (signal, prctl, getppid, close_range, _exit); it
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // Descriptors our own parent leaked to us (not close-on-exec) must not reach the
            // secondary either: only stdin, stdout and stderr cross the exec. A kernel
            // without close_range (before 5.11) merely skips this extra care.
            let (first, last) = (3 as libc::c_uint, libc::c_uint::MAX);
            let cloexec = libc::CLOSE_RANGE_CLOEXEC;
            libc::syscall(libc::SYS_close_range, first, last, cloexec);
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    cmd.spawn()
        .wrap_err("starting the secondary (re-executing /proc/self/exe)")
}

/// How a process ended, for people: "exited with status 1", "killed by signal 9 (SIGKILL)".
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        format!("exited with status {code}")
    } else if let Some(sig) = status.signal() {
        let name = nix::sys::signal::Signal::try_from(sig).map_or("?", |s| s.as_str());
        format!("killed by signal {sig} ({name})")
    } else {
        format!("ended with {status}")
    }
}

/// Waits until `child` exits or `deadline` passes (woken by SIGCHLD through `sigs`).
/// `Ok(None)`: still running at the deadline. Other signals stay noted in `stop`.
pub fn wait_until(
    child: &mut Child,
    deadline: Instant,
    sigs: &SelfPipe,
    stop: &mut bool,
) -> Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait().wrap_err("waiting for the secondary")? {
            return Ok(Some(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        // Wake at SIGCHLD; also re-check every 50 ms in case the signal raced our check.
        let ms = left.min(Duration::from_millis(50)).as_millis().max(1) as u16;
        let mut fds = [PollFd::new(sigs.fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(ms));
        *stop |= sigs.drain().stop();
    }
}

/// Kills `child` (SIGKILL) and reaps it.
pub fn kill_and_reap(child: &mut Child) -> Result<ExitStatus> {
    // kill fails only if it already exited, which wait() then reports.
    let _ = child.kill();
    child.wait().wrap_err("reaping the secondary")
}
