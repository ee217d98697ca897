//! Examining one instance: what is at each of its paths (never opening a FIFO, mapping
//! the segment read-only), who holds each object (from `/proc`), and the primary and
//! secondaries the header names, checked against the kernel. The facts, from which
//! `status.rs` decides and `warnings.rs` says what looks wrong.

use nix::errno::Errno;
use nix::sys::stat::lstat;

use super::moment::{self, Moment};
use super::report::{
    Fifo, HeaderView, InstanceReport, Lock, Object, PoolMember, Primary, Secondary, SegmentReport,
};
use super::snapshot::Snapshot;
use super::status::{Presence, decide};
use super::warnings::{self, Facts};
use crate::disk::lockfile::{InstanceLock, Probe};
use crate::disk::names::Paths;
use crate::disk::rundir::RuntimeDir;
use crate::instance::claim::{self, LivePrimary};
use crate::instance::holder;
use crate::os::procfs::{self, Holder, Life};
use crate::pair::header::{self, Header};
use crate::pair::segment;

/// Examines every object of one instance; `None` when it has none at all.
pub fn examine(dir: Option<&RuntimeDir>, paths: &Paths) -> Option<InstanceReport> {
    examine_in(&Snapshot::default(), dir, paths)
}

/// [`examine`], with what the survey has read once for all its instances.
pub fn examine_in(
    snap: &Snapshot,
    dir: Option<&RuntimeDir>,
    paths: &Paths,
) -> Option<InstanceReport> {
    examine_at_one_moment(snap, dir, paths, &mut || {})
}

/// How many times an instance is examined when each examination straddles a change of it.
const MOMENT_LOOKS: usize = 3;

/// Examines the instance until what it warns about was seen at one moment (see
/// `moment.rs`): again, afresh, while the lock or the header changed during the looks,
/// at most [`MOMENT_LOOKS`] times; then without those warnings. `between`: called after
/// the header is read, before the other objects are looked at (where a test changes the
/// instance).
pub(super) fn examine_at_one_moment(
    snap: &Snapshot,
    dir: Option<&RuntimeDir>,
    paths: &Paths,
    between: &mut dyn FnMut(),
) -> Option<InstanceReport> {
    let mut report = examine_once(snap, dir, paths, between)?;
    for _ in 1..MOMENT_LOOKS {
        if moment::stands(&report, || Moment::read(dir, paths, examine_segment)) {
            return Some(report);
        }
        // Who holds what is read again too.
        report = examine_once(&Snapshot::default(), dir, paths, between)?;
    }
    if !moment::stands(&report, || Moment::read(dir, paths, examine_segment)) {
        moment::drop_warnings_of_a_moment(&mut report);
    }
    Some(report)
}

/// One examination: each object looked at once, in turn.
fn examine_once(
    snap: &Snapshot,
    dir: Option<&RuntimeDir>,
    paths: &Paths,
    between: &mut dyn FnMut(),
) -> Option<InstanceReport> {
    let (probe, seen) = match dir {
        Some(dir) => probe_lock(dir, paths, || {}),
        None => (
            Probe {
                path: paths.in_dir(&paths.lock_file()),
                ..Probe::default()
            },
            Seen::default(),
        ),
    };
    let mut seg = examine_segment(paths);
    between();
    let mut fifos = examine_fifos(snap, dir, paths);
    let socket = Object::at(dir, paths, &paths.socket_file());
    let fifo_exists = fifos.iter().any(|f| f.object.exists);
    // Half-made lock files of dead processes: what cleanup removes, so shown, even alone.
    let temps: Vec<String> = match dir {
        Some(dir) if snap.may_exist_prefixed(&format!(".{}.", paths.lock_file())) => {
            InstanceLock::stale_temps(dir, paths)
                .iter()
                .map(|f| paths.in_dir(f).display().to_string())
                .collect()
        }
        _ => Vec::new(),
    };
    if !probe.exists && !seg.object.exists && !fifo_exists && !socket.exists && temps.is_empty() {
        return None;
    }
    fill_holders(snap, &mut seg, &mut fifos);
    let header = match &seg.header {
        Some(HeaderView::Valid(h)) => Some(&**h),
        _ => None,
    };
    // A lock held by something that is not osps, or by a process stuck on its way out,
    // makes no instance running: judged as if unheld (the JSON's lock still says who
    // holds it), with a warning.
    let lock = Lock {
        temps,
        ..Lock::from(probe.clone())
    };
    let probe = Probe {
        held: probe.held && seen.foreign.is_none() && seen.exiting.is_none(),
        ..probe
    };
    // Without a held lock file, ask the kernel whether a primary lives nonetheless.
    let live = if probe.held && !holder::is_cleanup(probe.pid) {
        None
    } else {
        claim::live_primary_among(
            paths,
            header.map(|h| (h.primary_pid, h.created_unix_ms)),
            snap.locks(),
        )
    };
    let status = decide(Presence {
        lock_held: probe.held,
        live_primary: live.is_some(),
        segment_inaccessible: seg.inaccessible,
        lock_exists: probe.exists,
        segment_valid: seg.object.exists.then_some(header.is_some()),
        fifos: fifos
            .iter()
            .filter(|f| f.index == 0 && f.object.exists)
            .count(),
    });
    let now_ns = crate::clock::monotonic_ns();
    let secondaries: Vec<PoolMember> = seg
        .pool
        .iter()
        .map(|w| pool_member(w, &fifos, &seg, now_ns))
        .collect();
    let warnings = warnings::about(&Facts {
        paths,
        dir,
        probe: &probe,
        live: live.as_ref(),
        header,
        seg: &seg,
        fifos: &fifos,
        socket: &socket,
        secondaries: &secondaries,
        foreign_holder: seen.foreign,
        exiting_holder: seen.exiting,
    });
    Some(InstanceReport {
        paths: paths.clone(),
        name: paths.name.to_string(),
        status,
        warnings,
        primary: primary(&probe, live.as_ref(), header, now_ns),
        secondary: secondary(header, &fifos, &seg, now_ns),
        secondaries,
        clients: header.map(|h| h.clients),
        queue: header.map(|h| h.queued),
        lock,
        segment: seg,
        fifos,
        socket,
        live,
    })
}

/// How many times the lock is looked at when each time its holder is gone by the time it
/// is looked at itself.
const LOCK_LOOKS: usize = 5;

/// What the look at the lock's holder found when it makes no running instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Seen {
    /// A live process that is not osps.
    foreign: Option<i32>,
    /// A process still exiting after [`holder::EXIT_WAIT`].
    exiting: Option<i32>,
}

/// The lock, and its holder when that is not osps or is stuck exiting; `between`: called
/// after each look at the lock, before the look at its holder (where a test makes the
/// holder exit).
///
/// A holder that is gone once its command line was read let go of the lock meanwhile (a
/// cleanup ending, a primary stopping): what was read is no live process's, so it makes
/// the instance neither running nor held by a stranger, and the lock is looked at again.
fn probe_lock(dir: &RuntimeDir, paths: &Paths, mut between: impl FnMut()) -> (Probe, Seen) {
    let mut looks = 0;
    loop {
        let probe = InstanceLock::probe(dir, paths);
        between();
        looks += 1;
        let holder = probe.pid.filter(|_| probe.held);
        let foreign = holder.filter(|&p| !holder::is_osps_holder(p, paths));
        // Read after the command line, so a holder running now was running when it was
        // read; one exiting is waited for, and one still exiting is no stranger (nor a
        // primary).
        let life = holder.map(holder::settle);
        let gone = life == Some(Life::Gone);
        if !gone || looks == LOCK_LOOKS {
            let seen = Seen {
                foreign: foreign.filter(|_| life == Some(Life::Running)),
                exiting: holder.filter(|_| life == Some(Life::Exiting)),
            };
            return (probe, seen);
        }
    }
}

/// Milliseconds since a `CLOCK_MONOTONIC` heartbeat; `None` when it was never set. A
/// heartbeat in the future (written by a broken peer) counts as just now.
fn age_ms(now_ns: u64, heartbeat_ns: u64) -> Option<u64> {
    (heartbeat_ns != 0).then(|| now_ns.saturating_sub(heartbeat_ns) / 1_000_000)
}

/// The primary: its pid from the lock when held (the kernel's word), else from the live
/// primary found otherwise, else from the header.
fn primary(
    probe: &Probe,
    live: Option<&LivePrimary>,
    header: Option<&Header>,
    now_ns: u64,
) -> Primary {
    let from_header = header.and_then(|h| pid(h.primary_pid));
    Primary {
        pid: match live {
            _ if probe.held => probe.pid,
            Some(live) => Some(live.pid),
            None => from_header.or(probe.pid),
        },
        alive: probe.held || live.is_some(),
        state: header.map(|h| h.primary_state),
        heartbeat_age_ms: header.and_then(|h| age_ms(now_ns, h.primary_heartbeat_ns)),
    }
}

/// The first secondary, from the header. Its pid alone proves nothing (pids are reused):
/// it is alive when a live process with that pid holds one of the instance's FIFOs, or
/// (its FIFOs removed, or in another runtime directory) is an osps secondary holding the
/// segment read-write.
fn secondary(
    header: Option<&Header>,
    fifos: &[Fifo],
    seg: &SegmentReport,
    now_ns: u64,
) -> Secondary {
    let pid = header.and_then(|h| pid(h.secondary_pid));
    let holds_fifo = |p: i32| fifos.iter().any(|f| f.holders.iter().any(|h| h.pid == p));
    Secondary {
        pid,
        alive: pid.is_some_and(|p| secondary_alive(p, holds_fifo(p), seg)),
        state: header.map(|h| h.secondary_state),
        restarts: header.map(|h| h.restarts),
        heartbeat_age_ms: header.and_then(|h| age_ms(now_ns, h.secondary_heartbeat_ns)),
    }
}

/// Whether the process a secondary's pid field names is that secondary, alive.
fn secondary_alive(pid: i32, holds_fifo: bool, seg: &SegmentReport) -> bool {
    let maps_segment = || {
        seg.holders
            .iter()
            .any(|h| h.pid == pid && h.access != "read")
            && procfs::subcommand(pid).as_deref() == Some("secondary")
            && procfs::runs_osps(pid)
    };
    procfs::alive(pid) && (holds_fifo || maps_segment())
}

/// One secondary of the pool, from its scoreboard line; alive as for [`secondary`], with
/// its own FIFO pair.
fn pool_member(
    w: &header::WorkerView,
    fifos: &[Fifo],
    seg: &SegmentReport,
    now_ns: u64,
) -> PoolMember {
    let pid = pid(w.pid);
    let holds_fifo = |p: i32| {
        fifos
            .iter()
            .filter(|f| f.index == w.index)
            .any(|f| f.holders.iter().any(|h| h.pid == p))
    };
    PoolMember {
        index: w.index,
        pid,
        alive: pid.is_some_and(|p| secondary_alive(p, holds_fifo(p), seg)),
        state: w.state,
        restarts: w.restarts,
        requests_served: w.served,
        heartbeat_age_ms: age_ms(now_ns, w.heartbeat_ns),
    }
}

/// A pid field of the header; 0 (never set) and out-of-range values are no pid.
fn pid(field: u64) -> Option<i32> {
    i32::try_from(field).ok().filter(|&p| p > 0)
}

/// The segment: what is at its path, and its header if it is a valid osps segment of ours.
fn examine_segment(paths: &Paths) -> SegmentReport {
    let path = paths.shm_path();
    let st = match lstat(&path) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return SegmentReport::absent(&path),
        Err(e) => {
            let mut seg = SegmentReport::absent(&path);
            seg.object.exists = true;
            seg.header = Some(HeaderView::Invalid { valid: false });
            seg.error = Some(format!("cannot examine {}: {e}", path.display()));
            return seg;
        }
    };
    let mut seg = SegmentReport {
        object: Object::new(&path, Some(&st)),
        size: Some(st.st_size.max(0) as u64),
        header: None,
        holders: Vec::new(),
        error: None,
        pool: Vec::new(),
        inaccessible: false,
        foreign: false,
    };
    let judged = match segment::look(paths) {
        Ok(Some(look)) => {
            seg.object = Object::new(&path, Some(&look.stat));
            seg.size = Some(look.stat.st_size.max(0) as u64);
            // What cleanup checks before it removes the segment: not passing, it is
            // not osps's (a header osps wrote that fails to decode is still ours).
            match claim::check_segment(paths, &look) {
                Ok(()) => judge_segment(paths, &look),
                Err(e) => {
                    seg.foreign = true;
                    Err(format!("{e:#}"))
                }
            }
        }
        // Removed between the lstat and the look: report what the lstat saw.
        Ok(None) => Err(format!(
            "{} disappeared while being examined",
            path.display()
        )),
        Err(e) => {
            // Another user's segment we may not open: not ours to judge, never "corrupt".
            let denied = e
                .chain()
                .filter_map(|c| c.downcast_ref::<Errno>())
                .any(|&e| e == Errno::EACCES || e == Errno::EPERM);
            seg.inaccessible = denied;
            Err(format!("{e:#}"))
        }
    };
    match judged {
        Ok((header, pool)) => {
            seg.header = Some(HeaderView::Valid(Box::new(header)));
            seg.pool = pool;
        }
        Err(why) => {
            seg.header = Some(HeaderView::Invalid { valid: false });
            seg.error = Some(why);
        }
    }
    seg
}

/// The header (and the pool's scoreboard) of a segment that is provably an osps segment
/// of ours, or why it is not.
fn judge_segment(
    paths: &Paths,
    look: &segment::Look,
) -> Result<(Header, Vec<header::WorkerView>), String> {
    let size = look.stat.st_size.max(0) as u64;
    let h = header::decode(&look.head, size)
        .map_err(|e| format!("{}: {e}", paths.shm_path().display()))?;
    let pool = (0..h.workers as usize)
        .filter_map(|i| header::worker_view(&look.head, i))
        .collect();
    Ok((h, pool))
}

/// The FIFO pair of the first secondary (always listed), and of any other secondary
/// whose FIFOs exist.
fn examine_fifos(snap: &Snapshot, dir: Option<&RuntimeDir>, paths: &Paths) -> Vec<Fifo> {
    let mut fifos = Vec::new();
    for index in 0..claim::MAX_SECONDARIES {
        let (p2s, s2p) = paths.fifo_files(index);
        for (role, file) in [("p2s", p2s), ("s2p", s2p)] {
            if index > 0 && !snap.may_exist(&file) {
                continue;
            }
            let object = Object::at(dir, paths, &file);
            if index == 0 || object.exists {
                fifos.push(Fifo::new(role, index, object, &paths.in_dir(&file)));
            }
        }
    }
    fifos
}

/// Fills in who holds the segment and each FIFO, with one pass over `/proc`.
fn fill_holders(snap: &Snapshot, seg: &mut SegmentReport, fifos: &mut [Fifo]) {
    let mut targets = Vec::new();
    let mut slots: Vec<&mut Vec<Holder>> = Vec::new();
    if let Some(id) = seg.object.id {
        targets.push(id);
        slots.push(&mut seg.holders);
    }
    for fifo in fifos.iter_mut() {
        if let Some(id) = fifo.object.id {
            targets.push(id);
            slots.push(&mut fifo.holders);
        }
    }
    if targets.is_empty() {
        return;
    }
    for (slot, found) in slots.into_iter().zip(snap.fds().holders(&targets)) {
        *slot = found;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::testlock::{Holder, stale_lock};

    #[test]
    fn a_lock_holder_that_exits_before_it_is_looked_at_is_no_stranger_holding_it() {
        let (_tmp, dir, paths) = stale_lock("passing");
        let mut holder = Holder::lock(&paths.in_dir(&paths.lock_file()));
        let pid = holder.pid();
        // The holder (a cleanup, say) ends between the look at the lock and the look at
        // its command line: nobody holds the lock, and nobody is a stranger holding it.
        let (probe, seen) = probe_lock(&dir, &paths, || holder.end());
        assert_eq!(
            (probe.held, seen.foreign),
            (false, None),
            "holder {pid}: {probe:?}"
        );
        // A stranger that stays is one.
        let holder = Holder::lock(&paths.in_dir(&paths.lock_file()));
        let (probe, seen) = probe_lock(&dir, &paths, || {});
        assert_eq!((probe.held, seen.foreign), (true, Some(holder.pid())));
    }

    /// A lock holder that stays on its way out (its program gone, one thread left holding
    /// the lock) is no running primary: the instance is not `running` (status used to say
    /// so, naming it "osps primary"), and a warning says who holds the lock and what to do.
    #[test]
    fn a_lock_holder_stuck_exiting_makes_no_running_instance() {
        let (_tmp, dir, paths) = stale_lock("stuckexit");
        let holder = Holder::lock_exiting(&paths.in_dir(&paths.lock_file()));
        let report = examine(Some(&dir), &paths).expect("its lock file exists");
        assert_ne!(report.status, super::super::Status::Running, "{report:?}");
        assert!(!report.primary.alive, "{report:?}");
        assert!(report.lock.held, "the JSON still says the lock is held");
        let said = report
            .warnings
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>();
        assert!(
            said.iter()
                .any(|w| w.contains(&format!("process {}, which is exiting", holder.pid()))),
            "{said:?}"
        );
    }

    #[test]
    fn heartbeat_ages_are_in_milliseconds_and_never_negative() {
        assert_eq!(age_ms(5_000_000_000, 0), None);
        assert_eq!(age_ms(5_000_000_000, 4_000_000_000), Some(1000));
        assert_eq!(age_ms(5_000_000_000, 9_000_000_000), Some(0));
    }

    #[test]
    fn pid_fields_of_zero_or_out_of_range_are_no_pid() {
        assert_eq!(pid(0), None);
        assert_eq!(pid(42), Some(42));
        assert_eq!(pid(u64::MAX), None);
        assert_eq!(pid(1 << 31), None);
    }
}
