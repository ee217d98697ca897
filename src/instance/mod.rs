//! An instance as a whole: owning its name and removing what a crashed one left
//! (`claim`), who holds its lock (`holder`), creating and removing its objects as a unit
//! (`objects`), and finding every instance there is and what state each one is in
//! (`discover`), the survey that `inspect`, `cleanup` and the views all read.
//!
//! It may import the leaf helpers, `os`, `disk` and `pair`; never `primary`, the views or
//! a command.

pub mod claim;
pub mod discover;
pub mod holder;
pub mod objects;
pub mod users;
