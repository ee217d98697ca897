//! The FIFO pair: named pipes in the runtime directory that carry the frames of
//! [`crate::pair::frame`] ("your turn", hello, stop), one direction each.
//!
//! Opening a FIFO normally blocks until the other end is opened too, and two processes
//! opening two FIFOs in opposite orders deadlock. We never block in `open`:
//! - the read end is opened with `O_NONBLOCK`, which always succeeds at once;
//! - the write end is opened with `O_NONBLOCK`, which fails with `ENXIO` while nobody
//!   reads; the secondary opens its read end before saying hello, so the primary's open
//!   of the write end, made after the hello, succeeds, and no open ever waits.
//!
//! Two ways to wait for a frame:
//! - [`Reader::wait`] waits in `poll` with a deadline, together with a "wake" descriptor
//!   (the signal self-pipe), so a silent peer is a timeout and a signal is noticed at
//!   once. It works at any time, even before the peer opened its end. [`Reader::wait_soon`]
//!   first looks without sleeping for a while, for an answer due within microseconds.
//! - [`Reader::wait_turn`], for the turns of an established exchange, blocks in `read`
//!   itself: one system call per frame, as in a bare FIFO ping-pong, instead of `poll`
//!   then `read`. The deadline and the signals still interrupt it, through the
//!   [`crate::os::watchdog`] thread. It must not be used before the peer opened its write
//!   end: a FIFO that never had a writer reads as end of file at once.
//!
//! A reader's first [`POLLED_TURNS`] turns wait the polling way all the same: a short
//! run (`osps primary --rounds 1`, a quick start) is over before the watchdog thread pays
//! for itself. Starting it costs a thread (a clone, a stack mapping, a first kick) and
//! ending the process then ends two threads: together about a tenth of the life of such
//! a process on a small virtual machine. A long run pays the extra `poll` only that often.
//!
//! The read end is opened non-blocking (so the open never waits) and then switched to
//! blocking for `wait_turn`; `wait` therefore reads only after `poll` said there is
//! something to read, once per `poll`. End of file (every writer gone) and `EPIPE`
//! (every reader gone) both mean the peer is gone.
//!
//! The frames of a turn go through [`read_raw`] and [`write_raw`], the bare system calls:
//! glibc's `read` and `write` are thread-cancellation points, and in a process with
//! threads (the watchdog, the lock file's watcher) it brackets each call with two more
//! calls that make it cancellable. osps never cancels a thread; skipping them saves a few
//! per cent of a turn (measured with `perf` on `--sync fifo`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl, openat};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::{Mode, fstat};

use crate::pair::frame::{FRAME_LEN, Frame};

use crate::disk::owned::{self, Kind};
use crate::disk::rundir::RuntimeDir;

/// `read(2)` on `fd` without glibc's cancellation bracket (see the module comment).
fn read_raw(fd: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<usize> {
    // SAFETY: the read system call writes at most `buf.len()` bytes into `buf`, a valid,
    // exclusively borrowed buffer, and `fd` is open for as long as it is borrowed.
    let n = unsafe { libc::syscall(libc::SYS_read, fd.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
    Errno::result(n).map(|n| n as usize)
}

/// `write(2)` on `fd` without glibc's cancellation bracket (see the module comment).
fn write_raw(fd: BorrowedFd<'_>, bytes: &[u8]) -> nix::Result<usize> {
    // SAFETY: the write system call reads at most `bytes.len()` bytes from `bytes`, a
    // valid buffer, and `fd` is open for as long as it is borrowed.
    let n = unsafe { libc::syscall(libc::SYS_write, fd.as_raw_fd(), bytes.as_ptr(), bytes.len()) };
    Errno::result(n).map(|n| n as usize)
}

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

/// How many turns of a reader [`Reader::wait_turn`] waits with `poll` then `read` before
/// it blocks in `read` under the watchdog (see the module comment).
pub const POLLED_TURNS: u32 = 8;

/// A frame that could not be taken as one: cut short, or not a frame at all (garbage
/// written into the FIFO by a third process, a broken peer). Typed, so that a primary
/// can tell it from a failure of its own and restart the secondary instead of stopping.
#[derive(Debug)]
pub struct BadFrame(pub String);

impl std::fmt::Display for BadFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadFrame {}

/// The read end of a FIFO, with a buffer for a frame that arrived in pieces.
#[derive(Debug)]
pub struct Reader {
    fd: OwnedFd,
    path: PathBuf,
    buf: [u8; FRAME_LEN],
    filled: usize,
    /// Turns left to wait the polling way (see [`POLLED_TURNS`]).
    polled_turns: u32,
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
        // Blocking from now on, for `wait_turn` (the open itself had to be non-blocking).
        fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_RDONLY))
            .wrap_err_with(|| format!("making {} blocking", path.display()))?;
        crate::trace!(
            "fifo_open",
            path = path,
            end = "read",
            flags = "O_RDONLY|O_NONBLOCK, then blocking (F_SETFL)",
            waited = false
        );
        Ok(Reader {
            fd,
            path,
            buf: [0; FRAME_LEN],
            filled: 0,
            polled_turns: POLLED_TURNS,
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
        self.wait_soon(deadline, wake, Duration::ZERO)
    }

    /// [`Reader::wait`] for an answer due within microseconds (a handshake's Ready, a
    /// Stop's ack): for up to `spin` it looks without sleeping (`poll` with a zero
    /// timeout, yielding the CPU between looks), then sleeps as `wait` does. On these
    /// virtual machines a CPU left idle by a sleeper takes 40 to 200 us to wake up again,
    /// far longer than such an answer takes to come; the adaptive mode (`--spin`) pays a
    /// bounded spin instead.
    pub fn wait_soon(
        &mut self,
        deadline: Option<Instant>,
        wake: Option<BorrowedFd<'_>>,
        spin: Duration,
    ) -> Result<Event> {
        let spin_until = (!spin.is_zero()).then(|| Instant::now() + spin);
        loop {
            let spinning = spin_until.is_some_and(|until| Instant::now() < until);
            // Poll before reading: a FIFO that never had a writer reads as end of file,
            // while poll reports it only once a writer came and went (POLLHUP).
            let (fifo_ready, woken) = {
                // A fixed array, not a Vec: this runs every round and must not allocate.
                let mut fds = [
                    PollFd::new(self.fd.as_fd(), PollFlags::POLLIN),
                    PollFd::new(wake.unwrap_or(self.fd.as_fd()), PollFlags::POLLIN),
                ];
                let used = if wake.is_some() { 2 } else { 1 };
                let timeout = if spinning {
                    PollTimeout::ZERO
                } else {
                    timeout_until(deadline)
                };
                match poll(&mut fds[..used], timeout) {
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
                return self.timed_out();
            }
            if spinning {
                // Between looks, let whatever waits for this CPU run first: when the peer
                // shares it, the answer comes only once we step aside.
                std::thread::yield_now();
            }
        }
    }

    /// Waits for the next frame of an established exchange in a blocking `read` (see the
    /// module comment): until `deadline` (`None`: forever), or until `wake` is readable.
    pub fn wait_turn(
        &mut self,
        deadline: Option<Instant>,
        wake: Option<BorrowedFd<'_>>,
    ) -> Result<Event> {
        use std::os::fd::AsRawFd;
        let watched = deadline.is_some() || wake.is_some();
        if watched && self.polled_turns > 0 {
            self.polled_turns -= 1;
            return self.wait(deadline, wake);
        }
        // The deadline is looked at after an interruption, not before the first read:
        // callers pass a deadline a --timeout away, and one already past is kicked by the
        // watchdog at once (a clock read saved per turn).
        let mut interrupted = false;
        loop {
            // A signal that arrived before we block (one load, no system call).
            if wake.is_some() && crate::os::signals::arrived() {
                return Ok(Event::Woken);
            }
            if interrupted && deadline.is_some_and(|d| Instant::now() >= d) {
                return self.timed_out();
            }
            let armed = if watched {
                Some(crate::os::watchdog::arm(
                    deadline,
                    wake.map(|w| w.as_raw_fd()),
                )?)
            } else {
                None
            };
            let read = read_raw(self.fd.as_fd(), &mut self.buf[self.filled..]);
            drop(armed);
            match read {
                // Interrupted by a kick (deadline or signal) or by a signal: look again,
                // at the wake descriptor too (one `poll`, only after an interruption).
                Err(Errno::EINTR) => {
                    interrupted = true;
                    if let Some(w) = wake {
                        let mut fds = [PollFd::new(w, PollFlags::POLLIN)];
                        if poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0)
                            && fds[0]
                                .revents()
                                .is_some_and(|r| r.intersects(PollFlags::POLLIN))
                        {
                            return Ok(Event::Woken);
                        }
                    }
                }
                // Made non-blocking behind our back: wait the polling way.
                Err(Errno::EAGAIN) => return self.wait(deadline, wake),
                other => {
                    if let Some(event) = self.got(other)? {
                        return Ok(event);
                    }
                }
            }
        }
    }

    /// The deadline passed: a timeout, or an error if it left a frame half read.
    fn timed_out(&self) -> Result<Event> {
        if self.filled > 0 {
            return Err(BadFrame(format!(
                "truncated frame on {}: {} of {FRAME_LEN} bytes, then nothing until the deadline",
                self.path.display(),
                self.filled
            ))
            .into());
        }
        Ok(Event::TimedOut)
    }

    /// Reads once what `poll` said is there: a whole frame, end of file, or not yet a
    /// whole frame (the descriptor is blocking: a second read could wait).
    fn try_read(&mut self) -> Result<Option<Event>> {
        loop {
            let read = read_raw(self.fd.as_fd(), &mut self.buf[self.filled..]);
            match read {
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Ok(None),
                other => return self.got(other),
            }
        }
    }

    /// Takes in the result of one `read` (not EINTR or EAGAIN).
    fn got(&mut self, read: nix::Result<usize>) -> Result<Option<Event>> {
        match read {
            Ok(0) => {
                if self.filled > 0 {
                    return Err(BadFrame(format!(
                        "truncated frame on {}: {} of {FRAME_LEN} bytes, then end of file",
                        self.path.display(),
                        self.filled
                    ))
                    .into());
                }
                Ok(Some(Event::Eof))
            }
            Ok(n) => {
                self.filled += n;
                if self.filled < FRAME_LEN {
                    return Ok(None);
                }
                self.filled = 0;
                let frame = Frame::decode(&self.buf).map_err(|e| {
                    BadFrame(format!(
                        "rejected a frame read from {}: {e}",
                        self.path.display()
                    ))
                })?;
                Ok(Some(Event::Frame(frame)))
            }
            Err(e) => Err(e).wrap_err_with(|| format!("reading {}", self.path.display())),
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
            match write_raw(self.fd.as_fd(), &bytes) {
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

#[cfg(test)]
mod tests {
    //! `wait_turn` blocks in `read`; these check that what `poll` gave us still holds:
    //! a frame is read, a silent peer is a timeout at the deadline, a readable wake
    //! descriptor interrupts the wait, and a peer that goes away is end of file.
    use std::os::fd::AsFd;
    use std::time::Duration;

    use super::*;
    use crate::pair::frame::Kind;

    struct Pair {
        _tmp: tempfile::TempDir,
        reader: Reader,
        writer: Writer,
    }

    fn pair() -> Pair {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RuntimeDir::ensure(&tmp.path().join("run")).unwrap();
        create(&dir, "f").unwrap();
        let mut reader = Reader::open(&dir, "f").unwrap();
        // These test the blocking read under the watchdog, not the first polled turns.
        reader.polled_turns = 0;
        let writer = Writer::try_open(&dir, "f").unwrap().unwrap();
        Pair {
            _tmp: tmp,
            reader,
            writer,
        }
    }

    #[test]
    fn wait_turn_reads_a_frame_sent_while_it_blocks() {
        let mut p = pair();
        let writer = p.writer;
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let deadline = Instant::now() + Duration::from_secs(5);
            writer.send(&Frame::new(Kind::Reply, 7), deadline).unwrap();
            writer
        });
        let got = p
            .reader
            .wait_turn(Some(Instant::now() + Duration::from_secs(10)), None)
            .unwrap();
        assert_eq!(got, Event::Frame(Frame::new(Kind::Reply, 7)));
        drop(t.join().unwrap());
    }

    #[test]
    fn wait_turn_times_out_at_the_deadline_of_a_silent_peer() {
        let mut p = pair();
        let start = Instant::now();
        let got = p
            .reader
            .wait_turn(Some(start + Duration::from_millis(200)), None)
            .unwrap();
        let took = start.elapsed();
        assert_eq!(got, Event::TimedOut);
        assert!(
            took >= Duration::from_millis(200),
            "returned early: {took:?}"
        );
        assert!(
            took < Duration::from_secs(3),
            "kept far past the deadline: {took:?}"
        );
        drop(p.writer);
    }

    #[test]
    fn wait_turn_is_woken_when_the_wake_descriptor_becomes_readable() {
        let mut p = pair();
        let (wake_r, wake_w) = nix::unistd::pipe().unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            nix::unistd::write(&wake_w, b"x").unwrap();
            wake_w
        });
        let start = Instant::now();
        let got = p
            .reader
            .wait_turn(Some(start + Duration::from_secs(20)), Some(wake_r.as_fd()))
            .unwrap();
        assert_eq!(got, Event::Woken);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        drop(t.join().unwrap());
        drop(p.writer);
    }

    #[test]
    fn wait_soon_looks_then_sleeps_and_keeps_the_deadline() {
        let mut p = pair();
        // A frame already there, or sent while it looks, is read.
        let far = || Some(Instant::now() + Duration::from_secs(10));
        p.writer
            .send(&Frame::new(Kind::StopAck, 1), far().unwrap())
            .unwrap();
        let got = p.reader.wait_soon(far(), None, Duration::from_millis(20));
        assert_eq!(got.unwrap(), Event::Frame(Frame::new(Kind::StopAck, 1)));
        // Nothing comes: it looks, then sleeps until the deadline.
        let start = Instant::now();
        let got = p.reader.wait_soon(
            Some(start + Duration::from_millis(100)),
            None,
            Duration::from_millis(20),
        );
        assert_eq!(got.unwrap(), Event::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(100));
        // A look longer than the deadline still ends at the deadline.
        let start = Instant::now();
        let got = p.reader.wait_soon(
            Some(start + Duration::from_millis(30)),
            None,
            Duration::from_secs(30),
        );
        assert_eq!(got.unwrap(), Event::TimedOut);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn the_first_turns_are_polled_then_the_read_blocks() {
        let mut p = pair();
        p.reader.polled_turns = 2;
        let deadline = || Some(Instant::now() + Duration::from_secs(10));
        for seq in 1..=3 {
            p.writer
                .send(&Frame::new(Kind::Reply, seq), deadline().unwrap())
                .unwrap();
            let got = p.reader.wait_turn(deadline(), None).unwrap();
            assert_eq!(got, Event::Frame(Frame::new(Kind::Reply, seq)));
            assert_eq!(p.reader.polled_turns, 2u32.saturating_sub(seq as u32));
        }
        // Unwatched (no deadline, no wake) waits need no watchdog and use up nothing.
        p.reader.polled_turns = 1;
        p.writer
            .send(&Frame::new(Kind::Reply, 4), deadline().unwrap())
            .unwrap();
        assert_eq!(
            p.reader.wait_turn(None, None).unwrap(),
            Event::Frame(Frame::new(Kind::Reply, 4))
        );
        assert_eq!(p.reader.polled_turns, 1);
    }

    #[test]
    fn wait_turn_without_deadline_sees_the_peer_close_as_end_of_file() {
        let mut p = pair();
        let writer = p.writer;
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(writer);
        });
        assert_eq!(p.reader.wait_turn(None, None).unwrap(), Event::Eof);
        t.join().unwrap();
    }
}
