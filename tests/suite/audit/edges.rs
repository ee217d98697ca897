//! `osps audit` on programs found in a review: kernel-reaped children, a program that
//! prints under --json, odd program names, Ctrl-C to the whole group, paths spelled two
//! ways. Each test says what was wrong.

use super::*;

#[test]
fn children_of_a_parent_that_ignores_sigchld_are_reaped_by_the_kernel_not_zombies() {
    // SIG_IGN for SIGCHLD: the kernel reaps each child at once, even though the parent
    // ends later without a wait; reporting them as zombies never reaped was false.
    let mut c = audit(&[]);
    c.args([
        python3(),
        "-c",
        "import os, signal, time\n\
         signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n\
         for _ in range(3):\n    \
             if os.fork() == 0: os._exit(0)\n\
         time.sleep(0.3)",
    ]);
    let (out, doc) = report(c);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new());
}

#[test]
fn with_json_what_the_program_prints_goes_to_stderr_and_stdout_stays_one_json_object() {
    // The program shared the audit's stdout, so `osps audit --json -- python3 pair.py
    // >report.json` (the page's own example) gave a file that was not JSON.
    let mut c = audit(&[]);
    c.args([
        "sh",
        "-c",
        &format!(
            "echo from-the-program; {} -c 'print(\"x\" * 100000)'",
            python3()
        ),
    ]);
    let (out, doc) = report(c);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(doc["schema_version"], 1);
    let err = stderr_of(&out);
    assert!(err.contains("from-the-program"), "{err}");
    assert!(err.contains(&"x".repeat(100000)));
}

#[test]
fn an_empty_program_name_is_not_found_like_in_a_shell() {
    // '' was joined to each PATH directory, found a directory and said 126 "Permission
    // denied"; a shell says "command not found", 127.
    let mut c = audit(&[]);
    c.arg("");
    let out = run(c, T);
    assert_eq!(out.status.code(), Some(127), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("not found"), "{}", stderr_of(&out));
}

#[test]
fn ctrl_c_to_the_group_lets_the_programs_own_handler_clean_up_before_the_report() {
    // Ctrl-C reaches the program too. The audit reported at once and SIGKILLed the
    // program in its handler: its shm.unlink() never ran, the report said segment-left
    // and left-running, and the audit itself had left the segment behind.
    let lab = Lab::new("ctrlc");
    let script = "import signal, sys, time\n\
                  from multiprocessing import shared_memory\n\
                  shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=64)\n\
                  def bye(*_):\n    \
                      time.sleep(0.1)\n    \
                      shm.close(); shm.unlink(); sys.exit(0)\n\
                  signal.signal(signal.SIGINT, bye)\n\
                  print('ready', file=sys.stderr, flush=True)\n\
                  time.sleep(30)";
    // The handler gets the grace to end the program (0.5 s unless --grace is longer);
    // on a loaded machine Python's exit can take longer, and then the report rightly
    // says left-running. The audit ends as soon as the program has, so a long grace
    // costs nothing.
    let out = ctrl_c_to_the_group(&lab, script);
    assert_eq!(out.status.code(), Some(130));
    let doc = parse_json(&out.stdout);
    assert_eq!(doc["ended_by"], "SIGINT");
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    assert_eq!(doc["processes"][0]["exit_code"], 0, "{doc:#}");
    assert!(!Path::new(&format!("/dev/shm/{}", lab.shm)).exists());
}

#[test]
fn a_fifo_made_by_one_spelling_and_removed_by_another_is_one_object_removed() {
    // Made as `../real/b` or through a linked directory, removed by its plain path: the
    // spellings were compared as strings, so the report said no one removed the FIFO.
    let lab = Lab::new("spelling");
    let real = lab.dir().join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, lab.dir().join("lnk")).unwrap();
    let script = "import os, sys\n\
                  d = sys.argv[1]\n\
                  os.mkfifo(d + '/lnk/a'); os.unlink(d + '/real/a')\n\
                  os.chdir(d + '/real'); os.mkfifo('../real/b'); os.unlink(d + '/real/b')";
    let (out, doc) = audit_python(script, &[lab.dir()]);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    let fifos = doc["fifos"].as_array().unwrap();
    assert_eq!(fifos.len(), 2, "{doc:#}");
    for f in fifos {
        assert_eq!(f["unlinked_by"], root(&doc), "{doc:#}");
        assert!(
            f["path"]
                .as_str()
                .unwrap()
                .starts_with(real.to_str().unwrap())
        );
    }
}

#[test]
fn a_child_ended_by_sigqueue_from_its_parent_is_not_killed_from_outside() {
    // sigqueue(3) is rt_sigqueueinfo, which the filter did not stop on: the signal the
    // parent sent was unseen and the child was reported 'killed' from outside.
    let script = "import ctypes, os, signal, time\n\
                  libc = ctypes.CDLL(None, use_errno=True)\n\
                  p = os.fork()\n\
                  if p == 0:\n    \
                      signal.pause(); os._exit(0)\n\
                  time.sleep(0.1)\n\
                  assert libc.sigqueue(p, signal.SIGUSR1, ctypes.c_long(0)) == 0\n\
                  os.waitpid(p, 0)";
    let (out, doc) = audit_python::<&str>(script, &[]);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new());
    let ended = doc["processes"].as_array().unwrap().iter();
    assert_eq!(
        ended.filter(|p| p["signal"] == "SIGUSR1").count(),
        1,
        "{doc:#}"
    );
}

#[test]
fn a_child_ended_through_a_pidfd_by_its_parent_is_not_killed_from_outside() {
    // pidfd_send_signal (signal.pidfd_send_signal in Python) was not stopped on either.
    let script = "import os, signal, time\n\
                  p = os.fork()\n\
                  if p == 0:\n    \
                      time.sleep(5); os._exit(0)\n\
                  signal.pidfd_send_signal(os.pidfd_open(p), signal.SIGTERM)\n\
                  os.waitpid(p, 0)";
    let (out, doc) = audit_python::<&str>(script, &[]);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new());
}

#[test]
fn output_of_a_process_left_running_never_comes_after_the_report() {
    // The report was written, then the processes left were killed: a child still
    // printing wrote into and after the report.
    let mut c = Command::new(osps_bin());
    c.args(["audit", "--grace", "50ms", "--"])
        .args([
            "sh",
            "-c",
            "(while :; do echo CHILD-OUTPUT; done) & sleep 0.2",
        ])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let out = run(c, T);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let report = &text[text.find("findings (").expect("a report")..];
    assert!(!report.contains("CHILD-OUTPUT\n"), "{report}");
}

#[test]
fn a_script_whose_interpreter_is_missing_is_not_called_a_missing_file() {
    // exec says ENOENT for a missing #! interpreter too, and the audit said "no such
    // file" of a file that is there: a script saved with CRLF line ends does this.
    let lab = Lab::new("interp");
    let crlf = lab.dir().join("crlf.sh");
    std::fs::write(&crlf, "#!/bin/sh\r\necho hi\r\n").unwrap();
    let other = lab.dir().join("other.sh");
    std::fs::write(&other, "#!/no/such/interpreter\necho hi\n").unwrap();
    for script in [&crlf, &other] {
        std::fs::set_permissions(script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut c = audit(&[]);
        c.arg(script);
        let out = run(c, T);
        assert_eq!(out.status.code(), Some(127), "{}", stderr_of(&out));
        assert!(
            !stderr_of(&out).contains("no such file"),
            "{}",
            stderr_of(&out)
        );
    }
    let mut c = audit(&[]);
    c.arg(&crlf);
    assert!(stderr_of(&run(c, T)).contains("carriage return"));
}

#[test]
fn a_script_that_kills_its_own_group_does_not_stop_the_audit() {
    // `trap 'kill 0' EXIT` signals the whole process group, and the audit is in it: the
    // audit took the program's own SIGTERM for the user's, ended at once and said
    // ended_by SIGTERM, exit 143. A stop signal sent by a traced process is the
    // program's business.
    let mut c = audit(&[]);
    c.args(["bash", "-c", "trap 'kill 0' EXIT; sleep 0.1; exit 0"]);
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    let (out, doc) = report(c);
    assert_eq!(doc["ended_by"], "program", "{doc:#}");
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
}

#[test]
fn a_script_without_a_shebang_line_is_run_by_sh_as_the_shell_would() {
    // The kernel says ENOEXEC of an executable text file without #!; a shell, env and
    // execvp(3) run it with /bin/sh, and the audit said 126 "Exec format error".
    let lab = Lab::new("noshebang");
    let script = lab.dir().join("pair.sh");
    std::fs::write(&script, "mkfifo \"$1\"\necho made \"$1\"\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let fifo = lab.dir().join("left.fifo");
    let mut c = audit(&[]);
    c.arg(&script).arg(&fifo);
    let out = run(c, T);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains(&format!("made {}", fifo.display())),
        "{}",
        stderr_of(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fifos = report["fifos"].as_array().unwrap();
    assert!(
        fifos.iter().any(|f| f["path"] == fifo.to_str().unwrap()),
        "{report}"
    );
    let main = &report["processes"][0];
    assert!(
        main["argv"].to_string().contains("/bin/sh"),
        "the main process is the shell running the script: {main}"
    );
}

#[test]
fn a_segment_named_sem_dot_something_is_a_segment_not_a_semaphore() {
    // shm_open("/sem.NAME") makes /dev/shm/sem.NAME, the file name of sem_open("/NAME"):
    // the audit named it by its path and reported a semaphore "/NAME". A semaphore is
    // linked into place from a temporary file; a segment is opened with O_CREAT.
    let lab = Lab::new("semdot");
    let name = format!("sem.{}", lab.shm);
    let script = "import sys\n\
                  from multiprocessing import shared_memory\n\
                  shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=64)\n\
                  shm.close(); shm.unlink()";
    let mut c = audit(&[]);
    c.args([python3(), "-c", script, &name]);
    let out = run(c, T);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let doc = parse_json(&out.stdout);
    let segments = doc["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 1, "{doc:#}");
    assert_eq!(segments[0]["kind"], "shm", "{doc:#}");
    assert_eq!(segments[0]["name"], format!("/{name}"), "{doc:#}");
    assert_eq!(segments[0]["left"], false, "{doc:#}");
}
