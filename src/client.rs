//! `osps client`: sends requests to a serving primary and prints each reply.
//!
//! Each argument is one request (or, with no argument, each line of stdin); each reply is
//! printed on its own line. The exit status is 1 when any reply was `ERR ...`. Requests
//! are bytes, sent as they are: a line the server cannot use (not UTF-8, unknown) gets
//! its `ERR` reply like any other, and the next request is still sent.
//!
//! When the instance's socket does not answer, the error says why in the instance's
//! terms (none running, a stale one, one running rounds rather than serving), read from
//! its lock file and segment as `inspect` does.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;

use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::cli::ClientArgs;
use crate::disk::lockfile::InstanceLock;
use crate::disk::names::{Paths, default_runtime_dir};
use crate::disk::rundir::RuntimeDir;
use crate::exit::Exit;
use crate::os::procfs;
use crate::output::{self, Reader};
use crate::pair::segment;
use crate::protocol;

/// A connection, over a Unix socket or TCP.
enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn split(self) -> Result<(Box<dyn Read>, Box<dyn Write>)> {
        Ok(match self {
            Conn::Unix(s) => (Box::new(s.try_clone()?), Box::new(s)),
            Conn::Tcp(s) => (Box::new(s.try_clone()?), Box::new(s)),
        })
    }
}

fn connect(args: &ClientArgs) -> Result<(Conn, String)> {
    if let Some(addr) = &args.tcp {
        let s = TcpStream::connect(addr).wrap_err_with(|| {
            format!("connecting to {addr}: is `osps primary --serve --tcp {addr}` running?")
        })?;
        s.set_read_timeout(Some(args.timeout))?;
        s.set_nodelay(true)?;
        return Ok((Conn::Tcp(s), addr.clone()));
    }
    let Some(socket) = &args.socket else {
        return connect_instance(args);
    };
    let s = UnixStream::connect(socket).wrap_err_with(|| {
        format!(
            "connecting to {}: is an `osps primary --serve` listening on this socket? \
             (`osps inspect` shows each instance's socket path)",
            socket.display()
        )
    })?;
    s.set_read_timeout(Some(args.timeout))?;
    Ok((Conn::Unix(s), socket.display().to_string()))
}

/// Connects to the socket of the instance named by `--name`; when that fails, says why
/// in the terms of the instance (not running, stale, running without `--serve`).
fn connect_instance(args: &ClientArgs) -> Result<(Conn, String)> {
    let paths = Paths::new(
        args.instance.name.clone(),
        default_runtime_dir(args.instance.runtime_dir.as_deref()),
    );
    let path = paths.in_dir(&paths.socket_file());
    let s = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) => {
            return Err(e)
                .wrap_err_with(|| format!("connecting to {}", path.display()))
                .wrap_err_with(|| why_not_serving(&paths));
        }
    };
    s.set_read_timeout(Some(args.timeout))?;
    Ok((Conn::Unix(s), path.display().to_string()))
}

/// What the instance's lock file and segment say about why its socket did not answer.
/// Read-only, like `inspect`: never takes the lock, never opens a FIFO.
fn why_not_serving(paths: &Paths) -> String {
    let name = &paths.name;
    let start = format!("start it with `osps primary --serve --name {name}`");
    let Ok(dir) = RuntimeDir::open_existing(&paths.runtime_dir) else {
        return format!(
            "no instance {name} is running (no runtime directory {}); {start}",
            paths.runtime_dir.display()
        );
    };
    let lock = InstanceLock::probe(&dir, paths);
    if lock.held {
        let pid = lock
            .pid
            .map(|p| format!(" (primary pid {p})"))
            .unwrap_or_default();
        let serving = lock.pid.is_some_and(procfs::serves);
        return match dir.stat(&paths.socket_file()) {
            Ok(None) if serving => format!(
                "instance {name} is serving{pid}, but its socket {} is gone (removed while it \
                 runs?): no client can connect until it is restarted (`osps stop {name}`, then \
                 {start})",
                paths.in_dir(&paths.socket_file()).display()
            ),
            Ok(None) => format!(
                "instance {name} is running in rounds mode, not serving{pid}; start it with --serve"
            ),
            _ => format!("instance {name} is running{pid} but its socket refused the connection"),
        };
    }
    let segment = segment::look(paths).ok().flatten().is_some();
    if lock.exists || segment {
        return format!(
            "instance {name} is not running (its primary is gone and left its objects); \
             run `osps cleanup --name {name}`, then {start}"
        );
    }
    format!("no instance {name} is running; {start}")
}

/// Runs `osps client`.
pub fn run(args: &ClientArgs) -> Result<Exit> {
    let (conn, peer) = connect(args)?;
    let (reader, writer) = conn.split()?;
    let mut session = Session {
        args,
        peer,
        replies: BufReader::new(reader),
        writer,
        sent: 0,
        failed: 0,
        last_error: None,
    };
    if args.requests.is_empty() {
        session.ask_each_line(std::io::stdin().lock())?;
    } else {
        for request in &args.requests {
            if session.ask(request.as_bytes())? == Flow::Stop {
                break;
            }
        }
    }
    if session.failed > 0 {
        crate::warn!("{} request(s) got an ERR reply", session.failed);
        return Ok(Exit::Failure);
    }
    Ok(Exit::Success)
}

/// Whether to go on sending requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Go,
    /// The server said why it will not serve us, or the reader of stdout went away.
    Stop,
}

/// One connection's requests and replies, one at a time.
struct Session<'a> {
    args: &'a ClientArgs,
    peer: String,
    replies: BufReader<Box<dyn Read>>,
    writer: Box<dyn Write>,
    /// Requests sent so far (the number of the one in flight, in messages).
    sent: usize,
    /// Replies that were `ERR ...`.
    failed: usize,
    /// The last reply, when it was `ERR ...`: the server closes the connection after some
    /// of them (`ERR line too long`), and then that is why it closed.
    last_error: Option<Vec<u8>>,
}

impl Session<'_> {
    /// Sends each line of `input` as a request. Lines are bytes: one that is not UTF-8 is
    /// the server's to refuse (with `ERR`, the connection staying usable), not ours.
    fn ask_each_line(&mut self, mut input: impl BufRead) -> Result<()> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = input
                .read_until(b'\n', &mut line)
                .wrap_err("reading a request from stdin")?;
            if n == 0 {
                return Ok(());
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if self.ask(&line)? == Flow::Stop {
                return Ok(());
            }
        }
    }

    /// Sends one request (without its newline) and prints its reply.
    fn ask(&mut self, request: &[u8]) -> Result<Flow> {
        self.sent += 1;
        let mut line = Vec::with_capacity(request.len() + 1);
        line.extend_from_slice(request);
        line.push(b'\n');
        if let Err(e) = self.writer.write_all(&line) {
            // The server may have closed after saying why (`ERR too many clients`): that
            // line is the answer to show, rather than the broken pipe it caused.
            if let Ok(Some(reply)) = self.next_reply() {
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
            Ok(Some(reply)) => reply,
            Ok(None) => return Err(eyre!(self.closed())).wrap_err_with(waiting),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(eyre!(
                    "no reply within --timeout {:?}: the server is busy, stopped or hung; {}, \
                     or raise --timeout",
                    self.args.timeout,
                    self.hint()
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

    /// The next reply line without its newline; `None` when the server closed the
    /// connection first (end of file, or a last line cut short).
    fn next_reply(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        self.replies.read_until(b'\n', &mut line)?;
        Ok((line.pop() == Some(b'\n')).then_some(line))
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
            | ErrorKind::UnexpectedEof => eyre!(self.closed()),
            _ => e.into(),
        }
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
fn quoted(bytes: &[u8]) -> String {
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
