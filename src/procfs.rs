//! Who holds an object open, read from `/proc` without opening the object itself:
//! `/proc/PID/fd/N` names each descriptor (its `stat` is the object's), and
//! `/proc/PID/fdinfo/N` gives the open flags, hence read or write access.
//! Used by inspect (FIFO holders) and cleanup (orphaned secondaries).

use std::path::Path;

use nix::sys::stat::stat;
use serde::Serialize;

/// One process holding an object open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub pid: i32,
    /// `read`, `write` or `read-write`.
    pub access: &'static str,
}

fn access_of(pid: i32, fd: &str) -> &'static str {
    let text = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
    let flags = text
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .unwrap_or(0);
    match flags & libc::O_ACCMODE as u32 {
        x if x == libc::O_WRONLY as u32 => "write",
        x if x == libc::O_RDWR as u32 => "read-write",
        _ => "read",
    }
}

/// For each object `(dev, ino)` in `targets`, the processes that hold it open.
/// Processes we may not look at (other users) are skipped silently.
pub fn holders(targets: &[(u64, u64)]) -> Vec<Vec<Holder>> {
    let mut found = vec![Vec::new(); targets.len()];
    if targets.is_empty() {
        return found;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(st) = stat(&fd.path()) else { continue };
            let key = (st.st_dev, st.st_ino);
            if let Some(i) = targets.iter().position(|t| *t == key) {
                let name = fd.file_name();
                let access = access_of(pid, name.to_str().unwrap_or(""));
                let holder = Holder { pid, access };
                if !found[i].contains(&holder) {
                    found[i].push(holder);
                }
            }
        }
    }
    found
}

/// `(dev, ino)` of a path without following a final symlink, if it exists.
pub fn identity(path: &Path) -> Option<(u64, u64)> {
    nix::sys::stat::lstat(path)
        .ok()
        .map(|st| (st.st_dev, st.st_ino))
}

/// Whether a process exists (a zombie counts as not alive).
pub fn alive(pid: i32) -> bool {
    pid > 0 && state(pid).is_some_and(|state| state != 'Z' && state != 'X')
}

/// A process's state letter from `/proc/PID/stat` (`R`, `S`, `Z` for a zombie, ...), or
/// `None` when there is no such process.
pub fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state letter follows the parenthesised command name (which may hold a ')').
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
}

/// The subcommand a process runs if it is an osps: the first argument after the program
/// name that is not an option (`osps -v cleanup` gives `cleanup`). Only a hint (for
/// waiting on a concurrent cleanup), never a liveness test.
pub fn subcommand(pid: i32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    cmdline
        .split(|&b| b == 0)
        .skip(1)
        .find(|arg| !arg.is_empty() && !arg.starts_with(b"-"))
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
}
