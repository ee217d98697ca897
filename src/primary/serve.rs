//! The serving mode (`osps primary --serve`): the primary as a dispatcher. It accepts
//! clients on `RUNDIR/NAME.sock` (and `--tcp`), reads request lines, and hands each one to
//! an idle secondary of the pool through that secondary's slot of the segment; the
//! secondary computes the reply (see `protocol.rs`) and gives the turn back. The primary
//! never computes a reply itself: it frames lines, queues, dispatches and supervises.
//!
//! One thread multiplexes everything with epoll (`poller.rs`): the listeners, every
//! client, every secondary's FIFO and the signal self-pipe, each registered once and
//! changed only when what it waits for changes. Sockets are non-blocking, so a slow or
//! silent client never delays the others. Replies go back in request order per client,
//! written once per pass of the loop, so a pipelining client gets them in few writes.
//!
//! Handoffs cost more than the work on few cores (a wake-up of a sleeping process, a
//! FIFO write and read), so each one carries as much as it can: every ready client is
//! read before dispatching, the requests waiting go to one secondary in one batch, and
//! a reply rings the primary's doorbell only when the primary sleeps in epoll. While it
//! works it reads the secondaries' reply counters itself, and before it sleeps it looks
//! at them a little while, yielding its CPU to the secondary it waits for (see
//! `Server::look_again`). No secondary spins; after a turn, each looks for the next
//! a little while the same way, then sleeps (see `secondary.rs`).
//!
//! Fairness: each client has its own queue of requests, bounded by `--max-inflight`
//! (and by the bytes it may hold, see `clients.rs`); at the bound the primary stops
//! reading it, and the dispatcher takes the clients in turn, one request each. A client
//! sending as fast as it can gets its share and no more, and is never told `ERR busy`
//! for it: `ERR busy` is only for `--queue`, all clients' queued requests together.
//! Descriptors are budgeted at start and a shortage is handled without spinning
//! (`admission.rs`, `fdlimit.rs`).
//! A secondary that dies or hangs during a request is restarted (with the same budget as
//! the rounds mode), and the request is retried once on another secondary, then answered
//! `ERR worker failed`: never left without an answer, never answered twice (`pool.rs`).
//!
//! A Unix client's requests are peeked and taken out of its socket only once its replies
//! are written, so that reading a request does not wake a client waiting for its reply
//! (`stream.rs`).
//!
//! This file is the event loop; the door is `admission.rs`, the clients `hall.rs`, who
//! takes which request `pool.rs`, and how a turn reaches a secondary `hands.rs`.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use color_eyre::eyre::Result;

use super::admission::{Door, Tokens};
use super::clients::Limits;
use super::hall::{Around, Hall};
use super::hands::{self, Hands};
use super::placement::Placement;
use super::pool::Pool;
use super::summary::{ServeSummary, StoppedBy};
use super::supervisor::Supervisor;
use super::worker::{Ctx, Step, Trouble};
use crate::cli::PrimaryArgs;
use crate::exit::{Exit, coded};
use crate::instance::objects::Instance;
use crate::os::notify::Notifier;
use crate::os::poller::{Interest, Poller, Ready};
use crate::os::signals::SelfPipe;
use crate::pair::area::Area;
use crate::pair::fifo::Event;
use crate::pair::frame::Kind;
use crate::pair::header::{Field, State};

// Tokens of the poll set: fixed ones, two per secondary (its reply FIFO while it runs,
// its hello FIFO while it starts), and one per client above CLIENT_TOKENS.
const SIGNAL_TOKEN: u64 = 0;
const UNIX_TOKEN: u64 = 1;
const TCP_TOKEN: u64 = 2;
const WORKER_TOKENS: u64 = 16;
const CLIENT_TOKENS: u64 = 1 << 32;

/// What a token of the poll set stands for.
#[derive(Clone, Copy, Debug)]
enum Source {
    Signal,
    Unix,
    Tcp,
    Secondary(usize),
    /// A restarted secondary's hello (its handshake runs from the event loop).
    Starting(usize),
    Client(u64),
}

impl Source {
    fn of(token: u64) -> Option<Source> {
        Some(match token {
            SIGNAL_TOKEN => Source::Signal,
            UNIX_TOKEN => Source::Unix,
            TCP_TOKEN => Source::Tcp,
            t if t >= CLIENT_TOKENS => Source::Client(t - CLIENT_TOKENS),
            t if t >= WORKER_TOKENS => {
                let i = ((t - WORKER_TOKENS) / 2) as usize;
                if (t - WORKER_TOKENS) % 2 == 0 {
                    Source::Secondary(i)
                } else {
                    Source::Starting(i)
                }
            }
            _ => return None,
        })
    }
}

/// What a secondary's FIFO is registered as: the descriptor number, the token, and the
/// pid of the process behind it (a restart may reuse the number for a new FIFO, whose
/// registration the close of the old one removed).
type Watched = Option<(RawFd, u64, Option<u32>)>;

struct Server<'a> {
    ctx: Ctx<'a>,
    notify: Notifier,
    poller: Poller,
    door: Door,
    sup: Supervisor,
    /// Each secondary's slot of the data area.
    areas: Vec<Area<'a>>,
    pool: Pool,
    watched: Vec<Watched>,
    hall: Hall,
    /// A batch being encoded for a slot (kept to reuse its memory).
    batch: Vec<u8>,
    /// When the primary last wrote its heartbeat (see [`HEARTBEAT`]).
    last_beat: Instant,
    /// The clock of this turn of the loop: read once, when the wait returns, and used by
    /// everything the turn does (deadlines are seconds, a turn microseconds) but the
    /// deadline of a turn given to a secondary, which counts from then (see `hands.rs`).
    /// A stale reading only makes things come later, never a deadline earlier.
    now: Instant,
    /// Whether the processes share a CPU (`--share-cpu`, see `placement.rs`).
    placement: Placement,
    summary: ServeSummary,
}

/// How often an idle serving primary wakes to write its heartbeat: a serving primary
/// whose heartbeat is older than this (plus a scheduling delay) is stuck, whatever its
/// clients do. (Its secondaries write theirs only when they take a turn.)
const HEARTBEAT: Duration = Duration::from_secs(1);

/// The heartbeat of a busy primary is written at most this often: views show its age
/// in milliseconds, and a stuck primary is one whose heartbeat is older than
/// [`HEARTBEAT`].
const BEAT_EVERY: Duration = Duration::from_millis(10);

/// Runs the serving primary on an instance already created with `--secondaries` FIFO
/// pairs. Returns how it ended and its summary (none if it could not even listen); no
/// secondary is left running either way.
pub fn run<'a>(
    args: &'a PrimaryArgs,
    inst: &'a mut Instance,
    sigs: &'a SelfPipe,
) -> (Result<Exit>, Option<ServeSummary>) {
    large_buffers_from_mmap();
    let prepared = prepare(args, inst, sigs);
    let inst: &Instance = inst;
    let (door, poller) = match prepared {
        Ok(p) => p,
        Err(e) => return (Err(e), None),
    };
    let workers = args.secondaries as usize;
    let started = Instant::now();
    let mut server = Server {
        ctx: Ctx { inst, sigs, args },
        notify: Notifier::from_env(),
        poller,
        door,
        sup: Supervisor::new(workers, args),
        areas: (0..workers).map(|i| inst.seg().slot(i, workers)).collect(),
        pool: Pool::new(
            workers,
            args.timeout,
            args.sync.answer_spin(args.spin).min(AWAIT_REPLY),
        ),
        watched: vec![None; workers],
        hall: Hall::new(
            Limits {
                max_line: args.max_line as usize,
                max_inflight: args.max_inflight as usize,
            },
            args.queue as usize,
            CLIENT_TOKENS,
        ),
        last_beat: Instant::now(),
        now: Instant::now(),
        placement: Placement::new(args.share_cpu, Instant::now()),
        batch: Vec::new(),
        summary: ServeSummary::new(inst.paths().name.to_string(), workers),
    };
    let result = server.go();
    if result.is_err() {
        server.sup.abort_all();
        // A give-up is an error exit too, but says so itself (and stopped in order).
        if server.summary.stopped_by != StoppedBy::GaveUp {
            server.summary.stopped_by = StoppedBy::Error;
            server.close_after_failure();
        }
    }
    let counts = server.pool.counts();
    server.summary.requests = counts.requests;
    server.summary.errors = counts.errors;
    server.summary.retried = counts.retried;
    server.summary.failed = counts.failed;
    server.summary.cut_short = counts.cut_short;
    server.summary.turned_away = server.door.turned_away();
    server.summary.restarts = server.sup.restarts();
    server.summary.deaths = server.sup.deaths();
    server.summary.elapsed_ms = started.elapsed().as_millis() as u64;
    (result, Some(server.summary))
}

/// Large buffers (long request lines, their replies) get pages of their own, given
/// back to the kernel when freed. glibc otherwise raises its mmap threshold after the
/// first large free and carves such buffers out of the heap, where the holes they leave
/// between the buffers of clients that hold theirs keep the primary's RSS well above
/// what it holds (see `clients.rs`, [`super::clients::MAX_HELD`]).
fn large_buffers_from_mmap() {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallopt only changes a setting of the allocator (it takes no pointer);
        // it is called before the serving loop allocates anything large.
        if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) } == 0 {
            // Only memory is at stake, not correctness: say it and serve on.
            crate::debug!(
                "mallopt(M_MMAP_THRESHOLD, {MMAP_THRESHOLD}) refused: a silent client may \
                 cost more memory than the documented bound"
            );
        }
    }
}

/// Allocations from this size up are mmapped on their own (glibc's default is 128 KiB,
/// raised up to 32 MiB at run time).
#[cfg(target_env = "gnu")]
const MMAP_THRESHOLD: i32 = 32 << 10;

/// Raises the descriptor limit, sizes --max-clients to it, listens, and builds the poll
/// set of the fixed descriptors (signals, listeners).
fn prepare(args: &PrimaryArgs, inst: &mut Instance, sigs: &SelfPipe) -> Result<(Door, Poller)> {
    let tokens = Tokens {
        unix: UNIX_TOKEN,
        tcp: TCP_TOKEN,
    };
    let door = Door::open(args, inst, tokens)?;
    let poller = Poller::new()?;
    poller.add(sigs.fd(), SIGNAL_TOKEN, Interest::READ)?;
    door.register(&poller)?;
    Ok((door, poller))
}

impl<'a> Server<'a> {
    fn stop_requested(&self) -> bool {
        self.ctx.sigs.stop_requested()
    }

    fn go(&mut self) -> Result<Exit> {
        let seg = self.ctx.inst.seg();
        // Before the first fork: a secondary inherits the primary's CPUs.
        self.placement.start();
        for i in 0..self.pool.len() {
            // Asleep until the loop runs: a reply before then rings the doorbell.
            seg.at(self.sup.worker(i).fields().primary_sleeping)
                .store(1, Ordering::SeqCst);
            let base = self.pool.seq(i);
            if self.sup.worker_mut(i).start(&self.ctx, base)?.is_some() {
                self.after_death(i);
            }
        }
        seg.store(Field::PrimaryState, State::Ready as u64);
        let tcp = match self.door.tcp_addr() {
            Some(a) => format!(" and TCP {a}"),
            None => String::new(),
        };
        let n = self.pool.len();
        let ready = format!(
            "instance {} serving on {}{tcp} with {n} {}",
            self.ctx.inst.paths().name,
            self.ctx
                .inst
                .paths()
                .in_dir(&self.ctx.inst.paths().socket_file())
                .display(),
            if n == 1 { "secondary" } else { "secondaries" }
        );
        crate::info!("{ready}");
        self.notify.ready(&ready);
        // A server mostly waits for clients: let the kernel wake us if the lock file is
        // touched, rather than waking on a timer to look.
        self.ctx.inst.watch_lock();
        let mut gave_up = None;
        let mut ready = Vec::new();
        while !self.stop_requested() {
            if self.sup.all_given_up() {
                gave_up = Some(self.sup.deaths_text());
                break;
            }
            // Replies collected first: settling their clients cuts the requests that
            // waited for room, which the dispatch then hands out in the same pass.
            self.collect()?;
            self.settle();
            self.dispatch();
            self.settle();
            self.publish_counters();
            self.place();
            self.door
                .defend_socket(self.ctx.inst, &self.poller, HEARTBEAT, self.now);
            self.notify.ping_if_due();
            self.watch_workers()?;
            self.door.watch(&self.poller, self.now)?;
            let mut timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(self.now));
            // A reply due any moment, or requests that an idle secondary could take (a
            // client settled after the dispatch): another pass at once, not a sleep.
            if self.look_again() || self.can_dispatch() || self.hall.has_more_to_settle() {
                timeout = Some(Duration::ZERO);
            }
            ready.clear();
            ready.extend(self.poller.wait(timeout)?);
            self.now = Instant::now();
            self.set_asleep(false);
            for r in &ready {
                self.handle(r)?;
            }
            self.check_deadlines()?;
            self.sup.tick_at(&self.ctx, self.now);
            self.settle();
        }
        self.shut_down();
        if let Some(why) = gave_up {
            self.summary.stopped_by = StoppedBy::GaveUp;
            return Err(coded(
                Exit::SecondaryFailed,
                format!(
                    "every secondary died more often than --max-restarts allows; gave up: {why}"
                ),
            ));
        }
        self.summary.stopped_by = StoppedBy::Signal;
        Ok(Exit::Success)
    }

    /// Keeps each secondary's FIFO in the poll set as it starts, runs, dies and restarts.
    fn watch_workers(&mut self) -> Result<()> {
        for (i, w) in self.sup.iter().enumerate() {
            let base = WORKER_TOKENS + 2 * i as u64;
            let (fd, want): (_, Watched) = match (w.fd(), w.starting_fd()) {
                (Some(fd), _) => (Some(fd), Some((fd.as_raw_fd(), base, w.pid()))),
                (None, Some(fd)) => (Some(fd), Some((fd.as_raw_fd(), base + 1, w.last_pid()))),
                (None, None) => (None, None),
            };
            if want == self.watched[i] {
                continue;
            }
            if let (Some(fd), Some((raw, token, _))) = (fd, want) {
                // The same descriptor moving from its handshake to running keeps its
                // registration: change the token. Anything else is a new registration
                // (closing an old FIFO removed its own).
                let same_fd = self.watched[i].is_some_and(|(old, _, _)| old == raw);
                let moved = same_fd && self.poller.modify(fd, token, Interest::READ).is_ok();
                if !moved && self.poller.add(fd, token, Interest::READ).is_err() {
                    // Registered already under an older state: retarget it.
                    self.poller.modify(fd, token, Interest::READ)?;
                }
            }
            self.watched[i] = want;
        }
        Ok(())
    }

    fn next_deadline(&self) -> Option<Instant> {
        let busy = self.pool.next_deadline();
        let ping = self.notify.next_ping_at();
        busy.into_iter()
            .chain(self.sup.next_deadline())
            .chain(Some(self.last_beat + HEARTBEAT))
            .chain(ping)
            .chain(self.door.resume_at())
            .chain(self.hall.drain_deadlines())
            .chain(self.hall.hold_deadline())
            .min()
    }

    fn handle(&mut self, ready: &Ready) -> Result<()> {
        let Some(source) = Source::of(ready.token) else {
            return Ok(());
        };
        match source {
            Source::Signal => {
                let woken = self.sup.on_wake(&self.ctx)?;
                for i in woken.exited {
                    self.died(i, Trouble::Exited)?;
                }
                for i in woken.failed_start {
                    self.after_death(i);
                }
            }
            Source::Unix => self.accept_all(false),
            Source::Tcp => self.accept_all(true),
            Source::Secondary(i) => self.read_secondary(i)?,
            Source::Starting(i) => self.step_handshake(i)?,
            Source::Client(id) => {
                let (hall, mut around) = self.hall();
                hall.on_client(id, ready, &mut around);
            }
        }
        Ok(())
    }

    /// Takes every waiting connection of one listener that the door lets in. At the
    /// bound, the clients that already left are let go first, since their hang-up is
    /// only reported by the next wait (`looked`: a look in this burst of newcomers found
    /// none, so the next newcomers are refused without looking again).
    fn accept_all(&mut self, tcp: bool) {
        let mut looked = false;
        while let Some(stream) = self.door.accept(tcp) {
            if self.door.full(self.hall.len()) && !looked {
                let before = self.hall.len();
                let (hall, mut around) = self.hall();
                hall.let_go_of_the_departed(&mut around);
                looked = self.hall.len() == before;
            }
            if let Some(stream) = self.door.admit(stream, self.hall.len()) {
                self.hall.welcome(stream, &self.poller, &mut self.summary);
            }
        }
    }

    /// The clients, and what their reads and departures change (see `hall.rs`).
    fn hall(&mut self) -> (&mut Hall, Around<'_>) {
        let around = Around {
            pool: &mut self.pool,
            door: &mut self.door,
            summary: &mut self.summary,
            poller: &self.poller,
            now: self.now,
        };
        (&mut self.hall, around)
    }

    /// Brings every client touched in this pass up to date (see [`Hall::settle`]).
    fn settle(&mut self) {
        let (hall, mut around) = self.hall();
        hall.settle(&mut around);
    }

    /// The pool and its hands on the secondaries and the clients (see `pool.rs`).
    fn pool(&mut self) -> (&mut Pool, Hands<'_, 'a>) {
        let hands = Hands {
            ctx: &self.ctx,
            sup: &mut self.sup,
            areas: &self.areas,
            hall: &mut self.hall,
            batch: &mut self.batch,
        };
        (&mut self.pool, hands)
    }

    /// Whether requests wait and a secondary could take the next one now.
    fn can_dispatch(&mut self) -> bool {
        let (pool, hands) = self.pool();
        pool.can_dispatch(&hands)
    }

    fn dispatch(&mut self) {
        let (pool, mut hands) = self.pool();
        pool.dispatch(&mut hands);
    }

    /// Completes every turn whose reply is published, doorbell or not.
    fn collect(&mut self) -> Result<()> {
        let (pool, mut hands) = self.pool();
        pool.collect(&mut hands)
    }

    fn complete(&mut self, i: usize, seq: u64) -> Result<()> {
        let (pool, mut hands) = self.pool();
        pool.complete(i, seq, &mut hands)
    }

    fn died(&mut self, i: usize, trouble: Trouble) -> Result<()> {
        let (pool, mut hands) = self.pool();
        pool.died(i, trouble, &mut hands)
    }

    /// Says to every secondary whether the primary sleeps in epoll (a reply must ring its
    /// doorbell) or is awake (it looks at the reply counters itself before it sleeps, see
    /// [`Self::look_again`]), so a reply that comes while the primary works costs no
    /// FIFO write, read or wake-up. The protocol of `turn.rs`'s adaptive mode: the
    /// secondary stores its reply counter then loads this flag, we store the flag then
    /// load the counter, all SeqCst, so one of the two sees the other.
    fn set_asleep(&self, asleep: bool) {
        let seg = self.ctx.inst.seg();
        for i in 0..self.pool.len() {
            seg.at(self.sup.worker(i).fields().primary_sleeping)
                .store(u64::from(asleep), Ordering::SeqCst);
        }
    }

    /// Whether to take another pass at once rather than sleep in epoll: while a
    /// secondary works on a turn given less than [`AWAIT_REPLY`] ago, the loop goes on
    /// (its reply is collected by its counter, clients that become ready meanwhile are
    /// read); otherwise it announces sleep and looks at the counters once more.
    ///
    /// Between two such passes it yields the CPU rather than spin: the secondary it
    /// waits for, woken by its doorbell, often waits for this very CPU (the kernel wakes
    /// a process next to its waker), and so do clients just answered. Either runs at
    /// once and costs no wake-up of an idle CPU; with nothing else to run, a yield
    /// returns at once. A long batch, or a hung secondary, costs no more than that.
    fn look_again(&mut self) -> bool {
        if self.pool.reply_due(self.now) {
            std::thread::yield_now();
            return true;
        }
        self.set_asleep(true);
        let (pool, hands) = self.pool();
        pool.any_replied(&hands)
    }

    /// Reads one frame of secondary `i`: a reply completes its requests. (One per
    /// wake-up: a secondary has one turn at a time, and the poll set, level-triggered,
    /// reports a stale doorbell still in the FIFO on the next wait.)
    fn read_secondary(&mut self, i: usize) -> Result<()> {
        if !self.sup.worker(i).is_live() {
            return Ok(());
        }
        let event = match self.sup.worker_mut(i).next_event(self.now, None) {
            Ok(e) => e,
            Err(e) => {
                crate::warn!("secondary {i}: {e:#}");
                return self.died(i, Trouble::BadFrame);
            }
        };
        match event {
            Event::Frame(f) if f.kind == Kind::Reply => self.complete(i, f.seq),
            Event::Frame(f) => {
                crate::warn!("secondary {i}: unexpected {:?} frame", f.kind);
                self.died(i, Trouble::UnexpectedFrame)
            }
            Event::Eof => self.died(i, Trouble::ClosedFifo),
            Event::TimedOut | Event::Woken => Ok(()),
        }
    }

    /// Advances the handshake of restarted secondary `i` without blocking.
    fn step_handshake(&mut self, i: usize) -> Result<()> {
        match self.sup.worker_mut(i).handshake(&self.ctx, true)? {
            Step::Waiting => {}
            Step::Ready => crate::debug!("secondary {i} is back"),
            Step::Died(_) => self.after_death(i),
        }
        Ok(())
    }

    /// Says so when secondary `i` will not be restarted any more.
    fn after_death(&self, i: usize) {
        hands::after_death(&self.ctx, &self.sup, i);
    }

    /// Kills hung secondaries and starts the ones whose backoff ended.
    fn check_deadlines(&mut self) -> Result<()> {
        let now = self.now;
        for i in 0..self.pool.len() {
            let (pool, mut hands) = self.pool();
            pool.check_deadline(i, now, &mut hands)?;
            if self.sup.worker(i).restart_due(now) && !self.stop_requested() {
                // Launch only: the handshake goes on from the event loop, so clients are
                // served by the other secondaries meanwhile.
                let base = self.pool.seq(i);
                if let Err(e) = self.sup.worker_mut(i).restart(&self.ctx, base) {
                    self.sup.worker_mut(i).launch_failed(&self.ctx, &e);
                    self.after_death(i);
                }
            }
            if self.sup.worker(i).handshake_due(now) {
                self.step_handshake(i)?;
            }
        }
        if self.sup.all_given_up() {
            let (pool, mut hands) = self.pool();
            pool.fail_queued("ERR worker failed", &mut hands);
        }
        Ok(())
    }

    fn publish_counters(&mut self) {
        let seg = self.ctx.inst.seg();
        seg.store(Field::Clients, self.hall.len() as u64);
        seg.store(Field::Queued, self.pool.waiting() as u64);
        seg.store(Field::Requests, self.pool.counts().requests);
        // The loop wakes at least every HEARTBEAT; a busy one writes it at most every
        // BEAT_EVERY (its clock is a read of its own).
        if self.now >= self.last_beat + BEAT_EVERY {
            seg.store(Field::PrimaryHeartbeat, crate::clock::monotonic_ns());
            self.last_beat = self.now;
        }
    }

    /// Shares a CPU or not, as the load of the last window says (see `placement.rs`).
    fn place(&mut self) {
        let counts = self.pool.counts();
        let sup = &self.sup;
        self.placement
            .tick(self.now, counts.requests, counts.turns, || {
                // Running, or starting (our unreaped child: its pid names it, no other).
                sup.iter()
                    .filter_map(|w| w.pid().or(w.starting_pid()))
                    .filter_map(|p| i32::try_from(p).ok())
                    .collect()
            });
    }

    /// The orderly stop: queued requests get an answer, every secondary stops and is
    /// reaped, clients get their pending replies (best effort) and are closed.
    fn shut_down(&mut self) {
        self.notify.stopping();
        self.ctx
            .inst
            .seg()
            .store(Field::PrimaryState, State::Stopping as u64);
        self.answer_everything_read();
        if let Err(e) = self.sup.stop_all(&self.ctx) {
            crate::warn!("{e:#}");
        }
        self.hall.close_all();
    }

    /// After a failure that ends the server (the segment truncated or removed under
    /// us, say), once the secondaries are killed: every request read still gets an
    /// answer, and every client an end of file rather than a reset.
    fn close_after_failure(&mut self) {
        self.answer_everything_read();
        self.hall.close_all();
    }

    /// At the stop, every request read gets its answer, in order: `ERR shutting down`
    /// for those queued, at a secondary, or still in their client's input, held back by
    /// its bounds. Requests not read yet get none: nothing is read any more, and their
    /// client's end of file comes right after its last answer (docs/SERVICE.md).
    fn answer_everything_read(&mut self) {
        const CUT_SHORT: &str = "ERR shutting down";
        let (pool, mut hands) = self.pool();
        pool.answer_all(CUT_SHORT, &mut hands);
        let refused = self.hall.answer_held(CUT_SHORT, &mut self.pool);
        self.summary.count_refused(refused);
    }
}

/// How long after giving a turn the primary looks at the reply counters (passes of its
/// loop) before it sleeps in epoll and has its doorbell rung (at most `--spin`; never with
/// `--sync fifo`): small requests take a secondary microseconds, a kernel wake-up as long.
const AWAIT_REPLY: Duration = Duration::from_micros(50);
