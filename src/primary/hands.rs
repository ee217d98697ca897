//! The pool's hands: what the pool (`pool.rs`) decides is done here, on the supervisor,
//! each secondary's slot of the segment and the clients. A turn is the request written
//! to the slot, its length published, then the turn counter and a doorbell
//! (`Worker::publish`); a reply is read back by the counter the secondary publishes.

use std::sync::atomic::Ordering;
use std::time::Instant;

use color_eyre::eyre::Result;

use super::hall::Hall;
use super::pool::{Io, Job};
use super::supervisor::Supervisor;
use super::worker::{Ctx, Trouble};
use crate::pair::area::Area;
use crate::pair::batch;
use crate::pair::fifo::Sent;

/// Says so when secondary `i` will not be restarted any more.
pub fn after_death(ctx: &Ctx<'_>, sup: &Supervisor, i: usize) {
    if sup.worker(i).given_up() {
        crate::warn!(
            "secondary {i} is not restarted again: --max-restarts {} reached",
            ctx.args.max_restarts
        );
        // Requests that wait only for this one are failed when no secondary is left.
    }
}

/// The pool's hands: what it decides is done here, on the supervisor, the segment's
/// slots and the clients.
pub struct Hands<'s, 'a> {
    pub ctx: &'s Ctx<'a>,
    pub sup: &'s mut Supervisor,
    pub areas: &'s [Area<'a>],
    /// The clients: where requests come from and replies go.
    pub hall: &'s mut Hall,
    /// A batch being encoded for a slot (kept to reuse its memory).
    pub batch: &'s mut Vec<u8>,
}

impl Io for Hands<'_, '_> {
    fn now(&self) -> Instant {
        // Read afresh, not the event loop's clock of this turn: a turn's deadline counts
        // from when it is given, and the loop's clock may be from before a pause (the
        // primary stopped, a paused machine), which would make a healthy secondary late.
        Instant::now()
    }

    fn live(&self, i: usize) -> bool {
        self.sup.worker(i).is_live()
    }

    fn given_up(&self, i: usize) -> bool {
        self.sup.worker(i).given_up()
    }

    fn awake(&self, i: usize) -> bool {
        let f = self.sup.worker(i).fields();
        self.ctx
            .inst
            .seg()
            .at(f.secondary_sleeping)
            .load(Ordering::Relaxed)
            == 0
    }

    fn room(&self, i: usize) -> usize {
        self.areas[i].len()
    }

    fn hand(
        &mut self,
        i: usize,
        seq: u64,
        jobs: &[Job],
        deadline: Instant,
    ) -> Result<Option<Trouble>> {
        let area = &self.areas[i];
        let len = match jobs {
            [job] => {
                // Lines are at most --max-line bytes, and every slot holds one
                // (`PrimaryArgs::validate`).
                let len = job.line().len().min(area.len());
                area.write(&job.line()[..len])?;
                len
            }
            _ => {
                // Packed to fit (see `Pool::dispatch`).
                batch::encode(jobs.iter().map(Job::line), self.batch);
                area.write(self.batch)?;
                self.batch.len()
            }
        };
        self.ctx
            .inst
            .seg()
            .at(self.sup.worker(i).fields().request_len)
            .store(len as u64, Ordering::Release);
        if crate::trace::sampled(seq) {
            crate::trace!("request", secondary = i, seq = seq, bytes = len);
        }
        match self.sup.worker_mut(i).publish(self.ctx, seq, deadline) {
            Ok(Sent::Ok) => Ok(None),
            Ok(Sent::PeerGone) => Ok(Some(Trouble::Epipe)),
            Err(e) => {
                crate::warn!("giving a request to secondary {i}: {e:#}");
                Ok(Some(Trouble::Unwritable))
            }
        }
    }

    fn published(&self, i: usize) -> u64 {
        // SeqCst, not only Acquire (the reply's bytes): with `Server::set_asleep`, one
        // of the primary and the secondary sees the other (see `turn.rs`).
        self.ctx
            .inst
            .seg()
            .at(self.sup.worker(i).fields().reply_seq)
            .load(Ordering::SeqCst)
    }

    fn reply_into(&self, i: usize, out: &mut Vec<u8>) -> bool {
        let fields = self.sup.worker(i).fields();
        let len = self
            .ctx
            .inst
            .seg()
            .at(fields.reply_len)
            .load(Ordering::Acquire);
        self.areas[i].read_into(len, out).is_ok()
    }

    fn died(&mut self, i: usize, trouble: Trouble, during: &str) -> Result<()> {
        self.sup.worker_mut(i).died(self.ctx, trouble, during)?;
        after_death(self.ctx, self.sup, i);
        Ok(())
    }

    fn connected(&self, client: u64) -> bool {
        self.hall.connected(client)
    }

    fn take_request(&mut self, client: u64) -> Option<(u64, Vec<u8>)> {
        self.hall.take_request(client)
    }

    fn has_more(&self, client: u64) -> bool {
        self.hall.has_more(client)
    }

    fn answer(&mut self, client: u64, order: u64, reply: &[u8]) {
        self.hall.answer(client, order, reply);
    }

    fn recycle(&mut self, line: Vec<u8>) {
        self.hall.recycle(line);
    }

    fn answer_queued(&mut self, client: u64, reply: &str) -> usize {
        self.hall.answer_queued(client, reply)
    }
}
