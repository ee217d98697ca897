//! Descriptors, the serving primary's scarcest resource: every client holds one, and when
//! none is left `accept` fails with `EMFILE` (or `ENFILE`, system-wide) while the
//! connection stays in the listener's backlog, so the listener stays readable. A loop that
//! simply retries spins at 100 % of a core and logs each attempt.
//!
//! Three defences, from the start of the server to the moment it runs out:
//! - [`raise_soft_limit`]: the soft `RLIMIT_NOFILE` (often 1024) is raised to the hard
//!   limit, which an unprivileged process may do; the event loop uses epoll, so large
//!   descriptor numbers cost nothing.
//! - [`Budget`]: `--max-clients` is kept within what the limit leaves once the instance's
//!   own descriptors are counted, so clients alone never exhaust it.
//! - [`Reserve`] and [`Shortage`]: if something else exhausts it anyway, one descriptor
//!   kept open on `/dev/null` is closed to accept the newcomer, answer it
//!   `ERR too many clients` and close it, then reopened ([`turn_away`]); if even that
//!   fails the loop leaves the listeners out of its poll set for a while. The warning is
//!   printed once per episode, and its end says how many were turned away.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr};
use nix::errno::Errno;
use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit, setrlimit};

/// `--max-clients` when not given, if the descriptor budget allows that many.
pub const DEFAULT_MAX_CLIENTS: u64 = 1024;

/// Descriptors a secondary of the pool may need at once: its two FIFOs, and while it is
/// restarted the new one's FIFO and the pipe that reports a failed exec.
const PER_SECONDARY: u64 = 5;

/// Descriptors the serving primary opens after the budget is computed, or briefly: the
/// listeners, the epoll instance, the reserve, the notify socket, `/proc` and `/dev/shm`
/// reads (liveness and segment checks), plus a margin.
const LATER_AND_MARGIN: u64 = 16;

/// How long the listeners stay out of the poll set when even the reserve cannot help.
pub const PAUSE: Duration = Duration::from_millis(250);

/// Bytes read (and dropped) from a refused newcomer before closing it, so that its
/// request already in the socket does not turn our close into a reset that could
/// destroy the reply in flight.
const REFUSE_DRAIN: usize = 64 * 1024;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit now in
/// force. Failing to raise it is not an error: the budget is computed from what we have.
pub fn raise_soft_limit() -> Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .wrap_err("reading the descriptor limit (RLIMIT_NOFILE)")?;
    // An infinite hard limit cannot be the soft one (the kernel caps it at fs.nr_open).
    let target = if hard == RLIM_INFINITY {
        nr_open().unwrap_or(soft).max(soft)
    } else {
        hard
    };
    if target <= soft {
        return Ok(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        Ok(()) => {
            crate::debug!("descriptor limit raised from {soft} to {target}");
            Ok(target)
        }
        Err(e) => {
            crate::debug!("descriptor limit stays {soft} (raising it to {target}: {e})");
            Ok(soft)
        }
    }
}

/// The kernel's cap on any process's descriptor limit.
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// How many descriptors this process has open now (`/proc/self/fd`, minus the one used
/// to list it).
pub fn open_now() -> Result<u64> {
    let entries = std::fs::read_dir("/proc/self/fd")
        .wrap_err("counting open descriptors in /proc/self/fd")?;
    Ok((entries.count() as u64).saturating_sub(1))
}

/// What the descriptor limit leaves for clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    limit: u64,
    reserved: u64,
}

impl Budget {
    /// The budget of a serving primary with `secondaries`, under descriptor limit
    /// `limit`, with `open` descriptors open already.
    pub fn new(limit: u64, open: u64, secondaries: u64) -> Budget {
        Budget {
            limit,
            reserved: open + PER_SECONDARY * secondaries + LATER_AND_MARGIN,
        }
    }

    /// Clients that fit (each holds one descriptor).
    pub fn clients(&self) -> u64 {
        self.limit.saturating_sub(self.reserved)
    }

    /// `--max-clients` as asked (`None`: the default) checked against the budget:
    /// `Ok((value, warning))`, where a value above the budget is lowered with a warning;
    /// `Err(message)` when no client fits at all.
    pub fn max_clients(&self, asked: Option<u64>) -> Result<(u64, Option<String>), String> {
        let fits = self.clients();
        if fits == 0 {
            return Err(format!(
                "the descriptor limit ({} open files, `ulimit -n`) leaves no room for clients: \
                 the instance itself needs about {}; raise the limit (ulimit -n, LimitNOFILE=) \
                 or use fewer --secondaries",
                self.limit, self.reserved
            ));
        }
        Ok(match asked {
            None => (DEFAULT_MAX_CLIENTS.min(fits), None),
            Some(n) if n > fits => (
                fits,
                Some(format!(
                    "--max-clients {n} lowered to {fits}: the descriptor limit is {} and the \
                     instance needs about {} itself (raise it with ulimit -n or LimitNOFILE=)",
                    self.limit, self.reserved
                )),
            ),
            Some(n) => (n, None),
        })
    }
}

/// One descriptor held in reserve, given up for a moment to turn a newcomer away when
/// none is left.
#[derive(Debug)]
pub struct Reserve {
    file: Option<File>,
}

impl Reserve {
    pub fn open() -> Result<Reserve> {
        let file = File::open("/dev/null").wrap_err("opening /dev/null as a reserve descriptor")?;
        Ok(Reserve { file: Some(file) })
    }

    /// Whether the descriptor is held (it may be lost if another open took its number).
    pub fn held(&self) -> bool {
        self.file.is_some()
    }

    fn release(&mut self) {
        self.file = None;
    }

    /// Takes the descriptor back; false when none is free.
    fn restore(&mut self) -> bool {
        if self.file.is_none() {
            self.file = File::open("/dev/null").ok();
        }
        self.file.is_some()
    }
}

/// A connected socket that can be refused politely.
pub trait Socket: Read + Write {
    fn set_nonblocking(&self, on: bool) -> std::io::Result<()>;
    fn shutdown_write(&self) -> std::io::Result<()>;
}

impl Socket for UnixStream {
    fn set_nonblocking(&self, on: bool) -> std::io::Result<()> {
        UnixStream::set_nonblocking(self, on)
    }
    fn shutdown_write(&self) -> std::io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

impl Socket for TcpStream {
    fn set_nonblocking(&self, on: bool) -> std::io::Result<()> {
        TcpStream::set_nonblocking(self, on)
    }
    fn shutdown_write(&self) -> std::io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

/// Writes `reply` to a connection we will not serve, shuts down our side and drops what
/// the client already sent, without ever blocking; the caller then closes it.
pub fn refuse<S: Socket>(mut conn: S, reply: &[u8]) {
    if conn.set_nonblocking(true).is_err() {
        return;
    }
    // Best effort: a fresh socket's send buffer always takes a short line.
    let _ = conn.write(reply);
    let _ = conn.shutdown_write();
    let mut buf = [0u8; 4096];
    let mut drained = 0;
    while drained < REFUSE_DRAIN {
        match conn.read(&mut buf) {
            Ok(n) if n > 0 => drained += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            _ => break,
        }
    }
}

/// What [`turn_away`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum TurnedAway {
    /// One newcomer was accepted on the reserve descriptor, answered and closed.
    One,
    /// Nobody was waiting.
    Nobody,
    /// It could not be done (no reserve, or accept failed again): pause the listener.
    Failed,
}

/// Out of descriptors: frees the reserve, accepts one newcomer with `accept`, answers it
/// `reply`, closes it, and takes the reserve back.
pub fn turn_away<S: Socket>(
    reserve: &mut Reserve,
    accept: impl FnOnce() -> std::io::Result<S>,
    reply: &[u8],
) -> TurnedAway {
    if !reserve.held() && !reserve.restore() {
        return TurnedAway::Failed;
    }
    reserve.release();
    let outcome = match accept() {
        Ok(conn) => {
            refuse(conn, reply);
            TurnedAway::One
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => TurnedAway::Nobody,
        Err(_) => TurnedAway::Failed,
    };
    if !reserve.restore() {
        return TurnedAway::Failed;
    }
    outcome
}

/// Whether an `accept` error means "out of descriptors" (per process or system-wide).
pub fn is_shortage(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::EMFILE | Errno::ENFILE)
    )
}

/// The memory of one shortage episode, so it is reported once with a count rather than
/// once per failed `accept`.
#[derive(Debug, Default)]
pub struct Shortage {
    episode: Option<Episode>,
}

#[derive(Debug)]
struct Episode {
    turned_away: u64,
    paused_until: Option<Instant>,
}

impl Shortage {
    /// `accept` failed for lack of descriptors (`why`). Returns the warning to print:
    /// only for the first failure of an episode.
    pub fn hit(&mut self, why: &std::io::Error) -> Option<String> {
        if self.episode.is_some() {
            return None;
        }
        self.episode = Some(Episode {
            turned_away: 0,
            paused_until: None,
        });
        Some(format!(
            "out of descriptors accepting clients ({why}); newcomers get \
             \"ERR too many clients\" until some leave (raise ulimit -n or lower --max-clients)"
        ))
    }

    /// One newcomer was turned away during the episode.
    pub fn turned_away(&mut self) {
        if let Some(e) = &mut self.episode {
            e.turned_away += 1;
        }
    }

    /// Even the reserve could not help: stop accepting until `now + PAUSE` or until a
    /// client leaves ([`Self::client_left`]).
    pub fn pause(&mut self, now: Instant) {
        if let Some(e) = &mut self.episode {
            e.paused_until = Some(now + PAUSE);
        }
    }

    /// Whether the listeners stay out of the poll set at `now`.
    pub fn paused(&self, now: Instant) -> bool {
        self.resume_at().is_some_and(|t| t > now)
    }

    /// When a pause ends, for the event loop's timeout.
    pub fn resume_at(&self) -> Option<Instant> {
        self.episode.as_ref().and_then(|e| e.paused_until)
    }

    /// A client left: a descriptor is free, so accepting may resume now.
    pub fn client_left(&mut self) {
        if let Some(e) = &mut self.episode {
            e.paused_until = None;
        }
    }

    /// A newcomer was accepted normally: the episode is over. Returns the line that
    /// closes it, with how many were turned away meanwhile.
    pub fn ended(&mut self) -> Option<String> {
        let e = self.episode.take()?;
        Some(format!(
            "descriptors available again; {} newcomer(s) were turned away meanwhile",
            e.turned_away
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    fn emfile() -> std::io::Error {
        std::io::Error::from_raw_os_error(libc::EMFILE)
    }

    #[test]
    fn the_budget_counts_what_the_instance_needs() {
        let b = Budget::new(64, 10, 1);
        assert_eq!(b.clients(), 64 - 10 - PER_SECONDARY - LATER_AND_MARGIN);
        assert_eq!(
            Budget::new(20_000, 10, 64).clients(),
            20_000 - 10 - 320 - 16
        );
    }

    #[test]
    fn the_default_max_clients_is_1024_or_what_fits() {
        assert_eq!(
            Budget::new(20_000, 10, 4).max_clients(None),
            Ok((1024, None))
        );
        let small = Budget::new(64, 10, 1);
        assert_eq!(small.max_clients(None), Ok((small.clients(), None)));
    }

    #[test]
    fn an_explicit_max_clients_above_the_budget_is_lowered_with_a_warning() {
        let b = Budget::new(64, 10, 1);
        let (n, warning) = b.max_clients(Some(1000)).unwrap();
        assert_eq!(n, b.clients());
        let warning = warning.unwrap();
        assert!(
            warning.contains("--max-clients 1000 lowered to"),
            "{warning}"
        );
        assert_eq!(b.max_clients(Some(2)), Ok((2, None)));
        // Above the default but within the budget: taken as asked.
        assert_eq!(
            Budget::new(20_000, 10, 1).max_clients(Some(5000)),
            Ok((5000, None))
        );
    }

    #[test]
    fn no_room_for_any_client_is_an_error_naming_the_limit() {
        let err = Budget::new(16, 10, 4).max_clients(None).unwrap_err();
        assert!(err.contains("ulimit -n"), "{err}");
        assert!(err.contains("16"), "{err}");
    }

    #[test]
    fn a_shortage_warns_once_per_episode_and_counts_who_was_turned_away() {
        let mut s = Shortage::default();
        assert!(s.ended().is_none(), "no episode, nothing to close");
        let first = s.hit(&emfile());
        assert!(first.unwrap().contains("out of descriptors"));
        for _ in 0..1000 {
            assert!(s.hit(&emfile()).is_none());
            s.turned_away();
        }
        let end = s.ended().unwrap();
        assert!(end.contains("1000 newcomer(s)"), "{end}");
        // A new episode warns again.
        assert!(s.hit(&emfile()).is_some());
        assert_eq!(
            s.ended().unwrap(),
            "descriptors available again; 0 newcomer(s) were turned away meanwhile"
        );
    }

    #[test]
    fn a_pause_ends_with_its_deadline_or_when_a_client_leaves() {
        let mut s = Shortage::default();
        let now = Instant::now();
        s.pause(now);
        assert!(!s.paused(now), "no episode, no pause");
        s.hit(&emfile());
        s.pause(now);
        assert!(s.paused(now));
        assert!(!s.paused(now + PAUSE));
        assert_eq!(s.resume_at(), Some(now + PAUSE));
        s.client_left();
        assert!(!s.paused(now));
        assert!(s.resume_at().is_none());
    }

    #[test]
    fn only_emfile_and_enfile_are_shortages() {
        assert!(is_shortage(&emfile()));
        assert!(is_shortage(&std::io::Error::from_raw_os_error(
            libc::ENFILE
        )));
        assert!(!is_shortage(&std::io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
        assert!(!is_shortage(&ErrorKind::WouldBlock.into()));
    }

    #[test]
    fn turn_away_answers_the_newcomer_and_keeps_the_reserve() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut reserve = Reserve::open().unwrap();
        assert_eq!(
            turn_away(&mut reserve, || listener.accept().map(|a| a.0), b"ERR no\n"),
            TurnedAway::Nobody
        );
        let mut client = UnixStream::connect(&path).unwrap();
        client.write_all(b"PING\n").unwrap();
        assert_eq!(
            turn_away(&mut reserve, || listener.accept().map(|a| a.0), b"ERR no\n"),
            TurnedAway::One
        );
        assert!(reserve.held());
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        assert_eq!(got, "ERR no\n");
    }

    #[test]
    fn raising_the_limit_never_lowers_it() {
        let (before, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let now = raise_soft_limit().unwrap();
        assert!(now >= before);
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(soft, now);
        assert!(hard == RLIM_INFINITY || soft <= hard);
    }
}
