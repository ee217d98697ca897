//! The bytes of the connection and of stdin cut into lines, each bounded: a reply line
//! within a deadline for the whole line and a length limit, a request line within
//! `--max-line`.

use std::io::{BufRead, ErrorKind, Read};
use std::time::{Duration, Instant};

use super::conn::Conn;

/// The longest reply an `osps primary --serve` sends to a client whose requests are at
/// most `max_line` bytes: an echo of the longest request, or a STATS line (a few hundred
/// bytes; 64K leaves room to spare).
pub fn reply_limit(max_line: usize) -> usize {
    max_line.max(64 << 10)
}

/// How a wait for one reply line ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
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
pub struct Replies<R> {
    conn: R,
    /// Received and not yet part of a returned line.
    buf: Vec<u8>,
}

/// A reader whose reads can be given a timeout.
pub trait TimedRead: Read {
    fn set_timeout(&mut self, timeout: Duration) -> std::io::Result<()>;
}

impl TimedRead for Conn {
    fn set_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.set_read_timeout(timeout)
    }
}

impl<R: TimedRead> Replies<R> {
    pub fn new(conn: R) -> Replies<R> {
        Replies {
            conn,
            buf: Vec::new(),
        }
    }

    /// The connection the replies are read from.
    pub fn conn(&self) -> &R {
        &self.conn
    }

    /// The next reply line, within `timeout` in all (else a `TimedOut` error) and at
    /// most `limit` bytes long.
    pub fn next(&mut self, timeout: Duration, limit: usize) -> std::io::Result<Next> {
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
pub enum Input {
    /// A line (its newline, if any, left out).
    Line,
    /// The end of the input, with nothing read.
    End,
    /// The line goes on past `max_line` bytes (a trailing `\r` aside, as the server
    /// counts): the bytes read of it are kept, the rest is left unread.
    TooLong,
}

/// Reads one line of `input` into `line`, holding at most `max_line` + 2 bytes of it.
pub fn read_request(
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
pub fn too_long(line: &[u8], max_line: usize) -> Input {
    if line.strip_suffix(b"\r").unwrap_or(line).len() > max_line {
        Input::TooLong
    } else {
        Input::Line
    }
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
}
