//! The turn exchange with a running secondary: publishing a turn to it, waiting for its
//! reply, reading its next frame. The process behind it is `process.rs`'s; this part only
//! talks to one that runs (and says so when none does).

use std::os::fd::BorrowedFd;
use std::time::Instant;

use color_eyre::eyre::{Result, eyre};

use super::state::{Ctx, Live, Worker};
use crate::pair::fifo::{Event, Sent};
use crate::pair::turn::Wait;

impl Worker {
    fn live_mut(&mut self) -> Result<&mut Live> {
        let index = self.index;
        self.live
            .as_mut()
            .ok_or_else(|| eyre!("no secondary {index} runs"))
    }

    /// Publishes turn `seq` to it (its data is in its slot already).
    pub fn publish(&mut self, ctx: &Ctx<'_>, seq: u64, deadline: Instant) -> Result<Sent> {
        let live = self.live.as_ref().ok_or_else(|| eyre!("no secondary"))?;
        self.turns.publish(ctx.inst.seg(), seq, &live.to, deadline)
    }

    /// Waits for its reply to turn `seq`, woken by signals too.
    pub fn wait_turn(&mut self, ctx: &Ctx<'_>, seq: u64, deadline: Instant) -> Result<Wait> {
        let turns = &self.turns;
        let live = self.live.as_mut().ok_or_else(|| eyre!("no secondary"))?;
        turns.wait(
            ctx.inst.seg(),
            seq,
            &mut live.from,
            Some(deadline),
            Some(ctx.sigs.fd()),
        )
    }

    /// The next frame (or end of file) from the running secondary, waiting until
    /// `deadline` (woken by `wake` too).
    pub fn next_event(&mut self, deadline: Instant, wake: Option<BorrowedFd<'_>>) -> Result<Event> {
        self.live_mut()?.from.wait(Some(deadline), wake)
    }
}
