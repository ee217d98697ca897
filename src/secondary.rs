//! The secondary's life: attach to the segment, open the FIFOs (read end first, so the
//! primary's open of its write end never waits), say hello, then serve turns until the
//! primary says stop. Each turn it does the work found in the segment and gives the turn
//! back: in the rounds mode it reverses the request in place; in the serving mode
//! (`--serve`, secondary `--index I` of a pool) it answers a client request line.
//!
//! The secondary never outlives its primary for long: the primary's death closes the FIFO
//! (end of file here) and, when the primary started us, the kernel sends SIGTERM
//! (`PR_SET_PDEATHSIG`, set between fork and exec). It restarts nothing itself.
//!
//! Only the primary starts secondaries. One started by hand against a live instance (an
//! intruder) would read the primary's FIFO, overwrite the secondary's pid in the header
//! and send a hello in the middle of the rounds: so it refuses to run, before it opens a
//! FIFO or writes a byte of the header. The test is who our parent is: a secondary the
//! primary forked has the header's primary pid as its parent (`getppid()`), a fact the
//! kernel keeps and no other process can fake or learn to repeat. A token handed to the
//! child (an argument or an environment variable, with its copy in the header) would
//! prove no more: the header and `/proc/PID/environ` are readable by the same user, and
//! a token must be created, passed and checked, where the parent is simply there. When
//! the header names no live primary, the intruder harms nobody and fails further on (no
//! primary reads its FIFO). The primary, for its part, accepts only the hello of the pid
//! it forked, so even an older osps that skips this check is never taken as ours.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail, eyre};

use crate::cli::SecondaryArgs;
use crate::clock::monotonic_ns;
use crate::disk::names::{Paths, default_runtime_dir};
use crate::disk::rundir::RuntimeDir;
use crate::exit::Exit;
use crate::os::sigbus;
use crate::os::signals::{self, SelfPipe};
use crate::pair::area::Area;
use crate::pair::batch;
use crate::pair::fifo::{Event, Reader, Sent, Writer};
use crate::pair::frame::{Frame, Kind};
use crate::pair::header::{self, Field, State, WorkerFields};
use crate::pair::segment::Segment;
use crate::pair::turn::{Role, Turns, Wait};
use crate::protocol;

/// Runs `osps secondary`: attach, shake hands, serve turns until told to stop.
pub fn run(args: &SecondaryArgs) -> Result<Exit> {
    crate::log::set_role("secondary");
    // Executed as /proc/self/exe, we would be named "exe" in ps, top and /proc/PID/comm:
    // `ps -C osps`, `pgrep -x osps` and `killall osps` would miss us, and a zombie would
    // show as "[exe] <defunct>". The name the user knows is the binary's.
    if let Err(e) = nix::sys::prctl::set_name(c"osps") {
        crate::debug!("naming the process osps (prctl PR_SET_NAME): {e}");
    }
    // Ctrl-C, a closed terminal's SIGHUP, a group's SIGALRM or SIGUSR1 reach the whole
    // process group: only the primary acts on them, and stops us in order.
    let sigs = SelfPipe::install_policy(signals::SECONDARY)?;
    let attached = attach(args)?;
    let (mut from, to) = open_fifos(&attached)?;
    let base = handshake(args, &attached, &mut from, &to, &sigs)?;
    let Attached {
        paths,
        seg,
        index,
        workers,
        fields: f,
        parent,
        ..
    } = &attached;
    crate::debug!(
        "pid {} serving instance {} from turn {}",
        std::process::id(),
        paths.name,
        base + 1
    );
    let mut link = Link {
        seg,
        from,
        to,
        sigs: &sigs,
        args,
        fields: *f,
        base,
        parent: *parent,
    };
    let served = if args.serve {
        let slot = seg.slot(*index, *workers);
        let mut request = Vec::with_capacity(slot.len());
        let mut reply = Vec::new();
        link.serve(|seg, f| answer_request(seg, f, slot, *workers, &mut request, &mut reply))
    } else {
        let area = seg.area();
        link.serve(|seg, f| reverse_request(seg, f, area))
    };
    // A segment truncated or removed under us explains whatever failed after it.
    let served = served.map_err(|e| seg.check_intact().err().unwrap_or(e));
    set(
        seg,
        f.state,
        if served.is_ok() {
            State::Stopped
        } else {
            State::Failed
        } as u64,
    );
    served.map(|()| Exit::Success)
}

/// A secondary attached to its instance: the segment mapped and checked, its place in
/// the pool known, and whether the primary of the header is our parent.
struct Attached {
    paths: Paths,
    dir: RuntimeDir,
    seg: Segment,
    index: usize,
    workers: usize,
    fields: WorkerFields,
    /// The primary's pid when it started us (see the module doc); `None` otherwise.
    parent: Option<i32>,
}

/// Maps the instance's segment and finds our place in it; refuses to go on when a live
/// primary runs that did not start us (an intruder, see the module doc).
fn attach(args: &SecondaryArgs) -> Result<Attached> {
    let paths = Paths::new(
        args.instance.name.clone(),
        default_runtime_dir(args.instance.runtime_dir.as_deref()),
    );
    let dir = RuntimeDir::open_existing(&paths.runtime_dir).wrap_err_with(|| {
        format!(
            "attaching to instance {}: is `osps primary --name {}` running?",
            paths.name, paths.name
        )
    })?;
    let seg = Segment::attach(&paths)
        .wrap_err_with(|| format!("attaching to instance {}", paths.name))?;
    // Started by the primary (fork + exec) when our parent is the primary of the header.
    let ppid = nix::unistd::getppid().as_raw();
    let primary_pid = seg.load(Field::PrimaryPid);
    let parent = (u64::try_from(ppid).ok() == Some(primary_pid)).then_some(ppid);
    let index = args.index as usize;
    let workers = seg.workers();
    if index >= workers {
        bail!(
            "there is no secondary {index} in instance {}: it has {workers} secondaries",
            paths.name
        );
    }
    let fields = header::worker_fields(index);
    if parent.is_none() {
        let primary = live_pid(primary_pid);
        let secondary = live_pid(seg.at(fields.pid).load(Ordering::Acquire));
        if let Some(why) = refusal(&paths.name.to_string(), primary, secondary) {
            bail!("{why}");
        }
    }
    Ok(Attached {
        paths,
        dir,
        seg,
        index,
        workers,
        fields,
        parent,
    })
}

/// Opens our FIFO pair: the read end first, so the primary's open of its write end never
/// waits; the write end only if the primary reads it (else nobody waits for us).
fn open_fifos(a: &Attached) -> Result<(Reader, Writer)> {
    let (p2s, s2p) = a.paths.fifo_files(a.index);
    let from = Reader::open(&a.dir, &p2s)?;
    let to = Writer::try_open(&a.dir, &s2p)?.ok_or_else(|| {
        eyre!(
            "nobody reads {}: no primary of instance {} is waiting for a secondary \
             (the secondary is normally started by `osps primary`)",
            a.paths.in_dir(&s2p).display(),
            a.paths.name
        )
    })?;
    Ok((from, to))
}

/// The handshake: publish our pid, say hello, wait for Ready. Returns the turn to count
/// from (the Ready frame's sequence number).
fn handshake(
    args: &SecondaryArgs,
    a: &Attached,
    from: &mut Reader,
    to: &Writer,
    sigs: &SelfPipe,
) -> Result<u64> {
    let (seg, f) = (&a.seg, &a.fields);
    let pid = std::process::id();
    set(seg, f.pid, u64::from(pid));
    set(seg, f.state, State::Starting as u64);
    let deadline = || Instant::now() + args.start_timeout;
    crate::pair::turn::announce_cpu(seg, Role::Secondary, a.index);
    // Traced before the write, so that it comes before the primary's hello_received.
    crate::trace!(
        "hello_sent",
        fifo = to.path(),
        pid = pid,
        bytes = crate::pair::frame::FRAME_LEN
    );
    if to.send(&Frame::hello(pid), deadline())? == Sent::PeerGone {
        bail!(
            "the primary closed {} before our hello",
            to.path().display()
        );
    }
    let spin = args.sync.answer_spin(args.spin);
    let base = match from.wait_soon(Some(deadline()), Some(sigs.fd()), spin)? {
        Event::Frame(fr) if fr.kind == Kind::Ready => fr.seq,
        Event::Frame(fr) => bail!(
            "expected a Ready frame after our hello, got {:?} on {}",
            fr.kind,
            from.path().display()
        ),
        Event::Eof => bail!(
            "the primary closed {} before the handshake ended",
            from.path().display()
        ),
        Event::TimedOut => bail!(
            "no Ready from the primary within {:?} after our hello",
            args.start_timeout
        ),
        Event::Woken => match sigs.drain().stop_signal() {
            Some(signal) => bail!("stopped by {signal} during the handshake"),
            None => bail!("stopped by a signal during the handshake"),
        },
    };
    set(seg, f.state, State::Ready as u64);
    crate::trace!("ready_received", fifo = from.path(), base = base);
    Ok(base)
}

/// A pid read from the header, if it names a live process. (The value is untrusted: 0,
/// or one beyond the range of pids, names nobody.)
fn live_pid(value: u64) -> Option<i32> {
    i32::try_from(value)
        .ok()
        .filter(|&pid| pid > 0 && crate::os::procfs::alive(pid))
}

/// Why a secondary that its primary did not start must not run (`None`: the header
/// names no live primary, so nobody can be disturbed). `primary` and `secondary` are the
/// header's pids that name live processes.
fn refusal(name: &str, primary: Option<i32>, secondary: Option<i32>) -> Option<String> {
    let primary = primary?;
    Some(match secondary {
        Some(pid) => format!(
            "instance {name} already has a live secondary, pid {pid}, started by its primary \
             (pid {primary}); only `osps primary` starts a secondary: this one exits, and the \
             instance runs on untouched"
        ),
        None => format!(
            "instance {name} is running (primary pid {primary}) and only its primary starts \
             its secondary (a restart may be pending): this one exits, and the instance runs \
             on untouched"
        ),
    })
}

fn set(seg: &Segment, offset: usize, value: u64) {
    seg.at(offset).store(value, Ordering::Release);
}

/// Reads the request length once, checks it, and returns only the checked copy.
fn request_len(seg: &Segment, f: &WorkerFields, room: usize) -> Result<usize> {
    let len = seg.at(f.request_len).load(Ordering::Acquire);
    usize::try_from(len)
        .ok()
        .filter(|&n| n <= room)
        .ok_or_else(|| {
            eyre!("request length {len} exceeds the {room}-byte area: the segment is corrupt")
        })
}

/// What one turn's work did: the reply's length, and how many requests it answered (a
/// round, a request line, or each line of a batch).
struct Done {
    len: usize,
    requests: u64,
}

/// The rounds mode's work: reverse the request in place.
fn reverse_request(seg: &Segment, f: &WorkerFields, area: Area<'_>) -> Result<Done> {
    let len = request_len(seg, f, area.len())?;
    area.reverse(len)?;
    Ok(Done { len, requests: 1 })
}

/// The serving mode's work: answer the request line, or the batch of lines (see
/// `batch.rs`), in our slot. The request is copied out of the segment before it is
/// parsed, so the primary cannot change it under us.
fn answer_request(
    seg: &Segment,
    f: &WorkerFields,
    slot: Area<'_>,
    workers: usize,
    request: &mut Vec<u8>,
    reply: &mut Vec<u8>,
) -> Result<Done> {
    let len = request_len(seg, f, slot.len())?;
    slot.read_into(len as u64, request)?;
    if !batch::is_batch(request) {
        let answer = protocol::answer(request, || stats(seg, workers));
        // The longest error is far below any slot.
        let answer = if answer.len() <= slot.len() {
            answer
        } else {
            TOO_LONG_FOR_SLOT.to_string()
        };
        slot.write(answer.as_bytes())?;
        return Ok(Done {
            len: answer.len(),
            requests: 1,
        });
    }
    let malformed = |e| eyre!("turn with a malformed batch ({e}): the segment is corrupt");
    // Each reply written where it goes in the batch; the batch checked whole first.
    let mut replies = batch::Encoder::new(reply);
    let mut requests = 0;
    batch::decode_each(request, None, |line| {
        replies.item(|out| protocol::answer_into(line, out, || stats(seg, workers)));
        requests += 1;
    })
    .map_err(malformed)?;
    if reply.len() > slot.len() {
        return answer_what_fits(seg, slot, workers, request, reply);
    }
    slot.write(reply)?;
    Ok(Done {
        len: reply.len(),
        requests,
    })
}

/// A batch whose replies do not all fit the slot (the primary leaves room for every
/// reply, so this is not expected): the longest ones become errors, each far shorter
/// than the room it was left.
fn answer_what_fits(
    seg: &Segment,
    slot: Area<'_>,
    workers: usize,
    request: &[u8],
    reply: &mut Vec<u8>,
) -> Result<Done> {
    let lines = batch::decode(request, None)
        .map_err(|e| eyre!("turn with a malformed batch ({e}): the segment is corrupt"))?;
    let mut answers: Vec<String> = lines
        .iter()
        .map(|line| protocol::answer(line, || stats(seg, workers)))
        .collect();
    while batch::encoded_len(answers.iter().map(String::len)) > slot.len() {
        let Some(longest) = answers
            .iter_mut()
            .filter(|a| a.len() > TOO_LONG_FOR_SLOT.len())
            .max_by_key(|a| a.len())
        else {
            bail!(
                "a batch of {} replies cannot fit the {}-byte slot",
                answers.len(),
                slot.len()
            );
        };
        *longest = TOO_LONG_FOR_SLOT.to_string();
    }
    batch::encode(answers.iter().map(String::as_bytes), reply);
    slot.write(reply)?;
    Ok(Done {
        len: reply.len(),
        requests: answers.len() as u64,
    })
}

/// How long a serving secondary looks for its next turn before it sleeps (at most
/// `--spin`): batches often come back to back, and a look costs less than a wake-up.
const SERVE_LOOK: Duration = Duration::from_micros(100);

/// Looks at the primary's turn counter (at `request_seq`) until it reaches `want` or
/// `look` passes, yielding the CPU between looks: any process that needs this CPU (the
/// dispatcher, a client) gets it at once, while the CPU never goes idle, which on a
/// virtual machine makes the next wake-up on it cost tens of microseconds. The turn
/// itself is then taken by [`Turns::wait`], which finds the counter there or sleeps.
fn look_for_turn(seg: &Segment, request_seq: usize, want: u64, look: Duration) {
    if look.is_zero() {
        return;
    }
    let start = Instant::now();
    while start.elapsed() < look {
        // Acquire: pairs with the primary's store of the counter (its data is then
        // visible, though Turns::wait reads it again anyway).
        if seg.at(request_seq).load(Ordering::Acquire) == want {
            return;
        }
        std::thread::yield_now();
    }
}

/// The reply to a request whose reply would not fit the slot.
const TOO_LONG_FOR_SLOT: &str = "ERR reply too long for the slot";

/// The `STATS` reply: the instance's counters, read from a copy of the header.
fn stats(seg: &Segment, workers: usize) -> String {
    let bytes = seg.snapshot_all();
    let h = header::decode(&bytes[..header::HEADER_LEN.min(bytes.len())], seg.size()).ok();
    let pool: Vec<_> = (0..workers)
        .filter_map(|i| header::worker_view(&bytes, i))
        .collect();
    serde_json::json!({
        "secondaries": workers,
        "clients": h.as_ref().map_or(0, |h| h.clients),
        "queued": h.as_ref().map_or(0, |h| h.queued),
        "requests": h.as_ref().map_or(0, |h| h.requests),
        "restarts": pool.iter().map(|w| w.restarts).sum::<u64>(),
        "served": pool.iter().map(|w| w.served).collect::<Vec<_>>(),
    })
    .to_string()
}

/// Our end of the exchange with the primary.
struct Link<'a> {
    seg: &'a Segment,
    from: Reader,
    to: Writer,
    sigs: &'a SelfPipe,
    args: &'a SecondaryArgs,
    fields: WorkerFields,
    base: u64,
    /// The primary that started us (fork + exec), if it did; `None` when run by hand.
    parent: Option<i32>,
}

impl Link<'_> {
    /// Whether the primary that started us is still our parent (it is alive).
    fn primary_alive(&self) -> bool {
        self.parent
            .is_some_and(|p| nix::unistd::getppid().as_raw() == p)
    }

    /// Takes turns until the primary's Stop: `work` does the turn's work in the segment.
    /// The header's `served` counts requests (a batch's lines each), the Stop's answer
    /// turns.
    fn serve(
        &mut self,
        mut work: impl FnMut(&Segment, &WorkerFields) -> Result<Done>,
    ) -> Result<()> {
        let seg = self.seg;
        let f = self.fields;
        // A serving secondary never spins: on few cores a spinning secondary takes the
        // CPU the dispatcher and its clients need. It looks for its next turn a little
        // while after each one instead, yielding its CPU between looks
        // ([`look_for_turn`]), then sleeps on its FIFO.
        let spin = if self.args.serve {
            Duration::ZERO
        } else {
            self.args.spin
        };
        let turns = Turns::new(Role::Secondary, self.args.sync, spin, self.index());
        let mut want = self.base + 1;
        let mut served: u64 = 0;
        let mut requests: u64 = 0;
        let mut last_check = monotonic_ns();
        let look = if self.args.serve {
            self.args.sync.answer_spin(self.args.spin).min(SERVE_LOOK)
        } else {
            Duration::ZERO
        };
        loop {
            look_for_turn(seg, f.request_seq, want, look);
            match turns.wait(seg, want, &mut self.from, None, Some(self.sigs.fd()))? {
                Wait::Turn => {
                    let done = work(seg, &f).wrap_err_with(|| format!("turn {want}"))?;
                    // A SIGBUS absorbed during the work means the segment shrank: stop now.
                    // The full check (an fstat) runs at most every 100 ms, off the hot path.
                    let now = monotonic_ns();
                    if sigbus::faults() > 0
                        || now.saturating_sub(last_check) > crate::pair::segment::INTACT_CHECK_NS
                    {
                        seg.check_intact()?;
                        last_check = now;
                    }
                    set(seg, f.reply_len, done.len as u64);
                    served += 1;
                    requests += done.requests;
                    set(seg, f.served, requests);
                    set(seg, f.heartbeat, now);
                    let deadline = Instant::now() + self.args.start_timeout;
                    if turns.publish(seg, want, &self.to, deadline)? == Sent::PeerGone {
                        bail!(
                            "the primary closed {} (it exited or was killed); stopping",
                            self.to.path().display()
                        );
                    }
                    want += 1;
                }
                Wait::Other(fr) if fr.kind == Kind::Stop => {
                    crate::trace!("stop_received", fifo = self.from.path());
                    set(seg, f.state, State::Stopping as u64);
                    // Traced before the write, so that it comes before the primary's
                    // stop_ack_received.
                    crate::trace!("stop_ack_sent", fifo = self.to.path(), served = served);
                    // The primary may already be gone; the ack is a courtesy.
                    let _ = self.to.send(
                        &Frame::new(Kind::StopAck, served),
                        Instant::now() + self.args.start_timeout,
                    );
                    crate::debug!(
                        "stopping after {}, as asked",
                        crate::units::count(served, "turn", "turns")
                    );
                    return Ok(());
                }
                Wait::Other(fr) => bail!(
                    "unexpected {:?} frame (turn {}) on {}",
                    fr.kind,
                    fr.seq,
                    self.from.path().display()
                ),
                Wait::Eof => bail!(
                    "the primary closed {} (it exited or was killed); stopping",
                    self.from.path().display()
                ),
                Wait::Woken => {
                    // SIGTERM, or a signal the primary takes as SIGTERM (SIGPWR, a
                    // real-time one...; see os/signals/mod.rs).
                    if let Some(signal) = self.sigs.drain().stop_signal() {
                        // A SIGTERM sent to the whole process group (kill -- -PGID, systemd)
                        // also reaches the primary, which stops us in order: wait for it.
                        // Its death (PR_SET_PDEATHSIG) or a SIGTERM without a primary ends us.
                        if self.primary_alive() {
                            crate::debug!("{signal} while our primary lives: waiting for its stop");
                        } else {
                            bail!(
                                "stopped by {signal} (the primary is gone, or someone asked us to stop)"
                            );
                        }
                    }
                }
                Wait::TimedOut => {}
            }
        }
    }

    fn index(&self) -> usize {
        self.args.index as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secondary_not_started_by_the_primary_is_refused_while_the_primary_lives() {
        let live = refusal("demo", Some(100), Some(200)).unwrap_or_default();
        assert!(
            live.starts_with("instance demo already has a live secondary, pid 200"),
            "{live}"
        );
        assert!(
            live.contains("(pid 100)") && live.contains("untouched"),
            "{live}"
        );
        let restarting = refusal("demo", Some(100), None).unwrap_or_default();
        assert!(restarting.contains("primary pid 100"), "{restarting}");
        assert!(
            restarting.contains("restart may be pending"),
            "{restarting}"
        );
        // No live primary: nobody to disturb; the FIFOs' absence of a reader says the rest.
        assert_eq!(refusal("demo", None, Some(200)), None);
        assert_eq!(refusal("demo", None, None), None);
    }

    #[test]
    fn header_pids_that_name_nobody_are_not_live() {
        assert_eq!(live_pid(0), None);
        assert_eq!(live_pid(u64::MAX), None);
        assert_eq!(live_pid(1 << 40), None);
        let me = std::process::id();
        assert_eq!(live_pid(u64::from(me)), i32::try_from(me).ok());
    }
}
