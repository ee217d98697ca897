//! Liveness by identity (issue 10): whatever happens to a live instance's files (its lock
//! file removed or replaced, a look from another runtime directory, an age-based
//! cleaner), `cleanup` and a second primary never touch it, `inspect` tells the truth,
//! an old primary never removes a newer instance's objects, hints never advise harm, and
//! output errors are errors. Each test runs the real binary in its own runtime directory.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(10);

/// Starts a primary with a fast heartbeat; returns (primary, secondary) once rounds run.
fn start(env: &mut TestEnv) -> (u32, u32) {
    let primary = env.start_primary(&["--interval", "20ms", "--json"]);
    let secondary = env.wait_secondary(T);
    env.wait_rounds(2, T);
    (primary, secondary)
}

/// Stops a running primary with SIGTERM; it must stop in order. Returns its stderr.
fn stop(env: &mut TestEnv, primary: u32) -> String {
    assert!(kill(primary, libc::SIGTERM));
    let out = output_within(env.take_child(primary), T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let summary = json_of(&out);
    assert_eq!(summary["secondary_exit"], 0, "{summary}");
    assert_eq!(summary["errors"], 0, "{summary}");
    stderr_of(&out)
}

/// `osps inspect --name` from `runtime_dir`: the instance, its document checked against
/// schema/inspect.schema.json.
fn inspect(env: &TestEnv, runtime_dir: &Path) -> serde_json::Value {
    let mut cmd = env.cmd("inspect");
    cmd.args(["--name", &env.name, "--runtime-dir"])
        .arg(runtime_dir);
    let out = run(cmd, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = json_of(&out);
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/inspect.schema.json");
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    doc["instances"][0].clone()
}

fn cleanup(env: &TestEnv, runtime_dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = env.cmd("cleanup");
    cmd.args(["--name", &env.name, "--runtime-dir"])
        .arg(runtime_dir)
        .args(extra);
    run(cmd, T)
}

/// The instance is alive and untouched: both processes run and rounds go on.
fn assert_undisturbed(env: &TestEnv, primary: u32, secondary: u32) {
    assert!(process_alive(primary), "the primary was stopped");
    assert!(process_alive(secondary), "the secondary was stopped");
    let before = env.header_field(field::ROUNDS_COMPLETED).unwrap();
    env.wait_rounds(before + 2, T);
    assert!(env.shm_path().exists() && env.p2s_path().exists() && env.s2p_path().exists());
}

/// Holds a live primary stopped (SIGSTOP) until dropped (SIGCONT), so that a test can
/// look at its missing lock file before the primary's periodic check restores it. A
/// stopped process is alive, and still holds its locks.
struct Frozen(u32);

fn freeze(pid: u32) -> Frozen {
    assert!(kill(pid, libc::SIGSTOP));
    let deadline = Instant::now() + T;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.trim_start().chars().next());
        if state == Some('T') {
            return Frozen(pid);
        }
        assert!(Instant::now() < deadline, "{pid} did not stop: {stat}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        kill(self.0, libc::SIGCONT);
    }
}

fn private_dir(env: &TestEnv, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = env.tmp.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

// ---- 3. Never signal a live primary ----

#[test]
fn cleanup_after_rm_of_the_lock_file_skips_the_running_instance() {
    let mut env = TestEnv::new("rmlock-cleanup");
    let (p, s) = start(&mut env);
    let frozen = freeze(p);
    std::fs::remove_file(env.lock_path()).unwrap();
    let out = cleanup(&env, &env.runtime_dir, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    let expected = format!(
        "instance {} is running (pid {p}) but its lock file is missing; not touched",
        env.name
    );
    assert!(text.contains(&expected), "{text}");
    let json = cleanup(&env, &env.runtime_dir, &["--json"]);
    let report = json_of(&json);
    assert_eq!(report["removed"], serde_json::json!([]), "{report}");
    assert!(
        report["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains(&expected)
    );
    drop(frozen);
    assert_undisturbed(&env, p, s);
    stop(&mut env, p);
    env.assert_no_leftovers();
}

#[test]
fn a_second_primary_after_rm_of_the_lock_file_refuses_and_the_first_goes_on() {
    let mut env = TestEnv::new("rmlock-second");
    let (p, s) = start(&mut env);
    let frozen = freeze(p);
    std::fs::remove_file(env.lock_path()).unwrap();
    // Long-running (no --rounds): were it to take over, it would not exit by itself.
    let mut second = env.cmd("primary");
    second.args(["--interval", "20ms"]);
    let out = run(second, T);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "is running (pid {p}) but its lock file is missing"
        )),
        "{err}"
    );
    assert!(
        !env.lock_path().exists(),
        "the refused primary left its lock file"
    );
    drop(frozen);
    assert_undisturbed(&env, p, s);
    stop(&mut env, p);
    env.assert_no_leftovers();
}

// ---- 1. Identity, not paths (the cascade) ----

#[test]
fn a_replaced_lock_file_is_never_taken_nor_removed_by_the_old_primary() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = TestEnv::new("replaced");
    let (p, s) = start(&mut env);
    // Another file at the lock path, as a newer instance's would be: ours, 0600, unlocked.
    let newer = env.runtime_dir.join("newer");
    std::fs::write(&newer, "newer\n").unwrap();
    std::fs::set_permissions(&newer, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&newer, env.lock_path()).unwrap();

    let seen = inspect(&env, &env.runtime_dir);
    assert_eq!(seen["status"], "running", "{seen}");
    assert_eq!(seen["primary"]["pid"], p, "{seen}");
    assert!(
        seen["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("lock file replaced"),
        "{seen}"
    );
    let out = cleanup(&env, &env.runtime_dir, &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains("but its lock file was replaced by another file"),
        "{}",
        stdout_of(&out)
    );
    let mut second = env.cmd("primary");
    second.args(["--interval", "20ms"]);
    let out = run(second, T);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_undisturbed(&env, p, s);

    // The old primary's orderly stop leaves the file it did not create.
    let err = stop(&mut env, p);
    assert_eq!(std::fs::read_to_string(env.lock_path()).unwrap(), "newer\n");
    assert!(
        err.contains(&format!("left {} in place", env.lock_path().display())),
        "{err}"
    );
    assert!(!env.shm_path().exists() && !env.p2s_path().exists() && !env.s2p_path().exists());
    std::fs::remove_file(env.lock_path()).unwrap();
    env.assert_no_leftovers();
}

// ---- 4. inspect tells the truth ----

#[test]
fn inspect_reports_running_with_warnings_and_heartbeat_ages() {
    let mut env = TestEnv::new("truth");
    let (p, s) = start(&mut env);
    let seen = inspect(&env, &env.runtime_dir);
    assert_eq!(seen["status"], "running", "{seen}");
    assert_eq!(seen["warnings"], serde_json::json!([]), "{seen}");
    for side in ["primary", "secondary"] {
        let age = seen[side]["heartbeat_age_ms"].as_u64().unwrap();
        assert!(age < 5_000, "{side}: {seen}");
    }
    assert!(seen["secondaries"][0]["heartbeat_age_ms"].as_u64().unwrap() < 5_000);

    let frozen = freeze(p);
    std::fs::remove_file(env.lock_path()).unwrap();
    let seen = inspect(&env, &env.runtime_dir);
    assert_eq!(seen["status"], "running", "{seen}");
    assert_eq!(seen["primary"]["alive"], true, "{seen}");
    assert_eq!(seen["primary"]["pid"], p, "{seen}");
    assert_eq!(seen["secondary"]["alive"], true, "{seen}");
    assert!(
        seen["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("lock file missing"),
        "{seen}"
    );
    drop(frozen);

    // From another runtime directory: still running, with the reason.
    let other = private_dir(&env, "other");
    let seen = inspect(&env, &other);
    assert_eq!(seen["status"], "running", "{seen}");
    assert_eq!(seen["primary"]["pid"], p, "{seen}");
    assert_eq!(seen["secondary"]["pid"], s, "{seen}");
    assert_eq!(seen["secondary"]["alive"], true, "{seen}");
    assert!(
        seen["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("objects in another runtime directory"),
        "{seen}"
    );
    let out = cleanup(&env, &other, &["--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let report = json_of(&out);
    assert_eq!(report["removed"], serde_json::json!([]), "{report}");
    assert_undisturbed(&env, p, s);
    stop(&mut env, p);
    env.assert_no_leftovers();
}

#[test]
fn a_healthy_running_instance_is_not_mentioned_by_cleanup_without_v() {
    let mut env = TestEnv::new("quiet");
    let (p, _) = start(&mut env);
    // A survey of the runtime directory passes over it in silence (other tests'
    // segments in /dev/shm may be mentioned, as elsewhere)...
    let out = run(env.cmd("cleanup"), T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!stdout_of(&out).contains(&env.name), "{}", stdout_of(&out));
    let mut cmd = env.cmd("cleanup");
    cmd.arg("-v");
    let out = run(cmd, T);
    assert!(stdout_of(&out).contains(&format!("skipped {}: running", env.name)));
    // ...but asked to clean it up by name, cleanup says why it did not, and exits 0: a
    // running instance left nothing to clean up (osps-cleanup(1), EXIT STATUS).
    let out = cleanup(&env, &env.runtime_dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains(&format!("skipped {}: running", env.name)));
    stop(&mut env, p);
}

#[test]
#[ignore = "needs root and setpriv to act as another user: .ci/run runs it with --ignored"]
fn a_segment_another_user_may_not_read_is_inaccessible() {
    assert_eq!(uid(), 0, "this test acts as another user: run it as root");
    assert!(
        Command::new("setpriv").arg("--help").output().is_ok(),
        "setpriv (util-linux) is not installed"
    );
    let env = TestEnv::new("foreign");
    let nobody = 65534;
    let shm = PathBuf::from(format!("/dev/shm/osps.{nobody}.{}", env.name));
    std::fs::write(&shm, [0u8; 4096]).unwrap();
    let _cleanup = Remove(shm.clone());
    std::fs::set_permissions(&shm, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            osps_bin(),
        ])
        .args([
            "inspect",
            "--runtime-dir",
            "/nonexistent-osps-dir",
            "--name",
            &env.name,
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let seen = &json_of(&out)["instances"][0];
    assert_eq!(seen["status"], "inaccessible", "{seen}");
    assert!(
        seen["warnings"][0]
            .as_str()
            .unwrap()
            .contains("cannot be read"),
        "{seen}"
    );
}

struct Remove(PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---- 5. Age-based cleaners ----

#[test]
fn a_live_instance_survives_systemd_tmpfiles_clean_with_age_zero() {
    assert!(
        Command::new("systemd-tmpfiles")
            .arg("--version")
            .output()
            .is_ok(),
        "systemd-tmpfiles is not installed: `apt-get install systemd` (.ci/run does)"
    );
    let mut env = TestEnv::new("aging");
    // Outside the aged tree, or the rule would age its own file away.
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("age0.conf");
    // Age everything below the runtime directory's parent at once: tmpfiles descends into
    // the runtime directory only if nobody holds a flock on it (tmpfiles.d(5)).
    let parent = env.runtime_dir.parent().unwrap().to_path_buf();
    std::fs::write(&conf, format!("e {} - - - 0\n", parent.display())).unwrap();
    let clean = || {
        let out = Command::new("systemd-tmpfiles")
            .arg("--clean")
            .arg(&conf)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
    };
    let (p, s) = start(&mut env);
    clean();
    assert!(env.lock_path().exists(), "the lock file was aged away");
    assert_undisturbed(&env, p, s);
    stop(&mut env, p);
    env.assert_no_leftovers();

    // The same rule removes a dead instance's files: the test would notice a rule that
    // does nothing.
    std::fs::create_dir_all(&env.runtime_dir).unwrap();
    std::fs::write(env.lock_path(), "").unwrap();
    clean();
    assert!(!env.lock_path().exists(), "the rule does not age anything");
}

// ---- 9. Hints never harm ----

#[test]
fn no_hint_advises_chmod_on_a_shared_or_system_directory() {
    let env = TestEnv::new("hint");
    for shared in ["/tmp", "/var/tmp", "/dev/shm", "/"] {
        let mut cmd = env.cmd("primary");
        cmd.args(["--rounds", "1", "--runtime-dir", shared]);
        let out = run(cmd, T);
        assert_eq!(out.status.code(), Some(1), "{shared}: {}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(!err.contains("chmod"), "{shared}: {err}");
        assert!(err.contains("--runtime-dir"), "{shared}: {err}");
    }
    // A private-looking directory of ours that is merely too open gets the chmod hint.
    use std::os::unix::fs::PermissionsExt;
    let mine = env.tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = env.cmd("primary");
    cmd.args(["--rounds", "1", "--runtime-dir"]).arg(&mine);
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains(&format!("chmod 700 {}", mine.display())));
    assert!(!env.shm_path().exists());
}

// ---- 10. Output errors are errors ----

/// Runs `osps ARGS` through `sh` with a redirection of stdout.
fn redirected(env: &TestEnv, args: &str, redirect: &str) -> std::process::Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("exec \"$0\" {args} {redirect}"))
        .arg(osps_bin())
        .env("OSPS_RUNTIME_DIR", &env.runtime_dir)
        .env("NO_COLOR", "1");
    run(cmd, T)
}

#[test]
fn a_closed_or_full_stdout_is_an_error_naming_stdout_and_epipe_is_quiet() {
    let mut env = TestEnv::new("stdout");
    let (p, _) = start(&mut env);
    let name = env.name.clone();
    for args in [
        format!("inspect --name {name}"),
        format!("cleanup --json --name {name}"),
        "list --json".to_string(),
        format!("status {name}"),
        format!("top --json --iterations 1 --name {name}"),
        "completions bash".to_string(),
        "man list".to_string(),
        // The summary of a run that went well, lost: not a success either.
        format!("primary -q --name {name}-c --rounds 3 --json"),
    ] {
        for redirect in [">/dev/full", ">&-"] {
            let out = redirected(&env, &args, redirect);
            assert_eq!(out.status.code(), Some(1), "{args} {redirect}");
            let err = stderr_of(&out);
            assert_eq!(err.lines().count(), 1, "{args} {redirect}: {err}");
            assert!(
                err.contains("writing to stdout"),
                "{args} {redirect}: {err}"
            );
        }
        // >/dev/null is a fine place for output.
        let out = redirected(&env, &args, ">/dev/null");
        assert!(out.status.success(), "{args}: {}", stderr_of(&out));
    }
    // A primary whose summary could not be written refuses to start, having made
    // nothing (its run would end with the summary lost).
    let other = format!("{name}-b");
    let out = redirected(
        &env,
        &format!("primary --name {other} --rounds 3 --json"),
        ">&-",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("stdout is closed"),
        "{}",
        stderr_of(&out)
    );
    let shm = PathBuf::from(format!("/dev/shm/osps.{}.{other}", uid()));
    assert!(!shm.exists(), "{}", shm.display());
    assert!(!env.runtime_dir.join(format!("{other}.lock")).exists());
    // Without --json, a primary started as a daemoniser starts it (stdout on /dev/null
    // opened read-write) runs as usual.
    let out = redirected(
        &env,
        &format!("primary -q --name {other} --rounds 3"),
        "1<>/dev/null",
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    // A reader that goes away before the output (EPIPE) is not an error.
    let mut cmd = env.cmd("inspect");
    cmd.args(["--name", &name]);
    assert_quiet_when_the_reader_left(cmd);
    stop(&mut env, p);
}

/// `osps ARGS` from Python, `subprocess.run([...], stdout=subprocess.DEVNULL)`: Python opens
/// /dev/null read-write for it, as `1<>/dev/null` does.
fn from_python_to_devnull(env: &TestEnv, args: &str) -> std::process::Output {
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(
            "import subprocess, sys\n\
             r = subprocess.run([sys.argv[1]] + sys.argv[2].split(), stdout=subprocess.DEVNULL)\n\
             sys.exit(r.returncode)",
        )
        .arg(osps_bin())
        .arg(args)
        .env("OSPS_RUNTIME_DIR", &env.runtime_dir)
        .env("NO_COLOR", "1");
    run(cmd, T)
}

#[test]
fn a_stdout_on_dev_null_opened_read_write_is_a_place_to_write_and_a_closed_one_is_not() {
    let mut env = TestEnv::new("devnullrw");
    let (p, _) = start(&mut env);
    let name = env.name.clone();
    let mut server = TestEnv::new("devnullrw-s");
    let sp = server.start_serving(&[]);
    let served = server.name.clone();
    for args in [
        format!("inspect --name {name}"),
        format!("cleanup --json --name {name}"),
        "list --json".to_string(),
        "list".to_string(),
        format!("status {name}"),
        format!("top --json --iterations 1 --name {name}"),
        format!("primary -q --name {name}-c --rounds 3 --json"),
    ] {
        let out = redirected(&env, &args, "1<>/dev/null");
        assert!(
            out.status.success(),
            "{args} 1<>/dev/null: {}",
            stderr_of(&out)
        );
        let out = from_python_to_devnull(&env, &args);
        assert!(
            out.status.success(),
            "{args} from Python: {}",
            stderr_of(&out)
        );
        for redirect in [">&-", ">/dev/full"] {
            let out = redirected(&env, &args, redirect);
            assert_eq!(out.status.code(), Some(1), "{args} {redirect}");
            assert!(
                stderr_of(&out).contains("writing to stdout"),
                "{args} {redirect}: {}",
                stderr_of(&out)
            );
        }
    }
    // The client, to a serving instance of another runtime directory.
    let client = |redirect: &str| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "exec \"$0\" client --name {served} PING {redirect}"
            ))
            .arg(osps_bin())
            .env("OSPS_RUNTIME_DIR", &server.runtime_dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        run(cmd, T)
    };
    let out = client("1<>/dev/null");
    assert!(
        out.status.success(),
        "client 1<>/dev/null: {}",
        stderr_of(&out)
    );
    let out = from_python_to_devnull(&server, &format!("client --name {served} PING"));
    assert!(
        out.status.success(),
        "client from Python: {}",
        stderr_of(&out)
    );
    for redirect in [">&-", ">/dev/full"] {
        let out = client(redirect);
        assert_eq!(out.status.code(), Some(1), "client {redirect}");
    }
    server.stop_serving(sp);
    stop(&mut env, p);
    // A cleanup whose stdout is /dev/null read-write does its work: it removes the
    // leftovers of a crashed instance.
    let mut cp = TestEnv::new("devnullrw-c");
    let (pid, secondary) = start(&mut cp);
    assert!(kill(pid, libc::SIGKILL));
    let _ = cp.take_child(pid).wait();
    assert!(
        wait_gone(secondary, T),
        "the secondary outlived its primary"
    );
    assert!(cp.shm_path().exists());
    let out = redirected(&cp, &format!("cleanup --name {}", cp.name), "1<>/dev/null");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!cp.shm_path().exists(), "cleanup removed nothing");
}

// ---- The fault loop ----

/// `rm` of the lock file at random moments, interleaved with cleanups and second primaries:
/// the live instance always completes, and nothing is left behind.
#[test]
fn removing_the_lock_file_at_random_moments_never_harms_the_live_instance() {
    let mut rng = Rng::new("rm-lock-loop");
    let runs = 100 * soak();
    let started = Instant::now();
    for run_no in 0..runs {
        let env = TestEnv::new("rmloop");
        let mut primary = env
            .cmd("primary")
            .args(["--rounds", "40", "--interval", "1ms", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The live instance: it claimed the name and made its segment (on a loaded
        // machine it may even be done before we look).
        let deadline = Instant::now() + T;
        while env.header_field(field::PRIMARY_PID).is_none()
            && primary.try_wait().unwrap().is_none()
        {
            assert!(Instant::now() < deadline, "run {run_no}: no segment");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(rng.upto(Duration::from_millis(40)));
        let _ = std::fs::remove_file(env.lock_path());
        let mut others = Vec::new();
        for _ in 0..=rng.below(2) {
            let mut cmd = if rng.below(2) == 0 {
                let mut c = env.cmd("cleanup");
                c.args(["--name", &env.name]);
                c
            } else {
                let mut c = env.cmd("primary");
                c.args(["--rounds", "2"]);
                c
            };
            others.push(
                cmd.stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
            if rng.below(2) == 0 {
                let _ = std::fs::remove_file(env.lock_path());
            }
        }
        let out = output_within(primary, T);
        assert!(
            out.status.success(),
            "run {run_no}: the live instance failed: {}",
            stderr_of(&out)
        );
        let summary = json_of(&out);
        assert_eq!(summary["rounds"], 40, "run {run_no}: {summary}");
        for other in others {
            let out = output_within(other, T);
            // A second primary either refused (1) or ran after the first (0); a cleanup
            // that came after the first primary had gone finds no instance (4).
            assert!(
                matches!(out.status.code(), Some(0 | 1 | 4)),
                "run {run_no}: {}",
                stderr_of(&out)
            );
        }
        let left = env.leftovers();
        assert!(
            left.is_empty(),
            "run {run_no}: objects left behind: {left:?}"
        );
    }
    eprintln!("{runs} runs in {:?}", started.elapsed());
}

#[test]
fn cleanup_without_a_name_leaves_a_segment_whose_other_objects_are_elsewhere() {
    let mut env = TestEnv::new("elsewhere");
    let primary = env.start_primary(&["--interval", "50ms"]);
    let secondary = env.wait_secondary(T);
    assert!(kill(primary, libc::SIGKILL));
    let _ = output_within(env.take_child(primary), T);
    assert!(wait_gone(secondary, Duration::from_secs(5)));
    // A dead instance whose lock file and FIFOs are in the test's runtime directory, seen
    // from another (empty, private) runtime directory: its segment is all that shows.
    let other = env.tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::set_permissions(&other, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    for extra in [&["--dry-run", "--json"][..], &["--json"][..]] {
        let mut cmd = env.cmd("cleanup");
        cmd.env("OSPS_RUNTIME_DIR", &other).args(extra);
        let out = run(cmd, T);
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        assert_skipped_as_elsewhere(&parse_json(&out.stdout), &env.name);
        assert!(env.shm_path().exists(), "{extra:?} removed the segment");
        assert!(env.lock_path().exists());
    }
    // Named, in its own runtime directory, it goes as a whole.
    let mut cmd = env.cmd("cleanup");
    cmd.args(["--name", &env.name]);
    assert!(run(cmd, T).status.success());
    env.assert_no_leftovers();
}

/// A cleanup report that skipped instance `name` because its objects live in another
/// runtime directory.
fn assert_skipped_as_elsewhere(report: &serde_json::Value, name: &str) {
    let skipped = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} not skipped: {report}"));
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap()
            .contains("another runtime directory"),
        "{skipped}"
    );
}

#[test]
fn a_nameless_cleanup_skips_a_crashed_segment_of_another_runtime_directory_and_says_so() {
    let mut env = TestEnv::new("elsewhere-help");
    let primary = env.start_primary(&["--interval", "50ms"]);
    let secondary = env.wait_secondary(T);
    assert!(kill(primary, libc::SIGKILL));
    let _ = output_within(env.take_child(primary), T);
    assert!(wait_gone(secondary, Duration::from_secs(5)));
    // From a runtime directory that does not even exist: skipped with the reason, and
    // nothing made there.
    let missing = env.tmp.path().join("missing");
    let mut cmd = env.cmd("cleanup");
    cmd.env("OSPS_RUNTIME_DIR", &missing).arg("--json");
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_skipped_as_elsewhere(&parse_json(&out.stdout), &env.name);
    assert!(env.shm_path().exists(), "the segment was removed");
    assert!(!missing.exists(), "{} was made", missing.display());
    // The rule is in --help, as in the man page.
    let mut cmd = env.cmd("cleanup");
    cmd.arg("--help");
    let out = run(cmd, T);
    let help = stdout_of(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        help.contains("skipped with that reason unless --name names it"),
        "{help}"
    );
    let mut cmd = env.cmd("cleanup");
    cmd.args(["--name", &env.name]);
    assert!(run(cmd, T).status.success());
    env.assert_no_leftovers();
}

/// A program that is not osps, whose arguments read as `cleanup --name NAME` (Python
/// running a script file named `cleanup`), holding a file it put at the lock path of a
/// running instance: stop must not take it for an `osps cleanup` removing the instance
/// ("being removed ...; nothing to stop", exit 0, the primary left running), but say who
/// holds the lock and who the primary is, and signal neither.
#[test]
fn stop_does_not_take_a_stranger_reading_as_cleanup_for_an_osps_cleanup() {
    let mut env = TestEnv::new("fakecleanup-stop");
    let (p, s) = start(&mut env);
    let script_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        script_dir.path().join("cleanup"),
        "import fcntl, os, sys\n\
         tmp = os.environ['HOLD'] + '.new'\n\
         f = open(os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), 'r+')\n\
         fcntl.lockf(f, fcntl.LOCK_EX)\n\
         os.rename(tmp, os.environ['HOLD'])\n\
         print('locked', flush=True)\n\
         sys.stdin.read()\n",
    )
    .unwrap();
    let mut stranger = Command::new("python3")
        .args(["cleanup", "--name", &env.name])
        .current_dir(script_dir.path())
        .env("HOLD", env.lock_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(stranger.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    let mut cmd = env.cmd("stop");
    cmd.arg(&env.name);
    let out = run(cmd, T);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{}{err}", stdout_of(&out));
    assert!(!err.contains("being removed"), "{err}");
    assert!(
        err.contains(&format!("held by process {} (", stranger.id()))
            && err.contains("which is not osps")
            && err.contains(&format!("is process {p}")),
        "{err}"
    );
    assert_undisturbed(&env, p, s);
    drop(stranger.stdin.take());
    let _ = wait_child(&mut stranger, T);
    stop(&mut env, p);
    std::fs::remove_file(env.lock_path()).unwrap();
    env.assert_no_leftovers();
}

/// A crashed instance's lock file whose holder is on its way out: its main thread has
/// exited (a zombie, its command line empty) while another thread keeps the lock for
/// 400ms more, as a process lets go of its files after its memory. A new primary waits
/// for it, then recovers the name and runs. It used to take the holder for gone, look at
/// the lock again 50 times within milliseconds, and fail: "the lock file ... kept
/// appearing and disappearing".
#[test]
fn a_primary_waits_for_a_lock_holder_on_its_way_out() {
    let mut env = TestEnv::new("exitingholder");
    env.make_runtime_dir();
    let script = "import ctypes, fcntl, os, platform, sys, threading, time\n\
                  f = open(os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), 'r+')\n\
                  fcntl.lockf(f, fcntl.LOCK_EX)\n\
                  def rest():\n    time.sleep(0.4)\n    os._exit(0)\n\
                  threading.Thread(target=rest).start()\n\
                  print('locked', flush=True)\n\
                  nr = {'x86_64': 60, 'aarch64': 93}[platform.machine()]\n\
                  ctypes.CDLL(None).syscall(nr, 0)\n";
    let mut holder = Command::new("python3")
        .args(["-c", script])
        .arg(env.lock_path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    let deadline = Instant::now() + T;
    while !is_zombie(holder.id()) {
        assert!(
            Instant::now() < deadline,
            "the holder's main thread never exited"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let (p, _) = start(&mut env);
    let err = stop(&mut env, p);
    assert!(!err.contains("kept appearing"), "{err}");
    let _ = wait_child(&mut holder, T);
    env.assert_nothing_left();
}
