//! One secondary as the primary sees it: starting it (self re-exec and handshake),
//! reaping it when it dies or hangs, the restart budget, and the orderly stop.
//!
//! The rounds mode (`primary.rs`) has one worker; the serving mode (`serve.rs`) a pool.
//! Secondary `index` talks through its own FIFO pair and its own fields of the header
//! (see `header::worker_fields`), so workers never disturb each other.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, bail, eyre};

use crate::cli::PrimaryArgs;
use crate::fifo::{Event, Reader, Sent, Writer};
use crate::frame::{Frame, Kind};
use crate::header::{self, State, WorkerFields};
use crate::instance::Instance;
use crate::signals::SelfPipe;
use crate::spawn;
use crate::summary::Death;

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

#[derive(Debug)]
pub struct Worker {
    pub index: usize,
    pub fields: WorkerFields,
    pub live: Option<Live>,
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
        let seg = &ctx.inst.seg;
        let f = self.fields;
        // Reset the secondary's side of the header for the newcomer.
        for (offset, value) in [
            (f.pid, 0),
            (f.state, State::Absent as u64),
            (f.secondary_sleeping, 0),
            (f.reply_seq, base),
            (f.request_seq, base),
        ] {
            seg.at(offset).store(value, Ordering::Release);
        }
        let (p2s, s2p) = ctx.inst.paths.fifo_files(self.index);
        let from = Reader::open(&ctx.inst.dir, &s2p)?;
        let mut proc = spawn::secondary(&self.secondary_args(ctx))?;
        let pid = proc.id();
        self.last_pid = Some(pid);
        crate::debug!("started secondary {} pid {pid}", self.index);
        match handshake(ctx, &mut proc, pid, from, &p2s, base, stop) {
            Ok(Ok((from, to))) => {
                self.live = Some(Live {
                    proc,
                    pid,
                    from,
                    to,
                });
                Ok(None)
            }
            Ok(Err((cause, kill))) => {
                let during = "before the handshake";
                self.reap(proc, pid, &cause, during, kill, ctx.sigs, stop)
                    .map(Some)
            }
            Err(e) => {
                let _ = spawn::kill_and_reap(&mut proc);
                Err(e)
            }
        }
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
        if let Some(mut live) = self.live.take() {
            match spawn::kill_and_reap(&mut live.proc) {
                Ok(status) => self.last_status = Some(status),
                Err(e) => crate::warn!("could not reap secondary {}: {e:#}", live.pid),
            }
        }
    }
}

/// Hello from the new secondary (checked to be our child), then our Ready with the base
/// turn. `Ok(Err((cause, kill)))`: the secondary died or hung (kill it when `kill`).
fn handshake(
    ctx: &Ctx<'_>,
    proc: &mut Child,
    pid: u32,
    mut from: Reader,
    p2s: &str,
    base: u64,
    stop: &mut bool,
) -> Result<std::result::Result<(Reader, Writer), (String, bool)>> {
    let deadline = Instant::now() + ctx.args.start_timeout;
    loop {
        match from.wait(Some(deadline), Some(ctx.sigs.fd()))? {
            Event::Frame(fr) if fr.kind == Kind::Hello && fr.arg == pid => break,
            Event::Frame(fr) => bail!(
                "unexpected {:?} frame (pid {}) on {} before the hello of our secondary pid \
                 {pid}: another process writes to our FIFO",
                fr.kind,
                fr.arg,
                from.path().display()
            ),
            Event::Eof => return Ok(Err(("it closed its FIFO".into(), false))),
            Event::TimedOut => {
                let why = format!("no hello within {:?}", ctx.args.start_timeout);
                return Ok(Err((why, true)));
            }
            Event::Woken => {
                let p = ctx.sigs.drain();
                *stop |= p.stop();
                if p.child && proc.try_wait()?.is_some() {
                    return Ok(Err(("it exited".into(), false)));
                }
            }
        }
    }
    let Some(to) = Writer::try_open(&ctx.inst.dir, p2s)? else {
        return Ok(Err(("it closed its FIFO".into(), false)));
    };
    let ready = Frame::new(Kind::Ready, base);
    if to.send(&ready, Instant::now() + ctx.args.timeout)? == Sent::PeerGone {
        return Ok(Err(("it closed its FIFO".into(), false)));
    }
    Ok(Ok((from, to)))
}
