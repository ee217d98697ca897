//! The tests that time a pair and want a machine not running the rest of the suite (a
//! binary of their own, run after it): idle means idle (between heartbeat rounds both
//! processes are blocked in the kernel, so over 10 s without work their CPU time together
//! stays under 20 ms), and a primary paused past its secondaries' deadline does not take
//! them for hung (under the suite's load, the secondaries themselves can miss it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::sockets::{Got, unix};
use common::{T, TestEnv, json_of, kill, output_within, process_alive, stderr_of};

fn rev(c: usize, i: usize) -> (String, String) {
    let text = format!("c{c}-r{i}");
    (format!("REV {text}"), text.chars().rev().collect())
}

/// CPU time of a process so far, in nanoseconds (first field of /proc/PID/schedstat).
fn cpu_ns(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

fn idle_cpu_stays_under_20ms_in_10s(sync: &str) {
    {
        let mut env = TestEnv::new("idle");
        let primary = env.start_primary(&["--interval", "1h", "--sync", sync]);
        let secondary = env.wait_secondary(T);
        env.wait_rounds(1, T);
        std::thread::sleep(Duration::from_millis(200)); // let start-up settle
        let before = cpu_ns(primary) + cpu_ns(secondary);
        std::thread::sleep(Duration::from_secs(10));
        let used = cpu_ns(primary) + cpu_ns(secondary) - before;
        assert!(
            used < 20_000_000,
            "{sync}: the idle pair used {} us of CPU in 10 s",
            used / 1000
        );
        assert!(kill(primary, libc::SIGTERM));
        let out = output_within(env.take_child(primary), T);
        assert!(out.status.success());
        eprintln!("{sync}: idle CPU over 10 s: {} us", used / 1000);
    }
}

#[test]
fn an_idle_adaptive_pair_uses_under_20ms_of_cpu_in_10s() {
    idle_cpu_stays_under_20ms_in_10s("adaptive");
}

#[test]
fn an_idle_fifo_pair_uses_under_20ms_of_cpu_in_10s() {
    idle_cpu_stays_under_20ms_in_10s("fifo");
}

/// A primary paused (SIGSTOP) longer than `--timeout` while requests are in flight does
/// not take its healthy secondaries for hung: once it runs again the replies they gave
/// meanwhile are collected, the server still serves, and no secondary died.
/// Paused four times, at whatever point of its loop: a pause after its clock was read
/// and before a turn was given made that turn's deadline count from before the pause
/// (the secondary then "hung" at once): in two runs of six pauses, the second and the
/// fifth pause landed there.
#[test]
fn a_paused_primary_does_not_kill_healthy_secondaries_as_hung() {
    const CLIENTS: usize = 4;
    const PAUSES: usize = 4;
    let mut env = TestEnv::new("pauseprim");
    let pid = env.start_serving(&[
        "--secondaries",
        "1",
        "--timeout",
        "1s",
        "--max-restarts",
        "0",
    ]);
    // Clients in a request/reply loop: at any moment one of them very likely has a
    // request at the secondary, so every pause overlaps requests in flight.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut conn = unix(&env);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut bad = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let (req, want) = rev(c, n);
                    conn.send(&req);
                    match conn.get() {
                        Got::Line(l) if l == want => {}
                        other => {
                            bad.push(format!("request {n} {req:?}: {other:?}"));
                            break;
                        }
                    }
                    n += 1;
                }
                (n, bad)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    for pause in 0..PAUSES {
        assert!(kill(pid, libc::SIGSTOP));
        std::thread::sleep(Duration::from_millis(2500));
        assert!(kill(pid, libc::SIGCONT));
        std::thread::sleep(Duration::from_millis(300));
        if !process_alive(pid) {
            stop.store(true, Ordering::Relaxed);
            let out = output_within(env.take_child(pid), T);
            let v = json_of(&out);
            panic!(
                "after pause {pause} the primary exited ({:?}) with deaths {} restarts {} stopped_by {}: {}",
                out.status,
                v["deaths"],
                v["restarts"],
                v["stopped_by"],
                stderr_of(&out)
            );
        }
        assert_eq!(unix(&env).ask("PING"), "PONG", "after pause {pause}");
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for (c, t) in clients.into_iter().enumerate() {
        let (n, bad) = t.join().unwrap();
        assert!(bad.is_empty(), "client {c}: {bad:?}");
        total += n;
    }
    assert!(total > 0);
    let v = env.stop_serving(pid);
    assert_eq!(v["restarts"], 0, "{v}");
    assert_eq!(v["deaths"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(v["failed"], 0, "{v}");
    assert_eq!(v["stopped_by"], "signal", "{v}");
}
