//! The options of the other subcommands: the client, the looking and cleaning commands,
//! the operator's views and the generated docs.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use clap::error::ErrorKind;

use super::shared::{InstanceArgs, SelectArgs};
use crate::disk::names::InstanceName;
use crate::units;

/// Send requests to a serving primary and print the replies.
///
/// Each REQUEST argument is sent as one line (or, without arguments, each line of stdin);
/// each reply is printed on its own line. Requests: PING, ECHO <text>, REV <text>,
/// SHA256 <text>, STATS. Exit status 7 if any reply was "ERR ...".
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment, allow_negative_numbers = true, after_long_help = crate::exit::help_of("client"))]
pub struct ClientArgs {
    #[command(flatten)]
    pub instance: InstanceArgs,

    /// Connect to this Unix socket instead of RUNDIR/NAME.sock (not with --name or --runtime-dir)
    #[arg(long, value_name = "PATH", conflicts_with = "tcp")]
    pub socket: Option<PathBuf>,

    /// Connect over TCP instead of the Unix socket (not with --name or --runtime-dir)
    #[arg(long, value_name = "ADDR:PORT")]
    pub tcp: Option<String>,

    /// How long to wait for each reply, for the connection, and for an instance that is starting (not 0)
    #[arg(long, allow_hyphen_values = true, default_value = "10s", value_parser = units::parse_nonzero_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// The longest request line, as the server's --max-line: a longer one is refused, not sent
    #[arg(long, allow_hyphen_values = true, default_value = "64K", value_parser = units::parse_nonzero_bytes, value_name = "BYTES")]
    pub max_line: u64,

    /// Requests, one per argument (default: one per line of stdin)
    #[arg(value_name = "REQUEST", value_parser = RequestLine)]
    pub requests: Vec<OsString>,
}

/// A request argument of `osps client`: any bytes, sent as they are (the server answers
/// what it cannot use with `ERR`, as it does for a line of stdin), but no newline, which
/// would make it two requests. Refused here, so that nothing is sent when one is wrong.
#[derive(Clone, Copy, Debug)]
struct RequestLine;

impl clap::builder::TypedValueParser for RequestLine {
    type Value = OsString;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<OsString, clap::Error> {
        match crate::protocol::check_one_line(value.as_bytes()) {
            Ok(()) => Ok(value.to_owned()),
            Err(why) => {
                let arg = arg.map_or_else(|| "REQUEST".to_string(), ToString::to_string);
                Err(cmd.clone().error(
                    ErrorKind::ValueValidation,
                    format!("invalid value {value:?} for '{arg}': {why}"),
                ))
            }
        }
    }
}

/// Show instances (segment, lock, FIFOs, processes) as one JSON document on stdout.
///
/// Read-only: maps the segment read-only, never opens a FIFO, never takes the lock.
/// Exit status 0 when the document was written, 4 when --name names an instance that has
/// no object at all.
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment, after_long_help = crate::exit::help_of("inspect"))]
pub struct InspectArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// One line instead of pretty-printed JSON
    #[arg(long)]
    pub compact: bool,
}

/// Remove what crashed instances left behind; never touches a running one.
///
/// An instance is running while its primary holds the lock file; cleanup removes the
/// objects of the others (stale or partial instances), stopping an orphaned secondary
/// first. Objects that osps did not make (wrong type, owner or mode) are skipped.
///
/// Segments are per user, runtime directories are not: a crashed instance's segment with
/// nothing of it in this runtime directory may belong to an instance kept in another
/// runtime directory, so it is skipped with that reason unless --name names it.
///
/// An instance named with --name and left alone because something at its paths is not
/// osps's (a process that is not osps holds its lock or one of its objects, or an object
/// has the wrong type, owner or mode) is an error, exit status 1, with what to do. A
/// running instance is not (0: nothing to clean up). Without --name, an instance that is
/// not all osps's is skipped with the reason while the others are cleaned (0).
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment, after_long_help = crate::exit::help_of("cleanup"))]
pub struct CleanupArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// Say what would be removed, change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print the report as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// One line per instance of the current user, as a table (or JSON with --json).
///
/// Columns: NAME, STATUS (running, stale, partial, corrupt, inaccessible), MODE (rounds
/// or serve), PRIMARY (pid), SECONDARIES (live/total), ROUNDS or REQUESTS, RESTARTS, AGE
/// (since the segment was created), HEARTBEAT (age of the older side's last heartbeat).
/// Read-only, like osps inspect. Exit status 0 even when there is no instance.
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment, after_long_help = crate::exit::help_of("list"))]
pub struct ListArgs {
    /// Columns to show, comma-separated ("-o help" lists them) [default: all]
    #[arg(short, long, value_name = "COLS", value_delimiter = ',', value_parser = crate::views::render::table::ColumnNames, hide_possible_values = true)]
    pub output: Vec<String>,

    /// Print no heading line
    #[arg(short = 'n', long)]
    pub noheadings: bool,

    /// Print the rows as one JSON object on stdout (schema_version, instances[])
    #[arg(long)]
    pub json: bool,

    /// Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]
    #[arg(long, env = "OSPS_RUNTIME_DIR", value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
}

/// Describe one instance for people: processes, counters, objects, heartbeats, warnings.
///
/// Read-only, like osps inspect. Exit status 0 when the instance is running, 3 when it
/// is not (stale, partial or corrupt: see osps cleanup; or inaccessible: another user's
/// segment), 4 when it has no object at all.
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment, after_long_help = crate::exit::help_of("status"))]
pub struct StatusArgs {
    /// Instance name [default: $OSPS_NAME, else osps]
    #[arg(value_name = "NAME")]
    pub name: Option<InstanceName>,

    /// The same as NAME, spelled as the other commands take it
    #[arg(
        short = 'n',
        long = "name",
        id = "name_option",
        value_name = "NAME",
        conflicts_with = "name"
    )]
    pub name_option: Option<InstanceName>,

    /// Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]
    #[arg(long, env = "OSPS_RUNTIME_DIR", value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
}

/// Stop a running instance in order: SIGTERM to its primary, then wait.
///
/// The primary is found through the instance's lock (the kernel names the process that
/// holds it) and checked to be an osps primary of that instance before it is signalled.
/// It stops its secondaries first, reaps them and removes every object; stop waits for
/// that up to --timeout. Past it: exit status 1 naming the pid, or with --kill SIGKILL the
/// primary and its secondaries and remove what they left.
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment, allow_negative_numbers = true, after_long_help = crate::exit::help_of("stop"))]
pub struct StopArgs {
    /// Instance name [default: $OSPS_NAME, else osps]
    #[arg(value_name = "NAME", conflicts_with = "all")]
    pub name: Option<InstanceName>,

    /// The same as NAME, spelled as the other commands take it
    #[arg(short = 'n', long = "name", id = "name_option", value_name = "NAME", conflicts_with_all = ["name", "all"])]
    pub name_option: Option<InstanceName>,

    /// Stop every running instance of the current user (in this runtime directory)
    #[arg(long)]
    pub all: bool,

    /// How long to wait for the orderly stop (not 0)
    #[arg(long, allow_hyphen_values = true, default_value = "5s", value_parser = units::parse_nonzero_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// Past --timeout, SIGKILL the primary and its secondaries and clean up
    #[arg(long)]
    pub kill: bool,

    /// Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]
    #[arg(long, env = "OSPS_RUNTIME_DIR", value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
}

/// A live view of every instance, refreshed every --interval (q quits).
///
/// Shows status, rounds/s or requests/s (from the header's counters between two
/// refreshes), restarts, heartbeat age, and for a pool one character per secondary:
/// "_" idle, "W" working, "S" starting, "G" stopping, "." dead. Keys: q or Esc quit,
/// arrows or j/k select, Enter shows the status of the selection. Without a terminal use
/// --json: one JSON document at once, then one per interval (NDJSON), --iterations N
/// stops after N.
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment, allow_negative_numbers = true, after_long_help = crate::exit::help_of("top"))]
pub struct TopArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// Time between two refreshes
    #[arg(long, allow_hyphen_values = true, default_value = "1s", value_parser = units::parse_nonzero_duration, value_name = "DURATION")]
    pub interval: Duration,

    /// Print one compact JSON document per interval on stdout instead of drawing
    #[arg(long)]
    pub json: bool,

    /// Stop after N refreshes (default: until q, SIGINT or SIGTERM)
    #[arg(long, value_parser = units::parse_positive_count, value_name = "N")]
    pub iterations: Option<u64>,
}

/// Run a program and report what it left behind: segments, queues, FIFOs, zombies, processes.
///
/// Runs CMD and follows every process it starts (fork, threads, exec) with ptrace and a
/// seccomp filter, so the program runs at nearly full speed. The audit ends when CMD's
/// main process has ended and --grace has passed, or at --timeout. It reports the
/// process tree (who reaped whom, and when), every shared-memory segment (POSIX and
/// System V), semaphore (named POSIX, System V sets), message queue (POSIX, System V)
/// and FIFO made, and findings: segment-left, semaphore-left, queue-left, fifo-left,
/// zombie, left-running, parent-first, killed, broken-pipe. With -v it prints each
/// process and object as it comes and goes. It removes nothing unless --clean;
/// processes still running at the end are reported, then killed.
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment, after_long_help = crate::exit::help_of("audit"))]
pub struct AuditArgs {
    /// Print the report as one JSON document on stdout
    #[arg(long)]
    pub json: bool,

    /// A child not reaped within this time after it exited is a zombie finding
    #[arg(long, default_value = "100ms", value_parser = units::parse_duration, value_name = "DURATION")]
    pub zombie_threshold: Duration,

    /// How long to keep following after the main process ended
    #[arg(long, default_value = "200ms", value_parser = units::parse_duration, value_name = "DURATION")]
    pub grace: Duration,

    /// Stop following after this long, for programs that never end (not 0) [default: no limit]
    #[arg(long, value_parser = units::parse_nonzero_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,

    /// After the report, remove the segments, semaphores and FIFOs it reported as left
    #[arg(long)]
    pub clean: bool,

    /// The program to audit and its arguments (after --)
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<OsString>,
}

/// Print the completion script for a shell (the same as completions/ in the sources).
///
/// For example: osps completions bash > ~/.local/share/bash-completion/completions/osps
/// (that directory is read by the bash-completion package; without it, add
/// `source <(osps completions bash)` to ~/.bashrc)
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment, after_long_help = crate::exit::help_of("completions"))]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Print a man page in roff (the same as man/ in the sources).
///
/// For example: osps man | man -l -   or   osps man stop | man -l -
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment, after_long_help = crate::exit::help_of("man"))]
pub struct ManArgs {
    /// The subcommand whose page to print [default: the page of osps itself]
    #[arg(value_name = "SUBCOMMAND", value_parser = clap::builder::PossibleValuesParser::new(MAN_PAGES))]
    pub subcommand: Option<String>,
}

/// The subcommands that have a man page (`osps man SUBCOMMAND`); a test checks that this
/// is exactly the set that `osps generate` writes.
pub const MAN_PAGES: [&str; 12] = [
    "primary",
    "secondary",
    "inspect",
    "cleanup",
    "client",
    "list",
    "status",
    "stop",
    "top",
    "audit",
    "completions",
    "man",
];

/// Regenerate the man pages and shell completions (for maintainers).
#[derive(Debug, Args, Clone)]
pub struct GenerateArgs {
    /// Directory to write man/ and completions/ into
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out: PathBuf,
}

impl StatusArgs {
    /// The instance named by NAME or by --name, if either.
    pub fn given_name(&self) -> Option<&InstanceName> {
        self.name.as_ref().or(self.name_option.as_ref())
    }
}

impl StopArgs {
    /// The instance named by NAME or by --name, if either.
    pub fn given_name(&self) -> Option<&InstanceName> {
        self.name.as_ref().or(self.name_option.as_ref())
    }
}
