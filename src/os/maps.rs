//! Who has an object mapped, from `/proc/PID/maps`: a mapping outlives the descriptor it
//! was made from (a process may map a segment and close it), so `/proc/PID/fd` alone
//! misses it. Used by cleanup, before it removes a segment.

use super::procfs::Holder;

/// For each object `(dev, ino)` of `targets`, the processes that have it mapped, each
/// once per kind of access (`read`, or `read-write` for a writable mapping), in `/proc`'s
/// order. Processes we may not look at (other users') are skipped silently.
pub fn mappers(targets: &[(u64, u64)]) -> Vec<Vec<Holder>> {
    let mut found: Vec<Vec<Holder>> = vec![Vec::new(); targets.len()];
    if targets.is_empty() {
        return found;
    }
    for pid in super::procfs::pids() {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            continue;
        };
        for mapping in text.lines().filter_map(parse_line) {
            for (slot, &target) in found.iter_mut().zip(targets) {
                let holder = Holder {
                    pid,
                    access: mapping.access,
                };
                if mapping.is_of(target) && !slot.contains(&holder) {
                    slot.push(holder);
                }
            }
        }
    }
    found
}

/// Whether process `pid` has the object `target` `(dev, ino)` mapped now.
pub fn maps_now(pid: i32, target: (u64, u64)) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .is_ok_and(|text| text.lines().filter_map(parse_line).any(|m| m.is_of(target)))
}

/// One line of `/proc/PID/maps`: what is mapped, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mapping {
    access: &'static str,
    major: u64,
    minor: u64,
    ino: u64,
}

impl Mapping {
    /// Whether it maps the object `(dev, ino)` (as `stat` gives them).
    fn is_of(&self, (dev, ino): (u64, u64)) -> bool {
        self.ino == ino
            && self.major == libc::major(dev) as u64
            && self.minor == libc::minor(dev) as u64
    }
}

/// Parses `7f0000000000-7f0000001000 rw-s 00000000 00:1a 12345 /dev/shm/osps-demo`: the
/// permissions, the device (major and minor in hex) and the inode (0: anonymous memory,
/// which maps no file and is left out).
fn parse_line(line: &str) -> Option<Mapping> {
    let mut words = line.split_whitespace().skip(1);
    let perms = words.next()?;
    let mut dev = words.nth(1)?.split(':');
    let major = u64::from_str_radix(dev.next()?, 16).ok()?;
    let minor = u64::from_str_radix(dev.next()?, 16).ok()?;
    let ino: u64 = words.next()?.parse().ok()?;
    let access = if perms.as_bytes().get(1) == Some(&b'w') {
        "read-write"
    } else {
        "read"
    };
    (ino != 0).then_some(Mapping {
        access,
        major,
        minor,
        ino,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_parse_and_anonymous_memory_is_left_out() {
        assert_eq!(
            parse_line("7f00-7f01 r--s 00000000 00:1a 12345 /dev/shm/osps-demo"),
            Some(Mapping {
                access: "read",
                major: 0,
                minor: 0x1a,
                ino: 12345
            })
        );
        assert_eq!(
            parse_line("7f00-7f01 rw-s 00001000 fd:0a 7 /dev/shm/a b (deleted)").map(|m| m.access),
            Some("read-write")
        );
        assert_eq!(parse_line("7f00-7f01 rw-p 00000000 00:00 0 "), None);
        assert_eq!(parse_line("garbage"), None);
    }

    /// A file this process maps read-only, its descriptor closed: found, as read.
    #[test]
    fn a_mapping_without_a_descriptor_is_found() {
        use std::os::fd::AsFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mapped");
        std::fs::write(&path, [0u8; 4096]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let st = nix::sys::stat::fstat(&file).unwrap();
        // SAFETY: a fresh read-only shared mapping of a file of 4096 bytes, only unmapped
        // below, never read through.
        let addr = unsafe {
            nix::sys::mman::mmap(
                None,
                std::num::NonZeroUsize::new(4096).unwrap(),
                nix::sys::mman::ProtFlags::PROT_READ,
                nix::sys::mman::MapFlags::MAP_SHARED,
                file.as_fd(),
                0,
            )
        }
        .unwrap();
        drop(file);
        let me = std::process::id() as i32;
        let found = mappers(&[(st.st_dev, st.st_ino), (st.st_dev, st.st_ino + 1)]);
        // SAFETY: the mapping made above, of that length, unused since.
        unsafe { nix::sys::mman::munmap(addr, 4096) }.unwrap();
        assert!(
            found[0].contains(&Holder {
                pid: me,
                access: "read"
            }),
            "{found:?}"
        );
        assert!(found[1].iter().all(|h| h.pid != me), "{found:?}");
        assert!(!maps_now(me, (st.st_dev, st.st_ino)), "unmapped");
    }
}
