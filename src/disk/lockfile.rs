//! The instance lock: `RUNDIR/NAME.lock`, a regular file (mode 0600) that the live
//! primary keeps locked with a POSIX record lock (`fcntl(F_SETLK)`) for its whole life.
//!
//! Liveness is decided by this lock, never by a pid alone (pids are reused): the kernel
//! drops the lock when its holder dies, and `F_GETLK` tells who holds it without taking
//! it, so `osps inspect` can look without ever making a starting primary fail.
//! POSIX record locks are not inherited across `fork`, so the secondary never holds it,
//! and the descriptor is close-on-exec, so it never leaks into the secondary either.
//!
//! Whoever removes an instance's objects (a primary recovering a stale instance, or
//! `osps cleanup`) first takes this lock and checks that the path still names the file
//! it locked; two cleaners can therefore never remove each other's objects.
//!
//! The path is only a name: a user's `rm` or an age-based cleaner can remove it while the
//! primary lives, and a later `osps primary` can then create a new file there. So the lock
//! file is removed only while its path still names the file we locked
//! ([`InstanceLock::remove`]), and a live primary defends it ([`InstanceLock::defend`]):
//! it puts a locked file of its own back at the path, or reports who stands there.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;

use color_eyre::eyre::{Result, WrapErr};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, RenameFlags, fcntl, openat, renameat2};
use nix::sys::stat::{Mode, fstat};

use crate::disk::names::Paths;
use crate::disk::owned::{self, Kind};
use crate::disk::rundir::{RuntimeDir, Unlinked};

/// A held instance lock. Dropping it releases the lock (the file stays: see [`Self::remove`]).
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
    name: String,
    path: PathBuf,
}

/// What a look at an existing lock file found.
#[derive(Debug)]
pub enum Existing {
    /// There is no lock file (any more).
    Missing,
    /// A live process holds the lock.
    Held { pid: Option<i32> },
    /// Nobody held it: we hold it now, and the path still names the file we locked.
    Stale(InstanceLock),
}

/// What [`InstanceLock::defend`] found at the lock file's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defence {
    /// The path names the file we hold locked.
    Intact,
    /// The path was missing: a new lock file of ours, locked, stands there again.
    Restored,
    /// Another object stands at the path (described); it was left alone.
    Conflict(String),
}

/// What `probe` found, without taking the lock.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Probe {
    pub path: PathBuf,
    pub exists: bool,
    pub held: bool,
    /// The holder's pid as the kernel reports it when held, else the pid written in the file.
    pub pid: Option<i32>,
    /// Why the file could not be examined, or is not a lock file osps makes, if so.
    pub error: Option<String>,
    /// What stands at the path when it is not a lock file osps makes (another type, owner
    /// or mode: what cleanup refuses to touch): "directory", "regular file", ...
    #[serde(skip)]
    pub foreign: Option<&'static str>,
}

fn whole_file(kind: libc::c_short) -> libc::flock {
    // SAFETY: flock is a plain C struct; all-zero is a valid value for every field.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0; // to the end of the file, however long
    fl
}

/// Why a regular file at the lock file's path is not one osps made (see
/// [`owned::check`], which cleanup applies before it takes such a file): another owner,
/// or another mode than 0600.
fn not_ours(st: &nix::sys::stat::FileStat) -> Option<String> {
    let me = crate::disk::names::uid();
    if st.st_uid != me {
        return Some(format!(
            "belongs to uid {}, not to uid {me}: not made by osps",
            st.st_uid
        ));
    }
    let mode = owned::perm_bits(st);
    (mode != 0o600).then(|| format!("has mode {mode:04o}, not 0600: not made by osps"))
}

/// Tries to take the write lock without waiting. `Ok(false)`: somebody else holds it.
fn try_lock(file: &File) -> Result<bool, Errno> {
    match fcntl(
        file.as_fd(),
        FcntlArg::F_SETLK(&whole_file(libc::F_WRLCK as libc::c_short)),
    ) {
        Ok(_) => Ok(true),
        Err(Errno::EAGAIN) | Err(Errno::EACCES) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Asks the kernel who holds a conflicting lock, without taking one.
fn holder(file: &File) -> Result<Option<i32>, Errno> {
    let mut fl = whole_file(libc::F_WRLCK as libc::c_short);
    fcntl(file.as_fd(), FcntlArg::F_GETLK(&mut fl))?;
    Ok((fl.l_type != libc::F_UNLCK as libc::c_short).then_some(fl.l_pid))
}

fn read_pid(file: &mut File) -> Option<i32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The pid written in the instance's lock file, if it can be read. A primary writes its
/// pid there before the file takes its name (and again each time it puts one back), so
/// the text names whoever made the file; a tool that merely locks it writes nothing.
pub fn written_pid(paths: &Paths) -> Option<i32> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(paths.in_dir(&paths.lock_file()))
        .ok()?;
    fstat(&file)
        .ok()
        .filter(|st| owned::is_kind(st, Kind::Regular))?;
    read_pid(&mut file)
}

impl InstanceLock {
    /// Creates the lock file exclusively and locks it. `Ok(None)`: it already exists.
    ///
    /// The file must never be visible unlocked under its name, or a cleaner could take it
    /// for a dead instance's lock in the instant between our create and our lock. So it is
    /// made under a private temporary name (`.NAME.lock.PID`), locked and filled with our
    /// pid, and only then renamed into place with `RENAME_NOREPLACE`, which fails if the
    /// name exists (like `O_EXCL`). Renaming, unlike linking, keeps /proc/PID/fd showing
    /// the real name.
    pub fn create(dir: &RuntimeDir, paths: &Paths) -> Result<Option<Self>> {
        Self::create_named(dir, paths.lock_file(), paths.in_dir(&paths.lock_file()))
    }

    fn create_named(dir: &RuntimeDir, name: String, path: PathBuf) -> Result<Option<Self>> {
        let temp = format!(".{name}.{}", std::process::id());
        // A file of that name was left by an earlier process with our pid: it is stale.
        dir.unlink(&temp)?;
        let flags =
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(
            dir.fd(),
            temp.as_str(),
            flags,
            Mode::S_IRUSR | Mode::S_IWUSR,
        )
        .wrap_err_with(|| {
            format!(
                "creating the lock file {}",
                dir.path().join(&temp).display()
            )
        })?;
        crate::trace!(
            "lock_created",
            path = dir.path().join(&temp),
            flags = "O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC",
            mode = "0600"
        );
        let mut file = File::from(fd);
        let named = (|| {
            let st = fstat(&file).wrap_err_with(|| format!("checking {}", path.display()))?;
            owned::check(&st, &dir.path().join(&temp), Kind::Regular, 0o600)?;
            // Nobody else looks at this name, so nobody else can hold its lock.
            if !try_lock(&file).wrap_err_with(|| format!("locking {}", path.display()))? {
                color_eyre::eyre::bail!(
                    "{} was locked by another process before it had its name",
                    path.display()
                );
            }
            writeln!(file, "{}", std::process::id())
                .wrap_err_with(|| format!("writing our pid into {}", path.display()))?;
            match renameat2(
                dir.fd(),
                temp.as_str(),
                dir.fd(),
                name.as_str(),
                RenameFlags::RENAME_NOREPLACE,
            ) {
                Ok(()) => Ok(true),
                Err(Errno::EEXIST) => Ok(false),
                Err(e) => {
                    Err(e).wrap_err_with(|| format!("naming the lock file {}", path.display()))
                }
            }
        })();
        match named {
            Ok(true) => {
                crate::trace!(
                    "lock_locked",
                    path = path,
                    how = "fcntl(F_SETLK, F_WRLCK) on the whole file, then renameat2(RENAME_NOREPLACE)",
                    pid = std::process::id()
                );
                Ok(Some(InstanceLock { file, name, path }))
            }
            other => {
                // The failure that brought us here is the one to report; a temporary name
                // that cannot be removed is swept later as a stale one (`stale_temps`).
                if let Err(e) = dir.unlink(&temp) {
                    crate::debug!("removing the temporary lock file {temp}: {e:#}");
                }
                other.map(|_| None)
            }
        }
    }

    /// The temporary names (`.NAME.lock.PID`) that processes which died between creating
    /// and renaming their lock file left behind: PID is no longer alive.
    pub fn stale_temps(dir: &RuntimeDir, paths: &Paths) -> Vec<String> {
        let prefix = format!(".{}.", paths.lock_file());
        let Ok(entries) = std::fs::read_dir(dir.path()) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|f| {
                f.strip_prefix(&prefix)
                    .and_then(|pid| pid.parse::<i32>().ok())
                    .is_some_and(|pid| {
                        pid != std::process::id() as i32 && !crate::os::procfs::alive(pid)
                    })
            })
            .collect()
    }

    /// Examines an existing lock file and takes its lock if nobody holds it.
    pub fn take_existing(dir: &RuntimeDir, paths: &Paths) -> Result<Existing> {
        let name = paths.lock_file();
        let path = paths.in_dir(&name);
        let flags = OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = match openat(dir.fd(), name.as_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(Existing::Missing),
            // A symlink (ELOOP), a directory (EISDIR), a socket (ENXIO): say what stands
            // there and what to do, as for any object not as osps makes it.
            Err(e) => {
                if let Ok(Some(st)) = dir.stat(&name) {
                    owned::check(&st, &path, Kind::Regular, 0o600)?;
                }
                return Err(e).wrap_err_with(|| format!("opening {}", path.display()));
            }
        };
        let file = File::from(fd);
        let st = fstat(&file).wrap_err_with(|| format!("checking {}", path.display()))?;
        owned::check(&st, &path, Kind::Regular, 0o600)?;
        if !try_lock(&file).wrap_err_with(|| format!("locking {}", path.display()))? {
            let pid = holder(&file).ok().flatten();
            return Ok(Existing::Held { pid });
        }
        // We hold the lock of the file we opened; make sure the path still names it, or a
        // remover that finished meanwhile may have let a new primary create a new one.
        match dir.stat(&name)? {
            Some(now) if now.st_ino == st.st_ino && now.st_dev == st.st_dev => {
                Ok(Existing::Stale(InstanceLock { file, name, path }))
            }
            _ => Ok(Existing::Missing),
        }
    }

    /// Looks at the lock without taking it (for `inspect`).
    pub fn probe(dir: &RuntimeDir, paths: &Paths) -> Probe {
        let name = paths.lock_file();
        let mut probe = Probe {
            path: paths.in_dir(&name),
            ..Probe::default()
        };
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = match openat(dir.fd(), name.as_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return probe,
            Err(e) => {
                probe.exists = true;
                probe.error = Some(match dir.stat(&name) {
                    // A symlink, a directory or a socket, which cannot be opened as a file.
                    Ok(Some(st)) if !owned::is_kind(&st, Kind::Regular) => {
                        probe.foreign = Some(owned::type_name(&st));
                        format!("is a {}, not a regular file", owned::type_name(&st))
                    }
                    _ => format!("cannot open: {e}"),
                });
                return probe;
            }
        };
        probe.exists = true;
        let mut file = File::from(fd);
        match fstat(&file) {
            Ok(st) if owned::is_kind(&st, Kind::Regular) => {
                // Cleanup's test of a lock file it may remove: ours and private. Whether
                // anybody holds it is still worth saying.
                if let Some(why) = not_ours(&st) {
                    probe.foreign = Some(owned::type_name(&st));
                    probe.error = Some(why);
                }
            }
            Ok(st) => {
                probe.foreign = Some(owned::type_name(&st));
                probe.error = Some(format!(
                    "is a {}, not a regular file",
                    owned::type_name(&st)
                ));
                return probe;
            }
            Err(e) => {
                probe.error = Some(format!("cannot stat: {e}"));
                return probe;
            }
        }
        match holder(&file) {
            Ok(Some(pid)) => {
                probe.held = true;
                probe.pid = Some(pid);
            }
            Ok(None) => probe.pid = read_pid(&mut file),
            Err(e) => {
                probe
                    .error
                    .get_or_insert(format!("cannot test the lock: {e}"));
            }
        }
        probe
    }

    /// The lock file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The identity (device, inode) of the file we hold locked.
    pub fn id(&self) -> Result<(u64, u64)> {
        let st = fstat(&self.file).wrap_err_with(|| format!("checking {}", self.path.display()))?;
        Ok((st.st_dev, st.st_ino))
    }

    /// Removes the lock file if its path still names the file we locked, then releases
    /// the lock: the last step of every removal. Another file at the path (a newer
    /// instance's) is left in place ([`Unlinked::Replaced`]).
    pub fn remove(self, dir: &RuntimeDir) -> Result<Unlinked> {
        let mine =
            fstat(&self.file).wrap_err_with(|| format!("checking {}", self.path.display()))?;
        let unlinked = dir.unlink_if(&self.name, &mine)?;
        drop(self.file);
        Ok(unlinked)
    }

    /// Checks that the lock file's path still names the file we hold locked, and puts a
    /// lock file of ours back if the path is empty. Called periodically by a live primary.
    ///
    /// A removed file cannot be linked back (`linkat` refuses a file whose link count is
    /// 0 unless it was made with `O_TMPFILE`), so a new one is made exactly as at start
    /// (locked and filled with our pid under a private name, then renamed into place with
    /// `RENAME_NOREPLACE`) and replaces the old one as the lock we hold. If another object
    /// took the path meanwhile, nothing is replaced: that is a conflict, for the caller to
    /// report (a second primary that backs off removes its file, and the next call restores).
    pub fn defend(&mut self, dir: &RuntimeDir) -> Result<Defence> {
        let mine = self.id()?;
        match dir.stat(&self.name)? {
            Some(st) if (st.st_dev, st.st_ino) == mine => {
                self.keep_young(&st);
                return Ok(Defence::Intact);
            }
            Some(st) => return Ok(Defence::Conflict(self.describe_other(dir, &st))),
            None => {}
        }
        match Self::create_named(dir, self.name.clone(), self.path.clone())? {
            Some(fresh) => {
                // The old file is unlinked; our lock on it goes with its descriptor.
                *self = fresh;
                let now = self.id()?;
                match dir.stat(&self.name)? {
                    Some(st) if (st.st_dev, st.st_ino) == now => Ok(Defence::Restored),
                    Some(st) => Ok(Defence::Conflict(self.describe_other(dir, &st))),
                    None => Ok(Defence::Conflict(format!(
                        "{} was removed again as soon as it was restored",
                        self.path.display()
                    ))),
                }
            }
            None => match dir.stat(&self.name)? {
                Some(st) => Ok(Defence::Conflict(self.describe_other(dir, &st))),
                None => Ok(Defence::Conflict(format!(
                    "{} appeared and disappeared while being restored",
                    self.path.display()
                ))),
            },
        }
    }

    /// Refreshes the lock file's access and modification times once they are a minute
    /// old, so an age-based cleaner aging the runtime directory itself (a tmpfiles.d rule
    /// naming it, which ignores the directory's flock) sees a young file. Best effort.
    fn keep_young(&self, st: &nix::sys::stat::FileStat) {
        let now = crate::clock::unix_s();
        if now - st.st_mtime.max(st.st_atime.min(st.st_mtime)) >= 60 {
            let touch = nix::sys::time::TimeSpec::UTIME_NOW;
            let _ = nix::sys::stat::futimens(&self.file, &touch, &touch);
        }
    }

    /// Says what stands at our lock file's path instead of our file, and who holds it.
    fn describe_other(&self, dir: &RuntimeDir, st: &nix::sys::stat::FileStat) -> String {
        let holder = self.probe_holder(dir);
        format!(
            "{} is now another {} (inode {}{}), not the file this primary locked",
            self.path.display(),
            owned::type_name(st),
            st.st_ino,
            holder.map_or(String::new(), |p| format!(", locked by process {p}"))
        )
    }

    fn probe_holder(&self, dir: &RuntimeDir) -> Option<i32> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = openat(dir.fd(), self.name.as_str(), flags, Mode::empty()).ok()?;
        let file = File::from(fd);
        if !owned::is_kind(&fstat(&file).ok()?, Kind::Regular) {
            return None;
        }
        holder(&file).ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, RuntimeDir, Paths) {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("run");
        let dir = RuntimeDir::ensure(&path).unwrap();
        let paths = Paths::new("defended".parse().unwrap(), path);
        (tmp, dir, paths)
    }

    #[test]
    fn an_intact_lock_file_stays_as_it_is() {
        let (_tmp, dir, paths) = setup();
        let mut lock = InstanceLock::create(&dir, &paths).unwrap().unwrap();
        let id = lock.id().unwrap();
        assert_eq!(lock.defend(&dir).unwrap(), Defence::Intact);
        assert_eq!(lock.id().unwrap(), id);
    }

    #[test]
    fn a_removed_lock_file_is_restored_locked_with_our_pid() {
        let (_tmp, dir, paths) = setup();
        let mut lock = InstanceLock::create(&dir, &paths).unwrap().unwrap();
        std::fs::remove_file(lock.path()).unwrap();
        assert_eq!(lock.defend(&dir).unwrap(), Defence::Restored);
        let st = dir.stat(&paths.lock_file()).unwrap().unwrap();
        assert_eq!((st.st_dev, st.st_ino), lock.id().unwrap());
        assert_eq!(owned::perm_bits(&st), 0o600);
        // The kernel lists our lock on the restored file.
        let me = std::process::id() as i32;
        let id = lock.id().unwrap();
        let locks = crate::os::procfs::posix_locks();
        assert!(
            locks.iter().any(|l| l.pid == me && l.is_on(id)),
            "{locks:?}"
        );
        // (Reading it in this process would release our POSIX lock: look from a child.)
        let out = std::process::Command::new("cat")
            .arg(lock.path())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            std::process::id().to_string()
        );
        // No temporary name is left.
        assert!(InstanceLock::stale_temps(&dir, &paths).is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(lock.defend(&dir).unwrap(), Defence::Intact);
    }

    #[test]
    fn an_old_lock_file_is_made_young_again() {
        let (_tmp, dir, paths) = setup();
        let mut lock = InstanceLock::create(&dir, &paths).unwrap().unwrap();
        let old = nix::sys::time::TimeSpec::new(1_000_000, 0);
        nix::sys::stat::futimens(&lock.file, &old, &old).unwrap();
        assert_eq!(lock.defend(&dir).unwrap(), Defence::Intact);
        let st = dir.stat(&paths.lock_file()).unwrap().unwrap();
        assert!(st.st_mtime > 1_700_000_000 && st.st_atime > 1_700_000_000);
    }

    #[test]
    fn another_file_at_the_path_is_a_conflict_and_is_left_alone() {
        let (_tmp, dir, paths) = setup();
        let mut lock = InstanceLock::create(&dir, &paths).unwrap().unwrap();
        let other = dir.path().join("other");
        std::fs::write(&other, "x").unwrap();
        std::fs::rename(&other, lock.path()).unwrap();
        let Defence::Conflict(why) = lock.defend(&dir).unwrap() else {
            panic!("expected a conflict");
        };
        assert!(why.contains("not the file this primary locked"), "{why}");
        assert_eq!(std::fs::read_to_string(lock.path()).unwrap(), "x");
        // Our removal leaves it too.
        let path = lock.path().to_path_buf();
        assert_eq!(lock.remove(&dir).unwrap(), Unlinked::Replaced);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x");
    }

    #[test]
    fn removal_takes_only_the_file_we_locked() {
        let (_tmp, dir, paths) = setup();
        let lock = InstanceLock::create(&dir, &paths).unwrap().unwrap();
        let path = lock.path().to_path_buf();
        assert_eq!(lock.remove(&dir).unwrap(), Unlinked::Removed);
        assert!(!path.exists());
        let lock = InstanceLock::create(&dir, &paths).unwrap().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(lock.remove(&dir).unwrap(), Unlinked::Missing);
    }
}
