//! The serving mode (`osps primary --serve`): the primary as a dispatcher. It accepts
//! clients on `RUNDIR/NAME.sock` (and `--tcp`), reads request lines, and hands each one to
//! an idle secondary of the pool through that secondary's slot of the segment; the
//! secondary computes the reply (see `protocol.rs`) and gives the turn back. The primary
//! never computes a reply itself: it frames lines, queues, dispatches and supervises.
//!
//! One thread multiplexes everything with `poll`: the listeners, every client, every
//! secondary's FIFO and the signal self-pipe. Sockets are non-blocking, so a slow or
//! silent client never delays the others. Replies go back in request order per client.
//! A secondary that dies or hangs during a request is restarted (with the same budget as
//! the rounds mode), and the request is retried once on another secondary, then answered
//! `ERR worker failed`: never left without an answer, never answered twice.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{TcpListener, ToSocketAddrs};
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::clients::{Client, Stream};
use super::summary::ServeSummary;
use super::worker::{Ctx, Step, Supervisor, Trouble};
use crate::area::Area;
use crate::cli::PrimaryArgs;
use crate::exit::{Exit, coded};
use crate::fifo::{Event, Sent};
use crate::frame::Kind;
use crate::header::{Field, State};
use crate::instance::Instance;
use crate::notify::Notifier;
use crate::signals::SelfPipe;

/// Checks `--tcp` before anything is created: loopback only unless `--tcp-any`.
pub fn check_tcp(args: &PrimaryArgs) -> Result<()> {
    let Some(addr) = &args.tcp else { return Ok(()) };
    let resolved: Vec<_> = addr
        .to_socket_addrs()
        .map_err(|e| coded(Exit::Usage, format!("--tcp {addr}: not an ADDR:PORT ({e})")))?
        .collect();
    if !args.tcp_any {
        if let Some(open) = resolved.iter().find(|a| !a.ip().is_loopback()) {
            return Err(coded(
                Exit::Usage,
                format!(
                    "--tcp {addr} would accept clients from other hosts ({}); use a loopback \
                     address like 127.0.0.1:PORT, or add --tcp-any if that is what you want",
                    open.ip()
                ),
            ));
        }
    }
    Ok(())
}

/// The slot size every secondary needs: the longest line, plus room for its newline.
pub fn check_slots(args: &PrimaryArgs) -> Result<()> {
    let header = crate::header::header_len_for(args.secondaries as usize) as u64;
    let Some(data_size) = args.size.checked_sub(header) else {
        return Err(coded(
            Exit::Usage,
            format!(
                "--size {} cannot even hold the header of {} secondaries ({header} bytes); \
                 raise --size",
                args.size, args.secondaries
            ),
        ));
    };
    let slot = (data_size / u64::from(args.secondaries)) & !63;
    if slot < args.max_line + 1 {
        return Err(coded(
            Exit::Usage,
            format!(
                "--max-line {} does not fit: {} secondaries share a {}-byte data area, {slot} \
                 bytes each; raise --size or lower --max-line or --secondaries",
                args.max_line, args.secondaries, data_size
            ),
        ));
    }
    Ok(())
}

/// One request on its way to a secondary.
struct Job {
    client: u64,
    order: u64,
    line: Vec<u8>,
    /// The secondary it failed on, if it already failed once.
    failed_on: Option<usize>,
}

/// Secondary `i`'s share of the work: its slot of the data area and its request.
struct Slot<'a> {
    area: Area<'a>,
    /// The last turn given to it.
    seq: u64,
    /// Its request and the moment it counts as hung.
    busy: Option<(Job, Instant)>,
}

/// What a pass of `poll` found ready.
enum Ready {
    Signal,
    Unix,
    Tcp,
    Secondary(usize),
    /// A restarted secondary's hello (its handshake runs from the event loop).
    Starting(usize),
    Client(u64, PollFlags),
}

struct Server<'a> {
    ctx: Ctx<'a>,
    notify: Notifier,
    unix: UnixListener,
    tcp: Option<TcpListener>,
    sup: Supervisor,
    slots: Vec<Slot<'a>>,
    clients: HashMap<u64, Client>,
    next_client: u64,
    queue: VecDeque<Job>,
    summary: ServeSummary,
}

/// Runs the serving primary on an instance already created with `--secondaries` FIFO
/// pairs. Returns how it ended and its summary (none if it could not even listen); no
/// secondary is left running either way.
pub fn run<'a>(
    args: &'a PrimaryArgs,
    inst: &'a mut Instance,
    sigs: &'a SelfPipe,
) -> (Result<Exit>, Option<ServeSummary>) {
    let listeners = listen(args, inst);
    let inst: &Instance = inst;
    let (unix, tcp) = match listeners {
        Ok(l) => l,
        Err(e) => return (Err(e), None),
    };
    let workers = args.secondaries as usize;
    let started = Instant::now();
    let mut server = Server {
        ctx: Ctx { inst, sigs, args },
        notify: Notifier::from_env(),
        unix,
        tcp,
        sup: Supervisor::new(workers, args),
        slots: (0..workers)
            .map(|i| Slot {
                area: inst.seg.slot(i, workers),
                seq: 0,
                busy: None,
            })
            .collect(),
        clients: HashMap::new(),
        next_client: 0,
        queue: VecDeque::new(),
        summary: ServeSummary {
            schema_version: 1,
            mode: "serve",
            name: inst.paths.name.to_string(),
            secondaries: workers,
            stopped_by: "signal",
            ..Default::default()
        },
    };
    let result = server.go();
    if result.is_err() {
        server.sup.abort_all();
        server.summary.stopped_by = "error";
    }
    server.summary.restarts = server.sup.restarts();
    server.summary.deaths = server.sup.deaths();
    server.summary.elapsed_ms = started.elapsed().as_millis() as u64;
    (result, Some(server.summary))
}

/// Listens on the instance's socket, and on `--tcp` if asked (port 0: any free port,
/// published in the header as `tcp_port`).
fn listen(args: &PrimaryArgs, inst: &mut Instance) -> Result<(UnixListener, Option<TcpListener>)> {
    let unix = inst.listen()?;
    let tcp = match &args.tcp {
        Some(addr) => {
            let l = TcpListener::bind(addr).wrap_err_with(|| format!("listening on TCP {addr}"))?;
            l.set_nonblocking(true)
                .wrap_err("making the TCP listener non-blocking")?;
            let port = l
                .local_addr()
                .wrap_err_with(|| format!("reading the port bound for TCP {addr}"))?
                .port();
            inst.seg.store(Field::TcpPort, u64::from(port));
            Some(l)
        }
        None => None,
    };
    Ok((unix, tcp))
}

impl Server<'_> {
    fn stop_requested(&self) -> bool {
        self.ctx.sigs.stop_requested()
    }

    fn go(&mut self) -> Result<Exit> {
        let seg = &self.ctx.inst.seg;
        for i in 0..self.slots.len() {
            // The primary always waits in poll, never spinning: every reply rings its doorbell.
            seg.at(self.sup.worker(i).fields().primary_sleeping)
                .store(1, Ordering::SeqCst);
            let base = self.slots[i].seq;
            if self.sup.worker_mut(i).start(&self.ctx, base)?.is_some() {
                self.after_death(i);
            }
        }
        seg.store(Field::PrimaryState, State::Ready as u64);
        let tcp = match &self.tcp {
            Some(l) => match l.local_addr() {
                Ok(a) => format!(" and TCP {a}"),
                Err(_) => String::new(),
            },
            None => String::new(),
        };
        let n = self.slots.len();
        let ready = format!(
            "instance {} serving on {}{tcp} with {n} {}",
            self.ctx.inst.paths.name,
            self.ctx
                .inst
                .paths
                .in_dir(&self.ctx.inst.paths.socket_file())
                .display(),
            if n == 1 { "secondary" } else { "secondaries" }
        );
        crate::info!("{ready}");
        self.notify.ready(&ready);
        let mut gave_up = None;
        while !self.stop_requested() {
            if self.sup.all_given_up() {
                gave_up = Some(self.sup.deaths_text());
                break;
            }
            self.dispatch();
            self.publish_counters();
            self.notify.ping_if_due();
            for ready in self.wait()? {
                self.handle(ready)?;
            }
            self.check_deadlines()?;
            self.clients.retain(|_, c| !c.finished());
        }
        self.shut_down();
        if let Some(why) = gave_up {
            self.summary.stopped_by = "gave-up";
            return Err(coded(
                Exit::SecondaryFailed,
                format!(
                    "every secondary died more often than --max-restarts allows; gave up: {why}"
                ),
            ));
        }
        self.summary.stopped_by = "signal";
        Ok(Exit::Success)
    }

    /// Polls every descriptor until something is ready or a deadline passes.
    fn wait(&mut self) -> Result<Vec<Ready>> {
        let timeout = self.next_deadline().map(|d| {
            let ms = d
                .saturating_duration_since(Instant::now())
                .as_micros()
                .div_ceil(1000);
            PollTimeout::try_from(ms.min(60_000)).unwrap_or(PollTimeout::MAX)
        });
        let mut tags = Vec::new();
        let mut fds = Vec::new();
        fds.push(PollFd::new(self.ctx.sigs.fd(), PollFlags::POLLIN));
        tags.push(Ready::Signal);
        fds.push(PollFd::new(self.unix.as_fd(), PollFlags::POLLIN));
        tags.push(Ready::Unix);
        if let Some(t) = &self.tcp {
            fds.push(PollFd::new(t.as_fd(), PollFlags::POLLIN));
            tags.push(Ready::Tcp);
        }
        for (i, w) in self.sup.iter().enumerate() {
            if let Some(fd) = w.fd() {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                tags.push(Ready::Secondary(i));
            }
            if let Some(fd) = w.starting_fd() {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                tags.push(Ready::Starting(i));
            }
        }
        for (&id, c) in &self.clients {
            fds.push(PollFd::new(c.fd(), c.wants()));
            tags.push(Ready::Client(id, PollFlags::empty()));
        }
        match poll(&mut fds, timeout.unwrap_or(PollTimeout::NONE)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).wrap_err("waiting for clients and secondaries"),
        }
        let revents: Vec<PollFlags> = fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        Ok(tags
            .into_iter()
            .zip(revents)
            .filter(|(_, r)| !r.is_empty())
            .map(|(tag, r)| match tag {
                Ready::Client(id, _) => Ready::Client(id, r),
                other => other,
            })
            .collect())
    }

    fn next_deadline(&self) -> Option<Instant> {
        let busy = self
            .slots
            .iter()
            .filter_map(|s| s.busy.as_ref().map(|b| b.1));
        let ping = self.notify.next_ping_in().map(|d| Instant::now() + d);
        busy.chain(self.sup.next_deadline()).chain(ping).min()
    }

    fn handle(&mut self, ready: Ready) -> Result<()> {
        match ready {
            Ready::Signal => {
                let woken = self.sup.on_wake(&self.ctx)?;
                for i in woken.exited {
                    self.died(i, Trouble::Exited)?;
                }
                for i in woken.failed_start {
                    self.after_death(i);
                }
            }
            Ready::Unix => loop {
                match self.unix.accept() {
                    Ok((s, _)) => self.admit(Stream::Unix(s)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        crate::warn!("accepting a client: {e}");
                        break;
                    }
                }
            },
            Ready::Tcp => {
                while let Some(t) = &self.tcp {
                    match t.accept() {
                        Ok((s, _)) => {
                            let _ = s.set_nodelay(true);
                            self.admit(Stream::Tcp(s));
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => {
                            crate::warn!("accepting a TCP client: {e}");
                            break;
                        }
                    }
                }
            }
            Ready::Secondary(i) => self.read_secondary(i)?,
            Ready::Starting(i) => self.step_handshake(i)?,
            Ready::Client(id, flags) => self.read_client(id, flags),
        }
        Ok(())
    }

    /// Takes a new connection, or refuses it politely beyond --max-clients.
    fn admit(&mut self, stream: Stream) {
        let Some(client) = Client::new(stream) else {
            return;
        };
        let max = self.ctx.args.max_clients;
        if self.clients.len() >= max as usize {
            client.refuse(&format!("ERR too many clients (--max-clients {max})"));
            return;
        }
        self.summary.clients_served += 1;
        self.clients.insert(self.next_client, client);
        self.next_client += 1;
    }

    /// Reads requests from a client, queues them, and writes what replies are ready.
    fn read_client(&mut self, id: u64, flags: PollFlags) {
        let max_line = self.ctx.args.max_line as usize;
        let queue_cap = self.ctx.args.queue as usize;
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let mut gone = false;
        if flags.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
            && !c.done_reading()
        {
            let (queue, summary) = (&mut self.queue, &mut self.summary);
            gone = c.receive(max_line, |order, line| {
                if queue.len() >= queue_cap {
                    summary.busy += 1;
                    return Some("ERR busy".into());
                }
                queue.push_back(Job {
                    client: id,
                    order,
                    line: line.to_vec(),
                    failed_on: None,
                });
                None
            });
        }
        if !gone && c.flush().is_err() {
            gone = true;
        }
        // A client that hung up completely cannot read its replies: drop it now rather
        // than let poll report the hang-up again and again.
        if gone || (c.done_reading() && flags.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)) {
            // The client left: its queued requests are dropped when their turn comes.
            self.clients.remove(&id);
        }
    }

    /// Whether secondary `i` can take a request now.
    fn idle(&self, i: usize) -> bool {
        self.sup.worker(i).is_live() && self.slots[i].busy.is_none()
    }

    /// Gives queued requests to idle secondaries.
    fn dispatch(&mut self) {
        while let Some((client, failed_on)) = self.queue.front().map(|j| (j.client, j.failed_on)) {
            if !self.clients.contains_key(&client) {
                self.queue.pop_front();
                continue;
            }
            let n = self.slots.len();
            let pick = match failed_on {
                Some(bad) => (0..n).find(|&i| self.idle(i) && i != bad).or_else(|| {
                    // No other secondary will ever take it (a pool of one, or the others'
                    // restart budgets are spent): retry on the failed one's replacement.
                    let alone = (0..n).all(|i| i == bad || self.sup.worker(i).given_up());
                    (alone && self.idle(bad)).then_some(bad)
                }),
                None => (0..n).find(|&i| self.idle(i)),
            };
            let Some(i) = pick else { break };
            let Some(job) = self.queue.pop_front() else {
                break;
            };
            if let Err(e) = self.assign(i, job) {
                crate::warn!("secondary {i}: {e:#}");
            }
        }
    }

    fn assign(&mut self, i: usize, job: Job) -> Result<()> {
        let seg = &self.ctx.inst.seg;
        let slot = &mut self.slots[i];
        // Lines are at most --max-line bytes, and every slot holds one (check_slots).
        let len = job.line.len().min(slot.area.len());
        slot.area.write(&job.line[..len])?;
        seg.at(self.sup.worker(i).fields().request_len)
            .store(len as u64, Ordering::Release);
        slot.seq += 1;
        let deadline = Instant::now() + self.ctx.args.timeout;
        let sent = self
            .sup
            .worker_mut(i)
            .publish(&self.ctx, slot.seq, deadline);
        // From here the request belongs to this secondary: if it cannot be handed over,
        // the secondary is treated as dead and the request retried like any other.
        slot.busy = Some((job, deadline));
        match sent {
            Ok(Sent::Ok) => Ok(()),
            Ok(Sent::PeerGone) => self.died(i, Trouble::Epipe),
            Err(e) => {
                crate::warn!("giving a request to secondary {i}: {e:#}");
                self.died(i, Trouble::Unwritable)
            }
        }
    }

    /// Reads the frames of secondary `i`: a reply completes its request.
    fn read_secondary(&mut self, i: usize) -> Result<()> {
        loop {
            if !self.sup.worker(i).is_live() {
                return Ok(());
            }
            let event = match self.sup.worker_mut(i).next_event(Instant::now(), None) {
                Ok(e) => e,
                Err(e) => {
                    crate::warn!("secondary {i}: {e:#}");
                    return self.died(i, Trouble::BadFrame);
                }
            };
            match event {
                Event::Frame(f) if f.kind == Kind::Reply => self.complete(i, f.seq)?,
                Event::Frame(f) => {
                    crate::warn!("secondary {i}: unexpected {:?} frame", f.kind);
                    return self.died(i, Trouble::UnexpectedFrame);
                }
                Event::Eof => return self.died(i, Trouble::ClosedFifo),
                Event::TimedOut | Event::Woken => return Ok(()),
            }
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

    /// Secondary `i` says it answered turn `seq`: copy the reply out and deliver it.
    fn complete(&mut self, i: usize, seq: u64) -> Result<()> {
        let seg = &self.ctx.inst.seg;
        let fields = self.sup.worker(i).fields();
        let slot = &mut self.slots[i];
        let published = seg.at(fields.reply_seq).load(Ordering::Acquire);
        if slot.busy.is_none() || seq != slot.seq || published != slot.seq {
            if seq < slot.seq {
                return Ok(()); // a late doorbell for a request already answered
            }
            crate::warn!(
                "secondary {i}: reply for turn {seq} (published {published}) while waiting for {}",
                slot.seq
            );
            return self.died(i, Trouble::WrongTurn);
        }
        let len = seg.at(fields.reply_len).load(Ordering::Acquire);
        let Some((job, _)) = slot.busy.take() else {
            return Ok(());
        };
        let reply = match slot.area.copy_out(len) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(s) if !s.contains('\n') => s,
                _ => "ERR worker failed (malformed reply)".to_string(),
            },
            Err(_) => "ERR worker failed (reply longer than its slot)".to_string(),
        };
        self.deliver(job, reply);
        Ok(())
    }

    fn deliver(&mut self, job: Job, reply: String) {
        self.summary.requests += 1;
        if crate::protocol::is_error(&reply) {
            self.summary.errors += 1;
        }
        if let Some(c) = self.clients.get_mut(&job.client) {
            c.answer(job.order, reply);
            if c.flush().is_err() {
                self.clients.remove(&job.client);
            }
        }
    }

    /// Secondary `i` died or must be killed (`trouble`): the supervisor reaps it and
    /// schedules its restart; its request is retried once elsewhere, then failed.
    fn died(&mut self, i: usize, trouble: Trouble) -> Result<()> {
        let during = match &self.slots[i].busy {
            Some((job, _)) => format!("during a request of client {}", job.client),
            None => "while idle".to_string(),
        };
        self.sup.worker_mut(i).died(&self.ctx, trouble, &during)?;
        if let Some((mut job, _)) = self.slots[i].busy.take() {
            if job.failed_on.is_none() {
                job.failed_on = Some(i);
                self.summary.retried += 1;
                self.queue.push_front(job);
            } else {
                self.summary.failed += 1;
                self.deliver(job, "ERR worker failed".into());
            }
        }
        self.after_death(i);
        Ok(())
    }

    /// Says so when secondary `i` will not be restarted any more.
    fn after_death(&self, i: usize) {
        if self.sup.worker(i).given_up() {
            crate::warn!(
                "secondary {i} is not restarted again: --max-restarts {} reached",
                self.ctx.args.max_restarts
            );
            // Requests that wait only for this one are failed when no secondary is left.
        }
    }

    /// Kills hung secondaries and starts the ones whose backoff ended.
    fn check_deadlines(&mut self) -> Result<()> {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            if self.slots[i].busy.as_ref().is_some_and(|b| b.1 <= now) {
                self.died(i, Trouble::Hung)?;
            }
            if self.sup.worker(i).restart_due(now) && !self.stop_requested() {
                // Launch only: the handshake goes on from the event loop, so clients are
                // served by the other secondaries meanwhile.
                let base = self.slots[i].seq;
                self.sup.worker_mut(i).restart(&self.ctx, base)?;
            }
            if self.sup.worker(i).handshake_due(now) {
                self.step_handshake(i)?;
            }
        }
        if self.sup.all_given_up() {
            while let Some(job) = self.queue.pop_front() {
                self.summary.failed += 1;
                self.deliver(job, "ERR worker failed".into());
            }
        }
        Ok(())
    }

    fn publish_counters(&self) {
        let seg = &self.ctx.inst.seg;
        seg.store(Field::Clients, self.clients.len() as u64);
        seg.store(Field::Queued, self.queue.len() as u64);
        seg.store(Field::Requests, self.summary.requests);
    }

    /// The orderly stop: queued requests get an answer, every secondary stops and is
    /// reaped, clients get their pending replies (best effort) and are closed.
    fn shut_down(&mut self) {
        self.notify.stopping();
        self.ctx
            .inst
            .seg
            .store(Field::PrimaryState, State::Stopping as u64);
        while let Some(job) = self.queue.pop_front() {
            self.deliver(job, "ERR shutting down".into());
        }
        for i in 0..self.slots.len() {
            if let Some((job, _)) = self.slots[i].busy.take() {
                self.deliver(job, "ERR shutting down".into());
            }
        }
        if let Err(e) = self.sup.stop_all(&self.ctx) {
            crate::warn!("{e:#}");
        }
        let deadline = Instant::now() + Duration::from_millis(200);
        for c in self.clients.values_mut() {
            c.flush_until(deadline);
        }
        self.clients.clear();
    }
}
