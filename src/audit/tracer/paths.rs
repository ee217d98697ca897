//! The paths a traced call names, resolved as the kernel resolves them while the
//! caller is stopped: a relative one from its working directory or directory descriptor
//! (`/proc/PID/cwd`, `/proc/PID/fd/N`), one through `/proc/self` or `/dev/fd` from its own
//! `/proc/PID`, its directory's symbolic links followed, so that one file has one name.

use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::tgid_of;
use crate::audit::longpath;
use crate::audit::memory::{self, Unread};
use crate::audit::syscalls::{self, Base, PATH_MAX};

/// The path a call names, resolved as the kernel resolves it. [`Unread::Denied`] when
/// its memory, or the directory it is relative to (`/proc/PID/cwd`, `/proc/PID/fd/N`),
/// may not be read: a non-dumpable process, to an audit that is not privileged.
pub fn read_path(pid: i32, base: Base, addr: u64) -> Result<Vec<u8>, Unread> {
    let raw = memory::read_cstring(pid, addr, PATH_MAX)?;
    if raw.starts_with(b"/") {
        return Ok(canonical_parent(of_caller(
            pid,
            syscalls::resolve(b"/", &raw),
        )));
    }
    let link = match base {
        Base::Cwd => format!("/proc/{pid}/cwd"),
        Base::Fd(fd) => format!("/proc/{pid}/fd/{fd}"),
    };
    let dir = match std::fs::read_link(&link) {
        Ok(dir) => dir.into_os_string().into_vec(),
        // A directory deeper than PATH_MAX: the kernel cannot name it.
        Err(e) if e.raw_os_error() == Some(libc::ENAMETOOLONG) => {
            longpath::dir_path(std::path::Path::new(&link)).ok_or(Unread::Gone)?
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
            return Err(Unread::Denied);
        }
        Err(_) => return Err(Unread::Gone),
    };
    Ok(canonical_parent(of_caller(
        pid,
        syscalls::resolve(&dir, &raw),
    )))
}

/// A resolved path through `/proc/self`, `/proc/thread-self` or `/dev/fd` named through
/// the caller's (task `pid`'s) own `/proc` directory: resolved here as it is, it would
/// name the audit's.
fn of_caller(pid: i32, path: Vec<u8>) -> Vec<u8> {
    if !path.starts_with(b"/proc/") && !path.starts_with(b"/dev/") {
        return path;
    }
    let tgid = tgid_of(pid).unwrap_or(pid);
    syscalls::of_process(&path, tgid, pid).unwrap_or(path)
}

/// `path` with its directory resolved as the kernel does (symbolic links followed, `..`
/// applied after them), so that one file has one name: a FIFO made as `../f` or through
/// a linked directory and removed by its plain path is the same object. The last
/// component is the file itself and stays as it is; a directory that does not exist
/// (the call will fail) leaves the path unchanged, and so does `/dev/shm/NAME`.
fn canonical_parent(path: Vec<u8>) -> Vec<u8> {
    if path.starts_with(b"/dev/shm/") {
        return path;
    }
    let Some(cut) = path.iter().rposition(|&b| b == b'/') else {
        return path;
    };
    let (dir, name) = (&path[..cut.max(1)], &path[cut + 1..]);
    if name.is_empty() || name == b"." || name == b".." {
        return path;
    }
    let Ok(real) = std::fs::canonicalize(as_path(dir)) else {
        return path;
    };
    let mut out = real.as_os_str().as_bytes().to_vec();
    if out != b"/" {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

pub fn as_path(bytes: &[u8]) -> &std::path::Path {
    std::path::Path::new(std::ffi::OsStr::from_bytes(bytes))
}
