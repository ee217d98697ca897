//! The operator's views, for people: `osps list`, `osps status`, `osps stop` and
//! `osps top`, all drawn by `render` from the survey of [`crate::instance::discover`]
//! (never a second discovery).
//!
//! It may import every layer below (`os`, `disk`, `pair`, `instance`) and the leaf
//! helpers; the views never import `primary`, and no view imports another view's command
//! module: what two of them share lives in `render`.

pub mod list;
pub mod render;
pub mod status;
pub mod stop;
pub mod top;
