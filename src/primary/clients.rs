//! The serving mode's clients: one connection each (Unix socket or TCP, non-blocking),
//! the bytes it sent cut into request lines, and its replies sent back in request order
//! whatever order the secondaries answer in.
//!
//! The bytes are cut into lines by [`super::lines::cut_lines`], a pure function with its
//! rules tested on their own; a line longer than `--max-line` is refused
//! (`ERR line too long`) and nothing after it is read.
//!
//! What one client may cost is bounded, whatever it does (see [`MAX_HELD`]): its requests
//! waiting or at a secondary are at most `--max-inflight`, and the bytes held for it
//! (unread input, queued requests, room for their replies, replies not yet written) at
//! most about [`MAX_HELD`] plus one `--max-line`. At either bound the primary simply stops
//! reading that client: its socket buffers fill and its writes block, which is the
//! back-pressure a pipelining client expects. It never gets `ERR busy` for that.
//!
//! A client refused for a too-long line gets `ERR line too long`; then our side of the
//! connection is shut down while what it still sends is read and dropped, bounded in bytes
//! ([`DRAIN_BYTES`]) and time ([`DRAIN_TIME`]). Closing at once, with its input unread,
//! would reset the connection, and a client still writing would never read the reply.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use crate::os::poller::Interest;

use super::lines::cut_lines;
use super::spare::Spare;
pub use super::stream::Stream;
use super::stream::{Conn, Got};

/// The bytes held for one client beyond which the primary stops reading it: its unread
/// input, its queued requests, room for the replies of its requests not yet answered
/// (each request's length plus [`REPLY_ROOM`]), and its replies not yet written.
pub const MAX_HELD: usize = 1 << 20;

/// Room reserved for a reply on top of its request's length: every reply is at most as
/// long as its request (ECHO, REV) or short (PONG, a digest, an error, STATS).
const REPLY_ROOM: usize = 2048;

/// How much a client refused for a too-long line may still send (read and dropped)
/// before the connection is closed anyway.
pub const DRAIN_BYTES: usize = 16 << 20;

/// How long that client has, once its last reply is ready, to read the replies and go.
pub const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Bytes read from a client per `read` (into one buffer the server lends every client,
/// so an idle client holds no read buffer).
pub const READ_CHUNK: usize = 16 * 1024;

/// The reply to a line longer than `--max-line`.
const TOO_LONG: &str = "ERR line too long";

/// The reply to a request beyond `--queue` (all clients' queued requests together).
const BUSY: &str = "ERR busy";

/// Lines cut at once when they can only be answered `ERR busy`.
const BUSY_LINES: usize = 1024;

/// The bounds every client lives within.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_line: usize,
    pub max_inflight: usize,
}

/// A reply in request order: still awaited (with the bytes reserved for it), or ready.
#[derive(Debug)]
enum Reply {
    Awaited { charge: usize },
    Ready(Vec<u8>),
}

/// Where a client's input stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// Requests may come.
    Open,
    /// The client sent end of file; lines still in `input` are taken as room allows.
    Ended,
    /// It sent a too-long line: what it sends is dropped until end of file, or until
    /// `until`: [`DRAIN_TIME`] after its last reply is ready (set then), so that slow
    /// replies to its earlier requests do not eat into the time it has to read them.
    Draining {
        until: Option<Instant>,
        dropped: usize,
        eof: bool,
        /// Our write side is shut down (every reply was written).
        shut: bool,
    },
}

/// What [`Client::receive`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// The connection failed: the client is gone.
    pub gone: bool,
    /// Lines the primary answered itself.
    pub refused: Refused,
}

/// Lines answered by the primary itself, never handed to a secondary (so not counted
/// as requests): the serving summary counts them apart.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Answered `ERR busy` (the shared queue was full).
    pub busy: u64,
    /// Answered `ERR line too long` (once at most per client: its input ends there).
    pub too_long: u64,
}

impl std::ops::AddAssign for Refused {
    fn add_assign(&mut self, other: Refused) {
        self.busy += other.busy;
        self.too_long += other.too_long;
    }
}

/// One connected client.
pub struct Client {
    stream: Conn,
    /// Bytes received and not yet cut into requests.
    input: Vec<u8>,
    /// Replies ready to write, in order.
    output: Vec<u8>,
    /// A reply per request not yet moved to `output`, in request order.
    replies: VecDeque<Reply>,
    /// The order number of `replies[0]`.
    first: u64,
    /// Requests cut and not yet handed to a secondary: (order, line).
    pending: VecDeque<(u64, Vec<u8>)>,
    /// Requests whose reply has not arrived (pending or at a secondary).
    unanswered: usize,
    /// Bytes reserved in `replies` (awaited charges and ready replies).
    reserved: usize,
    state: Input,
    /// What it is registered for in the poll set.
    pub interest: Interest,
    /// It was reported readable while at its bound (see [`Self::poll_interest`]).
    readable_at_bound: bool,
    /// Complete lines wait in `input`, left there by a bound: nothing more is read until
    /// they are cut (a reply or a write makes room), so `input` stays one read and one
    /// line long however far ahead the client sends.
    lines_wait: bool,
    /// Its socket may hold bytes not read yet: the last read stopped at its bound, not at
    /// an empty socket. An edge-triggered connection reports only bytes that come later,
    /// so these are read once it has room again (see [`Self::needs_read`]).
    unread: bool,
    /// The poll set said it shut down its writing side: its end of file comes after
    /// what it sent, and reads go on to it (see [`Self::peer_closed`]).
    closed: bool,
    /// It is on the hall's list of clients to settle at the end of this pass (once,
    /// however many of its requests were answered in it).
    to_settle: bool,
}

impl Client {
    /// A new connection, made non-blocking (`Err(stream)` if that fails).
    pub fn new(stream: Stream) -> Result<Client, Stream> {
        let stream = Conn::new(stream)?;
        let interest = Interest {
            edge: stream.edge_triggered(),
            ..Interest::READ
        };
        Ok(Client {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            replies: VecDeque::new(),
            first: 0,
            pending: VecDeque::new(),
            unanswered: 0,
            reserved: 0,
            state: Input::Open,
            interest,
            readable_at_bound: false,
            lines_wait: false,
            unread: false,
            closed: false,
            to_settle: false,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.fd()
    }

    /// Marks it for the hall's list of clients to settle in this pass: `false` if it
    /// already is on the list.
    pub fn mark_to_settle(&mut self) -> bool {
        !std::mem::replace(&mut self.to_settle, true)
    }

    /// It is being settled: off the list, until something marks it again.
    pub fn unmark_to_settle(&mut self) {
        self.to_settle = false;
    }

    /// Everything held for this client, in bytes (the quantity [`MAX_HELD`] bounds).
    pub fn held(&self) -> usize {
        self.input.len() + self.output.len() + self.reserved
    }

    /// Whether it may take one more request now: within `--max-inflight` and the bytes bound.
    fn has_room(&self, limits: &Limits) -> bool {
        self.unanswered < limits.max_inflight && !self.lines_wait && !self.over_bytes()
    }

    /// Whether the bytes held are at [`MAX_HELD`] with something of its own held besides
    /// its input (a reply awaited or not yet written), whose going makes room. Its input
    /// alone never holds it back: with nothing else held, nothing would ever make room.
    fn over_bytes(&self) -> bool {
        self.held() >= MAX_HELD && (self.reserved > 0 || !self.output.is_empty())
    }

    /// What to poll it for: input while it may send requests (or we drop what it sends),
    /// output while replies wait to be written.
    pub fn wants(&self, limits: &Limits) -> Interest {
        let read = match self.state {
            Input::Open => self.has_room(limits) && !self.holds_a_long_partial(limits),
            Input::Ended => false,
            Input::Draining { eof, dropped, .. } => !eof && dropped < DRAIN_BYTES,
        };
        Interest {
            read,
            write: !self.output.is_empty(),
            edge: self.stream.edge_triggered(),
        }
    }

    /// What to keep it registered for in the poll set: [`Self::wants`], except that a
    /// client held back only by its bound (`--max-inflight`, the bytes held) stays
    /// registered for input until it is reported readable there. A client that waits for
    /// its replies before it sends more (a pipelining one is at its bound every round)
    /// then costs no change of the poll set each way; one that sends beyond its bound
    /// costs one report, then is left out until replies make room: no spin.
    pub fn poll_interest(&mut self, limits: &Limits) -> Interest {
        let mut want = self.wants(limits);
        if want.read {
            self.readable_at_bound = false;
        } else if self.interest.read && !self.readable_at_bound && self.only_at_bound(limits) {
            want.read = true;
        }
        want
    }

    /// Whether to read it now rather than wait for the poll set: bytes may wait in its
    /// socket that an edge-triggered registration will not report again, and it may take
    /// requests again.
    pub fn needs_read(&self, limits: &Limits) -> bool {
        self.unread && self.stream.edge_triggered() && self.wants(limits).read
    }

    /// The poll set said it shut down its writing side. Edge-triggered, that is said
    /// once, maybe with the last bytes: a short read of them must not end the reading,
    /// or its end of file (and a last line without newline) would never be seen.
    pub fn peer_closed(&mut self) {
        self.closed = true;
        self.unread = true;
    }

    /// Whether only its bound keeps it from being read.
    fn only_at_bound(&self, limits: &Limits) -> bool {
        self.state == Input::Open && !self.has_room(limits) && !self.holds_a_long_partial(limits)
    }

    /// An unfinished line already longer than `--max-line` waits to be refused.
    fn holds_a_long_partial(&self, limits: &Limits) -> bool {
        let room = limits.max_line + usize::from(self.input.ends_with(b"\r"));
        self.input.len() > room && memchr::memchr(b'\n', &self.input).is_none()
    }

    /// Complete lines wait in its input for room (see [`Self::take_lines`]).
    pub fn lines_wait(&self) -> bool {
        self.lines_wait
    }

    /// Requests cut and waiting for a secondary.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Hands its oldest waiting request to the dispatcher.
    pub fn next_pending(&mut self) -> Option<(u64, Vec<u8>)> {
        self.pending.pop_front()
    }

    /// How many of its requests wait for a secondary.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Reads what the client sent (without blocking, as long as its bounds allow) and
    /// cuts it into requests. `room`: how many more requests the shared queue takes;
    /// beyond, a request is answered `ERR busy`. `buf`: where to read (any non-empty
    /// length: an empty one would read as end of file). `spare`: buffers for the lines.
    pub fn receive(
        &mut self,
        limits: &Limits,
        room: &mut usize,
        buf: &mut [u8],
        spare: &mut Spare,
    ) -> Received {
        let mut got = Received::default();
        // Replies still owed from earlier requests: what it sends now, it sends without
        // waiting for them (it is writing, not asleep reading).
        let writing_on = self.unanswered > 0 || !self.output.is_empty();
        if !self.wants(limits).read {
            // Reported readable while not to be read: at its bound (see `poll_interest`).
            self.readable_at_bound = true;
            self.unread = true;
        }
        loop {
            if !self.wants(limits).read {
                break;
            }
            let read = if self.is_draining() {
                self.stream.read_to_drop(buf)
            } else {
                self.stream.read(buf)
            };
            // Until the socket is found empty, bytes may wait there.
            self.unread = true;
            match read {
                Ok(Got { len: 0, .. }) => {
                    match &mut self.state {
                        Input::Open => self.state = Input::Ended,
                        Input::Draining { eof, .. } => *eof = true,
                        Input::Ended => {}
                    }
                    self.unread = false;
                    break;
                }
                Ok(Got { len: n, more }) => {
                    match &mut self.state {
                        Input::Draining { dropped, .. } => *dropped += n,
                        _ => {
                            self.input.extend_from_slice(&buf[..n]);
                            got.refused += self.take_lines(limits, room, spare);
                        }
                    }
                    if !more && !self.closed {
                        // The socket had less than we asked for: it is empty now, and
                        // the poll set reports anything that comes later. This saves a
                        // read that would only say "would block". (Its end of file,
                        // reported once already, is read next.)
                        self.unread = false;
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.unread = false;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    got.gone = true;
                    break;
                }
            }
        }
        got.refused += self.take_lines(limits, room, spare);
        let nothing_owed = self.unanswered == 0 && self.output.is_empty();
        if writing_on || nothing_owed || !self.input.is_empty() {
            // Its bytes are taken now, not after its next reply: it did not wait for its
            // replies before it sent them, or sent more than the requests now out (an
            // unfinished line, lines beyond its bounds), or no reply will be written to it
            // soon. Held in its socket until a slow reply, they would block its writes far
            // below the bounds of this file. It is not asleep waiting for a reply then, so
            // this wakes no one for nothing.
            self.stream.release();
        }
        got
    }

    /// Cuts complete lines out of `input` into requests, as many as its bounds allow.
    /// Returns the lines answered at once (`ERR busy`, `ERR line too long`). Lines beyond
    /// the bounds stay in `input` until replies make room (call again then).
    pub fn take_lines(&mut self, limits: &Limits, room: &mut usize, spare: &mut Spare) -> Refused {
        let mut refused = Refused::default();
        if matches!(self.state, Input::Draining { .. }) {
            return refused;
        }
        let eof = self.state == Input::Ended;
        // Only as many as may be queued now (more when they will be answered ERR busy).
        let max_lines = if *room > 0 {
            limits.max_inflight.saturating_sub(self.unanswered)
        } else {
            BUSY_LINES
        };
        let mut cut = cut_lines(&self.input, limits.max_line, eof, max_lines);
        let base = self.input.as_ptr() as usize;
        let mut consumed = 0;
        let mut all = true;
        let mut lines = 0;
        for line in cut.by_ref() {
            lines += 1;
            if self.unanswered >= limits.max_inflight || self.over_bytes() {
                all = false;
                break;
            }
            let order = self.first + self.replies.len() as u64;
            if *room == 0 {
                self.reserved += BUSY.len() + 1;
                self.replies.push_back(Reply::Ready(BUSY.into()));
                refused.busy += 1;
            } else {
                *room -= 1;
                let charge = line.len() + REPLY_ROOM;
                self.reserved += charge;
                self.unanswered += 1;
                self.replies.push_back(Reply::Awaited { charge });
                self.pending.push_back((order, spare.copy_of(line)));
            }
            // The line's end in `input`, past its newline (absent at end of file).
            consumed = (line.as_ptr() as usize - base + line.len() + 1).min(self.input.len());
        }
        // Every line was taken: the cut says where it ended (and whether on a line too long).
        if let Some(end) = cut.end().filter(|_| all) {
            consumed = end.consumed;
            if end.too_long {
                self.reserved += TOO_LONG.len() + 1;
                self.replies.push_back(Reply::Ready(TOO_LONG.into()));
                refused.too_long += 1;
                self.state = Input::Draining {
                    until: None,
                    dropped: 0,
                    eof: false,
                    shut: false,
                };
                self.input = Vec::new();
                consumed = 0;
            }
        }
        self.input.drain(..consumed);
        // A line left in `input`: one beyond the bounds, or beyond `max_lines`.
        self.lines_wait = !self.is_draining()
            && (!all
                || (lines >= max_lines
                    && (memchr::memchr(b'\n', &self.input).is_some()
                        || (eof && !self.input.is_empty()))));
        if self.input.is_empty() && self.input.capacity() > 2 * READ_CHUNK {
            // A long line came and went: give its memory back.
            self.input = Vec::new();
        }
        self.move_ready(spare);
        refused
    }

    /// Files `reply` as the answer to request `order` and moves ready replies to output.
    /// The next reply due (the common case) goes straight to the output, no copy kept.
    pub fn answer(&mut self, order: u64, reply: &[u8], spare: &mut Spare) {
        let Some(at) = order
            .checked_sub(self.first)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        let Some(&mut Reply::Awaited { charge }) = self.replies.get_mut(at) else {
            return;
        };
        self.unanswered -= 1;
        if at == 0 {
            self.reserved -= charge;
            self.replies.pop_front();
            self.first += 1;
            self.output.extend_from_slice(reply);
            self.output.push(b'\n');
        } else {
            self.reserved = self.reserved - charge + reply.len() + 1;
            self.replies[at] = Reply::Ready(spare.copy_of(reply));
        }
        self.move_ready(spare);
    }

    /// A request of this client that will never reach a secondary (it left the queue
    /// at shutdown): `reply` answers it in place.
    pub fn answer_pending(&mut self, reply: &str, spare: &mut Spare) {
        while let Some((order, line)) = self.pending.pop_front() {
            spare.give(line);
            self.answer(order, reply.as_bytes(), spare);
        }
    }

    /// At the stop: every request still waiting here gets `reply` in place of a
    /// secondary's answer, after the answers of the requests before it, so that every
    /// request read is answered once and in order. Those are the requests cut and still
    /// pending (the pool answers the ones in its ring first; one cut in a pass that
    /// failed before settling never got there), then every complete line still in its
    /// input (read, but held back by its bounds). A too-long line among them gets `ERR
    /// line too long`, as it would have. Nothing is read after this: an unfinished line
    /// is dropped. Returns how many requests it answered, and the lines refused.
    pub fn answer_held(
        &mut self,
        reply: &str,
        limits: &Limits,
        spare: &mut Spare,
    ) -> (u64, Refused) {
        let mut refused = Refused::default();
        let mut answered = self.pending.len() as u64;
        self.answer_pending(reply, spare);
        if self.is_draining() {
            return (answered, refused);
        }
        let eof = self.state == Input::Ended;
        let mut cut = cut_lines(&self.input, limits.max_line, eof, usize::MAX);
        for _ in cut.by_ref() {
            self.reserved += reply.len() + 1;
            self.replies
                .push_back(Reply::Ready(spare.copy_of(reply.as_bytes())));
            answered += 1;
        }
        if cut.end().is_some_and(|end| end.too_long) {
            self.reserved += TOO_LONG.len() + 1;
            self.replies.push_back(Reply::Ready(TOO_LONG.into()));
            refused.too_long += 1;
        }
        self.input = Vec::new();
        self.lines_wait = false;
        self.state = Input::Ended;
        self.move_ready(spare);
        (answered, refused)
    }

    /// Moves the replies that are ready, in order, to the output buffer (their buffers
    /// serve again, see `spare.rs`).
    fn move_ready(&mut self, spare: &mut Spare) {
        while let Some(Reply::Ready(_)) = self.replies.front() {
            if let Some(Reply::Ready(r)) = self.replies.pop_front() {
                self.reserved -= r.len() + 1;
                self.output.extend_from_slice(&r);
                self.output.push(b'\n');
                spare.give(r);
            }
            self.first += 1;
        }
    }

    /// Writes what it can without blocking (its whole output in one `write` when the
    /// socket takes it). `Ok(Some(due))`: the bytes of the requests it answered stay in
    /// the socket until `due` at the latest (see `stream.rs`), when
    /// [`Self::release_if_due`] must take them. `Err`: the client is gone.
    pub fn flush(&mut self, now: Instant) -> std::io::Result<Option<Instant>> {
        let mut wrote = false;
        let mut held = None;
        while !self.output.is_empty() {
            match self.stream.write(&self.output) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.output.drain(..n);
                    wrote = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // It is not reading its replies, so not asleep waiting for one: it may
                    // be blocked writing, on requests we left in its socket (a small write
                    // costs its send buffer far more than its bytes). Take them.
                    self.stream.release();
                    wrote = false;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if wrote {
            if self.state == Input::Open {
                // Its replies woke it: its requests' bytes wake no one needlessly if taken
                // now, nor if taken at a later write of replies.
                held = self.stream.wrote_replies(now);
            } else {
                self.stream.release();
            }
        }
        if self.output.is_empty() && self.output.capacity() > MAX_HELD {
            self.output = Vec::new();
        }
        if let Input::Draining { shut, until, .. } = &mut self.state {
            if until.is_none() && self.replies.is_empty() {
                // Every reply is ready (written or waiting for the client to read).
                *until = Some(Instant::now() + DRAIN_TIME);
            }
            if !*shut && self.output.is_empty() && self.replies.is_empty() {
                // Every reply is out: end of file for the client, whose input we still drop.
                *shut = true;
                let _ = self.stream.shutdown_write();
            }
        }
        Ok(held)
    }

    /// Takes the bytes of its answered requests out of its socket if they were held
    /// until `now` (see [`Self::flush`]).
    pub fn release_if_due(&mut self, now: Instant) {
        self.stream.release_if_due(now);
    }

    /// At shutdown: writes what its connection takes now of its pending replies.
    /// Returns whether some are still owed to a connection that may take them later.
    pub fn flush_at_the_stop(&mut self) -> bool {
        self.flush(Instant::now()).is_ok() && !self.output.is_empty()
    }

    /// It was refused for a too-long line (see [`Input::Draining`]).
    pub fn is_draining(&self) -> bool {
        matches!(self.state, Input::Draining { .. })
    }

    /// At shutdown, once its replies are out: end of file for the client (our write side
    /// shut down), so a client that reads sees its replies and then a clean end.
    pub fn say_goodbye(&mut self) {
        // Already shut (a drained client), or the connection is gone: nothing to say.
        let _ = self.stream.shutdown_write();
    }

    /// Reads and drops what the client still sends, without blocking. Returns whether it
    /// is done: it closed its side (or the connection failed), so closing ours now
    /// resets nothing. Closing with its input unread would reset the connection, and the
    /// client would read that instead of the replies before it.
    pub fn drop_input(&mut self, buf: &mut [u8]) -> bool {
        loop {
            match self.stream.read_to_drop(buf) {
                Ok(Got { len: 0, .. }) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }

    /// When a client refused for a too-long line will be closed at the latest (known
    /// once its last reply is ready).
    pub fn drain_deadline(&self) -> Option<Instant> {
        match self.state {
            Input::Draining { until, .. } => until,
            _ => None,
        }
    }

    /// Done: everything read, answered and sent (or, after a too-long line, the reply
    /// is out and the client finished sending, sent too much, or ran out of time).
    pub fn finished(&self, now: Instant) -> bool {
        match self.state {
            Input::Open => false,
            Input::Ended => {
                self.input.is_empty() && self.replies.is_empty() && self.output.is_empty()
            }
            Input::Draining {
                until,
                dropped,
                eof,
                shut,
            } => until.is_some_and(|u| now >= u) || (shut && (eof || dropped >= DRAIN_BYTES)),
        }
    }
}

#[cfg(test)]
mod tests;
