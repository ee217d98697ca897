//! The serving pool's bookkeeping: which secondary takes which request, and what becomes
//! of a request when its secondary answers, dies or hangs. A secondary that dies or hangs
//! during a request has it retried once, alone, on another secondary (on the same one
//! only when no other will ever take it), then answered `ERR worker failed`: a request is
//! never left without an answer, and never answered twice.
//!
//! The pool decides and touches nothing: the sockets, the FIFOs, the segment and the
//! supervisor are behind [`Io`], which the event loop (`serve.rs`) implements and the
//! tests below fake, so that promise is tested without a process or a socket.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use color_eyre::eyre::Result;

use super::ids::IdSet;
use super::worker::Trouble;
use crate::pair::batch;

/// The most requests one turn carries: 8 pipelining clients' 32 each (the default
/// `--max-inflight`), so each gets all its replies from one turn, in one write.
const MAX_BATCH: usize = 256;
/// Up to this many waiting requests go to one secondary in one turn rather than being
/// spread over several.
const MIN_BATCH: usize = 16;

/// One request on its way to a secondary.
#[derive(Debug)]
pub struct Job {
    client: u64,
    order: u64,
    line: Vec<u8>,
    /// The secondary it failed on, if it already failed once.
    failed_on: Option<usize>,
}

impl Job {
    /// The request line, without its newline.
    pub fn line(&self) -> &[u8] {
        &self.line
    }
}

/// Secondary `i`'s place in the pool: its turns and the requests it holds.
struct Seat {
    /// The last turn given to it.
    seq: u64,
    /// Its requests (one, or a batch) and the moment it counts as hung.
    busy: Option<(Vec<Job>, Instant)>,
    /// When it was given its last turn.
    given_at: Instant,
}

/// Everything the pool asks of the world: the secondaries (through the supervisor and
/// their slots of the segment) and the clients (their queued requests, their replies).
pub trait Io {
    fn now(&self) -> Instant;
    /// Whether secondary `i` runs and has shaken hands (it can take a turn).
    fn live(&self, i: usize) -> bool;
    /// Whether secondary `i` will never be restarted again (`--max-restarts`).
    fn given_up(&self, i: usize) -> bool;
    /// Whether secondary `i` says it is awake (a hint: wrong, it costs a wake-up).
    fn awake(&self, i: usize) -> bool;
    /// The bytes secondary `i`'s slot holds.
    fn room(&self, i: usize) -> usize;
    /// Writes `jobs` to secondary `i`'s slot and gives it turn `seq`, due by `deadline`.
    /// An error means nothing was handed over; `Some(trouble)` that the turn was given
    /// but the secondary cannot be reached (it is then treated as dead).
    fn hand(
        &mut self,
        i: usize,
        seq: u64,
        jobs: &[Job],
        deadline: Instant,
    ) -> Result<Option<Trouble>>;
    /// The last turn secondary `i` published a reply for (its reply counter).
    fn published(&self, i: usize) -> u64;
    /// Copies secondary `i`'s reply into `out` (replacing its contents): `false` if the
    /// length it published is longer than its slot.
    fn reply_into(&self, i: usize, out: &mut Vec<u8>) -> bool;
    /// Secondary `i` died or must be killed: reap it and schedule its restart.
    fn died(&mut self, i: usize, trouble: Trouble, during: &str) -> Result<()>;
    /// Whether `client` is still connected (the requests of one gone are dropped).
    fn connected(&self, client: u64) -> bool;
    /// Takes the next queued request of `client`: its order and its line.
    fn take_request(&mut self, client: u64) -> Option<(u64, Vec<u8>)>;
    /// Whether `client` has more requests queued.
    fn has_more(&self, client: u64) -> bool;
    /// Files `reply` (one line, without its newline) for request `order` of `client` (if
    /// it is still connected).
    fn answer(&mut self, client: u64, order: u64, reply: &[u8]);
    /// Answers every queued request of `client` with `reply`: how many there were.
    fn answer_queued(&mut self, client: u64, reply: &str) -> usize;
    /// Takes back the line of a request answered (its buffer serves again).
    fn recycle(&mut self, _line: Vec<u8>) {}
}

/// What the pool answered, for the summary and the header's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests answered, by a secondary or by the pool in its place.
    pub requests: u64,
    /// Of those, `ERR ...` replies: the request's own error, or `ERR worker failed`.
    pub errors: u64,
    pub retried: u64,
    /// Answered `ERR worker failed` (counted in `errors` too).
    pub failed: u64,
    /// Answered `ERR shutting down`: the server stopped before a secondary answered them.
    /// The server's refusal, not the request's error: not in `errors`.
    pub cut_short: u64,
    /// Turns handed to secondaries (a batch is one turn).
    pub turns: u64,
}

/// Why the pool answers a request itself, in place of a secondary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Instead {
    /// Its secondary died twice on it, or every secondary was given up.
    Failed,
    /// The server stops.
    CutShort,
}

impl Counts {
    /// `n` requests answered by the pool itself, for `why`.
    fn answered_instead(&mut self, why: Instead, n: u64) {
        self.requests += n;
        match why {
            Instead::Failed => {
                self.errors += n;
                self.failed += n;
            }
            Instead::CutShort => self.cut_short += n,
        }
    }
}

/// The pool of `--secondaries`: who holds what, and the requests that wait.
pub struct Pool {
    seats: Vec<Seat>,
    /// Clients with requests waiting for a secondary, taken in turn.
    ring: VecDeque<u64>,
    /// The clients in `ring` (each is there once).
    in_ring: IdSet,
    /// Requests that failed once, retried before any other.
    retries: VecDeque<Job>,
    /// Requests waiting for a secondary, all clients together (bounded by --queue).
    queued: usize,
    /// `--timeout`: how long a secondary has for a turn.
    timeout: Duration,
    /// How long a turn just given holds new requests for its secondary (see `pick`).
    await_for: Duration,
    counts: Counts,
    /// Where replies are copied out of a slot (kept to reuse its memory).
    reply: Vec<u8>,
    /// Emptied batches of completed turns, for the next turns (one per secondary at
    /// most): handing a turn allocates nothing.
    batches: Vec<Vec<Job>>,
}

impl Pool {
    pub fn new(secondaries: usize, timeout: Duration, await_for: Duration) -> Pool {
        let now = Instant::now();
        Pool {
            seats: (0..secondaries)
                .map(|_| Seat {
                    seq: 0,
                    busy: None,
                    given_at: now,
                })
                .collect(),
            ring: VecDeque::new(),
            in_ring: IdSet::default(),
            retries: VecDeque::new(),
            queued: 0,
            timeout,
            await_for,
            counts: Counts::default(),
            reply: Vec::new(),
            batches: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.seats.len()
    }

    /// The last turn given to secondary `i` (a restarted one counts on from there).
    pub fn seq(&self, i: usize) -> u64 {
        self.seats[i].seq
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// How many more requests may be queued under the bound `limit` (`--queue`).
    pub fn room(&self, limit: usize) -> usize {
        limit.saturating_sub(self.queued)
    }

    /// `n` more requests were queued by their clients.
    pub fn queue_grew(&mut self, n: usize) {
        self.queued += n;
    }

    /// `n` queued requests left with their client.
    pub fn queue_shrank(&mut self, n: usize) {
        self.queued -= n;
    }

    /// Requests waiting for a secondary, retries included.
    pub fn waiting(&self) -> usize {
        self.queued + self.retries.len()
    }

    /// `client` has requests queued: it takes its turn in the ring.
    pub fn wants_turn(&mut self, client: u64) {
        if self.in_ring.insert(client) {
            self.ring.push_back(client);
        }
    }

    /// The soonest moment a busy secondary counts as hung.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.seats
            .iter()
            .filter_map(|s| s.busy.as_ref().map(|b| b.1))
            .min()
    }

    /// Whether requests wait and a secondary could take the next one now.
    pub fn can_dispatch(&self, io: &impl Io) -> bool {
        (!self.ring.is_empty() || !self.retries.is_empty()) && self.pick(io).is_some()
    }

    /// The secondary the next request goes to, if one can take it now. A retry avoids
    /// the secondary it failed on, unless no other will ever take it (a pool of one, or
    /// the others' restart budgets are spent).
    ///
    /// While a turn given less than `await_for` ago is unanswered, new requests wait
    /// for that secondary (it is about to be free, and awake) rather than wake one that
    /// sleeps: on few cores one secondary at a time does the work of small requests for
    /// one wake-up, where two would cost two. A secondary still awake after its last
    /// turn (see `secondary.rs`) takes them at once.
    fn pick(&self, io: &impl Io) -> Option<usize> {
        let n = self.seats.len();
        match self.retries.front().map(|j| j.failed_on) {
            Some(Some(bad)) => (0..n).find(|&i| self.idle(i, io) && i != bad).or_else(|| {
                let alone = (0..n).all(|i| i == bad || io.given_up(i));
                (alone && self.idle(bad, io)).then_some(bad)
            }),
            _ => {
                let hold = self.reply_due(io.now());
                (0..n).find(|&i| self.idle(i, io) && (!hold || io.awake(i)))
            }
        }
    }

    /// Whether a turn given less than `await_for` ago is unanswered.
    pub fn reply_due(&self, now: Instant) -> bool {
        self.seats
            .iter()
            .any(|s| s.busy.is_some() && now < s.given_at + self.await_for)
    }

    /// Whether secondary `i` can take a request now.
    fn idle(&self, i: usize, io: &impl Io) -> bool {
        io.live(i) && self.seats[i].busy.is_none()
    }

    /// The next request to hand out: a retry first, then the clients in turn, one
    /// request each, so a client sending as fast as it can gets its share and no more.
    fn next_job(&mut self, io: &mut impl Io) -> Option<Job> {
        if let Some(job) = self.retries.pop_front() {
            return Some(job);
        }
        while let Some(id) = self.ring.pop_front() {
            let Some((order, line)) = io.take_request(id) else {
                self.in_ring.remove(&id);
                continue;
            };
            if io.has_more(id) {
                self.ring.push_back(id);
            } else {
                self.in_ring.remove(&id);
            }
            self.queued -= 1;
            return Some(Job {
                client: id,
                order,
                line,
                failed_on: None,
            });
        }
        None
    }

    /// Gives queued requests to idle secondaries: to each, its share of what waits, in
    /// one batch when that is more than one request (one doorbell, one wake-up).
    pub fn dispatch(&mut self, io: &mut impl Io) {
        let n = self.seats.len();
        while let Some(i) = self.pick(io) {
            let Some(first) = self.next_job(io) else {
                break;
            };
            if !io.connected(first.client) {
                continue;
            }
            let mut jobs = self.batches.pop().unwrap_or_default();
            jobs.push(first);
            // A retry goes alone, so that failing twice means something about it.
            if jobs[0].failed_on.is_none() {
                // Shared among the idle secondaries that are awake (this one counts as
                // awake: it is being given work): one that sleeps would cost a wake-up,
                // and only takes work once no reply is due (see `pick`).
                let idle = (0..n)
                    .filter(|&j| j == i || (self.idle(j, io) && io.awake(j)))
                    .count();
                let waiting = self.queued + self.retries.len() + 1;
                // An even share of what waits among them, but not below MIN_BATCH:
                // small requests cost less than the wake-up they would take.
                let share = waiting
                    .div_ceil(idle)
                    .max(waiting.min(MIN_BATCH))
                    .min(MAX_BATCH);
                let room = io.room(i);
                let mut need = batch::encoded_len([reply_room(&jobs[0].line)]);
                while jobs.len() < share {
                    let Some(job) = self.next_job(io) else { break };
                    if job.failed_on.is_some() || !io.connected(job.client) {
                        if job.failed_on.is_some() {
                            self.retries.push_front(job);
                            break;
                        }
                        continue;
                    }
                    let with = need + batch::item_len(reply_room(&job.line));
                    if with > room {
                        // Not in this turn: it goes first next time.
                        self.retries.push_front(job);
                        break;
                    }
                    need = with;
                    jobs.push(job);
                }
            }
            if let Err(e) = self.assign(i, jobs, io) {
                crate::warn!("secondary {i}: {e:#}");
            }
        }
    }

    fn assign(&mut self, i: usize, jobs: Vec<Job>, io: &mut impl Io) -> Result<()> {
        let seq = self.seats[i].seq + 1;
        let now = io.now();
        let lost = io.hand(i, seq, &jobs, now + self.timeout)?;
        // The secondary's time counts from the doorbell, read afresh once it rang: a
        // primary held up inside `hand` (stopped before the doorbell) would otherwise find
        // the turn late the moment it runs again, though the secondary only just got it.
        let deadline = io.now() + self.timeout;
        // From here the request belongs to this secondary: if it cannot be handed over,
        // the secondary is treated as dead and the request retried like any other.
        self.counts.turns += 1;
        let seat = &mut self.seats[i];
        seat.seq = seq;
        seat.given_at = now;
        seat.busy = Some((jobs, deadline));
        match lost {
            None => Ok(()),
            Some(trouble) => self.died(i, trouble, io),
        }
    }

    /// Whether the busy secondary `i` published the reply to its current turn.
    fn replied(&self, i: usize, io: &impl Io) -> bool {
        let seat = &self.seats[i];
        seat.busy.is_some() && io.live(i) && io.published(i) == seat.seq
    }

    /// Whether any busy secondary published the reply to its current turn.
    pub fn any_replied(&self, io: &impl Io) -> bool {
        (0..self.seats.len()).any(|i| self.replied(i, io))
    }

    /// Completes every turn whose reply is published, doorbell or not.
    pub fn collect(&mut self, io: &mut impl Io) -> Result<()> {
        for i in 0..self.seats.len() {
            if self.replied(i, io) {
                let seq = self.seats[i].seq;
                self.complete(i, seq, io)?;
            }
        }
        Ok(())
    }

    /// Secondary `i` says it answered turn `seq`: copy the reply out and deliver it.
    pub fn complete(&mut self, i: usize, seq: u64, io: &mut impl Io) -> Result<()> {
        let published = io.published(i);
        let seat = &mut self.seats[i];
        if seat.busy.is_none() || seq != seat.seq || published != seat.seq {
            if seq < seat.seq || (seq == seat.seq && published == seq && seat.busy.is_none()) {
                // A late doorbell for a turn already completed (by its counter, see
                // `collect`).
                return Ok(());
            }
            crate::warn!(
                "secondary {i}: reply for turn {seq} (published {published}) while waiting for {}",
                seat.seq
            );
            return self.died(i, Trouble::WrongTurn, io);
        }
        let Some((mut jobs, _)) = seat.busy.take() else {
            return Ok(());
        };
        // Each reply goes from the copy of the slot to its client as it is, no copy of
        // its own: a batch is checked whole first, then walked.
        let mut bytes = std::mem::take(&mut self.reply);
        let n = jobs.len();
        if !io.reply_into(i, &mut bytes) {
            for job in jobs.drain(..) {
                let why = "ERR worker failed (reply longer than its slot)";
                self.answer_instead(job, why, Instead::Failed, io);
            }
        } else if n == 1 {
            for job in jobs.drain(..) {
                self.deliver(job, &bytes, io);
            }
        } else if let Err(e) = batch::check(&bytes, Some(n)) {
            let why = format!("ERR worker failed (malformed reply: {e})");
            for job in jobs.drain(..) {
                self.answer_instead(job, &why, Instead::Failed, io);
            }
        } else {
            let mut each = jobs.drain(..);
            // Checked above: every item is walked, one per job.
            let walked = batch::decode_each(&bytes, Some(n), |item| {
                if let Some(job) = each.next() {
                    self.deliver(job, item, io);
                }
            });
            debug_assert!(walked.is_ok() && each.next().is_none());
        }
        self.reply = bytes;
        if self.batches.len() < self.seats.len() {
            self.batches.push(jobs);
        }
        Ok(())
    }

    /// Files a reply with its client.
    fn deliver(&mut self, job: Job, reply: &[u8], io: &mut impl Io) {
        match reply_line(reply) {
            Some(line) => self.deliver_checked(job, line, io),
            // The secondary's fault, not the request's: failed, as when it dies.
            None => self.answer_instead(job, MALFORMED, Instead::Failed, io),
        }
    }

    /// Files a reply checked to be one line with its client.
    fn deliver_checked(&mut self, job: Job, reply: &[u8], io: &mut impl Io) {
        self.counts.requests += 1;
        if crate::protocol::is_error(reply) {
            self.counts.errors += 1;
        }
        io.answer(job.client, job.order, reply);
        io.recycle(job.line);
    }

    /// Secondary `i` died or must be killed (`trouble`): the supervisor reaps it and
    /// schedules its restart; its requests are retried once elsewhere, then failed.
    pub fn died(&mut self, i: usize, trouble: Trouble, io: &mut impl Io) -> Result<()> {
        let during = match self.seats[i].busy.as_ref().map(|b| &b.0[..]) {
            Some([job]) => format!(
                "during a request of client {}",
                super::ids::shown(job.client)
            ),
            Some(jobs) => format!("during a batch of {} requests", jobs.len()),
            None => "while idle".to_string(),
        };
        io.died(i, trouble, &during)?;
        let jobs = self.seats[i].busy.take().map(|b| b.0).unwrap_or_default();
        // Back to the front in their order: each is retried once, alone.
        for mut job in jobs.into_iter().rev() {
            if job.failed_on.is_none() {
                job.failed_on = Some(i);
                self.counts.retried += 1;
                self.retries.push_front(job);
            } else {
                self.answer_instead(job, "ERR worker failed", Instead::Failed, io);
            }
        }
        Ok(())
    }

    /// Answers `reply` to a request in place of a secondary, for `why`.
    fn answer_instead(&mut self, job: Job, reply: &str, why: Instead, io: &mut impl Io) {
        self.counts.answered_instead(why, 1);
        io.answer(job.client, job.order, reply.as_bytes());
        io.recycle(job.line);
    }

    /// Completes or kills secondary `i` if its turn is past its deadline at `now`.
    pub fn check_deadline(&mut self, i: usize, now: Instant, io: &mut impl Io) -> Result<()> {
        if self.seats[i].busy.as_ref().is_some_and(|b| b.1 <= now) {
            if self.replied(i, io) {
                // Published while we did not look (no doorbell rings while we are
                // awake): a primary itself held up past the deadline (stopped,
                // descheduled, a paused machine) must not take a secondary that
                // answered in time for a hung one.
                let seq = self.seats[i].seq;
                self.complete(i, seq, io)?;
            } else {
                self.died(i, Trouble::Hung, io)?;
            }
        }
        Ok(())
    }

    /// Answers every request still waiting for a secondary with `reply` (`ERR worker
    /// failed`: every secondary was given up). Each counts as failed, whether it had
    /// been tried or not (a retry, one left out of a full batch, one queued): it got
    /// that reply.
    pub fn fail_queued(&mut self, reply: &str, io: &mut impl Io) {
        self.answer_waiting(reply, Instead::Failed, io);
    }

    /// Answers `reply` (`ERR shutting down`) to every request queued or at a secondary.
    /// Requests cut short by a stop are neither failures of a secondary nor errors of
    /// theirs: they count as `cut_short`.
    pub fn answer_all(&mut self, reply: &str, io: &mut impl Io) {
        self.answer_waiting(reply, Instead::CutShort, io);
        for i in 0..self.seats.len() {
            for job in self.seats[i].busy.take().map(|b| b.0).unwrap_or_default() {
                self.answer_instead(job, reply, Instead::CutShort, io);
            }
        }
    }

    /// Counts `n` requests answered `ERR shutting down` at the stop by their client's
    /// connection itself: read, but held back by the client's bounds (they never reached
    /// the queue), or queued but never in the ring.
    pub fn cut_short_unqueued(&mut self, n: u64) {
        self.counts.answered_instead(Instead::CutShort, n);
    }

    /// Answers `reply` to every request waiting for a secondary, for `why`.
    fn answer_waiting(&mut self, reply: &str, why: Instead, io: &mut impl Io) {
        while let Some(job) = self.retries.pop_front() {
            self.answer_instead(job, reply, why, io);
        }
        while let Some(id) = self.ring.pop_front() {
            self.in_ring.remove(&id);
            let n = io.answer_queued(id, reply);
            self.queued -= n;
            self.counts.answered_instead(why, n as u64);
        }
    }
}

/// Room a request needs in a batch for its reply (see [`crate::protocol::reply_room`]).
fn reply_room(line: &[u8]) -> usize {
    crate::protocol::reply_room(line)
}

/// The reply to a request whose secondary's reply is not a line.
const MALFORMED: &str = "ERR worker failed (malformed reply)";

/// A reply copied out of a slot, if it is the line it must be: UTF-8 without a newline.
fn reply_line(bytes: &[u8]) -> Option<&[u8]> {
    let one_line = memchr::memchr(b'\n', bytes).is_none();
    (one_line && std::str::from_utf8(bytes).is_ok()).then_some(bytes)
}

#[cfg(test)]
mod tests;
