//! The serving mode under load: requests per second and p50/p99 latency with 1, 8 and 32
//! clients, each sending one request at a time, against a bare Unix-socket echo server
//! (a thread per connection, no dispatch, no secondary) measured in the same run, in turn
//! with osps, medians of [`ROUNDS`] runs each.
//!
//! A second reference, the one-loop echo server, answers the same clients from a single
//! thread with epoll, as the osps dispatcher does, but with no dispatch at all: the
//! distance from the thread-per-connection echo to it is what serving every client from
//! one event loop costs on this machine, and the distance from it to osps is what the
//! hand-over to a secondary costs.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::osps_bin;
use super::stats::Percentiles;

/// Client counts of the table.
pub const CLIENTS: [usize; 3] = [1, 8, 32];

/// Runs of each server per client count; the rows are their medians.
const ROUNDS: usize = 3;

#[derive(Debug, Serialize)]
pub struct ServeRow {
    pub server: &'static str,
    pub clients: usize,
    pub requests: usize,
    pub requests_per_s: f64,
    #[serde(flatten)]
    pub latency: Percentiles,
    /// Requests per second over the echo server's with as many clients.
    pub vs_echo: Option<f64>,
    /// Requests per second over the one-loop echo server's with as many clients.
    pub vs_one_loop: Option<f64>,
}

/// The names of the two reference servers in the rows.
pub const ECHO: &str = "bare echo";
pub const ONE_LOOP: &str = "one-loop echo";
/// The echo server that answers all the lines of one read in one write.
pub const COALESCING: &str = "coalescing echo";

/// A bare echo server: every line comes back as is, one `write` per line. Runs until the
/// process ends. (The pipelined table uses it too.)
pub(super) fn start_echo(path: &Path) {
    let listener = UnixListener::bind(path).expect("binding the echo socket");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut out = conn.try_clone().expect("cloning the echo connection");
                let mut line = String::new();
                let mut reader = BufReader::new(conn);
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if out.write_all(line.as_bytes()).is_err() {
                        break;
                    }
                    line.clear();
                }
            });
        }
    });
}

/// The coalescing echo server: a thread per connection, as the bare echo, but all the
/// complete lines of one read go back in one `write` (as a C echo server that echoes
/// what it read does): the fair reference for pipelining clients, whose many lines in
/// one read the bare echo answers with a write each. Runs until the process ends.
pub(super) fn start_coalescing_echo(path: &Path) {
    let listener = UnixListener::bind(path).expect("binding the coalescing echo socket");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                // Bytes of an unfinished line kept at the front of `buf`.
                let mut held = 0;
                loop {
                    let n = match conn.read(&mut buf[held..]) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let end = held + n;
                    let lines = buf[..end]
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .map_or(0, |i| i + 1);
                    if lines > 0 && conn.write_all(&buf[..lines]).is_err() {
                        break;
                    }
                    buf.copy_within(lines..end, 0);
                    held = end - lines;
                    if held == buf.len() {
                        // A line longer than the buffer: not a request of these loads.
                        break;
                    }
                }
            });
        }
    });
}

/// The one-loop echo server: one thread, epoll over the listener and every connection
/// (non-blocking), whatever a ready connection sent written straight back. No lines, no
/// queue, no dispatch: the least an event-loop server can do per request. Runs until the
/// process ends.
pub(super) fn start_one_loop_echo(path: &Path) {
    use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
    let listener = UnixListener::bind(path).expect("binding the one-loop echo socket");
    listener
        .set_nonblocking(true)
        .expect("making the listener non-blocking");
    std::thread::spawn(move || {
        const LISTENER: u64 = u64::MAX;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).expect("epoll_create");
        epoll
            .add(&listener, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))
            .expect("adding the listener");
        let mut conns: Vec<Option<UnixStream>> = Vec::new();
        let mut events = vec![EpollEvent::empty(); 64];
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = epoll.wait(&mut events, EpollTimeout::NONE).unwrap_or(0);
            for event in &events[..n] {
                if event.data() == LISTENER {
                    while let Ok((conn, _)) = listener.accept() {
                        conn.set_nonblocking(true).expect("non-blocking connection");
                        let token = conns.len() as u64;
                        epoll
                            .add(&conn, EpollEvent::new(EpollFlags::EPOLLIN, token))
                            .expect("adding a connection");
                        conns.push(Some(conn));
                    }
                    continue;
                }
                let slot = &mut conns[event.data() as usize];
                let Some(conn) = slot.as_mut() else { continue };
                let done = match conn.read(&mut buf) {
                    Ok(0) => true,
                    // One request at a time: its echo always fits the empty socket buffer.
                    Ok(n) => conn.write_all(&buf[..n]).is_err(),
                    Err(e) => e.kind() != ErrorKind::WouldBlock,
                };
                if done {
                    // Closing the descriptor takes it out of the poll set.
                    *slot = None;
                }
            }
        }
    });
}

/// `clients` threads, each sending `per_client` requests one at a time and timing each.
fn load(path: &Path, clients: usize, per_client: usize) -> (f64, Percentiles) {
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let path = path.to_path_buf();
            std::thread::spawn(move || {
                let stream = UnixStream::connect(&path).expect("connecting");
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .expect("timeout");
                let mut out = stream.try_clone().expect("clone");
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                let mut samples = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let request = format!("ECHO client {c} request {i}\n");
                    let t = Instant::now();
                    out.write_all(request.as_bytes()).expect("sending");
                    line.clear();
                    reader.read_line(&mut line).expect("reading a reply");
                    samples.push(t.elapsed().as_nanos() as u64);
                    assert!(
                        line.ends_with(&request["ECHO ".len()..]),
                        "wrong reply {line:?} to {request:?}"
                    );
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::with_capacity(clients * per_client);
    for t in threads {
        all.extend(t.join().expect("a load thread failed"));
    }
    let rps = all.len() as f64 / started.elapsed().as_secs_f64();
    (rps, Percentiles::of(all))
}

/// [`load`] for bench.rs: requests per second and latency of `clients` clients sending
/// `per_client` requests each, one at a time, to the server at `path`.
pub(super) fn client_load(path: &Path, clients: usize, per_client: usize) -> (f64, Percentiles) {
    load(path, clients, per_client)
}

/// A serving osps primary (four secondaries unless [`Server::start_with`] says otherwise);
/// stopped with SIGTERM on drop.
pub(super) struct Server {
    child: Child,
    _dir: tempfile::TempDir,
    pub(super) socket: PathBuf,
}

impl Server {
    pub(super) fn start() -> Server {
        Server::start_with(&["--secondaries", "4"])
    }

    /// A serving osps primary with these options besides `--serve`, `--name` and
    /// `--runtime-dir` (the pool comparison of bench.rs chooses `--secondaries` and `--sync`).
    pub(super) fn start_with(options: &[&str]) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("osps-bench-serve-")
            .tempdir()
            .expect("tempdir");
        // Two servers may run side by side (the pipelined table compares placements).
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let name = format!("bench-serve-{}-{n}", std::process::id());
        let run = dir.path().join("run");
        let child = Command::new(osps_bin())
            .args(["-q", "primary", "--serve"])
            .args(options)
            .args(["--name", &name])
            .arg("--runtime-dir")
            .arg(&run)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting osps primary --serve");
        let socket = run.join(format!("{name}.sock"));
        let deadline = Instant::now() + Duration::from_secs(10);
        let conn = loop {
            if let Ok(conn) = UnixStream::connect(&socket) {
                break conn;
            }
            assert!(Instant::now() < deadline, "osps did not start serving");
            std::thread::sleep(Duration::from_millis(5));
        };
        // The socket exists before the secondaries are started; the first reply comes
        // once they all are (the loop runs after their handshakes). Measured from
        // there, as the echo server is from its bind: start-up is not serving.
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut out = conn.try_clone().expect("clone");
        out.write_all(b"PING\n").expect("sending the first PING");
        let mut line = String::new();
        BufReader::new(conn)
            .read_line(&mut line)
            .expect("reading the first PONG");
        assert_eq!(line, "PONG\n", "osps is not serving");
        Server {
            child,
            _dir: dir,
            socket,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

/// The serve rows: the echo server and osps, for each client count.
pub fn rows(quick: bool) -> Vec<ServeRow> {
    let per_client = |clients: usize| {
        let total = if quick { 4_000 } else { 30_000 };
        (total / clients).max(100)
    };
    let dir = tempfile::Builder::new()
        .prefix("osps-bench-echo-")
        .tempdir()
        .expect("tempdir");
    let echo_path = dir.path().join("echo.sock");
    start_echo(&echo_path);
    let one_loop_path = dir.path().join("one-loop.sock");
    start_one_loop_echo(&one_loop_path);
    let mut rows = Vec::new();
    let server = Server::start();
    let servers: [(&'static str, &Path); 3] = [
        (ECHO, &echo_path),
        (ONE_LOOP, &one_loop_path),
        ("osps --serve (4 secondaries)", &server.socket),
    ];
    for clients in CLIENTS {
        // The three servers in turn, ROUNDS times, for each client count, and the medians
        // of their runs: the figures of one server swing by 2-3x from one moment of this
        // machine to the next, so a slow moment must fall on all three alike.
        let mut runs: Vec<(Vec<f64>, Vec<Percentiles>)> = vec![Default::default(); 3];
        for _ in 0..ROUNDS {
            for (run, (_, path)) in runs.iter_mut().zip(servers) {
                let (rps, latency) = load(path, clients, per_client(clients));
                run.0.push(rps);
                run.1.push(latency);
            }
        }
        for ((name, _), (rps, latency)) in servers.into_iter().zip(runs) {
            let rps = super::stats::median_f64(rps);
            let ratio_to = |reference: &str| {
                rows.iter()
                    .find(|r: &&ServeRow| r.server == reference && r.clients == clients)
                    .filter(|_| name != reference)
                    .map(|r| rps / r.requests_per_s)
            };
            let (vs_echo, vs_one_loop) = (ratio_to(ECHO), ratio_to(ONE_LOOP));
            rows.push(ServeRow {
                server: name,
                clients,
                requests: ROUNDS * clients * per_client(clients),
                requests_per_s: rps,
                latency: super::stats::median_of(&latency),
                vs_echo,
                vs_one_loop,
            });
        }
    }
    rows
}

/// Measures and prints only the serving table (`OSPS_BENCH_ONLY=serve`), with the load
/// average it ran beside.
pub fn report_only(quick: bool) {
    let load = super::machine::loadavg();
    eprintln!("osps bench: serving clients ...");
    let rows = rows(quick);
    println!("load average before: {load}");
    print_rows(&rows);
}

/// The serving table (shared by the full report and [`report_only`]).
pub(super) fn print_rows(rows: &[ServeRow]) {
    println!(
        "\n{:<34} {:>8} {:>12} {:>10} {:>10} {:>9} {:>9}",
        "serving (one request at a time)",
        "clients",
        "requests/s",
        "p50 us",
        "p99 us",
        "x echo",
        "x 1-loop"
    );
    let ratio = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.2}"));
    for s in rows {
        println!(
            "{:<34} {:>8} {:>12.0} {:>10} {:>10} {:>9} {:>9}",
            s.server,
            s.clients,
            s.requests_per_s,
            super::report::us(s.latency.p50_ns),
            super::report::us(s.latency.p99_ns),
            ratio(s.vs_echo),
            ratio(s.vs_one_loop),
        );
    }
}
