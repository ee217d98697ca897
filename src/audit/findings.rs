//! From what was seen to what is wrong: pure functions over the [`Model`], each finding
//! with a hint in the lab's words. Unit-tested on hand-made models.

use serde::Serialize;

use super::hints::{self, Lang};
use super::model::{BrokenPipe, End, KERNEL_RAISED, Kind, Model, Proc, Sent};
use super::tracker;
use super::words::{escape, ms, signal_name, who, who_pid};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    SegmentLeft,
    SemaphoreLeft,
    /// A message queue (POSIX mq_open, or System V msgget) still there.
    QueueLeft,
    FifoLeft,
    Zombie,
    LeftRunning,
    ParentFirst,
    Killed,
    BrokenPipe,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::SegmentLeft => "segment-left",
            FindingKind::SemaphoreLeft => "semaphore-left",
            FindingKind::QueueLeft => "queue-left",
            FindingKind::FifoLeft => "fifo-left",
            FindingKind::Zombie => "zombie",
            FindingKind::LeftRunning => "left-running",
            FindingKind::ParentFirst => "parent-first",
            FindingKind::Killed => "killed",
            FindingKind::BrokenPipe => "broken-pipe",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub pid: Option<i32>,
    pub path: Option<String>,
    pub message: String,
    pub hint: &'static str,
}

fn is_resource_tracker(p: &Proc) -> bool {
    p.is_resource_tracker()
}

/// Every finding, objects first, then processes in the order they started; `insisted`:
/// the second stop signal that stopped the audit at once, if one did.
pub fn compute(
    model: &Model,
    root: i32,
    zombie_threshold_us: u64,
    insisted: Option<i32>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for o in model.objects.iter().filter(|o| !o.hidden) {
        let tracker = o
            .unlinked_by
            .filter(|&pid| pid != o.created_by)
            .and_then(|pid| model.proc(pid))
            .filter(|p| is_resource_tracker(p));
        if let Some(t) = tracker {
            let r = tracker::removed(model, o, t);
            out.push(Finding {
                kind: if r.semaphore {
                    FindingKind::SemaphoreLeft
                } else {
                    FindingKind::SegmentLeft
                },
                pid: Some(o.created_by),
                path: Some(String::from_utf8_lossy(&o.path).into_owned()),
                message: r.message,
                hint: r.hint,
            });
        }
        // One that was there before and is still there is a note (see `notes.rs`).
        if !o.left || o.existed {
            continue;
        }
        let name = escape(&o.name);
        let by = who_pid(model, o.created_by);
        let lang = model
            .proc(o.created_by)
            .map_or(Lang::Other, |p| Lang::of(model, p));
        let hint = hints::left(o.kind, lang);
        let (kind, message) = match o.kind {
            Kind::Segment | Kind::SysV => (
                FindingKind::SegmentLeft,
                format!("shared-memory segment {name} made by {by} is still there"),
            ),
            Kind::Semaphore => (
                FindingKind::SemaphoreLeft,
                format!("named semaphore {name} made by {by} is still there"),
            ),
            Kind::SysVSem => (
                FindingKind::SemaphoreLeft,
                format!("System V semaphore set {name} made by {by} is still there"),
            ),
            Kind::SysVMsg => (
                FindingKind::QueueLeft,
                format!("System V message queue {name} made by {by} is still there"),
            ),
            Kind::MQueue => (
                FindingKind::QueueLeft,
                format!("POSIX message queue {name} made by {by} is still there"),
            ),
            Kind::Fifo => (
                FindingKind::FifoLeft,
                format!("FIFO {} made by {by} is still there", escape(&o.path)),
            ),
        };
        let path = (!o.kind.is_sysv()).then(|| String::from_utf8_lossy(&o.path).into_owned());
        out.push(Finding {
            kind,
            pid: Some(o.created_by),
            path,
            message,
            hint,
        });
    }
    // Python's helpers (resource tracker, forkserver) end when the program does: while a
    // process of the program is left running, theirs is its consequence, not a finding.
    let program_left = model
        .procs
        .iter()
        .any(|p| p.left_running && !p.is_python_helper());
    for p in &model.procs {
        let helper = p.is_python_helper();
        if p.left_running && !(helper && program_left) {
            out.push(left_running(model, p, insisted));
        }
        if let Some(at) = p
            .adopted
            .filter(|_| !helper && !ended_with_parent(model, p))
        {
            out.push(Finding {
                kind: FindingKind::ParentFirst,
                pid: Some(p.pid),
                path: None,
                message: format!(
                    "the parent of {}, {}, ended at {} ms while it still ran; it was adopted",
                    who(p),
                    who_pid(model, p.ppid),
                    ms(at)
                ),
                hint: "the parent should stop its children and wait for them (waitpid) \
                       before it exits",
            });
        }
        if p.pid != root && !helper {
            if let (Some(exit), Some(reaped)) = (p.exit, p.reaped) {
                let zombie = reaped.saturating_sub(exit);
                if zombie > zombie_threshold_us {
                    out.push(Finding {
                        kind: FindingKind::Zombie,
                        pid: Some(p.pid),
                        path: None,
                        message: format!(
                            "{} was a zombie for {} ms: it exited at {} ms and {} reaped it \
                             only at {} ms",
                            who(p),
                            ms(zombie),
                            ms(exit),
                            who_pid(model, p.ppid),
                            ms(reaped)
                        ),
                        hint: "call waitpid as soon as a child can have ended (a SIGCHLD \
                               handler, or a wait right after the stop message)",
                    });
                }
            } else if let Some(exit) = p.exit.filter(|_| {
                p.reaped.is_none()
                    && p.adopted.is_none()
                    && !p.auto_reaped
                    && !p.gone_unseen
                    && !p.left_running
                    && !ended_with_parent(model, p)
            }) {
                let when = p.orphaned_zombie.map_or_else(
                    || "its parent never waited for it".to_string(),
                    |at| format!("its parent ended at {} ms without waiting for it", ms(at)),
                );
                out.push(Finding {
                    kind: FindingKind::Zombie,
                    pid: Some(p.pid),
                    path: None,
                    message: format!(
                        "{} exited at {} ms and was never reaped: {when}",
                        who(p),
                        ms(exit)
                    ),
                    hint: "every child must be waited for (waitpid), or it stays a zombie \
                           until its parent ends",
                });
            }
        }
        if let Some(sig) = p.signal.filter(|_| !p.left_running) {
            // abort(3) raises SIGABRT in the process itself: a crash all the same.
            let aborted = |s: &&Sent| sig == libc::SIGABRT && s.from == p.pid;
            let sent = model
                .sent
                .iter()
                .filter(|s| !aborted(s))
                .any(|s| s.signal == sig && (s.target == i64::from(p.pid) || s.target <= 0));
            let message = if model.sent.iter().any(|s| aborted(&s)) {
                format!("{} aborted (SIGABRT, which it raised itself)", who(p))
            } else {
                format!(
                    "{} was ended by {}, which no process of the program sent (the kernel \
                     did, or a process outside the audit)",
                    who(p),
                    signal_name(sig)
                )
            };
            if !sent {
                out.extend(signal_finding(p, sig, message));
            }
        }
    }
    for p in &model.procs {
        out.extend(failed_on_a_fifo(p));
    }
    out
}

/// `p` and its parent were ended by one signal sent to their whole group (killpg, a
/// kill(0), Ctrl-C): they die together, in either order; that is no parent ending while
/// its child runs on, nor one that never reaped its child.
fn ended_with_parent(model: &Model, p: &Proc) -> bool {
    let Some(sig) = p.signal else {
        return false;
    };
    model
        .proc(p.ppid)
        .is_some_and(|parent| parent.signal == Some(sig))
        && model.sent.iter().any(|s| s.signal == sig && s.target <= 0)
}

/// A process whose write to a FIFO found its last reader gone, that lived on (it ignores
/// SIGPIPE, as Python does: the write fails with EPIPE, a `BrokenPipeError`) and then
/// failed (exit status not 0): the lab's mistake of a reader stopping before its writer,
/// seen from a writer that was not killed for it. One that exits 0 handled it: no finding.
fn failed_on_a_fifo(p: &Proc) -> Option<Finding> {
    let BrokenPipe {
        end: End::Fifo(path),
        fd,
    } = p.survived_broken_pipe()?
    else {
        return None;
    };
    let code = p.code.filter(|&c| c != 0)?;
    let on = fd.map_or(String::new(), |fd| format!(" (its fd {fd})"));
    Some(Finding {
        kind: FindingKind::BrokenPipe,
        pid: Some(p.pid),
        path: Some(String::from_utf8_lossy(path).into_owned()),
        message: format!(
            "{} wrote to the FIFO {}{on} after the FIFO's last reader had closed it: the \
             write failed with EPIPE (BrokenPipeError in Python), and it ended with exit \
             status {code}",
            who(p),
            escape(path)
        ),
        hint: FIFO_ORDER_HINT,
    })
}

/// What to do about a writer that met its FIFO's reader gone.
const FIFO_ORDER_HINT: &str = "a FIFO's reader must stay until its writer has stopped: tell \
                               the writer to stop first (a message on the FIFO, or a \
                               signal), then close the reader's end";

/// The finding for `p`, ended by `sig` that no process of the program sent. A SIGPIPE
/// the kernel raised for a write to a pipe or socket whose reader had ended is how a
/// pipeline ends (`yes | head -n 1`): no finding, and the process list says so.
fn signal_finding(p: &Proc, sig: i32, message: String) -> Option<Finding> {
    match p.broken_pipe() {
        Some(BrokenPipe {
            end: End::Fifo(path),
            fd,
        }) => Some(fifo_reader_gone(p, path, *fd)),
        Some(_) => None,
        None => Some(Finding {
            kind: FindingKind::Killed,
            pid: Some(p.pid),
            path: None,
            message,
            hint: killed_hint(sig, p.kernel_raised == Some(sig)),
        }),
    }
}

/// A writer the kernel ended with SIGPIPE on a FIFO: its reader had closed it, the
/// lab's mistake of a reader (a server) stopping before its writer. `fd` is the write's
/// descriptor when the call was known; otherwise the FIFO is the one it had open for
/// writing, and the message says that is what it is based on.
fn fifo_reader_gone(p: &Proc, path: &[u8], fd: Option<i32>) -> Finding {
    let message = match fd {
        Some(fd) => format!(
            "{} was ended by SIGPIPE: it wrote to the FIFO {} (its fd {fd}) after the \
             FIFO's last reader had closed it",
            who(p),
            escape(path)
        ),
        None => format!(
            "{} was ended by SIGPIPE, which the kernel raised for one of its writes, and \
             it had the FIFO {} open for writing (which descriptor the write went to is \
             not known on this system): most likely the FIFO's reader had closed it",
            who(p),
            escape(path)
        ),
    };
    Finding {
        kind: FindingKind::Killed,
        pid: Some(p.pid),
        path: Some(String::from_utf8_lossy(path).into_owned()),
        message,
        hint: FIFO_ORDER_HINT,
    }
}

/// What to do about a process `sig` ended; `by_kernel`: the kernel raised it (seen at
/// its delivery), so a timer or limit of the process's own, not a kill from outside.
fn killed_hint(sig: i32, by_kernel: bool) -> &'static str {
    if KERNEL_RAISED.contains(&sig) && !by_kernel {
        return "a kill from outside the program sent it: find who sends it; if it is \
                expected, handle it and exit in order";
    }
    match sig {
        libc::SIGSEGV | libc::SIGBUS => {
            "a bad memory access: an index past the segment's size, or a segment truncated \
             under a mapping"
        }
        libc::SIGPIPE => {
            "no write of its own raised it (the kernel raises SIGPIPE for a write whose \
             reader has gone, and the audit says so): a kill did, find who sends it"
        }
        libc::SIGABRT => "an abort (a failed assertion, or a runtime's fatal error)",
        // The kernel sends these when a timer the process set itself runs out.
        libc::SIGALRM | libc::SIGVTALRM | libc::SIGPROF => {
            "a timer of its own ran out with no handler for it: alarm(2) or setitimer(2) \
             (signal.alarm, signal.setitimer in Python); cancel it (alarm(0)) once it is not \
             needed, or handle the signal and exit in order"
        }
        libc::SIGXCPU | libc::SIGXFSZ => {
            "a resource limit ran out (CPU time, or file size: ulimit -t, ulimit -f): raise \
             the limit, or find the loop that spends it"
        }
        // SIGKILL cannot be handled: no advice to handle it.
        libc::SIGKILL => {
            "SIGKILL cannot be caught: find who sends it (a kill -9 from outside, or the \
             kernel's out-of-memory killer: see dmesg); to stop a process, send SIGTERM, \
             which it can handle and exit in order"
        }
        _ => "find who sends it; if it is expected, handle it and exit in order",
    }
}

/// A process still alive at the end: running, or stopped (ps says T) and never continued.
/// `insisted`: a second stop signal stopped the audit at once, cutting the grace short.
fn left_running(model: &Model, p: &Proc, insisted: Option<i32>) -> Finding {
    let (message, hint) = match (p.stopped, stop_signal_it_got(model, p), insisted) {
        (None, Some(sig), Some(again)) => (
            format!(
                "{} was still running when the audit ended: it had the {} the audit got \
                 (passed on to it, or that came to it too), and a second {} to the audit \
                 stopped it at once, before the grace (--grace) ran out",
                who(p),
                signal_name(sig),
                signal_name(again)
            ),
            "a stop signal should end the program in order: handle it (clean up, then \
             exit) promptly, so that one Ctrl-C is enough; do not ignore it, and do not \
             wait in the handler for what never comes",
        ),
        (None, Some(sig), None) => (
            format!(
                "{} was still running when the audit ended, past the grace (--grace, at \
                 least 500 ms) after the {} the audit got (and passed on to it, or that \
                 came to it too)",
                who(p),
                signal_name(sig)
            ),
            "a stop signal should end the program in order: handle it (clean up, then \
             exit), do not ignore it, and do not wait in the handler for what never comes",
        ),
        (Some(sig), ..) => (
            format!(
                "{} was stopped ({}) when the audit ended, never continued",
                who(p),
                signal_name(sig)
            ),
            "a stopped process does nothing until it gets SIGCONT: continue it (kill -CONT, \
             os.kill(pid, signal.SIGCONT)) and let it end, then wait for it (waitpid)",
        ),
        (None, None, _) => (
            format!("{} was still running when the audit ended", who(p)),
            "make every process you start end before your program does: tell it to stop \
             (a message, SIGTERM), then wait for it (waitpid)",
        ),
    };
    Finding {
        kind: FindingKind::LeftRunning,
        pid: Some(p.pid),
        path: None,
        message,
        hint,
    }
}

/// The stop signal the audit got that reached `p`: the audit sent it on to `p`, or it
/// came to the audit's whole group and was delivered to `p` (not to a process in a
/// group of its own, which never saw it).
fn stop_signal_it_got(model: &Model, p: &Proc) -> Option<i32> {
    let audit = model.procs.first()?.ppid;
    model
        .sent
        .iter()
        .find(|s| {
            s.from == audit
                && (s.target == i64::from(p.pid)
                    || (s.target == 0 && p.took_stop == Some(s.signal)))
        })
        .map(|s| s.signal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn kinds(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.kind.as_str()).collect()
    }

    #[test]
    fn a_clean_run_has_no_finding() {
        let mut m = Model::default();
        m.started(10, 1, Some(Rc::from(vec!["py".to_string()])), 0);
        m.started(11, 10, None, 100);
        m.created(Kind::Fifo, b"/t/f".to_vec(), b"/t/f".to_vec(), 10, 200);
        m.died(11, Some(0), None, 1_000);
        m.reaped(11, 10, 1_050);
        m.unlinked(b"/t/f", 11, 900);
        m.died(10, Some(0), None, 2_000);
        m.finish(|_| true, |_| false);
        assert_eq!(kinds(&compute(&m, 10, 100_000, None)), Vec::<&str>::new());
    }

    #[test]
    fn each_mistake_is_one_finding() {
        let mut m = Model::default();
        m.started(10, 1, Some(Rc::from(vec!["py".to_string()])), 0);
        m.started(11, 10, None, 100); // zombie for 1 s
        m.started(12, 10, None, 100); // outlives its parent
        m.started(13, 10, None, 100); // killed from outside
        m.created(
            Kind::Segment,
            b"/dev/shm/x".to_vec(),
            b"/x".to_vec(),
            10,
            200,
        );
        m.died(11, Some(0), None, 1_000);
        m.reaped(11, 10, 1_001_000);
        m.died(13, None, Some(libc::SIGKILL), 1_100_000);
        m.reaped(13, 10, 1_100_010);
        m.died(10, Some(0), None, 1_200_000);
        m.finish(|_| true, |_| false);
        let f = compute(&m, 10, 100_000, None);
        assert_eq!(
            kinds(&f),
            [
                "segment-left",
                "zombie",
                "left-running",
                "parent-first",
                "killed"
            ]
        );
        assert!(
            f[1].message.contains("zombie for 1000 ms"),
            "{}",
            f[1].message
        );
        // SIGKILL cannot be handled: the hint does not say to.
        assert!(!f[4].hint.contains("handle it"), "{}", f[4].hint);
        assert!(f[4].hint.contains("cannot be caught"), "{}", f[4].hint);
        // A signal the program sent itself is no finding.
        m.signalled(10, 13, libc::SIGKILL);
        assert!(!kinds(&compute(&m, 10, 100_000, None)).contains(&"killed"));
    }

    #[test]
    fn a_tracker_removing_a_segment_its_creator_still_uses_blames_the_process_that_attached() {
        let tracker = || {
            Some(Rc::from(vec![
                "from multiprocessing.resource_tracker".into(),
            ]))
        };
        let mut m = Model::default();
        m.started(10, 1, Some(Rc::from(vec!["py".to_string()])), 0);
        m.started(11, 10, Some(Rc::from(vec!["reader".to_string()])), 10);
        m.started(12, 11, tracker(), 20);
        m.created(Kind::Segment, b"/dev/shm/x".to_vec(), b"/x".to_vec(), 10, 5);
        m.died(11, Some(0), None, 50);
        m.reaped(11, 10, 51);
        m.unlinked(b"/dev/shm/x", 12, 60);
        m.died(12, Some(0), None, 70);
        m.died(10, Some(0), None, 1_000);
        m.finish(|_| false, |_| false);
        let f = compute(&m, 10, 100_000, None);
        assert_eq!(kinds(&f), ["segment-left"]);
        assert!(
            f[0].message.contains("while its creator still ran"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message.contains("tracker of pid 11 (reader)"),
            "{}",
            f[0].message
        );
        // Removed after its creator ended: the creator's own leak, removed at shutdown.
        m.objects[0].unlinked = Some(2_000);
        let f = compute(&m, 10, 100_000, None);
        assert!(
            f[0].message.contains("removed it at shutdown"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn a_tracker_removing_a_segment_as_its_creator_dies_is_the_creators_own_leak() {
        // The creator reached its exit stop at 500; its files (the pipe to its tracker)
        // close after, so the tracker removed the segment at 509, before the tracer saw
        // the creator dead at 515 (the tracer sees stops in no set order).
        let mut m = Model::default();
        m.started(10, 1, Some(Rc::from(vec!["py".to_string()])), 0);
        m.started(
            12,
            10,
            Some(Rc::from(vec![
                "from multiprocessing.resource_tracker".into(),
            ])),
            20,
        );
        m.created(Kind::Segment, b"/dev/shm/x".to_vec(), b"/x".to_vec(), 10, 5);
        m.exiting(10, 500);
        m.unlinked(b"/dev/shm/x", 12, 509);
        m.died(10, None, Some(libc::SIGINT), 515);
        m.died(12, Some(0), None, 520);
        m.finish(|_| false, |_| false);
        let f = compute(&m, 10, 100_000, None);
        assert_eq!(kinds(&f), ["segment-left", "killed"]);
        assert!(
            f[0].message.contains("removed it at shutdown"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn a_group_signal_ending_parent_and_child_in_either_order_is_no_finding() {
        for child_first in [true, false] {
            let mut m = Model::default();
            m.started(10, 1, Some(Rc::from(vec!["py".to_string()])), 0);
            m.started(11, 10, None, 100);
            m.started(12, 11, None, 200);
            m.signalled(10, -11, libc::SIGTERM);
            let (first, second) = if child_first { (12, 11) } else { (11, 12) };
            m.died(first, None, Some(libc::SIGTERM), 1_000);
            m.died(second, None, Some(libc::SIGTERM), 1_010);
            m.reaped(11, 10, 1_020);
            m.died(10, Some(0), None, 2_000);
            m.finish(|_| true, |_| true);
            assert_eq!(
                kinds(&compute(&m, 10, 100_000, None)),
                Vec::<&str>::new(),
                "child first: {child_first}"
            );
        }
    }

    #[test]
    fn a_sigpipe_on_a_pipe_is_no_finding_but_on_a_fifo_it_is() {
        let broken = |end: End, fd: Option<i32>| Some(BrokenPipe { end, fd });
        let mut m = Model::default();
        m.started(10, 1, Some(Rc::from(vec!["sh".to_string()])), 0);
        for (pid, argv) in [(11, "yes"), (12, "writer"), (13, "writer2"), (14, "sleep")] {
            m.started(pid, 10, Some(Rc::from(vec![argv.to_string()])), 10);
        }
        m.sigpipe(11, broken(End::Pipe, Some(1)));
        m.sigpipe(12, broken(End::Fifo(b"/t/req.fifo".to_vec()), Some(3)));
        m.sigpipe(13, broken(End::Fifo(b"/t/req.fifo".to_vec()), None));
        // A kill from outside: seen at its delivery, not raised by a write.
        m.sigpipe(14, None);
        for pid in 11..=14 {
            m.died(pid, None, Some(libc::SIGPIPE), 100);
            m.reaped(pid, 10, 101);
        }
        m.died(10, Some(0), None, 200);
        m.finish(|_| true, |_| false);
        let f = compute(&m, 10, 100_000, None);
        assert_eq!(
            f.iter().map(|f| f.pid).collect::<Vec<_>>(),
            [Some(12), Some(13), Some(14)]
        );
        assert_eq!(kinds(&f), ["killed", "killed", "killed"]);
        assert_eq!(f[0].path.as_deref(), Some("/t/req.fifo"));
        assert!(f[0].message.contains("(its fd 3)"), "{}", f[0].message);
        assert!(
            f[1].message
                .contains("had the FIFO /t/req.fifo open for writing"),
            "{}",
            f[1].message
        );
        assert!(f[2].message.contains("no process of the program sent"));
        // What a process's write found counts only when a SIGPIPE ended it.
        m.sigpipe(10, broken(End::Fifo(b"/t/x".to_vec()), Some(3)));
        assert!(m.proc(10).unwrap().broken_pipe().is_none());
    }
}
