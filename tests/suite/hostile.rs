//! The serving mode against hostile clients (issue 11), with the real binary: a descriptor
//! shortage under `prlimit` (no busy loop, no log flood), a client pipelining as fast as
//! it can next to a polite one (fair share, no `ERR busy`), a hundred clients that send
//! large requests and never read (bounded memory), and a line far beyond `--max-line`
//! (the client reads `ERR line too long`, not a reset). Loopback and Unix sockets only;
//! every wait has a deadline.

use crate::common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::sockets::{Duplex, serve_tcp, unix};
use common::{TestEnv, cpu_time, fd_targets, kill, rss_bytes, slow, stderr_of};

/// The deadline of anything that should take well under a second.
const T: Duration = Duration::from_secs(30);

/// A raw stream to the instance's Unix socket, with the deadline `T` on its reads and
/// writes, for clients that go beyond one request and one reply ([`unix`] is for those).
fn connect(env: &TestEnv) -> UnixStream {
    let s = UnixStream::connect(env.socket_path()).unwrap();
    s.set_timeout(T);
    s
}

/// What a client got back without waiting: its bytes so far and whether the server
/// closed the connection (end of file or reset).
fn available(conn: &mut UnixStream) -> (String, bool) {
    conn.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match conn.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break true,
        }
    };
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

/// `n` clients connect (the listener's backlog holds those not accepted yet) and each
/// sends one request at once.
fn connect_and_ping(env: &TestEnv, n: usize) -> Vec<UnixStream> {
    (0..n)
        .map(|_| {
            let mut c = connect(env);
            // A client refused at once may find the connection closed already (EPIPE);
            // its reply is still there to read.
            let _ = c.write_all(b"PING\n");
            c
        })
        .collect()
}

/// Each client's answer (a whole line, or what it got before the server closed), waiting
/// for all of them at most `T`.
fn answers(clients: &mut [UnixStream]) -> Vec<String> {
    let deadline = Instant::now() + T;
    clients
        .iter_mut()
        .enumerate()
        .map(|(i, c)| {
            let mut got = String::new();
            loop {
                let (more, closed) = available(c);
                got.push_str(&more);
                if got.ends_with('\n') || closed {
                    return got;
                }
                assert!(Instant::now() < deadline, "client {i}: no answer in {T:?}");
                std::thread::sleep(Duration::from_millis(5));
            }
        })
        .collect()
}

/// Sets the soft descriptor limit of a running process (as a user's `prlimit --pid` may):
/// a descriptor numbered `soft` or above can no longer be had.
fn set_soft_nofile(pid: u32, soft: u32) {
    let out = common::run(
        {
            let mut c = std::process::Command::new("prlimit");
            c.arg(format!("--pid={pid}"))
                .arg(format!("--nofile={soft}:64"));
            c
        },
        T,
    );
    assert!(out.status.success(), "prlimit: {}", stderr_of(&out));
}

/// The lowest descriptor number a process does not use.
fn lowest_free_fd(pid: u32) -> u32 {
    let used: Vec<u32> = fd_targets(pid).into_iter().map(|(fd, _)| fd).collect();
    (0..).find(|fd| !used.contains(fd)).unwrap()
}

/// How many times the threads of a process left their CPU: blocked (each wait of the
/// event loop that sleeps) or preempted (`/proc/PID/task/*/status`).
fn wakeups(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .flatten()
        .map(|t| {
            let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// How long each quiet spell of the descriptor test is watched.
const QUIET: Duration = Duration::from_secs(2);

/// Watches the primary for [`QUIET`] while nothing happens but what it was left with
/// (`what`): it must neither spin nor poll on a short timer.
///
/// Both bounds are far above what a quiet primary spends and far below what a loop that
/// retries does, whatever the load of the machine. Quiet, it wakes for its heartbeat
/// (every second), its lock file's check and, while its listeners are paused for lack of
/// descriptors, every 250 ms (`fdlimit::PAUSE`): 2 to 12 wake-ups and at most a few
/// milliseconds of CPU in 2 s, with the whole suite running beside it. A loaded machine
/// delays those wake-ups, it adds none, and their work does not grow. A loop that never
/// sleeps (the listener left in the poll set while `accept` fails) burns a share of a
/// CPU far above 100 ms in 2 s even beside other busy processes, while it blocks too
/// rarely to be counted; one that sleeps a millisecond or a few (a pause too short)
/// costs only tens of ms in 2 s, below any CPU bound a loaded machine allows, but wakes
/// hundreds or thousands of times. So both are counted.
///
/// The burst of newcomers before each spell is not measured: its work is done once and
/// grows with their number (2 to 25 ms for the 100 clients here, about 0.3 ms for each
/// newcomer refused alone), and the primary's CPU alone cannot tell it from a spin.
fn assert_quiet(pid: u32, what: &str) {
    let (cpu, woke) = (cpu_time(pid), wakeups(pid));
    std::thread::sleep(QUIET);
    let (cpu, woke) = (cpu_time(pid) - cpu, wakeups(pid) - woke);
    eprintln!("{what}: {cpu:?} of CPU and {woke} wake-ups in {QUIET:?}");
    assert!(
        cpu < Duration::from_millis(100) && woke < 50,
        "{what}: the primary used {cpu:?} of CPU and woke {woke} times in {QUIET:?}"
    );
}

/// A primary out of descriptors (issue 11): first at the budget (`--max-clients` sized
/// to a limit of 64), then truly out of them (the limit lowered under it, as if something
/// else had taken them): newcomers turned away on the reserve descriptor, then, with not
/// even that one left, waiting in the listener's backlog, which stays readable while
/// `accept` fails. In each state it must neither spin nor flood its log, and once
/// descriptors are back it serves again.
#[test]
fn out_of_descriptors_the_primary_neither_spins_nor_floods_its_log() {
    let mut env = TestEnv::new("emfile");
    let mut cmd = env.cmd_via(&["prlimit", "--nofile=64:64"], "primary");
    cmd.args(["--serve", "--json", "--secondaries", "1"]);
    let primary = env.start_logged(cmd);
    let pid = primary.pid;
    env.wait_serving(T);
    // At the budget: the clients that fit within 64 descriptors (minus the instance's
    // own) are served, the others refused.
    let mut clients = connect_and_ping(&env, 100);
    let got = answers(&mut clients);
    let served = got.iter().filter(|a| *a == "PONG\n").count();
    let refused = got
        .iter()
        .filter(|a| a.starts_with("ERR too many clients (--max-clients"))
        .count();
    eprintln!("served {served}, refused {refused}");
    assert!(served >= 16, "only {served} of 100 clients served: {got:?}");
    assert_eq!(served + refused, 100, "{got:?}");
    assert_quiet(pid, "at --max-clients");
    // Out of descriptors: only the reserve is left, and each newcomer is answered on it.
    let free = lowest_free_fd(pid);
    set_soft_nofile(pid, free);
    let mut turned_away = connect_and_ping(&env, 20);
    for (i, a) in answers(&mut turned_away).iter().enumerate() {
        assert!(
            a.starts_with("ERR too many clients (out of descriptors"),
            "newcomer {i} with descriptors up to {free} taken: {a:?}; the primary's: {:?}",
            fd_targets(pid)
        );
    }
    assert_quiet(pid, "out of descriptors");
    // Not even the reserve: newcomers wait in the backlog.
    set_soft_nofile(pid, 3);
    let mut waiting = connect_and_ping(&env, 20);
    assert_quiet(pid, "out of descriptors, reserve included");
    for (i, c) in waiting.iter_mut().enumerate() {
        assert_eq!(available(c), (String::new(), false), "waiting client {i}");
    }
    // Descriptors again: the waiting ones get an answer, and once the others leave,
    // newcomers are served.
    set_soft_nofile(pid, 64);
    for (i, a) in answers(&mut waiting).iter().enumerate() {
        assert!(
            a == "PONG\n" || a.starts_with("ERR too many clients"),
            "waiting client {i}: {a:?}"
        );
    }
    clients.clear();
    turned_away.clear();
    waiting.clear();
    let deadline = Instant::now() + T;
    loop {
        let reply = unix(&env).ask("PING");
        if reply == "PONG" {
            break;
        }
        assert!(reply.starts_with("ERR too many clients"), "{reply}");
        assert!(
            Instant::now() < deadline,
            "no client served after the others left"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(kill(pid, libc::SIGTERM));
    let out = env.finish_logged(&primary, T);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    let lines = stderr.lines().count();
    assert!(
        lines < 100,
        "{lines} lines on stderr; the first: {:?}",
        stderr.lines().take(5).collect::<Vec<_>>()
    );
    // One shortage, one warning.
    assert_eq!(
        stderr
            .matches("out of descriptors accepting clients")
            .count(),
        1,
        "{stderr}"
    );
    env.assert_no_leftovers();
}

#[test]
fn a_flooding_client_does_not_starve_a_polite_one() {
    let mut env = TestEnv::new("flood");
    let pid = env.start_serving(&["--secondaries", "2"]);
    let flood = connect(&env);
    let stop_flood = Arc::new(AtomicBool::new(false));
    let pongs = Arc::new(AtomicU64::new(0));
    // The flooder writes PING lines as fast as the server takes them...
    let writer = {
        let mut out = flood.try_clone().unwrap();
        out.set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let stop = stop_flood.clone();
        std::thread::spawn(move || {
            let chunk = "PING\n".repeat(1000).into_bytes();
            while !stop.load(Ordering::Relaxed) {
                match out.write(&chunk) {
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => panic!("the flooder's write failed: {e}"),
                }
            }
            // Whole lines only: the server answers what it got, then sees end of file.
            out.shutdown_write();
        })
    };
    // ... and reads every reply, so nothing but the server limits it.
    let reader = {
        let pongs = pongs.clone();
        std::thread::spawn(move || {
            let mut busy = 0u64;
            let mut partial = Vec::new();
            let mut input = BufReader::with_capacity(1 << 16, flood);
            loop {
                partial.clear();
                match input.read_until(b'\n', &mut partial) {
                    Ok(0) => break,
                    Ok(_) if partial.ends_with(b"\n") => {}
                    Ok(_) => panic!("the flooder's last reply was cut short"),
                    Err(e) => panic!("the flooder's read failed: {e}"),
                }
                match &partial[..] {
                    b"PONG\n" => {
                        pongs.fetch_add(1, Ordering::Relaxed);
                    }
                    b"ERR busy\n" => busy += 1,
                    other => panic!("the flooder got {:?}", String::from_utf8_lossy(other)),
                }
            }
            busy
        })
    };
    let deadline = Instant::now() + T;
    while pongs.load(Ordering::Relaxed) < 2000 {
        assert!(Instant::now() < deadline, "the flood never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The polite client: one PING every 10 ms, each answered before the next.
    let mut polite = unix(&env);
    let mut replies = Vec::new();
    let mut latencies = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        replies.push(polite.ask("PING"));
        latencies.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(10));
    }
    let flooded = pongs.load(Ordering::Relaxed);
    stop_flood.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let flooder_busy = reader.join().unwrap();
    latencies.sort();
    eprintln!(
        "polite p50 {:?} p99 {:?}; the flooder got {flooded} PONG meanwhile, {flooder_busy} ERR busy",
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100]
    );
    let not_pong: Vec<_> = replies.iter().filter(|r| *r != "PONG").collect();
    assert!(
        not_pong.is_empty(),
        "{} of 300 polite requests not answered PONG: {:?}",
        not_pong.len(),
        &not_pong[..not_pong.len().min(5)]
    );
    assert_eq!(
        flooder_busy, 0,
        "the flooder was answered ERR busy within its share"
    );
    let v = env.stop_serving(pid);
    assert_eq!(v["busy"], 0, "{v}");
}

#[test]
fn clients_that_never_read_cost_a_bounded_amount_of_memory() {
    const CLIENTS: usize = 100;
    const PER_CLIENT: usize = 45;
    let mut env = TestEnv::new("noread");
    let pid = env.start_serving(&["--secondaries", "2"]);
    // The baseline: the primary after serving one client.
    assert_eq!(unix(&env).ask("PING"), "PONG");
    let base = rss_bytes(pid);
    // Each client sends 45 requests of about 60 KB (each reply is as long) and never
    // reads a byte. Writes are non-blocking: the test keeps pushing until the server
    // stops taking more from anyone.
    let request = format!("REV {}\n", "x".repeat(60_000)).into_bytes();
    let total = request.len() * PER_CLIENT;
    let mut clients: Vec<(UnixStream, usize)> = (0..CLIENTS)
        .map(|_| {
            let c = connect(&env);
            c.set_nonblocking(true).unwrap();
            (c, 0)
        })
        .collect();
    let deadline = Instant::now() + T;
    let mut last_progress = Instant::now();
    while last_progress.elapsed() < Duration::from_secs(1) {
        assert!(
            Instant::now() < deadline,
            "the clients kept sending for {T:?}"
        );
        let mut progress = false;
        for (c, sent) in &mut clients {
            while *sent < total {
                let at = *sent % request.len();
                match c.write(&request[at..]) {
                    Ok(n) => {
                        *sent += n;
                        progress = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("a silent client's write failed: {e}"),
                }
            }
        }
        if progress {
            last_progress = Instant::now();
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let grown = rss_bytes(pid).saturating_sub(base);
    let per_client = grown / CLIENTS as u64;
    let sent: usize = clients.iter().map(|c| c.1).sum();
    eprintln!(
        "RSS grew by {} KiB: {} KiB per client; clients sent {} MiB in all",
        grown / 1024,
        per_client / 1024,
        sent >> 20
    );
    // Issue 11 asks for under 1.5 MiB. The primary holds about 1 MiB for each (its
    // replies, unread); this measures 1.05 MiB since large buffers are mmapped on their
    // own (1.3 to 1.5 MiB before, in the holes they left in the heap; 3.5 to 4 MiB
    // before the bounds).
    assert!(
        per_client < 3 << 19,
        "{per_client} bytes of RSS per client that never reads (bound: 1.5 MiB)"
    );
    // The server still answers others.
    assert_eq!(unix(&env).ask("PING"), "PONG");
    drop(clients);
    env.stop_serving(pid);
}

/// A client that writes a whole request stream before it reads anything (as a simple
/// script does): `PING`, then a line of `long` bytes. Its write must succeed (the server
/// drains what it refuses rather than close on unread input, which would reset the
/// connection under the writer), and it must then read both replies and end of file.
fn send_far_too_long(
    mut conn: impl Read + Write,
    long: usize,
    then_shutdown: impl FnOnce(),
) -> String {
    let mut bytes = b"PING\nECHO ".to_vec();
    bytes.resize(long, b'a');
    bytes.push(b'\n');
    if let Err(e) = conn.write_all(&bytes) {
        panic!("{long} bytes: the write failed ({e}): the server closed on unread input");
    }
    then_shutdown();
    let mut got = Vec::new();
    if let Err(e) = conn.read_to_end(&mut got) {
        panic!(
            "{long} bytes: {e} after {:?} instead of end of file",
            String::from_utf8_lossy(&got)
        );
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn a_line_far_beyond_max_line_is_answered_before_the_connection_closes() {
    let mut env = TestEnv::new("farlong");
    let (pid, port) = serve_tcp(&mut env, "127.0.0.1:0", &["--max-line", "1K"]);
    // A client that says it is done writing, and one that just waits for the end.
    for (long, shutdown) in [(100_000, true), (10_000_000, false)] {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_timeout(T);
        let half = tcp.try_clone().unwrap();
        let got = send_far_too_long(tcp, long, || {
            if shutdown {
                half.shutdown_write();
            }
        });
        assert_eq!(got, "PONG\nERR line too long\n", "TCP, {long} bytes");
        let stream = connect(&env);
        let half = stream.try_clone().unwrap();
        let got = send_far_too_long(stream, long, || {
            if shutdown {
                half.shutdown_write();
            }
        });
        assert_eq!(got, "PONG\nERR line too long\n", "Unix, {long} bytes");
    }
    assert_eq!(unix(&env).ask("PING"), "PONG");
    let v = env.stop_serving(pid);
    // Four refused lines, counted apart from the requests (the PINGs) they followed.
    assert_eq!(v["too_long"], 4, "{v}");
    assert_eq!(v["requests"], 5, "{v}");
}

/// A client pipelining far beyond `--max-inflight` is served as fast as replies come:
/// the requests that replies make room for are dispatched in the same pass of the loop,
/// never left waiting for a doorbell or a timer. When they were, 64,000 PINGs took
/// about 5.5 s in a debug build (every batch waited for the next wake-up), against
/// 0.2-0.4 s since. What is checked is that no reply waits long after the one before
/// it: the whole run's time depends on what else the machine does (two busy loops
/// beside it make it 3-7 s), a wait for a wake-up that has no reason to come does not.
#[test]
fn a_pipelining_client_is_never_left_waiting() {
    const PINGS: usize = 64_000;
    let mut env = TestEnv::new("pipeline");
    let pid = env.start_serving(&["--secondaries", "2"]);
    let conn = connect(&env);
    let mut out = conn.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        out.write_all(&b"PING\n".repeat(PINGS)).unwrap();
    });
    let gap_bound = slow(Duration::from_millis(500));
    let mut input = BufReader::new(conn);
    let mut line = String::new();
    let mut last = Instant::now();
    for i in 0..PINGS {
        line.clear();
        input.read_line(&mut line).unwrap();
        assert_eq!(line, "PONG\n", "reply {i}");
        let gap = last.elapsed();
        assert!(
            gap < gap_bound,
            "reply {i} of {PINGS} came {gap:?} after the one before"
        );
        last = Instant::now();
    }
    writer.join().unwrap();
    drop(input);
    let v = env.stop_serving(pid);
    assert_eq!(v["requests"], PINGS as u64, "{v}");
}
