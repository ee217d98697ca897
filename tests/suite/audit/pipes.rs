//! SIGPIPE under `osps audit`: the kernel ends a writer whose reader has gone. On an
//! anonymous pipe that is how every pipeline ends (`yes | head -n 1`), no mistake; on a
//! FIFO it is the lab's bug (the reader, a server, stopped before its writer).

use super::*;

fn by_argv0<'a>(doc: &'a Value, argv0: &str) -> &'a Value {
    doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["argv"][0] == argv0)
        .unwrap_or_else(|| panic!("no {argv0} in {doc:#}"))
}

#[test]
fn a_pipeline_whose_writer_sigpipe_ends_is_no_finding() {
    let mut cmd = audit(&[]);
    cmd.args(["sh", "-c", "yes | head -n 1 >/dev/null"]);
    let (out, doc) = report(cmd);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let yes = by_argv0(&doc, "yes");
    assert_eq!(yes["signal"], "SIGPIPE", "{doc:#}");
    assert_eq!(
        yes["broken_pipe"],
        serde_json::json!({"to": "pipe", "path": null, "path_hex": null, "fd": 1}),
        "{doc:#}"
    );
    assert_eq!(by_argv0(&doc, "head")["broken_pipe"], Value::Null);

    // For people: the death is in the process list, with why.
    let mut human = Command::new(osps_bin());
    human
        .args(["audit", "--", "sh", "-c", "yes | head -n 1 >/dev/null"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let out = run(human, T);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("no finding"), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("(yes)"))
        .unwrap_or_else(|| panic!("no yes in {text}"));
    assert!(
        line.contains("SIGPIPE (its pipe's reader had ended, as at the end of a pipeline)"),
        "{line}"
    );
}

#[test]
fn a_fifo_writer_whose_reader_ended_first_is_killed_on_that_fifo() {
    // The lab's bug: the reader (a server) reads one request and stops; the writer,
    // which restored SIGPIPE's default as many programs do (Python ignores it), writes
    // again and the kernel ends it. The FIFO was removed first: it is named all the same.
    let (out, doc, fifo) = python_writer_whose_reader_stops(Writer::DefaultSigpipe);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}\n{doc:#}");
    assert_eq!(kinds(&doc), ["killed"], "{doc:#}");
    let fd = fd_of(&stderr);
    let fifo = fifo.as_str();
    let f = &doc["findings"][0];
    assert_eq!(f["pid"], root(&doc));
    assert_eq!(f["path"], fifo);
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("wrote to the FIFO {fifo} (its fd {fd})")),
        "{message}"
    );
    assert_eq!(
        process(&doc, root(&doc))["broken_pipe"],
        serde_json::json!({"to": "fifo", "path": fifo, "path_hex": null, "fd": fd}),
        "{doc:#}"
    );
}

/// The fd the writer printed on stderr (`fd N`).
fn fd_of(stderr: &str) -> i64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("fd "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no fd in {stderr}"))
}

/// How the lab's writer meets its FIFO's reader gone.
#[derive(Clone, Copy, PartialEq)]
enum Writer {
    /// It restored SIGPIPE's default, as many programs do: the kernel ends it.
    DefaultSigpipe,
    /// Python's own way: SIGPIPE ignored, the write raises `BrokenPipeError`, uncaught.
    Raises,
    /// As `Raises`, but it catches the error and exits 0.
    Catches,
}

/// The lab's bug: the reader (a server) reads one request and stops; the writer writes
/// again. The FIFO is removed first: it is named all the same. The writer prints its fd
/// on stderr (`fd N`). Returns the FIFO's path too.
fn python_writer_whose_reader_stops(writer: Writer) -> (Output, Value, String) {
    let lab = Lab::new(match writer {
        Writer::DefaultSigpipe => "fifopipe",
        Writer::Raises => "epipe",
        Writer::Catches => "epipeok",
    });
    let first = if writer == Writer::DefaultSigpipe {
        "signal.signal(signal.SIGPIPE, signal.SIG_DFL)\n"
    } else {
        ""
    };
    let last = if writer == Writer::Catches {
        "try:\n    os.write(fd, b'again')\nexcept BrokenPipeError:\n    sys.exit(0)\n"
    } else {
        "os.write(fd, b'again')\n"
    };
    let script = format!(
        "import os, signal, sys\n\
         fifo = os.path.join(sys.argv[1], 'req.fifo')\n\
         os.mkfifo(fifo)\n\
         pid = os.fork()\n\
         if pid == 0:\n    \
             fd = os.open(fifo, os.O_RDONLY)\n    \
             os.read(fd, 5)\n    \
             os._exit(0)\n\
         {first}\
         fd = os.open(fifo, os.O_WRONLY)\n\
         print('fd', fd, file=sys.stderr, flush=True)\n\
         os.write(fd, b'hello')\n\
         os.waitpid(pid, 0)\n\
         os.unlink(fifo)\n\
         {last}"
    );
    let (out, doc) = audit_python(&script, &[lab.dir()]);
    let fifo = lab.dir().join("req.fifo").to_str().unwrap().to_owned();
    (out, doc, fifo)
}

#[test]
fn a_python_fifo_writer_failing_on_its_gone_reader_is_a_broken_pipe_finding() {
    // Not killed (Python ignores SIGPIPE): the write fails, the traceback ends it with 1.
    let (out, doc, fifo) = python_writer_whose_reader_stops(Writer::Raises);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("BrokenPipeError"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}\n{doc:#}");
    assert_eq!(kinds(&doc), ["broken-pipe"], "{doc:#}");
    let f = &doc["findings"][0];
    assert_eq!(f["pid"], root(&doc));
    assert_eq!(f["path"], fifo.as_str());
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "wrote to the FIFO {fifo} (its fd {})",
            fd_of(&stderr)
        )) && message.contains("EPIPE")
            && message.contains("exit status 1"),
        "{message}"
    );
    assert_eq!(process(&doc, root(&doc))["signal"], Value::Null, "{doc:#}");

    // A writer that catches it and ends in order chose to: no finding.
    let (out, doc, _) = python_writer_whose_reader_stops(Writer::Catches);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
}

#[test]
fn a_sigpipe_a_process_sends_itself_is_no_broken_fifo() {
    // kill(getpid(), SIGPIPE) arrives as the kernel's own SIGPIPE does (SI_USER, the
    // process's own pid), but the call it comes from is a kill, not a write: nothing
    // found its FIFO without a reader (the FIFO it has open for writing has one), so no
    // `broken_pipe` names it, and the signal, sent by the program, is no finding.
    let lab = Lab::new("selfpipe");
    let script = "import os, signal, sys\n\
                  fifo = os.path.join(sys.argv[1], 'own.fifo')\n\
                  os.mkfifo(fifo)\n\
                  r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)\n\
                  w = os.open(fifo, os.O_WRONLY)\n\
                  os.unlink(fifo)\n\
                  signal.signal(signal.SIGPIPE, signal.SIG_DFL)\n\
                  os.kill(os.getpid(), signal.SIGPIPE)";
    let (out, doc) = audit_python(script, &[lab.dir()]);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let main = process(&doc, root(&doc));
    assert_eq!(main["signal"], "SIGPIPE", "{doc:#}");
    assert_eq!(main["broken_pipe"], Value::Null, "{doc:#}");
}
