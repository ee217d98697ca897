//! The objects of one running instance, created and removed as a unit by the primary:
//! the lock file (first in, last out), the segment and the FIFO pair.
//!
//! If the primary fails half-way, dropping the `Instance` still removes whatever was
//! made, so an error never leaves objects behind; `osps cleanup` is only for crashes.

use color_eyre::eyre::{Result, WrapErr};

use crate::claim;
use crate::fifo;
use crate::lockfile::InstanceLock;
use crate::names::Paths;
use crate::rundir::RuntimeDir;
use crate::segment::Segment;

#[derive(Debug)]
pub struct Instance {
    pub paths: Paths,
    pub dir: RuntimeDir,
    pub seg: Segment,
    fifos: Vec<String>,
    socket: Option<String>,
    lock: Option<InstanceLock>,
}

impl Instance {
    /// Claims the name (recovering a stale instance), then creates the segment and the
    /// FIFO pair of the first secondary.
    /// `workers` secondaries share the segment (1 unless `--serve --secondaries N`).
    pub fn create(paths: Paths, size: u64, workers: usize) -> Result<Instance> {
        let dir = RuntimeDir::ensure(&paths.runtime_dir)?;
        let lock = claim::claim(&dir, &paths)?;
        let seg = match Segment::create(&paths, size, workers) {
            Ok(seg) => seg,
            Err(e) => {
                let _ = lock.remove(&dir);
                return Err(e);
            }
        };
        let mut instance = Instance {
            paths,
            dir,
            seg,
            fifos: Vec::new(),
            socket: None,
            lock: Some(lock),
        };
        for index in 0..workers {
            let (p2s, s2p) = instance.paths.fifo_files(index);
            for file in [p2s, s2p] {
                // On error, Drop removes what was made so far.
                fifo::create(&instance.dir, &file)?;
                instance.fifos.push(file);
            }
        }
        Ok(instance)
    }

    /// Creates the listening Unix socket `RUNDIR/NAME.sock` with mode 0600 (`--serve`).
    pub fn listen(&mut self) -> Result<std::os::unix::net::UnixListener> {
        let file = self.paths.socket_file();
        let path = self.paths.in_dir(&file);
        // bind() creates the socket file with mode 0777 minus the umask: narrow the umask
        // to get 0600 at creation rather than fixing it after (the process is still single-threaded).
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let bound = std::os::unix::net::UnixListener::bind(&path);
        nix::sys::stat::umask(old);
        let listener = match bound {
            Ok(listener) => listener,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(e).wrap_err_with(|| {
                    format!(
                        "listening on {}: remove what a crash left with `osps cleanup`",
                        path.display()
                    )
                });
            }
            Err(e) => {
                return Err(e).wrap_err_with(|| {
                    format!(
                        "listening on {} (a socket path has at most 107 bytes: a shorter \
                         --runtime-dir or --name may help)",
                        path.display()
                    )
                });
            }
        };
        self.socket = Some(file.clone());
        let st = self
            .dir
            .stat(&file)?
            .ok_or_else(|| color_eyre::eyre::eyre!("{} vanished", path.display()))?;
        crate::owned::check(&st, &path, crate::owned::Kind::Socket, 0o600)?;
        crate::trace!(
            "listen",
            path = path,
            mode = "0600",
            how = "socket + bind + listen"
        );
        listener
            .set_nonblocking(true)
            .wrap_err("making the socket non-blocking")?;
        Ok(listener)
    }

    /// Removes the FIFOs, the segment, then the lock file (releasing the name).
    pub fn remove(mut self) -> Result<()> {
        self.remove_all()
    }

    fn remove_all(&mut self) -> Result<()> {
        let mut first_error = None;
        let socket = self.socket.take();
        for file in std::mem::take(&mut self.fifos).into_iter().chain(socket) {
            match self.dir.unlink(&file) {
                Ok(_) => crate::trace!(
                    "unlink",
                    path = self.dir.path().join(&file),
                    how = "unlinkat"
                ),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match self.seg.unlink().wrap_err("removing the segment") {
            Ok(()) => crate::trace!("unlink", path = self.seg.path(), how = "shm_unlink"),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
        if let Some(lock) = self.lock.take() {
            let path = lock.path().to_path_buf();
            match lock.remove(&self.dir) {
                Ok(()) => crate::trace!(
                    "unlink",
                    path = path,
                    how = "unlinkat, then close: the lock is released"
                ),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.lock.is_some() {
            if let Err(e) = self.remove_all() {
                crate::warn!("while removing instance {}: {e:#}", self.paths.name);
            }
        }
    }
}
