//! What the audit may have missed: when some calls of the program could not be read (a
//! non-dumpable process, to an audit that is not privileged), the files that appeared or
//! changed in `/dev/shm` and the audit's working directory while it ran, and that it
//! knows nothing of, are likely the program's. Listed in a note, never a finding.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::time::SystemTime;

/// What the report says the audit could not see.
#[derive(Debug, Default)]
pub struct Unseen {
    /// How many calls could not be read for want of permission.
    pub calls: u32,
    /// Segments in /dev/shm and FIFOs in the working directory, ours (by uid), changed
    /// since the audit started and unknown to it.
    pub appeared: Vec<Vec<u8>>,
}

impl Unseen {
    /// After `calls` unread calls: what appeared since `since` that `known` does not name.
    pub fn look(calls: u32, since: SystemTime, known: impl Fn(&[u8]) -> bool) -> Unseen {
        if calls == 0 {
            return Unseen::default();
        }
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        let mut appeared = Vec::new();
        let cwd = std::env::current_dir().ok();
        let dirs = [Some(std::path::PathBuf::from("/dev/shm")), cwd];
        for (i, dir) in dirs.iter().enumerate() {
            let Some(entries) = dir.as_ref().and_then(|d| std::fs::read_dir(d).ok()) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                let kind = meta.file_type();
                // In /dev/shm a segment or semaphore (a file); elsewhere only a FIFO.
                let wanted = if i == 0 {
                    kind.is_file()
                } else {
                    kind.is_fifo()
                };
                let changed = meta.modified().is_ok_and(|t| t >= since)
                    || changed_since(meta.ctime(), meta.ctime_nsec(), since);
                let bytes = path.as_os_str().as_bytes();
                if wanted && meta.uid() == uid && changed && !known(bytes) {
                    appeared.push(bytes.to_vec());
                }
            }
        }
        appeared.sort();
        Unseen { calls, appeared }
    }
}

/// The time now as the kernel stamps files (CLOCK_REALTIME_COARSE, up to a tick behind
/// the precise clock): a file made a moment after is never stamped before it.
pub fn file_clock() -> SystemTime {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the time into our local.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &raw mut ts) } != 0 {
        // Unreadable: a second early, so that nothing the program makes is missed.
        return SystemTime::now() - std::time::Duration::from_secs(1);
    }
    SystemTime::UNIX_EPOCH + std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Whether a status-change time (seconds and nanoseconds) is at or after `since`.
fn changed_since(sec: i64, nsec: i64, since: SystemTime) -> bool {
    let Ok(since) = since.duration_since(SystemTime::UNIX_EPOCH) else {
        return true;
    };
    (sec, nsec) >= (since.as_secs() as i64, i64::from(since.subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_change_time_counts_from_the_start_to_the_nanosecond() {
        let since = SystemTime::UNIX_EPOCH + Duration::new(100, 500);
        assert!(changed_since(100, 500, since));
        assert!(changed_since(101, 0, since));
        assert!(!changed_since(100, 499, since));
        assert!(!changed_since(99, 999_999_999, since));
    }
}
