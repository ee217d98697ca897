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

/// Every note, objects first; `unseen`: what the audit could not read.
pub fn compute(model: &Model, unseen: &Unseen) -> Vec<Note> {
    let mut out = Vec::new();
    for o in model.objects.iter().filter(|o| o.existed && o.left) {
        let by = model
            .proc(o.created_by)
            .map_or_else(|| format!("pid {}", o.created_by), who);
        let path = escape(&o.path);
        out.push(Note {
            path: Some(String::from_utf8_lossy(&o.path).into_owned()),
            message: format!(
                "shared-memory segment {} was already there when {by} opened it with \
                 O_CREAT (an earlier run or another program left it), and it is still there \
                 at the end: no process of the program removed it. If the program makes it, \
                 it should remove it too (shm_unlink(3), shm.unlink() in Python); O_EXCL \
                 makes a leftover an error you see. If it is a leftover: rm {path}",
                escape(&o.name)
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
