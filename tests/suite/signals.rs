//! Every signal that would kill a primary by default ends in order or is ignored, in both
//! modes, whether it reaches the primary alone or the whole process group (a closed
//! terminal, `kill -- -PGID`): exit 0, the secondaries stopped and reaped by the primary,
//! nothing left behind. SIGUSR1 prints one status line and the instance runs on. A file
//! size limit below the segment is a clear error, not a SIGXFSZ death.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::{Logged, TestEnv, field, json_of, process_alive, process_exists, run, stderr_of};

/// Generous: the suite runs in parallel on a loaded two-core machine.
const T: Duration = Duration::from_secs(60);

/// Sends `signal` to a process (`pid` > 0) or a whole process group (`-pgid`).
fn signal(target: i32, signal: i32) {
    // SAFETY: kill(2) on a process or group this test started.
    let rc = unsafe { libc::kill(target, signal) };
    assert_eq!(rc, 0, "kill({target}, {signal})");
}

/// Starts `osps primary --json ARGS` in a process group of its own (its pid is the
/// group's id), as a shell job is; output logged to files.
fn start_group(env: &mut TestEnv, args: &[&str]) -> Logged {
    let mut cmd = env.cmd("primary");
    cmd.args(args).arg("--json").process_group(0);
    env.start_logged(cmd)
}

/// A rounds-mode pair exchanging heartbeat rounds; returns the primary and the secondary.
fn running_rounds(env: &mut TestEnv, extra: &[&str]) -> (Logged, u32) {
    let mut args = vec!["--interval", "20ms"];
    args.extend_from_slice(extra);
    let p = start_group(env, &args);
    let secondary = env.wait_secondary(T);
    env.wait_rounds(2, T);
    (p, secondary)
}

/// A serving primary with two secondaries, answering; returns it and their pids.
fn running_serve(env: &mut TestEnv) -> (Logged, Vec<u32>) {
    let p = start_group(env, &["--serve", "--secondaries", "2"]);
    env.wait_serving(T);
    let pids = (0..2).map(|i| env.wait_worker_up(i, None, T)).collect();
    assert_eq!(ask(env, "PING"), "PONG");
    (p, pids)
}

/// One request to the serving instance over its Unix socket.
fn ask(env: &TestEnv, line: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(env.socket_path()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    writeln!(s, "{line}").unwrap();
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).unwrap();
    reply.trim_end().to_string()
}

/// The rounds pair stopped in order: exit 0 by a signal, the secondary exited 0 (so the
/// primary collected its status), no round lost, no restart, nothing left.
fn assert_rounds_stopped_in_order(env: &TestEnv, out: &std::process::Output, secondary: u32) {
    assert!(out.status.success(), "{}", stderr_of(out));
    let v = json_of(out);
    assert_eq!(v["stopped_by"], "signal", "{v}");
    assert_eq!(
        v["secondary_exit"], 0,
        "the secondary stopped in order: {v}"
    );
    assert_eq!(v["secondary_pid"], secondary, "{v}");
    assert_eq!(v["rounds_failed"], 0, "{v}");
    assert_eq!(v["restarts"], 0, "{v}");
    assert_reaped(&[secondary]);
    env.assert_no_leftovers();
}

/// The serving pair stopped in order.
fn assert_serve_stopped_in_order(env: &TestEnv, out: &std::process::Output, pids: &[u32]) {
    assert!(out.status.success(), "{}", stderr_of(out));
    let v = json_of(out);
    assert_eq!(v["stopped_by"], "signal", "{v}");
    assert_eq!(v["restarts"], 0, "{v}");
    assert_eq!(v["deaths"], serde_json::json!([]), "{v}");
    assert_reaped(pids);
    env.assert_no_leftovers();
}

/// The secondaries are gone entirely: not running and not a zombie. (An unreaped child
/// of the exited primary would be a zombie adopted by pid 1, still in /proc.)
fn assert_reaped(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    for &pid in pids {
        while process_exists(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            !process_exists(pid),
            "secondary {pid} is still there (alive: {})",
            process_alive(pid)
        );
    }
}

#[test]
fn sighup_to_the_primary_stops_the_pair_in_order() {
    let mut env = TestEnv::new("hup1");
    let (p, secondary) = running_rounds(&mut env, &[]);
    signal(p.pid as i32, libc::SIGHUP);
    let out = env.finish_logged(&p, T);
    assert_rounds_stopped_in_order(&env, &out, secondary);

    let mut env = TestEnv::new("hup1s");
    let (p, pids) = running_serve(&mut env);
    signal(p.pid as i32, libc::SIGHUP);
    let out = env.finish_logged(&p, T);
    assert_serve_stopped_in_order(&env, &out, &pids);
}

#[test]
fn sighup_to_the_whole_process_group_stops_the_pair_in_order() {
    // A closed terminal or a dropped SSH session: SIGHUP to every process of the job.
    for sync in ["fifo", "adaptive"] {
        let mut env = TestEnv::new("hupgrp");
        let (p, secondary) = running_rounds(&mut env, &["--sync", sync]);
        signal(-(p.pid as i32), libc::SIGHUP);
        let out = env.finish_logged(&p, T);
        assert_rounds_stopped_in_order(&env, &out, secondary);
    }
    // While rounds run flat out, the signal lands in the middle of one.
    let mut env = TestEnv::new("hupgrpr");
    let p = start_group(&mut env, &["--rounds", "100000000"]);
    let secondary = env.wait_secondary(T);
    env.wait_rounds(100, T);
    signal(-(p.pid as i32), libc::SIGHUP);
    let out = env.finish_logged(&p, T);
    assert_rounds_stopped_in_order(&env, &out, secondary);

    let mut env = TestEnv::new("hupgrps");
    let (p, pids) = running_serve(&mut env);
    signal(-(p.pid as i32), libc::SIGHUP);
    let out = env.finish_logged(&p, T);
    assert_serve_stopped_in_order(&env, &out, &pids);
}

/// A pseudo-terminal (master, slave), both close-on-exec: the tests of this file run in
/// parallel, and a master inherited by another test's child would keep the terminal up.
fn pseudo_terminal() -> (std::fs::File, std::os::fd::OwnedFd) {
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::fs::OpenOptionsExt;
    let master = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/ptmx")
        .unwrap();
    // SAFETY: unlockpt and ioctl(TIOCGPTPEER) on the master we just opened; the new
    // descriptor is checked, then owned.
    let slave = unsafe {
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0);
        let fd = libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(fd >= 0, "{}", std::io::Error::last_os_error());
        std::os::fd::OwnedFd::from_raw_fd(fd)
    };
    (master, slave)
}

#[test]
fn a_terminal_that_hangs_up_stops_the_pair_in_order() {
    // The real thing: the primary runs on a terminal (a pseudo-terminal, as under SSH)
    // whose other side goes away; the kernel sends the SIGHUP.
    let mut env = TestEnv::new("hangup");
    let (master, slave) = pseudo_terminal();
    let mut cmd = env.cmd("primary");
    // The terminal is its controlling terminal and stdin; stdout and stderr go to files
    // (start_logged), so the summary can be read after the hang-up.
    cmd.args(["--json", "--interval", "20ms"])
        .stdin(slave.try_clone().unwrap());
    // SAFETY: setsid(2) and ioctl(2) are async-signal-safe: a session of its own with the
    // terminal as its controlling terminal, as a login shell's job has.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let p = env.start_logged(cmd);
    drop(slave);
    let secondary = env.wait_secondary(T);
    env.wait_rounds(2, T);
    drop(master);
    let out = env.finish_logged(&p, T);
    assert_rounds_stopped_in_order(&env, &out, secondary);
}

#[test]
fn a_sighup_ignored_at_start_stays_ignored_as_nohup_asks() {
    let mut env = TestEnv::new("nohup");
    let mut cmd = env.cmd("primary");
    cmd.args(["--json", "--interval", "20ms"]).process_group(0);
    // SAFETY: signal(2) is async-signal-safe; this is what nohup(1) does before exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let p = env.start_logged(cmd);
    let secondary = env.wait_secondary(T);
    env.wait_rounds(2, T);
    signal(-(p.pid as i32), libc::SIGHUP);
    let after = env.header_field(field::ROUNDS_COMPLETED).unwrap();
    env.wait_rounds(after + 5, T);
    assert!(process_alive(p.pid) && process_alive(secondary));
    signal(p.pid as i32, libc::SIGTERM);
    let out = env.finish_logged(&p, T);
    assert_rounds_stopped_in_order(&env, &out, secondary);
}

/// Waits until the logged stderr holds a line starting with `prefix`; returns it.
fn wait_line(env: &TestEnv, p: &Logged, prefix: &str) -> String {
    let deadline = Instant::now() + T;
    loop {
        let err = env.stderr_so_far(p);
        if let Some(line) = err.lines().find(|l| l.starts_with(prefix)) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no line {prefix:?} in: {err}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigusr1_prints_one_status_line_and_the_instance_runs_on() {
    let mut env = TestEnv::new("usr1");
    let (p, secondary) = running_rounds(&mut env, &[]);
    signal(p.pid as i32, libc::SIGUSR1);
    let prefix = format!("osps[primary]: instance {}: running ", env.name);
    let line = wait_line(&env, &p, &prefix);
    let rest = &line[prefix.len()..];
    // "12.3 s, 1234 rounds, 0 failed, secondary pid N, 0 restarts"
    let (secs, counts) = rest.split_once(" s, ").unwrap_or_else(|| panic!("{line}"));
    assert!(secs.parse::<f64>().unwrap() >= 0.0, "{line}");
    let parts: Vec<&str> = counts.split(", ").collect();
    assert_eq!(parts.len(), 4, "{line}");
    assert!(
        parts[0]
            .strip_suffix(" rounds")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 2
    );
    assert_eq!(parts[1], "0 failed", "{line}");
    assert_eq!(parts[2], format!("secondary pid {secondary}"), "{line}");
    assert_eq!(parts[3], "0 restarts", "{line}");

    // The group's SIGUSR1 kills neither side; each request gets its own line.
    signal(-(p.pid as i32), libc::SIGUSR1);
    let deadline = Instant::now() + T;
    while env.stderr_so_far(&p).matches(&prefix).count() < 2 {
        assert!(Instant::now() < deadline, "{}", env.stderr_so_far(&p));
        std::thread::sleep(Duration::from_millis(10));
    }
    let after = env.header_field(field::ROUNDS_COMPLETED).unwrap();
    env.wait_rounds(after + 5, T);
    assert!(process_alive(secondary));
    signal(p.pid as i32, libc::SIGTERM);
    let out = env.finish_logged(&p, T);
    assert_rounds_stopped_in_order(&env, &out, secondary);
    assert_eq!(
        stderr_of(&out).matches(&prefix).count(),
        2,
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn sigusr1_in_serve_mode_counts_requests_clients_and_secondaries() {
    let mut env = TestEnv::new("usr1s");
    let (p, pids) = running_serve(&mut env);
    assert_eq!(ask(&env, "ECHO hi"), "hi");
    signal(-(p.pid as i32), libc::SIGUSR1);
    let prefix = format!("osps[primary]: instance {}: serving ", env.name);
    let line = wait_line(&env, &p, &prefix);
    // (The client count may still include the one that just hung up.)
    assert!(line.contains(" 2 requests, "), "{line}");
    assert!(line.contains(" clients, 0 queued, "), "{line}");
    assert!(
        line.contains(&format!(
            "2 of 2 secondaries live (pids {} {}), 0 restarts",
            pids[0], pids[1]
        )),
        "{line}"
    );
    assert_eq!(ask(&env, "PING"), "PONG", "still serving after SIGUSR1");
    signal(p.pid as i32, libc::SIGTERM);
    let out = env.finish_logged(&p, T);
    assert_serve_stopped_in_order(&env, &out, &pids);
}

#[test]
fn timer_and_user_signals_never_end_a_pair_without_its_orderly_stop() {
    // Ignored: the pair runs on, untouched, even when the whole group gets them.
    for sig in [libc::SIGUSR2, libc::SIGVTALRM, libc::SIGPROF, libc::SIGPIPE] {
        let mut env = TestEnv::new("ignored");
        let (p, secondary) = running_rounds(&mut env, &[]);
        signal(-(p.pid as i32), sig);
        signal(p.pid as i32, sig);
        let after = env.header_field(field::ROUNDS_COMPLETED).unwrap();
        env.wait_rounds(after + 5, T);
        assert!(process_alive(p.pid), "signal {sig} ended the primary");
        signal(p.pid as i32, libc::SIGTERM);
        let out = env.finish_logged(&p, T);
        assert_rounds_stopped_in_order(&env, &out, secondary);
    }
    // SIGALRM is "time is up" (timeout -s ALRM signals the whole group): stop in order.
    let mut env = TestEnv::new("alrm");
    let (p, secondary) = running_rounds(&mut env, &[]);
    signal(-(p.pid as i32), libc::SIGALRM);
    let out = env.finish_logged(&p, T);
    assert_rounds_stopped_in_order(&env, &out, secondary);

    let mut env = TestEnv::new("alrms");
    let (p, pids) = running_serve(&mut env);
    signal(-(p.pid as i32), libc::SIGUSR2);
    assert_eq!(ask(&env, "PING"), "PONG", "still serving after SIGUSR2");
    signal(p.pid as i32, libc::SIGALRM);
    let out = env.finish_logged(&p, T);
    assert_serve_stopped_in_order(&env, &out, &pids);
}

#[test]
fn a_segment_beyond_the_file_size_limit_is_a_clear_error_leaving_nothing() {
    let env = TestEnv::new("fsize");
    let mut cmd = env.cmd("primary");
    cmd.args(["--rounds", "1", "--size", "1M"]);
    // What `prlimit --fsize=65536 osps primary ...` does: the segment cannot be reserved.
    // SAFETY: setrlimit(2) is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 65536,
                rlim_max: 65536,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = run(cmd, T);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "not a SIGXFSZ death: {err}");
    // One error, its causes on their own lines: which segment, then why and what to do.
    assert!(
        err.contains(&format!(
            "caused by: reserving 1048576 bytes for {}\n  caused by: the segment needs \
             1048576 bytes but the file size limit (ulimit -f / RLIMIT_FSIZE) is 65536 bytes; \
             raise it or lower --size\n",
            env.shm_path().display()
        )),
        "{err}"
    );
    env.assert_no_leftovers();
}

#[test]
fn power_io_cpu_and_real_time_signals_stop_the_pair_in_order() {
    // Nothing in osps uses them; each one's default would end the primary at once and
    // leave the whole instance behind. Alternately to the primary and to the group.
    let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let signals = [
        libc::SIGPWR,
        rtmin + 1,
        libc::SIGIO,
        libc::SIGSTKFLT,
        libc::SIGXCPU,
        rtmax,
    ];
    for (i, sig) in signals.into_iter().enumerate() {
        let mut env = TestEnv::new("pwrrt");
        let (p, secondary) = running_rounds(&mut env, &[]);
        let target = if i % 2 == 0 {
            p.pid as i32
        } else {
            -(p.pid as i32)
        };
        signal(target, sig);
        let out = env.finish_logged(&p, T);
        assert_eq!(
            out.status.code(),
            Some(0),
            "signal {sig}: {}",
            stderr_of(&out)
        );
        assert_rounds_stopped_in_order(&env, &out, secondary);
    }

    let mut env = TestEnv::new("pwrrts");
    let (p, pids) = running_serve(&mut env);
    signal(-(p.pid as i32), rtmin);
    let out = env.finish_logged(&p, T);
    assert_serve_stopped_in_order(&env, &out, &pids);
}

#[test]
fn a_real_time_signal_to_the_secondary_alone_waits_like_sigterm_for_the_primary() {
    let mut env = TestEnv::new("rtsec");
    let (p, secondary) = running_rounds(&mut env, &[]);
    for sig in [libc::SIGRTMIN(), libc::SIGPWR] {
        signal(secondary as i32, sig);
        let after = env.header_field(field::ROUNDS_COMPLETED).unwrap();
        env.wait_rounds(after + 5, T);
        assert!(process_alive(secondary), "signal {sig} ended the secondary");
    }
    signal(p.pid as i32, libc::SIGTERM);
    let out = env.finish_logged(&p, T);
    assert_rounds_stopped_in_order(&env, &out, secondary);
}

/// Starts `osps primary --json ARGS` as a parent that blocked every signal would: the
/// mask survives exec (python's `pthread_sigmask` then `os.execv`, a service manager
/// that forgot to reset it).
fn start_with_signals_blocked(env: &mut TestEnv, args: &[&str]) -> Logged {
    let mut cmd = env.cmd("primary");
    cmd.args(args).arg("--json").process_group(0);
    // SAFETY: sigfillset and sigprocmask are async-signal-safe, on a local set.
    unsafe {
        cmd.pre_exec(|| {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            if libc::sigprocmask(libc::SIG_BLOCK, &all, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    env.start_logged(cmd)
}

#[test]
fn signals_blocked_by_the_parent_still_stop_the_pair_in_order() {
    for (sync, sig) in [("adaptive", libc::SIGTERM), ("fifo", libc::SIGINT)] {
        let mut env = TestEnv::new("blocked");
        let p = start_with_signals_blocked(&mut env, &["--interval", "20ms", "--sync", sync]);
        let secondary = env.wait_secondary(T);
        env.wait_rounds(2, T);
        signal(p.pid as i32, sig);
        let out = env.finish_logged(&p, T);
        assert_rounds_stopped_in_order(&env, &out, secondary);
    }
    // Flat out, a stop lands in the middle of a round that waits in a FIFO read.
    let mut env = TestEnv::new("blockedr");
    let p = start_with_signals_blocked(&mut env, &["--rounds", "100000000", "--sync", "fifo"]);
    let secondary = env.wait_secondary(T);
    env.wait_rounds(100, T);
    signal(p.pid as i32, libc::SIGHUP);
    let out = env.finish_logged(&p, T);
    assert_rounds_stopped_in_order(&env, &out, secondary);

    // A stopped secondary leaves the primary blocked in a FIFO read, which only the
    // watchdog's kick (SIGURG) ends at --timeout: it must get through the mask too.
    let mut env = TestEnv::new("blockedk");
    let args = ["--interval", "20ms", "--sync", "fifo", "--timeout", "300ms"];
    let p = start_with_signals_blocked(&mut env, &args);
    let secondary = env.wait_secondary(T);
    // Past the first turns, which wait with poll (fifo.rs, POLLED_TURNS).
    env.wait_rounds(12, T);
    signal(secondary as i32, libc::SIGSTOP);
    let deadline = Instant::now() + T;
    while env.header_field(field::RESTARTS) != Some(1) {
        assert!(
            Instant::now() < deadline,
            "the stopped secondary was never taken for hung: {}",
            env.stderr_so_far(&p)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(p.pid as i32, libc::SIGTERM);
    let out = env.finish_logged(&p, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(json_of(&out)["restarts"], 1);
    assert_reaped(&[secondary]);
    env.assert_no_leftovers();

    let mut env = TestEnv::new("blockeds");
    let p = start_with_signals_blocked(&mut env, &["--serve", "--secondaries", "2"]);
    env.wait_serving(T);
    let pids: Vec<u32> = (0..2).map(|i| env.wait_worker_up(i, None, T)).collect();
    assert_eq!(ask(&env, "PING"), "PONG");
    signal(p.pid as i32, libc::SIGTERM);
    let out = env.finish_logged(&p, T);
    assert_serve_stopped_in_order(&env, &out, &pids);
}

/// Waits until the primary says it is stopping (the Stop frames go out next).
fn wait_stopping(env: &TestEnv) {
    let deadline = Instant::now() + common::slow(T);
    while env.header_field(field::PRIMARY_STATE) != Some(4) {
        assert!(
            Instant::now() < deadline,
            "the primary never began its stop"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A second stop signal while the primary waits for secondaries that do not stop (here
/// stopped with SIGSTOP, with a long --timeout) cuts the whole stop short: each is killed
/// at once, in a pool too, as a second Ctrl-C is expected to. Before, the primary waited
/// out --timeout for each of them whatever came.
#[test]
fn a_second_stop_signal_cuts_the_wait_for_a_secondary_that_does_not_stop() {
    for serve in [false, true] {
        let mut env = TestEnv::new("hurry");
        let (p, secondaries) = if serve {
            let p = start_group(
                &mut env,
                &["--serve", "--secondaries", "3", "--timeout", "30s"],
            );
            env.wait_serving(T);
            let pids: Vec<u32> = (0..3).map(|i| env.wait_worker_up(i, None, T)).collect();
            (p, pids)
        } else {
            let (p, s) = running_rounds(&mut env, &["--timeout", "30s"]);
            (p, vec![s])
        };
        for &s in &secondaries {
            signal(s as i32, libc::SIGSTOP);
        }
        signal(p.pid as i32, libc::SIGTERM);
        wait_stopping(&env);
        // Let the first secondary's wait begin (its Stop frame sent), and leave the time
        // in which a signal counts as the first one again (SAME_REQUEST, 100 ms).
        std::thread::sleep(Duration::from_millis(250));
        let out = second_sigint_ends_it(&mut env, p, Duration::from_secs(5));
        let err = stderr_of(&out);
        assert!(err.contains("stop signal came during the stop"), "{err}");
        assert!(!err.contains("did not stop within"), "{err}");
        for &s in &secondaries {
            assert!(!process_exists(s), "secondary {s} was left behind");
        }
        env.assert_no_leftovers();
    }
}

/// `timeout -s INT` delivers its signal twice, microseconds apart: to the primary, then
/// to its whole process group. That is one request to stop, not "Ctrl-C again": the
/// secondary, held here with SIGSTOP past the hurried grace (100 ms), is waited for and
/// stops in order. Before, the second delivery hurried the stop and the secondary was
/// SIGKILLed (1 to 5 runs in 40 of `timeout -s INT 0.3 osps primary`).
#[test]
fn one_stop_signal_delivered_twice_as_timeout_does_is_one_request() {
    let mut env = TestEnv::new("twice");
    let (p, secondary) = running_rounds(&mut env, &["--timeout", "30s"]);
    signal(secondary as i32, libc::SIGSTOP);
    let first = Instant::now();
    signal(p.pid as i32, libc::SIGINT);
    // The second delivery after the primary took the first (its stop began): the case
    // that raced, made certain.
    wait_stopping(&env);
    let gap = first.elapsed();
    signal(-(p.pid as i32), libc::SIGINT);
    std::thread::sleep(Duration::from_millis(400));
    // Gone already if it was killed (what this test catches): no matter then.
    common::kill(secondary, libc::SIGCONT);
    let out = env.finish_logged(&p, T);
    let err = stderr_of(&out);
    if gap >= Duration::from_millis(80) {
        // A machine this slow took longer than a person's second Ctrl-C would: the second
        // delivery rightly hurried the stop, and this run says nothing.
        eprintln!("the primary took {gap:?} to begin its stop: not judged");
        return;
    }
    assert!(!err.contains("killed it"), "{gap:?}: {err}");
    assert_rounds_stopped_in_order(&env, &out, secondary);
}

/// A second stop signal while a round waits for its reply (the secondary held with
/// SIGSTOP, a long --timeout) ends that wait, as it does between rounds: the round is not
/// waited for, the secondary gets its 100 ms and is killed, and the run ends in order,
/// exit 0, no round counted lost. Before, the second Ctrl-C was lost in the round's wait
/// and the primary waited out --timeout, then exited 6.
#[test]
fn a_second_stop_signal_during_a_round_ends_the_wait_for_its_reply() {
    let mut env = TestEnv::new("roundcut");
    let (p, secondary) = running_rounds(&mut env, &["--timeout", "60s"]);
    signal(secondary as i32, libc::SIGSTOP);
    // The next round (every 20 ms) starts and waits for the stopped secondary.
    std::thread::sleep(Duration::from_millis(300));
    signal(p.pid as i32, libc::SIGINT);
    // Past SAME_REQUEST (100 ms): a second request, not the first delivered twice.
    std::thread::sleep(Duration::from_millis(300));
    let out = second_sigint_ends_it(&mut env, p, Duration::from_secs(10));
    let err = stderr_of(&out);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    let v = json_of(&out);
    assert_eq!(v["rounds_failed"], 0, "{v}");
    assert!(
        !process_exists(secondary),
        "secondary {secondary} left behind"
    );
    env.assert_no_leftovers();
}

/// Sends the second SIGINT to the primary `p` and waits for it: it must end within
/// `within` (scaled by `slow`), however long its --timeout.
fn second_sigint_ends_it(env: &mut TestEnv, p: Logged, within: Duration) -> std::process::Output {
    let second = Instant::now();
    signal(p.pid as i32, libc::SIGINT);
    let out = env.finish_logged(&p, T);
    let took = second.elapsed();
    assert!(took < common::slow(within), "{took:?}: {}", stderr_of(&out));
    out
}
