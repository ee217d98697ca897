//! The lab's mechanisms, one per file: the shared segment (`segment`) with its header
//! (`header`) and data area (`area`, the only code that touches the shared bytes), the
//! work of a round (`payload`, `batch`), the FIFO pair (`fifo`) and its frames (`frame`),
//! and whose turn it is (`turn`, `spin`).
//!
//! It may import the leaf helpers, `os` and `disk`; never `instance`, `primary`, the views
//! or a command.

pub mod area;
pub mod batch;
pub mod fifo;
pub mod frame;
pub mod header;
pub mod payload;
pub mod segment;
pub mod spin;
pub mod turn;
