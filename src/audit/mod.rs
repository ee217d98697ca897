//! `osps audit -- CMD`: runs any program and reports what a lab program should not leave
//! behind: segments and FIFOs not removed, zombies, processes left running, parents that
//! ended first, processes killed from outside.
//!
//! This layer owns the audit and nothing else: it is a leaf subsystem, and it knows
//! nothing of the pair (segment, FIFO, primary): it audits any program, osps included.
//! It may import only the leaf helpers `crate::cli` (its arguments), `crate::exit`,
//! `crate::output`, `crate::os::procfs`, `crate::units` and `crate::log`, all of them here,
//! in this file, so that moving them is one edit.
//!
//! How: the program runs under ptrace(2) with a seccomp-bpf filter ([`filter`]) so it
//! stops only on the calls that matter ([`syscalls`]); [`spawn`] starts it, [`tracer`]
//! follows every process it starts ([`pending`]: what a call did once it returned;
//! [`sigpipe`]: what a write that raised SIGPIPE was writing to),
//! [`model`] records what was seen, [`findings`] says
//! what is wrong, [`report`] prints it. The audit is a child subreaper
//! (PR_SET_CHILD_SUBREAPER): an orphan comes to it, so it sees who ended first, and
//! reaps the orphan itself (such a process has `reaped_by` null: the program never
//! reaped it).
//!
//! A stop signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT) to the audit alone is passed on to
//! the program ([`relay`]); one that reached the program too (Ctrl-C, a kill of the
//! group) is not sent twice.
//!
//! At the end (the grace after the main process, `--timeout`, a stop signal) the
//! report is made first, then every traced process still alive is killed (SIGKILL). Not
//! detached: the seccomp filter stays installed after the tracer goes, and a
//! SECCOMP_RET_TRACE with no tracer makes the call fail with ENOSYS, so a detached
//! program would break in odd ways. PTRACE_O_EXITKILL does the same if the audit itself
//! is killed.

mod clean;
mod filter;
mod findings;
mod hints;
mod interrupt;
mod kind;
mod live;
mod longpath;
mod memory;
mod model;
mod mqueue;
mod notes;
mod pending;
mod ptrace;
mod relay;
mod report;
mod sigpipe;
mod spawn;
mod syscalls;
mod sysv;
mod text;
mod tracer;
mod tracker;
mod unseen;
mod words;

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use color_eyre::eyre::{Result, eyre};

use crate::cli::AuditArgs;
use crate::exit::{Exit, coded};
use crate::os::procfs;
use crate::output::write_stdout;

use spawn::Failure;
use tracer::{Ended, Limits, Tracer};

/// Runs `osps audit`.
pub fn run(args: &AuditArgs) -> Result<Exit> {
    let filter = filter::Filter::build();
    // SAFETY: prctl with integer arguments has no memory effects.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == -1 {
        return Err(eyre!(
            "becoming a child subreaper: {}",
            std::io::Error::last_os_error()
        ));
    }
    interrupt::install()?;
    let start = Instant::now();
    let started_at = unseen::file_clock();
    let mut child = spawn::start(&args.command, &filter, args.json)?;
    let argv: Vec<String> = args
        .command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut tracer = Tracer::new(start, child.pid, argv.clone());
    let limits = Limits {
        grace: args.grace,
        timeout: args.timeout,
    };
    let ended = tracer.follow(&mut child, &limits, &args.command)?;
    let end_us = tracer.now();
    let ids = |ipc| sysv::ids(ipc);
    let (shm, sem, msg) = (
        ids(syscalls::Ipc::Shm),
        ids(syscalls::Ipc::Sem),
        ids(syscalls::Ipc::Msg),
    );
    tracer.model.finish(
        |o| match o.kind {
            model::Kind::SysV => o.sysv_id.is_some_and(|id| shm.contains(&id)),
            model::Kind::SysVSem => o.sysv_id.is_some_and(|id| sem.contains(&id)),
            model::Kind::SysVMsg => o.sysv_id.is_some_and(|id| msg.contains(&id)),
            model::Kind::MQueue => mqueue::exists(&o.name),
            model::Kind::Fifo => longpath::Reachable::new(&o.path)
                .and_then(|r| std::fs::symlink_metadata(r.path()))
                .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type())),
            _ => longpath::Reachable::new(&o.path)
                .and_then(|r| std::fs::symlink_metadata(r.path()))
                .is_ok(),
        },
        |pid| procfs::state(pid) == Some('Z'),
    );
    // A segment's size is what its file has: writes grow it too, and they are not traced.
    tracer.model.measure_left(|o| {
        longpath::Reachable::new(&o.path)
            .and_then(|r| std::fs::symlink_metadata(r.path()))
            .ok()
            .map(|m| m.len())
    });
    let threshold = args.zombie_threshold.as_micros() as u64;
    let found = findings::compute(&tracer.model, tracer.root, threshold, tracer.insisted());
    let unseen = unseen::Unseen::look(tracer.unresolved(), started_at, |path| {
        tracer.model.objects.iter().any(|o| o.path == path)
    });
    let notes = notes::compute(&tracer.model, &unseen);
    let text = if args.json {
        report::Report::new(
            argv,
            &tracer.model,
            tracer.root,
            ended,
            end_us,
            &found,
            &notes,
        )
        .json()
    } else {
        let said = report::Said {
            findings: &found,
            notes: &notes,
        };
        report::human(&tracer.model, tracer.root, ended, end_us, &said, args.clean)
    };
    // The report is made from what was seen; the processes left are ended before it is
    // written, so that none of their output comes after (or inside) it.
    tracer.end_all();
    let written = write_stdout(text.as_bytes());
    // --clean removes what was left whether or not the report could be written.
    if args.clean {
        clean::remove_left(&tracer.model);
    }
    match (written, ended) {
        (Ok(()), _) => {}
        // Stopped by a signal (a closed terminal's SIGHUP, and its stdout with it), the
        // status says why the audit ended; the lost report is said on stderr.
        (Err(e), Ended::Signal(_)) => crate::warn!("the report was not written: {e:#}"),
        (Err(e), _) => return Err(e),
    }
    Ok(match ended {
        Ended::Signal(libc::SIGHUP) => Exit::HungUp,
        Ended::Signal(libc::SIGINT) => Exit::Interrupted,
        Ended::Signal(libc::SIGQUIT) => Exit::Quit,
        Ended::Signal(_) => Exit::Terminated,
        _ if found.is_empty() => Exit::Success,
        _ => Exit::Failure,
    })
}

/// The pid tracing the audit itself, if any (TracerPid in /proc/self/status).
fn own_tracer() -> Option<i32> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))
        .and_then(|v| v.trim().parse().ok())
        .filter(|&pid| pid != 0)
}

/// For a program that is there but whose `#!` interpreter is not (exec says ENOENT for
/// both): what to say instead of "no such file". A `\r` at the end of the line is the
/// usual cause in a lab (a script saved with Windows line ends).
fn missing_interpreter(program: &OsString) -> Option<String> {
    let found = spawn::candidates(program)
        .into_iter()
        .map(|c| std::path::PathBuf::from(std::ffi::OsStr::from_bytes(c.as_bytes())))
        .find(|p| p.is_file())?;
    let mut head = Vec::with_capacity(256);
    std::fs::File::open(&found)
        .ok()?
        .take(256)
        .read_to_end(&mut head)
        .ok()?;
    let line = head.strip_prefix(b"#!")?.split(|&b| b == b'\n').next()?;
    let shown = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line))
        .trim()
        .to_string();
    Some(if line.ends_with(b"\r") {
        format!(
            "its #! line ends with a carriage return (Windows line ends), so the \
             interpreter '{shown}\\r' does not exist: convert the file (dos2unix, or \
             sed -i 's/\\r$//')"
        )
    } else {
        format!("its interpreter '{shown}' (the #! line) was not found")
    })
}

/// Whether the program named (a path, or the first of PATH's candidates) is a directory:
/// exec says EACCES for it, as for a file without the x bit.
fn is_directory(program: Option<&OsString>) -> bool {
    program.is_some_and(|p| {
        spawn::candidates(p)
            .into_iter()
            .map(|c| std::path::PathBuf::from(std::ffi::OsStr::from_bytes(c.as_bytes())))
            .find(|c| c.exists())
            .is_some_and(|c| c.is_dir())
    })
}

/// The error for a child that could not run its program.
fn describe_failure(failure: Failure, argv: &[OsString]) -> color_eyre::Report {
    let program = argv
        .first()
        .map_or_else(String::new, |a| a.to_string_lossy().into_owned());
    let errno = |e: i32| std::io::Error::from_raw_os_error(e);
    match failure {
        Failure::Ptrace(e) if own_tracer().is_some() => coded(
            Exit::Failure,
            format!(
                "cannot trace {program}: ptrace was refused ({}) because osps audit is itself \
                 traced (by pid {}: a debugger, strace or another osps audit), and a \
                 process has only one tracer: audit the program directly",
                errno(e),
                own_tracer().unwrap_or(0)
            ),
        ),
        Failure::Ptrace(e) => {
            let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "not set (no Yama)".into());
            coded(
                Exit::Failure,
                format!(
                    "cannot trace {program}: ptrace was refused ({}); the kernel's Yama policy \
                     (sysctl kernel.yama.ptrace_scope, here {scope}; 3 forbids every trace) or a \
                     container's seccomp profile forbids ptrace here, so osps audit cannot work \
                     in this environment",
                    errno(e)
                ),
            )
        }
        Failure::Seccomp(e) => coded(
            Exit::Failure,
            format!(
                "cannot install the seccomp filter for {program}: {} (the kernel needs \
                 CONFIG_SECCOMP_FILTER)",
                errno(e)
            ),
        ),
        Failure::Exec(e) if e == libc::ENOENT || e == libc::ENOTDIR => coded(
            Exit::NotFound,
            if let Some(why) = argv.first().and_then(missing_interpreter) {
                format!("cannot run {program}: {why}")
            } else if program.contains('/') {
                format!("cannot run {program}: no such file")
            } else {
                format!("cannot run {program}: not found in PATH")
            },
        ),
        Failure::Exec(e) if e == libc::EACCES && is_directory(argv.first()) => coded(
            Exit::NotExecutable,
            format!("cannot run {program}: it is a directory; name the program to audit in it"),
        ),
        Failure::Exec(e) => coded(
            Exit::NotExecutable,
            format!(
                "cannot run {program}: {} (is it a program, or a script with a #! line, and \
                 executable: chmod +x?)",
                errno(e)
            ),
        ),
    }
}
