//! `osps audit -- CMD` on real programs: lab-style Python programs (tests/programs/lab.py),
//! a shell script, a small C program compiled here, and `osps primary` itself. Each test
//! has its own names and directory and removes what it made, even when it fails.

use crate::common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{T, TestEnv, osps_bin, parse_json, process_exists, run, slow, stderr_of};

mod edges;
mod fourth;
mod pipes;
mod real;
mod relay;
mod review;
mod sizes;
mod students;
mod third;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One test's private names: a shared-memory name and a directory; dropping it removes
/// the segment and semaphore of that name and the directory.
struct Lab {
    shm: String,
    dir: tempfile::TempDir,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        Lab {
            shm: format!("osps_audit_{tag}_{}_{n}", std::process::id()),
            dir: tempfile::Builder::new()
                .prefix("osps-audit-")
                .tempdir()
                .unwrap(),
        }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `osps audit --json FLAGS -- python3 lab.py MODE NAME DIR`.
    fn python(&self, mode: &str, flags: &[&str]) -> Command {
        let mut c = audit(flags);
        c.args([
            python3(),
            fixture("lab.py").to_str().unwrap(),
            mode,
            &self.shm,
        ])
        .arg(self.dir());
        c
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/dev/shm/{}", self.shm));
        let _ = std::fs::remove_file(format!("/dev/shm/sem.{}", self.shm));
    }
}

use common::python3;

/// Builds the C program tests/programs/SOURCE into `dir` (with `flags` after it, like
/// `-lpthread`) and returns the executable's path.
fn build_c(dir: &Path, source: &str, flags: &[&str]) -> PathBuf {
    let exe = dir.join(source.trim_end_matches(".c"));
    let cc = Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(fixture(source))
        .args(flags)
        .output()
        .expect("this test needs a C compiler named cc (install gcc or clang)");
    assert!(cc.status.success(), "{}", stderr_of(&cc));
    exe
}

/// `osps audit --json FLAGS -- python3 -c SCRIPT SHM DIR` started in a process group of
/// its own (a signal to the group reaches the audit and the program, as Ctrl-C does),
/// once the program has written `ready` on stderr.
fn started_in_its_group(lab: &Lab, flags: &[&str], script: &str) -> std::process::Child {
    let mut cmd = audit(flags);
    cmd.args([python3(), "-c", script, &lab.shm]).arg(lab.dir());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let log = lab.dir().join("stderr");
    cmd.stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    let child = cmd.spawn().unwrap();
    wait_ready(&log);
    child
}

/// The findings of one kind.
fn findings_of<'a>(doc: &'a Value, kind: &str) -> Vec<&'a Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

/// Waits until the program writes `ready` to the file its stderr goes to.
fn wait_ready(log: &Path) {
    let deadline = Instant::now() + slow(T);
    while !std::fs::read_to_string(log).unwrap().contains("ready") {
        assert!(Instant::now() < deadline, "the program never started");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(name)
}

/// `osps audit --json FLAGS --`, the command to follow still to be added.
fn audit(flags: &[&str]) -> Command {
    let mut c = Command::new(osps_bin());
    c.arg("audit")
        .arg("--json")
        .args(flags)
        .arg("--")
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    c
}

/// Runs an audit and parses its report.
fn report(cmd: Command) -> (Output, Value) {
    let out = run(cmd, T);
    let doc = parse_json(&out.stdout);
    (out, doc)
}

/// Audits `python3 -c SCRIPT ARGS...` (the programs written inline in the tests) and
/// parses its report.
fn audit_python<A: AsRef<std::ffi::OsStr>>(script: &str, args: &[A]) -> (Output, Value) {
    let mut c = audit(&[]);
    c.args([python3(), "-c", script]).args(args);
    report(c)
}

fn kinds(doc: &Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect()
}

fn root(doc: &Value) -> i64 {
    doc["processes"][0]["pid"].as_i64().unwrap()
}

fn process(doc: &Value, pid: i64) -> &Value {
    doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("no process {pid} in {doc:#}"))
}

fn argv0_of(doc: &Value, pid: i64) -> String {
    process(doc, pid)["argv"][0].as_str().unwrap().to_string()
}

#[test]
fn a_clean_lab_pair_has_no_finding_and_every_object_made_and_removed() {
    let lab = Lab::new("clean");
    let (out, doc) = report(lab.python("clean", &[]));
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(kinds(&doc), Vec::<String>::new());
    let main = root(&doc);
    assert_eq!(doc["command"]["argv"][0], python3());
    assert_eq!(doc["command"]["exit_code"], 0);
    assert_eq!(doc["command"]["signal"], Value::Null);
    assert_eq!(doc["ended_by"], "program");

    let segments = doc["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 1, "{doc:#}");
    let s = &segments[0];
    assert_eq!(s["kind"], "shm");
    assert_eq!(s["name"], format!("/{}", lab.shm));
    assert_eq!(s["created_by"], main);
    assert_eq!(s["unlinked_by"], main);
    assert_eq!(s["size"], 4096);
    assert_eq!(s["left"], false);

    let fifos = doc["fifos"].as_array().unwrap();
    assert_eq!(fifos.len(), 1, "{doc:#}");
    let f = &fifos[0];
    assert_eq!(f["path"], lab.dir().join("pair.fifo").to_str().unwrap());
    assert_eq!(f["path_hex"], Value::Null);
    assert_eq!(f["created_by"], main);
    assert_eq!(f["unlinked_by"], main);
    assert_eq!(f["left"], false);

    // The forked child: reaped by the main process, promptly.
    let child = doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ppid"] == main && p["argv"] == process(&doc, main)["argv"])
        .expect("the forked child");
    assert_eq!(child["reaped_by"], main);
    assert_eq!(child["exit_code"], 0);
    assert!(child["zombie_ms"].as_f64().unwrap() < 100.0, "{child:#}");
}

#[test]
fn a_segment_left_is_one_finding() {
    let lab = Lab::new("segleft");
    let (out, doc) = report(lab.python("segment-left", &[]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["segment-left"]);
    let f = &doc["findings"][0];
    assert_eq!(f["pid"], root(&doc));
    assert_eq!(f["path"], format!("/dev/shm/{}", lab.shm));
    assert!(f["hint"].as_str().unwrap().contains("unlink"), "{f:#}");
    assert_eq!(doc["segments"][0]["left"], true);
    assert_eq!(doc["segments"][0]["unlinked_by"], Value::Null);
    assert!(Path::new(&format!("/dev/shm/{}", lab.shm)).exists());
}

#[test]
fn a_segment_the_resource_tracker_removed_is_reported_as_removed_by_the_tracker() {
    let lab = Lab::new("tracker");
    let (out, doc) = report(lab.python("tracker", &[]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["segment-left"]);
    let s = &doc["segments"][0];
    assert_eq!(s["left"], false);
    let remover = s["unlinked_by"].as_i64().unwrap();
    assert_ne!(remover, root(&doc));
    let argv = process(&doc, remover)["argv"].to_string();
    assert!(argv.contains("resource_tracker"), "{argv}");
    let message = doc["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("resource tracker"), "{message}");
}

#[test]
fn a_fifo_left_is_one_finding() {
    let lab = Lab::new("fifoleft");
    let (out, doc) = report(lab.python("fifo-left", &[]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["fifo-left"]);
    let path = lab.dir().join("left.fifo");
    assert_eq!(doc["findings"][0]["path"], path.to_str().unwrap());
    assert_eq!(doc["fifos"][0]["left"], true);
    assert_eq!(doc["fifos"][0]["created_by"], root(&doc));
}

#[test]
fn a_child_reaped_a_second_late_is_a_zombie_with_its_measured_time() {
    let lab = Lab::new("zombie");
    let (out, doc) = report(lab.python("zombie", &[]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["zombie"]);
    let pid = doc["findings"][0]["pid"].as_i64().unwrap();
    let child = process(&doc, pid);
    assert_eq!(child["reaped_by"], root(&doc));
    let ms = child["zombie_ms"].as_f64().unwrap();
    assert!((900.0..3000.0).contains(&ms), "zombie for {ms} ms");
    let message = doc["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("was a zombie for"), "{message}");
}

#[test]
fn a_grandchild_left_running_is_reported_then_ended() {
    let lab = Lab::new("grandchild");
    let (out, doc) = report(lab.python("grandchild", &[]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let sleep: i64 = stderr_of(&out)
        .lines()
        .find_map(|l| l.trim().parse().ok())
        .expect("the sleep's pid");
    let left = findings_of(&doc, "left-running");
    assert_eq!(left.len(), 1, "{doc:#}");
    assert_eq!(left[0]["pid"], sleep);
    assert_eq!(
        process(&doc, sleep)["argv"],
        serde_json::json!(["sleep", "30"])
    );
    assert_eq!(process(&doc, sleep)["left_running"], true);
    // Its parent (sh) ended first: that is said too, and nothing else.
    assert_eq!(kinds(&doc), ["left-running", "parent-first"]);
    assert!(
        !process_exists(sleep as u32),
        "the audit ends what it left running"
    );
}

#[test]
fn a_parent_that_ends_first_is_one_finding() {
    let lab = Lab::new("parentfirst");
    let (out, doc) = report(lab.python("parent-first", &["--grace", "2s"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["parent-first"]);
    let child = process(&doc, doc["findings"][0]["pid"].as_i64().unwrap());
    assert_eq!(child["ppid"], root(&doc));
    assert_eq!(child["parent_first"], true);
    assert_eq!(child["exit_code"], 0);
    // The audit reaped the orphan itself: the program never did.
    assert_eq!(child["reaped_by"], Value::Null);
}

#[test]
fn a_fifo_made_after_chdir_is_resolved_from_the_new_directory() {
    let lab = Lab::new("chdir");
    let (out, doc) = report(lab.python("chdir", &[]));
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    let f = &doc["fifos"][0];
    assert_eq!(f["path"], lab.dir().join("sub/rel.fifo").to_str().unwrap());
    assert_eq!(f["unlinked_by"], root(&doc));
}

#[test]
fn a_fifo_made_through_a_dirfd_is_resolved_from_that_directory() {
    let lab = Lab::new("dirfd");
    let (out, doc) = report(lab.python("dirfd", &[]));
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    let f = &doc["fifos"][0];
    assert_eq!(f["path"], lab.dir().join("sub/at.fifo").to_str().unwrap());
    assert_eq!(f["left"], false);
}

#[test]
fn a_fifo_name_with_a_newline_and_invalid_utf8_is_reported_losslessly() {
    let lab = Lab::new("oddname");
    let (out, doc) = report(lab.python("odd-name", &[]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["fifo-left"]);
    let mut raw = lab.dir().as_os_str().as_bytes().to_vec();
    raw.extend_from_slice(b"/new\nline\xff.fifo");
    let f = &doc["fifos"][0];
    assert_eq!(f["path"], String::from_utf8_lossy(&raw).as_ref());
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(f["path_hex"], hex);
    // And for people: escaped on one line.
    let mut human = Command::new(osps_bin());
    human
        .args(["audit", "--"])
        .args([
            python3(),
            fixture("lab.py").to_str().unwrap(),
            "odd-name",
            &lab.shm,
        ])
        .arg(lab.dir().join("again"))
        .stdin(Stdio::null());
    std::fs::create_dir(lab.dir().join("again")).unwrap();
    let out = run(human, T);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("new\\nline\\xff.fifo"), "{text}");
}

#[test]
fn a_shell_script_pair_names_the_children_that_made_and_removed_the_fifo() {
    let lab = Lab::new("shell");
    let mut cmd = audit(&[]);
    cmd.arg(fixture("fifo_by_children.sh")).arg(lab.dir());
    let (out, doc) = report(cmd);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    let f = &doc["fifos"][0];
    assert_eq!(f["path"], lab.dir().join("sh.fifo").to_str().unwrap());
    let made = f["created_by"].as_i64().unwrap();
    let removed = f["unlinked_by"].as_i64().unwrap();
    assert_eq!(argv0_of(&doc, made), "mkfifo");
    assert_eq!(argv0_of(&doc, removed), "rm");
    assert_eq!(f["left"], false);
}

#[test]
fn a_c_program_leaves_a_sized_segment_and_a_semaphore() {
    let lab = Lab::new("c");
    let exe = build_c(lab.dir(), "shm_left.c", &[]);
    let mut cmd = audit(&[]);
    cmd.arg(&exe).arg(&lab.shm);
    let (out, doc) = report(cmd);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["segment-left", "semaphore-left"]);
    let segments = doc["segments"].as_array().unwrap();
    let kind = |k: &str| segments.iter().find(|s| s["kind"] == k).unwrap();
    assert_eq!(kind("shm")["size"], 8192);
    assert_eq!(kind("shm")["left"], true);
    assert_eq!(kind("semaphore")["name"], format!("/{}", lab.shm));
    assert_eq!(kind("semaphore")["left"], true);
    assert_eq!(kind("sysv")["left"], false);
    assert_eq!(kind("sysv")["unlinked_by"], root(&doc));
    // glibc's sem_open makes a temporary file and links it: only the real name shows.
    assert_eq!(segments.len(), 3, "{doc:#}");
}

#[test]
fn osps_primary_audited_has_no_finding() {
    let env = TestEnv::new("audited");
    let mut cmd = env.cmd("audit");
    cmd.args([
        "--json",
        "--",
        "sh",
        "-c",
        "exec \"$0\" primary --rounds 5 >/dev/null",
        osps_bin(),
    ]);
    let (out, doc) = report(cmd);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new());
    assert_eq!(doc["segments"].as_array().unwrap().len(), 1);
    assert_eq!(doc["fifos"].as_array().unwrap().len(), 2);
    assert!(doc["processes"].as_array().unwrap().len() >= 2);
    env.assert_no_leftovers();
}

#[test]
fn no_command_is_a_usage_error() {
    let out = run(
        {
            let mut c = Command::new(osps_bin());
            c.arg("audit").stdin(Stdio::null());
            c
        },
        T,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let bad = run(
        {
            let mut c = Command::new(osps_bin());
            c.args(["audit", "--grace", "soon", "--", "true"])
                .stdin(Stdio::null());
            c
        },
        T,
    );
    assert_eq!(bad.status.code(), Some(2), "{}", stderr_of(&bad));
}

#[test]
fn a_missing_program_exits_127_and_a_non_executable_one_126() {
    let lab = Lab::new("exec");
    let mut missing = audit(&[]);
    missing.arg("osps-no-such-program-here");
    let out = run(missing, T);
    assert_eq!(out.status.code(), Some(127), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("not found in PATH"),
        "{}",
        stderr_of(&out)
    );
    assert!(out.stdout.is_empty());

    let plain = lab.dir().join("plain.txt");
    std::fs::write(&plain, "not a program\n").unwrap();
    let mut not_exec = audit(&[]);
    not_exec.arg(&plain);
    let out = run(not_exec, T);
    assert_eq!(out.status.code(), Some(126), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("Permission denied"),
        "{}",
        stderr_of(&out)
    );

    // A directory: exec says "Permission denied" too, which sent people to chmod.
    let mut dir = audit(&[]);
    dir.arg(lab.dir());
    let out = run(dir, T);
    assert_eq!(out.status.code(), Some(126), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("it is a directory; name the program to audit in it")
            && !stderr_of(&out).contains("chmod"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_program_that_ignores_sigterm_is_ended_at_the_timeout() {
    let lab = Lab::new("timeout");
    let started = Instant::now();
    let (out, doc) = report(lab.python("ignores-term", &["--timeout", "1500ms"]));
    assert!(started.elapsed() < slow(Duration::from_secs(10)));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(doc["ended_by"], "timeout");
    assert_eq!(kinds(&doc), ["left-running"]);
    let main = root(&doc);
    assert_eq!(doc["findings"][0]["pid"], main);
    assert_eq!(doc["command"]["exit_code"], Value::Null);
    assert!(!process_exists(main as u32));
}

#[test]
fn a_bounded_fork_storm_loses_no_child() {
    let lab = Lab::new("storm");
    // 2000 reaps on a loaded machine: one may lag, which is not what this test is about.
    let mut cmd = lab.python("storm", &["--zombie-threshold", "1s"]);
    cmd.env("STORM", "2000");
    let (out, doc) = report(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let main = root(&doc);
    let children: Vec<&Value> = doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ppid"] == main && p["argv"] == process(&doc, main)["argv"])
        .collect();
    assert_eq!(children.len(), 2000);
    assert!(
        children
            .iter()
            .all(|c| c["reaped_by"] == main && c["exit_code"] == 0)
    );
}

#[test]
fn sigint_to_the_audit_prints_the_report_so_far_and_exits_130() {
    let lab = Lab::new("sigint");
    // The KeyboardInterrupt's exit gets a long grace: on a loaded machine Python can take
    // more than the default 500 ms, and the audit ends as soon as the program has.
    let grace = format!("{}ms", slow(Duration::from_secs(10)).as_millis());
    let mut cmd = lab.python("sleeps", &["--grace", &grace]);
    let log = lab.dir().join("stderr");
    cmd.stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    let child = cmd.spawn().unwrap();
    wait_ready(&log);
    assert!(common::kill(child.id(), libc::SIGINT));
    let out = common::output_within(child, T);
    assert_eq!(out.status.code(), Some(130));
    let doc = parse_json(&out.stdout);
    assert_eq!(doc["ended_by"], "SIGINT");
    // Passed on by the audit, the SIGINT ends the program (Python's KeyboardInterrupt):
    // not left running, and not killed from outside.
    assert_eq!(doc["processes"][0]["left_running"], false, "{doc:#}");
    assert_eq!(doc["processes"][0]["signal"], "SIGINT", "{doc:#}");
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let main = root(&doc);
    assert!(
        !process_exists(main as u32),
        "the program is ended after the report"
    );
}

/// The figures of a report are in the order of its fields; the document has exactly
/// the documented top-level keys.
#[test]
fn the_json_report_has_exactly_the_documented_keys() {
    let mut cmd = audit(&[]);
    cmd.arg("true");
    let (out, doc) = report(cmd);
    assert_eq!(out.status.code(), Some(0));
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = [
        "schema_version",
        "command",
        "ended_by",
        "processes",
        "segments",
        "fifos",
        "findings",
        "notes",
    ];
    let mut got = keys.clone();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
    let p = doc["processes"][0].as_object().unwrap();
    for k in [
        "pid",
        "ppid",
        "argv",
        "start_ms",
        "exit_ms",
        "exit_code",
        "signal",
        "reaped_by",
        "reaped_ms",
        "zombie_ms",
        "parent_first",
        "left_running",
        "stopped",
        "reaped_by_kernel",
        "broken_pipe",
    ] {
        assert!(p.contains_key(k), "{k}");
    }
    assert_eq!(doc["command"]["argv"], serde_json::json!(["true"]));
    let _ = OsStr::new("");
}

/// The README's example of `osps audit`: run as shown, it prints the same findings and
/// the same sections (pids, times and paths differ from one run to the next).
#[test]
fn the_readme_example_prints_what_the_readme_shows() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let at = readme.find("<!-- audit example -->").expect("the marker");
    let mut blocks = readme[at..].split("```").skip(1).step_by(2);
    let command = blocks.next().unwrap().strip_prefix("sh\n").unwrap().trim();
    let sample = blocks.next().unwrap().strip_prefix("text\n").unwrap();
    let shape = |text: &str| -> Vec<String> {
        // The section headings, and the kind of each finding.
        text.lines()
            .filter(|l| !l.starts_with("pid "))
            .filter_map(|l| l.split(':').next())
            .filter(|head| !head.trim().contains(' ') || !head.starts_with(' '))
            .filter(|head| !head.trim_start().starts_with('/'))
            .map(str::to_string)
            .collect()
    };
    let lab = Lab::new("readme");
    let bin_dir = Path::new(osps_bin()).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let mut cmd = Command::new("bash");
    cmd.args(["-c", command])
        .current_dir(lab.dir())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shape(&text), shape(sample), "{text}");
    assert!(
        text.contains(&format!("{}/demo.fifo", lab.dir().display())),
        "{text}"
    );
}

#[test]
fn a_crash_is_killed_but_a_signal_the_program_sent_is_not() {
    let mut crash = audit(&[]);
    crash.args([
        "sh",
        "-c",
        &format!(
            "{} -c 'import ctypes; ctypes.string_at(0)' 2>/dev/null; true",
            python3()
        ),
    ]);
    let (out, doc) = report(crash);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["killed"]);
    let pid = doc["findings"][0]["pid"].as_i64().unwrap();
    assert_eq!(process(&doc, pid)["signal"], "SIGSEGV");

    let mut stopped = audit(&[]);
    stopped.args(["sh", "-c", "sleep 5 & kill $!; wait"]);
    let (out, doc) = report(stopped);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    let sleep = doc["processes"][1]["pid"].as_i64().unwrap();
    assert_eq!(process(&doc, sleep)["signal"], "SIGTERM");
}

#[test]
fn sigterm_to_the_audit_prints_the_report_and_exits_143() {
    let mut cmd = audit(&[]);
    cmd.args(["sh", "-c", "echo ready >&2; exec sleep 30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut line = [0u8; 6];
    std::io::Read::read_exact(&mut err, &mut line).unwrap();
    assert_eq!(&line, b"ready\n");
    assert!(common::kill(child.id(), libc::SIGTERM));
    let out = common::output_within(child, T);
    assert_eq!(out.status.code(), Some(143));
    let doc = parse_json(&out.stdout);
    assert_eq!(doc["ended_by"], "SIGTERM");
    // The audit passed the SIGTERM on: sleep ended by it, as it would alone.
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let main = root(&doc);
    assert!(
        !process_exists(main as u32),
        "the program is ended after the report"
    );
}

#[test]
fn clean_removes_what_the_report_said_was_left_and_nothing_else() {
    let lab = Lab::new("clean_flag");
    let keep = lab.dir().join("keep.fifo");
    common::mkfifo(&keep, 0o600);
    let (out, doc) = report(lab.python("fifo-left", &["--clean"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["fifo-left"]);
    let left = lab.dir().join("left.fifo");
    assert!(!left.exists(), "--clean removed the FIFO left");
    assert!(
        keep.exists(),
        "a FIFO the program did not make is not touched"
    );
    assert!(
        stderr_of(&out).contains("--clean: removed"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_fifo_made_by_a_thread_is_made_by_its_process_and_threads_are_no_processes() {
    let lab = Lab::new("threads");
    let (out, doc) = report(lab.python("threads", &[]));
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    let f = &doc["fifos"][0];
    assert_eq!(f["path"], lab.dir().join("thread.fifo").to_str().unwrap());
    assert_eq!(f["created_by"], root(&doc));
    assert_eq!(f["unlinked_by"], root(&doc));
    // Every process listed is a process: /proc/PID/status of a thread names another Tgid,
    // and a thread would show as a child that nobody reaped.
    assert_eq!(kinds(&doc), Vec::<String>::new());
}

/// A traced process cannot trace: the inner audit's child is refused PTRACE_TRACEME
/// (EPERM, as under Yama's ptrace_scope 3 or a container's seccomp) and says so, at once.
#[test]
fn where_ptrace_is_refused_the_error_names_the_cause_and_nothing_hangs() {
    let mut cmd = audit(&[]);
    cmd.args([osps_bin(), "audit", "--", "true"]);
    let started = Instant::now();
    let (out, doc) = report(cmd);
    assert!(started.elapsed() < slow(Duration::from_secs(10)));
    assert_eq!(doc["command"]["exit_code"], 1, "{doc:#}");
    let err = stderr_of(&out);
    assert!(err.contains("ptrace was refused"), "{err}");
    // Here the refusal comes from the outer audit: the cause named is that one.
    assert!(err.contains("itself traced"), "{err}");
}

#[test]
fn a_child_its_parent_never_reaped_is_a_zombie_never_reaped() {
    let lab = Lab::new("neverreaped");
    let (out, doc) = report(lab.python("never-reaped", &[]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["zombie"]);
    let f = &doc["findings"][0];
    assert!(
        f["message"].as_str().unwrap().contains("never reaped"),
        "{f:#}"
    );
    let child = process(&doc, f["pid"].as_i64().unwrap());
    assert_eq!(child["reaped_by"], Value::Null);
    assert_eq!(child["zombie_ms"], Value::Null);
    assert_eq!(child["exit_code"], 0);
    assert_eq!(child["parent_first"], false);
}

/// Audits `python3 -c SCRIPT SHM` in a process group of its own, with a long `--grace`
/// (the audit ends as soon as the program has, so it costs nothing), waits for the
/// program to print `ready` on stderr, then sends SIGINT to the whole group, as a
/// terminal's Ctrl-C does. Returns the audit's output.
fn ctrl_c_to_the_group(lab: &Lab, script: &str) -> std::process::Output {
    signal_when_ready(lab, script, libc::SIGINT, To::Group)
}

/// Who gets the signal of [`signal_when_ready`].
#[derive(Clone, Copy, PartialEq)]
enum To {
    /// The audit's whole process group (Ctrl-C, `kill -INT -PGID`): the program too.
    Group,
    /// The audit's pid alone (`kill PID`, a harness, systemd).
    AuditAlone,
}

/// [`ctrl_c_to_the_group`] with any signal, to the group or to the audit alone.
fn signal_when_ready(lab: &Lab, script: &str, signal: i32, to: To) -> std::process::Output {
    let grace = format!("{}ms", slow(Duration::from_secs(10)).as_millis());
    let child = started_in_its_group(lab, &["--grace", &grace], script);
    let target = match to {
        To::Group => -(child.id() as i32),
        To::AuditAlone => child.id() as i32,
    };
    // SAFETY: kill(2) of the audit, or of the process group just made for it.
    assert_eq!(unsafe { libc::kill(target, signal) }, 0);
    common::output_within(child, T)
}
