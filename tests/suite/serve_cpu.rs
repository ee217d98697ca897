//! `--share-cpu`: where the serving primary and its secondaries run (issue 24). `always`
//! pins them to one CPU from the start (a restarted secondary too), `never` leaves them
//! where the kernel puts them, and `auto` pins them together while pipelining clients
//! load the server and gives them back their CPUs when the load is one request at a time.
//! Read from `Cpus_allowed_list` in `/proc/PID/status`, as `taskset -pc` shows it.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{T, TestEnv, children_of, kill, slow};

/// The CPUs process `pid` (its main thread) may run on, as the kernel lists them.
fn cpus_of(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
}

/// The CPUs this test may run on, from the same list ("0-1,4" style, expanded).
fn my_cpus() -> Vec<usize> {
    let list = cpus_of(std::process::id()).unwrap();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// The primary and its secondaries, each with its CPUs: one list when all its threads
/// agree (affinity is per thread), else what each thread has, joined by `/`.
fn placement(primary: u32) -> Vec<(u32, String)> {
    std::iter::once(primary)
        .chain(children_of(primary))
        .filter_map(|p| {
            let mut each: Vec<String> = std::fs::read_dir(format!("/proc/{p}/task"))
                .ok()?
                .flatten()
                .filter_map(|t| {
                    let status = std::fs::read_to_string(t.path().join("status")).ok()?;
                    status
                        .lines()
                        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                        .map(|v| v.trim().to_string())
                })
                .collect();
            each.sort();
            each.dedup();
            Some((p, each.join("/")))
        })
        .collect()
}

/// Waits until every process of the instance (the primary and `secondaries` of them)
/// may run on `want(cpus)` CPUs; panics with the placement seen last after `timeout`.
fn wait_placed(primary: u32, secondaries: usize, timeout: Duration, want: impl Fn(&str) -> bool) {
    let timeout = slow(timeout);
    let deadline = Instant::now() + timeout;
    loop {
        let seen = placement(primary);
        if seen.len() == secondaries + 1 && seen.iter().all(|(_, c)| want(c)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not placed as wanted within {timeout:?}: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Clients on `socket` until `stop`: each keeps `depth` PINGs in flight, written at
/// once, then reads their replies (every reply checked).
fn load(
    socket: PathBuf,
    clients: usize,
    depth: usize,
    stop: Arc<AtomicBool>,
) -> Vec<JoinHandle<u64>> {
    (0..clients)
        .map(|_| {
            let socket = socket.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut out = UnixStream::connect(&socket).unwrap();
                out.set_read_timeout(Some(slow(T))).unwrap();
                let mut replies = BufReader::new(out.try_clone().unwrap());
                let batch = "PING\n".repeat(depth);
                let mut line = String::new();
                let mut answered = 0;
                while !stop.load(Ordering::Relaxed) {
                    out.write_all(batch.as_bytes()).unwrap();
                    for _ in 0..depth {
                        line.clear();
                        replies.read_line(&mut line).unwrap();
                        assert_eq!(line, "PONG\n");
                        answered += 1;
                    }
                }
                answered
            })
        })
        .collect()
}

fn stop_load(stop: &AtomicBool, threads: Vec<JoinHandle<u64>>) -> u64 {
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().map(|t| t.join().unwrap()).sum()
}

#[test]
fn always_pins_the_primary_and_every_secondary_to_one_cpu_a_restarted_one_too() {
    let mut env = TestEnv::new("cpual");
    let primary = env.start_serving(&["--secondaries", "3", "--share-cpu", "always"]);
    let cpus = cpus_of(primary).unwrap();
    assert!(
        cpus.parse::<usize>().is_ok(),
        "primary on {cpus:?}, not one CPU"
    );
    wait_placed(primary, 3, T, |c| c == cpus);
    // A secondary started after the pinning inherits it at its fork.
    let old = env.wait_worker_up(1, None, T);
    assert!(kill(old, libc::SIGKILL));
    env.wait_worker_up(1, Some(old), T);
    wait_placed(primary, 3, T, |c| c == cpus);
    env.stop_serving(primary);
}

#[test]
fn never_leaves_every_process_on_the_cpus_it_started_with_under_load() {
    let mut env = TestEnv::new("cpunv");
    let mine = cpus_of(std::process::id()).unwrap();
    let primary = env.start_serving(&["--secondaries", "2", "--share-cpu", "never"]);
    let stop = Arc::new(AtomicBool::new(false));
    let threads = load(env.socket_path(), 4, 32, Arc::clone(&stop));
    // Long enough for auto to have pinned them many times over (it decides every 10 ms).
    std::thread::sleep(Duration::from_millis(500));
    let seen = placement(primary);
    assert!(stop_load(&stop, threads) > 0);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.iter().all(|(_, c)| *c == mine), "{seen:?}, not {mine}");
    env.stop_serving(primary);
}

/// A serving primary with `-v` and 2 secondaries, allowed on two CPUs whatever the
/// machine (auto acts only there): its log, the two CPUs, and how `Cpus_allowed_list`
/// writes both. `None` on a machine of one CPU.
fn serving_on_two_cpus(env: &mut TestEnv) -> Option<(common::Logged, [usize; 2], String)> {
    let cpus = my_cpus();
    if cpus.len() < 2 {
        eprintln!("one CPU only: nothing to share or part here");
        return None;
    }
    let two = [cpus[0], cpus[1]];
    let mut cmd = env.cmd("primary");
    cmd.args(["--serve", "-v", "--secondaries", "2"]);
    let mut set = nix::sched::CpuSet::new();
    set.set(two[0]).unwrap();
    set.set(two[1]).unwrap();
    // SAFETY: between fork and exec the hook only calls sched_setaffinity on a set built
    // before the fork: it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
                .map_err(std::io::Error::from)
        });
    }
    let logged = env.start_logged(cmd);
    env.wait_serving(T);
    let both = if two[1] == two[0] + 1 {
        format!("{}-{}", two[0], two[1])
    } else {
        format!("{},{}", two[0], two[1])
    };
    wait_placed(logged.pid, 2, T, |c| c == both);
    Some((logged, two, both))
}

/// 4 clients x 32 in flight (turns of many requests: the server is the limit) until the
/// primary and its secondaries share one of `two`: the load, still running, and that CPU.
fn shared_under_load(
    env: &TestEnv,
    primary: u32,
    two: [usize; 2],
) -> (Arc<AtomicBool>, Vec<JoinHandle<u64>>, String) {
    let stop = Arc::new(AtomicBool::new(false));
    let threads = load(env.socket_path(), 4, 32, Arc::clone(&stop));
    let one = |c: &str| c == two[0].to_string() || c == two[1].to_string();
    wait_placed(primary, 2, Duration::from_secs(20), one);
    let shared = cpus_of(primary).unwrap();
    wait_placed(primary, 2, T, |c| c == shared);
    (stop, threads, shared)
}

#[test]
fn auto_shares_a_cpu_under_pipelined_load_and_parts_under_one_request_at_a_time() {
    let mut env = TestEnv::new("cpuau");
    let Some((logged, two, both)) = serving_on_two_cpus(&mut env) else {
        return;
    };

    let (stop, threads, shared) = shared_under_load(&env, logged.pid, two);
    // One client, one request at a time, started before the pipelining ones stop: no
    // pause between the loads, a request a turn, back on both CPUs.
    let light = Arc::new(AtomicBool::new(false));
    let one_at_a_time = load(env.socket_path(), 1, 1, Arc::clone(&light));
    assert!(stop_load(&stop, threads) > 0);
    wait_placed(logged.pid, 2, Duration::from_secs(20), |c| c == both);
    assert!(stop_load(&light, one_at_a_time) > 0);

    assert!(kill(logged.pid, libc::SIGTERM));
    let out = env.finish_logged(&logged, T);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {log}", out.status);
    assert!(
        log.contains(&format!(
            "the primary and its secondaries now share CPU {shared} ("
        )) && log.contains(&format!(
            "the primary and its secondaries are back on CPUs {both} ("
        )),
        "{log}"
    );
    // Parted while the lone client was served: its last window had requests.
    let parted = log
        .lines()
        .find(|l| l.contains("are back on CPUs"))
        .unwrap();
    assert!(!parted.contains("the last: 0 requests"), "{parted}");
    env.assert_nothing_left();
}

/// After a load, requests further apart than the loop's pauses (one every 60 ms) are a
/// light load too: the processes part. Before, every such window was taken for a pause
/// and skipped, and they stayed pinned for good.
#[test]
fn auto_parts_under_sparse_requests_after_a_load() {
    let mut env = TestEnv::new("cpusp");
    let Some((logged, two, both)) = serving_on_two_cpus(&mut env) else {
        return;
    };
    let (stop, threads, _) = shared_under_load(&env, logged.pid, two);
    assert!(stop_load(&stop, threads) > 0);
    let mut conn = UnixStream::connect(env.socket_path()).unwrap();
    conn.set_read_timeout(Some(slow(T))).unwrap();
    let mut replies = BufReader::new(conn.try_clone().unwrap());
    let deadline = Instant::now() + slow(Duration::from_secs(20));
    let mut line = String::new();
    while !placement(logged.pid).iter().all(|(_, c)| *c == both) {
        assert!(
            Instant::now() < deadline,
            "still {:?} under sparse requests",
            placement(logged.pid)
        );
        conn.write_all(b"PING\n").unwrap();
        line.clear();
        replies.read_line(&mut line).unwrap();
        assert_eq!(line, "PONG\n");
        std::thread::sleep(Duration::from_millis(60));
    }
    assert!(kill(logged.pid, libc::SIGTERM));
    let out = env.finish_logged(&logged, T);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.assert_nothing_left();
}
