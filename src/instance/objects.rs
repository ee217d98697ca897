//! The objects of one running instance, created and removed as a unit by the primary:
//! the lock file (first in, last out), the segment and the FIFO pair.
//!
//! If the primary fails half-way, dropping the `Instance` still removes whatever was
//! made, so an error never leaves objects behind; `osps cleanup` is only for crashes.
//!
//! Every object is removed by identity: only while its path still names the very object
//! (device and inode) this process created, so an old primary never removes a newer
//! instance's objects, and what an outside hand put in their place is left, with a
//! warning. While the instance lives it holds a shared `flock` on the runtime directory,
//! the tmpfiles.d(5) convention that keeps age-based cleaners out of it, and
//! [`Instance::defend_lock`] puts its lock file back if it is removed: the primary calls
//! it when the kernel reports a change of the lock file's entry (`lockwatch.rs`), and on a
//! timer as well (a short one when inotify is not available).

use std::cell::{OnceCell, RefCell};

use color_eyre::eyre::{Result, WrapErr};
use nix::sys::stat::FileStat;

use crate::disk::lockfile::{Defence, InstanceLock};
use crate::disk::lockwatch::LockWatch;
use crate::disk::names::Paths;
use crate::disk::owned::{self, Kind};
use crate::disk::rundir::{AgingGuard, RuntimeDir, Unlinked};
use crate::instance::claim;
use crate::os::procfs;
use crate::pair::fifo;
use crate::pair::segment::Segment;

/// What stands at the path of the serving socket ([`Instance::socket_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketAt {
    /// The socket we bound (or no socket was made: not serving).
    Ours,
    /// Nothing: it can be made anew.
    Gone,
    /// Another object, of this type (`"regular file"`, `"socket"`, ...): not ours to
    /// remove, so no socket can be bound there until someone moves it away.
    Stranger(&'static str),
}

#[derive(Debug)]
pub struct Instance {
    paths: Paths,
    dir: RuntimeDir,
    seg: Segment,
    /// The FIFOs and the socket we made: file name and identity (a FIFO removed while we
    /// run is made anew, see [`Instance::restore_fifos`]).
    fifos: RefCell<Vec<(String, FileStat)>>,
    socket: RefCell<Option<(String, FileStat)>>,
    /// The segment's identity when we made it.
    segment_id: Option<(u64, u64)>,
    /// In cells: the primary's loops share the instance (`&Instance`) and defend the lock.
    lock: RefCell<Option<InstanceLock>>,
    /// What the last [`Instance::defend_lock`] found, to warn once per change.
    defence: RefCell<Defence>,
    /// Tells us when the lock file's entry changes: started by [`Instance::watch_lock`]
    /// (none if inotify is not available).
    watch: OnceCell<Option<LockWatch>>,
    /// Keeps age-based cleaners out of the runtime directory while we live.
    _aging: Option<AgingGuard>,
}

impl Instance {
    /// The instance's name and the paths derived from it.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The runtime directory holding the lock file, the FIFOs and the socket.
    pub fn dir(&self) -> &RuntimeDir {
        &self.dir
    }

    /// The shared segment.
    pub fn seg(&self) -> &Segment {
        &self.seg
    }

    /// Claims the name (recovering a stale instance), then creates the segment and the
    /// FIFO pair of the first secondary.
    /// `workers` secondaries share the segment (1 unless `--serve --secondaries N`).
    pub fn create(paths: Paths, size: u64, workers: usize) -> Result<Instance> {
        let dir = RuntimeDir::ensure(&paths.runtime_dir)?;
        // Before anything is in it: an aging cleaner must not remove our objects.
        let aging = match dir.hold_against_aging() {
            Ok(guard) => Some(guard),
            Err(e) => {
                crate::warn!("{e:#}; an age-based cleaner may remove the instance's files");
                None
            }
        };
        let lock = claim::claim(&dir, &paths)?;
        let seg = match Segment::create(&paths, size, workers) {
            Ok(seg) => seg,
            Err(e) => {
                let _ = lock.remove(&dir);
                return Err(e);
            }
        };
        // Made a moment ago with O_EXCL, so this is the object we created.
        let segment_id = procfs::identity(seg.path());
        let mut instance = Instance {
            paths,
            dir,
            seg,
            fifos: RefCell::new(Vec::new()),
            socket: RefCell::new(None),
            segment_id,
            lock: RefCell::new(Some(lock)),
            defence: RefCell::new(Defence::Intact),
            watch: OnceCell::new(),
            _aging: aging,
        };
        for index in 0..workers {
            let (p2s, s2p) = instance.paths.fifo_files(index);
            for file in [p2s, s2p] {
                // On error, Drop removes what was made so far.
                fifo::create(&instance.dir, &file)?;
                let id = instance.identity(&file)?;
                instance.fifos.get_mut().push((file, id));
            }
        }
        Ok(instance)
    }

    /// Makes anew the FIFOs of secondary `index` that were removed while the instance
    /// runs (by a person, or an age-based cleaner of /tmp): a secondary restarted later
    /// opens them by path, and would fail without them. A FIFO replaced by another object
    /// is left alone (opening it then fails, and says why).
    pub fn restore_fifos(&self, index: usize) -> Result<()> {
        let (p2s, s2p) = self.paths.fifo_files(index);
        for file in [p2s, s2p] {
            if self.dir.stat(&file)?.is_some() {
                continue;
            }
            fifo::create(&self.dir, &file)?;
            let id = self.identity(&file)?;
            crate::warn!(
                "the FIFO {} was removed while instance {} runs; made it anew",
                self.paths.in_dir(&file).display(),
                self.paths.name
            );
            let mut fifos = self.fifos.borrow_mut();
            match fifos.iter_mut().find(|(f, _)| *f == file) {
                Some(entry) => entry.1 = id,
                None => fifos.push((file, id)),
            }
        }
        Ok(())
    }

    /// The identity of an entry we just made in our private runtime directory.
    fn identity(&self, file: &str) -> Result<FileStat> {
        let st = self.dir.stat(file)?.ok_or_else(|| {
            color_eyre::eyre::eyre!(
                "{} vanished right after it was created",
                self.paths.in_dir(file).display()
            )
        })?;
        Ok(st)
    }

    /// Asks the kernel to tell us about every change of the lock file's entry (see
    /// `lockwatch.rs`); once is enough, later calls do nothing. The primary calls it when
    /// it is about to wait (between heartbeat rounds, for clients): a run that never
    /// waits (`--rounds N` flat out) looks on the timer and does not pay for the watch
    /// (an inotify instance and a thread) at start-up.
    pub fn watch_lock(&self) {
        self.watch.get_or_init(
            || match LockWatch::start(&self.dir, &self.paths.lock_file()) {
                Ok(watch) => Some(watch),
                Err(e) => {
                    crate::debug!("{e:#}; looking at the lock file on a timer instead");
                    None
                }
            },
        );
    }

    fn lock_watch(&self) -> Option<&LockWatch> {
        self.watch.get().and_then(Option::as_ref)
    }

    /// Whether the kernel tells us about every change of the lock file's entry: then the
    /// primary need not look at it on a short timer.
    pub fn lock_watched(&self) -> bool {
        self.lock_watch().is_some_and(LockWatch::active)
    }

    /// Whether the lock file's entry changed since the last call (`true` once per
    /// change; always `false` without a watch).
    pub fn lock_changed(&self) -> bool {
        self.lock_watch().is_some_and(LockWatch::take_change)
    }

    /// Checks that the lock file's path still names the file we hold locked and restores
    /// it if it was removed (see [`InstanceLock::defend`]). Warns once per change: when it
    /// is restored, and when another file stands at the path (which is left alone). A
    /// few system calls: the supervisor calls it when the kernel reports a change of the
    /// lock file's entry, and on a timer (`Supervisor::tick`).
    pub fn defend_lock(&self) -> Defence {
        let mut held = self.lock.borrow_mut();
        let Some(lock) = held.as_mut() else {
            return Defence::Intact;
        };
        let path = lock.path().display().to_string();
        let found = match lock.defend(&self.dir) {
            Ok(found) => found,
            Err(e) => Defence::Conflict(format!("{e:#}")),
        };
        if found != *self.defence.borrow() {
            match &found {
                Defence::Restored => crate::warn!(
                    "the lock file {path} was removed while instance {} runs; restored it",
                    self.paths.name
                ),
                Defence::Conflict(why) => crate::warn!(
                    "cannot restore the lock file of instance {}: {why}; running on, this \
                     instance stays recognisable by the lock it holds",
                    self.paths.name
                ),
                Defence::Intact => {}
            }
        }
        // A restore is an event; what stands there now is intact.
        *self.defence.borrow_mut() = match &found {
            Defence::Restored => Defence::Intact,
            other => other.clone(),
        };
        found
    }

    /// Creates the listening Unix socket `RUNDIR/NAME.sock` with mode 0600 (`--serve`);
    /// again when it was removed while we serve (see [`Self::socket_at`]).
    pub fn listen(&self) -> Result<std::os::unix::net::UnixListener> {
        let file = self.paths.socket_file();
        let path = self.paths.in_dir(&file);
        // bind() creates the socket file with mode 0777 minus the umask: narrow the umask
        // to get 0600 at creation rather than fixing it after. (Our other threads, the
        // watchdog and the lock watch, create no files.)
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let bound = std::os::unix::net::UnixListener::bind(&path);
        nix::sys::stat::umask(old);
        let listener = match bound {
            Ok(listener) => listener,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(e).wrap_err_with(|| {
                    format!(
                        "listening on {}: remove what a crash left with `osps cleanup`",
                        path.display()
                    )
                });
            }
            // The one limit of its own a socket path has (sun_path): say so.
            Err(e) if path.as_os_str().len() > 107 => {
                return Err(e).wrap_err_with(|| {
                    format!(
                        "listening on {} (a socket path has at most 107 bytes: a shorter \
                         --runtime-dir or --name may help)",
                        path.display()
                    )
                });
            }
            Err(e) => {
                return Err(e).wrap_err_with(|| format!("listening on {}", path.display()));
            }
        };
        let st = self
            .dir
            .stat(&file)?
            .ok_or_else(|| color_eyre::eyre::eyre!("{} vanished", path.display()))?;
        *self.socket.borrow_mut() = Some((file, st));
        owned::check(&st, &path, Kind::Socket, 0o600)?;
        crate::trace!(
            "listen",
            path = path,
            mode = "0600",
            how = "socket + bind + listen"
        );
        listener
            .set_nonblocking(true)
            .wrap_err("making the socket non-blocking")?;
        Ok(listener)
    }

    /// What stands at the path of the socket we listen on: still it (the device and inode
    /// we bound, and a socket), nothing (removed by a person or an age-based cleaner: no
    /// new client can reach us then), or another object, a stranger's, which is left
    /// alone (see [`SocketAt`]).
    pub fn socket_at(&self) -> SocketAt {
        let socket = self.socket.borrow();
        let Some((file, ours)) = socket.as_ref() else {
            return SocketAt::Ours;
        };
        match self.dir.stat(file) {
            Ok(None) => SocketAt::Gone,
            Ok(Some(st))
                if (st.st_dev, st.st_ino) == (ours.st_dev, ours.st_ino)
                    && owned::is_kind(&st, Kind::Socket) =>
            {
                SocketAt::Ours
            }
            Ok(Some(st)) => SocketAt::Stranger(owned::type_name(&st)),
            // Not looked at this time (the directory gone, say): nothing is known to change.
            Err(_) => SocketAt::Ours,
        }
    }

    /// Removes the FIFOs, the segment, then the lock file (releasing the name).
    pub fn remove(mut self) -> Result<()> {
        self.remove_all()
    }

    fn remove_all(&mut self) -> Result<()> {
        // Our own removals are no news.
        self.watch.take();
        let mut first_error = None;
        let socket = self.socket.take();
        for (file, id) in self.fifos.take().into_iter().chain(socket) {
            match self.dir.unlink_if(&file, &id) {
                Ok(unlinked) => self.not_ours(unlinked, &self.paths.in_dir(&file)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let seg_path = self.seg.path().to_path_buf();
        match (self.segment_id, procfs::identity(&seg_path)) {
            (Some(ours), Some(now)) if ours != now => {
                self.not_ours(Unlinked::Replaced, &seg_path);
            }
            (_, None) => self.not_ours(Unlinked::Missing, &seg_path),
            // Segment::unlink checks the identity again, on its own descriptor.
            _ => match self.seg.unlink().wrap_err("removing the segment") {
                Ok(()) => crate::trace!("unlink", path = seg_path, how = "shm_unlink"),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            },
        }
        if let Some(lock) = self.lock.get_mut().take() {
            let path = lock.path().to_path_buf();
            match lock.remove(&self.dir) {
                Ok(unlinked) => self.not_ours(unlinked, &path),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Instance {
    /// Warns about an object that was not removed because it is no longer ours.
    fn not_ours(&self, unlinked: Unlinked, path: &std::path::Path) {
        match unlinked {
            Unlinked::Removed => crate::trace!("unlink", path = path, how = "unlinkat"),
            // Nothing to do; worth a word only with -v (a crash test removes objects).
            Unlinked::Missing => crate::debug!(
                "{} of instance {} was already removed by someone else",
                path.display(),
                self.paths.name
            ),
            Unlinked::Replaced => crate::warn!(
                "left {} in place: it is no longer the object instance {} created (another \
                 instance may use the name now)",
                path.display(),
                self.paths.name
            ),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.lock.get_mut().is_some() {
            if let Err(e) = self.remove_all() {
                crate::warn!("while removing instance {}: {e:#}", self.paths.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(tag: &str) -> (tempfile::TempDir, Instance) {
        let tmp = tempfile::tempdir().unwrap();
        let name = format!("u-{tag}-{}", std::process::id());
        let paths = Paths::new(name.parse().unwrap(), tmp.path().join("run"));
        let instance = Instance::create(paths, 64 * 1024, 1).unwrap();
        (tmp, instance)
    }

    #[test]
    fn a_removed_lock_file_is_restored_and_then_intact() {
        let (_tmp, inst) = instance("restore");
        let lock = inst.paths.in_dir(&inst.paths.lock_file());
        assert_eq!(inst.defend_lock(), Defence::Intact);
        std::fs::remove_file(&lock).unwrap();
        assert_eq!(inst.defend_lock(), Defence::Restored);
        assert!(lock.exists());
        assert_eq!(inst.defend_lock(), Defence::Intact);
        inst.remove().unwrap();
        assert!(!lock.exists());
    }

    #[test]
    fn objects_replaced_under_a_live_instance_are_left_in_place() {
        let (_tmp, inst) = instance("replaced");
        let dir = inst.paths.runtime_dir.clone();
        let lock = inst.paths.in_dir(&inst.paths.lock_file());
        let fifo = inst.paths.in_dir(&inst.paths.fifo_files(0).0);
        let other = dir.join("other");
        std::fs::write(&other, "newer").unwrap();
        std::fs::rename(&other, &lock).unwrap();
        std::fs::remove_file(&fifo).unwrap();
        std::fs::write(&fifo, "newer").unwrap();
        assert!(matches!(inst.defend_lock(), Defence::Conflict(_)));
        // Warned once: the same conflict again changes nothing.
        assert!(matches!(inst.defend_lock(), Defence::Conflict(_)));
        let shm = inst.seg.path().to_path_buf();
        inst.remove().unwrap();
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), "newer");
        assert_eq!(std::fs::read_to_string(&fifo).unwrap(), "newer");
        assert!(!shm.exists(), "the segment was ours and goes");
        assert!(
            !dir.join(format!(
                "{}.s2p.fifo",
                lock.file_stem().unwrap().to_string_lossy()
            ))
            .exists()
        );
    }

    #[test]
    fn the_socket_is_ours_until_removed_or_replaced_by_a_stranger() {
        let (_tmp, inst) = instance("sockat");
        let _listener = inst.listen().unwrap();
        let path = inst.paths.in_dir(&inst.paths.socket_file());
        assert_eq!(inst.socket_at(), SocketAt::Ours);
        let other = inst.paths.runtime_dir.join("other");
        std::fs::write(&other, "not a socket").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(inst.socket_at(), SocketAt::Stranger("regular file"));
        // A socket bound there by someone else is not ours either.
        std::fs::remove_file(&path).unwrap();
        let _stranger = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert_eq!(inst.socket_at(), SocketAt::Stranger("socket"));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(inst.socket_at(), SocketAt::Gone);
        inst.remove().unwrap();
    }

    #[test]
    fn the_instance_holds_its_directory_against_aging() {
        use nix::fcntl::{Flock, FlockArg, OFlag, open};
        let (_tmp, inst) = instance("aging");
        let dir = inst.paths.runtime_dir.clone();
        let probe = || {
            let fd = open(
                &dir,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY,
                nix::sys::stat::Mode::empty(),
            )
            .unwrap();
            Flock::lock(fd, FlockArg::LockExclusiveNonblock).is_ok()
        };
        assert!(
            !probe(),
            "a cleaner could lock the directory of a live instance"
        );
        inst.remove().unwrap();
        assert!(probe());
    }
}
