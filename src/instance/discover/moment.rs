//! Whether an examination saw one moment of an instance. Its objects are looked at one
//! after another while a primary may be stopping (removing its FIFOs and socket) or a new
//! one starting (its own primary and secondaries holding new FIFOs): a warning about what a
//! running primary has lost, or about a stranger holding its FIFOs, is given only when the
//! lock and the header, read again after those looks, are what they were before them.
//! Else the examination straddled a change, and is made again.

use super::report::{HeaderView, InstanceReport, SegmentReport};
use crate::disk::lockfile::InstanceLock;
use crate::disk::names::Paths;
use crate::disk::rundir::RuntimeDir;
use crate::pair::header::State;

/// What must not change while an instance's objects are looked at.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Moment {
    /// The lock: held, and by whom.
    lock: (bool, Option<i32>),
    /// The header: whose primary, made when, whether it runs, and its secondaries' pids.
    header: Option<HeaderMoment>,
}

#[derive(Debug, PartialEq, Eq)]
struct HeaderMoment {
    primary_pid: u64,
    created_unix_ms: u64,
    /// Ready or busy (which it turns between all the time): what the warnings ask.
    settled: bool,
    pool: Vec<u64>,
}

impl Moment {
    /// The moment an examination started from: its lock as looked at (before it was
    /// judged) and the header and scoreboard it read.
    pub(super) fn of(report: &InstanceReport) -> Moment {
        Moment {
            lock: (report.lock.held, report.lock.pid),
            header: header_moment(&report.segment),
        }
    }

    /// The moment now: the lock and the header looked at again.
    pub(super) fn read(
        dir: Option<&RuntimeDir>,
        paths: &Paths,
        segment: impl FnOnce(&Paths) -> SegmentReport,
    ) -> Moment {
        let lock = dir.map_or((false, None), |dir| {
            let probe = InstanceLock::probe(dir, paths);
            (probe.held, probe.pid)
        });
        Moment {
            lock,
            header: header_moment(&segment(paths)),
        }
    }
}

fn header_moment(seg: &SegmentReport) -> Option<HeaderMoment> {
    let Some(HeaderView::Valid(h)) = &seg.header else {
        return None;
    };
    Some(HeaderMoment {
        primary_pid: h.primary_pid,
        created_unix_ms: h.created_unix_ms,
        settled: matches!(h.primary_state, State::Ready | State::Busy),
        pool: seg.pool.iter().map(|w| w.pid).collect(),
    })
}

/// Whether `report` stands as it is: it has no warning of a moment, or the lock and the
/// header `now` are those it was drawn from.
pub(super) fn stands(report: &InstanceReport, now: impl FnOnce() -> Moment) -> bool {
    !report.warnings.iter().any(|w| w.concern().of_a_moment()) || Moment::of(report) == now()
}

/// Drops the warnings of a moment: the instance changed under every examination.
pub(super) fn drop_warnings_of_a_moment(report: &mut InstanceReport) {
    report.warnings.retain(|w| !w.concern().of_a_moment());
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::OpenOptionsExt;

    use super::super::examine::examine_at_one_moment;
    use super::super::report::Concern;
    use super::super::snapshot::Snapshot;
    use super::*;
    use crate::disk::testlock::{Holder, stale_lock};
    use crate::pair::fifo;
    use crate::pair::header::Field;
    use crate::pair::segment::Segment;

    /// A running instance made by hand: its lock held by a process that reads as its
    /// primary, its segment ready, its FIFO pair made.
    struct Running {
        _tmp: tempfile::TempDir,
        dir: RuntimeDir,
        paths: Paths,
        seg: Segment,
        holder: Holder,
    }

    impl Running {
        fn new(tag: &str) -> Running {
            // As main does: the holder's command line is read by osps's own parser.
            crate::os::procfs::read_command_lines_with(crate::cli::invocation_of);
            let name = format!("u-{tag}-{}", std::process::id());
            let (tmp, dir, paths) = stale_lock(&name);
            let holder = Holder::lock_as_osps_primary(&paths.in_dir(&paths.lock_file()), &name);
            let seg = Segment::create(&paths, 64 * 1024, 1).unwrap();
            seg.store(Field::PrimaryPid, holder.pid() as u64);
            seg.store(Field::PrimaryState, State::Ready as u64);
            for file in <[String; 2]>::from(paths.fifo_files(0)) {
                fifo::create(&dir, &file).unwrap();
            }
            Running {
                _tmp: tmp,
                dir,
                paths,
                seg,
                holder,
            }
        }

        /// What an examination warns about; `between`: a change of the instance after its
        /// header was read.
        fn concerns(&self, mut between: impl FnMut()) -> Vec<Concern> {
            let mut once = Some(&mut between);
            let report = examine_at_one_moment(
                &Snapshot::default(),
                Some(&self.dir),
                &self.paths,
                &mut || {
                    if let Some(change) = once.take() {
                        change();
                    }
                },
            )
            .expect("the instance has objects");
            assert!(report.lock.held, "{report:?}");
            report.warnings.iter().map(|w| w.concern()).collect()
        }

        fn remove_fifos(&self) {
            for file in <[String; 2]>::from(self.paths.fifo_files(0)) {
                std::fs::remove_file(self.paths.in_dir(&file)).unwrap();
            }
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.seg.unlink();
            self.holder.end();
        }
    }

    /// The primary stopped between the look at the header (ready) and the looks at its
    /// FIFOs (removed by the stop): part of the stop, no "FIFO missing" (inspect said so
    /// for healthy instances polled while they stopped). The same FIFOs removed while the
    /// primary stays ready are still said.
    #[test]
    fn fifos_removed_by_a_stop_during_the_look_are_not_missing() {
        let inst = Running::new("mstop");
        assert_eq!(inst.concerns(|| {}), []);
        let stopping = inst.concerns(|| {
            inst.seg.store(Field::PrimaryState, State::Stopping as u64);
            inst.remove_fifos();
        });
        assert_eq!(stopping, [], "a stop seen half-way");
        inst.seg.store(Field::PrimaryState, State::Ready as u64);
        assert_eq!(
            inst.concerns(|| {}),
            [Concern::FifoMissing, Concern::FifoMissing],
            "removed while it runs"
        );
    }

    /// A secondary that took over between the look at the scoreboard and the look at who
    /// holds the FIFOs is the instance's own, not "another process" (inspect named an
    /// instance's own processes so while primaries started and stopped). One the
    /// scoreboard does not name is still a stranger.
    #[test]
    fn a_secondary_that_came_during_the_look_is_no_stranger() {
        let inst = Running::new("mnew");
        let me = std::process::id();
        let mut held = None;
        let came = inst.concerns(|| {
            let p2s = inst.paths.in_dir(&inst.paths.fifo_files(0).0);
            held = Some(
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(p2s)
                    .unwrap(),
            );
            inst.seg.store(Field::SecondaryPid, u64::from(me));
        });
        assert_eq!(came, [], "process {me} is the instance's secondary");
        inst.seg.store(Field::SecondaryPid, 0);
        assert_eq!(inst.concerns(|| {}), [Concern::FifoHeldByStranger]);
        drop(held);
    }
}
