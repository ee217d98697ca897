//! Who tells the primary that its lock file was touched: the kernel, through inotify.
//!
//! A live primary defends its lock file (`Instance::defend_lock`): removed by a user's
//! `rm` or an age-based cleaner, it is put back. Looking at the path on a timer would wake
//! an idle primary several times a second only to find, nearly always, that all is well.
//! Instead a watch on the runtime directory reports every creation, removal or rename of
//! an entry, and a small thread, blocked in `read` on the inotify
//! descriptor until then, turns one that names the lock file into a wake-up of the main
//! loop through the signal self-pipe ([`crate::os::signals::wake`]). Idle, nothing runs.
//!
//! The watch names the directory object we hold open (through `/proc/self/fd/N`), not
//! its path, so a directory put in its place is not what we watch. If the directory
//! itself is moved away, or events were lost (the kernel's queue overflowed), the watch
//! no longer tells the whole story; from then on (and when inotify is not available at
//! all, or its per-user limits are reached) [`LockWatch::active`] says so and the primary
//! goes back to looking on a timer. (A removed directory is reported only once its last
//! descriptor closes, and ours stays open: but its entries' removals are reported first,
//! the lock file's included.)

use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use color_eyre::eyre::{Result, WrapErr};
use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent, WatchDescriptor};

use crate::disk::rundir::RuntimeDir;

/// What the watching thread and the primary share. The thread stores with Release and
/// the primary reads with Acquire (and the reverse for `ending`), so what one side saw
/// before its store is visible to the other after its load; nothing else is shared.
#[derive(Debug, Default)]
struct Shared {
    /// The lock file's entry changed since the last [`LockWatch::take_change`].
    changed: AtomicBool,
    /// The watch still stands (the directory was not removed or moved away).
    active: AtomicBool,
    /// The primary is done with the watch: the thread ends at its next event.
    ending: AtomicBool,
}

/// A watch on the lock file's entry of the runtime directory; dropping it ends the
/// watching thread.
#[derive(Debug)]
pub struct LockWatch {
    inotify: Arc<Inotify>,
    watch: WatchDescriptor,
    shared: Arc<Shared>,
    /// Joined on drop: the thread never outlives the watch (nor, through the instance
    /// that owns the watch, the signal self-pipe it writes to).
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Every change of an entry that can make the lock file's path name something else (or
/// nothing), and the end of the directory itself. Nothing that happens *to* a file of the
/// directory (`IN_ATTRIB`, `IN_MODIFY`, `IN_ACCESS`...): asking for any of those makes the
/// kernel look up the directory's watch at every `read` and `write` of our FIFOs, a cost
/// on every turn.
fn interest() -> AddWatchFlags {
    AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR
}

/// What one event means for the watcher.
#[derive(Debug, PartialEq, Eq)]
enum Meaning {
    /// Nothing to do with the lock file.
    Other,
    /// The lock file's entry changed: look at it.
    LockFile,
    /// The directory went away or the queue overflowed (events were lost): look, and
    /// stop trusting the watch.
    Lost,
}

/// Sorts one event (a pure function of its mask and name, unit-tested).
fn meaning(mask: AddWatchFlags, name: Option<&OsString>, lock_file: &str) -> Meaning {
    if mask.intersects(
        AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_IGNORED
            | AddWatchFlags::IN_Q_OVERFLOW,
    ) {
        return Meaning::Lost;
    }
    match name {
        Some(n) if n == lock_file => Meaning::LockFile,
        _ => Meaning::Other,
    }
}

impl LockWatch {
    /// Watches `lock_file` in `dir`; each change wakes the main loop (through the signal
    /// self-pipe) and is noted for [`Self::take_change`].
    pub fn start(dir: &RuntimeDir, lock_file: &str) -> Result<LockWatch> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC)
            .wrap_err("creating an inotify instance (the per-user limit is in /proc/sys/fs/inotify/max_user_instances)")?;
        let watch = inotify.add_watch(&dir.held_path(), interest()).wrap_err_with(|| {
            format!(
                "watching {} with inotify (the per-user limit is in /proc/sys/fs/inotify/max_user_watches)",
                dir.path().display()
            )
        })?;
        let inotify = Arc::new(inotify);
        let shared = Arc::new(Shared::default());
        shared.active.store(true, Ordering::Relaxed);
        let (thread_inotify, thread_shared) = (Arc::clone(&inotify), Arc::clone(&shared));
        let name = lock_file.to_string();
        let thread = std::thread::Builder::new()
            .name("lock watch".into())
            .spawn(move || watch_events(&thread_inotify, &thread_shared, &name))
            .wrap_err("starting the lock file's watching thread")?;
        Ok(LockWatch {
            inotify,
            watch,
            shared,
            thread: Some(thread),
        })
    }

    /// Whether the lock file changed since the last call (`true` once per change). A
    /// plain load first: the serving loop asks at every pass, and nearly always the
    /// answer is no.
    pub fn take_change(&self) -> bool {
        self.shared.changed.load(Ordering::Relaxed)
            && self.shared.changed.swap(false, Ordering::AcqRel)
    }

    /// Whether the watch still stands; if not, the caller must look on a timer.
    pub fn active(&self) -> bool {
        self.shared.active.load(Ordering::Acquire)
    }
}

impl Drop for LockWatch {
    fn drop(&mut self) {
        self.shared.ending.store(true, Ordering::Release);
        // Removing the watch queues an IN_IGNORED event: the thread wakes and ends. If
        // the kernel already dropped the watch, it queued that event itself and the
        // thread has ended (or is ending) through `lost`.
        let removed = self.inotify.rm_watch(self.watch);
        let Some(thread) = self.thread.take() else {
            return;
        };
        if removed.is_ok() || thread.is_finished() {
            let _ = thread.join();
        } else {
            // Not seen in practice: rather a thread left blocked than a hung teardown.
            crate::debug!("the lock file's watching thread did not end; left behind");
        }
    }
}

/// The watching thread: blocks in `read` until events arrive.
fn watch_events(inotify: &Inotify, shared: &Shared, lock_file: &str) {
    loop {
        let events: Vec<InotifyEvent> = match inotify.read_events() {
            Ok(events) => events,
            Err(Errno::EINTR) => continue,
            Err(e) => {
                crate::debug!("reading inotify events: {e}; looking at the lock file on a timer");
                lost(shared);
                return;
            }
        };
        if shared.ending.load(Ordering::Acquire) {
            return;
        }
        let mut wake = false;
        for event in &events {
            match meaning(event.mask, event.name.as_ref(), lock_file) {
                Meaning::Other => {}
                Meaning::LockFile => wake = true,
                Meaning::Lost => {
                    lost(shared);
                    return;
                }
            }
        }
        if wake {
            shared.changed.store(true, Ordering::Release);
            crate::os::signals::wake();
        }
    }
}

/// The watch no longer tells us everything: note a change (so the primary looks at once)
/// and fall back to the timer.
fn lost(shared: &Shared) {
    shared.active.store(false, Ordering::Release);
    shared.changed.store(true, Ordering::Release);
    crate::os::signals::wake();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn name(s: &str) -> Option<OsString> {
        Some(OsString::from(s))
    }

    #[test]
    fn only_events_naming_the_lock_file_or_ending_the_watch_count() {
        let lock = "demo.lock";
        assert_eq!(
            meaning(AddWatchFlags::IN_DELETE, name(lock).as_ref(), lock),
            Meaning::LockFile
        );
        assert_eq!(
            meaning(AddWatchFlags::IN_MOVED_TO, name(lock).as_ref(), lock),
            Meaning::LockFile
        );
        assert_eq!(
            meaning(
                AddWatchFlags::IN_DELETE,
                name("demo.p2s.fifo").as_ref(),
                lock
            ),
            Meaning::Other
        );
        assert_eq!(
            meaning(AddWatchFlags::IN_CREATE, name("demo.lockx").as_ref(), lock),
            Meaning::Other
        );
        assert_eq!(
            meaning(AddWatchFlags::IN_DELETE_SELF, None, lock),
            Meaning::Lost
        );
        assert_eq!(
            meaning(AddWatchFlags::IN_Q_OVERFLOW, None, lock),
            Meaning::Lost
        );
        assert_eq!(
            meaning(AddWatchFlags::IN_IGNORED, None, lock),
            Meaning::Lost
        );
    }

    fn wait_for(what: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if what() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    #[test]
    fn a_removed_lock_file_is_noted_once_and_other_files_are_not() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RuntimeDir::ensure(&tmp.path().join("run")).unwrap();
        let lock = dir.path().join("w.lock");
        std::fs::write(&lock, "1\n").unwrap();
        let watch = LockWatch::start(&dir, "w.lock").unwrap();
        std::fs::write(dir.path().join("other"), "x").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!watch.take_change(), "another file is not the lock file");
        std::fs::remove_file(&lock).unwrap();
        assert!(
            wait_for(|| watch.take_change()),
            "the removal was not noted"
        );
        assert!(!watch.take_change(), "one change is taken once");
        assert!(watch.active());
    }

    #[test]
    fn a_directory_moved_away_ends_the_watch_and_is_noted() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("run");
        let dir = RuntimeDir::ensure(&path).unwrap();
        let watch = LockWatch::start(&dir, "w.lock").unwrap();
        std::fs::rename(&path, tmp.path().join("elsewhere")).unwrap();
        assert!(
            wait_for(|| !watch.active()),
            "the watch still claims to stand"
        );
        assert!(watch.take_change());
    }
}
