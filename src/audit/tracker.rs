//! The finding for an object Python's multiprocessing resource tracker removed: the
//! program never did (a segment it did not unlink, a semaphore left at `os._exit`), or
//! the tracker of a process that only opened it by name removed it under its creator.
//! A pure function over the [`Model`], worded by the object's kind; `findings.rs` makes
//! it a finding.

use super::model::{Kind, Model, Obj, Proc};
use super::words::{escape, ms, who, who_pid};

/// What the finding says of what the tracker removed.
pub struct Removal {
    /// A named semaphore (else a segment).
    pub semaphore: bool,
    pub message: String,
    pub hint: &'static str,
}

/// What `tracker` removed. A tracker removes what its processes leaked once all of them
/// have ended; one that removes an object while its creator still runs is the tracker
/// of another process, which only attached to it by name (before Python 3.13 every
/// SharedMemory registers with its process's tracker).
pub fn removed(model: &Model, o: &Obj, tracker: &Proc) -> Removal {
    let name = escape(&o.name);
    let creator_ran = o.unlinked.is_some_and(|at| {
        model
            .proc(o.created_by)
            .is_some_and(|c| c.exit_stop.or(c.exit).is_none_or(|exit| exit > at))
    });
    let semaphore = o.kind == Kind::Semaphore;
    let what = if semaphore {
        "named semaphore"
    } else {
        "segment"
    };
    let by = who_pid(model, o.created_by);
    let (message, hint) = if creator_ran {
        (
            format!(
                "{what} {name} made by {by} was removed at {} ms while its creator still ran: \
                 the resource tracker of {}, {}, removed it when that process ended, since it \
                 had opened the {what} by name",
                ms(o.unlinked.unwrap_or(0)),
                who_pid(model, tracker.ppid),
                who(tracker)
            ),
            if semaphore {
                "give a lock or semaphore to the processes that use it when you start them \
                 (an argument of Process), not by its name: a process that opens one by \
                 name has its tracker remove it when that process ends"
            } else {
                "a process that only attaches (SharedMemory(name=...)) and was not forked by \
                 the creator should call resource_tracker.unregister(shm._name, \
                 'shared_memory') after opening it (track=False from Python 3.13); only the \
                 last user unlinks"
            },
        )
    } else {
        (
            format!(
                "{what} {name} made by {by} was not removed by the program: Python's \
                 resource tracker, {}, removed it at shutdown",
                who(tracker)
            ),
            if semaphore {
                "multiprocessing removes its locks' and semaphores' names when the program \
                 ends normally: os._exit(), a kill or a crash skips that; end it normally \
                 (return from main, sys.exit()), so that the tracker, a safety net that \
                 warns about leaks, has nothing to remove"
            } else {
                "call shm.unlink() once both sides are done (the tracker is a safety net \
                 that warns about leaked segments, not the cleanup)"
            },
        )
    };
    Removal {
        semaphore,
        message,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn a_semaphore_the_tracker_removed_is_worded_as_a_semaphore() {
        let mut m = Model::default();
        m.started(10, 1, Some(Rc::from(vec!["py".to_string()])), 0);
        let argv = vec!["from multiprocessing.resource_tracker".to_string()];
        m.started(12, 10, Some(Rc::from(argv)), 20);
        let path = b"/dev/shm/sem.mp-1".to_vec();
        m.created(Kind::Semaphore, path.clone(), b"/mp-1".to_vec(), 10, 5);
        m.died(10, Some(0), None, 100);
        m.unlinked(&path, 12, 150);
        let f = removed(&m, &m.objects[0], m.proc(12).unwrap());
        assert!(f.semaphore);
        assert!(
            f.message.starts_with("named semaphore /mp-1"),
            "{}",
            f.message
        );
        assert!(!f.hint.contains("shm.unlink"), "{}", f.hint);
    }
}
