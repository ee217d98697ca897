//! `osps audit --clean`: after the report, removes what it reported as left (segments,
//! semaphores, message queues, System V objects, FIFOs), each only if it is still the kind of object the
//! audit saw made, and says so on stderr. Nothing else is ever touched: not an object
//! that was there before the audit (the program only opened it).

use std::os::unix::fs::FileTypeExt;

use super::longpath::Reachable;
use super::model::{Kind, Model};
use super::mqueue;
use super::tracer::as_path;
use super::words::escape;

/// IPC_RMID of the System V object `id` of `kind`.
fn remove_sysv(kind: Kind, id: i32) -> std::io::Result<()> {
    // SAFETY: IPC_RMID takes no buffer (null is allowed) and ignores semctl's semnum.
    let r = unsafe {
        match kind {
            Kind::SysVSem => libc::semctl(id, 0, libc::IPC_RMID),
            Kind::SysVMsg => libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()),
            _ => libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()),
        }
    };
    match r {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Removes every object the report marked as left; returns how many were removed.
pub fn remove_left(model: &Model) -> usize {
    let mut removed = 0;
    for o in model
        .objects
        .iter()
        .filter(|o| o.left && !o.hidden && !o.existed)
    {
        let what = if o.kind == Kind::Fifo {
            format!("FIFO {}", escape(&o.path))
        } else {
            format!("{} {}", o.kind.word(), escape(&o.name))
        };
        let result = match o.kind {
            Kind::SysV | Kind::SysVSem | Kind::SysVMsg => {
                match o.sysv_id.and_then(|id| i32::try_from(id).ok()) {
                    Some(id) => remove_sysv(o.kind, id),
                    None => continue,
                }
            }
            Kind::MQueue => mqueue::unlink(&o.name),
            Kind::Fifo => match Reachable::new(&o.path) {
                Ok(r) => match std::fs::symlink_metadata(r.path()) {
                    Ok(m) if m.file_type().is_fifo() => std::fs::remove_file(r.path()),
                    _ => continue,
                },
                Err(_) => continue,
            },
            Kind::Segment | Kind::Semaphore => std::fs::remove_file(as_path(&o.path)),
        };
        match result {
            Ok(()) => {
                removed += 1;
                crate::info!("--clean: removed {what}");
            }
            Err(e) => crate::warn!("--clean: could not remove {what}: {e}"),
        }
    }
    removed
}
