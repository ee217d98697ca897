//! `osps primary --trace`: the timeline of both processes is complete, in causal order,
//! machine-readable with `--trace=json`, and `--hold-zombie` leaves a zombie that `ps`
//! (here: /proc/PID/stat) can see until the reap.

use crate::common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{TestEnv, output_within, process_exists, run, stderr_of};
use serde_json::Value;

const T: Duration = Duration::from_secs(60);

/// One traced event.
#[derive(Debug, Clone)]
struct Ev {
    t_us: u64,
    pid: u64,
    role: String,
    step: String,
    details: Value,
}

impl Ev {
    fn detail(&self, key: &str) -> &Value {
        &self.details[key]
    }

    fn path(&self) -> String {
        self.detail("path").as_str().unwrap_or_default().to_string()
    }
}

/// Parses stderr: every JSON line is an event; every other line is one of osps's own
/// messages (`osps[primary]: ...`).
fn events(stderr: &str) -> Vec<Ev> {
    let mut found = Vec::new();
    for line in stderr.lines() {
        if !line.starts_with('{') {
            assert!(
                line.starts_with("osps"),
                "a stderr line is neither a trace event nor an osps message: {line:?}"
            );
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a trace line is not JSON ({e}): {line}"));
        for key in ["t_us", "pid"] {
            assert!(v[key].is_u64(), "{key} is not a number: {line}");
        }
        assert!(v["details"].is_object(), "no details object: {line}");
        found.push(Ev {
            t_us: v["t_us"].as_u64().unwrap(),
            pid: v["pid"].as_u64().unwrap(),
            role: v["role"].as_str().unwrap().to_string(),
            step: v["step"].as_str().unwrap().to_string(),
            details: v["details"].clone(),
        });
    }
    found
}

/// The first event of `role` and `step` matching `pred`, with a message naming what is missing.
fn find<'a>(evs: &'a [Ev], role: &str, step: &str, pred: impl Fn(&Ev) -> bool) -> &'a Ev {
    evs.iter()
        .find(|e| e.role == role && e.step == step && pred(e))
        .unwrap_or_else(|| panic!("no {role} {step} event in {evs:#?}"))
}

/// The step names documented in osps-primary(1), section TRACE.
fn documented_steps() -> HashSet<String> {
    let man = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man/osps-primary.1"),
    )
    .unwrap();
    let section = &man[man
        .find(".SH TRACE")
        .expect("a TRACE section in osps-primary(1)")..];
    let section = &section[..section[4..].find(".SH ").map_or(section.len(), |i| i + 4)];
    section
        .lines()
        .filter_map(|l| l.strip_prefix("\\fB"))
        .filter_map(|l| l.strip_suffix("\\fR"))
        .map(|l| l.replace("\\_", "_"))
        .collect()
}

#[test]
fn a_json_trace_tells_the_whole_run_in_causal_order() {
    let env = TestEnv::new("tracejson");
    let mut cmd = env.cmd("primary");
    cmd.args(["--rounds", "3", "--trace=json"]);
    let out = run(cmd, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    env.assert_no_leftovers();
    let evs = events(&stderr_of(&out));

    // Every step is documented, and both processes speak.
    let documented = documented_steps();
    for e in &evs {
        assert!(
            documented.contains(&e.step),
            "step {:?} is not in osps-primary(1)",
            e.step
        );
    }
    let primary = find(&evs, "primary", "start", |_| true).pid;
    let fork = find(&evs, "primary", "fork", |_| true);
    let child = fork.detail("child").as_u64().unwrap();
    assert!(evs.iter().any(|e| e.role == "secondary" && e.pid == child));
    assert!(evs.iter().all(|e| e.pid == primary || e.pid == child));

    // The segment exists before the fork; the secondary starts after it.
    let shm = find(&evs, "primary", "shm_open", |_| true);
    assert!(
        shm.t_us <= fork.t_us,
        "shm_open after fork: {shm:?} {fork:?}"
    );
    assert_eq!(shm.detail("flags"), "O_RDWR|O_CREAT|O_EXCL");
    assert_eq!(shm.detail("mode"), "0600");
    let exec = find(&evs, "secondary", "execve", |_| true);
    assert!(fork.t_us <= exec.t_us);
    assert_eq!(exec.detail("ppid").as_u64(), Some(primary));

    // The handshake, then the first rounds, then the stop.
    let hello = find(&evs, "primary", "hello_received", |_| true);
    let ready = find(&evs, "primary", "ready_sent", |_| true);
    assert!(exec.t_us <= hello.t_us && hello.t_us <= ready.t_us);
    let rounds: Vec<u64> = evs
        .iter()
        .filter(|e| e.step == "round")
        .map(|e| e.detail("seq").as_u64().unwrap())
        .collect();
    assert_eq!(rounds, [1, 2, 3]);
    for e in evs.iter().filter(|e| e.step == "turn") {
        let waited = e.detail("waited").as_str().unwrap();
        assert!(waited == "spun" || waited == "slept", "{e:?}");
    }
    let stop = find(&evs, "primary", "stop_sent", |_| true);
    assert!(
        evs.iter()
            .filter(|e| e.step == "round")
            .all(|e| e.t_us <= stop.t_us)
    );

    // The secondary exits, then is seen as a zombie, then reaped; only then are the
    // objects removed.
    let exit = find(&evs, "secondary", "exit", |_| true);
    assert_eq!(exit.detail("status"), 0);
    let seen = find(&evs, "primary", "exit_seen", |e| {
        e.detail("pid").as_u64() == Some(child)
    });
    let reaped = find(&evs, "primary", "reaped", |e| {
        e.detail("pid").as_u64() == Some(child)
    });
    assert!(stop.t_us <= exit.t_us, "exit before stop: {exit:?}");
    assert!(exit.t_us <= seen.t_us && seen.t_us <= reaped.t_us);
    assert_eq!(seen.detail("state"), "Z");
    let zombie_us = reaped.detail("zombie_us").as_u64().expect("zombie_us");
    assert!(zombie_us <= reaped.t_us - exit.t_us);
    let unlinks: Vec<&Ev> = evs.iter().filter(|e| e.step == "unlink").collect();
    assert!(unlinks.iter().all(|u| reaped.t_us <= u.t_us));

    // Every object created is removed, the lock file last.
    let mut created: Vec<String> = evs
        .iter()
        .filter(|e| {
            e.role == "primary" && ["mkfifo", "shm_open", "lock_locked"].contains(&e.step.as_str())
        })
        .map(Ev::path)
        .collect();
    created.sort();
    let mut removed: Vec<String> = unlinks.iter().map(|e| e.path()).collect();
    assert_eq!(removed.last(), Some(&env.lock_path().display().to_string()));
    removed.sort();
    assert_eq!(created, removed);
    assert_eq!(created.len(), 4, "lock, segment and two FIFOs: {created:?}");
    assert_eq!(evs.last().unwrap().step, "exit");
}

#[test]
fn the_text_trace_has_one_aligned_line_per_event() {
    let env = TestEnv::new("tracetext");
    let mut cmd = env.cmd("primary");
    cmd.args(["--rounds", "2", "--sync", "fifo", "--trace"]);
    let out = run(cmd, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stderr_of(&out);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("osps")).collect();
    assert!(lines.len() > 30, "{text}");
    for l in &lines {
        // `   153 µs  primary      1234  step ...`: the time, µs, the role, the pid.
        let head = head_of(l).unwrap_or_else(|| panic!("short line {l:?}"));
        assert!(head.contains(" µs  "), "{l:?}");
        assert!(
            head.contains("primary") || head.contains("secondary 0"),
            "{l:?}"
        );
    }
    for step in [
        "shm_open",
        "fork",
        "execve",
        "exit_seen",
        "reaped",
        "unlink",
    ] {
        assert!(
            lines.iter().any(|l| step_of(l) == Some(step)),
            "no {step} line in:\n{text}"
        );
    }
    // The lab's design: every turn waits on the FIFO.
    assert!(
        lines
            .iter()
            .filter(|l| l.contains(" turn "))
            .all(|l| l.ends_with("waited=slept")),
        "{text}"
    );
}

/// The step of a text trace line: the word after the pid (`secondary 0` is two words).
fn step_of(line: &str) -> Option<&str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = if words.get(2) == Some(&"secondary") {
        5
    } else {
        4
    };
    words.get(at).copied()
}

/// The first 34 characters of a text trace line: time, role and pid.
fn head_of(line: &str) -> Option<&str> {
    line.char_indices().nth(34).map(|(i, _)| &line[..i])
}

#[test]
fn without_trace_nothing_is_traced_even_with_a_stray_variable() {
    let env = TestEnv::new("tracenone");
    let mut cmd = env.cmd("primary");
    // A variable left in the shell must not make the secondary trace on its own.
    cmd.args(["--rounds", "2"]).env("OSPS_TRACE", "json:1");
    let out = run(cmd, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stderr_of(&out);
    assert!(text.lines().all(|l| l.starts_with("osps")), "{text}");
}

#[test]
fn serving_is_traced_too() {
    let mut env = TestEnv::new("traceserve");
    let primary = env.start_primary(&["--serve", "--secondaries", "2", "--trace=json"]);
    env.wait_serving(T);
    let mut client = env.cmd("client");
    client.args(["PING", "REV abc"]);
    let reply = run(client, T);
    assert!(reply.status.success(), "{}", stderr_of(&reply));
    assert!(common::kill(primary, libc::SIGTERM));
    let out = output_within(env.take_child(primary), T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let evs = events(&stderr_of(&out));
    let listen = find(&evs, "primary", "listen", |_| true);
    assert_eq!(listen.path(), env.socket_path().display().to_string());
    assert_eq!(evs.iter().filter(|e| e.step == "request").count(), 2);
    assert_eq!(evs.iter().filter(|e| e.step == "reaped").count(), 2);
    let sock = env.socket_path().display().to_string();
    assert!(evs.iter().any(|e| e.step == "unlink" && e.path() == sock));
    env.assert_no_leftovers();
}

/// Reads /proc/PID/stat's state letter.
fn state_of(pid: u64) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[test]
fn hold_zombie_leaves_a_visible_zombie_until_the_reap() {
    let env = TestEnv::new("zombie");
    let mut child = env
        .cmd("primary")
        .args(["--rounds", "3", "--hold-zombie", "2s", "--trace=json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let primary = child.id();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut zombie = None;
    let mut said_so = false;
    let started = Instant::now();
    for line in stderr.lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        said_so |= line.contains("holding it as a zombie");
        if line.contains("\"zombie_hold\"") {
            let v: Value = serde_json::from_str(&line).unwrap();
            let pid = v["details"]["pid"].as_u64().unwrap();
            assert_eq!(v["details"]["state"], "Z", "{line}");
            // The hold lasts 2 s: read the state while it lasts (the reap cannot come
            // before this read unless the machine stalled for 2 s).
            let state = state_of(pid);
            let elapsed = started.elapsed();
            zombie = Some((pid, state));
            // Its parent is the primary: the zombie waits for that parent's waitpid.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .map(|(_, r)| r.split_whitespace().nth(1));
            assert_eq!(
                ppid,
                Some(Some(primary.to_string().as_str())),
                "{elapsed:?}"
            );
            // Named as the binary, not "exe" (it was executed as /proc/self/exe): `ps -C
            // osps` shows it, as "[osps] <defunct>" now.
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            assert_eq!(comm.trim(), "osps", "{elapsed:?}");
        }
        if line.contains("\"step\":\"exit\"") && line.contains("\"primary\"") {
            break;
        }
    }
    let status = common::wait_child(&mut child, T);
    assert!(status.success(), "{seen}");
    assert!(said_so, "no stderr line says it holds the zombie:\n{seen}");
    // The command it suggests is the one README and docs/LAB.md use: `s`, one letter, where
    // `stat` adds an `N` in a niced shell (`ZN`), so the `Z` they quote would not match.
    let hint = format!("ps -o pid,s,cmd --ppid {primary}");
    assert!(seen.contains(&hint), "no {hint:?} in:\n{seen}");
    let (pid, state) = zombie.unwrap_or_else(|| panic!("no zombie_hold event:\n{seen}"));
    assert_eq!(
        state,
        Some('Z'),
        "the secondary was not a zombie during the hold"
    );
    assert!(
        !process_exists(pid as u32),
        "secondary {pid} still exists after the reap"
    );
    let evs = events(&seen);
    let hold = find(&evs, "primary", "zombie_hold", |_| true);
    let reaped = find(&evs, "primary", "reaped", |_| true);
    assert!(reaped.t_us - hold.t_us >= 2_000_000, "{hold:?} {reaped:?}");
    assert!(reaped.detail("zombie_us").as_u64().unwrap() >= 2_000_000);
    env.assert_no_leftovers();
}

/// The man page suggests the same `ps` as the primary's hint, README and docs/LAB.md.
#[test]
fn the_hold_zombie_man_page_suggests_the_same_ps_as_readme_and_lab() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |file: &str| std::fs::read_to_string(root.join(file)).unwrap();
    for file in ["README.md", "docs/LAB.md"] {
        assert!(read(file).contains("ps -o pid,s,cmd --ppid"), "{file}");
    }
    let man = read("man/osps-primary.1");
    assert!(man.contains(r"ps \-o pid,s,cmd \-\-ppid"), "{man}");
    assert!(!man.contains("pid,stat,cmd"), "{man}");
}

/// A stop gives no time to a hold: `--hold-zombie` with `--serve` (or without `--rounds`)
/// used to say "holding it as a zombie for 10s before reaping it" and reap it at once.
#[test]
fn a_stop_that_skips_or_cuts_a_zombie_hold_says_so() {
    let mut env = TestEnv::new("zombie-stop");
    let mut cmd = env.cmd("primary");
    cmd.args(["--serve", "--hold-zombie", "10s"]);
    let serving = env.start_logged(cmd);
    env.wait_serving(T);
    let stop = run(env.cmd("stop"), T);
    assert_eq!(stop.status.code(), Some(0), "{}", stderr_of(&stop));
    let out = env.finish_logged(&serving, T);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("not holding it as a zombie for --hold-zombie 10s: a stop was requested"),
        "{err}"
    );
    assert!(
        !err.contains("holding it as a zombie for 10s before"),
        "{err}"
    );
    env.assert_nothing_left();
}
