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
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde::Serialize;

use super::summary::Death;
use super::worker::{Ctx, Step, Worker};
use crate::cli::PrimaryArgs;
use crate::exit::{Exit, coded};
use crate::fifo::{Event, Sent};
use crate::frame::Kind;
use crate::header::{Field, State};
use crate::instance::Instance;
use crate::notify::Notifier;
use crate::segment::Area;
use crate::signals::SelfPipe;
use crate::turn::{Role, Turns};

/// The longest a client's unsent replies may grow before we stop reading its requests.
const MAX_PENDING_OUTPUT: usize = 1 << 20;

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

/// What the serving primary reports at the end.
#[derive(Debug, Default, Serialize)]
pub struct ServeSummary {
    /// 1: the keys below (see schema/primary.schema.json).
    pub schema_version: u32,
    /// "serve" (a run of rounds prints a different summary, with "rounds").
    pub mode: &'static str,
    pub name: String,
    pub secondaries: usize,
    pub clients_served: u64,
    pub requests: u64,
    pub errors: u64,
    pub retried: u64,
    pub failed: u64,
    pub busy: u64,
    pub restarts: u64,
    pub deaths: Vec<Death>,
    pub stopped_by: &'static str,
    pub elapsed_ms: u64,
}

impl ServeSummary {
    pub fn print(&self, json: bool) {
        super::summary::print(self, json, |out| {
            writeln!(
                out,
                "osps {}: {} requests from {} clients over {} secondaries, {} errors, {} retried, \
                 {} failed, {} busy, {} restarts, stopped by {}",
                self.name,
                self.requests,
                self.clients_served,
                self.secondaries,
                self.errors,
                self.retried,
                self.failed,
                self.busy,
                self.restarts,
                self.stopped_by
            )
        });
    }
}

/// A client connection, over the Unix socket or TCP.
enum Stream {
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
}

struct Client {
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
    fn new(stream: Stream) -> Client {
        Client {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            replies: VecDeque::new(),
            first: 0,
            done_reading: false,
        }
    }

    /// Files `reply` as the answer to request `order` and moves ready replies to output.
    fn answer(&mut self, order: u64, reply: String) {
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
    fn flush(&mut self) -> std::io::Result<()> {
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

    fn finished(&self) -> bool {
        self.done_reading && self.replies.is_empty() && self.output.is_empty()
    }
}

/// One request on its way to a secondary.
struct Job {
    client: u64,
    order: u64,
    line: Vec<u8>,
    /// The secondary it failed on, if it already failed once.
    failed_on: Option<usize>,
}

/// A secondary of the pool with its turn protocol and current request.
struct Slot {
    worker: Worker,
    turns: Turns,
    area: Area,
    seq: u64,
    busy: Option<(Job, Instant)>,
    restart_at: Option<Instant>,
    /// The restart budget is spent: this secondary is gone for good.
    given_up: bool,
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
    args: &'a PrimaryArgs,
    notify: Notifier,
    unix: UnixListener,
    tcp: Option<TcpListener>,
    slots: Vec<Slot>,
    clients: HashMap<u64, Client>,
    next_client: u64,
    queue: VecDeque<Job>,
    stop: bool,
    summary: ServeSummary,
}

/// Runs the serving primary on an instance already created with `--secondaries` FIFO pairs.
pub fn run(args: &PrimaryArgs, inst: &mut Instance, sigs: &SelfPipe) -> Result<Exit> {
    let unix = inst.listen()?;
    let tcp = match &args.tcp {
        Some(addr) => {
            let l = TcpListener::bind(addr).wrap_err_with(|| format!("listening on TCP {addr}"))?;
            l.set_nonblocking(true)
                .wrap_err("making the TCP listener non-blocking")?;
            Some(l)
        }
        None => None,
    };
    let inst: &Instance = inst;
    let workers = args.secondaries as usize;
    let started = Instant::now();
    let mut server = Server {
        ctx: Ctx { inst, sigs, args },
        args,
        notify: Notifier::from_env(),
        unix,
        tcp,
        slots: (0..workers)
            .map(|i| Slot {
                worker: Worker::new(i),
                turns: Turns::new(Role::Primary, args.sync, args.spin, i),
                area: inst.seg.slot(i, workers),
                seq: 0,
                busy: None,
                restart_at: None,
                given_up: false,
            })
            .collect(),
        clients: HashMap::new(),
        next_client: 0,
        queue: VecDeque::new(),
        stop: false,
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
        for slot in &mut server.slots {
            slot.worker.abort();
        }
    }
    server.summary.restarts = server.slots.iter().map(|s| s.worker.restarts).sum();
    server.summary.deaths = server
        .slots
        .iter()
        .flat_map(|s| s.worker.deaths.clone())
        .collect();
    server.summary.elapsed_ms = started.elapsed().as_millis() as u64;
    if result.is_err() {
        server.summary.stopped_by = "error";
    }
    server.summary.print(args.json);
    result
}

impl Server<'_> {
    fn go(&mut self) -> Result<Exit> {
        let seg = &self.ctx.inst.seg;
        for i in 0..self.slots.len() {
            // The primary always waits in poll, never spinning: every reply rings its doorbell.
            seg.at(self.slots[i].worker.fields.primary_sleeping)
                .store(1, Ordering::SeqCst);
            let base = self.slots[i].seq;
            if self.slots[i]
                .worker
                .start(&self.ctx, base, &mut self.stop)?
                .is_some()
            {
                self.after_death(i);
            }
        }
        seg.store(Field::PrimaryState, State::Ready as u64);
        let ready = format!(
            "instance {} serving on {}{} with {} secondaries",
            self.ctx.inst.paths.name,
            self.ctx
                .inst
                .paths
                .in_dir(&self.ctx.inst.paths.socket_file())
                .display(),
            self.args
                .tcp
                .as_ref()
                .map_or(String::new(), |a| format!(" and TCP {a}")),
            self.slots.len()
        );
        crate::info!("{ready}");
        self.notify.ready(&ready);
        let mut gave_up = None;
        while !self.stop {
            if self.slots.iter().all(|s| s.given_up) {
                gave_up = Some(
                    self.slots
                        .iter()
                        .map(|s| s.worker.deaths_text())
                        .collect::<Vec<_>>()
                        .join("; "),
                );
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
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(live) = &slot.worker.live {
                fds.push(PollFd::new(live.from.fd(), PollFlags::POLLIN));
                tags.push(Ready::Secondary(i));
            }
            if let Some(starting) = &slot.worker.starting {
                fds.push(PollFd::new(starting.fd(), PollFlags::POLLIN));
                tags.push(Ready::Starting(i));
            }
        }
        for (&id, c) in &self.clients {
            let mut want = PollFlags::empty();
            if !c.done_reading && c.output.len() < MAX_PENDING_OUTPUT {
                want |= PollFlags::POLLIN;
            }
            if !c.output.is_empty() {
                want |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(c.stream.fd(), want));
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
        let restarts = self.slots.iter().filter_map(|s| s.restart_at);
        let starting = self
            .slots
            .iter()
            .filter_map(|s| s.worker.starting.as_ref().map(|st| st.deadline));
        let restarts = restarts.chain(starting);
        let ping = self.notify.next_ping_in().map(|d| Instant::now() + d);
        busy.chain(restarts).chain(ping).min()
    }

    fn handle(&mut self, ready: Ready) -> Result<()> {
        match ready {
            Ready::Signal => {
                let p = self.ctx.sigs.drain();
                self.stop |= p.stop();
                if p.child {
                    for i in 0..self.slots.len() {
                        let exited = match self.slots[i].worker.live.as_mut() {
                            Some(live) => live.proc.try_wait()?.is_some(),
                            None => false,
                        };
                        if exited {
                            self.died(i, "it exited", false)?;
                        }
                        let mut stop = self.stop;
                        let died = self.slots[i].worker.starting_exited(&self.ctx, &mut stop)?;
                        self.stop = stop;
                        if died.is_some() {
                            self.after_death(i);
                        }
                    }
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
        let nonblocking = match &stream {
            Stream::Unix(s) => s.set_nonblocking(true),
            Stream::Tcp(s) => s.set_nonblocking(true),
        };
        if nonblocking.is_err() {
            return;
        }
        let mut client = Client::new(stream);
        if self.clients.len() >= self.args.max_clients as usize {
            client.output = format!(
                "ERR too many clients (--max-clients {})\n",
                self.args.max_clients
            )
            .into_bytes();
            let _ = client.flush();
            return;
        }
        self.summary.clients_served += 1;
        self.clients.insert(self.next_client, client);
        self.next_client += 1;
    }

    /// Reads requests from a client, queues them, and writes what replies are ready.
    fn read_client(&mut self, id: u64, flags: PollFlags) {
        let max_line = self.args.max_line as usize;
        let queue_cap = self.args.queue as usize;
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let mut gone = false;
        if flags.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
            && !c.done_reading
        {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        c.done_reading = true;
                        // A last request without its newline is still a request.
                        if !c.input.is_empty() && !c.input.ends_with(b"\n") {
                            c.input.push(b'\n');
                        }
                        break;
                    }
                    Ok(n) => c.input.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        gone = true;
                        break;
                    }
                }
                if c.input.len() > max_line + 1 && !c.input[..].contains(&b'\n') {
                    break;
                }
            }
            // Cut complete lines; refuse a line longer than --max-line and close after it.
            let mut start = 0;
            while let Some(nl) = c.input[start..].iter().position(|&b| b == b'\n') {
                let line = &c.input[start..start + nl];
                let order = c.first + c.replies.len() as u64;
                if line.len() > max_line {
                    c.replies.push_back(Some("ERR line too long".into()));
                    c.done_reading = true;
                    start = c.input.len();
                    break;
                }
                if self.queue.len() >= queue_cap {
                    c.replies.push_back(Some("ERR busy".into()));
                    self.summary.busy += 1;
                } else {
                    c.replies.push_back(None);
                    self.queue.push_back(Job {
                        client: id,
                        order,
                        line: line.to_vec(),
                        failed_on: None,
                    });
                }
                start += nl + 1;
            }
            c.input.drain(..start.min(c.input.len()));
            if c.input.len() > max_line && !c.done_reading {
                c.replies.push_back(Some("ERR line too long".into()));
                c.done_reading = true;
            }
            if c.done_reading {
                c.input.clear();
            }
            c.move_ready();
        }
        if !gone && c.flush().is_err() {
            gone = true;
        }
        // A client that hung up completely cannot read its replies: drop it now rather
        // than let poll report the hang-up again and again.
        if gone || (c.done_reading && flags.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)) {
            // The client left: its queued requests are dropped when their turn comes.
            self.clients.remove(&id);
        }
    }

    /// Gives queued requests to idle secondaries.
    fn dispatch(&mut self) {
        while let Some((client, failed_on)) = self.queue.front().map(|j| (j.client, j.failed_on)) {
            if !self.clients.contains_key(&client) {
                self.queue.pop_front();
                continue;
            }
            let idle = |s: &Slot| s.worker.live.is_some() && s.busy.is_none();
            let pick = match failed_on {
                Some(bad) => self
                    .slots
                    .iter()
                    .position(|s| idle(s) && s.worker.index != bad)
                    .or_else(|| {
                        // No other secondary will ever take it (a pool of one, or the others'
                        // restart budgets are spent): retry on the failed one's replacement.
                        let alone = self
                            .slots
                            .iter()
                            .all(|s| s.worker.index == bad || s.given_up);
                        (alone && idle(&self.slots[bad])).then_some(bad)
                    }),
                None => self.slots.iter().position(idle),
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
        let len = job.line.len().min(slot.area.len);
        // SAFETY: len <= the slot's length; the source is our own buffer.
        unsafe { std::ptr::copy_nonoverlapping(job.line.as_ptr(), slot.area.ptr, len) };
        seg.at(slot.worker.fields.request_len)
            .store(len as u64, Ordering::Release);
        slot.seq += 1;
        let deadline = Instant::now() + self.args.timeout;
        let Some(live) = slot.worker.live.as_ref() else {
            bail!("no secondary {i}")
        };
        let sent = slot.turns.publish(seg, slot.seq, &live.to, deadline);
        // From here the request belongs to this secondary: if it cannot be handed over,
        // the secondary is treated as dead and the request retried like any other.
        slot.busy = Some((job, deadline));
        match sent {
            Ok(Sent::Ok) => Ok(()),
            Ok(Sent::PeerGone) => self.died(i, "its FIFO was closed (EPIPE)", false),
            Err(e) => {
                crate::warn!("giving a request to secondary {i}: {e:#}");
                self.died(i, "its FIFO could not take the request", true)
            }
        }
    }

    /// Reads the frames of secondary `i`: a reply completes its request.
    fn read_secondary(&mut self, i: usize) -> Result<()> {
        loop {
            let Some(live) = self.slots[i].worker.live.as_mut() else {
                return Ok(());
            };
            let event = match live.from.wait(Some(Instant::now()), None) {
                Ok(e) => e,
                Err(e) => {
                    crate::warn!("secondary {i}: {e:#}");
                    return self.died(i, "it sent a bad frame", true);
                }
            };
            match event {
                Event::Frame(f) if f.kind == Kind::Reply => self.complete(i, f.seq)?,
                Event::Frame(f) => {
                    crate::warn!("secondary {i}: unexpected {:?} frame", f.kind);
                    return self.died(i, "it sent an unexpected frame", true);
                }
                Event::Eof => return self.died(i, "it closed its FIFO", false),
                Event::TimedOut | Event::Woken => return Ok(()),
            }
        }
    }

    /// Advances the handshake of restarted secondary `i` without blocking.
    fn step_handshake(&mut self, i: usize) -> Result<()> {
        let mut stop = self.stop;
        let step = self.slots[i].worker.step(&self.ctx, true, &mut stop)?;
        self.stop = stop;
        match step {
            Step::Waiting => {}
            Step::Ready => crate::debug!("secondary {i} is back"),
            Step::Died(_) => self.after_death(i),
        }
        Ok(())
    }

    /// Secondary `i` says it answered turn `seq`: copy the reply out and deliver it.
    fn complete(&mut self, i: usize, seq: u64) -> Result<()> {
        let seg = &self.ctx.inst.seg;
        let slot = &mut self.slots[i];
        let published = seg.at(slot.worker.fields.reply_seq).load(Ordering::Acquire);
        if slot.busy.is_none() || seq != slot.seq || published != slot.seq {
            if seq < slot.seq {
                return Ok(()); // a late doorbell for a request already answered
            }
            crate::warn!(
                "secondary {i}: reply for turn {seq} (published {published}) while waiting for {}",
                slot.seq
            );
            return self.died(i, "its turn counter went wrong", true);
        }
        let len = seg.at(slot.worker.fields.reply_len).load(Ordering::Acquire);
        let Some((job, _)) = slot.busy.take() else {
            return Ok(());
        };
        let reply = match usize::try_from(len).ok().filter(|&n| n <= slot.area.len) {
            Some(n) => {
                let mut bytes = vec![0u8; n];
                // SAFETY: n <= the slot's length (checked); we copy into our own buffer.
                unsafe { std::ptr::copy_nonoverlapping(slot.area.ptr, bytes.as_mut_ptr(), n) };
                match String::from_utf8(bytes) {
                    Ok(s) if !s.contains('\n') => s,
                    _ => "ERR worker failed (malformed reply)".to_string(),
                }
            }
            None => "ERR worker failed (reply longer than its slot)".to_string(),
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

    /// Secondary `i` died or must be killed: reap it, retry or fail its request, and
    /// schedule its restart.
    fn died(&mut self, i: usize, cause: &str, kill: bool) -> Result<()> {
        let during = match &self.slots[i].busy {
            Some((job, _)) => format!("during a request of client {}", job.client),
            None => "while idle".to_string(),
        };
        let mut stop = self.stop;
        self.slots[i]
            .worker
            .bury(&self.ctx, cause, &during, kill, &mut stop)?;
        self.stop = stop;
        // A secondary that died of a truncated or removed segment would only die again.
        self.ctx.inst.seg.check_intact()?;
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

    fn after_death(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        match slot
            .worker
            .next_restart(self.args.max_restarts, self.args.restart_backoff)
        {
            Some(backoff) => slot.restart_at = Some(Instant::now() + backoff),
            None => {
                slot.given_up = true;
                crate::warn!(
                    "secondary {i} is not restarted again: --max-restarts {} reached",
                    self.args.max_restarts
                );
                // Requests that wait only for this one are failed when no secondary is left.
            }
        }
    }

    /// Kills hung secondaries and starts the ones whose backoff ended.
    fn check_deadlines(&mut self) -> Result<()> {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            if self.slots[i].busy.as_ref().is_some_and(|b| b.1 <= now) {
                let why = format!(
                    "hung: no reply within --timeout {:?}; killed",
                    self.args.timeout
                );
                self.died(i, &why, true)?;
            }
            if self.slots[i].restart_at.is_some_and(|t| t <= now) && !self.stop {
                // Launch only: the handshake goes on from the event loop, so clients are
                // served by the other secondaries meanwhile.
                self.slots[i].restart_at = None;
                self.slots[i].worker.note_restart(&self.ctx);
                let base = self.slots[i].seq;
                self.slots[i].worker.launch(&self.ctx, base)?;
            }
            if self.slots[i]
                .worker
                .starting
                .as_ref()
                .is_some_and(|s| s.deadline <= now)
            {
                self.step_handshake(i)?;
            }
        }
        if self.slots.iter().all(|s| s.given_up) {
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
            if let Err(e) = self.slots[i].worker.stop(self.ctx.sigs, self.args.timeout) {
                crate::warn!("stopping secondary {i}: {e:#}");
            }
            // One still in its handshake has nothing to stop in order: kill and reap it.
            self.slots[i].worker.abort();
        }
        let deadline = Instant::now() + Duration::from_millis(200);
        for c in self.clients.values_mut() {
            while !c.output.is_empty() && Instant::now() < deadline {
                if c.flush().is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.clients.clear();
    }
}
