//! What one survey reads once for every instance it examines: the runtime directory's
//! listing, the descriptors of every process (who holds what) and the kernel's table of
//! POSIX locks. Read lazily, at the first instance that needs each, so a survey of one
//! instance costs what it did, and one of a thousand (junk segments in `/dev/shm`, say)
//! does not read `/proc` a thousand times.

use std::cell::OnceCell;
use std::collections::BTreeSet;

use crate::instance::claim::LockTable;
use crate::os::procfs::FdTable;

/// The shared readings of one survey.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The runtime directory's file names, when it was listed; `None`: not listed, so
    /// every path is looked at.
    entries: Option<BTreeSet<String>>,
    fds: OnceCell<FdTable>,
    locks: OnceCell<LockTable>,
}

impl Snapshot {
    /// A snapshot that knows the runtime directory's listing (`None`: not listed).
    pub fn new(entries: Option<BTreeSet<String>>) -> Snapshot {
        Snapshot {
            entries,
            ..Snapshot::default()
        }
    }

    /// Whether a file of the runtime directory may exist: false only when the listing
    /// was read and does not name it (so it need not be looked at).
    pub fn may_exist(&self, file: &str) -> bool {
        self.entries.as_ref().is_none_or(|e| e.contains(file))
    }

    /// Whether a file of the runtime directory whose name starts with `prefix` may exist
    /// (as [`Snapshot::may_exist`]).
    pub fn may_exist_prefixed(&self, prefix: &str) -> bool {
        self.entries
            .as_ref()
            .is_none_or(|e| e.iter().any(|f| f.starts_with(prefix)))
    }

    /// Every process's descriptors, read at the first call.
    pub fn fds(&self) -> &FdTable {
        self.fds.get_or_init(FdTable::scan)
    }

    /// The kernel's POSIX locks and their holders, read at the first call (see
    /// `claim::live_primary_among`).
    pub fn locks(&self) -> &OnceCell<LockTable> {
        &self.locks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_listing_every_file_may_exist() {
        assert!(Snapshot::default().may_exist("demo.p2s.fifo"));
    }

    #[test]
    fn with_a_listing_only_the_listed_files_may_exist() {
        let s = Snapshot::new(Some(BTreeSet::from(["demo.lock".to_string()])));
        assert!(s.may_exist("demo.lock"));
        assert!(!s.may_exist("demo.p2s.fifo"));
    }
}
