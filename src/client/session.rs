//! One connection's requests and replies, one at a time, and what to say when the
//! connection fails.

use std::io::{BufReader, ErrorKind, Write};
use std::os::fd::AsFd;

use color_eyre::eyre::{Result, WrapErr, bail, eyre};

use super::conn::{Conn, out_of_reach};
use super::lines::{Input, Next, Replies, read_request, reply_limit};
use super::watch::{Watched, server_closed};
use crate::cli::ClientArgs;
use crate::exit::{Exit, coded};
use crate::output::{self, Reader};
use crate::protocol;
use crate::units;

/// Whether to go on sending requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Go,
    /// The server said why it will not serve us, or the reader of stdout went away.
    Stop,
}

/// One connection's requests and replies, one at a time.
pub struct Session<'a> {
    args: &'a ClientArgs,
    /// `--max-line`, as a length.
    max_line: usize,
    peer: String,
    replies: Replies<Conn>,
    writer: Box<dyn Write>,
    /// Requests sent so far (the number of the one in flight, in messages).
    sent: usize,
    /// Replies that were `ERR ...`.
    failed: usize,
    /// The last reply, when it was `ERR ...`: the server closes the connection after some
    /// of them (`ERR line too long`), and then that is why it closed.
    last_error: Option<Vec<u8>>,
}

impl<'a> Session<'a> {
    /// A session on `conn`, whose peer is named `peer` in messages.
    pub fn new(
        args: &'a ClientArgs,
        max_line: usize,
        peer: String,
        conn: Conn,
    ) -> Result<Session<'a>> {
        let (reader, writer) = conn.split()?;
        Ok(Session {
            args,
            max_line,
            peer,
            replies: Replies::new(reader),
            writer,
            sent: 0,
            failed: 0,
            last_error: None,
        })
    }

    /// How many replies were `ERR ...`.
    pub fn failed(&self) -> usize {
        self.failed
    }

    /// Sends each line of `input` as a request. Lines are bytes: one that is not UTF-8 is
    /// the server's to refuse (with `ERR`, the connection staying usable), not ours.
    pub fn ask_each_line(&mut self) -> Result<()> {
        let conn = self.replies.conn().try_clone_fd()?;
        let mut input = BufReader::new(Watched::new(std::io::stdin(), conn.as_fd()));
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = match read_request(&mut input, &mut line, self.max_line) {
                Ok(read) => read,
                Err(e) if server_closed(&e) => {
                    return Err(self.closed_error()).wrap_err_with(|| {
                        format!("waiting for request {} on stdin", self.sent + 1)
                    });
                }
                Err(e) => return Err(e).wrap_err("reading a request from stdin"),
            };
            match read {
                Input::End => return Ok(()),
                Input::TooLong => bail!(
                    "request {} on stdin ({}) is longer than --max-line {}: not sent (the \
                     server would refuse it and close the connection), and the requests after \
                     it neither; split it, or raise --max-line here and on the server",
                    self.sent + 1,
                    quoted(&line),
                    units::format_bytes(self.args.max_line)
                ),
                Input::Line => {}
            }
            if self.ask(&line)? == Flow::Stop {
                return Ok(());
            }
        }
    }

    /// Sends one request (without its newline) and prints its reply.
    pub fn ask(&mut self, request: &[u8]) -> Result<Flow> {
        self.sent += 1;
        let mut line = Vec::with_capacity(request.len() + 1);
        line.extend_from_slice(request);
        line.push(b'\n');
        if let Err(e) = self.writer.write_all(&line) {
            // The server may have closed after saying why (`ERR too many clients`): that
            // line is the answer to show, rather than the broken pipe it caused.
            if let Ok(Next::Line(reply)) = self.next_reply() {
                if protocol::is_error(&reply) {
                    self.failed += 1;
                    self.print(reply)?;
                    return Ok(Flow::Stop);
                }
            }
            return Err(self.lost(e)).wrap_err_with(|| {
                format!(
                    "sending request {} ({}) to {}",
                    self.sent,
                    quoted(request),
                    self.peer
                )
            });
        }
        let (sent, peer) = (self.sent, self.peer.clone());
        let waiting = || {
            format!(
                "waiting for the reply to request {sent} ({}) from {peer}",
                quoted(request)
            )
        };
        let reply = match self.next_reply() {
            Ok(Next::Line(reply)) => reply,
            Ok(Next::Closed) => {
                return Err(self.closed_error()).wrap_err_with(waiting);
            }
            Ok(Next::TooLong) => {
                let limit = reply_limit(self.max_line);
                return Err(eyre!(
                    "the reply goes on past {} bytes without a newline, longer than any reply \
                     of an `osps primary --serve` to requests of at most --max-line {}: not \
                     read further; is {} such a server (with a --max-line no larger than \
                     this one)?",
                    units::format_bytes(limit as u64),
                    units::format_bytes(self.args.max_line),
                    self.peer
                ))
                .wrap_err_with(waiting);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(coded(
                    Exit::NoConnection,
                    format!(
                        "no reply within --timeout {:?}: the server is busy, stopped or hung; \
                         {}, or raise --timeout",
                        self.args.timeout,
                        self.hint()
                    ),
                ))
                .wrap_err_with(waiting);
            }
            Err(e) => return Err(self.lost(e)).wrap_err_with(waiting),
        };
        self.last_error = None;
        if protocol::is_error(&reply) {
            self.failed += 1;
            self.last_error = Some(reply.clone());
        }
        self.print(reply)
    }

    /// The next reply line, within `--timeout` in all.
    fn next_reply(&mut self) -> std::io::Result<Next> {
        self.replies
            .next(self.args.timeout, reply_limit(self.max_line))
    }

    /// Prints a reply as it came, byte for byte.
    fn print(&self, mut reply: Vec<u8>) -> Result<Flow> {
        reply.push(b'\n');
        Ok(match output::write_stdout_piece(&reply)? {
            Reader::Reading => Flow::Go,
            // osps client ... | head -1: the reader has what it wanted.
            Reader::Gone => Flow::Stop,
        })
    }

    /// The error for a failed read or write on the connection: when the server hung up
    /// (a reset, a broken pipe), what happened and what to do, not the errno it caused.
    fn lost(&self, e: std::io::Error) -> color_eyre::Report {
        match e.kind() {
            ErrorKind::BrokenPipe
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::UnexpectedEof => self.closed_error(),
            _ => out_of_reach(e),
        }
    }

    /// The error of a connection the server closed: 7 when it did so right after an `ERR`
    /// reply (`ERR too many clients`: the reply says why), else 8.
    fn closed_error(&self) -> color_eyre::Report {
        let exit = match self.last_error {
            Some(_) => Exit::ErrReply,
            None => Exit::NoConnection,
        };
        coded(exit, self.closed())
    }

    /// Why the server closed the connection, as far as the client can tell.
    fn closed(&self) -> String {
        match &self.last_error {
            Some(reply) => format!(
                "the server closed the connection after its reply {}",
                quoted(reply)
            ),
            None => format!(
                "the server closed the connection (it stopped or was killed); {}",
                self.hint()
            ),
        }
    }

    /// How to find out whether the server still runs.
    fn hint(&self) -> String {
        if self.args.tcp.is_some() || self.args.socket.is_some() {
            "`osps list` shows the instances that run".into()
        } else {
            format!(
                "`osps status {}` tells whether it runs",
                self.args.instance.name
            )
        }
    }
}

/// A request or reply in a message: quoted, escaped (a byte that is not UTF-8 as `\xff`),
/// and cut (marked `…`) when long, since a line may be up to `--max-line` (64K) of anything.
pub fn quoted(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let pieces = bytes.utf8_chunks().flat_map(|chunk| {
        let valid = chunk.valid().chars().map(|c| c.escape_debug().to_string());
        let invalid = chunk.invalid().iter().map(|b| format!("\\x{b:02x}"));
        valid.chain(invalid)
    });
    let mut text = String::from("\"");
    for (i, piece) in pieces.enumerate() {
        if i == MAX {
            text.push_str("\"…");
            return text;
        }
        text.push_str(&piece);
    }
    text.push('"');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_messages_are_quoted_escaped_and_cut_when_long() {
        assert_eq!(quoted(b"PING"), r#""PING""#);
        assert_eq!(quoted(b"ECHO \xff\r\n"), r#""ECHO \xff\r\n""#);
        assert_eq!(quoted("REV é\"".as_bytes()), r#""REV é\"""#);
        let long = quoted(&[b'a'; 100]);
        assert_eq!(long, format!("{:?}…", "a".repeat(40)));
        assert_eq!(quoted(&[b'a'; 40]), format!("{:?}", "a".repeat(40)));
    }
}
