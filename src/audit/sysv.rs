//! System V shared memory as /proc/sysvipc/shm lists it (column 1 the key, column 2 the
//! id): which segments exist at the end, and whether a shmget(2) makes one: IPC_PRIVATE
//! always does (with or without IPC_CREAT), IPC_CREAT does for a key that names none yet
//! (for a key that names one, the call opens it and makes nothing).

const TABLE: &str = "/proc/sysvipc/shm";

/// The (key, id) of every segment that exists now.
fn segments() -> Vec<(i32, i64)> {
    parse(&std::fs::read_to_string(TABLE).unwrap_or_default())
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

/// The ids of the segments that exist now.
pub fn ids() -> Vec<i64> {
    segments().into_iter().map(|(_, id)| id).collect()
}

/// Whether shmget(`key`, _, `flags`) makes a new segment (if it succeeds), as the
/// segments that exist now say.
pub fn shmget_creates(key: i64, flags: u64) -> bool {
    creates(key, flags, |key| segments().iter().any(|&(k, _)| k == key))
}

/// IPC_PRIVATE (0) always makes a new segment: the textbook
/// `shmget(IPC_PRIVATE, size, S_IRUSR | S_IWUSR)` has no IPC_CREAT. Another key makes one
/// only with IPC_CREAT and only when `exists` says no segment has it (without IPC_EXCL,
/// shmget of an existing key opens that segment).
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
