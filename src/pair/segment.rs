//! The shared segment: a POSIX shared-memory object (`shm_open`), reserved with
//! `posix_fallocate` so a full `/dev/shm` fails at start rather than later, and mapped
//! shared by both processes. It starts with the header of [`crate::pair::header`]; the rest is
//! the data area where requests and replies live.
//!
//! Everything in the segment may be written by a broken or hostile peer at any moment.
//! So we never form a Rust reference to plain bytes in it: header fields are read and
//! written only as atomics (`AtomicU64`, which is allowed to change under us), and the
//! data area only through [`crate::pair::area::Area`], which owns every copy in or out of it.
//! Validation happens on copies.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use memmap2::{MmapOptions, MmapRaw};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::{shm_open, shm_unlink};
use nix::sys::stat::{FileStat, Mode, fstat, lstat};

use crate::disk::names::Paths;
use crate::disk::owned::{self, Kind};
use crate::os::sigbus;
use crate::pair::area::Area;
use crate::pair::header::{self, Field, HEADER_LEN};

/// How often a side that takes turns checks the segment for truncation or removal (the
/// full check, [`Segment::check_intact`]): off the hot path, yet soon after the fact.
pub const INTACT_CHECK_NS: u64 = 100_000_000;

/// A mapped segment (read-write).
#[derive(Debug)]
pub struct Segment {
    // Fields drop in order: unregister the SIGBUS guard before the mapping goes away.
    _guard: sigbus::Guard,
    map: MmapRaw,
    file: File,
    size: u64,
    /// The header's length including the pool's scoreboard (where the data area starts).
    header_len: usize,
    data_size: usize,
    path: PathBuf,
    shm_name: String,
}

impl Segment {
    /// Creates the segment exclusively with mode 0600, reserves its memory, maps it and
    /// writes a fresh header.
    /// `workers` is the number of secondaries (1, or the pool of `--serve`).
    pub fn create(paths: &Paths, size: u64, workers: usize) -> Result<Segment> {
        let name = paths.shm_name();
        let path = paths.shm_path();
        let fd = match shm_open(
            name.as_str(),
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL,
            Mode::S_IRUSR | Mode::S_IWUSR,
        ) {
            Ok(fd) => fd,
            Err(Errno::EEXIST) => bail!(
                "{} already exists: another osps instance named {} may be running, or one \
                 crashed; run `osps inspect --name {}` to see it and `osps cleanup --name {}` \
                 to remove what a crash left",
                path.display(),
                paths.name,
                paths.name,
                paths.name
            ),
            Err(e) => {
                return Err(e).wrap_err_with(|| {
                    format!("creating the shared-memory segment {}", path.display())
                });
            }
        };
        crate::trace!(
            "shm_open",
            name = name,
            path = path,
            flags = "O_RDWR|O_CREAT|O_EXCL",
            mode = "0600"
        );
        let file = File::from(fd);
        match Segment::init(file, size, workers, &path, &name) {
            Ok(seg) => Ok(seg),
            Err(e) => {
                // We made it, so we remove it; the error is what the user needs to see.
                let _ = shm_unlink(name.as_str());
                Err(e)
            }
        }
    }

    /// Checks, reserves and maps a segment we just created, then writes its header.
    fn init(
        file: File,
        size: u64,
        workers: usize,
        path: &std::path::Path,
        name: &str,
    ) -> Result<Segment> {
        let st = fstat(&file)
            .wrap_err_with(|| format!("checking the new segment {}", path.display()))?;
        owned::check(&st, path, Kind::Regular, 0o600)?;
        let header_len = header::header_len_for(workers.clamp(1, header::MAX_WORKERS));
        if (header_len as u64) >= size {
            bail!(
                "a {size}-byte segment cannot hold the header of {workers} secondaries; raise --size"
            );
        }
        reserve(&file, size)
            .wrap_err_with(|| format!("reserving {size} bytes for {}", path.display()))?;
        crate::trace!("fallocate", bytes = size, how = "posix_fallocate");
        let seg = Segment::map(file, size, header_len, path, name)?;
        let fresh = header::initial(
            size,
            crate::clock::unix_ms(),
            u64::from(std::process::id()),
            workers,
        );
        for word in 0..HEADER_LEN / 8 {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&fresh[word * 8..word * 8 + 8]);
            seg.word(word * 8)
                .store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
        // Publish the whole header before anyone can learn the segment exists.
        std::sync::atomic::fence(Ordering::SeqCst);
        crate::trace!(
            "header_written",
            magic = "OSPSSEG",
            version = header::VERSION,
            size = size,
            data_offset = header_len,
            secondaries = workers
        );
        Ok(seg)
    }

    /// Opens and maps an existing segment (the secondary), then validates its header.
    pub fn attach(paths: &Paths) -> Result<Segment> {
        let name = paths.shm_name();
        let path = paths.shm_path();
        let fd = shm_open(name.as_str(), OFlag::O_RDWR, Mode::empty()).map_err(|e| match e {
            Errno::ENOENT => eyre!(
                "there is no segment {}: is `osps primary --name {}` running? The secondary is \
                 normally started by the primary",
                path.display(),
                paths.name
            ),
            e => eyre!(e).wrap_err(format!("opening the segment {}", path.display())),
        })?;
        crate::trace!("shm_open", name = name, path = path, flags = "O_RDWR");
        let file = File::from(fd);
        let st = fstat(&file).wrap_err_with(|| format!("checking {}", path.display()))?;
        owned::check(&st, &path, Kind::Regular, 0o600)?;
        let size = st.st_size as u64;
        if size < HEADER_LEN as u64 || size > crate::units::MAX_SEGMENT {
            bail!(
                "{} is {size} bytes: not a valid osps segment",
                path.display()
            );
        }
        let seg = Segment::map(file, size, HEADER_LEN, &path, &name)?;
        let h = header::decode(&seg.snapshot(), size)
            .map_err(|e| eyre!("{}: {e}", path.display()))
            .wrap_err("validating the segment header")?;
        crate::trace!(
            "header_checked",
            version = h.version,
            size = size,
            secondaries = h.workers
        );
        // The validated copy says how long the whole header (with the pool's scoreboard) is.
        let header_len =
            usize::try_from(h.header_len).wrap_err("header length does not fit in memory")?;
        Ok(Segment {
            header_len,
            data_size: seg.data_size + HEADER_LEN - header_len,
            ..seg
        })
    }

    fn map(
        file: File,
        size: u64,
        header_len: usize,
        path: &std::path::Path,
        name: &str,
    ) -> Result<Segment> {
        let len = usize::try_from(size).wrap_err("segment size does not fit in memory")?;
        let map = MmapOptions::new()
            .len(len)
            .map_raw(&file)
            .wrap_err_with(|| format!("mapping {}", path.display()))?;
        let guard = sigbus::protect(map.as_ptr(), len);
        crate::trace!(
            "mmap",
            bytes = len,
            prot = "PROT_READ|PROT_WRITE",
            flags = "MAP_SHARED"
        );
        Ok(Segment {
            map,
            file,
            size,
            header_len,
            data_size: len - header_len,
            path: path.to_path_buf(),
            shm_name: name.to_string(),
            _guard: guard,
        })
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        // Offsets come from header.rs constants, never from the segment; a wrong one is a
        // bug in osps, and stopping beats touching memory outside the header.
        assert!(
            offset % 8 == 0 && offset + 8 <= self.header_len,
            "header offset {offset} out of range"
        );
        // SAFETY: the mapping is page-aligned and at least header_len bytes long, so
        // base + offset is 8-aligned and in bounds for the lifetime of &self. An AtomicU64
        // may be modified concurrently (by the peer process) without undefined behaviour.
        unsafe { AtomicU64::from_ptr(self.map.as_mut_ptr().add(offset).cast::<u64>()) }
    }

    /// One header field as an atomic.
    pub fn field(&self, f: Field) -> &AtomicU64 {
        self.word(f.offset())
    }

    /// The header word at `offset` (a scoreboard field of [`header::worker_fields`]).
    pub fn at(&self, offset: usize) -> &AtomicU64 {
        self.word(offset)
    }

    /// Reads a field (acquire: pairs with the writer's release store).
    pub fn load(&self, f: Field) -> u64 {
        self.field(f).load(Ordering::Acquire)
    }

    /// Writes a field (release: publishes everything written before it).
    pub fn store(&self, f: Field, value: u64) {
        self.field(f).store(value, Ordering::Release);
    }

    /// A copy of the header, word by word, for validation and inspect.
    pub fn snapshot(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        for word in 0..HEADER_LEN / 8 {
            let v = self.word(word * 8).load(Ordering::Relaxed);
            bytes[word * 8..word * 8 + 8].copy_from_slice(&v.to_ne_bytes());
        }
        bytes
    }

    /// A copy of the whole header, scoreboard included (for STATS and inspect).
    pub fn snapshot_all(&self) -> Vec<u8> {
        (0..self.header_len / 8)
            .flat_map(|w| self.word(w * 8).load(Ordering::Relaxed).to_ne_bytes())
            .collect()
    }

    /// The data area (valid while `self` lives).
    pub fn area(&self) -> Area<'_> {
        // SAFETY: header_len < size, so the result stays inside the mapping.
        let ptr = unsafe { self.map.as_mut_ptr().add(self.header_len) };
        // SAFETY: the data area lies inside our mapping, which lives as long as `self`;
        // the segment never forms a reference to those bytes (only atomics in the header).
        unsafe { Area::from_raw(ptr, self.data_size) }
    }

    /// Secondary `index`'s slot when the data area is shared by `workers` secondaries:
    /// equal parts, each a multiple of 64 bytes (so slots never share a cache line).
    pub fn slot(&self, index: usize, workers: usize) -> Area<'_> {
        self.area().part(index, workers)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The secondaries in the pool, from the header length validated at creation or
    /// attach: never re-read from the segment, where a peer could have changed it since.
    pub fn workers(&self) -> usize {
        (self.header_len - HEADER_LEN) / header::ENTRY_LEN + 1
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Fails when the segment was truncated, resized or unlinked by someone else (an
    /// `fstat`: callers on a hot path run it every [`INTACT_CHECK_NS`] at most).
    pub fn check_intact(&self) -> Result<()> {
        if sigbus::faults() > 0 {
            bail!(
                "{} was truncated by another process while in use (caught SIGBUS); stopping",
                self.path.display()
            );
        }
        let st = fstat(&self.file).wrap_err_with(|| format!("checking {}", self.path.display()))?;
        if st.st_size as u64 != self.size {
            bail!(
                "{} was resized by another process from {} to {} bytes while in use; stopping",
                self.path.display(),
                self.size,
                st.st_size
            );
        }
        if st.st_nlink == 0 {
            bail!(
                "{} was removed by another process while in use; stopping",
                self.path.display()
            );
        }
        self.check_layout()
    }

    /// Fails when the header's fixed fields (written once, at creation) changed since we
    /// validated them: some other process scribbles over the segment.
    fn check_layout(&self) -> Result<()> {
        let expected = [
            (Field::Magic, u64::from_ne_bytes(header::MAGIC)),
            (Field::Version, header::VERSION),
            (Field::HeaderLen, self.header_len as u64),
            (Field::SegmentSize, self.size),
            (Field::DataOffset, self.header_len as u64),
            (Field::DataSize, self.data_size as u64),
            (Field::Workers, self.workers() as u64),
        ];
        for (field, want) in expected {
            let now = self.field(field).load(Ordering::Relaxed);
            if now != want {
                bail!(
                    "the header of {} was overwritten by another process while in use ({field:?} \
                     is {now:#x}, was {want:#x}); stopping",
                    self.path.display()
                );
            }
        }
        Ok(())
    }

    /// Removes the segment's name, but only if the name still refers to our object.
    pub fn unlink(&self) -> Result<()> {
        let mine = fstat(self.file.as_fd())
            .wrap_err_with(|| format!("checking {}", self.path.display()))?;
        match lstat(&self.path) {
            Ok(now) if now.st_ino == mine.st_ino && now.st_dev == mine.st_dev => {
                match shm_unlink(self.shm_name.as_str()) {
                    Ok(()) | Err(Errno::ENOENT) => Ok(()),
                    Err(e) => Err(e).wrap_err_with(|| format!("removing {}", self.path.display())),
                }
            }
            // Gone already, or replaced by someone else's object: not ours to remove.
            _ => Ok(()),
        }
    }
}

/// Reserves the segment's memory; ENOSPC becomes a message about `/dev/shm`, and EFBIG
/// (past `RLIMIT_FSIZE`, whose SIGXFSZ the primary ignores: see `os/signals/mod.rs`) one about
/// the file size limit.
fn reserve(file: &File, size: u64) -> Result<()> {
    let len = i64::try_from(size).wrap_err("size too large")?;
    loop {
        match nix::fcntl::posix_fallocate(file.as_fd(), 0, len) {
            Ok(()) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(Errno::ENOSPC) => bail!(
                "no space left in /dev/shm for a {} segment: free some (see `df -h /dev/shm`) \
                 or choose a smaller --size",
                crate::units::format_bytes(size)
            ),
            Err(Errno::EFBIG) => bail!("{}", file_size_limit_message(size, fsize_limit())),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The soft `RLIMIT_FSIZE` in bytes (`None`: unlimited or unknown).
fn fsize_limit() -> Option<u64> {
    use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit};
    getrlimit(Resource::RLIMIT_FSIZE)
        .ok()
        .map(|(soft, _)| soft)
        .filter(|&soft| soft != RLIM_INFINITY)
}

/// Why a segment of `size` bytes cannot be reserved under the file size limit (the
/// caller's context names the segment).
fn file_size_limit_message(size: u64, limit: Option<u64>) -> String {
    let limit = limit.map_or_else(|| "below that".to_string(), |m| format!("{m} bytes"));
    format!(
        "the segment needs {size} bytes but the file size limit (ulimit -f / RLIMIT_FSIZE) \
         is {limit}; raise it or lower --size"
    )
}

/// What `look` found at a segment path, without changing or trusting anything.
#[derive(Debug)]
pub struct Look {
    pub stat: FileStat,
    /// A copy of the first `HEADER_LEN` bytes (fewer if the object is shorter).
    pub head: Vec<u8>,
}

/// Looks at the segment read-only (for inspect and cleanup). Never opens anything but a
/// regular file (a FIFO planted there is reported, not opened), and maps only the header.
pub fn look(paths: &Paths) -> Result<Option<Look>> {
    let path = paths.shm_path();
    let st = match lstat(&path) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(e).wrap_err_with(|| format!("examining {}", path.display())),
    };
    if !owned::is_kind(&st, Kind::Regular) {
        return Ok(Some(Look {
            stat: st,
            head: Vec::new(),
        }));
    }
    let fd = match shm_open(
        paths.shm_name().as_str(),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(e).wrap_err_with(|| format!("opening {} read-only", path.display())),
    };
    let file = File::from(fd);
    let st = fstat(&file).wrap_err_with(|| format!("checking {}", path.display()))?;
    if !owned::is_kind(&st, Kind::Regular) {
        return Ok(Some(Look {
            stat: st,
            head: Vec::new(),
        }));
    }
    // The base header and, for a pool, its scoreboard.
    let len = (st.st_size.max(0) as usize).min(header::header_len_for(header::MAX_WORKERS));
    if len == 0 {
        return Ok(Some(Look {
            stat: st,
            head: Vec::new(),
        }));
    }
    let map = MmapOptions::new()
        .len(len)
        .map_raw_read_only(&file)
        .wrap_err_with(|| format!("mapping {} read-only", path.display()))?;
    let _guard = sigbus::protect(map.as_ptr(), len);
    let faults_before = sigbus::faults();
    let mut head = vec![0u8; len];
    // SAFETY: the mapping is `len` bytes long; we copy bytes out with a raw copy and never
    // keep a reference into it. A concurrent truncation is absorbed by the SIGBUS guard.
    unsafe { std::ptr::copy_nonoverlapping(map.as_ptr(), head.as_mut_ptr(), len) };
    if sigbus::faults() != faults_before {
        bail!("{} shrank while being read", path.display());
    }
    Ok(Some(Look { stat: st, head }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_size_limit_message_names_the_limit_and_what_to_do() {
        assert_eq!(
            file_size_limit_message(1_048_576, Some(65_536)),
            "the segment needs 1048576 bytes but the file size limit (ulimit -f / \
             RLIMIT_FSIZE) is 65536 bytes; raise it or lower --size"
        );
        assert!(file_size_limit_message(1, None).contains("is below that;"));
    }
}
