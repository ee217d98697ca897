//! `osps audit` on programs of a second review: Python's forkserver, a main thread that
//! ends first, waitid(2) without a siginfo, FIFOs renamed onto, exchanged and linked,
//! children stopped by a signal.
//! Each test says what was wrong.

use super::*;

/// Audits the C fixture in `mode`, built and run in `lab`'s directory: its exit status
/// and report.
fn audit_threads_waits(lab: &Lab, mode: &str) -> (std::process::Output, Value) {
    let exe = build_c(lab.dir(), "threads_waits.c", &["-lpthread"]);
    let mut c = audit(&[]);
    c.arg(&exe).arg(mode).arg(lab.dir());
    report(c)
}

fn fifo<'a>(doc: &'a Value, path: &Path) -> &'a Value {
    let path = path.to_str().unwrap();
    doc["fifos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no FIFO {path} in {doc:#}"))
}

#[test]
fn python_forkserver_is_a_helper_not_a_parent_ending_first() {
    // The 'forkserver' start method (Linux's default from Python 3.14) starts a server
    // that outlives the program by design: each run was a parent-first finding.
    let (out, doc) = audit_python::<&str>(
        "import multiprocessing as mp, os\n\
         def work(): pass\n\
         if __name__ == '__main__':\n    \
             mp.set_start_method('forkserver')\n    \
             p = mp.Process(target=work)\n    \
             p.start()\n    \
             p.join()\n    \
             assert p.exitcode == 0",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let procs = doc["processes"].as_array().unwrap();
    let server = procs
        .iter()
        .find(|p| {
            p["ppid"] == root(&doc) && p["argv"].to_string().contains("multiprocessing.forkserver")
        })
        .unwrap_or_else(|| panic!("no forkserver in {doc:#}"));
    assert_eq!(server["parent_first"], true);
    // The worker it forked is the program's own process, reaped by the server.
    let worker = procs
        .iter()
        .find(|p| p["ppid"] == server["pid"])
        .unwrap_or_else(|| panic!("no worker in {doc:#}"));
    assert_eq!(worker["reaped_by"], server["pid"]);
}

#[test]
fn a_process_whose_main_thread_ends_first_ends_with_its_last_thread() {
    // pthread_exit in main: the process ends (and can be reaped) only when its other
    // thread does, 300 ms later; its exit was taken from the main thread's, so its
    // parent's prompt wait was a zombie of 300 ms.
    let lab = Lab::new("leader");
    let (out, doc) = audit_threads_waits(&lab, "leader-exit");
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let child = &doc["processes"][1];
    assert_eq!(child["reaped_by"], root(&doc));
    let (start, exit) = (child["start_ms"].as_f64(), child["exit_ms"].as_f64());
    assert!(exit.unwrap() - start.unwrap() >= 250.0, "{child:#}");
}

#[test]
fn children_reaped_by_waitid_without_a_siginfo_are_reaped() {
    // waitid(P_PID, pid, NULL, WEXITED) is allowed and reaps; with no siginfo to read
    // the reap was not seen, and both children were zombies never reaped.
    let lab = Lab::new("waitid");
    let (out, doc) = audit_threads_waits(&lab, "waitid-null");
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    for child in &doc["processes"].as_array().unwrap()[1..] {
        assert_eq!(child["reaped_by"], root(&doc), "{doc:#}");
    }
}

#[test]
fn a_fifo_renamed_onto_is_removed_by_the_rename() {
    // rename(a, b) onto a FIFO of ours removes it; it stayed in the report neither
    // removed nor left, and a plain file renamed onto one was not seen at all.
    let lab = Lab::new("renamed");
    let (out, doc) = audit_python(
        "import os, sys\n\
         os.chdir(sys.argv[1])\n\
         os.mkfifo('a'); os.mkfifo('b')\n\
         os.rename('a', 'b')\n\
         os.unlink('b')\n\
         os.mkfifo('c'); open('plain', 'w').close()\n\
         os.rename('plain', 'c')\n\
         os.unlink('c')",
        &[lab.dir()],
    );
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    let fifos = doc["fifos"].as_array().unwrap();
    assert_eq!(fifos.len(), 3, "{doc:#}");
    for f in fifos {
        assert_eq!(f["unlinked_by"], root(&doc), "{doc:#}");
        assert_eq!(f["left"], false);
    }
}

#[test]
fn fifos_exchanged_by_renameat2_keep_their_history_under_their_new_names() {
    // RENAME_EXCHANGE of two FIFOs of ours was taken for a rename of one onto the other:
    // the one removed afterwards was never seen removed, and both were "left" as y.
    let lab = Lab::new("exchange");
    let (out, doc) = audit_threads_waits(&lab, "exchange");
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["fifo-left"], "{doc:#}");
    assert_eq!(doc["fifos"].as_array().unwrap().len(), 3, "{doc:#}");
    assert_eq!(fifo(&doc, &lab.dir().join("file"))["left"], false);
    let made_as_y = fifo(&doc, &lab.dir().join("x"));
    assert_eq!(made_as_y["unlinked_by"], root(&doc));
    assert_eq!(made_as_y["left"], false);
    assert_eq!(fifo(&doc, &lab.dir().join("y"))["left"], true);
}

#[test]
fn a_fifo_linked_to_a_second_name_is_left_under_it() {
    // link(2) then unlink of the first name: the FIFO is still there, yet the report
    // said it was removed and found nothing.
    let lab = Lab::new("linked");
    let (out, doc) = audit_python(
        "import os, sys\n\
         os.chdir(sys.argv[1])\n\
         os.mkfifo('first')\n\
         os.link('first', 'second')\n\
         os.unlink('first')",
        &[lab.dir()],
    );
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["fifo-left"], "{doc:#}");
    assert_eq!(fifo(&doc, &lab.dir().join("first"))["left"], false);
    assert_eq!(fifo(&doc, &lab.dir().join("second"))["left"], true);
}

#[test]
fn a_stopped_child_stays_stopped_until_it_is_continued() {
    // A child stopped by SIGSTOP (raised, or kill -STOP from its parent) or by SIGTTIN
    // was resumed at once by the audit, so it ran while its parent saw it stopped (the
    // lab's "stop the secondary" experiment did nothing), and one stopped reading the
    // terminal was resumed into its read again and again, burning a CPU.
    let lab = Lab::new("stopped");
    let (out, doc) = audit_threads_waits(&lab, "stopped");
    assert_eq!(
        doc["command"]["exit_code"],
        0,
        "{}\n{doc:#}",
        stderr_of(&out)
    );
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    assert_eq!(doc["processes"].as_array().unwrap().len(), 4, "{doc:#}");
}

#[test]
fn a_fifo_deeper_than_path_max_is_seen_left_and_cleaned() {
    // Made by a short relative name in a directory nested past 4096 bytes: the kernel
    // cannot name the directory in /proc, and the FIFO was missing from the report.
    let lab = Lab::new("deep");
    let mut c = audit(&["--clean"]);
    c.args([
        python3(),
        "-c",
        "import os, sys\n\
         os.chdir(sys.argv[1])\n\
         for _ in range(25):\n    \
             os.mkdir('d' * 200); os.chdir('d' * 200)\n\
         os.mkfifo('left.fifo')\n\
         os.mkfifo('removed.fifo'); os.unlink('removed.fifo')",
    ])
    .arg(lab.dir());
    let (out, doc) = report(c);
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["fifo-left"], "{doc:#}");
    let fifos = doc["fifos"].as_array().unwrap();
    assert_eq!(fifos.len(), 2, "{doc:#}");
    let deep = format!("{}/{}", lab.dir().display(), "d".repeat(200));
    for f in fifos {
        let path = f["path"].as_str().unwrap();
        assert!(path.starts_with(&deep) && path.len() > 5000, "{path}");
        assert_eq!(f["left"], path.ends_with("/left.fifo"), "{doc:#}");
    }
    assert!(
        stderr_of(&out).contains("--clean: removed"),
        "{}",
        stderr_of(&out)
    );
}
