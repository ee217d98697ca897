//! `osps audit` on programs written the way students write them (Python's os.fork,
//! signals, SharedMemory): each test says what the report got wrong.

use super::*;

#[test]
fn a_child_left_stopped_is_reported_as_stopped_not_running() {
    // A child stopped by SIGSTOP when its parent ended was reported as "still running":
    // ps says T (stopped), and a student looking for the loop it runs finds none.
    // The parent waits (WUNTRACED) until the child is stopped, so the stop is certain.
    let (out, doc) = audit_python::<&str>(
        "import os, signal\n\
         pid = os.fork()\n\
         if pid == 0:\n    \
             os.kill(os.getpid(), signal.SIGSTOP)\n    \
             os._exit(0)\n\
         _, st = os.waitpid(pid, os.WUNTRACED)\n\
         assert os.WIFSTOPPED(st)\n\
         print(pid, flush=True)\n\
         os._exit(0)",
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    let child = doc["processes"][1]["pid"].as_i64().unwrap();
    assert_eq!(process(&doc, child)["left_running"], true, "{doc:#}");
    assert_eq!(process(&doc, child)["stopped"], "SIGSTOP", "{doc:#}");
    let left = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "left-running")
        .unwrap_or_else(|| panic!("no left-running finding in {doc:#}"));
    let message = left["message"].as_str().unwrap();
    assert!(message.contains("stopped (SIGSTOP)"), "{message}");
    assert!(!message.contains("still running"), "{message}");
    assert!(
        left["hint"].as_str().unwrap().contains("SIGCONT"),
        "{left:#}"
    );
}

/// A parent that ignores SIGCHLD, so that the kernel reaps its child at once, and whose
/// waitpid then finds no child (ChildProcessError).
const KERNEL_REAPS: &str = "import os, signal\n\
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n\
    pid = os.fork()\n\
    if pid == 0:\n    \
        os._exit(0)\n\
    try:\n    \
        os.waitpid(pid, 0)\n\
    except ChildProcessError:\n    \
        pass";

#[test]
fn children_the_kernel_reaps_say_so() {
    // signal.signal(SIGCHLD, SIG_IGN) makes the kernel reap every child at once: right,
    // and no finding, but the report showed such a child as if nobody had reaped it
    // (reaped_by null, "null if the program never did"; nothing in the tree).
    let (out, doc) = audit_python::<&str>(KERNEL_REAPS, &[]);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    let child = doc["processes"][1]["pid"].as_i64().unwrap();
    assert_eq!(process(&doc, child)["reaped_by_kernel"], true, "{doc:#}");
    assert_eq!(doc["processes"][0]["reaped_by_kernel"], false, "{doc:#}");

    let mut c = Command::new(osps_bin());
    c.args(["audit", "--"])
        .args([python3(), "-c"])
        .arg(KERNEL_REAPS);
    let out = run(c, T);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("reaped by the kernel (its parent ignores SIGCHLD)"),
        "{text}"
    );
}

#[test]
fn a_process_ended_by_its_own_alarm_is_told_about_its_timer() {
    // signal.alarm / setitimer without a handler: the kernel sends SIGALRM when the
    // program's own timer runs out, and the hint said "find who sends it", sending the
    // student after a kill that no one made.
    let (out, doc) = audit_python::<&str>(
        "import signal, time\n\
         signal.setitimer(signal.ITIMER_REAL, 0.05)\n\
         time.sleep(30)",
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["killed"], "{doc:#}");
    let hint = doc["findings"][0]["hint"].as_str().unwrap();
    assert!(hint.contains("alarm"), "{hint}");
    assert!(!hint.contains("find who sends it"), "{hint}");
}

#[test]
fn semaphores_are_not_listed_as_segments() {
    // multiprocessing.Lock() makes a POSIX named semaphore; the text report listed it
    // under "segments (1):", so a student looked for a SharedMemory they never made.
    let mut c = Command::new(osps_bin());
    c.args(["audit", "--"])
        .args([python3(), "-c"])
        .arg("import multiprocessing as mp\nl = mp.get_context('fork').Lock()\nl.acquire(); l.release()")
        .env("NO_COLOR", "1");
    let out = run(c, T);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("\nsegments ("), "{text}");
    assert!(text.contains("\nsemaphores (1):\n"), "{text}");
}

#[test]
fn a_child_stopped_then_continued_is_running_again() {
    // The other side of the stopped report: after SIGCONT (its parent waits for it with
    // WCONTINUED) it runs, and is reported running.
    let (out, doc) = audit_python::<&str>(
        "import os, signal, time\n\
         pid = os.fork()\n\
         if pid == 0:\n    \
             os.kill(os.getpid(), signal.SIGSTOP)\n    \
             time.sleep(30)\n    \
             os._exit(0)\n\
         os.waitpid(pid, os.WUNTRACED)\n\
         os.kill(pid, signal.SIGCONT)\n\
         os.waitpid(pid, os.WCONTINUED)\n\
         os._exit(0)",
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    let child = doc["processes"][1]["pid"].as_i64().unwrap();
    assert_eq!(process(&doc, child)["left_running"], true, "{doc:#}");
    assert_eq!(process(&doc, child)["stopped"], Value::Null, "{doc:#}");
}

#[test]
fn a_child_its_waiting_parent_reaped_is_not_said_to_be_reaped_by_the_kernel() {
    // A parent blocked in waitpid reaps its child the moment the tracer lets the child
    // go: the child was gone from /proc when the tracer looked, and was marked
    // reaped_by_kernel as well as reaped_by its parent.
    let (out, doc) = audit_python::<&str>(
        "import os, time\n\
         for i in range(20):\n    \
             p = os.fork()\n    \
             if p == 0:\n        \
                 time.sleep(0.005); os._exit(0)\n    \
             os.waitpid(p, 0)",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    let procs = doc["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 21, "{doc:#}");
    for p in &procs[1..] {
        assert!(p["reaped_by"].is_i64(), "{p}");
        assert_eq!(p["reaped_by_kernel"], false, "{p}");
    }
}

#[test]
fn clean_removes_what_was_left_even_when_the_report_cannot_be_written() {
    // With stdout full (or a closed terminal), the failed write returned before --clean
    // ran: the FIFO stayed.
    let lab = Lab::new("fullclean");
    let fifo = lab.dir().join("left.fifo");
    let mut c = Command::new(osps_bin());
    c.args(["audit", "--clean", "--"])
        .args([python3(), "-c", "import os, sys; os.mkfifo(sys.argv[1])"])
        .arg(&fifo)
        .stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .stderr(Stdio::piped());
    let out = common::output_within(c.spawn().unwrap(), T);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("writing to stdout"), "{err}");
    assert!(!fifo.exists(), "{err}");
}

#[test]
fn a_sigalrm_from_outside_is_not_said_to_be_the_programs_own_timer() {
    // Any SIGALRM no process of the program sent got the hint "a timer of its own ran
    // out", a `kill -ALRM PID` from outside too; a `kill -SEGV` "a bad memory access".
    for (signal, not) in [(libc::SIGALRM, "timer"), (libc::SIGSEGV, "memory access")] {
        let hint = hint_of_a_kill_from_outside(signal);
        assert!(
            hint.contains("find who sends it") && !hint.contains(not),
            "{hint}"
        );
    }
}

/// The hint of the finding for a Python program killed by `signal` from outside.
fn hint_of_a_kill_from_outside(signal: i32) -> String {
    let lab = Lab::new("outside");
    let script = "import os, sys, time\n\
        print(os.getpid(), file=open(sys.argv[2] + '/pid', 'w'), flush=True)\n\
        print('ready', file=sys.stderr, flush=True)\n\
        time.sleep(30)";
    let mut cmd = audit(&[]);
    cmd.args([python3(), "-c", script, &lab.shm]).arg(lab.dir());
    let log = lab.dir().join("stderr");
    cmd.stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    let child = cmd.spawn().unwrap();
    wait_ready(&log);
    let pid: u32 = std::fs::read_to_string(lab.dir().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(common::kill(pid, signal));
    let out = common::output_within(child, T);
    let doc = parse_json(&out.stdout);
    assert_eq!(kinds(&doc), ["killed"], "{doc:#}");
    doc["findings"][0]["hint"].as_str().unwrap().to_string()
}

#[test]
fn a_child_in_a_group_of_its_own_is_not_said_to_have_got_the_groups_signal() {
    // A SIGTERM to the audit's whole group was taken as reaching every process: a child
    // that had called setsid(), which never saw it, was told to handle the signal.
    let lab = Lab::new("ownsid");
    let script = "import os, signal, sys, time\n\
        if os.fork() == 0:\n    \
            os.setsid()\n    \
            print('ready', file=sys.stderr, flush=True)\n    \
            time.sleep(30)\n\
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n\
        time.sleep(30)";
    let child = started_in_its_group(&lab, &["--grace", "300ms"], script);
    let group = -(child.id() as i32);
    // SAFETY: kill(2) of the process group just made for the audit.
    let sent = unsafe { libc::kill(group, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let out = common::output_within(child, T);
    let doc = parse_json(&out.stdout);
    let left = findings_of(&doc, "left-running");
    assert_eq!(left.len(), 1, "{doc:#}");
    let message = left[0]["message"].as_str().unwrap();
    assert!(!message.contains("SIGTERM"), "{message}");
}
