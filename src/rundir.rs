//! The runtime directory: a private (mode 0700) directory of ours holding the lock file
//! and the FIFOs of each instance.
//!
//! We open it once, check it with `fstat` on the open descriptor, and create or open
//! every object relative to that descriptor (`openat`, `mkfifoat`, `unlinkat`), so a
//! directory swapped under our feet after the check cannot redirect us elsewhere.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr, bail};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};
use nix::unistd::mkdir;
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::owned::{self, Kind};

/// An open, checked runtime directory.
#[derive(Debug)]
pub struct RuntimeDir {
    fd: OwnedFd,
    path: PathBuf,
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
                         writable, or choose another with --runtime-dir",
                        path.display()
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
            Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => bail!(
                "the runtime directory {} is a symbolic link or not a directory: osps refuses it; \
                 remove it or choose another with --runtime-dir",
                path.display()
            ),
            Err(e) => {
                return Err(e)
                    .wrap_err_with(|| format!("opening the runtime directory {}", path.display()));
            }
        };
        let st = fstat(&fd)
            .wrap_err_with(|| format!("checking the runtime directory {}", path.display()))?;
        if st.st_uid != crate::names::uid() {
            bail!(
                "the runtime directory {} belongs to uid {}, not to us (uid {}): osps refuses it; \
                 choose another with --runtime-dir",
                path.display(),
                st.st_uid,
                crate::names::uid()
            );
        }
        if owned::perm_bits(&st) & 0o077 != 0 {
            bail!(
                "the runtime directory {} has mode {:04o}: group or others can reach it, so osps \
                 refuses it; run `chmod 700 {}` or choose another with --runtime-dir",
                path.display(),
                owned::perm_bits(&st),
                path.display()
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
