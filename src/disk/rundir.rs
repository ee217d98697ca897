//! The runtime directory: a private (mode 0700) directory of ours holding the lock file
//! and the FIFOs of each instance.
//!
//! We open it once, check it with `fstat` on the open descriptor, and create or open
//! every object relative to that descriptor (`openat`, `mkfifoat`, `unlinkat`), so a
//! directory swapped under our feet after the check cannot redirect us elsewhere.
//!
//! Removal is by identity: [`RuntimeDir::unlink_if`] removes a name only while it still
//! names the very object (device and inode) its caller created or checked, so an old
//! primary never removes what a newer instance put under the same name. And a live
//! instance keeps its directory out of age-based cleaners (`systemd-tmpfiles --clean`,
//! see tmpfiles.d(5)) by holding a shared BSD `flock` on it ([`AgingGuard`]).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, Flock, FlockArg, OFlag, open, openat};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};
use nix::unistd::mkdir;
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::disk::owned::{self, Kind};

/// What [`RuntimeDir::unlink_if`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unlinked {
    /// The name named our object and is gone now.
    Removed,
    /// Nothing had that name any more.
    Missing,
    /// Another object has that name: it was left in place.
    Replaced,
}

/// A shared `flock` on the runtime directory, released when dropped (or when the process
/// dies: the kernel drops it with the last descriptor).
pub struct AgingGuard(#[allow(dead_code)] Flock<OwnedFd>);

impl std::fmt::Debug for AgingGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgingGuard")
    }
}

/// Whether two stat results are of the very same object: device, inode and file type.
pub fn same_object(a: &FileStat, b: &FileStat) -> bool {
    let kind = |st: &FileStat| st.st_mode & libc::S_IFMT;
    (a.st_dev, a.st_ino, kind(a)) == (b.st_dev, b.st_ino, kind(b))
}

/// Directories whose mode must never be changed to suit osps: shared (sticky, like /tmp),
/// system directories, and the home directory.
fn chmod_is_safe(path: &Path, st: &FileStat) -> bool {
    const SYSTEM: &[&str] = &[
        "/",
        "/tmp",
        "/var/tmp",
        "/dev",
        "/dev/shm",
        "/run",
        "/run/user",
        "/run/lock",
        "/var",
        "/var/lock",
        "/usr",
        "/etc",
        "/home",
        "/root",
        "/opt",
        "/srv",
        "/mnt",
        "/media",
        "/boot",
        "/proc",
        "/sys",
        "/bin",
        "/sbin",
        "/lib",
        "/lib64",
    ];
    let sticky = st.st_mode & libc::S_ISVTX != 0;
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let home = std::env::var_os("HOME").map(PathBuf::from);
    !sticky
        && !SYSTEM.iter().any(|s| real == Path::new(s))
        && home.is_none_or(|h| std::fs::canonicalize(&h).unwrap_or(h) != real)
}

/// An open, checked runtime directory.
#[derive(Debug)]
pub struct RuntimeDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// How to choose another runtime directory: `--runtime-dir`, and `OSPS_RUNTIME_DIR` too
/// when it names the directory refused, which then may have come from it, with no
/// `--runtime-dir` on the command line to change.
fn another_dir(refused: &Path) -> String {
    match std::env::var_os("OSPS_RUNTIME_DIR").filter(|v| Path::new(v) == refused) {
        Some(v) => format!(
            "--runtime-dir or in OSPS_RUNTIME_DIR (now {})",
            Path::new(&v).display()
        ),
        None => "--runtime-dir".to_string(),
    }
}

impl RuntimeDir {
    /// Opens the directory, creating it with mode 0700 if it does not exist, and checks it.
    pub fn ensure(path: &Path) -> Result<Self> {
        let created = match mkdir(path, Mode::S_IRWXU) {
            Ok(()) => true,
            Err(Errno::EEXIST) => false,
            Err(e) => {
                return Err(e).wrap_err_with(|| {
                    format!(
                        "creating the runtime directory {}: check that its parent exists and is \
                         writable, or choose another with {}",
                        path.display(),
                        another_dir(path)
                    )
                });
            }
        };
        let dir = Self::open_existing(path)?;
        crate::trace!("runtime_dir", path = path, created = created, mode = "0700");
        Ok(dir)
    }

    /// Opens and checks a directory that must already exist (the secondary, inspect, cleanup).
    pub fn open_existing(path: &Path) -> Result<Self> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = match open(path, flags, Mode::empty()) {
            Ok(fd) => fd,
            // O_NOFOLLOW with O_DIRECTORY says ENOTDIR for a symbolic link too: lstat tells.
            Err(Errno::ELOOP | Errno::ENOTDIR) if path.is_symlink() => bail!(
                "the runtime directory {} is a symbolic link: osps refuses it (it could lead \
                 anywhere); choose a real directory with {}",
                path.display(),
                another_dir(path)
            ),
            Err(Errno::ELOOP | Errno::ENOTDIR) => bail!(
                "the runtime directory {} is not a directory: osps refuses it; choose another \
                 with {}",
                path.display(),
                another_dir(path)
            ),
            Err(e) => {
                return Err(e)
                    .wrap_err_with(|| format!("opening the runtime directory {}", path.display()));
            }
        };
        let st = fstat(&fd)
            .wrap_err_with(|| format!("checking the runtime directory {}", path.display()))?;
        if st.st_uid != crate::disk::names::uid() {
            bail!(
                "the runtime directory {} belongs to uid {}, not to us (uid {}): osps refuses it; \
                 choose another with {}",
                path.display(),
                st.st_uid,
                crate::disk::names::uid(),
                another_dir(path)
            );
        }
        if owned::perm_bits(&st) & 0o077 != 0 {
            // Advising chmod on /tmp or a home directory would break the system or expose
            // the user: only a private-looking directory of ours gets that hint.
            let hint = if chmod_is_safe(path, &st) {
                format!(
                    "run `chmod 700 {}` or choose another with {}",
                    path.display(),
                    another_dir(path)
                )
            } else {
                format!(
                    "it is a shared or system directory: do not change its mode, choose another \
                     runtime directory, for example $XDG_RUNTIME_DIR/osps, with {}",
                    another_dir(path)
                )
            };
            bail!(
                "the runtime directory {} has mode {:04o}: group or others can reach it, so osps \
                 refuses it; {hint}",
                path.display(),
                owned::perm_bits(&st),
            );
        }
        owned::check(&st, path, Kind::Directory, owned::perm_bits(&st))?;
        Ok(RuntimeDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory descriptor, for the `*at` calls of other modules.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// A path to the very directory we hold open (`/proc/self/fd/N`): listing or watching
    /// it reaches this directory, whatever its own path names by now.
    pub fn held_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// `lstat` of an entry (never follows a symlink); `None` when it does not exist.
    pub fn stat(&self, file: &str) -> Result<Option<FileStat>> {
        match fstatat(&self.fd, file, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => {
                Err(e).wrap_err_with(|| format!("examining {}", self.path.join(file).display()))
            }
        }
    }

    /// Removes an entry only while it is still the object `expected` (same device, inode
    /// and file type) that the caller created or checked. Another object under that name
    /// (a newer instance's, or one an outside hand put there) is left alone and reported
    /// as [`Unlinked::Replaced`]. The type guards against a freed inode number being
    /// reused at once for a file planted under the name (a FIFO nobody holds open).
    ///
    /// Linux cannot unlink by descriptor, so a window of two syscalls remains between the
    /// check and the unlink; in our private 0700 directory only our own user can use it.
    pub fn unlink_if(&self, file: &str, expected: &FileStat) -> Result<Unlinked> {
        match self.stat(file)? {
            None => Ok(Unlinked::Missing),
            Some(st) if !same_object(&st, expected) => Ok(Unlinked::Replaced),
            Some(_) => Ok(if self.unlink(file)? {
                Unlinked::Removed
            } else {
                Unlinked::Missing
            }),
        }
    }

    /// Holds a shared BSD `flock` on the directory for as long as the guard lives: the
    /// convention of tmpfiles.d(5) that keeps a directory (and all below it) out of aging.
    /// Shared, so every instance in the directory can hold it at once; a cleaner that is
    /// scanning the directory holds it exclusively for a moment, so we retry for a second.
    pub fn hold_against_aging(&self) -> Result<AgingGuard> {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            // Our own open file description: a flock belongs to it, and closing another
            // descriptor of the directory must not release ours.
            let fd = openat(
                &self.fd,
                ".",
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .wrap_err_with(|| format!("opening the runtime directory {}", self.path.display()))?;
            match Flock::lock(fd, FlockArg::LockSharedNonblock) {
                Ok(lock) => return Ok(AgingGuard(lock)),
                Err((_, Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err((_, e)) => {
                    return Err(e).wrap_err_with(|| {
                        format!(
                            "locking the runtime directory {} against age-based cleaners \
                             (flock LOCK_SH); another process holds it exclusively",
                            self.path.display()
                        )
                    });
                }
            }
        }
    }

    /// Removes an entry; a missing entry is not an error (another cleanup got there first).
    pub fn unlink(&self, file: &str) -> Result<bool> {
        match unlinkat(&self.fd, file, UnlinkatFlags::NoRemoveDir) {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => {
                Err(e).wrap_err_with(|| format!("removing {}", self.path.join(file).display()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with_mode(mode: u32) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("run");
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .unwrap();
        (tmp, path)
    }

    #[test]
    fn chmod_is_advised_only_for_a_private_looking_directory_of_ours() {
        let (_tmp, open) = dir_with_mode(0o755);
        let err = format!("{:#}", RuntimeDir::open_existing(&open).unwrap_err());
        assert!(err.contains("chmod 700"), "{err}");
        let (_tmp, sticky) = dir_with_mode(0o1777);
        let err = format!("{:#}", RuntimeDir::open_existing(&sticky).unwrap_err());
        assert!(!err.contains("chmod"), "{err}");
        assert!(err.contains("--runtime-dir"), "{err}");
        let root = fstat(open_dir(Path::new("/"))).unwrap();
        assert!(!chmod_is_safe(Path::new("/"), &root));
        assert!(!chmod_is_safe(Path::new("/tmp/"), &root));
    }

    fn open_dir(path: &Path) -> OwnedFd {
        open(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap()
    }

    #[test]
    fn unlink_if_leaves_a_replaced_object_alone() {
        let (_tmp, path) = dir_with_mode(0o700);
        let dir = RuntimeDir::open_existing(&path).unwrap();
        std::fs::write(path.join("a"), "1").unwrap();
        let old = dir.stat("a").unwrap().unwrap();
        // Kept under another name, so its inode number cannot be reused below.
        std::fs::rename(path.join("a"), path.join("kept")).unwrap();
        assert_eq!(dir.unlink_if("a", &old).unwrap(), Unlinked::Missing);
        std::fs::write(path.join("b"), "2").unwrap();
        std::fs::rename(path.join("b"), path.join("a")).unwrap();
        assert_eq!(dir.unlink_if("a", &old).unwrap(), Unlinked::Replaced);
        assert!(path.join("a").exists());
        let st = dir.stat("a").unwrap().unwrap();
        assert_eq!(dir.unlink_if("a", &st).unwrap(), Unlinked::Removed);
        assert!(!path.join("a").exists());
    }

    #[test]
    fn the_aging_guard_is_shared_and_blocks_an_exclusive_lock() {
        let (_tmp, path) = dir_with_mode(0o700);
        let dir = RuntimeDir::open_existing(&path).unwrap();
        let a = dir.hold_against_aging().unwrap();
        let b = dir.hold_against_aging().unwrap();
        // What systemd-tmpfiles tries before it ages a directory.
        let exclusive = Flock::lock(open_dir(&path), FlockArg::LockExclusiveNonblock);
        assert!(matches!(exclusive, Err((_, Errno::EWOULDBLOCK))));
        drop((a, b));
        assert!(Flock::lock(open_dir(&path), FlockArg::LockExclusiveNonblock).is_ok());
    }
}
