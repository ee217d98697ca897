//! `OSPS_BENCH_ONLY=audit`: what `osps audit` costs the program it follows. Three
//! programs, each run alone, under `osps audit`, and (when strace exists) under
//! `strace -f --seccomp-bpf` tracing the same kind of calls: 300 000 pipe round trips
//! between two Python processes (no traced call in the loop: the target is 1.3x at
//! most), `true` (the audit's fixed cost: at most 10 ms more), and 10 000 short-lived
//! children forked and reaped one by one (every fork, exit and wait stops: within 3x).
//! Best of 3 (of 20 for `true`), unpinned. Printed only; nothing is asserted.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUND_TRIPS: &str = r#"
import os, sys
n = int(sys.argv[1])
a_r, a_w = os.pipe(); b_r, b_w = os.pipe()
pid = os.fork()
if pid == 0:
    for _ in range(n):
        os.write(b_w, os.read(a_r, 1))
    os._exit(0)
for _ in range(n):
    os.write(a_w, b"x"); os.read(b_r, 1)
os.waitpid(pid, 0)
"#;

const STORM: &str = r#"
import os, sys
for _ in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
"#;

fn best(runs: usize, mut make: impl FnMut() -> Command) -> Duration {
    (0..runs)
        .map(|_| {
            let mut cmd = make();
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            let t = Instant::now();
            let status = cmd.status().expect("running a benchmark program");
            let took = t.elapsed();
            assert!(
                status.success() || status.code() == Some(1),
                "a benchmark program failed: {status}"
            );
            took
        })
        .min()
        .unwrap_or_default()
}

fn strace_works() -> bool {
    Command::new("strace")
        .args([
            "-f",
            "--seccomp-bpf",
            "-e",
            "trace=openat",
            "-o",
            "/dev/null",
            "true",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One program three ways, the runs interleaved (alone, audited, strace, alone, ...) so
/// that a load that comes and goes weighs on all three alike; prints its row.
fn row(label: &str, runs: usize, program: &[&str]) {
    let with_strace = strace_works();
    let alone_cmd = || {
        let mut c = Command::new(program[0]);
        c.args(&program[1..]);
        c
    };
    let audited_cmd = || {
        let mut c = Command::new(super::osps_bin());
        c.args(["audit", "--"]).args(program);
        c
    };
    let strace_cmd = || {
        let mut c = Command::new("strace");
        c.args([
            "-f",
            "--seccomp-bpf",
            "-e",
            "trace=openat,mknodat,unlinkat,wait4,exit_group",
            "-o",
            "/dev/null",
        ])
        .args(program);
        c
    };
    let (mut alone, mut audited, mut strace) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..runs {
        alone = alone.min(best(1, alone_cmd));
        audited = audited.min(best(1, audited_cmd));
        if with_strace {
            strace = strace.min(best(1, strace_cmd));
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let strace_text = if with_strace {
        format!("{:.1} ms ({:.2}x)", ms(strace), ms(strace) / ms(alone))
    } else {
        "-".to_string()
    };
    println!(
        "{label:<34} {:>10.1} ms {:>10.1} ms ({:.2}x, {:+.1} ms)   strace: {strace_text}",
        ms(alone),
        ms(audited),
        ms(audited) / ms(alone),
        ms(audited) - ms(alone)
    );
}

pub fn report(quick: bool) {
    let dir = tempfile_dir();
    let trips = dir.join("round_trips.py");
    let storm = dir.join("storm.py");
    std::fs::write(&trips, ROUND_TRIPS).expect("writing the round-trip program");
    std::fs::write(&storm, STORM).expect("writing the fork-storm program");
    let n_trips = if quick { "30000" } else { "300000" };
    let n_storm = if quick { "1000" } else { "10000" };
    println!("osps audit: the program alone, then under osps audit (best of 3; true: of 20)");
    println!("{:<34} {:>13} {:>13}", "program", "alone", "audited");
    let t = trips.to_str().unwrap_or_default();
    let s = storm.to_str().unwrap_or_default();
    row(
        &format!("python3: {n_trips} pipe round trips"),
        3,
        &["python3", t, n_trips],
    );
    row("true", 20, &["true"]);
    row(
        &format!("python3: {n_storm} children"),
        3,
        &["python3", s, n_storm],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir =
        Path::new(&std::env::temp_dir()).join(format!("osps-bench-audit-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}
