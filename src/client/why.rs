//! Why an instance's socket did not answer, in the instance's terms (none running, a
//! stale one, one running rounds rather than serving, one starting, a stranger's object
//! at its socket's path), read from its lock
//! file and segment as `inspect` does.

use std::io::ErrorKind;
use std::time::Duration;

use crate::disk::lockfile::InstanceLock;
use crate::disk::names::Paths;
use crate::disk::owned::{self, Kind};
use crate::disk::rundir::RuntimeDir;
use crate::os::procfs;
use crate::pair::header;
use crate::pair::segment;

/// The runtime directory of an instance of which nothing exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dir {
    /// There, and osps would use it.
    Usable,
    /// Nothing at its path.
    Missing,
    /// Something at its path that osps refuses, and why.
    Refused(String),
}

/// Why an instance's socket did not answer, from its lock file and segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// Nothing of the instance exists.
    Absent { dir: Dir },
    /// Its primary is gone and left its objects.
    Stale,
    /// A primary holds the lock in rounds mode: it will never listen.
    Rounds { pid: Option<i32> },
    /// A serving primary holds the lock but its socket does not answer (yet): it is
    /// starting (`starting`: its header says so, or there is no header yet), or its socket
    /// was removed and is being made anew.
    Starting { pid: Option<i32>, starting: bool },
    /// A serving primary holds the lock, but another object (of this type) stands at its
    /// socket's path: not osps's to remove, so nobody can connect until it is gone.
    Taken {
        pid: Option<i32>,
        kind: &'static str,
    },
}

impl Why {
    pub fn message(&self, paths: &Paths, timeout: Duration) -> String {
        let name = &paths.name;
        let start = format!("start it with `osps primary --serve --name {name}`");
        let pid_text = |pid: &Option<i32>| {
            pid.map(|p| format!(" (primary pid {p})"))
                .unwrap_or_default()
        };
        match self {
            Why::Absent { dir: Dir::Missing } => format!(
                "no instance {name} is running (no runtime directory {}); {start}",
                paths.runtime_dir.display()
            ),
            Why::Absent {
                dir: Dir::Refused(why),
            } => format!("no instance {name} can be running there: {why}"),
            Why::Absent { dir: Dir::Usable } => format!("no instance {name} is running; {start}"),
            Why::Stale => format!(
                "instance {name} is not running (its primary is gone and left its objects); \
                 run `osps cleanup --name {name}`, then {start}"
            ),
            Why::Rounds { pid } => format!(
                "instance {name} is running in rounds mode, not serving{}; start it with --serve",
                pid_text(pid)
            ),
            Why::Starting {
                pid,
                starting: true,
            } => format!(
                "instance {name} is starting{} and did not accept a connection within \
                 --timeout {timeout:?}; try again in a moment, or raise --timeout \
                 (`osps status {name}` tells how it is)",
                pid_text(pid)
            ),
            Why::Starting {
                pid,
                starting: false,
            } => format!(
                "instance {name} is serving{}, but its socket {} did not accept a connection \
                 within --timeout {timeout:?} (removed while it runs? it makes a removed one \
                 anew within a second, and says on its stderr when it cannot); \
                 `osps status {name}` tells whether it runs",
                pid_text(pid),
                paths.in_dir(&paths.socket_file()).display()
            ),
            Why::Taken { pid, kind } => format!(
                "instance {name} is serving{}, but a {kind} stands at its socket's path {}, \
                 not osps's socket: no client can connect until you look at it and remove \
                 it by hand (the primary then makes its socket anew within two seconds)",
                pid_text(pid),
                paths.in_dir(&paths.socket_file()).display()
            ),
        }
    }
}

/// What the instance's lock file and segment say about why its socket did not answer.
/// Read-only, like `inspect`: never takes the lock, never opens a FIFO.
pub fn why_not_serving(paths: &Paths) -> Why {
    let dir = match RuntimeDir::open_existing(&paths.runtime_dir) {
        Ok(dir) => dir,
        // Only a directory that is not there is "no runtime directory": one that is there
        // but refused (a symbolic link, a file, someone else's, open to others) says why,
        // as the primary would, rather than being called missing.
        Err(_)
            if std::fs::symlink_metadata(&paths.runtime_dir)
                .is_err_and(|e| e.kind() == ErrorKind::NotFound) =>
        {
            return Why::Absent { dir: Dir::Missing };
        }
        Err(e) => {
            return Why::Absent {
                dir: Dir::Refused(format!("{e:#}")),
            };
        }
    };
    let lock = InstanceLock::probe(&dir, paths);
    let look = segment::look(paths).ok().flatten();
    if lock.held {
        let pid = lock.pid;
        // A primary whose command line is not readable yet (a moment after its exec) is
        // taken for a serving one: waiting costs at most --timeout.
        let serving = pid.is_none_or(|p| procfs::serves(p) || procfs::cmdline(p).is_empty());
        if !serving {
            return Why::Rounds { pid };
        }
        let state = look.as_ref().and_then(|l| {
            let head = l.head.as_slice();
            let at = header::Field::PrimaryState.offset();
            let word = head.get(at..at + 8)?.try_into().ok()?;
            header::has_magic(head)
                .then(|| header::State::from_u64(u64::from_ne_bytes(word)))
                .flatten()
        });
        let starting = matches!(state, None | Some(header::State::Starting));
        if let Ok(Some(st)) = dir.stat(&paths.socket_file()) {
            if !owned::is_kind(&st, Kind::Socket) {
                let kind = owned::type_name(&st);
                return Why::Taken { pid, kind };
            }
        }
        return Why::Starting { pid, starting };
    }
    if lock.exists || look.is_some() {
        return Why::Stale;
    }
    Why::Absent { dir: Dir::Usable }
}
