//! The rounds mode: one secondary, and rounds of a fixed request it must reverse in
//! place (see `payload.rs`). `--rounds N` runs N rounds as fast as they go; without it a
//! heartbeat round runs every `--interval` until a signal asks us to stop. A secondary
//! that dies during a round is restarted (see `supervisor.rs`) and the round retried once.

use std::os::unix::process::ExitStatusExt;
use std::time::Instant;

use color_eyre::eyre::Result;

use super::summary::{Mode, StoppedBy, Summary};
use super::supervisor::{self, Supervisor};
use super::worker::{self, Ctx, Trouble};
use crate::clock::monotonic_ns;
use crate::exit::{Exit, coded};
use crate::os::notify::Notifier;
use crate::os::signals;
use crate::pair::fifo::{BadFrame, Event, Sent};
use crate::pair::frame::Kind;
use crate::pair::header::{Field, State};
use crate::pair::payload::Pattern;
use crate::pair::segment::INTACT_CHECK_NS;
use crate::pair::turn::Wait;
use crate::primary::stats::Histogram;

/// Runs the rounds until `--rounds` are done or a signal asks us to stop. Returns how
/// the run ended and the summary to print; no secondary is left running either way.
pub fn run(ctx: Ctx<'_>) -> (Result<Exit>, Summary) {
    crate::debug!(
        "instance {}: segment {} ({} bytes), FIFOs in {}",
        ctx.inst.paths().name,
        ctx.inst.seg().path().display(),
        ctx.inst.seg().size(),
        ctx.inst.paths().runtime_dir.display()
    );
    let mut run = Rounds::new(ctx);
    let result = run.go();
    if result.is_err() {
        run.sup.abort_all();
    }
    let summary = run.summary(result.is_err());
    (result.and_then(|()| run.verdict()), summary)
}

enum Round {
    Completed,
    Corrupt,
    Died,
    /// A second stop signal ended the wait for its reply: not lost, not retried, the
    /// stop goes on (hurried, see `worker/process.rs`).
    CutShort,
}

enum Idle {
    Tick,
    Stop,
    Died,
}

/// The rounds mode under way: its secondary, its counts and its latencies.
struct Rounds<'a> {
    ctx: Ctx<'a>,
    pattern: Pattern,
    sup: Supervisor,
    /// The last request sequence number published.
    seq: u64,
    hist: Histogram,
    completed: u64,
    failed: u64,
    retried: u64,
    corruptions: u64,
    gave_up: Option<String>,
    started: Instant,
    /// `started` read as `monotonic_ns` (see [`Rounds::instant_at`]).
    started_ns: u64,
    last_check_ns: u64,
    notify: Notifier,
}

impl<'a> Rounds<'a> {
    fn new(ctx: Ctx<'a>) -> Self {
        Rounds {
            pattern: Pattern::new(ctx.args.payload as usize),
            sup: Supervisor::new(1, ctx.args),
            ctx,
            seq: 0,
            hist: Histogram::default(),
            completed: 0,
            failed: 0,
            retried: 0,
            corruptions: 0,
            gave_up: None,
            started: Instant::now(),
            started_ns: monotonic_ns(),
            last_check_ns: monotonic_ns(),
            notify: Notifier::from_env(),
        }
    }

    fn stop_requested(&self) -> bool {
        self.ctx.sigs.stop_requested()
    }

    fn go(&mut self) -> Result<()> {
        let (ctx, seq) = (&self.ctx, self.seq);
        if self.sup.worker_mut(0).start(ctx, seq)?.is_some() && !self.restart()? {
            return Ok(());
        }
        let seg = self.ctx.inst.seg();
        seg.store(Field::PrimaryState, State::Ready as u64);
        let ready = format!(
            "instance {} ready: secondary pid {}, {} sync, {} bytes per round",
            self.ctx.inst.paths().name,
            self.sup.worker(0).pid().unwrap_or(0),
            self.ctx.args.sync.as_str(),
            self.ctx.args.payload
        );
        crate::info!("{ready}");
        self.notify.ready(&ready);
        while !self.stop_requested() {
            match self.ctx.args.rounds {
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
                self.ctx.sigs.drain();
                // A status request, or the lock file's watch (`tick` answers both).
                self.sup.tick(&self.ctx);
            }
            self.notify.ping_if_due();
            // One round, retried once on a fresh secondary if the secondary dies in it.
            let mut retry = false;
            loop {
                match self.round()? {
                    Round::Completed | Round::Corrupt | Round::CutShort => break,
                    Round::Died => {
                        let restarted = self.restart()?;
                        if retry || !restarted {
                            self.failed += 1;
                            let lost = self.failed + self.corruptions;
                            self.ctx.inst.seg().store(Field::RoundsFailed, lost);
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
            .seg()
            .store(Field::PrimaryState, State::Stopping as u64);
        self.sup.stop_all(&self.ctx)
    }

    /// Restarts the secondary after its death, once its backoff is over, unless the
    /// restart budget is spent or a stop was asked for. `Ok(false)`: no secondary runs
    /// any more.
    fn restart(&mut self) -> Result<bool> {
        loop {
            if self.stop_requested() {
                return Ok(false);
            }
            let Some((at, backoff)) = self.sup.worker(0).restart_at() else {
                let w = self.sup.worker(0);
                self.gave_up = Some(format!(
                    "the secondary died {} and --max-restarts {} allows no more restarts \
                     within a minute; gave up: {}",
                    crate::units::count(w.deaths().len() as u64, "time", "times"),
                    self.ctx.args.max_restarts,
                    w.deaths_text()
                ));
                return Ok(false);
            };
            if self.pause_until(at) {
                return Ok(false);
            }
            let (ctx, seq) = (&self.ctx, self.seq);
            let restarts = self.sup.worker_mut(0).restart(ctx, seq)?;
            crate::info!("restarting the secondary (restart {restarts}) after {backoff:?}");
            self.notify
                .status(&format!("restarting the secondary (restart {restarts})"));
            if self.sup.worker_mut(0).wait_ready(ctx)?.is_none() {
                return Ok(true);
            }
        }
    }

    /// Sleeps until `at` unless SIGINT/SIGTERM arrives; true if it did.
    fn pause_until(&mut self, at: Instant) -> bool {
        loop {
            let left = at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return self.stop_requested();
            }
            let ms = left
                .as_millis()
                .clamp(1, supervisor::CHECK_EVERY.as_millis()) as u16;
            let mut fds = [nix::poll::PollFd::new(
                self.ctx.sigs.fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
            self.ctx.sigs.drain();
            self.sup.tick(&self.ctx);
            if self.stop_requested() {
                return true;
            }
        }
    }

    /// A hello on our FIFO from a process we did not start: never taken as ours.
    fn stray_hello(&self, from: u32) {
        let w = self.sup.worker(0);
        worker::stray_hello(from, w.pid().unwrap_or(0), w.reply_fifo());
    }

    /// Reaps the secondary after `trouble` (killing it first if it may still run).
    fn died(&mut self, trouble: Trouble, during: &str) -> Result<()> {
        let ctx = &self.ctx;
        self.sup.worker_mut(0).died(ctx, trouble, during).map(drop)
    }

    /// The self-pipe woke us: a stop request, or the secondary's exit.
    fn woken(&mut self) -> Result<bool> {
        Ok(!self.sup.on_wake(&self.ctx)?.exited.is_empty())
    }

    /// A wake-up during a round: whether the secondary exited, or a second stop signal
    /// cut the round short.
    fn woken_in_round(&mut self) -> Result<Option<Round>> {
        let woken = self.sup.on_wake(&self.ctx)?;
        if !woken.exited.is_empty() {
            return Ok(Some(Round::Died));
        }
        if woken.stop_again {
            self.ctx.sigs.hurry();
            crate::warn!(
                "a stop signal came again during round {}: not waiting for its reply",
                self.seq
            );
            return Ok(Some(Round::CutShort));
        }
        Ok(None)
    }

    /// Waits `--interval` between heartbeat rounds, watching the secondary and signals.
    fn idle(&mut self) -> Result<Idle> {
        if self.completed + self.corruptions + self.failed == 0 {
            return Ok(Idle::Tick); // the first round goes at once
        }
        let deadline = Instant::now() + self.ctx.args.interval;
        // From here on we sleep between rounds: let the kernel wake us if the lock file
        // is touched, rather than waking on a timer to look.
        self.ctx.inst.watch_lock();
        self.notify.status(&format!(
            "{}, secondary pid {}, {}",
            crate::units::count(self.completed, "round", "rounds"),
            self.sup.worker(0).pid().unwrap_or(0),
            crate::units::count(self.sup.worker(0).restarts(), "restart", "restarts")
        ));
        let during = "between rounds";
        loop {
            // Wake early when a systemd watchdog ping or the periodic check falls due
            // before the next round.
            let wake_at = match self.notify.next_ping_in() {
                Some(ping) => deadline.min(Instant::now() + ping),
                None => deadline,
            };
            let wake_at = self.sup.next_deadline().map_or(wake_at, |t| wake_at.min(t));
            let wake = Some(self.ctx.sigs.fd());
            // A frame that cannot be read (garbage written into the FIFO) or that makes no
            // sense here is dealt with as in a serving pool: the secondary is killed and
            // restarted, and the run goes on.
            let event = match self.sup.worker_mut(0).next_event(wake_at, wake) {
                Ok(event) => event,
                Err(e) if e.downcast_ref::<BadFrame>().is_some() => {
                    crate::warn!("secondary: {e:#}");
                    return self.died(Trouble::BadFrame, during).map(|()| Idle::Died);
                }
                Err(e) => return Err(e),
            };
            match event {
                Event::TimedOut if Instant::now() < deadline => {
                    self.notify.ping_if_due();
                    self.sup.tick(&self.ctx);
                }
                Event::TimedOut => {
                    self.ctx.inst.seg().check_intact()?;
                    self.sup.tick(&self.ctx);
                    return Ok(Idle::Tick);
                }
                Event::Woken => {
                    let exited = self.woken()?;
                    if self.stop_requested() {
                        return Ok(Idle::Stop);
                    }
                    if exited {
                        return self.died(Trouble::Exited, during).map(|()| Idle::Died);
                    }
                }
                Event::Eof => {
                    return self.died(Trouble::ClosedFifo, during).map(|()| Idle::Died);
                }
                // A doorbell for a round already done (adaptive mode rings when unsure).
                Event::Frame(f) if f.kind == Kind::Reply && f.seq <= self.seq => {}
                Event::Frame(f) if f.kind == Kind::Hello => self.stray_hello(f.arg),
                Event::Frame(f) => {
                    crate::warn!(
                        "unexpected {:?} frame (round {}) from the secondary between rounds on {}",
                        f.kind,
                        f.seq,
                        self.sup.worker(0).reply_fifo()
                    );
                    return self
                        .died(Trouble::UnexpectedFrame, during)
                        .map(|()| Idle::Died);
                }
            }
        }
    }

    /// One round: request in the segment, turn to the secondary, wait, check the reply.
    fn round(&mut self) -> Result<Round> {
        let seg = self.ctx.inst.seg();
        let area = seg.area();
        self.seq += 1;
        let seq = self.seq;
        let t0 = monotonic_ns();
        seg.store(Field::PrimaryHeartbeat, t0);
        self.pattern.write_request(area, seq)?;
        seg.store(Field::RequestLen, self.pattern.len() as u64);
        let deadline = self.instant_at(t0) + self.ctx.args.timeout;
        // Formatted only when needed: a round is timed, and a format costs an allocation.
        let during = || format!("during round {seq}");
        let ctx = &self.ctx;
        if self.sup.worker_mut(0).publish(ctx, seq, deadline)? == Sent::PeerGone {
            return self.died(Trouble::Epipe, &during()).map(|()| Round::Died);
        }
        loop {
            let ctx = &self.ctx;
            let waited = match self.sup.worker_mut(0).wait_turn(ctx, seq, deadline) {
                Ok(waited) => waited,
                Err(e) if e.downcast_ref::<BadFrame>().is_some() => {
                    crate::warn!("secondary: {e:#}");
                    return self
                        .died(Trouble::BadFrame, &during())
                        .map(|()| Round::Died);
                }
                // A turn counter the segment should never hold (written by a broken or
                // foreign process), a failed system call: the run ends.
                Err(e) => return Err(e),
            };
            let trouble = match waited {
                Wait::Turn => break,
                Wait::Woken => match self.woken_in_round()? {
                    None => continue,
                    Some(Round::CutShort) => return Ok(Round::CutShort),
                    Some(_) => Trouble::Exited,
                },
                Wait::Eof => Trouble::ClosedFifo,
                Wait::TimedOut => Trouble::Hung,
                Wait::Other(f) if f.kind == Kind::Hello => {
                    self.stray_hello(f.arg);
                    continue;
                }
                Wait::Other(f) => {
                    crate::warn!(
                        "unexpected {:?} frame from the secondary during round {seq} on {}",
                        f.kind,
                        self.sup.worker(0).reply_fifo()
                    );
                    Trouble::UnexpectedFrame
                }
            };
            return self.died(trouble, &during()).map(|()| Round::Died);
        }
        let seg = self.ctx.inst.seg();
        let reply_len = seg.load(Field::ReplyLen);
        let ok = reply_len == self.pattern.len() as u64 && self.pattern.check_reply(area, seq)?;
        let t1 = monotonic_ns();
        if t1.saturating_sub(self.last_check_ns) > INTACT_CHECK_NS || !ok {
            seg.check_intact()?;
            self.last_check_ns = t1;
            self.sup.tick(&self.ctx);
        }
        if ok {
            self.hist.record(t1.saturating_sub(t0));
            self.completed += 1;
            seg.store(Field::RoundsCompleted, self.completed);
            if crate::trace::sampled(self.completed) {
                crate::trace!(
                    "round",
                    seq = seq,
                    completed = self.completed,
                    request_seq = seg.load(Field::RequestSeq),
                    reply_seq = seg.load(Field::ReplySeq),
                    rtt_us = t1.saturating_sub(t0) / 1000
                );
            }
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

    /// The instant of a `monotonic_ns` reading. Both read CLOCK_MONOTONIC, so a round's
    /// deadline follows from its start without another read of the clock: a fifo round
    /// on one core costs 3 us, and each read about 30 ns of it on these virtual machines.
    fn instant_at(&self, ns: u64) -> Instant {
        self.started + std::time::Duration::from_nanos(ns.saturating_sub(self.started_ns))
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
        let w = self.sup.worker(0);
        Summary {
            schema_version: 1,
            mode: Mode::Rounds,
            name: self.ctx.inst.paths().name.to_string(),
            sync: self.ctx.args.sync,
            rounds: self.completed,
            rounds_failed: self.failed,
            rounds_retried: self.retried,
            payload_bytes: payload,
            bytes_to_secondary: payload * (answered + self.failed + self.retried),
            bytes_from_secondary: payload * answered,
            corruptions: self.corruptions,
            errors: self.corruptions + self.failed,
            latency_ns: self.hist.summary(),
            restarts: w.restarts(),
            deaths: w.deaths().to_vec(),
            secondary_pid: w.last_pid(),
            secondary_exit: w.last_status().and_then(|s| s.code()),
            secondary_signal: w.last_status().and_then(|s| s.signal()),
            stopped_by: if failed {
                StoppedBy::Error
            } else if self.gave_up.is_some() {
                StoppedBy::GaveUp
            } else if self.stop_requested() {
                StoppedBy::Signal
            } else {
                StoppedBy::Rounds
            },
            elapsed_ms: self.started.elapsed().as_millis() as u64,
        }
    }
}
