//! What the report says besides its findings: what the audit saw but cannot blame on the
//! program, and what it could not see. A note never fails the audit, but the verdict
//! never calls a run clean while there is one. Pure functions over the [`Model`].

use serde::Serialize;

use super::model::Model;
use super::words::{escape, who};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Note {
    /// The object's path, when the note is about one.
    pub path: Option<String>,
    pub message: String,
}

/// Every note, objects first.
pub fn compute(model: &Model) -> Vec<Note> {
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
    out
}
