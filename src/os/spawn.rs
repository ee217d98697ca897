//! Starting the secondary and reaping it: the lab's fork + exec + wait, in one place.
//!
//! The primary forks and re-executes its own binary through `/proc/self/exe` (never a
//! path looked up in `PATH`) as `osps secondary ...`. Between fork and exec, in the child:
//! - stdin and stdout come from /dev/null (stderr stays shared);
//! - ignore SIGINT, SIGHUP, SIGALRM and SIGUSR1, so the terminal's Ctrl-C or hang-up
//!   (sent to the whole foreground process group) cannot kill the secondary before the
//!   primary's orderly stop (see `signals/mod.rs`);
//! - ask for SIGTERM when the parent dies (`PR_SET_PDEATHSIG`), and check `getppid()`
//!   for the race where the parent died before that request.
//!
//! Every other descriptor is marked close-on-exec (Rust's default, `O_CLOEXEC` on our own
//! opens, and `close_range` for any leaked to us), so only stdin/stdout/stderr cross the
//! exec: never the lock.
//!
//! Reaping: a dead child stays a zombie until its parent calls `waitpid`. The primary
//! always waits for its secondary, with a deadline after which it kills it first (in
//! adaptive mode it first looks for up to `--spin` without sleeping: after the secondary
//! acknowledged a Stop its exit is due at once). With
//! `--trace` or `--hold-zombie` it first sees the exit with `waitid(WNOWAIT)`, which
//! leaves the child a zombie, so the zombie can be shown (and held) before the reap.

use std::ffi::{CString, OsString};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::unistd::{ForkResult, Pid};

use crate::clock::monotonic_ns;
use crate::os::signals::SelfPipe;

/// A started secondary, reaped with `waitpid`. (Not `std::process::Child`: its `spawn`
/// waits until the child has exec'd, so a child stopped between fork and exec would
/// block the primary with it; here the primary never waits for the child unbounded.)
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    status: Option<ExitStatus>,
    /// When we first saw it exited, still unreaped (a zombie): traced runs and `--hold-zombie`.
    exit_seen_ns: Option<u64>,
    /// `--hold-zombie`: how long to leave it a zombie before reaping it.
    hold: Option<Duration>,
}

impl Child {
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// With `--hold-zombie`: leave it a zombie that long after it exits, before the reap.
    pub fn hold_zombie(&mut self, hold: Option<Duration>) {
        self.hold = hold;
    }

    fn wait_with(&mut self, nohang: bool) -> std::io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        // To show the zombie (traced, or held), see the exit before reaping it.
        if (crate::trace::on() || self.hold.is_some()) && !self.exited(nohang)? {
            return Ok(None);
        }
        let flags = if nohang { libc::WNOHANG } else { 0 };
        loop {
            let mut raw: libc::c_int = 0;
            // SAFETY: waitpid(2) on our own child, writing its status into a local int.
            let reaped = unsafe { libc::waitpid(self.pid, &mut raw, flags) };
            match reaped {
                0 => return Ok(None),
                r if r < 0 => match Errno::last() {
                    Errno::EINTR => continue,
                    e => return Err(e.into()),
                },
                _ => {}
            }
            // It ended and the kernel has reaped it: its status, whatever signal ended
            // it, is all we will ever know. (A stop or a continue is reported only with
            // WUNTRACED or WCONTINUED, which we do not ask for.)
            let Some(status) = ended(raw) else {
                continue;
            };
            self.status = Some(status);
            crate::trace!(
                "reaped",
                pid = self.pid,
                status = describe(status),
                how = "waitpid",
                zombie_us = self
                    .exit_seen_ns
                    .map_or(0, |seen| monotonic_ns().saturating_sub(seen) / 1000)
            );
            return Ok(Some(status));
        }
    }

    /// Whether it has exited, without reaping it: `waitid` with `WNOWAIT` leaves it a
    /// zombie (and waits for the exit unless `nohang`). The first time, it traces the
    /// zombie and holds it for `--hold-zombie`.
    fn exited(&mut self, nohang: bool) -> std::io::Result<bool> {
        if self.exit_seen_ns.is_some() {
            return Ok(true);
        }
        let mut flags = libc::WEXITED | libc::WNOWAIT;
        if nohang {
            flags |= libc::WNOHANG;
        }
        loop {
            // SAFETY: siginfo_t is a plain C struct for which all-zero is valid; it must
            // start zeroed, since with WNOHANG and no exit yet waitid leaves it so.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: waitid(2) on our own child, writing into a local siginfo_t.
            let rc = unsafe { libc::waitid(libc::P_PID, self.pid as libc::id_t, &mut info, flags) };
            if rc < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    e => return Err(e.into()),
                }
            }
            // Only whether it exited matters here, not how (the reap reads that), so any
            // signal number is fine. SAFETY: waitid filled the SIGCHLD fields, or left
            // the whole struct zeroed (si_pid 0: nothing exited yet).
            if unsafe { info.si_pid() } == 0 {
                return Ok(false);
            }
            break;
        }
        self.exit_seen_ns = Some(monotonic_ns());
        let state = || crate::os::procfs::state(self.pid).unwrap_or('-');
        crate::trace!(
            "exit_seen",
            pid = self.pid,
            state = format_args!("{}", state()),
            how = "waitid(WEXITED|WNOWAIT)"
        );
        if let Some(hold) = self.hold.filter(|_| crate::os::signals::stop_arrived()) {
            // The hold gives way to a request to stop (below): one that came first leaves
            // nothing to hold, and saying "holding it for 10s" just before the reap misled.
            crate::info!(
                "secondary {} has exited; not holding it as a zombie for --hold-zombie \
                 {hold:?}: a stop was requested, so it is reaped now",
                self.pid
            );
        } else if let Some(hold) = self.hold {
            crate::info!(
                "secondary {} has exited; holding it as a zombie for {hold:?} before reaping it \
                 (see it with: ps -o pid,s,cmd --ppid {})",
                self.pid,
                std::process::id()
            );
            crate::trace!(
                "zombie_hold",
                pid = self.pid,
                state = format_args!("{}", state()),
                hold_ms = hold.as_millis() as u64
            );
            // In slices, so that a request to stop (SIGINT, SIGTERM...) ends the hold at once.
            let until = std::time::Instant::now() + hold;
            while !crate::os::signals::stop_arrived() {
                let left = until.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(std::time::Duration::from_millis(10)));
            }
            let held =
                hold.saturating_sub(until.saturating_duration_since(std::time::Instant::now()));
            if held < hold {
                crate::info!(
                    "a stop was requested: reaping secondary {} now, after {held:.0?} of the \
                     {hold:?} hold",
                    self.pid
                );
            }
        }
        Ok(true)
    }

    /// Its status if it has exited (and is now reaped), without waiting.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.wait_with(true)
    }

    /// Waits for it to exit and reaps it.
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.wait_with(false)?
            .ok_or_else(|| std::io::Error::other("waitpid returned no status"))
    }

    /// Sends SIGKILL (unless already reaped: its pid may belong to another process now).
    pub fn kill(&mut self) -> std::io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        crate::trace!("kill", pid = self.pid, signal = "SIGKILL");
        // Our own unreaped child: the pid cannot have been reused.
        kill(Pid::from_raw(self.pid), Signal::SIGKILL).map_err(std::io::Error::from)
    }
}

/// Starts `osps secondary` with `args`: fork, then exec of `/proc/self/exe`.
pub fn secondary(args: &[OsString]) -> Result<Child> {
    // Everything the child needs is prepared before the fork: after it, the child may
    // only call async-signal-safe functions (no allocation) until it execs.
    let parent = std::process::id() as libc::pid_t;
    let mut argv = vec![c"osps".to_owned(), c"secondary".to_owned()];
    for a in args {
        argv.push(
            CString::new(a.as_bytes())
                .wrap_err("an argument for the secondary holds a NUL byte")?,
        );
    }
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let exe = c"/proc/self/exe";
    let devnull = open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
        .wrap_err("opening /dev/null for the secondary's stdin and stdout")?;
    let null_fd = devnull.as_raw_fd();
    let forked_at = crate::trace::stamp();
    // SAFETY: the primary may have other threads (the turn watchdog of `watchdog.rs`), and
    // a forked child holds only a copy of this one, with any lock another thread held left
    // locked for ever; so the child branch calls only async-signal-safe functions (dup2, syscall,
    // signal, prctl, getppid, execv, _exit) on data prepared before the fork: raw libc
    // calls, none of which allocates (nix's fork itself only wraps the returned pid).
    let forked = unsafe { nix::unistd::fork() };
    let pid = match forked {
        Ok(ForkResult::Child) => {
            // SAFETY: see above; every path ends in execv or _exit, never returning to Rust.
            unsafe {
                // stdin and stdout from /dev/null (stdout may carry the primary's --json);
                // stderr is shared so the secondary's errors reach the user.
                if libc::dup2(null_fd, 0) < 0 || libc::dup2(null_fd, 1) < 0 {
                    libc::_exit(126);
                }
                // Descriptors our own parent leaked to us (not close-on-exec) must not reach
                // the secondary either: only stdin, stdout and stderr cross the exec. A kernel
                // without close_range (before 5.11) merely skips this extra care.
                let (first, last) = (3 as libc::c_uint, libc::c_uint::MAX);
                libc::syscall(
                    libc::SYS_close_range,
                    first,
                    last,
                    libc::CLOSE_RANGE_CLOEXEC,
                );
                // Also SIGHUP, SIGALRM and SIGUSR1, which the primary handles (a handler
                // does not survive exec, SIG_IGN does): a group's signal in the instant
                // before the secondary's main sets them (signals/install.rs) cannot kill it.
                for signal in [libc::SIGINT, libc::SIGHUP, libc::SIGALRM, libc::SIGUSR1] {
                    libc::signal(signal, libc::SIG_IGN);
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                    libc::_exit(126);
                }
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                libc::execv(exe.as_ptr(), argv_ptrs.as_ptr());
                libc::_exit(127);
            }
        }
        Ok(ForkResult::Parent { child }) => child.as_raw(),
        Err(e) => {
            return Err(e).wrap_err("starting the secondary (fork failed: too many processes?)");
        }
    };
    drop(devnull);
    crate::trace!("fork" @ forked_at, child = pid, parent = parent);
    Ok(Child {
        pid,
        status: None,
        exit_seen_ns: None,
        hold: None,
    })
}

/// How a child ended, from the raw status `waitpid` wrote; `None` when it did not end
/// (stopped or continued, which we never ask to hear about). Decoded here, not by nix:
/// nix's `WaitStatus` fails with `EINVAL` for a signal its enum cannot name (every
/// real-time one), after the kernel has already reaped the child.
fn ended(raw: libc::c_int) -> Option<ExitStatus> {
    (libc::WIFEXITED(raw) || libc::WIFSIGNALED(raw)).then(|| ExitStatus::from_raw(raw))
}

/// How a process ended, for people: "exited with status 1", "killed by signal 9
/// (SIGKILL)", "killed by signal 34 (SIGRTMIN)", or "killed by signal 32" when the
/// signal has no name.
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        format!("exited with status {code}")
    } else if let Some(sig) = status.signal() {
        match crate::os::signals::name(sig) {
            Some(name) => format!("killed by signal {sig} ({name})"),
            None => format!("killed by signal {sig}"),
        }
    } else {
        format!("ended with {status}")
    }
}

/// Waits until `child` exits or `deadline` passes (woken by SIGCHLD through `sigs`).
/// `Ok(None)`: still running at the deadline, or when a stop signal came (then noted in
/// `sigs`): whoever waits for a secondary to go is in no mood to wait longer.
/// For the first `spin` it looks without sleeping (yielding the CPU between looks): an exit that is due (the child just
/// acknowledged a Stop) comes sooner than a sleeping CPU wakes up (see
/// `SyncMode::answer_spin`).
pub fn wait_until(
    child: &mut Child,
    deadline: Instant,
    sigs: &SelfPipe,
    spin: Duration,
) -> Result<Option<ExitStatus>> {
    let spin_until = Instant::now() + spin;
    loop {
        if let Some(status) = child.try_wait().wrap_err("waiting for the secondary")? {
            return Ok(Some(status));
        }
        if Instant::now() < spin_until.min(deadline) {
            // Let whatever waits for this CPU run first: when the child shares it, it
            // exits only once we step aside.
            std::thread::yield_now();
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        // Wake at SIGCHLD; also re-check every 50 ms in case the signal raced our check.
        let ms = left.min(Duration::from_millis(50)).as_millis().max(1) as u16;
        let mut fds = [PollFd::new(sigs.fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(ms));
        if sigs.drain().stop_signal().is_some() {
            // Someone asks us to stop (again, when we are stopping): no more waiting,
            // the caller kills it (unless it exited meanwhile).
            return child.try_wait().wrap_err("waiting for the secondary");
        }
    }
}

/// Kills `child` (SIGKILL) and reaps it.
pub fn kill_and_reap(child: &mut Child) -> Result<ExitStatus> {
    // kill fails only if it already exited, which wait() then reports.
    let _ = child.kill();
    child.wait().wrap_err("reaping the secondary")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_death_is_decoded_and_described_even_by_a_signal_nix_cannot_name() {
        let rtmin = libc::SIGRTMIN();
        // The raw statuses waitpid writes: a signal number in the low 7 bits (0x80: a
        // core dump), an exit code in the next byte; 0x7f in the low byte is a stop.
        let killed = ended(rtmin).unwrap();
        assert_eq!(killed.signal(), Some(rtmin));
        assert_eq!(
            describe(killed),
            format!("killed by signal {rtmin} (SIGRTMIN)")
        );
        assert_eq!(describe(ended(32).unwrap()), "killed by signal 32");
        assert_eq!(
            describe(ended(libc::SIGKILL).unwrap()),
            "killed by signal 9 (SIGKILL)"
        );
        let cored = ended(libc::SIGQUIT | 0x80).unwrap();
        assert_eq!(cored.signal(), Some(libc::SIGQUIT));
        assert_eq!(describe(ended(3 << 8).unwrap()), "exited with status 3");
        assert_eq!(ended((libc::SIGSTOP << 8) | 0x7f), None, "stopped");
        assert_eq!(ended(0xffff), None, "continued");
    }
}
