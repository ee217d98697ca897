//! Exit codes: one small enum, one conversion, documented in the man pages.
//!
//! A failure that must end with a specific code carries a [`Coded`] marker in its
//! error chain; `main` looks for it and defaults to [`Exit::Failure`] otherwise.

use std::fmt;

/// Every status `osps` can exit with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked (also: the primary was stopped by SIGINT or SIGTERM in order).
    Success,
    /// A runtime failure: a syscall failed, an object was refused, the peer misbehaved,
    /// or `inspect --name` found no object of that instance.
    Failure,
    /// The command line was wrong (clap's usage errors use this code too).
    Usage,
    /// At least one reply did not match its request: the shared data was corrupted.
    Corruption,
    /// The secondary kept dying or hanging and the primary gave up restarting it.
    SecondaryFailed,
    /// `osps status`: the instance exists but is not running (the code `systemctl status`
    /// uses for an inactive unit).
    NotRunning,
    /// `osps status`, `osps stop`: no object of that instance exists (`systemctl`'s code
    /// for a unit that does not exist).
    NoSuchInstance,
    /// `osps audit`: the program exists but could not be executed (the shell's 126).
    NotExecutable,
    /// `osps audit`: the program was not found (the shell's 127).
    NotFound,
    /// `osps audit` stopped by SIGINT (128 + 2, as a shell reports it).
    Interrupted,
    /// `osps audit` stopped by SIGTERM (128 + 15).
    Terminated,
}

impl Exit {
    /// The numeric status seen by the shell.
    pub fn code(self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::Corruption => 3,
            Exit::SecondaryFailed => 4,
            Exit::NotRunning => 3,
            Exit::NoSuchInstance => 4,
            Exit::NotExecutable => 126,
            Exit::NotFound => 127,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
        }
    }
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
            (Exit::Corruption, 3),
            (Exit::SecondaryFailed, 4),
            (Exit::NotRunning, 3),
            (Exit::NoSuchInstance, 4),
            (Exit::NotExecutable, 126),
            (Exit::NotFound, 127),
            (Exit::Interrupted, 130),
            (Exit::Terminated, 143),
        ];
        for (exit, code) in all {
            assert_eq!(exit.code(), code);
        }
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
