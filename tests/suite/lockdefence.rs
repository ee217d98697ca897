//! A live primary defends its lock file, in both modes: removed (a user's `rm`, an
//! age-based cleaner), it is back within a second, locked and naming the primary;
//! replaced by another file, the primary runs on and leaves that file alone. Each episode
//! is reported once on stderr, never once per check.

use crate::common;

use std::time::{Duration, Instant};

use common::{Logged, TestEnv, field, json_of, kill, slow, stderr_of};

/// Generous: the suite runs in parallel on a loaded two-core machine.
const T: Duration = Duration::from_secs(60);

/// A primary that waits (between rounds, for clients) is told of the removal by inotify
/// and puts the file back at once: far sooner than its 0.8 s timer or its next round.
const WATCHED: Duration = Duration::from_millis(500);

/// A primary running rounds flat out looks on its 0.8 s timer.
const TIMER: Duration = Duration::from_secs(2);

fn primary(env: &mut TestEnv, args: &[&str]) -> Logged {
    let mut cmd = env.cmd("primary");
    cmd.args(args).arg("--json");
    let p = env.start_logged(cmd);
    if args.contains(&"--serve") {
        env.wait_serving(T);
    } else {
        env.wait_secondary(T);
        env.wait_rounds(2, T);
    }
    p
}

/// Waits until the lock file is back, naming the primary; returns how long it took.
fn wait_restored(env: &TestEnv, pid: u32) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(env.lock_path()) {
            if text.trim() == pid.to_string() {
                return started.elapsed();
            }
        }
        assert!(started.elapsed() < T, "the lock file was not restored");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Removes the lock file twice (two episodes) and checks each restore is reported once
/// and comes `within` the given time (scaled by OSPS_TEST_SLOWDOWN).
fn remove_twice_and_stop(mut env: TestEnv, p: Logged, serve: bool, within: Duration) {
    let restored = format!(
        "the lock file {} was removed while instance {} runs; restored it",
        env.lock_path().display(),
        env.name
    );
    for episode in 1..=2 {
        std::fs::remove_file(env.lock_path()).unwrap();
        let took = wait_restored(&env, p.pid);
        eprintln!("episode {episode}: restored after {took:?}");
        assert!(
            took < slow(within),
            "episode {episode}: restored only after {took:?}"
        );
        // A few more check periods: the warning is not repeated while all is well.
        std::thread::sleep(Duration::from_millis(1500));
        let err = env.stderr_so_far(&p);
        assert_eq!(err.matches(&restored).count(), episode, "{err}");
    }
    if !serve {
        let after = env.header_field(field::ROUNDS_COMPLETED).unwrap();
        env.wait_rounds(after + 3, T);
    }
    assert!(kill(p.pid, libc::SIGTERM));
    let out = env.finish_logged(&p, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(json_of(&out)["restarts"], 0);
    env.assert_no_leftovers();
    drop(env);
}

#[test]
fn a_removed_lock_file_is_restored_between_heartbeat_rounds() {
    let mut env = TestEnv::new("defidle");
    // An interval longer than the check period without inotify (800 ms): the idle wait
    // wakes for the change (or for the check), not for a round.
    let p = primary(&mut env, &["--interval", "1200ms"]);
    remove_twice_and_stop(env, p, false, WATCHED);
}

#[test]
fn a_removed_lock_file_is_restored_while_rounds_run_flat_out() {
    let mut env = TestEnv::new("defbusy");
    let p = primary(&mut env, &["--rounds", "100000000"]);
    remove_twice_and_stop(env, p, false, TIMER);
}

#[test]
fn a_removed_lock_file_is_restored_while_serving() {
    let mut env = TestEnv::new("defserve");
    let p = primary(&mut env, &["--serve", "--secondaries", "2"]);
    remove_twice_and_stop(env, p, true, WATCHED);
}

#[test]
fn a_replaced_lock_file_is_reported_once_and_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = TestEnv::new("defother");
    let p = primary(&mut env, &["--interval", "20ms"]);
    let other = env.runtime_dir.join("other");
    std::fs::write(&other, "other\n").unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&other, env.lock_path()).unwrap();
    let conflict = format!("cannot restore the lock file of instance {}", env.name);
    let deadline = Instant::now() + T;
    while !env.stderr_so_far(&p).contains(&conflict) {
        assert!(Instant::now() < deadline, "{}", env.stderr_so_far(&p));
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(env.stderr_so_far(&p).matches(&conflict).count(), 1);
    assert_eq!(std::fs::read_to_string(env.lock_path()).unwrap(), "other\n");
    let after = env.header_field(field::ROUNDS_COMPLETED).unwrap();
    env.wait_rounds(after + 3, T);
    assert!(kill(p.pid, libc::SIGTERM));
    let out = env.finish_logged(&p, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(std::fs::read_to_string(env.lock_path()).unwrap(), "other\n");
    std::fs::remove_file(env.lock_path()).unwrap();
    env.assert_no_leftovers();
}

/// The FIFOs of a running instance, removed (an age-based cleaner of /tmp, a user's
/// `rm`): inspect says so, and the secondary's next restart makes them anew instead of
/// failing the whole run; in a pool, the others serve meanwhile. Before, the restart
/// failed with "does not exist: is the primary running?" and the primary exited 1.
#[test]
fn removed_fifos_are_made_anew_when_their_secondary_restarts() {
    for serve in [false, true] {
        let mut env = TestEnv::new(if serve { "fifogone-s" } else { "fifogone" });
        let args: &[&str] = if serve {
            &["--serve", "--secondaries", "2"]
        } else {
            &["--interval", "50ms"]
        };
        let p = primary(&mut env, args);
        let index = usize::from(serve);
        let (p2s, s2p) = if serve {
            (
                env.runtime_dir.join(format!("{}.1.p2s.fifo", env.name)),
                env.runtime_dir.join(format!("{}.1.s2p.fifo", env.name)),
            )
        } else {
            (env.p2s_path(), env.s2p_path())
        };
        std::fs::remove_file(&p2s).unwrap();
        std::fs::remove_file(&s2p).unwrap();
        let out = env.cmd("inspect").output().unwrap();
        let doc = String::from_utf8_lossy(&out.stdout);
        assert!(doc.contains("FIFO missing"), "{doc}");
        let old = env.wait_worker_up(index, None, T);
        assert!(kill(old, libc::SIGKILL));
        let new = env.wait_worker_up(index, Some(old), T);
        assert_ne!(new, old);
        assert!(p2s.exists() && s2p.exists());
        if serve {
            let out = env
                .cmd("client")
                .args(["PING", "PING", "PING"])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "PONG\nPONG\nPONG\n");
        } else {
            let after = env.header_field(field::ROUNDS_COMPLETED).unwrap();
            env.wait_rounds(after + 3, T);
        }
        assert!(kill(p.pid, libc::SIGTERM));
        let out = env.finish_logged(&p, T);
        assert!(out.status.success(), "{}", stderr_of(&out));
        assert_eq!(json_of(&out)["restarts"], 1, "{}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains("made it anew"),
            "{}",
            stderr_of(&out)
        );
        env.assert_no_leftovers();
    }
}

/// A serving instance's socket, removed (a user's `rm`, an age-based cleaner): the
/// primary makes it anew within about a second, and clients connected before are not
/// disturbed. (Before, the server was unreachable until restarted, and a client said it
/// ran in rounds mode.)
#[test]
fn a_removed_socket_is_made_anew() {
    use std::io::{BufRead, BufReader, Write};
    let mut env = TestEnv::new("sockgone");
    let p = primary(&mut env, &["--serve"]);
    let mut early = std::os::unix::net::UnixStream::connect(env.socket_path()).unwrap();
    early.set_read_timeout(Some(T)).unwrap();
    std::fs::remove_file(env.socket_path()).unwrap();
    let removed = Instant::now();
    let took = loop {
        if std::os::unix::net::UnixStream::connect(env.socket_path()).is_ok() {
            break removed.elapsed();
        }
        assert!(
            removed.elapsed() < slow(TIMER),
            "the socket was not made anew"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    eprintln!("socket back after {took:?}");
    let out = env.cmd("client").arg("PING").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "PONG\n",
        "{}",
        stderr_of(&out)
    );
    writeln!(early, "PING").unwrap();
    let mut reply = String::new();
    BufReader::new(&early).read_line(&mut reply).unwrap();
    assert_eq!(reply, "PONG\n", "the client connected before was disturbed");
    drop(early);
    assert!(kill(p.pid, libc::SIGTERM));
    let out = env.finish_logged(&p, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        stderr_of(&out).matches("made it anew").count(),
        1,
        "{}",
        stderr_of(&out)
    );
    env.assert_no_leftovers();
}

/// The whole runtime directory removed under a serving primary: its socket cannot be
/// made anew, and that is said once, not once a second; the server serves on for the
/// clients it has and stops in order.
#[test]
fn a_socket_that_cannot_be_made_anew_is_said_once() {
    let mut env = TestEnv::new("dirgone");
    let p = primary(&mut env, &["--serve"]);
    // The primary puts back what is removed under it (its lock file at once, told by
    // inotify), so a file can reappear between remove_dir_all's unlinks and its rmdir
    // (ENOTEMPTY): remove again until the directory itself is gone.
    let deadline = Instant::now() + slow(Duration::from_secs(5));
    while let Err(e) = std::fs::remove_dir_all(&env.runtime_dir) {
        assert!(
            e.kind() == std::io::ErrorKind::DirectoryNotEmpty && Instant::now() < deadline,
            "removing {}: {e}",
            env.runtime_dir.display()
        );
    }
    std::thread::sleep(Duration::from_millis(3500));
    assert!(kill(p.pid, libc::SIGTERM));
    let out = env.finish_logged(&p, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert_eq!(err.matches("cannot be made anew").count(), 1, "{err}");
    env.assert_no_leftovers();
}
