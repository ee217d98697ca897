//! `osps audit -v`: what the program does, as it happens, one line on stderr each
//! (processes started, ended, reaped; objects made and removed), with the time since the
//! audit began. The report at the end says the same with its verdict; these lines show
//! the order in which things happened, which is what a zombie or a leak is about.
//!
//! Only words: the model calls these as it records (`model.rs`), and nothing here
//! changes what it records.

use super::kind::Kind;
use super::text::{escape, ms, signal_name};

/// Whether `-v` asked for these lines: checked first, so that a traced event costs no
/// formatting (no allocation) when nobody reads them.
fn on() -> bool {
    crate::log::level() >= 1
}

fn at(us: u64) -> String {
    format!("{:>8.1} ms", ms(us))
}

pub fn started(pid: i32, ppid: i32, us: u64) {
    if !on() {
        return;
    }
    crate::debug!("{}: pid {pid} started, child of pid {ppid}", at(us));
}

pub fn execed(pid: i32, argv: &[String]) {
    if !on() {
        return;
    }
    crate::debug!("{:>11}  pid {pid} runs {}", "", argv.join(" "));
}

pub fn ended(pid: i32, code: Option<i32>, signal: Option<i32>, us: u64) {
    if !on() {
        return;
    }
    let how = match (code, signal) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("killed by {}", signal_name(s)),
        (None, None) => "ended".to_string(),
    };
    crate::debug!("{}: pid {pid} ended ({how})", at(us));
}

pub fn reaped(pid: i32, by: i32, us: u64) {
    if !on() {
        return;
    }
    crate::debug!("{}: pid {pid} reaped by pid {by}", at(us));
}

/// Released by the kernel at its exit: its parent ignores SIGCHLD (no zombie at all).
pub fn kernel_reaped(pid: i32) {
    if !on() {
        return;
    }
    crate::debug!(
        "{:>11}  pid {pid} reaped by the kernel at once (its parent ignores SIGCHLD)",
        ""
    );
}

pub fn made(kind: Kind, name: &[u8], by: i32, us: u64) {
    if !on() {
        return;
    }
    crate::debug!(
        "{}: {} {} made by pid {by}",
        at(us),
        kind.word(),
        escape(name)
    );
}

pub fn removed(kind: Kind, name: &[u8], by: i32, us: u64) {
    if !on() {
        return;
    }
    crate::debug!(
        "{}: {} {} removed by pid {by}",
        at(us),
        kind.word(),
        escape(name)
    );
}

pub fn opened(kind: Kind, name: &[u8], by: i32, us: u64) {
    if !on() {
        return;
    }
    crate::debug!(
        "{}: {} {} opened by pid {by}: it was there before the audit",
        at(us),
        kind.word(),
        escape(name)
    );
}
