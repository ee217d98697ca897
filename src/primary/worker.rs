//! One secondary as the primary sees it: starting it (self re-exec and handshake),
//! reaping it when it dies or hangs, the restart budget, and the orderly stop.
//!
//! The rounds mode (`primary.rs`) has one worker; the serving mode (`serve.rs`) a pool.
//! Secondary `index` talks through its own FIFO pair and its own fields of the header
//! (see `header::worker_fields`), so workers never disturb each other.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, bail, eyre};

use super::summary::Death;
use crate::cli::PrimaryArgs;
use crate::fifo::{Event, Reader, Sent, Writer};
use crate::frame::{Frame, Kind};
use crate::header::{self, State, WorkerFields};
use crate::instance::Instance;
use crate::signals::SelfPipe;
use crate::spawn::{self, Child};

/// The longest wait between two restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The window in which --max-restarts counts restarts.
const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// What every worker of one primary shares.
pub struct Ctx<'a> {
    pub inst: &'a Instance,
    pub sigs: &'a SelfPipe,
    pub args: &'a PrimaryArgs,
}

/// A running secondary.
#[derive(Debug)]
pub struct Live {
    pub proc: Child,
    pub pid: u32,
    pub from: Reader,
    pub to: Writer,
}

/// A secondary launched but not through its handshake yet.
#[derive(Debug)]
pub struct Starting {
    proc: Child,
    pid: u32,
    from: Reader,
    base: u64,
    pub deadline: Instant,
}

impl Starting {
    /// The FIFO its hello arrives on, for a caller that polls many at once.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.from.fd()
    }
}

/// Where a handshake stands after [`Worker::step`].
#[derive(Debug)]
pub enum Step {
    Waiting,
    Ready,
    Died(Death),
}

#[derive(Debug)]
pub struct Worker {
    pub index: usize,
    pub fields: WorkerFields,
    pub live: Option<Live>,
    pub starting: Option<Starting>,
    pub restarts: u64,
    restart_times: VecDeque<Instant>,
    pub deaths: Vec<Death>,
    pub last_pid: Option<u32>,
    pub last_status: Option<ExitStatus>,
}

impl Worker {
    pub fn new(index: usize) -> Worker {
        Worker {
            index,
            fields: header::worker_fields(index),
            live: None,
            starting: None,
            restarts: 0,
            restart_times: VecDeque::new(),
            deaths: Vec::new(),
            last_pid: None,
            last_status: None,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.live.as_ref().map(|l| l.pid)
    }

    /// The arguments of `osps secondary` for this worker.
    fn secondary_args(&self, ctx: &Ctx<'_>) -> Vec<String> {
        let a = ctx.args;
        let mut v = vec![
            "--name".to_string(),
            ctx.inst.paths.name.to_string(),
            "--runtime-dir".to_string(),
            ctx.inst.paths.runtime_dir.display().to_string(),
            "--sync".to_string(),
            a.sync.as_str().to_string(),
            "--spin".to_string(),
            format!("{}ns", a.spin.as_nanos()),
            "--start-timeout".to_string(),
            format!("{}ns", a.start_timeout.as_nanos()),
        ];
        if a.serve {
            v.extend([
                "--serve".to_string(),
                "--index".to_string(),
                self.index.to_string(),
            ]);
        }
        match crate::log::level() {
            l if l < 0 => v.push("-q".into()),
            l => v.extend((0..l).map(|_| "-v".to_string())),
        }
        v
    }

    /// Starts the secondary and shakes hands; `base` is the last request sequence number,
    /// so both sides agree on the next. `Some(death)`: it died or hung on the way.
    pub fn start(&mut self, ctx: &Ctx<'_>, base: u64, stop: &mut bool) -> Result<Option<Death>> {
        self.launch(ctx, base)?;
        loop {
            match self.step(ctx, false, stop)? {
                Step::Waiting => {}
                Step::Ready => return Ok(None),
                Step::Died(death) => return Ok(Some(death)),
            }
        }
    }

    /// Resets the secondary's side of the header and spawns it; [`Self::step`] then drives
    /// its handshake (the serving primary does so from its event loop, never blocking).
    pub fn launch(&mut self, ctx: &Ctx<'_>, base: u64) -> Result<()> {
        let seg = &ctx.inst.seg;
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
        let (_, s2p) = ctx.inst.paths.fifo_files(self.index);
        let from = Reader::open(&ctx.inst.dir, &s2p)?;
        let proc = spawn::secondary(&self.secondary_args(ctx))?;
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
    pub fn step(&mut self, ctx: &Ctx<'_>, nonblocking: bool, stop: &mut bool) -> Result<Step> {
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
        let outcome = match s.from.wait(Some(until), wake) {
            Ok(Event::Frame(fr)) if fr.kind == Kind::Hello && fr.arg == s.pid => {
                ready(ctx, self.index, s).map(|r| r.map(Some))
            }
            Ok(Event::Frame(fr)) => Err(eyre!(
                "unexpected {:?} frame (pid {}) on {} before the hello of our secondary pid \
                 {}: another process writes to our FIFO",
                fr.kind,
                fr.arg,
                s.from.path().display(),
                s.pid
            )),
            Ok(Event::Eof) => Ok(Err(("it closed its FIFO".to_string(), false))),
            Ok(Event::TimedOut) if Instant::now() >= s.deadline => Ok(Err((
                format!("no hello within {:?}", ctx.args.start_timeout),
                true,
            ))),
            Ok(Event::TimedOut) => Ok(Ok(None)),
            Ok(Event::Woken) => {
                let p = ctx.sigs.drain();
                *stop |= p.stop();
                match s.proc.try_wait() {
                    Ok(Some(_)) => Ok(Err(("it exited".to_string(), false))),
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
            Ok(Err((cause, kill))) => {
                let Some(s) = self.starting.take() else {
                    bail!("no secondary starting")
                };
                let during = "before the handshake";
                self.reap(s.proc, s.pid, &cause, during, kill, ctx.sigs, stop)
                    .map(Step::Died)
            }
            Err(e) => {
                self.abort();
                Err(e)
            }
        }
    }

    /// A launched secondary that exited before its hello (SIGCHLD told us): reaps it.
    pub fn starting_exited(&mut self, ctx: &Ctx<'_>, stop: &mut bool) -> Result<Option<Death>> {
        let exited = match self.starting.as_mut() {
            Some(s) => s.proc.try_wait()?.is_some(),
            None => false,
        };
        if !exited {
            return Ok(None);
        }
        let Some(s) = self.starting.take() else {
            return Ok(None);
        };
        let during = "before the handshake";
        self.reap(s.proc, s.pid, "it exited", during, false, ctx.sigs, stop)
            .map(Some)
    }

    /// Reaps the running secondary that died (or kills it first when `kill`, e.g. it
    /// hung) and records how it ended.
    pub fn bury(
        &mut self,
        ctx: &Ctx<'_>,
        cause: &str,
        during: &str,
        kill: bool,
        stop: &mut bool,
    ) -> Result<Death> {
        let live = self
            .live
            .take()
            .ok_or_else(|| eyre!("no secondary {} to reap", self.index))?;
        self.reap(live.proc, live.pid, cause, during, kill, ctx.sigs, stop)
    }

    #[allow(clippy::too_many_arguments)]
    fn reap(
        &mut self,
        mut proc: Child,
        pid: u32,
        cause: &str,
        during: &str,
        kill: bool,
        sigs: &SelfPipe,
        stop: &mut bool,
    ) -> Result<Death> {
        let status = if kill {
            spawn::kill_and_reap(&mut proc)?
        } else {
            let deadline = Instant::now() + Duration::from_secs(1);
            match spawn::wait_until(&mut proc, deadline, sigs, stop)? {
                Some(status) => status,
                None => spawn::kill_and_reap(&mut proc)?,
            }
        };
        self.last_status = Some(status);
        let death = Death {
            pid,
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
        self.deaths.push(death.clone());
        Ok(death)
    }

    /// The wait before the next restart, or `None` when `max` restarts within a minute
    /// are spent. Backoff doubles with each recent restart, capped at 5 s.
    pub fn next_restart(&mut self, max: u32, backoff: Duration) -> Option<Duration> {
        let now = Instant::now();
        while self
            .restart_times
            .front()
            .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
        {
            self.restart_times.pop_front();
        }
        if self.restart_times.len() >= max as usize {
            return None;
        }
        let doublings = self.restart_times.len().min(16) as u32;
        Some(backoff.saturating_mul(1 << doublings).min(MAX_BACKOFF))
    }

    /// Counts a restart (in the header too).
    pub fn note_restart(&mut self, ctx: &Ctx<'_>) {
        self.restart_times.push_back(Instant::now());
        self.restarts += 1;
        ctx.inst
            .seg
            .at(self.fields.restarts)
            .store(self.restarts, Ordering::Release);
    }

    /// How each death went, for the give-up message.
    pub fn deaths_text(&self) -> String {
        self.deaths
            .iter()
            .map(|d| format!("pid {} {} ({}, {})", d.pid, d.how, d.cause, d.during))
            .collect::<Vec<_>>()
            .join("; ")
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
        let deadline = Instant::now() + grace;
        if live.to.send(&Frame::new(Kind::Stop, 0), deadline)? == Sent::Ok {
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
                        crate::warn!("while stopping secondary {}: {e:#}", live.pid);
                        break;
                    }
                }
            }
        }
        let mut ignored = false;
        let status = match spawn::wait_until(&mut live.proc, deadline, sigs, &mut ignored)? {
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

/// After the hello: open p2s (its read end is open now) and send Ready with the base
/// turn. `Ok(Err(..))`: the secondary went away meanwhile.
fn ready(
    ctx: &Ctx<'_>,
    index: usize,
    s: &Starting,
) -> Result<std::result::Result<Writer, (String, bool)>> {
    let (p2s, _) = ctx.inst.paths.fifo_files(index);
    let Some(to) = Writer::try_open(&ctx.inst.dir, &p2s)? else {
        return Ok(Err(("it closed its FIFO".into(), false)));
    };
    let frame = Frame::new(Kind::Ready, s.base);
    if to.send(&frame, Instant::now() + ctx.args.timeout)? == Sent::PeerGone {
        return Ok(Err(("it closed its FIFO".into(), false)));
    }
    Ok(Ok(to))
}
