//! For unit tests only: a lock file as a crashed primary leaves it, and another process
//! holding its POSIX lock (as another cleanup or a primary holds it) until told to end, so
//! a test can make a holder exit at the very moment it chooses.

use std::io::BufRead;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::names::Paths;
use super::rundir::RuntimeDir;

/// The holder's script for [`Holder::lock_as_cleanup`]: the lock file's path comes in the
/// environment, so that its arguments can read as osps's.
const HOLD_FROM_ENV: &str = "import fcntl, os, sys\n\
                             f = open(os.environ['OSPS_TEST_HOLD'], 'r+')\n\
                             fcntl.lockf(f, fcntl.LOCK_EX)\n\
                             print('locked', flush=True)\n\
                             sys.stdin.read()\n";

/// The holder's script for [`Holder::lock_exiting`]: once it holds the lock, its main
/// thread exits by itself (`SYS_exit`, not `exit_group`), as a process's first thread does
/// on its way out: a zombie main thread, `PF_EXITING`, no memory, an empty command line,
/// while another thread keeps the files (and the lock) until standard input closes.
const HOLD_EXITING: &str = "import ctypes, fcntl, os, platform, sys, threading\n\
                            f = open(sys.argv[1], 'r+')\n\
                            fcntl.lockf(f, fcntl.LOCK_EX)\n\
                            def rest():\n    sys.stdin.read()\n    os._exit(0)\n\
                            threading.Thread(target=rest).start()\n\
                            print('locked', flush=True)\n\
                            nr = {'x86_64': 60, 'aarch64': 93}[platform.machine()]\n\
                            ctypes.CDLL(None).syscall(nr, 0)\n";

/// A process holding a POSIX record lock of a file (Python's `lockf`, which is `fcntl`'s
/// `F_SETLK`, the lock osps takes) until its standard input closes.
pub struct Holder {
    child: Child,
    /// What it runs from, kept while it runs.
    _dir: Option<tempfile::TempDir>,
}

impl Holder {
    /// Starts the holder and returns once it holds the lock of `path`.
    pub fn lock(path: &Path) -> Holder {
        Holder::lock_with(path, &[])
    }

    /// [`Holder::lock`], with `extra` arguments after the path on its command line (what
    /// a message that names the holder shows).
    pub fn lock_with(path: &Path, extra: &[&str]) -> Holder {
        let hold = "import fcntl, sys\n\
                    f = open(sys.argv[1], 'r+')\n\
                    fcntl.lockf(f, fcntl.LOCK_EX)\n\
                    print('locked', flush=True)\n\
                    sys.stdin.read()\n";
        let child = Command::new("python3")
            .args(["-c", hold])
            .arg(path)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        Holder::locked(child, None)
    }

    /// A holder of the lock of `path` that is exiting, and stays so until [`Holder::end`]:
    /// see [`HOLD_EXITING`].
    pub fn lock_exiting(path: &Path) -> Holder {
        let child = Command::new("python3")
            .args(["-c", HOLD_EXITING])
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let holder = Holder::locked(child, None);
        // Its main thread exits just after it says so.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while crate::os::procfs::state(holder.pid()) != Some('Z') {
            assert!(std::time::Instant::now() < deadline, "never exiting");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        holder
    }

    /// Starts a stranger whose command line reads as `python3 cleanup --name NAME`
    /// (Python runs a script file named `cleanup`), as an `osps cleanup` of that name
    /// reads to [`crate::os::procfs::subcommand`], though it is no osps; returns once it
    /// holds the lock of `path`.
    pub fn lock_as_cleanup(path: &Path, name: &str) -> Holder {
        Holder::run_as("cleanup", "python3", path, name, None)
    }

    /// [`Holder::lock_as_cleanup`], run by a copy of the Python interpreter named `osps`:
    /// what [`crate::os::procfs::runs_osps`] takes for an osps binary (a rebuilt one is
    /// known by its name), so that it reads as a real `osps cleanup --name NAME`.
    pub fn lock_as_osps_cleanup(path: &Path, name: &str) -> Holder {
        Holder::as_osps("cleanup", path, name)
    }

    /// [`Holder::lock_as_osps_cleanup`], reading as a real `osps primary --name NAME`:
    /// the lock holder of a running instance, whose other objects a test makes by hand.
    pub fn lock_as_osps_primary(path: &Path, name: &str) -> Holder {
        Holder::as_osps("primary", path, name)
    }

    /// A holder run by a copy of the Python interpreter named `osps`, with the arguments
    /// `SUBCOMMAND --name NAME`.
    fn as_osps(subcommand: &str, path: &Path, name: &str) -> Holder {
        let dir = tempfile::tempdir().expect("a directory for the interpreter");
        let python = Command::new("python3")
            .args([
                "-c",
                "import os, sys; print(os.path.realpath(sys.executable))",
            ])
            .output()
            .expect("python3 runs");
        let python = String::from_utf8_lossy(&python.stdout).trim().to_string();
        let osps = dir.path().join("osps");
        std::fs::copy(&python, &osps).expect("copying the Python interpreter");
        Holder::run_as(
            subcommand,
            osps.to_str().expect("a UTF-8 path"),
            path,
            name,
            Some(dir),
        )
    }

    /// Runs [`HOLD_FROM_ENV`] as a script named `subcommand` with `program`.
    fn run_as(
        subcommand: &str,
        program: &str,
        path: &Path,
        name: &str,
        keep: Option<tempfile::TempDir>,
    ) -> Holder {
        let dir = tempfile::tempdir().expect("a directory for the script");
        std::fs::write(dir.path().join(subcommand), HOLD_FROM_ENV).expect("writing the script");
        let child = Command::new(program)
            .args([subcommand, "--name", name])
            .current_dir(dir.path())
            .env("OSPS_TEST_HOLD", path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        // The script is read by then: its directory may go.
        Holder::locked(child, keep)
    }

    /// Waits for `child` to say it holds the lock.
    fn locked(mut child: Child, dir: Option<tempfile::TempDir>) -> Holder {
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the holder says it holds the lock");
        assert_eq!(line.trim(), "locked");
        Holder { child, _dir: dir }
    }

    /// The holder's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Ends the holder and waits until it is gone (its lock with it).
    pub fn end(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        self.end();
    }
}

/// A runtime directory (in a temporary directory, removed when the first value drops)
/// with a lock file of instance `name` that nobody holds.
pub fn stale_lock(name: &str) -> (tempfile::TempDir, RuntimeDir, Paths) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let path = tmp.path().join("run");
    let dir = RuntimeDir::ensure(&path).expect("a runtime directory");
    let paths = Paths::new(name.parse().expect("a valid name"), path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(paths.in_dir(&paths.lock_file()))
        .expect("a lock file");
    (tmp, dir, paths)
}
