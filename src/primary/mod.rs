//! The primary's life: create the instance, start the secondary, shake hands, run the
//! rounds, supervise (restart a dead or hung secondary), then stop in order: the
//! secondary first (the primary reaps it: no zombie), then every object is removed.
//!
//! Which server must stop first? The secondary. A process that exits becomes a zombie
//! until its parent collects its status with `waitpid`; the primary is the parent, so it
//! must outlive the secondary to reap it. (If the primary died first, the secondary would
//! be an orphan, adopted by init or a subreaper; ours notices and exits by itself.)

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use nix::sys::signal::Signal;

mod serve;
mod summary;
mod worker;

use crate::cli::PrimaryArgs;
use crate::exit::{Exit, coded};
use crate::fifo::{Event, Sent};
use crate::frame::Kind;
use crate::header::{Field, HEADER_LEN, State};
use crate::instance::Instance;
use crate::names::{Paths, default_runtime_dir};
use crate::notify::Notifier;
use crate::payload::Pattern;
use crate::segment::monotonic_ns;

use crate::signals::{self, SelfPipe};
use crate::stats::Histogram;
use crate::turn::{Role, Turns, Wait};
use summary::Summary;
use worker::{Ctx, Worker};

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
    if args.serve {
        serve::check_tcp(args)?;
        serve::check_slots(args)?;
    }
    signals::ignore(Signal::SIGPIPE)?;
    let sigs = SelfPipe::install(&[Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD])?;
    let paths = Paths::new(
        args.instance.name.clone(),
        default_runtime_dir(args.instance.runtime_dir.as_deref()),
    );
    let workers = if args.serve {
        args.secondaries as usize
    } else {
        1
    };
    let mut instance = Instance::create(paths, args.size, workers)
        .wrap_err_with(|| format!("starting instance {}", args.instance.name))?;
    if args.serve {
        // As in the rounds mode: a segment truncated or removed under us is the cause.
        let result = serve::run(args, &mut instance, &sigs)
            .map_err(|e| instance.seg.check_intact().err().unwrap_or(e));
        let state = if result.is_ok() {
            State::Stopped
        } else {
            State::Failed
        };
        instance.seg.store(Field::PrimaryState, state as u64);
        let removal = instance
            .remove()
            .wrap_err("removing the instance's objects");
        let exit = result?;
        removal?;
        return Ok(exit);
    }
    crate::debug!(
        "instance {}: segment {} ({} bytes), FIFOs in {}",
        instance.paths.name,
        instance.seg.path().display(),
        instance.seg.size(),
        instance.paths.runtime_dir.display()
    );

    let (result, summary, verdict) = {
        let mut run = Run::new(args, &instance, &sigs);
        // A segment truncated or removed under us explains whatever failed after it (a
        // zeroed turn counter, a dead secondary): report that cause.
        let result = run
            .go()
            .map_err(|e| instance.seg.check_intact().err().unwrap_or(e));
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

enum Round {
    Completed,
    Corrupt,
    Died,
}

enum Idle {
    Tick,
    Stop,
    Died,
}

struct Run<'a> {
    ctx: Ctx<'a>,
    args: &'a PrimaryArgs,
    turns: Turns,
    pattern: Pattern,
    worker: Worker,
    /// The last request sequence number published.
    seq: u64,
    hist: Histogram,
    completed: u64,
    failed: u64,
    retried: u64,
    corruptions: u64,
    stop: bool,
    gave_up: Option<String>,
    started: Instant,
    last_check_ns: u64,
    notify: Notifier,
}

impl<'a> Run<'a> {
    fn new(args: &'a PrimaryArgs, inst: &'a Instance, sigs: &'a SelfPipe) -> Self {
        Run {
            ctx: Ctx { inst, sigs, args },
            args,
            turns: Turns::new(Role::Primary, args.sync, args.spin, 0),
            pattern: Pattern::new(args.payload as usize),
            worker: Worker::new(0),
            seq: 0,
            hist: Histogram::default(),
            completed: 0,
            failed: 0,
            retried: 0,
            corruptions: 0,
            stop: false,
            gave_up: None,
            started: Instant::now(),
            last_check_ns: monotonic_ns(),
            notify: Notifier::from_env(),
        }
    }

    fn go(&mut self) -> Result<()> {
        if self
            .worker
            .start(&self.ctx, self.seq, &mut self.stop)?
            .is_some()
            && !self.restart()?
        {
            return Ok(());
        }
        self.ctx
            .inst
            .seg
            .store(Field::PrimaryState, State::Ready as u64);
        let ready = format!(
            "instance {} ready: secondary pid {}, {} sync, {} bytes per round",
            self.ctx.inst.paths.name,
            self.worker.pid().unwrap_or(0),
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
                    Idle::Died => {
                        if !self.restart()? {
                            return Ok(());
                        }
                        continue;
                    }
                },
            }
            if signals::arrived() {
                self.stop |= self.ctx.sigs.drain().stop();
            }
            self.notify.ping_if_due();
            // One round, retried once on a fresh secondary if the secondary dies in it.
            let mut retry = false;
            loop {
                match self.round()? {
                    Round::Completed | Round::Corrupt => break,
                    Round::Died => {
                        let restarted = self.restart()?;
                        if retry || !restarted {
                            self.failed += 1;
                            let lost = self.failed + self.corruptions;
                            self.ctx.inst.seg.store(Field::RoundsFailed, lost);
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
        self.notify.stopping();
        self.ctx
            .inst
            .seg
            .store(Field::PrimaryState, State::Stopping as u64);
        self.worker.stop(self.ctx.sigs, self.args.timeout)
    }

    /// Restarts the secondary after its death, with backoff, unless the restart budget
    /// is spent or a stop was asked for. `Ok(false)`: no secondary runs any more.
    fn restart(&mut self) -> Result<bool> {
        loop {
            if self.stop {
                return Ok(false);
            }
            // A secondary that died of a truncated or removed segment would only die again.
            self.ctx.inst.seg.check_intact()?;
            let Some(backoff) = self
                .worker
                .next_restart(self.args.max_restarts, self.args.restart_backoff)
            else {
                self.gave_up = Some(format!(
                    "the secondary died {} times and --max-restarts {} allows no more restarts \
                     within a minute; gave up: {}",
                    self.worker.deaths.len(),
                    self.args.max_restarts,
                    self.worker.deaths_text()
                ));
                return Ok(false);
            };
            if self.pause(backoff) {
                return Ok(false);
            }
            self.worker.note_restart(&self.ctx);
            crate::info!(
                "restarting the secondary (restart {}) after {backoff:?}",
                self.worker.restarts
            );
            self.notify.status(&format!(
                "restarting the secondary (restart {})",
                self.worker.restarts
            ));
            if self
                .worker
                .start(&self.ctx, self.seq, &mut self.stop)?
                .is_none()
            {
                return Ok(true);
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
                self.ctx.sigs.fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
            self.stop |= self.ctx.sigs.drain().stop();
            if self.stop {
                return true;
            }
        }
    }

    /// Reaps the secondary after `cause` (killing it first when `kill`).
    fn bury(&mut self, cause: &str, during: &str, kill: bool) -> Result<()> {
        self.worker
            .bury(&self.ctx, cause, during, kill, &mut self.stop)
            .map(drop)
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
            self.worker.pid().unwrap_or(0),
            self.worker.restarts
        ));
        let during = "between rounds";
        loop {
            // Wake early when a systemd watchdog ping falls due before the next round.
            let wake_at = match self.notify.next_ping_in() {
                Some(ping) => deadline.min(Instant::now() + ping),
                None => deadline,
            };
            let live = self
                .worker
                .live
                .as_mut()
                .ok_or_else(|| eyre!("no secondary"))?;
            match live.from.wait(Some(wake_at), Some(self.ctx.sigs.fd()))? {
                Event::TimedOut if Instant::now() < deadline => self.notify.ping_if_due(),
                Event::TimedOut => {
                    self.ctx.inst.seg.check_intact()?;
                    return Ok(Idle::Tick);
                }
                Event::Woken => {
                    let p = self.ctx.sigs.drain();
                    if p.stop() {
                        self.stop = true;
                        return Ok(Idle::Stop);
                    }
                    if p.child && live.proc.try_wait()?.is_some() {
                        return self.bury("it exited", during, false).map(|()| Idle::Died);
                    }
                }
                Event::Eof => {
                    return self
                        .bury("it closed its FIFO", during, false)
                        .map(|()| Idle::Died);
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
        let seg = &self.ctx.inst.seg;
        let area = seg.area();
        self.seq += 1;
        let seq = self.seq;
        let t0 = monotonic_ns();
        seg.store(Field::PrimaryHeartbeat, t0);
        self.pattern.write_request(area, seq)?;
        seg.store(Field::RequestLen, self.pattern.len() as u64);
        let deadline = Instant::now() + self.args.timeout;
        let live = self
            .worker
            .live
            .as_mut()
            .ok_or_else(|| eyre!("no secondary"))?;
        if self.turns.publish(seg, seq, &live.to, deadline)? == Sent::PeerGone {
            let during = format!("during round {seq}");
            return self
                .bury("its FIFO was closed (EPIPE)", &during, false)
                .map(|()| Round::Died);
        }
        loop {
            let live = self
                .worker
                .live
                .as_mut()
                .ok_or_else(|| eyre!("no secondary"))?;
            let (cause, kill) = match self.turns.wait(
                seg,
                seq,
                &mut live.from,
                Some(deadline),
                Some(self.ctx.sigs.fd()),
            )? {
                Wait::Turn => break,
                Wait::Woken => {
                    let p = self.ctx.sigs.drain();
                    self.stop |= p.stop();
                    if !(p.child && live.proc.try_wait()?.is_some()) {
                        continue;
                    }
                    ("it exited".to_string(), false)
                }
                Wait::Eof => ("it closed its FIFO".to_string(), false),
                Wait::TimedOut => (
                    format!(
                        "hung: no reply within --timeout {:?}; killed",
                        self.args.timeout
                    ),
                    true,
                ),
                Wait::Other(f) => bail!(
                    "unexpected {:?} frame from the secondary during round {seq} on {}",
                    f.kind,
                    live.from.path().display()
                ),
            };
            let during = format!("during round {seq}");
            return self.bury(&cause, &during, kill).map(|()| Round::Died);
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

    /// After an error: make sure no secondary is left running or unreaped.
    fn abort(&mut self) {
        self.worker.abort();
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
            schema_version: 1,
            mode: "rounds",
            name: self.ctx.inst.paths.name.to_string(),
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
            restarts: self.worker.restarts,
            deaths: self.worker.deaths.clone(),
            secondary_pid: self.worker.last_pid,
            secondary_exit: self.worker.last_status.and_then(|s| s.code()),
            secondary_signal: self.worker.last_status.and_then(|s| s.signal()),
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
