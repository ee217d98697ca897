//! The serving mode's clients: one connection each (Unix socket or TCP, non-blocking),
//! the bytes it sent cut into request lines, and its replies sent back in request order
//! whatever order the secondaries answer in.
//!
//! Cutting lines is a pure function ([`cut_lines`]) over the bytes received so far, so
//! its rules are tested on their own: a line ends at `\n`; at end of file a last line
//! without its newline is still a request; a line longer than `--max-line` is refused
//! (`ERR line too long`) and nothing after it is read.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::poll::PollFlags;

/// The longest a client's unsent replies may grow before we stop reading its requests.
const MAX_PENDING_OUTPUT: usize = 1 << 20;

/// The reply to a line longer than `--max-line`.
const TOO_LONG: &str = "ERR line too long";

/// The complete lines found in a client's bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Cut<'a> {
    /// The request lines, without their newlines.
    pub lines: Vec<&'a [u8]>,
    /// How many bytes of the input the lines (and a refused line) used up.
    pub consumed: usize,
    /// A line longer than `max_line` came after `lines`: answer it with an error and
    /// read nothing more from this client.
    pub too_long: bool,
}

/// Cuts `buf` (the bytes received and not yet cut) into lines of at most `max_line`
/// bytes. `eof`: the client sent everything, so a last line without newline counts.
/// An unfinished line longer than `max_line` is refused at once (it can only grow).
pub fn cut_lines(buf: &[u8], max_line: usize, eof: bool) -> Cut<'_> {
    let mut lines = Vec::new();
    let mut start = 0;
    loop {
        let rest = &buf[start..];
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => (&rest[..nl], start + nl + 1),
            None if eof && !rest.is_empty() => (rest, buf.len()),
            None => {
                let too_long = !eof && rest.len() > max_line;
                let consumed = if too_long { buf.len() } else { start };
                return Cut {
                    lines,
                    consumed,
                    too_long,
                };
            }
        };
        if line.len() > max_line {
            return Cut {
                lines,
                consumed: buf.len(),
                too_long: true,
            };
        }
        lines.push(line);
        start = next;
    }
}

/// A client connection, over the Unix socket or TCP.
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Unix(s) => s.as_fd(),
            Stream::Tcp(s) => s.as_fd(),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn set_nonblocking(&self) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_nonblocking(true),
            Stream::Tcp(s) => s.set_nonblocking(true),
        }
    }
}

/// One connected client.
pub struct Client {
    stream: Stream,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Replies in request order; `None` while a secondary works on it.
    replies: VecDeque<Option<String>>,
    /// The order number of `replies[0]`.
    first: u64,
    /// No more requests will be read (end of file, or a line too long).
    done_reading: bool,
}

impl Client {
    /// A new connection, made non-blocking (`None` if that fails: the client is dropped).
    pub fn new(stream: Stream) -> Option<Client> {
        stream.set_nonblocking().ok()?;
        Some(Client {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            replies: VecDeque::new(),
            first: 0,
            done_reading: false,
        })
    }

    /// Sends `line` (best effort, without blocking) and drops the connection.
    pub fn refuse(mut self, line: &str) {
        self.output = format!("{line}\n").into_bytes();
        let _ = self.flush();
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.fd()
    }

    /// What to poll it for: input while it may send requests and its unsent replies
    /// are not piling up; output while replies wait.
    pub fn wants(&self) -> PollFlags {
        let mut want = PollFlags::empty();
        if !self.done_reading && self.output.len() < MAX_PENDING_OUTPUT {
            want |= PollFlags::POLLIN;
        }
        if !self.output.is_empty() {
            want |= PollFlags::POLLOUT;
        }
        want
    }

    pub fn done_reading(&self) -> bool {
        self.done_reading
    }

    /// Reads what the client sent (without blocking) and hands each complete request
    /// line to `take` with its order number; `take` returns the reply at once (an error
    /// such as `ERR busy`) or `None` when the line went to a secondary. Returns true
    /// when the connection failed (the client is gone).
    pub fn receive(
        &mut self,
        max_line: usize,
        mut take: impl FnMut(u64, &[u8]) -> Option<String>,
    ) -> bool {
        let mut gone = false;
        let mut eof = false;
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    gone = true;
                    break;
                }
            }
            // Enough to refuse an over-long line: read no more of it now.
            if self.input.len() > max_line + 1 && !self.input.contains(&b'\n') {
                break;
            }
        }
        let cut = cut_lines(&self.input, max_line, eof);
        for line in &cut.lines {
            let order = self.first + self.replies.len() as u64;
            self.replies.push_back(take(order, line));
        }
        let (consumed, too_long) = (cut.consumed, cut.too_long);
        if too_long {
            self.replies.push_back(Some(TOO_LONG.into()));
        }
        self.done_reading = eof || too_long;
        if self.done_reading {
            self.input.clear();
        } else {
            self.input.drain(..consumed);
        }
        self.move_ready();
        gone
    }

    /// Files `reply` as the answer to request `order` and moves ready replies to output.
    pub fn answer(&mut self, order: u64, reply: String) {
        if let Some(slot) = order
            .checked_sub(self.first)
            .and_then(|i| self.replies.get_mut(i as usize))
        {
            *slot = Some(reply);
        }
        self.move_ready();
    }

    /// Moves the replies that are ready, in order, to the output buffer.
    fn move_ready(&mut self) {
        while let Some(Some(_)) = self.replies.front() {
            if let Some(Some(r)) = self.replies.pop_front() {
                self.output.extend_from_slice(r.as_bytes());
                self.output.push(b'\n');
            }
            self.first += 1;
        }
    }

    /// Writes what it can without blocking. `Err`: the client is gone.
    pub fn flush(&mut self) -> std::io::Result<()> {
        while !self.output.is_empty() {
            match self.stream.write(&self.output) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Tries to send its pending replies until `deadline` (at shutdown: best effort).
    pub fn flush_until(&mut self, deadline: Instant) {
        while !self.output.is_empty() && Instant::now() < deadline {
            if self.flush().is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Everything read, answered and sent.
    pub fn finished(&self) -> bool {
        self.done_reading && self.replies.is_empty() && self.output.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cut(buf: &[u8], max: usize, eof: bool) -> (Vec<&[u8]>, usize, bool) {
        let c = cut_lines(buf, max, eof);
        (c.lines, c.consumed, c.too_long)
    }

    #[test]
    fn lines_end_at_newlines_and_the_rest_waits() {
        assert_eq!(
            cut(b"a\nbc\nde", 10, false),
            (vec![&b"a"[..], b"bc"], 5, false)
        );
        assert_eq!(cut(b"", 10, false), (vec![], 0, false));
        assert_eq!(cut(b"\n", 10, false), (vec![&b""[..]], 1, false));
    }

    #[test]
    fn a_last_line_without_newline_counts_at_end_of_file() {
        assert_eq!(cut(b"a\nbc", 10, true), (vec![&b"a"[..], b"bc"], 4, false));
        assert_eq!(cut(b"a\n", 10, true), (vec![&b"a"[..]], 2, false));
        assert_eq!(cut(b"", 10, true), (vec![], 0, false));
    }

    #[test]
    fn a_line_too_long_is_refused_and_ends_the_input() {
        assert_eq!(
            cut(b"ok\n12345\nlater\n", 4, false),
            (vec![&b"ok"[..]], 15, true)
        );
        assert_eq!(cut(b"1234\n", 4, false), (vec![&b"1234"[..]], 5, false));
        // An unfinished line already longer than the limit is refused at once...
        assert_eq!(cut(b"ok\n12345", 4, false), (vec![&b"ok"[..]], 8, true));
        // ...one at the limit may still end in time.
        assert_eq!(cut(b"ok\n1234", 4, false), (vec![&b"ok"[..]], 3, false));
        // At end of file the last line is checked like any other.
        assert_eq!(cut(b"12345", 4, true), (vec![], 5, true));
    }

    proptest! {
        #[test]
        fn cutting_keeps_every_byte_in_order(
            buf in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), any::<u8>()], 0..200),
            max in 0usize..20,
            eof in any::<bool>(),
        ) {
            let c = cut_lines(&buf, max, eof);
            prop_assert!(c.consumed <= buf.len());
            prop_assert!(c.lines.iter().all(|l| l.len() <= max && !l.contains(&b'\n')));
            if c.too_long {
                prop_assert_eq!(c.consumed, buf.len());
            } else {
                // The lines, each with its newline, are exactly the bytes consumed (the
                // last one at end of file may lack its newline).
                let mut joined: Vec<u8> = c.lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
                if eof && !buf.ends_with(b"\n") && !buf.is_empty() {
                    joined.pop();
                }
                prop_assert_eq!(&joined[..], &buf[..c.consumed]);
                let rest = &buf[c.consumed..];
                prop_assert!(!rest.contains(&b'\n'));
                prop_assert!(rest.len() <= max);
                prop_assert!(!eof || rest.is_empty());
            }
        }

        #[test]
        fn cutting_in_pieces_finds_the_same_lines(
            buf in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'x')], 0..100),
            split in 0usize..100,
        ) {
            // No line too long: feeding the bytes in two pieces gives the same lines.
            let whole: Vec<Vec<u8>> = cut_lines(&buf, 1000, true).lines.iter().map(|l| l.to_vec()).collect();
            let split = split.min(buf.len());
            let first = cut_lines(&buf[..split], 1000, false);
            let mut pieces: Vec<Vec<u8>> = first.lines.iter().map(|l| l.to_vec()).collect();
            let mut rest = buf[first.consumed..split].to_vec();
            rest.extend_from_slice(&buf[split..]);
            pieces.extend(cut_lines(&rest, 1000, true).lines.iter().map(|l| l.to_vec()));
            prop_assert_eq!(whole, pieces);
        }
    }
}
