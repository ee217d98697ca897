//! Thin wrappers over ptrace(2) and waitpid(2), with [`crate::audit::memory`] the only
//! `unsafe` of the tracer. Every call may fail with ESRCH: a tracee can be killed at any moment
//! (SIGKILL needs no tracer's consent), which is normal and never an error worth more
//! than skipping that tracee.

use std::io;

/// The options given to the first tracee and inherited by every one it starts: follow
/// fork, vfork, clone and exec, stop at exit, report seccomp stops, mark syscall stops
/// (SIGTRAP | 0x80), and kill every tracee if the audit itself dies.
pub const OPTIONS: libc::c_int = libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACEEXIT
    | libc::PTRACE_O_TRACESECCOMP
    | libc::PTRACE_O_TRACESYSGOOD
    | libc::PTRACE_O_EXITKILL;

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn request(req: libc::c_uint, pid: i32, addr: usize, data: usize) -> io::Result<libc::c_long> {
    // SAFETY: the requests used here (SEIZE, LISTEN, CONT, SYSCALL, GETEVENTMSG,
    // GET_SYSCALL_INFO, GETSIGINFO) write at most into `data` when it points to a buffer of the size
    // the caller passes; the others take plain integers.
    check(unsafe {
        libc::ptrace(
            req,
            pid,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    })
}

/// Attaches to a child with the options, as PTRACE_SEIZE does: unlike PTRACE_TRACEME, a
/// seized tracee (and every child it starts, attached the same way) reports a group-stop
/// as such, so it can stay stopped ([`listen`]) rather than be resumed.
pub fn seize(pid: i32) -> io::Result<()> {
    request(libc::PTRACE_SEIZE, pid, 0, OPTIONS as usize).map(drop)
}

/// Leaves a tracee in its group-stop, stopped as it would be untraced, while the tracer
/// still hears of a SIGCONT or a SIGKILL.
pub fn listen(pid: i32) -> io::Result<()> {
    request(libc::PTRACE_LISTEN, pid, 0, 0).map(drop)
}

/// Resumes a tracee, delivering `signal` (0: none).
pub fn cont(pid: i32, signal: i32) -> io::Result<()> {
    request(libc::PTRACE_CONT, pid, 0, signal as usize).map(drop)
}

/// Resumes a tracee until the exit of the current system call.
pub fn syscall(pid: i32) -> io::Result<()> {
    request(libc::PTRACE_SYSCALL, pid, 0, 0).map(drop)
}

/// The message of the last ptrace event (the new pid of a fork, the exit status).
pub fn event_msg(pid: i32) -> io::Result<u64> {
    let mut msg: libc::c_ulong = 0;
    request(libc::PTRACE_GETEVENTMSG, pid, 0, &raw mut msg as usize)?;
    Ok(msg)
}

/// Who sent the signal a tracee is stopped to receive (its signal-delivery stop): the
/// `si_code` and `si_pid` of its siginfo.
pub fn signal_sender(pid: i32) -> io::Result<(i32, i32)> {
    // SAFETY: siginfo_t is plain data (integers and a union of integers).
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    request(libc::PTRACE_GETSIGINFO, pid, 0, &raw mut info as usize)?;
    // SAFETY: si_pid is the first member of the union for every signal sent by kill(2),
    // by the kernel's SEND_SIG_NOINFO (si_code SI_USER) and by sigqueue(3); for others
    // the caller ignores it, and reading an integer of a zeroed union is sound anyway.
    Ok((info.si_code, unsafe { info.si_pid() }))
}

/// A system call as the kernel describes it at a seccomp stop or a syscall-exit stop.
#[derive(Clone, Copy, Debug)]
pub enum SyscallInfo {
    /// At a seccomp stop: the number and arguments.
    Entry {
        nr: i64,
        args: [u64; 6],
    },
    /// At the exit: the return value (a negative errno on failure).
    Exit {
        rval: i64,
        is_error: bool,
    },
    Other,
}

/// PTRACE_GET_SYSCALL_INFO (Linux 5.3): one path for every architecture.
pub fn syscall_info(pid: i32) -> io::Result<SyscallInfo> {
    // SAFETY: ptrace_syscall_info is plain data (integers and a union of integers).
    let mut info: libc::ptrace_syscall_info = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::ptrace_syscall_info>();
    request(
        libc::PTRACE_GET_SYSCALL_INFO,
        pid,
        size,
        &raw mut info as usize,
    )?;
    // SAFETY: `op` says which member of the union the kernel filled; every member is
    // plain integers, so reading the one it names is sound.
    Ok(unsafe {
        match info.op {
            libc::PTRACE_SYSCALL_INFO_SECCOMP => SyscallInfo::Entry {
                nr: info.u.seccomp.nr as i64,
                args: info.u.seccomp.args,
            },
            libc::PTRACE_SYSCALL_INFO_ENTRY => SyscallInfo::Entry {
                nr: info.u.entry.nr as i64,
                args: info.u.entry.args,
            },
            libc::PTRACE_SYSCALL_INFO_EXIT => SyscallInfo::Exit {
                rval: info.u.exit.sval,
                is_error: info.u.exit.is_error != 0,
            },
            _ => SyscallInfo::Other,
        }
    })
}

/// A wait status from `waitpid(-1, __WALL)`.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    Exited(i32, i32),
    Signaled(i32, i32),
    /// Stopped: pid, stop signal, ptrace event (status >> 16).
    Stopped(i32, i32, i32),
    /// Interrupted by a signal of ours (the periodic timer, a stop signal).
    Interrupted,
    /// No tracee and no child left.
    NoChild,
}

/// Waits for the next event of any tracee or child.
pub fn wait_any() -> io::Result<Wait> {
    wait(-1, 0).map(|w| w.unwrap_or(Wait::Interrupted))
}

/// The next event of any tracee or child if one is there already (`None`: none yet).
pub fn poll_any() -> io::Result<Option<Wait>> {
    wait(-1, libc::WNOHANG)
}

/// Waits for the next event of one tracee, through interruptions.
pub fn wait_pid(pid: i32) -> io::Result<Wait> {
    loop {
        match wait(pid, 0)? {
            Some(Wait::Interrupted) | None => continue,
            Some(other) => return Ok(other),
        }
    }
}

/// `None` only with WNOHANG, when no event is there yet.
fn wait(which: i32, flags: libc::c_int) -> io::Result<Option<Wait>> {
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid writes the status into our local.
    let pid = unsafe { libc::waitpid(which, &raw mut status, libc::__WALL | flags) };
    if pid == -1 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EINTR) => Ok(Some(Wait::Interrupted)),
            Some(libc::ECHILD) => Ok(Some(Wait::NoChild)),
            _ => Err(e),
        };
    }
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(if libc::WIFEXITED(status) {
        Wait::Exited(pid, libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Wait::Signaled(pid, libc::WTERMSIG(status))
    } else {
        Wait::Stopped(pid, libc::WSTOPSIG(status), status >> 16)
    }))
}
