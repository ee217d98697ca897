//! Who holds an instance's lock: an osps primary or cleanup, a stranger (any other
//! program that took the lock, by mistake or not), or nobody any more.
//!
//! The kernel names the holder of a lock; what that process is comes from `/proc`, read
//! after the lock was, so the holder may have exited in between. Its `/proc` entry gone,
//! it would read as a stranger: every look here reads what the process runs first and
//! whether it still lives last, so that a holder gone meanwhile is said to be gone (look
//! at the lock again), never blamed, and never taken for a live instance.

use crate::disk::lockfile;
use crate::disk::names::Paths;
use crate::os::procfs;

/// Whether the process holding an instance's lock is an osps primary or cleanup, as it
/// should be. Anything else (a tool that took the lock, by mistake or not) makes no
/// instance running: it only keeps osps from using or cleaning up the name.
///
/// Its command line must read as `osps primary` or `osps cleanup`; that it is osps rests
/// on what osps wrote (the lock file names a primary, see [`vouched_for`]), or on its
/// running this very binary, never on what its executable is called.
pub fn is_osps_holder(pid: i32, paths: &Paths) -> bool {
    match procfs::subcommand(pid).as_deref() {
        Some("primary") => procfs::runs_osps(pid) || vouched_for(pid, paths, None),
        // A cleanup writes nothing: only its binary tells.
        Some("cleanup") => procfs::runs_osps(pid),
        _ => false,
    }
}

/// Whether what the instance's primary wrote names `pid`: the pid in the lock file (see
/// [`lockfile::written_pid`]), or `header_pid`, the segment header's primary pid. Either
/// is written by osps alone, so a renamed copy of the binary (`cp osps /tmp/x`), or a
/// rebuilt one, is known for what it is.
pub(super) fn vouched_for(pid: i32, paths: &Paths, header_pid: Option<u64>) -> bool {
    header_pid.is_some_and(|p| p == pid as u64) || lockfile::written_pid(paths) == Some(pid)
}

/// What holds an instance's lock when it is not osps, for messages: "process N (cmd)".
pub fn foreign_holder_text(paths: &Paths, pid: i32) -> String {
    stranger_text(paths, pid, &procfs::command_text(pid))
}

/// [`foreign_holder_text`] with the holder's command line as it was read.
fn stranger_text(paths: &Paths, pid: i32, command: &str) -> String {
    format!(
        "the lock file {} is held by process {pid} ({command}), which is not an osps primary: \
         nothing can use or clean up instance {} while it holds it; end that process, or \
         choose another --name",
        paths.in_dir(&paths.lock_file()).display(),
        paths.name
    )
}

/// What holds an instance's lock, as one look at the process the kernel named tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holding {
    /// A live osps primary or cleanup ([`is_osps_holder`]).
    Osps(i32),
    /// A live process that is not osps, with its command line as read.
    Stranger { pid: i32, command: String },
    /// Nobody any more: the holder exited before the look ended (or the kernel named
    /// none). Its `/proc` entry gone, it would read as a stranger; it is neither a stranger
    /// nor a live instance: look at the lock again.
    Gone,
}

impl Holding {
    /// Why the instance cannot be used or cleaned up, when a stranger holds its lock.
    pub fn stranger_text(&self, paths: &Paths) -> Option<String> {
        match self {
            Holding::Stranger { pid, command } => Some(stranger_text(paths, *pid, command)),
            Holding::Osps(_) | Holding::Gone => None,
        }
    }
}

/// Looks at `pid`, the holder of an instance's lock the kernel reported: what it runs
/// first, then whether it still lives, so that what was read is a live process's.
pub fn holding(pid: Option<i32>, paths: &Paths) -> Holding {
    let Some(pid) = pid else {
        return Holding::Gone;
    };
    let osps = is_osps_holder(pid, paths);
    let command = procfs::command_text(pid);
    match (procfs::alive(pid), osps) {
        (false, _) => Holding::Gone,
        (true, true) => Holding::Osps(pid),
        (true, false) => Holding::Stranger { pid, command },
    }
}

/// Whether the process holding a lock is an `osps cleanup` (worth waiting for).
pub fn is_cleanup(pid: Option<i32>) -> bool {
    pid.and_then(procfs::subcommand)
        .is_some_and(|s| s == "cleanup")
}

/// Who holds an instance's lock, as a look at `/proc` after a look at the lock tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockHolder {
    /// An `osps cleanup`: it lets go once done, so it is worth waiting for.
    Cleanup,
    /// Nobody any more: the holder exited between the look at the lock and the look at
    /// the process (or the kernel named none). Look at the lock again; never take this for
    /// a live instance.
    Gone,
    /// A live process that is not a cleanup: a primary, or a stranger.
    Other,
}

/// Classifies the holder `pid` the kernel reported for a lock (`None`: it reported none,
/// the lock was let go after our try). Its command line is read first, then whether it
/// still lives: what was read is then a live process's.
pub fn lock_holder(pid: Option<i32>) -> LockHolder {
    let Some(pid) = pid else {
        return LockHolder::Gone;
    };
    let cleanup = is_cleanup(Some(pid));
    match (procfs::alive(pid), cleanup) {
        (false, _) => LockHolder::Gone,
        (true, true) => LockHolder::Cleanup,
        (true, false) => LockHolder::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::disk::testlock::{Holder, stale_lock};

    /// A stranger's arguments may hold a newline (a false line after ours) or a terminal's
    /// escape sequence: the message that names it shows them escaped.
    #[test]
    fn a_stranger_is_named_with_its_control_characters_escaped() {
        let (_tmp, _dir, paths) = stale_lock("evilcmd");
        let evil = "x\nosps: instance evilcmd is safe to remove\u{1b}[2J";
        let holder = Holder::lock_with(&paths.in_dir(&paths.lock_file()), &[evil]);
        let text = holding(Some(holder.pid()), &paths)
            .stranger_text(&paths)
            .expect("a python3 process is a stranger");
        assert!(
            !text.contains('\n') && !text.contains('\u{1b}'),
            "raw control characters in {text:?}"
        );
        assert!(
            text.contains(r"x\nosps: instance evilcmd is safe to remove\u{1b}[2J"),
            "{text}"
        );
        assert!(!foreign_holder_text(&paths, holder.pid()).contains('\n'));
    }
}
