//! Whose turn it is: how one side waits for the other and wakes it up.
//!
//! Each side publishes its progress in a turn counter in the segment (`request_seq` for
//! the primary, `reply_seq` for the secondary) and waits for the peer's counter to reach
//! the value it wants. Two modes:
//!
//! - `fifo` (the lab's design): after publishing, the side always writes a frame on its
//!   FIFO, and the waiting side blocks in `read` until the frame arrives.
//! - `adaptive`: the waiting side first polls the peer's counter for a while, which is
//!   much cheaper than a wake-up through the kernel when the reply comes quickly. If the
//!   turn has not come it *announces* that it goes to sleep (its `*_sleeping` flag),
//!   checks the counter once more, and blocks on its FIFO. The publishing side writes a
//!   frame (a doorbell) only when the peer announced sleep.
//!
//! When to spin, the rule of the best spinning locks (the kernel's optimistic spinning,
//! glibc's adaptive mutexes): spin only while spinning can succeed.
//! - Never while the peer runs on *our* CPU: it cannot publish anything until we stop,
//!   so every nanosecond spun delays the turn we wait for. Each side publishes the CPU it
//!   runs on (`sched_getcpu`, a memory read through the kernel's rseq area) in a header
//!   word during the handshake ([`announce_cpu`]) and when it starts and ends a wait, and
//!   the waiter compares it with its own before
//!   and during the spin. Both sides pinned to one CPU therefore never spin: adaptive
//!   costs what fifo costs.
//! - Never once the primary is stopping (its state word says so): it publishes no more
//!   turns, and the Stop frame it sends waits on the FIFO, where a spinning secondary
//!   would find it only after its whole budget (most of a short run's last 200 us).
//! - Never in a serving pool: there a secondary is given a spin of zero (`secondary.rs`),
//!   since on few cores a spinning secondary takes the CPU the dispatcher and its clients
//!   need; it looks for its next turn a little while, yielding its CPU, then sleeps.
//! - For no longer than the peer's recent answers justify ([`crate::pair::spin::Budget`]): the
//!   budget follows twice the average delay of turns a spin could catch, halves after a
//!   turn that took longer than `--spin`, and at zero is probed again one wait in 32, so
//!   a peer that is fast again is noticed. A waiter that burns its share of a busy CPU
//!   is the one the scheduler leaves waiting for a whole time slice; a sleeper is woken
//!   first. So under load the budget shrinks and adaptive falls back to fifo's cost.
//! - Never beyond `--spin`.
//!
//! Why no wake-up can be lost in adaptive mode: the waiter does `store(sleeping = 1)`
//! then `load(counter)`; the publisher does `store(counter = n)` then `load(sleeping)`.
//! All four are `SeqCst`, so they fall in one total order: either the waiter's load
//! comes after the publisher's store (it sees `n` and does not sleep), or the
//! publisher's load comes after the waiter's store (it sees `sleeping = 1` and rings).
//! A doorbell may be superfluous (the waiter saw `n` anyway); a stale doorbell is
//! recognised by its sequence number and ignored. The CPU words are hints only: a stale
//! or forged value can cost time, never a turn.
//!
//! The data written before the counter is published by the same `SeqCst` store (which
//! is at least a release) and read after the waiter's acquire load: the segment bytes
//! of the round are visible to the waiter once it sees the counter.

use std::cell::Cell;
use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, bail};

use crate::pair::fifo::{self, Reader, Sent, Writer};
use crate::pair::frame::{Frame, Kind};
use crate::pair::header::{self, Field};
use crate::pair::segment::Segment;
use crate::pair::spin::{Budget, Outcome};

/// Polls of the peer's counter between two reads of the clock (and of the CPU words) in
/// the adaptive spin: a spin-loop hint takes 10 to 40 ns, so the clock is read every few
/// hundred nanoseconds and the budget is kept closely.
const POLLS_PER_CLOCK_READ: u32 = 8;

/// Where each side of the first (or only) secondary's exchange publishes the CPU it runs
/// on, plus one (zero: not known): `secondary_cpu` and `primary_cpu`, each in the cache
/// line its writer already owns. The secondaries 1 and up of a pool have no such word in
/// their scoreboard entry; there the CPU is not known and only the budget decides.
const SECONDARY_CPU: usize = Field::SecondaryCpu.offset();
const PRIMARY_CPU: usize = Field::PrimaryCpu.offset();

/// Publishes the CPU this side runs on in its CPU word (the primary's and secondary 0's)
/// during the handshake, before its first turn: the peer's first spin then already
/// knows whether the two share a CPU. They often do then: the primary, woken by the
/// hello, runs on the CPU of the secondary that sent it, which could not take the first
/// turn while the primary spun for its reply (a whole `--spin` lost at every start).
pub fn announce_cpu(seg: &Segment, role: Role, index: usize) {
    if index != 0 {
        return;
    }
    let word = match role {
        Role::Primary => PRIMARY_CPU,
        Role::Secondary => SECONDARY_CPU,
    };
    if let Some(cpu) = current_cpu() {
        seg.at(word).store(cpu + 1, Ordering::Relaxed);
    }
}

/// The CPU this thread runs on right now, if the kernel says.
fn current_cpu() -> Option<u64> {
    // SAFETY: sched_getcpu takes no arguments and only reads the thread's rseq area (or
    // asks the vDSO); it returns -1 on failure, never touches our memory.
    let cpu = unsafe { libc::sched_getcpu() };
    u64::try_from(cpu).ok()
}

/// How the two sides wait for each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Every turn is a frame on the FIFO; the waiting side blocks in read (the lab's design).
    Fifo,
    /// Poll a turn counter in the segment for up to --spin, then sleep on the FIFO.
    Adaptive,
}

impl SyncMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Fifo => "fifo",
            SyncMode::Adaptive => "adaptive",
        }
    }

    /// How long a wait for an answer due within microseconds (a handshake's Ready, a
    /// Stop's ack, the exit that follows it) looks before it sleeps: `spin` (`--spin`)
    /// in adaptive mode, for the reason of the turns' spin (a sleeper's CPU takes far
    /// longer to wake than such an answer takes to come); never in fifo mode, which
    /// always sleeps.
    pub fn answer_spin(self, spin: Duration) -> Duration {
        match self {
            SyncMode::Fifo => Duration::ZERO,
            SyncMode::Adaptive => spin,
        }
    }
}

/// Which side of the exchange we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    Secondary,
}

/// What waiting for a turn ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum Wait {
    /// The peer's counter reached the value we wanted.
    Turn,
    /// A frame that is not about turns (hello, ready, stop, stop-ack).
    Other(Frame),
    /// The peer closed its FIFO: it is gone.
    Eof,
    /// The wake descriptor (signal self-pipe) is readable.
    Woken,
    TimedOut,
}

/// One side's view of the turn protocol.
#[derive(Debug)]
pub struct Turns {
    mode: SyncMode,
    // Byte offsets in the header (see `header::worker_fields`).
    mine: usize,
    theirs: usize,
    my_sleep: usize,
    their_sleep: usize,
    /// The CPU words (see [`SECONDARY_CPU`]); `None` where the header has no room.
    cpus: Option<(usize, usize)>,
    /// The secondary's view of the primary's state word: no spin once it is stopping.
    peer_state: Option<usize>,
    my_kind: Kind,
    their_kind: Kind,
    /// Adaptive mode's spin budget: `wait` takes `&self`, and one `Turns` belongs to one
    /// thread, so a `Cell` is all the mutability it needs.
    budget: Cell<Budget>,
}

/// How a spin ended.
enum Spun {
    Turn,
    /// The budget ran out.
    Spent,
    /// Spinning cannot succeed now ([`Turns::futile`]).
    Futile,
}

impl Turns {
    /// The turn protocol between the primary and secondary `index` of the pool (0 if alone).
    /// `spin` is the longest an adaptive wait may spin (`--spin`).
    pub fn new(role: Role, mode: SyncMode, spin: Duration, index: usize) -> Turns {
        let f = header::worker_fields(index);
        let budget = Cell::new(Budget::new(spin));
        let cpus = |mine, theirs| (index == 0).then_some((mine, theirs));
        match role {
            Role::Primary => Turns {
                mode,
                mine: f.request_seq,
                theirs: f.reply_seq,
                my_sleep: f.primary_sleeping,
                their_sleep: f.secondary_sleeping,
                cpus: cpus(PRIMARY_CPU, SECONDARY_CPU),
                peer_state: None,
                my_kind: Kind::Request,
                their_kind: Kind::Reply,
                budget,
            },
            Role::Secondary => Turns {
                mode,
                mine: f.reply_seq,
                theirs: f.request_seq,
                my_sleep: f.secondary_sleeping,
                their_sleep: f.primary_sleeping,
                cpus: cpus(SECONDARY_CPU, PRIMARY_CPU),
                peer_state: Some(Field::PrimaryState.offset()),
                my_kind: Kind::Reply,
                their_kind: Kind::Request,
                budget,
            },
        }
    }

    /// Publishes turn `seq` (our data for it is already in the segment) and wakes the peer
    /// if it needs waking.
    pub fn publish(
        &self,
        seg: &Segment,
        seq: u64,
        to_peer: &Writer,
        deadline: Instant,
    ) -> Result<Sent> {
        match self.mode {
            SyncMode::Fifo => {
                seg.at(self.mine).store(seq, Ordering::Release);
                to_peer.send(&Frame::new(self.my_kind, seq), deadline)
            }
            SyncMode::Adaptive => {
                // SeqCst store then SeqCst load: pairs with the waiter's store(sleeping)
                // then load(counter) in `wait` (see the module comment).
                seg.at(self.mine).store(seq, Ordering::SeqCst);
                if seg.at(self.their_sleep).load(Ordering::SeqCst) != 0 {
                    to_peer.send(&Frame::new(self.my_kind, seq), deadline)
                } else {
                    Ok(Sent::Ok)
                }
            }
        }
    }

    /// Checks the peer's counter: `Ok(true)` when it reached `want`, `Ok(false)` when it
    /// still holds `want - 1`, an error for anything else (a broken or hostile peer).
    fn arrived(&self, seg: &Segment, want: u64, order: Ordering) -> Result<bool> {
        let now = seg.at(self.theirs).load(order);
        if now == want {
            Ok(true)
        } else if now == want.wrapping_sub(1) {
            Ok(false)
        } else {
            bail!(
                "the peer's turn counter (header offset {}) holds {now} while we wait for {want}: \
                 the segment was written by a broken or foreign process",
                self.theirs
            )
        }
    }

    /// Publishes the CPU we run on and says whether the peer last ran on the same one
    /// (it cannot run while we spin). Relaxed: the words are hints, ordered with nothing.
    fn peer_on_my_cpu(&self, seg: &Segment) -> bool {
        let Some((mine, theirs)) = self.cpus else {
            return false;
        };
        let Some(cpu) = current_cpu() else {
            return false;
        };
        let word = seg.at(mine);
        if word.load(Ordering::Relaxed) != cpu + 1 {
            word.store(cpu + 1, Ordering::Relaxed);
        }
        seg.at(theirs).load(Ordering::Relaxed) == cpu + 1
    }

    /// Whether a spin cannot succeed now: the peer is on our CPU (see
    /// [`Turns::peer_on_my_cpu`]), or it is a primary that is stopping. Relaxed: hints
    /// only.
    fn futile(&self, seg: &Segment) -> bool {
        self.peer_on_my_cpu(seg)
            || self.peer_state.is_some_and(|state| {
                seg.at(state).load(Ordering::Relaxed) == header::State::Stopping as u64
            })
    }

    /// Polls the peer's counter for up to `budget_ns`, and stops early once spinning
    /// cannot succeed ([`Turns::futile`]).
    fn spin(&self, seg: &Segment, want: u64, start: Instant, budget_ns: u64) -> Result<Spun> {
        loop {
            for _ in 0..POLLS_PER_CLOCK_READ {
                if self.arrived(seg, want, Ordering::Acquire)? {
                    return Ok(Spun::Turn);
                }
                std::hint::spin_loop();
            }
            if start.elapsed().as_nanos() >= u128::from(budget_ns) {
                return Ok(Spun::Spent);
            }
            if self.futile(seg) {
                return Ok(Spun::Futile);
            }
        }
    }

    /// Waits until the peer's counter reaches `want`, or something else happens.
    pub fn wait(
        &self,
        seg: &Segment,
        want: u64,
        from_peer: &mut Reader,
        deadline: Option<Instant>,
        wake: Option<BorrowedFd<'_>>,
    ) -> Result<Wait> {
        match self.mode {
            SyncMode::Fifo => match from_peer.wait_turn(deadline, wake)? {
                fifo::Event::Frame(f) if f.kind == self.their_kind => {
                    if f.seq != want {
                        bail!(
                            "{:?} frame for round {} while waiting for round {want} on {}",
                            f.kind,
                            f.seq,
                            from_peer.path().display()
                        );
                    }
                    if !self.arrived(seg, want, Ordering::Acquire)? {
                        bail!(
                            "the peer announced round {want} but did not publish it in the segment"
                        );
                    }
                    traced(want, "slept");
                    Ok(Wait::Turn)
                }
                other => Ok(event_to_wait(other)),
            },
            SyncMode::Adaptive => self.wait_adaptive(seg, want, from_peer, deadline, wake),
        }
    }

    fn wait_adaptive(
        &self,
        seg: &Segment,
        want: u64,
        from_peer: &mut Reader,
        deadline: Option<Instant>,
        wake: Option<BorrowedFd<'_>>,
    ) -> Result<Wait> {
        let start = Instant::now();
        let mut budget = self.budget.get();
        let budget_ns = budget.next_ns();
        // Checked before anything else: with the peer on our CPU even one look costs it.
        let mut futile = self.futile(seg);
        if budget_ns > 0 && !futile {
            match self.spin(seg, want, start, budget_ns)? {
                Spun::Turn => {
                    budget.record(Outcome::Caught {
                        after_ns: elapsed_ns(start),
                    });
                    self.budget.set(budget);
                    traced(want, "spun");
                    return Ok(Wait::Turn);
                }
                Spun::Futile => futile = true,
                Spun::Spent => {}
            }
        }
        let result = self.sleep(seg, want, from_peer, deadline, wake);
        seg.at(self.my_sleep).store(0, Ordering::Relaxed);
        // Where we woke up is where the peer will find us while we take our turn.
        self.peer_on_my_cpu(seg);
        // Only a turn tells how long the peer took; a spin skipped because the peer shared
        // our CPU or was stopping says nothing about its speed.
        if !futile && matches!(result, Ok(Wait::Turn)) {
            budget.record(Outcome::Missed {
                after_ns: elapsed_ns(start),
            });
        }
        if matches!(result, Ok(Wait::Turn)) {
            traced(want, "slept");
        }
        self.budget.set(budget);
        result
    }

    fn sleep(
        &self,
        seg: &Segment,
        want: u64,
        from_peer: &mut Reader,
        deadline: Option<Instant>,
        wake: Option<BorrowedFd<'_>>,
    ) -> Result<Wait> {
        loop {
            // Announce, then re-check: pairs with `publish` (see the module comment).
            seg.at(self.my_sleep).store(1, Ordering::SeqCst);
            if self.arrived(seg, want, Ordering::SeqCst)? {
                return Ok(Wait::Turn);
            }
            match from_peer.wait_turn(deadline, wake)? {
                fifo::Event::Frame(f) if f.kind == self.their_kind => {
                    if f.seq > want {
                        return Err(fifo::BadFrame(format!(
                            "doorbell for round {} while waiting for round {want} on {}",
                            f.seq,
                            from_peer.path().display()
                        ))
                        .into());
                    }
                    // A doorbell for `want` or a stale one: re-check the counter either way.
                }
                other => return Ok(event_to_wait(other)),
            }
        }
    }
}

/// Traces how turn `want` came (sampled: the first few, then powers of ten).
#[inline(always)]
fn traced(want: u64, waited: &str) {
    if crate::trace::sampled(want) {
        crate::trace!("turn", seq = want, waited = waited);
    }
}

fn elapsed_ns(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn event_to_wait(event: fifo::Event) -> Wait {
    match event {
        fifo::Event::Frame(f) => Wait::Other(f),
        fifo::Event::Eof => Wait::Eof,
        fifo::Event::Woken => Wait::Woken,
        fifo::Event::TimedOut => Wait::TimedOut,
    }
}

#[cfg(test)]
mod tests {
    //! The adaptive protocol under stress: two threads play primary and secondary over a
    //! real segment and a real FIFO pair, with random delays on both sides so that every
    //! interleaving of spin, announce, re-check and sleep happens. A lost wake-up shows as a
    //! wait that times out.
    use super::*;
    use crate::disk::names::Paths;
    use crate::disk::rundir::RuntimeDir;
    use crate::pair::fifo;

    struct Jitter(u64);

    impl Jitter {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// Mostly nothing; sometimes a spin around the peer's spin budget, a yield or a sleep.
        fn delay(&mut self, spin: Duration) {
            let r = self.next();
            match r % 100 {
                0..=59 => {}
                60..=89 => {
                    let d = Duration::from_nanos(r % (3 * spin.as_nanos() as u64 + 1));
                    let t = Instant::now();
                    while t.elapsed() < d {
                        std::hint::spin_loop();
                    }
                }
                90..=97 => std::thread::yield_now(),
                _ => std::thread::sleep(Duration::from_micros(r % 50)),
            }
        }
    }

    /// 100 000 rounds by default (a few seconds), a million with `OSPS_SOAK=1`, or
    /// exactly `OSPS_STRESS_ROUNDS`.
    fn rounds() -> u64 {
        let soak = std::env::var_os("OSPS_SOAK").is_some_and(|v| v == "1");
        std::env::var("OSPS_STRESS_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if soak { 1_000_000 } else { 100_000 })
    }

    #[test]
    fn adaptive_mode_never_loses_a_wake_up_under_random_delays() {
        stress(SyncMode::Adaptive, rounds());
    }

    /// Fifo turns block in `read` with the watchdog armed at every wait: the same test
    /// at a tenth of the rounds (each costs two wake-ups through the kernel).
    #[test]
    fn fifo_mode_takes_every_turn_under_random_delays() {
        stress(SyncMode::Fifo, rounds() / 10);
    }

    fn stress(mode: SyncMode, n: u64) {
        let tmp = tempfile::tempdir().unwrap();
        let name = format!("stress-{}-{}", mode.as_str(), std::process::id());
        let paths = Paths::new(name.parse().unwrap(), tmp.path().join("run"));
        let dir = RuntimeDir::ensure(&paths.runtime_dir).unwrap();
        let seg = Segment::create(&paths, 4096, 1).unwrap();
        let (p2s, s2p) = paths.fifo_files(0);
        fifo::create(&dir, &p2s).unwrap();
        fifo::create(&dir, &s2p).unwrap();
        let mut primary_in = Reader::open(&dir, &s2p).unwrap();
        let mut secondary_in = Reader::open(&dir, &p2s).unwrap();
        let primary_out = Writer::try_open(&dir, &p2s).unwrap().unwrap();
        let secondary_out = Writer::try_open(&dir, &s2p).unwrap().unwrap();
        // A small spin budget so that most turns go through announce-and-sleep.
        let spin = Duration::from_micros(2);
        let patience = Duration::from_secs(5);
        std::thread::scope(|s| {
            let seg = &seg;
            s.spawn(move || {
                let turns = Turns::new(Role::Secondary, mode, spin, 0);
                let mut jitter = Jitter(0x1234_5678_9abc_def1);
                for want in 1..=n {
                    let w = turns
                        .wait(
                            seg,
                            want,
                            &mut secondary_in,
                            Some(Instant::now() + patience),
                            None,
                        )
                        .unwrap();
                    assert_eq!(w, Wait::Turn, "secondary stalled waiting for round {want}");
                    jitter.delay(spin);
                    turns
                        .publish(seg, want, &secondary_out, Instant::now() + patience)
                        .unwrap();
                }
            });
            let turns = Turns::new(Role::Primary, mode, spin, 0);
            let mut jitter = Jitter(0x0fed_cba9_8765_4321);
            for seq in 1..=n {
                jitter.delay(spin);
                turns
                    .publish(seg, seq, &primary_out, Instant::now() + patience)
                    .unwrap();
                let w = turns
                    .wait(
                        seg,
                        seq,
                        &mut primary_in,
                        Some(Instant::now() + patience),
                        None,
                    )
                    .unwrap();
                assert_eq!(
                    w,
                    Wait::Turn,
                    "primary stalled waiting for the reply to round {seq}"
                );
            }
        });
        seg.unlink().unwrap();
    }

    /// The handshake publishes secondary 0's and the primary's CPU words (a CPU + 1),
    /// and nothing for the other secondaries of a pool, which have no such word.
    #[test]
    fn the_handshake_announces_the_cpu_of_the_first_pair_only() {
        let tmp = tempfile::tempdir().unwrap();
        let name = format!("announce-{}", std::process::id());
        let paths = Paths::new(name.parse().unwrap(), tmp.path().join("run"));
        RuntimeDir::ensure(&paths.runtime_dir).unwrap();
        let seg = Segment::create(&paths, 64 * 1024, 2).unwrap();
        // A fresh segment holds zeros ("not known"); sched_getcpu works on Linux.
        let known = |w: usize| seg.at(w).load(Ordering::Relaxed) != 0;
        announce_cpu(&seg, Role::Secondary, 1);
        assert!(!known(SECONDARY_CPU) && !known(PRIMARY_CPU));
        announce_cpu(&seg, Role::Secondary, 0);
        assert!(known(SECONDARY_CPU) && !known(PRIMARY_CPU));
        announce_cpu(&seg, Role::Primary, 0);
        assert!(known(PRIMARY_CPU));
        seg.unlink().unwrap();
    }

    /// A stopping primary publishes no more turns: the secondary's spin is futile and the
    /// Stop frame on the FIFO is what its wait returns.
    #[test]
    fn a_stopping_primary_is_not_spun_on() {
        let tmp = tempfile::tempdir().unwrap();
        let name = format!("stopping-{}", std::process::id());
        let paths = Paths::new(name.parse().unwrap(), tmp.path().join("run"));
        let dir = RuntimeDir::ensure(&paths.runtime_dir).unwrap();
        let seg = Segment::create(&paths, 4096, 1).unwrap();
        let (p2s, _) = paths.fifo_files(0);
        fifo::create(&dir, &p2s).unwrap();
        let mut from_primary = Reader::open(&dir, &p2s).unwrap();
        let to_secondary = Writer::try_open(&dir, &p2s).unwrap().unwrap();
        let turns = Turns::new(
            Role::Secondary,
            SyncMode::Adaptive,
            Duration::from_secs(1),
            0,
        );
        // Not known to share our CPU, not stopping: a spin may succeed.
        seg.at(PRIMARY_CPU).store(0, Ordering::Relaxed);
        assert!(!turns.futile(&seg));
        seg.store(Field::PrimaryState, header::State::Stopping as u64);
        assert!(turns.futile(&seg));
        let deadline = Instant::now() + Duration::from_secs(5);
        to_secondary
            .send(&Frame::new(Kind::Stop, 0), deadline)
            .unwrap();
        let got = turns.wait(&seg, 1, &mut from_primary, Some(deadline), None);
        assert_eq!(got.unwrap(), Wait::Other(Frame::new(Kind::Stop, 0)));
        // The primary's side never looks at a state word.
        let primary = Turns::new(Role::Primary, SyncMode::Adaptive, Duration::from_secs(1), 0);
        seg.at(SECONDARY_CPU).store(0, Ordering::Relaxed);
        assert!(!primary.futile(&seg));
        seg.unlink().unwrap();
    }
}
