//! Which signal does what: a signal by its number ([`Signo`]) and its name, the
//! [`Treatment`] of each and [`Why`], and the two roles' tables, [`PRIMARY`] and
//! [`SECONDARY`] (the table in `mod.rs` explains them). Pure data and lookups, with no
//! system call: `install.rs` applies a policy, `pipe.rs` picks the stop signal by it, and
//! the man pages list it (`generate/man/signals.rs`). It imports nothing of its neighbours.

use std::fmt;

use nix::sys::signal::Signal;
use nix::sys::signal::Signal::{
    SIGABRT, SIGALRM, SIGBUS, SIGCHLD, SIGFPE, SIGHUP, SIGILL, SIGINT, SIGIO, SIGPIPE, SIGPROF,
    SIGPWR, SIGQUIT, SIGSEGV, SIGSTKFLT, SIGSYS, SIGTERM, SIGTRAP, SIGUSR1, SIGUSR2, SIGVTALRM,
    SIGXCPU, SIGXFSZ,
};

use Treatment::{Bus, Child, CoreDump, Ignore, Status, Stop};
use Why::{Asked, Crash, Debugging, Harmless, Over, Plain, Unused};

/// A signal by its number. nix's `Signal` names only the classic ones; the real-time
/// signals, whose numbers the C library fixes only at run time, are decided, routed and
/// named as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signo(libc::c_int);

impl Signo {
    /// Signal number `n`.
    #[cfg(test)]
    pub fn new(n: libc::c_int) -> Signo {
        Signo(n)
    }

    /// Its number.
    pub fn raw(self) -> libc::c_int {
        self.0
    }

    /// Every real-time signal a program may use, SIGRTMIN..=SIGRTMAX.
    pub fn realtime() -> impl Iterator<Item = Signo> {
        (libc::SIGRTMIN()..=libc::SIGRTMAX()).map(Signo)
    }
}

impl From<Signal> for Signo {
    fn from(signal: Signal) -> Signo {
        Signo(signal as libc::c_int)
    }
}

impl PartialEq<Signal> for Signo {
    fn eq(&self, other: &Signal) -> bool {
        self.0 == *other as libc::c_int
    }
}

/// "SIGTERM", "SIGRTMIN+1", or "signal 32" when it has no name.
impl fmt::Display for Signo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name(self.0) {
            Some(name) => f.write_str(&name),
            None => write!(f, "signal {}", self.0),
        }
    }
}

/// What a process does with one signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Treatment {
    /// Routed through the self-pipe: the process stops in order (see
    /// [`Pending::stop_signal`](super::pipe::Pending::stop_signal)).
    Stop,
    /// Routed through the self-pipe: the process prints its status and runs on.
    Status,
    /// Routed through the self-pipe: a child changed state.
    Child,
    /// Ignored (`SIG_IGN`), unless a handler is already installed when we start.
    Ignore,
    /// Left at its default action, a core dump, on purpose: nothing is installed.
    CoreDump,
    /// SIGBUS, whose handler is `sigbus.rs`'s: a fault in the segment is absorbed, any
    /// other fault is a crash, and one sent by a process (`kill -BUS`) comes through the
    /// self-pipe as a stop.
    Bus,
}

impl Treatment {
    /// Whether a signal so treated asks for the orderly stop when it reaches the main
    /// loop.
    pub fn stops(self) -> bool {
        matches!(self, Treatment::Stop | Treatment::Bus)
    }
}

/// Why a signal is treated so (the last column above): the man pages list signals by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// It means "stop": Ctrl-C, `kill`.
    Asked,
    /// Nobody watches any more (terminal or session gone), or the time is up.
    Over,
    /// Of no use to osps and fatal by default: only the orderly stop leaves nothing behind.
    Unused,
    /// The treatment says it all: SIGUSR1's status line, SIGCHLD, SIGBUS's own handler.
    Plain,
    /// It never means "stop", so it must not end an instance.
    Harmless,
    /// A debugging aid, whose core dump is what one wants then.
    Debugging,
    /// A crash of our own, which must stay loud.
    Crash,
}

/// A signal, its treatment, why, and the man page's note after its name ("" for none).
#[derive(Clone, Copy, Debug)]
struct Rule(Signal, Treatment, Why, &'static str);

/// What one role does with every signal: the classic ones by name, in the order in
/// which a drain picks the stop signal it reports when several arrived, then every
/// real-time signal alike.
#[derive(Debug)]
pub struct Policy {
    named: &'static [Rule],
    realtime: (Treatment, Why),
}

impl Policy {
    /// Every signal it decides, with its treatment: the named ones in table order, then
    /// the real-time ones.
    pub fn decisions(&self) -> impl Iterator<Item = (Signo, Treatment)> + '_ {
        let named = self.named.iter().map(|r| (Signo::from(r.0), r.1));
        named.chain(Signo::realtime().map(|s| (s, self.realtime.0)))
    }

    /// The named signals in table order, each with its treatment, why and note.
    pub fn explained(&self) -> impl Iterator<Item = (Signo, Treatment, Why, &'static str)> + '_ {
        self.named.iter().map(|r| (Signo::from(r.0), r.1, r.2, r.3))
    }

    /// The treatment of every real-time signal, and why.
    pub fn realtime(&self) -> (Treatment, Why) {
        self.realtime
    }

    /// What it does with `signal`, if it decides it.
    #[cfg(test)]
    pub fn treatment(&self, signal: Signo) -> Option<Treatment> {
        self.decisions().find(|&(s, _)| s == signal).map(|(_, t)| t)
    }
}

/// The primary's policy (the table in the module documentation).
#[rustfmt::skip]
pub const PRIMARY: &Policy = &Policy {
    named: &[
        Rule(SIGINT,    Stop,     Asked,       ""),
        Rule(SIGTERM,   Stop,     Asked,       ""),
        Rule(SIGHUP,    Stop,     Over,        "the terminal closed, the SSH session dropped"),
        Rule(SIGALRM,   Stop,     Over,        "time is up, as `timeout -s ALRM` sends; osps arms no alarm"),
        Rule(SIGPWR,    Stop,     Unused,      "a UPS daemon's power warning"),
        Rule(SIGXCPU,   Stop,     Unused,      "the CPU time limit, `ulimit -t`"),
        Rule(SIGSTKFLT, Stop,     Unused,      ""),
        Rule(SIGIO,     Stop,     Unused,      "SIGPOLL"),
        Rule(SIGUSR1,   Status,   Plain,       ""),
        Rule(SIGCHLD,   Child,    Plain,       ""),
        Rule(SIGUSR2,   Ignore,   Harmless,    "no meaning is assigned to it"),
        Rule(SIGVTALRM, Ignore,   Harmless,    "profiling timers; a handler a profiler installed before osps started is kept"),
        Rule(SIGPROF,   Ignore,   Harmless,    "profiling timers; a handler a profiler installed before osps started is kept"),
        Rule(SIGPIPE,   Ignore,   Harmless,    "a write to a closed FIFO or socket returns `EPIPE`"),
        Rule(SIGXFSZ,   Ignore,   Harmless,    ""),
        Rule(SIGQUIT,   CoreDump, Debugging,   "the terminal's quit key"),
        Rule(SIGTRAP,   CoreDump, Debugging,   "a debugger's breakpoint"),
        Rule(SIGSYS,    CoreDump, Debugging,   "a system call that a seccomp filter forbids"),
        Rule(SIGSEGV,   CoreDump, Crash,       ""),
        Rule(SIGILL,    CoreDump, Crash,       ""),
        Rule(SIGFPE,    CoreDump, Crash,       ""),
        Rule(SIGABRT,   CoreDump, Crash,       ""),
        Rule(SIGBUS,    Bus,      Plain,       ""),
    ],
    realtime: (Stop, Unused),
};

/// The secondary's policy: only SIGTERM and the signals the primary takes as SIGTERM are
/// seen (it stops only when its primary is gone); everything a terminal or a group
/// `kill` sends is left to the primary.
#[rustfmt::skip]
pub const SECONDARY: &Policy = &Policy {
    named: &[
        Rule(SIGTERM,   Stop,     Asked,       ""),
        Rule(SIGPWR,    Stop,     Unused,      ""),
        Rule(SIGXCPU,   Stop,     Unused,      ""),
        Rule(SIGSTKFLT, Stop,     Unused,      ""),
        Rule(SIGIO,     Stop,     Unused,      ""),
        Rule(SIGINT,    Ignore,   Asked,       ""),
        Rule(SIGHUP,    Ignore,   Over,        ""),
        Rule(SIGALRM,   Ignore,   Over,        ""),
        Rule(SIGUSR1,   Ignore,   Plain,       ""),
        Rule(SIGUSR2,   Ignore,   Harmless,    ""),
        Rule(SIGVTALRM, Ignore,   Harmless,    ""),
        Rule(SIGPROF,   Ignore,   Harmless,    ""),
        Rule(SIGPIPE,   Ignore,   Harmless,    ""),
        Rule(SIGXFSZ,   Ignore,   Harmless,    ""),
        Rule(SIGQUIT,   CoreDump, Debugging,   ""),
        Rule(SIGTRAP,   CoreDump, Debugging,   ""),
        Rule(SIGSYS,    CoreDump, Debugging,   ""),
        Rule(SIGSEGV,   CoreDump, Crash,       ""),
        Rule(SIGILL,    CoreDump, Crash,       ""),
        Rule(SIGFPE,    CoreDump, Crash,       ""),
        Rule(SIGABRT,   CoreDump, Crash,       ""),
        Rule(SIGBUS,    Bus,      Plain,       ""),
    ],
    realtime: (Stop, Unused),
};

/// The name of signal number `n`, if it has one: nix's for the classic signals, and
/// `SIGRTMIN`, `SIGRTMIN+k` or `SIGRTMAX` for the real-time ones, which nix's enum lacks
/// and whose numbers the C library fixes only at run time (it keeps the kernel's first
/// two for itself: those, 32 and 33 on Linux, have no name).
pub fn name(n: libc::c_int) -> Option<String> {
    if let Ok(signal) = Signal::try_from(n) {
        return Some(signal.as_str().to_string());
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    match n {
        _ if n == min => Some("SIGRTMIN".into()),
        _ if n == max => Some("SIGRTMAX".into()),
        _ if n > min && n < max => Some(format!("SIGRTMIN+{}", n - min)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signal's default action, as signal(7) lists it for x86 and ARM Linux.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Action {
        Term,
        Core,
        Ign,
        Stop,
        Cont,
    }

    /// signal(7)'s table, 1..=31 (32 and up are real-time signals, default Term).
    const DEFAULTS: [(i32, &str, Action); 31] = {
        use Action::*;
        [
            (1, "SIGHUP", Term),
            (2, "SIGINT", Term),
            (3, "SIGQUIT", Core),
            (4, "SIGILL", Core),
            (5, "SIGTRAP", Core),
            (6, "SIGABRT", Core),
            (7, "SIGBUS", Core),
            (8, "SIGFPE", Core),
            (9, "SIGKILL", Term),
            (10, "SIGUSR1", Term),
            (11, "SIGSEGV", Core),
            (12, "SIGUSR2", Term),
            (13, "SIGPIPE", Term),
            (14, "SIGALRM", Term),
            (15, "SIGTERM", Term),
            (16, "SIGSTKFLT", Term),
            (17, "SIGCHLD", Ign),
            (18, "SIGCONT", Cont),
            (19, "SIGSTOP", Stop),
            (20, "SIGTSTP", Stop),
            (21, "SIGTTIN", Stop),
            (22, "SIGTTOU", Stop),
            (23, "SIGURG", Ign),
            (24, "SIGXCPU", Core),
            (25, "SIGXFSZ", Core),
            (26, "SIGVTALRM", Term),
            (27, "SIGPROF", Term),
            (28, "SIGWINCH", Ign),
            (29, "SIGIO", Term),
            (30, "SIGPWR", Term),
            (31, "SIGSYS", Core),
        ]
    };

    /// The default action of signal `n` (1..=SIGRTMAX).
    fn default_of(n: i32) -> Action {
        match DEFAULTS.iter().find(|&&(m, _, _)| m == n) {
            Some(&(_, _, d)) => d,
            None => Action::Term,
        }
    }

    #[test]
    fn the_table_of_default_actions_names_the_signals_this_system_numbers() {
        for (n, name, _) in DEFAULTS {
            assert_eq!(super::name(n).as_deref(), Some(name), "signal {n}");
        }
        assert_eq!(libc::SIGRTMAX(), 64, "Linux on x86 and ARM");
    }

    #[test]
    fn every_signal_number_is_named_as_kill_l_names_it_or_not_at_all() {
        assert_eq!(name(libc::SIGTERM).as_deref(), Some("SIGTERM"));
        assert_eq!(name(libc::SIGPWR).as_deref(), Some("SIGPWR"));
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        assert_eq!(name(min).as_deref(), Some("SIGRTMIN"));
        assert_eq!(name(min + 1).as_deref(), Some("SIGRTMIN+1"));
        assert_eq!(name(max).as_deref(), Some("SIGRTMAX"));
        // The C library's own (SIGCANCEL, SIGSETXID in glibc), and no signal at all.
        for n in [0, 32, 33, max + 1, -1] {
            assert_eq!(name(n), None, "{n}");
        }
        assert_eq!(Signo::new(min + 2).to_string(), "SIGRTMIN+2");
        assert_eq!(Signo::new(32).to_string(), "signal 32");
    }

    #[test]
    fn every_signal_whose_default_kills_is_decided_for_both_roles() {
        let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        for (role, policy) in [("primary", PRIMARY), ("secondary", SECONDARY)] {
            for n in 1..=rtmax {
                let fatal = matches!(default_of(n), Action::Term | Action::Core);
                let decided = policy.treatment(Signo::new(n));
                // SIGKILL cannot be caught; the C library keeps 32..SIGRTMIN for itself.
                let undecidable = n == libc::SIGKILL || (32..rtmin).contains(&n);
                if undecidable {
                    assert_eq!(decided, None, "{role}: {} cannot be decided", Signo::new(n));
                } else if fatal {
                    assert!(
                        decided.is_some(),
                        "{role}: {} is not decided",
                        Signo::new(n)
                    );
                }
                let n_decisions = policy.decisions().filter(|&(s, _)| s.raw() == n).count();
                assert!(n_decisions <= 1, "{role}: {} decided twice", Signo::new(n));
            }
            // The exceptions, left to their core dump: a debugging aid, or a crash.
            let core: Vec<String> = policy
                .decisions()
                .filter(|&(_, t)| t == Treatment::CoreDump)
                .map(|(s, _)| s.to_string())
                .collect();
            assert_eq!(
                core,
                [
                    "SIGQUIT", "SIGTRAP", "SIGSYS", "SIGSEGV", "SIGILL", "SIGFPE", "SIGABRT"
                ],
                "{role}"
            );
            assert_eq!(policy.treatment(SIGBUS.into()), Some(Treatment::Bus));
        }
    }

    #[test]
    fn the_secondary_takes_as_sigterm_what_the_primary_stops_on_but_group_signals() {
        // What a terminal or `timeout` sends to the whole group reaches the primary too,
        // which stops the secondary in order: the secondary ignores it.
        let group = [SIGINT, SIGHUP, SIGALRM].map(Signo::from);
        for (signal, treatment) in PRIMARY.decisions() {
            let theirs = SECONDARY.treatment(signal);
            let expected = match treatment {
                Treatment::Stop if group.contains(&signal) => Treatment::Ignore,
                Treatment::Status => Treatment::Ignore,
                Treatment::Child => continue,
                t => t,
            };
            assert_eq!(theirs, Some(expected), "{signal}");
        }
        assert!(
            SECONDARY
                .decisions()
                .all(|(s, _)| PRIMARY.treatment(s).is_some()),
            "the secondary decides nothing the primary does not"
        );
    }
}
