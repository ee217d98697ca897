//! Edges of the serving mode found in review, with the real binary: clients that left at
//! once do not count against `--max-clients`; a paused primary does not take its healthy
//! secondaries for hung; a stop ends every connection with its replies and a clean end of
//! file, never a reset; giving up says so in the summary; a refused long line's reply
//! waits for the replies before it, and is read even when the client then hangs up; and
//! `--max-line` measures a CRLF line without its `\r`.

use crate::common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::sockets::{Conn, Duplex, Got, serve_tcp, set_sndbuf, tcp, unix};
use common::{T, TestEnv, field, json_of, kill, output_within, run, slow, stderr_of};

/// The `i`th request of client `c` and its exact reply.
fn rev(c: usize, i: usize) -> (String, String) {
    let text = format!("c{c}-r{i}");
    (format!("REV {text}"), text.chars().rev().collect())
}

// ---------------------------------------------------------------------------------------
// Admission

/// Connections that connected and closed at once (all waiting in the listen backlog while
/// the primary could not run) hold no place under `--max-clients`: with none connected, a
/// live newcomer is served, not told `ERR too many clients`.
#[test]
fn clients_that_closed_at_once_do_not_count_against_max_clients() {
    let mut env = TestEnv::new("admitclosed");
    let pid = env.start_serving(&["--max-clients", "10"]);
    assert!(kill(pid, libc::SIGSTOP));
    for _ in 0..30 {
        drop(UnixStream::connect(env.socket_path()).unwrap());
    }
    let mut live = unix(&env);
    live.send("PING");
    assert!(kill(pid, libc::SIGCONT));
    let reply = live.get();
    assert_eq!(
        reply,
        Got::Line("PONG".into()),
        "a live client with no other client connected"
    );
    assert_eq!(live.ask("REV ab"), "ba");
    drop(live);
    let v = env.stop_serving(pid);
    assert_eq!(v["restarts"], 0, "{v}");
}

// ---------------------------------------------------------------------------------------
// Counters

/// A secondary's `requests_served` (inspect, top, `STATS`'s `served`) counts requests, not
/// turns: a pipelining client's requests reach the secondary in batches, many per turn,
/// and the pool's sum is the primary's `requests`. Before, it counted turns: 100
/// pipelined requests showed as a handful served.
#[test]
fn requests_served_counts_the_requests_of_a_batch_not_its_turn() {
    let mut env = TestEnv::new("servedbatch");
    let pid = env.start_serving(&["--secondaries", "1"]);
    let mut conn = unix(&env);
    conn.send_raw(&b"PING\n".repeat(100));
    for i in 0..100 {
        assert_eq!(conn.get(), Got::Line("PONG".into()), "reply {i}");
    }
    let deadline = Instant::now() + slow(T);
    let doc = loop {
        let mut inspect = env.cmd("inspect");
        inspect.args(["--name", &env.name]);
        let out = run(inspect, T);
        assert!(out.status.success(), "{}", stderr_of(&out));
        let doc = common::parse_json(&out.stdout);
        if doc["instances"][0]["segment"]["header"]["requests"] == 100 {
            break doc;
        }
        assert!(
            Instant::now() < deadline,
            "requests never reached 100: {doc}"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let served = &doc["instances"][0]["secondaries"][0]["requests_served"];
    assert_eq!(served, 100, "{doc}");
    let stats: serde_json::Value = serde_json::from_str(&conn.ask("STATS")).unwrap();
    assert_eq!(stats["served"], serde_json::json!([100]), "{stats}");
    drop(conn);
    let v = env.stop_serving(pid);
    assert_eq!(v["requests"], 101, "{v}");
}

// ---------------------------------------------------------------------------------------
// Supervision

/// With `--max-restarts 0`, the death of the only secondary makes the primary give up:
/// exit status 4 and a summary that says `"stopped_by": "gave-up"` (not `error`).
#[test]
fn giving_up_after_a_kill_9_says_gave_up_in_the_summary() {
    let mut env = TestEnv::new("gaveup");
    let pid = env.start_serving(&["--secondaries", "1", "--max-restarts", "0"]);
    let mut conn = unix(&env);
    assert_eq!(conn.ask("PING"), "PONG");
    let secondary = env.wait_worker_up(0, None, T);
    assert!(kill(secondary, libc::SIGKILL));
    let out = output_within(env.take_child(pid), T);
    assert_eq!(out.status.code(), Some(6), "{}", stderr_of(&out));
    let v = json_of(&out);
    assert_eq!(v["stopped_by"], "gave-up", "{v}");
    assert_eq!(v["deaths"][0]["signal"], 9, "{v}");
    env.assert_nothing_left();
}

// ---------------------------------------------------------------------------------------
// Long lines

/// A line longer than `--max-line` behind a request a slow secondary is still serving:
/// the client gets that reply, then `ERR line too long`, then the end of file. The
/// drain after the refusal does not close the connection before its replies are out.
#[test]
fn a_long_line_behind_a_slow_request_gets_both_replies_then_eof() {
    let mut env = TestEnv::new("draindl");
    let pid = env.start_serving(&["--secondaries", "1", "--timeout", "3s", "--max-line", "100"]);
    let mut conn = unix(&env);
    assert_eq!(conn.ask("PING"), "PONG");
    let secondary = env.wait_worker_up(0, None, T);
    assert!(kill(secondary, libc::SIGSTOP));
    let mut bytes = b"PING\n".to_vec();
    bytes.extend_from_slice(&[b'x'; 200]);
    bytes.push(b'\n');
    conn.send_raw(&bytes);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(kill(secondary, libc::SIGCONT));
    assert_eq!(conn.get(), Got::Line("PONG".into()), "the slow reply");
    assert_eq!(conn.get(), Got::Line("ERR line too long".into()));
    conn.expect_clean_eof("after ERR line too long");
    let v = env.stop_serving(pid);
    assert_eq!(v["restarts"], 0, "{v}");
}

/// A client refused for a too-long line, to which the primary has written every reply
/// and shut its side, sends more and then shuts down its own side, both seen by the
/// primary at once (it was stopped meanwhile): the hang-up (EPOLLHUP) comes with bytes
/// unread. The client still reads every reply, then a clean end of file. Before, the
/// primary let go of it at once, closing with input unread, which resets the connection:
/// over TCP the replies still in the primary's send buffer were lost (the client, whose
/// window is small, had not read them yet), over the Unix socket the client read a reset
/// after its replies.
#[test]
fn a_refused_client_that_sends_more_then_hangs_up_reads_every_reply_then_eof() {
    let mut env = TestEnv::new("drainhup");
    let (pid, port) = serve_tcp(&mut env, "127.0.0.1:0", &["--max-line", "4000"]);
    let too_long = [b'x'; 4100];
    // Sends more after the primary shut its side, then hangs up, the primary stopped so
    // that it sees both at once.
    // The client reads only once the primary let go of it (a reset comes with the close).
    let more_then_hang_up = |writer: &mut dyn FnMut()| {
        assert!(kill(pid, libc::SIGSTOP));
        writer();
        std::thread::sleep(Duration::from_millis(50));
        assert!(kill(pid, libc::SIGCONT));
        let deadline = Instant::now() + slow(T);
        while env.header_field(field::CLIENTS) != Some(0) {
            assert!(Instant::now() < deadline, "the client was never let go of");
            std::thread::sleep(Duration::from_millis(5));
        }
    };

    let mut conn = unix(&env);
    let mut bytes = too_long.to_vec();
    bytes.push(b'\n');
    conn.send_raw(&bytes);
    // Read, so written: our side was shut in the same write.
    assert_eq!(conn.line(), "ERR line too long");
    more_then_hang_up(&mut || {
        conn.writer.write_all(b"PING\n").unwrap();
        conn.writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    conn.expect_clean_eof("unix: after ERR line too long");

    // Over TCP, replies far beyond the client's small receive window.
    let mut conn = Conn::new(tcp_with_small_window(port));
    let text = "e".repeat(2000);
    let mut bytes = Vec::new();
    for _ in 0..50 {
        bytes.extend_from_slice(format!("ECHO {text}\n").as_bytes());
    }
    bytes.extend_from_slice(&too_long);
    bytes.push(b'\n');
    conn.send_raw(&bytes);
    assert_eq!(conn.line(), text, "the first reply");
    // Time to write the others into its socket (its window takes a few of them) and shut
    // its side; well within the second it has to read them.
    std::thread::sleep(Duration::from_millis(300));
    more_then_hang_up(&mut || {
        conn.writer.write_all(b"PING\n").unwrap();
        conn.writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    for i in 1..50 {
        assert_eq!(conn.get(), Got::Line(text.clone()), "tcp: reply {i}");
    }
    assert_eq!(conn.line(), "ERR line too long");
    conn.expect_clean_eof("tcp: after ERR line too long");
    let v = env.stop_serving(pid);
    assert_eq!(
        (&v["requests"], &v["too_long"]),
        (&50.into(), &2.into()),
        "{v}"
    );
}

/// A loopback TCP connection to `port` whose receive buffer is as small as the kernel
/// allows (set before the connection, so its window stays small).
fn tcp_with_small_window(port: u16) -> std::net::TcpStream {
    use std::os::fd::FromRawFd;
    // SAFETY: socket(2) takes no pointer; the descriptor it returns is checked and owned
    // by the TcpStream below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: fd is a socket of ours, owned from here on (closed when dropped).
    let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    let small: libc::c_int = 1;
    // SAFETY: setsockopt reads one int from `small`, which lives through the call.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::from_ref(&small).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_RCVBUF: {}", std::io::Error::last_os_error());
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: connect reads a sockaddr_in of the size given from `addr`, which lives
    // through the call.
    let r = unsafe {
        libc::connect(
            fd,
            std::ptr::from_ref(&addr).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "connect: {}", std::io::Error::last_os_error());
    stream.set_nodelay(true).unwrap();
    stream
}

/// `--max-line` bounds a line without its line ending: a CRLF line whose text (without
/// `\r`) is exactly `--max-line` bytes is served, whether the `\r` and `\n` arrive with the
/// text or after it; one byte more is refused.
#[test]
fn max_line_counts_a_crlf_line_without_its_cr() {
    let mut env = TestEnv::new("crlfmax");
    let (pid, port) = serve_tcp(&mut env, "127.0.0.1:0", &["--max-line", "10"]);
    fn check<S: Duplex>(mut conn: Conn<S>) {
        assert_eq!("ECHO 12345".len(), 10);
        assert_eq!(conn.ask("ECHO 12345"), "12345", "LF, 10 bytes");
        assert_eq!(conn.ask("ECHO 12345\r"), "12345", "CRLF, 10 bytes + CR");
        // The line ending in a later write: the 11 bytes "ECHO 12345\r" wait alone.
        conn.send_raw(b"ECHO 12345\r");
        std::thread::sleep(Duration::from_millis(100));
        conn.send_raw(b"\n");
        assert_eq!(conn.line(), "12345", "CRLF, the line ending written apart");
        conn.send_raw(b"ECHO 123456\r\n");
        assert_eq!(conn.line(), "ERR line too long", "CRLF, 11 bytes + CR");
        conn.expect_clean_eof("after ERR line too long");
    }
    check(unix(&env));
    check(tcp(port));
    let mut conn = unix(&env);
    conn.send("ECHO 123456");
    assert_eq!(conn.line(), "ERR line too long", "LF, 11 bytes");
    let v = env.stop_serving(pid);
    assert_eq!(v["restarts"], 0, "{v}");
}

// ---------------------------------------------------------------------------------------
// Stopping

/// Stopping (SIGTERM, or `osps stop NAME`) while a client has one request at a stopped
/// secondary and another still unread in the server's socket (`--max-inflight 1`): the
/// client reads `ERR shutting down` and then a clean end of file, never a reset.
#[test]
fn stopping_with_unread_input_ends_the_client_with_eof_not_a_reset() {
    for how in ["SIGTERM", "osps stop"] {
        let mut env = TestEnv::new("resetstop");
        let pid = env.start_serving(&["--max-inflight", "1", "--timeout", "1s"]);
        let mut conn = unix(&env);
        assert_eq!(conn.ask("PING"), "PONG");
        let secondary = env.wait_worker_up(0, None, T);
        assert!(kill(secondary, libc::SIGSTOP));
        // Read and handed to the stopped secondary: in flight.
        conn.send("PING");
        std::thread::sleep(Duration::from_millis(100));
        // Not read: the client's one request in flight is not answered yet.
        conn.send("PING");
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
        assert_eq!(
            conn.get(),
            Got::Line("ERR shutting down".into()),
            "{how}: the request in flight"
        );
        // Unread (the client is at its bound), the second request gets no answer; read
        // together with the first (a slow machine), it is held back and answered so.
        let end = match conn.get() {
            Got::Line(l) if l == "ERR shutting down" => conn.get(),
            other => other,
        };
        assert_eq!(end, Got::Eof, "{how}: after the replies");
        env.assert_nothing_left();
        let v = json_of(&out);
        assert_eq!(v["stopped_by"], "signal", "{how}");
        // The stop's refusal is not an error of the request.
        assert_eq!(v["errors"], 0, "{how}: {v}");
        // Every request but the first PING was cut short.
        let count = |key: &str| v[key].as_u64().unwrap();
        assert_eq!(count("cut_short") + 1, count("requests"), "{how}: {v}");
    }
}

/// How a load client's connection ended.
struct Ending {
    replies: usize,
    end: Got,
}

/// Runs one client until the server ends the connection: up to `window` requests in
/// flight, every reply the right one or `ERR shutting down`, in order; it stops writing
/// at the first `ERR shutting down` or failed write, then reads to the end.
fn stop_load_client<S: Duplex>(mut conn: Conn<S>, c: usize, window: usize) -> Ending {
    let (mut sent, mut received) = (0, 0);
    let mut writing = true;
    loop {
        while writing && sent - received < window {
            let mut line = rev(c, sent).0.into_bytes();
            line.push(b'\n');
            if conn.writer.write_all(&line).is_err() {
                writing = false;
                break;
            }
            sent += 1;
        }
        match conn.get() {
            Got::Line(l) => {
                let want = rev(c, received).1;
                assert!(
                    l == want || l == "ERR shutting down",
                    "client {c} request {received}: {l:?}, want {want:?}"
                );
                if l == "ERR shutting down" {
                    writing = false;
                }
                received += 1;
            }
            end => {
                return Ending {
                    replies: received,
                    end,
                };
            }
        }
    }
}

/// SIGTERM under load of 20 clients, half over the Unix socket and half over loopback
/// TCP, each pipelining more requests than `--max-inflight` (so the server holds some
/// unread, as back-pressure): every client reads its replies and then a clean end of
/// file; none is reset.
#[test]
fn sigterm_under_load_ends_every_client_with_eof_not_a_reset() {
    const CLIENTS: usize = 20;
    let mut env = TestEnv::new("termeof");
    let (pid, port) = serve_tcp(
        &mut env,
        "127.0.0.1:0",
        &["--secondaries", "2", "--max-inflight", "4"],
    );
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            if c % 2 == 0 {
                let conn = unix(&env);
                std::thread::spawn(move || stop_load_client(conn, c, 16))
            } else {
                let conn = tcp(port);
                std::thread::spawn(move || stop_load_client(conn, c, 16))
            }
        })
        .collect();
    // Let every client get going.
    let deadline = Instant::now() + slow(T);
    loop {
        let stats: serde_json::Value = serde_json::from_str(&unix(&env).ask("STATS")).unwrap();
        if stats["requests"].as_u64().unwrap() >= 2000 {
            break;
        }
        assert!(Instant::now() < deadline, "the load did not start: {stats}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(kill(pid, libc::SIGTERM));
    let out = output_within(env.take_child(pid), T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let endings: Vec<Ending> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    let reset: Vec<String> = endings
        .iter()
        .enumerate()
        .filter(|(_, e)| e.end != Got::Eof)
        .map(|(c, e)| {
            let over = if c % 2 == 0 { "unix" } else { "tcp" };
            format!(
                "client {c} ({over}) after {} replies: {:?}",
                e.replies, e.end
            )
        })
        .collect();
    assert!(
        reset.is_empty(),
        "{} of {CLIENTS} clients did not end with a clean end of file: {reset:#?}",
        reset.len()
    );
    for (c, e) in endings.iter().enumerate() {
        assert!(e.replies > 0, "client {c} got no reply");
    }
    env.assert_nothing_left();
    assert_eq!(json_of(&out)["stopped_by"], "signal");
}

/// Pipelining clients far ahead of `--max-inflight` (megabytes written at once, then end
/// of file), with replies that come a turn at a time (`--sync fifo`, whose doorbells are
/// handled one by one): each gets every reply, in order. A reply used to make room to read
/// such a client again before the lines it already held were cut, so each reply let in one
/// more read and cut one line: its input grew until it alone filled the bytes bound, and
/// from then on nothing was cut, answered or read again.
#[test]
fn clients_far_ahead_of_max_inflight_get_every_reply_when_replies_come_one_by_one() {
    const CLIENTS: usize = 3;
    let mut env = TestEnv::new("farahead");
    let pid = env.start_serving(&["--secondaries", "3", "--sync", "fifo"]);
    for _round in 0..2 {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let conn = unix(&env);
                std::thread::spawn(move || far_ahead_client(conn, c))
            })
            .collect();
        for t in clients {
            t.join().unwrap();
        }
    }
    env.stop_serving(pid);
}

/// Writes 30000 requests of up to 700 bytes at once, then reads every reply, in order,
/// then the end of file; no reply may take more than 10 seconds.
fn far_ahead_client(mut conn: Conn<UnixStream>, c: usize) {
    const REQUESTS: usize = 30_000;
    conn.writer.set_timeout(slow(Duration::from_secs(10)));
    let texts: Vec<String> = (0..REQUESTS)
        .map(|i| format!("c{c}-{i}-{}", "x".repeat(i * 7 % 700)))
        .collect();
    let bytes: Vec<u8> = texts
        .iter()
        .flat_map(|t| format!("ECHO {t}\n").into_bytes())
        .collect();
    let mut writer = conn.writer.clone_stream();
    let w = std::thread::spawn(move || {
        // A stalled server times this write out; the reads below say what went wrong.
        if writer.write_all(&bytes).is_ok() {
            writer.shutdown_write();
        }
    });
    for (i, want) in texts.iter().enumerate() {
        match conn.get() {
            Got::Line(l) => assert!(l == *want, "client {c} request {i}: {l:?}"),
            other => panic!("client {c}: {other:?} after {i} of {REQUESTS} replies"),
        }
    }
    assert_eq!(conn.get(), Got::Eof, "client {c}: after every reply");
    w.join().unwrap();
}

/// A line longer than the bytes one client may hold (`MAX_HELD`, 1 MiB), which a large
/// `--max-line` allows, is read to its end and answered: reading used to stop once the
/// unfinished line alone filled that bound, with nothing in flight whose reply could make
/// room, and the client waited forever.
#[test]
fn a_line_longer_than_the_bytes_bound_is_read_and_answered() {
    let mut env = TestEnv::new("hugeline");
    let pid = env.start_serving(&["--max-line", "2M", "--size", "8M"]);
    let text = "z".repeat(1_500_000);
    let mut conn = unix(&env);
    conn.writer.set_timeout(slow(Duration::from_secs(10)));
    let mut writer = conn.writer.clone_stream();
    let request = format!("ECHO {text}\nPING\n");
    let w = std::thread::spawn(move || {
        // A stalled server times this write out; the reads below say what went wrong.
        if writer.write_all(request.as_bytes()).is_ok() {
            writer.shutdown_write();
        }
    });
    assert!(conn.line() == text, "the long line's reply");
    assert_eq!(conn.line(), "PONG");
    assert_eq!(conn.get(), Got::Eof);
    w.join().unwrap();
    env.stop_serving(pid);
}

/// A server that fails (its segment truncated by another process) still answers the
/// request it read, `ERR shutting down`, and ends each connection with an end of file,
/// as an orderly stop does; before, the client saw the connection close with no reply.
#[test]
fn a_server_that_fails_answers_what_it_read_before_it_closes() {
    let mut env = TestEnv::new("failclose");
    let pid = env.start_serving(&["--secondaries", "2"]);
    let mut conn = unix(&env);
    assert_eq!(conn.ask("PING"), "PONG");
    std::fs::OpenOptions::new()
        .write(true)
        .open(env.shm_path())
        .unwrap()
        .set_len(4096)
        .unwrap();
    // A request after the truncation meets it, at once when its bytes go to the slot
    // (beyond the new end), or at the secondary's next check (every 100 ms).
    let deadline = Instant::now() + slow(T);
    loop {
        let reply = conn.ask("REV abc");
        if reply != "cba" {
            assert_eq!(reply, "ERR shutting down");
            break;
        }
        assert!(Instant::now() < deadline, "the truncation went unnoticed");
        std::thread::sleep(Duration::from_millis(20));
    }
    conn.expect_clean_eof("after the failure");
    let out = output_within(env.take_child(pid), T);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(json_of(&out)["stopped_by"], "error");
    env.assert_no_leftovers();
}

// ---------------------------------------------------------------------------------------
// Wake-ups

/// This thread's voluntary context switches (each time it blocked).
fn voluntary_switches() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("voluntary_ctxt_switches in /proc/thread-self/status")
}

/// A client blocked reading its reply is woken once, by the reply. Taking the request out
/// of the socket while it sleeps wakes it too (the kernel's "room to write" wake-up of
/// every sleeper on its socket): it blocked twice per request, one wake-up for nothing,
/// until the primary left requests in the socket (peeked) until their replies were written.
#[test]
fn a_client_waiting_for_its_reply_is_woken_once_per_request_not_twice() {
    let mut env = TestEnv::new("wakeonce");
    let pid = env.start_serving(&["--secondaries", "1"]);
    let stream = UnixStream::connect(env.socket_path()).unwrap();
    stream.set_read_timeout(Some(T)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    const REQUESTS: u64 = 100;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader};
        let mut input = BufReader::new(stream);
        let mut line = String::new();
        let mut blocked = 0;
        for i in 0..REQUESTS {
            ready_tx.send(()).unwrap();
            let before = voluntary_switches();
            line.clear();
            input.read_line(&mut line).unwrap();
            blocked += voluntary_switches() - before;
            assert_eq!(line, format!("{i}\n"));
        }
        blocked
    });
    for i in 0..REQUESTS {
        ready_rx.recv().unwrap();
        // The reader is asleep in its read by the time the request goes.
        std::thread::sleep(Duration::from_millis(2));
        writer.write_all(format!("ECHO {i}\n").as_bytes()).unwrap();
    }
    let blocked = reader.join().unwrap();
    // One block per request; a few more for a scheduler's whims, never one per request.
    assert!(
        blocked < REQUESTS * 3 / 2,
        "the reader blocked {blocked} times for {REQUESTS} replies"
    );
    drop(writer);
    let v = env.stop_serving(pid);
    assert_eq!(v["requests"], REQUESTS, "{v}");
}

/// The bytes of answered requests stay in a client's socket across a few replies (so that
/// taking them wakes no one, see `src/primary/stream.rs`), and they count against the
/// client's send buffer. A client with the smallest send buffer, one request at a time,
/// is blocked by them on its next write after a few replies: the primary must take them
/// by their deadline even though that client sends nothing more meanwhile, or both wait
/// for ever.
#[test]
fn a_client_with_a_tiny_send_buffer_is_not_held_up_by_its_answered_requests() {
    use std::io::{BufRead, BufReader};
    let mut env = TestEnv::new("tinysndbuf");
    let pid = env.start_serving(&["--secondaries", "1"]);
    let stream = UnixStream::connect(env.socket_path()).unwrap();
    set_sndbuf(&stream, 1);
    stream.set_read_timeout(Some(T)).unwrap();
    // A write blocked for ever fails here rather than hang the test.
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let text = "x".repeat(1000);
    let started = Instant::now();
    const REQUESTS: usize = 30;
    let mut line = String::new();
    for i in 0..REQUESTS {
        writer
            .write_all(format!("ECHO {text}\n").as_bytes())
            .unwrap_or_else(|e| panic!("request {i}: the primary kept its bytes: {e}"));
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line.len(), text.len() + 1, "reply {i}");
    }
    // A hold-up of at most 20 ms every few requests; a deadlock is the write timeout.
    let took = started.elapsed();
    assert!(
        took < slow(Duration::from_secs(4)),
        "{REQUESTS} requests took {took:?}"
    );
    drop((writer, reader));
    let v = env.stop_serving(pid);
    assert_eq!(v["requests"], REQUESTS, "{v}");
}

/// A client that sends its requests in many small writes and reads the replies only once
/// it has sent them all is served, as when requests were taken out of the socket at once.
/// Peeked requests stay in the socket, and a small write costs the client's send buffer
/// far more than its bytes (the kernel counts each write's buffer): with its replies not
/// read, the primary's writes block, so no reply was "written" to release the requests,
/// the client's writes blocked too, and both waited for ever, far below any bound.
#[test]
fn a_client_that_reads_only_after_many_small_writes_is_not_deadlocked() {
    let mut env = TestEnv::new("smallwrites");
    let pid = env.start_serving(&["--max-inflight", "2"]);
    let mut stream = UnixStream::connect(env.socket_path()).unwrap();
    stream.set_read_timeout(Some(T)).unwrap();
    // Each write goes at once unless the primary leaves them all in the socket.
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    const WRITES: usize = 2000;
    for i in 0..WRITES {
        stream
            .write_all(format!("ECHO {i}\n").as_bytes())
            .unwrap_or_else(|e| panic!("write {i} of {WRITES} (the primary read none): {e}"));
    }
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut replies = String::new();
    std::io::Read::read_to_string(&mut stream, &mut replies).unwrap();
    let want: String = (0..WRITES).map(|i| format!("{i}\n")).collect();
    assert!(replies == want, "{} replies", replies.lines().count());
    let v = env.stop_serving(pid);
    assert_eq!(v["requests"], WRITES as u64, "{v}");
}

/// A serving instance that takes lines of up to 2 MB, with its one secondary stopped
/// (SIGSTOP) once it answered a first PING on `conn`: requests sent now stay out until
/// the secondary is continued. Returns the instance, the primary's pid, that client and
/// the secondary's pid.
fn long_lines_and_a_stopped_secondary(tag: &str) -> (TestEnv, u32, Conn<UnixStream>, u32) {
    let mut env = TestEnv::new(tag);
    let pid = env.start_serving(&["--max-line", "2M", "--size", "4M", "--timeout", "20s"]);
    let mut conn = unix(&env);
    assert_eq!(conn.ask("PING"), "PONG");
    let secondary = env.wait_worker_up(0, None, T);
    assert!(kill(secondary, libc::SIGSTOP));
    (env, pid, conn, secondary)
}

/// A client held at the bytes bound with bytes left in its socket is read again once its
/// last reply has been written, though nothing new comes to its socket. A request is at
/// the (stopped) secondary; the client sends most of a long line, then the rest at once,
/// which brings it to `MAX_HELD` with the end of the line left in the socket. The reply
/// made room only once it was written, after the read that room was checked for, and an
/// edge-triggered socket never says again that the end of the line waits there: the
/// client waited for ever for the reply to its long line.
#[test]
fn a_client_at_the_bytes_bound_is_read_again_once_its_last_reply_is_written() {
    let (mut env, pid, conn, secondary) = long_lines_and_a_stopped_secondary("boundlast");
    let mut stream = UnixStream::connect(env.socket_path()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // Room for its writes beside the bytes the primary peeked and holds while its request
    // is out (a writer blocked is woken only once its socket is three quarters empty).
    set_sndbuf(&stream, 4 << 20);
    // Held for it: the request's line and its reply's room (102,053 bytes), and the long
    // line read so far. The first part leaves it under 1 MiB, the rest takes it over. In
    // small writes, so that the bytes the primary peeked and holds block none of them.
    let mut send = |bytes: String| {
        for piece in bytes.as_bytes().chunks(16 << 10) {
            stream.write_all(piece).unwrap();
        }
    };
    send(format!("ECHO {}\n", "a".repeat(100_000)));
    send(format!("ECHO {}", "y".repeat(929_995)));
    std::thread::sleep(Duration::from_millis(300));
    send(format!("{}\n", "y".repeat(60_000)));
    std::thread::sleep(Duration::from_millis(300));
    assert!(kill(secondary, libc::SIGCONT));
    use std::io::BufRead;
    let mut input = std::io::BufReader::new(stream);
    for want in [100_000, 989_995] {
        let mut line = String::new();
        input
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("the reply of {want} bytes: {e}"));
        assert_eq!(line.len(), want + 1);
    }
    drop(input);
    drop(conn);
    let v = env.stop_serving(pid);
    assert_eq!(v["requests"], 3, "{v}");
}

/// A client that writes on while its request is out (a long line in small writes behind
/// it) is read as its bytes come, as before the primary peeked: the bytes peeked and held
/// in its socket until a reply filled its send buffer (each small write costs it far more
/// than its bytes), and its writes blocked, far below the primary's bounds, until the
/// slow reply came.
#[test]
fn a_client_writing_on_while_its_request_is_out_is_not_held_up_by_peeked_bytes() {
    let (mut env, pid, conn, secondary) = long_lines_and_a_stopped_secondary("writeon");
    let mut stream = UnixStream::connect(env.socket_path()).unwrap();
    stream.set_read_timeout(Some(T)).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    // The primary stopped too while the first writes pile up: it then finds the request
    // and the start of the long line in one read, and fills the socket before it reads.
    assert!(kill(pid, libc::SIGSTOP));
    stream.write_all(b"ECHO first\nECHO ").unwrap();
    // 300 KB of one line in 100-byte writes, while "first" waits at the stopped
    // secondary: well under --max-line and the bytes bound, so all of it is read.
    let piece = [b'y'; 100];
    stream.set_nonblocking(true).unwrap();
    let mut sent = 0;
    while sent < 3000 && stream.write(&piece).is_ok_and(|n| n == piece.len()) {
        sent += 1;
    }
    stream.set_nonblocking(false).unwrap();
    assert!(sent < 3000, "the socket took all 3000 writes");
    assert!(kill(pid, libc::SIGCONT));
    for i in sent..3000 {
        if let Err(e) = stream.write_all(&piece) {
            let _ = kill(secondary, libc::SIGCONT);
            panic!("write {i} of 3000 blocked with its request out: {e}");
        }
    }
    stream.write_all(b"\n").unwrap();
    assert!(kill(secondary, libc::SIGCONT));
    use std::io::BufRead;
    let mut input = std::io::BufReader::new(stream);
    for want in ["first".len(), 300_000] {
        let mut line = String::new();
        input.read_line(&mut line).unwrap();
        assert_eq!(line.len(), want + 1);
    }
    drop(input);
    drop(conn);
    let v = env.stop_serving(pid);
    assert_eq!(v["requests"], 3, "{v}");
}

/// A client that leaves with its request at a secondary frees its place for the next
/// client; the reply that comes later is for nobody, and never reaches the newcomer (the
/// hall's slot of the first serves the second under a new id, see `ids.rs`).
#[test]
fn a_reply_for_a_client_that_left_never_reaches_the_client_after_it() {
    let mut env = TestEnv::new("slotgen");
    let pid = env.start_serving(&["--secondaries", "1", "--timeout", "5s"]);
    let mut warm = unix(&env);
    assert_eq!(warm.ask("PING"), "PONG");
    drop(warm);
    let secondary = env.wait_worker_up(0, None, T);
    assert!(kill(secondary, libc::SIGSTOP));
    // Its first request, as the second client's will be: the same order number.
    let mut first = unix(&env);
    first.send_raw(b"ECHO for the first client\n");
    // Until the primary has read it and handed it to the stopped secondary.
    std::thread::sleep(Duration::from_millis(300));
    drop(first);
    // Until the primary has seen it leave: its slot is free for the next client.
    std::thread::sleep(Duration::from_millis(300));
    let mut second = unix(&env);
    second.send_raw(b"ECHO for the second client\n");
    std::thread::sleep(Duration::from_millis(300));
    assert!(kill(secondary, libc::SIGCONT));
    assert_eq!(second.get(), Got::Line("for the second client".into()));
    assert_eq!(
        second.ask("PING"),
        "PONG",
        "and nothing else came before it"
    );
    let v = env.stop_serving(pid);
    assert_eq!(v["restarts"], 0, "{v}");
}
