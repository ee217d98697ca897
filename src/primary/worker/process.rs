//! The secondary process itself: starting it (self re-exec with its arguments, the
//! handshake over its FIFOs, the launch of a restart) and stopping it (the orderly stop,
//! or the abort after an error, so it is never left running or unreaped). A death on the
//! way is handed to `restarts.rs`; the turns it takes once running are `exchange.rs`'s.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, bail, eyre};

use super::restarts::Trouble;
use super::state::{Ctx, Death, Live, Starting, Worker};
use crate::os::signals::SelfPipe;
use crate::os::spawn;
use crate::pair::fifo::{Event, Reader, Sent, Writer};
use crate::pair::frame::{Frame, Kind};
use crate::pair::header::State;
use crate::pair::turn::Role;

/// Where a handshake stands after [`Worker::handshake`].
#[derive(Debug)]
pub enum Step {
    Waiting,
    Ready,
    Died(Death),
}

impl Worker {
    /// The arguments of `osps secondary` for this worker. Paths go as the bytes they
    /// are: a runtime directory need not be UTF-8, and a lossy copy would name another.
    fn secondary_args(&self, ctx: &Ctx<'_>) -> Vec<OsString> {
        let a = ctx.args;
        let mut v: Vec<OsString> = vec![
            "--name".into(),
            ctx.inst.paths().name.to_string().into(),
            "--runtime-dir".into(),
            ctx.inst.paths().runtime_dir.clone().into_os_string(),
            "--sync".into(),
            a.sync.as_str().into(),
            "--spin".into(),
            format!("{}ns", a.spin.as_nanos()).into(),
            "--start-timeout".into(),
            format!("{}ns", a.start_timeout.as_nanos()).into(),
        ];
        if a.serve {
            v.extend([
                "--serve".into(),
                "--index".into(),
                self.index.to_string().into(),
            ]);
        }
        match crate::log::level() {
            l if l < 0 => v.push("-q".into()),
            l => v.extend((0..l).map(|_| "-v".into())),
        }
        v
    }

    /// Starts the secondary and waits for its handshake; `base` is the last request
    /// sequence number, so both sides agree on the next. `Some(death)`: it died or hung
    /// on the way (and its restart is scheduled, see [`Self::restart_at`]).
    pub fn start(&mut self, ctx: &Ctx<'_>, base: u64) -> Result<Option<Death>> {
        self.launch(ctx, base)?;
        self.wait_ready(ctx)
    }

    /// Drives a launched secondary's handshake to its end, blocking.
    pub fn wait_ready(&mut self, ctx: &Ctx<'_>) -> Result<Option<Death>> {
        loop {
            match self.handshake(ctx, false)? {
                Step::Waiting => {}
                Step::Ready => return Ok(None),
                Step::Died(death) => return Ok(Some(death)),
            }
        }
    }

    /// Resets the secondary's side of the header and spawns it; [`Self::handshake`] then drives
    /// its handshake (the serving primary does so from its event loop, never blocking).
    fn launch(&mut self, ctx: &Ctx<'_>, base: u64) -> Result<()> {
        let seg = ctx.inst.seg();
        let f = self.fields;
        for (offset, value) in [
            (f.pid, 0),
            (f.state, State::Absent as u64),
            (f.secondary_sleeping, 0),
            (f.reply_seq, base),
            (f.request_seq, base),
        ] {
            seg.at(offset).store(value, Ordering::Release);
        }
        ctx.inst.restore_fifos(self.index)?;
        let (_, s2p) = ctx.inst.paths().fifo_files(self.index);
        let from = Reader::open(ctx.inst.dir(), &s2p)?;
        let mut proc = spawn::secondary(&self.secondary_args(ctx))?;
        proc.hold_zombie(ctx.args.hold_zombie);
        let pid = proc.id();
        self.last_pid = Some(pid);
        crate::debug!("started secondary {} pid {pid}", self.index);
        let deadline = Instant::now() + ctx.args.start_timeout;
        self.starting = Some(Starting {
            proc,
            pid,
            from,
            base,
            deadline,
        });
        Ok(())
    }

    /// Advances the handshake of a launched secondary: waits for its hello (until its
    /// deadline, or not at all when `nonblocking`), then opens p2s and sends Ready.
    pub fn handshake(&mut self, ctx: &Ctx<'_>, nonblocking: bool) -> Result<Step> {
        let Some(s) = self.starting.as_mut() else {
            return Ok(if self.live.is_some() {
                Step::Ready
            } else {
                Step::Waiting
            });
        };
        let until = if nonblocking {
            Instant::now().min(s.deadline)
        } else {
            s.deadline
        };
        let wake = (!nonblocking).then(|| ctx.sigs.fd());
        // Ok(Ok(Some(to))): through; Ok(Ok(None)): not yet; Ok(Err(trouble)): it died.
        let outcome = match s.from.wait(Some(until), wake) {
            Ok(Event::Frame(fr)) if fr.kind == Kind::Hello && fr.arg == s.pid => {
                crate::trace!("hello_received", fifo = s.from.path(), pid = fr.arg);
                ready(ctx, self.index, s).map(|to| to.map(Some).ok_or(Trouble::ClosedFifo))
            }
            // A hello that is not from the process we forked: a secondary started by hand
            // (an old osps, or one that skipped its own check). It is never taken as ours.
            Ok(Event::Frame(fr)) if fr.kind == Kind::Hello => {
                stray_hello(fr.arg, s.pid, s.from.path().display());
                Ok(Ok(None))
            }
            Ok(Event::Frame(fr)) => Err(eyre!(
                "unexpected {:?} frame (pid {}) on {} before the hello of our secondary pid \
                 {}: another process writes to our FIFO",
                fr.kind,
                fr.arg,
                s.from.path().display(),
                s.pid
            )),
            Ok(Event::Eof) => Ok(Err(Trouble::ClosedFifo)),
            Ok(Event::TimedOut) if Instant::now() >= s.deadline => Ok(Err(Trouble::NoHello)),
            Ok(Event::TimedOut) => Ok(Ok(None)),
            Ok(Event::Woken) => {
                // A stop request stays noted in the pipe.
                ctx.sigs.drain();
                match s.proc.try_wait() {
                    Ok(Some(_)) => Ok(Err(Trouble::Exited)),
                    Ok(None) => Ok(Ok(None)),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Ok(None)) => Ok(Step::Waiting),
            Ok(Ok(Some(to))) => {
                if let Some(s) = self.starting.take() {
                    self.live = Some(Live {
                        proc: s.proc,
                        pid: s.pid,
                        from: s.from,
                        to,
                    });
                }
                Ok(Step::Ready)
            }
            Ok(Err(trouble)) => {
                let Some(s) = self.starting.take() else {
                    bail!("no secondary starting")
                };
                self.reap(ctx, s.proc, s.pid, trouble, "before the handshake")
                    .map(Step::Died)
            }
            Err(e) => {
                self.abort();
                Err(e)
            }
        }
    }

    /// Whether its handshake ran out of time (then [`Self::handshake`] reaps it).
    pub fn handshake_due(&self, now: Instant) -> bool {
        self.starting.as_ref().is_some_and(|s| s.deadline <= now)
    }

    /// Starts the scheduled restart: counts it (in the header too) and launches the
    /// secondary; [`Self::handshake`] then drives its handshake. Returns the restart count.
    pub fn restart(&mut self, ctx: &Ctx<'_>, base: u64) -> Result<u64> {
        self.restart_at = None;
        self.note_restart(ctx);
        crate::trace!(
            "restart",
            secondary = self.index,
            restart = self.restarts,
            backoff_ms = self.backoff.as_millis() as u64
        );
        self.launch(ctx, base)?;
        Ok(self.restarts)
    }

    /// Counts a restart (in the header too).
    fn note_restart(&mut self, ctx: &Ctx<'_>) {
        self.restart_times.push_back(Instant::now());
        self.restarts += 1;
        ctx.inst
            .seg()
            .at(self.fields.restarts)
            .store(self.restarts, Ordering::Release);
    }

    /// The orderly stop: Stop frame, wait for the ack and the exit, reap (kill after `grace`).
    pub fn stop(&mut self, sigs: &SelfPipe, grace: Duration) -> Result<()> {
        let Some(mut live) = self.live.take() else {
            return Ok(());
        };
        let result = self.stop_live(&mut live, sigs, grace);
        if result.is_err() {
            // Whatever went wrong, the child is neither left running nor unreaped.
            if let Ok(status) = spawn::kill_and_reap(&mut live.proc) {
                self.last_status = Some(status);
            }
        }
        result
    }

    fn stop_live(&mut self, live: &mut Live, sigs: &SelfPipe, grace: Duration) -> Result<()> {
        // A stop signal that comes during the stop (Ctrl-C again, or a first one while a
        // stop of our own runs) hurries it: from then on a secondary gets a moment, not
        // --timeout, and is killed if it has not stopped (see `SelfPipe::hurry`).
        let grace = if sigs.hurried() {
            grace.min(HURRIED_GRACE)
        } else {
            grace
        };
        let deadline = Instant::now() + grace;
        let mut cut_short = false;
        // Traced before the write: the secondary may act on the frame before we run again.
        crate::trace!("stop_sent", fifo = live.to.path(), pid = live.pid);
        if live.to.send(&Frame::new(Kind::Stop, 0), deadline)? == Sent::Ok {
            loop {
                match live
                    .from
                    .wait_soon(Some(deadline), Some(sigs.fd()), self.answer_spin)
                {
                    Ok(Event::Frame(f)) if f.kind == Kind::StopAck => {
                        crate::trace!("stop_ack_received", pid = live.pid, served = f.seq);
                        break;
                    }
                    Ok(Event::Frame(f)) if f.kind == Kind::Reply => {} // late doorbell
                    Ok(Event::Frame(f)) => {
                        crate::warn!("unexpected {:?} frame while stopping; ignored", f.kind);
                    }
                    Ok(Event::Woken) => {
                        if sigs.drain().stop_signal().is_some() {
                            sigs.hurry();
                            cut_short = true;
                            break;
                        }
                    }
                    Ok(Event::Eof | Event::TimedOut) => break,
                    Err(e) => {
                        crate::warn!("while stopping secondary {}: {e:#}", live.pid);
                        break;
                    }
                }
            }
        }
        let waited = if cut_short {
            // It may be stopping: a moment to finish (a third signal ends even that).
            let moment = Instant::now() + HURRIED_GRACE.min(grace);
            spawn::wait_until(&mut live.proc, moment, sigs, self.answer_spin)?
        } else {
            let waited = spawn::wait_until(&mut live.proc, deadline, sigs, self.answer_spin)?;
            // Back before the deadline with no status: a stop signal came meanwhile.
            if waited.is_none() && Instant::now() < deadline {
                sigs.hurry();
            }
            waited
        };
        let status = match waited {
            Some(status) => status,
            None => {
                let status = spawn::kill_and_reap(&mut live.proc)?;
                // It may have exited by itself between the last look and the kill: then
                // it was not killed, and the warning would be false.
                if status.signal() == Some(libc::SIGKILL) {
                    if sigs.hurried() {
                        crate::warn!(
                            "secondary {} had not stopped when a stop signal came during \
                             the stop; killed it",
                            live.pid
                        );
                    } else {
                        crate::warn!(
                            "secondary {} did not stop within {grace:?}; killed it",
                            live.pid
                        );
                    }
                }
                status
            }
        };
        crate::debug!("secondary {} {}", live.pid, spawn::describe(status));
        self.last_status = Some(status);
        Ok(())
    }

    /// After an error: make sure the secondary is neither left running nor unreaped.
    pub fn abort(&mut self) {
        if let Some(mut s) = self.starting.take() {
            if let Ok(status) = spawn::kill_and_reap(&mut s.proc) {
                self.last_status = Some(status);
            }
        }
        if let Some(mut live) = self.live.take() {
            match spawn::kill_and_reap(&mut live.proc) {
                Ok(status) => self.last_status = Some(status),
                Err(e) => crate::warn!("could not reap secondary {}: {e:#}", live.pid),
            }
        }
    }
}

/// How long a secondary is given to stop once a stop signal came during the stop
/// (instead of --timeout): enough for one that is stopping, not for one that is stuck.
const HURRIED_GRACE: Duration = Duration::from_millis(100);

/// Warns about a hello from `from`, which is not the secondary we started (`ours`).
pub fn stray_hello(from: u32, ours: u32, fifo: impl std::fmt::Display) {
    crate::warn!(
        "ignored a hello from pid {from} on {fifo}: not the secondary this primary started \
         (pid {ours}); a secondary is started only by `osps primary`"
    );
}

/// After the hello: open p2s (its read end is open now) and send Ready with the base
/// turn. `Ok(None)`: the secondary went away meanwhile.
fn ready(ctx: &Ctx<'_>, index: usize, s: &Starting) -> Result<Option<Writer>> {
    let (p2s, _) = ctx.inst.paths().fifo_files(index);
    let Some(to) = Writer::try_open(ctx.inst.dir(), &p2s)? else {
        return Ok(None);
    };
    let frame = Frame::new(Kind::Ready, s.base);
    crate::pair::turn::announce_cpu(ctx.inst.seg(), Role::Primary, index);
    // Traced before the write: the secondary may act on the frame before we run again.
    crate::trace!("ready_sent", fifo = to.path(), base = s.base);
    if to.send(&frame, Instant::now() + ctx.args.timeout)? == Sent::PeerGone {
        return Ok(None);
    }
    Ok(Some(to))
}
