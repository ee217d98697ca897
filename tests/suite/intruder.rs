//! A secondary started by hand against a live instance (an intruder) is refused before it
//! opens a FIFO or writes to the header, and the instance never notices: it completes its
//! rounds with exit 0, its secondary untouched. And the primary takes no hello but the one
//! of the secondary it forked, so even a foreign hello on its FIFO changes nothing.

use crate::common;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use common::{Logged, TestEnv, field, json_of, kill, process_alive, run, stderr_of};

/// Generous: the suite runs in parallel on a loaded two-core machine.
const T: Duration = Duration::from_secs(60);

fn primary(env: &mut TestEnv, args: &[&str]) -> Logged {
    let mut cmd = env.cmd("primary");
    cmd.args(args).arg("--json");
    env.start_logged(cmd)
}

/// Runs `osps secondary ARGS` by hand; asserts it was refused and returns its stderr.
fn intrude(env: &TestEnv, args: &[&str], needle: &str) -> String {
    let mut cmd = env.cmd("secondary");
    cmd.args(args);
    let out = run(cmd, T);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

/// Waits until `pid` is stopped (state `T` in /proc/PID/stat).
fn wait_stopped(pid: u32) {
    let deadline = std::time::Instant::now() + T;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let state = stat.rsplit_once(')').unwrap().1.trim_start().chars().next();
        if state == Some('T') {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pid} not stopped: {stat}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_secondary_started_by_hand_is_refused_and_the_instance_completes_its_rounds() {
    let mut env = TestEnv::new("intruder");
    // Long enough to be seen running: 3000 rounds of 64 bytes can be over before the
    // test first looks (every 5 ms) on a fast machine (0.3 µs a round), and then the
    // secondary is never seen up. 64 KiB rounds take tens of µs each, even there.
    const ROUNDS: u64 = 3000;
    let rounds = ROUNDS.to_string();
    let p = primary(&mut env, &["--rounds", &rounds, "--payload", "64K"]);
    let secondary = env.wait_secondary(T);
    env.wait_rounds(3, T);
    // Freeze the primary so the instance is certainly live (not finished) while the
    // intruder looks at it; a stopped process is a live one.
    assert!(kill(p.pid, libc::SIGSTOP));
    wait_stopped(p.pid);
    // A turn given just before the stop is answered within microseconds.
    std::thread::sleep(Duration::from_millis(100));
    let served = env.header_field(field::ROUNDS_SERVED);
    let err = intrude(
        &env,
        &[],
        &format!(
            "instance {} already has a live secondary, pid {secondary}, started by its \
             primary (pid {})",
            env.name, p.pid
        ),
    );
    assert!(err.contains("the instance runs on untouched"), "{err}");
    // Nothing was written to the header: the secondary's pid and counters are as they were.
    assert_eq!(
        env.header_field(field::SECONDARY_PID),
        Some(u64::from(secondary))
    );
    assert_eq!(env.header_field(field::ROUNDS_SERVED), served);
    assert!(kill(p.pid, libc::SIGCONT));

    let out = env.finish_logged(&p, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v = json_of(&out);
    assert_eq!(v["rounds"], ROUNDS, "{v}");
    assert_eq!(v["stopped_by"], "rounds", "{v}");
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["restarts"], 0, "{v}");
    assert_eq!(v["secondary_pid"], secondary, "{v}");
    assert_eq!(v["secondary_exit"], 0, "{v}");
    assert!(!stderr_of(&out).contains("warning"), "{}", stderr_of(&out));
    env.assert_no_leftovers();
}

#[test]
fn an_intruder_while_a_restart_is_pending_is_refused_and_the_primary_restarts_its_own() {
    let mut env = TestEnv::new("intrest");
    let p = primary(&mut env, &["--interval", "20ms", "--restart-backoff", "2s"]);
    let first = env.wait_secondary(T);
    env.wait_rounds(2, T);
    assert!(kill(first, libc::SIGKILL));
    // The primary reaps it and waits out its backoff before the restart.
    let deadline = std::time::Instant::now() + T;
    while !env
        .stderr_so_far(&p)
        .contains(&format!("secondary {first} "))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            env.stderr_so_far(&p)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    intrude(
        &env,
        &[],
        &format!(
            "instance {} is running (primary pid {}) and only its primary starts its \
             secondary (a restart may be pending)",
            env.name, p.pid
        ),
    );
    // The restart after the backoff is the primary's own child, and rounds go on.
    let deadline = std::time::Instant::now() + T;
    let second = loop {
        let pid = env.header_field(field::SECONDARY_PID).unwrap_or(0) as u32;
        let state = env.header_field(field::SECONDARY_STATE);
        if pid != 0 && pid != first && matches!(state, Some(2 | 3)) {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "no restart");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(common::children_of(p.pid).contains(&second));
    let after = env.header_field(field::ROUNDS_COMPLETED).unwrap();
    env.wait_rounds(after + 3, T);
    assert!(kill(p.pid, libc::SIGTERM));
    let out = env.finish_logged(&p, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v = json_of(&out);
    assert_eq!(v["restarts"], 1, "{v}");
    assert_eq!(v["secondary_pid"], second, "{v}");
    assert_eq!(v["secondary_exit"], 0, "{v}");
    env.assert_no_leftovers();
}

#[test]
fn an_intruder_in_a_serving_pool_is_refused_and_serving_goes_on() {
    let mut env = TestEnv::new("intrpool");
    let p = primary(&mut env, &["--serve", "--secondaries", "2"]);
    env.wait_serving(T);
    let pids: Vec<u32> = (0..2).map(|i| env.wait_worker_up(i, None, T)).collect();
    for (i, pid) in pids.iter().enumerate() {
        let index = i.to_string();
        intrude(
            &env,
            &["--serve", "--index", &index],
            &format!("already has a live secondary, pid {pid}, started by its primary"),
        );
    }
    let mut s = std::os::unix::net::UnixStream::connect(env.socket_path()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(b"PING\nPING\nPING\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut replies = String::new();
    std::io::Read::read_to_string(&mut s, &mut replies).unwrap();
    assert_eq!(replies, "PONG\nPONG\nPONG\n");
    assert!(kill(p.pid, libc::SIGTERM));
    let out = env.finish_logged(&p, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v = json_of(&out);
    assert_eq!(v["restarts"], 0, "{v}");
    assert_eq!(v["deaths"], serde_json::json!([]), "{v}");
    env.assert_no_leftovers();
}

#[test]
fn a_foreign_hello_on_the_primary_fifo_is_ignored_with_a_warning() {
    // What an intruder that skips the check (an older osps) would send: the primary
    // takes only the hello of the pid it forked, and runs on.
    let mut env = TestEnv::new("strayhello");
    let p = primary(&mut env, &["--interval", "20ms", "--sync", "fifo"]);
    let secondary = env.wait_secondary(T);
    env.wait_rounds(2, T);
    let mut frame = [0u8; 16];
    frame[..2].copy_from_slice(&0x0F5Au16.to_le_bytes());
    frame[2] = 1; // version
    frame[3] = 1; // Hello
    frame[4..8].copy_from_slice(&4_000_000u32.to_le_bytes());
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(env.s2p_path())
        .unwrap();
    fifo.write_all(&frame).unwrap();
    drop(fifo);
    let after = env.header_field(field::ROUNDS_COMPLETED).unwrap();
    env.wait_rounds(after + 5, T);
    assert!(process_alive(p.pid) && process_alive(secondary));
    assert!(kill(p.pid, libc::SIGTERM));
    let out = env.finish_logged(&p, T);
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("ignored a hello from pid 4000000"),
        "the stray hello is reported: {err}"
    );
    let v = json_of(&out);
    assert_eq!(v["restarts"], 0, "{v}");
    assert_eq!(v["secondary_pid"], secondary, "{v}");
    assert_eq!(v["secondary_exit"], 0, "{v}");
    env.assert_no_leftovers();
}
