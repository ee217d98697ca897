//! Who uses an instance's objects, for cleanup to leave alone: every process that holds
//! one of them open, for reading as much as for writing (`/proc/PID/fd`), or has one
//! mapped, its descriptor closed or not (`/proc/PID/maps`). A reader is a user: a tool
//! that maps a dead instance's segment to read its counters is still reading it, and the
//! promise is that an object held open by another process is not removed under it.
//!
//! Not users: this process, and the osps commands that only look (`inspect`, `status`,
//! `top`, `list`, another `cleanup`, a `stop` removing what a killed primary left): they
//! map the segment read-only for a moment, and the lock decides between those that
//! remove. Only a primary or a secondary of osps uses the objects.

use crate::os::maps;
use crate::os::procfs::{self, Holder};

/// For each object `(dev, ino)` of `ids`, its users: the processes that hold it open or
/// have it mapped, each once per kind of access, but us and the osps commands that only
/// look ([`only_looks`]).
///
/// Each one found is looked at again, alone, and kept only if it still has the object:
/// a process that forks and execs (a test harness starting `jq`, a shell starting a
/// command) lends its child every descriptor and mapping it has until the exec closes
/// them, so a survey can catch a child holding, for a moment, what its parent did.
pub fn users(ids: &[(u64, u64)]) -> Vec<Vec<Holder>> {
    let me = std::process::id() as i32;
    let open = procfs::holders(ids);
    let mapped = maps::mappers(ids);
    open.into_iter()
        .zip(mapped)
        .zip(ids)
        .map(|((open, mapped), &id)| {
            let mut all: Vec<Holder> = Vec::new();
            for h in open.into_iter().chain(mapped) {
                if h.pid != me && !all.contains(&h) && !only_looks(h.pid) && still_has(h.pid, id) {
                    all.push(h);
                }
            }
            all
        })
        .collect()
}

/// Whether `pid` holds the object `id` open, or has it mapped, now.
fn still_has(pid: i32, id: (u64, u64)) -> bool {
    procfs::open_files(pid).iter().any(|f| f.id == id) || maps::maps_now(pid, id)
}

/// Whether `pid` is an osps command that only looks at instances (anything but a
/// `primary` or a `secondary`), as its binary and its command line tell.
pub fn only_looks(pid: i32) -> bool {
    procfs::runs_osps(pid)
        && !matches!(
            procfs::subcommand(pid).as_deref(),
            Some("primary" | "secondary")
        )
}
