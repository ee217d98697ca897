//! The operator's views with the real binary: `osps list` (table, `-o`, `-n`, `--json`
//! against schema/list.schema.json), the exit codes of `osps status`, `osps stop` of
//! running, stopped (SIGSTOP), stale and absent instances and `--all`, `osps top --json`,
//! and `osps completions` / `osps man` printing exactly the checked-in files.
//!
//! Several instances share one private runtime directory by giving later `TestEnv`s the
//! first one's `runtime_dir`; each `TestEnv` still cleans up its own instance. `list`
//! also shows this user's other segments in /dev/shm (other tests' instances), so rows
//! are picked by name.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    Logged, TestEnv, kill, osps_bin, process_alive, run, stderr_of, stdout_of, wait_gone,
};

const T: Duration = Duration::from_secs(30);

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn validate(schema_file: &str, doc: &serde_json::Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(schema_file);
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:#?}\n{doc:#}");
}

fn validate_list(doc: &serde_json::Value) {
    validate("list.schema.json", doc);
    // An object with its version, like every JSON document of osps (was a bare array).
    assert_eq!(doc["schema_version"], 2, "{doc}");
}

/// Another instance in `first`'s runtime directory.
fn sibling(first: &TestEnv, tag: &str) -> TestEnv {
    let mut env = TestEnv::new(tag);
    env.runtime_dir = first.runtime_dir.clone();
    env
}

fn osps(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let mut cmd = env.cmd(args[0]);
    cmd.args(&args[1..]);
    run(cmd, T)
}

/// The row of `name` in `osps list --json` output.
fn row<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let rows = &doc["instances"];
    rows.as_array()
        .unwrap_or_else(|| panic!("no instances[] in {doc:#}"))
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {rows:#}"))
}

/// Makes `env`'s instance stale: its primary killed, its secondary gone by itself.
fn make_stale(env: &mut TestEnv) {
    let primary = env.start_primary(&["--interval", "50ms"]);
    let secondary = env.wait_secondary(T);
    assert!(kill(primary, libc::SIGKILL));
    let mut child = env.take_child(primary);
    child.wait().unwrap();
    assert!(
        wait_gone(secondary, T),
        "the orphaned secondary did not exit"
    );
}

#[test]
fn list_without_instances_prints_its_headings_and_exits_0() {
    let env = TestEnv::new("listnone");
    let out = osps(&env, &["list"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    let first = text.lines().next().unwrap_or_default();
    let headings: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(
        headings,
        [
            "NAME",
            "STATUS",
            "MODE",
            "PRIMARY",
            "SECONDARIES",
            "ROUNDS/REQUESTS",
            "RESTARTS",
            "AGE",
            "HEARTBEAT"
        ]
    );
    assert!(!text.contains(&env.name));
    let out = osps(&env, &["ls", "--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    validate_list(&json(&out.stdout));
    let out = osps(&env, &["list", "-o", "help"]);
    assert!(out.status.success());
    assert!(stdout_of(&out).contains("HEARTBEAT"), "{}", stdout_of(&out));
    let out = osps(&env, &["list", "-o", "name,bogus"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("-o help"), "{}", stderr_of(&out));
}

#[test]
fn list_shows_running_stale_and_serving_instances() {
    let mut rounds = TestEnv::new("listrounds");
    let mut serving = sibling(&rounds, "listserve");
    let mut stale = sibling(&rounds, "liststale");
    let rounds_pid = rounds.start_primary(&["--interval", "20ms"]);
    let serving_pid = serving.start_primary(&["--serve", "--secondaries", "2"]);
    make_stale(&mut stale);
    rounds.wait_rounds(3, T);
    serving.wait_serving(T);

    let out = osps(&rounds, &["list", "--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let rows = json(&out.stdout);
    validate_list(&rows);
    let r = row(&rows, &rounds.name);
    assert_eq!(r["status"], "running");
    assert_eq!(r["mode"], "rounds");
    assert_eq!(r["primary"], rounds_pid);
    assert_eq!(r["secondaries"], serde_json::json!({"live": 1, "total": 1}));
    assert!(r["count"].as_u64().unwrap() >= 3, "{r}");
    assert!(r["heartbeat_age_ms"].as_u64().is_some(), "{r}");
    let s = row(&rows, &serving.name);
    assert_eq!(s["status"], "running");
    assert_eq!(s["mode"], "serve");
    assert_eq!(s["primary"], serving_pid);
    assert_eq!(s["secondaries"], serde_json::json!({"live": 2, "total": 2}));
    let d = row(&rows, &stale.name);
    assert_eq!(d["status"], "stale");
    assert_eq!(d["primary"], serde_json::Value::Null);
    assert_eq!(d["secondaries"]["live"], 0);

    // The table: one line each, in the same words.
    let out = osps(&rounds, &["list"]);
    let text = stdout_of(&out);
    let line = |name: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{text}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(
        line(&rounds.name)[1..5],
        ["running", "rounds", &rounds_pid.to_string(), "1/1"]
    );
    assert_eq!(
        line(&serving.name)[1..5],
        ["running", "serve", &serving_pid.to_string(), "2/2"]
    );
    assert_eq!(line(&stale.name)[1..5], ["stale", "rounds", "-", "0/1"]);
    assert!(text.starts_with("NAME "), "{text}");
    assert!(!text.contains('\x1b'), "colour in a pipe: {text:?}");

    // -o picks columns in its order, -n drops the headings, and JSON follows -o.
    let out = osps(&rounds, &["list", "-n", "-o", "status,name"]);
    let text = stdout_of(&out);
    assert!(!text.contains("NAME"), "{text}");
    let mine = text
        .lines()
        .find(|l| l.ends_with(&serving.name))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        mine.split_whitespace().collect::<Vec<_>>(),
        ["running", &serving.name]
    );
    let out = osps(&rounds, &["list", "--json", "-o", "NAME,requests"]);
    let rows = json(&out.stdout);
    validate_list(&rows);
    let keys: Vec<&String> = row(&rows, &serving.name)
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["count", "name"]);
}

/// An idle server is not a silent one: its primary beats every second, and the list's
/// heartbeat is the primary's, not the age of the last request a secondary took.
#[test]
fn an_idle_server_keeps_a_fresh_heartbeat() {
    let mut env = TestEnv::new("idlebeat");
    let pid = env.start_serving(&[]);
    let out = env.cmd("client").args(["PING"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    std::thread::sleep(Duration::from_millis(3500));
    let rows = json(&osps(&env, &["list", "--json"]).stdout);
    let r = row(&rows, &env.name);
    let age = r["heartbeat_age_ms"].as_u64().unwrap();
    // The secondary's last turn is 3.5 s old; the primary's beat at most about 1 s.
    assert!(age < 2000, "{r}");
    let out = osps(&env, &["status", &env.name]);
    let text = stdout_of(&out);
    assert!(text.contains("secondary 0 last turn"), "{text}");
    env.stop_serving(pid);
}

#[test]
fn status_exits_0_running_3_not_running_4_absent() {
    let mut running = TestEnv::new("statusrun");
    let mut stale = sibling(&running, "statusstale");
    let pid = running.start_primary(&["--interval", "20ms"]);
    running.wait_rounds(2, T);
    make_stale(&mut stale);

    let out = osps(&running, &["status", &running.name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(
        text.starts_with(&format!(
            "\u{25cf} {} - osps instance (rounds)",
            running.name
        )),
        "{text}"
    );
    assert!(text.contains("Status: running since "), "{text}");
    assert!(
        text.contains(&format!("Primary: {pid} osps primary")),
        "{text}"
    );
    assert!(text.contains(&format!("{}.lock", running.name)), "{text}");

    // Without NAME, OSPS_NAME says which (TestEnv sets it).
    let out = osps(&running, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));

    let out = osps(&stale, &["status", &stale.name]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    // When it was last alive and when it was made, apart (it said "stale since" its
    // creation).
    assert!(
        stdout_of(&out).contains("Status: stale; last seen alive ")
            && stdout_of(&out).contains("(last heartbeat)\n")
            && stdout_of(&out).contains("    Created: ")
            && !stdout_of(&out).contains("stale since"),
        "{}",
        stdout_of(&out)
    );
    assert!(
        stdout_of(&out).contains("osps cleanup --name"),
        "{}",
        stdout_of(&out)
    );

    let out = osps(&running, &["status", &format!("{}-absent", running.name)]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("no instance"),
        "{}",
        stderr_of(&out)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn stop_stops_a_running_instance_in_order_and_leaves_nothing() {
    let mut env = TestEnv::new("stoprun");
    let pid = env.start_primary(&["--interval", "20ms"]);
    let secondary = env.wait_secondary(T);
    env.wait_rounds(2, T);
    let out = osps(&env, &["stop", &env.name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains(&format!("primary {pid} exited in order")),
        "{}",
        stderr_of(&out)
    );
    let primary = common::output_within(env.take_child(pid), T);
    assert!(primary.status.success(), "{}", stderr_of(&primary));
    // The primary reaped its secondary before it exited: its summary has the status.
    assert!(
        stdout_of(&primary).contains(&format!("secondary: pid {secondary}, exit status 0")),
        "{}",
        stdout_of(&primary)
    );
    assert!(!process_alive(secondary));
    env.assert_no_leftovers();
    assert!(!env.shm_path().exists());
}

/// A FIFO of a running instance replaced by a symlink: the primary stops in order and
/// leaves the symlink (not its own) in place; stop must say so, not send the user to a
/// cleanup that would leave it too.
#[test]
fn stop_of_an_instance_with_a_foreign_symlink_at_a_fifo_path_says_what_to_move_away() {
    let mut env = TestEnv::new("stopforeign");
    let pid = env.start_primary(&["--interval", "20ms"]);
    env.wait_secondary(T);
    env.wait_rounds(2, T);
    let canary = env.tmp.path().join("canary");
    std::fs::write(&canary, b"precious").unwrap();
    let p2s = env.p2s_path();
    std::fs::remove_file(&p2s).unwrap();
    std::os::unix::fs::symlink(&canary, &p2s).unwrap();
    let out = osps(&env, &["stop", &env.name]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("what it did not make is still at its paths")
            && err.contains(&format!("{} is a symbolic link", p2s.display()))
            && err.contains("move it away"),
        "{err}"
    );
    assert!(!err.contains("remove them with `osps cleanup"), "{err}");
    let primary = common::output_within(env.take_child(pid), T);
    assert!(primary.status.success(), "{}", stderr_of(&primary));
    assert_eq!(std::fs::read(&canary).unwrap(), b"precious");
    std::fs::remove_file(&p2s).unwrap();
    env.assert_no_leftovers();
}

#[test]
fn stop_of_a_stopped_primary_fails_after_the_timeout_and_kill_removes_everything() {
    let mut env = TestEnv::new("stopsig");
    let pid = env.start_primary(&["--interval", "20ms"]);
    let secondary = env.wait_secondary(T);
    assert!(kill(pid, libc::SIGSTOP));
    let started = Instant::now();
    let out = osps(&env, &["stop", "--timeout", "300ms", &env.name]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(
        stderr_of(&out).contains(&pid.to_string()),
        "{}",
        stderr_of(&out)
    );
    assert!(stderr_of(&out).contains("--kill"), "{}", stderr_of(&out));
    assert!(
        process_alive(pid),
        "the primary must still be there without --kill"
    );

    let out = osps(&env, &["stop", "--timeout", "300ms", "--kill", &env.name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let mut child = env.take_child(pid);
    let status = common::wait_child(&mut child, T);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    assert!(wait_gone(secondary, T));
    env.assert_no_leftovers();
}

/// A stale instance with something that is not an osps lock file at its lock file's path
/// (a directory, a FIFO, a socket, a symlink, a file of another mode): status names it
/// foreign, as it names a foreign object at a FIFO's path, not `lock (not held)`; inspect
/// says why in `lock.error`; cleanup skips the instance and leaves the object in place.
#[test]
fn status_names_a_foreign_object_at_the_lock_path_foreign_as_inspect_and_cleanup_see_it() {
    use std::os::unix::fs::PermissionsExt;
    for (plant, kind) in [
        ("directory", "directory"),
        ("fifo", "FIFO"),
        ("socket", "socket"),
        ("symlink", "symbolic link"),
        ("file 0644", "regular file"),
    ] {
        let mut env = TestEnv::new("lockforeign");
        make_stale(&mut env);
        let lock = env.lock_path();
        std::fs::remove_file(&lock).unwrap();
        let _socket = match plant {
            "directory" => {
                std::fs::create_dir(&lock).unwrap();
                None
            }
            "fifo" => {
                common::mkfifo(&lock, 0o600);
                None
            }
            "socket" => Some(std::os::unix::net::UnixListener::bind(&lock).unwrap()),
            "symlink" => {
                std::os::unix::fs::symlink(env.tmp.path().join("elsewhere"), &lock).unwrap();
                None
            }
            _ => {
                std::fs::write(&lock, b"12345\n").unwrap();
                std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o644)).unwrap();
                None
            }
        };
        let out = osps(&env, &["status", &env.name]);
        assert_eq!(out.status.code(), Some(3), "{plant}: {}", stderr_of(&out));
        let text = stdout_of(&out);
        let lock_line = text
            .lines()
            .find(|l| l.contains(&*lock.to_string_lossy()) && !l.contains("Warnings"))
            .unwrap_or_else(|| panic!("{plant}: no line for {}:\n{text}", lock.display()));
        let what = lock_line
            .split_once(&*lock.to_string_lossy())
            .map_or("", |(_, w)| w.trim_start());
        assert_eq!(
            what,
            format!("foreign {kind} at the path of the lock file"),
            "{plant}: {text}"
        );
        assert!(text.contains("until you move that away"), "{plant}: {text}");
        let doc = json(&osps(&env, &["inspect", "--name", &env.name]).stdout);
        assert!(
            doc["instances"][0]["lock"]["error"].is_string(),
            "{plant}: {doc}"
        );
        // Named, an instance cleanup must leave alone for what is not osps's is a
        // failure, with the path and what to do; a sweep skips it.
        let out = osps(&env, &["cleanup", "--name", &env.name]);
        assert_eq!(out.status.code(), Some(1), "{plant}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains(&*lock.to_string_lossy()),
            "{plant}: {}",
            stderr_of(&out)
        );
        let out = osps(&env, &["cleanup"]);
        assert_eq!(out.status.code(), Some(0), "{plant}: {}", stderr_of(&out));
        assert!(
            stdout_of(&out)
                .lines()
                .any(|l| l.starts_with(&format!("skipped {}: ", env.name))),
            "{plant}: {}",
            stdout_of(&out)
        );
        assert!(
            std::fs::symlink_metadata(&lock).is_ok(),
            "{plant}: cleanup removed it"
        );
    }
}

/// A stale instance with a file that is not osps's at a FIFO's path: cleanup leaves the
/// whole instance alone, so neither status nor stop may promise that cleanup removes it;
/// they say what to move away first.
#[test]
fn status_and_stop_of_a_stale_instance_with_a_foreign_file_say_to_move_it_first() {
    let mut env = TestEnv::new("statusforeign");
    make_stale(&mut env);
    let p2s = env.p2s_path();
    std::fs::remove_file(&p2s).unwrap();
    std::fs::write(&p2s, b"not osps").unwrap();
    std::fs::set_permissions(&p2s, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = osps(&env, &["status", &env.name]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(
        text.contains("not made by osps") && text.contains("until you move that away"),
        "{text}"
    );
    assert!(!text.contains("remove what it left with"), "{text}");
    // The object is listed as what it is, as inspect's `type` and `is_fifo` say, not as
    // a FIFO.
    let p2s_line = text
        .lines()
        .find(|l| l.contains(&*p2s.to_string_lossy()))
        .unwrap_or_else(|| panic!("no line for {}:\n{text}", p2s.display()));
    let what = p2s_line
        .split_once(&*p2s.to_string_lossy())
        .map_or("", |(_, w)| w.trim_start());
    assert!(
        what.starts_with("foreign regular file at the path of fifo 0 p2s"),
        "{text}"
    );
    // Cleanup of that name fails saying so (it is left alone, the user must act).
    let out = osps(&env, &["cleanup", "--name", &env.name]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains(&*p2s.to_string_lossy()),
        "{}",
        stderr_of(&out)
    );
    // Nor does stop send the user to that cleanup.
    let out = osps(&env, &["stop", &env.name]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("not all osps's") && err.contains("once that is moved away"),
        "{err}"
    );
    assert!(!err.contains("remove what it left with"), "{err}");
    // Once it is moved away, the same cleanup removes the rest, as the hint says.
    std::fs::remove_file(&p2s).unwrap();
    let out = osps(&env, &["cleanup", "--name", &env.name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).starts_with("removed "),
        "{}",
        stdout_of(&out)
    );
    env.assert_no_leftovers();
}

#[test]
fn stop_of_a_stale_instance_says_cleanup_and_of_an_absent_one_exits_4() {
    let mut env = TestEnv::new("stopstale");
    make_stale(&mut env);
    let out = osps(&env, &["stop", &env.name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("not running (stale)"),
        "{}",
        stderr_of(&out)
    );
    assert!(
        stderr_of(&out).contains("osps cleanup"),
        "{}",
        stderr_of(&out)
    );
    assert!(
        env.shm_path().exists(),
        "stop must not clean up a stale instance"
    );

    let out = osps(&env, &["stop", &format!("{}-absent", env.name)]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
}

#[test]
fn stop_all_stops_every_running_instance_of_the_runtime_directory() {
    let mut a = TestEnv::new("stopalla");
    let mut b = sibling(&a, "stopallb");
    let pa = a.start_primary(&["--interval", "20ms"]);
    let pb = b.start_primary(&["--serve", "--secondaries", "2"]);
    a.wait_rounds(1, T);
    b.wait_serving(T);
    let out = osps(&a, &["stop", "--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    for (env, pid) in [(&mut a, pa), (&mut b, pb)] {
        let out = common::output_within(env.take_child(pid), T);
        assert!(out.status.success(), "{}", stderr_of(&out));
        assert!(!env.shm_path().exists());
    }
    a.assert_no_leftovers();
    // --all and a NAME contradict each other.
    let out = osps(&a, &["stop", "--all", &a.name]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
}

#[test]
fn top_json_prints_one_document_per_interval_with_rates_from_the_counters() {
    let mut env = TestEnv::new("topjson");
    env.start_primary(&["--interval", "10ms"]);
    env.wait_rounds(2, T);
    let out = osps(
        &env,
        &[
            "top",
            "--json",
            "--iterations",
            "3",
            "--interval",
            "200ms",
            "--name",
            &env.name,
        ],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let docs: Vec<serde_json::Value> = stdout_of(&out)
        .lines()
        .map(|l| json(l.as_bytes()))
        .collect();
    assert_eq!(docs.len(), 3, "{}", stdout_of(&out));
    for (i, doc) in docs.iter().enumerate() {
        validate("top.schema.json", doc);
        // 2: the keys of inspect (`secondaries`, `heartbeat_age_ms`; were `workers`,
        // `heartbeat_ms`).
        assert_eq!(doc["schema_version"], 2);
        assert_eq!(doc["instances"].as_array().unwrap().len(), 1, "{doc}");
        let instance = &doc["instances"][0];
        assert_eq!(instance["name"], env.name.as_str());
        assert!(instance["heartbeat_age_ms"].as_u64().is_some(), "{doc}");
        assert_eq!(instance["secondaries"][0]["index"], 0, "{doc}");
        // The first document comes at once: nothing to compute a rate from yet.
        if i == 0 {
            assert!(instance["rate"].is_null(), "{doc}");
        } else {
            assert!(instance["rate"].as_f64().unwrap() > 0.0, "{doc}");
        }
    }
    for pair in docs.windows(2) {
        let count = |d: &serde_json::Value| d["instances"][0]["count"].as_u64().unwrap();
        let at = |d: &serde_json::Value| d["monotonic_ns"].as_u64().unwrap();
        let expected = (count(&pair[1]) - count(&pair[0])) as f64
            / ((at(&pair[1]) - at(&pair[0])) as f64 / 1e9);
        let rate = pair[1]["instances"][0]["rate"].as_f64().unwrap();
        assert!(
            (rate - expected).abs() <= 1e-9 * expected.max(1.0),
            "{rate} vs {expected}"
        );
        assert!(at(&pair[1]) - at(&pair[0]) >= 200_000_000);
    }
}

#[test]
fn top_json_prints_its_first_document_at_once() {
    let mut env = TestEnv::new("topfirst");
    env.start_primary(&["--interval", "10ms"]);
    env.wait_rounds(1, T);
    let started = Instant::now();
    let args = ["top", "--json", "--iterations", "1", "--interval", "10s"];
    let out = osps(&env, &[&args[..], &["--name", &env.name]].concat());
    // It was printed after one --interval (10 s here).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = json(stdout_of(&out).trim().as_bytes());
    validate("top.schema.json", &doc);
    assert_eq!(doc["instances"][0]["name"], env.name.as_str());
}

/// A refused runtime directory (mode 0777) leaves only /dev/shm to survey: top --json
/// says so on stderr, once, as list and inspect do, instead of showing its instances as
/// stale or partial without a word.
#[test]
fn top_json_warns_once_that_the_runtime_dir_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = TestEnv::new("top777");
    let pid = env.start_primary(&["--interval", "20ms"]);
    env.wait_secondary(T);
    std::fs::set_permissions(&env.runtime_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let args = ["top", "--json", "--iterations", "3", "--interval", "10ms"];
    let out = osps(&env, &[&args[..], &["--name", &env.name]].concat());
    std::fs::set_permissions(&env.runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(stdout_of(&out).lines().count(), 3);
    assert_eq!(err.matches("mode 0777").count(), 1, "{err}");
    assert!(
        err.contains(&format!("chmod 700 {}", env.runtime_dir.display())),
        "{err}"
    );
    let out = osps(&env, &["stop", &env.name]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(wait_gone(pid, T));
    let _ = env.take_child(pid).wait();
    env.assert_no_leftovers();
}

#[test]
fn color_always_colours_list_and_status_even_in_a_pipe_and_no_color_is_honoured() {
    let mut env = TestEnv::new("colorpipe");
    env.start_primary(&["--interval", "20ms"]);
    env.wait_rounds(1, T);
    let coloured = |out: &std::process::Output| stdout_of(out).contains("\x1b[");
    for args in [vec!["list"], vec!["status", &env.name]] {
        // --color always had no effect on stdout (only on stderr).
        let always = osps(&env, &[&args[..], &["--color", "always"]].concat());
        assert!(coloured(&always), "{args:?}: {:?}", stdout_of(&always));
        let mut cmd = env.cmd(args[0]);
        cmd.args(&args[1..]).env("OSPS_COLOR", "always");
        assert!(coloured(&run(cmd, T)), "{args:?} with OSPS_COLOR=always");
        for (color, no_color) in [("never", ""), ("auto", "1")] {
            let mut cmd = env.cmd(args[0]);
            cmd.args(&args[1..])
                .args(["--color", color])
                .env("NO_COLOR", no_color);
            let out = run(cmd, T);
            assert!(out.status.success(), "{}", stderr_of(&out));
            assert!(
                !coloured(&out),
                "{args:?} --color {color}: {:?}",
                stdout_of(&out)
            );
        }
    }
}

#[test]
fn top_without_a_terminal_or_json_says_to_use_json() {
    let env = TestEnv::new("topnotty");
    let out = osps(&env, &["top"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("--json"), "{}", stderr_of(&out));
}

#[test]
fn completions_and_man_print_exactly_the_checked_in_files() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let print = |args: &[&str]| {
        let mut cmd = Command::new(osps_bin());
        cmd.args(args).env("NO_COLOR", "1");
        let out = run(cmd, T);
        assert!(out.status.success(), "osps {args:?}: {}", stderr_of(&out));
        out.stdout
    };
    for (shell, file) in [
        ("bash", "osps.bash"),
        ("zsh", "_osps"),
        ("fish", "osps.fish"),
        ("elvish", "osps.elv"),
        ("powershell", "_osps.ps1"),
    ] {
        let want = std::fs::read(repo.join("completions").join(file)).unwrap();
        assert!(
            print(&["completions", shell]) == want,
            "osps completions {shell} differs from completions/{file}"
        );
    }
    let mut pages = 0;
    for entry in std::fs::read_dir(repo.join("man")).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let want = std::fs::read(&path).unwrap();
        let got = match file
            .strip_prefix("osps-")
            .and_then(|f| f.strip_suffix(".1"))
        {
            Some(sub) => print(&["man", sub]),
            None => print(&["man"]),
        };
        assert!(got == want, "osps man differs from man/{file}");
        pages += 1;
    }
    assert!(pages >= 12, "{pages} pages");
    // The root page renders cleanly straight from the binary.
    let page = print(&["man"]);
    let mut groff = Command::new("groff")
        .args(["-man", "-Tutf8", "-wall"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("groff is needed (Debian: groff-base)");
    use std::io::Write;
    groff.stdin.take().unwrap().write_all(&page).unwrap();
    let out = common::output_within(groff, T);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "groff: {}",
        stderr_of(&out)
    );
}

/// The candidates bash offers for `words` (the last is the one being completed), from the
/// checked-in completions/osps.bash.
fn bash_complete(words: &[&str]) -> Vec<String> {
    let script = r#"
source "$1" || exit 1
shift
spec=$(complete -p osps) || exit 1
fn=${spec##*-F }
fn=${fn%% *}
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
"$fn" osps "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let mut cmd = Command::new("bash");
    cmd.args(["--norc", "--noprofile", "-c", script, "bash"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/osps.bash"))
        .args(words);
    let out = run(cmd, T);
    assert!(out.status.success(), "bash: {}", stderr_of(&out));
    stdout_of(&out)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn bash_completes_instance_names_for_status_stop_and_top() {
    let mut env = TestEnv::new("complviews");
    env.start_primary(&["--interval", "50ms"]);
    env.wait_rounds(1, T);
    let prefix = &env.name[..env.name.len() - 1];
    for words in [
        vec!["osps", "status", prefix],
        vec!["osps", "stop", prefix],
        vec!["osps", "top", "--name", prefix],
    ] {
        let got = bash_complete(&words);
        assert_eq!(got, [env.name.clone()], "{words:?}");
    }
    // `osps <TAB>` offers the new subcommands and not the hidden secondary.
    let subs = bash_complete(&["osps", ""]);
    for sub in ["list", "ls", "status", "stop", "top", "completions", "man"] {
        assert!(subs.iter().any(|s| s == sub), "{sub} missing: {subs:?}");
    }
    assert!(!subs.iter().any(|s| s == "secondary"), "{subs:?}");
}

/// A runtime directory someone opened to everybody (chmod 777) is refused, but that is
/// no reason to say the lock file is missing, nor to leave the instance unstoppable:
/// stop finds and checks the primary through /proc, as when the directory is gone.
#[test]
fn stop_works_and_inspect_invents_nothing_when_the_runtime_dir_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = TestEnv::new("dir777");
    let pid = env.start_primary(&[]);
    env.wait_secondary(T);
    std::fs::set_permissions(&env.runtime_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = osps(&env, &["inspect", "--name", &env.name]);
    let doc = json(&out.stdout);
    assert_eq!(doc["instances"][0]["status"], "running", "{doc}");
    assert_eq!(
        doc["instances"][0]["warnings"],
        serde_json::json!([]),
        "{doc}"
    );
    assert!(stderr_of(&out).contains("mode 0777"), "{}", stderr_of(&out));
    let out = osps(&env, &["stop", &env.name]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(wait_gone(pid, T));
    let _ = env.take_child(pid).wait();
    std::fs::set_permissions(&env.runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    env.assert_no_leftovers();
}

/// The instance of `env`, started as `p`, is running for status (exit 0) and inspect (no
/// warning), and `osps stop` ends it in order, leaving nothing behind.
fn assert_running_without_warnings_then_stopped(env: &mut TestEnv, p: &Logged) {
    let out = osps(env, &["status", &env.name]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_of(&out));
    let out = osps(env, &["inspect", "--name", &env.name]);
    let doc = json(&out.stdout);
    assert_eq!(
        doc["instances"][0]["warnings"],
        serde_json::json!([]),
        "{doc}"
    );
    let out = osps(env, &["stop", &env.name]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let done = env.finish_logged(p, T);
    assert!(done.status.success(), "{}", stderr_of(&done));
    env.assert_no_leftovers();
}

/// A primary started with a global option before its subcommand (`osps --color never
/// primary`) is recognised as the running primary: the value of --color was once taken
/// for the subcommand, and the instance was called stale and could not be stopped.
#[test]
fn a_primary_started_with_a_global_option_first_is_running_and_stoppable() {
    let mut env = TestEnv::new("globalopt");
    let mut cmd = env.cmd("--color");
    cmd.args(["never", "-q", "primary", "--interval", "100ms"]);
    let p = env.start_logged(cmd);
    env.wait_secondary(T);
    assert_running_without_warnings_then_stopped(&mut env, &p);
}

#[test]
fn a_primary_named_by_any_spelling_of_the_name_option_is_running_and_stoppable() {
    // Each start line names the instance its own way; `{}` stands for the name.
    for (i, spelling) in [
        "primary -n{}",
        "primary -n {}",
        "primary --name {}",
        "primary --name={}",
        "primary -qn {}",
        "primary -qn{}",
        "--color never primary -n{}",
        "-q primary --interval 100ms -n{}",
    ]
    .iter()
    .enumerate()
    {
        let env = TestEnv::new(&format!("spell{i}"));
        let mut cmd = Command::new(osps_bin());
        cmd.args(spelling.replace("{}", &env.name).split(' '))
            .env_remove("OSPS_NAME")
            .env("OSPS_RUNTIME_DIR", &env.runtime_dir)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
        let mut env = env;
        let p = env.start_logged(cmd);
        env.wait_secondary(T);
        let out = osps(&env, &["status", &env.name]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{spelling}: {}",
            stdout_of(&out)
        );
        let out = osps(&env, &["stop", &env.name]);
        assert!(out.status.success(), "{spelling}: {}", stderr_of(&out));
        let done = env.finish_logged(&p, T);
        assert!(done.status.success(), "{spelling}: {}", stderr_of(&done));
        env.assert_no_leftovers();
    }
}

#[test]
fn a_primary_started_from_a_renamed_copy_of_the_binary_is_listed_running_and_stoppable() {
    let mut env = TestEnv::new("renamed");
    let copy = env.tmp.path().join("x");
    // Copied by cp, not by us: a descriptor open for writing in this process would leak
    // into whatever another test thread forks meanwhile, and exec of the copy would fail
    // with ETXTBSY ("text file busy") while that child lives.
    let cp = Command::new("cp")
        .arg(osps_bin())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(cp.success(), "cp of the binary failed");
    let mut cmd = Command::new(&copy);
    cmd.args(["primary", "--interval", "50ms", "--name", &env.name])
        .env_remove("OSPS_NAME")
        .env("OSPS_RUNTIME_DIR", &env.runtime_dir)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    let p = env.start_logged(cmd);
    env.wait_secondary(T);
    env.wait_rounds(1, T);
    let out = osps(&env, &["list", "--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = json(&out.stdout);
    let r = row(&doc, &env.name);
    assert_eq!(r["status"], "running", "{r}");
    assert_running_without_warnings_then_stopped(&mut env, &p);
}
