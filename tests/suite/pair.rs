//! The core pair end to end, with the real binary: a run leaves nothing behind, signals
//! stop both sides in order, a dead side is noticed, bad input is refused before any
//! object is made, and planted objects are refused without touching what they point to.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::{
    T, TestEnv, field, json_of, kill, output_within, process_alive, run, slow, stderr_of,
    stdout_of, wait_gone,
};

#[test]
fn a_run_with_rounds_verifies_every_round_and_leaves_nothing() {
    for sync in ["fifo", "adaptive"] {
        let env = TestEnv::new("rounds");
        let mut cmd = env.cmd("primary");
        cmd.args([
            "--rounds",
            "2000",
            "--payload",
            "1000",
            "--size",
            "64K",
            "--json",
            "--sync",
            sync,
        ]);
        let out = run(cmd, T);
        assert!(out.status.success(), "{sync}: {}", stderr_of(&out));
        let v = json_of(&out);
        assert_eq!(v["rounds"], 2000, "{v}");
        assert_eq!(v["payload_bytes"], 1000);
        assert_eq!(v["errors"], 0);
        assert_eq!(v["secondary_exit"], 0);
        assert_eq!(v["stopped_by"], "rounds");
        assert_eq!(v["sync"], sync);
        for key in ["p50", "p99", "max"] {
            assert!(v["latency_ns"][key].as_u64().unwrap() > 0, "{key}: {v}");
        }
        assert!(v["latency_ns"]["p50"].as_u64() <= v["latency_ns"]["p99"].as_u64());
        assert!(v["latency_ns"]["p99"].as_u64() <= v["latency_ns"]["max"].as_u64());
        // The secondary was reaped by the primary: no zombie, no orphan.
        let secondary = v["secondary_pid"].as_u64().unwrap() as u32;
        assert!(
            !common::is_zombie(secondary),
            "secondary {secondary} is a zombie after the primary ended"
        );
        assert!(common::pids_with_arg(&env.name).is_empty());
        env.assert_no_leftovers();
    }
}

#[test]
fn the_plain_summary_names_rounds_and_latency() {
    let env = TestEnv::new("plain");
    let mut cmd = env.cmd("primary");
    cmd.args(["--rounds", "10"]);
    let out = run(cmd, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(text.contains("10 rounds of 64 bytes"), "{text}");
    assert!(text.contains("p50") && text.contains("p99"), "{text}");
    env.assert_no_leftovers();
}

/// Starts a primary that runs until signalled, with a fast heartbeat.
fn start_running(env: &mut TestEnv, extra: &[&str]) -> (u32, u32) {
    let mut args = vec!["--json"];
    if !extra.contains(&"--interval") {
        args.extend(["--interval", "20ms"]);
    }
    args.extend_from_slice(extra);
    let primary = env.start_primary(&args);
    let secondary = env.wait_secondary(T);
    env.wait_rounds(2, T);
    (primary, secondary)
}

#[test]
fn sigint_and_sigterm_stop_both_in_order_with_status_zero() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let mut env = TestEnv::new("signal");
        let (primary, secondary) = start_running(&mut env, &[]);
        assert!(kill(primary, signal));
        let out = output_within(env.take_child(primary), T);
        assert!(out.status.success(), "signal {signal}: {}", stderr_of(&out));
        let v = json_of(&out);
        assert_eq!(v["stopped_by"], "signal");
        assert_eq!(
            v["secondary_exit"], 0,
            "the secondary stopped in order: {v}"
        );
        assert!(!process_alive(secondary));
        env.assert_no_leftovers();
    }
}

/// Runs a primary in a process group of its own until `rounds` rounds are done, then
/// sends `signal` to the whole group, as a terminal or `kill -- -PGID` does; its output.
fn signal_the_group(
    env: &TestEnv,
    args: &[&str],
    rounds: u64,
    signal: i32,
) -> std::process::Output {
    let mut cmd = env.cmd("primary");
    cmd.args(args).arg("--json").process_group(0);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pgid = child.id();
    env.wait_secondary(T);
    env.wait_rounds(rounds, T);
    // SAFETY: kill(2) on a process group we created.
    assert_eq!(unsafe { libc::kill(-(pgid as i32), signal) }, 0);
    output_within(child, T)
}

#[test]
fn ctrl_c_to_the_process_group_is_an_orderly_stop() {
    let env = TestEnv::new("ctrlc");
    // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
    let out = signal_the_group(&env, &["--interval", "20ms"], 2, libc::SIGINT);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v = json_of(&out);
    assert_eq!(
        v["secondary_exit"], 0,
        "the secondary must not die of the group's SIGINT: {v}"
    );
    env.assert_no_leftovers();
}

#[test]
fn a_killed_secondary_is_noticed_reaped_and_everything_removed() {
    let mut env = TestEnv::new("killsec");
    let (primary, secondary) = start_running(&mut env, &["--max-restarts", "0"]);
    let started = Instant::now();
    assert!(kill(secondary, libc::SIGKILL));
    let out = output_within(env.take_child(primary), T);
    assert!(
        started.elapsed() < slow(Duration::from_secs(5)),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(6), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("killed by signal 9 (SIGKILL)"), "{err}");
    assert!(err.contains("gave up"), "{err}");
    let v = json_of(&out);
    assert_eq!(v["deaths"][0]["signal"], 9, "{v}");
    assert_eq!(v["stopped_by"], "gave-up");
    env.assert_no_leftovers();
}

#[test]
fn a_killed_primary_makes_the_secondary_exit_within_a_second() {
    let mut env = TestEnv::new("killpri");
    let (primary, secondary) = start_running(&mut env, &[]);
    assert!(kill(primary, libc::SIGKILL));
    let mut child = env.take_child(primary);
    let _ = child.wait();
    assert!(
        wait_gone(secondary, Duration::from_secs(1)),
        "the secondary outlived its primary by over 1 s"
    );
    // The objects stay for `osps cleanup`; remove them so the test leaves nothing.
    let _ = std::fs::remove_file(env.shm_path());
}

#[test]
fn bad_names_sizes_payloads_and_durations_are_usage_errors() {
    let env = TestEnv::new("usage");
    let cases: &[(&[&str], &str)] = &[
        (&["--name", "a/b"], "'/'"),
        (&["--name", ""], "empty"),
        (&["--name=-x"], "start with"),
        (&["--name", &"n".repeat(65)], "64"),
        (&["--size", "100"], "page"),
        (&["--size", "4100"], "multiple of 8"),
        (&["--size", "2G"], "1G"),
        (&["--size", "12Q"], "unit"),
        (&["--payload", "0"], "at least 1 byte"),
        (&["--payload", "5000", "--size", "4096"], "does not fit"),
        (&["--interval", "soon"], "duration"),
    ];
    for (args, needle) in cases {
        let mut cmd = env.cmd("primary");
        cmd.args(*args).arg("--rounds").arg("1");
        let out = run(cmd, T);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains(needle),
            "{args:?}: {}",
            stderr_of(&out)
        );
        env.assert_no_leftovers();
    }
}

#[test]
fn a_secondary_started_by_hand_without_a_primary_fails_clearly() {
    let env = TestEnv::new("lonesec");
    env.make_runtime_dir();
    let out = run(env.cmd("secondary"), T);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("there is no segment"),
        "{}",
        stderr_of(&out)
    );
}

fn assert_refused(env: &TestEnv, needle: &str) {
    let mut cmd = env.cmd("primary");
    cmd.args(["--rounds", "1"]);
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains(needle),
        "expected {needle:?} in: {}",
        stderr_of(&out)
    );
}

#[test]
fn planted_objects_are_refused_and_canaries_untouched() {
    // A symlink to a canary at the segment path.
    let env = TestEnv::new("plantshm");
    let canary = env.tmp.path().join("canary");
    std::fs::write(&canary, b"precious").unwrap();
    std::os::unix::fs::symlink(&canary, env.shm_path()).unwrap();
    assert_refused(&env, &env.shm_path().display().to_string());
    assert_eq!(std::fs::read(&canary).unwrap(), b"precious");
    assert!(
        std::fs::symlink_metadata(env.shm_path())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    std::fs::remove_file(env.shm_path()).unwrap();
    assert!(
        !env.lock_path().exists(),
        "the refused start left its lock file"
    );

    // A regular file, a symlink, and a 0666 FIFO at a FIFO path.
    for plant in ["file", "symlink", "fifo"] {
        let env = TestEnv::new("plantfifo");
        env.make_runtime_dir();
        let canary = env.tmp.path().join("canary");
        std::fs::write(&canary, b"precious").unwrap();
        let at = env.p2s_path();
        match plant {
            "file" => std::fs::write(&at, b"x").unwrap(),
            "symlink" => std::os::unix::fs::symlink(&canary, &at).unwrap(),
            _ => {
                let c = std::ffi::CString::new(at.to_str().unwrap()).unwrap();
                // SAFETY: mkfifo with a valid C string.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0);
                std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o666)).unwrap();
            }
        }
        assert_refused(&env, &at.display().to_string());
        assert_eq!(std::fs::read(&canary).unwrap(), b"precious", "{plant}");
        assert!(
            std::fs::symlink_metadata(&at).is_ok(),
            "{plant}: the planted object was removed"
        );
        assert!(
            !env.shm_path().exists(),
            "{plant}: the refused start left its segment"
        );
    }
}

#[test]
fn an_unsafe_runtime_dir_is_refused() {
    let env = TestEnv::new("baddir");
    std::fs::create_dir(&env.runtime_dir).unwrap();
    std::fs::set_permissions(&env.runtime_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_refused(&env, "chmod 700");
    let env = TestEnv::new("linkdir");
    let real = env.tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, &env.runtime_dir).unwrap();
    assert_refused(&env, "symbolic link");
}

#[test]
fn a_second_primary_with_the_same_name_is_refused_naming_the_running_pid() {
    let mut env = TestEnv::new("twice");
    let (primary, _) = start_running(&mut env, &[]);
    let mut cmd = env.cmd("primary");
    cmd.args(["--rounds", "1"]);
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains(&format!("primary pid {primary}")),
        "{}",
        stderr_of(&out)
    );
    // The first one is unharmed and still stops in order.
    let before = env.header_field(field::ROUNDS_COMPLETED).unwrap();
    env.wait_rounds(before + 2, T);
    assert!(kill(primary, libc::SIGTERM));
    let out = output_within(env.take_child(primary), T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    env.assert_no_leftovers();
}

#[test]
fn objects_have_private_modes_whatever_the_umask() {
    let mut env = TestEnv::new("modes");
    let (primary, _) = start_running(&mut env, &[]);
    assert_eq!(common::mode_of(&env.runtime_dir), 0o700);
    for p in [
        env.shm_path(),
        env.lock_path(),
        env.p2s_path(),
        env.s2p_path(),
    ] {
        assert_eq!(common::mode_of(&p), 0o600, "{}", p.display());
    }
    assert!(kill(primary, libc::SIGTERM));
    let out = output_within(env.take_child(primary), T);
    assert!(out.status.success());
}

#[test]
fn the_header_reports_both_pids_and_growing_counters() {
    let mut env = TestEnv::new("header");
    let (primary, secondary) = start_running(&mut env, &[]);
    assert_eq!(
        env.header_field(field::PRIMARY_PID),
        Some(u64::from(primary))
    );
    assert_eq!(
        env.header_field(field::SECONDARY_PID),
        Some(u64::from(secondary))
    );
    assert_eq!(env.header_field(field::SEGMENT_SIZE), Some(1 << 20));
    let served = env.header_field(field::ROUNDS_SERVED).unwrap();
    env.wait_rounds(env.header_field(field::ROUNDS_COMPLETED).unwrap() + 2, T);
    assert!(env.header_field(field::ROUNDS_SERVED).unwrap() > served);
    assert!(kill(primary, libc::SIGTERM));
    let _ = output_within(env.take_child(primary), T);
}

#[test]
fn sigterm_to_the_whole_process_group_stops_both_in_order() {
    // kill -- -PGID, systemd's default KillMode and a shell's `kill %1` all signal every
    // process of the group: the secondary must wait for the primary's orderly stop.
    for sync in ["fifo", "adaptive"] {
        for _ in 0..3 {
            let env = TestEnv::new("pgterm");
            let args = ["--rounds", "100000000", "--sync", sync];
            let out = signal_the_group(&env, &args, 100, libc::SIGTERM);
            assert!(out.status.success(), "{sync}: {}", stderr_of(&out));
            let v = json_of(&out);
            assert_eq!(v["stopped_by"], "signal", "{v}");
            assert_eq!(v["rounds_failed"], 0, "{sync}: {v}");
            assert_eq!(v["secondary_exit"], 0, "{sync}: {v}");
            env.assert_no_leftovers();
        }
    }
}
