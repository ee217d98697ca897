//! A stop signal to the audit reaches the program once: passed on when it was sent to
//! the audit alone (`kill PID`), not sent again when the program got it too (Ctrl-C,
//! a kill of the whole group).

use super::*;

/// A lab server that makes its FIFO and segment, removes both in its handler of SIGTERM,
/// SIGINT, SIGHUP and SIGQUIT, and writes how many signals it took at the C level (one
/// byte each, through `signal.set_wakeup_fd`, which Python's own handler call would
/// merge) to `DIR/count`.
const CLEANS_UP: &str = "import os, signal, sys, time\n\
    from multiprocessing import shared_memory\n\
    name, d = sys.argv[1], sys.argv[2]\n\
    os.mkfifo(d + '/p2s.fifo')\n\
    shm = shared_memory.SharedMemory(name=name, create=True, size=64)\n\
    r, w = os.pipe(); os.set_blocking(w, False); os.set_blocking(r, False)\n\
    signal.set_wakeup_fd(w)\n\
    def bye(*_):\n    \
        time.sleep(0.3)\n    \
        try:\n        n = len(os.read(r, 100))\n    \
        except BlockingIOError:\n        n = 0\n    \
        open(d + '/count', 'w').write(str(n))\n    \
        shm.close(); shm.unlink(); os.unlink(d + '/p2s.fifo'); sys.exit(0)\n\
    signal.signal(signal.SIGTERM, bye)\n\
    signal.signal(signal.SIGINT, bye)\n\
    signal.signal(signal.SIGHUP, bye)\n\
    signal.signal(signal.SIGQUIT, bye)\n\
    print('ready', file=sys.stderr, flush=True)\n\
    time.sleep(30)";

/// The audit's exit status, its report, and how many signals the program counted.
fn stopped_by(signal: i32, to: To) -> (Output, Value, String) {
    let lab = Lab::new("relay");
    let out = signal_when_ready(&lab, CLEANS_UP, signal, to);
    let doc = parse_json(&out.stdout);
    let count = std::fs::read_to_string(lab.dir().join("count")).unwrap_or_default();
    assert!(!lab.dir().join("p2s.fifo").exists(), "{doc:#}");
    assert!(
        !Path::new(&format!("/dev/shm/{}", lab.shm)).exists(),
        "{doc:#}"
    );
    (out, doc, count)
}

#[test]
fn sigterm_to_the_audit_alone_is_passed_on_and_the_programs_handler_cleans_up() {
    // The program never got it: SIGKILLed after the grace, its handler never ran, and
    // the report said fifo-left, segment-left and left-running.
    let (out, doc, count) = stopped_by(libc::SIGTERM, To::AuditAlone);
    assert_eq!(out.status.code(), Some(143), "{}", stderr_of(&out));
    assert_eq!(doc["ended_by"], "SIGTERM");
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    assert_eq!(doc["processes"][0]["exit_code"], 0, "{doc:#}");
    assert_eq!(count, "1");
}

#[test]
fn sigint_to_the_audit_alone_reaches_the_program_once() {
    let (out, doc, count) = stopped_by(libc::SIGINT, To::AuditAlone);
    assert_eq!(out.status.code(), Some(130), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    assert_eq!(count, "1");
}

#[test]
fn sigterm_to_the_whole_group_reaches_the_program_once_not_again_from_the_audit() {
    let (out, doc, count) = stopped_by(libc::SIGTERM, To::Group);
    assert_eq!(out.status.code(), Some(143), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    assert_eq!(count, "1");
}

#[test]
fn ctrl_c_to_the_whole_group_reaches_the_program_once_not_again_from_the_audit() {
    let (out, doc, count) = stopped_by(libc::SIGINT, To::Group);
    assert_eq!(out.status.code(), Some(130), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    assert_eq!(count, "1");
}

#[test]
fn sighup_to_the_whole_group_reaches_the_program_once_and_the_audit_reports_and_exits_129() {
    // A closed terminal hangs up the whole group: the audit died of it (no report, and
    // through PTRACE_O_EXITKILL the program was SIGKILLed before its handler ran).
    let (out, doc, count) = stopped_by(libc::SIGHUP, To::Group);
    assert_eq!(out.status.code(), Some(129), "{}", stderr_of(&out));
    assert_eq!(doc["ended_by"], "SIGHUP");
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    assert_eq!(count, "1");
}

#[test]
fn sigquit_to_the_audit_alone_is_passed_on_and_the_audit_reports_and_exits_131() {
    // The audit dumped core at once, and the program with it, unreported.
    let (out, doc, count) = stopped_by(libc::SIGQUIT, To::AuditAlone);
    assert_eq!(out.status.code(), Some(131), "{}", stderr_of(&out));
    assert_eq!(doc["ended_by"], "SIGQUIT");
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    assert_eq!(count, "1");
}

#[test]
fn a_stop_signal_ignored_when_the_audit_started_stays_ignored_for_the_program() {
    // `nohup osps audit -- PROG`, or `osps audit -- PROG &` in a script (SIGINT ignored):
    // the audit's own handler was reset to the default by exec, so the program lost the
    // SIG_IGN its starter gave it (SIGINT before SIGHUP was a stop signal too).
    let lab = Lab::new("nohup");
    let script = "import signal, sys\n\
        ign = [signal.getsignal(s) == signal.SIG_IGN for s in (signal.SIGHUP, signal.SIGINT)]\n\
        open(sys.argv[1] + '/ignored', 'w').write(str(ign))";
    let mut c = audit(&[]);
    c.args([python3(), "-c", script]).arg(lab.dir());
    // SAFETY: signal(2) is async-signal-safe, as a pre_exec closure must be.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, || {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            Ok(())
        });
    }
    let (out, doc) = report(c);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    let ignored = std::fs::read_to_string(lab.dir().join("ignored")).unwrap_or_default();
    assert_eq!(ignored, "[True, True]");
}

#[test]
fn a_handler_that_passes_the_signal_to_its_group_is_not_taken_for_the_user_insisting() {
    // The handler's kill(0, SIGTERM) reaches the audit too (same group) and counted as a
    // second signal, "now": the audit SIGKILLed the program in its handler and reported
    // every process left running.
    let lab = Lab::new("killzero");
    let script = "import os, signal, sys, time\n\
        d = sys.argv[2]\n\
        kids = []\n\
        for _ in range(2):\n    \
            pid = os.fork()\n    \
            if pid == 0:\n        \
                time.sleep(30); os._exit(0)\n    \
            kids.append(pid)\n\
        def bye(*_):\n    \
            signal.signal(signal.SIGTERM, signal.SIG_IGN)\n    \
            os.kill(0, signal.SIGTERM)\n    \
            for k in kids:\n        \
                os.waitpid(k, 0)\n    \
            open(d + '/cleaned', 'w').close(); sys.exit(0)\n\
        signal.signal(signal.SIGTERM, bye)\n\
        print('ready', file=sys.stderr, flush=True)\n\
        time.sleep(30)";
    let out = signal_when_ready(&lab, script, libc::SIGTERM, To::AuditAlone);
    let doc = parse_json(&out.stdout);
    assert_eq!(out.status.code(), Some(143), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    assert!(lab.dir().join("cleaned").exists(), "{doc:#}");
}

#[test]
fn after_the_main_process_ended_a_stop_signal_to_the_audit_reaches_the_processes_it_left() {
    // The signal went to the main process only, which was gone: the child it left ran
    // on through the grace, was SIGKILLed in the end, and was reported left running.
    let lab = Lab::new("orphan");
    let script = "import os, signal, sys, time\n\
        d = sys.argv[2]\n\
        parent = os.getpid()\n\
        if os.fork() == 0:\n    \
            while os.getppid() == parent:\n        \
                time.sleep(0.01)\n    \
            def bye(*_):\n        \
                open(d + '/cleaned', 'w').close(); os._exit(0)\n    \
            signal.signal(signal.SIGTERM, bye)\n    \
            print('ready', file=sys.stderr, flush=True)\n    \
            time.sleep(30)\n\
        os._exit(0)";
    let started = Instant::now();
    let out = signal_when_ready(&lab, script, libc::SIGTERM, To::AuditAlone);
    let doc = parse_json(&out.stdout);
    assert_eq!(out.status.code(), Some(143), "{}", stderr_of(&out));
    // The parent ended first: the lab's mistake, and the only one.
    assert_eq!(kinds(&doc), ["parent-first"], "{doc:#}");
    assert!(lab.dir().join("cleaned").exists(), "{doc:#}");
    assert!(
        started.elapsed() < slow(Duration::from_secs(8)),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_second_stop_signal_stops_at_once_and_the_audit_ends_by_the_first() {
    // The exit status and ended_by came from the last signal, the messages from the
    // first: SIGHUP then SIGTERM exited 143, "interrupted by SIGTERM".
    let lab = Lab::new("twice");
    let script = "import signal, sys, time\n\
        signal.signal(signal.SIGHUP, lambda *_: time.sleep(20))\n\
        signal.signal(signal.SIGTERM, lambda *_: time.sleep(20))\n\
        print('ready', file=sys.stderr, flush=True)\n\
        time.sleep(30)";
    let child = started_in_its_group(&lab, &["--grace", "20s"], script);
    let started = Instant::now();
    assert!(common::kill(child.id(), libc::SIGHUP));
    std::thread::sleep(Duration::from_millis(300));
    assert!(common::kill(child.id(), libc::SIGTERM));
    let out = common::output_within(child, T);
    let doc = parse_json(&out.stdout);
    assert_eq!(out.status.code(), Some(129), "{}", stderr_of(&out));
    assert_eq!(doc["ended_by"], "SIGHUP");
    // Stopped at once by the second signal, not after the 20 s grace.
    assert!(
        started.elapsed() < slow(Duration::from_secs(10)),
        "{:?}",
        started.elapsed()
    );
}
