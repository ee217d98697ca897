//! Writing results to stdout, one way for every command.
//!
//! A reader that went away (`osps inspect | head -c 10`, EPIPE) is not an error: whoever
//! closed the pipe has all it wanted. Any other failure (stdout closed with `>&-`, a full
//! disk, `/dev/full`) is an error naming stdout: a tool feeding `jq` must never print a
//! failure and still exit 0.
//!
//! A closed stdout needs a check of its own ([`ensure_stdout_open`]): before `main` runs,
//! Rust's runtime reopens a closed standard descriptor on `/dev/null`, read-write, so the
//! writes would quietly vanish. Looking at descriptor 1 in `main` cannot tell that from a
//! stdout the caller put on `/dev/null` read-write (`1<>/dev/null`, Python's
//! `subprocess.DEVNULL`, daemonisers): both are the same open file. So a constructor
//! ([`STDOUT_AT_START`]) looks at descriptor 1 before Rust's runtime does, and only a
//! descriptor that was not open then (EBADF) is a closed stdout. `/dev/null` in any mode
//! is a place to write.

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};

use color_eyre::eyre::{Result, bail};
use nix::fcntl::{FcntlArg, fcntl};

/// Whether descriptor 1 was closed when the process started, as seen by
/// [`record_stdout_at_start`] before Rust's runtime reopened it.
static STDOUT_CLOSED_AT_START: AtomicBool = AtomicBool::new(false);

/// Run by the dynamic loader with the other `.init_array` constructors, before `main` and so
/// before Rust's runtime reopens a closed descriptor 1 on `/dev/null`.
#[used]
// SAFETY: `.init_array` holds pointers to functions the loader calls with no precondition;
// this one is an `extern "C" fn()` that touches nothing but an atomic and one syscall.
#[unsafe(link_section = ".init_array")]
static STDOUT_AT_START: extern "C" fn() = record_stdout_at_start;

extern "C" fn record_stdout_at_start() {
    // SAFETY: fcntl(F_GETFD) only reports on the descriptor number given; it needs no
    // memory and no open descriptor (an unopened one is EBADF).
    let closed = unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_GETFD) } == -1
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
    // Relaxed: the loader runs constructors on the main thread before `main`, which reads it.
    STDOUT_CLOSED_AT_START.store(closed, Ordering::Relaxed);
}

/// Fails when the command was started with stdout closed (`>&-`).
pub fn ensure_stdout_open() -> Result<()> {
    let out = std::io::stdout();
    let open_now = fcntl(out.as_fd(), FcntlArg::F_GETFD).is_ok();
    if STDOUT_CLOSED_AT_START.load(Ordering::Relaxed) || !open_now {
        bail!("writing to stdout: stdout is closed; redirect it to a file, or to `>/dev/null`");
    }
    Ok(())
}

/// Whether whoever reads stdout is still reading, after a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    Reading,
    /// The reader went away (EPIPE): stop writing, quietly.
    Gone,
}

/// Writes `bytes` to stdout in one piece and flushes them. The error is one line that
/// names stdout and the cause.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    write_stdout_piece(bytes).map(drop)
}

/// Writes one piece of a longer output (a reply, a document) to stdout and flushes it, so
/// that a failure is seen at once rather than at exit; says whether the reader is still
/// there, so that a command writing piece by piece stops when it went away.
pub fn write_stdout_piece(bytes: &[u8]) -> Result<Reader> {
    let mut out = std::io::stdout().lock();
    outcome(out.write_all(bytes).and_then(|()| out.flush()))
}

/// What a write to stdout came to, by the rule at the top of this file.
fn outcome(written: std::io::Result<()>) -> Result<Reader> {
    match written {
        Ok(()) => Ok(Reader::Reading),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Reader::Gone),
        Err(e) => bail!("writing to stdout: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Error;

    #[test]
    fn epipe_is_a_reader_gone_and_any_other_failure_names_stdout() {
        assert_eq!(outcome(Ok(())).unwrap(), Reader::Reading);
        let epipe = Error::from_raw_os_error(libc::EPIPE);
        assert_eq!(outcome(Err(epipe)).unwrap(), Reader::Gone);
        let full = Error::from_raw_os_error(libc::ENOSPC);
        let err = outcome(Err(full)).unwrap_err().to_string();
        assert_eq!(
            err,
            "writing to stdout: No space left on device (os error 28)"
        );
        let other = Error::other("odd");
        assert!(outcome(Err(other)).is_err());
    }
}
