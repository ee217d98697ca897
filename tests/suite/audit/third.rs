//! `osps audit` on programs of a third review: waits that report a stopped child.
//! Each test says what was wrong.

use super::*;

#[test]
fn a_wait_that_reports_a_stopped_child_does_not_reap_it() {
    // waitpid(WUNTRACED) returning a child stopped by SIGSTOP was taken for its reap:
    // the child, continued, then exited and was never waited for, yet the report said
    // "reaped by" its parent at the time of the stop, zombie 0 ms, and no finding.
    let (out, doc) = audit_python::<&str>(
        "import os, signal, time\n\
         c = os.fork()\n\
         if c == 0:\n    \
             os.kill(os.getpid(), signal.SIGSTOP)\n    \
             os._exit(6)\n\
         pid, st = os.waitpid(c, os.WUNTRACED)\n\
         assert os.WIFSTOPPED(st), st\n\
         os.kill(c, signal.SIGCONT)\n\
         time.sleep(0.5)",
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["zombie"], "{doc:#}");
    let f = &doc["findings"][0];
    assert!(
        f["message"].as_str().unwrap().contains("never reaped"),
        "{f:#}"
    );
    let child = process(&doc, f["pid"].as_i64().unwrap());
    assert_eq!(child["exit_code"], 6, "{child:#}");
    assert_eq!(child["reaped_by"], Value::Null, "{child:#}");
}

#[test]
fn a_program_that_signals_its_whole_group_with_sigusr1_does_not_kill_the_audit() {
    // os.kill(0, SIGUSR1), the way a parent tells all its children at once, reaches the
    // audit too, which is in the program's process group: the audit died of it, with no
    // report, and took the program with it. (SIGUSR2 the same.)
    let script = "import os, signal, time\n\
                  signal.signal(signal.SIGUSR1, signal.SIG_IGN)\n\
                  signal.signal(signal.SIGUSR2, signal.SIG_IGN)\n\
                  c = os.fork()\n\
                  if c == 0:\n    \
                      signal.signal(signal.SIGUSR2, lambda *_: os._exit(0))\n    \
                      time.sleep(30)\n    \
                      os._exit(1)\n\
                  time.sleep(0.2)\n\
                  os.kill(0, signal.SIGUSR1)\n\
                  os.kill(0, signal.SIGUSR2)\n\
                  _, st = os.waitpid(c, 0)\n\
                  assert os.WEXITSTATUS(st) == 0, st";
    let mut cmd = audit(&[]);
    cmd.args([python3(), "-c", script]);
    // Its own group, so that the program's kill(0) reaches the audit, not the tests.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = parse_json(&out.stdout);
    assert_eq!(doc["command"]["exit_code"], 0, "{doc:#}");
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
}

#[test]
fn a_child_killed_with_its_parent_by_one_group_signal_is_no_parent_first() {
    // os.killpg(server, SIGTERM) ends a server and its worker at once, the right way to
    // stop a group; the worker, dying a moment after its parent, was a parent-first
    // finding: "the parent should stop its children and wait for them"; dying a moment
    // before it, a zombie "never reaped".
    let (out, doc) = audit_python::<&str>(
        "import os, signal, time\n\
         r, w = os.pipe()\n\
         c = os.fork()\n\
         if c == 0:\n    \
             os.setpgid(0, 0)\n    \
             if os.fork() == 0:\n        \
                 os.write(w, b'x')\n        \
                 time.sleep(30)\n        \
                 os._exit(1)\n    \
             time.sleep(30)\n    \
             os._exit(1)\n\
         os.read(r, 1)\n\
         os.killpg(c, signal.SIGTERM)\n\
         _, st = os.waitpid(c, 0)\n\
         assert os.WTERMSIG(st) == signal.SIGTERM, st\n\
         time.sleep(0.3)",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let procs = doc["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 3, "{doc:#}");
    assert!(
        procs[1..].iter().all(|p| p["signal"] == "SIGTERM"),
        "{doc:#}"
    );
}

#[test]
fn a_child_killed_by_sigkill_from_outside_gets_no_hint_to_handle_it() {
    // The hint of every `killed` but a crash said "if it is expected, handle it and exit
    // in order": SIGKILL cannot be handled.
    let lab = Lab::new("sigkill");
    let pidfile = lab.dir().join("pid");
    let mut cmd = audit(&[]);
    cmd.args([
        python3(),
        "-c",
        "import os, sys, time\n\
         c = os.fork()\n\
         if c == 0:\n    \
             open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid()))\n    \
             os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n    \
             time.sleep(30)\n    \
             os._exit(0)\n\
         os.waitpid(c, 0)",
        pidfile.to_str().unwrap(),
    ]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + slow(T);
    let pid = loop {
        if let Ok(text) = std::fs::read_to_string(&pidfile) {
            break text.trim().parse::<i32>().unwrap();
        }
        assert!(Instant::now() < deadline, "the child never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    // SAFETY: kill(2) of the audited child, which is waiting to be killed.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let out = common::output_within(child, T);
    let doc = parse_json(&out.stdout);
    assert_eq!(kinds(&doc), ["killed"], "{doc:#}");
    let hint = doc["findings"][0]["hint"].as_str().unwrap();
    assert!(!hint.contains("handle it"), "{hint}");
    assert!(hint.contains("cannot be caught"), "{hint}");
}

#[test]
fn ctrl_c_to_a_program_that_leaked_a_segment_blames_its_leak_not_an_attach() {
    // Ctrl-C ends the program, and its resource tracker removes the segment it leaked.
    // The tracer saw the tracker's unlink before the program's death, and the report
    // said the segment "was removed while its creator still ran", by the tracker of a
    // process that "had opened the segment by name": the creator itself.
    let lab = Lab::new("ctrlcleak");
    let script = "import sys, time\n\
                  from multiprocessing import shared_memory\n\
                  shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=64)\n\
                  print('ready', file=sys.stderr, flush=True)\n\
                  time.sleep(30)";
    let out = ctrl_c_to_the_group(&lab, script);
    assert_eq!(out.status.code(), Some(130));
    let doc = parse_json(&out.stdout);
    assert_eq!(kinds(&doc), ["segment-left"], "{doc:#}");
    let message = doc["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("removed it at shutdown"), "{message}");
    assert!(!message.contains("still ran"), "{message}");
}

#[test]
fn the_human_report_names_pythons_resource_tracker_in_the_process_list() {
    // The tracker's line read `python3 -B -c from multi... exit 0, parent ended first`
    // (its command line cut before its name), the same as a spawned worker's, and with
    // no finding to explain the "parent ended first": a newcomer could not tell what it
    // was or whether to worry.
    let mut cmd = Command::new(osps_bin());
    cmd.args(["audit", "--", python3(), "-c"])
        .arg(
            "from multiprocessing import shared_memory\n\
             s = shared_memory.SharedMemory(create=True, size=64)\n\
             s.close()\n\
             s.unlink()",
        )
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let tracker = text
        .lines()
        .find(|l| l.contains("multi") && l.contains("parent ended first"))
        .unwrap_or_else(|| panic!("no tracker line in {text}"));
    assert!(
        tracker.contains("Python's resource tracker"),
        "{tracker}\n{text}"
    );
    assert!(tracker.contains("no finding"), "{tracker}\n{text}");
}

/// The human report of `python3 -c SCRIPT ARGS`, with `flags`.
pub(super) fn human_report(flags: &[&str], script: &str, args: &[&Path]) -> (Output, String) {
    let mut cmd = Command::new(osps_bin());
    cmd.arg("audit")
        .args(flags)
        .args(["--", python3(), "-c", script])
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let out = run(cmd, T);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

#[test]
fn the_human_report_says_how_to_remove_what_was_left() {
    // A FIFO left was marked LEFT and its finding told how to fix the program, but not
    // that the FIFO is still there after the audit nor how to remove it now (--clean).
    let lab = Lab::new("leftnext");
    let fifo = lab.dir().join("left.fifo");
    let script = "import os, sys\nos.mkfifo(sys.argv[1])";
    let (out, text) = human_report(&[], script, &[&fifo]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let last = text.lines().last().unwrap();
    assert!(last.contains("still there"), "{text}");
    assert!(last.contains(&format!("(rm {})", fifo.display())), "{text}");
    assert!(last.contains("--clean"), "{text}");
    assert!(fifo.exists());
    // With --clean they are removed: the report says that instead.
    std::fs::remove_file(&fifo).unwrap();
    let (out, text) = human_report(&["--clean"], script, &[&fifo]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let last = text.lines().last().unwrap();
    assert!(last.contains("--clean removes"), "{text}");
    assert!(!fifo.exists());
}

#[test]
fn shmget_with_ipc_creat_of_a_key_that_exists_makes_no_second_segment() {
    // Both sides of a System V pair call shmget(key, size, IPC_CREAT | 0600), the usual
    // way: the second call opens the segment the first made. The report listed two
    // segments, both left, for one; and a segment made before the audit, opened so, was
    // "made by" the program and a segment-left finding.
    let key = 0x05ee_0000 | (std::process::id() as i64 & 0xffff);
    let before = 0x06ee_0000 | (std::process::id() as i64 & 0xffff);
    let script = "import ctypes, os, sys\n\
                  libc = ctypes.CDLL(None, use_errno=True)\n\
                  key, before = int(sys.argv[1]), int(sys.argv[2])\n\
                  made = libc.shmget(key, 4096, 0o1600)\n\
                  if os.fork() == 0:\n    \
                      assert libc.shmget(key, 4096, 0o1600) == made\n    \
                      os._exit(0)\n\
                  os.wait()\n\
                  assert libc.shmget(before, 4096, 0o1600) >= 0\n\
                  assert libc.shmctl(made, 0, None) == 0";
    let made_before = {
        let mut c = Command::new(python3());
        c.args([
            "-c",
            "import ctypes, sys\n\
             libc = ctypes.CDLL(None)\n\
             print(libc.shmget(int(sys.argv[1]), 4096, 0o1600))",
            &before.to_string(),
        ]);
        let out = run(c, T);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert!(
        made_before.parse::<i64>().unwrap() >= 0,
        "shmget: {made_before}"
    );
    let (out, doc) = audit_python(script, &[key.to_string(), before.to_string()]);
    // The segment made before the audit is not the program's: remove it here.
    let mut rm = Command::new("ipcrm");
    rm.args(["-m", &made_before]);
    let _ = run(rm, T);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let segments = doc["segments"].as_array().unwrap();
    // The one made, and the one there before, got again with IPC_CREAT: not the
    // program's (no finding, never removed by --clean), noted as still there.
    assert_eq!(segments.len(), 2, "{doc:#}");
    assert_eq!(segments[0]["kind"], "sysv");
    assert_eq!(segments[0]["created_by"], root(&doc));
    assert_eq!(segments[0]["unlinked_by"], root(&doc));
    assert_eq!(segments[1]["existed_before"], true, "{doc:#}");
    assert_eq!(doc["notes"].as_array().unwrap().len(), 1, "{doc:#}");
}

#[test]
fn the_man_pages_environment_names_no_option_the_audit_lacks() {
    // The page said of OSPS_NAME "without --name it looks at every instance of the
    // user", the text of inspect and cleanup: the audit has no --name.
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man/osps-audit.1"))
            .unwrap();
    let env = page
        .split(".SH ENVIRONMENT")
        .nth(1)
        .and_then(|rest| rest.split(".SH ").next())
        .expect("an ENVIRONMENT section");
    assert!(!env.contains("\\-\\-name"), "{env}");
    let help = Command::new(osps_bin())
        .args(["audit", "--help"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("--name"));
}

#[test]
fn the_human_report_shows_the_programs_script_not_only_the_interpreters_path() {
    // Every process was named by its first 57 characters, and an interpreter's absolute
    // path (`/root/.pyenv/versions/3.11.7/bin/python3`, 40 of them) left no room for the
    // script: `pid 1234 (/root/.pyenv/versions/3.11.7/bin/python3 /tmp/lab/se...)`, the
    // same for server.py and session.py. The report names a program by its file name.
    let lab = Lab::new("argv0");
    let exe = Path::new(python3());
    let base = exe.file_name().unwrap().to_str().unwrap();
    // A script path that fits in 60 characters after the interpreter's file name only.
    let room = 60 - base.len() - 1;
    let dir_len = room - lab.dir().to_str().unwrap().len() - "/p.py".len() - 1;
    let dir = lab.dir().join("d".repeat(dir_len));
    std::fs::create_dir(&dir).unwrap();
    let script = dir.join("p.py");
    std::fs::write(&script, "pass\n").unwrap();
    let mut cmd = Command::new(osps_bin());
    cmd.args(["audit", "--"])
        .arg(exe)
        .arg(&script)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap();
    assert!(
        first.contains(&format!("({base} {})", script.display())),
        "{text}"
    );
    // The JSON keeps the whole command line.
    let (_, doc) = report({
        let mut c = audit(&[]);
        c.arg(exe).arg(&script);
        c
    });
    assert_eq!(doc["processes"][0]["argv"][0], exe.to_str().unwrap());
}

#[test]
fn two_processes_opening_one_segment_with_o_creat_at_once_make_one_segment() {
    // A pair's two sides both shm_open(name, O_CREAT | O_RDWR) as they start, as C
    // labs do. When both calls were in flight at once, both were taken for a creation:
    // the report listed the segment twice, and the copy the removal did not match was
    // "gone (removed by a process outside the audit)".
    let lab = Lab::new("race");
    let exe = build_c(lab.dir(), "shm_race.c", &[]);
    let mut cmd = audit(&[]);
    cmd.arg(&exe).arg(&lab.shm);
    let (out, doc) = report(cmd);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(doc["command"]["exit_code"], 0);
    let segments = doc["segments"].as_array().unwrap();
    assert!(
        segments.iter().all(|s| s["unlinked_by"] == root(&doc)),
        "{doc:#}"
    );
    assert_eq!(segments.len(), 200, "{doc:#}");
}
