//! The primary's life: create the instance, start the secondary, shake hands, run the
//! rounds, supervise (restart a dead or hung secondary), then stop in order: the
//! secondary first (the primary reaps it: no zombie), then every object is removed.
//!
//! Which server must stop first? The secondary. A process that exits becomes a zombie
//! until its parent collects its status with `waitpid`; the primary is the parent, so it
//! must outlive the secondary to reap it. (If the primary died first, the secondary would
//! be an orphan, adopted by init or a subreaper; ours notices and exits by itself.)

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, umask};

use crate::cli::PrimaryArgs;
use crate::exit::{Exit, coded};
use crate::fifo::{Event, Reader, Sent, Writer};
use crate::frame::{Frame, Kind};
use crate::header::{Field, HEADER_LEN, State};
use crate::instance::Instance;
use crate::names::{Paths, default_runtime_dir};
use crate::notify::Notifier;
use crate::payload::Pattern;
use crate::segment::monotonic_ns;
use crate::signals::{self, SelfPipe};
use crate::spawn;
use crate::stats::Histogram;
use crate::summary::{Death, Summary};
use crate::turn::{Role, Turns, Wait};

/// The longest wait between two restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The window in which --max-restarts counts restarts.
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// How often the segment is checked for truncation or removal while rounds run.
const INTACT_CHECK_NS: u64 = 100_000_000;

/// Runs `osps primary`.
pub fn run(args: &PrimaryArgs) -> Result<Exit> {
    crate::log::set_role("primary");
    let data_size = args.size - HEADER_LEN as u64;
    if args.payload > data_size {
        return Err(coded(
            Exit::Usage,
            format!(
                "--payload {} does not fit: a {} segment has a {data_size}-byte data area after \
                 its {HEADER_LEN}-byte header; raise --size or lower --payload",
                args.payload,
                crate::units::format_bytes(args.size)
            ),
        ));
    }
    // Objects get exactly the modes we ask for (0600, 0700), whatever the caller's umask.
    umask(Mode::from_bits_truncate(0o077));
    signals::ignore(Signal::SIGPIPE)?;
    let sigs = SelfPipe::install(&[Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD])?;
    let paths = Paths::new(
        args.instance.name.clone(),
        default_runtime_dir(args.instance.runtime_dir.as_deref()),
    );
    let instance = Instance::create(paths, args.size, 1)
        .wrap_err_with(|| format!("starting instance {}", args.instance.name))?;
    crate::debug!(
        "instance {}: segment {} ({} bytes), FIFOs in {}",
        instance.paths.name,
        instance.seg.path().display(),
        instance.seg.size(),
        instance.paths.runtime_dir.display()
    );

    let (result, summary, verdict) = {
        let mut run = Run::new(args, &instance, &sigs);
        let result = run.go();
        if result.is_err() {
            run.abort();
        }
        let state = if result.is_ok() {
            State::Stopped
        } else {
            State::Failed
        };
        instance.seg.store(Field::PrimaryState, state as u64);
        let summary = run.summary(result.is_err());
        (result, summary, run.verdict())
    };
    let removal = instance
        .remove()
        .wrap_err("removing the instance's objects");
    summary.print(args.json);
    result?;
    removal?;
    verdict
}

/// The running secondary, as the primary sees it.
struct Live {
    proc: Child,
    pid: u32,
    from: Reader,
    to: Option<Writer>,
}

enum Round {
    Completed,
    Corrupt,
    Died(Death),
}

enum Idle {
    Tick,
    Stop,
    Died(Death),
}

struct Run<'a> {
    args: &'a PrimaryArgs,
    inst: &'a Instance,
    sigs: &'a SelfPipe,
    turns: Turns,
    pattern: Pattern,
    child: Option<Live>,
    /// The last request sequence number published.
    seq: u64,
    hist: Histogram,
    completed: u64,
    failed: u64,
    retried: u64,
    corruptions: u64,
    restarts: u64,
    restart_times: VecDeque<Instant>,
    deaths: Vec<Death>,
    stop: bool,
    gave_up: Option<String>,
    last_pid: Option<u32>,
    last_status: Option<ExitStatus>,
    started: Instant,
    last_check_ns: u64,
    notify: Notifier,
}

impl<'a> Run<'a> {
    fn new(args: &'a PrimaryArgs, inst: &'a Instance, sigs: &'a SelfPipe) -> Self {
        Run {
            args,
            inst,
            sigs,
            turns: Turns::new(Role::Primary, args.sync, args.spin, 0),
            pattern: Pattern::new(args.payload as usize),
            child: None,
            seq: 0,
            hist: Histogram::default(),
            completed: 0,
            failed: 0,
            retried: 0,
            corruptions: 0,
            restarts: 0,
            restart_times: VecDeque::new(),
            deaths: Vec::new(),
            stop: false,
            gave_up: None,
            last_pid: None,
            last_status: None,
            started: Instant::now(),
            last_check_ns: monotonic_ns(),
            notify: Notifier::from_env(),
        }
    }

    fn go(&mut self) -> Result<()> {
        if let Some(death) = self.start_secondary("before the handshake")? {
            if !self.restart_after(death)? {
                return Ok(());
            }
        }
        let ready = format!(
            "instance {} ready: secondary pid {}, {} sync, {} bytes per round",
            self.inst.paths.name,
            self.child.as_ref().map_or(0, |c| c.pid),
            self.args.sync.as_str(),
            self.args.payload
        );
        crate::info!("{ready}");
        self.notify.ready(&ready);
        while !self.stop {
            match self.args.rounds {
                Some(n) if self.completed + self.corruptions + self.failed >= n => break,
                Some(_) => {}
                None => match self.idle()? {
                    Idle::Tick => {}
                    Idle::Stop => break,
                    Idle::Died(death) => {
                        if !self.restart_after(death)? {
                            return Ok(());
                        }
                        continue;
                    }
                },
            }
            if signals::arrived() {
                self.stop |= self.sigs.drain().stop();
            }
            self.notify.ping_if_due();
            // One round, retried once on a fresh secondary if the secondary dies in it.
            let mut retry = false;
            loop {
                match self.round()? {
                    Round::Completed | Round::Corrupt => break,
                    Round::Died(death) => {
                        let restarted = self.restart_after(death)?;
                        if retry || !restarted {
                            self.failed += 1;
                            self.inst.seg.store(Field::RoundsFailed, self.failed);
                        }
                        if !restarted {
                            return Ok(());
                        }
                        if retry {
                            break;
                        }
                        retry = true;
                        self.retried += 1;
                    }
                }
            }
        }
        self.stop_secondary()
    }

    /// The arguments of `osps secondary` for this instance.
    fn secondary_args(&self) -> Vec<String> {
        let mut a = vec![
            "--name".to_string(),
            self.inst.paths.name.to_string(),
            "--runtime-dir".to_string(),
            self.inst.paths.runtime_dir.display().to_string(),
            "--sync".to_string(),
            self.args.sync.as_str().to_string(),
            "--spin".to_string(),
            format!("{}ns", self.args.spin.as_nanos()),
            "--start-timeout".to_string(),
            format!("{}ms", self.args.start_timeout.as_millis()),
        ];
        match crate::log::level() {
            l if l < 0 => a.push("-q".into()),
            l => a.extend((0..l).map(|_| "-v".to_string())),
        }
        a
    }

    /// Starts a secondary and shakes hands. `Some(death)`: it died or hung on the way.
    fn start_secondary(&mut self, during: &str) -> Result<Option<Death>> {
        let seg = &self.inst.seg;
        // Reset the secondary's side of the header for the newcomer: its turn counter starts
        // where ours is, so both agree on the next round.
        seg.store(Field::SecondaryPid, 0);
        seg.store(Field::SecondaryState, State::Absent as u64);
        seg.store(Field::SecondarySleeping, 0);
        seg.store(Field::ReplySeq, self.seq);
        let (p2s, s2p) = self.inst.paths.fifo_files(0);
        let from = Reader::open(&self.inst.dir, &s2p)?;
        let proc = spawn::secondary(&self.secondary_args())?;
        let pid = proc.id();
        self.last_pid = Some(pid);
        crate::debug!("started secondary pid {pid}");
        self.child = Some(Live {
            proc,
            pid,
            from,
            to: None,
        });
        let deadline = Instant::now() + self.args.start_timeout;
        loop {
            let live = self.child.as_mut().ok_or_else(|| eyre!("no secondary"))?;
            match live.from.wait(Some(deadline), Some(self.sigs.fd()))? {
                Event::Frame(f) if f.kind == Kind::Hello && f.arg == pid => break,
                Event::Frame(f) if f.kind == Kind::Hello => bail!(
                    "a hello from pid {} arrived on {}, but our secondary is pid {pid}: another \
                     process writes to our FIFO",
                    f.arg,
                    live.from.path().display()
                ),
                Event::Frame(f) => bail!(
                    "unexpected {:?} frame on {} before the hello",
                    f.kind,
                    live.from.path().display()
                ),
                Event::Eof => return self.bury("it closed its FIFO", during, false).map(Some),
                Event::TimedOut => {
                    let why = format!("no hello within {:?}", self.args.start_timeout);
                    return self.bury(&why, during, true).map(Some);
                }
                Event::Woken => {
                    let p = self.sigs.drain();
                    self.stop |= p.stop();
                    if p.child && live.proc.try_wait()?.is_some() {
                        return self.bury("it exited", during, false).map(Some);
                    }
                }
            }
        }
        let Some(to) = Writer::try_open(&self.inst.dir, &p2s)? else {
            return self.bury("it closed its FIFO", during, false).map(Some);
        };
        if to.send(
            &Frame::new(Kind::Ready, self.seq),
            Instant::now() + self.args.timeout,
        )? == Sent::PeerGone
        {
            return self.bury("it closed its FIFO", during, false).map(Some);
        }
        if let Some(live) = self.child.as_mut() {
            live.to = Some(to);
        }
        seg.store(Field::PrimaryState, State::Ready as u64);
        Ok(None)
    }

    /// Reaps the secondary that died (or kills it first when `kill`, e.g. it hung) and
    /// describes its end.
    fn bury(&mut self, cause: &str, during: &str, kill: bool) -> Result<Death> {
        let mut live = self
            .child
            .take()
            .ok_or_else(|| eyre!("no secondary to reap"))?;
        let status = if kill {
            spawn::kill_and_reap(&mut live.proc)?
        } else {
            let deadline = Instant::now() + Duration::from_secs(1);
            match spawn::wait_until(&mut live.proc, deadline, self.sigs, &mut self.stop)? {
                Some(status) => status,
                None => spawn::kill_and_reap(&mut live.proc)?,
            }
        };
        self.last_status = Some(status);
        let death = Death {
            pid: live.pid,
            how: spawn::describe(status),
            exit_code: status.code(),
            signal: status.signal(),
            cause: cause.to_string(),
            during: during.to_string(),
        };
        crate::warn!(
            "secondary {} {} ({}, {})",
            death.pid,
            death.how,
            death.cause,
            death.during
        );
        Ok(death)
    }

    /// Restarts the secondary after `death`, with backoff, unless the restart budget is
    /// spent or a stop was asked for. `Ok(false)`: no secondary runs any more.
    fn restart_after(&mut self, death: Death) -> Result<bool> {
        self.deaths.push(death);
        loop {
            let now = Instant::now();
            while self
                .restart_times
                .front()
                .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
            {
                self.restart_times.pop_front();
            }
            if self.stop {
                return Ok(false);
            }
            if self.restart_times.len() >= self.args.max_restarts as usize {
                let how: Vec<String> = self
                    .deaths
                    .iter()
                    .map(|d| format!("pid {} {} ({}, {})", d.pid, d.how, d.cause, d.during))
                    .collect();
                self.gave_up = Some(format!(
                    "the secondary died {} times and --max-restarts {} allows no more restarts \
                     within a minute; gave up: {}",
                    self.deaths.len(),
                    self.args.max_restarts,
                    how.join("; ")
                ));
                return Ok(false);
            }
            let doublings = self.restart_times.len().min(16) as u32;
            let backoff = self
                .args
                .restart_backoff
                .saturating_mul(1 << doublings)
                .min(MAX_BACKOFF);
            if self.pause(backoff) {
                return Ok(false);
            }
            self.restart_times.push_back(Instant::now());
            self.restarts += 1;
            self.inst.seg.store(Field::Restarts, self.restarts);
            crate::info!(
                "restarting the secondary (restart {}) after {backoff:?}",
                self.restarts
            );
            self.notify.status(&format!(
                "restarting the secondary (restart {})",
                self.restarts
            ));
            match self.start_secondary("before the handshake")? {
                None => return Ok(true),
                Some(death) => self.deaths.push(death),
            }
        }
    }

    /// Sleeps for `d` unless SIGINT/SIGTERM arrives; true if it did.
    fn pause(&mut self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return self.stop;
            }
            let ms = left.as_millis().clamp(1, 1000) as u16;
            let mut fds = [nix::poll::PollFd::new(
                self.sigs.fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
            self.stop |= self.sigs.drain().stop();
            if self.stop {
                return true;
            }
        }
    }

    /// Waits `--interval` between heartbeat rounds, watching the secondary and signals.
    fn idle(&mut self) -> Result<Idle> {
        if self.completed + self.corruptions + self.failed == 0 {
            return Ok(Idle::Tick); // the first round goes at once
        }
        let deadline = Instant::now() + self.args.interval;
        self.notify.status(&format!(
            "{} rounds, secondary pid {}, {} restarts",
            self.completed,
            self.child.as_ref().map_or(0, |c| c.pid),
            self.restarts
        ));
        loop {
            // Wake early when a systemd watchdog ping falls due before the next round.
            let wake_at = match self.notify.next_ping_in() {
                Some(ping) => deadline.min(Instant::now() + ping),
                None => deadline,
            };
            let live = self.child.as_mut().ok_or_else(|| eyre!("no secondary"))?;
            match live.from.wait(Some(wake_at), Some(self.sigs.fd()))? {
                Event::TimedOut if Instant::now() < deadline => self.notify.ping_if_due(),
                Event::TimedOut => {
                    self.inst.seg.check_intact()?;
                    return Ok(Idle::Tick);
                }
                Event::Woken => {
                    let p = self.sigs.drain();
                    if p.stop() {
                        self.stop = true;
                        return Ok(Idle::Stop);
                    }
                    if p.child && live.proc.try_wait()?.is_some() {
                        return self
                            .bury("it exited", "between rounds", false)
                            .map(Idle::Died);
                    }
                }
                Event::Eof => {
                    return self
                        .bury("it closed its FIFO", "between rounds", false)
                        .map(Idle::Died);
                }
                // A doorbell for a round already done (adaptive mode rings when unsure).
                Event::Frame(f) if f.kind == Kind::Reply && f.seq <= self.seq => {}
                Event::Frame(f) => bail!(
                    "unexpected {:?} frame (round {}) from the secondary between rounds on {}",
                    f.kind,
                    f.seq,
                    live.from.path().display()
                ),
            }
        }
    }

    /// One round: request in the segment, turn to the secondary, wait, check the reply.
    fn round(&mut self) -> Result<Round> {
        let seg = &self.inst.seg;
        let area = seg.area();
        self.seq += 1;
        let seq = self.seq;
        let during = format!("during round {seq}");
        let t0 = monotonic_ns();
        seg.store(Field::PrimaryHeartbeat, t0);
        self.pattern.write_request(area, seq)?;
        seg.store(Field::RequestLen, self.pattern.len() as u64);
        let deadline = Instant::now() + self.args.timeout;
        let live = self.child.as_mut().ok_or_else(|| eyre!("no secondary"))?;
        let to = live
            .to
            .as_ref()
            .ok_or_else(|| eyre!("no FIFO to the secondary"))?;
        if self.turns.publish(seg, seq, to, deadline)? == Sent::PeerGone {
            return self
                .bury("its FIFO was closed (EPIPE)", &during, false)
                .map(Round::Died);
        }
        loop {
            let live = self.child.as_mut().ok_or_else(|| eyre!("no secondary"))?;
            match self.turns.wait(
                seg,
                seq,
                &mut live.from,
                Some(deadline),
                Some(self.sigs.fd()),
            )? {
                Wait::Turn => break,
                Wait::Woken => {
                    let p = self.sigs.drain();
                    self.stop |= p.stop();
                    if p.child && live.proc.try_wait()?.is_some() {
                        return self.bury("it exited", &during, false).map(Round::Died);
                    }
                }
                Wait::Eof => {
                    return self
                        .bury("it closed its FIFO", &during, false)
                        .map(Round::Died);
                }
                Wait::TimedOut => {
                    let why = format!(
                        "hung: no reply within --timeout {:?}; killed",
                        self.args.timeout
                    );
                    return self.bury(&why, &during, true).map(Round::Died);
                }
                Wait::Other(f) => bail!(
                    "unexpected {:?} frame from the secondary {during} on {}",
                    f.kind,
                    live.from.path().display()
                ),
            }
        }
        let reply_len = seg.load(Field::ReplyLen);
        let ok = reply_len == self.pattern.len() as u64 && self.pattern.check_reply(area, seq)?;
        let t1 = monotonic_ns();
        if t1.saturating_sub(self.last_check_ns) > INTACT_CHECK_NS || !ok {
            seg.check_intact()?;
            self.last_check_ns = t1;
        }
        if ok {
            self.hist.record(t1.saturating_sub(t0));
            self.completed += 1;
            seg.store(Field::RoundsCompleted, self.completed);
            Ok(Round::Completed)
        } else {
            self.corruptions += 1;
            seg.store(Field::RoundsFailed, self.failed + self.corruptions);
            crate::warn!(
                "round {seq}: the reply does not match the request (reply length {reply_len}, \
                 expected {}): corrupted data",
                self.pattern.len()
            );
            Ok(Round::Corrupt)
        }
    }

    /// The orderly stop: ask the secondary to stop, wait for its ack and its exit, reap it.
    fn stop_secondary(&mut self) -> Result<()> {
        self.notify.stopping();
        let Some(mut live) = self.child.take() else {
            return Ok(());
        };
        self.inst
            .seg
            .store(Field::PrimaryState, State::Stopping as u64);
        let grace = self.args.timeout;
        let deadline = Instant::now() + grace;
        if let Some(to) = &live.to {
            if to.send(&Frame::new(Kind::Stop, 0), deadline)? == Sent::Ok {
                loop {
                    match live.from.wait(Some(deadline), None) {
                        Ok(Event::Frame(f)) if f.kind == Kind::StopAck => break,
                        Ok(Event::Frame(f)) if f.kind == Kind::Reply => {} // late doorbell
                        Ok(Event::Frame(f)) => {
                            crate::warn!("unexpected {:?} frame while stopping; ignored", f.kind);
                        }
                        Ok(Event::Woken) => {}
                        Ok(Event::Eof | Event::TimedOut) => break,
                        Err(e) => {
                            crate::warn!("while stopping: {e:#}");
                            break;
                        }
                    }
                }
            }
        }
        let mut ignored = false;
        let status = match spawn::wait_until(&mut live.proc, deadline, self.sigs, &mut ignored)? {
            Some(status) => status,
            None => {
                crate::warn!(
                    "secondary {} did not stop within {grace:?}; killed it",
                    live.pid
                );
                spawn::kill_and_reap(&mut live.proc)?
            }
        };
        crate::debug!("secondary {} {}", live.pid, spawn::describe(status));
        self.last_status = Some(status);
        Ok(())
    }

    /// After an error: make sure no secondary is left running or unreaped.
    fn abort(&mut self) {
        if let Some(mut live) = self.child.take() {
            match spawn::kill_and_reap(&mut live.proc) {
                Ok(status) => self.last_status = Some(status),
                Err(e) => crate::warn!("could not reap secondary {}: {e:#}", live.pid),
            }
        }
    }

    /// The exit status once the run ended without an error.
    fn verdict(&mut self) -> Result<Exit> {
        if let Some(why) = self.gave_up.take() {
            return Err(coded(Exit::SecondaryFailed, why));
        }
        if self.corruptions > 0 {
            return Err(coded(
                Exit::Corruption,
                format!(
                    "{} of {} replies did not match their request",
                    self.corruptions,
                    self.completed + self.corruptions
                ),
            ));
        }
        if self.failed > 0 {
            return Err(coded(
                Exit::SecondaryFailed,
                format!("{} rounds failed (see the summary)", self.failed),
            ));
        }
        Ok(Exit::Success)
    }

    fn summary(&self, failed: bool) -> Summary {
        let payload = self.pattern.len() as u64;
        let answered = self.completed + self.corruptions;
        Summary {
            name: self.inst.paths.name.to_string(),
            sync: self.args.sync.as_str(),
            rounds: self.completed,
            rounds_failed: self.failed,
            rounds_retried: self.retried,
            payload_bytes: payload,
            bytes_to_secondary: payload * (answered + self.failed + self.retried),
            bytes_from_secondary: payload * answered,
            corruptions: self.corruptions,
            errors: self.corruptions + self.failed,
            latency_ns: self.hist.summary(),
            restarts: self.restarts,
            deaths: self.deaths.clone(),
            secondary_pid: self.last_pid,
            secondary_exit: self.last_status.and_then(|s| s.code()),
            secondary_signal: self.last_status.and_then(|s| s.signal()),
            stopped_by: if failed {
                "error"
            } else if self.gave_up.is_some() {
                "gave-up"
            } else if self.stop {
                "signal"
            } else {
                "rounds"
            },
            elapsed_ms: self.started.elapsed().as_millis() as u64,
        }
    }
}
