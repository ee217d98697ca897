//! The supervisor of every secondary of one primary: the wake-up handling (SIGCHLD,
//! a status request), the periodic check of what no descriptor announces (the lock
//! file), and the orderly stop of them all. Written once for both modes: the rounds mode
//! (`rounds.rs`) has a supervisor of one, the serving mode (`serve.rs`) a pool. One
//! secondary's own life is `worker/`.

use std::time::{Duration, Instant};

use color_eyre::eyre::Result;

use super::worker::{Ctx, Death, Worker};
use crate::cli::PrimaryArgs;
use crate::pair::header::Field;

/// The longest time between two periodic checks ([`Supervisor::tick`]) when the kernel
/// does not report changes of the lock file (no inotify): a removed lock file is back
/// within it, and within the promised second even when a loaded machine delays the check
/// a little. Each check wakes an idle primary (a poll timeout and two `stat`s, a fraction
/// of a millisecond of CPU), so it is not much shorter than that.
pub const CHECK_EVERY: Duration = Duration::from_millis(800);

/// The time between two periodic checks while the kernel reports every change of the
/// lock file's entry (`lockwatch.rs`): only a safety net, so an idle pair stays idle.
pub const CHECK_WATCHED: Duration = Duration::from_secs(30);

/// How long until the next periodic check.
fn check_period(ctx: &Ctx<'_>) -> Duration {
    if ctx.inst.lock_watched() {
        CHECK_WATCHED
    } else {
        CHECK_EVERY
    }
}

/// What [`Supervisor::on_wake`] found.
#[derive(Debug, Default)]
pub struct Woken {
    /// Running secondaries that exited: still to report with [`Worker::died`].
    pub exited: Vec<usize>,
    /// Secondaries that exited during their handshake: already reaped.
    pub failed_start: Vec<usize>,
    /// A stop signal came after an earlier one (Ctrl-C again): the stop is hurried.
    pub stop_again: bool,
}

/// Every secondary of one primary: the wake-up handling and the orderly stop, written
/// once for both modes (the rounds mode has a supervisor of one).
#[derive(Debug)]
pub struct Supervisor {
    workers: Vec<Worker>,
    /// When supervision began, for the status line.
    started: Instant,
    /// When [`Self::tick`] next checks what no descriptor announces.
    next_check: Instant,
}

impl Supervisor {
    pub fn new(count: usize, args: &PrimaryArgs) -> Supervisor {
        let now = Instant::now();
        Supervisor {
            workers: (0..count).map(|i| Worker::new(i, args)).collect(),
            started: now,
            next_check: now + CHECK_EVERY,
        }
    }

    pub fn worker(&self, i: usize) -> &Worker {
        &self.workers[i]
    }

    pub fn worker_mut(&mut self, i: usize) -> &mut Worker {
        &mut self.workers[i]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Worker> {
        self.workers.iter()
    }

    /// The self-pipe woke us: drains it (a stop request stays noted there) and, after
    /// SIGCHLD, reaps every secondary that exited during its handshake (scheduling its
    /// restart) and finds the running ones that exited, for the mode to report with
    /// [`Worker::died`], since it knows what they were doing.
    pub fn on_wake(&mut self, ctx: &Ctx<'_>) -> Result<Woken> {
        let mut woken = Woken::default();
        let asked_before = ctx.sigs.stop_requested();
        let pending = ctx.sigs.drain();
        // (A repeat within SAME_REQUEST of the first is no new stop signal.)
        woken.stop_again = asked_before && pending.stop_signal().is_some();
        let child = pending.child();
        self.tick(ctx);
        if child {
            for w in &mut self.workers {
                let (live, death) = w.exited(ctx)?;
                if live {
                    woken.exited.push(w.index());
                }
                if death.is_some() {
                    woken.failed_start.push(w.index());
                }
            }
        }
        Ok(woken)
    }

    /// Prints the status line if a SIGUSR1 asked for it (the `dd` convention). Any drain
    /// of the self-pipe notes the request, so the modes call this wherever they drain.
    pub fn answer_status(&self, ctx: &Ctx<'_>) {
        if ctx.sigs.take_status_request() {
            crate::info!("{}", self.status_line(ctx));
        }
    }

    /// One line saying how the instance is doing, from the counters the modes publish
    /// in the header and the supervisor's own record of its secondaries.
    pub fn status_line(&self, ctx: &Ctx<'_>) -> String {
        let seg = ctx.inst.seg();
        let secs = self.started.elapsed().as_secs_f64();
        let restarts = crate::units::count(self.restarts(), "restart", "restarts");
        let name = &ctx.inst.paths().name;
        if ctx.args.serve {
            let pids: Vec<String> = self
                .workers
                .iter()
                .filter_map(|w| w.pid().map(|p| p.to_string()))
                .collect();
            format!(
                "instance {name}: serving {secs:.1} s, {} requests, {} clients, {} queued, \
                 {} of {} secondaries live{}, {restarts}",
                seg.load(Field::Requests),
                seg.load(Field::Clients),
                seg.load(Field::Queued),
                pids.len(),
                self.workers.len(),
                if pids.is_empty() {
                    String::new()
                } else {
                    format!(" (pids {})", pids.join(" "))
                }
            )
        } else {
            let secondary = match self.workers.first().map(|w| (w.pid(), w.given_up())) {
                Some((Some(pid), _)) => format!("secondary pid {pid}"),
                Some((None, true)) => "no secondary (restart budget spent)".to_string(),
                _ => "secondary restarting".to_string(),
            };
            format!(
                "instance {name}: running {secs:.1} s, {} rounds, {} failed, {secondary}, \
                 {restarts}",
                seg.load(Field::RoundsCompleted),
                seg.load(Field::RoundsFailed),
            )
        }
    }

    /// The periodic check: what no descriptor announces, a status request drained
    /// elsewhere and the lock file's path (removed or replaced under us:
    /// `Instance::defend_lock` restores it or reports the conflict, warning once per
    /// episode). The lock file is looked at once the kernel reported a change of its
    /// entry, and on a timer: [`CHECK_WATCHED`] apart while the kernel reports every
    /// change, [`CHECK_EVERY`] otherwise. Cheap when nothing is due; the modes call it
    /// from their loops and [`Self::on_wake`] calls it at every wake-up (the serving loop
    /// also wakes for the timer through [`Self::next_deadline`]).
    pub fn tick(&mut self, ctx: &Ctx<'_>) {
        self.tick_at(ctx, Instant::now());
    }

    /// [`Self::tick`] with the caller's clock (the serving loop reads it once a turn).
    pub fn tick_at(&mut self, ctx: &Ctx<'_>, now: Instant) {
        self.answer_status(ctx);
        let changed = ctx.inst.lock_changed();
        if now < self.next_check && !changed {
            return;
        }
        self.next_check = now + check_period(ctx);
        ctx.inst.defend_lock();
    }

    /// Every secondary's budget is spent.
    pub fn all_given_up(&self) -> bool {
        self.workers.iter().all(|w| w.given_up())
    }

    /// Restarts, summed over the pool.
    pub fn restarts(&self) -> u64 {
        self.workers.iter().map(Worker::restarts).sum()
    }

    /// Every death, secondary by secondary.
    pub fn deaths(&self) -> Vec<Death> {
        self.workers
            .iter()
            .flat_map(|w| w.deaths().iter().cloned())
            .collect()
    }

    /// How each death went, for a give-up message.
    pub fn deaths_text(&self) -> String {
        self.workers
            .iter()
            .map(Worker::deaths_text)
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The next moment a worker needs attention (a restart or a handshake deadline), or
    /// the periodic check falls due ([`Self::tick`], which moves it on).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.workers
            .iter()
            .filter_map(Worker::next_deadline)
            .chain([self.next_check])
            .min()
    }

    /// The orderly stop of every secondary: Stop frame, ack, exit, reap (killed after
    /// `--timeout`); one still in its handshake has nothing to stop in order and is
    /// killed and reaped. None is left running or unreaped. The first failure is
    /// returned (after every secondary was stopped), later ones are logged.
    pub fn stop_all(&mut self, ctx: &Ctx<'_>) -> Result<()> {
        if let Some(signal) = ctx.sigs.stop_signal() {
            crate::debug!("{signal}: stopping in order");
        }
        let mut first_error = None;
        for w in &mut self.workers {
            if let Err(e) = w.stop(ctx.sigs, ctx.args.timeout) {
                let e = e.wrap_err(format!("stopping secondary {}", w.index()));
                match first_error {
                    None => first_error = Some(e),
                    Some(_) => crate::warn!("{e:#}"),
                }
            }
            w.abort();
        }
        first_error.map_or(Ok(()), Err)
    }

    /// After an error: make sure no secondary is left running or unreaped.
    pub fn abort_all(&mut self) {
        for w in &mut self.workers {
            w.abort();
        }
    }
}
