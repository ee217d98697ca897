//! `osps audit` on programs of a second review: Python's forkserver, a main thread that
//! ends first, waitid(2) without a siginfo, FIFOs renamed onto, exchanged and linked.
//! Each test says what was wrong.

use super::*;

/// Builds tests/programs/threads_waits.c into `dir`.
fn threads_waits(dir: &Path) -> PathBuf {
    let exe = dir.join("threads_waits");
    let cc = Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(fixture("threads_waits.c"))
        .arg("-lpthread")
        .output()
        .expect("this test needs a C compiler named cc (install gcc or clang)");
    assert!(cc.status.success(), "{}", stderr_of(&cc));
    exe
}

#[test]
fn python_forkserver_is_a_helper_not_a_parent_ending_first() {
    // The 'forkserver' start method (Linux's default from Python 3.14) starts a server
    // that outlives the program by design: each run was a parent-first finding.
    let mut c = audit(&[]);
    c.args([
        "python3",
        "-c",
        "import multiprocessing as mp, os\n\
         def work(): pass\n\
         if __name__ == '__main__':\n    \
             mp.set_start_method('forkserver')\n    \
             p = mp.Process(target=work)\n    \
             p.start()\n    \
             p.join()\n    \
             assert p.exitcode == 0",
    ]);
    let (out, doc) = report(c);
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
    let exe = threads_waits(lab.dir());
    let mut c = audit(&[]);
    c.arg(&exe).arg("leader-exit").arg(lab.dir());
    let (out, doc) = report(c);
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
    let exe = threads_waits(lab.dir());
    let mut c = audit(&[]);
    c.arg(&exe).arg("waitid-null").arg(lab.dir());
    let (out, doc) = report(c);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    for child in &doc["processes"].as_array().unwrap()[1..] {
        assert_eq!(child["reaped_by"], root(&doc), "{doc:#}");
    }
}
