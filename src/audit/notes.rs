//! What the report says besides its findings: what the audit saw but cannot blame on the
//! program, and what it could not see. A note never fails the audit, but the verdict
//! never calls a run clean while there is one. Pure functions over the [`Model`].

use serde::Serialize;

use super::model::Model;
use super::unseen::Unseen;
use super::words::{escape, who};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Note {
    /// The object's path, when the note is about one.
    pub path: Option<String>,
    pub message: String,
}

/// The words of a note about an object that was there before the audit, per kind.
mod reopened {
    use super::super::model::{Kind, Obj};
    use super::escape;

    pub fn what(kind: Kind) -> &'static str {
        match kind {
            Kind::Segment | Kind::SysV => "shared-memory segment",
            k => k.word(),
        }
    }

    pub fn how_opened(kind: Kind) -> &'static str {
        match kind {
            Kind::SysV => "got it with shmget and IPC_CREAT",
            Kind::SysVSem => "got it with semget and IPC_CREAT",
            Kind::SysVMsg => "got it with msgget and IPC_CREAT",
            Kind::MQueue => "opened it with mq_open and O_CREAT",
            _ => "opened it with O_CREAT",
        }
    }

    pub fn removal(kind: Kind) -> &'static str {
        match kind {
            Kind::SysV => "shmctl(id, IPC_RMID)",
            Kind::SysVSem => "semctl(id, 0, IPC_RMID)",
            Kind::SysVMsg => "msgctl(id, IPC_RMID)",
            Kind::MQueue => "mq_unlink(3)",
            _ => "shm_unlink(3), shm.unlink() in Python",
        }
    }

    pub fn exclusive(kind: Kind) -> &'static str {
        if kind.is_sysv() {
            "IPC_CREAT | IPC_EXCL"
        } else {
            "O_EXCL"
        }
    }

    pub fn remove_now(o: &Obj) -> String {
        let id = o.sysv_id.unwrap_or_default();
        match o.kind {
            Kind::SysV => format!("ipcrm -m {id}"),
            Kind::SysVSem => format!("ipcrm -s {id}"),
            Kind::SysVMsg => format!("ipcrm -q {id}"),
            Kind::MQueue => format!(
                "mq_unlink(\"{}\") (or rm {}, where /dev/mqueue is mounted)",
                escape(&o.name),
                escape(&o.path)
            ),
            _ => format!("rm {}", escape(&o.path)),
        }
    }
}

/// Every note, objects first; `unseen`: what the audit could not read.
pub fn compute(model: &Model, unseen: &Unseen) -> Vec<Note> {
    let mut out = Vec::new();
    for o in model.objects.iter().filter(|o| o.existed && o.left) {
        let by = model
            .proc(o.created_by)
            .map_or_else(|| format!("pid {}", o.created_by), who);
        out.push(Note {
            path: (!o.kind.is_sysv()).then(|| String::from_utf8_lossy(&o.path).into_owned()),
            message: format!(
                "{} {} was already there when {by} {} (an earlier run or another program \
                 left it), and it is still there at the end: no process of the program \
                 removed it. If the program makes it, it should remove it too ({}); {} \
                 makes a leftover an error you see. If it is a leftover: {}",
                reopened::what(o.kind),
                escape(&o.name),
                reopened::how_opened(o.kind),
                reopened::removal(o.kind),
                reopened::exclusive(o.kind),
                reopened::remove_now(o),
            ),
        });
    }
    let n = unseen.calls;
    if n > 0 {
        let (calls, their) = if n == 1 {
            ("call", "its")
        } else {
            ("calls", "their")
        };
        out.push(Note {
            path: None,
            message: format!(
                "{n} {calls} of the program that name a path could not be read: {their} \
                 path (in its memory) or the directory it is relative to (/proc/PID/cwd, \
                 /proc/PID/fd/N) could not be resolved, as for a process that is not \
                 dumpable (an execute-only program, mode 0711, or one that called \
                 prctl(PR_SET_DUMPABLE, 0)) when the audit is not run by root. A segment \
                 or FIFO made or removed by such a call is missing from this report: \
                 audit as root (sudo osps audit ...) to see everything"
            ),
        });
    }
    for path in &unseen.appeared {
        let shown = escape(path);
        out.push(Note {
            path: Some(String::from_utf8_lossy(path).into_owned()),
            message: format!(
                "{shown} appeared or changed while the audit ran and is still there, by a \
                 call the audit could not read: most likely the program made it and left \
                 it (if so, remove it: rm {shown})"
            ),
        });
    }
    out
}
