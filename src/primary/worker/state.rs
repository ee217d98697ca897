//! What a worker is and what it tells: the [`Worker`] of one secondary with its state
//! across restarts (the running process, the one still starting, the restart count and
//! schedule, the deaths), the [`Death`] record, the [`Ctx`] every worker of a primary
//! shares, and the read-only questions the modes ask. The other parts add what a worker
//! does (`exchange.rs`, `restarts.rs`, `process.rs`); this one imports none of them.

use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::cli::PrimaryArgs;
use crate::instance::objects::Instance;
use crate::os::signals::SelfPipe;
use crate::os::spawn::Child;
use crate::pair::fifo::{Reader, Writer};
use crate::pair::header::{self, WorkerFields};
use crate::pair::turn::{Role, Turns};

/// What every worker of one primary shares.
pub struct Ctx<'a> {
    pub inst: &'a Instance,
    pub sigs: &'a SelfPipe,
    pub args: &'a PrimaryArgs,
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
pub(super) struct Live {
    pub(super) proc: Child,
    pub(super) pid: u32,
    pub(super) from: Reader,
    pub(super) to: Writer,
}

/// A secondary launched but not through its handshake yet.
#[derive(Debug)]
pub(super) struct Starting {
    pub(super) proc: Child,
    pub(super) pid: u32,
    pub(super) from: Reader,
    pub(super) base: u64,
    pub(super) deadline: Instant,
}

/// One secondary of the primary, across its restarts.
#[derive(Debug)]
pub struct Worker {
    pub(super) index: usize,
    pub(super) fields: WorkerFields,
    pub(super) turns: Turns,
    /// How long its waits for an answer due soon (a Stop's ack, the exit after it) look
    /// before they sleep (`SyncMode::answer_spin`).
    pub(super) answer_spin: Duration,
    pub(super) live: Option<Live>,
    pub(super) starting: Option<Starting>,
    pub(super) restarts: u64,
    pub(super) restart_times: VecDeque<Instant>,
    /// When the next restart is due, after a death (`None`: none is scheduled).
    pub(super) restart_at: Option<Instant>,
    /// The backoff of the scheduled restart.
    pub(super) backoff: Duration,
    /// The restart budget is spent: this secondary is gone for good.
    pub(super) given_up: bool,
    pub(super) deaths: Vec<Death>,
    pub(super) last_pid: Option<u32>,
    pub(super) last_status: Option<ExitStatus>,
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

    /// The pid of the secondary in its handshake, if one is (our unreaped child).
    pub fn starting_pid(&self) -> Option<u32> {
        self.starting.as_ref().map(|s| s.pid)
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
}
