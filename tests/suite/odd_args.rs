//! What a user who has never seen osps may type: names that are not UTF-8 (on the command
//! line or in `OSPS_NAME`), a `--tcp` value that is no address. Each is refused as a
//! usage error (exit status 2) that names the value and where it came from, before
//! anything is touched.

use crate::common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use common::{TestEnv, run, stderr_of};

const DEADLINE: Duration = Duration::from_secs(30);

/// Bytes that are no UTF-8: what `$'\xff'` gives in bash.
fn not_utf8() -> &'static OsStr {
    OsStr::from_bytes(b"a\xff")
}

#[test]
fn a_name_that_is_not_utf8_is_refused_by_option_and_bytes() {
    let env = TestEnv::new("name-bytes");
    for sub in ["primary", "inspect", "cleanup"] {
        let mut cmd = env.cmd(sub);
        cmd.arg("--name").arg(not_utf8());
        let out = run(cmd, DEADLINE);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{sub}: {err}");
        // Not clap's "invalid UTF-8 was detected in one or more arguments".
        assert!(
            err.contains("invalid value 'a\\xff' for '--name <NAME>'") && err.contains("UTF-8"),
            "{sub}: {err}"
        );
    }
    env.assert_nothing_left();
}

#[test]
fn an_osps_name_that_is_not_utf8_is_refused_not_taken_for_the_default() {
    let env = TestEnv::new("env-bytes");
    // status and stop read OSPS_NAME themselves: it was taken for unset, so they
    // described (or stopped) the instance `osps` instead.
    for sub in ["status", "stop"] {
        let mut cmd = env.cmd(sub);
        cmd.env("OSPS_NAME", not_utf8());
        let out = run(cmd, DEADLINE);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{sub}: {err}");
        assert!(
            err.contains("invalid value 'a\\xff' of OSPS_NAME") && !err.contains("osps:"),
            "{sub}: {err}"
        );
    }
    // Through clap, the error says the value came from OSPS_NAME (there is no --name on
    // the command line to correct).
    for value in [not_utf8(), OsStr::new("a/b")] {
        let mut cmd = env.cmd("primary");
        cmd.env("OSPS_NAME", value).args(["--rounds", "1"]);
        let out = run(cmd, DEADLINE);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("for '--name <NAME>' (from OSPS_NAME)"),
            "{err}"
        );
    }
    env.assert_nothing_left();
}

#[test]
fn client_tcp_without_a_port_is_a_usage_error_not_a_server_out_of_reach() {
    let env = TestEnv::new("tcp-shape");
    for (addr, why) in [
        ("nonsense", "no :PORT"),
        ("127.0.0.1", "no :PORT"),
        ("127.0.0.1:99999", "the port is not a number"),
        (":7000", "no address before :PORT"),
    ] {
        let mut cmd = env.cmd("client");
        cmd.args(["--tcp", addr, "PING"]);
        let out = run(cmd, DEADLINE);
        let err = stderr_of(&out);
        // It was 8 ("is `osps primary --serve --tcp nonsense` running?").
        assert_eq!(out.status.code(), Some(2), "{addr}: {err}");
        assert!(
            err.contains(&format!("--tcp {addr}: not an ADDR:PORT ({why}")),
            "{addr}: {err}"
        );
        assert!(!err.contains("running?"), "{addr}: {err}");
    }
}

#[test]
fn client_says_why_a_runtime_dir_that_is_there_is_refused_rather_than_calling_it_missing() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new("dir-refused");
    let real = env.tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = env.tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let open = env.tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (dir, why) in [(&link, "is a symbolic link"), (&open, "has mode 0755")] {
        let mut cmd = env.cmd("client");
        cmd.arg("--runtime-dir")
            .arg(dir)
            .args(["--timeout", "1s", "PING"]);
        let out = run(cmd, DEADLINE);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(4), "{err}");
        // It said "(no runtime directory DIR); start it with `osps primary --serve ...`",
        // which would fail the same way.
        assert!(
            err.contains(why) && !err.contains("no runtime directory"),
            "{}: {err}",
            dir.display()
        );
    }
}

#[test]
fn a_negative_value_is_refused_as_negative_by_every_command() {
    let env = TestEnv::new("negative");
    for args in [
        &["stop", "--timeout", "-1"][..],
        &["client", "--timeout", "-1", "PING"],
        &["client", "--max-line", "-5", "PING"],
        &["top", "--json", "--iterations", "-1"],
        &["top", "--json", "--interval", "-2"],
        &["primary", "--rounds", "1", "--timeout", "-1"],
        &["primary", "--size", "-8"],
        // With a unit, it read as short options: "unexpected argument '-1' found".
        &["stop", "--timeout", "-1s"],
        &["client", "--timeout", "-5ms", "PING"],
        &["primary", "--rounds", "1", "--interval", "-2s"],
        &["primary", "--size", "-4K"],
    ] {
        let mut cmd = env.cmd(args[0]);
        cmd.args(&args[1..]);
        let out = run(cmd, DEADLINE);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        // Not "unexpected argument '-1' found", with a tip to write `-- -1`, which no
        // option takes.
        assert!(
            err.contains("is negative") && !err.contains("unexpected argument"),
            "{args:?}: {err}"
        );
    }
    // An option where the value should be is named as one.
    let mut cmd = env.cmd("stop");
    cmd.args(["--timeout", "--kill"]);
    let out = run(cmd, DEADLINE);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("'--kill' is not a duration but an option"),
        "{err}"
    );
    env.assert_nothing_left();
}

#[test]
fn client_refuses_a_socket_path_too_long_for_any_server_instead_of_suggesting_to_start_one() {
    let env = TestEnv::new("long-sock");
    // Over the 107 bytes of a Unix socket path, with the runtime dir's own checks passed.
    let deep = env.tmp.path().join("d".repeat(110));
    std::fs::create_dir(&deep).unwrap();
    std::fs::set_permissions(&deep, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let mut by_name = env.cmd("client");
    by_name.arg("--runtime-dir").arg(&deep).arg("PING");
    let mut by_socket = env.cmd("client");
    by_socket
        .arg("--socket")
        .arg(deep.join("x.sock"))
        .arg("PING");
    for (mut cmd, shorter) in [
        (by_name, "--runtime-dir or --name"),
        (by_socket, "--socket"),
    ] {
        cmd.env("OSPS_NAME", "longp");
        let out = run(cmd, DEADLINE);
        let err = stderr_of(&out);
        // It was "start it with `osps primary --serve --name longp`" (4), or "is an
        // `osps primary --serve` listening on this socket?" (8): neither can be.
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("longer than the 107 a Unix socket path can have")
                && err.contains(&format!("give a shorter {shorter}")),
            "{err}"
        );
    }
}

#[test]
fn stop_past_a_timeout_below_a_millisecond_names_that_timeout_not_0ms() {
    let mut env = TestEnv::new("stop-ns");
    let pid = env.start_primary(&["-q"]);
    env.wait_rounds(1, DEADLINE);
    // Stopped, the primary cannot act on the SIGTERM before the timeout passes, however
    // fast the machine: without this, a quick primary sometimes exited in time (CI, stop 33).
    assert!(common::kill(pid, libc::SIGSTOP));
    let mut stop = env.cmd("stop");
    stop.args(["--timeout", "500us"]);
    let out = run(stop, DEADLINE);
    assert!(common::kill(pid, libc::SIGCONT));
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // It said "did not stop within 0ms of SIGTERM".
    assert!(err.contains("did not stop within --timeout 500µs"), "{err}");
    // The SIGTERM was sent: the primary stops in order by itself.
    let status = common::wait_child(&mut env.take_child(pid), DEADLINE);
    assert!(status.success(), "{status:?}");
    env.assert_nothing_left();
}

#[test]
fn a_runtime_dir_whose_path_is_not_utf8_serves_a_pair() {
    // The primary passed its secondary a lossy copy of the path (`\xff` became U+FFFD):
    // every secondary failed to find the directory, and after six restarts the primary
    // gave up (exit 6) asking whether the instance was running.
    let mut env = TestEnv::new("dir-bytes");
    env.runtime_dir = env.tmp.path().join(OsStr::from_bytes(b"run\xff"));
    let mut cmd = env.cmd("primary");
    cmd.args(["--rounds", "20", "--json"]);
    let out = run(cmd, DEADLINE);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&summary["rounds"], &summary["restarts"]),
        (&20.into(), &0.into()),
        "{summary}"
    );
    env.assert_nothing_left();
}

#[test]
fn client_name_or_runtime_dir_with_socket_or_tcp_is_a_usage_error_but_not_from_the_environment() {
    // `--name other --socket P` connected to P and dropped --name without a word.
    let mut env = TestEnv::new("cl-both");
    env.start_serving(&[]);
    let socket = env.runtime_dir.join(format!("{}.sock", env.name));
    let dir = env.runtime_dir.to_str().unwrap().to_string();
    let sock = socket.to_str().unwrap().to_string();
    // Each option is said to do what it does: --runtime-dir names no instance.
    let name_does = "--name names the instance whose socket to find";
    let dir_does = "--runtime-dir says where to look for the instance's socket";
    for (given, to, does) in [
        (["--name", "other"], ["--socket", sock.as_str()], name_does),
        (
            ["--runtime-dir", dir.as_str()],
            ["--socket", sock.as_str()],
            dir_does,
        ),
        (["--name", "other"], ["--tcp", "127.0.0.1:9"], name_does),
    ] {
        let mut cmd = env.cmd("client");
        cmd.args(given).args(to).arg("PING");
        let out = run(cmd, DEADLINE);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{given:?} {to:?}: {err}");
        assert!(
            err.contains(&format!("cannot be used with '{}", to[0]))
                && err.contains(&format!("{does}, and {} says where to connect", to[0]))
                && err.contains("give one"),
            "{err}"
        );
    }
    // OSPS_NAME and OSPS_RUNTIME_DIR (set by env.cmd) are for finding an instance: with
    // --socket they are no conflict.
    let mut cmd = env.cmd("client");
    cmd.args(["--socket", &sock, "PING"]);
    let out = run(cmd, DEADLINE);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(out.stdout, b"PONG\n");
}

#[test]
fn a_bad_osps_color_is_named_as_the_variable_it_came_from() {
    // It said "invalid value 'bogus' for '--color <WHEN>'": no --color was given.
    let env = TestEnv::new("bad-color");
    let mut cmd = env.cmd("list");
    cmd.env("OSPS_COLOR", "bogus");
    let out = run(cmd, DEADLINE);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("'bogus' for '--color <WHEN>' (from OSPS_COLOR)")
            && err.contains("auto, always, never"),
        "{err}"
    );
    // Given as --color, it is named as --color, with clap's list of values.
    let mut cmd = env.cmd("list");
    cmd.args(["--color", "bogus"]);
    let out = run(cmd, DEADLINE);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        !err.contains("OSPS_COLOR") && err.contains("[possible values: auto, always, never]"),
        "{err}"
    );
}

#[test]
fn a_color_on_the_command_line_overrides_a_bad_osps_color_and_is_named_as_given() {
    // clap also parsed the variable for the top-level command, where a --color after the
    // subcommand is not seen: `OSPS_COLOR=bogus osps list --color never` failed on it.
    let env = TestEnv::new("color-over");
    for line in [
        &["list", "--color", "never"][..],
        &["--color=never", "list"],
    ] {
        let mut cmd = env.cmd(line[0]);
        cmd.args(&line[1..]).env("OSPS_COLOR", "bogus");
        let out = run(cmd, DEADLINE);
        assert_eq!(out.status.code(), Some(0), "{line:?}: {}", stderr_of(&out));
    }
    // The same bad value on both: it is the command line's to correct.
    let mut cmd = env.cmd("list");
    cmd.arg("--color=bogus").env("OSPS_COLOR", "bogus");
    let out = run(cmd, DEADLINE);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        !err.contains("OSPS_COLOR") && err.contains("'bogus'"),
        "{err}"
    );
}

#[test]
fn status_and_stop_take_the_name_as_an_option_too_as_the_other_commands_do() {
    // `osps stop --name demo` was "unexpected argument '--name' found" with the tip to
    // write `-- --name`: every other command spells it --name.
    let mut env = TestEnv::new("name-opt");
    let pid = env.start_primary(&["-q"]);
    env.wait_rounds(1, DEADLINE);
    let name = env.name.clone();
    let mut status = env.cmd("status");
    status.env_remove("OSPS_NAME").args(["-n", &name]);
    let out = run(status, DEADLINE);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let mut both = env.cmd("stop");
    both.args([&name, "--name", &name]);
    assert_eq!(run(both, DEADLINE).status.code(), Some(2));
    let mut stop = env.cmd("stop");
    stop.env_remove("OSPS_NAME").args(["--name", &name]);
    let out = run(stop, DEADLINE);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let status = common::wait_child(&mut env.take_child(pid), DEADLINE);
    assert!(status.success(), "{status:?}");
    env.assert_nothing_left();
}

#[test]
fn stop_right_after_the_primary_was_started_waits_for_it_and_stops_it() {
    // `osps primary & osps stop`: the stop came before the primary had made anything and
    // said there was no instance (exit 4), and the primary ran on. Stopped at once after
    // its exec, the primary is caught before it takes its lock (most runs), and let go
    // while the stop looks.
    for _ in 0..3 {
        let mut env = TestEnv::new("stop-early");
        let pid = env.start_primary(&["-q"]);
        assert!(common::kill(pid, libc::SIGSTOP));
        let stop = env.cmd("stop");
        let stopping = std::thread::spawn(move || run(stop, DEADLINE));
        std::thread::sleep(Duration::from_millis(100));
        assert!(common::kill(pid, libc::SIGCONT));
        let out = stopping.join().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        let status = common::wait_child(&mut env.take_child(pid), DEADLINE);
        assert!(status.success(), "{status:?}");
        env.assert_nothing_left();
    }
}

#[test]
fn a_runtime_dir_refused_that_came_from_osps_runtime_dir_says_so() {
    // It said "choose another with --runtime-dir", though none was given: the directory
    // came from the environment.
    let env = TestEnv::new("env-dir");
    let link = env.tmp.path().join("link");
    std::os::unix::fs::symlink(env.tmp.path(), &link).unwrap();
    let mut cmd = env.cmd("primary");
    cmd.env("OSPS_RUNTIME_DIR", &link).args(["--rounds", "1"]);
    let out = run(cmd, DEADLINE);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is a symbolic link")
            && err.contains(&format!("in OSPS_RUNTIME_DIR (now {})", link.display())),
        "{err}"
    );
    // Given as --runtime-dir, with no variable, only --runtime-dir is named.
    let mut cmd = env.cmd("primary");
    cmd.env_remove("OSPS_RUNTIME_DIR")
        .arg("--runtime-dir")
        .arg(&link)
        .args(["--rounds", "1"]);
    let err = stderr_of(&run(cmd, DEADLINE));
    assert!(
        err.contains("with --runtime-dir") && !err.contains("OSPS_RUNTIME_DIR"),
        "{err}"
    );
    // Given as --runtime-dir while the variable names another, good one: not blamed.
    let good = env.tmp.path().join("good");
    std::fs::create_dir(&good).unwrap();
    let mut cmd = env.cmd("primary");
    cmd.env("OSPS_RUNTIME_DIR", &good)
        .arg("--runtime-dir")
        .arg(&link)
        .args(["--rounds", "1"]);
    let err = stderr_of(&run(cmd, DEADLINE));
    assert!(
        err.contains("with --runtime-dir") && !err.contains("OSPS_RUNTIME_DIR"),
        "{err}"
    );
}
