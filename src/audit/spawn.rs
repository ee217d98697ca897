//! Starting the audited program as a tracee: fork, PTRACE_SEIZE of the child by the
//! audit (so that group-stops stay stops, see [`ptrace::seize`]) while the child waits
//! for one byte on a pipe, then in the child only async-signal-safe calls until exec
//! (prctl for no_new_privs and the seccomp filter, execv over the candidates of PATH). A file the
//! kernel cannot execute (ENOEXEC: a script without a `#!` line) is run by `/bin/sh`, as
//! execvp(3), `env` and the shell itself do, so that it runs as it does outside the audit.
//!
//! Everything the child needs is prepared before fork: the filter, the argument
//! vector, the list of paths to try (PATH is searched here, as execvp(3) would, because
//! execvp may allocate). A failure in the child is sent back on a close-on-exec pipe as
//! two integers, the stage and errno: a successful exec closes the pipe empty.
//!
//! no_new_privs is what lets an unprivileged process install a seccomp filter; it also
//! means a setuid program runs without its privileges, so it cannot be audited this way.

use std::ffi::{CString, OsString};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use color_eyre::eyre::{Result, eyre};

use super::filter::Filter;
use super::ptrace;

/// What failed in the child before its program ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// PTRACE_SEIZE was refused.
    Ptrace(i32),
    /// no_new_privs or the seccomp filter was refused.
    Seccomp(i32),
    /// Every exec failed; the errno that matters (EACCES if any candidate had it).
    Exec(i32),
}

const STAGE_SECCOMP: u32 = 2;
const STAGE_EXEC: u32 = 3;

/// The started child, seized with the options set, on its way to its exec.
pub struct Child {
    pub pid: i32,
    report: std::fs::File,
}

impl Child {
    /// Why the child ended before its exec, read once it is dead.
    pub fn failure(&mut self) -> Option<Failure> {
        let mut buf = [0u8; 8];
        self.report.read_exact(&mut buf).ok()?;
        let stage = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
        match stage {
            STAGE_SECCOMP => Some(Failure::Seccomp(errno)),
            STAGE_EXEC => Some(Failure::Exec(errno)),
            _ => None,
        }
    }
}

/// The paths execv tries for `program`, in order.
pub fn candidates(program: &OsString) -> Vec<CString> {
    let bytes = program.as_bytes();
    let path_var =
        std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let list: Vec<Vec<u8>> = if bytes.is_empty() {
        // As a shell says of '': no such command (PATH joined with '' names directories).
        Vec::new()
    } else if bytes.contains(&b'/') {
        vec![bytes.to_vec()]
    } else {
        path_var
            .as_bytes()
            .split(|&b| b == b':')
            .map(|dir| {
                let dir = if dir.is_empty() { b".".as_slice() } else { dir };
                let mut p = dir.to_vec();
                p.push(b'/');
                p.extend_from_slice(bytes);
                p
            })
            .collect()
    };
    list.into_iter()
        .filter_map(|p| CString::new(p).ok())
        .collect()
}

/// Forks and starts `argv` traced. Returns once the child is resumed towards its exec.
/// With `stdout_to_stderr` (the JSON report) the program's stdout is the audit's stderr,
/// so that what it prints cannot break the one JSON object on stdout.
pub fn start(argv: &[OsString], filter: &Filter, stdout_to_stderr: bool) -> Result<Child> {
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| eyre!("an argument of the command holds a NUL byte"))?;
    let mut arg_ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    arg_ptrs.push(std::ptr::null());
    // `/bin/sh PATH ARGS...` for a file without a #! line: slot 1 is filled in the child
    // with the candidate that said ENOEXEC.
    let mut sh_ptrs: Vec<*const libc::c_char> = vec![SH.as_ptr(), std::ptr::null()];
    sh_ptrs.extend_from_slice(&arg_ptrs[1..]);
    let paths = candidates(&argv[0]);
    let prog = filter.prog();

    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(std::io::Error::last_os_error()).map_err(|e| eyre!("creating a pipe: {e}"));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // The child waits on this one until it is seized.
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(std::io::Error::last_os_error()).map_err(|e| eyre!("creating a pipe: {e}"));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (go_wait, go) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };

    // SAFETY: the child calls only async-signal-safe functions (see `child`), on data
    // prepared before the fork, then execs or _exits.
    let pid = unsafe { libc::fork() };
    if pid == -1 {
        return Err(eyre!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        child(
            go_wait.as_raw_fd(),
            write_end.as_raw_fd(),
            &paths,
            &arg_ptrs,
            &mut sh_ptrs,
            &prog,
            stdout_to_stderr,
        );
    }
    drop(write_end);
    drop(go_wait);
    let child = Child {
        pid,
        report: std::fs::File::from(read_end),
    };
    if let Err(e) = ptrace::seize(pid) {
        // SAFETY: kill has no memory effects; the child is ours.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = ptrace::wait_pid(pid);
        return Err(super::describe_failure(
            Failure::Ptrace(e.raw_os_error().unwrap_or(0)),
            argv,
        ));
    }
    let mut go = std::fs::File::from(go);
    std::io::Write::write_all(&mut go, b"g").map_err(|e| eyre!("starting the child: {e}"))?;
    Ok(child)
}

/// The shell that runs a file without a `#!` line (execvp(3)'s choice).
const SH: &std::ffi::CStr = c"/bin/sh";

/// The child's side, up to exec. Never returns. `sh_argv` is `[/bin/sh, (slot), args
/// after argv[0]..., NULL]`, for a candidate that is not an executable format.
fn child(
    go: libc::c_int,
    report: libc::c_int,
    paths: &[CString],
    argv: &[*const libc::c_char],
    sh_argv: &mut [*const libc::c_char],
    prog: &libc::sock_fprog,
    stdout_to_stderr: bool,
) -> ! {
    let fail = |stage: u32, errno: i32| -> ! {
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&stage.to_ne_bytes());
        buf[4..].copy_from_slice(&errno.to_ne_bytes());
        // SAFETY: write and _exit are async-signal-safe; buf is ours.
        unsafe {
            libc::write(report, buf.as_ptr().cast(), buf.len());
            libc::_exit(127)
        }
    };
    // SAFETY: __errno_location returns this thread's errno; reading it is safe.
    let errno = || unsafe { *libc::__errno_location() };
    // SAFETY: all async-signal-safe calls with valid arguments. Rust ignores SIGPIPE in
    // its runtime and an ignored signal stays ignored across exec: restore the default
    // so the program behaves as it does alone.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        if stdout_to_stderr {
            libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO);
        }
        // One byte once the audit has seized us; end of file if it gave up.
        let mut byte = 0u8;
        loop {
            match libc::read(go, (&raw mut byte).cast(), 1) {
                1 => break,
                -1 if errno() == libc::EINTR => {}
                _ => libc::_exit(127),
            }
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 {
            fail(STAGE_SECCOMP, errno());
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            std::ptr::from_ref(prog),
        ) == -1
        {
            fail(STAGE_SECCOMP, errno());
        }
        let mut seen_eacces = false;
        let mut last = libc::ENOENT;
        for path in paths {
            libc::execv(path.as_ptr(), argv.as_ptr());
            let mut e = errno();
            if e == libc::ENOEXEC {
                // Executable but no format the kernel knows: a shell script without its
                // #! line. Only the slot is written (no allocation after fork).
                sh_argv[1] = path.as_ptr();
                libc::execv(SH.as_ptr(), sh_argv.as_ptr());
                e = errno();
            }
            match e {
                libc::EACCES => seen_eacces = true,
                libc::ENOENT | libc::ENOTDIR => {}
                other => {
                    last = other;
                    break;
                }
            }
        }
        fail(STAGE_EXEC, if seen_eacces { libc::EACCES } else { last })
    }
}
