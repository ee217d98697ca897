//! `osps client`: sends requests to a serving primary and prints each reply.
//!
//! Each argument is one request (or, with no argument, each line of stdin); each reply is
//! printed on its own line. The exit status is 7 when any reply was `ERR ...`. Requests
//! are bytes, sent as they are: a line the server cannot use (not UTF-8, unknown) gets
//! its `ERR` reply like any other, and the next request is still sent.
//!
//! `--timeout` bounds the whole wait for one reply, however the server drips it, and
//! what the client holds is bounded too: a request line longer than `--max-line` (the
//! server's limit) is refused before any of it is sent, and a reply line longer than
//! the longest reply such a server gives ends the client without being read whole.
//!
//! When the instance's socket does not answer, the error says why in the instance's
//! terms (none running, a stale one, one running rounds rather than serving), read from
//! its lock file and segment as `inspect` does.
//!
//! [`conn`] reaches the server, [`why`] says why an instance's socket did not answer,
//! [`lines`] cuts replies and requests into bounded lines, [`session`] asks and prints,
//! [`watch`] reads stdin while watching the connection.

mod conn;
mod lines;
mod session;
mod watch;
mod why;

use std::os::unix::ffi::OsStrExt;

use color_eyre::eyre::{Result, bail};

use crate::cli::ClientArgs;
use crate::exit::Exit;
use crate::units;

use conn::connect;
use lines::{Input, too_long};
use session::{Flow, Session, quoted};

/// Runs `osps client`.
pub fn run(args: &ClientArgs) -> Result<Exit> {
    let max_line = usize::try_from(args.max_line).unwrap_or(usize::MAX);
    for (i, request) in args.requests.iter().enumerate() {
        if too_long(request.as_bytes(), max_line) == Input::TooLong {
            bail!(
                "request {} ({}) is {} bytes, longer than --max-line {}: nothing was sent (the \
                 server would refuse it and close the connection); shorten it, or raise \
                 --max-line here and on the server",
                i + 1,
                quoted(request.as_bytes()),
                request.len(),
                units::format_bytes(args.max_line)
            );
        }
    }
    let (conn, peer) = connect(args)?;
    let mut session = Session::new(args, max_line, peer, conn)?;
    if args.requests.is_empty() {
        session.ask_each_line()?;
    } else {
        for request in &args.requests {
            if session.ask(request.as_bytes())? == Flow::Stop {
                break;
            }
        }
    }
    if session.failed() > 0 {
        crate::warn!("{} request(s) got an ERR reply", session.failed());
        return Ok(Exit::ErrReply);
    }
    Ok(Exit::Success)
}
