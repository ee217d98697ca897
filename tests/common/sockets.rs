//! Plain sockets from the test, the one copy the serving tests share (tests/suite/serve.rs,
//! tests/suite/serve_edges.rs, tests/suite/serve_hold.rs, tests/suite/hostile.rs): a client connection over the Unix socket or
//! loopback TCP that sends request lines and reads reply lines, every read and write with
//! a deadline, and a serving primary started with a TCP listener.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::{T, TestEnv, slow};

/// How long a test waits for one reply before it fails (instead of hanging).
pub const REPLY: Duration = Duration::from_secs(20);

/// Sets `SO_SNDBUF` of a client's `stream` to `bytes` (the kernel doubles it, and takes
/// its least, about 4.5 KiB, for anything below).
pub fn set_sndbuf(stream: &UnixStream, bytes: libc::c_int) {
    // SAFETY: setsockopt reads one int from the pointer, which lives through the call.
    let r = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(stream),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            std::ptr::from_ref(&bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_SNDBUF: {}", std::io::Error::last_os_error());
}

/// A stream the test can split into a reader and a writer and half-close.
pub trait Duplex: Read + Write + Send + Sized + 'static {
    fn clone_stream(&self) -> Self;
    fn shutdown_write(&self);
    fn set_timeout(&self, t: Duration);
}

impl Duplex for UnixStream {
    fn clone_stream(&self) -> Self {
        self.try_clone().unwrap()
    }
    fn shutdown_write(&self) {
        self.shutdown(Shutdown::Write).unwrap();
    }
    fn set_timeout(&self, t: Duration) {
        self.set_read_timeout(Some(t)).unwrap();
        self.set_write_timeout(Some(t)).unwrap();
    }
}

impl Duplex for TcpStream {
    fn clone_stream(&self) -> Self {
        self.try_clone().unwrap()
    }
    fn shutdown_write(&self) {
        self.shutdown(Shutdown::Write).unwrap();
    }
    fn set_timeout(&self, t: Duration) {
        self.set_read_timeout(Some(t)).unwrap();
        self.set_write_timeout(Some(t)).unwrap();
    }
}

/// One client connection: lines out, lines in, every read with a deadline.
pub struct Conn<S: Duplex> {
    pub reader: BufReader<S>,
    pub writer: S,
}

/// How a read of one reply line ended.
#[derive(Debug, PartialEq)]
pub enum Got {
    /// A whole reply line, without its newline.
    Line(String),
    /// A clean end of file (the read returned `Ok(0)`).
    Eof,
    /// The read failed: no reply within the deadline, or the connection was reset.
    Error(ErrorKind),
}

impl<S: Duplex> Conn<S> {
    /// Wraps a connected stream, with the [`REPLY`] deadline (scaled by [`slow`]) on its
    /// reads and writes.
    pub fn new(stream: S) -> Conn<S> {
        stream.set_timeout(slow(REPLY));
        Conn {
            reader: BufReader::new(stream.clone_stream()),
            writer: stream,
        }
    }

    /// Sends raw bytes as they are (no newline added).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Sends one request line.
    pub fn send(&mut self, line: impl AsRef<[u8]>) {
        let mut bytes = line.as_ref().to_vec();
        bytes.push(b'\n');
        self.send_raw(&bytes);
    }

    /// The next reply line (without its newline), end of file, or the read error. Panics
    /// when a reply is cut short (end of file before its newline).
    pub fn get(&mut self) -> Got {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Got::Eof,
            Ok(_) => {
                assert!(line.ends_with('\n'), "reply without newline: {line:?}");
                line.pop();
                Got::Line(line)
            }
            Err(e) => Got::Error(e.kind()),
        }
    }

    /// The next reply line; `None` at end of file. Panics on a read error (no reply
    /// within the deadline, or a reset) and on a reply cut short.
    pub fn recv(&mut self) -> Option<String> {
        match self.get() {
            Got::Line(l) => Some(l),
            Got::Eof => None,
            Got::Error(kind) => panic!("no reply line: {kind:?}"),
        }
    }

    /// The next reply line; panics at end of file, on an error or without a reply in time.
    pub fn line(&mut self) -> String {
        match self.get() {
            Got::Line(l) => l,
            other => panic!("no reply line: {other:?}"),
        }
    }

    /// One request, one reply.
    pub fn ask(&mut self, line: impl AsRef<[u8]>) -> String {
        self.send(line);
        self.line()
    }

    /// Says "no more requests" and reads every remaining reply up to end of file.
    pub fn finish(mut self) -> Vec<String> {
        self.writer.shutdown_write();
        std::iter::from_fn(|| self.recv()).collect()
    }

    /// Whether the server closed the connection (end of file or a reset) within the
    /// deadline, with nothing more to read.
    pub fn closed_by_server(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == ErrorKind::ConnectionReset,
        }
    }

    /// Asserts that the server ends the connection with a clean end of file (read returns
    /// Ok(0)) and nothing more, not a reset.
    pub fn expect_clean_eof(&mut self, what: &str) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => assert!(
                rest.is_empty(),
                "{what}: more after the last reply: {:?}",
                String::from_utf8_lossy(&rest)
            ),
            Err(e) => panic!(
                "{what}: the connection ended with {:?} ({e}) after {:?}, not a clean end of file",
                e.kind(),
                String::from_utf8_lossy(&rest)
            ),
        }
    }
}

/// A client of the instance's Unix socket.
pub fn unix(env: &TestEnv) -> Conn<UnixStream> {
    Conn::new(UnixStream::connect(env.socket_path()).unwrap())
}

/// A client of the loopback TCP listener on `port` (Nagle off, so each line goes at once).
pub fn tcp(port: u16) -> Conn<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    Conn::new(s)
}

/// Starts `osps primary --serve --json --tcp ADDR` with `extra`, where ADDR asks for port 0
/// (any free port), waits until it serves, and returns its pid and the port it says it got.
pub fn serve_tcp(env: &mut TestEnv, addr: &str, extra: &[&str]) -> (u32, u16) {
    let mut args = vec!["--serve", "--json", "--tcp", addr];
    args.extend_from_slice(extra);
    let pid = env.start_primary(&args);
    let port = env.tcp_port(pid, T);
    env.wait_serving(T);
    (pid, port)
}
