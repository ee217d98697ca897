//! The serving mode end to end (issue 7), with the real binary: every request kind over
//! the Unix socket and loopback TCP, with `osps client` and with plain sockets; malformed
//! and too-long lines; silent, half-line and departing clients; `--max-clients`; faults
//! (kill -9 and hangs of secondaries) answered exactly once; and a bounded load test of
//! 32 clients x 1,000 requests over 4 secondaries that leaves nothing behind.

use crate::common;

use std::io::{BufRead, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::sockets::{Conn, Duplex, serve_tcp, tcp, unix};
use common::{
    T, TestEnv, json_of, kill, mode_of, output_within, pids_with_arg, run, sha256_hex, slow,
    stderr_of, stdout_of, tcp_port_of,
};

// ---------------------------------------------------------------------------------------
// Starting and stopping a serving primary

#[test]
fn the_port_is_read_from_the_serving_line_whatever_its_prefix() {
    let line = "osps[primary]: instance t-x-1-0 serving on /tmp/run/t-x-1-0.sock and TCP \
                127.0.0.1:40123 with 2 secondaries";
    assert_eq!(tcp_port_of(line), Some(40123));
    assert_eq!(
        tcp_port_of("instance a serving on /r/a.sock and TCP [::1]:8080 with 1 secondaries"),
        Some(8080)
    );
    assert_eq!(
        tcp_port_of("instance a serving on /r/a.sock and TCP 0.0.0.0:0 with 1 secondaries"),
        Some(0)
    );
    // No TCP, another line, or no address: no port.
    assert_eq!(
        tcp_port_of("instance a serving on /r/a.sock with 1 secondaries"),
        None
    );
    assert_eq!(tcp_port_of("osps[primary]: secondary 0 started"), None);
    assert_eq!(
        tcp_port_of("instance a serving on /r/a.sock and TCP with 1 secondaries"),
        None
    );
}

/// `osps client` with `args`, to completion (stdin closed).
fn client(env: &TestEnv, args: &[&str]) -> Output {
    let mut cmd = env.cmd("client");
    cmd.args(args);
    run(cmd, T)
}

/// `osps client` with `args`, feeding `input` on stdin.
fn client_stdin(env: &TestEnv, args: &[&str], input: &str) -> Output {
    let mut child = env
        .cmd("client")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    output_within(child, T)
}

// ---------------------------------------------------------------------------------------
// Expected replies

const SHA_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const SHA_EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn the_reference_sha256_matches_known_digests() {
    assert_eq!(sha256_hex(b"abc"), SHA_ABC);
    assert_eq!(sha256_hex(b""), SHA_EMPTY);
    // Two blocks of padding.
    assert_eq!(
        sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
}

/// The `i`th request of client `c` (a unique text per client and request, of every kind
/// that has an argument) and its exact expected reply.
fn request_and_reply(c: usize, i: usize) -> (String, String) {
    let text = format!("c{c}-r{i}-héllo-👋-{}", "x".repeat(i % 7));
    match i % 3 {
        0 => (format!("ECHO {text}"), text),
        1 => (format!("REV {text}"), text.chars().rev().collect()),
        _ => (format!("SHA256 {text}"), sha256_hex(text.as_bytes())),
    }
}

/// Every request kind on one connection, with exact replies.
fn every_request_kind<S: Duplex>(conn: &mut Conn<S>, secondaries: u64) {
    assert_eq!(conn.ask("PING"), "PONG");
    assert_eq!(conn.ask("ECHO hello world"), "hello world");
    assert_eq!(conn.ask("ECHO  two  spaces "), " two  spaces ");
    assert_eq!(conn.ask("ECHO"), "");
    assert_eq!(conn.ask("REV abc"), "cba");
    assert_eq!(conn.ask("REV héllo👋"), "👋olléh");
    assert_eq!(conn.ask("SHA256 abc"), SHA_ABC);
    assert_eq!(conn.ask("SHA256 "), SHA_EMPTY);
    assert_eq!(conn.ask("PING\r"), "PONG", "a CRLF line is one request");
    let stats: serde_json::Value = serde_json::from_str(&conn.ask("STATS")).unwrap();
    assert_eq!(stats["secondaries"], secondaries, "{stats}");
    assert!(stats["requests"].as_u64().unwrap() >= 9, "{stats}");
    assert!(stats["clients"].as_u64().unwrap() >= 1, "{stats}");
    assert_eq!(
        stats["served"].as_array().unwrap().len() as u64,
        secondaries
    );
    // Pipelined: several requests in one write, replies in order.
    conn.send_raw(b"PING\nREV 123\nECHO x\n");
    assert_eq!(conn.recv().as_deref(), Some("PONG"));
    assert_eq!(conn.recv().as_deref(), Some("321"));
    assert_eq!(conn.recv().as_deref(), Some("x"));
}

// ---------------------------------------------------------------------------------------
// Every request kind, every transport, both clients

#[test]
fn every_request_kind_over_the_unix_socket_and_tcp_with_plain_sockets() {
    for sync in ["adaptive", "fifo"] {
        let mut env = TestEnv::new("kinds");
        let (pid, port) = serve_tcp(
            &mut env,
            "127.0.0.1:0",
            &["--secondaries", "2", "--sync", sync],
        );
        every_request_kind(&mut unix(&env), 2);
        every_request_kind(&mut tcp(port), 2);
        let v = env.stop_serving(pid);
        assert_eq!(v["secondaries"], 2, "{sync}: {v}");
        assert_eq!(v["stopped_by"], "signal", "{sync}: {v}");
        assert_eq!(v["requests"], 2 * 13, "{sync}: {v}");
        assert_eq!(v["errors"], 0, "{sync}: {v}");
        assert_eq!(v["restarts"], 0, "{sync}: {v}");
    }
}

#[test]
fn lines_up_to_the_default_max_line_of_64k_are_served() {
    let mut env = TestEnv::new("64k");
    let pid = env.start_serving(&["--secondaries", "4"]);
    let mut conn = unix(&env);
    let text: String = "é".repeat((65536 - 5) / 2) + "x";
    let line = format!("REV {text}");
    assert_eq!(line.len(), 65536 - 1);
    assert_eq!(conn.ask(&line), text.chars().rev().collect::<String>());
    let text = "y".repeat(65536 - 5);
    assert_eq!(conn.ask(format!("ECHO {text}")), text);
    assert_eq!(
        conn.ask(format!("SHA256 {}", &text[..65536 - 7])),
        sha256_hex(&text.as_bytes()[..65536 - 7])
    );
    conn.send(format!("ECHO {text}z"));
    assert_eq!(conn.recv().as_deref(), Some("ERR line too long"));
    assert!(conn.closed_by_server());
    env.stop_serving(pid);
    // Too many secondaries for the segment to give each a --max-line slot: refused.
    let mut cmd = env.cmd("primary");
    cmd.args(["--serve", "--secondaries", "64"]);
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("--max-line"),
        "{}",
        stderr_of(&out)
    );
    env.assert_nothing_left();
}

#[test]
fn osps_client_sends_arguments_or_stdin_lines_over_every_transport() {
    let mut env = TestEnv::new("client");
    let (pid, port) = serve_tcp(&mut env, "127.0.0.1:0", &["--secondaries", "2"]);
    let addr = format!("127.0.0.1:{port}");
    let socket = env.socket_path().display().to_string();
    let requests = [
        "PING",
        "ECHO hi there",
        "REV héllo👋",
        "SHA256 abc",
        "STATS",
    ];
    let transports: [&[&str]; 3] = [&[], &["--socket", &socket], &["--tcp", &addr]];
    for how in transports {
        for from_stdin in [false, true] {
            let out = if from_stdin {
                client_stdin(&env, how, &(requests.join("\n") + "\n"))
            } else {
                client(&env, &[how, &requests[..]].concat())
            };
            let what = format!("client {how:?} (stdin: {from_stdin})");
            assert!(out.status.success(), "{what}: {}", stderr_of(&out));
            let text = stdout_of(&out);
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 5, "{what}: {text}");
            assert_eq!(
                lines[..4],
                ["PONG", "hi there", "👋olléh", SHA_ABC],
                "{what}"
            );
            let stats: serde_json::Value = serde_json::from_str(lines[4]).unwrap();
            assert_eq!(stats["secondaries"], 2, "{what}: {stats}");
            assert!(text.ends_with('\n'));
            assert_eq!(stderr_of(&out), "", "{what}");
        }
    }
    env.stop_serving(pid);
}

#[test]
fn osps_client_exits_7_when_any_reply_is_err() {
    let mut env = TestEnv::new("clienterr");
    let pid = env.start_serving(&[]);
    let out = client(&env, &["PING", "FOO bar", "REV ab"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "every reply is printed, the ERR too: {text}"
    );
    assert_eq!(lines[0], "PONG");
    assert!(
        lines[1].starts_with("ERR unknown request \"FOO\""),
        "{text}"
    );
    assert_eq!(lines[2], "ba");
    assert!(stderr_of(&out).contains("1 request(s) got an ERR reply"));
    // Only ERR counts: a reply that merely contains it does not.
    let out = client(&env, &["ECHO ERRATA", "ECHO not ERR x"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    // No server at all: a clear error, non-zero.
    let mut cmd = env.cmd("client");
    cmd.args(["--name", "no-such-instance", "PING"]);
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr_of(&out).contains("no-such-instance"),
        "{}",
        stderr_of(&out)
    );
    env.stop_serving(pid);
}

// ---------------------------------------------------------------------------------------
// Bad input

#[test]
fn malformed_lines_get_err_and_the_connection_stays_usable() {
    let mut env = TestEnv::new("malformed");
    let (pid, port) = serve_tcp(&mut env, "127.0.0.1:0", &[]);
    fn check<S: Duplex>(conn: &mut Conn<S>) {
        let bad: [(&[u8], &str); 7] = [
            (b"FOO bar", "ERR unknown request \"FOO\""),
            (b"ping", "ERR unknown request \"ping\""),
            (b"", "ERR empty request"),
            (b"PING extra", "ERR PING takes no argument"),
            (b"STATS now", "ERR STATS takes no argument"),
            (b"ECHO \xff\xfe", "ERR invalid UTF-8 at byte 5"),
            (b"\xc3\x28", "ERR invalid UTF-8 at byte 0"),
        ];
        for (line, want) in bad {
            let reply = conn.ask(line);
            assert!(reply.starts_with(want), "{line:?}: {reply}");
            assert_eq!(conn.ask("PING"), "PONG", "after {line:?}");
        }
        // A NUL byte is just a byte of the text.
        assert_eq!(conn.ask(b"ECHO a\0b"), "a\0b");
        // Bad and good lines pipelined keep their order.
        conn.send_raw(b"NOPE\nREV xy\n\xff\nECHO ok\n");
        assert!(conn.recv().unwrap().starts_with("ERR unknown request"));
        assert_eq!(conn.recv().as_deref(), Some("yx"));
        assert!(conn.recv().unwrap().starts_with("ERR invalid UTF-8"));
        assert_eq!(conn.recv().as_deref(), Some("ok"));
    }
    check(&mut unix(&env));
    check(&mut tcp(port));
    let v = env.stop_serving(pid);
    assert_eq!(v["errors"], 2 * (7 + 2), "{v}");
    assert_eq!(v["restarts"], 0, "bad input never hurts a secondary: {v}");
}

#[test]
fn a_line_longer_than_max_line_gets_err_and_the_connection_is_closed() {
    let mut env = TestEnv::new("toolong");
    let (pid, port) = serve_tcp(&mut env, "127.0.0.1:0", &["--max-line", "100"]);
    let exactly = format!("ECHO {}", "a".repeat(95));
    assert_eq!(exactly.len(), 100);
    fn check<S: Duplex>(mut conn: Conn<S>, exactly: &str, long: &[u8], newline: bool) {
        let what = format!("{} bytes, newline: {newline}", long.len());
        // A line of exactly --max-line bytes is fine.
        assert_eq!(conn.ask(exactly), &exactly[5..]);
        // Requests before the long line are answered first, in order. The server may close
        // before it read everything, so the writer runs apart and may fail.
        let mut bytes = b"PING\nREV ab\n".to_vec();
        bytes.extend_from_slice(long);
        if newline {
            bytes.extend_from_slice(b"\nPING\n");
        }
        let mut writer = conn.writer.clone_stream();
        let writing = std::thread::spawn(move || writer.write_all(&bytes).is_ok());
        assert_eq!(conn.recv().as_deref(), Some("PONG"), "{what}");
        assert_eq!(conn.recv().as_deref(), Some("ba"), "{what}");
        assert_eq!(conn.recv().as_deref(), Some("ERR line too long"), "{what}");
        assert!(conn.closed_by_server(), "{what}: the connection stays open");
        writing.join().unwrap();
    }
    for newline in [true, false] {
        for long_len in [101, 5000, 200_000] {
            let long = format!("ECHO {}", "b".repeat(long_len - 5)).into_bytes();
            check(unix(&env), &exactly, &long, newline);
            check(tcp(port), &exactly, &long, newline);
        }
    }
    // Others were not disturbed.
    assert_eq!(unix(&env).ask("PING"), "PONG");
    env.stop_serving(pid);
}

// ---------------------------------------------------------------------------------------
// Many clients

#[test]
fn silent_half_line_and_departing_clients_do_not_delay_the_others() {
    let mut env = TestEnv::new("silent");
    let (pid, port) = serve_tcp(&mut env, "127.0.0.1:0", &["--secondaries", "2"]);
    let mut silent_unix = unix(&env);
    let mut silent_tcp = tcp(port);
    let mut half = unix(&env);
    half.send_raw(b"ECHO half a li");
    let mut half_tcp = tcp(port);
    half_tcp.send_raw(b"REV half a li");
    // A client that leaves with requests in flight costs nothing but its own requests.
    {
        let mut leaving = unix(&env);
        for i in 0..200 {
            leaving.send(format!("SHA256 leaving {i}"));
        }
    }
    let started = Instant::now();
    for conn in 0..4 {
        let mut busy = unix(&env);
        for i in 0..100 {
            let (req, want) = request_and_reply(conn, i);
            assert_eq!(busy.ask(&req), want);
        }
        let mut busy = tcp(port);
        for i in 0..100 {
            let (req, want) = request_and_reply(conn, i);
            assert_eq!(busy.ask(&req), want);
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < slow(Duration::from_secs(10)),
        "800 requests took {elapsed:?}"
    );
    // The half lines complete later and are answered; the silent clients are still served.
    half.send_raw(b"ne\n");
    assert_eq!(half.recv().as_deref(), Some("half a line"));
    half_tcp.send_raw(b"ne\n");
    assert_eq!(half_tcp.recv().as_deref(), Some("enil a flah"));
    assert_eq!(silent_unix.ask("PING"), "PONG");
    assert_eq!(silent_tcp.ask("PING"), "PONG");
    // A last line without its newline, then end of file: still a request, answered.
    half.send_raw(b"PING");
    let last = half.finish();
    assert_eq!(last, ["PONG"]);
    let v = env.stop_serving(pid);
    assert_eq!(v["restarts"], 0, "{v}");
}

#[test]
fn clients_beyond_max_clients_are_refused_with_a_clear_reply() {
    let mut env = TestEnv::new("maxcl");
    let (pid, port) = serve_tcp(&mut env, "127.0.0.1:0", &["--max-clients", "2"]);
    let addr = format!("127.0.0.1:{port}");
    let mut a = unix(&env);
    let mut b = tcp(port);
    assert_eq!(a.ask("PING"), "PONG");
    assert_eq!(b.ask("PING"), "PONG");
    let mut refused = unix(&env);
    assert_eq!(
        refused.recv().as_deref(),
        Some("ERR too many clients (--max-clients 2)")
    );
    assert!(refused.closed_by_server());
    let mut refused = tcp(port);
    assert_eq!(
        refused.recv().as_deref(),
        Some("ERR too many clients (--max-clients 2)")
    );
    assert!(refused.closed_by_server());
    // `osps client` shows the refusal, however the race between its request and the
    // server's close goes, and fails.
    for i in 0..20 {
        let out = if i % 2 == 0 {
            client(&env, &["PING", "PING"])
        } else {
            client(&env, &["--tcp", &addr, "PING", "PING"])
        };
        assert_eq!(out.status.code(), Some(7), "{}", stderr_of(&out));
        assert_eq!(
            stdout_of(&out),
            "ERR too many clients (--max-clients 2)\n",
            "{}",
            stderr_of(&out)
        );
    }
    // The admitted clients are unaffected; when one leaves, a newcomer gets in.
    assert_eq!(a.ask("REV ab"), "ba");
    drop(b);
    let deadline = Instant::now() + slow(T);
    loop {
        let stats: serde_json::Value = serde_json::from_str(&a.ask("STATS")).unwrap();
        if stats["clients"] == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the departed client still counts: {stats}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut c = unix(&env);
    assert_eq!(c.ask("PING"), "PONG");
    assert_eq!(a.ask("PING"), "PONG");
    // The summary counts every newcomer turned away: the two above and the 20 runs.
    let v = env.stop_serving(pid);
    assert_eq!(v["turned_away"], 22, "{v}");
}

// ---------------------------------------------------------------------------------------
// Listening

#[test]
fn tcp_on_a_non_loopback_address_is_refused_without_tcp_any() {
    let env = TestEnv::new("tcpany");
    // Refused before anything is bound, so port 0 is as good as any.
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let mut cmd = env.cmd("primary");
        cmd.args(["--serve", "--tcp", addr]);
        let out = run(cmd, T);
        assert_eq!(out.status.code(), Some(2), "{addr}: {}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(
            err.contains("--tcp-any") && err.contains("loopback"),
            "{err}"
        );
        env.assert_no_leftovers();
    }
    // --tcp means nothing without --serve, --tcp-any nothing without --tcp.
    for args in [
        &["--tcp", "127.0.0.1:1"][..],
        &["--serve", "--tcp-any"][..],
        &["--serve", "--tcp", "not-an-address"][..],
        &["--serve", "--secondaries", "0"][..],
        &["--serve", "--secondaries", "65"][..],
    ] {
        let mut cmd = env.cmd("primary");
        cmd.args(args);
        let out = run(cmd, T);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        env.assert_no_leftovers();
    }
}

#[test]
fn tcp_any_allows_every_address() {
    let mut env = TestEnv::new("tcpany-ok");
    let (pid, port) = serve_tcp(&mut env, "0.0.0.0:0", &["--tcp-any"]);
    assert_eq!(tcp(port).ask("REV ok"), "ko");
    env.stop_serving(pid);
}

#[test]
fn the_socket_is_private_and_removed_on_stop() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut env = TestEnv::new("sock");
        let pid = env.start_serving(&["--secondaries", "3"]);
        let path = env.socket_path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(unix(&env).ask("PING"), "PONG");
        // Every secondary of the pool is running, each with its own FIFO pair.
        for i in 0..3 {
            assert_eq!(env.secondary_pids(i).len(), 1, "secondary {i}");
        }
        let mut idle = unix(&env);
        assert!(kill(pid, signal));
        let out = output_within(env.take_child(pid), T);
        assert!(out.status.success(), "{}", stderr_of(&out));
        assert!(
            idle.closed_by_server(),
            "a connected client is closed on stop"
        );
        assert!(!path.exists());
        env.assert_nothing_left();
        let v = json_of(&out);
        assert_eq!(v["stopped_by"], "signal", "{v}");
    }
}

// ---------------------------------------------------------------------------------------
// Faults

/// What one load client saw.
struct Tally {
    replies: usize,
    correct: usize,
    worker_failed: usize,
}

/// Runs one client: `n` requests, at most `window` in flight, every reply checked against
/// its request; then half-closes and reads to end of file, so a reply sent twice shows up
/// as an extra line. `progress` counts replies across clients.
fn load_client<S: Duplex>(
    mut conn: Conn<S>,
    c: usize,
    n: usize,
    window: usize,
    progress: &AtomicUsize,
) -> Tally {
    let mut tally = Tally {
        replies: 0,
        correct: 0,
        worker_failed: 0,
    };
    let mut sent = 0;
    let mut check = |i: usize, reply: &str| {
        let (req, want) = request_and_reply(c, i);
        if reply == want {
            tally.correct += 1;
        } else if reply == "ERR worker failed" {
            tally.worker_failed += 1;
        } else {
            panic!("client {c} request {i} {req:?}: got {reply:?}, want {want:?}");
        }
        tally.replies += 1;
        progress.fetch_add(1, Ordering::Relaxed);
    };
    let mut received = 0;
    while received < n {
        while sent < n && sent - received < window {
            conn.send(request_and_reply(c, sent).0);
            sent += 1;
        }
        let reply = conn
            .recv()
            .unwrap_or_else(|| panic!("client {c}: closed after {received} replies"));
        check(received, &reply);
        received += 1;
    }
    let extra = conn.finish();
    assert!(
        extra.is_empty(),
        "client {c}: replies beyond its requests: {extra:?}"
    );
    tally
}

/// A load client's thread, and its tally once it has ended.
enum Client {
    Running(std::thread::JoinHandle<Tally>),
    Done(Tally),
}

impl Client {
    /// Takes the tally of a client that has ended: it is either done (clients need not
    /// progress evenly) or failed, and then the test fails at once with its message.
    fn collect_if_ended(self) -> Client {
        match self {
            Client::Running(t) if t.is_finished() => Client::Done(joined(t)),
            other => other,
        }
    }

    fn tally(self) -> Tally {
        match self {
            Client::Running(t) => joined(t),
            Client::Done(tally) => tally,
        }
    }
}

/// A client thread's tally, or its own panic (with its message) if it failed.
fn joined(t: std::thread::JoinHandle<Tally>) -> Tally {
    t.join()
        .unwrap_or_else(|failure| std::panic::resume_unwind(failure))
}

#[test]
fn kill_9_of_secondaries_under_load_answers_every_request_exactly_once() {
    const CLIENTS: usize = 8;
    const REQUESTS: usize = 1500;
    let mut env = TestEnv::new("kill9");
    let pid = env.start_serving(&["--secondaries", "3", "--restart-backoff", "20ms"]);
    let progress = Arc::new(AtomicUsize::new(0));
    let mut clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let conn = unix(&env);
            let progress = Arc::clone(&progress);
            Client::Running(std::thread::spawn(move || {
                load_client(conn, c, REQUESTS, 16, &progress)
            }))
        })
        .collect();
    // Kill each secondary once, at a fifth, two and three fifths of the load, and wait
    // each time for its replacement.
    let total = CLIENTS * REQUESTS;
    let mut killed = Vec::new();
    let mut at_last_kill = 0;
    for (step, index) in [(1, 1), (2, 0), (3, 2)] {
        let deadline = Instant::now() + slow(T);
        while progress.load(Ordering::Relaxed) < total * step / 5 {
            assert!(Instant::now() < deadline, "the load stalled");
            // A client that ended is either done (clients need not progress evenly) or
            // failed: then fail now with its own message rather than wait for the deadline.
            clients = clients.into_iter().map(Client::collect_if_ended).collect();
            std::thread::sleep(Duration::from_millis(1));
        }
        // The scoreboard names the victim; /proc agrees.
        let victim = env.wait_worker_up(index, None, T);
        assert_eq!(env.secondary_pids(index), [victim]);
        at_last_kill = progress.load(Ordering::Relaxed);
        assert!(kill(victim, libc::SIGKILL));
        killed.push(victim);
        let fresh = env.wait_worker_up(index, Some(victim), T);
        assert_eq!(env.secondary_pids(index), [fresh]);
    }
    let tallies: Vec<Tally> = clients.into_iter().map(Client::tally).collect();
    assert!(
        at_last_kill < total,
        "the load ended before the last kill: the test proves nothing"
    );
    let mut failed = 0;
    for (c, t) in tallies.iter().enumerate() {
        assert_eq!(t.replies, REQUESTS, "client {c}");
        assert_eq!(t.correct + t.worker_failed, REQUESTS, "client {c}");
        failed += t.worker_failed;
    }
    let v = env.stop_serving(pid);
    assert_eq!(v["restarts"], 3, "{v}");
    let deaths = v["deaths"].as_array().unwrap();
    assert_eq!(deaths.len(), 3, "{v}");
    for d in deaths {
        assert_eq!(d["signal"], 9, "{d}");
        assert!(killed.contains(&(d["pid"].as_u64().unwrap() as u32)), "{d}");
    }
    assert_eq!(v["failed"], failed, "{v}");
    assert_eq!(v["busy"], 0, "{v}");
    assert_eq!(
        v["requests"].as_u64().unwrap(),
        total as u64,
        "each request answered once: {v}"
    );
    eprintln!(
        "kill -9 x3 under load: {total} requests, {} retried, {failed} failed",
        v["retried"]
    );
}

#[test]
fn a_hung_secondary_is_killed_and_its_request_retried_on_another() {
    let mut env = TestEnv::new("hung");
    let pid = env.start_serving(&[
        "--secondaries",
        "2",
        "--timeout",
        "300ms",
        "--restart-backoff",
        "20ms",
    ]);
    let mut conn = unix(&env);
    assert_eq!(conn.ask("PING"), "PONG");
    // Idle secondaries are picked in index order: the next request goes to secondary 0.
    let hung = env.wait_worker_up(0, None, T);
    assert!(kill(hung, libc::SIGSTOP));
    let started = Instant::now();
    for i in 0..20 {
        let (req, want) = request_and_reply(0, i);
        assert_eq!(conn.ask(&req), want);
    }
    assert!(started.elapsed() >= Duration::from_millis(300));
    env.wait_worker_up(0, Some(hung), T);
    let v = env.stop_serving(pid);
    assert_eq!(v["restarts"], 1, "{v}");
    assert_eq!(v["retried"], 1, "{v}");
    assert_eq!(v["failed"], 0, "{v}");
    let cause = v["deaths"][0]["cause"].as_str().unwrap();
    assert!(cause.contains("hung"), "{v}");
}

#[test]
fn a_request_that_fails_twice_gets_err_worker_failed() {
    let mut env = TestEnv::new("failtwice");
    let pid = env.start_serving(&[
        "--secondaries",
        "2",
        "--timeout",
        "200ms",
        "--max-restarts",
        "0",
    ]);
    let mut conn = unix(&env);
    assert_eq!(conn.ask("PING"), "PONG");
    let stopped: Vec<u32> = (0..2).map(|i| env.wait_worker_up(i, None, T)).collect();
    for &p in &stopped {
        assert!(kill(p, libc::SIGSTOP));
    }
    // The first try hangs on one, the retry on the other: one answer, an error.
    assert_eq!(conn.ask("REV abc"), "ERR worker failed");
    // With no secondary left, the primary gives up and says why, leaving nothing.
    assert!(conn.closed_by_server());
    let out = output_within(env.take_child(pid), T);
    assert_eq!(out.status.code(), Some(6), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("--max-restarts"),
        "{}",
        stderr_of(&out)
    );
    let v = json_of(&out);
    assert_eq!(v["retried"], 1, "{v}");
    assert_eq!(v["failed"], 1, "{v}");
    env.assert_nothing_left();
}

#[test]
fn a_retry_goes_back_to_the_failed_secondary_when_no_other_is_left() {
    let mut env = TestEnv::new("alone");
    let pid = env.start_serving(&[
        "--secondaries",
        "2",
        "--timeout",
        "200ms",
        "--max-restarts",
        "1",
        "--restart-backoff",
        "10ms",
    ]);
    // Secondary 1 dies twice: its restart budget is spent, only secondary 0 is left.
    let first = env.wait_worker_up(1, None, T);
    assert!(kill(first, libc::SIGKILL));
    let second = env.wait_worker_up(1, Some(first), T);
    assert!(kill(second, libc::SIGKILL));
    let deadline = Instant::now() + slow(T);
    while !env.secondary_pids(1).is_empty() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut conn = unix(&env);
    assert_eq!(conn.ask("PING"), "PONG");
    // Secondary 0 hangs on the next request: it is killed and restarted, and the retry
    // can only go to its replacement.
    let hung = env.wait_worker_up(0, None, T);
    assert!(kill(hung, libc::SIGSTOP));
    conn.reader
        .get_ref()
        .set_timeout(slow(Duration::from_secs(5)));
    assert_eq!(conn.ask("REV abc"), "cba");
    assert_eq!(conn.ask("PING"), "PONG");
    let v = env.stop_serving(pid);
    assert_eq!(v["retried"], 1, "{v}");
    assert_eq!(v["failed"], 0, "{v}");
    assert_eq!(v["restarts"], 2, "{v}");
}

// ---------------------------------------------------------------------------------------
// Load

#[test]
fn load_32_clients_x_1000_requests_over_4_secondaries() {
    const CLIENTS: usize = 32;
    const REQUESTS: usize = 1000;
    let mut env = TestEnv::new("load");
    let pid = env.start_serving(&["--secondaries", "4"]);
    let progress = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let conn = unix(&env);
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || load_client(conn, c, REQUESTS, 8, &progress))
        })
        .collect();
    let tallies: Vec<Tally> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    let elapsed = started.elapsed();
    for (c, t) in tallies.iter().enumerate() {
        assert_eq!(t.replies, REQUESTS, "client {c}");
        assert_eq!(t.correct, REQUESTS, "client {c}: every reply exact");
    }
    let v = env.stop_serving(pid);
    let total = (CLIENTS * REQUESTS) as u64;
    assert_eq!(v["requests"], total, "{v}");
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["busy"], 0, "{v}");
    assert_eq!(v["restarts"], 0, "{v}");
    assert!(
        elapsed < slow(Duration::from_secs(45)),
        "32 x 1000 requests took {elapsed:?}"
    );
    eprintln!(
        "load: {total} requests in {elapsed:?} ({:.0}/s)",
        total as f64 / elapsed.as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// The queue, the TCP listener, stopping and crashing

#[test]
fn beyond_the_queue_requests_get_err_busy_in_order() {
    let mut env = TestEnv::new("busy");
    let pid = env.start_serving(&["--queue", "4"]);
    let mut conn = unix(&env);
    let mut burst = Vec::new();
    for i in 0..200 {
        burst.extend_from_slice(request_and_reply(7, i).0.as_bytes());
        burst.push(b'\n');
    }
    conn.send_raw(&burst);
    let mut busy = 0;
    for i in 0..200 {
        let reply = conn.recv().unwrap();
        if reply == "ERR busy" {
            busy += 1;
        } else {
            assert_eq!(reply, request_and_reply(7, i).1, "request {i}");
        }
    }
    assert!(busy > 0, "a burst of 200 never overflowed a queue of 4");
    assert!(conn.finish().is_empty());
    // Once the burst is over, the queue has room again.
    assert_eq!(unix(&env).ask("PING"), "PONG");
    let v = env.stop_serving(pid);
    assert_eq!(v["busy"], busy, "{v}");
    assert_eq!(v["requests"], 200 - busy + 1, "{v}");
}

#[test]
fn a_tcp_port_in_use_is_an_error_that_leaves_nothing() {
    let env = TestEnv::new("inuse");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut cmd = env.cmd("primary");
    cmd.args(["--serve", "--tcp", &addr, "--secondaries", "2"]);
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains(&addr), "{}", stderr_of(&out));
    env.assert_nothing_left();
}

#[test]
fn sigterm_under_load_answers_or_closes_every_client_and_leaves_nothing() {
    const CLIENTS: usize = 8;
    let mut env = TestEnv::new("termload");
    let pid = env.start_serving(&["--secondaries", "2"]);
    let progress = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut conn = unix(&env);
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || {
                // Requests until the server closes: every reply is the right one or
                // `ERR shutting down`, in order, and then the connection ends.
                let (mut sent, mut received) = (0, 0);
                loop {
                    while sent - received < 16 {
                        if conn
                            .writer
                            .write_all(request_and_reply(c, sent).0.as_bytes())
                            .is_err()
                            || conn.writer.write_all(b"\n").is_err()
                        {
                            break;
                        }
                        sent += 1;
                    }
                    let mut line = String::new();
                    match conn.reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return received,
                        Ok(_) => {}
                    }
                    let reply = line.strip_suffix('\n').expect("a whole reply line");
                    let want = request_and_reply(c, received).1;
                    assert!(
                        reply == want || reply == "ERR shutting down",
                        "client {c} request {received}: {reply:?}, want {want:?}"
                    );
                    received += 1;
                    progress.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + slow(T);
    while progress.load(Ordering::Relaxed) < 2000 {
        assert!(Instant::now() < deadline, "the load did not start");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(kill(pid, libc::SIGTERM));
    let out = output_within(env.take_child(pid), T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    for t in clients {
        assert!(t.join().unwrap() > 0);
    }
    env.assert_nothing_left();
    assert_eq!(json_of(&out)["stopped_by"], "signal");
}

#[test]
fn a_killed_primary_takes_its_secondaries_along_and_cleanup_removes_the_socket() {
    let mut env = TestEnv::new("stale");
    let pid = env.start_serving(&["--secondaries", "3"]);
    let mut conn = unix(&env);
    assert_eq!(conn.ask("PING"), "PONG");
    assert!(kill(pid, libc::SIGKILL));
    let out = output_within(env.take_child(pid), T);
    assert_eq!(out.status.code(), None, "killed by a signal");
    assert!(conn.closed_by_server());
    let deadline = Instant::now() + slow(Duration::from_secs(5));
    while !pids_with_arg(&env.name).is_empty() {
        assert!(
            Instant::now() < deadline,
            "secondaries outlived their primary"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The stale socket refuses connections; cleanup removes it with everything else.
    assert!(env.socket_path().exists());
    assert!(UnixStream::connect(env.socket_path()).is_err());
    let mut cmd = env.cmd("cleanup");
    cmd.args(["--name", &env.name]);
    let out = run(cmd, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains(".sock"), "{}", stdout_of(&out));
    env.assert_nothing_left();
}

#[test]
fn impossible_pool_sizes_and_an_empty_queue_are_usage_errors() {
    let env = TestEnv::new("poolusage");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--secondaries", "64", "--size", "4096"],
            "cannot even hold the header",
        ),
        (&["--secondaries", "65"], "65"),
        (&["--queue", "0"], "0"),
        (&["--max-line", "1M", "--size", "1M"], "does not fit"),
    ];
    for (args, needle) in cases {
        let mut cmd = env.cmd("primary");
        cmd.arg("--serve").args(*args);
        let out = run(cmd, T);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains(needle),
            "{args:?}: {}",
            stderr_of(&out)
        );
        env.assert_no_leftovers();
    }
}
