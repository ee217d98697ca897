//! Which instances exist and what each one is: the survey that `inspect` prints, that
//! `cleanup` plans from, and that the operator views read. No subcommand imports another;
//! what they share about instances lives here.
//!
//! Looking must never disturb what is looked at: the segment is mapped read-only and only
//! its header ([`segment::look`](crate::pair::segment::look) never opens anything but a regular file and survives a
//! segment shrinking under it), FIFOs are never opened (their holders come from `/proc`),
//! and the lock is tested with `F_GETLK`, never taken, so a primary starting at the same
//! moment cannot fail because somebody looked. Liveness comes from the kernel, never from a
//! path or a pid alone: the lock file's lock when it is there, else a POSIX lock the kernel
//! lists in `/proc/locks` on a file named `NAME.lock` (a removed or replaced lock file),
//! or the header's pid proved to be this instance's live primary
//! ([`claim::live_primary_with`](crate::instance::claim::live_primary_with)). A pid can be reused; a kernel lock dies with its holder.
//! What looks wrong about a running instance (a missing lock file, objects in another
//! runtime directory) becomes a warning, not a verdict.
//!
//! Three parts, a file each: discovery (which instances have objects: here), examination
//! (facts about each object, `examine.rs`; what looks wrong, `warnings.rs`, given only
//! when the looks saw one moment of the instance, `moment.rs`; the status decided from
//! them, `status.rs`), and the report (`report.rs`: the `Serialize` structs
//! that inspect prints, cleanup plans from and the views draw).

mod examine;
mod moment;
mod report;
mod snapshot;
mod status;
mod warnings;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr};

use crate::disk::names::{self, InstanceName, Paths};
use crate::disk::rundir::RuntimeDir;

pub use examine::examine;
use examine::examine_in;
use report::Concern;
pub use report::{HeaderView, InstanceReport};
use snapshot::Snapshot;
pub use status::Status;

/// Every instance of one runtime directory (or the one asked for), examined.
#[derive(Debug)]
pub struct Survey {
    /// The runtime directory looked at (absolute).
    pub runtime_dir: PathBuf,
    /// The directory, opened and checked; `None` when it does not exist or is unsafe.
    pub dir: Option<RuntimeDir>,
    /// Why the runtime directory could not be used, when it exists but is unsafe.
    pub dir_error: Option<String>,
    /// The instances with at least one object, by name.
    pub instances: Vec<InstanceReport>,
}

/// Surveys the instances of `runtime_dir` and this user's segments; only `name` if given.
/// An unsafe runtime directory is not an error here (see [`Survey::dir_error`]): what is
/// in `/dev/shm` is still worth showing.
pub fn survey(runtime_dir: &Path, name: Option<&InstanceName>) -> Result<Survey> {
    let (dir, dir_error) = match open_runtime_dir(runtime_dir) {
        Ok(dir) => (dir, None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let listing = match (&dir, name) {
        // List the directory we opened and checked, not whatever its path names by now.
        (Some(dir), None) => Some(
            entries(&dir.held_path())
                .wrap_err_with(|| format!("listing {}", dir.path().display()))?,
        ),
        _ => None,
    };
    let wanted = match name {
        Some(name) => BTreeSet::from([name.clone()]),
        None => names_in(listing.as_deref().unwrap_or_default())?,
    };
    // A nameless survey trusts the listing it found the names in; a named one looks at
    // every path of that instance.
    let snap = Snapshot::new(listing.map(BTreeSet::from_iter));
    let mut instances: Vec<InstanceReport> = wanted
        .into_iter()
        .filter_map(|name| {
            examine_in(
                &snap,
                dir.as_ref(),
                &Paths::new(name, runtime_dir.to_path_buf()),
            )
        })
        .collect();
    if dir_error.is_some() {
        // The directory was refused, not looked into: whether the lock file is there is
        // unknown (the caller says why the directory was refused).
        for i in &mut instances {
            i.warnings.retain(|w| w.concern() != Concern::LockMissing);
        }
    }
    Ok(Survey {
        runtime_dir: runtime_dir.to_path_buf(),
        dir,
        dir_error,
        instances,
    })
}

/// The error of a command about one instance (`inspect --name`, `status`, `stop`, `cleanup
/// --name`) when it has no object at all: exit status 4, like `systemctl status` of an unknown unit.
pub fn no_such_instance(name: &InstanceName, runtime_dir: &Path) -> color_eyre::Report {
    crate::exit::coded(
        crate::exit::Exit::NoSuchInstance,
        format!(
            "there is no instance {name}: no object of it in {} or {} (`osps list` shows the \
             instances)",
            names::SHM_DIR,
            runtime_dir.display()
        ),
    )
}

/// Opens the runtime directory if it exists (`Ok(None)` when it does not); fails when it
/// is unsafe (a symlink, another owner, group or other access).
pub fn open_runtime_dir(path: &Path) -> Result<Option<RuntimeDir>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => RuntimeDir::open_existing(path).map(Some),
    }
}

/// Every instance with at least one object: this user's segments `/dev/shm/osps.UID.*`
/// and the runtime directory's lock files, FIFOs and sockets. Names that do not follow
/// the osps pattern are ignored.
pub fn discover(dir: Option<&RuntimeDir>) -> Result<BTreeSet<InstanceName>> {
    let listing = match dir {
        // List the directory we opened and checked, not whatever its path names by now.
        Some(dir) => entries(&dir.held_path())
            .wrap_err_with(|| format!("listing {}", dir.path().display()))?,
        None => Vec::new(),
    };
    names_in(&listing)
}

/// The instances named by this user's segments and by `listing`, the runtime directory's
/// file names.
fn names_in(listing: &[String]) -> Result<BTreeSet<InstanceName>> {
    let mut found = BTreeSet::new();
    let shm = Path::new(names::SHM_DIR);
    for file in entries(shm).wrap_err_with(|| format!("listing {}", shm.display()))? {
        found.extend(names::instance_of_shm_entry(&file));
    }
    for file in listing {
        found.extend(names::instance_of_runtime_entry(file).map(|(name, _)| name));
    }
    Ok(found)
}

/// The file names in a directory (names that are not UTF-8 cannot be osps names).
fn entries(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        if let Ok(name) = entry?.file_name().into_string() {
            files.push(name);
        }
    }
    Ok(files)
}
