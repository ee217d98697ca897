//! The secondary's life: attach to the segment, open the FIFOs (read end first, so the
//! primary's open of its write end never waits), say hello, then serve rounds until the
//! primary says stop: reverse the request in place, publish the reply, give the turn back.
//!
//! The secondary never outlives its primary for long: the primary's death closes the FIFO
//! (end of file here) and, when the primary started us, the kernel sends SIGTERM
//! (`PR_SET_PDEATHSIG`, set between fork and exec). It restarts nothing itself.

use std::time::Instant;

use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use nix::sys::signal::Signal;

use crate::cli::SecondaryArgs;
use crate::exit::Exit;
use crate::fifo::{Event, Reader, Sent, Writer};
use crate::frame::{Frame, Kind};
use crate::header::{Field, State};
use crate::names::{Paths, default_runtime_dir};
use crate::payload;
use crate::rundir::RuntimeDir;
use crate::segment::{Segment, monotonic_ns};
use crate::signals::{self, SelfPipe};
use crate::turn::{Role, Turns, Wait};

/// Runs `osps secondary`.
pub fn run(args: &SecondaryArgs) -> Result<Exit> {
    crate::log::set_role("secondary");
    // Ctrl-C goes to the whole foreground process group: only the primary acts on it.
    signals::ignore(Signal::SIGINT)?;
    signals::ignore(Signal::SIGPIPE)?;
    let sigs = SelfPipe::install(&[Signal::SIGTERM])?;
    let paths = Paths::new(
        args.instance.name.clone(),
        default_runtime_dir(args.instance.runtime_dir.as_deref()),
    );
    let dir = RuntimeDir::open_existing(&paths.runtime_dir)
        .wrap_err_with(|| format!("attaching to instance {}: is `osps primary --name {}` running?", paths.name, paths.name))?;
    let seg = Segment::attach(&paths).wrap_err_with(|| format!("attaching to instance {}", paths.name))?;
    let (p2s, s2p) = paths.fifo_files(0);
    let mut from = Reader::open(&dir, &p2s)?;
    let to = Writer::try_open(&dir, &s2p)?.ok_or_else(|| {
        eyre!(
            "nobody reads {}: no primary of instance {} is waiting for a secondary \
             (the secondary is normally started by `osps primary`)",
            paths.in_dir(&s2p).display(),
            paths.name
        )
    })?;

    let pid = std::process::id();
    seg.store(Field::SecondaryPid, u64::from(pid));
    seg.store(Field::SecondaryState, State::Starting as u64);
    let stop_deadline = || Instant::now() + args.start_timeout;
    if to.send(&Frame::hello(pid), stop_deadline())? == Sent::PeerGone {
        bail!("the primary closed {} before our hello", to.path().display());
    }
    let base = match from.wait(Some(stop_deadline()), Some(sigs.fd()))? {
        Event::Frame(f) if f.kind == Kind::Ready => f.seq,
        Event::Frame(f) => bail!("expected a Ready frame after our hello, got {:?} on {}", f.kind, from.path().display()),
        Event::Eof => bail!("the primary closed {} before the handshake ended", from.path().display()),
        Event::TimedOut => bail!("no Ready from the primary within {:?} after our hello", args.start_timeout),
        Event::Woken => bail!("stopped by SIGTERM during the handshake"),
    };
    seg.store(Field::SecondaryState, State::Ready as u64);
    crate::debug!("pid {pid} serving instance {} from round {}", paths.name, base + 1);

    let served = serve(&seg, &mut from, &to, &sigs, args, base);
    seg.store(
        Field::SecondaryState,
        if served.is_ok() { State::Stopped } else { State::Failed } as u64,
    );
    served.map(|()| Exit::Success)
}

/// Answers rounds until the primary's Stop.
fn serve(seg: &Segment, from: &mut Reader, to: &Writer, sigs: &SelfPipe, args: &SecondaryArgs, base: u64) -> Result<()> {
    let turns = Turns::new(Role::Secondary, args.sync, args.spin, 0);
    let area = seg.area();
    let mut want = base + 1;
    let mut served: u64 = 0;
    loop {
        match turns.wait(seg, want, from, None, Some(sigs.fd()))? {
            Wait::Turn => {
                // Read the length once, check it, and use only the checked copy.
                let len = seg.load(Field::RequestLen);
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&n| n <= area.len)
                    .ok_or_else(|| eyre!("round {want}: request length {len} exceeds the {}-byte data area", area.len))?;
                payload::reverse_in_place(area, len)?;
                seg.check_intact()?;
                seg.store(Field::ReplyLen, len as u64);
                served += 1;
                seg.store(Field::RoundsServed, served);
                seg.store(Field::SecondaryHeartbeat, monotonic_ns());
                if turns.publish(seg, want, to, Instant::now() + args.start_timeout)? == Sent::PeerGone {
                    bail!("the primary closed {} (it exited or was killed); stopping", to.path().display());
                }
                want += 1;
            }
            Wait::Other(f) if f.kind == Kind::Stop => {
                seg.store(Field::SecondaryState, State::Stopping as u64);
                // The primary may already be gone; the ack is a courtesy.
                let _ = to.send(&Frame::new(Kind::StopAck, served), Instant::now() + args.start_timeout);
                crate::debug!("stopping after {served} rounds, as asked");
                return Ok(());
            }
            Wait::Other(f) => bail!("unexpected {:?} frame (round {}) on {}", f.kind, f.seq, from.path().display()),
            Wait::Eof => bail!(
                "the primary closed {} (it exited or was killed); stopping",
                from.path().display()
            ),
            Wait::Woken => {
                if sigs.drain().terminate {
                    bail!("stopped by SIGTERM (the primary is gone, or someone asked us to stop)");
                }
            }
            Wait::TimedOut => {}
        }
    }
}
