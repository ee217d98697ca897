//! The report, for people (findings first, one line each with its hint; then the process
//! tree with times; then the objects) and as one JSON document (`--json`, described by
//! schema/audit.schema.json). Serialize structs only: no logic here but formatting.

use std::collections::HashMap;
use std::fmt::Write;

use serde::Serialize;

use super::findings::Finding;
use super::model::{BrokenPipe, End, Kind, Model, Obj, Proc};
use super::notes::Note;
use super::tracer::Ended;
use super::words::{escape, ms, signal_name, who};

#[derive(Serialize)]
pub struct Report<'a> {
    schema_version: u32,
    command: CommandOut,
    /// `program` (the main process ended and the grace passed), `timeout`, `SIGINT`,
    /// `SIGTERM`, `SIGHUP` or `SIGQUIT`.
    ended_by: String,
    processes: Vec<ProcOut>,
    segments: Vec<SegOut>,
    fifos: Vec<FifoOut>,
    findings: &'a [Finding],
    /// What the audit saw but does not blame on the program, or could not see.
    notes: &'a [Note],
}

/// What the report says of the run: its findings and its notes.
pub struct Said<'a> {
    pub findings: &'a [Finding],
    pub notes: &'a [Note],
}

#[derive(Serialize)]
struct CommandOut {
    argv: Vec<String>,
    exit_code: Option<i32>,
    signal: Option<String>,
    duration_ms: f64,
}

#[derive(Serialize)]
struct ProcOut {
    pid: i32,
    ppid: i32,
    argv: Vec<String>,
    start_ms: f64,
    exit_ms: Option<f64>,
    exit_code: Option<i32>,
    signal: Option<String>,
    reaped_by: Option<i32>,
    reaped_ms: Option<f64>,
    /// The kernel reaped it at once: its parent ignores SIGCHLD (or set SA_NOCLDWAIT).
    reaped_by_kernel: bool,
    zombie_ms: Option<f64>,
    parent_first: bool,
    left_running: bool,
    /// The signal of the group-stop it was in at the end (SIGSTOP, SIGTSTP, ...), if any.
    stopped: Option<String>,
    /// When a SIGPIPE the kernel raised for one of its writes ended it: what the write
    /// found without a reader (a pipe's is a pipeline's normal end, a FIFO's a finding).
    broken_pipe: Option<BrokenPipeOut>,
}

#[derive(Serialize)]
struct BrokenPipeOut {
    /// `pipe`, `socket`, `fifo`, or `unnamed` (a pipe or a socket: the call was not known).
    to: &'static str,
    /// The FIFO's path.
    path: Option<String>,
    path_hex: Option<String>,
    /// The write's descriptor, when the call was known (else the FIFO is one the process
    /// had open for writing).
    fd: Option<i32>,
}

#[derive(Serialize)]
struct SegOut {
    kind: &'static str,
    name: String,
    /// The name's bytes in hex when they are not UTF-8 (`name` is then lossy).
    name_hex: Option<String>,
    created_by: i32,
    created_ms: f64,
    /// Its size when removed, or at the end when left (a stat); else the last size set.
    size: Option<u64>,
    /// The last size a call set (ftruncate, fallocate, truncate, O_TRUNC, shmget).
    size_set: Option<u64>,
    unlinked_by: Option<i32>,
    unlinked_ms: Option<f64>,
    left: bool,
    /// It was there before the audit: `created_by` opened it with O_CREAT, made nothing.
    existed_before: bool,
}

#[derive(Serialize)]
struct FifoOut {
    path: String,
    path_hex: Option<String>,
    created_by: i32,
    created_ms: f64,
    unlinked_by: Option<i32>,
    unlinked_ms: Option<f64>,
    left: bool,
}

fn hex_if_not_utf8(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes).is_err().then(|| {
        bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    })
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Segment => "shm",
        Kind::Semaphore => "semaphore",
        Kind::SysV => "sysv",
        Kind::SysVSem => "sysv-sem",
        Kind::SysVMsg => "sysv-msg",
        Kind::MQueue => "mqueue",
        Kind::Fifo => "fifo",
    }
}

fn ended_name(ended: Ended) -> String {
    match ended {
        Ended::Program => "program".into(),
        Ended::Timeout => "timeout".into(),
        Ended::Signal(s) => signal_name(s),
    }
}

fn proc_out(p: &Proc) -> ProcOut {
    ProcOut {
        pid: p.pid,
        ppid: p.ppid,
        argv: p.argv.to_vec(),
        start_ms: ms(p.start),
        exit_ms: p.exit.map(ms),
        exit_code: p.code,
        signal: p.signal.map(signal_name),
        reaped_by: p.reaped_by,
        reaped_ms: p.reaped.map(ms),
        reaped_by_kernel: p.auto_reaped,
        zombie_ms: p.exit.zip(p.reaped).map(|(e, r)| ms(r.saturating_sub(e))),
        parent_first: p.adopted.is_some(),
        left_running: p.left_running,
        stopped: p.stopped.filter(|_| p.left_running).map(signal_name),
        broken_pipe: p.broken_pipe().map(broken_pipe_out),
    }
}

fn end_name(end: &End) -> &'static str {
    match end {
        End::Pipe => "pipe",
        End::Socket => "socket",
        End::Fifo(_) => "fifo",
        End::Unnamed => "unnamed",
    }
}

fn broken_pipe_out(b: &BrokenPipe) -> BrokenPipeOut {
    let path = match &b.end {
        End::Fifo(path) => Some(path.as_slice()),
        _ => None,
    };
    BrokenPipeOut {
        to: end_name(&b.end),
        path: path.map(|p| String::from_utf8_lossy(p).into_owned()),
        path_hex: path.and_then(hex_if_not_utf8),
        fd: b.fd,
    }
}

/// Why a process ended by SIGPIPE got it, for the process list.
fn broken_pipe_words(b: &BrokenPipe) -> String {
    match &b.end {
        End::Pipe => "its pipe's reader had ended, as at the end of a pipeline".into(),
        End::Socket => "its socket's peer had closed".into(),
        End::Unnamed => "the pipe or socket it wrote to had no reader left".into(),
        End::Fifo(path) => format!("the FIFO {} had no reader left", escape(path)),
    }
}

fn seg_out(o: &Obj) -> SegOut {
    SegOut {
        kind: kind_name(o.kind),
        name: String::from_utf8_lossy(&o.name).into_owned(),
        name_hex: hex_if_not_utf8(&o.name),
        created_by: o.created_by,
        created_ms: ms(o.created),
        size: o.size,
        size_set: o.size_set,
        unlinked_by: o.unlinked_by,
        unlinked_ms: o.unlinked.map(ms),
        left: o.left,
        existed_before: o.existed,
    }
}

fn fifo_out(o: &Obj) -> FifoOut {
    FifoOut {
        path: String::from_utf8_lossy(&o.path).into_owned(),
        path_hex: hex_if_not_utf8(&o.path),
        created_by: o.created_by,
        created_ms: ms(o.created),
        unlinked_by: o.unlinked_by,
        unlinked_ms: o.unlinked.map(ms),
        left: o.left,
    }
}

impl<'a> Report<'a> {
    /// `argv` is the command as given (the main process's own may differ after exec).
    pub fn new(
        argv: Vec<String>,
        model: &Model,
        root: i32,
        ended: Ended,
        end_us: u64,
        findings: &'a [Finding],
        notes: &'a [Note],
    ) -> Self {
        let main = model.proc(root);
        let shown = model.objects.iter().filter(|o| !o.hidden);
        Report {
            schema_version: 1,
            command: CommandOut {
                argv,
                exit_code: main.and_then(|p| p.code),
                signal: main.and_then(|p| p.signal).map(signal_name),
                duration_ms: ms(end_us),
            },
            ended_by: ended_name(ended),
            processes: model.procs.iter().map(proc_out).collect(),
            segments: shown
                .clone()
                .filter(|o| o.kind != Kind::Fifo)
                .map(seg_out)
                .collect(),
            fifos: shown
                .filter(|o| o.kind == Kind::Fifo)
                .map(fifo_out)
                .collect(),
            findings,
            notes,
        }
    }

    pub fn json(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        text.push('\n');
        text
    }
}

/// The report for people; `clean`: `--clean` removes what was left, after it.
pub fn human(
    model: &Model,
    root: i32,
    ended: Ended,
    end_us: u64,
    said: &Said,
    clean: bool,
) -> String {
    let (findings, notes) = (said.findings, said.notes);
    let mut out = String::new();
    let main = model.proc(root);
    let status = match main {
        Some(p) if p.left_running => match p.stopped {
            Some(sig) => format!("stopped ({})", signal_name(sig)),
            None => "still running".to_string(),
        },
        Some(p) => match (p.code, p.signal) {
            (Some(c), _) => format!("exit {c}"),
            (_, Some(s)) => format!("ended by {}", signal_name(s)),
            _ => "ended".into(),
        },
        None => "?".into(),
    };
    let why = match ended {
        Ended::Program => String::new(),
        Ended::Timeout => " (audit ended by --timeout)".into(),
        Ended::Signal(s) => format!(" (audit interrupted by {})", signal_name(s)),
    };
    let _ = writeln!(
        out,
        "{}: {status}; audit took {} ms{why}",
        main.map_or_else(|| "the program".into(), who),
        ms(end_us)
    );
    let failed =
        main.is_some_and(|p| !p.left_running && (p.code.unwrap_or(0) != 0 || p.signal.is_some()));
    if findings.is_empty() && failed {
        // A program that stopped at its first line (a syntax error, a missing file) made
        // nothing, so nothing is left: no finding, but no clean bill of health either.
        let _ = writeln!(
            out,
            "no finding, but the program failed ({status}): its own error, if any, is on \
             stderr above; the audit saw only what it did before it stopped"
        );
    } else if findings.is_empty() && notes.is_empty() {
        // Only what the audit watches (see the man page's limits: memory shared without
        // a name is not seen).
        let _ = writeln!(
            out,
            "no finding: every process was reaped in time and every segment, semaphore, \
             message queue and FIFO it made removed"
        );
    } else if findings.is_empty() {
        let _ = writeln!(out, "no finding, but read the notes below");
    } else {
        let _ = writeln!(out, "findings ({}):", findings.len());
        for f in findings {
            let _ = writeln!(
                out,
                "  {}: {} (hint: {})",
                f.kind.as_str(),
                f.message,
                f.hint
            );
        }
    }
    for n in notes {
        let _ = writeln!(out, "note: {}", n.message);
    }
    let _ = writeln!(out, "processes ({}):", model.procs.len());
    tree(model, &mut out);
    let shown: Vec<&Obj> = model.objects.iter().filter(|o| !o.hidden).collect();
    let fifos: Vec<&&Obj> = shown.iter().filter(|o| o.kind == Kind::Fifo).collect();
    // Named semaphores are listed apart: under "segments" a student looked for a
    // SharedMemory never made (multiprocessing's locks and queues make semaphores).
    let heading = |kind: Kind| match kind {
        Kind::Segment | Kind::SysV => "segments",
        Kind::Semaphore | Kind::SysVSem => "semaphores",
        Kind::MQueue | Kind::SysVMsg => "message queues",
        Kind::Fifo => "fifos",
    };
    for title in ["segments", "semaphores", "message queues"] {
        let segments: Vec<&&Obj> = shown.iter().filter(|o| heading(o.kind) == title).collect();
        if segments.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{title} ({}):", segments.len());
        for o in segments {
            let size = match (o.size, o.size_set) {
                (Some(size), Some(set)) if size != set => {
                    format!(
                        ", {size} bytes, though last set to {set}: writes (or a process \
                         outside the audit) changed it"
                    )
                }
                (Some(size), _) => format!(", {size} bytes"),
                (None, _) => String::new(),
            };
            let _ = writeln!(
                out,
                "  {} ({}{size}): {}",
                escape(&o.name),
                kind_name(o.kind),
                life(model, o)
            );
        }
    }
    if !fifos.is_empty() {
        let _ = writeln!(out, "fifos ({}):", fifos.len());
        for o in fifos {
            let _ = writeln!(out, "  {}: {}", escape(&o.path), life(model, o));
        }
    }
    if let Some(advice) = left_advice(&shown, clean) {
        let _ = writeln!(out, "{advice}");
    }
    out
}

/// What to do about the objects left, which stay after the audit (and make the next
/// run's mkfifo or exclusive create fail): the commands that remove them, or, with
/// `--clean`, that it removes them now.
fn left_advice(shown: &[&Obj], clean: bool) -> Option<String> {
    // One there before the audit is the note's to speak of, and --clean leaves it.
    let left: Vec<&&Obj> = shown.iter().filter(|o| o.left && !o.existed).collect();
    let (what, them) = match left.len() {
        0 => return None,
        1 => ("object", "it"),
        _ => ("objects", "them"),
    };
    let n = left.len();
    if clean {
        return Some(format!(
            "{n} {what} marked LEFT: --clean removes {them} now"
        ));
    }
    // A path a shell takes as it is; any other is named only in the lines above.
    let plain = |p: &[u8]| {
        !p.is_empty()
            && p.iter()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%".contains(b))
    };
    let mut files = Vec::new();
    let mut ids = Vec::new();
    for o in &left {
        match o.sysv_id {
            Some(id) if o.kind == Kind::SysV => ids.push(format!("ipcrm -m {id}")),
            Some(id) if o.kind == Kind::SysVSem => ids.push(format!("ipcrm -s {id}")),
            Some(id) if o.kind == Kind::SysVMsg => ids.push(format!("ipcrm -q {id}")),
            // A message queue is a file only where /dev/mqueue is mounted: no rm for it.
            _ if plain(&o.path) && o.kind != Kind::MQueue => {
                files.push(String::from_utf8_lossy(&o.path).into_owned());
            }
            _ => {
                return Some(format!(
                    "{n} {what} marked LEFT still there after the audit: remove {them} \
                     before the next run, or audit with --clean, which removes what a run \
                     leaves"
                ));
            }
        }
    }
    let mut commands = Vec::new();
    if !files.is_empty() {
        commands.push(format!("rm {}", files.join(" ")));
    }
    commands.extend(ids);
    Some(format!(
        "{n} {what} marked LEFT still there after the audit: remove {them} before the next \
         run ({}), or audit with --clean, which removes what a run leaves",
        commands.join("; ")
    ))
}

fn life(model: &Model, o: &Obj) -> String {
    let by = |pid: i32| model.proc(pid).map_or_else(|| format!("pid {pid}"), who);
    let mut s = if o.existed {
        format!(
            "there before the audit, opened (O_CREAT) by {} at {} ms",
            by(o.created_by),
            ms(o.created)
        )
    } else {
        format!("made by {} at {} ms", by(o.created_by), ms(o.created))
    };
    match (o.unlinked_by, o.unlinked) {
        (Some(pid), Some(at)) => {
            let _ = write!(s, ", removed by {} at {} ms", by(pid), ms(at));
        }
        _ if o.left => s.push_str(", LEFT"),
        _ => s.push_str(", gone (removed by a process outside the audit)"),
    }
    s
}

/// The processes as a tree, children under their parent, without recursion (a chain of
/// forks may be deep).
fn tree(model: &Model, out: &mut String) {
    let mut children: HashMap<i32, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, p) in model.procs.iter().enumerate() {
        let parent_known = seen.contains(&p.ppid);
        seen.insert(p.pid);
        if parent_known {
            children.entry(p.ppid).or_default().push(i);
        } else {
            roots.push(i);
        }
    }
    let mut stack: Vec<(usize, usize)> = roots.into_iter().rev().map(|i| (i, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        let p = &model.procs[i];
        let _ = writeln!(out, "  {}{}", "  ".repeat(depth.min(20)), line(p));
        if let Some(kids) = children.remove(&p.pid) {
            stack.extend(kids.into_iter().rev().map(|k| (k, depth + 1)));
        }
    }
}

fn line(p: &Proc) -> String {
    let mut s = who(p);
    if let Some(helper) = p.helper_name() {
        let _ = write!(s, " [{helper}]");
    }
    let _ = write!(s, " {} ms", ms(p.start));
    match p.exit {
        Some(e) => {
            let _ = write!(s, "..{} ms", ms(e));
        }
        None => s.push_str(".."),
    }
    match (p.code, p.signal) {
        (Some(c), _) => {
            let _ = write!(s, " exit {c}");
        }
        (_, Some(sig)) => {
            let _ = write!(s, " {}", signal_name(sig));
            if let Some(b) = p.broken_pipe() {
                let _ = write!(s, " ({})", broken_pipe_words(b));
            }
        }
        _ if p.left_running => match p.stopped {
            Some(sig) => {
                let _ = write!(s, " LEFT STOPPED ({})", signal_name(sig));
            }
            None => s.push_str(" LEFT RUNNING"),
        },
        _ => {}
    }
    if let (Some(by), Some(at), Some(e)) = (p.reaped_by, p.reaped, p.exit) {
        let _ = write!(
            s,
            ", reaped by {by} at {} ms (zombie {} ms)",
            ms(at),
            ms(at.saturating_sub(e))
        );
    } else if p.auto_reaped {
        s.push_str(", reaped by the kernel (its parent ignores SIGCHLD)");
    } else if p.gone_unseen {
        s.push_str(", reaped as the audit ended (the wait was not seen)");
    }
    if p.adopted.is_some() {
        s.push_str(", parent ended first");
        if p.is_python_helper() {
            s.push_str(" (as this helper does by design: no finding)");
        }
    }
    s
}
