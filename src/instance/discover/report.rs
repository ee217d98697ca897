//! The report of one instance: the `Serialize` structs that `osps inspect` prints
//! (schema/inspect.schema.json), that `cleanup` plans from and the views draw. The field
//! names are a public contract: renaming one changes the JSON.

use std::fmt;
use std::path::Path;

use nix::sys::stat::FileStat;
use serde::Serialize;

use super::status::Status;
use crate::disk::lockfile::Probe;
use crate::disk::names::Paths;
use crate::disk::owned::{self, Kind};
use crate::disk::rundir::RuntimeDir;
use crate::instance::claim::LivePrimary;
use crate::os::procfs::Holder;
use crate::pair::header::{self, Header, State};

#[derive(Debug, Serialize)]
pub struct InstanceReport {
    /// Where its objects are (not in the document: `name` and each object's `path` are).
    #[serde(skip)]
    pub paths: Paths,
    pub name: String,
    pub status: Status,
    /// What looks wrong without changing the status ("lock file missing", ...).
    pub warnings: Vec<Warning>,
    pub lock: Lock,
    pub primary: Primary,
    pub secondary: Secondary,
    /// Every secondary of the pool (one unless `--serve --secondaries N`).
    pub secondaries: Vec<PoolMember>,
    /// Connected clients and queued requests (`--serve`; 0 otherwise).
    pub clients: Option<u64>,
    pub queue: Option<u64>,
    pub segment: SegmentReport,
    pub fifos: Vec<Fifo>,
    pub socket: Object,
    /// The live primary found without a held lock file, if so (for cleanup's reason).
    #[serde(skip)]
    pub live: Option<LivePrimary>,
}

impl InstanceReport {
    /// The warning that a program other than osps holds the lock, when one does.
    pub fn foreign_lock_holder(&self) -> Option<&Warning> {
        self.warnings
            .iter()
            .find(|w| w.concern() == Concern::ForeignLockHolder)
    }

    /// Why what stands at the socket's path is not a socket osps makes (its type, owner
    /// or mode), when it is not: a stranger's, which cleanup and a stopping primary leave.
    pub fn socket_error(&self) -> Option<String> {
        self.socket.foreign_error(Kind::Socket)
    }

    /// The warning that the lock's holder is still exiting after the wait
    /// ([`crate::instance::holder::EXIT_WAIT`]), when it is.
    pub fn exiting_lock_holder(&self) -> Option<&Warning> {
        self.warnings
            .iter()
            .find(|w| w.concern() == Concern::ExitingLockHolder)
    }
}

#[derive(Debug, Serialize)]
pub struct PoolMember {
    pub index: usize,
    pub pid: Option<i32>,
    pub alive: bool,
    #[serde(serialize_with = "header::state_or_unknown")]
    pub state: Option<State>,
    pub restarts: u64,
    pub requests_served: u64,
    /// Milliseconds since this secondary's last heartbeat (`CLOCK_MONOTONIC`).
    pub heartbeat_age_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Lock {
    pub path: String,
    pub exists: bool,
    pub held: bool,
    pub pid: Option<i32>,
    pub error: Option<String>,
    /// Lock files left half made (`.NAME.lock.PID`) by a process that died between
    /// creating and naming one: leftovers of the instance, which cleanup removes. Left out
    /// of the JSON when there is none, as almost always.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub temps: Vec<String>,
    /// What stands at the path when it is not a lock file osps makes (`error` says why):
    /// cleanup leaves it, and the instance, alone.
    #[serde(skip)]
    pub foreign: Option<&'static str>,
}

impl From<Probe> for Lock {
    fn from(p: Probe) -> Lock {
        Lock {
            path: p.path.display().to_string(),
            exists: p.exists,
            held: p.held,
            pid: p.pid,
            error: p.error,
            temps: Vec::new(),
            foreign: p.foreign,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Primary {
    pub pid: Option<i32>,
    pub alive: bool,
    pub state: Option<State>,
    /// Milliseconds since the primary's last heartbeat (`CLOCK_MONOTONIC`), from the header.
    pub heartbeat_age_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Secondary {
    pub pid: Option<i32>,
    pub alive: bool,
    pub state: Option<State>,
    pub restarts: Option<u64>,
    /// Milliseconds since the first secondary's last heartbeat (`CLOCK_MONOTONIC`).
    pub heartbeat_age_ms: Option<u64>,
}

/// What is at one path, from `lstat` (never following a symlink, never opening it).
#[derive(Debug, Serialize)]
pub struct Object {
    pub path: String,
    pub exists: bool,
    #[serde(rename = "type")]
    pub file_type: Option<&'static str>,
    pub mode: Option<String>,
    pub uid: Option<u32>,
    #[serde(skip)]
    pub id: Option<(u64, u64)>,
    #[serde(skip)]
    pub stat: Option<FileStat>,
}

impl Object {
    pub fn new(path: &Path, st: Option<&FileStat>) -> Object {
        Object {
            path: path.display().to_string(),
            exists: st.is_some(),
            file_type: st.map(owned::type_name),
            mode: st.map(|st| format_mode(owned::perm_bits(st))),
            uid: st.map(|st| st.st_uid),
            id: st.map(|st| (st.st_dev, st.st_ino)),
            stat: st.copied(),
        }
    }

    /// Why the object is not one osps makes of `kind` (type, owner, mode 0600), if it
    /// exists and is not.
    pub fn foreign_error(&self, kind: Kind) -> Option<String> {
        let st = self.stat.as_ref()?;
        let path = Path::new(&self.path);
        owned::check(st, path, kind, 0o600)
            .err()
            .map(|e| format!("{e:#}"))
    }

    /// Whether the object exists and is of type `kind`.
    pub fn is_kind(&self, kind: Kind) -> bool {
        self.stat
            .as_ref()
            .is_some_and(|st| owned::is_kind(st, kind))
    }

    /// A runtime-dir entry; without a usable runtime directory it does not exist.
    pub fn at(dir: Option<&RuntimeDir>, paths: &Paths, file: &str) -> Object {
        let st = dir.and_then(|d| d.stat(file).ok().flatten());
        Object::new(&paths.in_dir(file), st.as_ref())
    }
}

/// Permission bits as the four octal digits `ls` and `chmod` use: `"0600"`.
pub fn format_mode(bits: u32) -> String {
    format!("{bits:04o}")
}

#[derive(Debug, Serialize)]
pub struct Fifo {
    pub role: &'static str,
    pub index: usize,
    #[serde(flatten)]
    pub object: Object,
    pub is_fifo: bool,
    pub holders: Vec<Holder>,
    /// Why the object at this path is not an osps FIFO of ours, if it is not.
    pub error: Option<String>,
}

impl Fifo {
    pub(super) fn new(role: &'static str, index: usize, object: Object, path: &Path) -> Fifo {
        let error = object
            .stat
            .as_ref()
            .and_then(|st| owned::check(st, path, Kind::Fifo, 0o600).err())
            .map(|e| format!("{e:#}"));
        Fifo {
            role,
            index,
            is_fifo: object
                .stat
                .as_ref()
                .is_some_and(|st| owned::is_kind(st, Kind::Fifo)),
            object,
            holders: Vec::new(),
            error,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SegmentReport {
    #[serde(flatten)]
    pub object: Object,
    pub size: Option<u64>,
    pub header: Option<HeaderView>,
    pub holders: Vec<Holder>,
    pub error: Option<String>,
    #[serde(skip)]
    pub pool: Vec<header::WorkerView>,
    /// The segment exists but we may not read it (another user's).
    #[serde(skip)]
    pub inaccessible: bool,
    /// `error` says it is not provably osps's (its type, owner, mode or header), so
    /// cleanup leaves it alone.
    #[serde(skip)]
    pub foreign: bool,
}

impl SegmentReport {
    pub(super) fn absent(path: &Path) -> SegmentReport {
        SegmentReport {
            object: Object::new(path, None),
            size: None,
            header: None,
            holders: Vec::new(),
            error: None,
            pool: Vec::new(),
            inaccessible: false,
            foreign: false,
        }
    }

    /// Why the segment is not osps's, when it is not ([`SegmentReport::foreign`]).
    pub fn foreign_error(&self) -> Option<&str> {
        self.error.as_deref().filter(|_| self.foreign)
    }
}

/// The decoded header, or `{"valid": false}` when it does not validate.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum HeaderView {
    Valid(Box<Header>),
    Invalid { valid: bool },
}

/// What a warning is about: what code decides on (never the wording).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concern {
    /// The live primary holds its lock in another runtime directory.
    LockElsewhere,
    /// The lock file was removed while the primary runs.
    LockMissing,
    /// Another file stands at the lock file's path.
    LockReplaced,
    /// The segment cannot be read by this user.
    SegmentInaccessible,
    /// A FIFO was removed while the primary runs.
    FifoMissing,
    /// A process other than the instance's own has one of its FIFOs open.
    FifoHeldByStranger,
    /// The socket was removed while the primary serves.
    SocketMissing,
    /// Another object stands at the socket's path while the primary serves.
    SocketReplaced,
    /// A program that is not osps holds the lock.
    ForeignLockHolder,
    /// The process holding the lock is still exiting after the wait: it makes the
    /// instance neither running nor free.
    ExitingLockHolder,
    /// A secondary still runs although its primary is gone.
    OrphanedSecondary,
    /// A process of the instance is stopped (SIGSTOP, Ctrl-Z): it runs nothing until
    /// SIGCONT.
    ProcessStopped,
}

impl Concern {
    /// Whether the warning is drawn from looks at several objects of a running instance,
    /// which a change of the instance between them can fake (see `moment.rs`).
    pub(super) fn of_a_moment(self) -> bool {
        matches!(
            self,
            Concern::FifoMissing
                | Concern::FifoHeldByStranger
                | Concern::SocketMissing
                | Concern::SocketReplaced
        )
    }
}

/// One warning: its [`Concern`], and the sentence that `inspect` prints in `warnings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Warning {
    #[serde(skip)]
    concern: Concern,
    text: String,
}

impl Warning {
    pub(super) fn new(concern: Concern, text: String) -> Warning {
        Warning { concern, text }
    }

    /// What it is about.
    pub fn concern(&self) -> Concern {
        self.concern
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_print_as_four_octal_digits() {
        assert_eq!(format_mode(0o600), "0600");
        assert_eq!(format_mode(0o4755), "4755");
        assert_eq!(format_mode(0), "0000");
    }

    #[test]
    fn an_invalid_header_serialises_as_valid_false() {
        let v = serde_json::to_value(HeaderView::Invalid { valid: false }).unwrap();
        assert_eq!(v, serde_json::json!({ "valid": false }));
    }
}
