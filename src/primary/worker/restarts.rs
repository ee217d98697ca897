//! When a secondary dies: the [`Trouble`] the primary saw, reaping the process (killed
//! first if it may still run), the [`Death`] recorded, and the restart budget and backoff
//! that decide whether and when it runs again. Launching the restart is `process.rs`'s,
//! which calls into this part; this part uses only `state.rs`.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, eyre};

use super::state::{Ctx, Death, Worker};
use crate::cli::PrimaryArgs;
use crate::os::spawn::{self, Child};

/// The longest wait between two restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The window in which --max-restarts counts restarts.
const RESTART_WINDOW: Duration = Duration::from_secs(60);

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

impl Worker {
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
    pub(super) fn reap(
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

    /// Whether its scheduled restart is due.
    pub fn restart_due(&self, now: Instant) -> bool {
        self.restart_at.is_some_and(|t| t <= now)
    }

    /// A restart whose launch failed (a FIFO replaced by something else, fork refused):
    /// said, and tried again after the backoff, within the budget a death would use. The
    /// other secondaries of a pool serve on meanwhile.
    pub fn launch_failed(&mut self, ctx: &Ctx<'_>, e: &color_eyre::Report) {
        crate::warn!("secondary {} could not be restarted: {e:#}", self.index);
        self.schedule_restart(ctx.args);
    }

    /// How each death went, for the give-up message.
    pub fn deaths_text(&self) -> String {
        self.deaths
            .iter()
            .map(|d| format!("pid {} {} ({}, {})", d.pid, d.how, d.cause, d.during))
            .collect::<Vec<_>>()
            .join("; ")
    }
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
