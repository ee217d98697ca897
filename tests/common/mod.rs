//! The shared test environment: each test gets its own instance name and runtime
//! directory, runs the real `osps` binary, and leaves nothing behind even when it fails
//! (the `Drop` of [`TestEnv`] kills what it started and removes every object).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub mod sockets;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The path of the binary under test.
/// `osps` with the signal dispositions a terminal gives: a runner that ignores SIGHUP
/// (`nohup cargo test`, some CI runners) or SIGINT and SIGQUIT (a background job of a
/// non-interactive shell) passes that on through exec, and an osps that inherits an
/// ignored signal keeps it ignored, as nohup(1) asks. Tests that want an ignored signal
/// add their own `pre_exec` after this one.
pub fn osps_command() -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(osps_bin());
    // SAFETY: signal(2) is async-signal-safe, and these are valid signals and SIG_DFL.
    unsafe {
        c.pre_exec(|| {
            for signal in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM] {
                libc::signal(signal, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    c
}

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

/// The segment header's layout (see src/header.rs), the one copy the tests share: byte
/// offsets of its u64 fields, and what a forged header needs.
pub mod field {
    /// The header's length, and where the data area of a one-secondary segment starts.
    pub const HEADER_LEN: usize = 256;
    /// Each further secondary's scoreboard entry after the base header.
    pub const ENTRY_LEN: usize = 128;
    pub const MAGIC: &[u8; 8] = b"OSPSSEG\0";
    pub const VERSION: usize = 8;
    pub const HEADER_LEN_FIELD: usize = 16;
    pub const SEGMENT_SIZE: usize = 24;
    pub const DATA_OFFSET: usize = 32;
    pub const DATA_SIZE: usize = 40;
    pub const RESTARTS: usize = 56;
    pub const PRIMARY_PID: usize = 64;
    pub const PRIMARY_STATE: usize = 72;
    pub const REQUEST_SEQ: usize = 88;
    pub const REQUEST_LEN: usize = 96;
    pub const ROUNDS_COMPLETED: usize = 112;
    pub const ROUNDS_FAILED: usize = 120;
    pub const SECONDARY_PID: usize = 128;
    pub const SECONDARY_STATE: usize = 136;
    pub const REPLY_SEQ: usize = 152;
    pub const REPLY_LEN: usize = 160;
    pub const ROUNDS_SERVED: usize = 176;
    pub const WORKERS: usize = 192;
    /// A serving primary's connected clients.
    pub const CLIENTS: usize = 200;
    /// A scoreboard entry's pid and state, from the entry's start.
    pub const ENTRY_PID: usize = 64;
    pub const ENTRY_STATE: usize = 72;
}

/// The deadline for anything that should take a moment. The waiting helpers of this
/// module scale every timeout they are given by [`slow`]; a test's own deadline loop
/// must do so itself.
pub const T: Duration = Duration::from_secs(30);

/// `d` times the `OSPS_TEST_SLOWDOWN` factor (default 1; a decimal such as `2.5` is fine):
/// a loaded or slow CI machine stretches every deadline instead of failing it.
pub fn slow(d: Duration) -> Duration {
    d.mul_f64(slowdown())
}

fn slowdown() -> f64 {
    std::env::var("OSPS_TEST_SLOWDOWN")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f >= 1.0)
        .unwrap_or(1.0)
}

impl TestEnv {
    /// A fresh environment; `tag` names the test in the instance name.
    pub fn new(tag: &str) -> TestEnv {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let mut name = format!("t-{tag}-{}-{n}", std::process::id());
        name.truncate(64);
        let tmp = tempfile::Builder::new()
            .prefix("osps-test-")
            .tempdir()
            .unwrap();
        let runtime_dir = tmp.path().join("run");
        TestEnv {
            name,
            tmp,
            runtime_dir,
            children: Vec::new(),
        }
    }

    /// `osps SUBCOMMAND` with this environment's runtime dir and (for primary and
    /// secondary) instance name set through the environment.
    pub fn cmd(&self, subcommand: &str) -> Command {
        let mut c = osps_command();
        c.arg(subcommand)
            .env("OSPS_NAME", &self.name)
            .env("OSPS_RUNTIME_DIR", &self.runtime_dir)
            .env("NO_COLOR", "1")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null());
        c
    }

    /// Creates the runtime directory as osps would (mode 0700), for tests that plant
    /// objects in it before any osps runs.
    pub fn make_runtime_dir(&self) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir(&self.runtime_dir).unwrap();
        std::fs::set_permissions(&self.runtime_dir, std::fs::Permissions::from_mode(0o700))
            .unwrap();
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

    /// No object of the instance and no process of it (a secondary) remain.
    pub fn assert_nothing_left(&self) {
        self.assert_no_leftovers();
        let procs = pids_with_arg(&self.name);
        assert!(procs.is_empty(), "processes left behind: {procs:?}");
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
        let mut buf = [0u8; field::HEADER_LEN];
        f.read_exact(&mut buf).ok()?;
        Some(u64::from_ne_bytes(
            buf[offset..offset + 8].try_into().unwrap(),
        ))
    }

    /// Waits until the secondary is up (state ready or busy) and returns its pid.
    pub fn wait_secondary(&self, timeout: Duration) -> u32 {
        let timeout = slow(timeout);
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.header_field(field::SECONDARY_STATE);
            let pid = self.header_field(field::SECONDARY_PID).unwrap_or(0);
            if matches!(state, Some(2 | 3)) && pid != 0 {
                return pid as u32;
            }
            assert!(
                Instant::now() < deadline,
                "the secondary did not come up within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until at least `n` rounds completed.
    pub fn wait_rounds(&self, n: u64, timeout: Duration) {
        let timeout = slow(timeout);
        let deadline = Instant::now() + timeout;
        while self.header_field(field::ROUNDS_COMPLETED).unwrap_or(0) < n {
            assert!(
                Instant::now() < deadline,
                "fewer than {n} rounds within {timeout:?}"
            );
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
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
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

/// Whether `pid` names a zombie: a process that ended and that nobody reaped yet.
pub fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            == Some('Z')
    })
}

/// Waits for a process that is not our child to disappear (or become a zombie).
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + slow(timeout);
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
    let timeout = slow(timeout);
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
    Output {
        status,
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
    }
}

/// Runs a command to completion with a deadline.
pub fn run(mut cmd: Command, timeout: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    output_within(child, timeout)
}

/// Makes a FIFO at `path` with exactly `mode` (whatever the umask).
pub fn mkfifo(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), mode) }, 0);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
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

// ---- Helpers for the fault-injection tests (tests/suite/faults.rs) ----

/// A process whose stdout and stderr go to files in the test's temp dir: a grandchild
/// that keeps stderr open (a secondary outliving its primary) can never block the test.
pub struct Logged {
    pub pid: u32,
    out: PathBuf,
    err: PathBuf,
}

impl TestEnv {
    /// Starts `cmd` with its output logged to files; killed on drop if still running.
    pub fn start_logged(&mut self, mut cmd: Command) -> Logged {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let out = self.tmp.path().join(format!("log-{n}.out"));
        let err = self.tmp.path().join(format!("log-{n}.err"));
        let child = cmd
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.push(child);
        Logged { pid, out, err }
    }

    /// Waits (with a deadline: killed and a panic after it) for a process started by
    /// `start_logged`, and returns its status and what it wrote.
    pub fn finish_logged(&mut self, logged: &Logged, timeout: Duration) -> Output {
        let mut child = self.take_child(logged.pid);
        let status = wait_child(&mut child, timeout);
        Output {
            status,
            stdout: std::fs::read(&logged.out).unwrap_or_default(),
            stderr: std::fs::read(&logged.err).unwrap_or_default(),
        }
    }

    /// What a process started by `start_logged` has written to stderr so far.
    pub fn stderr_so_far(&self, logged: &Logged) -> String {
        String::from_utf8_lossy(&std::fs::read(&logged.err).unwrap_or_default()).into_owned()
    }
}

/// The children of a process (from `/proc/PID/task/*/children`).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return kids;
    };
    for t in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(t.path().join("children")) {
            kids.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    kids
}

/// The open descriptors of a process and what each points to (`readlink /proc/PID/fd/N`).
pub fn fd_targets(pid: u32) -> Vec<(u32, String)> {
    let mut fds = Vec::new();
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return fds;
    };
    for e in entries.flatten() {
        let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(target) = std::fs::read_link(e.path()) {
            fds.push((fd, target.display().to_string()));
        }
    }
    fds.sort();
    fds
}

/// How much longer soak loops run: `OSPS_SOAK=N` multiplies the loop counts (default 1).
pub fn soak() -> u32 {
    std::env::var("OSPS_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &u32| n >= 1)
        .unwrap_or(1)
}

/// A small deterministic random generator (xorshift64*) for fault timing. The seed comes
/// from `OSPS_SEED` or the clock and is printed, so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(test: &str) -> Rng {
        let seed = std::env::var("OSPS_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{test}: OSPS_SEED={seed}");
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A duration in `0..max`.
    pub fn upto(&mut self, max: Duration) -> Duration {
        Duration::from_nanos(self.below(max.as_nanos().max(1) as u64))
    }
}

/// Parses a JSON summary from stdout, with the output in the panic message otherwise.
pub fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            stdout_of(out),
            stderr_of(out)
        )
    })
}

/// The serving mode (`osps primary --serve`): where its socket is, when it is ready,
/// which secondary is which.
impl TestEnv {
    /// Starts `osps primary --serve --json` with `extra` and waits until it serves.
    #[allow(dead_code)]
    pub fn start_serving(&mut self, extra: &[&str]) -> u32 {
        let mut args = vec!["--serve", "--json"];
        args.extend_from_slice(extra);
        let pid = self.start_primary(&args);
        self.wait_serving(T);
        pid
    }

    /// Stops a primary with SIGTERM, checks it exits 0 and leaves no object and no
    /// process behind, and returns its JSON summary.
    #[allow(dead_code)]
    pub fn stop_serving(&mut self, pid: u32) -> serde_json::Value {
        assert!(kill(pid, libc::SIGTERM));
        let out = output_within(self.take_child(pid), T);
        assert!(
            out.status.success(),
            "{:?}: {}",
            out.status,
            stderr_of(&out)
        );
        self.assert_nothing_left();
        json_of(&out)
    }

    /// The instance's Unix socket, `RUNDIR/NAME.sock`.
    pub fn socket_path(&self) -> PathBuf {
        self.runtime_dir.join(format!("{}.sock", self.name))
    }

    /// Waits until a serving primary accepts clients: its state is ready (every secondary
    /// has been started; the socket listens before that) and the socket exists. Panics
    /// after `timeout`. It does not connect, so the primary's client counts stay exact.
    pub fn wait_serving(&self, timeout: Duration) {
        let timeout = slow(timeout);
        let deadline = Instant::now() + timeout;
        loop {
            let ready = self.header_field(field::PRIMARY_STATE) == Some(2);
            if ready && self.socket_path().exists() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the primary did not serve on {} within {timeout:?}",
                self.socket_path().display()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Pids of the live secondaries of this instance started with `--index index`.
    pub fn secondary_pids(&self, index: usize) -> Vec<u32> {
        let index = index.to_string();
        pids_with_arg(&self.name)
            .into_iter()
            .filter(|pid| {
                let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                    return false;
                };
                let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
                args.windows(2)
                    .any(|w| w[0] == b"--index" && w[1] == index.as_bytes())
            })
            .collect()
    }

    /// Secondary `index`'s pid and state from the header's scoreboard (secondary 0 lives
    /// in the base header, secondary i >= 1 in the 128-byte entry i - 1 after it; see
    /// src/header.rs), if the segment exists.
    pub fn scoreboard(&self, index: usize) -> Option<(u32, u64)> {
        if index == 0 {
            let pid = self.header_field(field::SECONDARY_PID)?;
            return Some((pid as u32, self.header_field(field::SECONDARY_STATE)?));
        }
        let entry = field::HEADER_LEN + field::ENTRY_LEN * (index - 1);
        let mut f = std::fs::File::open(self.shm_path()).ok()?;
        let mut buf = vec![0u8; entry + field::ENTRY_LEN];
        f.read_exact(&mut buf).ok()?;
        let word = |off: usize| u64::from_ne_bytes(buf[off..off + 8].try_into().unwrap());
        Some((
            word(entry + field::ENTRY_PID) as u32,
            word(entry + field::ENTRY_STATE),
        ))
    }

    /// Waits until secondary `index` is up (state ready or busy) with a pid other than
    /// `old`, and returns that pid.
    pub fn wait_worker_up(&self, index: usize, old: Option<u32>, timeout: Duration) -> u32 {
        let timeout = slow(timeout);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((pid, 2 | 3)) = self.scoreboard(index) {
                if pid != 0 && Some(pid) != old && process_alive(pid) {
                    return pid;
                }
            }
            assert!(
                Instant::now() < deadline,
                "secondary {index} (other than {old:?}) not up within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The serving primary's TCP port: it binds what `--tcp` asks (port 0: any free port) and
/// says the address it got in its info line on stderr, "instance NAME serving on
/// RUNDIR/NAME.sock and TCP ADDR with N secondaries". Asking for port 0 and reading the
/// answer there means no test ever races another for a port it picked and let go.
impl TestEnv {
    /// Reads the stderr of `pid` (started by `start_primary`) line by line until the
    /// serving line, and returns the port in it. Panics after `timeout` (scaled by
    /// [`slow`]), when stderr ends first, or when the line says port 0. The lines up to
    /// that one are consumed; the rest stays in the child's pipe for `output_within`.
    pub fn tcp_port(&mut self, pid: u32, timeout: Duration) -> u16 {
        use std::sync::{Arc, Mutex, mpsc};
        let timeout = slow(timeout);
        let i = self.children.iter().position(|c| c.id() == pid).unwrap();
        let mut stderr = self.children[i]
            .stderr
            .take()
            .expect("the primary's stderr must be piped (start_primary)");
        let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
        let (tx, rx) = mpsc::channel();
        let log = Arc::clone(&seen);
        // A blocking read cannot time out, so a thread reads and the test waits on the
        // channel with the deadline. One byte at a time: nothing past the line is taken
        // from the pipe, so the stream can go back to the child afterwards.
        std::thread::spawn(move || {
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while let Ok(1) = stderr.read(&mut byte) {
                log.lock().unwrap().push(byte[0]);
                if byte[0] != b'\n' {
                    line.push(byte[0]);
                    continue;
                }
                if let Some(port) = tcp_port_of(&String::from_utf8_lossy(&line)) {
                    let _ = tx.send(Some((port, stderr)));
                    return;
                }
                line.clear();
            }
            let _ = tx.send(None);
        });
        let said = || String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
        match rx.recv_timeout(timeout) {
            Ok(Some((port, stderr))) => {
                self.children[i].stderr = Some(stderr);
                assert_ne!(
                    port,
                    0,
                    "the primary said port 0, not the port it bound:\n{}",
                    said()
                );
                port
            }
            Ok(None) => panic!(
                "the primary's stderr ended without a serving line with a TCP port:\n{}",
                said()
            ),
            Err(_) => panic!(
                "no serving line with a TCP port on the primary's stderr within {timeout:?}:\n{}",
                said()
            ),
        }
    }
}

/// The port in a serving primary's info line ("... serving on PATH and TCP ADDR with N
/// secondaries", whatever the log prefix), if the line is one with a TCP address.
pub fn tcp_port_of(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once(" serving on ")?;
    let (_, rest) = rest.split_once(" and TCP ")?;
    let addr = rest.split_whitespace().next()?;
    addr.parse::<std::net::SocketAddr>().ok().map(|a| a.port())
}

// ---- JSON documents and jq ----

/// Parses a JSON document, with the text in the panic message otherwise.
pub fn parse_json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Runs `jq ARGS` over `input`, with a deadline.
pub fn jq(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new("jq")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jq must be installed (apt-get install jq)");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // A writer apart: jq may answer (or fail) before it read everything.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = output_within(child, T);
    writer.join().unwrap();
    out
}

/// Asserts that `jq -e FILTER` holds on `doc`.
pub fn assert_jq(doc: &[u8], filter: &str) {
    let out = jq(&["-e", filter], doc);
    assert!(
        out.status.success(),
        "jq -e '{filter}' does not hold ({}) on:\n{}",
        stderr_of(&out).trim(),
        String::from_utf8_lossy(doc)
    );
}

/// `jq -r FILTER` over `doc`.
pub fn jq_raw(doc: &[u8], filter: &str) -> String {
    let out = jq(&["-r", filter], doc);
    assert!(
        out.status.success(),
        "jq -r '{filter}': {}",
        stderr_of(&out)
    );
    stdout_of(&out)
}

/// SHA-256 of `data` in lowercase hex: the reference the server's SHA256 replies are
/// checked against.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---- Helpers for hostile-client tests (tests/suite/hostile.rs) ----

impl TestEnv {
    /// `osps SUBCOMMAND` run through `wrapper` (for example `prlimit --nofile=64:64`),
    /// with this environment's name and runtime dir. The wrapper execs osps, so the pid
    /// of the spawned child is osps's.
    pub fn cmd_via(&self, wrapper: &[&str], subcommand: &str) -> Command {
        let mut c = Command::new(wrapper[0]);
        c.args(&wrapper[1..])
            .arg(osps_bin())
            .arg(subcommand)
            .env("OSPS_NAME", &self.name)
            .env("OSPS_RUNTIME_DIR", &self.runtime_dir)
            .env("NO_COLOR", "1")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null());
        c
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which may contain spaces, so split after ')'):
    // state is field 3, utime field 14 and stime field 15, in clock ticks.
    let rest = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf with a valid name has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / hz)
}

/// Resident memory of a process in bytes (`VmRSS` of `/proc/PID/status`).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Runs `cmd` with a stdout whose reader has already gone (its first write meets EPIPE,
/// as with `| head -0`): a reader that goes away is no error, so it must exit 0 and say
/// nothing.
#[allow(dead_code)]
pub fn assert_quiet_when_the_reader_left(mut cmd: Command) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = output_within(child, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stderr_of(&out), "");
}

/// The Python interpreter itself, not a launcher in front of it: pyenv's `python3` is a
/// bash script that runs some 40 processes before Python starts, which on a loaded machine
/// take over a second and get into the report (rightly: left running at a `--timeout`,
/// reaped late by a starved bash), though no test is about them.
pub fn python3() -> &'static str {
    static EXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 runs");
        let exe = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if exe.is_empty() {
            "python3".into()
        } else {
            exe
        }
    })
}
