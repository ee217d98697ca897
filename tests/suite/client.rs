//! `osps client` with the real binary, on the edges found in review: requests are bytes
//! (a line the server cannot use gets its `ERR` and the next line is still sent);
//! arguments that cannot be requests are refused before anything is sent; a stdout that
//! fails is an error naming stdout, a reader that went away a quiet exit; and a server
//! that dies or goes silent is reported as what happened, with what to do.

use crate::common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Output, Stdio};

use common::{T, TestEnv, kill, osps_bin, output_within, run, stderr_of, stdout_of, wait_child};

/// `osps client` with `args`, its three standard streams piped to the test.
fn spawn_client(env: &TestEnv, args: &[&str]) -> std::process::Child {
    env.cmd("client")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `osps client` with `args`, feeding `input` on stdin.
fn client_stdin(env: &TestEnv, args: &[&str], input: &[u8]) -> Output {
    let mut child = spawn_client(env, args);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    output_within(child, T)
}

/// `osps client --name NAME ARGS` with its stdout redirected by the shell (`>/dev/full`).
fn redirected(env: &TestEnv, args: &str, redirect: &str) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "exec \"$0\" client --name {} {args} {redirect}",
            env.name
        ))
        .arg(osps_bin())
        .env("OSPS_RUNTIME_DIR", &env.runtime_dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    run(cmd, T)
}

#[test]
fn lines_that_are_not_utf8_get_err_and_the_next_lines_are_still_sent() {
    let mut env = TestEnv::new("clbytes");
    let pid = env.start_serving(&[]);
    let want = "PONG\nERR invalid UTF-8 at byte 5\nba\n";
    // From stdin, the last line without its newline.
    let out = client_stdin(&env, &[], b"PING\nECHO \xff\nREV ab");
    assert_eq!(out.status.code(), Some(7), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), want, "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("1 request(s) got an ERR reply"),
        "{}",
        stderr_of(&out)
    );
    // As arguments: the same bytes, the same replies.
    let mut cmd = env.cmd("client");
    cmd.arg("PING")
        .arg(OsStr::from_bytes(b"ECHO \xff"))
        .arg("REV ab");
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(7), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), want, "{}", stderr_of(&out));
    // And its help says so (it said 1, the code before issue 25).
    let mut help = env.cmd("client");
    help.arg("--help");
    let help = stdout_of(&run(help, T));
    assert!(help.contains("Exit status 7 if any reply was"), "{help}");
    // A CRLF line goes as it is (the server ignores the `\r`); the reply's bytes are
    // printed as they came.
    let out = client_stdin(&env, &[], b"ECHO caf\xc3\xa9\r\n");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(out.stdout, "café\n".as_bytes());
    let v = env.stop_serving(pid);
    assert_eq!(v["requests"], 7, "{v}");
    assert_eq!(v["errors"], 2, "{v}");
}

#[test]
fn a_request_argument_with_a_newline_is_a_usage_error_and_nothing_is_sent() {
    let mut env = TestEnv::new("clnewline");
    let pid = env.start_serving(&[]);
    let out = run(
        {
            let mut cmd = env.cmd("client");
            cmd.args(["PING", "ECHO a\nb", "PING"]);
            cmd
        },
        T,
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        stdout_of(&out),
        "",
        "nothing is sent, so nothing is printed"
    );
    assert!(err.contains(r#""ECHO a\nb""#), "names the argument: {err}");
    assert!(err.contains("newline"), "{err}");
    let v = env.stop_serving(pid);
    assert_eq!(v["requests"], 0, "a request was sent: {v}");
}

#[test]
fn a_full_stdout_is_an_error_naming_stdout_and_a_reader_that_left_is_quiet() {
    let mut env = TestEnv::new("clstdout");
    let pid = env.start_serving(&[]);
    for redirect in [">/dev/full", ">&-"] {
        let out = redirected(&env, "PING", redirect);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{redirect}: {err}");
        assert_eq!(err.lines().count(), 1, "{redirect}: {err}");
        assert!(err.contains("writing to stdout"), "{redirect}: {err}");
    }
    let out = redirected(&env, "PING", ">/dev/full");
    assert!(
        stderr_of(&out).contains("No space left on device"),
        "{}",
        stderr_of(&out)
    );
    let out = redirected(&env, "PING", ">/dev/null");
    assert!(out.status.success(), "{}", stderr_of(&out));
    // A reader that goes away (EPIPE) is not an error: whoever closed the pipe has all
    // it wanted.
    let mut cmd = env.cmd("client");
    cmd.args(["PING", "PING"]);
    common::assert_quiet_when_the_reader_left(cmd);
    env.stop_serving(pid);
}

/// A client fed by a pipe, whose replies are read one at a time.
struct Piped {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Piped {
    fn start(env: &TestEnv, args: &[&str]) -> Piped {
        let mut child = spawn_client(env, args);
        Piped {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
        }
    }

    fn ask(&mut self, line: &str) -> String {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
        self.stdin.flush().unwrap();
        let mut reply = String::new();
        self.stdout.read_line(&mut reply).unwrap();
        reply
    }

    /// Collects what it wrote once it ends by itself, its stdin still open (kept until
    /// after it ended: a client waiting for input that never comes fails the deadline).
    fn ends_with_stdin_open(self) -> Output {
        let stdin = self.stdin;
        let mut child = self.child;
        child.stdout = Some(self.stdout.into_inner());
        let out = output_within(child, T);
        drop(stdin);
        out
    }

    /// Sends `line` (if any), closes stdin and collects the rest.
    fn finish(mut self, line: Option<&str>) -> Output {
        if let Some(line) = line {
            // The client may already be gone: a failed write is part of what is tested.
            let _ = self.stdin.write_all(format!("{line}\n").as_bytes());
        }
        drop(self.stdin);
        let mut child = self.child;
        child.stdout = Some(self.stdout.into_inner());
        output_within(child, T)
    }
}

/// Kills a serving primary with SIGKILL and waits for it.
fn kill_9(env: &mut TestEnv, pid: u32) {
    assert!(kill(pid, libc::SIGKILL));
    wait_child(&mut env.take_child(pid), T);
}

/// What `osps client` says when its server went away: what happened and what to do,
/// rather than the errno it met on the way.
fn assert_says_the_server_closed(env: &TestEnv, out: &Output) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert!(err.contains("closed the connection"), "{err}");
    assert!(err.contains(&format!("osps status {}", env.name)), "{err}");
    assert!(
        !err.contains("os error"),
        "an errno instead of a reason: {err}"
    );
}

#[test]
fn a_server_killed_between_requests_is_reported_as_gone_with_what_to_do() {
    let mut env = TestEnv::new("clkilled");
    let pid = env.start_serving(&[]);
    let mut client = Piped::start(&env, &[]);
    assert_eq!(client.ask("PING"), "PONG\n");
    kill_9(&mut env, pid);
    let out = client.finish(Some("PING"));
    assert_says_the_server_closed(&env, &out);
    assert!(stderr_of(&out).contains("request 2"), "{}", stderr_of(&out));
}

/// An interactive client, waiting for its next line on stdin, notices the server stop
/// and says so at once (exit 8). Before, it waited for the next line typed, and only then
/// found the connection closed.
#[test]
fn a_client_waiting_for_input_notices_the_server_stop_at_once() {
    let mut env = TestEnv::new("clidle");
    let pid = env.start_serving(&[]);
    let mut client = Piped::start(&env, &[]);
    assert_eq!(client.ask("PING"), "PONG\n");
    assert!(kill(pid, libc::SIGTERM));
    let primary = output_within(env.take_child(pid), T);
    assert!(primary.status.success(), "{}", stderr_of(&primary));
    let out = client.ends_with_stdin_open();
    assert_says_the_server_closed(&env, &out);
    assert!(
        stderr_of(&out).contains("waiting for request 2 on stdin"),
        "{}",
        stderr_of(&out)
    );
    env.assert_nothing_left();
}

#[test]
fn a_server_killed_before_its_reply_is_reported_as_gone_with_what_to_do() {
    let mut env = TestEnv::new("clkilledwait");
    let pid = env.start_serving(&[]);
    let mut client = Piped::start(&env, &[]);
    assert_eq!(client.ask("PING"), "PONG\n");
    // Stopped, the primary cannot answer; killed, it never will.
    assert!(kill(pid, libc::SIGSTOP));
    client.stdin.write_all(b"PING\n").unwrap();
    client.stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    kill_9(&mut env, pid);
    let out = client.finish(None);
    assert_says_the_server_closed(&env, &out);
}

#[test]
fn a_reply_later_than_timeout_is_reported_as_no_reply_within_timeout() {
    let mut env = TestEnv::new("cltimeout");
    let pid = env.start_serving(&[]);
    assert!(kill(pid, libc::SIGSTOP));
    let mut cmd = env.cmd("client");
    cmd.args(["--timeout", "300ms", "PING"]);
    let out = run(cmd, T);
    assert!(kill(pid, libc::SIGCONT));
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert!(err.contains("no reply within --timeout 300ms"), "{err}");
    assert!(err.contains(&format!("osps status {}", env.name)), "{err}");
    assert!(
        !err.contains("os error"),
        "an errno instead of a reason: {err}"
    );
    env.stop_serving(pid);
}

// ---- A fake server on a Unix socket: what no real server does ----

/// A server the test plays: it accepts one connection on a socket of the test's temp
/// dir and runs `serve` on it in a thread; [`FakeServer::done`] waits (with a deadline)
/// for what `serve` returned.
struct FakeServer<R> {
    path: std::path::PathBuf,
    done: std::sync::mpsc::Receiver<R>,
}

impl<R: Send + 'static> FakeServer<R> {
    fn start(
        env: &TestEnv,
        serve: impl FnOnce(std::os::unix::net::UnixStream) -> R + Send + 'static,
    ) -> FakeServer<R> {
        static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = env.tmp.path().join(format!("fake-{n}.sock"));
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let (tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let _ = tx.send(serve(conn));
        });
        FakeServer { path, done }
    }

    /// `osps client --socket` to this server with `args`.
    fn client(&self, env: &TestEnv, args: &[&str]) -> Command {
        let mut cmd = env.cmd("client");
        cmd.arg("--socket").arg(&self.path).args(args);
        cmd
    }

    fn done(&self) -> R {
        self.done.recv_timeout(common::slow(T)).unwrap()
    }
}

/// Reads from `conn` until it ends (or fails), and returns the bytes received.
fn drain(conn: &mut std::os::unix::net::UnixStream) -> Vec<u8> {
    use std::io::Read;
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    got
}

#[test]
fn timeout_bounds_the_whole_wait_for_a_reply_dripped_a_byte_at_a_time() {
    let env = TestEnv::new("cldrip");
    let server = FakeServer::start(&env, |mut conn| {
        // One byte every 0.3 s, never a newline, until the client goes (or 12 s).
        for _ in 0..40 {
            if conn.write_all(b"P").is_err() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        false
    });
    let started = std::time::Instant::now();
    let out = run(server.client(&env, &["--timeout", "1s", "PING"]), T);
    let took = started.elapsed();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert!(err.contains("no reply within --timeout 1s"), "{err}");
    assert!(
        took < common::slow(std::time::Duration::from_secs(4)),
        "--timeout 1s held the client {took:?}"
    );
    assert!(server.done(), "the client stayed connected to the end");
}

#[test]
fn a_reply_longer_than_the_limit_ends_the_client_without_buffering_it_whole() {
    let env = TestEnv::new("cllongreply");
    let server = FakeServer::start(&env, |mut conn| {
        // A 200 MB line, written until the client goes.
        let chunk = vec![b'a'; 1 << 20];
        let mut sent = 0usize;
        while sent < 200 << 20 {
            if conn.write_all(&chunk).is_err() {
                return sent;
            }
            sent += chunk.len();
        }
        let _ = conn.write_all(b"\n");
        sent
    });
    let out = run(server.client(&env, &["ECHO x"]), T);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(stdout_of(&out), "", "a part of the reply was printed");
    assert!(err.contains("reply"), "{err}");
    assert!(err.contains("longer than"), "{err}");
    assert!(err.contains("--max-line"), "{err}");
    let sent = server.done();
    assert!(
        sent < 16 << 20,
        "the client read {sent} bytes of one reply line before it gave up"
    );
}

#[test]
fn a_request_line_longer_than_max_line_is_refused_at_once_and_nothing_of_it_is_sent() {
    let env = TestEnv::new("cllongreq");
    // From stdin: /dev/zero is one endless line.
    let server = FakeServer::start(&env, |mut conn| drain(&mut conn));
    let mut cmd = server.client(&env, &[]);
    cmd.stdin(std::fs::File::open("/dev/zero").unwrap());
    let out = run(cmd, T);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("request 1"), "{err}");
    assert!(err.contains("longer than --max-line 64K"), "{err}");
    assert!(err.contains("not sent"), "{err}");
    assert_eq!(server.done(), b"", "a part of the long line was sent");
    // The lines before it are sent and answered; the limit is --max-line.
    let server = FakeServer::start(&env, |mut conn| {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        conn.write_all(b"PONG\n").unwrap();
        drop(reader);
        (line, drain(&mut conn))
    });
    let mut child = server
        .client(&env, &["--max-line", "10"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"PING\nECHO 0123456789\nPING\n").unwrap();
    drop(stdin);
    let out = output_within(child, T);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(stdout_of(&out), "PONG\n", "{err}");
    assert!(err.contains("request 2"), "{err}");
    assert!(err.contains("longer than --max-line 10"), "{err}");
    let (first, rest) = server.done();
    assert_eq!(first, "PING\n");
    assert_eq!(rest, b"", "a part of the long line was sent");
    // As arguments: refused before anything is sent.
    let server = FakeServer::start(&env, |mut conn| drain(&mut conn));
    let out = run(
        server.client(&env, &["--max-line", "10", "PING", "ECHO 0123456789"]),
        T,
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("request 2"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    assert_eq!(stdout_of(&out), "");
    // The client connected and closed at once, or never connected: nothing was sent.
    drop(std::os::unix::net::UnixStream::connect(&server.path));
    assert_eq!(server.done(), b"");
}

#[test]
fn a_client_started_right_after_its_server_waits_for_it_and_succeeds() {
    for i in 0..10 {
        let mut env = TestEnv::new(&format!("clstart{i}"));
        let pid = env.start_primary(&["--serve", "--json"]);
        let out = run(
            {
                let mut cmd = env.cmd("client");
                cmd.args(["--timeout", "20s", "PING"]);
                cmd
            },
            T,
        );
        assert!(out.status.success(), "run {i}: {}", stderr_of(&out));
        assert_eq!(stdout_of(&out), "PONG\n", "run {i}");
        env.stop_serving(pid);
    }
}

#[test]
fn a_serving_instance_whose_socket_is_missing_is_waited_for_and_never_said_to_need_a_stop() {
    let mut env = TestEnv::new("clnosock");
    let pid = env.start_serving(&[]);
    // Stopped, the primary cannot make its socket anew.
    assert!(kill(pid, libc::SIGSTOP));
    std::fs::remove_file(env.socket_path()).unwrap();
    let started = std::time::Instant::now();
    let mut cmd = env.cmd("client");
    cmd.args(["--timeout", "300ms", "PING"]);
    let out = run(cmd, T);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "gave up before --timeout: {err}"
    );
    assert!(
        err.contains("did not accept a connection within --timeout 300ms"),
        "{err}"
    );
    assert!(
        !err.contains("osps stop"),
        "advises stopping a server: {err}"
    );
    // Running again, it makes the socket anew within a second: a client waits for it.
    assert!(kill(pid, libc::SIGCONT));
    let mut cmd = env.cmd("client");
    cmd.args(["--timeout", "10s", "PING"]);
    let out = run(cmd, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "PONG\n");
    env.stop_serving(pid);
}

#[test]
fn a_client_of_an_instance_that_does_not_exist_gives_up_within_a_second() {
    let env = TestEnv::new("clnone");
    let started = std::time::Instant::now();
    let mut cmd = env.cmd("client");
    cmd.args(["--timeout", "20s", "PING"]);
    let out = run(cmd, T);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("is running"), "{err}");
    assert!(
        started.elapsed() < common::slow(std::time::Duration::from_secs(3)),
        "{:?}: {err}",
        started.elapsed()
    );
}

/// A loopback TCP listener that never accepts, its accept queue filled: a connection to
/// it gets no answer to its handshake (the kernel drops the SYN of a full queue). Kept
/// open, with the connections that filled it, while the returned values live.
fn full_tcp_listener() -> (std::net::TcpListener, Vec<std::net::TcpStream>, u16) {
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // Listening again sets the backlog of a listening socket: 0, so that one waiting
    // connection fills its queue.
    // SAFETY: listen takes a descriptor number and an int; the listener owns the
    // descriptor and outlives the call.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let port = listener.local_addr().unwrap().port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut held = Vec::new();
    // A queue of backlog 0 holds one connection; a few more in case the kernel rounds up.
    for _ in 0..16 {
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            Err(_) => return (listener, held, port),
        }
    }
    panic!(
        "the accept queue of a listen(0) socket never filled: {} connections",
        held.len()
    );
}

#[test]
fn a_tcp_server_that_never_answers_the_handshake_is_given_up_at_timeout() {
    let env = TestEnv::new("cltcpfull");
    let (_listener, _held, port) = full_tcp_listener();
    let started = std::time::Instant::now();
    let mut cmd = env.cmd("client");
    cmd.args([
        "--tcp",
        &format!("127.0.0.1:{port}"),
        "--timeout",
        "1s",
        "PING",
    ]);
    let out = run(cmd, T);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert!(
        err.contains(&format!("connecting to 127.0.0.1:{port}"))
            && err.contains("no answer from 127.0.0.1")
            && err.contains("within --timeout 1s"),
        "{err}"
    );
    assert!(
        started.elapsed() < common::slow(std::time::Duration::from_secs(5)),
        "{:?}: {err}",
        started.elapsed()
    );
}
