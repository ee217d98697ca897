//! The command line: every subcommand, flag and help text. The single source for
//! `--help`, the man pages and the shell completions (`osps generate`).

use std::ffi::OsString;
use std::io::Write;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};

use crate::disk::names::InstanceName;
use crate::exit::Exit;
use crate::log::{self, ColorWhen};
use crate::os::procfs::Invocation;

const ABOUT: &str = "Two processes sharing memory safely: a POSIX shared-memory segment, a FIFO pair, a supervised secondary";

const LONG_ABOUT: &str = "\
osps runs two cooperating servers that exchange data through a POSIX shared-memory \
segment and take turns through a pair of named pipes (FIFOs).

The primary ('osps primary') creates the segment and the FIFOs, starts 'osps secondary' by re-executing \
its own binary, runs rounds (data in the segment, a frame on a FIFO says \"your turn\"), \
supervises the secondary, and on stop makes the secondary exit first and reaps it, so no \
zombie is ever left; then it removes every object it made.

'osps inspect' shows instances as JSON for jq; 'osps cleanup' removes what a crash left.";

/// The environment variables that stand for options; an empty one counts as unset.
pub const ENV_VARS: [&str; 3] = ["OSPS_NAME", "OSPS_RUNTIME_DIR", "OSPS_COLOR"];

/// The whole command line: every subcommand.
pub type Cli = CliOf<Command>;

/// The global options and one subcommand of the set `C`: [`Cli`] has them all; [`parse_from`]
/// also builds parsers that know a single one.
#[derive(Debug, Parser)]
#[command(name = "osps", version, about = ABOUT, long_about = LONG_ABOUT, propagate_version = true)]
pub struct CliOf<C: Subcommand> {
    /// More detail on stderr (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings and errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// When to colour messages on stderr and the output of list and status (auto: on a terminal, unless NO_COLOR is set)
    #[arg(
        long,
        global = true,
        value_parser = ColorParser::new(),
        env = "OSPS_COLOR",
        default_value = "auto",
        value_name = "WHEN"
    )]
    pub color: ColorWhen,

    #[command(subcommand)]
    pub command: C,
}

impl<C: Subcommand> CliOf<C> {
    /// The same global options, with the subcommand turned into a [`Command`].
    fn into_cli(self, command: impl FnOnce(C) -> Command) -> Cli {
        Cli {
            verbose: self.verbose,
            quiet: self.quiet,
            color: self.color,
            command: command(self.command),
        }
    }
}

/// `osps primary` alone (see [`parse_from`]).
#[derive(Debug, Subcommand)]
pub enum OnlyPrimary {
    Primary(PrimaryArgs),
}

/// `osps secondary` alone (see [`parse_from`]).
#[derive(Debug, Subcommand)]
pub enum OnlySecondary {
    Secondary(SecondaryArgs),
}

/// The command line of this process, parsed and validated; on a usage error, `--help` or
/// `--version`, the process ends here (see [`clap_exit`]).
///
/// # Safety
///
/// It edits the environment (see [`forget_empty_env`]): call it before any other thread
/// exists.
pub unsafe fn parse_or_exit() -> Cli {
    // SAFETY: our caller promises that no other thread exists yet.
    unsafe { forget_empty_env() };
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = parse_from(args.clone()).unwrap_or_else(|e| clap_exit(e));
    if let Err(e) = cli.command.validate(&args) {
        clap_exit(e);
    }
    cli
}

/// An empty `OSPS_NAME`, `OSPS_RUNTIME_DIR` or `OSPS_COLOR` counts as unset (as an empty
/// `NO_COLOR` does), so `OSPS_NAME= osps primary` uses the default name rather than
/// refusing an empty one. clap treats a present variable as given, so drop the empty ones
/// before it looks.
///
/// # Safety
///
/// Call it before any other thread exists (`remove_var` races with a thread reading the
/// environment).
unsafe fn forget_empty_env() {
    for var in ENV_VARS {
        if std::env::var_os(var).is_some_and(|v| v.is_empty()) {
            // SAFETY: our caller promises that no other thread exists yet.
            unsafe { std::env::remove_var(var) };
        }
    }
}

/// Ends the process for what clap found: a usage error (exit status 2, clap prints it),
/// or `--help`/`--version`, written here so that a failed write is an error (exit status
/// 1, one line naming stdout) rather than silently lost; a closed pipe (`| head -1`) is
/// a quiet success.
fn clap_exit(err: clap::Error) -> ! {
    if !matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        err.exit();
    }
    let styled = err.render();
    let text = if help_in_color() {
        styled.ansi().to_string()
    } else {
        styled.to_string()
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => std::process::exit(Exit::Success.code()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            std::process::exit(Exit::Success.code())
        }
        Err(e) => {
            let what = match err.kind() {
                ErrorKind::DisplayVersion => "version",
                _ => "help",
            };
            log::set_role(what);
            log::error(&color_eyre::eyre::eyre!(
                "writing the {what} to stdout: {e}"
            ));
            std::process::exit(Exit::Failure.code())
        }
    }
}

/// Whether `--help` is styled: stdout is a terminal and neither `NO_COLOR` nor a
/// `never` colour choice (`--color never`, `--color=never`, `OSPS_COLOR=never`) says
/// otherwise. clap stopped before parsing `--color`, so the arguments are looked at as
/// they are.
fn help_in_color() -> bool {
    // args_os: an argument that is not UTF-8 must not panic here.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let never_arg = args.iter().any(|a| a == "--color=never")
        || args
            .windows(2)
            .any(|w| w[0] == "--color" && w[1] == "never");
    let never_env = std::env::var_os("OSPS_COLOR").is_some_and(|v| v == "never");
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    std::io::IsTerminal::is_terminal(&std::io::stdout()) && !never_arg && !never_env && !no_color
}

/// Parses a command line (`args`: the first one names the program).
///
/// clap's derive builds the parser of every subcommand, help texts included, before it
/// looks at the arguments: a quarter of a millisecond at each start here, paid twice by
/// `osps primary` (once more by the secondary it re-executes). So when the first argument
/// names `primary` or `secondary` (as the primary's own exec of `osps secondary ...`
/// always does), a parser that knows only that subcommand parses the line; it has the
/// same global options and the same subcommand definition, so it accepts, rejects and
/// explains exactly what the whole one does for that subcommand. Anything else (a global
/// option first, another subcommand, `--help`) goes to the whole parser.
fn parse_from(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Cli, clap::Error> {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    match args.get(1).and_then(|a| a.to_str()) {
        Some("primary") => Ok(CliOf::<OnlyPrimary>::try_parse_from(&args)?
            .into_cli(|OnlyPrimary::Primary(a)| Command::Primary(a))),
        Some("secondary") => Ok(CliOf::<OnlySecondary>::try_parse_from(&args)?
            .into_cli(|OnlySecondary::Secondary(a)| Command::Secondary(a))),
        _ => Cli::try_parse_from(&args),
    }
}

/// Parses `args` (the first one names the program, whatever it is) as [`parse_from`] would,
/// without looking at this process's environment; `None` when they are no valid osps
/// command line (then that process did not get past its own parsing either).
pub fn invocation_of(args: &[OsString]) -> Option<Invocation> {
    use clap::CommandFactory;
    use clap::parser::ValueSource;
    let parser = match args.get(1).and_then(|a| a.to_str()) {
        Some("primary") => CliOf::<OnlyPrimary>::command(),
        Some("secondary") => CliOf::<OnlySecondary>::command(),
        _ => Cli::command(),
    };
    // Our environment is not theirs: what their environment says is read apart.
    let no_env = |a: clap::Arg| a.env(None::<&'static str>);
    let parser = parser
        .mut_args(no_env)
        .mut_subcommands(|s| s.mut_args(no_env));
    let matches = parser.try_get_matches_from(args).ok()?;
    let (subcommand, sub) = matches.subcommand()?;
    let name = (sub.try_contains_id("name").unwrap_or(false)
        && sub.value_source("name") == Some(ValueSource::CommandLine))
    .then(|| sub.try_get_one::<InstanceName>("name").ok().flatten())
    .flatten()
    .map(ToString::to_string);
    let serve = sub
        .try_get_one::<bool>("serve")
        .ok()
        .flatten()
        .copied()
        .unwrap_or(false);
    Some(Invocation {
        subcommand: subcommand.to_string(),
        name,
        serve,
    })
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Primary(PrimaryArgs),
    // Started by the primary, never by hand: kept out of --help and the completions
    // (its man page stays, for whoever meets it in ps).
    #[command(hide = true)]
    Secondary(SecondaryArgs),
    Inspect(InspectArgs),
    Cleanup(CleanupArgs),
    Client(ClientArgs),
    #[command(visible_alias = "ls")]
    List(ListArgs),
    Status(StatusArgs),
    Stop(StopArgs),
    Top(TopArgs),
    Audit(AuditArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
    #[command(hide = true)]
    Generate(GenerateArgs),
}

impl Command {
    /// The role that names this process on every line of stderr (`osps[ROLE]: `).
    pub fn role(&self) -> &'static str {
        match self {
            Command::Primary(_) => "primary",
            Command::Secondary(_) => "secondary",
            Command::Inspect(_) => "inspect",
            Command::Cleanup(_) => "cleanup",
            Command::Client(_) => "client",
            Command::List(_) => "list",
            Command::Status(_) => "status",
            Command::Stop(_) => "stop",
            Command::Top(_) => "top",
            Command::Audit(_) => "audit",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
            Command::Generate(_) => "generate",
        }
    }

    /// Whether the command's output goes to stdout (then a closed stdout is an error at
    /// once, before anything is done: see [`crate::output::ensure_stdout_open`]).
    pub fn writes_stdout(&self) -> bool {
        match self {
            // A primary prints only its summary, and daemonisers (daemon(3),
            // start-stop-daemon) start it with stdout on /dev/null opened read-write, or
            // closed: only one asked for JSON is checked.
            Command::Primary(args) => args.json,
            Command::Secondary(_) | Command::Stop(_) | Command::Generate(_) => false,
            _ => true,
        }
    }

    /// Checks what clap cannot express: values that depend on one another. Only the
    /// misfits clap reports are returned here; the primary reports the others itself
    /// (see [`Misfit`]).
    ///
    /// `args` is the command line these were parsed from: whether an option was given on
    /// it, rather than by its environment variable, is not kept by the parse.
    pub fn validate(&self, args: &[OsString]) -> Result<(), clap::Error> {
        match self {
            Command::Primary(primary) => match primary.validate() {
                Err(Misfit::Usage(message)) => Err(usage_error("primary", message)),
                Err(Misfit::Size(_)) | Ok(()) => Ok(()),
            },
            Command::Client(client) => {
                let to = match (&client.socket, &client.tcp) {
                    (Some(_), _) => "--socket <PATH>",
                    (None, Some(_)) => "--tcp <ADDR:PORT>",
                    (None, None) => return Ok(()),
                };
                // An OSPS_NAME or OSPS_RUNTIME_DIR in the environment is no conflict: it
                // is for the commands that find an instance, and a --socket needs none.
                let given = given_on_command_line(args, &["name", "runtime_dir"]);
                let (option, does) = match given.first() {
                    Some(&"name") => (
                        "--name <NAME>",
                        "--name names the instance whose socket to find",
                    ),
                    Some(_) => (
                        "--runtime-dir <DIR>",
                        "--runtime-dir says where to look for the instance's socket",
                    ),
                    None => return Ok(()),
                };
                Err(usage_error(
                    "client",
                    format!(
                        "the argument '{option}' cannot be used with '{to}': {does}, and {} \
                         says where to connect; give one of the two",
                        to.split(' ').next().unwrap_or(to)
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Those of the options `ids` of the subcommand in `args` that `args` itself gives (not
/// the environment, not a default).
fn given_on_command_line(args: &[OsString], ids: &[&'static str]) -> Vec<&'static str> {
    use clap::CommandFactory;
    use clap::parser::ValueSource;
    let no_env = |a: clap::Arg| a.env(None::<&'static str>);
    let parser = Cli::command()
        .mut_args(no_env)
        .mut_subcommands(|s| s.mut_args(no_env));
    let Ok(matches) = parser.try_get_matches_from(args) else {
        return Vec::new();
    };
    let Some((_, sub)) = matches.subcommand() else {
        return Vec::new();
    };
    ids.iter()
        .copied()
        .filter(|id| {
            sub.try_contains_id(id).unwrap_or(false)
                && sub.value_source(id) == Some(ValueSource::CommandLine)
        })
        .collect()
}

/// A usage error about `osps SUBCOMMAND`, formatted by clap with that subcommand's usage.
fn usage_error(subcommand: &str, message: String) -> clap::Error {
    use clap::CommandFactory;
    let mut root = Cli::command();
    root.build();
    match root.find_subcommand_mut(subcommand) {
        Some(sub) => sub.error(clap::error::ErrorKind::ArgumentConflict, message),
        None => root.error(clap::error::ErrorKind::ArgumentConflict, message),
    }
}

mod commands;
mod primary;
mod shared;
#[cfg(test)]
mod tests;

pub use commands::*;
pub use primary::*;
pub use shared::*;
