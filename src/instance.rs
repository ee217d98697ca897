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
        let mut instance = Instance { paths, dir, seg, fifos: Vec::new(), lock: Some(lock) };
        let (p2s, s2p) = instance.paths.fifo_files(0);
        for file in [p2s, s2p] {
            // On error, Drop removes what was made so far.
            fifo::create(&instance.dir, &file)?;
            instance.fifos.push(file);
        }
        Ok(instance)
    }

    /// Removes the FIFOs, the segment, then the lock file (releasing the name).
    pub fn remove(mut self) -> Result<()> {
        self.remove_all()
    }

    fn remove_all(&mut self) -> Result<()> {
        let mut first_error = None;
        for file in std::mem::take(&mut self.fifos) {
            if let Err(e) = self.dir.unlink(&file) {
                first_error.get_or_insert(e);
            }
        }
        if let Err(e) = self.seg.unlink().wrap_err("removing the segment") {
            first_error.get_or_insert(e);
        }
        if let Some(lock) = self.lock.take() {
            if let Err(e) = lock.remove(&self.dir) {
                first_error.get_or_insert(e);
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
