//! Fault injection (issue 4): crashes, hangs, attacks and bad input against the real
//! binary. Each test has deadlines everywhere, its own instance name and runtime dir,
//! and checks that nothing is left behind: no object and no process.
//!
//! Random timings come from a seed printed on stderr (`OSPS_SEED=N` replays a run);
//! `OSPS_SOAK=N` multiplies the loop counts for a long local soak.

use crate::common;

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    Logged, Rng, T, TestEnv, children_of, fd_targets, field, json_of, kill, mkfifo, mode_of,
    osps_bin, pids_with_arg, process_alive, process_exists, run, slow, soak, stderr_of, stdout_of,
};

fn primary(env: &TestEnv, args: &[&str]) -> Command {
    let mut c = env.cmd("primary");
    c.args(args);
    c
}

/// Fails when a run panicked or anything died of a signal that means a memory error.
fn assert_no_crash(out: &Output, what: &str) {
    let err = stderr_of(out);
    assert!(!err.contains("panicked"), "{what}: a panic:\n{err}");
    assert_ne!(out.status.code(), Some(101), "{what}: a panic:\n{err}");
    assert_eq!(
        out.status.signal(),
        None,
        "{what}: the process died of a signal:\n{err}"
    );
    for sig in ["(SIGBUS)", "(SIGSEGV)", "(SIGABRT)", "(SIGILL)"] {
        assert!(!err.contains(sig), "{what}: a secondary died {sig}:\n{err}");
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
        for d in v["deaths"].as_array().into_iter().flatten() {
            let sig = d["signal"].as_i64();
            assert!(
                sig.is_none() || sig == Some(9),
                "{what}: a secondary died of signal {sig:?}: {v}"
            );
        }
    }
}

/// Waits until `pid` is gone from /proc entirely: dead and reaped by its parent.
fn wait_reaped(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + slow(timeout);
    while process_exists(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    true
}

/// Waits for a child of `primary` that is not in `old` (it may not have exec'd yet).
fn wait_new_child(env: &TestEnv, p: &Logged, old: &HashSet<u32>, timeout: Duration) -> u32 {
    let timeout = slow(timeout);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(&kid) = children_of(p.pid).iter().find(|k| !old.contains(k)) {
            return kid;
        }
        assert!(
            Instant::now() < deadline && process_alive(p.pid),
            "no new secondary was started within {timeout:?}: {}",
            env.stderr_so_far(p)
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Waits until a secondary that is not in `old` has shaken hands; returns its pid.
fn wait_new_secondary(env: &TestEnv, p: &Logged, old: &HashSet<u32>, timeout: Duration) -> u32 {
    let timeout = slow(timeout);
    let deadline = Instant::now() + timeout;
    loop {
        let state = env.header_field(field::SECONDARY_STATE);
        let pid = env.header_field(field::SECONDARY_PID).unwrap_or(0) as u32;
        if matches!(state, Some(2 | 3))
            && pid != 0
            && !old.contains(&pid)
            && children_of(p.pid).contains(&pid)
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline && process_alive(p.pid),
            "no new secondary shook hands within {timeout:?}: {}",
            env.stderr_so_far(p)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Busy-waits a short random time (sleeping would round up to the scheduler's tick).
fn jitter(rng: &mut Rng, max: Duration) {
    let d = rng.upto(max);
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn pick<'a>(rng: &mut Rng, choices: &[&'a str]) -> &'a str {
    choices[rng.below(choices.len() as u64) as usize]
}

/// Checks the summary's books: every round is completed, failed or corrupt, once.
fn assert_books_balance(v: &serde_json::Value) {
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"));
    assert_eq!(n("errors"), n("corruptions") + n("rounds_failed"), "{v}");
    let answered = n("rounds") + n("corruptions");
    assert_eq!(
        n("bytes_to_secondary"),
        n("payload_bytes") * (answered + n("rounds_failed") + n("rounds_retried")),
        "{v}"
    );
    assert_eq!(
        n("bytes_from_secondary"),
        n("payload_bytes") * answered,
        "{v}"
    );
}

// ---- 1. kill -9 of the secondary at random moments ----

#[test]
fn kill_9_of_the_secondary_at_random_moments_is_always_reaped_and_restarted() {
    let mut rng = Rng::new("kill_9_of_the_secondary");
    let target = 200 * soak();
    let started = Instant::now();
    let (mut kills, mut cycles) = (0, 0);
    while kills < target {
        kills += secondary_kill_cycle(&mut rng, cycles, target - kills);
        cycles += 1;
    }
    eprintln!(
        "{kills} kills of the secondary under {cycles} primaries in {:?}",
        started.elapsed()
    );
}

/// One primary whose secondaries are killed up to `budget` times (a handful, since the
/// restart backoff doubles); returns the kills made.
fn secondary_kill_cycle(rng: &mut Rng, cycle: u32, budget: u32) -> u32 {
    let mut env = TestEnv::new("k9sec");
    let sync = if cycle % 2 == 0 { "adaptive" } else { "fifo" };
    let payload = pick(rng, &["64", "4K", "200K"]);
    let interval = pick(rng, &["1ms", "5ms"]);
    let args = [
        "--json",
        "--sync",
        sync,
        "--payload",
        payload,
        "--interval",
        interval,
        "--max-restarts",
        "1000",
        "--restart-backoff",
        "1ms",
        "--timeout",
        "10s",
        "--start-timeout",
        "10s",
    ];
    let p = env.start_logged(primary(&env, &args));
    let per_primary = budget.clamp(1, 6);
    let mut dead = HashSet::new();
    let mut before_hello = 0;
    for _ in 0..per_primary {
        let victim = if rng.below(3) == 0 {
            // As early as it shows: between fork and exec, or before its hello.
            let v = wait_new_child(&env, &p, &dead, T);
            jitter(rng, Duration::from_millis(3));
            before_hello += 1;
            v
        } else {
            // Mid-life: between rounds or in the middle of one.
            let v = wait_new_secondary(&env, &p, &dead, T);
            std::thread::sleep(rng.upto(Duration::from_millis(30)));
            v
        };
        assert!(kill(victim, libc::SIGKILL));
        dead.insert(victim);
        assert!(
            wait_reaped(victim, Duration::from_secs(5)),
            "secondary {victim} was not reaped: {}",
            env.stderr_so_far(&p)
        );
    }
    // The end: an orderly stop, or a secondary killed while it stops.
    let last = wait_new_secondary(&env, &p, &dead, T);
    std::thread::sleep(rng.upto(Duration::from_millis(20)));
    let kill_while_stopping = rng.below(2) == 0;
    assert!(kill(p.pid, libc::SIGTERM));
    if kill_while_stopping {
        jitter(rng, Duration::from_millis(2));
        kill(last, libc::SIGKILL);
    }
    let out = env.finish_logged(&p, T);
    let what = format!(
        "cycle {cycle} ({sync}, payload {payload}, interval {interval}, {before_hello} of \
         {per_primary} kills early, kill while stopping: {kill_while_stopping})"
    );
    assert_no_crash(&out, &what);
    let v = json_of(&out);
    let err = stderr_of(&out);
    match out.status.code() {
        Some(0) => assert_eq!(v["rounds_failed"], 0, "{what}: {v}"),
        // A round in flight when the stop came and its secondary died is lost, and said so.
        Some(6) => assert!(
            v["rounds_failed"].as_u64() > Some(0) && err.contains("rounds failed"),
            "{what}: {v}\n{err}"
        ),
        other => panic!("{what}: exit status {other:?}\n{err}"),
    }
    assert_eq!(v["restarts"], per_primary, "{what}: {v}\n{err}");
    let deaths = v["deaths"].as_array().unwrap();
    let extra = usize::from(kill_while_stopping);
    assert!(
        deaths.len() == per_primary as usize || deaths.len() == per_primary as usize + extra,
        "{what}: {} deaths for {per_primary} kills: {v}",
        deaths.len()
    );
    for d in deaths {
        assert_eq!(d["signal"], 9, "{what}: {d}");
        let pid = d["pid"].as_u64().unwrap() as u32;
        assert!(
            dead.contains(&pid) || pid == last,
            "{what}: unknown death {d}"
        );
    }
    assert_eq!(v["corruptions"], 0, "{what}: {v}");
    assert_books_balance(&v);
    for pid in dead.iter().chain([&last]) {
        assert!(!process_exists(*pid), "{what}: secondary {pid} left");
    }
    env.assert_nothing_left();
    per_primary + u32::from(kill_while_stopping)
}

// ---- 1b. a real-time signal kills the secondary ----

/// The kernel's first real-time signal, 32, which glibc keeps for itself (thread
/// cancellation): no program can handle it through the C library and nix has no name for
/// it, so it still kills a secondary that takes every SIGRTMIN.. as SIGTERM (see
/// os/signals/mod.rs). glibc's posix_spawn hands it on ignored, and cargo starts the tests that
/// way: the primary (and so its secondary) gets it back at its default by the raw system
/// call, since glibc's sigaction refuses that number.
const SIGNAL_32: i32 = 32;

fn with_signal_32_at_default(cmd: &mut Command) {
    /// The kernel's `struct sigaction` (x86-64, arm64: handler, flags, restorer, mask).
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    // SAFETY: rt_sigaction(2) is a plain system call (async-signal-safe) on a valid
    // struct; it only sets signal 32 of the child about to exec back to its default.
    unsafe {
        cmd.pre_exec(|| {
            let dfl = KernelSigaction {
                handler: libc::SIG_DFL,
                flags: 0,
                restorer: 0,
                mask: 0,
            };
            let null = std::ptr::null_mut::<KernelSigaction>();
            if libc::syscall(libc::SYS_rt_sigaction, SIGNAL_32, &dfl, null, 8) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A death by a signal nix cannot name (any real-time one) is reaped, reported with its
/// number and restarted like a SIGKILL: it once ended the primary with EINVAL, after the
/// kernel had reaped the child and its status was lost.
#[test]
fn a_secondary_killed_by_a_real_time_signal_is_reaped_reported_and_restarted() {
    let how = format!("killed by signal {SIGNAL_32}");
    // Rounds, reaped by waitpid alone, then with --hold-zombie (waitid first).
    for extra in [&[][..], &["--hold-zombie", "10ms"][..]] {
        let mut env = TestEnv::new("rtsec");
        let mut args = vec!["--json", "--interval", "5ms", "--restart-backoff", "10ms"];
        args.extend_from_slice(extra);
        let mut cmd = primary(&env, &args);
        with_signal_32_at_default(&mut cmd);
        let p = env.start_logged(cmd);
        let victim = wait_new_secondary(&env, &p, &HashSet::new(), T);
        env.wait_rounds(2, T);
        assert!(kill(victim, SIGNAL_32));
        assert!(
            wait_reaped(victim, T),
            "{extra:?}: secondary {victim} was not reaped: {}",
            env.stderr_so_far(&p)
        );
        let fresh = wait_new_secondary(&env, &p, &HashSet::from([victim]), T);
        let done = env.header_field(field::ROUNDS_COMPLETED).unwrap();
        env.wait_rounds(done + 2, T);
        assert!(kill(p.pid, libc::SIGTERM));
        let out = env.finish_logged(&p, T);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {err}");
        let v = json_of(&out);
        assert_eq!(v["restarts"], 1, "{extra:?}: {v}");
        assert_eq!(v["secondary_pid"], fresh, "{v}");
        let deaths = v["deaths"].as_array().unwrap();
        assert_eq!(deaths.len(), 1, "{v}");
        assert_eq!(deaths[0]["pid"], victim, "{v}");
        assert_eq!(deaths[0]["signal"], SIGNAL_32, "{v}");
        assert_eq!(deaths[0]["how"], how.as_str(), "{v}");
        assert!(
            err.contains(&format!("secondary {victim} {how} (")),
            "{err}"
        );
        env.assert_nothing_left();
    }

    // Serving: the pool's other secondary serves on, the dead one is restarted.
    let mut env = TestEnv::new("rtsrv");
    let args = [
        "--serve",
        "--secondaries",
        "2",
        "--json",
        "--restart-backoff",
        "10ms",
    ];
    let mut cmd = primary(&env, &args);
    with_signal_32_at_default(&mut cmd);
    let p = env.start_logged(cmd);
    env.wait_serving(T);
    let victim = env.wait_worker_up(0, None, T);
    let other = env.wait_worker_up(1, None, T);
    assert!(kill(victim, SIGNAL_32));
    assert!(
        wait_reaped(victim, T),
        "secondary {victim} was not reaped: {}",
        env.stderr_so_far(&p)
    );
    let fresh = env.wait_worker_up(0, Some(victim), T);
    assert!(kill(p.pid, libc::SIGTERM));
    let out = env.finish_logged(&p, T);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let v = json_of(&out);
    assert_eq!(v["restarts"], 1, "{v}");
    let deaths = v["deaths"].as_array().unwrap();
    assert_eq!(deaths.len(), 1, "{v}");
    assert_eq!(deaths[0]["pid"], victim, "{v}");
    assert_eq!(deaths[0]["signal"], SIGNAL_32, "{v}");
    assert_eq!(deaths[0]["how"], how.as_str(), "{v}");
    for pid in [victim, other, fresh] {
        assert!(wait_reaped(pid, T), "secondary {pid} left");
    }
    env.assert_nothing_left();
}

// ---- 2. kill -9 of the primary at random moments ----

#[test]
fn kill_9_of_the_primary_at_random_moments_the_secondary_exits_within_a_second() {
    let mut rng = Rng::new("kill_9_of_the_primary");
    let loops = 16 * soak();
    let mut cleanup_failures = Vec::new();
    for i in 0..loops {
        let mut env = TestEnv::new("k9pri");
        let sync = pick(&mut rng, &["adaptive", "fifo"]);
        let payload = pick(&mut rng, &["64", "200K"]);
        let args = ["--sync", sync, "--payload", payload, "--interval", "2ms"];
        let p = env.start_logged(primary(&env, &args));
        let none = HashSet::new();
        let mut known = Vec::new();
        let moment = match i % 4 {
            0 => {
                std::thread::sleep(rng.upto(Duration::from_millis(30)));
                "while starting"
            }
            1 => {
                known.push(wait_new_child(&env, &p, &none, T));
                jitter(&mut rng, Duration::from_millis(3));
                "during the handshake"
            }
            2 => {
                known.push(wait_new_secondary(&env, &p, &none, T));
                std::thread::sleep(rng.upto(Duration::from_millis(50)));
                "between or during rounds"
            }
            _ => {
                known.push(wait_new_secondary(&env, &p, &none, T));
                std::thread::sleep(rng.upto(Duration::from_millis(20)));
                kill(p.pid, libc::SIGTERM);
                jitter(&mut rng, Duration::from_millis(2));
                "while stopping"
            }
        };
        known.extend(children_of(p.pid));
        kill(p.pid, libc::SIGKILL);
        let killed = Instant::now();
        let out = env.finish_logged(&p, T);
        assert_no_crash_but_sigkill(&out, moment);
        // Every secondary notices within a second (FIFO EOF, parent-death signal).
        loop {
            let mut alive: Vec<u32> = known
                .iter()
                .copied()
                .filter(|&k| process_alive(k))
                .collect();
            alive.extend(pids_with_arg(&env.name));
            if alive.is_empty() {
                break;
            }
            assert!(
                killed.elapsed() < slow(Duration::from_secs(1)),
                "{moment}: secondaries {alive:?} outlived their primary by over 1 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        // `osps cleanup` removes what the primary left.
        let mut c = env.cmd("cleanup");
        c.args(["--name", &env.name]);
        let out = run(c, T);
        assert!(!stderr_of(&out).contains("panicked"), "{}", stderr_of(&out));
        let left = env.leftovers();
        // 4: the primary was killed before it made anything, so there is no instance.
        if !matches!(out.status.code(), Some(0 | 4)) || !left.is_empty() {
            cleanup_failures.push(format!(
                "{moment}: osps cleanup exited with {:?} and left {left:?}: {}",
                out.status.code(),
                stderr_of(&out).trim()
            ));
        }
    }
    assert!(
        cleanup_failures.is_empty(),
        "{} of {loops} cleanups failed:\n{}",
        cleanup_failures.len(),
        cleanup_failures.join("\n")
    );
}

/// The killed primary died of SIGKILL (or had already finished its orderly stop).
fn assert_no_crash_but_sigkill(out: &Output, moment: &str) {
    let err = stderr_of(out);
    assert!(!err.contains("panicked"), "{moment}: {err}");
    assert!(
        out.status.signal() == Some(libc::SIGKILL) || out.status.code() == Some(0),
        "{moment}: the primary ended with {:?}: {err}",
        out.status
    );
}

// ---- 3. SIGSTOP of the secondary ----

#[test]
fn a_stopped_secondary_is_detected_killed_reaped_and_restarted() {
    for sync in ["adaptive", "fifo"] {
        let mut env = TestEnv::new("sigstop");
        let timeout = Duration::from_millis(500);
        let interval = Duration::from_millis(20);
        let args = [
            "--json",
            "--sync",
            sync,
            "--interval",
            "20ms",
            "--timeout",
            "500ms",
            "--restart-backoff",
            "10ms",
        ];
        let p = env.start_logged(primary(&env, &args));
        let victim = wait_new_secondary(&env, &p, &HashSet::new(), T);
        env.wait_rounds(2, T);
        assert!(kill(victim, libc::SIGSTOP));
        let stopped = Instant::now();
        assert!(
            wait_reaped(victim, T),
            "{sync}: the stopped secondary was never killed and reaped"
        );
        let detected = stopped.elapsed();
        let margin = slow(Duration::from_millis(1500));
        assert!(
            detected < interval + timeout + margin,
            "{sync}: the hang took {detected:?} to be handled (--timeout {timeout:?})"
        );
        let fresh = wait_new_secondary(&env, &p, &HashSet::from([victim]), T);
        let done = env.header_field(field::ROUNDS_COMPLETED).unwrap();
        env.wait_rounds(done + 2, T);
        assert_eq!(env.header_field(field::RESTARTS), Some(1));
        assert!(kill(p.pid, libc::SIGTERM));
        let out = env.finish_logged(&p, T);
        assert_no_crash(&out, sync);
        assert_eq!(out.status.code(), Some(0), "{sync}: {}", stderr_of(&out));
        let v = json_of(&out);
        assert_eq!(v["restarts"], 1, "{v}");
        assert_eq!(
            v["rounds_retried"], 1,
            "the round in flight is retried: {v}"
        );
        assert_eq!(v["rounds_failed"], 0, "{v}");
        let deaths = v["deaths"].as_array().unwrap();
        assert_eq!(deaths.len(), 1, "{v}");
        assert_eq!(deaths[0]["pid"], victim, "{v}");
        assert_eq!(deaths[0]["signal"], 9, "{v}");
        assert!(deaths[0]["cause"].as_str().unwrap().contains("hung"), "{v}");
        assert_eq!(v["secondary_pid"], fresh, "{v}");
        assert_eq!(v["secondary_exit"], 0, "{v}");
        assert_books_balance(&v);
        env.assert_nothing_left();
    }
}

#[test]
fn a_secondary_stopped_as_soon_as_it_is_forked_never_blocks_the_primary() {
    // Stopped the moment it appears, often before its exec: the primary must not wait for
    // the exec (std's Command::spawn would), but kill and reap it after --start-timeout.
    for attempt in 0..5 * soak() {
        let mut env = TestEnv::new("stopfork");
        let args = [
            "--json",
            "--interval",
            "20ms",
            "--start-timeout",
            "300ms",
            "--timeout",
            "300ms",
        ];
        let p = env.start_logged(primary(&env, &args));
        let victim = wait_new_child(&env, &p, &HashSet::new(), T);
        assert!(kill(victim, libc::SIGSTOP));
        let stopped = Instant::now();
        assert!(
            wait_reaped(victim, T),
            "attempt {attempt}: the stopped child was never reaped"
        );
        assert!(
            stopped.elapsed() < Duration::from_millis(300) + slow(Duration::from_millis(1700)),
            "attempt {attempt}: took {:?}",
            stopped.elapsed()
        );
        wait_new_secondary(&env, &p, &HashSet::from([victim]), T);
        env.wait_rounds(2, T);
        assert!(kill(p.pid, libc::SIGTERM));
        let out = env.finish_logged(&p, T);
        assert_no_crash(&out, "stopped at fork");
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        env.assert_nothing_left();
    }
}

#[test]
fn a_secondary_stopped_before_its_hello_is_killed_after_the_start_timeout() {
    let mut env = TestEnv::new("stophello");
    let args = [
        "--json",
        "--interval",
        "20ms",
        "--start-timeout",
        "500ms",
        // The stop may land just after the hello: then the first round's timeout finds
        // the hang instead, and that bound must be the same.
        "--timeout",
        "500ms",
        "--restart-backoff",
        "10ms",
    ];
    let p = env.start_logged(primary(&env, &args));
    // Stop it once it runs `osps secondary` (after exec), usually before its hello.
    let none = HashSet::new();
    let victim = wait_new_child(&env, &p, &none, T);
    let deadline = Instant::now() + slow(T);
    loop {
        let cmdline = std::fs::read(format!("/proc/{victim}/cmdline")).unwrap_or_default();
        if cmdline.split(|&b| b == 0).any(|a| a == b"secondary") {
            break;
        }
        assert!(Instant::now() < deadline, "the secondary never exec'd");
        std::thread::sleep(Duration::from_micros(100));
    }
    assert!(kill(victim, libc::SIGSTOP));
    let stopped = Instant::now();
    assert!(
        wait_reaped(victim, T),
        "the stopped secondary was never reaped"
    );
    assert!(
        stopped.elapsed() < Duration::from_millis(500) + slow(Duration::from_millis(1500)),
        "took {:?}",
        stopped.elapsed()
    );
    wait_new_secondary(&env, &p, &HashSet::from([victim]), T);
    env.wait_rounds(2, T);
    assert!(kill(p.pid, libc::SIGTERM));
    let out = env.finish_logged(&p, T);
    assert_no_crash(&out, "stopped before hello");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let v = json_of(&out);
    assert_eq!(v["restarts"], 1, "{v}");
    let d = &v["deaths"][0];
    assert_eq!(d["pid"], victim, "{v}");
    assert_eq!(d["signal"], 9, "{v}");
    // Usually stopped before its hello; on a slow machine the hello may have left already.
    let cause = d["cause"].as_str().unwrap();
    assert!(cause.contains("no hello") || cause.contains("hung"), "{v}");
    env.assert_nothing_left();
}

// ---- 4. the segment truncated or removed under the pair ----

/// A pair that touches the whole of a large payload every millisecond: a truncation
/// meets it within a round.
fn truncation_run(sync: &str) -> [&str; 9] {
    [
        "--json",
        "--sync",
        sync,
        "--interval",
        "1ms",
        "--payload",
        "200K",
        "--timeout",
        "1s",
    ]
}

#[test]
fn a_segment_truncated_or_removed_under_the_pair_is_a_clear_error_never_a_sigbus() {
    let mut rng = Rng::new("segment_truncated");
    for round in 0..2 * soak() {
        for fault in ["truncate to 0", "truncate to a page", "grow", "unlink"] {
            let mut env = TestEnv::new("trunc");
            let sync = if round % 2 == 0 { "adaptive" } else { "fifo" };
            let args = truncation_run(sync);
            let p = env.start_logged(primary(&env, &args));
            wait_new_secondary(&env, &p, &HashSet::new(), T);
            env.wait_rounds(1 + rng.below(3), T);
            std::thread::sleep(rng.upto(Duration::from_millis(10)));
            let shm = env.shm_path();
            let resize = |len: u64| {
                let f = std::fs::OpenOptions::new().write(true).open(&shm).unwrap();
                f.set_len(len).unwrap();
            };
            match fault {
                "truncate to 0" => resize(0),
                "truncate to a page" => resize(4096),
                "grow" => resize(2 << 20),
                _ => std::fs::remove_file(&shm).unwrap(),
            }
            let faulted = Instant::now();
            let out = env.finish_logged(&p, T);
            let what = format!("{fault} ({sync})");
            assert_no_crash(&out, &what);
            let err = stderr_of(&out);
            assert_eq!(out.status.code(), Some(1), "{what}: {err}");
            assert!(
                faulted.elapsed() < slow(Duration::from_secs(3)),
                "{what}: noticed after {:?}: {err}",
                faulted.elapsed()
            );
            let wording = match fault {
                "unlink" => "was removed by another process",
                "grow" => "was resized by another process",
                _ => "by another process",
            };
            // The primary's last word names the segment and what happened to it; no
            // side blames a symptom (a zeroed counter) instead.
            let last_error = err
                .lines()
                .rfind(|l| l.contains("error:"))
                .unwrap_or_default();
            assert!(
                last_error.contains(wording) && last_error.contains(&shm.display().to_string()),
                "{what}: unclear error: {err}"
            );
            assert!(
                !err.contains("broken or foreign"),
                "{what}: misleading error: {err}"
            );
            let v = json_of(&out);
            assert_eq!(v["stopped_by"], "error", "{what}: {v}");
            env.assert_nothing_left();
            // The name is free again: a new primary under it works.
            let out = run(primary(&env, &["--rounds", "20", "--json"]), T);
            assert!(out.status.success(), "{what}: {}", stderr_of(&out));
            assert_eq!(json_of(&out)["rounds"], 20);
            env.assert_nothing_left();
        }
    }
}

/// A SIGBUS sent by a process (`kill -BUS`, si_code <= 0) is no fault: it once counted
/// as "not ours", which put SIGBUS back to its default and swallowed the signal, so a
/// later truncation killed the process and left the instance behind.
#[test]
fn a_sigbus_sent_by_a_process_stops_in_order_and_leaves_the_truncation_guard_armed() {
    // To the primary: the orderly stop, as SIGTERM.
    let mut env = TestEnv::new("sentbus");
    let p = env.start_logged(primary(&env, &["--json", "--interval", "5ms"]));
    let secondary = wait_new_secondary(&env, &p, &HashSet::new(), T);
    env.wait_rounds(2, T);
    assert!(kill(p.pid, libc::SIGBUS));
    let out = env.finish_logged(&p, T);
    assert_no_crash(&out, "kill -BUS of the primary");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let v = json_of(&out);
    assert_eq!(v["stopped_by"], "signal", "{v}");
    assert_eq!(v["secondary_exit"], 0, "{v}");
    assert_eq!(v["restarts"], 0, "{v}");
    assert!(wait_reaped(secondary, T));
    env.assert_nothing_left();

    // To the secondary, which takes it as SIGTERM (it waits for its live primary), then
    // the segment truncated under the pair: both sides still absorb the fault, and the
    // primary names the cause.
    for sync in ["adaptive", "fifo"] {
        let mut env = TestEnv::new("sentbust");
        let args = truncation_run(sync);
        let p = env.start_logged(primary(&env, &args));
        let victim = wait_new_secondary(&env, &p, &HashSet::new(), T);
        env.wait_rounds(3, T);
        assert!(kill(victim, libc::SIGBUS));
        let done = env.header_field(field::ROUNDS_COMPLETED).unwrap();
        env.wait_rounds(done + 5, T);
        assert!(
            process_alive(victim),
            "{sync}: kill -BUS ended the secondary"
        );
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(env.shm_path())
            .unwrap();
        f.set_len(0).unwrap();
        let out = env.finish_logged(&p, T);
        let what = format!("kill -BUS of the secondary, then truncation ({sync})");
        assert_no_crash(&out, &what);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        let last_error = err
            .lines()
            .rfind(|l| l.contains("error:"))
            .unwrap_or_default();
        assert!(
            last_error.contains("by another process")
                && last_error.contains(&env.shm_path().display().to_string()),
            "{what}: unclear error: {err}"
        );
        env.assert_nothing_left();
    }
}

// ---- 5. a compromised peer ----

/// The test as a compromised peer: the instance's segment mapped into the test process,
/// written with atomics (the real processes read it concurrently).
struct Peer {
    map: memmap2::MmapRaw,
}

impl Peer {
    fn attach(env: &TestEnv) -> Peer {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(env.shm_path())
            .unwrap();
        let map = memmap2::MmapOptions::new()
            .len(field::HEADER_LEN)
            .map_raw(&file)
            .unwrap();
        Peer { map }
    }

    fn word(&self, offset: usize) -> &std::sync::atomic::AtomicU64 {
        assert!(offset % 8 == 0 && offset + 8 <= field::HEADER_LEN);
        // SAFETY: the mapping is page-aligned and HEADER_LEN bytes long, so the pointer is
        // aligned and in bounds while `self` lives; other processes write these words too,
        // which atomics allow.
        unsafe { std::sync::atomic::AtomicU64::from_ptr(self.map.as_mut_ptr().add(offset).cast()) }
    }

    fn store(&self, offset: usize, value: u64) {
        self.word(offset)
            .store(value, std::sync::atomic::Ordering::SeqCst);
    }

    /// Flips the word at `offset` between `values` in a tight loop until `until` says stop
    /// (checked every few thousand writes) or `max` passes.
    fn flip(&self, offset: usize, values: &[u64], max: Duration, until: impl Fn() -> bool) {
        let deadline = Instant::now() + slow(max);
        let mut i = 0usize;
        while Instant::now() < deadline && !until() {
            for _ in 0..4096 {
                self.store(offset, values[i % values.len()]);
                i = i.wrapping_add(1);
                std::hint::spin_loop();
            }
        }
    }
}

/// A header that passes validation, for a segment of `size` bytes.
fn valid_header(size: u64) -> Vec<u8> {
    let mut h = vec![0u8; field::HEADER_LEN];
    h[..8].copy_from_slice(field::MAGIC);
    let put =
        |h: &mut Vec<u8>, off: usize, v: u64| h[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    put(&mut h, field::VERSION, 1);
    put(&mut h, field::HEADER_LEN_FIELD, field::HEADER_LEN as u64);
    put(&mut h, field::SEGMENT_SIZE, size);
    put(&mut h, field::DATA_OFFSET, field::HEADER_LEN as u64);
    put(&mut h, field::DATA_SIZE, size - field::HEADER_LEN as u64);
    put(&mut h, field::WORKERS, 1);
    h
}

fn with(mut h: Vec<u8>, off: usize, v: u64) -> Vec<u8> {
    h[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    h
}

/// Plants a segment of `size` bytes starting with `head` (mode 0600, ours) and a private
/// runtime dir, as a compromised primary would leave them.
fn forge_segment(env: &TestEnv, head: &[u8], size: u64) {
    let _ = std::fs::remove_file(env.shm_path());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(env.shm_path())
        .unwrap();
    f.write_all(&head[..head.len().min(size as usize)]).unwrap();
    f.set_len(size).unwrap();
    if !env.runtime_dir.exists() {
        env.make_runtime_dir();
    }
}

#[test]
fn forged_headers_are_refused_by_the_secondary_with_a_clear_error() {
    let env = TestEnv::new("forged");
    const SIZE: u64 = 8192;
    let mut rng = Rng::new("forged_headers");
    let garbage: Vec<u8> = (0..field::HEADER_LEN)
        .map(|_| rng.next_u64() as u8)
        .collect();
    let good = valid_header(SIZE);
    let cases: Vec<(&str, Vec<u8>, u64, &str)> = vec![
        (
            "all zeros",
            vec![0; field::HEADER_LEN],
            SIZE,
            "not an osps segment",
        ),
        ("garbage", garbage, SIZE, "not an osps segment"),
        (
            "unknown version",
            with(good.clone(), field::VERSION, 2),
            SIZE,
            "version 2",
        ),
        (
            "segment size beyond the segment",
            with(good.clone(), field::SEGMENT_SIZE, 1 << 40),
            SIZE,
            "truncated or resized",
        ),
        (
            "data size beyond the segment",
            with(good.clone(), field::DATA_SIZE, u64::MAX),
            SIZE,
            "inconsistent",
        ),
        (
            "data offset that overflows",
            with(
                with(good.clone(), field::DATA_OFFSET, u64::MAX - 7),
                field::DATA_SIZE,
                SIZE + 8,
            ),
            SIZE,
            "inconsistent",
        ),
        (
            "header length that overflows",
            with(good.clone(), field::HEADER_LEN_FIELD, u64::MAX),
            SIZE,
            "inconsistent",
        ),
        (
            "no secondaries",
            with(good.clone(), field::WORKERS, 0),
            SIZE,
            "inconsistent",
        ),
        (
            "a huge pool",
            with(good.clone(), field::WORKERS, u64::MAX),
            SIZE,
            "inconsistent",
        ),
        (
            "unknown state",
            with(good.clone(), 136, 99),
            SIZE,
            "not a known state",
        ),
        (
            "shorter than a header",
            good.clone(),
            100,
            "not a valid osps segment",
        ),
        ("empty", Vec::new(), 0, "not a valid osps segment"),
    ];
    for (what, head, size, needle) in cases {
        forge_segment(&env, &head, size);
        let out = run(env.cmd("secondary"), T);
        assert_no_crash(&out, what);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains(needle),
            "{what}: expected {needle:?} in: {err}"
        );
        assert!(
            err.contains(&env.shm_path().display().to_string()),
            "{what}: the error does not name the segment: {err}"
        );
    }
    // The control: the forged header is valid, so the secondary gets past it.
    forge_segment(&env, &good, SIZE);
    let out = run(env.cmd("secondary"), T);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("p2s.fifo"), "{}", stderr_of(&out));
    std::fs::remove_file(env.shm_path()).unwrap();
}

#[test]
fn a_pool_size_flipped_while_the_secondary_attaches_is_never_read_twice() {
    // Validation sees one secondary; a second read would see 64 and let `--index 63`
    // through to a scoreboard entry past the validated header.
    let env = TestEnv::new("flipworkers");
    const SIZE: u64 = 8192;
    let runs = 100 * soak();
    let mut results = std::collections::BTreeMap::<String, u32>::new();
    forge_segment(&env, &valid_header(SIZE), SIZE);
    // Secondary 63's FIFOs, with a reader on its s2p, so nothing else stops it first.
    let p2s = env.runtime_dir.join(format!("{}.63.p2s.fifo", env.name));
    let s2p = env.runtime_dir.join(format!("{}.63.s2p.fifo", env.name));
    mkfifo(&p2s, 0o600);
    mkfifo(&s2p, 0o600);
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&s2p)
        .unwrap();
    for _ in 0..runs {
        forge_segment(&env, &valid_header(SIZE), SIZE);
        let peer = Peer::attach(&env);
        let mut cmd = env.cmd("secondary");
        cmd.args(["--serve", "--index", "63", "--start-timeout", "50ms"]);
        let done = std::sync::atomic::AtomicBool::new(false);
        let out = std::thread::scope(|s| {
            s.spawn(|| {
                peer.flip(field::WORKERS, &[1, 64], T, || {
                    done.load(std::sync::atomic::Ordering::Relaxed)
                })
            });
            let out = run(cmd, T);
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            out
        });
        assert_no_crash(&out, "workers flipped during attach");
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(
            err.contains("layout is inconsistent") || err.contains("there is no secondary 63"),
            "{err}"
        );
        let line = err.lines().last().unwrap_or_default().to_string();
        *results.entry(line).or_default() += 1;
    }
    eprintln!("outcomes: {results:#?}");
    std::fs::remove_file(env.shm_path()).unwrap();
}

/// Starts a running pair for a peer test and waits until it exchanged a few rounds.
fn running_pair(env: &mut TestEnv, sync: &str, extra: &[&str]) -> Logged {
    let mut args = vec!["--json", "--sync", sync];
    if !extra.contains(&"--interval") {
        args.extend(["--interval", "2ms"]);
    }
    args.extend_from_slice(extra);
    let p = env.start_logged(primary(env, &args));
    wait_new_secondary(env, &p, &HashSet::new(), T);
    env.wait_rounds(3, T);
    p
}

#[test]
fn a_request_length_flipped_in_a_tight_loop_is_read_once_and_refused() {
    for sync in ["adaptive", "fifo"] {
        let mut env = TestEnv::new("fliplen");
        let extra = ["--max-restarts", "100", "--restart-backoff", "1ms"];
        let p = running_pair(&mut env, sync, &extra);
        let peer = Peer::attach(&env);
        // The genuine length (64) and lengths beyond the 1 MiB segment.
        let values = [64, 1 << 20, 64, u64::MAX, 64, 1 << 63, 64, (1 << 20) - 255];
        peer.flip(field::REQUEST_LEN, &values, Duration::from_secs(5), || {
            env.header_field(field::RESTARTS).unwrap_or(0) >= 2
        });
        peer.store(field::REQUEST_LEN, 64);
        kill(p.pid, libc::SIGTERM);
        let out = env.finish_logged(&p, T);
        assert_no_crash(&out, sync);
        let err = stderr_of(&out);
        let v = json_of(&out);
        assert!(
            matches!(out.status.code(), Some(0 | 6)),
            "{sync}: {:?}: {err}",
            out.status
        );
        let deaths = v["deaths"].as_array().unwrap();
        assert!(
            !deaths.is_empty(),
            "{sync}: no bad length was ever read: {v}"
        );
        for d in deaths {
            assert_eq!(d["exit_code"], 1, "{sync}: {d}");
        }
        assert!(err.contains("exceeds the"), "{sync}: {err}");
        assert_books_balance(&v);
        env.assert_nothing_left();
    }
}

#[test]
fn a_reply_length_flipped_by_a_peer_is_reported_as_corruption() {
    let mut env = TestEnv::new("fliprlen");
    let p = running_pair(&mut env, "adaptive", &[]);
    let peer = Peer::attach(&env);
    let values = [64, u64::MAX, 64, 1 << 40, 64, 0];
    peer.flip(field::REPLY_LEN, &values, Duration::from_secs(5), || {
        env.header_field(field::ROUNDS_FAILED).unwrap_or(0) >= 3 // counts corruptions too
    });
    kill(p.pid, libc::SIGTERM);
    let out = env.finish_logged(&p, T);
    assert_no_crash(&out, "reply length");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("does not match"), "{err}");
    let v = json_of(&out);
    assert!(v["corruptions"].as_u64() >= Some(3), "{v}");
    assert_books_balance(&v);
    env.assert_nothing_left();
}

#[test]
fn a_turn_counter_scribbled_by_a_peer_stops_the_primary_with_a_clear_error() {
    for sync in ["adaptive", "fifo"] {
        let mut env = TestEnv::new("flipseq");
        let p = running_pair(&mut env, sync, &[]);
        let peer = Peer::attach(&env);
        peer.flip(
            field::REPLY_SEQ,
            &[u64::MAX, 1 << 40, 7],
            Duration::from_secs(10),
            || !process_alive(p.pid),
        );
        let out = env.finish_logged(&p, T);
        assert_no_crash(&out, sync);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{sync}: {err}");
        assert!(err.contains("broken or foreign process"), "{sync}: {err}");
        env.assert_nothing_left();
    }
}

#[test]
fn garbage_over_the_whole_header_while_running_is_refused_with_a_clear_error() {
    let mut rng = Rng::new("garbage_header");
    for round in 0..3 * soak() {
        let mut env = TestEnv::new("garbage");
        let sync = if round % 2 == 0 { "adaptive" } else { "fifo" };
        let extra = [
            "--max-restarts",
            "2",
            "--restart-backoff",
            "1ms",
            "--timeout",
            "1s",
        ];
        let p = running_pair(&mut env, sync, &extra);
        let peer = Peer::attach(&env);
        let scribble_until = Instant::now() + Duration::from_millis(100);
        while Instant::now() < scribble_until {
            for off in (0..field::HEADER_LEN).step_by(8) {
                peer.store(off, rng.next_u64());
            }
        }
        // Then a fresh secondary has to validate the header.
        if let Some(pid) = children_of(p.pid).first() {
            kill(*pid, libc::SIGKILL);
        }
        let deadline = Instant::now() + slow(Duration::from_secs(10));
        while process_alive(p.pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        kill(p.pid, libc::SIGTERM);
        let out = env.finish_logged(&p, T);
        assert_no_crash(&out, sync);
        let err = stderr_of(&out);
        assert_ne!(
            out.status.code(),
            Some(0),
            "{sync}: garbage went unnoticed: {err}"
        );
        // The primary's periodic check sees the overwritten layout, or either side notices
        // a turn counter it did not expect, or every fresh secondary refuses the header
        // until the primary gives up.
        let last_error = err
            .lines()
            .rfind(|l| l.contains("error:"))
            .unwrap_or_default();
        let refused = err.contains("validating the segment header");
        assert!(
            last_error.contains("overwritten by another process")
                || last_error.contains("broken or foreign process")
                || (last_error.contains("gave up") && refused),
            "{sync}: unclear error: {err}"
        );
        env.assert_nothing_left();
    }
}

// ---- 6. garbage, truncated and oversized frames from a third process ----

fn frame(kind: u8, arg: u32, seq: u64) -> Vec<u8> {
    let mut b = vec![0x5A, 0x0F, 1, kind];
    b.extend_from_slice(&arg.to_le_bytes());
    b.extend_from_slice(&seq.to_le_bytes());
    b
}

/// What a third process writes on a FIFO, by name.
fn bad_frames(rng: &mut Rng) -> Vec<(&'static str, Vec<u8>)> {
    let mut garbage: Vec<u8> = (0..16).map(|_| rng.next_u64() as u8).collect();
    garbage[0] = 0xFF; // never the magic
    let oversized: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8 | 1).collect();
    vec![
        ("garbage", garbage),
        ("truncated", frame(4, 0, 1)[..5].to_vec()),
        ("oversized", oversized),
        ("unknown kind", frame(77, 0, 1)),
        ("a far-future turn", frame(4, 0, u64::MAX)),
    ]
}

/// Writes `bytes` into a FIFO with one write, as a third process would (never blocks).
fn write_fifo(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .unwrap();
    let _ = f.write(bytes);
}

/// Which FIFO of the pair a third process writes bad frames into.
#[derive(Clone, Copy)]
enum Side {
    /// `s2p.fifo`, read by the primary.
    ToPrimary,
    /// `p2s.fifo`, read by the secondary.
    ToSecondary,
}

/// Writes each of the bad frames into `side`'s FIFO of a running pair, then checks the
/// secondary was replaced, the pair went on and ended with exit 0 and a warning naming
/// the FIFO with one of `clear`, and nothing was left. Returns each run's summary with
/// what was written and the first secondary's pid, for the caller's own checks. `seed`
/// names the random frames (kept as it was, so the same frames are tried).
fn bad_frames_on(side: Side, seed: &str, clear: &[&str]) -> Vec<(String, u32, serde_json::Value)> {
    let mut rng = Rng::new(seed);
    let mut runs = Vec::new();
    for (i, (what, bytes)) in bad_frames(&mut rng).into_iter().enumerate() {
        let mut env = TestEnv::new(match side {
            Side::ToPrimary => "badp",
            Side::ToSecondary => "bads",
        });
        let sync = if i % 2 == 0 { "adaptive" } else { "fifo" };
        let p = running_pair(
            &mut env,
            sync,
            &["--interval", "20ms", "--restart-backoff", "1ms"],
        );
        let first = env.header_field(field::SECONDARY_PID).unwrap() as u32;
        let (fifo, name) = match side {
            Side::ToPrimary => (env.s2p_path(), "s2p.fifo"),
            Side::ToSecondary => (env.p2s_path(), "p2s.fifo"),
        };
        write_fifo(&fifo, &bytes);
        let what = format!("{what} ({sync})");
        wait_new_secondary(&env, &p, &HashSet::from([first]), Duration::from_secs(5));
        let done = env.header_field(field::ROUNDS_COMPLETED).unwrap();
        env.wait_rounds(done + 2, T);
        kill(p.pid, libc::SIGTERM);
        let out = env.finish_logged(&p, T);
        assert_no_crash(&out, &what);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(0), "{what}: {err}");
        assert!(
            err.contains(name) && clear.iter().any(|c| err.contains(c)),
            "{what}: unclear error: {err}"
        );
        env.assert_nothing_left();
        runs.push((what, first, json_of(&out)));
    }
    runs
}

/// The warnings a rejected frame may give, whichever FIFO it came on.
const REJECTED: [&str; 4] = [
    "rejected a frame",
    "truncated frame",
    "unexpected",
    "doorbell for round",
];

/// A bad frame on the secondary's FIFO (written by a third process) is rejected with a
/// clear warning, and the pair goes on: the secondary is killed and restarted, as a
/// serving pool does (the run used to end with exit 1).
#[test]
fn bad_frames_to_the_primary_are_rejected_with_a_clear_error() {
    bad_frames_on(Side::ToPrimary, "bad_frames_to_the_primary", &REJECTED);
}

#[test]
fn bad_frames_to_the_secondary_are_rejected_and_it_is_restarted() {
    let clear = [&REJECTED[..], &["frame for round"]].concat();
    let runs = bad_frames_on(Side::ToSecondary, "bad_frames_to_the_secondary", &clear);
    for (what, first, v) in runs {
        assert_eq!(v["restarts"], 1, "{what}: {v}");
        assert_eq!(v["deaths"][0]["pid"], first, "{what}: {v}");
        assert_eq!(v["deaths"][0]["exit_code"], 1, "{what}: {v}");
        assert_books_balance(&v);
    }
}

// ---- 7. objects planted before the start ----

/// What a planted object looked like, to prove it was left alone.
fn fingerprint(path: &Path) -> (u32, u32, u64, Vec<u8>) {
    let m = std::fs::symlink_metadata(path).unwrap();
    let content = if m.file_type().is_file() {
        std::fs::read(path).unwrap()
    } else if m.file_type().is_symlink() {
        std::fs::read_link(path)
            .unwrap()
            .into_os_string()
            .into_encoded_bytes()
    } else {
        Vec::new()
    };
    (m.mode(), m.uid(), m.ino(), content)
}

fn private_dir(path: &Path) {
    std::fs::create_dir(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn objects_planted_at_any_path_are_refused_and_the_canary_untouched() {
    let targets = ["segment", "lock", "p2s", "s2p"];
    let plants = ["symlink to a canary", "regular file", "FIFO 0666"];
    for target in targets {
        for plant in plants {
            let env = TestEnv::new("plant");
            private_dir(&env.runtime_dir);
            let at = match target {
                "segment" => env.shm_path(),
                "lock" => env.lock_path(),
                "p2s" => env.p2s_path(),
                _ => env.s2p_path(),
            };
            let canary = env.tmp.path().join("canary");
            std::fs::write(&canary, b"precious").unwrap();
            std::fs::set_permissions(&canary, std::fs::Permissions::from_mode(0o600)).unwrap();
            match plant {
                "symlink to a canary" => std::os::unix::fs::symlink(&canary, &at).unwrap(),
                "regular file" => {
                    std::fs::write(&at, b"not osps").unwrap();
                    // Mode 0600 like ours (a lock file can only be told by its mode).
                    let mode = if target == "lock" { 0o644 } else { 0o600 };
                    std::fs::set_permissions(&at, std::fs::Permissions::from_mode(mode)).unwrap();
                }
                _ => mkfifo(&at, 0o666),
            }
            let before = (fingerprint(&at), fingerprint(&canary));
            let out = run(primary(&env, &["--rounds", "1"]), T);
            let what = format!("{plant} at the {target} path");
            let err = stderr_of(&out);
            assert_no_crash(&out, &what);
            assert_eq!(out.status.code(), Some(1), "{what}: {err}");
            assert!(
                err.contains(&at.display().to_string()),
                "{what}: the error does not name {}: {err}",
                at.display()
            );
            assert_eq!((fingerprint(&at), fingerprint(&canary)), before, "{what}");
            // Only the plant remains.
            let mut left = env.leftovers();
            left.retain(|p| p != &at);
            assert!(left.is_empty(), "{what}: left behind {left:?}");
            assert!(pids_with_arg(&env.name).is_empty());
            if target == "segment" {
                std::fs::remove_file(&at).unwrap();
            }
        }
    }
}

/// What cannot be opened as a file at the lock file's path (a directory, a socket, a
/// symlink) is named for what it is, with what to do, by the primary and by inspect: not
/// a bare `EISDIR`, `ENXIO` or `ELOOP`.
#[test]
fn a_directory_socket_or_symlink_at_the_lock_path_is_named_for_what_it_is() {
    for (plant, what) in [
        ("directory", "a directory"),
        ("socket", "a socket"),
        ("symlink", "a symbolic link"),
    ] {
        let env = TestEnv::new("lockplant");
        private_dir(&env.runtime_dir);
        let at = env.lock_path();
        let _socket = match plant {
            "directory" => {
                std::fs::create_dir(&at).unwrap();
                std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o700)).unwrap();
                None
            }
            "socket" => Some(std::os::unix::net::UnixListener::bind(&at).unwrap()),
            _ => {
                std::os::unix::fs::symlink("/etc/passwd", &at).unwrap();
                None
            }
        };
        let before = fingerprint(&at);
        let out = run(primary(&env, &["--rounds", "1"]), T);
        let err = stderr_of(&out);
        assert_no_crash(&out, plant);
        assert_eq!(out.status.code(), Some(1), "{plant}: {err}");
        assert!(
            err.contains(&format!("{} is {what} where osps expects", at.display()))
                && err.contains("move it away"),
            "{plant}: {err}"
        );
        let mut inspect = env.cmd("inspect");
        inspect.args(["--name", &env.name]);
        let doc = json_of(&run(inspect, T));
        assert_eq!(
            doc["instances"][0]["lock"]["error"],
            serde_json::json!(format!("is {what}, not a regular file")),
            "{plant}: {doc}"
        );
        assert_eq!(fingerprint(&at), before, "{plant}");
        let mut left = env.leftovers();
        left.retain(|p| p != &at);
        assert!(left.is_empty(), "{plant}: left behind {left:?}");
        if plant == "directory" {
            std::fs::remove_dir(&at).unwrap();
        } else {
            std::fs::remove_file(&at).unwrap();
        }
    }
}

#[test]
fn an_open_or_foreign_runtime_dir_is_refused_and_left_alone() {
    for case in ["mode 0777", "owned by nobody", "symlink"] {
        let env = TestEnv::new("plantdir");
        let real = env.tmp.path().join("real");
        let dir = if case == "symlink" {
            &real
        } else {
            &env.runtime_dir
        };
        std::fs::create_dir(dir).unwrap();
        let canary = dir.join("canary");
        std::fs::write(&canary, b"precious").unwrap();
        match case {
            "mode 0777" => {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap()
            }
            "owned by nobody" => {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
                std::os::unix::fs::chown(dir, Some(65534), Some(65534)).unwrap();
            }
            _ => {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
                std::os::unix::fs::symlink(&real, &env.runtime_dir).unwrap();
            }
        }
        let before = (
            fingerprint(&env.runtime_dir),
            fingerprint(dir),
            fingerprint(&canary),
        );
        let out = run(primary(&env, &["--rounds", "1"]), T);
        let err = stderr_of(&out);
        assert_no_crash(&out, case);
        assert_eq!(out.status.code(), Some(1), "{case}: {err}");
        assert!(
            err.contains(&env.runtime_dir.display().to_string()),
            "{case}: {err}"
        );
        let needle = match case {
            "mode 0777" => "chmod 700",
            "owned by nobody" => "belongs to uid 65534",
            _ => "symbolic link",
        };
        assert!(err.contains(needle), "{case}: {err}");
        let after = (
            fingerprint(&env.runtime_dir),
            fingerprint(dir),
            fingerprint(&canary),
        );
        assert_eq!(after, before, "{case}");
        let entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(entries, vec![canary.clone()], "{case}");
        assert!(!env.shm_path().exists(), "{case}: a segment was made");
    }
}

// ---- 8. a hostile umask ----

#[test]
fn under_umask_000_the_runtime_dir_is_0700_and_every_object_0600() {
    let umask = Command::new("sh")
        .args(["-c", "umask 000; umask"])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&umask).trim(),
        "0000",
        "the shell cannot set umask 000"
    );
    let mut env = TestEnv::new("umask");
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "umask 000; exec \"$0\" primary --json --interval 20ms",
    ])
    .arg(osps_bin())
    .env("OSPS_NAME", &env.name)
    .env("OSPS_RUNTIME_DIR", &env.runtime_dir)
    .env("NO_COLOR", "1")
    .stdin(Stdio::null());
    let p = env.start_logged(cmd);
    wait_new_secondary(&env, &p, &HashSet::new(), T);
    env.wait_rounds(2, T);
    assert_eq!(mode_of(&env.runtime_dir), 0o700);
    for path in [
        env.shm_path(),
        env.lock_path(),
        env.p2s_path(),
        env.s2p_path(),
    ] {
        assert_eq!(mode_of(&path), 0o600, "{}", path.display());
    }
    let entries = std::fs::read_dir(&env.runtime_dir).unwrap().count();
    assert_eq!(entries, 3, "only the lock and the two FIFOs");
    assert!(kill(p.pid, libc::SIGTERM));
    let out = env.finish_logged(&p, T);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    env.assert_nothing_left();
}

// ---- 9. /dev/shm full ----

#[test]
fn a_full_dev_shm_is_a_clear_no_space_error_and_leaves_nothing() {
    let Some(unshare) = ["-Urm", "-m"].into_iter().find(|flags| {
        Command::new("unshare")
            .args([flags, "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }) else {
        panic!(
            "`unshare -Urm` is unavailable here (no user namespaces, or util-linux missing), so \
             /dev/shm cannot be filled privately"
        );
    };
    let env = TestEnv::new("shmfull");
    // In a private mount namespace: a 256 KiB tmpfs on /dev/shm.
    let script = r#"
        mount -t tmpfs -o size=256k,mode=1777 osps-test /dev/shm || { echo "mount failed"; exit 90; }
        "$0" primary --size 1M --rounds 1; echo "too big: $?"
        ls -A /dev/shm | sed 's/^/left: /'
        head -c 1M /dev/zero > /dev/shm/filler 2>/dev/null
        "$0" primary --size 64K --rounds 1; echo "full: $?"
        rm -f /dev/shm/filler
        ls -A /dev/shm | sed 's/^/left: /'
        "$0" primary --size 64K --rounds 3; echo "room: $?"
        ls -A /dev/shm | sed 's/^/left: /'
    "#;
    let mut cmd = Command::new("unshare");
    cmd.args([unshare, "sh", "-c", script])
        .arg(osps_bin())
        .env("OSPS_NAME", &env.name)
        .env("OSPS_RUNTIME_DIR", &env.runtime_dir)
        .env("NO_COLOR", "1");
    let out = run(cmd, T);
    let (text, err) = (stdout_of(&out), stderr_of(&out));
    assert!(out.status.success(), "{text}\n{err}");
    for line in ["too big: 1", "full: 1", "room: 0"] {
        assert!(
            text.lines().any(|l| l == line),
            "expected {line:?}: {text}\n{err}"
        );
    }
    assert!(!text.contains("left: "), "objects left in /dev/shm: {text}");
    assert_eq!(err.matches("no space left in /dev/shm").count(), 2, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    env.assert_nothing_left();
}

// ---- 10. descriptor exhaustion ----

#[test]
fn descriptor_exhaustion_is_a_clear_error_and_leaves_nothing() {
    let mut env = TestEnv::new("nofile");
    let (mut failed, mut passed) = (Vec::new(), Vec::new());
    for limit in (4..=16).chain([64]) {
        let mut cmd = primary(&env, &["--rounds", "3", "--json", "--max-restarts", "0"]);
        // SAFETY: setrlimit is async-signal-safe; the closure allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let p = env.start_logged(cmd);
        let out = env.finish_logged(&p, T);
        let what = format!("--nofile {limit}");
        assert_no_crash(&out, &what);
        let err = stderr_of(&out);
        match out.status.code() {
            Some(0) => passed.push(limit),
            Some(1 | 4) => {
                assert!(
                    err.contains("Too many open files"),
                    "{what}: unclear error: {err}"
                );
                failed.push(limit);
            }
            other => panic!("{what}: exit status {other:?}: {err}"),
        }
        env.assert_nothing_left();
    }
    eprintln!("failed cleanly with --nofile {failed:?}, worked with {passed:?}");
    assert!(failed.contains(&4) && passed.contains(&64));
}

// ---- 11. the secondary's descriptors ----

#[test]
fn the_secondary_holds_only_the_descriptors_it_needs_never_the_lock() {
    for sync in ["adaptive", "fifo"] {
        let mut env = TestEnv::new("fds");
        let p = env.start_logged(primary(
            &env,
            &[
                "--sync",
                sync,
                "--interval",
                "20ms",
                "--restart-backoff",
                "1ms",
            ],
        ));
        let first = wait_new_secondary(&env, &p, &HashSet::new(), T);
        check_descriptors(&env, p.pid, first);
        // A restarted secondary inherits no more than the first one.
        kill(first, libc::SIGKILL);
        let second = wait_new_secondary(&env, &p, &HashSet::from([first]), T);
        check_descriptors(&env, p.pid, second);
        kill(p.pid, libc::SIGTERM);
        let out = env.finish_logged(&p, T);
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        env.assert_nothing_left();
    }
}

fn check_descriptors(env: &TestEnv, primary: u32, secondary: u32) {
    let lock = env.lock_path().display().to_string();
    let primary_fds = fd_targets(primary);
    assert!(
        primary_fds.iter().any(|(_, t)| *t == lock),
        "the primary should hold the lock: {primary_fds:?}"
    );
    let fds = fd_targets(secondary);
    let shm = env.shm_path().display().to_string();
    let p2s = env.p2s_path().display().to_string();
    let s2p = env.s2p_path().display().to_string();
    let dir = env.runtime_dir.display().to_string();
    let count = |t: &str| fds.iter().filter(|(_, x)| x == t).count();
    assert!(count(&lock) == 0, "the secondary holds the lock: {fds:?}");
    assert_eq!(count(&shm), 1, "{fds:?}");
    assert_eq!(count(&p2s), 1, "{fds:?}");
    assert_eq!(count(&s2p), 1, "{fds:?}");
    for (fd, target) in &fds {
        let needed = *fd <= 2 // stdin, stdout, stderr
            || [&shm, &p2s, &s2p, &dir].contains(&target)
            || target.starts_with("pipe:["); // the signal self-pipe
        assert!(needed, "the secondary holds fd {fd} -> {target}: {fds:?}");
    }
    let pipes = fds
        .iter()
        .filter(|(fd, t)| *fd > 2 && t.starts_with("pipe:["))
        .count();
    assert!(pipes <= 2, "more pipes than the self-pipe: {fds:?}");
}
