//! One secondary as the primary sees it: starting it (self re-exec and handshake),
//! giving it turns, reaping it when it dies or hangs, its restart budget and backoff,
//! and its orderly stop. The supervisor of them all is `supervisor.rs`; both modes use
//! these, so each rule is written once.
//!
//! Secondary `index` talks through its own FIFO pair and its own fields of the header
//! (see `header::worker_fields`), so workers never disturb each other. A [`Worker`] keeps
//! its process and FIFOs to itself: the modes ask it to publish a turn, wait for one, or
//! report a death, and never hold its descriptors.
//!
//! Four parts, each importing only those before it: what a worker is and what it tells
//! (`state.rs`), the turn exchange with a running secondary (`exchange.rs`), a death and
//! the restart budget (`restarts.rs`), and the process itself, started, handshaken,
//! restarted and stopped (`process.rs`). The modes use them through the names re-exported
//! here.

mod exchange;
mod process;
mod restarts;
mod state;

pub use process::{Step, stray_hello};
pub use restarts::Trouble;
pub use state::{Ctx, Death, Worker};
