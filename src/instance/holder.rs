//! Who holds an instance's lock: an osps primary or cleanup, a stranger (any other
//! program that took the lock, by mistake or not), or nobody any more.
//!
//! The kernel names the holder of a lock; what that process is comes from `/proc`, read
//! after the lock was, so the holder may have exited in between. Its `/proc` entry gone,
//! it would read as a stranger: every look here reads what the process runs first and
//! whether it still lives last, so that a holder gone meanwhile is said to be gone (look
//! at the lock again), never blamed, and never taken for a live instance.
//!
//! A holder on its way out is no stranger either: while it exits, its memory (hence its
//! command line and executable) goes before its files and locks do. It is waited for, a
//! little ([`EXIT_WAIT`]), and then it is gone, or said to be still exiting.

use std::time::{Duration, Instant};

use crate::disk::lockfile;
use crate::disk::names::Paths;
use crate::os::procfs::{self, Life};

/// How long a lock holder that is exiting is waited for before it is said to be still
/// exiting: a process lets go of its files within milliseconds of its memory, unless one
/// of its threads lives on.
pub const EXIT_WAIT: Duration = Duration::from_millis(500);

/// How often an exiting holder is looked at while it is waited for.
const EXIT_POLL: Duration = Duration::from_millis(5);

/// What `pid` comes to once, if it was exiting, it was waited for (up to [`EXIT_WAIT`]):
/// [`Life::Exiting`] only when it still is.
pub fn settle(pid: i32) -> Life {
    let deadline = Instant::now() + EXIT_WAIT;
    loop {
        match procfs::life(pid) {
            Life::Exiting if Instant::now() < deadline => std::thread::sleep(EXIT_POLL),
            life => return life,
        }
    }
}

/// Why the instance cannot be used or cleaned up now, when the holder of its lock is
/// still exiting after [`EXIT_WAIT`].
pub fn exiting_text(paths: &Paths, pid: i32) -> String {
    format!(
        "the lock file {} is held by process {pid}, which is exiting (its program is gone) \
         but had not let go of the lock after {}ms: try again in a moment; if it stays so, \
         one of its threads lives on: end process {pid}",
        paths.in_dir(&paths.lock_file()).display(),
        EXIT_WAIT.as_millis()
    )
}

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
    /// A process still exiting after [`EXIT_WAIT`] ([`exiting_text`]): neither osps nor a
    /// stranger any more, nor gone yet.
    Exiting(i32),
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
            Holding::Osps(_) | Holding::Gone | Holding::Exiting(_) => None,
        }
    }
}

/// Looks at `pid`, the holder of an instance's lock the kernel reported: what it runs
/// first, then whether it still runs, so that what was read is a running process's (one
/// that is exiting is waited for: [`settle`]).
pub fn holding(pid: Option<i32>, paths: &Paths) -> Holding {
    let Some(pid) = pid else {
        return Holding::Gone;
    };
    let osps = is_osps_holder(pid, paths);
    let command = procfs::command_text(pid);
    match (settle(pid), osps) {
        (Life::Gone, _) => Holding::Gone,
        (Life::Exiting, _) => Holding::Exiting(pid),
        (Life::Running, true) => Holding::Osps(pid),
        (Life::Running, false) => Holding::Stranger { pid, command },
    }
}

/// Whether the process holding a lock is an `osps cleanup` (worth waiting for): its
/// command line reads so and it runs osps, for any program's arguments may say `cleanup`.
pub fn is_cleanup(pid: Option<i32>) -> bool {
    pid.is_some_and(|pid| {
        procfs::subcommand(pid).is_some_and(|s| s == "cleanup") && procfs::runs_osps(pid)
    })
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
    /// A process still exiting after [`EXIT_WAIT`] ([`exiting_text`]).
    Exiting,
}

/// Classifies the holder `pid` the kernel reported for a lock (`None`: it reported none,
/// the lock was let go after our try). Its command line is read first, then whether it
/// still runs: what was read is then a running process's (one that is exiting is waited
/// for: [`settle`]).
pub fn lock_holder(pid: Option<i32>) -> LockHolder {
    let Some(pid) = pid else {
        return LockHolder::Gone;
    };
    let cleanup = is_cleanup(Some(pid));
    match (settle(pid), cleanup) {
        (Life::Gone, _) => LockHolder::Gone,
        (Life::Exiting, _) => LockHolder::Exiting,
        (Life::Running, true) => LockHolder::Cleanup,
        (Life::Running, false) => LockHolder::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::disk::lockfile::InstanceLock;
    use crate::disk::testlock::{Holder, stale_lock};

    /// A holder on its way out (its main thread a zombie, its command line empty, its
    /// executable unreadable) that lets go of the lock 100ms later: waited for, then gone,
    /// and the lock is free by then. It used to read as gone at once, the lock still held
    /// (claim then tried 50 times within a few milliseconds and gave up), or, while its
    /// main thread was not a zombie yet, as a stranger with an empty command line.
    #[test]
    fn an_exiting_holder_is_waited_for_and_then_gone() {
        let (_tmp, dir, paths) = stale_lock("exitinggone");
        let mut holder = Holder::lock_exiting(&paths.in_dir(&paths.lock_file()));
        assert_eq!(procfs::command_text(holder.pid()), "", "its memory is gone");
        assert_eq!(procfs::life(holder.pid()), Life::Exiting);
        let pid = holder.pid();
        let ender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            holder.end();
        });
        let started = Instant::now();
        assert_eq!(holding(Some(pid), &paths), Holding::Gone);
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "not waited for"
        );
        assert!(
            !InstanceLock::probe(&dir, &paths).held,
            "gone, but the lock held"
        );
        ender.join().unwrap();
    }

    /// A holder still exiting after the wait is said to be so, with what to do: neither a
    /// stranger, nor gone (which would make the caller look again at once), nor osps.
    #[test]
    fn a_holder_still_exiting_after_the_wait_is_said_to_be_exiting() {
        let (_tmp, _dir, paths) = stale_lock("exitingstill");
        let holder = Holder::lock_exiting(&paths.in_dir(&paths.lock_file()));
        let started = Instant::now();
        assert_eq!(
            holding(Some(holder.pid()), &paths),
            Holding::Exiting(holder.pid())
        );
        assert!(started.elapsed() >= EXIT_WAIT);
        assert!(started.elapsed() < EXIT_WAIT * 4, "{:?}", started.elapsed());
        assert_eq!(lock_holder(Some(holder.pid())), LockHolder::Exiting);
        let text = exiting_text(&paths, holder.pid());
        assert!(
            text.contains(&format!("process {}, which is exiting", holder.pid()))
                && text.contains("exitingstill.lock")
                && text.contains("try again"),
            "{text}"
        );
    }

    /// A stranger whose arguments read as `cleanup --name NAME` is no osps cleanup; a
    /// program named osps that reads so is one.
    #[test]
    fn only_an_osps_binary_reading_as_cleanup_is_a_cleanup() {
        crate::os::procfs::read_command_lines_with(crate::cli::invocation_of);
        let (_tmp, _dir, paths) = stale_lock("fakecleanup");
        let lock = paths.in_dir(&paths.lock_file());
        let stranger = Holder::lock_as_cleanup(&lock, "fakecleanup");
        assert_eq!(
            procfs::subcommand(stranger.pid()).as_deref(),
            Some("cleanup")
        );
        assert!(!is_cleanup(Some(stranger.pid())));
        assert_eq!(lock_holder(Some(stranger.pid())), LockHolder::Other);
        drop(stranger);
        let osps = Holder::lock_as_osps_cleanup(&lock, "fakecleanup");
        assert!(is_cleanup(Some(osps.pid())));
        assert_eq!(lock_holder(Some(osps.pid())), LockHolder::Cleanup);
    }

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
