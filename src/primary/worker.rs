//! One secondary as the primary sees it: starting it (self re-exec and handshake),
//! giving it turns, reaping it when it dies or hangs, its restart budget and backoff,
//! and its orderly stop. The supervisor of them all is `supervisor.rs`; both modes use
//! these, so each rule is written once.
//!
//! Secondary `index` talks through its own FIFO pair and its own fields of the header
//! (see `header::worker_fields`), so workers never disturb each other. A [`Worker`] keeps
//! its process and FIFOs to itself: the modes ask it to publish a turn, wait for one, or
//! report a death, and never hold its descriptors.

use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail, eyre};

use crate::cli::PrimaryArgs;
use crate::instance::objects::Instance;
use crate::os::signals::SelfPipe;
use crate::os::spawn::{self, Child};
use crate::pair::fifo::{Event, Reader, Sent, Writer};
use crate::pair::frame::{Frame, Kind};
use crate::pair::header::{self, State, WorkerFields};
use crate::pair::turn::{Role, Turns, Wait};

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

/// Why the primary gives up on a running secondary: each trouble names its cause once,
/// and says whether the secondary must be killed (it may still run) or only reaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// SIGCHLD, and `waitpid` says it exited.
    Exited,
    /// End of file on its FIFO.
    ClosedFifo,
    /// Writing its FIFO failed with EPIPE.
    Epipe,
    /// Writing its FIFO failed otherwise.
    Unwritable,
    /// No reply within --timeout.
    Hung,
    /// A frame we could not decode.
    BadFrame,
    /// A frame that makes no sense now.
    UnexpectedFrame,
    /// A reply for a turn we did not give.
    WrongTurn,
    /// No hello within --start-timeout.
    NoHello,
}

impl Trouble {
    fn cause(self, args: &PrimaryArgs) -> String {
        match self {
            Trouble::Exited => "it exited".into(),
            Trouble::ClosedFifo => "it closed its FIFO".into(),
            Trouble::Epipe => "its FIFO was closed (EPIPE)".into(),
            Trouble::Unwritable => "its FIFO could not take the request".into(),
            Trouble::Hung => format!("hung: no reply within --timeout {:?}; killed", args.timeout),
            Trouble::BadFrame => "it sent a bad frame".into(),
            Trouble::UnexpectedFrame => "it sent an unexpected frame".into(),
            Trouble::WrongTurn => "its turn counter went wrong".into(),
            Trouble::NoHello => format!("no hello within {:?}", args.start_timeout),
        }
    }

    /// Whether it may still run, so it must be killed before it is reaped.
    fn kill(self) -> bool {
        matches!(
            self,
            Trouble::Unwritable
                | Trouble::Hung
                | Trouble::BadFrame
                | Trouble::UnexpectedFrame
                | Trouble::WrongTurn
                | Trouble::NoHello
        )
    }
}

/// How one secondary ended before the orderly stop.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Death {
    pub pid: u32,
    /// "exited with status 1", "killed by signal 9 (SIGKILL)", ...
    pub how: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// What the primary saw first: "exited", "hung" (no reply within --timeout), ...
    pub cause: String,
    /// "before the handshake", "during round 12", "between rounds", ...
    pub during: String,
}

/// A running secondary.
#[derive(Debug)]
struct Live {
    proc: Child,
    pid: u32,
    from: Reader,
    to: Writer,
}

/// A secondary launched but not through its handshake yet.
#[derive(Debug)]
struct Starting {
    proc: Child,
    pid: u32,
    from: Reader,
    base: u64,
    deadline: Instant,
}

/// Where a handshake stands after [`Worker::handshake`].
#[derive(Debug)]
pub enum Step {
    Waiting,
    Ready,
    Died(Death),
}

/// One secondary of the primary, across its restarts.
#[derive(Debug)]
pub struct Worker {
    index: usize,
    fields: WorkerFields,
    turns: Turns,
    /// How long its waits for an answer due soon (a Stop's ack, the exit after it) look
    /// before they sleep (`SyncMode::answer_spin`).
    answer_spin: Duration,
    live: Option<Live>,
    starting: Option<Starting>,
    restarts: u64,
    restart_times: VecDeque<Instant>,
    /// When the next restart is due, after a death (`None`: none is scheduled).
    restart_at: Option<Instant>,
    /// The backoff of the scheduled restart.
    backoff: Duration,
    /// The restart budget is spent: this secondary is gone for good.
    given_up: bool,
    deaths: Vec<Death>,
    last_pid: Option<u32>,
    last_status: Option<ExitStatus>,
}

impl Worker {
    pub fn new(index: usize, args: &PrimaryArgs) -> Worker {
        Worker {
            index,
            fields: header::worker_fields(index),
            turns: Turns::new(Role::Primary, args.sync, args.spin, index),
            answer_spin: args.sync.answer_spin(args.spin),
            live: None,
            starting: None,
            restarts: 0,
            restart_times: VecDeque::new(),
            restart_at: None,
            backoff: Duration::ZERO,
            given_up: false,
            deaths: Vec::new(),
            last_pid: None,
            last_status: None,
        }
    }

    /// Its fields of the header (offsets: the layout, not its state).
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn fields(&self) -> WorkerFields {
        self.fields
    }

    /// The running secondary's pid.
    pub fn pid(&self) -> Option<u32> {
        self.live.as_ref().map(|l| l.pid)
    }

    /// Through its handshake and running: it can take a turn.
    pub fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// The restart budget is spent: it will not run again.
    pub fn given_up(&self) -> bool {
        self.given_up
    }

    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    pub fn deaths(&self) -> &[Death] {
        &self.deaths
    }

    /// The pid of the last secondary started, running or not.
    pub fn last_pid(&self) -> Option<u32> {
        self.last_pid
    }

    /// How the last secondary that ended ended.
    pub fn last_status(&self) -> Option<ExitStatus> {
        self.last_status
    }

    /// When the scheduled restart is due, and its backoff.
    pub fn restart_at(&self) -> Option<(Instant, Duration)> {
        self.restart_at.map(|t| (t, self.backoff))
    }

    /// The FIFO its frames arrive on, while it runs (for a caller polling many at once).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.live.as_ref().map(|l| l.from.fd())
    }

    /// The FIFO its hello arrives on, while it starts.
    pub fn starting_fd(&self) -> Option<BorrowedFd<'_>> {
        self.starting.as_ref().map(|s| s.from.fd())
    }

    /// The next moment it needs attention without any descriptor becoming ready: a
    /// restart falling due, or a handshake running out of time.
    pub fn next_deadline(&self) -> Option<Instant> {
        let handshake = self.starting.as_ref().map(|s| s.deadline);
        match (self.restart_at, handshake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The FIFO the running secondary writes, for messages.
    pub fn reply_fifo(&self) -> String {
        self.live
            .as_ref()
            .map_or_else(|| "?".into(), |l| l.from.path().display().to_string())
    }

    fn live_mut(&mut self) -> Result<&mut Live> {
        let index = self.index;
        self.live
            .as_mut()
            .ok_or_else(|| eyre!("no secondary {index} runs"))
    }

    /// Publishes turn `seq` to it (its data is in its slot already).
    pub fn publish(&mut self, ctx: &Ctx<'_>, seq: u64, deadline: Instant) -> Result<Sent> {
        let live = self.live.as_ref().ok_or_else(|| eyre!("no secondary"))?;
        self.turns.publish(ctx.inst.seg(), seq, &live.to, deadline)
    }

    /// Waits for its reply to turn `seq`, woken by signals too.
    pub fn wait_turn(&mut self, ctx: &Ctx<'_>, seq: u64, deadline: Instant) -> Result<Wait> {
        let turns = &self.turns;
        let live = self.live.as_mut().ok_or_else(|| eyre!("no secondary"))?;
        turns.wait(
            ctx.inst.seg(),
            seq,
            &mut live.from,
            Some(deadline),
            Some(ctx.sigs.fd()),
        )
    }

    /// The next frame (or end of file) from the running secondary, waiting until
    /// `deadline` (woken by `wake` too).
    pub fn next_event(&mut self, deadline: Instant, wake: Option<BorrowedFd<'_>>) -> Result<Event> {
        self.live_mut()?.from.wait(Some(deadline), wake)
    }

    /// The arguments of `osps secondary` for this worker.
    fn secondary_args(&self, ctx: &Ctx<'_>) -> Vec<String> {
        let a = ctx.args;
        let mut v = vec![
            "--name".to_string(),
            ctx.inst.paths().name.to_string(),
            "--runtime-dir".to_string(),
            ctx.inst.paths().runtime_dir.display().to_string(),
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

    /// After SIGCHLD: whether the running secondary exited (`true`: report it with
    /// [`Self::died`] and [`Trouble::Exited`]). One that exited during its handshake is
    /// reaped here, its restart scheduled, and its death returned.
    pub fn exited(&mut self, ctx: &Ctx<'_>) -> Result<(bool, Option<Death>)> {
        let live = match self.live.as_mut() {
            Some(live) => live.proc.try_wait()?.is_some(),
            None => false,
        };
        let start_failed = match self.starting.as_mut() {
            Some(s) => s.proc.try_wait()?.is_some(),
            None => false,
        };
        let death = match self.starting.take_if(|_| start_failed) {
            Some(s) => {
                Some(self.reap(ctx, s.proc, s.pid, Trouble::Exited, "before the handshake")?)
            }
            None => None,
        };
        Ok((live, death))
    }

    /// The running secondary is dead, or must die (`trouble`): kill it if it may still
    /// run, reap it, record how it ended (`during`: what it was doing) and schedule its
    /// restart within the budget.
    pub fn died(&mut self, ctx: &Ctx<'_>, trouble: Trouble, during: &str) -> Result<Death> {
        let live = self
            .live
            .take()
            .ok_or_else(|| eyre!("no secondary {} to reap", self.index))?;
        self.reap(ctx, live.proc, live.pid, trouble, during)
    }

    /// Reaps a secondary that ended (killing it first if it may still run), records
    /// how, and schedules its restart within the budget. A segment truncated or removed
    /// under us is reported instead: a secondary that died of it would only die again.
    fn reap(
        &mut self,
        ctx: &Ctx<'_>,
        mut proc: Child,
        pid: u32,
        trouble: Trouble,
        during: &str,
    ) -> Result<Death> {
        crate::trace!(
            "secondary_died",
            pid = pid,
            cause = trouble.cause(ctx.args),
            during = during
        );
        let status = if trouble.kill() {
            spawn::kill_and_reap(&mut proc)?
        } else {
            let deadline = Instant::now() + Duration::from_secs(1);
            match spawn::wait_until(&mut proc, deadline, ctx.sigs, Duration::ZERO)? {
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
            cause: trouble.cause(ctx.args),
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
        ctx.inst.seg().check_intact()?;
        self.schedule_restart(ctx.args);
        Ok(death)
    }

    /// The wait before the next restart, or `None` when `max` restarts within a minute
    /// are spent. Backoff doubles with each recent restart, capped at 5 s.
    fn next_restart(&mut self, max: u32, backoff: Duration) -> Option<Duration> {
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

    /// After a death: the restart is due after its backoff, or never when the budget
    /// is spent.
    fn schedule_restart(&mut self, args: &PrimaryArgs) {
        match self.next_restart(args.max_restarts, args.restart_backoff) {
            Some(backoff) => {
                self.backoff = backoff;
                self.restart_at = Some(Instant::now() + backoff);
            }
            None => {
                self.restart_at = None;
                self.given_up = true;
            }
        }
    }

    /// Whether its handshake ran out of time (then [`Self::handshake`] reaps it).
    pub fn handshake_due(&self, now: Instant) -> bool {
        self.starting.as_ref().is_some_and(|s| s.deadline <= now)
    }

    /// Whether its scheduled restart is due.
    pub fn restart_due(&self, now: Instant) -> bool {
        self.restart_at.is_some_and(|t| t <= now)
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

    /// A restart whose launch failed (a FIFO replaced by something else, fork refused):
    /// said, and tried again after the backoff, within the budget a death would use. The
    /// other secondaries of a pool serve on meanwhile.
    pub fn launch_failed(&mut self, ctx: &Ctx<'_>, e: &color_eyre::Report) {
        crate::warn!("secondary {} could not be restarted: {e:#}", self.index);
        self.schedule_restart(ctx.args);
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
            // It may have stopped meanwhile: no need to kill it then.
            live.proc.try_wait().wrap_err("waiting for the secondary")?
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
            None if sigs.hurried() => {
                crate::warn!(
                    "secondary {} had not stopped when a stop signal came during the stop; \
                     killed it",
                    live.pid
                );
                spawn::kill_and_reap(&mut live.proc)?
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> PrimaryArgs {
        let argv = ["osps", "primary"].iter().chain(extra);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Primary(p) => p,
            _ => panic!("not a primary command"),
        }
    }

    #[test]
    fn the_backoff_doubles_up_to_the_budget_then_gives_up() {
        let a = args(&["--max-restarts", "3", "--restart-backoff", "100ms"]);
        let mut w = Worker::new(0, &a);
        let mut backoffs = Vec::new();
        for _ in 0..3 {
            w.schedule_restart(&a);
            let (_, backoff) = w.restart_at().expect("a restart within the budget");
            backoffs.push(backoff);
            // What restart() counts, without launching anything.
            w.restart_at = None;
            w.restart_times.push_back(Instant::now());
        }
        assert_eq!(backoffs, [100, 200, 400].map(Duration::from_millis));
        w.schedule_restart(&a);
        assert!(w.given_up() && w.restart_at().is_none());
    }

    #[test]
    fn the_backoff_is_capped() {
        let a = args(&["--max-restarts", "100", "--restart-backoff", "1s"]);
        let mut w = Worker::new(0, &a);
        for _ in 0..10 {
            w.restart_times.push_back(Instant::now());
        }
        w.schedule_restart(&a);
        assert_eq!(w.restart_at().map(|r| r.1), Some(MAX_BACKOFF));
    }

    #[test]
    fn troubles_that_may_leave_it_running_kill_it() {
        let a = args(&[]);
        assert!(!Trouble::Exited.kill() && !Trouble::ClosedFifo.kill() && !Trouble::Epipe.kill());
        assert!(Trouble::Hung.kill() && Trouble::NoHello.kill() && Trouble::WrongTurn.kill());
        assert!(
            Trouble::Hung
                .cause(&a)
                .starts_with("hung: no reply within --timeout")
        );
        assert_eq!(Trouble::Exited.cause(&a), "it exited");
    }
}
