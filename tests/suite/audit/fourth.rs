//! `osps audit` on programs of a fourth review: System V segments made without
//! IPC_CREAT, paths through /proc/self, leftover segments opened again, a semaphore the
//! resource tracker removed, a second Ctrl-C, hints for shell scripts.
//! Each test says what was wrong.

use super::*;

/// Removes, when dropped, the System V segment whose id the program wrote to `file`.
struct SysvId(PathBuf);

impl Drop for SysvId {
    fn drop(&mut self) {
        let Ok(text) = std::fs::read_to_string(&self.0) else {
            return;
        };
        if let Ok(id) = text.trim().parse::<i32>() {
            // SAFETY: IPC_RMID takes no buffer (null is allowed).
            unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
        }
    }
}

#[test]
fn shmget_of_ipc_private_without_ipc_creat_makes_a_segment() {
    // The textbook example, shmget(IPC_PRIVATE, size, S_IRUSR | S_IWUSR), has no
    // IPC_CREAT: IPC_PRIVATE always makes a new segment. It was not seen, and the
    // segment it left got "no finding: ... every object removed", exit 0.
    let lab = Lab::new("private");
    let file = lab.dir().join("id");
    let _guard = SysvId(file.clone());
    let (out, doc) = audit_python(
        "import ctypes, sys\n\
         libc = ctypes.CDLL(None)\n\
         made = libc.shmget(0, 4096, 0o600)\n\
         assert made >= 0\n\
         open(sys.argv[1], 'w').write(str(made))",
        &[&file],
    );
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["segment-left"], "{doc:#}");
    let id = std::fs::read_to_string(&file).unwrap();
    let segments = doc["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 1, "{doc:#}");
    assert_eq!(segments[0]["kind"], "sysv");
    assert_eq!(segments[0]["size"], 4096);
    assert_eq!(segments[0]["left"], true);
    assert!(
        segments[0]["name"]
            .as_str()
            .unwrap()
            .ends_with(&format!(" id {id}")),
        "{doc:#}"
    );
}

#[test]
fn paths_through_proc_self_and_dev_fd_are_the_programs_not_the_audits() {
    // /proc/self, /proc/thread-self and /dev/fd were resolved in the audit's own
    // process: a FIFO made as /proc/self/cwd/pf was named after the audit's working
    // directory and "gone", a segment opened through /proc/self/fd/N/NAME was not seen,
    // and the verdict was "no finding".
    let lab = Lab::new("procself");
    let sub = lab.dir().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let elsewhere = lab.dir().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let mut cmd = audit(&[]);
    cmd.current_dir(&elsewhere).args([
        python3(),
        "-c",
        "import os, sys\n\
         os.chdir(sys.argv[1])\n\
         os.mkfifo('/proc/self/cwd/pf')\n\
         os.mkfifo('/proc/thread-self/cwd/tf')\n\
         d = os.open('.', os.O_RDONLY)\n\
         os.mkfifo(f'/dev/fd/{d}/df')\n\
         shm = os.open('/dev/shm', os.O_RDONLY)\n\
         os.close(os.open(f'/proc/self/fd/{shm}/' + sys.argv[2], os.O_CREAT | os.O_RDWR, 0o600))",
    ]);
    cmd.arg(&sub).arg(&lab.shm);
    let (out, doc) = report(cmd);
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(
        kinds(&doc),
        ["fifo-left", "fifo-left", "fifo-left", "segment-left"],
        "{doc:#}"
    );
    let sub = sub.canonicalize().unwrap();
    let paths: Vec<&str> = doc["fifos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let want: Vec<String> = ["pf", "tf", "df"]
        .iter()
        .map(|n| sub.join(n).to_str().unwrap().to_string())
        .collect();
    assert_eq!(paths, want, "{doc:#}");
    assert_eq!(
        doc["segments"][0]["name"],
        format!("/{}", lab.shm),
        "{doc:#}"
    );
}

#[test]
fn a_leftover_segment_opened_again_with_o_creat_and_left_is_said() {
    // shm_open(name, O_CREAT | O_RDWR) without O_EXCL of a segment an earlier run left
    // creates nothing, and nothing was recorded: the program, which forgets
    // shm_unlink, got "no finding: ... every object removed" run after run.
    let lab = Lab::new("stale");
    let path = format!("/dev/shm/{}", lab.shm);
    std::fs::write(&path, b"from an earlier run").unwrap();
    let script = "import os, sys\n\
                  fd = os.open('/dev/shm/' + sys.argv[1], os.O_CREAT | os.O_RDWR, 0o600)\n\
                  os.ftruncate(fd, 4096)\n\
                  os.close(fd)";
    let (out, doc) = audit_python(script, &[&lab.shm]);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let segments = doc["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 1, "{doc:#}");
    assert_eq!(segments[0]["existed_before"], true, "{doc:#}");
    assert_eq!(segments[0]["left"], true, "{doc:#}");
    assert_eq!(segments[0]["created_by"], root(&doc), "{doc:#}");
    let notes = doc["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{doc:#}");
    assert_eq!(notes[0]["path"], path.as_str());
    let note = notes[0]["message"].as_str().unwrap();
    assert!(note.contains("already there"), "{note}");
    assert!(note.contains("still there at the end"), "{note}");
    // The text report never calls it clean.
    let (out, text) = super::third::human_report(&[], script, &[Path::new(&lab.shm)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(!text.contains("every object removed"), "{text}");
    assert!(text.contains("already there"), "{text}");
    assert!(
        Path::new(&path).exists(),
        "the audit removed what is not the program's"
    );
}

#[test]
fn a_semaphore_the_resource_tracker_removed_is_a_semaphore_finding() {
    // A spawn-context Lock is a named semaphore; left at os._exit, Python's resource
    // tracker removes it at shutdown. The finding was "segment-left: segment /mp-...",
    // with the shm.unlink() hint, while the object list called it a semaphore.
    let (out, doc) = audit_python::<&str>(
        "import multiprocessing as mp, os\n\
         lock = mp.get_context('spawn').Lock()\n\
         os._exit(0)",
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["semaphore-left"], "{doc:#}");
    let f = &doc["findings"][0];
    let message = f["message"].as_str().unwrap();
    assert!(message.starts_with("named semaphore /mp-"), "{f:#}");
    assert!(message.contains("resource tracker"), "{f:#}");
    let hint = f["hint"].as_str().unwrap();
    assert!(!hint.contains("shm.unlink"), "{f:#}");
}

#[test]
fn a_process_left_by_a_second_stop_signal_is_not_said_to_have_had_the_grace() {
    // A second Ctrl-C stops the audit at once, yet the left-running finding said the
    // process ran on "past the grace (--grace, at least 500 ms) after the SIGINT".
    let lab = Lab::new("again");
    let script = "import signal, sys, time\n\
        d = sys.argv[2]\n\
        signal.signal(signal.SIGINT, lambda *_: open(d + '/got', 'w').close())\n\
        print('ready', file=sys.stderr, flush=True)\n\
        time.sleep(60)";
    let child = started_in_its_group(&lab, &["--grace", "30s"], script);
    let started = Instant::now();
    assert!(common::kill(child.id(), libc::SIGINT));
    // The program got the first, passed on by the audit: the second, sent later than
    // the audit's "same event told twice" window, is the user insisting.
    let deadline = Instant::now() + slow(T);
    while !lab.dir().join("got").exists() {
        assert!(
            Instant::now() < deadline,
            "the program never got the SIGINT"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(150));
    assert!(common::kill(child.id(), libc::SIGINT));
    let out = common::output_within(child, T);
    let doc = parse_json(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{}", stderr_of(&out));
    assert!(started.elapsed() < slow(Duration::from_secs(20)), "{doc:#}");
    assert_eq!(kinds(&doc), ["left-running"], "{doc:#}");
    let message = doc["findings"][0]["message"].as_str().unwrap();
    assert!(!message.contains("past the grace"), "{message}");
    assert!(message.contains("second SIGINT"), "{message}");
}

#[test]
fn the_hint_for_a_fifo_left_fits_the_program_that_made_it() {
    // A shell script's mkfifo left a FIFO and was told to call os.unlink().
    let lab = Lab::new("hint");
    let fifo = lab.dir().join("sh.fifo");
    let mut cmd = audit(&[]);
    cmd.args(["sh", "-c", "mkfifo \"$1\"", "sh"]).arg(&fifo);
    let (out, doc) = report(cmd);
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["fifo-left"], "{doc:#}");
    let hint = doc["findings"][0]["hint"].as_str().unwrap();
    assert!(!hint.contains("os.unlink"), "{hint}");
    assert!(hint.contains("rm "), "{hint}");
    std::fs::remove_file(&fifo).unwrap();
    // Python's is still told in Python's words, a C program's in C's.
    let (_, doc) = audit_python("import os, sys\nos.mkfifo(sys.argv[1])", &[&fifo]);
    let hint = doc["findings"][0]["hint"].as_str().unwrap();
    assert!(hint.contains("os.unlink()"), "{hint}");
    std::fs::remove_file(&fifo).unwrap();
}

#[test]
fn the_clean_verdict_names_what_the_audit_watched_and_the_page_what_it_does_not() {
    // "every object removed" while POSIX message queues and System V semaphores and
    // message queues were not traced at all (they are now: see the test below), nor is
    // memory shared without a name.
    let mut cmd = Command::new(osps_bin());
    cmd.args(["audit", "--", "true"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let out = run(cmd, T);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("every object removed"), "{text}");
    assert!(
        text.contains("every segment, semaphore, message queue and FIFO it made removed"),
        "{text}"
    );
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man/osps-audit.1"))
            .unwrap();
    let limits = page.split("Limits.").nth(1).expect("a Limits paragraph");
    for unseen in ["MAP_ANONYMOUS", "memfd_create", "EPERM"] {
        assert!(
            limits.contains(unseen),
            "no {unseen} in the limits: {limits}"
        );
    }
}

/// Audits `./nondumpable MODE NAME` in `lab`'s directory as the user nobody (uid 65534),
/// `exe` made execute-only for `xonly`; `None` (the test skips) unless run as root with
/// setpriv(1) at hand.
fn audit_as_nobody(lab: &Lab, mode: &str) -> Option<(Output, Value)> {
    if common::uid() != 0 || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs root (to set up) and /usr/bin/setpriv (to run as nobody)");
        return None;
    }
    let exe = build_c(lab.dir(), "nondumpable.c", &[]);
    std::os::unix::fs::chown(lab.dir(), Some(65534), Some(65534)).unwrap();
    let perms = if mode == "xonly" { 0o711 } else { 0o755 };
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(perms)).unwrap();
    let mut cmd = Command::new("/usr/bin/setpriv");
    cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(osps_bin())
        .args(["audit", "--json", "--", "./nondumpable", mode, &lab.shm])
        .current_dir(lab.dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    Some(report(cmd))
}

#[test]
fn a_non_dumpable_program_audited_by_a_user_has_what_the_audit_could_not_see_said() {
    // An execute-only binary (0711) or prctl(PR_SET_DUMPABLE, 0), audited by an
    // ordinary user: its memory and /proc/PID/cwd may not be read (process_vm_readv and,
    // since Linux 4.10, PTRACE_PEEKDATA too), and every path and waitid's siginfo were
    // lost in silence: "no finding", the child reaped by waitid "reaped by the kernel",
    // the segment and FIFO it left not reported at all.
    for mode in ["prctl", "xonly"] {
        let lab = Lab::new("nodump");
        let Some((out, doc)) = audit_as_nobody(&lab, mode) else {
            return;
        };
        assert_eq!(
            out.status.code(),
            Some(0),
            "{mode}: {}\n{doc:#}",
            stderr_of(&out)
        );
        assert_eq!(doc["command"]["exit_code"], 0, "{mode}: {doc:#}");
        assert_eq!(kinds(&doc), Vec::<String>::new(), "{mode}: {doc:#}");
        // Its child, reaped by its waitid, whose siginfo could not be read either.
        let child = &doc["processes"][1];
        assert_eq!(child["reaped_by"], root(&doc), "{mode}: {doc:#}");
        assert_eq!(child["reaped_by_kernel"], false, "{mode}: {doc:#}");
        // The calls it could not read are said, and what appeared meanwhile is named.
        let notes: Vec<(&Value, &str)> = doc["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (&n["path"], n["message"].as_str().unwrap()))
            .collect();
        assert_eq!(notes.len(), 3, "{mode}: {doc:#}");
        assert!(
            notes[0].1.starts_with("2 calls of the program"),
            "{}",
            notes[0].1
        );
        assert!(notes[0].1.contains("not dumpable"), "{}", notes[0].1);
        let fifo = lab.dir().join("rel.fifo");
        let appeared: Vec<&Value> = notes[1..].iter().map(|n| n.0).collect();
        assert_eq!(
            appeared,
            [
                &Value::from(format!("/dev/shm/{}", lab.shm)),
                &Value::from(fifo.to_str().unwrap()),
            ],
            "{mode}: {doc:#}"
        );
        let _ = std::fs::remove_file(fifo);
    }
}

/// Removes, when dropped, the System V semaphore sets and message queues (`sem ID` and
/// `msg ID` lines) and POSIX message queues (`mq /NAME`) a program listed in `file`.
struct IpcList(PathBuf);

impl Drop for IpcList {
    fn drop(&mut self) {
        let text = std::fs::read_to_string(&self.0).unwrap_or_default();
        for line in text.lines() {
            let (what, arg) = line.split_once(' ').unwrap_or((line, ""));
            let id = arg.parse::<i32>().unwrap_or(-1);
            // SAFETY: IPC_RMID takes no buffer; mq_unlink a NUL-terminated name.
            unsafe {
                match what {
                    "sem" => {
                        libc::semctl(id, 0, libc::IPC_RMID);
                    }
                    "msg" => {
                        libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut());
                    }
                    "mq" => {
                        let name = std::ffi::CString::new(arg).unwrap();
                        libc::mq_unlink(name.as_ptr());
                    }
                    _ => {}
                }
            }
        }
    }
}

#[test]
fn system_v_semaphores_and_message_queues_and_posix_message_queues_are_watched() {
    // semget, msgget and mq_open were not traced at all: what they left got "no
    // finding: ... every object removed".
    let lab = Lab::new("ipc");
    let file = lab.dir().join("made");
    let _guard = IpcList(file.clone());
    let (out, doc) = audit_python(
        "import ctypes, os, sys\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         out = open(sys.argv[1], 'w', buffering=1)\n\
         sem = libc.semget(0, 1, 0o600); assert sem >= 0; out.write(f'sem {sem}\\n')\n\
         msg = libc.msgget(0, 0o600); assert msg >= 0; out.write(f'msg {msg}\\n')\n\
         gone = libc.semget(0, 1, 0o600); assert gone >= 0; out.write(f'sem {gone}\\n')\n\
         assert libc.semctl(gone, 0, 0) == 0\n\
         name = '/' + sys.argv[2]\n\
         mq = libc.mq_open(name.encode(), os.O_CREAT | os.O_RDWR, 0o600, None)\n\
         assert mq >= 0, ctypes.get_errno(); out.write(f'mq {name}\\n')\n\
         rm = '/' + sys.argv[2] + '_rm'\n\
         q = libc.mq_open(rm.encode(), os.O_CREAT | os.O_RDWR, 0o600, None)\n\
         assert q >= 0; out.write(f'mq {rm}\\n')\n\
         assert libc.mq_unlink(rm.encode()) == 0",
        &[file.as_os_str(), OsStr::new(&lab.shm)],
    );
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(
        kinds(&doc),
        ["semaphore-left", "queue-left", "queue-left"],
        "{doc:#}"
    );
    let segments = doc["segments"].as_array().unwrap();
    let summary: Vec<(&str, bool)> = segments
        .iter()
        .map(|s| (s["kind"].as_str().unwrap(), s["left"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("sysv-sem", true),
            ("sysv-msg", true),
            ("sysv-sem", false),
            ("mqueue", true),
            ("mqueue", false)
        ],
        "{doc:#}"
    );
    assert_eq!(segments[3]["name"], format!("/{}", lab.shm));
}

/// clone(CLONE_PARENT) makes a sibling of the caller: its parent is the caller's parent,
/// which waits for it. It was filed under the caller, which then "ended before its child"
/// (a parent-first finding, exit 1) that its real parent reaped.
#[test]
fn a_sibling_made_with_clone_parent_is_its_real_parents_child() {
    let lab = Lab::new("sibling");
    let exe = build_c(lab.dir(), "clone_parent.c", &[]);
    let mut cmd = audit(&[]);
    cmd.arg(&exe);
    let (out, doc) = report(cmd);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let procs = doc["processes"].as_array().unwrap();
    let main = root(&doc);
    assert_eq!(procs.len(), 3, "{doc:#}");
    // Both others are the main process's children, and both were reaped by it.
    for p in procs.iter().filter(|p| p["pid"] != main) {
        assert_eq!(p["ppid"], main, "{doc:#}");
    }
}

/// `-v` shows what the program does as it happens (the help promised "more detail on
/// stderr" and the audit printed nothing more): each process started, ended and reaped,
/// each object made and removed, in order, with the time.
#[test]
fn verbose_shows_processes_and_objects_as_they_come_and_go() {
    let lab = Lab::new("verbose");
    let fifo = lab.dir().join("v.fifo");
    let mut cmd = audit(&["-v"]);
    cmd.args([
        python3(),
        "-c",
        "import os, sys, time\n\
         from multiprocessing import shared_memory\n\
         shm = shared_memory.SharedMemory(create=True, size=4096, name=sys.argv[1])\n\
         os.mkfifo(sys.argv[2])\n\
         pid = os.fork()\n\
         if pid == 0:\n    os._exit(3)\n\
         os.waitpid(pid, 0)\n\
         shm.close(); shm.unlink(); os.unlink(sys.argv[2])",
        &lab.shm,
    ])
    .arg(&fifo);
    let (out, doc) = report(cmd);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    let err = stderr_of(&out);
    let main = root(&doc);
    let child = doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["exit_code"] == 3)
        .unwrap()["pid"]
        .clone();
    let order = [
        format!("pid {main} started"),
        format!("segment /{} made by pid {main}", lab.shm),
        format!("FIFO {} made by pid {main}", fifo.display()),
        format!("pid {child} started, child of pid {main}"),
        format!("pid {child} ended (exit 3)"),
        format!("pid {child} reaped by pid {main}"),
        format!("segment /{} removed by pid {main}", lab.shm),
        format!("FIFO {} removed by pid {main}", fifo.display()),
    ];
    let mut from = 0;
    for line in &order {
        let Some(at) = err[from..].find(line.as_str()) else {
            panic!("no {line:?} after byte {from} of:\n{err}");
        };
        from += at + line.len();
    }
}

/// A segment whose name holds a newline: the finding's message names it escaped, as the
/// list of objects does, and does not break its line in two. `--clean` then says which
/// kind of object it removed.
#[test]
fn a_left_object_with_an_odd_name_is_escaped_and_clean_says_what_it_removed() {
    let name = format!("odd\nname-{}", std::process::id());
    let path = format!("/dev/shm/{name}");
    let _ = std::fs::remove_file(&path);
    let mut cmd = audit(&["--clean"]);
    cmd.args([
        python3(),
        "-c",
        // What shm_open does, and no resource tracker to remove it (Python 3.13's
        // track=False is not everywhere).
        "import os, sys\n\
         fd = os.open('/dev/shm/' + sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)\n\
         os.ftruncate(fd, 4096)\n\
         os.close(fd)",
        &name,
    ]);
    let (out, doc) = report(cmd);
    let gone = !std::path::Path::new(&path).exists();
    let _ = std::fs::remove_file(&path);
    let left = findings_of(&doc, "segment-left");
    assert_eq!(left.len(), 1, "{doc:#}");
    let message = left[0]["message"].as_str().unwrap();
    assert!(!message.contains('\n'), "{message:?}");
    assert!(message.contains("odd\\nname-"), "{message:?}");
    assert!(gone, "--clean left {path:?}: {}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("--clean: removed segment /odd\\nname-"),
        "{}",
        stderr_of(&out)
    );
}

/// A System V semaphore set and message queue, and a POSIX message queue, that an
/// earlier run left, got again with IPC_CREAT (or O_CREAT) and left: each is noted, with
/// how to remove it, and the verdict is not clean. Before, the second run of such a
/// program was "no finding: ... every ... removed", exit 0, and listed no object.
#[test]
fn system_v_objects_and_queues_an_earlier_run_left_are_noted_when_got_again() {
    let lab = Lab::new("again");
    let key = 0x0a5d_0000 | (std::process::id() as i64 & 0xffff);
    let mq = format!("/{}", lab.shm);
    // What an earlier run left, made outside the audit.
    let script = "import ctypes, sys\n\
                  libc = ctypes.CDLL(None, use_errno=True)\n\
                  key, mq = int(sys.argv[1]), sys.argv[2].encode()\n\
                  assert libc.semget(key, 1, 0o1000 | 0o600) >= 0\n\
                  assert libc.msgget(key, 0o1000 | 0o600) >= 0\n\
                  libc.mq_open.restype = ctypes.c_int\n\
                  fd = libc.mq_open(mq, 0o100 | 0o2, 0o600, None)\n\
                  assert fd >= 0, ctypes.get_errno()\n\
                  libc.mq_close(fd)";
    let made = std::process::Command::new(python3())
        .args(["-c", script, &key.to_string(), &mq])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr_of(&made));
    struct Gone(i64, String);
    impl Drop for Gone {
        fn drop(&mut self) {
            let key = self.0 as libc::key_t;
            // SAFETY: plain System V calls on a key of this test's own; IPC_RMID takes
            // no buffer.
            unsafe {
                let sem = libc::semget(key, 0, 0);
                if sem >= 0 {
                    libc::semctl(sem, 0, libc::IPC_RMID);
                }
                let msg = libc::msgget(key, 0);
                if msg >= 0 {
                    libc::msgctl(msg, libc::IPC_RMID, std::ptr::null_mut());
                }
            }
            let name = std::ffi::CString::new(self.1.clone()).unwrap();
            // SAFETY: mq_unlink reads the NUL-terminated name only.
            unsafe { libc::mq_unlink(name.as_ptr()) };
        }
    }
    let _gone = Gone(key, mq.clone());
    // The program run again, under the audit: it gets them again and forgets them again.
    let (out, doc) = audit_python(script, &[&key.to_string(), &mq]);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let notes: Vec<&str> = doc["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["message"].as_str().unwrap())
        .collect();
    assert_eq!(notes.len(), 3, "{doc:#}");
    let say = |what: &str, how: &str| {
        assert!(
            notes
                .iter()
                .any(|n| n.contains(what) && n.contains("already there") && n.contains(how)),
            "no note of {what} with {how}: {notes:#?}"
        )
    };
    say("System V semaphore set", "ipcrm -s");
    say("System V message queue", "ipcrm -q");
    say(&format!("message queue {mq}"), "mq_unlink");
    // --clean leaves what is not the program's.
    let mut cmd = audit(&["--clean"]);
    cmd.args([python3(), "-c", script, &key.to_string(), &mq]);
    let (out, _) = report(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    // SAFETY: a plain lookup of this test's key.
    let still = unsafe { libc::semget(key as libc::key_t, 0, 0) };
    assert!(still >= 0, "--clean removed the set");
}
