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

use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail, eyre};

use crate::cli::ClientArgs;
use crate::disk::lockfile::InstanceLock;
use crate::disk::names::{Paths, default_runtime_dir};
use crate::disk::rundir::RuntimeDir;
use crate::exit::{Exit, coded};
use crate::os::procfs;
use crate::output::{self, Reader};
use crate::pair::header;
use crate::pair::segment;
use crate::protocol;
use crate::units;

/// A connection, over a Unix socket or TCP.
enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    /// The connection as a reader (which can set its own timeout) and a writer.
    fn split(self) -> Result<(Conn, Box<dyn Write>)> {
        Ok(match self {
            Conn::Unix(s) => (Conn::Unix(s.try_clone()?), Box::new(s)),
            Conn::Tcp(s) => (Conn::Tcp(s.try_clone()?), Box::new(s)),
        })
    }

    fn set_read_timeout(&self, timeout: Duration) -> std::io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_read_timeout(Some(timeout)),
            Conn::Tcp(s) => s.set_read_timeout(Some(timeout)),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

/// The longest reply an `osps primary --serve` sends to a client whose requests are at
/// most `max_line` bytes: an echo of the longest request, or a STATS line (a few hundred
/// bytes; 64K leaves room to spare).
fn reply_limit(max_line: usize) -> usize {
    max_line.max(64 << 10)
}

/// How a wait for one reply line ended.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// A whole line, without its newline.
    Line(Vec<u8>),
    /// The server closed the connection first (end of file, or a last line cut short).
    Closed,
    /// More than the limit came without a newline: not a reply of ours to wait for.
    TooLong,
}

/// The server's side of the connection, cut into reply lines: each wait has a deadline
/// for the whole line (a server dripping a byte at a time cannot stretch it), and at most
/// the limit plus one read is held.
struct Replies<R> {
    conn: R,
    /// Received and not yet part of a returned line.
    buf: Vec<u8>,
}

/// A reader whose reads can be given a timeout.
trait TimedRead: Read {
    fn set_timeout(&mut self, timeout: Duration) -> std::io::Result<()>;
}

impl TimedRead for Conn {
    fn set_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.set_read_timeout(timeout)
    }
}

impl<R: TimedRead> Replies<R> {
    fn new(conn: R) -> Replies<R> {
        Replies {
            conn,
            buf: Vec::new(),
        }
    }

    /// The next reply line, within `timeout` in all (else a `TimedOut` error) and at
    /// most `limit` bytes long.
    fn next(&mut self, timeout: Duration, limit: usize) -> std::io::Result<Next> {
        let deadline = Instant::now() + timeout;
        let mut scanned = 0;
        let mut chunk = vec![0u8; 16 << 10];
        loop {
            if let Some(i) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + i;
                if end > limit {
                    return Ok(Next::TooLong);
                }
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                return Ok(Next::Line(line));
            }
            scanned = self.buf.len();
            if self.buf.len() > limit {
                return Ok(Next::TooLong);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ErrorKind::TimedOut.into());
            }
            self.conn.set_timeout(left)?;
            let n = match self.conn.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(Next::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// How reading one request line of stdin ended.
#[derive(Debug, PartialEq, Eq)]
enum Input {
    /// A line (its newline, if any, left out).
    Line,
    /// The end of the input, with nothing read.
    End,
    /// The line goes on past `max_line` bytes (a trailing `\r` aside, as the server
    /// counts): the bytes read of it are kept, the rest is left unread.
    TooLong,
}

/// Reads one line of `input` into `line`, holding at most `max_line` + 2 bytes of it.
fn read_request(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    max_line: usize,
) -> std::io::Result<Input> {
    // Room for a `\r` the server does not count, and one byte more to know it is too long.
    let cap = max_line + 2;
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(if line.is_empty() {
                Input::End
            } else {
                too_long(line, max_line)
            });
        }
        let (take, newline) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        let room = cap - line.len();
        line.extend_from_slice(&buf[..take.min(room)]);
        if take > room {
            input.consume(room);
            return Ok(Input::TooLong);
        }
        input.consume(take + usize::from(newline));
        if newline {
            return Ok(too_long(line, max_line));
        }
    }
}

/// [`Input::Line`], or [`Input::TooLong`] when `line` is longer than the server takes.
fn too_long(line: &[u8], max_line: usize) -> Input {
    if line.strip_suffix(b"\r").unwrap_or(line).len() > max_line {
        Input::TooLong
    } else {
        Input::Line
    }
}

fn connect(args: &ClientArgs) -> Result<(Conn, String)> {
    if let Some(addr) = &args.tcp {
        check_address(addr)?;
        let s = connect_tcp(addr, args.timeout)
            .map_err(out_of_reach)
            .wrap_err_with(|| {
                format!("connecting to {addr}: is `osps primary --serve --tcp {addr}` running?")
            })?;
        s.set_read_timeout(Some(args.timeout))?;
        s.set_nodelay(true)?;
        return Ok((Conn::Tcp(s), addr.clone()));
    }
    let Some(socket) = &args.socket else {
        return connect_instance(args);
    };
    check_socket_path(socket, "--socket")?;
    let s = UnixStream::connect(socket)
        .map_err(out_of_reach)
        .wrap_err_with(|| {
            format!(
                "connecting to {}: is an `osps primary --serve` listening on this socket? \
             (`osps inspect` shows each instance's socket path)",
                socket.display()
            )
        })?;
    s.set_read_timeout(Some(args.timeout))?;
    Ok((Conn::Unix(s), socket.display().to_string()))
}

/// The longest path a Unix socket can have (`sun_path` holds 108 bytes, its NUL included).
const MAX_SOCKET_PATH: usize = 107;

/// A socket path longer than a Unix socket path can be is a value to correct (exit status
/// 2): no server can listen there (`osps primary --serve` refuses it), so "is a server
/// listening?" or "start it with `osps primary --serve`" would send the user astray.
fn check_socket_path(path: &std::path::Path, shorter: &str) -> Result<()> {
    let len = path.as_os_str().len();
    if len <= MAX_SOCKET_PATH {
        return Ok(());
    }
    Err(coded(
        Exit::Usage,
        format!(
            "the socket path {} is {len} bytes, longer than the {MAX_SOCKET_PATH} a Unix \
             socket path can have: no server can listen there; give a shorter {shorter}",
            path.display()
        ),
    ))
}

/// A connection that could not be made or was lost: the cause of the error that says
/// where, with the exit status of a server out of reach.
/// Connects to `addr` (each address it resolves to in turn) within `timeout` for each: a
/// server whose accept queue is full, or an address that drops the handshake, would
/// otherwise keep the client waiting for the kernel's SYN retries (about two minutes).
fn connect_tcp(addr: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                last = Some(std::io::Error::new(
                    ErrorKind::TimedOut,
                    format!("no answer from {a} within --timeout {timeout:?}"),
                ));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            ErrorKind::NotFound,
            format!("{addr} resolves to no address"),
        )
    }))
}

/// A `--tcp` value that is no `ADDR:PORT` at all (no port, a port past 65535) is a value
/// to correct (exit status 2, as `osps primary --tcp` says of the same value), not a
/// server out of reach (8): nothing could be tried. The same split as the standard
/// library's, without resolving a host name.
fn check_address(addr: &str) -> Result<()> {
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let why = match addr.rsplit_once(':') {
        None => "no :PORT",
        Some(("", _)) => "no address before :PORT",
        Some((_, port)) if port.parse::<u16>().is_err() => {
            "the port is not a number from 0 to 65535"
        }
        Some(_) => return Ok(()),
    };
    Err(coded(
        Exit::Usage,
        format!(
            "--tcp {addr}: not an ADDR:PORT ({why}); give the address and port the server \
             listens on, like 127.0.0.1:7000 (`osps inspect` shows its .segment.header.tcp_port)"
        ),
    ))
}

fn out_of_reach(e: std::io::Error) -> color_eyre::Report {
    coded(Exit::NoConnection, e.to_string())
}

/// How long an instance of which nothing exists yet is given to appear: its primary
/// may have been started a moment ago (`osps primary --serve & osps client ...`).
const APPEAR: Duration = Duration::from_secs(1);

/// How often a client waiting for a starting instance tries its socket again.
const RETRY: Duration = Duration::from_millis(10);

/// Connects to the socket of the instance named by `--name`. An instance that is starting
/// (its primary holds the lock but does not listen yet) is waited for, up to `--timeout`;
/// one of which nothing exists, up to a second. When that fails, says why in the terms
/// of the instance (starting, not running, stale, running without `--serve`).
fn connect_instance(args: &ClientArgs) -> Result<(Conn, String)> {
    let paths = Paths::new(
        args.instance.name.clone(),
        default_runtime_dir(args.instance.runtime_dir.as_deref()),
    );
    let path = paths.in_dir(&paths.socket_file());
    check_socket_path(&path, "--runtime-dir or --name")?;
    let started = Instant::now();
    let s = loop {
        let e = match UnixStream::connect(&path) {
            Ok(s) => break s,
            Err(e) => e,
        };
        let why = why_not_serving(&paths);
        let waited = started.elapsed();
        let worth_waiting = match why {
            Why::Starting { .. } => waited < args.timeout,
            Why::Absent { .. } | Why::Stale => waited < args.timeout.min(APPEAR),
            Why::Rounds { .. } => false,
        };
        if !worth_waiting {
            let exit = match why {
                Why::Absent { .. } => Exit::NoSuchInstance,
                _ => Exit::NoConnection,
            };
            return Err(coded(exit, e.to_string()))
                .wrap_err_with(|| format!("connecting to {}", path.display()))
                .wrap_err_with(|| why.message(&paths, args.timeout));
        }
        std::thread::sleep(RETRY);
    };
    s.set_read_timeout(Some(args.timeout))?;
    Ok((Conn::Unix(s), path.display().to_string()))
}

/// The runtime directory of an instance of which nothing exists.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Dir {
    /// There, and osps would use it.
    Usable,
    /// Nothing at its path.
    Missing,
    /// Something at its path that osps refuses, and why.
    Refused(String),
}

/// Why an instance's socket did not answer, from its lock file and segment.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Why {
    /// Nothing of the instance exists.
    Absent { dir: Dir },
    /// Its primary is gone and left its objects.
    Stale,
    /// A primary holds the lock in rounds mode: it will never listen.
    Rounds { pid: Option<i32> },
    /// A serving primary holds the lock but its socket does not answer (yet): it is
    /// starting (`starting`: its header says so, or there is no header yet), or its socket
    /// was removed and is being made anew.
    Starting { pid: Option<i32>, starting: bool },
}

impl Why {
    fn message(&self, paths: &Paths, timeout: Duration) -> String {
        let name = &paths.name;
        let start = format!("start it with `osps primary --serve --name {name}`");
        let pid_text = |pid: &Option<i32>| {
            pid.map(|p| format!(" (primary pid {p})"))
                .unwrap_or_default()
        };
        match self {
            Why::Absent { dir: Dir::Missing } => format!(
                "no instance {name} is running (no runtime directory {}); {start}",
                paths.runtime_dir.display()
            ),
            Why::Absent {
                dir: Dir::Refused(why),
            } => format!("no instance {name} can be running there: {why}"),
            Why::Absent { dir: Dir::Usable } => format!("no instance {name} is running; {start}"),
            Why::Stale => format!(
                "instance {name} is not running (its primary is gone and left its objects); \
                 run `osps cleanup --name {name}`, then {start}"
            ),
            Why::Rounds { pid } => format!(
                "instance {name} is running in rounds mode, not serving{}; start it with --serve",
                pid_text(pid)
            ),
            Why::Starting {
                pid,
                starting: true,
            } => format!(
                "instance {name} is starting{} and did not accept a connection within \
                 --timeout {timeout:?}; try again in a moment, or raise --timeout \
                 (`osps status {name}` tells how it is)",
                pid_text(pid)
            ),
            Why::Starting {
                pid,
                starting: false,
            } => format!(
                "instance {name} is serving{}, but its socket {} did not accept a connection \
                 within --timeout {timeout:?} (removed while it runs? it makes a removed one \
                 anew within a second, and says on its stderr when it cannot); \
                 `osps status {name}` tells whether it runs",
                pid_text(pid),
                paths.in_dir(&paths.socket_file()).display()
            ),
        }
    }
}

/// What the instance's lock file and segment say about why its socket did not answer.
/// Read-only, like `inspect`: never takes the lock, never opens a FIFO.
fn why_not_serving(paths: &Paths) -> Why {
    let dir = match RuntimeDir::open_existing(&paths.runtime_dir) {
        Ok(dir) => dir,
        // Only a directory that is not there is "no runtime directory": one that is there
        // but refused (a symbolic link, a file, someone else's, open to others) says why,
        // as the primary would, rather than being called missing.
        Err(_)
            if std::fs::symlink_metadata(&paths.runtime_dir)
                .is_err_and(|e| e.kind() == ErrorKind::NotFound) =>
        {
            return Why::Absent { dir: Dir::Missing };
        }
        Err(e) => {
            return Why::Absent {
                dir: Dir::Refused(format!("{e:#}")),
            };
        }
    };
    let lock = InstanceLock::probe(&dir, paths);
    let look = segment::look(paths).ok().flatten();
    if lock.held {
        let pid = lock.pid;
        // A primary whose command line is not readable yet (a moment after its exec) is
        // taken for a serving one: waiting costs at most --timeout.
        let serving = pid.is_none_or(|p| procfs::serves(p) || procfs::cmdline(p).is_empty());
        if !serving {
            return Why::Rounds { pid };
        }
        let state = look.as_ref().and_then(|l| {
            let head = l.head.as_slice();
            let at = header::Field::PrimaryState.offset();
            let word = head.get(at..at + 8)?.try_into().ok()?;
            header::has_magic(head)
                .then(|| header::State::from_u64(u64::from_ne_bytes(word)))
                .flatten()
        });
        let starting = matches!(state, None | Some(header::State::Starting));
        return Why::Starting { pid, starting };
    }
    if lock.exists || look.is_some() {
        return Why::Stale;
    }
    Why::Absent { dir: Dir::Usable }
}

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
    let (reader, writer) = conn.split()?;
    let mut session = Session {
        args,
        max_line,
        peer,
        replies: Replies::new(reader),
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
        return Ok(Exit::ErrReply);
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

impl Session<'_> {
    /// Sends each line of `input` as a request. Lines are bytes: one that is not UTF-8 is
    /// the server's to refuse (with `ERR`, the connection staying usable), not ours.
    fn ask_each_line(&mut self, mut input: impl BufRead) -> Result<()> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = read_request(&mut input, &mut line, self.max_line)
                .wrap_err("reading a request from stdin")?;
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
    fn ask(&mut self, request: &[u8]) -> Result<Flow> {
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

    /// Replies from a slice, given in pieces of `piece` bytes.
    struct Pieces<'a> {
        data: &'a [u8],
        piece: usize,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.piece.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    impl TimedRead for Pieces<'_> {
        fn set_timeout(&mut self, _: Duration) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn replies_are_cut_into_lines_and_a_line_past_the_limit_is_not_held_whole() {
        let t = Duration::from_secs(1);
        let data = b"PONG\nab\n\ncut";
        let mut r = Replies::new(Pieces { data, piece: 1 });
        assert_eq!(r.next(t, 4).unwrap(), Next::Line(b"PONG".to_vec()));
        assert_eq!(r.next(t, 4).unwrap(), Next::Line(b"ab".to_vec()));
        assert_eq!(r.next(t, 4).unwrap(), Next::Line(Vec::new()));
        assert_eq!(r.next(t, 4).unwrap(), Next::Closed);
        let long = vec![b'a'; 1 << 20];
        let mut r = Replies::new(Pieces {
            data: &long,
            piece: 1000,
        });
        assert_eq!(r.next(t, 4096).unwrap(), Next::TooLong);
        assert!(r.buf.len() <= 4096 + 1000, "{} bytes held", r.buf.len());
        let mut r = Replies::new(Pieces {
            data: b"12345\n",
            piece: 100,
        });
        assert_eq!(r.next(t, 4).unwrap(), Next::TooLong);
    }

    #[test]
    fn a_request_line_past_max_line_is_too_long_and_not_read_whole() {
        let read = |input: &[u8], max| {
            let mut input = std::io::BufReader::with_capacity(3, input);
            let mut line = Vec::new();
            let got = read_request(&mut input, &mut line, max).unwrap();
            (got, line)
        };
        assert_eq!(read(b"PING\nX", 4), (Input::Line, b"PING".to_vec()));
        assert_eq!(read(b"PING\r\n", 4), (Input::Line, b"PING\r".to_vec()));
        assert_eq!(read(b"PING", 4), (Input::Line, b"PING".to_vec()));
        assert_eq!(read(b"", 4), (Input::End, Vec::new()));
        assert_eq!(read(b"PINGS\n", 4).0, Input::TooLong);
        assert_eq!(read(b"PINGS", 4).0, Input::TooLong);
        let (got, line) = read(&[0u8; 1 << 20], 10);
        assert_eq!(got, Input::TooLong);
        assert!(line.len() <= 12, "{} bytes held", line.len());
    }

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
