//! Owning an instance name, and removing what a crashed instance left.
//!
//! Whoever creates or removes an instance's objects first owns its name: it holds the
//! lock of `NAME.lock` (see [`crate::lockfile`]). A new primary creates the lock file; if
//! one exists and nobody holds its lock, the instance is stale and is recovered by the
//! same rules as `osps cleanup`: stop an orphaned secondary, remove the objects that are
//! provably ours, and refuse (with the path and what to do) anything that is not.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::header;
use crate::lockfile::{Existing, InstanceLock};
use crate::names::Paths;
use crate::owned::{self, Kind};
use crate::procfs;
use crate::rundir::RuntimeDir;
use crate::segment;

/// How many secondaries' FIFO pairs an instance can have (the first one is index 0).
pub const MAX_SECONDARIES: usize = 64;

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
    for _ in 0..ATTEMPTS {
        if let Some(lock) = InstanceLock::create(dir, paths)? {
            return Ok(Owner::Created(lock));
        }
        match InstanceLock::take_existing(dir, paths)? {
            Existing::Missing => {}
            Existing::Stale(lock) => return Ok(Owner::Taken(lock)),
            Existing::Held { pid } if is_cleanup(pid) => {
                if !wait_released(dir, paths) {
                    return Ok(Owner::Held(pid));
                }
            }
            Existing::Held { pid } => return Ok(Owner::Held(pid)),
        }
    }
    bail!(
        "the lock file {} kept appearing and disappearing (osps starting or cleaning up at \
         the same moment?); try again",
        paths.in_dir(&paths.lock_file()).display()
    )
}

/// Whether the process holding a lock is an `osps cleanup` (worth waiting for).
pub fn is_cleanup(pid: Option<i32>) -> bool {
    pid.and_then(procfs::subcommand)
        .is_some_and(|s| s == "cleanup")
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
    for _ in 0..ATTEMPTS {
        match own(dir, paths)? {
            Owner::Created(lock) => {
                // We own the name. Objects without a lock file were left by a crash.
                return match remove_leftovers(dir, paths, false) {
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
            Owner::Held(pid) => bail!(
                "instance {} is already running (primary pid {}); stop it first (`kill {}`) or \
                 choose another --name",
                paths.name,
                pid.map_or("unknown".into(), |p| p.to_string()),
                pid.map_or("PID".into(), |p| p.to_string()),
            ),
            Owner::Taken(lock) => {
                let removed = remove_leftovers(dir, paths, false)?;
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
    if look.stat.st_size != 0 && !header::has_magic(&look.head) {
        bail!(
            "{} does not hold an osps header: it was not made by osps; look at it and remove it \
             by hand (`rm {}`)",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// Removes (or, with `dry_run`, lists) every object of an instance whose name we own,
/// except the lock file: first stopping any process that still holds one of its FIFOs
/// (an orphaned secondary). Fails without removing anything if an object is not ours.
pub fn remove_leftovers(dir: &RuntimeDir, paths: &Paths, dry_run: bool) -> Result<Vec<PathBuf>> {
    // Check everything before removing anything.
    let mut files = Vec::new();
    let temps = InstanceLock::stale_temps(dir, paths)
        .into_iter()
        .map(|f| (f, Kind::Regular));
    for (file, kind) in runtime_files(paths).into_iter().chain(temps) {
        if let Some(st) = dir.stat(&file)? {
            owned::check(&st, &paths.in_dir(&file), kind, 0o600)?;
            files.push(file);
        }
    }
    let seg = segment::look(paths)?;
    if let Some(look) = &seg {
        check_segment(paths, look)?;
    }
    let mut removed: Vec<PathBuf> = files.iter().map(|f| paths.in_dir(f)).collect();
    if seg.is_some() {
        check_segment_holders(paths, &removed)?;
        removed.push(paths.shm_path());
    }
    if dry_run {
        return Ok(removed);
    }
    stop_holders(&removed)?;
    for file in &files {
        dir.unlink(file)?;
    }
    if seg.is_some() {
        match nix::sys::mman::shm_unlink(paths.shm_name().as_str()) {
            Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => {
                return Err(e).wrap_err_with(|| format!("removing {}", paths.shm_path().display()));
            }
        }
    }
    Ok(removed)
}

/// Fails when a process holds the segment open without holding one of `runtime_files`
/// (the instance's FIFOs in our runtime directory): that is not an orphan of this
/// instance but, most likely, a live primary whose lock sits in another runtime
/// directory, so its objects must be neither removed nor have their holders stopped.
pub fn check_segment_holders(paths: &Paths, runtime_files: &[PathBuf]) -> Result<()> {
    let Some(segment) = procfs::identity(&paths.shm_path()) else {
        return Ok(());
    };
    let mut ids = vec![segment];
    ids.extend(runtime_files.iter().filter_map(|p| procfs::identity(p)));
    let found = procfs::holders(&ids);
    let me = std::process::id() as i32;
    let orphan = |pid: i32| found[1..].iter().flatten().any(|h| h.pid == pid);
    // A read-only holder is an inspect or cleanup looking at the header, never an
    // instance's process (both sides map the segment read-write).
    let foreign = |h: &&procfs::Holder| h.pid != me && h.access != "read" && !orphan(h.pid);
    if let Some(h) = found[0].iter().find(foreign) {
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

/// Stops every other process holding one of `objects` open: SIGTERM, then SIGKILL after a
/// second. These are orphaned secondaries of a dead primary (we own the name).
pub fn stop_holders(objects: &[PathBuf]) -> Result<Vec<i32>> {
    let ids: Vec<(u64, u64)> = objects.iter().filter_map(|p| procfs::identity(p)).collect();
    let me = std::process::id() as i32;
    // Read-only holders are inspects or cleanups looking, not orphans: a secondary
    // always holds the segment read-write.
    let mut pids: Vec<i32> = procfs::holders(&ids)
        .into_iter()
        .flatten()
        .filter(|h| h.access != "read")
        .map(|h| h.pid)
        .filter(|&p| p != me)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    for &pid in &pids {
        crate::warn!("stopping orphaned process {pid} that still holds the instance's FIFOs");
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while pids.iter().any(|&p| procfs::alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    for &pid in &pids {
        if procfs::alive(pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    Ok(pids)
}
