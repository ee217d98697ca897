//! Exit codes: one small enum, one conversion, documented in the man pages.
//!
//! One convention for every command: a code means the same thing wherever it is used, and
//! each command uses only some of them ([`Exit::commands`]). 0, 1 and 2 are every
//! command's; 3 and 4 are those of `systemctl status` (not running, no such unit), and "no
//! such instance" is 4 in every command that names one; the primary's verdicts on a run
//! and the client's two ways to fail follow. The man pages and the README's table are
//! written from [`Exit::ALL`], so they cannot disagree with the code.
//!
//! A failure that must end with a specific code carries a [`Coded`] marker in its
//! error chain; `main` looks for it and defaults to [`Exit::Failure`] otherwise.

use std::fmt;

/// Every status `osps` can exit with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked (also: the primary was stopped by SIGINT or SIGTERM in order).
    Success,
    /// A runtime failure: a syscall failed, an object was refused, the peer misbehaved.
    Failure,
    /// The command line was wrong (clap's usage errors use this code too).
    Usage,
    /// `osps status`: the instance exists but is not running (the code `systemctl status`
    /// uses for an inactive unit).
    NotRunning,
    /// No object of the named instance exists (`systemctl`'s code for a unit that does
    /// not exist): `inspect --name`, `status`, `stop`, `cleanup --name`, `client --name`.
    NoSuchInstance,
    /// At least one reply did not match its request: the shared data was corrupted.
    Corruption,
    /// The secondary kept dying or hanging and the primary gave up restarting it.
    SecondaryFailed,
    /// `osps client`: the server answered at least one request with `ERR`.
    ErrReply,
    /// `osps client`: the server could not be reached, closed the connection, or did not
    /// reply within `--timeout`.
    NoConnection,
    /// `osps audit`: the program exists but could not be executed (the shell's 126).
    NotExecutable,
    /// `osps audit`: the program was not found (the shell's 127).
    NotFound,
    /// `osps audit` stopped by SIGHUP (128 + 1, as a shell reports it).
    HungUp,
    /// `osps audit` stopped by SIGINT (128 + 2).
    Interrupted,
    /// `osps audit` stopped by SIGQUIT (128 + 3).
    Quit,
    /// `osps audit` stopped by SIGTERM (128 + 15).
    Terminated,
}

/// Every command, for the codes every command uses.
const EVERY: &[&str] = &[];

impl Exit {
    /// Every code, in numeric order.
    pub const ALL: [Exit; 15] = [
        Exit::Success,
        Exit::Failure,
        Exit::Usage,
        Exit::NotRunning,
        Exit::NoSuchInstance,
        Exit::Corruption,
        Exit::SecondaryFailed,
        Exit::ErrReply,
        Exit::NoConnection,
        Exit::NotExecutable,
        Exit::NotFound,
        Exit::HungUp,
        Exit::Interrupted,
        Exit::Quit,
        Exit::Terminated,
    ];

    /// The numeric status seen by the shell.
    pub fn code(self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::NotRunning => 3,
            Exit::NoSuchInstance => 4,
            Exit::Corruption => 5,
            Exit::SecondaryFailed => 6,
            Exit::ErrReply => 7,
            Exit::NoConnection => 8,
            Exit::NotExecutable => 126,
            Exit::NotFound => 127,
            Exit::HungUp => 129,
            Exit::Interrupted => 130,
            Exit::Quit => 131,
            Exit::Terminated => 143,
        }
    }

    /// What the code means, in one sentence for the README's table and the man pages.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => {
                "success (for the primary, also an orderly stop on a signal; for the audit, \
                 no finding)"
            }
            Exit::Failure => {
                "a runtime failure: a system call failed, an object was refused, the peer \
                 misbehaved, stdout is closed or full (for the audit, also: at least one \
                 finding)"
            }
            Exit::Usage => {
                "usage error: a bad option or value, or values that cannot work together, \
                 reported before anything is touched"
            }
            Exit::NotRunning => {
                "the instance exists but is not running: stale, partial, corrupt or inaccessible \
                 (`systemctl status` of an inactive unit)"
            }
            Exit::NoSuchInstance => {
                "there is no instance of that name: no object of it exists (`systemctl status` \
                 of a unit that does not exist)"
            }
            Exit::Corruption => "at least one reply did not match its request (corrupted data)",
            Exit::SecondaryFailed => {
                "the secondary kept dying or hanging and the primary gave up, or rounds were lost"
            }
            Exit::ErrReply => "the server answered at least one request with `ERR`",
            Exit::NoConnection => {
                "the server could not be reached, closed the connection, or did not reply \
                 within `--timeout`"
            }
            Exit::NotExecutable => "the program to audit exists but cannot be executed",
            Exit::NotFound => "the program to audit was not found",
            Exit::HungUp => "the audit was stopped by SIGHUP (after its report)",
            Exit::Interrupted => "the audit was interrupted by SIGINT (after its report)",
            Exit::Quit => "the audit was stopped by SIGQUIT (after its report)",
            Exit::Terminated => "the audit was stopped by SIGTERM (after its report)",
        }
    }

    /// The subcommands that can exit with this code; empty: every one.
    pub fn commands(self) -> &'static [&'static str] {
        match self {
            Exit::Success | Exit::Failure | Exit::Usage => EVERY,
            Exit::NotRunning => &["status"],
            Exit::NoSuchInstance => &["inspect", "status", "stop", "cleanup", "client"],
            Exit::Corruption | Exit::SecondaryFailed => &["primary"],
            Exit::ErrReply | Exit::NoConnection => &["client"],
            Exit::NotExecutable
            | Exit::NotFound
            | Exit::HungUp
            | Exit::Interrupted
            | Exit::Quit
            | Exit::Terminated => &["audit"],
        }
    }

    /// Whether `subcommand` can exit with this code.
    pub fn used_by(self, subcommand: &str) -> bool {
        let commands = self.commands();
        commands.is_empty() || commands.contains(&subcommand)
    }

    /// Who uses the code, as the README's table says it.
    #[cfg(test)]
    fn users(self) -> String {
        match self.commands() {
            [] => "every command".to_string(),
            commands => commands
                .iter()
                .map(|c| {
                    if self == Exit::NoSuchInstance && ["inspect", "cleanup", "client"].contains(c)
                    {
                        format!("`{c} --name`")
                    } else {
                        format!("`{c}`")
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// The width [`help_of`] wraps to, and the indent of a meaning's continuation lines.
const HELP_WIDTH: usize = 80;
const HELP_INDENT: usize = 7;

/// The end of `osps SUBCOMMAND --help`: the codes that subcommand can exit with, one a
/// line with what it means, so `$?` is explained where a student looks first.
pub fn help_of(subcommand: &str) -> String {
    let mut help = String::from("Exit status:\n");
    for exit in Exit::ALL.into_iter().filter(|e| e.used_by(subcommand)) {
        // Wrapped here with a hanging indent: clap wraps only lines wider than the
        // terminal, and would start their continuations at the margin.
        let mut line = format!("  {:<3}  ", exit.code());
        for word in exit.meaning().split(' ') {
            if line.len() + word.len() > HELP_WIDTH && !line.trim().is_empty() {
                help.push_str(line.trim_end());
                help.push('\n');
                line = " ".repeat(HELP_INDENT);
            }
            line.push_str(word);
            line.push(' ');
        }
        help.push_str(line.trim_end());
        help.push('\n');
    }
    help.push_str(&format!(
        "\nSee osps-{subcommand}(1) for more (osps man {subcommand})."
    ));
    help
}

/// Per subcommand of `subcommands`, the codes it can exit with, in Markdown, as the
/// README has it.
#[cfg(test)]
pub fn markdown_by_command(subcommands: &[&str]) -> String {
    let mut table = String::from("| command | exit codes |\n|---|---|\n");
    for &sub in subcommands {
        let codes: Vec<String> = Exit::ALL
            .into_iter()
            .filter(|e| e.used_by(sub))
            .map(|e| e.code().to_string())
            .collect();
        table.push_str(&format!("| `{sub}` | {} |\n", codes.join(", ")));
    }
    table
}

/// The table of every code, in Markdown, as the README's "Exit status" section has it.
#[cfg(test)]
pub fn markdown_table() -> String {
    let mut table = String::from("| code | meaning | used by |\n|---:|---|---|\n");
    for exit in Exit::ALL {
        table.push_str(&format!(
            "| {} | {} | {} |\n",
            exit.code(),
            exit.meaning(),
            exit.users()
        ));
    }
    table
}

/// An error marker that selects the exit status; wrap it into a report with
/// `Err(Coded(Exit::X).into()).wrap_err("what happened")` or [`coded`].
#[derive(Debug)]
pub struct Coded(pub Exit, pub String);

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Coded {}

/// Builds a report whose exit status is `exit`.
pub fn coded(exit: Exit, message: impl Into<String>) -> color_eyre::Report {
    color_eyre::Report::new(Coded(exit, message.into()))
}

/// The exit status a report asks for: the first [`Coded`] in its chain, else failure.
pub fn of_report(report: &color_eyre::Report) -> Exit {
    report
        .chain()
        .find_map(|e| e.downcast_ref::<Coded>())
        .map_or(Exit::Failure, |c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use color_eyre::eyre::WrapErr;

    #[test]
    fn codes_are_stable() {
        let all = [
            (Exit::Success, 0),
            (Exit::Failure, 1),
            (Exit::Usage, 2),
            (Exit::NotRunning, 3),
            (Exit::NoSuchInstance, 4),
            (Exit::Corruption, 5),
            (Exit::SecondaryFailed, 6),
            (Exit::ErrReply, 7),
            (Exit::NoConnection, 8),
            (Exit::NotExecutable, 126),
            (Exit::NotFound, 127),
            (Exit::HungUp, 129),
            (Exit::Interrupted, 130),
            (Exit::Quit, 131),
            (Exit::Terminated, 143),
        ];
        for (exit, code) in all {
            assert_eq!(exit.code(), code);
        }
        assert_eq!(
            Exit::ALL.map(Exit::code),
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 126, 127, 129, 130, 131, 143]
        );
    }

    #[test]
    fn a_coded_marker_survives_context() {
        let report: color_eyre::Result<()> =
            Err(coded(Exit::Corruption, "2 replies differ")).wrap_err("running rounds");
        assert_eq!(of_report(&report.unwrap_err()), Exit::Corruption);
        let plain = color_eyre::eyre::eyre!("plain");
        assert_eq!(of_report(&plain), Exit::Failure);
    }
}
