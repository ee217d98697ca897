//! `osps inspect` and `osps cleanup` with the real binary, checked through `jq -e` on
//! their real output: a running instance, a killed one, every partial state, corrupt,
//! truncated and planted segments, side-by-side and concurrent cleanups, a lying lock
//! file, and inspect racing primaries that start.
//!
//! Every cleanup that removes names its instance (`--name`) in the test's own runtime
//! directory: one without a name would also remove the dead segments that other tests,
//! of any test binary running at the same time, keep in `/dev/shm` as fixtures. Only
//! `--dry-run`, which changes nothing, runs without a name, to check what the survey of
//! every instance decides.

use crate::common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{
    T, TestEnv, assert_jq, field, jq, jq_raw, kill, mkfifo, output_within, parse_json,
    process_alive, run, slow, stderr_of, stdout_of, uid, wait_gone,
};

// ---------------------------------------------------------------------------------------
// Helpers

fn inspect(env: &TestEnv, args: &[&str]) -> Output {
    let mut cmd = env.cmd("inspect");
    cmd.args(args);
    run(cmd, T)
}

/// `osps inspect --name NAME`, which must succeed.
fn inspect_ok(env: &TestEnv) -> Vec<u8> {
    let out = inspect(env, &["--name", &env.name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    out.stdout
}

fn cleanup(env: &TestEnv, args: &[&str]) -> Output {
    let mut cmd = env.cmd("cleanup");
    cmd.args(args);
    run(cmd, T)
}

/// `osps cleanup --json ARGS`, which must succeed; its report.
fn cleanup_json(env: &TestEnv, args: &[&str]) -> serde_json::Value {
    let out = cleanup(env, &[&["--json"], args].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    parse_json(&out.stdout)
}

/// `osps cleanup --json --name NAME` of an instance it must leave alone for something at
/// its paths that is not osps's: exit 1 (the one thing asked was not done), nothing
/// removed, and the reason as the report's one error (not a skip); that reason.
fn cleanup_refused(env: &TestEnv) -> String {
    cleanup_refused_as(env, false).0
}

/// [`cleanup_refused`], as a dry run or not (the same code, the same error); returns the
/// error and the whole of stderr.
fn cleanup_refused_as(env: &TestEnv, dry_run: bool) -> (String, String) {
    let mut args = vec!["--json", "--name", &env.name];
    if dry_run {
        args.push("--dry-run");
    }
    let out = cleanup(env, &args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    let report = parse_json(&out.stdout);
    assert_eq!(report["removed"], serde_json::json!([]), "{report}");
    assert_eq!(report["skipped"], serde_json::json!([]), "{report}");
    assert_eq!(
        report["errors"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["errors"][0]["name"], env.name.as_str(), "{report}");
    let reason = report["errors"][0]["error"].as_str().unwrap_or_default();
    assert!(stderr_of(&out).contains(reason), "{}", stderr_of(&out));
    (reason.to_string(), stderr_of(&out))
}

/// Starts a primary with a fast heartbeat; returns (primary, secondary) once rounds run.
fn start(env: &mut TestEnv) -> (u32, u32) {
    let primary = env.start_primary(&["--interval", "20ms", "--json"]);
    let secondary = env.wait_secondary(T);
    env.wait_rounds(2, T);
    (primary, secondary)
}

/// Leaves a stale instance: the primary killed with SIGKILL, its secondary gone after it.
fn make_stale(env: &mut TestEnv) -> (u32, u32) {
    let (primary, secondary) = start(env);
    assert!(kill(primary, libc::SIGKILL));
    let _ = env.take_child(primary).wait();
    assert!(
        wait_gone(secondary, Duration::from_secs(5)),
        "the secondary outlived its primary"
    );
    (primary, secondary)
}

/// Stops a running primary with SIGTERM; it must stop in order.
fn stop(env: &mut TestEnv, primary: u32) -> serde_json::Value {
    assert!(kill(primary, libc::SIGTERM));
    let out = output_within(env.take_child(primary), T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    parse_json(&out.stdout)
}

/// The four objects of an instance: segment, lock, p2s, s2p.
fn objects(env: &TestEnv) -> [PathBuf; 4] {
    [
        env.shm_path(),
        env.lock_path(),
        env.p2s_path(),
        env.s2p_path(),
    ]
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// The objects of this instance that exist (other instances may share the runtime dir).
fn left_of(env: &TestEnv) -> Vec<PathBuf> {
    objects(env).into_iter().filter(|p| exists(p)).collect()
}

/// The sorted paths a cleanup report says it removed for `name`.
fn removed_paths(report: &serde_json::Value, name: &str) -> Vec<String> {
    let mut paths: Vec<String> = report["removed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == name)
        .flat_map(|r| r["paths"].as_array().unwrap().iter())
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    paths.sort();
    paths
}

/// One report made of several cleanups' reports (their removed, skipped and errors).
fn merge_reports(reports: &[serde_json::Value]) -> serde_json::Value {
    let all = |key: &str| -> Vec<serde_json::Value> {
        reports
            .iter()
            .flat_map(|r| r[key].as_array().unwrap().clone())
            .collect()
    };
    serde_json::json!({
        "removed": all("removed"),
        "skipped": all("skipped"),
        "errors": all("errors"),
    })
}

fn sorted(paths: &[PathBuf]) -> Vec<String> {
    let mut v: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    v.sort();
    v
}

/// Errors a report gives about the instances of this test (or about none in particular).
fn errors_about(report: &serde_json::Value, names: &[&str]) -> Vec<serde_json::Value> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"].is_null() || names.iter().any(|n| e["name"] == *n))
        .cloned()
        .collect()
}

/// A plain child process that lives until killed, reaped on drop.
struct Sleeper(std::process::Child);

impl Sleeper {
    /// Runs `sh -c SCRIPT ARG0` (the script sees `arg0` as `$0`).
    fn spawn(script: &str, arg0: &Path) -> Sleeper {
        let child = Command::new("sh")
            .args(["-c", script])
            .arg(arg0)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Sleeper(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------
// inspect

#[test]
fn inspect_of_a_running_primary_shows_pids_fifo_holders_and_growing_counters() {
    let mut env = TestEnv::new("insrun");
    let (p, s) = start(&mut env);
    let doc = inspect_ok(&env);
    assert_jq(&doc, ".schema_version == 1 and (.instances | length) == 1");
    let i = ".instances[0]";
    assert_jq(
        &doc,
        &format!("{i}.name == \"{}\" and {i}.status == \"running\"", env.name),
    );
    let lock = env.lock_path().display().to_string();
    assert_jq(
        &doc,
        &format!(
            "{i}.lock == {{\"path\": \"{lock}\", \"exists\": true, \"held\": true, \"pid\": {p}, \"error\": null}}"
        ),
    );
    assert_jq(
        &doc,
        &format!("{i}.primary | .pid == {p} and .alive and .state == \"ready\""),
    );
    assert_jq(
        &doc,
        &format!(
            "{i}.secondary | .pid == {s} and .alive and .restarts == 0 and (.state | IN(\"ready\", \"busy\"))"
        ),
    );
    let shm = env.shm_path().display().to_string();
    assert_jq(
        &doc,
        &format!(
            "{i}.segment | .path == \"{shm}\" and .exists and .size == 1048576 and .mode == \"0600\" \
         and .uid == {} and .error == null and .header.valid and .header.version == 1 \
         and .header.primary_pid == {p} and .header.secondary_pid == {s}",
            uid()
        ),
    );
    // Both FIFOs, each held by the primary and the secondary at opposite ends.
    assert_jq(
        &doc,
        &format!("[{i}.fifos[] | select(.index == 0) | .role] == [\"p2s\", \"s2p\"]"),
    );
    assert_jq(
        &doc,
        &format!(
            "{i}.fifos[] | select(.role == \"p2s\") | .exists and .is_fifo and .mode == \"0600\" \
         and .uid == {} and .path == \"{}\" and (.holders | sort_by(.pid)) == \
         ([{{\"pid\": {p}, \"access\": \"write\"}}, {{\"pid\": {s}, \"access\": \"read\"}}] | sort_by(.pid))",
            uid(),
            env.p2s_path().display()
        ),
    );
    assert_jq(
        &doc,
        &format!(
            "{i}.fifos[] | select(.role == \"s2p\") | (.holders | sort_by(.pid)) == \
         ([{{\"pid\": {p}, \"access\": \"read\"}}, {{\"pid\": {s}, \"access\": \"write\"}}] | sort_by(.pid))"
        ),
    );
    // The counters grow between two looks.
    let rounds = |doc: &[u8]| -> u64 {
        jq_raw(doc, ".instances[0].segment.header.rounds")
            .trim()
            .parse()
            .unwrap()
    };
    let first = rounds(&doc);
    let deadline = Instant::now() + slow(T);
    loop {
        let later = inspect_ok(&env);
        if rounds(&later) > first {
            // The secondary's own counter moved on too.
            assert_jq(
                &later,
                &format!(".instances[0].segment.header.rounds_served > {first}"),
            );
            break;
        }
        assert!(Instant::now() < deadline, "rounds stayed at {first}");
        std::thread::sleep(Duration::from_millis(30));
    }
    // Without --name the instance is among all of the user's.
    let all = inspect(&env, &[]);
    assert_eq!(all.status.code(), Some(0), "{}", stderr_of(&all));
    assert_jq(
        &all.stdout,
        &format!(
            ".instances[] | select(.name == \"{}\") | .status == \"running\"",
            env.name
        ),
    );
    let summary = stop(&mut env, p);
    assert_eq!(summary["secondary_exit"], 0);
    env.assert_no_leftovers();
}

#[test]
fn inspect_of_a_killed_primary_says_stale_and_nothing_alive() {
    let mut env = TestEnv::new("insstale");
    let (p, s) = make_stale(&mut env);
    let doc = inspect_ok(&env);
    let i = ".instances[0]";
    assert_jq(&doc, &format!("{i}.status == \"stale\""));
    assert_jq(
        &doc,
        &format!("{i}.lock | .exists and (.held | not) and .pid == {p}"),
    );
    assert_jq(
        &doc,
        &format!("{i}.primary | .pid == {p} and (.alive | not)"),
    );
    assert_jq(
        &doc,
        &format!("{i}.secondary | .pid == {s} and (.alive | not)"),
    );
    assert_jq(
        &doc,
        &format!("{i}.segment.header.valid and {i}.segment.holders == []"),
    );
    assert_jq(
        &doc,
        &format!("[{i}.fifos[] | .exists and .holders == []] == [true, true]"),
    );
    let report = cleanup_json(&env, &["--name", &env.name]);
    assert_eq!(removed_paths(&report, &env.name), sorted(&objects(&env)));
    env.assert_no_leftovers();
}

#[test]
fn inspect_and_cleanup_handle_every_partial_state() {
    // Which of segment, lock, p2s, s2p remain.
    let states: [(&str, [bool; 4]); 6] = [
        ("segment only", [true, false, false, false]),
        ("segment and lock, no FIFOs", [true, true, false, false]),
        ("segment and FIFOs, no lock", [true, false, true, true]),
        ("FIFOs and lock, no segment", [false, true, true, true]),
        ("FIFOs only", [false, false, true, true]),
        ("lock file only", [false, true, false, false]),
    ];
    for (what, keep) in states {
        let mut env = TestEnv::new("partial");
        make_stale(&mut env);
        for (path, keep) in objects(&env).iter().zip(keep) {
            if !keep {
                std::fs::remove_file(path).unwrap();
            }
        }
        let doc = inspect_ok(&env);
        let [seg, lock, p2s, s2p] = keep;
        assert_jq(
            &doc,
            &format!(
                ".instances[0] | .status == \"partial\" and .segment.exists == {seg} and .lock.exists == {lock} \
             and (.lock.held | not) and ([.fifos[] | .exists] == [{p2s}, {s2p}])"
            ),
        );
        let remaining = left_of(&env);
        let report = cleanup_json(&env, &["--name", &env.name]);
        // Without a lock file, cleanup made its own to own the name and removed it again:
        // only what was left is reported.
        assert_eq!(
            removed_paths(&report, &env.name),
            sorted(&remaining),
            "{what}: {report}"
        );
        assert_eq!(report["errors"], serde_json::json!([]), "{what}");
        env.assert_no_leftovers();
        // Nothing left: a second cleanup, like inspect, finds no such instance (4) and
        // still writes its empty report.
        let again = cleanup(&env, &["--name", &env.name, "--json"]);
        assert_eq!(
            again.status.code(),
            Some(4),
            "{what}: {}",
            stderr_of(&again)
        );
        let again = parse_json(&again.stdout);
        assert_eq!(again["removed"], serde_json::json!([]), "{what}");
        let out = inspect(&env, &["--name", &env.name]);
        assert_eq!(out.status.code(), Some(4), "{what}");
    }
}

#[test]
fn a_segment_with_a_garbage_header_is_corrupt_and_cleanup_leaves_it_alone() {
    let env = TestEnv::new("garbage");
    std::fs::write(env.shm_path(), vec![0xab; 4096]).unwrap();
    std::fs::set_permissions(env.shm_path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let doc = inspect_ok(&env);
    assert_jq(
        &doc,
        ".instances[0] | .status == \"corrupt\" and .segment.header == {\"valid\": false}",
    );
    assert_jq(
        &doc,
        ".instances[0].segment | .size == 4096 and (.error | test(\"osps header\"))",
    );
    let reason = cleanup_refused(&env);
    assert!(
        reason.contains(&env.shm_path().display().to_string()),
        "{reason}"
    );
    assert_eq!(std::fs::read(env.shm_path()).unwrap(), vec![0xab; 4096]);
    std::fs::remove_file(env.shm_path()).unwrap();
}

#[test]
fn a_truncated_segment_is_corrupt_and_cleanup_removes_it() {
    for (len, why) in [
        (4096u64, "truncated"),
        (100, "shorter than"),
        (0, "shorter than"),
    ] {
        let mut env = TestEnv::new("trunc");
        make_stale(&mut env);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(env.shm_path())
            .unwrap();
        f.set_len(len).unwrap();
        drop(f);
        let doc = inspect_ok(&env);
        assert_jq(
            &doc,
            &format!(
                ".instances[0] | .status == \"corrupt\" and .segment.size == {len} \
             and (.segment.header.valid | not) and (.segment.error | test(\"{why}\"))"
            ),
        );
        // Still provably ours (our mode, our magic or empty): removed with the rest.
        let report = cleanup_json(&env, &["--name", &env.name]);
        assert_eq!(
            removed_paths(&report, &env.name),
            sorted(&objects(&env)),
            "{report}"
        );
        env.assert_no_leftovers();
    }
}

/// A primary killed after sizing its segment but before writing the header (the
/// `posix_fallocate` of a large --size takes long enough to be killed in) leaves a
/// full-size segment of zeros: a crash's leftover, which cleanup must remove with the
/// rest rather than call foreign and ask for `rm` by hand.
#[test]
fn a_segment_killed_before_its_header_was_written_is_removed_by_cleanup() {
    let mut env = TestEnv::new("zerohead");
    make_stale(&mut env);
    let size = std::fs::metadata(env.shm_path()).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(env.shm_path())
        .unwrap();
    // Drop every page, then give the size back: all zeros, as a fresh ftruncate leaves it.
    f.set_len(0).unwrap();
    f.set_len(size).unwrap();
    drop(f);
    let doc = inspect_ok(&env);
    assert_jq(
        &doc,
        &format!(
            ".instances[0] | .status == \"corrupt\" and .segment.size == {size} \
             and (.segment.header.valid | not) \
             and (.segment.error | test(\"never written\") and (test(\"rm \") | not))"
        ),
    );
    let report = cleanup_json(&env, &["--name", &env.name]);
    assert_eq!(
        removed_paths(&report, &env.name),
        sorted(&objects(&env)),
        "{report}"
    );
    env.assert_no_leftovers();
}

#[test]
fn a_fifo_planted_at_the_segment_path_is_reported_without_hanging() {
    let env = TestEnv::new("shmfifo");
    mkfifo(&env.shm_path(), 0o600);
    // `run` fails the test if a command takes over 30 s; none should take long at all.
    let started = Instant::now();
    let doc = inspect_ok(&env);
    assert_jq(
        &doc,
        ".instances[0] | .status == \"corrupt\" and .segment.type == \"FIFO\" and (.segment.error | test(\"FIFO\"))",
    );
    let all = inspect(&env, &["--compact"]);
    assert_eq!(all.status.code(), Some(0));
    let reason = cleanup_refused(&env);
    assert!(reason.contains("FIFO"), "{reason}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        std::fs::symlink_metadata(env.shm_path())
            .unwrap()
            .file_type()
            .is_fifo()
    );
    std::fs::remove_file(env.shm_path()).unwrap();
}

#[test]
fn a_live_unrelated_pid_in_a_stale_lock_file_does_not_look_alive() {
    let mut env = TestEnv::new("liar");
    make_stale(&mut env);
    let unrelated = Sleeper::spawn("exec sleep 60", Path::new("sleeper"));
    let pid = unrelated.pid();
    // The live pid goes into the lock file and into the header's primary pid.
    let mode = common::mode_of(&env.lock_path());
    std::fs::write(env.lock_path(), format!("{pid}\n")).unwrap();
    assert_eq!(common::mode_of(&env.lock_path()), mode);
    let seg = std::fs::OpenOptions::new()
        .write(true)
        .open(env.shm_path())
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(
        &seg,
        &u64::from(pid).to_ne_bytes(),
        field::PRIMARY_PID as u64,
    )
    .unwrap();
    drop(seg);
    let doc = inspect_ok(&env);
    assert_jq(
        &doc,
        &format!(
            ".instances[0] | .status == \"stale\" and (.lock.held | not) and .lock.pid == {pid} \
         and .primary.pid == {pid} and (.primary.alive | not)"
        ),
    );
    let report = cleanup_json(&env, &["--name", &env.name]);
    assert_eq!(removed_paths(&report, &env.name), sorted(&objects(&env)));
    assert!(process_alive(pid), "cleanup touched an unrelated process");
    env.assert_no_leftovers();
}

#[test]
fn an_inspect_loop_never_makes_a_starting_primary_fail() {
    let env = TestEnv::new("race");
    let stop = AtomicBool::new(false);
    let looks = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let args: &[&str] = if looks.load(Ordering::Relaxed) % 2 == 0 {
                    &["--name", &env.name, "--compact"]
                } else {
                    &["--compact"]
                };
                let out = inspect(&env, args);
                // 4: no object at that instant; never anything else.
                assert!(
                    matches!(out.status.code(), Some(0 | 4)),
                    "{}",
                    stderr_of(&out)
                );
                parse_json(&out.stdout);
                looks.fetch_add(1, Ordering::Relaxed);
            }
        });
        let result = std::panic::catch_unwind(|| {
            for i in 0..50 {
                let mut cmd = env.cmd("primary");
                cmd.args(["--rounds", "1", "--start-timeout", "10s"]);
                let out = run(cmd, T);
                assert!(
                    out.status.success(),
                    "start {i} failed: {}",
                    stderr_of(&out)
                );
            }
        });
        stop.store(true, Ordering::Relaxed);
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    });
    assert!(looks.load(Ordering::Relaxed) > 5, "inspect barely ran");
    env.assert_no_leftovers();
}

#[test]
fn inspect_of_a_name_without_objects_exits_4_with_an_empty_document() {
    let env = TestEnv::new("none");
    // The runtime directory does not even exist: that is not an error.
    assert!(!env.runtime_dir.exists());
    let out = inspect(&env, &["--name", &env.name]);
    // 4, as status, stop and cleanup --name say of a missing instance (it was 1).
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(parse_json(&out.stdout)["instances"], serde_json::json!([]));
    assert_jq(&out.stdout, ".schema_version == 1 and .instances == []");
    assert!(stderr_of(&out).contains(&env.name), "{}", stderr_of(&out));
    assert!(!stderr_of(&out).contains("warning"), "{}", stderr_of(&out));
    assert!(
        !env.runtime_dir.exists(),
        "inspect created the runtime directory"
    );
    let bad = inspect(&env, &["--name", "a/b"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr_of(&bad));
    // Cleanup of that name: the same code (it was 0, "nothing to clean up").
    let out = cleanup(&env, &["--name", &env.name]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("there is no instance"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn inspect_prints_pretty_or_compact_json_and_survives_a_closed_stdout() {
    let mut env = TestEnv::new("forms");
    let (p, _) = start(&mut env);
    let pretty = inspect_ok(&env);
    assert!(String::from_utf8_lossy(&pretty).lines().count() > 20);
    let compact = inspect(&env, &["--name", &env.name, "--compact"]);
    assert_eq!(compact.status.code(), Some(0));
    assert_eq!(stdout_of(&compact).trim_end().lines().count(), 1);
    assert_jq(&compact.stdout, ".instances[0].status == \"running\"");
    // `osps inspect | head -c1`: the reader goes away before inspect writes.
    for args in [vec!["--name", env.name.as_str()], vec![]] {
        let mut cmd = env.cmd("inspect");
        cmd.args(&args);
        common::assert_quiet_when_the_reader_left(cmd);
    }
    // And through a real shell pipe.
    let mut sh = Command::new("bash");
    sh.args([
        "-c",
        "set -o pipefail; \"$0\" inspect | head -c1 >/dev/null",
        common::osps_bin(),
    ])
    .env("OSPS_RUNTIME_DIR", &env.runtime_dir);
    let out = run(sh, T);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(!stderr_of(&out).contains("panicked"), "{}", stderr_of(&out));
    stop(&mut env, p);
    env.assert_no_leftovers();
}

#[test]
fn an_unsafe_runtime_dir_still_shows_the_segment_with_a_warning() {
    let mut env = TestEnv::new("unsafe");
    make_stale(&mut env);
    std::fs::set_permissions(&env.runtime_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = inspect(&env, &["--name", &env.name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("warning") && stderr_of(&out).contains("chmod 700"),
        "{}",
        stderr_of(&out)
    );
    assert_jq(
        &out.stdout,
        ".instances[0] | .segment.exists and .segment.header.valid and (.lock.exists | not)",
    );
    // Cleanup cannot own the name there: it fails, saying why, and removes nothing.
    let out = cleanup(&env, &["--name", &env.name, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_jq(
        &out.stdout,
        ".errors | length == 1 and (.[0].error | test(\"chmod 700\"))",
    );
    assert_eq!(left_of(&env).len(), 4);
    std::fs::set_permissions(&env.runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    cleanup_json(&env, &["--name", &env.name]);
    env.assert_no_leftovers();
}

#[test]
fn the_readme_walk_through_works_with_its_jq_filters() {
    let mut env = TestEnv::new("readme");
    let (p, s) = start(&mut env);
    let doc = inspect_ok(&env);
    let summary = jq_raw(
        &doc,
        ".instances[0] | {status, primary: .primary.pid, secondary: .secondary.pid, rounds: .segment.header.rounds}",
    );
    let v = parse_json(summary.as_bytes());
    assert_eq!(v["status"], "running");
    assert_eq!(v["primary"], p);
    assert_eq!(v["secondary"], s);
    assert!(v["rounds"].as_u64().unwrap() >= 2);
    let line = format!("{} running", env.name);
    let all = inspect(&env, &[]);
    assert!(
        jq_raw(&all.stdout, r#".instances[] | "\(.name) \(.status)""#)
            .lines()
            .any(|l| l == line)
    );
    let pid: u32 = jq_raw(&doc, ".instances[0].primary.pid")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, p);
    assert!(kill(pid, libc::SIGKILL));
    let _ = env.take_child(p).wait();
    assert!(wait_gone(s, Duration::from_secs(5)));
    let all = inspect(&env, &[]);
    let line = format!("{} stale", env.name);
    assert!(
        jq_raw(&all.stdout, r#".instances[] | "\(.name) \(.status)""#)
            .lines()
            .any(|l| l == line)
    );
    let out = cleanup(&env, &["--name", &env.name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).starts_with(&format!("removed {}: ", env.name)),
        "{}",
        stdout_of(&out)
    );
    assert_eq!(inspect(&env, &["--name", &env.name]).status.code(), Some(4));
    env.assert_no_leftovers();
}

// ---------------------------------------------------------------------------------------
// cleanup

#[test]
fn cleanup_removes_only_the_dead_instance_and_the_live_one_goes_on() {
    let mut live = TestEnv::new("live");
    let mut dead = TestEnv::new("dead");
    dead.runtime_dir = live.runtime_dir.clone();
    let (p, s) = start(&mut live);
    make_stale(&mut dead);
    // What a cleanup of every instance would do (the survey, changing nothing), then the
    // cleanup of each of the two by name: both must decide the same.
    let survey = cleanup_json(&live, &["--dry-run"]);
    assert_eq!(survey["dry_run"], true, "{survey}");
    assert_eq!(
        left_of(&dead).len(),
        4,
        "the survey changed something (or a cleanup without --name from another test run \
         removed our dead fixture): {:?} left",
        left_of(&dead)
    );
    let named = merge_reports(&[
        cleanup_json(&live, &["--name", &dead.name]),
        cleanup_json(&live, &["--name", &live.name]),
    ]);
    for report in [survey, named] {
        assert_eq!(
            removed_paths(&report, &dead.name),
            sorted(&objects(&dead)),
            "{report}"
        );
        assert_eq!(
            removed_paths(&report, &live.name),
            Vec::<String>::new(),
            "{report}"
        );
        assert_eq!(
            errors_about(&report, &[&live.name, &dead.name]),
            Vec::<serde_json::Value>::new()
        );
        assert_jq(
            &serde_json::to_vec(&report).unwrap(),
            &format!(
                ".skipped[] | select(.name == \"{}\") | .reason | test(\"running\") and test(\"{p}\")",
                live.name
            ),
        );
    }
    assert!(left_of(&dead).is_empty(), "{:?}", left_of(&dead));
    assert_eq!(left_of(&live).len(), 4);
    // Named, a running instance is said to be left alone, in text too (unnamed, a
    // healthy running instance is passed over in silence).
    let mut cmd = live.cmd("cleanup");
    cmd.args(["--name", &live.name]);
    let out = run(cmd, T);
    let text = stdout_of(&out);
    assert!(
        text.contains(&format!("skipped {}: running", live.name)) && text.contains("osps stop"),
        "{text}"
    );
    // The live one was not disturbed: it goes on and stops in order.
    let before = live.header_field(field::ROUNDS_COMPLETED).unwrap();
    live.wait_rounds(before + 3, T);
    assert!(process_alive(s));
    let summary = stop(&mut live, p);
    assert_eq!(summary["secondary_exit"], 0, "{summary}");
    assert_eq!(summary["errors"], 0, "{summary}");
    live.assert_no_leftovers();
}

#[test]
fn dry_run_says_what_it_would_remove_and_changes_nothing() {
    let mut env = TestEnv::new("dry");
    make_stale(&mut env);
    let before: Vec<(u64, i64, u32)> = objects(&env)
        .iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(p).unwrap();
            (m.ino(), m.mtime_nsec(), m.mode())
        })
        .collect();
    let out = cleanup(&env, &["--name", &env.name, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(
        text.starts_with(&format!("would remove {}: ", env.name)),
        "{text}"
    );
    for p in objects(&env) {
        assert!(text.contains(&p.display().to_string()), "{text}");
    }
    let report = cleanup_json(&env, &["--name", &env.name, "--dry-run"]);
    assert_eq!(report["dry_run"], true);
    assert_eq!(removed_paths(&report, &env.name), sorted(&objects(&env)));
    let after: Vec<(u64, i64, u32)> = objects(&env)
        .iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(p).unwrap();
            (m.ino(), m.mtime_nsec(), m.mode())
        })
        .collect();
    assert_eq!(before, after);
    assert_jq(&inspect_ok(&env), ".instances[0].status == \"stale\"");
    cleanup_json(&env, &["--name", &env.name]);
    env.assert_no_leftovers();
}

#[test]
fn two_concurrent_cleanups_neither_collide_nor_report_errors() {
    for round in 0..2 {
        let first = TestEnv::new("conc");
        let mut envs = vec![first];
        for _ in 0..2 {
            let mut e = TestEnv::new("conc");
            e.runtime_dir = envs[0].runtime_dir.clone();
            envs.push(e);
        }
        for e in &mut envs {
            make_stale(e);
        }
        let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
        // Round 0: both sweep all three instances, in opposite orders, so they meet on
        // each; round 1: both name the same instance. Every cleanup names its instance
        // (see the top of this file); a survey of every instance (`--dry-run`) runs
        // meanwhile and must not fail on objects vanishing under it.
        let orders: [Vec<&str>; 2] = if round == 0 {
            [names.clone(), names.iter().rev().copied().collect()]
        } else {
            [vec![names[0]], vec![names[0]]]
        };
        let cleanup_of = |name: &str| {
            let mut cmd = envs[0].cmd("cleanup");
            cmd.args(["--json", "--name", name])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        };
        let (outs, survey) = std::thread::scope(|scope| {
            let sweeps: Vec<_> = orders
                .iter()
                .map(|order| {
                    scope.spawn(|| {
                        order
                            .iter()
                            .map(|name| output_within(cleanup_of(name), T))
                            .collect::<Vec<Output>>()
                    })
                })
                .collect();
            let mut survey = envs[0].cmd("cleanup");
            survey.args(["--json", "--dry-run"]);
            let survey = run(survey, T);
            let outs: Vec<Vec<Output>> = sweeps.into_iter().map(|h| h.join().unwrap()).collect();
            (outs, survey)
        });
        assert_eq!(survey.status.code(), Some(0), "{}", stderr_of(&survey));
        let survey = parse_json(&survey.stdout);
        assert!(errors_about(&survey, &names).is_empty(), "{survey}");
        let targets: &[&str] = if round == 0 { &names } else { &names[..1] };
        for out in outs.iter().flatten() {
            // 4: the other sweep had removed every object of that name already.
            assert!(
                matches!(out.status.code(), Some(0 | 4)),
                "{}{}",
                stdout_of(out),
                stderr_of(out)
            );
        }
        let reports: Vec<serde_json::Value> = outs
            .iter()
            .map(|sweep| {
                let each: Vec<serde_json::Value> =
                    sweep.iter().map(|o| parse_json(&o.stdout)).collect();
                merge_reports(&each)
            })
            .collect();
        for (e, name) in envs.iter().zip(&names) {
            let by: Vec<Vec<String>> = reports.iter().map(|r| removed_paths(r, name)).collect();
            if targets.contains(name) {
                // Exactly one of the two removed it, all of it; nobody skipped it.
                let removers: Vec<&Vec<String>> = by.iter().filter(|p| !p.is_empty()).collect();
                assert_eq!(removers.len(), 1, "{name}: {reports:?}");
                assert_eq!(*removers[0], sorted(&objects(e)));
                assert!(left_of(e).is_empty());
            } else {
                assert!(by.iter().all(|p| p.is_empty()));
                assert_eq!(left_of(e).len(), 4);
            }
            for r in &reports {
                assert!(errors_about(r, &names).is_empty(), "{r}");
                assert!(
                    r["skipped"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|s| s["name"] != *name),
                    "{r}"
                );
            }
        }
        for e in &envs {
            // 4 for the names the sweeps removed already.
            let out = cleanup(e, &["--name", &e.name]);
            assert!(
                matches!(out.status.code(), Some(0 | 4)),
                "{}",
                stderr_of(&out)
            );
            assert!(left_of(e).is_empty());
        }
    }
}

/// A process that is not a secondary of the instance (a shell's `exec 3<>FIFO`, a tool)
/// holding one of its FIFOs is never signalled: the instance is left alone, said why,
/// until that process lets go. (Cleanup once took any holder for an orphan, and killed
/// it.)
#[test]
fn cleanup_never_signals_a_foreign_process_holding_a_fifo() {
    let mut env = TestEnv::new("orphan");
    make_stale(&mut env);
    let holder = Sleeper::spawn("exec sleep 60 <>\"$0\"", &env.p2s_path());
    let deadline = Instant::now() + slow(T);
    loop {
        let doc = inspect_ok(&env);
        let held = jq(
            &[
                "-e",
                &format!(
                    ".instances[0].fifos[0].holders | any(.pid == {})",
                    holder.pid()
                ),
            ],
            &doc,
        );
        if held.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the holder never opened the FIFO"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for dry_run in [true, false] {
        // Named, left alone for a stranger: a failure, with what to do.
        let (reason, stderr) = cleanup_refused_as(&env, dry_run);
        assert!(
            reason.contains(&format!("process {}", holder.pid()))
                && reason.contains("not a secondary"),
            "{reason}"
        );
        assert!(!stderr.contains("stopping"), "{stderr}");
    }
    std::thread::sleep(Duration::from_millis(1200));
    assert!(process_alive(holder.pid()), "the holder was signalled");
    drop(holder);
    let deadline = Instant::now() + slow(T);
    while !cleanup(&env, &["--name", &env.name]).status.success() {
        assert!(
            Instant::now() < deadline,
            "still refused after the holder left"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    env.assert_no_leftovers();
}

/// A lock held by a program that is not osps (here, this test) makes no instance
/// running: inspect says stale and who holds the lock, a new primary and cleanup name
/// that process, and nobody tells the user to kill it as if it were osps. A cleanup that
/// names the instance fails (nothing it was asked for could be done); a sweep skips it.
#[test]
fn a_lock_held_by_another_program_is_not_a_running_instance() {
    use std::os::fd::AsRawFd;
    let mut env = TestEnv::new("foreignlock");
    make_stale(&mut env);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(env.lock_path())
        .unwrap();
    // SAFETY: flock is a plain C struct, all-zero valid; fcntl reads it during the call.
    let locked = unsafe {
        let mut fl: libc::flock = std::mem::zeroed();
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &fl)
    };
    assert_eq!(locked, 0, "{}", std::io::Error::last_os_error());
    let me = std::process::id();
    let v = parse_json(&inspect_ok(&env));
    let inst = &v["instances"][0];
    assert_eq!(inst["status"], "stale", "{inst}");
    assert_eq!(inst["primary"]["alive"], false, "{inst}");
    assert_eq!(inst["lock"]["held"], true, "{inst}");
    let warned = inst["warnings"].to_string();
    assert!(
        warned.contains("lock held by another program")
            && warned.contains(&format!("process {me}")),
        "{inst}"
    );
    let mut cmd = env.cmd("primary");
    cmd.args(["--rounds", "1"]);
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("not an osps primary") && !stderr_of(&out).contains("kill"),
        "{}",
        stderr_of(&out)
    );
    // Named, the one thing asked cannot be done while it holds the lock: not the "nothing
    // to do" of a running instance (0) but a failure (1), the holder named with what to
    // do, as an error of the report. A dry run says so with the same code.
    for dry_run in [true, false] {
        let (error, _) = cleanup_refused_as(&env, dry_run);
        assert!(
            error.contains(&format!("is held by process {me} "))
                && error.contains("end that process"),
            "{error}"
        );
    }
    let out = cleanup(&env, &["--name", &env.name]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "", "said once, on stderr");
    assert!(
        stderr_of(&out).contains(&format!("{}: the lock file", env.name)),
        "{}",
        stderr_of(&out)
    );
    // Without --name, a sweep: that instance is skipped with the reason and the others
    // are cleaned, which is a success.
    let mut other = TestEnv::new("foreignlockb");
    other.runtime_dir = env.runtime_dir.clone();
    make_stale(&mut other);
    let report = cleanup_json(&env, &[]);
    assert_eq!(
        removed_paths(&report, &other.name),
        sorted(&objects(&other)),
        "{report}"
    );
    assert_eq!(removed_paths(&report, &env.name), Vec::<String>::new());
    assert_jq(
        &serde_json::to_vec(&report).unwrap(),
        &format!(
            ".skipped[] | select(.name == \"{}\") | .reason | test(\"process {me} \")",
            env.name
        ),
    );
    assert_eq!(
        errors_about(&report, &[&env.name, &other.name]),
        Vec::<serde_json::Value>::new()
    );
    assert_eq!(left_of(&other), Vec::<PathBuf>::new());
    drop(file);
    cleanup_json(&env, &["--name", &env.name]);
    env.assert_no_leftovers();
}

/// Another process with one of a running instance's FIFOs open (a `cat` that could
/// take frames, a shell's `exec 3<>FIFO` that keeps end of file from coming) is named
/// in a warning.
#[test]
fn a_stranger_holding_a_running_instance_fifo_is_warned_about() {
    let mut env = TestEnv::new("stranger");
    let (p, _) = start(&mut env);
    let holder = Sleeper::spawn("exec sleep 60 <>\"$0\"", &env.s2p_path());
    let deadline = Instant::now() + slow(T);
    let warned = format!("FIFO held by another process: process {}", holder.pid());
    loop {
        let v = parse_json(&inspect_ok(&env));
        if v["instances"][0]["warnings"].to_string().contains(&warned) {
            assert_eq!(v["instances"][0]["status"], "running");
            break;
        }
        assert!(Instant::now() < deadline, "no warning: {v}");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(holder);
    stop(&mut env, p);
    env.assert_no_leftovers();
}

/// A real orphan: the secondary of a primary killed with SIGKILL while it was stopped
/// (SIGSTOP) cannot notice that its primary is gone. inspect warns about it, a dry run
/// says it would stop it, and cleanup does.
#[test]
fn an_orphaned_secondary_is_warned_about_and_stopped_by_cleanup() {
    let mut env = TestEnv::new("orphan2");
    let primary = env.start_primary(&["--interval", "50ms"]);
    let secondary = env.wait_secondary(T);
    env.wait_rounds(2, T);
    assert!(kill(secondary, libc::SIGSTOP));
    assert!(kill(primary, libc::SIGKILL));
    let _ = common::wait_child(&mut env.take_child(primary), T);
    let doc = inspect_ok(&env);
    let v = parse_json(&doc);
    let inst = &v["instances"][0];
    assert_eq!(inst["status"], "stale", "{inst}");
    let warned = format!("orphaned secondary: pid {secondary} still runs");
    assert!(
        inst["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap_or_default().contains(&warned)),
        "{inst}"
    );
    let out = cleanup(&env, &["--name", &env.name, "--dry-run"]);
    assert!(
        stdout_of(&out).contains(&format!("orphaned secondary {secondary}")),
        "{}",
        stdout_of(&out)
    );
    let out = cleanup(&env, &["--name", &env.name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(wait_gone(secondary, T), "the orphan was not stopped");
    env.assert_no_leftovers();
}

#[test]
fn cleanup_refuses_objects_that_are_not_provably_ours() {
    let mut env = TestEnv::new("foreign");
    make_stale(&mut env);
    // A FIFO with another mode: not made by osps; the whole instance is left alone.
    std::fs::set_permissions(env.s2p_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let reason = cleanup_refused(&env);
    assert!(
        reason.contains(&env.s2p_path().display().to_string()) && reason.contains("0644"),
        "{reason}"
    );
    assert_eq!(left_of(&env).len(), 4);
    std::fs::set_permissions(env.s2p_path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    // A segment of another user (only root can make one to test with).
    if uid() == 0 {
        std::os::unix::fs::chown(env.shm_path(), Some(65534), None).unwrap();
        let doc = inspect_ok(&env);
        assert_jq(
            &doc,
            ".instances[0] | .status == \"corrupt\" and .segment.uid == 65534 and (.segment.error | test(\"uid 65534\"))",
        );
        let reason = cleanup_refused(&env);
        assert!(reason.contains("uid 65534"), "{reason}");
        assert_eq!(left_of(&env).len(), 4);
        std::os::unix::fs::chown(env.shm_path(), Some(0), None).unwrap();
    }
    let report = cleanup_json(&env, &["--name", &env.name]);
    assert_eq!(removed_paths(&report, &env.name), sorted(&objects(&env)));
    env.assert_no_leftovers();
}

#[test]
fn inspect_of_a_serving_pool_lists_every_secondary_and_cleanup_removes_its_socket() {
    let mut env = TestEnv::new("pool");
    let primary = env.start_primary(&["--serve", "--secondaries", "3"]);
    let socket = env.runtime_dir.join(format!("{}.sock", env.name));
    let deadline = std::time::Instant::now() + slow(T);
    while !socket.exists() || env.header_field(field::SECONDARY_STATE) != Some(2) {
        assert!(
            std::time::Instant::now() < deadline,
            "the pool did not come up"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut client = env.cmd("client");
    client.args(["PING", "REV abc"]);
    let out = run(client, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "PONG\ncba\n");

    // The client has exited, but the primary may not have seen its end of file yet: the
    // count of connected clients drops to 0 once it has.
    let deadline = std::time::Instant::now() + slow(T);
    let doc = loop {
        let doc = inspect_ok(&env);
        let gone = jq(&["-e", ".instances[0].clients == 0"], &doc);
        if gone.status.success() {
            break doc;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the client never left"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_jq(&doc, ".instances[0].status == \"running\"");
    assert_jq(&doc, ".instances[0].secondaries | length == 3");
    assert_jq(
        &doc,
        "[.instances[0].secondaries[] | .alive and .state == \"ready\"] | all",
    );
    assert_jq(&doc, "[.instances[0].secondaries[].index] == [0, 1, 2]");
    assert_jq(
        &doc,
        "[.instances[0].secondaries[].requests_served] | add == 2",
    );
    assert_jq(
        &doc,
        ".instances[0].clients == 0 and .instances[0].queue == 0",
    );
    assert_jq(
        &doc,
        ".instances[0].socket.exists and .instances[0].socket.mode == \"0600\"",
    );
    assert_jq(&doc, ".instances[0].fifos | length == 6");

    // Killed the hard way, the pool's secondaries exit and cleanup removes the socket too.
    let pids: Vec<u32> = jq_raw(&doc, ".instances[0].secondaries[].pid")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(kill(primary, libc::SIGKILL));
    let _ = env.take_child(primary).wait();
    for pid in pids {
        assert!(
            wait_gone(pid, Duration::from_secs(5)),
            "secondary {pid} outlived its primary"
        );
    }
    assert_jq(&inspect_ok(&env), ".instances[0].status == \"stale\"");
    let report = cleanup_json(&env, &["--name", &env.name]);
    assert!(
        removed_paths(&report, &env.name).contains(&socket.display().to_string()),
        "{report}"
    );
    env.assert_no_leftovers();
}

/// A stale instance whose runtime directory was removed (a reboot-less `rm -r`, a tmpfs
/// cleaner): `cleanup --name` removes the segment, as FILES promises, says the directory
/// is missing, and creates nothing (it used to make the directory, mode 0700, to take the
/// lock in, and leave it behind, empty).
#[test]
fn cleanup_of_a_segment_whose_runtime_dir_is_gone_creates_nothing() {
    let mut env = TestEnv::new("nodir");
    make_stale(&mut env);
    std::fs::remove_dir_all(&env.runtime_dir).unwrap();
    assert!(exists(&env.shm_path()));
    let out = cleanup(&env, &["--name", &env.name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(
        !env.runtime_dir.exists(),
        "cleanup created the runtime directory"
    );
    assert!(text.starts_with("removed "), "{text}");
    assert!(!exists(&env.shm_path()), "{text}");
    assert!(
        stderr_of(&out).contains("does not exist"),
        "{}",
        stderr_of(&out)
    );
    env.assert_no_leftovers();
}

#[test]
fn a_lock_file_left_half_created_by_a_crash_is_removed_by_cleanup() {
    let env = TestEnv::new("halflock");
    env.make_runtime_dir();
    // A process that died between creating its lock file and naming it left this; pid
    // 2^22 + 1 is above Linux's pid_max, so it is certainly not alive.
    let dead = env.runtime_dir.join(format!(".{}.lock.4194305", env.name));
    std::fs::write(&dead, b"4194305\n").unwrap();
    std::fs::set_permissions(&dead, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // One of a live process (this test) is being created right now: never touched.
    let live = env
        .runtime_dir
        .join(format!(".{}.lock.{}", env.name, std::process::id()));
    std::fs::write(&live, b"x\n").unwrap();
    std::fs::set_permissions(&live, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    // The views show what cleanup removes: a partial instance (they said "no instance",
    // exit 4, of what cleanup then removed), the dead one listed, the live one not.
    let out = inspect(&env, &["--name", &env.name]);
    assert_ne!(out.status.code(), Some(4), "{}", stderr_of(&out));
    let doc = parse_json(&out.stdout);
    assert_eq!(doc["instances"][0]["status"], "partial", "{doc:#}");
    assert_eq!(
        doc["instances"][0]["lock"]["temps"],
        serde_json::json!([dead.display().to_string()]),
        "{doc:#}"
    );
    let mut cmd = env.cmd("status");
    cmd.arg(&env.name);
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(
        text.contains(&*dead.to_string_lossy()) && text.contains("half-made lock file"),
        "{text}"
    );
    assert!(!text.contains(&*live.to_string_lossy()), "{text}");

    let report = cleanup_json(&env, &["--name", &env.name]);
    assert!(
        removed_paths(&report, &env.name).contains(&dead.display().to_string()),
        "{report}"
    );
    assert!(!exists(&dead));
    assert!(
        exists(&live),
        "the live process's lock file in the making was removed"
    );
    std::fs::remove_file(&live).unwrap();
    env.assert_no_leftovers();
}

#[test]
fn inspect_shows_the_tcp_port_a_primary_bound_for_port_zero() {
    let mut env = TestEnv::new("tcpport");
    let pid = env.start_primary(&["--serve", "--json", "--tcp", "127.0.0.1:0"]);
    let port = env.tcp_port(pid, T);
    env.wait_serving(T);
    assert_ne!(port, 0);
    let doc = parse_json(&inspect_ok(&env));
    assert_eq!(
        doc["instances"][0]["segment"]["header"]["tcp_port"],
        serde_json::json!(port),
        "{doc}"
    );
    stop(&mut env, pid);
    env.assert_no_leftovers();
}

/// A program that is not osps reading a dead instance's segment, mapped (its descriptor
/// closed) or only open read-only, or one of its FIFOs open read-only: it uses the
/// instance, so cleanup leaves it alone and names that process (it used to count writers
/// only, and removed the objects under a reader), never signals it, and removes
/// everything once it has let go.
#[test]
fn cleanup_leaves_a_segment_a_reader_maps_or_holds_open() {
    let mapped = "import mmap, os, sys\n\
                  fd = os.open(sys.argv[1], os.O_RDONLY)\n\
                  m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)\n\
                  os.close(fd)\n\
                  print('ready', flush=True)\n\
                  sys.stdin.read()\n";
    let open = "import os, sys\n\
                fd = os.open(sys.argv[1], os.O_RDONLY)\n\
                print('ready', flush=True)\n\
                sys.stdin.read()\n";
    let fifo = "import os, sys\n\
                fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)\n\
                print('ready', flush=True)\n\
                sys.stdin.read()\n";
    for (tag, script) in [
        ("mapreader", mapped),
        ("openreader", open),
        ("fiforeader", fifo),
    ] {
        let mut env = TestEnv::new(tag);
        make_stale(&mut env);
        let (target, named) = if tag == "fiforeader" {
            (env.p2s_path(), "not a secondary".to_string())
        } else {
            (env.shm_path(), env.shm_path().display().to_string())
        };
        let mut reader = Command::new("python3")
            .args(["-c", script])
            .arg(&target)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(reader.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready", "{tag}");
        for dry_run in [true, false] {
            let (reason, stderr) = cleanup_refused_as(&env, dry_run);
            assert!(
                reason.contains(&format!("process {}", reader.id())) && reason.contains(&named),
                "{tag}: {reason}"
            );
            assert!(!stderr.contains("stopping"), "{tag}: {stderr}");
        }
        assert!(target.exists(), "{tag}: removed under its reader");
        assert!(
            process_alive(reader.id()),
            "{tag}: the reader was signalled"
        );
        drop(reader.stdin.take());
        let _ = common::wait_child(&mut reader, T);
        let out = cleanup(&env, &["--name", &env.name]);
        assert!(out.status.success(), "{tag}: {}", stderr_of(&out));
        env.assert_no_leftovers();
    }
}

/// A primary or secondary stopped by SIGSTOP (Ctrl-Z) leaves the instance looking
/// running with growing heartbeats: inspect and status say which process is stopped and
/// how to let it run, and say nothing once it got SIGCONT. Before, nothing was said.
#[test]
fn a_stopped_primary_or_secondary_is_named_with_how_to_let_it_run() {
    let mut env = TestEnv::new("stopd");
    // A long --timeout: the stopped secondary must not be taken for hung and restarted.
    let primary = env.start_primary(&["--interval", "20ms", "--timeout", "60s"]);
    let secondary = env.wait_secondary(T);
    env.wait_rounds(2, T);
    let warnings = |env: &TestEnv| {
        let doc = parse_json(&inspect_ok(env));
        doc["instances"][0]["warnings"].to_string()
    };
    for (role, pid) in [("primary", primary), ("secondary", secondary)] {
        assert!(kill(pid, libc::SIGSTOP));
        let want = format!("process stopped: the {role}, pid {pid}, was stopped by a signal");
        let deadline = Instant::now() + slow(T);
        let mut seen = warnings(&env);
        while !seen.contains(&want) {
            assert!(Instant::now() < deadline, "no {want:?} in {seen}");
            std::thread::sleep(Duration::from_millis(10));
            seen = warnings(&env);
        }
        assert!(seen.contains(&format!("kill -CONT {pid}")), "{seen}");
        let mut status = env.cmd("status");
        status.arg(&env.name);
        let out = run(status, T);
        assert!(stdout_of(&out).contains(&want), "{}", stdout_of(&out));
        assert!(kill(pid, libc::SIGCONT));
        let deadline = Instant::now() + slow(T);
        while warnings(&env).contains("process stopped") {
            assert!(
                Instant::now() < deadline,
                "still said stopped after SIGCONT"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    assert!(kill(primary, libc::SIGTERM));
    let out = output_within(env.take_child(primary), T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    env.assert_nothing_left();
}
