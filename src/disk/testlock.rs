//! For unit tests only: a lock file as a crashed primary leaves it, and another process
//! holding its POSIX lock (as another cleanup or a primary holds it) until told to end, so
//! a test can make a holder exit at the very moment it chooses.

use std::io::BufRead;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::names::Paths;
use super::rundir::RuntimeDir;

/// A process holding a POSIX record lock of a file (Python's `lockf`, which is `fcntl`'s
/// `F_SETLK`, the lock osps takes) until its standard input closes.
pub struct Holder(Child);

impl Holder {
    /// Starts the holder and returns once it holds the lock of `path`.
    pub fn lock(path: &Path) -> Holder {
        let hold = "import fcntl, sys\n\
                    f = open(sys.argv[1], 'r+')\n\
                    fcntl.lockf(f, fcntl.LOCK_EX)\n\
                    print('locked', flush=True)\n\
                    sys.stdin.read()\n";
        let mut child = Command::new("python3")
            .args(["-c", hold])
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the holder says it holds the lock");
        assert_eq!(line.trim(), "locked");
        Holder(child)
    }

    /// The holder's pid.
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Ends the holder and waits until it is gone (its lock with it).
    pub fn end(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
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
