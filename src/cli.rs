//! The command line: every subcommand, flag and help text. The single source for
//! `--help`, the man pages and the shell completions (`osps generate`).

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use crate::disk::names::InstanceName;
use crate::exit::Exit;
use crate::log::{self, ColorWhen};
use crate::pair::turn::SyncMode;
use crate::units;

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

/// The global options and one subcommand of the set `C`: [`Cli`] has them all; [`parse`]
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
        value_enum,
        env = "OSPS_COLOR",
        default_value_t = ColorWhen::Auto,
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

/// `osps primary` alone (see [`parse`]).
#[derive(Debug, Subcommand)]
pub enum OnlyPrimary {
    Primary(PrimaryArgs),
}

/// `osps secondary` alone (see [`parse`]).
#[derive(Debug, Subcommand)]
pub enum OnlySecondary {
    Secondary(SecondaryArgs),
}

/// Parses the command line of this process.
///
/// clap's derive builds the parser of every subcommand, help texts included, before it
/// looks at the arguments: a quarter of a millisecond at each start here, paid twice by
/// `osps primary` (once more by the secondary it re-executes). So when the first argument
/// names `primary` or `secondary` (as the primary's own exec of `osps secondary ...`
/// always does), a parser that knows only that subcommand parses the line; it has the
/// same global options and the same subcommand definition, so it accepts, rejects and
/// explains exactly what the whole one does for that subcommand. Anything else (a global
/// option first, another subcommand, `--help`) goes to the whole parser.
pub fn parse() -> Result<Cli, clap::Error> {
    parse_from(std::env::args_os())
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
    let cli = parse().unwrap_or_else(|e| clap_exit(e));
    if let Err(e) = cli.command.validate() {
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

/// [`parse`] of the given arguments (the first one names the program).
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

/// What an osps process was started to do, read back from its arguments (another
/// process's `/proc/PID/cmdline`) by the very parser this binary uses: every spelling clap
/// accepts (`-nNAME`, `-qn NAME`, `--name=NAME`, global options first) reads as it did
/// for that process, and nothing else does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The subcommand (`primary`, `secondary`, `cleanup`, ...).
    pub subcommand: String,
    /// The instance name the arguments give, if they give one (else that process's
    /// `OSPS_NAME`, or the default, decided: not ours to guess from our environment).
    pub name: Option<String>,
    /// `--serve` (a primary or secondary of the serving mode).
    pub serve: bool,
}

/// Parses `args` (the first one names the program, whatever it is) as [`parse`] would,
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

    /// Checks what clap cannot express: values that depend on one another.
    pub fn validate(&self) -> Result<(), clap::Error> {
        match self {
            Command::Primary(args) => args.validate(),
            _ => Ok(()),
        }
    }
}

/// Which instance, and where its objects live.
#[derive(Debug, Args, Clone)]
pub struct InstanceArgs {
    /// Instance name: 1 to 64 of A-Z a-z 0-9 _ - (not starting with -)
    #[arg(
        short,
        long,
        env = "OSPS_NAME",
        default_value = "osps",
        value_name = "NAME"
    )]
    pub name: InstanceName,

    /// Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]
    #[arg(long, env = "OSPS_RUNTIME_DIR", value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
}

/// Look at one instance or all of them.
#[derive(Debug, Args, Clone)]
pub struct SelectArgs {
    /// Only this instance (default: every instance of the current user)
    #[arg(short, long, value_name = "NAME")]
    pub name: Option<InstanceName>,

    /// Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]
    #[arg(long, env = "OSPS_RUNTIME_DIR", value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
}

/// Create the segment and FIFOs, start the secondary, run rounds, stop in order.
///
/// One round: the primary writes --payload bytes into the segment and gives the turn to
/// the secondary, which replaces them by their reverse and gives the turn back; the primary
/// checks every byte. With --rounds N it runs N rounds back to back and stops; without, it
/// runs a heartbeat round every --interval until SIGINT (Ctrl-C) or SIGTERM.
///
/// On stop the secondary exits first and the primary reaps it (no zombie), then removes
/// the FIFOs, the segment and the lock file. If the secondary dies or hangs it is
/// restarted, up to --max-restarts times a minute.
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment, allow_negative_numbers = true)]
pub struct PrimaryArgs {
    #[command(flatten)]
    pub instance: InstanceArgs,

    /// Segment size: a multiple of 8, at least one page, at most 1G (suffixes K, M, G)
    #[arg(long, default_value = "1M", value_parser = units::parse_segment_size, value_name = "BYTES")]
    pub size: u64,

    /// Bytes exchanged per round, at most the data area (size minus the 256-byte header)
    #[arg(long, default_value = "64", value_parser = units::parse_nonzero_bytes, value_name = "BYTES", conflicts_with = "serve")]
    pub payload: u64,

    /// Run N rounds back to back, then stop (default: run until SIGINT or SIGTERM)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: Option<u64>,

    /// Time between heartbeat rounds when running without --rounds (not 0)
    #[arg(long, default_value = "1s", value_parser = units::parse_nonzero_duration, value_name = "DURATION", conflicts_with = "serve")]
    pub interval: Duration,

    /// How long the secondary may take to start and say hello (not 0)
    #[arg(long, default_value = "5s", value_parser = units::parse_nonzero_duration, value_name = "DURATION")]
    pub start_timeout: Duration,

    /// How long a round may take before the secondary counts as hung (killed, restarted; not 0)
    #[arg(long, default_value = "2s", value_parser = units::parse_nonzero_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// Restarts of a dead or hung secondary allowed within a minute before giving up (0: never restart)
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_restarts: u32,

    /// Wait before the first restart; doubles with each restart in the last minute, capped at 5s
    #[arg(long, default_value = "100ms", value_parser = units::parse_duration, value_name = "DURATION")]
    pub restart_backoff: Duration,

    /// How the two sides wait for their turn
    #[arg(long, value_enum, default_value_t = SyncMode::Adaptive)]
    pub sync: SyncMode,

    /// In adaptive mode, the longest a wait polls the segment before sleeping on the FIFO (below --timeout); the budget shrinks when polling does not pay
    #[arg(long, default_value = "200us", value_parser = units::parse_duration, value_name = "DURATION")]
    pub spin: Duration,

    /// Print the final summary as one JSON object on stdout
    #[arg(long)]
    pub json: bool,

    /// Print every system-level step of both processes on stderr: aligned text, or NDJSON with =json
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "text", value_name = "FORMAT")]
    pub trace: Option<crate::trace::Format>,

    /// Wait this long between the secondary's exit and its reap, so ps shows it as a zombie (Z)
    #[arg(long, value_parser = units::parse_duration, value_name = "DURATION")]
    pub hold_zombie: Option<Duration>,

    /// Serve clients (see osps-client(1)) on RUNDIR/NAME.sock instead of running rounds
    #[arg(long, conflicts_with = "rounds")]
    pub serve: bool,

    /// With --serve, also accept clients on this TCP address (loopback only without --tcp-any)
    #[arg(
        long,
        value_name = "ADDR:PORT",
        requires = "serve",
        conflicts_with = "rounds"
    )]
    pub tcp: Option<String>,

    /// Allow --tcp to bind a non-loopback address
    #[arg(long, requires = "tcp", conflicts_with = "rounds")]
    pub tcp_any: bool,

    /// With --serve, how many secondaries share the work (each its own FIFO pair and slot)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64), value_name = "N", requires = "serve", conflicts_with = "rounds")]
    pub secondaries: u32,

    /// With --serve, the longest request line; longer ones get "ERR line too long"
    #[arg(long, default_value = "64K", value_parser = units::parse_nonzero_bytes, value_name = "BYTES", requires = "serve", conflicts_with = "rounds")]
    pub max_line: u64,

    /// With --serve, how many clients may be connected at once [default: 1024, or fewer if the descriptor limit allows fewer]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), requires = "serve", conflicts_with = "rounds")]
    pub max_clients: Option<u32>,

    /// With --serve, how many requests of one client may wait or be served at once; beyond, it is not read until its replies drain
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..), value_name = "N", requires = "serve", conflicts_with = "rounds")]
    pub max_inflight: u32,

    /// With --serve, how many requests may wait for a free secondary; beyond, "ERR busy"
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..), value_name = "N", requires = "serve", conflicts_with = "rounds")]
    pub queue: u32,
}

impl PrimaryArgs {
    /// Checks the values that only make sense together; a failure is a usage error (exit
    /// status 2) reported like clap's own, before anything is created.
    pub fn validate(&self) -> Result<(), clap::Error> {
        if self.spin >= self.timeout {
            return Err(primary_usage_error(format!(
                "--spin {:?} is not below --timeout {:?}: the waiting side would spin through \
                 the whole round and the secondary would count as hung; lower --spin or raise --timeout",
                self.spin, self.timeout
            )));
        }
        Ok(())
    }
}

/// A usage error about `osps primary`, formatted by clap with that subcommand's usage.
fn primary_usage_error(message: String) -> clap::Error {
    use clap::CommandFactory;
    let mut root = Cli::command();
    root.build();
    match root.find_subcommand_mut("primary") {
        Some(primary) => primary.error(clap::error::ErrorKind::ArgumentConflict, message),
        None => root.error(clap::error::ErrorKind::ArgumentConflict, message),
    }
}

/// The worker side; normally started by "osps primary", never by hand except to debug.
///
/// It attaches to the instance's segment, opens the FIFOs, says hello, then answers each
/// round until the primary says stop (or disappears: then it exits within a second).
/// Started wrongly (no segment, a bad header, a missing FIFO) it exits with an error.
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment)]
pub struct SecondaryArgs {
    #[command(flatten)]
    pub instance: InstanceArgs,

    /// How to wait for turns (must match the primary's)
    #[arg(long, value_enum, default_value_t = SyncMode::Adaptive)]
    pub sync: SyncMode,

    /// In adaptive mode, the longest a wait polls the segment before sleeping on the FIFO
    #[arg(long, default_value = "200us", value_parser = units::parse_duration, value_name = "DURATION")]
    pub spin: Duration,

    /// How long to wait for the primary's ready after saying hello (not 0)
    #[arg(long, default_value = "5s", value_parser = units::parse_nonzero_duration, value_name = "DURATION")]
    pub start_timeout: Duration,

    /// Which secondary of the pool this is (0 for the first; set by the primary)
    #[arg(long, default_value_t = 0, value_name = "I")]
    pub index: u32,

    /// Answer client requests (the primary's --serve mode) instead of reversing payloads
    #[arg(long)]
    pub serve: bool,
}

/// Send requests to a serving primary and print the replies.
///
/// Each REQUEST argument is sent as one line (or, without arguments, each line of stdin);
/// each reply is printed on its own line. Requests: PING, ECHO <text>, REV <text>,
/// SHA256 <text>, STATS. Exit status 1 if any reply was "ERR ...".
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment)]
pub struct ClientArgs {
    #[command(flatten)]
    pub instance: InstanceArgs,

    /// Connect to this Unix socket instead of RUNDIR/NAME.sock
    #[arg(long, value_name = "PATH", conflicts_with = "tcp")]
    pub socket: Option<PathBuf>,

    /// Connect over TCP instead of the Unix socket
    #[arg(long, value_name = "ADDR:PORT")]
    pub tcp: Option<String>,

    /// How long to wait for each reply, and for an instance that is starting (not 0)
    #[arg(long, default_value = "10s", value_parser = units::parse_nonzero_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// The longest request line, as the server's --max-line: a longer one is refused, not sent
    #[arg(long, default_value = "64K", value_parser = units::parse_nonzero_bytes, value_name = "BYTES")]
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
/// Exit status 0 when the document was written, 1 when --name names an instance that has
/// no object at all.
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment)]
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
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment)]
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
#[command(verbatim_doc_comment)]
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
/// is not (stale, partial or corrupt: see osps cleanup), 4 when it has no object at all.
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    /// Instance name [default: $OSPS_NAME, else osps]
    #[arg(value_name = "NAME")]
    pub name: Option<InstanceName>,

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
#[command(verbatim_doc_comment)]
pub struct StopArgs {
    /// Instance name [default: $OSPS_NAME, else osps]
    #[arg(value_name = "NAME", conflicts_with = "all")]
    pub name: Option<InstanceName>,

    /// Stop every running instance of the current user (in this runtime directory)
    #[arg(long)]
    pub all: bool,

    /// How long to wait for the orderly stop (not 0)
    #[arg(long, default_value = "5s", value_parser = units::parse_nonzero_duration, value_name = "DURATION")]
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
#[command(verbatim_doc_comment)]
pub struct TopArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// Time between two refreshes
    #[arg(long, default_value = "1s", value_parser = units::parse_nonzero_duration, value_name = "DURATION")]
    pub interval: Duration,

    /// Print one compact JSON document per interval on stdout instead of drawing
    #[arg(long)]
    pub json: bool,

    /// Stop after N refreshes (default: until q, SIGINT or SIGTERM)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    pub iterations: Option<u64>,
}

/// Print the completion script for a shell (the same as completions/ in the sources).
///
/// For example: osps completions bash > ~/.local/share/bash-completion/completions/osps
/// (that directory is read by the bash-completion package; without it, add
/// `source <(osps completions bash)` to ~/.bashrc)
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Print a man page in roff (the same as man/ in the sources).
///
/// For example: osps man | man -l -   or   osps man stop | man -l -
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment)]
pub struct ManArgs {
    /// The subcommand whose page to print [default: the page of osps itself]
    #[arg(value_name = "SUBCOMMAND", value_parser = clap::builder::PossibleValuesParser::new(MAN_PAGES))]
    pub subcommand: Option<String>,
}

/// The subcommands that have a man page (`osps man SUBCOMMAND`); a test checks that this
/// is exactly the set that `osps generate` writes.
pub const MAN_PAGES: [&str; 11] = [
    "primary",
    "secondary",
    "inspect",
    "cleanup",
    "client",
    "list",
    "status",
    "stop",
    "top",
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

/// The instance of `osps status [NAME]` and `osps stop [NAME]`: NAME, else `OSPS_NAME`,
/// else `osps` (as for `osps primary`). Not clap's `env`: a NAME that came from the
/// environment would conflict with `osps stop --all`.
pub fn name_or_default(given: Option<&InstanceName>) -> color_eyre::Result<InstanceName> {
    if let Some(name) = given {
        return Ok(name.clone());
    }
    let from_env = std::env::var("OSPS_NAME").ok().filter(|v| !v.is_empty());
    from_env
        .as_deref()
        .unwrap_or("osps")
        .parse()
        .map_err(|e: String| {
            crate::exit::coded(crate::exit::Exit::Usage, format!("OSPS_NAME: {e}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn single_subcommand_parsers_are_consistent() {
        CliOf::<OnlyPrimary>::command().debug_assert();
        CliOf::<OnlySecondary>::command().debug_assert();
    }

    /// `parse` takes `primary` and `secondary` command lines to the parsers that know only
    /// that subcommand: what they make of a line, help and errors included, must be what
    /// the whole parser makes of it.
    #[test]
    fn single_subcommand_parsers_agree_with_the_whole_one() {
        let lines = [
            "osps primary",
            "osps primary --rounds 3 --sync fifo --spin 1ms -q --color never --name a_1",
            "osps primary --serve --secondaries 2 --json -vv",
            "osps primary --name a/b",
            "osps primary --payload 0",
            "osps primary --bogus",
            "osps primary --nme x",
            "osps primary --quiet --verbose",
            "osps primary extra",
            "osps primary --help",
            "osps primary -h",
            "osps primary --version",
            "osps secondary --name n --runtime-dir /tmp/r --sync adaptive --spin 200000ns \
             --start-timeout 5s --index 1 --serve",
            "osps secondary --sync bogus",
            "osps secondary --help",
        ];
        for line in lines {
            let args: Vec<std::ffi::OsString> = line.split_whitespace().map(Into::into).collect();
            let ours = parse_from(args.clone());
            let whole = Cli::try_parse_from(&args);
            match (ours, whole) {
                (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{line}"),
                (Err(a), Err(b)) => {
                    assert_eq!(a.kind(), b.kind(), "{line}");
                    assert_eq!(a.render().to_string(), b.render().to_string(), "{line}");
                }
                (a, b) => panic!("{line}: {a:?} but the whole parser: {b:?}"),
            }
        }
    }

    #[test]
    fn defaults_match_the_docs() {
        let cli = Cli::try_parse_from(["osps", "primary"]).unwrap();
        let Command::Primary(p) = cli.command else {
            panic!("not primary")
        };
        assert_eq!(p.size, 1 << 20);
        assert_eq!(p.payload, 64);
        assert_eq!(p.interval, Duration::from_secs(1));
        assert_eq!(p.timeout, Duration::from_secs(2));
        assert_eq!(p.start_timeout, Duration::from_secs(5));
        assert_eq!(p.max_restarts, 5);
        assert_eq!(p.sync, SyncMode::Adaptive);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            vec!["osps", "primary", "--name", "a/b"],
            vec!["osps", "primary", "--size", "100"],
            vec!["osps", "primary", "--payload", "0"],
            vec!["osps", "primary", "--interval", "soon"],
        ] {
            let err = Cli::try_parse_from(&args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn the_flags_parse() {
        use clap::Parser;
        let parse = |args: &[&str]| match Cli::try_parse_from(args) {
            Ok(Cli {
                command: Command::Primary(p),
                ..
            }) => Ok((p.trace, p.hold_zombie)),
            Ok(_) => panic!("not primary"),
            Err(e) => Err(e.exit_code()),
        };
        assert_eq!(parse(&["osps", "primary"]), Ok((None, None)));
        assert_eq!(
            parse(&["osps", "primary", "--trace"]),
            Ok((Some(crate::trace::Format::Text), None))
        );
        assert_eq!(
            parse(&["osps", "primary", "--trace=json", "--hold-zombie", "2s"]),
            Ok((
                Some(crate::trace::Format::Json),
                Some(std::time::Duration::from_secs(2))
            ))
        );
        assert_eq!(parse(&["osps", "primary", "--trace=xml"]), Err(2));
        assert_eq!(parse(&["osps", "primary", "--hold-zombie", "soon"]), Err(2));
    }
}
