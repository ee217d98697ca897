//! Signals, the self-pipe way: a handler may do almost nothing safely, so ours writes
//! one byte (the signal number) into a non-blocking, close-on-exec pipe. The main loop
//! `poll`s the read end together with its FIFO, and learns about each signal at the exact
//! point where it can act on it.
//!
//! The pipe object also remembers requests: once a drain has seen a stop signal,
//! [`SelfPipe::stop_requested`] says so for the rest of the run, and a SIGUSR1 stays
//! noted until [`SelfPipe::take_status_request`] takes it. So a drain anywhere (in a
//! wait for a child, a backoff pause) loses nothing, and no function has to carry a flag
//! back to its caller.
//!
//! Every signal whose default action would kill a primary is decided here, in
//! [`PRIMARY`] (the secondary's choices are in [`SECONDARY`]), the real-time ones too:
//! nix's `Signal` cannot name them, so a signal is a number here ([`Signo`](policy::Signo)).
//!
//! | signal | primary | secondary | why |
//! |---|---|---|---|
//! | SIGINT, SIGTERM | stop in order | SIGINT ignored; SIGTERM waits for the primary's stop | Ctrl-C and `kill` mean "stop" |
//! | SIGHUP | stop in order (still ignored when inherited ignored: `nohup`) | ignored | the terminal or the SSH session is gone: nobody watches any more |
//! | SIGALRM | stop in order | ignored | "time is up" (`timeout -s ALRM`); osps arms no alarm, so one that arrives was sent to end it |
//! | SIGPWR, SIGSTKFLT, SIGIO, SIGXCPU, SIGRTMIN..=SIGRTMAX | stop in order | as SIGTERM | osps uses none of them (no `O_ASYNC`, no real-time signal, no CPU limit of its own): one that arrives was sent to end it (a UPS daemon's power warning, the `ulimit -t` CPU limit) or by mistake, and either way only the orderly stop leaves nothing behind |
//! | SIGUSR1 | one status line on stderr, runs on | ignored | the `dd` convention |
//! | SIGUSR2 | ignored | ignored | no meaning assigned: a stray one (a `pkill -USR2` aimed at another program) must not end an instance |
//! | SIGVTALRM, SIGPROF | ignored, unless a handler is already installed | same | profiling timers: they mean "a timer fired", never "stop"; a profiler loaded before `main` keeps its handler |
//! | SIGPIPE | ignored | ignored | a write to a FIFO or socket whose reader died returns `EPIPE`, and a closed stdout is an error we handle |
//! | SIGXFSZ | ignored | ignored | growing a file past `RLIMIT_FSIZE` (`ulimit -f`) fails with `EFBIG`, which we report, instead of a core dump that leaves the instance behind |
//! | SIGQUIT, SIGTRAP, SIGSYS | default: a core dump | same | the exceptions: Ctrl-\\, a debugger's breakpoint, a system call a seccomp filter forbids; a core dump is what one wants then |
//! | SIGILL, SIGFPE, SIGSEGV, SIGABRT | default: a core dump | same | a crash of our own, which must stay loud |
//! | SIGBUS | a fault in the segment is absorbed (`sigbus.rs`); one sent by a process (`kill -BUS`) stops in order; any other fault is a crash | same, a sent one as SIGTERM | a truncated segment must not kill us, and a sent SIGBUS is no fault but a request to end |
//!
//! The secondary ignores every signal that a terminal or a process-group `kill` sends
//! to the whole group, because the primary receives it too and stops the secondary in
//! order; a secondary whose primary died still ends, by end of file on its FIFO or the
//! kernel's SIGTERM (`PR_SET_PDEATHSIG`). An ignored disposition (`SIG_IGN`) survives
//! `exec`, which the secondary relies on between the primary's fork and its own `main`.
//! So does the signal mask: installing a policy unblocks every signal it handles, or a
//! parent that blocked SIGTERM before starting us would leave us deaf to it.
//! SIGKILL and SIGSTOP cannot be caught, and the two or three real-time signals below
//! SIGRTMIN are the C library's own (glibc's thread cancellation and set*id broadcast):
//! it refuses to let a program handle them. After any such death, `osps cleanup`
//! removes what is left.
//!
//! Four parts, each importing only those before it: which signal does what
//! (`policy.rs`), the handlers and the statics they write (`handler.rs`), delivery to the
//! main loop (`pipe.rs`: the [`SelfPipe`] and its drain), and installing a policy
//! (`install.rs`: dispositions, the signal mask, opening the pipe). The rest of osps uses
//! them through the names re-exported here.

mod handler;
mod install;
mod pipe;
mod policy;

pub use handler::{arrived, stop_arrived, wake};
pub use pipe::SelfPipe;
pub use policy::{PRIMARY, Policy, SECONDARY, Treatment, Why, name};
