//! System V shared memory as /proc/sysvipc/shm lists it (column 1 the key, column 2 the
//! id): which segments exist at the end, and whether a key names one already when a
//! program calls shmget with IPC_CREAT (then the call opens it, it makes nothing).

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

/// Whether a segment of `key` exists now: shmget(key, IPC_CREAT) without IPC_EXCL then
/// opens it. IPC_PRIVATE (0) always makes a new one.
pub fn key_exists(key: i64) -> bool {
    // The key is an int (key_t): the low 32 bits, as the kernel reads it.
    let key = key as u32 as i32;
    key != libc::IPC_PRIVATE && segments().iter().any(|&(k, _)| k == key)
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
}
