//! A serving primary's socket, taken from under it: removed, it is made anew (see
//! `lockdefence::a_removed_socket_is_made_anew`); replaced by a stranger's file, the
//! primary says so once and leaves that file alone, and the views say what it is and
//! what to do. The primary is stopped with SIGSTOP while a view looks, so what the view
//! sees cannot change under it.

use crate::common;

use std::time::{Duration, Instant};

use common::{Logged, TestEnv, kill, slow, stderr_of};

/// Generous: the suite runs in parallel on a loaded two-core machine.
const T: Duration = Duration::from_secs(60);

fn serving(env: &mut TestEnv) -> Logged {
    let mut cmd = env.cmd("primary");
    cmd.args(["--serve", "--json"]);
    let p = env.start_logged(cmd);
    env.wait_serving(T);
    p
}

/// `osps inspect`'s warnings for the instance.
fn warnings(env: &TestEnv) -> Vec<String> {
    let out = env.cmd("inspect").output().unwrap();
    let doc = common::parse_json(&out.stdout);
    doc["instances"][0]["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"))
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

/// The socket removed while the primary serves: inspect's warning says it comes back by
/// itself (the primary makes it anew within two seconds), not that a restart is needed.
#[test]
fn the_socket_missing_warning_says_the_primary_makes_it_anew() {
    let mut env = TestEnv::new("sockwarn");
    let p = serving(&mut env);
    // Stopped, the primary cannot make the socket anew while inspect looks.
    assert!(kill(p.pid, libc::SIGSTOP));
    std::fs::remove_file(env.socket_path()).unwrap();
    let said = warnings(&env);
    assert!(kill(p.pid, libc::SIGCONT));
    let missing: Vec<&String> = said
        .iter()
        .filter(|w| w.starts_with("socket missing"))
        .collect();
    assert_eq!(missing.len(), 1, "{said:?}");
    assert!(!missing[0].contains("restarted"), "{}", missing[0]);
    assert!(
        missing[0].contains("makes it anew within two seconds"),
        "{}",
        missing[0]
    );
    wait_connectable(&env);
    assert!(kill(p.pid, libc::SIGTERM));
    let out = env.finish_logged(&p, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    env.assert_no_leftovers();
}

/// Waits until a client can connect to the socket.
fn wait_connectable(env: &TestEnv) {
    let deadline = Instant::now() + slow(T);
    while std::os::unix::net::UnixStream::connect(env.socket_path()).is_err() {
        assert!(Instant::now() < deadline, "the socket was not made anew");
        std::thread::sleep(Duration::from_millis(10));
    }
}
