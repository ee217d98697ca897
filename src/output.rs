//! Writing results to stdout, one way for every command.
//!
//! A reader that went away (`osps inspect | head -c 10`, EPIPE) is not an error: whoever
//! closed the pipe has all it wanted. Any other failure (stdout closed with `>&-`, a full
//! disk, `/dev/full`) is an error naming stdout: a tool feeding `jq` must never print a
//! failure and still exit 0.

use std::io::Write;

use color_eyre::eyre::{Result, WrapErr};

/// Writes `bytes` to stdout in one piece and flushes them.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.wrap_err("writing to stdout"),
    }
}
