//! Who holds an object open, read from `/proc` without opening the object itself:
//! `/proc/PID/fd/N` names each descriptor (its `stat` is the object's), and
//! `/proc/PID/fdinfo/N` gives the open flags, hence read or write access.
//! Used by inspect (FIFO holders) and cleanup (orphaned secondaries).
//!
//! It also answers "is this process a live primary?" without trusting any file an outside
//! hand can delete: `/proc/locks` lists every POSIX lock with its holder and inode (a lock
//! on a deleted lock file is still listed), and `/proc/PID/{exe,cmdline,environ,stat}` say
//! what a process runs, for which instance, and since when.

use std::path::{Path, PathBuf};

use nix::sys::stat::stat;
use serde::Serialize;

/// One process holding an object open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub pid: i32,
    /// `read`, `write` or `read-write`.
    pub access: &'static str,
}

fn access_of(pid: i32, fd: &str) -> &'static str {
    let text = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
    let flags = text
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .unwrap_or(0);
    match flags & libc::O_ACCMODE as u32 {
        x if x == libc::O_WRONLY as u32 => "write",
        x if x == libc::O_RDWR as u32 => "read-write",
        _ => "read",
    }
}

/// For each object `(dev, ino)` in `targets`, the processes that hold it open.
/// Processes we may not look at (other users) are skipped silently.
pub fn holders(targets: &[(u64, u64)]) -> Vec<Vec<Holder>> {
    if targets.is_empty() {
        return Vec::new();
    }
    FdTable::scan().holders(targets)
}

/// The pids of every process now, in `/proc`'s order (none if `/proc` cannot be read).
pub fn pids() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flat_map(|procs| procs.flatten())
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
}

/// Every open descriptor of every process we may look at, by the object it names: one
/// pass over `/proc/*/fd` answers who holds any number of objects (a survey of a thousand
/// instances looks once, not a thousand times).
#[derive(Debug, Default)]
pub struct FdTable {
    /// `(dev, ino)` → `(pid, descriptor number)`, in `/proc`'s order.
    open: std::collections::HashMap<(u64, u64), Vec<(i32, String)>>,
}

impl FdTable {
    /// Reads the descriptors of every process now.
    pub fn scan() -> FdTable {
        let mut table = FdTable::default();
        for pid in pids() {
            let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Ok(st) = stat(&fd.path()) else { continue };
                let name = fd.file_name().to_string_lossy().into_owned();
                table
                    .open
                    .entry((st.st_dev, st.st_ino))
                    .or_default()
                    .push((pid, name));
            }
        }
        table
    }

    /// For each object of `targets`, the processes that hold it open, each once per kind
    /// of access, in `/proc`'s order.
    pub fn holders(&self, targets: &[(u64, u64)]) -> Vec<Vec<Holder>> {
        targets
            .iter()
            .map(|target| {
                let mut found: Vec<Holder> = Vec::new();
                for (pid, fd) in self.open.get(target).into_iter().flatten() {
                    let holder = Holder {
                        pid: *pid,
                        access: access_of(*pid, fd),
                    };
                    if !found.contains(&holder) {
                        found.push(holder);
                    }
                }
                found
            })
            .collect()
    }
}

/// `(dev, ino)` of a path without following a final symlink, if it exists.
pub fn identity(path: &Path) -> Option<(u64, u64)> {
    nix::sys::stat::lstat(path)
        .ok()
        .map(|st| (st.st_dev, st.st_ino))
}

/// Whether a process exists (a zombie counts as not alive).
pub fn alive(pid: i32) -> bool {
    pid > 0 && state(pid).is_some_and(|state| state != 'Z' && state != 'X')
}

/// How far a process is in its life, as `/proc` tells: what a lock's holder is worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Life {
    /// It runs, its program in place.
    Running,
    /// It is exiting (`PF_EXITING`, or its main thread a zombie while another thread
    /// lives): its memory and command line may be gone already, while its files (and the
    /// locks on them) are not let go yet. Neither a stranger nor gone: wait for it.
    Exiting,
    /// No such process, or a zombie whose every thread has exited (it holds nothing).
    Gone,
}

/// `PF_EXITING` in the flags of `/proc/PID/stat` (include/linux/sched.h).
const PF_EXITING: u64 = 0x4;

/// How far process `pid` is in its life (see [`Life`]).
pub fn life(pid: i32) -> Life {
    if pid <= 0 {
        return Life::Gone;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Life::Gone;
    };
    let (state, flags) = state_and_flags(&stat).unwrap_or(('X', 0));
    if !matches!(state, 'Z' | 'X') && flags & PF_EXITING == 0 {
        return Life::Running;
    }
    if !matches!(state, 'Z' | 'X') {
        return Life::Exiting;
    }
    // The main thread has exited: the process lives on while another thread does.
    let live_thread = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .filter_map(|s| state_and_flags(&s))
        .any(|(state, _)| !matches!(state, 'Z' | 'X'));
    if live_thread {
        Life::Exiting
    } else {
        Life::Gone
    }
}

/// The state letter and the flags (field 9) of a `/proc/PID/stat` line, counted after the
/// parenthesised command name (which may hold spaces and parentheses).
fn state_and_flags(stat: &str) -> Option<(char, u64)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let flags = fields.nth(5)?.parse().ok()?;
    Some((state, flags))
}

/// A process's parent pid from `/proc/PID/stat`, or `None` when there is no such process.
pub fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the parenthesised command name: the state letter, then the parent's pid.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A process's state letter from `/proc/PID/stat` (`R`, `S`, `Z` for a zombie, ...), or
/// `None` when there is no such process.
pub fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state letter follows the parenthesised command name (which may hold a ')').
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
}

/// The subcommand a process runs if it is an osps (`osps -v cleanup` and
/// `osps --color never primary` give `cleanup` and `primary`). With `runs_osps`, this
/// tells a primary or a cleanup from anything else.
pub fn subcommand(pid: i32) -> Option<String> {
    invocation(pid).map(|i| i.subcommand)
}

/// What an osps process was started to do, read back from its arguments (another
/// process's `/proc/PID/cmdline`) by the very parser this binary uses (see
/// [`read_command_lines_with`]): every spelling that parser accepts reads as it did for
/// that process, and nothing else does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The subcommand (`primary`, `secondary`, `cleanup`, ...).
    pub subcommand: String,
    /// The instance name the arguments give, if they give one (else that process's
    /// `OSPS_NAME`, or the default, decided: not ours to guess from our environment).
    pub name: Option<String>,
    /// `--serve` (a primary or secondary of the serving mode).
    pub serve: bool,
}

/// Reads a command line (the first argument names the program, whatever it is) as the
/// binary's own parser would; `None` when it is no valid osps command line.
pub type Reader = fn(&[std::ffi::OsString]) -> Option<Invocation>;

/// The parser of command lines, given once by `main` (the command line's definition
/// lives above this layer, in `cli`, which knows every subcommand; this layer only reads
/// `/proc`). Until it is given, no process reads as an osps.
static READER: std::sync::OnceLock<Reader> = std::sync::OnceLock::new();

/// Gives the parser that reads other processes' command lines (see [`Invocation`]).
pub fn read_command_lines_with(reader: Reader) {
    let _ = READER.set(reader);
}

/// What an osps process was started to do, from its `/proc/PID/cmdline`.
fn invocation(pid: i32) -> Option<Invocation> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    invocation_of(&cmdline)
}

/// [`invocation`] of a raw `/proc/PID/cmdline` (arguments ended by NUL bytes), read by
/// the parser [`read_command_lines_with`] gave.
///
/// Building the parser costs far more than reading the command line, and a survey asks
/// about the same few processes once per instance it examines (a thousand junk segments,
/// a thousand times): so the answers are kept, by command line, for the whole process.
/// The key is the input itself, so a kept answer can never be stale.
fn invocation_of(cmdline: &[u8]) -> Option<Invocation> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static KEPT: RefCell<HashMap<Vec<u8>, Option<Invocation>>> = RefCell::new(HashMap::new());
    }
    if let Some(kept) = KEPT.with(|k| k.borrow().get(cmdline).cloned()) {
        return kept;
    }
    let parsed = invocation_from(cmdline, *READER.get()?);
    KEPT.with(|k| {
        let mut kept = k.borrow_mut();
        // Bounded: a long-lived `osps top` meets ever new processes.
        if kept.len() >= 1024 {
            kept.clear();
        }
        kept.insert(cmdline.to_vec(), parsed.clone());
    });
    parsed
}

/// A raw `/proc/PID/cmdline` read by `read`: pure, for tests.
pub fn invocation_from(cmdline: &[u8], read: Reader) -> Option<Invocation> {
    use std::os::unix::ffi::OsStrExt;
    let cmdline = cmdline.strip_suffix(&[0]).unwrap_or(cmdline);
    let args: Vec<std::ffi::OsString> = cmdline
        .split(|&b| b == 0)
        .map(|a| std::ffi::OsStr::from_bytes(a).to_owned())
        .collect();
    read(&args)
}

/// The instance name of an osps process from its raw `/proc/PID/cmdline` and
/// `/proc/PID/environ`: what its arguments say, else its non-empty `OSPS_NAME`, else the
/// default `osps`; `None` when the arguments are no osps command line.
fn instance_name_of(cmdline: &[u8], environ: &[u8]) -> Option<String> {
    name_from(invocation_of(cmdline)?, environ)
}

/// The instance name of an `invocation`, given that process's raw environment: pure,
/// for tests.
pub fn name_from(invocation: Invocation, environ: &[u8]) -> Option<String> {
    let from_env = || {
        environ
            .split(|&b| b == 0)
            .find_map(|v| v.strip_prefix(b"OSPS_NAME="))
            .filter(|v| !v.is_empty())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    Some(
        invocation
            .name
            .or_else(from_env)
            .unwrap_or_else(|| "osps".into()),
    )
}

/// One POSIX record lock held (not waited for), from a line of `/proc/locks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PosixLock {
    pub pid: i32,
    /// The locked file's device (major, minor) and inode.
    pub major: u64,
    pub minor: u64,
    pub ino: u64,
}

impl PosixLock {
    /// Whether the lock is on the object `(dev, ino)` (as `stat` gives them).
    pub fn is_on(&self, (dev, ino): (u64, u64)) -> bool {
        self.ino == ino
            && self.major == libc::major(dev) as u64
            && self.minor == libc::minor(dev) as u64
    }
}

/// Parses `/proc/locks`: `1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF`, with the
/// device's major and minor in hex and the inode in decimal. Waiters (`1: -> POSIX ...`)
/// hold nothing and are left out, and so are other kinds of lock (FLOCK, OFDLCK).
pub fn parse_locks(text: &str) -> Vec<PosixLock> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().skip(1);
            if words.next()? != "POSIX" {
                return None;
            }
            let pid = words.nth(2)?.parse().ok()?;
            let mut id = words.next()?.split(':');
            let major = u64::from_str_radix(id.next()?, 16).ok()?;
            let minor = u64::from_str_radix(id.next()?, 16).ok()?;
            let ino = id.next()?.parse().ok()?;
            Some(PosixLock {
                pid,
                major,
                minor,
                ino,
            })
        })
        .collect()
}

/// Every POSIX lock held on this machine (empty when `/proc/locks` cannot be read).
pub fn posix_locks() -> Vec<PosixLock> {
    parse_locks(&read_at_once(Path::new("/proc/locks")).unwrap_or_default())
}

/// The first buffer [`read_at_once`] tries: about a thousand lines of `/proc/locks`.
const AT_ONCE: usize = 64 << 10;

/// A `/proc` list file read in one `read(2)`. The kernel keeps the list still while it
/// fills one read, but between two reads locks come and go, and a line that moves ahead
/// of the reader's position is skipped: a live primary's lock could go unseen (reading
/// in small pieces, as `read_to_string` does, made a test miss its own lock while other
/// tests took and dropped theirs). So the whole file comes in one call, the buffer
/// doubled and the file read again from the start until it fits.
fn read_at_once(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut size = AT_ONCE;
    loop {
        let mut buf = vec![0u8; size];
        let mut file = std::fs::File::open(path)?;
        let n = loop {
            match file.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if n < size {
            buf.truncate(n);
            return Ok(String::from_utf8_lossy(&buf).into_owned());
        }
        size *= 2;
    }
}

/// One open descriptor of a process: what `/proc/PID/fd/N` links to (a deleted file reads
/// `PATH (deleted)`) and the identity of the object behind it.
#[derive(Clone, Debug)]
pub struct OpenFile {
    pub target: PathBuf,
    pub id: (u64, u64),
}

/// The open descriptors of a process (empty when we may not look: another user's).
pub fn open_files(pid: i32) -> Vec<OpenFile> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|fd| {
            let target = std::fs::read_link(fd.path()).ok()?;
            let st = stat(&fd.path()).ok()?;
            Some(OpenFile {
                target,
                id: (st.st_dev, st.st_ino),
            })
        })
        .collect()
}

/// The file name an open descriptor's target had, without the ` (deleted)` the kernel
/// appends once it was unlinked, and whether it was.
pub fn target_name(target: &Path) -> (Option<String>, bool) {
    let text = target.to_string_lossy();
    let (path, deleted) = match text.strip_suffix(" (deleted)") {
        Some(p) => (p, true),
        None => (&*text, false),
    };
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    (name, deleted)
}

/// The arguments of a process (empty when it is gone or not ours to read).
pub fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// A process's command line for a message: its arguments joined by spaces, with control
/// characters escaped (`\n`, `\u{1b}`), so that another process's arguments can neither
/// break a message into false lines nor drive the user's terminal.
pub fn command_text(pid: i32) -> String {
    printable(&cmdline(pid).join(" "))
}

/// `text` with its control characters escaped, the rest as it is.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Whether an osps primary was started to serve clients (`--serve` on its command line):
/// the header has no word for the mode, and a serving primary's socket may have been
/// removed under it.
pub fn serves(pid: i32) -> bool {
    invocation(pid).is_some_and(|i| i.serve)
}

/// The instance name an osps process was started for, however its command line spelled
/// it, else `OSPS_NAME` from its environment, else the default `osps`.
pub fn instance_name(pid: i32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    // Another user's environ is not ours to read: then only the arguments tell.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    instance_name_of(&cmdline, &environ)
}

/// Whether a process runs an osps binary: its executable is ours (same inode as
/// `/proc/self/exe`) or is named `osps*` (a rebuilt binary reads `PATH (deleted)`).
pub fn runs_osps(pid: i32) -> bool {
    let exe = format!("/proc/{pid}/exe");
    if let (Ok(theirs), Ok(ours)) = (stat(exe.as_str()), stat("/proc/self/exe")) {
        if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino) {
            return true;
        }
    }
    std::fs::read_link(&exe)
        .ok()
        .and_then(|t| target_name(&t).0)
        .is_some_and(|n| n.starts_with("osps"))
}

/// When a process started, in milliseconds since the Unix epoch (to the clock tick, but
/// the boot time it counts from is only known to the second).
pub fn start_unix_ms(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = start_ticks(&stat)?;
    let btime: u64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf only reads a system constant.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()?
        .max(1);
    Some(btime * 1000 + ticks * 1000 / hz)
}

/// Field 22 of `/proc/PID/stat` (start time in clock ticks after boot), counted after the
/// parenthesised command name, which may itself hold spaces and parentheses.
fn start_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_parent_is_read_from_its_stat() {
        let ours = std::process::id() as i32;
        assert_eq!(parent(ours), Some(nix::unistd::getppid().as_raw()));
        assert_eq!(parent(i32::MAX), None);
    }

    #[test]
    fn the_state_and_flags_are_read_after_odd_command_names() {
        let stat = "42 (a) Z b) R 1 42 42 0 -1 4227084 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        assert_eq!(state_and_flags(stat), Some(('R', 4227084)));
        assert_eq!(state_and_flags("42 (x) S 1"), None);
        assert_eq!(life(std::process::id() as i32), Life::Running);
        assert_eq!(life(i32::MAX), Life::Gone);
        assert_eq!(life(0), Life::Gone);
    }

    #[test]
    fn a_list_file_is_read_whole_whatever_its_size() {
        let tmp = tempfile::tempdir().unwrap();
        for len in [0, 10, AT_ONCE - 1, AT_ONCE, AT_ONCE + 1, 3 * AT_ONCE] {
            let text: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let path = tmp.path().join(format!("f{len}"));
            std::fs::write(&path, &text).unwrap();
            assert_eq!(read_at_once(&path).unwrap(), text, "{len} bytes");
        }
        assert!(read_at_once(&tmp.path().join("missing")).is_err());
        // The real one parses (it may be empty).
        let _ = posix_locks();
    }

    #[test]
    fn proc_locks_lines_parse_and_waiters_are_left_out() {
        let text = "1: POSIX  ADVISORY  WRITE 1234 00:2f:5678 0 EOF\n\
                    1: -> POSIX  ADVISORY  WRITE 999 00:2f:5678 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 77 08:01:42 0 EOF\n\
                    3: OFDLCK ADVISORY  READ  -1 08:01:43 0 EOF\n\
                    4: POSIX  ADVISORY  READ 55 fd:0a:7 0 99\n\
                    garbage\n";
        let locks = parse_locks(text);
        assert_eq!(
            locks,
            vec![
                PosixLock {
                    pid: 1234,
                    major: 0,
                    minor: 0x2f,
                    ino: 5678
                },
                PosixLock {
                    pid: 55,
                    major: 0xfd,
                    minor: 0x0a,
                    ino: 7
                },
            ]
        );
        assert!(locks[0].is_on((libc::makedev(0, 0x2f), 5678)));
        assert!(!locks[0].is_on((libc::makedev(0, 0x2e), 5678)));
        assert!(!locks[0].is_on((libc::makedev(0, 0x2f), 5679)));
    }

    #[test]
    fn our_own_lock_shows_in_proc_locks() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("x")).unwrap();
        // SAFETY: flock is a plain C struct; all-zero is a valid value for every field.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        nix::fcntl::fcntl(
            std::os::fd::AsFd::as_fd(&file),
            nix::fcntl::FcntlArg::F_SETLK(&fl),
        )
        .unwrap();
        let st = nix::sys::stat::fstat(&file).unwrap();
        let me = std::process::id() as i32;
        assert!(
            posix_locks()
                .iter()
                .any(|l| l.pid == me && l.is_on((st.st_dev, st.st_ino)))
        );
    }

    #[test]
    fn deleted_targets_keep_their_name() {
        assert_eq!(
            target_name(Path::new("/run/x/live.lock (deleted)")),
            (Some("live.lock".into()), true)
        );
        assert_eq!(
            target_name(Path::new("/run/x/live.lock")),
            (Some("live.lock".into()), false)
        );
    }

    #[test]
    fn the_start_time_is_field_22_even_with_odd_command_names() {
        let stat = "42 (a) b) c) S 1 42 42 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        assert_eq!(start_ticks(stat), Some(12345));
        let me = std::process::id() as i32;
        let started = start_unix_ms(me).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(
            started <= now + 1000 && started + 600_000 > now,
            "{started} {now}"
        );
    }

    #[test]
    fn we_run_osps_and_a_test_binary_names_no_instance() {
        let me = std::process::id() as i32;
        assert!(runs_osps(me));
        // A test binary's arguments are no osps command line.
        assert!(instance_name(me).is_none());
        assert!(instance_name(-1).is_none());
    }
}
