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

/// `osps inspect --name`'s warnings for the instance (without `--name`, inspect lists
/// other tests' segments too).
fn warnings(env: &TestEnv) -> Vec<String> {
    let out = env
        .cmd("inspect")
        .args(["--name", &env.name])
        .output()
        .unwrap();
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
    assert_eq!(missing.len(), 1, "primary {}: {said:?}", p.pid);
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

/// Puts a regular file (mode 0600, as osps makes its files) at the socket's path in one
/// step, so the primary cannot make its socket anew in between.
fn replace_socket(env: &TestEnv) {
    use std::os::unix::fs::PermissionsExt;
    let other = env.runtime_dir.join("stranger");
    std::fs::write(&other, "not a socket\n").unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&other, env.socket_path()).unwrap();
}

/// Waits until the primary's stderr says `what` `count` times.
fn wait_said(env: &TestEnv, p: &Logged, what: &str, count: usize) {
    let deadline = Instant::now() + slow(T);
    while env.stderr_so_far(p).matches(what).count() < count {
        assert!(Instant::now() < deadline, "{}", env.stderr_so_far(p));
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The socket replaced by a regular file under a serving primary (before, nothing
/// noticed: no new socket, no warning, and status called the file a "socket" and sent
/// the user to a cleanup that refuses it). The primary says so once and leaves the file
/// alone; inspect warns; once the file is gone the socket is made anew; and after a stop
/// that leaves the file, stop and status name it for what it is and say to remove it by
/// hand, as cleanup refuses it.
#[test]
fn a_socket_replaced_by_a_file_is_noticed_and_the_file_left_alone() {
    let mut env = TestEnv::new("sockfile");
    let p = serving(&mut env);
    let socket = env.socket_path().display().to_string();
    let noticed = format!("the socket {socket} was replaced by a regular file");
    replace_socket(&env);
    wait_said(&env, &p, &noticed, 1);
    // A few more checks (one a second): the episode is said once.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(env.stderr_so_far(&p).matches(&noticed).count(), 1);
    assert_eq!(
        std::fs::read_to_string(env.socket_path()).unwrap(),
        "not a socket\n"
    );
    let said = warnings(&env);
    assert!(
        said.iter()
            .any(|w| w.starts_with("socket replaced") && w.contains("regular file")),
        "{said:?}"
    );
    // A client is told what stands in its way, not that the socket may be removed.
    let out = env
        .cmd("client")
        .args(["--timeout", "300ms", "PING"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert!(
        err.contains(&format!(
            "a regular file stands at its socket's path {socket}"
        )),
        "{err}"
    );
    // Gone, the file makes room for the socket again.
    std::fs::remove_file(env.socket_path()).unwrap();
    wait_connectable(&env);
    let out = env.cmd("client").arg("PING").output().unwrap();
    assert_eq!(common::stdout_of(&out), "PONG\n", "{}", stderr_of(&out));
    // A second episode is said again; the file is still there when the primary stops.
    replace_socket(&env);
    wait_said(&env, &p, &noticed, 2);
    let stop = env.cmd("stop").arg(&env.name).output().unwrap();
    let out = env.finish_logged(&p, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stop_err = stderr_of(&stop);
    assert_eq!(stop.status.code(), Some(1), "{stop_err}");
    assert!(
        stop_err.contains("is a regular file where osps expects a socket"),
        "{stop_err}"
    );
    assert!(
        !stop_err.contains("remove them with `osps cleanup"),
        "{stop_err}"
    );
    let status = env.cmd("status").arg(&env.name).output().unwrap();
    let text = common::stdout_of(&status);
    assert!(
        text.contains("foreign regular file at the path of the socket"),
        "{text}"
    );
    assert!(!text.contains(&format!("{socket}  socket")), "{text}");
    assert!(text.contains("remove it by hand"), "{text}");
    assert!(!text.contains("removes them"), "{text}");
    let cleanup = env
        .cmd("cleanup")
        .args(["--name", &env.name])
        .output()
        .unwrap();
    assert_eq!(cleanup.status.code(), Some(1), "{}", stderr_of(&cleanup));
    assert_eq!(
        std::fs::read_to_string(env.socket_path()).unwrap(),
        "not a socket\n"
    );
    std::fs::remove_file(env.socket_path()).unwrap();
    env.assert_no_leftovers();
}
