//! The hand-written part of osps-audit(1): everything about the audit's page is here, so
//! that it moves as one piece (the `audit` arm of `manual::page` is its only hook).

use super::Block::{Code, P, Tag};
use super::{DURATIONS, Env, Page, environment, files, section};

pub fn audit() -> Page {
    Page {
        description: vec![
            P(
                "Use it on your own lab program: `osps audit -- python3 pair.py`. Put the \
               program and its arguments after `--`. The audit follows the program's main \
               process and everything it starts, through fork(2), vfork(2), clone(2) \
               (threads included) and execve(2), with ptrace(2). A seccomp-bpf filter \
               stops the program only on the system calls that matter: open and openat \
               with `O_CREAT`, openat2, creat, mknod, mknodat, unlink, unlinkat, rename, \
               renameat, renameat2, link, linkat, ftruncate, fallocate, wait4, waitid, \
               kill, tkill, tgkill, shmget and shmctl. Every other call runs at full \
               speed, as under `strace --seccomp-bpf`.",
            ),
            P(
                "The audit ends when the main process has ended and `--grace` has passed \
               (or sooner, when no traced process is left), or when `--timeout` runs out, \
               for a program that never ends. While only Python's multiprocessing \
               resource tracker still runs, the audit waits for it (at most 5 seconds \
               more): it removes what the program leaked, and the report says so.",
            ),
            P(
                "Paths are resolved as the kernel resolves them, while the program is \
               stopped at the call: a relative path from its working directory \
               (`/proc/PID/cwd`), an `*at` call from its directory descriptor \
               (`/proc/PID/fd/N`). A POSIX shared-memory segment is a file created in \
               `/dev/shm` (what shm_open(3) does); `/dev/shm/sem.NAME` is a named \
               semaphore (sem_open(3)), listed among the segments with the kind \
               `semaphore`. System V segments (shmget(2) with `IPC_CREAT`, removed by \
               shmctl(2) `IPC_RMID`) have the kind `sysv`. A FIFO is a mknod of type \
               `S_IFIFO` (mkfifo(3), os.mkfifo).",
            ),
            P(
                "Who reaped whom comes from the return of wait4(2) and waitid(2). The \
               audit is a child subreaper (PR_SET_CHILD_SUBREAPER): a process whose \
               parent ended first comes to it, and it reaps that process itself; then \
               `reaped_by` is null, since the program never reaped it, and the finding \
               `parent-first` says what happened. It reports only: it removes no \
               segment, semaphore or FIFO, unless `--clean` is given; then, after the \
               report and after the tracees are ended, it removes each object the report \
               marked as left (a FIFO only if it is still a FIFO), one line on stderr for \
               each, and the exit status still says there were findings.",
            ),
            P(
                "At the end, the report is written first; then every traced process still \
               alive is killed with SIGKILL. They are not detached: the seccomp filter \
               stays in a process for its whole life, and once no tracer is there every \
               call it sends to the tracer fails with ENOSYS, so a detached program \
               would go on broken. For the same reason the tracees get \
               `PTRACE_O_EXITKILL`: if the audit itself is killed, they die with it. \
               SIGINT (Ctrl-C) or SIGTERM to the audit stops following at once, writes \
               the report of what was seen so far, ends the tracees, and exits with \
               status 130 or 143.",
            ),
            P(
                "Limits. The program runs with no_new_privs (needed for an unprivileged \
               seccomp filter): a setuid or setgid program runs without its privileges, \
               so it cannot be audited this way. ptrace must be allowed: with the Yama \
               policy `kernel.yama.ptrace_scope` set to 3, or in a container whose seccomp \
               profile forbids ptrace, the audit says so and exits with status 1. A \
               process of the program that is stopped by SIGSTOP or SIGTSTP is resumed \
               (the audit does not keep group-stops). Calls made through another ABI \
               (32-bit calls on x86_64) are not seen. A program already traced (under \
               strace or gdb) cannot be audited.",
            ),
            P(
                "The audit itself reads none of the variables of ENVIRONMENT and makes \
               none of the files of FILES; they matter when the audited program is \
               osps itself. The program gets the audit's environment and umask as they \
               are.",
            ),
            P(DURATIONS),
        ],
        sections: vec![
            section(
                "FINDINGS",
                vec![
                    P(
                        "Each finding is one line of the report (first, before the process \
                       tree and the objects) with a hint; in JSON an object with `kind`, \
                       `pid`, `path`, `message` and `hint`.",
                    ),
                    Tag(
                        "`segment-left`",
                        "A shared-memory segment (POSIX or System V) still there at the end; \
                         or one that Python's resource tracker removed at shutdown, which \
                         means the program never called shm.unlink(): the segment's \
                         `unlinked_by` is then the tracker's pid.",
                    ),
                    Tag(
                        "`semaphore-left`",
                        "A named semaphore still there at the end.",
                    ),
                    Tag("`fifo-left`", "A FIFO still there at the end."),
                    Tag(
                        "`zombie`",
                        "A child reaped more than `--zombie-threshold` after it exited (the \
                         measured time is given), or never reaped.",
                    ),
                    Tag(
                        "`left-running`",
                        "A process still running when the audit ended (then killed).",
                    ),
                    Tag(
                        "`parent-first`",
                        "A process whose parent ended while it still ran; it was adopted.",
                    ),
                    Tag(
                        "`killed`",
                        "A process ended by a signal that no process of the program sent \
                         (kill, tkill and tgkill are traced): a crash (SIGSEGV, SIGBUS), a \
                         SIGPIPE, or a process outside the audit.",
                    ),
                ],
            ),
            section(
                "JSON OUTPUT",
                vec![
                    P("With `--json`, one JSON object on stdout, described by \
                       schema/audit.schema.json in the sources. Times are milliseconds \
                       since the audit started. The program's own output goes where it \
                       would go without the audit: redirect it when you parse the report."),
                    Tag("`.schema_version`", "1."),
                    Tag(
                        "`.command`",
                        "`argv` (as given), `exit_code` and `signal` of the main process \
                         (null when it did not end by itself), `duration_ms` of the audit.",
                    ),
                    Tag(
                        "`.ended_by`",
                        "`program`, `timeout`, `SIGINT` or `SIGTERM`.",
                    ),
                    Tag(
                        "`.processes[]`",
                        "`pid`, `ppid`, `argv` (after the last exec), `start_ms`, `exit_ms`, \
                         `exit_code`, `signal` (a name such as `SIGKILL`), `reaped_by` (the \
                         pid whose wait reaped it; null if the program never did), \
                         `reaped_ms`, `zombie_ms` (from exit to reap; null if never reaped), \
                         `parent_first`, `left_running`.",
                    ),
                    Tag(
                        "`.segments[]`",
                        "`kind` (`shm`, `semaphore` or `sysv`), `name` (`/NAME`), \
                         `name_hex`, `created_by`, `created_ms`, `size` (the last ftruncate \
                         or fallocate seen, else null), `unlinked_by` (null if none), \
                         `unlinked_ms`, `left` (still there at the end).",
                    ),
                    Tag(
                        "`.fifos[]`",
                        "`path`, `path_hex`, `created_by`, `created_ms`, `unlinked_by`, \
                         `unlinked_ms`, `left`.",
                    ),
                    Tag(
                        "`.findings[]`",
                        "`kind`, `pid`, `path` (null when the finding is about a process), \
                         `message`, `hint`.",
                    ),
                    P(
                        "A name or path that is not UTF-8 is given lossily (U+FFFD for the \
                       bad bytes) and exactly in `name_hex` or `path_hex` (its bytes in \
                       hex; null for UTF-8). A newline is an ordinary JSON escape. The \
                       human report escapes such bytes (`\\n`, `\\xff`).",
                    ),
                ],
            ),
            section(
                "EXIT STATUS",
                vec![
                    Tag(
                        "0",
                        "The audit found nothing wrong (the program's own status is in the report).",
                    ),
                    Tag(
                        "1",
                        "At least one finding; or the audit could not run (ptrace refused, \
                         stdout closed), said on stderr.",
                    ),
                    Tag(
                        "2",
                        "Usage error: no command, an unknown option, a bad duration.",
                    ),
                    Tag("3", "Not used by this command."),
                    Tag("4", "Not used by this command."),
                    Tag("126", "The program exists but cannot be executed."),
                    Tag("127", "The program was not found."),
                    Tag(
                        "130",
                        "The audit was interrupted by SIGINT (after its report).",
                    ),
                    Tag(
                        "143",
                        "The audit was stopped by SIGTERM (after its report).",
                    ),
                ],
            ),
            environment(Env::Select),
            files(false),
            section(
                "EXAMPLES",
                vec![
                    P("Audit a lab pair, then list what it left, from the JSON report:"),
                    Code(
                        r#"osps audit -- python3 pair.py
osps audit --json -- python3 pair.py >report.json
jq -r '.findings[] | "\(.kind): \(.message)"' report.json"#,
                    ),
                    P("A server that never ends: follow it for 10 seconds."),
                    Code("osps audit --timeout 10s -- ./server"),
                    P("Audit osps itself:"),
                    Code("osps audit -- osps primary --rounds 1000"),
                ],
            ),
        ],
        see_also: &[
            "ptrace(2)",
            "seccomp(2)",
            "wait4(2)",
            "shm_open(3)",
            "mkfifo(3)",
            "strace(1)",
        ],
    }
}
