//! The serving primary's clients once they are in: reading their requests into the
//! pool's queue as far as their bounds allow, filing and writing their replies (once per
//! pass of the event loop), letting go of those that left, and the goodbye at the stop
//! (end of file, never a reset). Each client's own buffers and bounds are `clients.rs`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::admission::Door;
use super::clients::{Client, Limits, Refused, Stream};
use super::ids::Slab;
use super::pool::Pool;
use super::spare::Spare;
use super::summary::ServeSummary;
use crate::os::poller::{Poller, Ready};

/// What a client's reads and departures change beyond the hall: the pool's queue, the
/// door's count of descriptors, the summary's refusals, the poll set.
pub struct Around<'s> {
    pub pool: &'s mut Pool,
    pub door: &'s mut Door,
    pub summary: &'s mut ServeSummary,
    pub poller: &'s Poller,
    /// The clock of this turn of the event loop.
    pub now: Instant,
}

/// Every connected client.
pub struct Hall {
    clients: Slab<Client>,
    /// Each client's token in the poll set is this plus its id.
    tokens: u64,
    limits: Limits,
    /// `--queue`: the requests all clients may have waiting for a secondary.
    queue: usize,
    /// Clients read, answered or written in this pass: settled once at its end. Each is
    /// listed once (see [`Client::mark_to_settle`]), so answering a batch of 256
    /// requests lists its few clients, not 256 entries to sort.
    touched: Vec<u64>,
    /// Clients refused for a too-long line, closed at their deadline at the latest.
    draining: Vec<u64>,
    /// Clients whose answered requests' bytes stay in their socket a while (see
    /// `stream.rs`), with when they must be taken at the latest, earliest first (an
    /// entry may be stale: its bytes were taken earlier).
    holding: VecDeque<(Instant, u64)>,
    /// Where every client's bytes are read (one buffer for all, see `clients.rs`).
    scratch: Vec<u8>,
    /// Line buffers of answered requests, for the next ones (see `clients.rs`).
    spare: Spare,
}

impl Hall {
    pub fn new(limits: Limits, queue: usize, tokens: u64) -> Hall {
        Hall {
            clients: Slab::default(),
            tokens,
            limits,
            queue,
            touched: Vec::new(),
            draining: Vec::new(),
            holding: VecDeque::new(),
            scratch: vec![0; super::clients::READ_CHUNK],
            spare: Spare::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// When draining clients must be closed at the latest.
    pub fn drain_deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        self.draining
            .iter()
            .filter_map(|id| self.clients.get(*id).and_then(Client::drain_deadline))
    }

    /// When the next client's held bytes must be taken out of its socket.
    pub fn hold_deadline(&self) -> Option<Instant> {
        self.holding.front().map(|&(due, _)| due)
    }

    /// Takes the held bytes whose deadline came (see `stream.rs`).
    fn release_due(&mut self, now: Instant) {
        while let Some(&(due, id)) = self.holding.front() {
            if due > now {
                break;
            }
            self.holding.pop_front();
            if let Some(c) = self.clients.get_mut(id) {
                c.release_if_due(now);
            }
        }
    }

    /// Whether `client` is still connected.
    pub fn connected(&self, client: u64) -> bool {
        self.clients.contains_key(client)
    }

    /// Takes the next queued request of `client`: its order and its line.
    pub fn take_request(&mut self, client: u64) -> Option<(u64, Vec<u8>)> {
        self.clients.get_mut(client)?.next_pending()
    }

    /// Whether `client` has more requests queued.
    pub fn has_more(&self, client: u64) -> bool {
        self.clients.get(client).is_some_and(Client::has_pending)
    }

    /// Files `reply` for request `order` of `client`; it is written once per pass (see
    /// [`Self::settle`]).
    pub fn answer(&mut self, client: u64, order: u64, reply: &[u8]) {
        if let Some(c) = self.clients.get_mut(client) {
            c.answer(order, reply, &mut self.spare);
            to_settle(&mut self.touched, c, client);
        }
    }

    /// Takes back the buffer of an answered request's line, for the next requests.
    pub fn recycle(&mut self, line: Vec<u8>) {
        self.spare.give(line);
    }

    /// Answers every queued request of `client` with `reply`: how many there were.
    pub fn answer_queued(&mut self, client: u64, reply: &str) -> usize {
        let Some(c) = self.clients.get_mut(client) else {
            return 0;
        };
        let n = c.pending_len();
        c.answer_pending(reply, &mut self.spare);
        to_settle(&mut self.touched, c, client);
        n
    }

    /// At the stop, once the pool answered what it holds: every client's requests read
    /// and still here (cut but never in the pool's ring, or held back by its bounds in
    /// its input) get `reply` (see [`Client::answer_held`]), counted by the pool as cut
    /// short. Returns the lines refused among them.
    pub fn answer_held(&mut self, reply: &str, pool: &mut Pool) -> Refused {
        let mut refused = Refused::default();
        for c in self.clients.values_mut() {
            pool.queue_shrank(c.pending_len());
            let (n, r) = c.answer_held(reply, &self.limits, &mut self.spare);
            pool.cut_short_unqueued(n);
            refused += r;
        }
        refused
    }

    /// A newcomer let in: a client of the poll set.
    pub fn welcome(&mut self, stream: Stream, poller: &Poller, summary: &mut ServeSummary) {
        let Ok(client) = Client::new(stream) else {
            return;
        };
        let id = self.clients.insert(client);
        let Some(c) = self.clients.get(id) else {
            return;
        };
        if let Err(e) = poller.add(c.fd(), self.tokens + id, c.interest) {
            crate::warn!("a new client: {e:#}");
            self.clients.remove(id);
            return;
        }
        summary.clients_served += 1;
    }

    /// Looks at every client at once (one `poll`, no wait) and settles the ones whose
    /// connection has something to say: those that hung up or closed are let go, as the
    /// next wait of the loop would report. A burst of clients that connect and close at
    /// once would otherwise hold every place of --max-clients until then, and a live
    /// newcomer in the same burst be refused.
    pub fn let_go_of_the_departed(&mut self, a: &mut Around<'_>) {
        let ids: Vec<u64> = self.clients.keys().collect();
        let said = match self.poll_clients(&ids, PollTimeout::ZERO) {
            Ok(said) => said,
            Err(e) => {
                // The newcomer is refused as if none had left; the next wait reports them.
                crate::debug!("looking for clients that left (poll): {e}");
                return;
            }
        };
        for (id, r) in said {
            let ready = Ready {
                token: self.tokens + id,
                readable: r.contains(PollFlags::POLLIN),
                // (Not asked of poll: the poll set reports it.)
                peer_closed: false,
                writable: false,
                hangup: r.contains(PollFlags::POLLHUP),
                error: r.intersects(PollFlags::POLLERR | PollFlags::POLLNVAL),
            };
            self.on_client(id, &ready, a);
        }
        self.settle(a);
    }

    /// A client's descriptor is ready: read its requests (as far as its bounds allow),
    /// or note that it is gone.
    pub fn on_client(&mut self, id: u64, ready: &Ready, a: &mut Around<'_>) {
        if !self.clients.contains_key(id) {
            return;
        }
        if ready.hangup || ready.error {
            // Nothing more can come or go (a level-triggered hang-up would be reported
            // again on every wait). But a client refused for a too-long line only shut its
            // side after ours, and may still read: what it sent since is read (and
            // dropped) first, since a close with input unread resets the connection,
            // which loses the replies still in our send buffer (TCP), or is read after
            // them instead of the end of file (Unix). Bounded: nothing more can come.
            if let Some(c) = self.clients.get_mut(id) {
                c.drop_input(&mut self.scratch);
            }
            self.drop_client(id, a);
            return;
        }
        if ready.peer_closed {
            if let Some(c) = self.clients.get_mut(id) {
                c.peer_closed();
            }
        }
        if ready.readable && !self.read_client(id, a) {
            return;
        }
        if let Some(c) = self.clients.get_mut(id) {
            to_settle(&mut self.touched, c, id);
        }
    }

    /// Reads client `id`'s requests as far as its bounds allow: `false` if it is gone
    /// (and let go).
    fn read_client(&mut self, id: u64, a: &mut Around<'_>) -> bool {
        let room = a.pool.room(self.queue);
        let Some(c) = self.clients.get_mut(id) else {
            return false;
        };
        let mut left = room;
        let got = c.receive(&self.limits, &mut left, &mut self.scratch, &mut self.spare);
        a.pool.queue_grew(room - left);
        a.summary.count_refused(got.refused);
        if got.gone {
            self.drop_client(id, a);
            return false;
        }
        if c.is_draining() && !self.draining.contains(&id) {
            self.draining.push(id);
        }
        true
    }

    fn drop_client(&mut self, id: u64, a: &mut Around<'_>) {
        if let Some(c) = self.clients.remove(id) {
            // Its requests still queued leave the queue now; those at a secondary are
            // dropped when their reply comes.
            a.pool.queue_shrank(c.pending_len());
            a.door.client_left();
        }
    }

    /// Brings every client touched in this pass up to date: more requests cut if
    /// replies made room, replies written (one write each), its poll interest, and
    /// the clients that are done or gone closed.
    pub fn settle(&mut self, a: &mut Around<'_>) {
        let now = a.now;
        self.release_due(now);
        self.draining
            .retain(|id| self.clients.get(*id).is_some_and(Client::is_draining));
        for &id in &self.draining {
            if let Some(c) = self.clients.get_mut(id).filter(|c| c.finished(now)) {
                to_settle(&mut self.touched, c, id);
            }
        }
        let touched = std::mem::take(&mut self.touched);
        for id in &touched {
            if let Some(c) = self.clients.get_mut(*id) {
                c.unmark_to_settle();
            }
        }
        let mut again = Vec::new();
        for &id in &touched {
            match self.bring_up_to_date(id, now, a) {
                Settled::Gone => continue,
                Settled::Done => {}
                // Its turn is over; the next settle goes on with it.
                Settled::More => again.push(id),
            }
            let Some(c) = self.clients.get_mut(id) else {
                continue;
            };
            if c.has_pending() {
                a.pool.wants_turn(id);
            }
            let want = c.poll_interest(&self.limits);
            if want != c.interest {
                if a.poller.modify(c.fd(), self.tokens + id, want).is_err() {
                    self.drop_client(id, a);
                    continue;
                }
                c.interest = want;
            }
        }
        // Listed while settling (none today), then the clients whose turn was cut short.
        let during = std::mem::replace(&mut self.touched, touched);
        self.touched.clear();
        self.touched.extend(during);
        for id in again {
            if let Some(c) = self.clients.get_mut(id) {
                to_settle(&mut self.touched, c, id);
            }
        }
    }

    /// Whether a client's settling was cut short (see [`TURNS`]): the event loop then
    /// takes another pass at once rather than wait (nothing would report it).
    pub fn has_more_to_settle(&self) -> bool {
        !self.touched.is_empty()
    }

    /// Reads client `id` if it has room and bytes may wait in its socket, cuts what room
    /// allows, writes its replies. Until neither the lines cut nor the write made room for
    /// such bytes (an edge-triggered connection does not report bytes that came before,
    /// so nothing else would read them: the reply that made room was its last, say, and
    /// its write went at once), or [`TURNS`] times.
    fn bring_up_to_date(&mut self, id: u64, now: Instant, a: &mut Around<'_>) -> Settled {
        for _ in 0..TURNS {
            // Replies made room, and bytes may wait that the poll set will not report.
            let read_now = self
                .clients
                .get(id)
                .is_some_and(|c| c.needs_read(&self.limits));
            if read_now && !self.read_client(id, a) {
                return Settled::Gone;
            }
            let room = a.pool.room(self.queue);
            let Some(c) = self.clients.get_mut(id) else {
                return Settled::Gone;
            };
            let mut left = room;
            let refused = c.take_lines(&self.limits, &mut left, &mut self.spare);
            a.pool.queue_grew(room - left);
            a.summary.count_refused(refused);
            match c.flush(now) {
                Ok(held) if !c.finished(now) => {
                    if let Some(due) = held {
                        self.holding.push_back((due, id));
                    }
                }
                _ => {
                    self.drop_client(id, a);
                    return Settled::Gone;
                }
            }
            if c.lines_wait() {
                // The write may have made the room they wait for, and nothing else would
                // come to cut them: no reply is due, no write waits, and the client may
                // have sent everything already.
                let room = a.pool.room(self.queue);
                let mut left = room;
                let refused = c.take_lines(&self.limits, &mut left, &mut self.spare);
                a.pool.queue_grew(room - left);
                a.summary.count_refused(refused);
            }
            // A read leaves no room for more (it reads to its bound or to an empty
            // socket): another turn only when the cutting or the write made room.
            if !c.needs_read(&self.limits) {
                return Settled::Done;
            }
        }
        // A client that writes and reads as fast as it is served (its `ERR busy`
        // replies, say) would keep the loop on itself: the others come first.
        Settled::More
    }

    /// Writes what each client is owed (200 ms at most), then ends every connection.
    /// The clients are written in turns, each as far as its connection takes: one after
    /// the other, a client that does not read would take the whole time, and the ones
    /// after it would get none of their answers.
    pub fn close_all(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(200);
        let mut owed: Vec<u64> = self.clients.keys().collect();
        loop {
            owed.retain(|id| {
                self.clients
                    .get_mut(*id)
                    .is_some_and(Client::flush_at_the_stop)
            });
            if owed.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.say_goodbye(Instant::now() + GOODBYE);
        self.clients.clear();
    }

    /// Ends every connection without a reset: end of file to each client, then what
    /// they still send is dropped until they close their side or `deadline` passes (a
    /// client that goes on writing past it is closed anyway).
    fn say_goodbye(&mut self, deadline: Instant) {
        let mut left: Vec<u64> = self.clients.keys().collect();
        for c in self.clients.values_mut() {
            c.say_goodbye();
        }
        while !left.is_empty() {
            left.retain(|id| {
                self.clients
                    .get_mut(*id)
                    .is_some_and(|c| !c.drop_input(&mut self.scratch))
            });
            let now = Instant::now();
            if left.is_empty() || now >= deadline {
                break;
            }
            // Until one of them sends or closes (or a little while: a pause, not a spin).
            let wait = (deadline - now).min(Duration::from_millis(10));
            let ms = u16::try_from(wait.as_millis().max(1)).unwrap_or(u16::MAX);
            if let Err(e) = self.poll_clients(&left, PollTimeout::from(ms)) {
                crate::debug!("waiting for clients to close (poll): {e}; closing them now");
                break;
            }
        }
    }

    /// Polls the clients `ids` for input (or their end) all at once, outside the event
    /// loop's poll set, waiting at most `timeout`: the ones with something to say, and
    /// what.
    fn poll_clients(
        &self,
        ids: &[u64],
        timeout: PollTimeout,
    ) -> nix::Result<Vec<(u64, PollFlags)>> {
        let (ids, mut fds): (Vec<u64>, Vec<PollFd<'_>>) = ids
            .iter()
            .filter_map(|&id| {
                let c = self.clients.get(id)?;
                Some((id, PollFd::new(c.fd(), PollFlags::POLLIN)))
            })
            .unzip();
        poll(&mut fds, timeout)?;
        Ok(ids
            .into_iter()
            .zip(&fds)
            .filter_map(|(id, fd)| fd.revents().filter(|r| !r.is_empty()).map(|r| (id, r)))
            .collect())
    }
}

/// Lists client `id` (`c`) to be settled at the end of this pass, unless it already is.
fn to_settle(touched: &mut Vec<u64>, c: &mut Client, id: u64) {
    if c.mark_to_settle() {
        touched.push(id);
    }
}

/// How a client's settling ended.
enum Settled {
    /// It is gone (let go).
    Gone,
    Done,
    /// Its turns ran out with bytes still to read (see [`TURNS`]).
    More,
}

/// Reads, cuts and writes of one client in one settle at most, so that a client served
/// as fast as it sends cannot keep the loop on itself.
const TURNS: usize = 8;

/// How long clients have at shutdown, after their replies, to close their side.
const GOODBYE: Duration = Duration::from_millis(300);
