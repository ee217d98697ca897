//! How osps talks on stderr: one format for progress, warnings and errors, a global
//! verbosity set once from `-v`/`-q`, and colour only on a terminal without `NO_COLOR`.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicI8, Ordering};

static LEVEL: AtomicI8 = AtomicI8::new(0);

/// Sets the verbosity: -1 quiet (errors only), 0 normal, 1+ more detail.
pub fn set_level(level: i8) {
    LEVEL.store(level, Ordering::Relaxed);
}

pub fn level() -> i8 {
    LEVEL.load(Ordering::Relaxed)
}

/// Whether stderr may carry colour: a terminal, and `NO_COLOR` unset or empty.
pub fn use_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

fn emit(min_level: i8, tag: &str, color: &str, message: std::fmt::Arguments<'_>) {
    if level() < min_level {
        return;
    }
    let who = crate::log::role();
    let mut err = std::io::stderr().lock();
    // A failed write to stderr has nowhere to be reported; ignore it.
    let _ = if use_color() && !color.is_empty() {
        writeln!(err, "osps[{who}]: \x1b[{color}m{tag}\x1b[0m{message}")
    } else {
        writeln!(err, "osps[{who}]: {tag}{message}")
    };
}

static ROLE: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Names this process in every line ("primary", "secondary", ...).
pub fn set_role(role: &'static str) {
    let _ = ROLE.set(role);
}

fn role() -> &'static str {
    ROLE.get().copied().unwrap_or("osps")
}

/// Prints a failure once, in one format: what failed, then each cause on its own line.
pub fn error(report: &color_eyre::Report) {
    let mut err = std::io::stderr().lock();
    let (on, off) = if use_color() {
        ("\x1b[31m", "\x1b[0m")
    } else {
        ("", "")
    };
    let mut chain = report.chain();
    if let Some(top) = chain.next() {
        let _ = writeln!(err, "osps: {on}error:{off} {top}");
    }
    for cause in chain {
        let _ = writeln!(err, "  caused by: {cause}");
    }
    if std::env::var_os("RUST_LIB_BACKTRACE").is_some_and(|v| v == "1") {
        let _ = writeln!(err, "{report:?}");
    }
}

pub fn info(message: std::fmt::Arguments<'_>) {
    emit(0, "", "", message);
}

pub fn debug(message: std::fmt::Arguments<'_>) {
    emit(1, "", "", message);
}

pub fn warn(message: std::fmt::Arguments<'_>) {
    emit(-1, "warning: ", "33", message);
}

/// Progress on stderr, shown unless `-q`.
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::info(format_args!($($t)*)) } }
/// Detail on stderr, shown with `-v`.
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log::debug(format_args!($($t)*)) } }
/// A warning on stderr, always shown.
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::warn(format_args!($($t)*)) } }
