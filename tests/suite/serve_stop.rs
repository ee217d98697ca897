//! The stop of a serving primary as a pipelining client sees it, with the real binary:
//! every request the primary read is answered exactly once and in order (its reply or
//! `ERR shutting down`), those held back by `--max-inflight` included, and counted as
//! `cut_short`; requests still unread in the socket get no answer, only the end of file
//! right after the last answer (docs/SERVICE.md, "Stopping a serving primary").

use crate::common;

use std::io::{Read, Write};
use std::time::Duration;

use common::sockets::{Got, unix};
use common::{T, TestEnv, json_of, kill, output_within, run, stderr_of};

/// Lets a secondary stopped by the test run again when the test ends, passed or not: a
/// stopped process does not act on the SIGTERM its dead parent leaves it.
struct Continue(u32);

impl Drop for Continue {
    fn drop(&mut self) {
        kill(self.0, libc::SIGCONT);
    }
}

/// Stops serving primary `pid` with SIGTERM and, once it has stopped serving, lets
/// `secondary` (stopped by the test) run again, so that the stop does not wait out its
/// --timeout: its reply comes too late to count. The primary's output, checked a success.
fn stop_then_continue(env: &mut TestEnv, pid: u32, secondary: u32) -> std::process::Output {
    assert!(kill(pid, libc::SIGTERM));
    let deadline = std::time::Instant::now() + T;
    while env.header_field(common::field::PRIMARY_STATE) == Some(2) {
        assert!(
            std::time::Instant::now() < deadline,
            "the primary did not stop"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(kill(secondary, libc::SIGCONT));
    let out = output_within(env.take_child(pid), T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    out
}

/// The lines a client reads, then how its connection ended.
fn answers_then_end<S: common::sockets::Duplex>(
    conn: &mut common::sockets::Conn<S>,
) -> (Vec<String>, Got) {
    let mut answers = Vec::new();
    loop {
        match conn.get() {
            Got::Line(l) => answers.push(l),
            other => return (answers, other),
        }
    }
}

/// A client writes 8 requests in one go to a server with `--max-inflight 2` whose only
/// secondary is stopped (a slow turn): the primary reads all 8, hands 2 to the
/// secondary and holds 6 back. Then 4 more, which it does not read (the client is at its
/// bound). Stopped (SIGTERM, `osps stop`), it answers the 8 `ERR shutting down`, in
/// order, then ends the connection; the 4 unread get nothing. Before, the 6 held back
/// got no answer either: the client read 2 replies and the end of file, and the
/// summary counted 3 requests of which 2 were cut short.
#[test]
fn stopping_answers_requests_held_back_by_max_inflight_and_not_the_unread_ones() {
    for how in ["SIGTERM", "osps stop"] {
        let mut env = TestEnv::new("heldstop");
        let pid = env.start_serving(&[
            "--secondaries",
            "1",
            "--max-inflight",
            "2",
            "--timeout",
            "1s",
        ]);
        let mut conn = unix(&env);
        assert_eq!(conn.ask("PING"), "PONG");
        let secondary = env.wait_worker_up(0, None, T);
        assert!(kill(secondary, libc::SIGSTOP));
        let _cont = Continue(secondary);
        let batch = |from: usize, n: usize| -> Vec<u8> {
            (from..from + n)
                .flat_map(|i| format!("REV r{i}\n").into_bytes())
                .collect()
        };
        // One write: read in one go, 2 requests in flight, 6 held back.
        conn.send_raw(&batch(0, 8));
        std::thread::sleep(Duration::from_millis(200));
        // At its bound, the client is not read: these stay in the socket.
        conn.send_raw(&batch(8, 4));
        std::thread::sleep(Duration::from_millis(100));
        let out = if how == "SIGTERM" {
            assert!(kill(pid, libc::SIGTERM));
            output_within(env.take_child(pid), T)
        } else {
            let mut cmd = env.cmd("stop");
            cmd.arg(&env.name);
            let stop = run(cmd, T);
            assert!(stop.status.success(), "{how}: {}", stderr_of(&stop));
            output_within(env.take_child(pid), T)
        };
        assert!(out.status.success(), "{how}: {}", stderr_of(&out));
        let mut answers = Vec::new();
        let end = loop {
            match conn.get() {
                Got::Line(l) => answers.push(l),
                other => break other,
            }
        };
        assert_eq!(
            answers,
            vec!["ERR shutting down"; 8],
            "{how}: one answer per request read, in order"
        );
        assert_eq!(end, Got::Eof, "{how}: after the answers");
        env.assert_nothing_left();
        let v = json_of(&out);
        let count = |key: &str| v[key].as_u64().unwrap();
        assert_eq!(count("requests"), 9, "{how}: the PING and the 8 read: {v}");
        assert_eq!(count("cut_short"), 8, "{how}: {v}");
        assert_eq!(count("errors"), 0, "{how}: {v}");
    }
}

/// Over TCP, a stop with requests at every stage: a batch of 2 whose secondary was killed
/// (retried alone: one at the other secondary, stopped, one still waiting for a place),
/// 2 complete lines held back by `--max-inflight`, then a line too long, then one more.
/// The client reads the 4 `ERR shutting down` in order, then `ERR line too long` (as it
/// would have), then the end of file: the line after the too-long one is never read.
#[test]
fn a_tcp_stop_answers_retries_and_held_lines_in_order_up_to_a_line_too_long() {
    let mut env = TestEnv::new("heldtcp");
    let extra = [
        "--secondaries",
        "2",
        "--max-inflight",
        "2",
        "--max-line",
        "10",
        "--timeout",
        "5s",
    ];
    let (pid, port) = common::sockets::serve_tcp(&mut env, "127.0.0.1:0", &extra);
    let mut conn = common::sockets::tcp(port);
    assert_eq!(conn.ask("PING"), "PONG");
    let first = env.wait_worker_up(0, None, T);
    let second = env.wait_worker_up(1, None, T);
    assert!(kill(first, libc::SIGSTOP) && kill(second, libc::SIGSTOP));
    let _cont = (Continue(first), Continue(second));
    // One write: r0 and r1 go to secondary 0 as one batch, r2 and r3 are held back.
    conn.send_raw(b"REV r0\nREV r1\nREV r2\nREV r3\nREV much too long\nREV r5\n");
    std::thread::sleep(Duration::from_millis(300));
    // Each retried alone, not on secondary 0: r0 at secondary 1 (stopped), r1 waits.
    assert!(kill(first, libc::SIGKILL));
    std::thread::sleep(Duration::from_millis(300));
    // Once the primary stops, a reply of the secondary comes too late to count: let it
    // run, so that the stop does not wait out its --timeout.
    let out = stop_then_continue(&mut env, pid, second);
    let (answers, end) = answers_then_end(&mut conn);
    let mut want = vec!["ERR shutting down"; 4];
    want.push("ERR line too long");
    assert_eq!(answers, want);
    assert_eq!(end, Got::Eof);
    let v = json_of(&out);
    let count = |key: &str| v[key].as_u64().unwrap();
    assert_eq!(count("requests"), 5, "the PING and the 4 read: {v}");
    assert_eq!(count("cut_short"), 4, "{v}");
    assert_eq!(count("retried"), 2, "{v}");
    assert_eq!(count("too_long"), 1, "{v}");
    env.assert_nothing_left();
}

/// A client that leaves with requests at a secondary and more held back frees its slot
/// for the next client (a new id, see `ids.rs`). At the stop the second reads its own 3
/// answers and the end of file, nothing more; the summary counts the first one's
/// requests at the secondary (answered, for nobody) but not its held-back lines, which
/// left with it. (Every answer here is alike, so that a reply never reaches a slot's
/// next client is `a_reply_for_a_client_that_left_never_reaches_the_client_after_it`'s
/// to show.)
#[test]
fn at_the_stop_a_client_in_a_slot_freed_by_another_gets_only_its_own_answers() {
    let mut env = TestEnv::new("heldslot");
    let pid = env.start_serving(&[
        "--secondaries",
        "1",
        "--max-inflight",
        "2",
        "--timeout",
        "5s",
    ]);
    let mut warm = unix(&env);
    assert_eq!(warm.ask("PING"), "PONG");
    drop(warm);
    let secondary = env.wait_worker_up(0, None, T);
    assert!(kill(secondary, libc::SIGSTOP));
    let _cont = Continue(secondary);
    let mut first = unix(&env);
    // 2 at the secondary, 2 held back.
    first.send_raw(b"REV a0\nREV a1\nREV a2\nREV a3\n");
    std::thread::sleep(Duration::from_millis(200));
    drop(first);
    std::thread::sleep(Duration::from_millis(200));
    let mut second = unix(&env);
    // 2 queued (the secondary is busy), 1 held back.
    second.send_raw(b"REV b0\nREV b1\nREV b2\n");
    std::thread::sleep(Duration::from_millis(200));
    let out = stop_then_continue(&mut env, pid, secondary);
    let (answers, end) = answers_then_end(&mut second);
    assert_eq!(answers, vec!["ERR shutting down"; 3]);
    assert_eq!(end, Got::Eof);
    let v = json_of(&out);
    let count = |key: &str| v[key].as_u64().unwrap();
    assert_eq!(count("requests"), 6, "the PING, a0 and a1, b0 to b2: {v}");
    assert_eq!(count("cut_short"), 5, "{v}");
    assert_eq!(count("clients_served"), 3, "{v}");
    env.assert_nothing_left();
}

/// Under load, with requests at every stage when the stop comes (8 clients, Unix and
/// TCP, each writing 2000 requests in one go; one secondary stopped, the other killed
/// just before with a batch), every answer a client reads is its request's reply or `ERR
/// shutting down`, in order, and the summary's `requests` is exactly the answers read:
/// each request read answered once, none lost at the close.
#[test]
fn a_stop_under_load_answers_every_request_read_once_and_in_order() {
    let mut env = TestEnv::new("loadstop");
    let extra = [
        "--secondaries",
        "2",
        "--max-inflight",
        "4",
        "--timeout",
        "5s",
    ];
    let (pid, port) = common::sockets::serve_tcp(&mut env, "127.0.0.1:0", &extra);
    let mut warm = unix(&env);
    assert_eq!(warm.ask("PING"), "PONG");
    drop(warm);
    let stopped = env.wait_worker_up(0, None, T);
    let killed = env.wait_worker_up(1, None, T);
    assert!(kill(stopped, libc::SIGSTOP));
    let _cont = Continue(stopped);
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let requests: Vec<String> = (0..2000).map(|i| format!("c{c}-{i}")).collect();
            let bytes: Vec<u8> = requests
                .iter()
                .flat_map(|r| format!("REV {r}\n").into_bytes())
                .collect();
            let (mut reader, writer): (Box<dyn Read + Send>, Box<dyn Write + Send>) = if c % 2 == 0
            {
                let s = std::os::unix::net::UnixStream::connect(env.socket_path()).unwrap();
                (Box::new(s.try_clone().unwrap()), Box::new(s))
            } else {
                let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                (Box::new(s.try_clone().unwrap()), Box::new(s))
            };
            std::thread::spawn(move || {
                let mut writer = writer;
                // Blocks at the client's bound; fails once the stop ends the connection.
                let writing = std::thread::spawn(move || writer.write_all(&bytes).is_ok());
                let mut got = String::new();
                let _ = reader.read_to_string(&mut got);
                let _ = writing.join();
                for (i, answer) in got.lines().enumerate() {
                    let reply: String = requests[i].chars().rev().collect();
                    assert!(
                        answer == reply || answer == "ERR shutting down",
                        "client {c}, answer {i}: {answer}"
                    );
                }
                got.lines().count() as u64
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    assert!(kill(killed, libc::SIGKILL));
    let out = stop_then_continue(&mut env, pid, stopped);
    let answers: u64 = clients.into_iter().map(|t| t.join().unwrap()).sum();
    let v = json_of(&out);
    assert_eq!(
        v["requests"].as_u64(),
        Some(answers + 1),
        "the PING too: {v}"
    );
    env.assert_nothing_left();
}

/// At the stop, a client that does not read its replies (here with a megabyte of them
/// owed) does not cost the others theirs: each connection is written as far as it
/// takes, in turns, within the time the stop gives. Before, the clients were written one
/// after the other, each until done or until the shared deadline: the one that did not
/// read took all of it, and a client after it got not a single answer, only the end of
/// file.
#[test]
fn at_the_stop_a_client_that_does_not_read_leaves_the_others_their_answers() {
    let mut env = TestEnv::new("slowstop");
    let pid = env.start_serving(&["--secondaries", "1", "--timeout", "5s"]);
    let mut warm = unix(&env);
    assert_eq!(warm.ask("PING"), "PONG");
    drop(warm);
    // Connected first: first in the hall's order of clients.
    let deaf = std::os::unix::net::UnixStream::connect(env.socket_path()).unwrap();
    let mut deaf_writer = deaf.try_clone().unwrap();
    let line = format!("ECHO {}\n", "x".repeat(4000));
    let writer = std::thread::spawn(move || {
        // Until the primary stops reading it (its replies owed fill its bound), then
        // until the stop ends the connection.
        for _ in 0..2000 {
            if deaf_writer.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let secondary = env.wait_worker_up(0, None, T);
    assert!(kill(secondary, libc::SIGSTOP));
    let _cont = Continue(secondary);
    let mut polite = unix(&env);
    polite.send_raw(b"REV b0\nREV b1\nREV b2\n");
    std::thread::sleep(Duration::from_millis(200));
    stop_then_continue(&mut env, pid, secondary);
    let (answers, end) = answers_then_end(&mut polite);
    assert_eq!(answers, vec!["ERR shutting down"; 3]);
    assert_eq!(end, Got::Eof);
    drop(deaf);
    let _ = writer.join();
    env.assert_nothing_left();
}
