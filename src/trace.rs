//! `osps primary --trace`: one line per system-level step of both processes, so a student
//! can watch the lab happen (the segment created, the fork, the handshake, the zombie
//! interval, every object removed) with real timings, in one timeline.
//!
//! The configuration is set once per process, at start: the primary from `--trace`, the
//! secondary from the environment variable [`ENV`] that the primary sets for it (the format
//! and the primary's start instant on `CLOCK_MONOTONIC`, so both sides count microseconds
//! from the same origin). When tracing is off, a [`trace!`](crate::trace!) costs one
//! `OnceLock::get` (an atomic load) and a branch: its arguments are not even evaluated.
//!
//! Each event is built whole and written with a single write(2), so the primary's and the
//! secondary's lines never interleave on the stderr they share (a write of less than
//! `PIPE_BUF` bytes to a pipe is atomic; a terminal or a file gets the line in one piece too).

use std::fmt::{self, Display, Write as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::clock::monotonic_ns;

/// Carries the trace format and the primary's start instant to the secondary:
/// `text:NANOSECONDS` or `json:NANOSECONDS` (`CLOCK_MONOTONIC`).
pub const ENV: &str = "OSPS_TRACE";

/// How many rounds are traced one by one before only powers of ten are.
const FIRST_ROUNDS: u64 = 3;

/// The trace's output format (`--trace[=FORMAT]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned lines for people: time, role, pid, step, details
    Text,
    /// One JSON object per line (NDJSON): t_us, pid, role, step, details
    Json,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
        }
    }
}

/// Which process writes the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Primary,
    Secondary(u32),
}

impl Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::Primary => f.write_str("primary"),
            Who::Secondary(i) => write!(f, "secondary {i}"),
        }
    }
}

#[derive(Debug)]
struct Config {
    format: Format,
    who: Who,
    /// The primary's start on `CLOCK_MONOTONIC`: every `t_us` counts from here.
    t0_ns: u64,
    pid: u32,
}

/// Set once at start, only when tracing is on: `None` is the fast path.
static CONFIG: OnceLock<Config> = OnceLock::new();

/// Whether this process traces. The only cost of a [`trace!`](crate::trace!) when it does not.
#[inline(always)]
pub fn on() -> bool {
    CONFIG.get().is_some()
}

/// Sets up tracing for a primary (`--trace FORMAT`, or none). Must be called at the start
/// of `main`, before any thread exists (it changes the environment).
pub fn init_primary(format: Option<Format>) {
    let Some(format) = format else {
        // A stray variable from the caller's shell must not make our secondary
        // trace against someone else's clock origin.
        // SAFETY: called at the start of main, before any other thread exists.
        unsafe { std::env::remove_var(ENV) };
        return;
    };
    let t0_ns = monotonic_ns();
    // SAFETY: called at the start of main, before any other thread exists. The
    // variable reaches the secondary through execv, which passes our environment.
    unsafe { std::env::set_var(ENV, env_value(format, t0_ns)) };
    set(format, Who::Primary, t0_ns);
    crate::trace!("start", command = "primary", format = format.as_str());
}

/// Sets up tracing for secondary number `index`: it traces when its primary does, as
/// the environment the primary passed through exec says.
pub fn init_secondary(index: u32) {
    let Some(value) = std::env::var_os(ENV) else {
        return;
    };
    match value.to_str().and_then(parse_env) {
        Some((format, t0_ns)) => {
            set(format, Who::Secondary(index), t0_ns);
            secondary_started();
        }
        None => crate::warn!(
            "ignoring {ENV}={}: expected text:NANOSECONDS or json:NANOSECONDS",
            value.to_string_lossy()
        ),
    }
}

/// The secondary's first steps, seen from inside: what the exec ran, and the death signal
/// its parent asked for between fork and exec (an exec keeps it, unless set-uid).
fn secondary_started() {
    let ppid = nix::unistd::getppid().as_raw();
    crate::trace!("start", command = "secondary", ppid = ppid);
    let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    crate::trace!("execve", path = "/proc/self/exe", exe = exe, ppid = ppid);
    let mut signal: libc::c_int = 0;
    // SAFETY: PR_GET_PDEATHSIG writes one int through the pointer, which is valid.
    let got = unsafe { libc::prctl(libc::PR_GET_PDEATHSIG, &mut signal as *mut libc::c_int) };
    if got == 0 {
        let name = nix::sys::signal::Signal::try_from(signal).map_or("none", |s| s.as_str());
        crate::trace!("pdeathsig", signal = name, how = "prctl(PR_SET_PDEATHSIG)");
    }
}

fn set(format: Format, who: Who, t0_ns: u64) {
    let pid = std::process::id();
    let _ = CONFIG.set(Config {
        format,
        who,
        t0_ns,
        pid,
    });
}

/// The value of [`ENV`] for the secondary.
fn env_value(format: Format, t0_ns: u64) -> String {
    format!("{}:{t0_ns}", format.as_str())
}

/// Parses the value of [`ENV`]; `None` when malformed.
fn parse_env(value: &str) -> Option<(Format, u64)> {
    let (format, t0) = value.split_once(':')?;
    let format = match format {
        "text" => Format::Text,
        "json" => Format::Json,
        _ => return None,
    };
    Some((format, t0.parse().ok()?))
}

/// Whether round `n` (counted from 1) is traced: the first few, then every power of ten,
/// so a million rounds give a dozen lines. Also false when tracing is off.
#[inline(always)]
pub fn sampled(n: u64) -> bool {
    on() && shown(n)
}

fn shown(n: u64) -> bool {
    n <= FIRST_ROUNDS || is_power_of_ten(n)
}

fn is_power_of_ten(mut n: u64) -> bool {
    if n == 0 {
        return false;
    }
    while n % 10 == 0 {
        n /= 10;
    }
    n == 1
}

/// One detail's value: numbers stay numbers in JSON.
#[derive(Clone, Copy)]
pub enum Value<'a> {
    Uint(u64),
    Int(i64),
    Bool(bool),
    Str(&'a str),
    Text(&'a dyn Display),
    Path(&'a Path),
}

/// What may be given as a detail to [`trace!`](crate::trace!).
pub trait ToValue {
    fn to_value(&self) -> Value<'_>;
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value<'_> {
                Value::Uint(*self as u64)
            }
        }
    )*};
}
unsigned!(u8, u16, u32, u64, usize);

macro_rules! signed {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value<'_> {
                Value::Int(*self as i64)
            }
        }
    )*};
}
signed!(i32, i64);

impl ToValue for bool {
    fn to_value(&self) -> Value<'_> {
        Value::Bool(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value<'_> {
        Value::Str(self)
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value<'_> {
        Value::Str(self)
    }
}

impl ToValue for Path {
    fn to_value(&self) -> Value<'_> {
        Value::Path(self)
    }
}

impl ToValue for PathBuf {
    fn to_value(&self) -> Value<'_> {
        Value::Path(self)
    }
}

impl ToValue for fmt::Arguments<'_> {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

/// Traces one step: `trace!("shm_open", name = n, flags = "O_RDWR|O_CREAT|O_EXCL", mode = "0600")`.
/// The step is a stable snake_case name listed in [`STEPS`]; the
/// details are `key = value` pairs. When tracing is off nothing after the first
/// argument is evaluated.
#[macro_export]
macro_rules! trace {
    ($step:literal $(, $key:ident = $value:expr)* $(,)?) => {
        if $crate::trace::on() {
            $crate::trace::emit(
                $step,
                None,
                &[$((stringify!($key), $crate::trace::ToValue::to_value(&$value))),*],
            );
        }
    };
    // `trace!("fork" @ stamp, ...)`: the step happened at `stamp` (from [`stamp`]), earlier
    // than the line can be written.
    ($step:literal @ $at:expr $(, $key:ident = $value:expr)* $(,)?) => {
        if $crate::trace::on() {
            $crate::trace::emit(
                $step,
                $at,
                &[$((stringify!($key), $crate::trace::ToValue::to_value(&$value))),*],
            );
        }
    };
}

/// The moment a step starts, for a line that can only be written after it (the fork,
/// whose child may run first): `None`, and no clock read, when tracing is off.
#[inline(always)]
pub fn stamp() -> Option<u64> {
    on().then(monotonic_ns)
}

/// Writes one event (called by [`trace!`](crate::trace!) once it knows tracing is on).
#[cold]
pub fn emit(step: &str, at_ns: Option<u64>, details: &[(&str, Value<'_>)]) {
    let Some(c) = CONFIG.get() else {
        return;
    };
    let t_us = at_ns.unwrap_or_else(monotonic_ns).saturating_sub(c.t0_ns) / 1000;
    let line = match c.format {
        Format::Text => text_line(t_us, c.who, c.pid, step, details),
        Format::Json => json_line(t_us, c.who, c.pid, step, details),
    };
    // One write(2) for the whole line (stderr is unbuffered); a failed write to stderr
    // has nowhere to be reported.
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The widest step name, so the details of every line start in one column.
const STEP_WIDTH: usize = 17;

/// `   153 µs  primary      1234  shm_open         name=/osps.1000.osps mode=0600`
fn text_line(t_us: u64, who: Who, pid: u32, step: &str, details: &[(&str, Value<'_>)]) -> String {
    let mut line = format!(
        "{t_us:>9} µs  {:<12} {pid:>7}  {step:<STEP_WIDTH$}",
        who.to_string()
    );
    for (key, value) in details {
        let text = match value {
            Value::Uint(n) => n.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Str(t) => t.to_string(),
            Value::Text(t) => t.to_string(),
            Value::Path(p) => p.display().to_string(),
        };
        // A value with a space or nothing in it is quoted, so `key=value` stays one word.
        if text.is_empty() || text.contains(char::is_whitespace) || text.contains('"') {
            let _ = write!(line, " {key}={text:?}");
        } else {
            let _ = write!(line, " {key}={text}");
        }
    }
    let trimmed = line.trim_end().len();
    line.truncate(trimmed);
    line.push('\n');
    line
}

/// `{"t_us":153,"pid":1234,"role":"primary","step":"shm_open","details":{"mode":"0600"}}`;
/// a secondary's line also has `"index":I`.
fn json_line(t_us: u64, who: Who, pid: u32, step: &str, details: &[(&str, Value<'_>)]) -> String {
    let mut line = format!("{{\"t_us\":{t_us},\"pid\":{pid},");
    match who {
        Who::Primary => line.push_str("\"role\":\"primary\","),
        Who::Secondary(i) => {
            let _ = write!(line, "\"role\":\"secondary\",\"index\":{i},");
        }
    }
    let _ = write!(line, "\"step\":{},\"details\":{{", json_string(step));
    for (n, (key, value)) in details.iter().enumerate() {
        if n > 0 {
            line.push(',');
        }
        line.push_str(&json_string(key));
        line.push(':');
        match value {
            Value::Uint(v) => {
                let _ = write!(line, "{v}");
            }
            Value::Int(v) => {
                let _ = write!(line, "{v}");
            }
            Value::Bool(b) => {
                let _ = write!(line, "{b}");
            }
            Value::Str(t) => line.push_str(&json_string(t)),
            Value::Text(t) => line.push_str(&json_string(&t.to_string())),
            Value::Path(p) => line.push_str(&json_string(&p.to_string_lossy())),
        }
    }
    line.push_str("}}\n");
    line
}

fn json_string(s: &str) -> String {
    // Serialising a &str cannot fail; the fallback keeps the line valid JSON regardless.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// Defines [`STEPS`]: each step's name, the same name as a bold man-page tag, and what it
/// means. The man page of `osps primary` lists them from here.
macro_rules! steps {
    ($($name:literal => $what:literal,)*) => {
        /// Every step name a trace may show, in the order of a run: `(name, man tag, meaning)`.
        pub const STEPS: &[(&str, &str, &str)] = &[$(($name, concat!("`", $name, "`"), $what)),*];
    };
}

steps! {
    "start" => "The process starts tracing: its `command` (`primary` or `secondary`) and, \
        for the secondary, its parent's pid (`ppid`).",
    "runtime_dir" => "RUNDIR was checked (`created` says whether it had to be made) with its \
        `mode` (0700).",
    "stale_removed" => "An object of a crashed instance of the same name was removed before \
        starting (`path`).",
    "lock_created" => "The lock file was created exclusively under a temporary name (`path`, \
        `flags`, `mode`).",
    "lock_locked" => "The lock file is locked for the primary's whole life and renamed into \
        place (`how`: a POSIX record lock, fcntl F_SETLK F_WRLCK on the whole file) and \
        holds its `pid`.",
    "shm_open" => "The segment was opened: `name` (the shm_open name), `path`, `flags` \
        (O_CREAT|O_EXCL for the primary, O_RDWR only for the secondary), `mode`.",
    "fallocate" => "The segment's memory was reserved (`bytes`), so a full /dev/shm fails now \
        rather than with SIGBUS later.",
    "mmap" => "The segment was mapped (`bytes`, `prot`, `flags`: MAP_SHARED, so both \
        processes see one copy).",
    "header_written" => "The primary wrote the header: `magic`, `version`, `size`, \
        `data_offset`, `secondaries`.",
    "header_checked" => "The secondary validated the header before using the segment.",
    "mkfifo" => "A FIFO was created (`path`, `mode`).",
    "fifo_open" => "A FIFO end was opened: `path`, `end` (read or write), `flags`, and \
        `waited` (false: osps opens with O_NONBLOCK and orders the opens so that none \
        waits). A write end opens only once its reader is there (`reader`); before that, \
        `result` is ENXIO.",
    "fork" => "The primary forked: `child` is the new process's pid. The time is the \
        moment of the fork, but the line is written when fork returns in the parent, and \
        the child may run first: its first lines can come before this one.",
    "execve" => "The child runs `/proc/self/exe` as `osps secondary` (traced by the \
        secondary, first thing after the exec: `exe` is the binary that link points to).",
    "pdeathsig" => "The secondary's parent-death signal, set between fork and exec \
        (prctl PR_SET_PDEATHSIG): SIGTERM when the primary dies.",
    "hello_sent" => "The secondary writes its Hello frame (its pid) on s2p (traced just \
        before the write).",
    "hello_received" => "The primary read the Hello frame.",
    "ready_sent" => "The primary writes Ready (the `base` turn number) on p2s (traced just \
        before the write).",
    "ready_received" => "The secondary read Ready: the handshake is over.",
    "turn" => "A side got its turn (both sides trace it): `seq`, and `waited`: `spun` when \
        the peer's turn counter was seen while polling the segment, `slept` when the wait \
        ended by a frame on the FIFO. The first three turns, then turns 10, 100, 1000, ...",
    "round" => "A round completed and checked (the primary's view): `seq`, `completed`, \
        the turn counters `request_seq` and `reply_seq` read from the segment, and \
        `rtt_us`, sampled like `turn`.",
    "request" => "Serving mode: a client's request handed to `secondary` (`seq`, `bytes`), \
        sampled like `turn` for each secondary.",
    "listen" => "Serving mode: the socket listens (`path` and `mode`, or `tcp` and `port`).",
    "secondary_died" => "The primary noticed a death or a hang (`pid`, `cause`, `during`).",
    "kill" => "The primary sent `signal` to a secondary (`pid`): it hung or misbehaved.",
    "restart" => "The primary starts a new secondary (`restart` number, `backoff_ms`).",
    "stop_sent" => "The primary writes the Stop frame on p2s (traced just before the write).",
    "stop_received" => "The secondary read Stop.",
    "stop_ack_sent" => "The secondary answers StopAck (`served` turns; traced just before \
        the write).",
    "stop_ack_received" => "The primary read StopAck.",
    "exit_seen" => "The primary saw its child has exited but is not reaped yet: it is a \
        zombie. `state` is read from /proc/PID/stat (Z); `how` is the waitid(2) call with \
        WNOWAIT, which reports an exit without reaping.",
    "zombie_hold" => "With `--hold-zombie`: the primary waits `hold_ms` before reaping; \
        `state` is the child's state read from /proc/PID/stat during the hold.",
    "reaped" => "waitpid returned: the zombie is gone. `status` is how it ended, `zombie_us` \
        the time from `exit_seen` to the reap.",
    "unlink" => "An object was removed (`path`; `how`: unlinkat, or shm_unlink for the \
        segment). The lock file goes last: closing it releases the lock.",
    "exit" => "The process's last step, just before it exits (`status`: its exit status).",
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details<'a>(
        path: &'a Path,
        note: &'a String,
        args: &'a fmt::Arguments<'a>,
    ) -> Vec<(&'static str, Value<'a>)> {
        vec![
            ("path", path.to_value()),
            ("mode", "0600".to_value()),
            ("bytes", 4096u64.to_value()),
            ("delta", (-3i64).to_value()),
            ("waited", false.to_value()),
            ("note", note.to_value()),
            ("flags", args.to_value()),
        ]
    }

    #[test]
    fn text_lines_are_aligned_and_one_line_each() {
        let path = Path::new("/dev/shm/osps.1000.demo");
        let note = "two words".to_string();
        let args = format_args!("O_CREAT|O_EXCL|O_RDWR");
        let line = text_line(
            153,
            Who::Primary,
            1234,
            "shm_open",
            &details(path, &note, &args),
        );
        assert_eq!(
            line,
            "      153 µs  primary         1234  shm_open          path=/dev/shm/osps.1000.demo \
             mode=0600 bytes=4096 delta=-3 waited=false note=\"two words\" \
             flags=O_CREAT|O_EXCL|O_RDWR\n"
        );
        let other = text_line(7, Who::Secondary(2), 99, "hello_sent", &[]);
        assert_eq!(other, "        7 µs  secondary 2       99  hello_sent\n");
        // The details start in one column: time, role, pid and step have fixed widths.
        let column = line.chars().take_while(|&c| c != '=').count() - "path".len();
        assert_eq!(column, 9 + 5 + 13 + 7 + 2 + STEP_WIDTH + 1);
    }

    #[test]
    fn json_lines_parse_and_keep_numbers() {
        let path = Path::new("/run/user/1000/osps/a \"b\".fifo");
        let note = "two words".to_string();
        let args = format_args!("O_RDWR");
        let line = json_line(
            42,
            Who::Secondary(0),
            77,
            "mkfifo",
            &details(path, &note, &args),
        );
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["t_us"], 42);
        assert_eq!(v["pid"], 77);
        assert_eq!(v["role"], "secondary");
        assert_eq!(v["index"], 0);
        assert_eq!(v["step"], "mkfifo");
        let d = &v["details"];
        assert_eq!(d["path"], "/run/user/1000/osps/a \"b\".fifo");
        assert_eq!(d["mode"], "0600");
        assert_eq!(d["bytes"], 4096);
        assert_eq!(d["delta"], -3);
        assert_eq!(d["waited"], false);
        assert_eq!(d["flags"], "O_RDWR");

        let primary: serde_json::Value =
            serde_json::from_str(&json_line(0, Who::Primary, 1, "end", &[])).unwrap();
        assert_eq!(primary["role"], "primary");
        assert!(primary.get("index").is_none());
        assert_eq!(primary["details"], serde_json::json!({}));
    }

    #[test]
    fn the_environment_variable_round_trips() {
        for format in [Format::Text, Format::Json] {
            let v = env_value(format, 123_456_789);
            assert_eq!(parse_env(&v), Some((format, 123_456_789)));
        }
        for bad in ["", "text", "json:", "xml:1", "text:-1", "text:1x"] {
            assert_eq!(parse_env(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rounds_are_sampled_first_then_at_powers_of_ten() {
        let shown_rounds: Vec<u64> = (0..=20_000).filter(|&n| shown(n)).collect();
        assert_eq!(shown_rounds, [0, 1, 2, 3, 10, 100, 1000, 10_000]);
        assert!(is_power_of_ten(10_000_000_000_000_000_000));
        assert!(!is_power_of_ten(0));
        assert!(!is_power_of_ten(20));
    }

    #[test]
    fn step_names_are_snake_case_unique_and_fit_the_column() {
        let mut seen = std::collections::HashSet::new();
        for (name, tag, what) in STEPS {
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            assert!(name.len() <= STEP_WIDTH, "{name} is wider than the column");
            assert!(seen.insert(*name), "{name} listed twice");
            assert_eq!(*tag, format!("`{name}`"));
            assert!(what.is_ascii() && what.ends_with('.'), "{name}: {what}");
        }
    }

    /// Every `trace!("step", ...)` in the sources names a documented step.
    #[test]
    fn every_traced_step_is_documented() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![src.clone()];
        let mut used = Vec::new();
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("trace.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (at, _) in text.match_indices("trace!(") {
                let rest = text[at + 7..].trim_start();
                let Some(rest) = rest.strip_prefix('"') else {
                    continue; // the macro's own definition
                };
                let name = &rest[..rest.find('"').unwrap()];
                used.push((path.display().to_string(), name.to_string()));
            }
        }
        assert!(used.len() >= 30, "too few trace! calls found: {used:?}");
        for (file, name) in &used {
            assert!(
                STEPS.iter().any(|(n, _, _)| n == name),
                "{file}: step {name:?} is not listed in STEPS (src/trace.rs)"
            );
        }
    }
}
