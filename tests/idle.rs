//! Idle means idle: between heartbeat rounds both processes are blocked in the kernel,
//! so over 10 s without work their CPU time together stays under 20 ms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{T, TestEnv, kill, output_within};

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
