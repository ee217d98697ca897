//! What a stopped call did, once its syscall-exit stop gave the return value: the entry
//! stop decided that the result matters and kept a [`Pending`]; [`Pending::complete`]
//! records it in the model. A failed call (`is_error`) never gets here.

use super::memory::{self, Unread};
use super::model::{Kind, Model};
use super::procfs;
use super::syscalls::{self, Ipc, ShmKind};

/// A system call stopped at entry whose result the exit stop will give.
#[derive(Debug)]
pub enum Pending {
    Create {
        kind: ShmKind,
        path: Vec<u8>,
        name: Vec<u8>,
    },
    /// An open with O_CREAT of a segment that is there already (`truncates`: O_TRUNC).
    Reopen {
        kind: ShmKind,
        path: Vec<u8>,
        name: Vec<u8>,
        truncates: bool,
    },
    Fifo(Vec<u8>),
    /// The path, and the size of the segment there just before (its size when removed).
    Unlink(Vec<u8>, Option<u64>),
    /// From, to, and whether the two were exchanged (RENAME_EXCHANGE).
    Rename(Vec<u8>, Vec<u8>, bool),
    Link(Vec<u8>, Vec<u8>),
    /// ftruncate, truncate, fallocate (`true`: it only grows), or an open with O_TRUNC
    /// (size 0).
    Truncate(Vec<u8>, u64, bool),
    /// wait4, or waitid with the address of its siginfo; `asked`: when the program called
    /// it (its entry stop), which is when it asked to reap.
    Wait {
        info: Option<u64>,
        asked: u64,
    },
    /// A System V get that makes an object: its kind, key and size.
    IpcGet(Kind, i64, u64),
    /// A System V get with IPC_CREAT of a key that has an object already: kind, key.
    IpcReopen(Kind, i64),
    IpcRmid(Kind, i64),
    /// An mq_open with O_CREAT of a queue not there yet: its path and name.
    MqCreate(Vec<u8>, Vec<u8>),
    /// An mq_open with O_CREAT of a queue that is there already: its path and name.
    MqReopen(Vec<u8>, Vec<u8>),
    MqUnlink(Vec<u8>),
}

/// The model's kind of a System V object.
pub fn sysv_kind(ipc: Ipc) -> Kind {
    match ipc {
        Ipc::Shm => Kind::SysV,
        Ipc::Sem => Kind::SysVSem,
        Ipc::Msg => Kind::SysVMsg,
    }
}

fn kind_of(kind: ShmKind) -> Kind {
    match kind {
        ShmKind::Segment => Kind::Segment,
        ShmKind::Semaphore => Kind::Semaphore,
    }
}

/// The POSIX name a path of `/dev/shm` gives an object moved there.
fn shm_name_of(path: &[u8]) -> Option<Vec<u8>> {
    syscalls::shm_name(path).map(|(_, n)| n)
}

impl Pending {
    /// Records what the call of `pid` (thread group `tgid`) did; `rval` is its result.
    pub fn complete(self, m: &mut Model, pid: i32, tgid: i32, rval: i64, at: u64) {
        match self {
            // Two opens with O_CREAT in flight at once (a pair's two sides starting
            // together) both found no file at entry; one made it, the other opened it.
            // One that found it at entry and was seen first took it for a leftover:
            // this call, which found none, made it.
            Pending::Create { path, .. } if m.is_live(&path) => m.made_after_all(&path, tgid),
            Pending::Create { kind, path, name } => m.created(kind_of(kind), path, name, tgid, at),
            Pending::Reopen {
                kind,
                path,
                name,
                truncates,
            } => {
                if !m.is_live(&path) {
                    m.opened_existing(kind_of(kind), path.clone(), name, tgid, at);
                }
                if truncates {
                    m.resized(&path, 0, false);
                }
            }
            Pending::Fifo(path) => m.created(Kind::Fifo, path.clone(), path, tgid, at),
            Pending::Unlink(path, size) => {
                if let Some(size) = size {
                    m.measured(&path, size);
                }
                m.unlinked(&path, tgid, at);
            }
            // rename(a, a) succeeds and does nothing.
            Pending::Rename(from, to, _) if from == to => {}
            Pending::Rename(from, to, true) => {
                m.exchanged(&from, &to, shm_name_of(&from), shm_name_of(&to));
                m.moved_dir(&from, &to, true);
            }
            Pending::Rename(from, to, false) => {
                // What `to` named is gone: replaced by what was moved there.
                m.unlinked(&to, tgid, at);
                let name = shm_name_of(&to);
                m.moved_dir(&from, &to, false);
                m.renamed(&from, to, name);
            }
            Pending::Link(from, to) => {
                // glibc's sem_open links a temporary file to its real name.
                if syscalls::is_sem_temp(&from) {
                    m.hide(&from);
                }
                if let Some((kind, name)) = syscalls::shm_name(&to) {
                    m.created(kind_of(kind), to, name, tgid, at);
                } else if let Some(kind) = m.kind_at(&from) {
                    // A FIFO linked to a second name stays there under it, whatever
                    // becomes of the first.
                    m.created(kind, to.clone(), to, tgid, at);
                }
            }
            Pending::Truncate(path, size, grows_only) => m.resized(&path, size, grows_only),
            // waitid(2) may be given no siginfo at all, or one we may not read (a
            // non-dumpable caller, to an unprivileged audit): then the child it reaped is
            // the one of the caller's ended children that is gone from /proc.
            Pending::Wait {
                info: Some(info),
                asked,
            } if rval == 0 => {
                let named = match info {
                    0 => Err(Unread::Gone),
                    _ => memory::read_u64(pid, info + syscalls::SIGINFO_PID_OFFSET),
                };
                match named {
                    Ok(word) => {
                        let child = word as u32 as i32;
                        if child > 0 {
                            m.reaped_by_wait(child, tgid, asked, at);
                        }
                    }
                    Err(_) => {
                        for child in m.unreaped_children(tgid) {
                            if procfs::state(child).is_none() {
                                m.reaped_by_wait(child, tgid, asked, at);
                            }
                        }
                    }
                }
            }
            // wait4 returns the child it reaped (0 with WNOHANG: none yet).
            Pending::Wait { info: None, asked } => {
                if let Ok(child) = i32::try_from(rval) {
                    if child > 0 {
                        m.reaped_by_wait(child, tgid, asked, at);
                    }
                }
            }
            // waitid with WNOHANG and nothing to report.
            Pending::Wait { .. } => {}
            Pending::IpcGet(kind, key, size) => m.created_sysv(kind, rval, key, size, tgid, at),
            Pending::IpcReopen(kind, key) => m.opened_existing_sysv(kind, rval, key, tgid, at),
            Pending::IpcRmid(kind, id) => m.removed_sysv(kind, id, tgid, at),
            Pending::MqCreate(path, _) if m.is_live(&path) => {}
            Pending::MqCreate(path, name) => m.created(Kind::MQueue, path, name, tgid, at),
            Pending::MqReopen(path, name) => {
                if !m.is_live(&path) {
                    m.opened_existing(Kind::MQueue, path, name, tgid, at);
                }
            }
            Pending::MqUnlink(path) => m.unlinked(&path, tgid, at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::findings;

    /// A parent 10 and its child 11, which ended at 1 s (exit stop) and was a zombie
    /// from 1.00005 s (its death, collected).
    fn ended_child() -> Model {
        let mut m = Model::default();
        m.started(10, 1, None, 0);
        m.started(11, 10, None, 100);
        m.exiting(11, 1_000_000);
        m.died(11, Some(0), None, 1_000_050);
        m
    }

    #[test]
    fn an_open_that_found_no_segment_made_it_though_another_that_found_it_ended_first() {
        let seg = || (ShmKind::Segment, b"/dev/shm/x".to_vec(), b"/x".to_vec());
        let mut m = Model::default();
        let (kind, path, name) = seg();
        let reopen = Pending::Reopen {
            kind,
            path,
            name,
            truncates: false,
        };
        reopen.complete(&mut m, 11, 11, 3, 10);
        assert!(m.objects[0].existed);
        let (kind, path, name) = seg();
        Pending::Create { kind, path, name }.complete(&mut m, 10, 10, 3, 12);
        assert_eq!(m.objects.len(), 1);
        assert!(!m.objects[0].existed);
        assert_eq!(m.objects[0].created_by, 10);
    }

    #[test]
    fn a_child_reaped_by_a_wait_already_waiting_was_no_zombie_however_late_the_tracer_looks() {
        let mut m = ended_child();
        // The parent blocked in wait4 at 0.2 s; the tracer, busy on a loaded machine,
        // handles the call's return only 0.4 s after the child ended.
        let wait = Pending::Wait {
            info: None,
            asked: 200_000,
        };
        wait.complete(&mut m, 10, 10, 11, 1_400_000);
        let child = m.proc(11).unwrap();
        // Reaped as soon as it was a zombie (its death, after its exit stop).
        assert_eq!((child.reaped_by, child.reaped), (Some(10), Some(1_000_050)));
        assert!(findings::compute(&m, 10, 100_000, None).is_empty());
    }

    #[test]
    fn a_wait_called_late_is_a_zombie_until_the_call_not_until_the_tracer_saw_it_return() {
        let mut m = ended_child();
        let wait = Pending::Wait {
            info: None,
            asked: 1_300_000,
        };
        wait.complete(&mut m, 10, 10, 11, 1_900_000);
        assert_eq!(m.proc(11).unwrap().reaped, Some(1_300_000));
        let f = findings::compute(&m, 10, 100_000, None);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("zombie for 300 ms"),
            "{}",
            f[0].message
        );
    }
}
