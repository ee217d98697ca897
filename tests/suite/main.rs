//! The integration tests, one binary of many modules (as ripgrep and just build theirs):
//! each module runs the real `osps` binary against real segments, FIFOs and sockets, each
//! test with its own instance name and runtime directory, so they run in parallel and
//! leave nothing behind. `tests/idle.rs` is a binary of its own, run after this one: its
//! tests time a pair (the CPU time of an idle pair, a primary paused past its deadline)
//! and want a machine that is not running the rest of the suite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod client;
mod docs_jq;
mod faults;
mod generated;
mod hostile;
mod inspect_cleanup;
mod intruder;
mod lab_docs;
mod liveness;
mod lockdefence;
mod newcomer;
mod notify;
mod odd_args;
mod pair;
mod readme_map;
mod readme_walkthrough;
mod schema;
mod serve;
mod serve_cpu;
mod serve_edges;
mod serve_hold;
mod serve_stop;
mod signals;
mod socket_defence;
mod top_tmux;
mod trace;
mod views;
