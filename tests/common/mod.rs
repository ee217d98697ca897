//! The shared test environment: each test gets its own instance name and runtime
//! directory, runs the real `osps` binary, and leaves nothing behind even when it fails
//! (the `Drop` of [`TestEnv`] kills what it started and removes every object).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The path of the binary under test.
pub fn osps_bin() -> &'static str {
    env!("CARGO_BIN_EXE_osps")
}

pub fn uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

pub struct TestEnv {
    pub name: String,
    pub tmp: tempfile::TempDir,
    pub runtime_dir: PathBuf,
    children: Vec<Child>,
}

/// Byte offsets of header fields (see src/header.rs).
pub mod field {
    pub const SEGMENT_SIZE: usize = 24;
    pub const RESTARTS: usize = 56;
    pub const PRIMARY_PID: usize = 64;
    pub const PRIMARY_STATE: usize = 72;
    pub const REQUEST_SEQ: usize = 88;
    pub const REQUEST_LEN: usize = 96;
    pub const ROUNDS_COMPLETED: usize = 112;
    pub const SECONDARY_PID: usize = 128;
    pub const SECONDARY_STATE: usize = 136;
    pub const ROUNDS_SERVED: usize = 176;
}

impl TestEnv {
    /// A fresh environment; `tag` names the test in the instance name.
    pub fn new(tag: &str) -> TestEnv {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let mut name = format!("t-{tag}-{}-{n}", std::process::id());
        name.truncate(64);
        let tmp = tempfile::Builder::new().prefix("osps-test-").tempdir().unwrap();
        let runtime_dir = tmp.path().join("run");
        TestEnv { name, tmp, runtime_dir, children: Vec::new() }
    }

    /// `osps SUBCOMMAND` with this environment's runtime dir and (for primary and
    /// secondary) instance name set through the environment.
    pub fn cmd(&self, subcommand: &str) -> Command {
        let mut c = Command::new(osps_bin());
        c.arg(subcommand)
            .env("OSPS_NAME", &self.name)
            .env("OSPS_RUNTIME_DIR", &self.runtime_dir)
            .env("NO_COLOR", "1")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null());
        c
    }

    pub fn shm_path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/shm/osps.{}.{}", uid(), self.name))
    }

    pub fn lock_path(&self) -> PathBuf {
        self.runtime_dir.join(format!("{}.lock", self.name))
    }

    pub fn p2s_path(&self) -> PathBuf {
        self.runtime_dir.join(format!("{}.p2s.fifo", self.name))
    }

    pub fn s2p_path(&self) -> PathBuf {
        self.runtime_dir.join(format!("{}.s2p.fifo", self.name))
    }

    /// Every object of this instance that exists.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        if std::fs::symlink_metadata(self.shm_path()).is_ok() {
            found.push(self.shm_path());
        }
        if let Ok(entries) = std::fs::read_dir(&self.runtime_dir) {
            for e in entries.flatten() {
                found.push(e.path());
            }
        }
        found
    }

    pub fn assert_no_leftovers(&self) {
        let left = self.leftovers();
        assert!(left.is_empty(), "objects left behind: {left:?}");
    }

    /// Starts a long-running primary (stdout and stderr piped); killed on drop if still running.
    pub fn start_primary(&mut self, args: &[&str]) -> u32 {
        let child = self
            .cmd("primary")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Takes back the child started by `start_primary` to wait for it.
    pub fn take_child(&mut self, pid: u32) -> Child {
        let i = self.children.iter().position(|c| c.id() == pid).unwrap();
        self.children.remove(i)
    }

    /// Reads one u64 field of the segment header, if the segment exists and is long enough.
    pub fn header_field(&self, offset: usize) -> Option<u64> {
        let mut f = std::fs::File::open(self.shm_path()).ok()?;
        let mut buf = [0u8; 256];
        f.read_exact(&mut buf).ok()?;
        Some(u64::from_ne_bytes(buf[offset..offset + 8].try_into().unwrap()))
    }

    /// Waits until the secondary is up (state ready or busy) and returns its pid.
    pub fn wait_secondary(&self, timeout: Duration) -> u32 {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.header_field(field::SECONDARY_STATE);
            let pid = self.header_field(field::SECONDARY_PID).unwrap_or(0);
            if matches!(state, Some(2 | 3)) && pid != 0 {
                return pid as u32;
            }
            assert!(Instant::now() < deadline, "the secondary did not come up within {timeout:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until at least `n` rounds completed.
    pub fn wait_rounds(&self, n: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.header_field(field::ROUNDS_COMPLETED).unwrap_or(0) < n {
            assert!(Instant::now() < deadline, "fewer than {n} rounds within {timeout:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Anything still holding our FIFOs is a secondary we started indirectly.
        for pid in pids_with_arg(&self.name) {
            let _ = kill(pid, libc::SIGKILL);
        }
        let _ = std::fs::remove_file(self.shm_path());
    }
}

/// Sends a signal.
pub fn kill(pid: u32, signal: i32) -> bool {
    // SAFETY: kill(2) with a plain pid and signal number.
    unsafe { libc::kill(pid as i32, signal) == 0 }
}

/// Pids of live processes whose command line contains `arg` as a whole argument.
pub fn pids_with_arg(arg: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        if cmdline.split(|&b| b == 0).any(|a| a == arg.as_bytes()) && process_alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Whether a process exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|s| s != 'Z' && s != 'X'),
        Err(_) => false,
    }
}

/// Whether `/proc/PID` exists at all (a zombie counts).
pub fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits for a process that is not our child to disappear (or become a zombie).
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while process_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

/// Waits for a child with a deadline; kills it and panics when the deadline passes.
pub fn wait_child(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for a child and collects its output, with a deadline.
pub fn output_within(mut child: Child, timeout: Duration) -> Output {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let status = wait_child(&mut child, timeout);
    Output { status, stdout: out_thread.join().unwrap(), stderr: err_thread.join().unwrap() }
}

/// Runs a command to completion with a deadline.
pub fn run(mut cmd: Command, timeout: Duration) -> Output {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    output_within(child, timeout)
}

/// The mode bits of a path (not following symlinks).
pub fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
