//! What looks wrong about an instance without changing its status (a running primary
//! whose lock file is gone, a FIFO held by a stranger, a secondary left orphaned): each a
//! [`Warning`], a [`Concern`] that code may test and the sentence people read.

use std::path::PathBuf;

use super::report::{Concern, Fifo, Object, PoolMember, SegmentReport, Warning};
use crate::disk::lockfile::Probe;
use crate::disk::names::Paths;
use crate::disk::owned::Kind;
use crate::disk::rundir::RuntimeDir;
use crate::instance::claim::{self, LivePrimary};
use crate::instance::holder;
use crate::os::procfs;
use crate::pair::header::{Header, State};

/// The facts of one examination that the warnings are drawn from.
pub struct Facts<'a> {
    pub paths: &'a Paths,
    pub dir: Option<&'a RuntimeDir>,
    /// The lock, judged unheld when a program other than osps holds it.
    pub probe: &'a Probe,
    pub live: Option<&'a LivePrimary>,
    pub header: Option<&'a Header>,
    pub seg: &'a SegmentReport,
    pub fifos: &'a [Fifo],
    pub socket: &'a Object,
    pub secondaries: &'a [PoolMember],
    /// The pid of a program other than osps holding the lock.
    pub foreign_holder: Option<i32>,
    /// The pid of a process holding the lock that is still exiting after the wait.
    pub exiting_holder: Option<i32>,
}

/// Every warning about one instance.
pub fn about(f: &Facts) -> Vec<Warning> {
    let mut warnings = about_lock(f.paths, f.probe, f.live, f.seg);
    // (Not when the instance lives in another runtime directory: its objects are there.)
    let here = !warnings
        .iter()
        .any(|w| w.concern() == Concern::LockElsewhere);
    // Only once it runs: a primary makes its FIFOs after it takes the lock, and removes
    // them and its socket before it lets go of it.
    let settled = f
        .header
        .is_some_and(|h| matches!(h.primary_state, State::Ready | State::Busy));
    if (f.probe.held || f.live.is_some()) && here && settled {
        while_running(f, &mut warnings);
    }
    if f.probe.held || f.live.is_some() {
        stopped(f, &mut warnings);
    }
    if let Some(pid) = f.foreign_holder {
        warnings.push(Warning::new(
            Concern::ForeignLockHolder,
            format!(
                "lock held by another program: {}",
                holder::foreign_holder_text(f.paths, pid)
            ),
        ));
    }
    if let Some(pid) = f.exiting_holder {
        warnings.push(Warning::new(
            Concern::ExitingLockHolder,
            holder::exiting_text(f.paths, pid),
        ));
    }
    if !f.probe.held && f.live.is_none() {
        // A secondary outlives its primary by a second at most (end of file on its FIFO,
        // PR_SET_PDEATHSIG), unless it cannot run (stopped with SIGSTOP, say).
        for w in f.secondaries.iter().filter(|w| w.alive) {
            warnings.push(Warning::new(
                Concern::OrphanedSecondary,
                format!(
                    "orphaned secondary: pid {} still runs although its primary is gone; \
                     `osps cleanup --name {}` stops it",
                    w.pid.unwrap_or_default(),
                    f.paths.name
                ),
            ));
        }
    }
    warnings
}

/// What is wrong while the primary runs (said, since inspect otherwise only shows these
/// objects as absent or their holders as a list): a FIFO or the socket removed (by a
/// person, or an age-based cleaner), the socket replaced by another object, a FIFO open
/// in a process not of the instance.
fn while_running(f: &Facts, warnings: &mut Vec<Warning>) {
    let workers = f
        .header
        .map_or(1, |h| h.workers as usize)
        .clamp(1, claim::MAX_SECONDARIES);
    for index in 0..workers {
        let (p2s, s2p) = f.paths.fifo_files(index);
        for file in [p2s, s2p] {
            if !matches!(f.dir.map(|d| d.stat(&file)), Some(Ok(None))) {
                continue;
            }
            warnings.push(Warning::new(
                Concern::FifoMissing,
                format!(
                    "FIFO missing: {} was removed while the primary runs; it is made anew when \
                     its secondary restarts",
                    f.paths.in_dir(&file).display()
                ),
            ));
        }
    }
    let pid = f
        .probe
        .pid
        .filter(|_| f.probe.held)
        .or(f.live.map(|l| l.pid));
    // Only the primary and its secondaries open the FIFOs: any other reader can take
    // a frame meant for one of them (a secondary then looks hung and is restarted).
    // (A secondary just started is the primary's child before it says hello.)
    let ours = |p: i32| {
        Some(p) == pid
            || f.secondaries.iter().any(|w| w.pid == Some(p))
            || (pid.is_some() && procfs::parent(p) == pid)
    };
    let mut strangers: Vec<(i32, &str)> = f
        .fifos
        .iter()
        .flat_map(|fifo| {
            fifo.holders
                .iter()
                .map(move |h| (h.pid, fifo.object.path.as_str()))
        })
        .filter(|&(p, _)| !ours(p))
        .collect();
    strangers.sort_unstable();
    strangers.dedup_by_key(|s| s.0);
    for (p, path) in strangers {
        warnings.push(Warning::new(
            Concern::FifoHeldByStranger,
            format!(
                "FIFO held by another process: process {p} ({}) has {path} open; it can take \
                 frames meant for the instance's processes",
                procfs::command_text(p)
            ),
        ));
    }
    let serves = || pid.is_some_and(procfs::serves);
    // Only another type of object: a socket with another mode (a user's chmod) may still
    // be the one the primary listens on, which only the primary can tell.
    let replaced = f.socket.exists && !f.socket.is_kind(Kind::Socket);
    if let Some(why) = f
        .socket
        .foreign_error(Kind::Socket)
        .filter(|_| replaced && serves())
    {
        warnings.push(Warning::new(
            Concern::SocketReplaced,
            format!(
                "socket replaced: {why}; until it is gone no new client can connect (the \
                 primary then makes its socket anew within two seconds)"
            ),
        ));
    }
    if !f.socket.exists && serves() {
        warnings.push(Warning::new(
            Concern::SocketMissing,
            format!(
                "socket missing: {} was removed while the primary serves; the primary makes \
                 it anew within two seconds (its stderr says so, or why it cannot), and until \
                 then no new client can connect",
                f.socket.path
            ),
        ));
    }
}

/// A primary or secondary stopped by a signal (SIGSTOP, SIGTSTP from Ctrl-Z, SIGTTIN):
/// the instance looks running, its heartbeats only grow old, and nothing happens until
/// it gets SIGCONT. (Not a process stopped by a debugger: state `t`, not `T`.)
fn stopped(f: &Facts, warnings: &mut Vec<Warning>) {
    let primary = f
        .probe
        .pid
        .filter(|_| f.probe.held)
        .or(f.live.map(|l| l.pid));
    let secondaries = f
        .secondaries
        .iter()
        .filter(|w| w.alive)
        .filter_map(|w| w.pid);
    for (role, pid) in primary
        .map(|p| ("primary", p))
        .into_iter()
        .chain(secondaries.map(|p| ("secondary", p)))
    {
        if procfs::state(pid) == Some('T') {
            warnings.push(Warning::new(
                Concern::ProcessStopped,
                format!(
                    "process stopped: the {role}, pid {pid}, was stopped by a signal \
                     (SIGSTOP, or Ctrl-Z) and does nothing until it gets SIGCONT (`kill \
                     -CONT {pid}`, or `fg` in its shell)"
                ),
            ));
        }
    }
}

/// What is wrong with the lock of a live primary (gone, replaced, or in another runtime
/// directory) and whether the segment can be read at all.
fn about_lock(
    paths: &Paths,
    probe: &Probe,
    live: Option<&LivePrimary>,
    seg: &SegmentReport,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if let Some(live) = live {
        let held = live.lock.as_ref().map(|t| procfs::target_name(t));
        let deleted = held.as_ref().is_some_and(|(_, deleted)| *deleted);
        let elsewhere = live.lock.as_ref().and_then(|t| {
            let text = t.to_string_lossy();
            let path = PathBuf::from(text.strip_suffix(" (deleted)").unwrap_or(&text));
            let parent = path.parent()?.to_path_buf();
            // The kernel names the real path; ours may go through a symlink.
            let ours = std::fs::canonicalize(&paths.runtime_dir)
                .unwrap_or_else(|_| paths.runtime_dir.clone());
            (parent != ours).then_some(parent)
        });
        match elsewhere {
            Some(other) => warnings.push(Warning::new(
                Concern::LockElsewhere,
                format!(
                    "objects in another runtime directory: the primary (pid {}) holds its lock \
                     in {}; look with --runtime-dir {}",
                    live.pid,
                    other.display(),
                    other.display()
                ),
            )),
            None if !probe.exists => warnings.push(Warning::new(
                Concern::LockMissing,
                format!(
                    "lock file missing: {} was removed while the primary (pid {}) runs",
                    probe.path.display(),
                    live.pid
                ),
            )),
            None if deleted || live.lock.is_none() => warnings.push(Warning::new(
                Concern::LockReplaced,
                format!(
                    "lock file replaced: {} is not the file the primary (pid {}) holds locked",
                    probe.path.display(),
                    live.pid
                ),
            )),
            None => {}
        }
    }
    if seg.inaccessible {
        warnings.push(Warning::new(
            Concern::SegmentInaccessible,
            format!(
                "segment inaccessible: {} cannot be read by this user",
                seg.object.path
            ),
        ));
    }
    warnings
}
