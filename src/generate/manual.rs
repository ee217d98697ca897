//! The hand-written parts of the man pages: what clap cannot know from `cli.rs`, such as
//! the paths, the environment, the exit codes, the JSON keys and worked examples.
//!
//! `generate.rs` wraps these around the sections clap_mangen renders from the clap
//! definitions, so options are documented once (in `cli.rs`) and the prose lives here.
//! The texts use one piece of markup: `backticks` set a span in bold. Keep them ASCII:
//! groff reads its input as Latin-1 unless preprocessed.

mod audit;
mod views;

use Block::{Code, P, Sub, Tag};

/// A piece of a man page section.
#[derive(Clone, Copy, Debug)]
pub enum Block {
    /// A paragraph.
    P(&'static str),
    /// A tagged paragraph: the tag on its own line, then the text indented under it.
    Tag(&'static str, &'static str),
    /// Literal lines (commands, output), indented and not filled; no markup.
    Code(&'static str),
    /// A subsection heading.
    Sub(&'static str),
}

/// One top-level section (`.SH`).
#[derive(Debug)]
pub struct Section {
    pub title: &'static str,
    pub blocks: Vec<Block>,
}

/// Everything hand-written for one page.
#[derive(Debug)]
pub struct Page {
    /// Appended to the DESCRIPTION that clap renders from the doc comment.
    pub description: Vec<Block>,
    /// Sections after OPTIONS, in order, before SEE ALSO.
    pub sections: Vec<Section>,
    /// References beyond the osps pages and shm_overview(7), fifo(7), signal(7).
    pub see_also: &'static [&'static str],
}

/// References every page shares.
pub const SEE_ALSO_COMMON: &[&str] = &["shm_overview(7)", "fifo(7)", "signal(7)"];

/// The page of `osps` (`None`) or of one subcommand; `None` for a subcommand this
/// module does not know yet (the generator then uses [`fallback`]).
pub fn page(subcommand: Option<&str>) -> Option<Page> {
    Some(match subcommand {
        None => root(),
        Some("primary") => primary(),
        Some("secondary") => secondary(),
        Some("inspect") => inspect(),
        Some("cleanup") => cleanup(),
        Some("client") => client(),
        Some("list") => views::list(),
        Some("status") => views::status(),
        Some("stop") => views::stop(),
        Some("top") => views::top(),
        Some("audit") => audit::audit(),
        Some("completions") => views::completions(),
        Some("man") => views::man(),
        Some(_) => return None,
    })
}

/// The shared sections, for a subcommand added to `cli.rs` before its text was written.
pub fn fallback() -> Page {
    Page {
        description: vec![],
        sections: vec![
            exit_status(EXIT_GENERIC),
            environment(Env::Instance),
            files(false),
        ],
        see_also: &[],
    }
}

fn section(title: &'static str, blocks: Vec<Block>) -> Section {
    Section { title, blocks }
}

// ---------------------------------------------------------------------------------------
// Shared sections
// ---------------------------------------------------------------------------------------

/// Which variables a page reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Env {
    /// primary, secondary, client: `--name` falls back to OSPS_NAME.
    Instance,
    /// inspect, cleanup: without `--name` they look at every instance.
    Select,
    /// osps(1): all of them.
    All,
}

fn environment(which: Env) -> Section {
    let mut blocks = vec![match which {
        Env::Select => Tag(
            "`OSPS_NAME`",
            "Not read by this command: without `--name` it looks at every instance of the \
             user. (`osps primary`, `osps secondary` and `osps client` take their default \
             instance name from it.)",
        ),
        Env::Instance | Env::All => Tag(
            "`OSPS_NAME`",
            "The instance name when `--name` is not given (default `osps`). Read by \
             `osps primary`, `osps secondary` and `osps client`, and by `osps status` and \
             `osps stop` without NAME; `osps inspect` and `osps cleanup` look at every \
             instance unless given `--name`.",
        ),
    }];
    blocks.extend([
        Tag(
            "`OSPS_RUNTIME_DIR`",
            "The runtime directory (RUNDIR, see FILES) when `--runtime-dir` is not given.",
        ),
        Tag(
            "`XDG_RUNTIME_DIR`",
            "When neither `--runtime-dir` nor `OSPS_RUNTIME_DIR` is given, RUNDIR is \
             `$XDG_RUNTIME_DIR/osps` if this variable holds an absolute path to a directory \
             owned by the user with no access for group or others (as systemd and \
             pam_systemd make it); otherwise RUNDIR is `/tmp/osps-UID`.",
        ),
        Tag(
            "`OSPS_COLOR`",
            "`auto`, `always` or `never`: the colour choice when `--color` is not given. The \
             primary passes its choice to its secondaries this way.",
        ),
        Tag(
            "`NO_COLOR`",
            "When set to a non-empty value and `--color` is `auto` (the default), messages on \
             stderr carry no colour. Without it, colour is used only when stderr is a \
             terminal. An empty `OSPS_NAME`, `OSPS_RUNTIME_DIR` or `OSPS_COLOR` counts as \
             unset, as an empty `NO_COLOR` does.",
        ),
        Tag(
            "`RUST_LIB_BACKTRACE`",
            "Set to `1` to print a backtrace after each error report (for bug reports). \
             `RUST_BACKTRACE` alone affects only panics.",
        ),
    ]);
    if which == Env::All {
        blocks.push(Tag(
            "`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`",
            "Read by `osps primary` to talk to systemd; see osps-primary(1).",
        ));
    }
    section("ENVIRONMENT", blocks)
}

fn files(socket: bool) -> Section {
    let mut blocks = vec![
        P(
            "For instance NAME of the user whose numeric id is UID. These paths are a stable \
           contract that scripts may rely on. Every object is created by the primary with \
           mode 0600 (the directory 0700) whatever the umask, exclusively (`O_EXCL`), never \
           through a symbolic link, and checked with fstat(2) after opening: type, owner and \
           mode. An object at one of these paths that osps did not make is refused, never \
           used or removed.",
        ),
        Tag(
            "`/dev/shm/osps.UID.NAME`",
            "The shared-memory segment: the POSIX shared-memory object `/osps.UID.NAME` \
             (shm_open(3)), which Linux shows as a file in the tmpfs mounted on `/dev/shm`. \
             It starts with a header of 256 bytes (magic `OSPSSEG`, layout version 1, sizes, \
             both pids, both states and heartbeats, the turn counters and round counters, \
             the restart count), or 256 + 128 x (N - 1) bytes for a serving pool of N \
             secondaries (one more 128-byte entry per extra secondary; the header's \
             `header_len` says which); the rest is the data area. ipcs(1) does not list it: \
             ipcs shows System V shared memory only.",
        ),
        Tag(
            "RUNDIR",
            "The runtime directory, mode 0700: `--runtime-dir` DIR, else \
             `$OSPS_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/osps` when `XDG_RUNTIME_DIR` is \
             an absolute path to a directory owned by the user with no access for group or \
             others, else `/tmp/osps-UID`. osps creates it when missing, and refuses one \
             that is a symbolic link, belongs to another user, or is accessible to group \
             or others (for a shared or system directory such as `/tmp` the advice is to \
             choose another, never to change its mode). While an instance lives, its \
             primary holds a shared BSD lock (flock(2) `LOCK_SH`) on RUNDIR: the \
             tmpfiles.d(5) convention that keeps age-based cleaners such as \
             `systemd-tmpfiles --clean` out of a directory and everything below it. That \
             protects RUNDIR when a rule ages its parent (`/tmp`); a rule naming RUNDIR \
             itself ages its contents regardless, so do not write one.",
        ),
        Tag(
            "`RUNDIR/NAME.lock`",
            "The lock file. The live primary holds a POSIX record lock (fcntl(2) `F_SETLK`) \
             on it for its whole life and writes its pid into it. The kernel drops the lock \
             when the primary dies, so the lock, never the pid alone (pids are reused), \
             decides whether an instance is running; `osps inspect` only tests it \
             (`F_GETLK`). The path is only a name: if the file is removed or replaced \
             while the primary runs, the primary still holds its lock, which \
             `/proc/locks` lists, and `osps inspect`, `osps cleanup` and a second \
             `osps primary` recognise the running instance by it (or by the header's pid, \
             checked against `/proc/PID/exe`, its command line and its start time). A \
             primary puts a removed lock file back within a second. Every object is \
             removed only while its path still names the very file (device and inode) \
             that was created or checked, so an old primary never removes a newer \
             instance's objects.",
        ),
        Tag(
            "`RUNDIR/NAME.p2s.fifo`",
            "The FIFO from the primary to the secondary: the Ready, Request and Stop \
             frames.",
        ),
        Tag(
            "`RUNDIR/NAME.s2p.fifo`",
            "The FIFO from the secondary to the primary: the Hello, Reply and StopAck \
             frames.",
        ),
        Tag(
            "`RUNDIR/NAME.I.p2s.fifo`, `RUNDIR/NAME.I.s2p.fifo`",
            "The FIFO pair of secondary I (1, 2, ...) of a pool started with \
             `osps primary --serve --secondaries N`; secondary 0 uses the two above.",
        ),
    ];
    if socket {
        blocks.push(Tag(
            "`RUNDIR/NAME.sock`",
            "The Unix stream socket on which `osps primary --serve` accepts clients; \
             `osps client` connects to it.",
        ));
    }
    blocks.push(Tag(
        "`/proc/self/exe`",
        "What the primary executes to start the secondary: its own binary, never a \
         program found through `PATH`.",
    ));
    section("FILES", blocks)
}

/// The meaning of each exit status, for one command. Entries that are `None` say that
/// the command never uses the code.
struct ExitTexts {
    success: &'static str,
    failure: &'static str,
    corruption: Option<&'static str>,
    secondary_failed: Option<&'static str>,
}

const EXIT_GENERIC: ExitTexts = ExitTexts {
    success: "Success.",
    failure: "A runtime failure; the message on stderr says what failed, on which name or \
              path, and what to do.",
    corruption: None,
    secondary_failed: None,
};

/// How every duration option is written (osps(1), osps-primary(1), osps-secondary(1),
/// osps-client(1)); the same units as the error message of `units::parse_duration`.
const DURATIONS: &str = "Durations are a number and a unit: `ns`, `us` (microseconds), `ms`, \
     `s`, `m` (minutes) or `h`; or several of them from the largest unit down, as `1m30s` or \
     `1h15m`; a number may have decimals (`2.5s`), and a bare number is seconds: `250ms`, \
     `2.5s`, `1m30s`, `1h`, `250us`, `5`. A timeout cannot be 0.";

fn exit_status(texts: ExitTexts) -> Section {
    let mut blocks = vec![
        P(
            "The exit codes are stable; scripts may rely on them. Errors are printed once on \
           stderr as `osps[ROLE]: error:` followed by what failed and one `caused by:` line \
           per cause.",
        ),
        Tag("0", texts.success),
        Tag("1", texts.failure),
        Tag(
            "2",
            "Usage error: an unknown option, a missing or malformed value (for example an \
             instance name with a character outside A-Z a-z 0-9 _ -), or values that cannot \
             work (a timeout of 0, `--rounds 0`, `--spin` not below `--timeout`, a serving \
             option without `--serve`), reported before any object is touched.",
        ),
    ];
    blocks.push(Tag(
        "3",
        texts.corruption.unwrap_or(
            "Not used by this command (`osps primary`: a reply did not match its request).",
        ),
    ));
    blocks.push(Tag(
        "4",
        texts.secondary_failed.unwrap_or(
            "Not used by this command (`osps primary`: the secondary kept failing, or rounds \
             were lost).",
        ),
    ));
    section("EXIT STATUS", blocks)
}

// ---------------------------------------------------------------------------------------
// osps(1)
// ---------------------------------------------------------------------------------------

fn root() -> Page {
    Page {
        description: vec![
            P(
                "An instance is named (`--name`, default `osps`) and belongs to the user who \
               started it; instances of one or several users run side by side. Its objects \
               are a shared-memory segment, a lock file and two FIFOs (see FILES). The live \
               primary holds the lock file locked; since the kernel drops that lock when the \
               primary dies, it tells a running instance from the remains of a crashed one \
               (a stale instance, which `osps cleanup` removes).",
            ),
            P(
                "Progress and warnings go to stderr, each line prefixed with `osps[ROLE]:`; `-v` \
               shows more detail, `-q` only errors. JSON documents (`osps inspect`, \
               `osps cleanup --json`, `osps primary --json`) go to stdout; a reader that goes \
               away (`osps inspect | head -1`) is not an error, a closed or full stdout is \
               (exit 1). Colour on stderr follows \
               `--color`: `auto` (the default) colours only a terminal, and only when \
               `NO_COLOR` is unset or empty; `always` and `never` override both.",
            ),
            P(
                "Sizes take a byte count with an optional binary suffix `K`, `M` or `G` (`64K` is \
               65536 bytes).",
            ),
            P(DURATIONS),
        ],
        sections: vec![
            section(
                "NOTES",
                vec![
                    Sub("Which process must stop first?"),
                    P(
                        "The secondary. A process that exits stays a zombie (state Z in ps(1)) \
                       until its parent collects its status with waitpid(2). The primary is \
                       the parent of the secondary, so it stops the secondary first, reaps \
                       it, and only then exits. Had the primary died first, the secondary \
                       would become an orphan, adopted and later reaped by init (or a \
                       subreaper); ours notices within a second and exits.",
                    ),
                    Sub("Why does ipcs not show the segment?"),
                    P(
                        "ipcs(1) lists System V shared memory (shmget(2)). osps uses POSIX \
                       shared memory (shm_open(3)), which Linux keeps as files in the tmpfs \
                       mounted on `/dev/shm`: look there, or use `osps inspect`.",
                    ),
                    Sub("Who manages the access rights?"),
                    P(
                        "The kernel, from the owner and mode of each object, as for any file: \
                       the creator owns it, and the mode given to shm_open(3) or mkfifo(3) is \
                       reduced by the umask (osps sets its umask to 077 and asks for 0600). \
                       `/dev/shm` is world-writable with the sticky bit, so anyone may create \
                       objects there but only their owner may remove or rename them.",
                    ),
                    Sub("Why must the segment size be a multiple of 8?"),
                    P(
                        "The header's fields are 64-bit counters that both processes read and \
                       write as atomics, which needs 8-byte aligned addresses; a size that is \
                       a multiple of 8 (and at least a page, the unit of mmap(2)) keeps every \
                       field and the end of the data area aligned.",
                    ),
                ],
            ),
            exit_status(ExitTexts {
                success: "Success, including a primary stopped in order by SIGINT or SIGTERM, \
                          and an `osps inspect` that wrote its document whatever the state of \
                          the instances.",
                failure: "A runtime failure: a system call failed, an object was refused, the \
                          peer misbehaved, or `osps inspect --name` found no object of that \
                          instance. The message says what failed, where, and what to do.",
                corruption: Some(
                    "`osps primary`: at least one reply did not match its request (the \
                     shared data was corrupted).",
                ),
                secondary_failed: Some(
                    "`osps primary`: the secondary kept dying or hanging and the primary gave \
                     up restarting it (`--max-restarts`), or rounds were lost.",
                ),
            }),
            environment(Env::All),
            files(true),
            section(
                "EXAMPLES",
                vec![
                    P("Run 100000 rounds, print the summary, leave nothing behind:"),
                    Code("osps primary --rounds 100000"),
                    P(
                        "A long-running instance, watched from another terminal, crashed on \
                       purpose and cleaned up:",
                    ),
                    Code(
                        r#"osps primary --name demo &
osps inspect | jq -r '.instances[] | "\(.name) \(.status)"'    # demo running
kill -9 "$(osps inspect --name demo | jq -r '.instances[0].primary.pid')"
osps inspect | jq -r '.instances[] | "\(.name) \(.status)"'    # demo stale
osps cleanup --name demo"#,
                    ),
                    P("See the segment where POSIX puts it, not where ipcs(1) looks:"),
                    Code("ls -l /dev/shm/osps.$(id -u).*"),
                ],
            ),
        ],
        see_also: &[
            "jq(1)",
            "ipcs(1)",
            "ps(1)",
            "shm_open(3)",
            "mkfifo(3)",
            "waitpid(2)",
            "fcntl(2)",
        ],
    }
}

// ---------------------------------------------------------------------------------------
// osps-primary(1)
// ---------------------------------------------------------------------------------------

fn primary() -> Page {
    Page {
        description: vec![
            Sub("Start"),
            P(
                "The primary first claims the name. It creates RUNDIR if needed, takes the \
               instance lock on `RUNDIR/NAME.lock` and writes its pid into that file. If another \
               process holds that lock, the instance is running and the primary refuses, \
               naming the running pid. If objects of the name exist but nobody holds the \
               lock, the instance is stale (its primary crashed): the primary removes them as \
               osps-cleanup(1) would, with a warning, and goes on.",
            ),
            P(
                "It then creates the segment `/dev/shm/osps.UID.NAME` and reserves its memory \
               (posix_fallocate(3)), so that a full `/dev/shm` is an error at start rather \
               than a SIGBUS later, writes the header, and creates the two FIFOs. It starts \
               the secondary by executing its own binary, `/proc/self/exe`, as \
               `osps secondary` with the instance's parameters; in the child, SIGINT, \
               SIGHUP, SIGALRM and SIGUSR1 are ignored and the kernel is asked to send SIGTERM when the primary dies \
               (`PR_SET_PDEATHSIG`, prctl(2)). The lock's descriptor and every other \
               descriptor except stdin, stdout and stderr are close-on-exec. The secondary \
               says Hello on the s2p FIFO within `--start-timeout` and gets Ready on p2s; \
               the FIFOs are opened without blocking and with deadlines, so a secondary that \
               never shows up is an error, never a hang.",
            ),
            Sub("Rounds"),
            P(
                "In a round the primary writes `--payload` bytes into the data area, publishes \
               the round's sequence number in the header and gives the turn to the \
               secondary, which replaces the bytes by their reverse and gives the turn back; \
               the primary then checks every byte. A reply that does not match is a \
               corruption: it is reported, counted, and makes the primary exit with status \
               3.",
            ),
            P(
                "With `--sync fifo` (the lab's design) every turn is a 16-byte frame written on \
               a FIFO with one write(2), and the waiting side blocks in read(2). With \
               `--sync adaptive` (the default) the waiting side first polls the turn counter \
               in the segment for up to `--spin`, then announces in the segment that it goes \
               to sleep, checks once more, and blocks on its FIFO; the other side writes a \
               frame only to wake a sleeper. Between heartbeat rounds both processes are \
               blocked and use no CPU.",
            ),
            P(DURATIONS),
            P(
                "Values that cannot work are usage errors (exit status 2), refused before \
               anything is created: `--timeout 0`, `--start-timeout 0`, `--rounds 0`, a \
               `--spin` that is not below `--timeout`, and the serving options \
               (`--secondaries`, `--tcp`, `--tcp-any`, `--max-clients`, `--max-inflight`, \
               `--max-line`, `--queue`) without `--serve` or with `--rounds`.",
            ),
            Sub("Stop"),
            P(
                "SIGINT (Ctrl-C in a terminal), SIGTERM, or the end of `--rounds` stop the pair \
               in order: the primary sends Stop on p2s, the secondary answers StopAck and \
               exits, the primary reaps it with waitpid(2), so no zombie remains, removes \
               the FIFOs, the segment and the lock file, prints the summary and exits. A \
               secondary that does not exit within a grace period is killed with SIGKILL and \
               reaped. If the primary itself is killed with SIGKILL, the secondary notices \
               within a second and exits, and the objects stay until osps-cleanup(1) or the \
               next primary of the same name removes them.",
            ),
            Sub("Signals"),
            P(
                "No catchable signal ends a primary without this orderly stop, but for the \
               exceptions below. SIGHUP (the terminal closed, the SSH session dropped) and \
               SIGALRM (time is up, as `timeout -s ALRM` sends; osps arms no alarm) stop the \
               pair in order like SIGTERM; a SIGHUP ignored when the primary starts, as \
               nohup(1) does, stays ignored. So do the signals osps has no use for whose \
               default would kill it: SIGPWR (a UPS daemon's power warning), SIGXCPU (the \
               CPU time limit, `ulimit -t`), SIGSTKFLT, SIGIO (SIGPOLL) and every real-time \
               signal, SIGRTMIN to SIGRTMAX. SIGUSR1 prints one status line on stderr and \
               the instance runs on (the dd(1) convention), for example `instance NAME: \
               running 12.3 s, 1234 rounds, 0 failed, secondary pid N, 0 restarts`, or with \
               `--serve` the requests, clients, queued requests and live secondaries; `-q` \
               silences it. SIGUSR2 (no meaning is assigned to it), SIGVTALRM and SIGPROF \
               (profiling timers; a handler a profiler installed before osps started is \
               kept), SIGPIPE (a write to a closed FIFO or socket returns `EPIPE`) and \
               SIGXFSZ are ignored: a `--size` beyond the file size limit (`ulimit -f`, \
               `RLIMIT_FSIZE`) is an error at start naming the limit, with nothing left \
               behind. The secondary ignores all of these or, while its primary lives, \
               waits for its stop (see osps-secondary(1)), so a signal to the whole process \
               group reaches the primary, which stops it in order. The exceptions keep their \
               default action, a core dump, because that is what one wants then: SIGQUIT \
               (the terminal's quit key), SIGTRAP (a debugger's breakpoint) and SIGSYS (a \
               system call that a seccomp filter forbids), and the signals of a crash \
               (SIGSEGV, SIGILL, SIGFPE, SIGABRT, and SIGBUS but for the segment truncated \
               under the pair); a SIGBUS sent by a process (`kill -BUS`) is no crash and \
               stops the pair in order like SIGTERM. SIGKILL cannot be caught, nor can the \
               real-time signals below SIGRTMIN, which the C library keeps for itself: \
               osps-cleanup(1) removes what they leave. A second stop signal while the \
               primary waits for a secondary that does not stop (Ctrl-C again) ends the \
               wait: that secondary is killed at once, and the stop goes on.",
            ),
            Sub("Serving clients"),
            P(
                "With `--serve` the primary runs no rounds: it accepts clients on the Unix \
               socket `RUNDIR/NAME.sock` (and, with `--tcp`, on a TCP address) and hands \
               each request line, through the segment, to one of `--secondaries` \
               secondaries, each with its own slot of the data area and its own FIFO pair. \
               The protocol is in osps-client(1).",
            ),
            Sub("systemd"),
            P(
                "When `NOTIFY_SOCKET` is set, as for a `Type=notify` service, the primary sends \
               `READY=1` once the secondary is ready, `STATUS=` lines while it runs, \
               `STOPPING=1` when it stops, and `WATCHDOG=1` every half of `WATCHDOG_USEC` \
               when the unit sets `WatchdogSec=`. Use `KillMode=mixed` so that systemd \
               signals the primary only and lets it stop its secondary in order.",
            ),
        ],
        sections: vec![
            section(
                "SUPERVISION",
                vec![
                    P(
                        "The primary is the watchdog of its secondary. It notices a death at \
                       once (SIGCHLD, end of file or `EPIPE` on a FIFO) and a hang when a \
                       round gets no reply within `--timeout`; it then kills the secondary \
                       with SIGKILL. Either way it reaps it, records how it ended (the \
                       `deaths` of the summary) and starts a new one after a backoff: \
                       `--restart-backoff` before the first restart, doubled for each \
                       restart within the last minute, at most 5 seconds. The round in \
                       flight is retried once on the new secondary (`rounds_retried`); if \
                       the retry fails too, the round is lost (`rounds_failed`).",
                    ),
                    P(
                        "At most `--max-restarts` restarts are allowed within any minute. At \
                       the next death the primary gives up: it stops, removes every object, \
                       prints the summary (`stopped_by` is `gave-up`, `deaths` lists how \
                       each secondary ended) and exits with status 4. With \
                       `--max-restarts 0` the first death ends the run that way.",
                    ),
                    P("The secondary restarts nothing: when its primary is gone it exits."),
                ],
            ),
            trace_section(),
            section(
                "SUMMARY",
                vec![
                    P(
                        "Once the instance exists, the run always ends with a summary on stdout, \
                       even after an error: a few lines of text, or with `--json` one JSON \
                       object on one line with these keys:",
                    ),
                    Tag(
                        "`schema_version`, `mode`",
                        "1, and `rounds` (a serving run prints `serve` and the keys listed \
                         last). schema/primary.schema.json in the sources describes both.",
                    ),
                    Tag("`name`", "The instance name."),
                    Tag("`sync`", "The synchronisation mode: `fifo` or `adaptive`."),
                    Tag("`rounds`", "Rounds completed and verified."),
                    Tag(
                        "`rounds_failed`",
                        "Rounds lost: the secondary died during them twice, or the run gave \
                         up during them.",
                    ),
                    Tag(
                        "`rounds_retried`",
                        "Rounds retried on a fresh secondary after the first one died \
                         during them.",
                    ),
                    Tag("`payload_bytes`", "Bytes sent per round (`--payload`)."),
                    Tag(
                        "`bytes_to_secondary`, `bytes_from_secondary`",
                        "Payload bytes written for the secondary (retries included) and \
                         received back from it.",
                    ),
                    Tag("`corruptions`", "Replies that did not match their request."),
                    Tag("`errors`", "`corruptions` plus `rounds_failed`."),
                    Tag(
                        "`latency_ns`",
                        "The round trip of completed rounds in nanoseconds, handshake \
                         excluded: an object with `p50`, `p99`, `max` and `mean`.",
                    ),
                    Tag("`restarts`", "How many times the secondary was restarted."),
                    Tag(
                        "`deaths`",
                        "One object per secondary that ended before the orderly stop: \
                         `pid`; `how` (\"exited with status 1\", \"killed by signal 9 \
                         (SIGKILL)\", ...); `exit_code` and `signal` (one of them null); \
                         `cause`, what the primary saw first (`exited`, or `hung` when no \
                         reply came within `--timeout`, ...); `during` (\"before the \
                         handshake\", \"during round 12\", \"between rounds\", ...).",
                    ),
                    Tag("`secondary_pid`", "The pid of the last secondary, or null."),
                    Tag(
                        "`secondary_exit`",
                        "The last secondary's exit code (0 after an orderly stop), or null \
                         when it was killed by a signal.",
                    ),
                    Tag(
                        "`secondary_signal`",
                        "The signal that killed the last secondary, or null.",
                    ),
                    Tag(
                        "`stopped_by`",
                        "Why the run ended: `rounds` (`--rounds` done), `signal` (SIGINT, \
                         SIGTERM, SIGHUP, SIGALRM or another signal that asks for the orderly \
                         stop, see Signals), `gave-up` (see SUPERVISION) or `error`.",
                    ),
                    Tag("`elapsed_ms`", "Wall time of the run in milliseconds."),
                    P(
                        "A serving run (`--serve`) prints instead: `schema_version`, `mode` \
                       (`serve`), `name`, `secondaries`, `clients_served`, `requests` \
                       (requests handed to the pool and answered: by a secondary, or `ERR \
                       worker failed` or `ERR shutting down` in its place; counted when the \
                       reply is ready, even if its client has left), `errors` (of those, \
                       replies that were `ERR ...`, an `ECHO` of text that begins with `ERR` \
                       included), `retried` (requests retried after their secondary died), \
                       `failed` (answered `ERR worker failed`), `busy` (answered `ERR busy` by \
                       the primary itself, not in `requests`), `too_long` (lines answered `ERR \
                       line too long` by the primary itself, not in `requests`; each ends its \
                       client's input), \
                       `turned_away` (newcomers answered `ERR too many clients` and closed), \
                       `restarts`, `deaths`, `stopped_by` (`signal`, `gave-up` or `error`) and \
                       `elapsed_ms`.",
                    ),
                ],
            ),
            exit_status(ExitTexts {
                success: "The run ended in order (`--rounds` done, or SIGINT, SIGTERM, SIGHUP, \
                          SIGALRM or another signal that asks for the orderly stop) and every \
                          reply was correct.",
                failure: "A runtime failure: the name belongs to a running instance, an \
                          object at one of the paths is not ours, the runtime directory is \
                          unsafe, `/dev/shm` is full, a system call failed, or the segment \
                          was truncated or removed under the instance. (A secondary that \
                          breaks the protocol, or a bad frame on its FIFO, is killed and \
                          restarted like one that died.) Every object made so far is removed; \
                          the message says what failed and what to do.",
                corruption: Some("At least one reply did not match its request."),
                secondary_failed: Some(
                    "The primary gave up restarting the secondary (`--max-restarts`), or, \
                     when no reply was corrupted, at least one round was lost \
                     (`rounds_failed`).",
                ),
            }),
            {
                let mut env = environment(Env::Instance);
                env.blocks.extend([
                    Tag(
                        "`NOTIFY_SOCKET`",
                        "The systemd notification socket (a path, or an abstract socket \
                         name starting with `@`); see sd_notify(3). Unset: no notifications.",
                    ),
                    Tag(
                        "`WATCHDOG_USEC`, `WATCHDOG_PID`",
                        "The watchdog period set by `WatchdogSec=`; the primary pings every \
                         half period, unless `WATCHDOG_PID` names another process.",
                    ),
                ]);
                env
            },
            files(true),
            section(
                "EXAMPLES",
                vec![
                    P("A benchmark-like run, with the summary as JSON:"),
                    Code(
                        r#"osps primary --rounds 100000 --payload 4K --json | jq '{rounds, errors, p99: .latency_ns.p99}'"#,
                    ),
                    P(
                        "A long-running instance with a heartbeat every 5 seconds, stopped in \
                       order:",
                    ),
                    Code(
                        r#"osps primary --name demo --interval 5s &
kill -TERM $!; wait $!; echo "exit status $?"    # 0"#,
                    ),
                    P("Supervision at work: kill the secondary and watch the restart count:"),
                    Code(
                        r#"osps primary --name demo &
sleep 1
kill -9 "$(osps inspect --name demo | jq -r '.instances[0].secondary.pid')"
sleep 1
osps inspect --name demo | jq '.instances[0].secondary.restarts'    # 1"#,
                    ),
                    P(
                        "Keep the summary of a run, then list how each secondary that died \
                       ended:",
                    ),
                    Code(
                        r#"osps primary --name demo --json > summary.json
jq -r '.deaths[] | "\(.pid) \(.how) (\(.cause), \(.during))"' summary.json"#,
                    ),
                ],
            ),
        ],
        see_also: &[
            "pipe(7)",
            "waitpid(2)",
            "prctl(2)",
            "fcntl(2)",
            "posix_fallocate(3)",
            "sd_notify(3)",
            "systemd.service(5)",
        ],
    }
}

/// The TRACE section of osps-primary(1): `--trace`, `--hold-zombie`, and every step name
/// (listed from `trace::STEPS`, so the page and the code cannot disagree).
fn trace_section() -> Section {
    let mut blocks = vec![
        P(
            "With `--trace` both processes print one line on stderr for each system-level \
           step, in order: the runtime directory and the lock file, shm_open(3) with its \
           flags and mode, the reservation and the mapping, each FIFO created and opened \
           (and whether the open waited), the fork(2) and the execve(2), the death signal, \
           the handshake frames, the first rounds, restarts, the Stop frame, the secondary's \
           exit, the interval during which it was a zombie, and each object removed. A line \
           gives the time in microseconds since the primary started (one clock for both \
           processes), the role (`primary` or `secondary I`), the pid, the step's name and \
           its details as key=value pairs. Each line is written with one write(2), so the \
           two processes' lines never mix. Rounds are traced one by one for the first \
           three, then at rounds 10, 100, 1000 and so on, so the trace stays short.",
        ),
        P(
            "`--trace=json` prints the same events as NDJSON, one object per line: `t_us`, \
           `pid`, `role` (`primary` or `secondary`), `index` (secondaries only), `step`, and \
           `details` (an object; numbers are JSON numbers). Without `--trace` nothing is \
           traced and nothing is spent on it. The primary hands the format and its start \
           time to the secondary in the environment variable `OSPS_TRACE`.",
        ),
        P(
            "`--hold-zombie` DURATION makes the primary wait that long between the moment it \
           sees its secondary has exited and the waitpid(2) that reaps it, and says so on \
           stderr. Meanwhile `ps -o pid,stat,cmd --ppid PRIMARY` shows the secondary in \
           state `Z` (`<defunct>`): a zombie is a process that has exited but whose parent \
           has not collected its exit status yet. After the reap it is gone. The primary \
           does nothing else while it holds a zombie: this is a teaching aid.",
        ),
        Code(
            r#"osps primary --rounds 3 --trace
osps primary --rounds 3 --trace=json 2>&1 >/dev/null | jq -c 'select(.step == "reaped") | .details'
osps primary --rounds 3 --hold-zombie 10s &
sleep 1; ps -o pid,stat,cmd --ppid $!"#,
        ),
        Sub("Steps"),
    ];
    blocks.extend(
        crate::trace::STEPS
            .iter()
            .map(|(_, tag, what)| Tag(tag, what)),
    );
    section("TRACE", blocks)
}

// ---------------------------------------------------------------------------------------
// osps-secondary(1)
// ---------------------------------------------------------------------------------------

fn secondary() -> Page {
    Page {
        description: vec![
            P(
                "The secondary opens RUNDIR, which must exist, maps the segment \
               `/dev/shm/osps.UID.NAME` and validates its header (magic, layout version, \
               sizes against the object's real size) before using it, opens the p2s FIFO \
               for reading and the s2p FIFO for writing, writes Hello with its pid and \
               waits for Ready. Then it serves: for each round it reads the request from the \
               data area, writes its reply (the bytes reversed) in its place, and gives the \
               turn back (see `--sync` in osps-primary(1)). On Stop it answers StopAck and \
               exits with status 0.",
            ),
            P(
                "Everything in the segment is treated as untrusted: lengths and offsets are \
               read once, checked, and only the checked copy is used. Frames on the FIFOs \
               are validated (magic, version, kind, sequence number); a bad one is an \
               error, never a crash.",
            ),
            P(
                "It ignores SIGINT: a Ctrl-C in a terminal signals the whole foreground process \
               group, and only the primary acts on it, stopping the secondary in order. \
               Likewise, while the primary that started it is alive, a SIGTERM (sent to the \
               whole group by kill -- -PGID or systemd) waits for that orderly stop; started \
               by hand, or once its primary is gone, SIGTERM stops it. SIGPWR, SIGXCPU, \
               SIGSTKFLT, SIGIO, the real-time signals and a SIGBUS sent by a process \
               (`kill -BUS`) are taken as SIGTERM. When its \
               primary disappears (end of file on p2s, `EPIPE` on s2p, or the SIGTERM the kernel \
               sends through `PR_SET_PDEATHSIG`) it exits within a second with status 1, \
               leaving the objects to osps-cleanup(1).",
            ),
            P(
                "Only the primary starts a secondary. One started by hand against a live \
               instance exits with status 1 before it opens a FIFO or writes to the segment \
               (\"instance NAME already has a live secondary, pid N ...\"), and the instance \
               runs on untouched: a secondary runs only as the child of the primary whose \
               pid is in the header. Without a live primary it exits with status 1 and \
               says what is missing. It also ignores SIGHUP, SIGALRM, SIGUSR1, SIGUSR2, \
               SIGVTALRM, SIGPROF, SIGPIPE and SIGXFSZ (see Signals in osps-primary(1)).",
            ),
            P(DURATIONS),
        ],
        sections: vec![
            exit_status(ExitTexts {
                success: "Stopped in order by its primary.",
                failure: "It could not attach (no runtime directory, no segment, an invalid \
                          header, a missing FIFO, no primary reading s2p), the handshake \
                          failed or timed out, a frame was invalid, or the primary went \
                          away.",
                corruption: None,
                secondary_failed: None,
            }),
            environment(Env::Instance),
            files(false),
            section(
                "EXAMPLES",
                vec![
                    P(
                        "The secondary as the primary starts it, with the primary as its \
                       parent (ppid):",
                    ),
                    Code(
                        r#"osps primary --name demo &
sleep 0.5
ps -o pid,ppid,stat,args --ppid $!"#,
                    ),
                    P("Started by hand without a primary, it explains what is missing:"),
                    Code(r#"osps secondary --name nobody; echo "exit status $?"    # 1"#),
                ],
            ),
        ],
        see_also: &["pipe(7)", "prctl(2)"],
    }
}

// ---------------------------------------------------------------------------------------
// osps-inspect(1)
// ---------------------------------------------------------------------------------------

fn inspect() -> Page {
    Page {
        description: vec![
            P(
                "Instances are found from the segments `/dev/shm/osps.UID.*` and the `*.lock` \
               and `*.fifo` files of RUNDIR; `--name` reports only that one. Inspect never \
               disturbs what it looks at: the lock is only tested (fcntl(2) `F_GETLK`), so a \
               primary starting at the same moment cannot fail because of it; FIFOs are \
               never opened (their holders come from `/proc/PID/fd` and \
               `/proc/PID/fdinfo`); the segment is mapped read-only. A FIFO or another \
               strange file planted at the segment's path cannot make it hang, and a \
               segment truncated under its feet cannot kill it with SIGBUS: such cases are \
               reported in the document.",
            ),
            P(
                "A running primary is reported `running` even when its lock file was removed \
               or replaced, or when it is looked at with another `--runtime-dir`: besides \
               the lock, inspect asks the kernel (`/proc/locks`: a POSIX lock on a file named \
               `NAME.lock`, deleted or not) and checks the header's pid (`/proc/PID/exe`, \
               command line, start time, the segment it holds open). What looks wrong \
               is said in `warnings`.",
            ),
        ],
        sections: vec![
            section(
                "JSON OUTPUT",
                vec![
                    P(
                        "One JSON document on stdout, pretty-printed, or on one line with \
                       `--compact`. The keys below are the contract (`schema_version` 1); \
                       more keys may appear. Paths are absolute; modes are octal strings \
                       such as \"0600\"; a value that cannot be known is null.",
                    ),
                    Tag("`.schema_version`", "1."),
                    Tag(
                        "`.instances`",
                        "An array with one object per instance, with the keys below.",
                    ),
                    Tag("`.instances[].name`", "The instance name."),
                    Tag(
                        "`.instances[].status`",
                        "`running`: a process holds the lock, or a live primary of the \
                         instance was found otherwise (see DESCRIPTION and `warnings`). \
                         `stale`: objects exist and no live primary holds the lock (its \
                         primary crashed). `partial`: only some of the objects exist. \
                         `corrupt`: the segment's header does not validate; \
                         `.instances[].segment.error` says why. `inaccessible`: the segment \
                         cannot be read (another user's); nothing is said about its state.",
                    ),
                    Tag(
                        "`.instances[].warnings[]`",
                        "What looks wrong without changing the status, one sentence each, \
                         starting with a fixed phrase: `lock file missing`, `lock file \
                         replaced`, `objects in another runtime directory`, `segment \
                         inaccessible`, `orphaned secondary` (a secondary still runs although \
                         its primary is gone: stopped with SIGSTOP, say; `cleanup` stops it), \
                         `lock held by another program` (the instance is then not running), \
                         `FIFO missing`, `socket missing` (removed while the primary runs: \
                         a FIFO is made anew when its secondary restarts, the socket within \
                         two seconds), \
                         `FIFO held by another process` (it can take frames meant for the \
                         instance). \
                         Empty for a healthy instance.",
                    ),
                    Tag("`.instances[].lock.path`", "`RUNDIR/NAME.lock`."),
                    Tag(
                        "`.instances[].lock.exists`",
                        "Whether the lock file exists.",
                    ),
                    Tag(
                        "`.instances[].lock.held`",
                        "Whether a process holds the lock: the instance is running.",
                    ),
                    Tag(
                        "`.instances[].lock.pid`",
                        "The primary's pid as the lock shows it. Trust it only with \
                         `held` true: the pid written in a stale lock file may belong to an \
                         unrelated process by now.",
                    ),
                    Tag(
                        "`.instances[].primary.pid`, `.alive`, `.state`",
                        "The primary's pid, whether it is alive, and the state it published \
                         in the header: `absent`, `starting`, `ready`, `busy`, `stopping`, \
                         `stopped` or `failed`.",
                    ),
                    Tag(
                        "`.instances[].secondary.pid`, `.alive`, `.state`",
                        "The same for the secondary.",
                    ),
                    Tag(
                        "`.instances[].primary.heartbeat_age_ms`, \
                         `.instances[].secondary.heartbeat_age_ms`",
                        "Milliseconds since that side last showed a sign of life in the \
                         header (`CLOCK_MONOTONIC` now minus its heartbeat), or null before \
                         the first one: a hung but living side shows a growing age. Both \
                         sides of a run of rounds beat every round (every `--interval` when \
                         idle); a serving primary every second, and its secondaries only when \
                         they take a turn (an idle one shows a growing age).",
                    ),
                    Tag(
                        "`.instances[].secondary.restarts`",
                        "How many times the primary restarted its secondary.",
                    ),
                    Tag("`.instances[].segment.path`", "`/dev/shm/osps.UID.NAME`."),
                    Tag(
                        "`.instances[].segment.exists`, `.size`, `.mode`, `.uid`",
                        "Whether the segment exists, its size in bytes, its mode and its \
                         owner's uid, from fstat(2).",
                    ),
                    Tag(
                        "`.instances[].segment.header`",
                        "The decoded header, or null when the segment is missing or too \
                         short. `valid`: whether it validates; `version`: the layout \
                         version (1); `rounds`: rounds the primary verified. Also \
                         `header_len`, `segment_size`, `data_offset`, `data_size`, \
                         `created_unix_ms`, `restarts`, `primary_pid`, `primary_state`, \
                         `primary_heartbeat_ns`, `secondary_pid`, `secondary_state`, \
                         `secondary_heartbeat_ns`, `request_seq`, `request_len`, \
                         `reply_seq`, `reply_len`, `rounds_failed`, `rounds_served`, \
                         `primary_sleeping`, `secondary_sleeping`, and for \
                         `--serve`: `workers`, `clients`, `queued`, `requests`, `tcp_port` (the \
                         port bound for `--tcp`, the real one for port 0; else 0). Heartbeats \
                         are `CLOCK_MONOTONIC` nanoseconds.",
                    ),
                    Tag(
                        "`.instances[].segment.error`",
                        "Why the segment is not usable (not an osps segment, wrong version, \
                         truncated, not a regular file, ...), or null.",
                    ),
                    Tag(
                        "`.instances[].segment.holders[]`",
                        "The processes that have the segment mapped or open, each with its \
                         `pid` and `access`.",
                    ),
                    Tag(
                        "`.instances[].fifos[]`",
                        "One object per FIFO of the instance: `role` (`p2s` or `s2p`), `index` \
                         (the secondary it belongs to, 0 for the first), `path`, `exists`, `type`, \
                         `is_fifo` (false for anything else planted at the path), `mode`, \
                         `uid`, and `holders`: the processes that have it open, each with \
                         its `pid` and `access` (`read`, `write` or `read-write`).",
                    ),
                    Tag(
                        "`.instances[].secondaries[]`",
                        "Every secondary of the instance (one, or the pool of `osps primary \
                         --serve --secondaries N`), from the header's scoreboard: `index`, \
                         `pid`, `alive` (it holds its own FIFOs), `state`, `restarts`, \
                         `requests_served` and `heartbeat_age_ms`.",
                    ),
                    Tag(
                        "`.instances[].clients`, `.queue`",
                        "For a serving primary: the connected clients and the requests waiting \
                         for a free secondary (0 otherwise; null without a valid header).",
                    ),
                    Tag(
                        "`.instances[].socket`",
                        "The client socket `RUNDIR/NAME.sock` of a serving primary: `path`, \
                         `exists`, `type`, `mode`, `uid`.",
                    ),
                    Tag(
                        "`.schema_version`, `.uid`, `.runtime_dir`",
                        "The document's version (1; schema/inspect.schema.json in the sources \
                         describes it), the user, and the runtime directory examined.",
                    ),
                ],
            ),
            exit_status(ExitTexts {
                success: "The document was written, whatever the states of the instances \
                          (also when the reader went away early, as with `| head -c 10`).",
                failure: "`--name` names an instance that has no object at all (the document \
                          is still written, with an empty `instances`), stdout is closed or \
                          full (one line on stderr names stdout), or a runtime failure.",
                corruption: None,
                secondary_failed: None,
            }),
            environment(Env::Select),
            files(false),
            section(
                "EXAMPLES",
                vec![
                    P("One line per instance:"),
                    Code(r#"osps inspect | jq -r '.instances[] | "\(.name) \(.status)"'"#),
                    P("The pids and the round counter of one instance:"),
                    Code(
                        r#"osps inspect --name demo | jq '.instances[0] | {status, primary: .primary.pid, secondary: .secondary.pid, rounds: .segment.header.rounds}'"#,
                    ),
                    P("Who has the FIFOs open:"),
                    Code(
                        r#"osps inspect --name demo | jq -r '.instances[0].fifos[] | .role as $r | .holders[] | "\($r) \(.pid) \(.access)"'"#,
                    ),
                    P(
                        "Names of the instances a crash left behind, and why a segment is \
                       refused:",
                    ),
                    Code(
                        r#"osps inspect | jq -r '.instances[] | select(.status == "stale") | .name'
osps inspect | jq -r '.instances[] | select(.status == "corrupt") | "\(.name): \(.segment.error)"'"#,
                    ),
                    P(
                        "Instances with something wrong, and primaries silent for over 5 \
                       seconds (hung, unless a run of rounds has an `--interval` that long):",
                    ),
                    Code(
                        r#"osps inspect | jq -r '.instances[] | select(.warnings != []) | "\(.name): \(.warnings | join("; "))"'
osps inspect | jq -r '.instances[] | select(.status == "running" and (.primary.heartbeat_age_ms // 0) > 5000) | .name'"#,
                    ),
                    P("Fail a script when an instance is not running:"),
                    Code(
                        r#"osps inspect --name demo --compact | jq -e '.instances[0].status == "running"' >/dev/null"#,
                    ),
                ],
            ),
        ],
        see_also: &["jq(1)", "fcntl(2)", "proc(5)"],
    }
}

// ---------------------------------------------------------------------------------------
// osps-cleanup(1)
// ---------------------------------------------------------------------------------------

fn cleanup() -> Page {
    Page {
        description: vec![
            P(
                "Cleanup never touches a running instance, another user's objects, or \
               anything whose name does not follow the patterns of FILES. Running means a \
               process holds the lock, or a live primary of the instance is found otherwise \
               (its lock file removed or replaced, or kept in another runtime directory: see \
               the lock file in FILES): such an instance is skipped with the reason, for \
               example \"instance demo is running (pid 4242) but its lock file is missing; \
               not touched\", and no osps primary is ever signalled. When in doubt, it \
               skips.",
            ),
            P(
                "It works in two steps. First it surveys every instance and makes a plan: \
               what it would remove and what it skips and why, changing nothing; \
               `--dry-run` prints that plan. Then, for every stale (objects left by a \
               crashed primary) or partial (only some objects) instance of the plan, it \
               takes the lock itself, checks that the path still names the file it locked \
               and that no live primary appeared meanwhile, stops an orphaned secondary \
               that still runs (SIGTERM, then SIGKILL after a grace period), and removes the \
               FIFOs, the segment and finally the lock file, each only if its path still \
               names the object surveyed. It signals only osps secondaries of that \
               instance: while any other process holds one of its objects open (a shell \
               that opened a FIFO, a tool), the instance is skipped, with that process \
               named. Every partial state is handled: a segment without \
               FIFOs, FIFOs without a segment, a lock file alone. Segments are per user \
               but runtime directories are not, so a segment with nothing of its instance \
               in RUNDIR may belong to an instance kept in another runtime directory: \
               without `--name` it is skipped with that reason; `--name NAME` removes it.",
            ),
            P(
                "It is idempotent: a second run finds nothing to do. Two cleanups running at \
               once never remove each other's objects and report no errors. Without \
               `--json` it prints one line per action; a healthy running instance it skips \
               is mentioned only with `-v` (it is always listed under `skipped` in the \
               JSON report).",
            ),
            P(
                "`osps primary` started with the name of a stale instance performs the same \
               recovery by itself, with a warning.",
            ),
        ],
        sections: vec![
            section(
                "JSON OUTPUT",
                vec![
                    P(
                        "With `--json`, one JSON object on stdout (`schema_version` 1; more \
                       keys may appear):",
                    ),
                    Tag("`.schema_version`", "1."),
                    Tag(
                        "`.removed[].name`, `.removed[].paths[]`",
                        "Each instance removed (with `--dry-run`: that would be removed), \
                         and the paths of its objects.",
                    ),
                    Tag(
                        "`.skipped[].name`, `.skipped[].reason`",
                        "Each instance left alone, and why: for example it is running, or \
                         one of its objects is not ours.",
                    ),
                    Tag(
                        "`.errors[]`",
                        "What could not be done, one entry per failure.",
                    ),
                ],
            ),
            exit_status(ExitTexts {
                success: "Every stale or partial instance was removed, or there was nothing \
                          to do (with `--dry-run`: the report was written). Skipped \
                          instances are not failures.",
                failure: "At least one object could not be removed (see `errors`), stdout \
                          is closed or full (one line on stderr names stdout), or a runtime \
                          failure.",
                corruption: None,
                secondary_failed: None,
            }),
            environment(Env::Select),
            files(false),
            section(
                "EXAMPLES",
                vec![
                    P("See what would be removed, then remove it:"),
                    Code(
                        r#"osps cleanup --dry-run
osps cleanup"#,
                    ),
                    P("The paths removed for one instance, from the JSON report:"),
                    Code(r#"osps cleanup --name demo --json | jq -r '.removed[].paths[]'"#),
                    P("Clean up before starting a service (systemd `ExecStartPre=`):"),
                    Code("osps cleanup --name svc && osps primary --name svc"),
                ],
            ),
        ],
        see_also: &["fcntl(2)", "kill(1)"],
    }
}

// ---------------------------------------------------------------------------------------
// osps-client(1)
// ---------------------------------------------------------------------------------------

fn client() -> Page {
    Page {
        description: vec![
            P(
                "The client connects to `RUNDIR/NAME.sock` of a primary started with \
               `osps primary --serve`, or to `--socket` PATH, or over TCP with `--tcp`. \
               Requests are lines of text and each gets one reply line, in order, so \
               nc(1) or socat(1) are clients too:",
            ),
            Tag("`PING`", "Replies `PONG`."),
            Tag("`ECHO` TEXT", "Replies TEXT."),
            Tag(
                "`REV` TEXT",
                "Replies TEXT reversed, by Unicode scalar values.",
            ),
            Tag(
                "`SHA256` TEXT",
                "Replies the SHA-256 digest of TEXT, in hex.",
            ),
            Tag(
                "`STATS`",
                "Replies one line of JSON with the instance's counters.",
            ),
            Tag(
                "anything else",
                "Replies `ERR` and the reason; the connection stays usable. A line longer \
                 than the primary's `--max-line` gets `ERR line too long` and the \
                 connection is closed; a full queue gets `ERR busy`.",
            ),
            P(
                "Pipelining is allowed: a client may send many requests before reading any \
               reply, and the replies come back in request order. The primary works on at \
               most `--max-inflight` (default 32) requests of one client at a time and \
               stops reading it beyond (its writes then block, which is back-pressure, \
               not an error); the other clients are served in turn meanwhile.",
            ),
            P(
                "Each argument, or each line of stdin, is sent as one request, byte for \
               byte, and each reply is printed as it came. A request the server cannot use \
               (not UTF-8, unknown) gets its `ERR` reply like any other and the next one is \
               still sent. An argument with a newline in it would be two requests: it is a \
               usage error, found before anything is sent.",
            ),
            P(
                "When the socket does not answer, the error says why in the terms of the \
               instance: none is running, a stale one is left (run osps-cleanup(1)), or it \
               runs rounds and does not serve (start it with `--serve`). With `--socket` \
               the error names only that socket. When the server closes the connection \
               (it stopped or was killed, or after an `ERR` that ends the connection) or \
               no reply comes within `--timeout`, the error says so and numbers the request \
               it was waiting for; the replies printed before it are complete.",
            ),
            P(DURATIONS),
        ],
        sections: vec![
            exit_status(ExitTexts {
                success: "Every request got a reply that was not `ERR`, and every reply was \
                          printed (or the reader of stdout went away).",
                failure: "A reply was `ERR ...`; or the connection failed, the server closed \
                          it, or a reply did not come within `--timeout`; or stdout could not \
                          be written (closed, or a full disk).",
                corruption: None,
                secondary_failed: None,
            }),
            environment(Env::Instance),
            files(true),
            section(
                "EXAMPLES",
                vec![Code(
                    r#"osps primary --name svc --serve --secondaries 4 &
osps client --name svc PING 'REV hello' 'SHA256 abc'
printf 'ECHO one\nECHO two\n' | osps client --name svc
osps client --name svc STATS | jq ."#,
                )],
            ),
        ],
        see_also: &["nc(1)", "socat(1)", "unix(7)"],
    }
}
