//! System V IPC objects (shared-memory segments, semaphore sets, message queues) as
//! /proc/sysvipc/{shm,sem,msg} list them (column 1 the key, column 2 the id): which exist
//! at the end, and whether a get call makes one: IPC_PRIVATE always does (with or
//! without IPC_CREAT), IPC_CREAT does for a key that names none yet (for a key that names
//! one, the call opens it and makes nothing).

use super::syscalls::Ipc;

fn table(ipc: Ipc) -> &'static str {
    match ipc {
        Ipc::Shm => "/proc/sysvipc/shm",
        Ipc::Sem => "/proc/sysvipc/sem",
        Ipc::Msg => "/proc/sysvipc/msg",
    }
}

/// The (key, id) of every object of that kind that exists now.
fn objects(ipc: Ipc) -> Vec<(i32, i64)> {
    parse(&std::fs::read_to_string(table(ipc)).unwrap_or_default())
}

fn parse(text: &str) -> Vec<(i32, i64)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let key = cols.next()?.parse().ok()?;
            let id = cols.next()?.parse().ok()?;
            Some((key, id))
        })
        .collect()
}

/// The ids of the objects of that kind that exist now.
pub fn ids(ipc: Ipc) -> Vec<i64> {
    objects(ipc).into_iter().map(|(_, id)| id).collect()
}

/// Whether a get call of `ipc` with `key` and `flags` makes a new object (if it
/// succeeds), as the objects that exist now say.
pub fn get_creates(ipc: Ipc, key: i64, flags: u64) -> bool {
    creates(key, flags, |key| {
        objects(ipc).iter().any(|&(k, _)| k == key)
    })
}

/// IPC_PRIVATE (0) always makes a new object: the textbook
/// `shmget(IPC_PRIVATE, size, S_IRUSR | S_IWUSR)` has no IPC_CREAT. Another key makes one
/// only with IPC_CREAT and only when `exists` says no object has it (without IPC_EXCL,
/// a get of an existing key opens that object).
fn creates(key: i64, flags: u64, exists: impl Fn(i32) -> bool) -> bool {
    // The key is an int (key_t): the low 32 bits, as the kernel reads it.
    let key = key as u32 as i32;
    key == libc::IPC_PRIVATE || (flags & libc::IPC_CREAT as u64 != 0 && !exists(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_ids_are_read_from_the_table() {
        let text = "       key      shmid perms   size\n\
                    \x20 99487284      65584  600   8192\n\
                    \x20        0      65583  600   4096\n\
                    \x20      -17         12  600   4096\n";
        assert_eq!(parse(text), [(99_487_284, 65584), (0, 65583), (-17, 12)]);
    }

    #[test]
    fn ipc_private_always_makes_a_segment_another_key_only_with_ipc_creat_when_new() {
        let creat = libc::IPC_CREAT as u64;
        let none = |_| false;
        let all = |_| true;
        assert!(creates(0, 0o600, none));
        assert!(creates(0, 0o600, all));
        // A 64-bit register with only the low half meaningful.
        assert!(creates(0xffff_ffff_0000_0000_u64 as i64, 0o600, all));
        assert!(creates(7, creat | 0o600, none));
        assert!(!creates(7, creat | 0o600, all));
        assert!(!creates(7, 0o600, none));
    }
}
