//! systemd's notify protocol, with a Unix datagram socket of the test's own standing in
//! for systemd: READY=1 once the secondary is ready, STATUS= lines, WATCHDOG=1 pings at
//! half of WATCHDOG_USEC, and STOPPING=1 on the orderly stop.

use crate::common;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use common::{T, TestEnv, kill, output_within, slow, stderr_of};

#[test]
fn the_primary_speaks_sd_notify_ready_status_watchdog_stopping() {
    let env = TestEnv::new("notify");
    let sock_path = env.tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(slow(Duration::from_secs(10))))
        .unwrap();
    let mut cmd = env.cmd("primary");
    cmd.args(["--interval", "1s"])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "200000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();

    let mut messages = Vec::new();
    let mut buf = [0u8; 4096];
    // Collect until we saw READY and three watchdog pings (about 300 ms of 100 ms pings).
    while messages
        .iter()
        .filter(|m: &&String| m.contains("WATCHDOG=1"))
        .count()
        < 3
    {
        let n = sock
            .recv(&mut buf)
            .expect("no sd_notify message within 10 s");
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(kill(pid, libc::SIGTERM));
    let out = output_within(child, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    // The primary has exited, so every datagram it sent is queued already: drain the
    // queue without waiting.
    sock.set_nonblocking(true).unwrap();
    while let Ok(n) = sock.recv(&mut buf) {
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }

    let first = &messages[0];
    assert!(first.starts_with("READY=1"), "first message: {messages:?}");
    assert!(first.contains("STATUS=instance"), "{messages:?}");
    let stopping = messages
        .iter()
        .position(|m| m.contains("STOPPING=1"))
        .expect("no STOPPING=1");
    assert_eq!(
        stopping,
        messages.len() - 1,
        "STOPPING=1 comes last: {messages:?}"
    );
    env.assert_no_leftovers();
}

#[test]
fn without_notify_socket_nothing_is_sent_and_the_run_is_unchanged() {
    let env = TestEnv::new("nonotify");
    let mut cmd = env.cmd("primary");
    cmd.args(["--rounds", "5"])
        .env_remove("NOTIFY_SOCKET")
        .env("WATCHDOG_USEC", "1000");
    let out = common::run(cmd, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
}
