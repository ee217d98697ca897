//! The FIFO pair: named pipes in the runtime directory that carry the frames of
//! [`crate::frame`] ("your turn", hello, stop), one direction each.
//!
//! Opening a FIFO normally blocks until the other end is opened too, and two processes
//! opening two FIFOs in opposite orders deadlock. We never block in `open`:
//! - the read end is opened with `O_NONBLOCK`, which always succeeds at once;
//! - the write end is opened with `O_NONBLOCK`, which fails with `ENXIO` while nobody
//!   reads; the secondary opens its read end before saying hello, so the primary's open
//!   of the write end, made after the hello, succeeds, and no open ever waits.
//!
//! Reads wait in `poll` with a deadline, together with a "wake" descriptor (the signal
//! self-pipe), so a silent peer is a timeout and a signal is noticed at once. End of file
//! (every writer gone) and `EPIPE` (every reader gone) both mean the peer is gone.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::{Mode, fstat};

use crate::frame::{FRAME_LEN, Frame};
use crate::owned::{self, Kind};
use crate::rundir::RuntimeDir;

/// Creates a FIFO exclusively with mode 0600 (`mkfifo` never follows a symlink: an
/// existing entry of any kind is `EEXIST`).
pub fn create(dir: &RuntimeDir, file: &str) -> Result<()> {
    match nix::unistd::mkfifoat(dir.fd(), file, Mode::S_IRUSR | Mode::S_IWUSR) {
        Ok(()) => {
            crate::trace!("mkfifo", path = dir.path().join(file), mode = "0600");
            Ok(())
        }
        Err(Errno::EEXIST) => bail!(
            "{} already exists: remove what a crashed instance left with `osps cleanup`",
            dir.path().join(file).display()
        ),
        Err(e) => Err(e)
            .wrap_err_with(|| format!("creating the FIFO {}", dir.path().join(file).display())),
    }
}

fn open_checked(dir: &RuntimeDir, file: &str, access: OFlag) -> Result<OwnedFd, Errno> {
    let flags = access | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(dir.fd(), file, flags, Mode::empty())
}

fn check_fifo(fd: &OwnedFd, path: &Path) -> Result<()> {
    let st = fstat(fd).wrap_err_with(|| format!("checking {}", path.display()))?;
    owned::check(&st, path, Kind::Fifo, 0o600)
}

fn describe_open_error(e: Errno, path: &Path) -> color_eyre::Report {
    match e {
        Errno::ENOENT => eyre!(
            "the FIFO {} does not exist: is the primary running?",
            path.display()
        ),
        Errno::ELOOP => eyre!("{} is a symbolic link: osps refuses it", path.display()),
        e => eyre!(e).wrap_err(format!("opening the FIFO {}", path.display())),
    }
}

/// The read end of a FIFO, with a buffer for a frame that arrived in pieces.
#[derive(Debug)]
pub struct Reader {
    fd: OwnedFd,
    path: PathBuf,
    buf: [u8; FRAME_LEN],
    filled: usize,
}

/// What a wait on a FIFO ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Frame(Frame),
    /// Every writer closed the FIFO: the peer is gone.
    Eof,
    /// The wake descriptor became readable (a signal arrived).
    Woken,
    TimedOut,
}

/// Milliseconds left until `deadline`, rounded up so we never spin on a zero timeout.
fn timeout_until(deadline: Option<Instant>) -> PollTimeout {
    match deadline {
        None => PollTimeout::NONE,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128);
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    }
}

impl Reader {
    /// Opens the read end (never blocks) and checks it is our FIFO.
    pub fn open(dir: &RuntimeDir, file: &str) -> Result<Reader> {
        let path = dir.path().join(file);
        let fd =
            open_checked(dir, file, OFlag::O_RDONLY).map_err(|e| describe_open_error(e, &path))?;
        check_fifo(&fd, &path)?;
        crate::trace!(
            "fifo_open",
            path = path,
            end = "read",
            flags = "O_RDONLY|O_NONBLOCK",
            waited = false
        );
        Ok(Reader {
            fd,
            path,
            buf: [0; FRAME_LEN],
            filled: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptor, for a caller that polls many FIFOs at once.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Waits for the next frame until `deadline` (`None`: forever), or until `wake` is readable.
    pub fn wait(
        &mut self,
        deadline: Option<Instant>,
        wake: Option<BorrowedFd<'_>>,
    ) -> Result<Event> {
        loop {
            // Poll before reading: a FIFO that never had a writer reads as end of file,
            // while poll reports it only once a writer came and went (POLLHUP).
            let (fifo_ready, woken) = {
                // A fixed array, not a Vec: this runs every round and must not allocate.
                let mut fds = [
                    PollFd::new(self.fd.as_fd(), PollFlags::POLLIN),
                    PollFd::new(wake.unwrap_or(self.fd.as_fd()), PollFlags::POLLIN),
                ];
                let used = if wake.is_some() { 2 } else { 1 };
                match poll(&mut fds[..used], timeout_until(deadline)) {
                    Ok(_) => (
                        fds[0].revents().is_some_and(|r| !r.is_empty()),
                        used == 2
                            && fds[1]
                                .revents()
                                .is_some_and(|r| r.intersects(PollFlags::POLLIN)),
                    ),
                    Err(Errno::EINTR) => (false, false),
                    Err(e) => {
                        return Err(e)
                            .wrap_err_with(|| format!("waiting on {}", self.path.display()));
                    }
                }
            };
            if fifo_ready {
                if let Some(event) = self.try_read()? {
                    return Ok(event);
                }
            }
            if woken {
                return Ok(Event::Woken);
            }
            if !fifo_ready && deadline.is_some_and(|d| Instant::now() >= d) {
                if self.filled > 0 {
                    bail!(
                        "truncated frame on {}: {} of {FRAME_LEN} bytes, then nothing until the deadline",
                        self.path.display(),
                        self.filled
                    );
                }
                return Ok(Event::TimedOut);
            }
        }
    }

    /// Reads what is there without waiting: a whole frame, end of file, or nothing yet.
    fn try_read(&mut self) -> Result<Option<Event>> {
        loop {
            match nix::unistd::read(&self.fd, &mut self.buf[self.filled..]) {
                Ok(0) => {
                    if self.filled > 0 {
                        bail!(
                            "truncated frame on {}: {} of {FRAME_LEN} bytes, then end of file",
                            self.path.display(),
                            self.filled
                        );
                    }
                    return Ok(Some(Event::Eof));
                }
                Ok(n) => {
                    self.filled += n;
                    if self.filled == FRAME_LEN {
                        self.filled = 0;
                        let frame = Frame::decode(&self.buf).map_err(|e| {
                            eyre!("rejected a frame read from {}: {e}", self.path.display())
                        })?;
                        return Ok(Some(Event::Frame(frame)));
                    }
                }
                Err(Errno::EAGAIN) => return Ok(None),
                Err(Errno::EINTR) => {}
                Err(e) => {
                    return Err(e).wrap_err_with(|| format!("reading {}", self.path.display()));
                }
            }
        }
    }
}

/// The write end of a FIFO.
#[derive(Debug)]
pub struct Writer {
    fd: OwnedFd,
    path: PathBuf,
}

/// Whether a frame reached the pipe.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Ok,
    /// Every reader closed the FIFO (`EPIPE`): the peer is gone.
    PeerGone,
}

impl Writer {
    /// Opens the write end. `Ok(None)`: nobody has the read end open (`ENXIO`).
    pub fn try_open(dir: &RuntimeDir, file: &str) -> Result<Option<Writer>> {
        let path = dir.path().join(file);
        match open_checked(dir, file, OFlag::O_WRONLY) {
            Ok(fd) => {
                check_fifo(&fd, &path)?;
                crate::trace!(
                    "fifo_open",
                    path = path,
                    end = "write",
                    flags = "O_WRONLY|O_NONBLOCK",
                    waited = false,
                    reader = "already open"
                );
                Ok(Some(Writer { fd, path }))
            }
            Err(Errno::ENXIO) => {
                crate::trace!(
                    "fifo_open",
                    path = path,
                    end = "write",
                    flags = "O_WRONLY|O_NONBLOCK",
                    waited = false,
                    result = "ENXIO: nobody reads"
                );
                Ok(None)
            }
            Err(e) => Err(describe_open_error(e, &path)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one frame with one `write` (atomic: the frame is smaller than `PIPE_BUF`).
    /// Waits for room until `deadline` if the pipe is full (a peer that stopped reading).
    pub fn send(&self, frame: &Frame, deadline: Instant) -> Result<Sent> {
        let bytes = frame.encode();
        loop {
            match nix::unistd::write(&self.fd, &bytes) {
                Ok(n) if n == FRAME_LEN => return Ok(Sent::Ok),
                Ok(n) => bail!(
                    "short write of {n} bytes on {} (a frame is {FRAME_LEN})",
                    self.path.display()
                ),
                Err(Errno::EPIPE) => return Ok(Sent::PeerGone),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => {
                    if Instant::now() >= deadline {
                        bail!(
                            "{} stayed full until the deadline: the peer stopped reading",
                            self.path.display()
                        );
                    }
                    let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLOUT)];
                    match poll(&mut fds, timeout_until(Some(deadline))) {
                        Ok(_) | Err(Errno::EINTR) => {}
                        Err(e) => {
                            return Err(e)
                                .wrap_err_with(|| format!("waiting on {}", self.path.display()));
                        }
                    }
                }
                Err(e) => {
                    return Err(e).wrap_err_with(|| format!("writing to {}", self.path.display()));
                }
            }
        }
    }
}
