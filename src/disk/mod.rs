//! Where an instance lives on disk, and proof that what stands there is ours: the names
//! and paths of every object (`names`), the private runtime directory (`rundir`), the
//! `fstat` checks (`owned`), the lock file that says an instance is alive (`lockfile`)
//! and the inotify watch that defends it (`lockwatch`); for unit tests, a process holding
//! a lock (`testlock`).
//!
//! It may import the leaf helpers and `os`; never `pair`, `instance` or a command.

pub mod lockfile;
pub mod lockwatch;
pub mod names;
pub mod owned;
pub mod rundir;
#[cfg(test)]
pub mod testlock;
