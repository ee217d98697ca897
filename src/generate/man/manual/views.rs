//! The hand-written parts of the pages of the operator's commands: osps-list(1),
//! osps-status(1), osps-stop(1), osps-top(1), and of osps-completions(1) and osps-man(1),
//! which print the generated files from the installed binary.

use super::Block::{Code, P, Tag};
use super::{Env, ExitTexts, Page, environment, exit_status, files, section};

pub fn list() -> Page {
    Page {
        description: vec![
            P(
                "The instances are found as `osps inspect` finds them: this user's segments \
               in `/dev/shm` and the lock files, FIFOs and sockets of RUNDIR. Nothing is \
               opened for writing, no lock is taken. The status is coloured only when \
               stdout is a terminal and `NO_COLOR` is unset or empty.",
            ),
            Tag("NAME", "The instance name."),
            Tag(
                "STATUS",
                "`running` (a live primary holds the lock), `stale` (every object is there, \
                 the primary is gone), `partial` (only some objects), `corrupt` (the segment \
                 is not a valid osps segment), `inaccessible` (the segment cannot be read). \
                 See osps-inspect(1).",
            ),
            Tag("MODE", "`rounds`, or `serve` for `osps primary --serve`."),
            Tag(
                "PRIMARY",
                "The pid of the live primary, `-` when none runs.",
            ),
            Tag(
                "SECONDARIES",
                "Live secondaries (alive and holding their FIFOs) over all secondaries.",
            ),
            Tag(
                "ROUNDS/REQUESTS",
                "Rounds verified, or requests answered when serving (`-o ROUNDS` and \
                 `-o REQUESTS` name this column too).",
            ),
            Tag("RESTARTS", "Restarts of the secondaries, all together."),
            Tag("AGE", "Time since the segment was created."),
            Tag(
                "HEARTBEAT",
                "Age of the older heartbeat of the live primary and its live secondaries; \
                 `-` when no primary runs. For a serving instance, the primary's alone: it \
                 beats every second, its secondaries only when they take a turn.",
            ),
        ],
        sections: vec![
            section(
                "JSON OUTPUT",
                vec![
                    P(
                        "With `--json`, one JSON array on stdout with one object per \
                       instance; the keys are those of the columns chosen with `-o` (all by \
                       default), described by schema/list.schema.json in the sources. \
                       Unknown values are null.",
                    ),
                    Tag("`.[].name`, `.[].status`, `.[].mode`", "As in the table."),
                    Tag("`.[].primary`", "The live primary's pid, or null."),
                    Tag(
                        "`.[].secondaries.live`, `.[].secondaries.total`",
                        "Numbers.",
                    ),
                    Tag(
                        "`.[].count`",
                        "Rounds verified, or requests answered when serving.",
                    ),
                    Tag("`.[].restarts`", "Restarts of the secondaries."),
                    Tag(
                        "`.[].age_ms`, `.[].heartbeat_ms`",
                        "The age and the heartbeat's age in milliseconds.",
                    ),
                ],
            ),
            exit_status(ExitTexts {
                success: "The table or the array was written, also when there is no instance \
                          (then the table has its headings only, the array is empty).",
                failure: "A runtime failure, such as stdout closed or full.",
                corruption: None,
                secondary_failed: None,
            }),
            environment(Env::Select),
            files(true),
            section(
                "EXAMPLES",
                vec![
                    P("Every instance, then only names and statuses without headings:"),
                    Code("osps list\nosps ls -n -o name,status"),
                    P("The names of the running instances, from the JSON:"),
                    Code(
                        r#"osps list --json | jq -r '.[] | select(.status == "running") | .name'"#,
                    ),
                    P("The columns there are:"),
                    Code("osps list -o help"),
                ],
            ),
        ],
        see_also: &["lsipc(1)", "jq(1)"],
    }
}

pub fn status() -> Page {
    Page {
        description: vec![
            P(
                "Like `systemctl status`: a dot coloured by the status (on a terminal), the \
               status since when, the process tree (the primary, then each secondary with \
               its state and restarts), the counters with their average rate, the heartbeats \
               of the live processes, every object with its path, mode and size, and any \
               warning about an object that is not as osps makes it. A stale, partial or \
               corrupt instance gets a line saying what to do.",
            ),
            P(
                "Without NAME, the instance is `$OSPS_NAME`, else `osps`. Read-only, like \
               `osps inspect`.",
            ),
        ],
        sections: vec![
            exit_status(ExitTexts {
                success: "The instance is running.",
                failure: "A runtime failure.",
                corruption: Some(
                    "The instance is not running: it is stale, partial, corrupt or \
                     inaccessible (the description is still printed). The code `systemctl status` gives an \
                     inactive unit.",
                ),
                secondary_failed: Some(
                    "There is no such instance: no object of it exists. The code \
                     `systemctl status` gives a unit that does not exist.",
                ),
            }),
            environment(Env::Instance),
            files(true),
            section(
                "EXAMPLES",
                vec![
                    P("Describe instance demo:"),
                    Code("osps status demo"),
                    P("Act on the exit status in a script:"),
                    Code(
                        r#"osps status demo >/dev/null
case $? in
  0) echo running ;;
  3) echo "not running: osps cleanup --name demo" ;;
  4) echo "no such instance" ;;
esac"#,
                    ),
                ],
            ),
        ],
        see_also: &["systemctl(1)"],
    }
}

pub fn stop() -> Page {
    Page {
        description: vec![
            P(
                "The primary is the process that the kernel names as the holder of the lock \
               `RUNDIR/NAME.lock` (fcntl(2) `F_GETLK`); before it is signalled, stop checks \
               that it runs `osps primary` and holds that lock file open, so a pid written in \
               a file or reused by an unrelated process is never signalled.",
            ),
            P(
                "The primary stops as on any SIGTERM: its secondaries first, reaped, then \
               every object removed. stop waits until the primary is gone and reports how \
               long it took. A primary still there after `--timeout` is hung or stopped \
               (SIGSTOP): stop then fails with its pid, or with `--kill` sends SIGKILL to it \
               and then to its secondaries, and removes what they left as \
               osps-cleanup(1) does.",
            ),
            P(
                "An instance that is not running (stale, partial, corrupt) is not touched: \
               stop says so and points to `osps cleanup`. `--all` stops every running \
               instance whose lock is in RUNDIR, one after the other.",
            ),
            P(super::DURATIONS),
        ],
        sections: vec![
            exit_status(ExitTexts {
                success: "The instance stopped in order (or, with `--kill`, was killed and \
                          cleaned up), or it was not running (a message says so), or \
                          `--all` found nothing running.",
                failure: "The primary did not stop within `--timeout` (its pid is in the \
                          message), or the process holding the lock is not an osps primary, \
                          or a runtime failure. With `--all`: at least one instance did not \
                          stop.",
                corruption: None,
                secondary_failed: Some("There is no such instance: no object of it exists."),
            }),
            environment(Env::Instance),
            files(true),
            section(
                "EXAMPLES",
                vec![
                    P("Stop instance demo, waiting up to 10 seconds:"),
                    Code("osps stop demo --timeout 10s"),
                    P("Stop it whatever its state, then check nothing is left:"),
                    Code("osps stop demo --kill && osps status demo; echo $?    # 4"),
                    P("Stop every running instance of this user:"),
                    Code("osps stop --all"),
                ],
            ),
        ],
        see_also: &["kill(1)", "fcntl(2)"],
    }
}

pub fn top() -> Page {
    Page {
        description: vec![
            P(
                "Each refresh surveys the instances as `osps list` does. The rate is the \
               change of the instance's counter (rounds, or requests when serving) between \
               two refreshes divided by the time between them, so the first refresh has \
               none. The scoreboard has one character per secondary, in the manner of \
               Apache's mod_status: `_` idle, `W` working, `S` starting, `G` stopping, `.` \
               dead.",
            ),
            P(
                "The columns are NAME, STATUS, MODE, PRIMARY (the primary's pid), PER SEC (the \
               rate), TOTAL (rounds or requests so far), RESTARTS, HEARTBEAT and SECONDARIES \
               (live/total and the scoreboard). When the terminal is too narrow for them, \
               the least important are left out first: MODE, RESTARTS, TOTAL, PRIMARY, \
               HEARTBEAT, SECONDARIES, PER SEC, then STATUS; NAME always stays. A number is \
               shown whole or not at all; a name or a scoreboard too long for its column is \
               shortened, with an ellipsis where it was cut (a name in its middle, since names often \
               differ at the end).",
            ),
            Tag("`q`, `Esc`, Ctrl-C", "Quit."),
            Tag("Up, Down, `k`, `j`", "Select an instance."),
            Tag(
                "Enter",
                "Show the selected instance as osps-status(1) describes it; Enter or Esc \
                 closes it.",
            ),
            P(
                "The terminal is restored (main screen, cursor, line mode) whichever way top \
               ends: a key, an error, a panic, or SIGTERM, SIGINT or SIGHUP.",
            ),
            P(super::DURATIONS),
        ],
        sections: vec![
            section(
                "JSON OUTPUT",
                vec![
                    P(
                        "With `--json`, no terminal is needed: after each interval one \
                       compact JSON document on its own line (NDJSON), until \
                       `--iterations` documents were printed or the reader goes away. The \
                       first comes after one interval, so that it has rates.",
                    ),
                    Tag("`.schema_version`", "1."),
                    Tag(
                        "`.unix_ms`, `.monotonic_ns`",
                        "When the counters were read: wall clock, and `CLOCK_MONOTONIC`, \
                         whose differences the rates divide by.",
                    ),
                    Tag(
                        "`.instances[]`",
                        "One object per instance: `name`, `status`, `mode`, `primary`, \
                         `primary_state`, `count`, `rate` (per second since the previous \
                         document, null for an instance not seen before), `restarts`, \
                         `age_ms`, `heartbeat_ms`, `primary_heartbeat_ms`, `clients`, \
                         `queue`, `scoreboard`, and `workers[]`: `index`, `pid`, `alive`, \
                         `state`, `restarts`, `served`, `heartbeat_ms`.",
                    ),
                ],
            ),
            exit_status(ExitTexts {
                success: "top was quit, or printed its `--iterations`.",
                failure: "stdout is not a terminal without `--json`, or a runtime failure.",
                corruption: None,
                secondary_failed: None,
            }),
            environment(Env::Select),
            files(true),
            section(
                "EXAMPLES",
                vec![
                    P("Watch every instance, refreshed twice a second:"),
                    Code("osps top --interval 500ms"),
                    P("The request rate of instance svc, five times:"),
                    Code(
                        r#"osps top --json --iterations 5 --name svc | jq -c '[.instances[] | {name, rate}]'"#,
                    ),
                ],
            ),
        ],
        see_also: &["top(1)", "jq(1)"],
    }
}

pub fn completions() -> Page {
    Page {
        description: vec![P(
            "The script is exactly the file of `completions/` in the sources. In bash, zsh \
           and fish it completes instance names after `--name` and as the NAME of \
           `osps status` and `osps stop`, from this user's segments in `/dev/shm`.",
        )],
        sections: vec![
            exit_status(EXIT_PRINTED),
            environment(Env::Instance),
            files(false),
            section(
                "EXAMPLES",
                vec![
                    P("Install the completions for one user:"),
                    Code(
                        r#"osps completions bash > ~/.local/share/bash-completion/completions/osps
osps completions zsh > ~/.zfunc/_osps    # with fpath+=(~/.zfunc) in ~/.zshrc
osps completions fish > ~/.config/fish/completions/osps.fish"#,
                    ),
                ],
            ),
        ],
        see_also: &["bash(1)", "zsh(1)", "fish(1)"],
    }
}

pub fn man() -> Page {
    Page {
        description: vec![P(
            "The page is exactly the file of `man/` in the sources, in roff; man(1) shows \
           it with `-l -`. Without SUBCOMMAND, the page of `osps` itself.",
        )],
        sections: vec![
            exit_status(EXIT_PRINTED),
            environment(Env::Instance),
            files(false),
            section(
                "EXAMPLES",
                vec![
                    P("Read the page of osps stop:"),
                    Code("osps man stop | man -l -"),
                    P("Install every page for one user:"),
                    Code(
                        r#"mkdir -p ~/.local/share/man/man1
for p in "" primary secondary inspect cleanup client list status stop top completions man; do
  osps man $p > ~/.local/share/man/man1/osps${p:+-$p}.1
done"#,
                    ),
                ],
            ),
        ],
        see_also: &["man(1)", "groff(1)"],
    }
}

const EXIT_PRINTED: ExitTexts = ExitTexts {
    success: "The text was written (a reader that went away early is not an error).",
    failure: "stdout is closed or full.",
    corruption: None,
    secondary_failed: None,
};
