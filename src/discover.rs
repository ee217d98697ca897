//! Which instances exist and what each one is: the survey that `inspect` prints, that
//! `cleanup` plans from, and that the operator views read. No subcommand imports another;
//! what they share about instances lives here.
//!
//! Looking must never disturb what is looked at: the segment is mapped read-only and only
//! its header ([`segment::look`] never opens anything but a regular file and survives a
//! segment shrinking under it), FIFOs are never opened (their holders come from `/proc`),
//! and the lock is tested with `F_GETLK`, never taken, so a primary starting at the same
//! moment cannot fail because somebody looked. Liveness comes from the kernel, never from a
//! path or a pid alone: the lock file's lock when it is there, else a POSIX lock the kernel
//! lists in `/proc/locks` on a file named `NAME.lock` (a removed or replaced lock file),
//! or the header's pid proved to be this instance's live primary
//! ([`claim::live_primary_with`]). A pid can be reused; a kernel lock dies with its holder.
//! What looks wrong about a running instance (a missing lock file, objects in another
//! runtime directory) becomes a warning, not a verdict.
//!
//! Three parts: discovery (which instances have objects), examination (facts about each
//! object and the status decided from them), and the instance model (`Serialize` structs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr};
use nix::errno::Errno;
use nix::sys::stat::{FileStat, lstat};
use serde::Serialize;

use crate::claim::{self, LivePrimary};
use crate::header::{self, Header};
use crate::lockfile::{InstanceLock, Probe};
use crate::names::{self, InstanceName, Paths};
use crate::owned::{self, Kind};
use crate::procfs::{self, Holder};
use crate::rundir::RuntimeDir;
use crate::segment;

/// Every instance of one runtime directory (or the one asked for), examined.
#[derive(Debug)]
pub struct Survey {
    /// The runtime directory looked at (absolute).
    pub runtime_dir: PathBuf,
    /// The directory, opened and checked; `None` when it does not exist or is unsafe.
    pub dir: Option<RuntimeDir>,
    /// Why the runtime directory could not be used, when it exists but is unsafe.
    pub dir_error: Option<String>,
    /// The instances with at least one object, by name.
    pub instances: Vec<Instance>,
}

/// Surveys the instances of `runtime_dir` and this user's segments; only `name` if given.
/// An unsafe runtime directory is not an error here (see [`Survey::dir_error`]): what is
/// in `/dev/shm` is still worth showing.
pub fn survey(runtime_dir: &Path, name: Option<&InstanceName>) -> Result<Survey> {
    let (dir, dir_error) = match open_runtime_dir(runtime_dir) {
        Ok(dir) => (dir, None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let wanted = match name {
        Some(name) => BTreeSet::from([name.clone()]),
        None => discover(dir.as_ref())?,
    };
    let mut instances: Vec<Instance> = wanted
        .into_iter()
        .filter_map(|name| examine(dir.as_ref(), &Paths::new(name, runtime_dir.to_path_buf())))
        .collect();
    if dir_error.is_some() {
        // The directory was refused, not looked into: whether the lock file is there is
        // unknown (the caller says why the directory was refused).
        for i in &mut instances {
            i.warnings.retain(|w| !w.starts_with("lock file missing"));
        }
    }
    Ok(Survey {
        runtime_dir: runtime_dir.to_path_buf(),
        dir,
        dir_error,
        instances,
    })
}

/// The error of a command about one instance (`status`, `stop`) when it has no object at
/// all: exit status 4, like `systemctl status` of an unknown unit.
pub fn no_such_instance(name: &InstanceName, runtime_dir: &Path) -> color_eyre::Report {
    crate::exit::coded(
        crate::exit::Exit::NoSuchInstance,
        format!(
            "there is no instance {name}: no object of it in {} or {} (`osps list` shows the \
             instances)",
            names::SHM_DIR,
            runtime_dir.display()
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Discovery

/// Opens the runtime directory if it exists (`Ok(None)` when it does not); fails when it
/// is unsafe (a symlink, another owner, group or other access).
pub fn open_runtime_dir(path: &Path) -> Result<Option<RuntimeDir>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => RuntimeDir::open_existing(path).map(Some),
    }
}

/// Every instance with at least one object: this user's segments `/dev/shm/osps.UID.*`
/// and the runtime directory's lock files, FIFOs and sockets. Names that do not follow
/// the osps pattern are ignored.
pub fn discover(dir: Option<&RuntimeDir>) -> Result<BTreeSet<InstanceName>> {
    let mut found = BTreeSet::new();
    let shm = Path::new(names::SHM_DIR);
    for file in entries(shm).wrap_err_with(|| format!("listing {}", shm.display()))? {
        found.extend(names::instance_of_shm_entry(&file));
    }
    if let Some(dir) = dir {
        // List the directory we opened and checked, not whatever its path names by now.
        let files = entries(&dir.held_path())
            .wrap_err_with(|| format!("listing {}", dir.path().display()))?;
        for file in files {
            found.extend(names::instance_of_runtime_entry(&file).map(|(name, _)| name));
        }
    }
    Ok(found)
}

/// The file names in a directory (names that are not UTF-8 cannot be osps names).
fn entries(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        if let Ok(name) = entry?.file_name().into_string() {
            files.push(name);
        }
    }
    Ok(files)
}

// ---------------------------------------------------------------------------------------
// Examination

/// What an instance is, decided from the lock and the objects that exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A live primary holds the lock.
    Running,
    /// Every object exists and nobody holds the lock: the primary died.
    Stale,
    /// Only some of the objects exist and nobody holds the lock.
    Partial,
    /// The segment is not a valid osps segment of ours (see its `error`).
    Corrupt,
    /// The segment cannot be read (another user's): nothing can be said about it.
    Inaccessible,
}

/// The facts [`decide`] needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Presence {
    pub lock_held: bool,
    /// A live primary of the instance was found without its lock file (see module docs).
    pub live_primary: bool,
    /// The segment exists but could not be read (permission denied).
    pub segment_inaccessible: bool,
    pub lock_exists: bool,
    /// `None` when there is no segment, else whether it is a valid osps segment of ours.
    pub segment_valid: Option<bool>,
    /// How many of the first secondary's two FIFOs exist.
    pub fifos: usize,
}

/// The status of an instance. The lock, or a live primary proved otherwise, decides
/// liveness; then a segment we may not read is `inaccessible`; then a bad segment is
/// `corrupt`; then the full set of objects (lock, segment, both FIFOs) is `stale`.
pub fn decide(p: Presence) -> Status {
    if p.lock_held || p.live_primary {
        return Status::Running;
    }
    if p.segment_inaccessible {
        return Status::Inaccessible;
    }
    match p.segment_valid {
        Some(false) => Status::Corrupt,
        Some(true) if p.lock_exists && p.fifos == 2 => Status::Stale,
        _ => Status::Partial,
    }
}

/// Examines every object of one instance; `None` when it has none at all.
pub fn examine(dir: Option<&RuntimeDir>, paths: &Paths) -> Option<Instance> {
    let probe = match dir {
        Some(dir) => InstanceLock::probe(dir, paths),
        None => Probe {
            path: paths.in_dir(&paths.lock_file()),
            ..Probe::default()
        },
    };
    let mut seg = examine_segment(paths);
    let mut fifos = examine_fifos(dir, paths);
    let socket = Object::at(dir, paths, &paths.socket_file());
    let fifo_exists = fifos.iter().any(|f| f.object.exists);
    if !probe.exists && !seg.object.exists && !fifo_exists && !socket.exists {
        return None;
    }
    fill_holders(&mut seg, &mut fifos);
    let header = match &seg.header {
        Some(HeaderView::Valid(h)) => Some(&**h),
        _ => None,
    };
    // A lock held by something that is not osps makes no instance running: judged as
    // if unheld (the JSON's lock still says who holds it), with a warning.
    let foreign_holder = probe
        .pid
        .filter(|&p| probe.held && !claim::is_osps_holder(p, paths));
    let lock = Lock::from(probe.clone());
    let probe = Probe {
        held: probe.held && foreign_holder.is_none(),
        ..probe
    };
    // Without a held lock file, ask the kernel whether a primary lives nonetheless.
    let live = if probe.held && !claim::is_cleanup(probe.pid) {
        None
    } else {
        claim::live_primary_with(paths, header.map(|h| (h.primary_pid, h.created_unix_ms)))
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
    let now_ns = segment::monotonic_ns();
    let secondaries: Vec<PoolMember> = seg
        .pool
        .iter()
        .map(|w| pool_member(w, &fifos, &seg, now_ns))
        .collect();
    let mut warnings = warnings(paths, &probe, live.as_ref(), &seg);
    // (Not when the instance lives in another runtime directory: its objects are there.)
    let here = !warnings
        .iter()
        .any(|w| w.starts_with("objects in another runtime directory"));
    // Only once it runs: a primary makes its FIFOs after it takes the lock, and removes
    // them and its socket before it lets go of it.
    let settled = header.is_some_and(|h| matches!(h.primary_state, "ready" | "busy"));
    if (probe.held || live.is_some()) && here && settled {
        // Removed while the primary runs (by a person, or an age-based cleaner): said,
        // since inspect otherwise only shows them as absent.
        let workers = header
            .map_or(1, |h| h.workers as usize)
            .clamp(1, claim::MAX_SECONDARIES);
        for index in 0..workers {
            let (p2s, s2p) = paths.fifo_files(index);
            for file in [p2s, s2p] {
                if !matches!(dir.map(|d| d.stat(&file)), Some(Ok(None))) {
                    continue;
                }
                warnings.push(format!(
                    "FIFO missing: {} was removed while the primary runs; it is made anew when \
                     its secondary restarts",
                    paths.in_dir(&file).display()
                ));
            }
        }
        let pid = probe
            .pid
            .filter(|_| probe.held)
            .or(live.as_ref().map(|l| l.pid));
        // Only the primary and its secondaries open the FIFOs: any other reader can take
        // a frame meant for one of them (a secondary then looks hung and is restarted).
        // (A secondary just started is the primary's child before it says hello.)
        let ours = |p: i32| {
            Some(p) == pid
                || secondaries.iter().any(|w| w.pid == Some(p))
                || (pid.is_some() && procfs::parent(p) == pid)
        };
        let mut strangers: Vec<(i32, &str)> = fifos
            .iter()
            .flat_map(|f| {
                f.holders
                    .iter()
                    .map(move |h| (h.pid, f.object.path.as_str()))
            })
            .filter(|&(p, _)| !ours(p))
            .collect();
        strangers.sort_unstable();
        strangers.dedup_by_key(|s| s.0);
        for (p, path) in strangers {
            warnings.push(format!(
                "FIFO held by another process: process {p} ({}) has {path} open; it can take \
                 frames meant for the instance's processes",
                procfs::cmdline(p).join(" ")
            ));
        }
        if !socket.exists && pid.is_some_and(procfs::serves) {
            warnings.push(format!(
                "socket missing: {} was removed while the primary serves; no client can \
                 connect until the instance is restarted",
                socket.path
            ));
        }
    }
    if let Some(pid) = foreign_holder {
        warnings.push(format!(
            "lock held by another program: {}",
            claim::foreign_holder_text(paths, pid)
        ));
    }
    if !probe.held && live.is_none() {
        // A secondary outlives its primary by a second at most (end of file on its FIFO,
        // PR_SET_PDEATHSIG), unless it cannot run (stopped with SIGSTOP, say).
        for w in secondaries.iter().filter(|w| w.alive) {
            warnings.push(format!(
                "orphaned secondary: pid {} still runs although its primary is gone; \
                 `osps cleanup --name {}` stops it",
                w.pid.unwrap_or_default(),
                paths.name
            ));
        }
    }
    Some(Instance {
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

/// What looks wrong about an instance without changing its status: a running primary
/// whose lock file is gone or replaced, or whose objects are in another runtime directory.
fn warnings(
    paths: &Paths,
    probe: &Probe,
    live: Option<&LivePrimary>,
    seg: &Segment,
) -> Vec<String> {
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
            Some(other) => warnings.push(format!(
                "objects in another runtime directory: the primary (pid {}) holds its lock \
                 in {}; look with --runtime-dir {}",
                live.pid,
                other.display(),
                other.display()
            )),
            None if !probe.exists => warnings.push(format!(
                "lock file missing: {} was removed while the primary (pid {}) runs",
                probe.path.display(),
                live.pid
            )),
            None if deleted || live.lock.is_none() => warnings.push(format!(
                "lock file replaced: {} is not the file the primary (pid {}) holds locked",
                probe.path.display(),
                live.pid
            )),
            None => {}
        }
    }
    if seg.inaccessible {
        warnings.push(format!(
            "segment inaccessible: {} cannot be read by this user",
            seg.object.path
        ));
    }
    warnings
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
fn secondary(header: Option<&Header>, fifos: &[Fifo], seg: &Segment, now_ns: u64) -> Secondary {
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
fn secondary_alive(pid: i32, holds_fifo: bool, seg: &Segment) -> bool {
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
fn pool_member(w: &header::WorkerView, fifos: &[Fifo], seg: &Segment, now_ns: u64) -> PoolMember {
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
fn examine_segment(paths: &Paths) -> Segment {
    let path = paths.shm_path();
    let st = match lstat(&path) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Segment::absent(&path),
        Err(e) => {
            let mut seg = Segment::absent(&path);
            seg.object.exists = true;
            seg.header = Some(HeaderView::Invalid { valid: false });
            seg.error = Some(format!("cannot examine {}: {e}", path.display()));
            return seg;
        }
    };
    let mut seg = Segment {
        object: Object::new(&path, Some(&st)),
        size: Some(st.st_size.max(0) as u64),
        header: None,
        holders: Vec::new(),
        error: None,
        pool: Vec::new(),
        inaccessible: false,
    };
    let judged = match segment::look(paths) {
        Ok(Some(look)) => {
            seg.object = Object::new(&path, Some(&look.stat));
            seg.size = Some(look.stat.st_size.max(0) as u64);
            judge_segment(paths, &look)
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
    claim::check_segment(paths, look).map_err(|e| format!("{e:#}"))?;
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
fn examine_fifos(dir: Option<&RuntimeDir>, paths: &Paths) -> Vec<Fifo> {
    let mut fifos = Vec::new();
    for index in 0..claim::MAX_SECONDARIES {
        let (p2s, s2p) = paths.fifo_files(index);
        for (role, file) in [("p2s", p2s), ("s2p", s2p)] {
            let object = Object::at(dir, paths, &file);
            if index == 0 || object.exists {
                fifos.push(Fifo::new(role, index, object, &paths.in_dir(&file)));
            }
        }
    }
    fifos
}

/// Fills in who holds the segment and each FIFO, with one pass over `/proc`.
fn fill_holders(seg: &mut Segment, fifos: &mut [Fifo]) {
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
    for (slot, found) in slots.into_iter().zip(procfs::holders(&targets)) {
        *slot = found;
    }
}

// ---------------------------------------------------------------------------------------
// The instance model (what inspect prints, what cleanup and the views read)

#[derive(Debug, Serialize)]
pub struct Instance {
    /// Where its objects are (not in the document: `name` and each object's `path` are).
    #[serde(skip)]
    pub paths: Paths,
    pub name: String,
    pub status: Status,
    /// What looks wrong without changing the status ("lock file missing", ...).
    pub warnings: Vec<String>,
    pub lock: Lock,
    pub primary: Primary,
    pub secondary: Secondary,
    /// Every secondary of the pool (one unless `--serve --secondaries N`).
    pub secondaries: Vec<PoolMember>,
    /// Connected clients and queued requests (`--serve`; 0 otherwise).
    pub clients: Option<u64>,
    pub queue: Option<u64>,
    pub segment: Segment,
    pub fifos: Vec<Fifo>,
    pub socket: Object,
    /// The live primary found without a held lock file, if so (for cleanup's reason).
    #[serde(skip)]
    pub live: Option<LivePrimary>,
}

#[derive(Debug, Serialize)]
pub struct PoolMember {
    pub index: usize,
    pub pid: Option<i32>,
    pub alive: bool,
    pub state: &'static str,
    pub restarts: u64,
    pub requests_served: u64,
    /// Milliseconds since this secondary's last heartbeat (`CLOCK_MONOTONIC`).
    pub heartbeat_age_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Lock {
    pub path: String,
    pub exists: bool,
    pub held: bool,
    pub pid: Option<i32>,
    pub error: Option<String>,
}

impl From<Probe> for Lock {
    fn from(p: Probe) -> Lock {
        Lock {
            path: p.path.display().to_string(),
            exists: p.exists,
            held: p.held,
            pid: p.pid,
            error: p.error,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Primary {
    pub pid: Option<i32>,
    pub alive: bool,
    pub state: Option<&'static str>,
    /// Milliseconds since the primary's last heartbeat (`CLOCK_MONOTONIC`), from the header.
    pub heartbeat_age_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Secondary {
    pub pid: Option<i32>,
    pub alive: bool,
    pub state: Option<&'static str>,
    pub restarts: Option<u64>,
    /// Milliseconds since the first secondary's last heartbeat (`CLOCK_MONOTONIC`).
    pub heartbeat_age_ms: Option<u64>,
}

/// What is at one path, from `lstat` (never following a symlink, never opening it).
#[derive(Debug, Serialize)]
pub struct Object {
    pub path: String,
    pub exists: bool,
    #[serde(rename = "type")]
    pub file_type: Option<&'static str>,
    pub mode: Option<String>,
    pub uid: Option<u32>,
    #[serde(skip)]
    pub id: Option<(u64, u64)>,
    #[serde(skip)]
    pub stat: Option<FileStat>,
}

impl Object {
    pub fn new(path: &Path, st: Option<&FileStat>) -> Object {
        Object {
            path: path.display().to_string(),
            exists: st.is_some(),
            file_type: st.map(owned::type_name),
            mode: st.map(|st| format_mode(owned::perm_bits(st))),
            uid: st.map(|st| st.st_uid),
            id: st.map(|st| (st.st_dev, st.st_ino)),
            stat: st.copied(),
        }
    }

    /// A runtime-dir entry; without a usable runtime directory it does not exist.
    pub fn at(dir: Option<&RuntimeDir>, paths: &Paths, file: &str) -> Object {
        let st = dir.and_then(|d| d.stat(file).ok().flatten());
        Object::new(&paths.in_dir(file), st.as_ref())
    }
}

/// Permission bits as the four octal digits `ls` and `chmod` use: `"0600"`.
pub fn format_mode(bits: u32) -> String {
    format!("{bits:04o}")
}

#[derive(Debug, Serialize)]
pub struct Fifo {
    pub role: &'static str,
    pub index: usize,
    #[serde(flatten)]
    pub object: Object,
    pub is_fifo: bool,
    pub holders: Vec<Holder>,
    /// Why the object at this path is not an osps FIFO of ours, if it is not.
    pub error: Option<String>,
}

impl Fifo {
    fn new(role: &'static str, index: usize, object: Object, path: &Path) -> Fifo {
        let error = object
            .stat
            .as_ref()
            .and_then(|st| owned::check(st, path, Kind::Fifo, 0o600).err())
            .map(|e| format!("{e:#}"));
        Fifo {
            role,
            index,
            is_fifo: object
                .stat
                .as_ref()
                .is_some_and(|st| owned::is_kind(st, Kind::Fifo)),
            object,
            holders: Vec::new(),
            error,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Segment {
    #[serde(flatten)]
    pub object: Object,
    pub size: Option<u64>,
    pub header: Option<HeaderView>,
    pub holders: Vec<Holder>,
    pub error: Option<String>,
    #[serde(skip)]
    pub pool: Vec<header::WorkerView>,
    /// The segment exists but we may not read it (another user's).
    #[serde(skip)]
    pub inaccessible: bool,
}

impl Segment {
    fn absent(path: &Path) -> Segment {
        Segment {
            object: Object::new(path, None),
            size: None,
            header: None,
            holders: Vec::new(),
            error: None,
            pool: Vec::new(),
            inaccessible: false,
        }
    }
}

/// The decoded header, or `{"valid": false}` when it does not validate.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum HeaderView {
    Valid(Box<Header>),
    Invalid { valid: bool },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(held: bool, lock: bool, segment: Option<bool>, fifos: usize) -> Presence {
        Presence {
            lock_held: held,
            live_primary: false,
            segment_inaccessible: false,
            lock_exists: lock,
            segment_valid: segment,
            fifos,
        }
    }

    #[test]
    fn a_held_lock_means_running_whatever_else() {
        for segment in [None, Some(true), Some(false)] {
            for fifos in 0..=2 {
                assert_eq!(
                    decide(presence(true, true, segment, fifos)),
                    Status::Running
                );
            }
        }
    }

    #[test]
    fn a_live_primary_without_its_lock_file_is_running() {
        for lock in [false, true] {
            let p = Presence {
                live_primary: true,
                segment_inaccessible: true,
                ..presence(false, lock, Some(false), 0)
            };
            assert_eq!(decide(p), Status::Running);
        }
    }

    #[test]
    fn an_unreadable_segment_is_inaccessible_never_corrupt_or_stale() {
        let p = Presence {
            segment_inaccessible: true,
            ..presence(false, true, Some(false), 2)
        };
        assert_eq!(decide(p), Status::Inaccessible);
    }

    #[test]
    fn heartbeat_ages_are_in_milliseconds_and_never_negative() {
        assert_eq!(age_ms(5_000_000_000, 0), None);
        assert_eq!(age_ms(5_000_000_000, 4_000_000_000), Some(1000));
        assert_eq!(age_ms(5_000_000_000, 9_000_000_000), Some(0));
    }

    #[test]
    fn every_object_without_a_holder_is_stale() {
        assert_eq!(decide(presence(false, true, Some(true), 2)), Status::Stale);
    }

    #[test]
    fn a_bad_segment_is_corrupt_unless_running() {
        assert_eq!(
            decide(presence(false, true, Some(false), 2)),
            Status::Corrupt
        );
        assert_eq!(
            decide(presence(false, false, Some(false), 0)),
            Status::Corrupt
        );
    }

    #[test]
    fn some_of_the_objects_are_partial() {
        let partial = [
            presence(false, false, Some(true), 0), // segment only
            presence(false, false, Some(true), 2), // segment and FIFOs, no lock
            presence(false, true, Some(true), 0),  // segment and lock, no FIFOs
            presence(false, true, Some(true), 1),  // one FIFO missing
            presence(false, false, None, 2),       // FIFOs only
            presence(false, true, None, 2),        // FIFOs and lock, no segment
            presence(false, true, None, 0),        // lock file only
        ];
        for p in partial {
            assert_eq!(decide(p), Status::Partial, "{p:?}");
        }
    }

    #[test]
    fn modes_print_as_four_octal_digits() {
        assert_eq!(format_mode(0o600), "0600");
        assert_eq!(format_mode(0o4755), "4755");
        assert_eq!(format_mode(0), "0000");
    }

    #[test]
    fn pid_fields_of_zero_or_out_of_range_are_no_pid() {
        assert_eq!(pid(0), None);
        assert_eq!(pid(42), Some(42));
        assert_eq!(pid(u64::MAX), None);
        assert_eq!(pid(1 << 31), None);
    }

    #[test]
    fn an_invalid_header_serialises_as_valid_false() {
        let v = serde_json::to_value(HeaderView::Invalid { valid: false }).unwrap();
        assert_eq!(v, serde_json::json!({ "valid": false }));
    }

    #[test]
    fn the_status_serialises_in_snake_case() {
        let v = serde_json::to_value([
            Status::Running,
            Status::Stale,
            Status::Partial,
            Status::Corrupt,
            Status::Inaccessible,
        ])
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!(["running", "stale", "partial", "corrupt", "inaccessible"])
        );
    }
}
