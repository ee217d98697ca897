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
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
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
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), want, "{}", stderr_of(&out));
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
    assert_eq!(out.status.code(), Some(1), "{err}");
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
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no reply within --timeout 300ms"), "{err}");
    assert!(err.contains(&format!("osps status {}", env.name)), "{err}");
    assert!(
        !err.contains("os error"),
        "an errno instead of a reason: {err}"
    );
    env.stop_serving(pid);
}
