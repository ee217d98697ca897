//! Owning an instance name, and removing what a crashed instance left.
//!
//! Whoever creates or removes an instance's objects first owns its name: it holds the
//! lock of `NAME.lock` (see [`crate::disk::lockfile`]). A new primary creates the lock file; if
//! one exists and nobody holds its lock, the instance is stale and is recovered by the
//! same rules as `osps cleanup`: stop an orphaned secondary, remove the objects that are
//! provably ours, and refuse (with the path and what to do) anything that is not.
//!
//! The lock file is only a name, and a name can be removed or replaced under a live
//! primary. So before removing anything, and whatever the lock file says, we look for a
//! live primary of the instance the kernel can vouch for ([`live_primary`]): a holder of
//! a POSIX lock on a file named `NAME.lock` (listed in `/proc/locks` even once deleted),
//! or the header's primary pid when it is a live `osps primary` of this name, started
//! before the segment and holding it open. Such a process is never stopped and its
//! objects are never removed. Removal itself is in two steps, a survey that checks
//! everything ([`survey_leftovers`]) and the removal of exactly what was surveyed, by
//! identity ([`Leftovers::remove`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail};
use nix::sys::signal::Signal;
use nix::sys::stat::FileStat;

use crate::disk::lockfile::{Existing, InstanceLock};
use crate::disk::names::Paths;
use crate::disk::owned::{self, Kind};
use crate::disk::rundir::{RuntimeDir, Unlinked};
use crate::instance::holder::{self, Holding, LockHolder, lock_holder, vouched_for};
use crate::instance::users;
use crate::os::pidfd::{self, Process};
use crate::os::procfs;
use crate::pair::header;
use crate::pair::segment;

/// How many secondaries' FIFO pairs an instance can have (the first one is index 0): as
/// many as the header has entries for.
pub const MAX_SECONDARIES: usize = header::MAX_WORKERS;

/// How long to wait for another `osps cleanup` holding the name to finish.
const CONCURRENT_WAIT: Duration = Duration::from_secs(5);
/// How often to retry when the lock file appears and disappears under us.
const ATTEMPTS: usize = 50;

/// Who owns the instance's name after [`own`].
pub enum Owner {
    /// We created the lock file: the instance had none.
    Created(InstanceLock),
    /// We took the lock of an existing file nobody held: its primary died.
    Taken(InstanceLock),
    /// A live process holds it (a primary, or a cleanup that did not finish in time).
    Held(Option<i32>),
}

/// Takes the instance's name: creates the lock file, or takes the lock of an existing one
/// nobody holds. A concurrent `osps cleanup` holding it is waited for (briefly).
pub fn own(dir: &RuntimeDir, paths: &Paths) -> Result<Owner> {
    own_with(dir, paths, || {})
}

/// [`own`], calling `between` each time the lock was found held, before its holder is
/// looked at: the moment a test makes the holder exit.
fn own_with(dir: &RuntimeDir, paths: &Paths, mut between: impl FnMut()) -> Result<Owner> {
    for _ in 0..ATTEMPTS {
        if let Some(lock) = InstanceLock::create(dir, paths)? {
            return Ok(Owner::Created(lock));
        }
        match InstanceLock::take_existing(dir, paths)? {
            Existing::Missing => {}
            Existing::Stale(lock) => return Ok(Owner::Taken(lock)),
            Existing::Held { pid } => {
                between();
                match lock_holder(pid) {
                    // Let go between our try and our look: look at the lock again.
                    LockHolder::Gone => {}
                    LockHolder::Cleanup if wait_released(dir, paths) => {}
                    LockHolder::Cleanup | LockHolder::Other | LockHolder::Exiting => {
                        return Ok(Owner::Held(pid));
                    }
                }
            }
        }
    }
    bail!(
        "the lock file {} kept appearing and disappearing, or changing hands (osps starting \
         or cleaning up at the same moment?); try again",
        paths.in_dir(&paths.lock_file()).display()
    )
}

/// Waits until nobody holds the instance's lock; false when that takes too long.
fn wait_released(dir: &RuntimeDir, paths: &Paths) -> bool {
    let deadline = Instant::now() + CONCURRENT_WAIT;
    while Instant::now() < deadline {
        if !InstanceLock::probe(dir, paths).held {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Takes the instance name for a new primary, recovering a stale instance on the way.
pub fn claim(dir: &RuntimeDir, paths: &Paths) -> Result<InstanceLock> {
    claim_with(dir, paths, || {})
}

/// [`claim`], calling `between` each time the name was found held, before its holder is
/// looked at again for the message: the moment a test makes the holder exit.
fn claim_with(dir: &RuntimeDir, paths: &Paths, mut between: impl FnMut()) -> Result<InstanceLock> {
    for _ in 0..ATTEMPTS {
        match own(dir, paths)? {
            Owner::Created(lock) => {
                // We own the name, but a live primary whose lock file was removed may
                // still run: it is never stopped nor its objects removed.
                if let Some(live) = live_primary(paths) {
                    let _ = lock.remove(dir);
                    bail!("{}", running_without_lock(paths, &live));
                }
                // Objects without a lock file were left by a crash.
                let removed = survey_leftovers(dir, paths).and_then(|l| l.remove(dir, paths));
                return match removed {
                    Ok(removed) => {
                        for path in &removed {
                            crate::trace!("stale_removed", path = path);
                        }
                        if !removed.is_empty() {
                            crate::warn!(
                                "instance {} had leftovers of a crash without a lock file; removed {}",
                                paths.name,
                                join(&removed)
                            );
                        }
                        Ok(lock)
                    }
                    Err(e) => {
                        let _ = lock.remove(dir);
                        Err(e)
                    }
                };
            }
            Owner::Held(pid) => {
                between();
                match holder::holding(pid, paths) {
                    // It let go since `own` looked (a primary stopping, a cleanup done):
                    // the name may be free now; look at the lock again.
                    Holding::Gone => {}
                    stranger @ Holding::Stranger { .. } => {
                        bail!("{}", stranger.stranger_text(paths).unwrap_or_default())
                    }
                    Holding::Exiting(pid) => bail!("{}", holder::exiting_text(paths, pid)),
                    Holding::Osps(pid) => bail!(
                        "instance {} is already running (primary pid {pid}); stop it first \
                         (`osps stop {}`, with the same --runtime-dir if you gave one) or choose \
                         another --name",
                        paths.name,
                        paths.name,
                    ),
                }
            }
            Owner::Taken(lock) => {
                // An unlocked lock file may be one that replaced a live primary's.
                if let Some(live) = live_primary(paths) {
                    bail!("{}", running_without_lock(paths, &live));
                }
                let removed = survey_leftovers(dir, paths)?.remove(dir, paths)?;
                for path in &removed {
                    crate::trace!("stale_removed", path = path);
                }
                let lock_path = lock.path().to_path_buf();
                lock.remove(dir)?;
                crate::warn!(
                    "instance {} was left by a crashed primary; recovered it by removing {}",
                    paths.name,
                    join(&[removed, vec![lock_path]].concat())
                );
            }
        }
    }
    bail!(
        "could not claim instance {}: its lock file kept appearing and disappearing (another \
         osps starting or cleaning at the same moment?); try again",
        paths.name
    )
}

/// Why an instance whose lock file is missing or not locked is nonetheless left alone.
pub fn running_without_lock(paths: &Paths, live: &LivePrimary) -> String {
    let lock = paths.in_dir(&paths.lock_file());
    let held = live.lock.as_ref().map(|t| {
        let text = t.to_string_lossy();
        match text.strip_suffix(" (deleted)") {
            Some(gone) => (PathBuf::from(gone), true),
            None => (PathBuf::from(text.as_ref()), false),
        }
    });
    let state = match held {
        // It holds the lock file at the path now: one that started (or recovered a crash)
        // while we looked, which replaced nothing. Saying "replaced" would invite a kill.
        Some((held, false)) if held == lock => {
            return format!(
                "instance {} is running (pid {}, holding its lock file {}); not touched. Stop \
                 it first (`osps stop {}`) or choose another --name",
                paths.name,
                live.pid,
                lock.display(),
                paths.name
            );
        }
        Some((held, _)) if held != lock => format!("its lock file is {}", held.display()),
        _ if procfs::identity(&lock).is_some() => {
            format!(
                "its lock file was replaced by another file at {}",
                lock.display()
            )
        }
        _ => "its lock file is missing".to_string(),
    };
    format!(
        "instance {} is running (pid {}) but {state}; not touched. Stop it first (`kill {}`) \
         or choose another --name",
        paths.name, live.pid, live.pid
    )
}

// ---------------------------------------------------------------------------------------
// Liveness beyond the lock file

/// A live primary of an instance, found by what the kernel reports rather than by paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LivePrimary {
    pub pid: i32,
    /// The lock file it holds locked, as its descriptor names it (`PATH (deleted)` once
    /// removed); `None` when it was recognised from the header.
    pub lock: Option<PathBuf>,
}

/// Looks for a live primary of the instance, reading the header itself.
pub fn live_primary(paths: &Paths) -> Option<LivePrimary> {
    let look = segment::look(paths).ok().flatten();
    let head = look.as_ref().map(|l| l.head.as_slice()).unwrap_or_default();
    let field = |f: header::Field| {
        let at = f.offset();
        head.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_ne_bytes)
    };
    let from_header = (header::has_magic(head))
        .then(|| field(header::Field::PrimaryPid).zip(field(header::Field::CreatedUnixMs)))
        .flatten();
    live_primary_with(paths, from_header)
}

/// Looks for a live primary of the instance; `from_header`: the header's primary pid and
/// creation time, when there is a segment with a header.
///
/// First the kernel's word: a process holding a POSIX lock on a file whose descriptor
/// names `NAME.lock` (wherever it is), if it is an `osps primary` of this name and, when
/// that file was deleted, holds the segment open (it got as far as making it). Then the
/// header's pid, which alone proves nothing (pids are reused): it counts when that
/// process is alive, runs osps as `primary` for this name, started before the segment
/// was created, and holds the segment open.
pub fn live_primary_with(paths: &Paths, from_header: Option<(u64, u64)>) -> Option<LivePrimary> {
    live_primary_among(paths, from_header, &std::cell::OnceCell::new())
}

/// The kernel's POSIX locks, and for each process holding one (but us) the instance it
/// is an `osps primary` of, if it is one: what [`live_primary_among`] asks of every
/// instance, read once.
#[derive(Debug)]
pub struct LockTable {
    locks: Vec<procfs::PosixLock>,
    /// `(pid, instance name)` of each holder that runs `primary`, by pid.
    primaries: Vec<(i32, String)>,
}

impl LockTable {
    /// Reads `/proc/locks` and the command lines of the holders now.
    pub fn read() -> LockTable {
        let locks = procfs::posix_locks();
        let me = std::process::id() as i32;
        let mut pids: Vec<i32> = locks.iter().map(|l| l.pid).filter(|&p| p != me).collect();
        pids.sort_unstable();
        pids.dedup();
        let primaries = pids
            .into_iter()
            .filter(|&pid| procfs::subcommand(pid).as_deref() == Some("primary"))
            .filter_map(|pid| Some((pid, procfs::instance_name(pid)?)))
            .collect();
        LockTable { locks, primaries }
    }
}

/// [`live_primary_with`], reading the lock table into `table` unless it was read already
/// (a survey reads it once for all the instances it looks at).
pub fn live_primary_among(
    paths: &Paths,
    from_header: Option<(u64, u64)>,
    table: &std::cell::OnceCell<LockTable>,
) -> Option<LivePrimary> {
    // No segment, no live primary (see below); and reading /proc/locks can cost a fresh
    // process milliseconds, so the common start of a primary skips it.
    let segment = procfs::identity(&paths.shm_path())?;
    let me = std::process::id() as i32;
    let lock_name = paths.lock_file();
    let table = table.get_or_init(LockTable::read);
    let locks = &table.locks;
    let name = paths.name.to_string();
    // Only the holders that were started as this instance's primary: the checks below
    // read /proc again for each.
    let pids = table
        .primaries
        .iter()
        .filter(|(_, n)| *n == name)
        .map(|&(pid, _)| pid);
    let header_pid = from_header.map(|(pid, _)| pid);
    for pid in pids {
        let Some(files) = is_primary_of(pid, paths, header_pid).then(|| procfs::open_files(pid))
        else {
            continue;
        };
        let holds_segment = files.iter().any(|f| f.id == segment);
        let held = files.into_iter().find(|f| {
            procfs::target_name(&f.target).0.as_deref() == Some(lock_name.as_str())
                && locks.iter().any(|l| l.pid == pid && l.is_on(f.id))
        });
        // A primary still claiming the name (no segment of its own yet) is not live yet:
        // two such primaries meet on the segment, which only one of them can create
        // (O_EXCL), and the other one fails.
        if let Some(f) = held.filter(|f| holds_segment || !procfs::target_name(&f.target).1) {
            return Some(LivePrimary {
                pid,
                lock: Some(f.target),
            });
        }
    }
    let (pid, created_ms) = from_header?;
    let pid = i32::try_from(pid).ok().filter(|&p| p > 0 && p != me)?;
    let started_before = procfs::start_unix_ms(pid)
        // The boot time that start times count from is known to the second only.
        .is_some_and(|start| start <= created_ms.saturating_add(1000));
    let holds_segment = || procfs::open_files(pid).iter().any(|f| f.id == segment);
    (procfs::alive(pid)
        && is_primary_of(pid, paths, header_pid)
        && started_before
        && holds_segment())
    .then_some(LivePrimary { pid, lock: None })
}

/// Whether a process is an `osps primary` started for this instance's name: its command
/// line says so, and it runs this binary or what the primary wrote names it
/// ([`vouched_for`]; `header_pid`: the header's primary pid).
fn is_primary_of(pid: i32, paths: &Paths, header_pid: Option<u64>) -> bool {
    procfs::subcommand(pid).as_deref() == Some("primary")
        && procfs::instance_name(pid).as_deref() == Some(&paths.name.to_string())
        && (procfs::runs_osps(pid) || vouched_for(pid, paths, header_pid))
}

fn join(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every FIFO and socket file name an instance can have, first secondary first.
pub fn runtime_files(paths: &Paths) -> Vec<(String, Kind)> {
    let mut files = Vec::new();
    for i in 0..MAX_SECONDARIES {
        let (p2s, s2p) = paths.fifo_files(i);
        files.push((p2s, Kind::Fifo));
        files.push((s2p, Kind::Fifo));
    }
    files.push((paths.socket_file(), Kind::Socket));
    files
}

/// Checks that the segment at the instance's path is provably an osps segment of ours:
/// a regular file of ours with mode 0600, holding the osps magic (or empty: a creation
/// interrupted before the header was written).
pub fn check_segment(paths: &Paths, look: &segment::Look) -> Result<()> {
    let path = paths.shm_path();
    owned::check(&look.stat, &path, Kind::Regular, 0o600)?;
    // Empty or all zeros: made by a primary that died before writing the header.
    if look.stat.st_size != 0
        && !header::has_magic(&look.head)
        && !header::never_written(&look.head)
    {
        bail!(
            "{} does not hold an osps header: it was not made by osps, or something wrote over \
             it; if no osps instance uses it (`osps inspect` tells), remove it by hand (`rm {}`)",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// What a crashed instance left (the lock file aside), every object checked to be ours,
/// with the identity it had when checked: [`Leftovers::remove`] removes exactly these.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// Runtime-directory entries: file name, full path, identity.
    files: Vec<(String, PathBuf, FileStat)>,
    /// The segment's path and identity, if there is one.
    segment: Option<(PathBuf, (u64, u64))>,
}

/// Surveys the objects of an instance (the lock file aside), changing nothing: fails if
/// any of them is not provably ours, or if the segment is held by a process that is not
/// an orphan of this instance.
pub fn survey_leftovers(dir: &RuntimeDir, paths: &Paths) -> Result<Leftovers> {
    let mut left = Leftovers::default();
    let temps = InstanceLock::stale_temps(dir, paths)
        .into_iter()
        .map(|f| (f, Kind::Regular));
    // One listing of the directory, then a look only at the names present: a stat for
    // every possible name (two FIFOs per possible secondary, and the socket) cost a third
    // of a millisecond at every primary's start. Unlistable: every name is examined. The
    // listing goes through the descriptor we hold, like every other look at the directory,
    // so a directory put at its path in the meantime is not the one listed.
    let present: Option<std::collections::HashSet<String>> = std::fs::read_dir(dir.held_path())
        .and_then(|entries| {
            entries
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .ok();
    for (file, kind) in runtime_files(paths).into_iter().chain(temps) {
        if present.as_ref().is_some_and(|names| !names.contains(&file)) {
            continue;
        }
        if let Some(st) = dir.stat(&file)? {
            let path = paths.in_dir(&file);
            owned::check(&st, &path, kind, 0o600)?;
            left.files.push((file, path, st));
        }
    }
    if let Some(look) = segment::look(paths)? {
        check_segment(paths, &look)?;
        let files: Vec<PathBuf> = left.files.iter().map(|(_, p, _)| p.clone()).collect();
        check_segment_holders(paths, &files)?;
        left.segment = Some((paths.shm_path(), (look.stat.st_dev, look.stat.st_ino)));
    }
    Ok(left)
}

impl Leftovers {
    /// Every path surveyed (what removal would remove).
    pub fn paths(&self) -> Vec<PathBuf> {
        let files = self.files.iter().map(|(_, p, _)| p.clone());
        files
            .chain(self.segment.iter().map(|(p, _)| p.clone()))
            .collect()
    }

    /// Stops the orphaned processes that still hold the objects (never a live primary),
    /// then removes each object whose path still names the object surveyed; what was
    /// replaced since is left, with a warning. Returns the paths removed.
    pub fn remove(self, dir: &RuntimeDir, paths: &Paths) -> Result<Vec<PathBuf>> {
        stop_holders(paths, &self.paths())?;
        let mut removed = Vec::new();
        for (file, path, id) in self.files {
            match dir.unlink_if(&file, &id)? {
                Unlinked::Removed => removed.push(path),
                Unlinked::Missing => {}
                Unlinked::Replaced => replaced(&path),
            }
        }
        if let Some((path, id)) = self.segment {
            unlink_segment(paths, path, id, &mut removed)?;
        }
        Ok(removed)
    }
}

/// Removes the segment of an instance whose runtime directory does not exist, checked as
/// [`survey_leftovers`] checks it (ours, held by no process). There is no directory to
/// take the lock in, and cleanup creates nothing, so the name is not owned: instead the
/// directory is looked for again just before the unlink, since a primary starting with
/// this name makes it before it touches the segment. `None`: the directory appeared.
pub fn remove_segment_without_dir(paths: &Paths) -> Result<Option<Vec<PathBuf>>> {
    let Some(look) = segment::look(paths)? else {
        return Ok(Some(Vec::new()));
    };
    check_segment(paths, &look)?;
    check_segment_holders(paths, &[])?;
    match nix::sys::stat::lstat(&paths.runtime_dir) {
        Err(nix::errno::Errno::ENOENT) => {}
        Ok(_) => return Ok(None),
        Err(e) => {
            return Err(e).wrap_err_with(|| format!("examining {}", paths.runtime_dir.display()));
        }
    }
    let mut removed = Vec::new();
    let id = (look.stat.st_dev, look.stat.st_ino);
    unlink_segment(paths, paths.shm_path(), id, &mut removed)?;
    Ok(Some(removed))
}

/// Unlinks the segment if its path still names the object `id` checked.
fn unlink_segment(
    paths: &Paths,
    path: PathBuf,
    id: (u64, u64),
    removed: &mut Vec<PathBuf>,
) -> Result<()> {
    match procfs::identity(&path) {
        Some(now) if now == id => match nix::sys::mman::shm_unlink(paths.shm_name().as_str()) {
            Ok(()) => removed.push(path),
            Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => {
                return Err(e).wrap_err_with(|| format!("removing {}", path.display()));
            }
        },
        Some(_) => replaced(&path),
        None => {}
    }
    Ok(())
}

fn replaced(path: &Path) {
    crate::warn!(
        "left {} in place: it was replaced by another object since it was checked",
        path.display()
    );
}

/// Fails when a process uses the segment (holds it open or maps it, to read or write:
/// see [`users`]) without holding one of `runtime_files` (the instance's FIFOs in our
/// runtime directory): that is not an orphan of this instance but a live primary whose
/// lock sits in another runtime directory, or a tool reading it, so its objects must be
/// neither removed nor have their holders stopped.
pub fn check_segment_holders(paths: &Paths, runtime_files: &[PathBuf]) -> Result<()> {
    let Some(segment) = procfs::identity(&paths.shm_path()) else {
        return Ok(());
    };
    let mut ids = vec![segment];
    ids.extend(runtime_files.iter().filter_map(|p| procfs::identity(p)));
    let found = users::users(&ids);
    let orphan = |pid: i32| found[1..].iter().flatten().any(|h| h.pid == pid);
    let foreign = |h: &&procfs::Holder| !orphan(h.pid) && procfs::alive(h.pid);
    if let Some(h) = found[0].iter().find(foreign) {
        if !procfs::runs_osps(h.pid) {
            bail!(
                "{} is in use by process {} ({}), which has it open or mapped ({}) and is not \
                 osps: not removing it under that process; close it there (or end process \
                 {}), then clean up again",
                paths.shm_path().display(),
                h.pid,
                procfs::command_text(h.pid),
                h.access,
                h.pid
            );
        }
        bail!(
            "{} is held open by process {} that holds none of the instance's FIFOs in {}: it \
             may be a running osps using another runtime directory; look with `osps inspect \
             --runtime-dir DIR`, or stop process {} first",
            paths.shm_path().display(),
            h.pid,
            paths.runtime_dir.display(),
            h.pid
        );
    }
    Ok(())
}

/// The processes that use one of an instance's objects (hold it open, or map it, to read
/// or write; but us and osps commands that only look: see [`users`]), in pid order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Holders {
    /// osps secondaries of this instance (by name) whose primary is gone: ours to stop.
    pub orphans: Vec<i32>,
    /// Anything else: a live osps primary, a shell or a tool with a FIFO open. Never
    /// signalled; while one holds an object, the instance is left alone.
    pub foreign: Vec<i32>,
}

impl Holders {
    /// Whether the process [`Holders::refusal`] names is a running osps primary (one whose
    /// lock is elsewhere), not a stranger.
    pub fn primary_first(&self) -> bool {
        self.foreign.first().is_some_and(|&pid| {
            procfs::runs_osps(pid) && procfs::subcommand(pid).as_deref() == Some("primary")
        })
    }

    /// Why the instance is left alone, if a foreign process holds one of its objects.
    pub fn refusal(&self, paths: &Paths) -> Option<String> {
        let &pid = self.foreign.first()?;
        let what = procfs::command_text(pid);
        Some(if self.primary_first() {
            format!(
                "process {pid} ({what}) holds the instance's objects and is a running osps \
                 primary: not stopping it and not removing anything; look with `osps inspect`"
            )
        } else {
            format!(
                "process {pid} ({what}) holds the instance's objects open (or mapped) and is \
                 not a secondary of instance {}: not signalling it and not removing anything; \
                 close them in that process (or stop it yourself), then clean up again",
                paths.name
            )
        })
    }
}

/// Sorts the processes holding `objects` (the instance's paths) into orphans and others.
pub fn holders(paths: &Paths, objects: &[PathBuf]) -> Holders {
    let ids: Vec<(u64, u64)> = objects.iter().filter_map(|p| procfs::identity(p)).collect();
    // Another osps cleanup holds the lock file while it works: the lock decides between
    // us (see `own`), it is no reason to skip; nor is an osps that only looks (`users`).
    let mut pids: Vec<i32> = users::users(&ids)
        .into_iter()
        .flatten()
        .map(|h| h.pid)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    // Nor is a holder that has exited since (gone, or a zombie: no open files). One we
    // cannot look at stays a stranger.
    pids.retain(|&p| procfs::alive(p));
    // An orphan is what the primary started for this name: an osps secondary of it. Its
    // primary is gone (we own the name, or are about to), so nothing else will stop it.
    let (orphans, foreign) = pids.into_iter().partition(|&p| {
        procfs::runs_osps(p)
            && procfs::subcommand(p).as_deref() == Some("secondary")
            && procfs::instance_name(p) == Some(paths.name.to_string())
    });
    Holders { orphans, foreign }
}

/// Stops the orphaned secondaries that still hold one of `objects` open: SIGTERM, then
/// SIGKILL after a second. Refuses (and signals nothing) while any other process holds
/// one: a live primary, or a shell or tool with a FIFO open is not ours to stop.
pub fn stop_holders(paths: &Paths, objects: &[PathBuf]) -> Result<Vec<i32>> {
    let ids: Vec<(u64, u64)> = objects.iter().filter_map(|p| procfs::identity(p)).collect();
    let found = holders(paths, objects);
    if let Some(why) = found.refusal(paths) {
        bail!("{why}");
    }
    // A handle on each, then the check that it still holds our objects: from then on a
    // signal reaches that very process, never one that reused its pid.
    let mut orphans = Vec::new();
    for &pid in &found.orphans {
        if let Some(p) = Process::open(pid)? {
            if procfs::holders(&ids).iter().flatten().any(|h| h.pid == pid) {
                orphans.push(p);
            }
        }
    }
    for p in &orphans {
        crate::warn!(
            "stopping orphaned secondary {} that still holds the instance's objects",
            p.pid()
        );
        p.signal(Signal::SIGTERM)?;
    }
    if !pidfd::all_exited_within(&orphans, Duration::from_secs(1)) {
        for p in &orphans {
            p.signal(Signal::SIGKILL)?;
        }
    }
    Ok(orphans.iter().map(Process::pid).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::disk::testlock::{Holder, stale_lock};

    #[test]
    fn a_lock_holder_that_exits_before_it_is_looked_at_leaves_the_name_to_us() {
        let (_tmp, dir, paths) = stale_lock("gone");
        let mut holder = Holder::lock(&paths.in_dir(&paths.lock_file()));
        // The holder (another cleanup, say) ends between our look at the lock and our
        // look at it: the name is nobody's, so it is ours, not "held".
        let owner = own_with(&dir, &paths, || holder.end()).unwrap();
        match owner {
            Owner::Taken(_) => {}
            Owner::Created(_) => panic!("the lock file was there: taken, not created"),
            Owner::Held(pid) => panic!("held by {pid:?}, which had exited"),
        }
    }

    #[test]
    fn a_holder_that_exits_before_claim_names_it_is_no_stranger_and_the_name_is_claimed() {
        let (_tmp, dir, paths) = stale_lock("claimgone");
        let mut holder = Holder::lock(&paths.in_dir(&paths.lock_file()));
        // `own` finds the holder alive; it exits before claim looks at what it is (as a
        // primary stopping or a cleanup finishing does): its `/proc` entry is gone, which
        // says nothing about what it was. The name is free: claim takes it.
        let claimed = claim_with(&dir, &paths, || holder.end());
        let lock = claimed.expect("a vanished holder leaves the name to claim");
        lock.remove(&dir).unwrap();
    }

    /// A holder on its way out (a primary stopping, a cleanup ending) that lets go of the
    /// lock 100ms later: the name is claimed once it has. Claim used to take it for gone
    /// at once and look again, 50 times within milliseconds, then fail ("kept appearing
    /// and disappearing"); or, its main thread not a zombie yet, name it a stranger.
    #[test]
    fn a_holder_on_its_way_out_is_waited_for_and_the_name_claimed() {
        let (_tmp, dir, paths) = stale_lock("claimexiting");
        let mut holder = Holder::lock_exiting(&paths.in_dir(&paths.lock_file()));
        let ender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            holder.end();
        });
        let lock = claim(&dir, &paths).expect("the name is claimed once the holder is gone");
        lock.remove(&dir).unwrap();
        ender.join().unwrap();
    }

    /// One that stays on its way out is named as such, with what to do.
    #[test]
    fn a_holder_that_stays_exiting_is_named_as_exiting() {
        let (_tmp, dir, paths) = stale_lock("claimstuck");
        let holder = Holder::lock_exiting(&paths.in_dir(&paths.lock_file()));
        let Err(err) = claim(&dir, &paths) else {
            panic!("claimed a name whose holder still holds the lock");
        };
        let text = format!("{err:#}");
        assert!(
            text.contains(&format!("process {}, which is exiting", holder.pid())),
            "{text}"
        );
    }

    #[test]
    fn a_live_stranger_holding_the_lock_is_named_with_its_command_line() {
        let (_tmp, dir, paths) = stale_lock("claimstranger");
        let holder = Holder::lock(&paths.in_dir(&paths.lock_file()));
        let Err(err) = claim(&dir, &paths) else {
            panic!("claimed a name a stranger holds");
        };
        let text = format!("{err:#}");
        assert!(
            text.contains(&format!("process {} (", holder.pid()))
                && text.contains("fcntl.lockf")
                && text.contains("which is not an osps primary"),
            "{text}"
        );
        assert_eq!(
            holder::holding(Some(holder.pid()), &paths).stranger_text(&paths),
            Some(holder::foreign_holder_text(&paths, holder.pid()))
        );
    }

    #[test]
    fn a_primary_holding_the_lock_file_at_its_path_is_not_said_to_have_lost_it() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new("demo".parse().unwrap(), dir.path().to_path_buf());
        let lock = paths.in_dir(&paths.lock_file());
        std::fs::write(&lock, b"42\n").unwrap();
        let holding = LivePrimary {
            pid: 42,
            lock: Some(lock.clone()),
        };
        let text = running_without_lock(&paths, &holding);
        assert!(
            text.contains("holding its lock file") && text.contains("osps stop demo"),
            "{text}"
        );
        assert!(
            !text.contains("replaced") && !text.contains("kill"),
            "{text}"
        );
        // Its own was removed and another file put at the path: that one is replaced.
        let deleted = LivePrimary {
            pid: 42,
            lock: Some(PathBuf::from(format!("{} (deleted)", lock.display()))),
        };
        assert!(running_without_lock(&paths, &deleted).contains("replaced by another file"));
        std::fs::remove_file(&lock).unwrap();
        assert!(running_without_lock(&paths, &deleted).contains("its lock file is missing"));
        let elsewhere = LivePrimary {
            pid: 42,
            lock: Some(PathBuf::from("/elsewhere/demo.lock")),
        };
        assert!(
            running_without_lock(&paths, &elsewhere)
                .contains("its lock file is /elsewhere/demo.lock")
        );
    }
}
