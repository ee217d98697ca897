//! How osps talks on stderr: one format for progress, warnings and errors, a global
//! verbosity set once from `-v`/`-q`, and colour as `--color` says (by default only on a
//! terminal without `NO_COLOR`).
//!
//! The primary and its secondaries share one stderr. Every line, and every error with its
//! causes, is therefore built whole in memory and handed to the kernel in a single
//! `write(2)` on descriptor 2: the writes of two processes to one pipe or terminal never
//! interleave mid-line (a write of less than `PIPE_BUF` bytes to a pipe is atomic; going
//! through a buffered `Stderr` could split a line into several writes). Every line starts
//! with `osps[ROLE]: `, errors included, so the reader always knows which process spoke.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicI8, AtomicU8, Ordering};

static LEVEL: AtomicI8 = AtomicI8::new(0);

/// Sets the verbosity: -1 quiet (errors only), 0 normal, 1+ more detail.
pub fn set_level(level: i8) {
    LEVEL.store(level, Ordering::Relaxed);
}

pub fn level() -> i8 {
    LEVEL.load(Ordering::Relaxed)
}

/// When stderr carries colour (`--color`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set to a non-empty value
    #[default]
    Auto,
    /// Always, even into a pipe or a file, whatever `NO_COLOR` says
    Always,
    /// Never
    Never,
}

impl ColorWhen {
    /// The spelling on the command line (and in `OSPS_COLOR`).
    pub fn as_str(self) -> &'static str {
        match self {
            ColorWhen::Auto => "auto",
            ColorWhen::Always => "always",
            ColorWhen::Never => "never",
        }
    }
}

static COLOR: AtomicU8 = AtomicU8::new(ColorWhen::Auto as u8);

/// Sets the colour choice, once, from `--color`.
pub fn set_color(when: ColorWhen) {
    COLOR.store(when as u8, Ordering::Relaxed);
}

/// Whether stderr carries colour: `--color always`, or `--color auto` (the default) on a
/// terminal with `NO_COLOR` unset or empty.
pub fn use_color() -> bool {
    color_for(std::io::stderr().is_terminal())
}

/// Whether what a command prints on stdout for people (the table of `osps list`, the
/// description of `osps status`) carries colour: the same choice as for stderr, with
/// stdout's terminal test.
pub fn use_color_on_stdout() -> bool {
    color_for(std::io::stdout().is_terminal())
}

/// `--color always`, never, or (auto) on a terminal with `NO_COLOR` unset or empty.
fn color_for(terminal: bool) -> bool {
    let when = COLOR.load(Ordering::Relaxed);
    if when == ColorWhen::Always as u8 {
        true
    } else if when == ColorWhen::Never as u8 {
        false
    } else {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && terminal
    }
}

static ROLE: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Names this process in every line ("primary", "secondary", ...). The first call wins.
pub fn set_role(role: &'static str) {
    let _ = ROLE.set(role);
}

fn role() -> &'static str {
    ROLE.get().copied().unwrap_or("osps")
}

/// Writes `text` to descriptor 2 in one `write(2)` (more only if the kernel takes part of
/// it, which a pipe does not do for a line below `PIPE_BUF`). A failed write to stderr
/// has nowhere to be reported: it is dropped.
fn write_stderr(text: &str) {
    let mut bytes = text.as_bytes();
    while !bytes.is_empty() {
        match nix::unistd::write(std::io::stderr(), bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n.min(bytes.len())..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// One progress or warning line, newline included: `osps[ROLE]: TAG MESSAGE`.
fn format_line(
    who: &str,
    tag: &str,
    color: Option<&str>,
    message: std::fmt::Arguments<'_>,
) -> String {
    match color {
        Some(color) if !tag.is_empty() => {
            format!("osps[{who}]: \x1b[{color}m{tag}\x1b[0m{message}\n")
        }
        _ => format!("osps[{who}]: {tag}{message}\n"),
    }
}

fn emit(min_level: i8, tag: &str, color: &str, message: std::fmt::Arguments<'_>) {
    if level() < min_level {
        return;
    }
    let color = (use_color() && !color.is_empty()).then_some(color);
    write_stderr(&format_line(role(), tag, color, message));
}

/// A failure with its causes: `osps[ROLE]: error: TOP`, then one `  caused by: ` line per
/// cause, all in one string (so in one write).
fn format_error(who: &str, report: &color_eyre::Report, color: bool) -> String {
    let (on, off) = if color {
        ("\x1b[31m", "\x1b[0m")
    } else {
        ("", "")
    };
    let mut chain = report.chain();
    let mut text = match chain.next() {
        Some(top) => format!("osps[{who}]: {on}error:{off} {top}\n"),
        None => format!("osps[{who}]: {on}error:{off} (no message)\n"),
    };
    for cause in chain {
        text.push_str(&format!("  caused by: {cause}\n"));
    }
    text
}

/// Prints a failure once, in one format: what failed, then each cause on its own line.
pub fn error(report: &color_eyre::Report) {
    let mut text = format_error(role(), report, use_color());
    if std::env::var_os("RUST_LIB_BACKTRACE").is_some_and(|v| v == "1") {
        text.push_str(&format!("{report:?}\n"));
    }
    write_stderr(&text);
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

/// color-eyre prints panics and, with `RUST_LIB_BACKTRACE=1`, the report of an error with
/// its backtrace; no location noise for users, and colour only on a terminal without
/// NO_COLOR. Without that variable an error report captures no backtrace at all (they are
/// for users, and [`error`] prints only the cause chain): `RUST_BACKTRACE` alone keeps
/// meaning panics only, without our setting a variable in a process that has threads.
pub fn install_error_reporting() {
    let theme = if use_color() {
        color_eyre::config::Theme::dark()
    } else {
        color_eyre::config::Theme::new()
    };
    let (panic_hook, eyre_hook) = color_eyre::config::HookBuilder::default()
        .theme(theme)
        .display_env_section(false)
        .display_location_section(false)
        .into_hooks();
    panic_hook.install();
    let _ = if std::env::var_os("RUST_LIB_BACKTRACE").is_some_and(|v| v == "1") {
        eyre_hook.install()
    } else {
        color_eyre::eyre::set_hook(Box::new(|_| Box::new(Chain)))
    };
}

/// The handler of an error report when no backtrace is asked for: it captures nothing,
/// and its `{:?}` is the cause chain, as [`error`] prints it.
struct Chain;

impl color_eyre::eyre::EyreHandler for Chain {
    fn debug(
        &self,
        error: &(dyn std::error::Error + 'static),
        f: &mut std::fmt::Formatter<'_>,
    ) -> std::fmt::Result {
        write!(f, "{error}")?;
        let mut source = error.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use color_eyre::eyre::{WrapErr, eyre};

    #[test]
    fn a_line_is_complete_and_names_its_role() {
        let line = format_line("secondary", "warning: ", None, format_args!("slow {}", 3));
        assert_eq!(line, "osps[secondary]: warning: slow 3\n");
        let colored = format_line("primary", "warning: ", Some("33"), format_args!("x"));
        assert_eq!(colored, "osps[primary]: \x1b[33mwarning: \x1b[0mx\n");
        let plain = format_line("primary", "", Some("33"), format_args!("started"));
        assert_eq!(plain, "osps[primary]: started\n");
    }

    #[test]
    fn an_error_is_one_string_with_its_causes() {
        let report = Err::<(), _>(eyre!("ENOSPC"))
            .wrap_err("writing the header")
            .wrap_err("creating segment /osps.1.x")
            .unwrap_err();
        let text = format_error("primary", &report, false);
        assert_eq!(
            text,
            "osps[primary]: error: creating segment /osps.1.x\n  caused by: writing the header\n  caused by: ENOSPC\n"
        );
        let red = format_error("cleanup", &report, true);
        assert!(
            red.starts_with("osps[cleanup]: \x1b[31merror:\x1b[0m creating"),
            "{red}"
        );
        assert!(red.ends_with('\n') && red.matches('\n').count() == 3);
    }

    #[test]
    fn color_choice_overrides_the_terminal_test() {
        set_color(ColorWhen::Always);
        assert!(use_color());
        set_color(ColorWhen::Never);
        assert!(!use_color());
        set_color(ColorWhen::Auto);
    }
}
