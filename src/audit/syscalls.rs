//! Which system calls the audit stops on, and what their arguments mean: pure functions
//! over the numbers `PTRACE_GET_SYSCALL_INFO` hands over, unit-tested without a tracee.
//!
//! The calls are named by `libc::SYS_*`, so x86_64 and aarch64 share this file; the
//! legacy calls that only x86_64 has (`open`, `creat`, `mknod`, `unlink`, `rename`,
//! `link`) are behind `cfg`. glibc's `shm_unlink` and Python's `os.unlink` call
//! `unlink(2)` on x86_64 and `unlinkat(2)` elsewhere: both are decoded into one
//! [`Call::Unlink`]. Paths are bytes: a tracee may name a file with a newline or with
//! bytes that are not UTF-8, and nothing here assumes otherwise.

/// `AUDIT_ARCH_*` of this build (linux/audit.h: the ELF machine, 64-bit, little-endian).
#[cfg(target_arch = "x86_64")]
pub const ARCH: u32 = 62 | 0x8000_0000 | 0x4000_0000;
#[cfg(target_arch = "aarch64")]
pub const ARCH: u32 = 183 | 0x8000_0000 | 0x4000_0000;

/// The open flags that make an `open` stop: it creates, or it truncates (a segment's
/// size is then 0).
pub const OPEN_FLAGS_TRACED: u32 = (libc::O_CREAT | libc::O_TRUNC) as u32;

/// The calls the filter stops on, and for the `open` family the argument holding the
/// flags (they stop only with one of [`OPEN_FLAGS_TRACED`] set there).
pub const TRACED: &[(i64, Option<u32>)] = &[
    (libc::SYS_openat, Some(2)),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_open, Some(1)),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_creat, None),
    // openat2's flags are in memory (struct open_how), out of the filter's reach.
    (libc::SYS_openat2, None),
    (libc::SYS_mknodat, None),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_mknod, None),
    (libc::SYS_unlinkat, None),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_unlink, None),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_rename, None),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_renameat, None),
    (libc::SYS_renameat2, None),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_link, None),
    (libc::SYS_linkat, None),
    (libc::SYS_ftruncate, None),
    (libc::SYS_truncate, None),
    (libc::SYS_fallocate, None),
    (libc::SYS_wait4, None),
    (libc::SYS_waitid, None),
    (libc::SYS_kill, None),
    (libc::SYS_tkill, None),
    (libc::SYS_tgkill, None),
    // sigqueue(3) and pthread_sigqueue(3).
    (libc::SYS_rt_sigqueueinfo, None),
    (libc::SYS_rt_tgsigqueueinfo, None),
    (libc::SYS_pidfd_send_signal, None),
    (libc::SYS_shmget, None),
    (libc::SYS_shmctl, None),
    (libc::SYS_semget, None),
    (libc::SYS_semctl, None),
    (libc::SYS_msgget, None),
    (libc::SYS_msgctl, None),
    // Only with O_CREAT: an mq_open that cannot create makes nothing.
    (libc::SYS_mq_open, Some(1)),
    (libc::SYS_mq_unlink, None),
];

/// The three kinds of System V IPC object, each with its own ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ipc {
    /// shmget(2): a shared-memory segment.
    Shm,
    /// semget(2): a semaphore set.
    Sem,
    /// msgget(2): a message queue.
    Msg,
}

/// The longest path read from a tracee (PATH_MAX, the NUL included).
pub const PATH_MAX: usize = libc::PATH_MAX as usize;

/// Where a path argument is resolved from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// The calling process's working directory (`AT_FDCWD`, or a legacy call).
    Cwd,
    /// A directory descriptor of the caller.
    Fd(i32),
}

/// One decoded call at its entry; the `u64` addresses are in the tracee's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// open, openat, creat (`flags` known), openat2 (`how` is the address of its flags).
    Open {
        base: Base,
        path: u64,
        flags: Option<u64>,
        how: Option<u64>,
    },
    Mknod {
        base: Base,
        path: u64,
        mode: u64,
    },
    Unlink {
        base: Base,
        path: u64,
        flags: u64,
    },
    /// rename, renameat, renameat2 (`exchange`: RENAME_EXCHANGE swaps the two).
    Rename {
        from: (Base, u64),
        to: (Base, u64),
        exchange: bool,
    },
    Link {
        from: (Base, u64),
        to: (Base, u64),
    },
    /// ftruncate, or fallocate (posix_fallocate): `length` is the size it makes.
    Ftruncate {
        fd: i32,
        length: u64,
        grows_only: bool,
    },
    /// truncate(2), by path (os.truncate with a path).
    Truncate {
        path: u64,
        length: u64,
    },
    Wait4 {
        pid: i64,
    },
    Waitid {
        info: u64,
        options: u64,
    },
    /// kill and rt_sigqueueinfo (`thread` false), tkill, tgkill and rt_tgsigqueueinfo
    /// (`thread` true: `target` is a thread id).
    Kill {
        target: i64,
        signal: i32,
        thread: bool,
    },
    /// pidfd_send_signal: the target is the process a pidfd of the caller refers to.
    PidfdKill {
        fd: i32,
        signal: i32,
    },
    /// shmget, semget (`size`: the number of semaphores), msgget (`size` 0).
    IpcGet {
        ipc: Ipc,
        key: i64,
        size: u64,
        flags: u64,
    },
    /// shmctl, semctl, msgctl.
    IpcCtl {
        ipc: Ipc,
        id: i64,
        cmd: i64,
    },
    /// mq_open(3) (glibc passes the name without its leading slash).
    MqOpen {
        name: u64,
        flags: u64,
    },
    MqUnlink {
        name: u64,
    },
    Other(i64),
}

fn base(arg: u64) -> Base {
    // dirfd is an int: the low 32 bits, sign-extended.
    let fd = arg as u32 as i32;
    if fd == libc::AT_FDCWD {
        Base::Cwd
    } else {
        Base::Fd(fd)
    }
}

/// Decodes a call from its number and raw arguments.
pub fn decode(nr: i64, a: [u64; 6]) -> Call {
    let int = |x: u64| x as u32 as i32;
    let long = |x: u64| x as i64;
    match nr {
        libc::SYS_openat => Call::Open {
            base: base(a[0]),
            path: a[1],
            flags: Some(a[2]),
            how: None,
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_open => Call::Open {
            base: Base::Cwd,
            path: a[0],
            flags: Some(a[1]),
            how: None,
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_creat => Call::Open {
            base: Base::Cwd,
            path: a[0],
            flags: Some((libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64),
            how: None,
        },
        libc::SYS_openat2 => Call::Open {
            base: base(a[0]),
            path: a[1],
            flags: None,
            how: Some(a[2]),
        },
        libc::SYS_mknodat => Call::Mknod {
            base: base(a[0]),
            path: a[1],
            mode: a[2],
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_mknod => Call::Mknod {
            base: Base::Cwd,
            path: a[0],
            mode: a[1],
        },
        libc::SYS_unlinkat => Call::Unlink {
            base: base(a[0]),
            path: a[1],
            flags: a[2],
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_unlink => Call::Unlink {
            base: Base::Cwd,
            path: a[0],
            flags: 0,
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_rename => Call::Rename {
            from: (Base::Cwd, a[0]),
            to: (Base::Cwd, a[1]),
            exchange: false,
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_renameat => Call::Rename {
            from: (base(a[0]), a[1]),
            to: (base(a[2]), a[3]),
            exchange: false,
        },
        libc::SYS_renameat2 => Call::Rename {
            from: (base(a[0]), a[1]),
            to: (base(a[2]), a[3]),
            exchange: a[4] & u64::from(libc::RENAME_EXCHANGE) != 0,
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_link => Call::Link {
            from: (Base::Cwd, a[0]),
            to: (Base::Cwd, a[1]),
        },
        libc::SYS_linkat => Call::Link {
            from: (base(a[0]), a[1]),
            to: (base(a[2]), a[3]),
        },
        libc::SYS_ftruncate => Call::Ftruncate {
            fd: int(a[0]),
            length: a[1],
            grows_only: false,
        },
        libc::SYS_truncate => Call::Truncate {
            path: a[0],
            length: a[1],
        },
        libc::SYS_fallocate => Call::Ftruncate {
            fd: int(a[0]),
            length: a[2].saturating_add(a[3]),
            grows_only: true,
        },
        libc::SYS_wait4 => Call::Wait4 {
            pid: i64::from(int(a[0])),
        },
        libc::SYS_waitid => Call::Waitid {
            info: a[2],
            options: a[3],
        },
        libc::SYS_kill => Call::Kill {
            target: i64::from(int(a[0])),
            signal: int(a[1]),
            thread: false,
        },
        libc::SYS_tkill => Call::Kill {
            target: i64::from(int(a[0])),
            signal: int(a[1]),
            thread: true,
        },
        libc::SYS_tgkill => Call::Kill {
            target: i64::from(int(a[1])),
            signal: int(a[2]),
            thread: true,
        },
        libc::SYS_rt_sigqueueinfo => Call::Kill {
            target: i64::from(int(a[0])),
            signal: int(a[1]),
            thread: false,
        },
        libc::SYS_rt_tgsigqueueinfo => Call::Kill {
            target: i64::from(int(a[1])),
            signal: int(a[2]),
            thread: true,
        },
        libc::SYS_pidfd_send_signal => Call::PidfdKill {
            fd: int(a[0]),
            signal: int(a[1]),
        },
        libc::SYS_shmget => Call::IpcGet {
            ipc: Ipc::Shm,
            key: i64::from(int(a[0])),
            size: a[1],
            flags: a[2],
        },
        libc::SYS_semget => Call::IpcGet {
            ipc: Ipc::Sem,
            key: i64::from(int(a[0])),
            size: a[1],
            flags: a[2],
        },
        libc::SYS_msgget => Call::IpcGet {
            ipc: Ipc::Msg,
            key: i64::from(int(a[0])),
            size: 0,
            flags: a[1],
        },
        // The command's low byte: glibc may add IPC_64 (0x100).
        libc::SYS_shmctl => Call::IpcCtl {
            ipc: Ipc::Shm,
            id: i64::from(int(a[0])),
            cmd: long(a[1]) & 0xff,
        },
        libc::SYS_semctl => Call::IpcCtl {
            ipc: Ipc::Sem,
            id: i64::from(int(a[0])),
            cmd: long(a[2]) & 0xff,
        },
        libc::SYS_msgctl => Call::IpcCtl {
            ipc: Ipc::Msg,
            id: i64::from(int(a[0])),
            cmd: long(a[1]) & 0xff,
        },
        libc::SYS_mq_open => Call::MqOpen {
            name: a[0],
            flags: a[1],
        },
        libc::SYS_mq_unlink => Call::MqUnlink { name: a[0] },
        other => Call::Other(other),
    }
}

/// Whether open flags ask to create.
pub fn creates(flags: u64) -> bool {
    flags & libc::O_CREAT as u64 != 0
}

/// Whether open flags ask to truncate an existing file to 0.
pub fn truncates(flags: u64) -> bool {
    flags & libc::O_TRUNC as u64 != 0
}

/// Whether a mknod mode makes a FIFO.
pub fn makes_fifo(mode: u64) -> bool {
    (mode as u32) & libc::S_IFMT == libc::S_IFIFO
}

/// Whether unlinkat's flags say rmdir (`AT_REMOVEDIR`): never one of our objects.
pub fn removes_dir(flags: u64) -> bool {
    flags & libc::AT_REMOVEDIR as u64 != 0
}

/// Whether waitid's options leave the child waitable (`WNOWAIT`): no reap.
pub fn leaves_waitable(options: u64) -> bool {
    options & libc::WNOWAIT as u64 != 0
}

/// Where `si_pid` lies in a `siginfo_t` for SIGCHLD on 64-bit Linux: after si_signo,
/// si_errno and si_code (three ints) comes the union, aligned to 8.
pub const SIGINFO_PID_OFFSET: u64 = 16;

/// `path` as the kernel resolves it from `base` (a directory path): absolute paths stand
/// alone; `.` components and repeated slashes are dropped (`..` is kept: undoing it
/// lexically is wrong through a symbolic link).
pub fn resolve(base: &[u8], path: &[u8]) -> Vec<u8> {
    let mut joined = Vec::with_capacity(base.len() + path.len() + 1);
    if !path.starts_with(b"/") {
        joined.extend_from_slice(base);
        joined.push(b'/');
    }
    joined.extend_from_slice(path);
    normalise(&joined)
}

fn normalise(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for part in path.split(|&b| b == b'/') {
        if part.is_empty() || part == b"." {
            continue;
        }
        out.push(b'/');
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// `path` (resolved, absolute) with what names "the calling process" made explicit:
/// `/proc/self` is `/proc/TGID`, `/proc/thread-self` is `/proc/TGID/task/TID`, `/dev/fd`
/// is `/proc/TGID/fd` and `/dev/stdin`, `/dev/stdout`, `/dev/stderr` its fds 0, 1 and 2.
/// The audit resolves paths in its own process, where those name the audit. `None` when
/// the path starts with none of them.
pub fn of_process(path: &[u8], tgid: i32, tid: i32) -> Option<Vec<u8>> {
    let proc_dir = format!("/proc/{tgid}");
    let prefixes: [(&[u8], String); 6] = [
        (b"/proc/self", proc_dir.clone()),
        (b"/proc/thread-self", format!("{proc_dir}/task/{tid}")),
        (b"/dev/fd", format!("{proc_dir}/fd")),
        (b"/dev/stdin", format!("{proc_dir}/fd/0")),
        (b"/dev/stdout", format!("{proc_dir}/fd/1")),
        (b"/dev/stderr", format!("{proc_dir}/fd/2")),
    ];
    prefixes.iter().find_map(|(prefix, with)| {
        let rest = path.strip_prefix(*prefix)?;
        (rest.is_empty() || rest.starts_with(b"/")).then(|| [with.as_bytes(), rest].concat())
    })
}

/// What `/proc/PID/fd/N` names, without the ` (deleted)` the kernel appends to a
/// removed file.
pub fn fd_target(link: &[u8]) -> &[u8] {
    link.strip_suffix(b" (deleted)").unwrap_or(link)
}

/// The descriptor a call writes to, for the calls whose write can find no reader (and
/// then fail with EPIPE, the kernel raising SIGPIPE): the write family and the socket
/// sends (`fd` first), splice and tee (their output second or third).
pub fn written_fd(nr: i64, a: [u64; 6]) -> Option<i32> {
    let at = match nr {
        libc::SYS_write
        | libc::SYS_writev
        | libc::SYS_pwrite64
        | libc::SYS_pwritev
        | libc::SYS_pwritev2
        | libc::SYS_sendto
        | libc::SYS_sendmsg
        | libc::SYS_sendmmsg
        | libc::SYS_sendfile
        | libc::SYS_vmsplice => 0,
        libc::SYS_tee => 1,
        libc::SYS_splice => 2,
        _ => return None,
    };
    // A descriptor is an int: the low 32 bits.
    Some(a[at] as u32 as i32)
}

/// The call a stopped task was in or has just returned from, from `/proc/PID/syscall`:
/// its number (decimal) and six arguments (hex), then the stack and instruction
/// pointers. `-1 SP PC` (in no call) and `running` give `None`.
pub fn parse_proc_syscall(text: &str) -> Option<(i64, [u64; 6])> {
    let mut words = text.split_whitespace();
    let nr: i64 = words.next()?.parse().ok().filter(|&nr: &i64| nr >= 0)?;
    let mut args = [0u64; 6];
    for arg in &mut args {
        *arg = u64::from_str_radix(words.next()?.strip_prefix("0x")?, 16).ok()?;
    }
    Some((nr, args))
}

/// The access mode (`O_RDONLY`, `O_WRONLY` or `O_RDWR`) in the `flags:` line (octal) of
/// `/proc/PID/fdinfo/N`.
pub fn fdinfo_access(text: &str) -> Option<i32> {
    let flags = text.lines().find_map(|l| l.strip_prefix("flags:"))?;
    let flags = i32::from_str_radix(flags.trim(), 8).ok()?;
    Some(flags & libc::O_ACCMODE)
}

/// The kinds of named object under `/dev/shm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShmKind {
    /// shm_open(3): `/dev/shm/NAME`.
    Segment,
    /// sem_open(3): `/dev/shm/sem.NAME`.
    Semaphore,
}

/// The POSIX name (`/NAME`) and kind of a path in `/dev/shm`, if it is one: a file
/// directly in that directory.
pub fn shm_name(path: &[u8]) -> Option<(ShmKind, Vec<u8>)> {
    let rest = path.strip_prefix(b"/dev/shm/")?;
    if rest.is_empty() || rest.contains(&b'/') {
        return None;
    }
    let (kind, name) = match rest.strip_prefix(b"sem.") {
        Some(name) => (ShmKind::Semaphore, name),
        None => (ShmKind::Segment, rest),
    };
    let mut posix = Vec::with_capacity(name.len() + 1);
    posix.push(b'/');
    posix.extend_from_slice(name);
    Some((kind, posix))
}

/// The kind and POSIX name of a file of `/dev/shm` that an open with `O_CREAT` makes. A
/// named semaphore is never made that way: sem_open(3) links a temporary file (see
/// [`is_sem_temp`]) to `sem.NAME`, so `sem.x` opened with `O_CREAT` is shm_open("/sem.x"),
/// a segment. The temporary file itself counts as a semaphore until its link hides it.
pub fn opened_shm_name(path: &[u8]) -> Option<(ShmKind, Vec<u8>)> {
    let named = shm_name(path)?;
    if named.0 == ShmKind::Segment || is_sem_temp(path) {
        return Some(named);
    }
    let rest = path.strip_prefix(b"/dev/shm/")?;
    let mut posix = Vec::with_capacity(rest.len() + 1);
    posix.push(b'/');
    posix.extend_from_slice(rest);
    Some((ShmKind::Segment, posix))
}

/// The temporary file glibc's sem_open creates and links to `sem.NAME`: `sem.` and six
/// random characters; it is removed at once and is not the program's object.
pub fn is_sem_temp(path: &[u8]) -> bool {
    path.strip_prefix(b"/dev/shm/sem.")
        .is_some_and(|rest| rest.len() == 6 && rest.iter().all(u8::is_ascii_alphanumeric))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_from_their_base() {
        assert_eq!(resolve(b"/home/u", b"fifo"), b"/home/u/fifo");
        assert_eq!(resolve(b"/home/u", b"/tmp/x"), b"/tmp/x");
        assert_eq!(resolve(b"/", b"./a//b/."), b"/a/b");
        assert_eq!(resolve(b"/d", b"../x"), b"/d/../x");
        assert_eq!(resolve(b"/d", b"new\nline\xff"), b"/d/new\nline\xff");
    }

    #[test]
    fn paths_naming_the_calling_process_name_it_by_its_pid() {
        let of = |p: &[u8]| of_process(p, 40, 41).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(of(b"/proc/self/cwd/f").as_deref(), Some("/proc/40/cwd/f"));
        assert_eq!(of(b"/proc/self").as_deref(), Some("/proc/40"));
        assert_eq!(
            of(b"/proc/thread-self/cwd/f").as_deref(),
            Some("/proc/40/task/41/cwd/f")
        );
        assert_eq!(of(b"/dev/fd/3/x").as_deref(), Some("/proc/40/fd/3/x"));
        assert_eq!(of(b"/dev/stdout").as_deref(), Some("/proc/40/fd/1"));
        assert_eq!(of(b"/proc/selfish/x"), None);
        assert_eq!(of(b"/dev/fdx"), None);
        assert_eq!(of(b"/tmp/proc/self/x"), None);
    }

    #[test]
    fn shm_paths_name_segments_and_semaphores() {
        assert_eq!(
            shm_name(b"/dev/shm/psm_1"),
            Some((ShmKind::Segment, b"/psm_1".to_vec()))
        );
        assert_eq!(
            shm_name(b"/dev/shm/sem.mp-x"),
            Some((ShmKind::Semaphore, b"/mp-x".to_vec()))
        );
        assert_eq!(shm_name(b"/dev/shm/"), None);
        assert_eq!(shm_name(b"/dev/shm/d/x"), None);
        assert_eq!(shm_name(b"/tmp/psm_1"), None);
        assert!(is_sem_temp(b"/dev/shm/sem.Ab12cD"));
        // What an open with O_CREAT makes: a segment, even named sem.x (shm_open("/sem.x")),
        // but glibc's temporary file stays a semaphore until it is linked.
        assert_eq!(
            opened_shm_name(b"/dev/shm/sem.mp-x"),
            Some((ShmKind::Segment, b"/sem.mp-x".to_vec()))
        );
        assert_eq!(
            opened_shm_name(b"/dev/shm/sem.Ab12cD"),
            Some((ShmKind::Semaphore, b"/Ab12cD".to_vec()))
        );
        assert_eq!(
            opened_shm_name(b"/dev/shm/psm_1"),
            Some((ShmKind::Segment, b"/psm_1".to_vec()))
        );
        assert!(!is_sem_temp(b"/dev/shm/sem.mp-abc123"));
        assert_eq!(fd_target(b"/dev/shm/x (deleted)"), b"/dev/shm/x");
    }

    #[test]
    fn the_written_descriptor_comes_from_proc_syscall() {
        let line = format!(
            "{} 0x3 0x7ffd1000 0x5 0x0 0x0 0x0 0x7ffd0ff8 0x7f00aa\n",
            libc::SYS_write
        );
        let (nr, args) = parse_proc_syscall(&line).unwrap();
        assert_eq!(written_fd(nr, args), Some(3));
        let splice = [5, 0, u64::from(u32::MAX), 0, 0, 0];
        assert_eq!(written_fd(libc::SYS_splice, splice), Some(-1));
        assert_eq!(written_fd(libc::SYS_read, [3, 0, 0, 0, 0, 0]), None);
        assert_eq!(parse_proc_syscall("-1 0x7ffd0ff8 0x7f00aa\n"), None);
        assert_eq!(parse_proc_syscall("running\n"), None);
        assert_eq!(parse_proc_syscall("1 0x3 0x4\n"), None);
        let info = "pos:\t0\nflags:\t02000001\nmnt_id:\t25\nino:\t1234\n";
        assert_eq!(fdinfo_access(info), Some(libc::O_WRONLY));
        assert_eq!(fdinfo_access("flags:\t0100002\n"), Some(libc::O_RDWR));
        assert_eq!(fdinfo_access("pos:\t0\n"), None);
    }

    #[test]
    fn arguments_decode_by_call() {
        let at = libc::AT_FDCWD as u32 as u64;
        let creat = libc::O_CREAT as u64;
        assert_eq!(
            decode(libc::SYS_openat, [at, 0x1000, creat, 0o600, 0, 0]),
            Call::Open {
                base: Base::Cwd,
                path: 0x1000,
                flags: Some(creat),
                how: None
            }
        );
        assert_eq!(
            decode(libc::SYS_mknodat, [7, 0x2000, 0o10600, 0, 0, 0]),
            Call::Mknod {
                base: Base::Fd(7),
                path: 0x2000,
                mode: 0o10600
            }
        );
        assert!(makes_fifo(0o10600));
        assert!(!makes_fifo(0o100600));
        assert!(creates(creat | 2));
        assert!(!creates(2));
        assert!(truncates(libc::O_TRUNC as u64 | 2));
        assert!(!truncates(creat | 2));
        // A negative pid arrives as a 64-bit register with only the low half meaningful.
        assert_eq!(
            decode(libc::SYS_wait4, [u64::from(u32::MAX), 0, 0, 0, 0, 0]),
            Call::Wait4 { pid: -1 }
        );
        assert_eq!(
            decode(libc::SYS_tgkill, [10, 11, 15, 0, 0, 0]),
            Call::Kill {
                target: 11,
                signal: 15,
                thread: true
            }
        );
        assert!(leaves_waitable(libc::WNOWAIT as u64 | libc::WEXITED as u64));
        assert!(removes_dir(libc::AT_REMOVEDIR as u64));
        assert_eq!(decode(libc::SYS_read, [0; 6]), Call::Other(libc::SYS_read));
        // semctl's command is its third argument, msgctl's its second.
        let rmid = libc::IPC_RMID as u64 | 0x100;
        assert_eq!(
            decode(libc::SYS_semctl, [7, 0, rmid, 0, 0, 0]),
            Call::IpcCtl {
                ipc: Ipc::Sem,
                id: 7,
                cmd: i64::from(libc::IPC_RMID)
            }
        );
        assert_eq!(
            decode(libc::SYS_msgget, [0, 0o1600, 0, 0, 0, 0]),
            Call::IpcGet {
                ipc: Ipc::Msg,
                key: 0,
                size: 0,
                flags: 0o1600
            }
        );
    }
}
