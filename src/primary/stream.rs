//! A client's connection as the hall reads and writes it.
//!
//! Taking a request out of a Unix socket wakes its client: the client sleeps in `read` on
//! the same socket, waiting for the reply, and freeing the bytes it sent wakes every
//! sleeper of that socket (the kernel's "room to write" wake-up, which a reader takes for
//! its own and goes back to sleep). On two CPUs that needless wake-up was a quarter of the
//! dispatcher's time with one request at a time, and a fifth with pipelining clients
//! (`docs/PERFORMANCE.md`). So a Unix connection is *peeked*: its bytes are read with
//! `MSG_PEEK` (each peek goes on where the last stopped, `SO_PEEK_OFF`) and left in the
//! socket until replies have been written to it ([`Conn::release`]); by then the client
//! has been woken by its replies, so taking its bytes wakes no one.
//!
//! Not even right after the replies, though: their write wakes the client, which on two
//! CPUs often runs at once in the dispatcher's place, reads them, sends its next
//! requests and sleeps again for their replies, all before the dispatcher takes the
//! bytes, whose taking then wakes it for nothing. So the bytes of answered requests stay
//! in the socket across a few replies ([`Conn::wrote_replies`]): at most [`HOLD_WRITES`]
//! writes of replies, [`HOLD_BYTES`], and [`HOLD_TIME`]. That bound matters: the bytes
//! count against the client's send buffer, so a client whose buffer they fill is held
//! up, and never for longer than [`HOLD_TIME`] (the event loop takes them at that
//! deadline, [`Conn::release_if_due`]). A small send buffer is held up by a single
//! request: 8000 bytes cost 8960 of it, more than the quarter a `poll` wants free to say
//! writable, and every next request waited out the deadline. So a hold that runs to its
//! deadline, which is what a client held up looks like (it sends nothing more), stops
//! the holding for that client: its bytes are taken right after its replies for the
//! next [`UNHELD_AFTER_DEADLINE`] writes of replies, twice as many after each such hold
//! up to [`UNHELD_MAX`], none once a hold ends at its bound of writes or bytes.
//!
//! Bytes left in the socket keep it readable, so a peeked connection is registered
//! edge-triggered ([`Conn::edge_triggered`]): the poll set reports new bytes, and a read
//! that returns less than asked means none is left, unless the kernel stopped the read at
//! bytes sent with descriptors, which `MSG_CTRUNC` says ([`Got::more`]). A TCP
//! connection (whose reads wake no one) and a Unix one where `SO_PEEK_OFF` is refused are
//! read as usual, level-triggered.
//!
//! Peeked bytes are always taken before the connection is closed (a Unix socket closed
//! with unread input resets its peer, which would then read that instead of its
//! replies), and before a plain read, which would otherwise return them again.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::os::fdlimit::Socket;

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

    /// Answers `line` to a connection we will not serve, and closes it (see
    /// [`crate::os::fdlimit::refuse`]: it never blocks and does not reset the connection).
    pub fn refuse(self, line: &str) {
        let line = format!("{line}\n");
        match self {
            Stream::Unix(s) => crate::os::fdlimit::refuse(s, line.as_bytes()),
            Stream::Tcp(s) => crate::os::fdlimit::refuse(s, line.as_bytes()),
        }
    }
}

/// Peeked bytes beyond this are taken at once, before any reply is written: they fill
/// the socket's buffer, which is the client's to write into, and a client that sends far
/// ahead must not be held up (nor kept from reaching the bounds of `clients.rs`).
const RELEASE_AT: usize = 64 << 10;

/// The bytes of answered requests left in a client's socket (see the module's text) are
/// taken at the latest at the write of replies after these many...
pub const HOLD_WRITES: u32 = 4;
/// ...or beyond these many bytes...
pub const HOLD_BYTES: usize = 16 << 10;
/// ...or this long after the first of those writes, written or not (a client blocked by
/// them on its send buffer is held up no longer).
pub const HOLD_TIME: Duration = Duration::from_millis(20);

/// The writes of replies after a hold ran to its deadline during which a client's bytes
/// are taken right away (see the module's text)...
pub const UNHELD_AFTER_DEADLINE: u32 = 64;
/// ...doubled after each hold that runs to its deadline, to this many at most: a client
/// held up by every hold then waits [`HOLD_TIME`] once per this many replies.
pub const UNHELD_MAX: u32 = 4096;

/// Answered requests' bytes left in the socket: since how many writes of replies, and
/// until when at the latest.
#[derive(Clone, Copy, Debug)]
struct Held {
    writes: u32,
    due: Instant,
}

/// What one read got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Got {
    /// Bytes read (0: end of file).
    pub len: usize,
    /// More may be waiting: the read filled the buffer, or stopped at bytes sent with
    /// descriptors. Otherwise the socket is empty until the poll set says otherwise.
    pub more: bool,
}

/// A client's connection: its stream, and the bytes peeked and not yet taken.
pub struct Conn {
    stream: Stream,
    /// Reads peek (a Unix socket that took `SO_PEEK_OFF`).
    peek: bool,
    /// Bytes peeked and still in the socket.
    peeked: usize,
    /// Whether they are all answered, left in the socket for a while (see [`HOLD_TIME`]).
    held: Option<Held>,
    /// Writes of replies left after which its bytes are taken at once, not held (a hold
    /// ran to its deadline, see [`UNHELD_AFTER_DEADLINE`]).
    unheld: u32,
    /// What the next hold that runs to its deadline sets `unheld` to: doubled each time,
    /// back to [`UNHELD_AFTER_DEADLINE`] once a hold ends at its bound of writes or bytes.
    backoff: u32,
}

impl Conn {
    /// A new connection, made non-blocking (`Err(stream)` if that fails).
    pub fn new(stream: Stream) -> Result<Conn, Stream> {
        let nonblocking = match &stream {
            Stream::Unix(s) => s.set_nonblocking(true),
            Stream::Tcp(s) => s.set_nonblocking(true),
        };
        if nonblocking.is_err() {
            return Err(stream);
        }
        let peek = matches!(stream, Stream::Unix(_)) && set_peek_offset(stream.fd());
        Ok(Conn {
            stream,
            peek,
            peeked: 0,
            held: None,
            unheld: 0,
            backoff: UNHELD_AFTER_DEADLINE,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.fd()
    }

    /// Whether the connection must be registered edge-triggered (it is peeked).
    pub fn edge_triggered(&self) -> bool {
        self.peek
    }

    /// Reads what the client sent, without blocking: peeked, when the connection is.
    pub fn read(&mut self, buf: &mut [u8]) -> std::io::Result<Got> {
        if !self.peek {
            let len = match &mut self.stream {
                Stream::Unix(s) => s.read(buf)?,
                Stream::Tcp(s) => s.read(buf)?,
            };
            return Ok(Got {
                len,
                more: len == buf.len(),
            });
        }
        let got = recv(self.stream.fd(), buf, libc::MSG_PEEK)?;
        self.peeked += got.len;
        if self.peeked > RELEASE_AT {
            // Peeked bytes fill the socket's buffer, which the client's writes need.
            self.release();
        }
        Ok(got)
    }

    /// Reads to drop what the client sends (it is being let go): the peeked bytes are
    /// taken first, then what comes is read as usual.
    pub fn read_to_drop(&mut self, buf: &mut [u8]) -> std::io::Result<Got> {
        self.release();
        if !self.peek {
            return self.read(buf);
        }
        recv(self.stream.fd(), buf, 0)
    }

    /// Writes what it can of `buf` without blocking.
    pub fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.stream {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    /// Replies were written to it, answering every request peeked: its peeked bytes are
    /// taken out of the socket, or left there a while longer within the bounds of
    /// [`HOLD_WRITES`], [`HOLD_BYTES`] and [`HOLD_TIME`]. Returns when they must be taken
    /// at the latest ([`Self::release_if_due`]) if they are held from now on.
    pub fn wrote_replies(&mut self, now: Instant) -> Option<Instant> {
        if self.peeked == 0 {
            return None;
        }
        if self.unheld > 0 {
            // A hold ran to its deadline not long ago: it may have held the client up.
            self.unheld -= 1;
            self.release();
            return None;
        }
        let within = self.peeked <= HOLD_BYTES;
        match &mut self.held {
            Some(h) if within && h.writes < HOLD_WRITES && now < h.due => {
                h.writes += 1;
                None
            }
            None if within => {
                let due = now + HOLD_TIME;
                self.held = Some(Held { writes: 1, due });
                Some(due)
            }
            held => {
                if held.is_some_and(|h| now < h.due) {
                    // The client went on sending while its bytes were held: they did not
                    // hold it up.
                    self.backoff = UNHELD_AFTER_DEADLINE;
                }
                self.release();
                None
            }
        }
    }

    /// Takes the peeked bytes if they have been held until `now` or longer. No bound of
    /// writes or bytes ended the hold: the client may be held up by them, so the bytes of
    /// its next replies are not held (see [`UNHELD_AFTER_DEADLINE`]).
    pub fn release_if_due(&mut self, now: Instant) {
        if self.held.is_some_and(|h| now >= h.due) {
            self.release();
            self.unheld = self.backoff;
            self.backoff = self.backoff.saturating_mul(2).min(UNHELD_MAX);
        }
    }

    /// Takes the peeked bytes out of the socket (they were read already). Stops early
    /// only if the socket fails or has less than was peeked, which cannot happen while
    /// the connection lives (nobody else reads it).
    pub fn release(&mut self) {
        let mut junk = [0u8; 4096];
        while self.peeked > 0 {
            let want = self.peeked.min(junk.len());
            match recv(self.stream.fd(), &mut junk[..want], 0) {
                Ok(Got { len: 0, .. }) => break,
                Ok(got) => self.peeked -= got.len,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.peeked = 0;
        self.held = None;
    }

    /// Shuts down our write side: end of file for the client.
    pub fn shutdown_write(&self) -> std::io::Result<()> {
        match &self.stream {
            Stream::Unix(s) => s.shutdown_write(),
            Stream::Tcp(s) => s.shutdown_write(),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // A Unix socket closed with unread input resets its peer.
        self.release();
    }
}

/// Makes each `MSG_PEEK` of `fd` go on where the last one stopped: whether it took.
fn set_peek_offset(fd: BorrowedFd<'_>) -> bool {
    let zero: libc::c_int = 0;
    // SAFETY: setsockopt reads an int from the pointer we give with its size; `zero`
    // lives through the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEEK_OFF,
            std::ptr::from_ref(&zero).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    r == 0
}

/// One non-blocking `recvmsg` of `fd` into `buf` with `flags`, no room for control
/// messages: descriptors sent along are closed by the kernel, which says so with
/// `MSG_CTRUNC` (and stops the read there).
fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], flags: libc::c_int) -> std::io::Result<Got> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid (no name, no control buffer).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    // SAFETY: `msg` points at one iovec that covers `buf`, which is ours and lives
    // through the call; there is no name or control buffer for the kernel to write.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, flags | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let len = n as usize;
    Ok(Got {
        len,
        more: len == buf.len() || msg.msg_flags & libc::MSG_CTRUNC != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Conn, UnixStream) {
        let (ours, peer) = UnixStream::pair().unwrap();
        (Conn::new(Stream::Unix(ours)).ok().unwrap(), peer)
    }

    /// What the socket still holds for a plain reader (peeked bytes included).
    fn left_in(conn: &Conn) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int into `n`, which lives through the call.
        let r = unsafe { libc::ioctl(conn.fd().as_raw_fd(), libc::FIONREAD, &mut n) };
        assert_eq!(r, 0);
        n as usize
    }

    #[test]
    fn peeked_bytes_are_read_once_and_stay_in_the_socket_until_released() {
        let (mut conn, mut peer) = pair();
        assert!(conn.edge_triggered());
        peer.write_all(b"PING\n").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            conn.read(&mut buf).unwrap(),
            Got {
                len: 5,
                more: false
            }
        );
        assert_eq!(&buf[..5], b"PING\n");
        // The next peek goes on after them: nothing new yet.
        let e = conn.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        peer.write_all(b"ECHO a\n").unwrap();
        assert_eq!(conn.read(&mut buf).unwrap().len, 7);
        assert_eq!(&buf[..7], b"ECHO a\n");
        assert_eq!(left_in(&conn), 12);
        conn.release();
        assert_eq!(left_in(&conn), 0);
        // And reading goes on with what comes next.
        peer.write_all(b"REV ab\n").unwrap();
        assert_eq!(conn.read(&mut buf).unwrap().len, 7);
        assert_eq!(&buf[..7], b"REV ab\n");
    }

    /// Peeks `bytes` sent by `peer` (all of them, in one read).
    fn peek_all(conn: &mut Conn, peer: &mut UnixStream, bytes: &[u8]) {
        peer.write_all(bytes).unwrap();
        let mut buf = vec![0u8; bytes.len() + 1];
        assert_eq!(conn.read(&mut buf).unwrap().len, bytes.len());
    }

    #[test]
    fn answered_bytes_stay_in_the_socket_for_a_few_writes_of_replies_at_most() {
        let (mut conn, mut peer) = pair();
        let start = Instant::now();
        peek_all(&mut conn, &mut peer, b"PING\n");
        // The first write of replies starts the hold, and says until when.
        assert_eq!(conn.wrote_replies(start), Some(start + HOLD_TIME));
        assert_eq!(left_in(&conn), 5);
        for i in 1..HOLD_WRITES {
            peek_all(&mut conn, &mut peer, b"PING\n");
            assert_eq!(conn.wrote_replies(start), None);
            assert_eq!(left_in(&conn), 5 * (i as usize + 1), "after write {i}");
        }
        // The write after HOLD_WRITES takes them all.
        peek_all(&mut conn, &mut peer, b"PING\n");
        assert_eq!(conn.wrote_replies(start), None);
        assert_eq!(left_in(&conn), 0);
        // Nothing peeked, nothing held.
        assert_eq!(conn.wrote_replies(start), None);
    }

    #[test]
    fn held_bytes_are_taken_at_their_deadline_or_beyond_hold_bytes() {
        let (mut conn, mut peer) = pair();
        let start = Instant::now();
        peek_all(&mut conn, &mut peer, b"PING\n");
        let due = conn.wrote_replies(start).unwrap();
        conn.release_if_due(due - Duration::from_micros(1));
        assert_eq!(left_in(&conn), 5);
        conn.release_if_due(due);
        assert_eq!(left_in(&conn), 0);
        // A write of replies after the deadline takes them too (on a new connection: this
        // one holds nothing for a while now, see the next test).
        let (mut conn, mut peer) = pair();
        peek_all(&mut conn, &mut peer, b"PING\n");
        let due = conn.wrote_replies(start).unwrap();
        peek_all(&mut conn, &mut peer, b"PING\n");
        assert_eq!(conn.wrote_replies(due), None);
        assert_eq!(left_in(&conn), 0);
        // And more than HOLD_BYTES are never held.
        peek_all(&mut conn, &mut peer, &vec![b'x'; HOLD_BYTES + 1]);
        assert_eq!(conn.wrote_replies(start), None);
        assert_eq!(left_in(&conn), 0);
    }

    #[test]
    fn after_a_hold_that_ran_to_its_deadline_the_next_replies_hold_nothing() {
        let (mut conn, mut peer) = pair();
        let start = Instant::now();
        peek_all(&mut conn, &mut peer, b"PING\n");
        let due = conn.wrote_replies(start).unwrap();
        conn.release_if_due(due);
        // The next UNHELD_AFTER_DEADLINE writes of replies take the bytes at once.
        for i in 0..UNHELD_AFTER_DEADLINE {
            peek_all(&mut conn, &mut peer, b"PING\n");
            assert_eq!(conn.wrote_replies(due), None, "write {i}");
            assert_eq!(left_in(&conn), 0, "write {i}");
        }
        // Then bytes are held again; one more hold to its deadline: twice as many.
        peek_all(&mut conn, &mut peer, b"PING\n");
        let due = conn.wrote_replies(due).unwrap();
        conn.release_if_due(due);
        for _ in 0..2 * UNHELD_AFTER_DEADLINE {
            peek_all(&mut conn, &mut peer, b"PING\n");
            assert_eq!(conn.wrote_replies(due), None);
        }
        // A hold ended by its bound of writes brings it back to UNHELD_AFTER_DEADLINE.
        peek_all(&mut conn, &mut peer, b"PING\n");
        let now = due;
        assert!(conn.wrote_replies(now).is_some());
        for _ in 0..HOLD_WRITES {
            peek_all(&mut conn, &mut peer, b"PING\n");
            assert_eq!(conn.wrote_replies(now), None);
        }
        assert_eq!(left_in(&conn), 0);
        peek_all(&mut conn, &mut peer, b"PING\n");
        let due = conn.wrote_replies(now).unwrap();
        conn.release_if_due(due);
        for _ in 0..UNHELD_AFTER_DEADLINE {
            peek_all(&mut conn, &mut peer, b"PING\n");
            assert_eq!(conn.wrote_replies(due), None);
        }
        peek_all(&mut conn, &mut peer, b"PING\n");
        assert!(conn.wrote_replies(due).is_some());
    }

    #[test]
    fn far_ahead_the_peeked_bytes_are_taken_before_any_reply() {
        let (mut conn, mut peer) = pair();
        let big = vec![b'x'; RELEASE_AT + 1];
        peer.write_all(&big).unwrap();
        let mut buf = vec![0u8; 2 * RELEASE_AT];
        let mut read = 0;
        while read < big.len() {
            read += conn.read(&mut buf).unwrap().len;
        }
        assert_eq!(left_in(&conn), 0);
    }

    /// Sends `bytes` on `sock` with one descriptor (its own) passed along.
    fn send_with_fd(sock: &UnixStream, bytes: &[u8]) {
        let fd: libc::c_int = sock.as_raw_fd();
        let space = unsafe_cmsg_space(std::mem::size_of::<libc::c_int>());
        let mut control = vec![0u8; space];
        let mut iov = libc::iovec {
            iov_base: bytes.as_ptr().cast_mut().cast(),
            iov_len: bytes.len(),
        };
        // SAFETY: an all-zero msghdr is valid; it is filled below with pointers to
        // `iov` and `control`, which live through sendmsg.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len();
        // SAFETY: `control` holds one cmsghdr with room for one int (CMSG_SPACE), which
        // CMSG_FIRSTHDR and CMSG_DATA point into.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd);
            assert_eq!(
                libc::sendmsg(sock.as_raw_fd(), &msg, 0),
                bytes.len() as isize
            );
        }
    }

    fn unsafe_cmsg_space(len: usize) -> usize {
        // SAFETY: CMSG_SPACE is arithmetic on its argument.
        unsafe { libc::CMSG_SPACE(len as u32) as usize }
    }

    #[test]
    fn a_read_stopped_at_passed_descriptors_says_more_may_wait() {
        // The kernel ends a read after bytes sent with descriptors: a short read is then
        // no sign of an empty socket, and an edge-triggered reader that stopped there
        // would never see the rest.
        let (mut conn, mut peer) = pair();
        send_with_fd(&peer, b"AB\n");
        peer.write_all(b"CD\n").unwrap();
        let mut buf = [0u8; 64];
        let first = conn.read(&mut buf).unwrap();
        assert_eq!((first.len, &buf[..3]), (3, &b"AB\n"[..]));
        assert!(first.more, "{first:?}");
        let second = conn.read(&mut buf).unwrap();
        assert_eq!(
            (second, &buf[..3]),
            (
                Got {
                    len: 3,
                    more: false
                },
                &b"CD\n"[..]
            )
        );
    }

    #[test]
    fn a_plain_read_after_a_peek_does_not_return_the_peeked_bytes_again() {
        let (mut conn, mut peer) = pair();
        peer.write_all(b"PING\n").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(conn.read(&mut buf).unwrap().len, 5);
        peer.write_all(b"rest").unwrap();
        assert_eq!(conn.read_to_drop(&mut buf).unwrap().len, 4);
        assert_eq!(&buf[..4], b"rest");
    }

    #[test]
    fn closing_takes_the_peeked_bytes_so_the_peer_reads_an_end_not_a_reset() {
        let (mut conn, mut peer) = pair();
        peer.write_all(b"PING\n").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(conn.read(&mut buf).unwrap().len, 5);
        drop(conn);
        let mut rest = Vec::new();
        // A reset would be an error here (ECONNRESET).
        assert_eq!(peer.read_to_end(&mut rest).unwrap(), 0);
    }
}
