//! Writing results to stdout, one way for every command.
//!
//! A reader that went away (`osps inspect | head -c 10`, EPIPE) is not an error: whoever
//! closed the pipe has all it wanted. Any other failure (stdout closed with `>&-`, a full
//! disk, `/dev/full`) is an error naming stdout: a tool feeding `jq` must never print a
//! failure and still exit 0.
//!
//! A closed stdout needs a check of its own ([`ensure_stdout_open`]): before `main` runs,
//! Rust's runtime reopens a closed standard descriptor on `/dev/null`, read-write, so the
//! writes would quietly vanish. A shell's `>/dev/null` opens it write-only, which tells the
//! two apart: `/dev/null` open read-write as stdout means stdout was closed.

use std::io::Write;
use std::os::fd::AsFd;

use color_eyre::eyre::{Result, bail};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::stat::{SFlag, fstat};

/// Fails when the command was started with stdout closed (`>&-`).
pub fn ensure_stdout_open() -> Result<()> {
    let out = std::io::stdout();
    let fd = out.as_fd();
    let closed = match (fcntl(fd, FcntlArg::F_GETFL), fstat(fd)) {
        (Ok(flags), Ok(st)) => {
            let read_write = OFlag::from_bits_truncate(flags) & OFlag::O_ACCMODE == OFlag::O_RDWR;
            let is_char = st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFCHR.bits();
            is_char && st.st_rdev == libc::makedev(1, 3) && read_write
        }
        // Not open at all (nothing reopened it).
        _ => true,
    };
    if closed {
        bail!(
            "writing to stdout: stdout is closed (or is /dev/null opened read-write, which is \
             how a closed stdout is reopened); redirect it to a file, or to `>/dev/null`"
        );
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
