//! `osps audit` on programs written the way students and teachers write them, by a
//! reviewer who did not write the audit: each test says what the report got wrong, or
//! which true report is worth keeping true.

use super::*;

#[test]
fn a_fifo_in_a_directory_renamed_is_followed_to_its_new_path() {
    // os.rename of the directory holding the FIFOs: the audit kept the old paths, so the
    // FIFO left under the new name was not reported (its old path no longer existed) and
    // the one removed there was never seen removed.
    let lab = Lab::new("dirmoved");
    let script = "import os, sys\n\
                  d = sys.argv[1]\n\
                  os.mkdir(d + '/run')\n\
                  os.mkfifo(d + '/run/left.fifo'); os.mkfifo(d + '/run/gone.fifo')\n\
                  os.rename(d + '/run', d + '/moved')\n\
                  os.unlink(d + '/moved/gone.fifo')";
    let (out, doc) = audit_python(script, &[lab.dir()]);
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["fifo-left"], "{doc:#}");
    let moved = lab.dir().join("moved");
    assert_eq!(
        doc["findings"][0]["path"],
        moved.join("left.fifo").to_str().unwrap()
    );
    let fifos = doc["fifos"].as_array().unwrap();
    assert_eq!(fifos.len(), 2, "{doc:#}");
    assert_eq!(fifos[0]["path"], moved.join("left.fifo").to_str().unwrap());
    assert_eq!(fifos[0]["left"], true);
    assert_eq!(fifos[1]["path"], moved.join("gone.fifo").to_str().unwrap());
    assert_eq!(fifos[1]["unlinked_by"], root(&doc));
    assert_eq!(fifos[1]["left"], false);
}

#[test]
fn a_segment_removed_by_an_attaching_processs_tracker_blames_that_process_not_the_creator() {
    // Python before 3.13 registers a segment with the resource tracker of every process
    // that opens it by name; an unrelated process (started by subprocess) that only
    // attached gets a tracker of its own, which removes the segment when that process
    // ends, while its creator still uses it. The report said the creator "did not
    // remove" it and told it to call shm.unlink(), which it did (and got ENOENT).
    let lab = Lab::new("attach");
    // The creator goes on working until the segment is gone (at most 5 s).
    let script = "import os, subprocess, sys, time\n\
                  from multiprocessing import shared_memory\n\
                  name = sys.argv[1]\n\
                  shm = shared_memory.SharedMemory(name=name, create=True, size=64)\n\
                  subprocess.run([sys.executable, '-c', 'import sys\\n\
                  from multiprocessing import shared_memory as s\\n\
                  s.SharedMemory(name=sys.argv[1]).close()', name], check=True)\n\
                  end = time.time() + 5\n\
                  while os.path.exists('/dev/shm/' + name) and time.time() < end:\n    \
                      time.sleep(0.01)\n\
                  shm.close()\n\
                  try:\n    shm.unlink()\n\
                  except FileNotFoundError:\n    print('already gone', file=sys.stderr)";
    let (out, doc) = audit_python(script, &[&lab.shm]);
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["segment-left"], "{doc:#}");
    let s = &doc["segments"][0];
    assert_eq!(s["created_by"], root(&doc));
    assert_eq!(s["left"], false);
    let tracker = s["unlinked_by"].as_i64().unwrap();
    let attacher = process(&doc, tracker)["ppid"].as_i64().unwrap();
    assert_ne!(attacher, root(&doc), "{doc:#}");
    let f = &doc["findings"][0];
    let message = f["message"].as_str().unwrap();
    assert!(message.contains("while its creator still ran"), "{message}");
    assert!(message.contains(&format!("pid {attacher} (")), "{message}");
    let hint = f["hint"].as_str().unwrap();
    assert!(hint.contains("resource_tracker.unregister"), "{hint}");
}

#[test]
fn a_child_that_exits_as_the_grace_ends_is_not_both_ended_and_left_running() {
    // `sleep 0.3 &` and a grace of 300 ms: the sleep reached its exit just after the
    // grace ran out, and the report showed it "1 ms..303 ms LEFT RUNNING", an exit time
    // and left running at once (its end was seen, its death not yet collected).
    let mut c = audit(&["--grace", "300ms"]);
    c.args(["sh", "-c", "sleep 0.3 & exit 0"]);
    let (out, doc) = report(c);
    let sleep = &doc["processes"][1];
    assert_eq!(sleep["argv"][0], "sleep", "{doc:#}");
    for p in doc["processes"].as_array().unwrap() {
        let ended = !p["exit_ms"].is_null();
        assert_ne!(p["left_running"], ended, "{p:#}");
        assert_eq!(
            ended,
            !p["exit_code"].is_null() || !p["signal"].is_null(),
            "{p:#}"
        );
    }
    // Either way its parent ended first; left running only if it really still ran.
    if sleep["left_running"] == false {
        assert_eq!(kinds(&doc), ["parent-first"], "{doc:#}");
        assert_eq!(sleep["exit_code"], 0);
    } else {
        assert_eq!(kinds(&doc), ["left-running", "parent-first"], "{doc:#}");
    }
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
}

#[test]
fn a_program_stopped_by_the_audit_is_left_running_but_not_its_resource_tracker() {
    // The lab's writer blocked on a FIFO whose reader never opens, and the audit stopped
    // (--timeout, or SIGTERM as here): its resource tracker (started by its first
    // SharedMemory) was a second left-running finding, with the hint to stop and wait for
    // it. The tracker is Python's, and it ends when the program does. (The program
    // ignores the SIGTERM the audit passes on, so it is still there at the end.)
    let lab = Lab::new("blocked");
    let script = "import os, signal, sys\n\
                  from multiprocessing import shared_memory\n\
                  signal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
                  shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=64)\n\
                  shm.close(); shm.unlink()\n\
                  os.mkfifo(sys.argv[2] + '/p2s.fifo')\n\
                  print('ready', file=sys.stderr, flush=True)\n\
                  with open(sys.argv[2] + '/p2s.fifo', 'wb') as f:\n    \
                      f.write(b'never read')";
    let mut c = audit(&[]);
    c.args([python3(), "-c", script, &lab.shm])
        .arg(lab.dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        let n = std::io::BufRead::read_line(&mut err, &mut line).unwrap();
        assert!(n > 0, "the program never started");
    }
    assert!(common::kill(child.id(), libc::SIGTERM));
    let out = common::output_within(child, T);
    assert_eq!(out.status.code(), Some(143));
    let doc = parse_json(&out.stdout);
    assert_eq!(doc["ended_by"], "SIGTERM");
    assert_eq!(kinds(&doc), ["fifo-left", "left-running"], "{doc:#}");
    assert_eq!(doc["findings"][1]["pid"], root(&doc));
    // It was told to stop (the audit passed the SIGTERM on): the hint says what to do
    // with the signal, not to send one.
    let hint = doc["findings"][1]["hint"].as_str().unwrap();
    assert!(
        hint.contains("handle it") && !hint.contains("tell it to stop"),
        "{hint}"
    );
    let message = doc["findings"][1]["message"].as_str().unwrap();
    assert!(message.contains("after the SIGTERM"), "{message}");
    // The tracker is listed as it was: still running.
    let tracker = doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["argv"].to_string().contains("resource_tracker"))
        .unwrap_or_else(|| panic!("no tracker in {doc:#}"));
    assert_eq!(tracker["left_running"], true);
}

#[test]
fn a_child_with_much_memory_is_no_zombie_while_the_kernel_frees_it() {
    // A child that filled 1.5 GiB and exited, its parent already blocked in waitpid:
    // the kernel takes a while to free the memory before the child is a zombie at all,
    // and that time was reported as the child's zombie time (71 ms with 1 GiB, 130 ms
    // with 1.5 GiB: a zombie finding for a parent that could not reap it sooner).
    let script = "import mmap, os\n\
                  pid = os.fork()\n\
                  if pid == 0:\n    \
                      m = mmap.mmap(-1, 1536 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS \
                                    | mmap.MAP_POPULATE)\n    \
                      os._exit(0)\n\
                  os.waitpid(pid, 0)";
    let (out, doc) = audit_python::<&str>(script, &[]);
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let child = doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ppid"] == root(&doc) && p["argv"] == doc["processes"][0]["argv"])
        .unwrap_or_else(|| panic!("no child in {doc:#}"));
    assert!(child["reaped_by"] == root(&doc), "{child:#}");
}

#[test]
fn a_child_that_aborts_is_a_finding_though_it_sent_the_signal_itself() {
    // abort(3) (a failed assert in C, os.abort(), a runtime's fatal error) ends the
    // process with a SIGABRT it sends itself; a signal sent by the program was no
    // finding, so the crash went unreported while a SIGSEGV was one.
    let script = "import os\n\
                  pid = os.fork()\n\
                  if pid == 0:\n    \
                      os.abort()\n\
                  os.waitpid(pid, 0)";
    let (out, doc) = audit_python::<&str>(script, &[]);
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["killed"], "{doc:#}");
    let f = &doc["findings"][0];
    assert_eq!(
        process(&doc, f["pid"].as_i64().unwrap())["signal"],
        "SIGABRT"
    );
    let message = f["message"].as_str().unwrap();
    assert!(message.contains("aborted"), "{message}");
    assert!(f["hint"].as_str().unwrap().contains("assertion"), "{f:#}");
}

// True reports worth keeping true: each was checked by hand against what the program did.

#[test]
fn a_sigchld_handler_reaping_with_wnohang_in_a_loop_leaves_no_zombie() {
    let script = "import os, signal, time\n\
                  reaped = []\n\
                  def on_chld(sig, frame):\n    \
                      while True:\n        \
                          try:\n            \
                              pid, _ = os.waitpid(-1, os.WNOHANG)\n        \
                          except ChildProcessError:\n            \
                              return\n        \
                          if pid == 0:\n            \
                              return\n        \
                          reaped.append(pid)\n\
                  signal.signal(signal.SIGCHLD, on_chld)\n\
                  for i in range(4):\n    \
                      if os.fork() == 0:\n        \
                          time.sleep(0.02 * i); os._exit(i)\n\
                  end = time.time() + 5\n\
                  while len(reaped) < 4 and time.time() < end:\n    \
                      time.sleep(0.01)\n\
                  assert len(reaped) == 4";
    let (out, doc) = audit_python::<&str>(script, &[]);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let main = root(&doc);
    let children: Vec<&Value> = doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ppid"] == main && p["argv"] == process(&doc, main)["argv"])
        .collect();
    assert_eq!(children.len(), 4, "{doc:#}");
    assert!(children.iter().all(|c| c["reaped_by"] == main), "{doc:#}");
}

#[test]
fn pool_workers_the_pool_terminates_are_not_killed_from_outside() {
    // Pool.__exit__ calls terminate(): SIGTERM from the program's own thread.
    let script = "from multiprocessing import Pool\n\
                  def sq(x): return x * x\n\
                  if __name__ == '__main__':\n    \
                      with Pool(2) as p:\n        \
                          assert p.map(sq, range(4)) == [0, 1, 4, 9]";
    let (out, doc) = audit_python::<&str>(script, &[]);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
}

#[test]
fn each_stage_of_a_shell_pipeline_is_reaped_by_the_shell() {
    let script = "import subprocess\n\
                  r = subprocess.run('seq 1 100 | grep 7 | wc -l', shell=True, \
                                     capture_output=True)\n\
                  assert r.stdout.strip() == b'19', r.stdout";
    let (out, doc) = audit_python::<&str>(script, &[]);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let procs = doc["processes"].as_array().unwrap();
    let sh = procs
        .iter()
        .find(|p| p["argv"][0] == "/bin/sh")
        .unwrap_or_else(|| panic!("no shell in {doc:#}"));
    for stage in ["seq", "grep", "wc"] {
        let p = procs
            .iter()
            .find(|p| p["argv"][0] == stage)
            .unwrap_or_else(|| panic!("no {stage} in {doc:#}"));
        assert_eq!(p["reaped_by"], sh["pid"], "{p:#}");
    }
}

#[test]
fn a_fifo_moved_by_os_replace_is_left_under_its_final_name() {
    let lab = Lab::new("replace");
    let script = "import os, sys\n\
                  d = sys.argv[1]\n\
                  os.mkfifo(d + '/tmp.fifo')\n\
                  os.replace(d + '/tmp.fifo', d + '/final.fifo')";
    let (out, doc) = audit_python(script, &[lab.dir()]);
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["fifo-left"], "{doc:#}");
    let path = lab.dir().join("final.fifo");
    assert_eq!(doc["findings"][0]["path"], path.to_str().unwrap());
}
