//! What a newcomer meets first, with the real binary: durations in every unit, values
//! that cannot work refused as usage errors (exit status 2), client errors that fit the
//! situation, `--color`, stderr lines that each name their role and never interleave,
//! `--help` into a full or closed stdout, and the LICENSE in the package; bad counts said in
//! words, each `--help` ending with its exit codes, a missing instance said alike by every
//! command, and the audit of a program that failed at once.

use crate::common;

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TestEnv, osps_bin, run, stderr_of, stdout_of};

const DEADLINE: Duration = Duration::from_secs(30);

fn osps(args: &[&str]) -> Command {
    let mut cmd = Command::new(osps_bin());
    cmd.args(args)
        .env_remove("OSPS_NAME")
        .env_remove("OSPS_RUNTIME_DIR")
        .env_remove("OSPS_COLOR")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

#[test]
fn compound_durations_are_accepted() {
    let env = TestEnv::new("dur");
    let mut cmd = env.cmd("primary");
    cmd.args([
        "--rounds",
        "1",
        "--interval",
        "1m30s",
        "--timeout",
        "2.5s",
        "--spin",
        "250us",
        "--start-timeout",
        "1h",
        "-q",
    ]);
    let out = run(cmd, DEADLINE);
    assert!(out.status.success(), "{}", stderr_of(&out));
    env.assert_no_leftovers();
}

#[test]
fn an_unknown_duration_unit_is_a_usage_error_listing_every_unit() {
    let env = TestEnv::new("dur-bad");
    let mut cmd = env.cmd("primary");
    cmd.args(["--rounds", "1", "--interval", "1x"]);
    let out = run(cmd, DEADLINE);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for unit in [
        "ns",
        "us",
        "µs",
        "ms",
        " s",
        " m ",
        " h",
        "1m30s",
        "bare number",
    ] {
        assert!(err.contains(unit), "{unit:?} missing from: {err}");
    }
    env.assert_no_leftovers();
}

#[test]
fn values_that_cannot_work_are_usage_errors() {
    let env = TestEnv::new("refuse");
    let cases: &[(&[&str], &str)] = &[
        (&["--timeout", "0"], "zero"),
        (&["--start-timeout", "0s"], "zero"),
        (&["--rounds", "0"], "--rounds"),
        (&["--spin", "2s"], "not below --timeout"),
        (
            &["--spin", "1s", "--timeout", "500ms"],
            "not below --timeout",
        ),
        (&["--secondaries", "2"], "--serve"),
        (&["--tcp", "127.0.0.1:0"], "--serve"),
        (&["--tcp-any"], "--serve"),
        (&["--max-clients", "8"], "--serve"),
        (&["--max-line", "1K"], "--serve"),
        (&["--queue", "8"], "--serve"),
        (&["--share-cpu", "always"], "--serve"),
        (&["--share-cpu", "never", "--rounds", "1"], "--rounds"),
        (&["--tcp", "127.0.0.1:0", "--rounds", "1"], "--rounds"),
        (&["--queue", "8", "--rounds", "1"], "--rounds"),
        (&["--tcp-any", "--rounds", "1"], "--rounds"),
        // An interval of 0 would spin both processes flat out between heartbeats.
        (&["--interval", "0"], "zero"),
        (&["--serve", "--max-clients", "0"], "--max-clients"),
        (&["--serve", "--max-line", "0"], "zero"),
        // Options of rounds that a server would silently ignore.
        (&["--serve", "--payload", "8"], "--payload"),
        (&["--serve", "--interval", "2s"], "--interval"),
        // A negative number is a bad value of its option, not an unknown argument.
        (&["--rounds", "-1"], "--rounds"),
    ];
    for (args, why) in cases {
        let mut cmd = env.cmd("primary");
        cmd.args(*args);
        let out = run(cmd, DEADLINE);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {why:?} not in {err}");
        env.assert_no_leftovers();
    }
    // Nor can the client's reply timeout, stop's wait, or top's refresh be zero.
    for (command, args) in [
        ("client", &["--timeout", "0", "PING"][..]),
        ("stop", &["--timeout", "0"][..]),
        ("top", &["--interval", "0"][..]),
    ] {
        let mut cmd = env.cmd(command);
        cmd.args(args);
        let out = run(cmd, DEADLINE);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{command} {args:?}: {err}");
        assert!(err.contains("zero"), "{command} {args:?}: {err}");
    }
    // Serve-only options with --serve, and the defaults, are fine: nothing refused.
    let mut cmd = env.cmd("primary");
    cmd.args(["--rounds", "1", "-q"]);
    let out = run(cmd, DEADLINE);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn empty_environment_variables_count_as_unset() {
    let env = TestEnv::new("empty-env");
    // An empty OSPS_NAME would be an invalid name: it means the default `osps` instead.
    let mut cmd = env.cmd("client");
    cmd.env("OSPS_NAME", "").arg("PING");
    let out = run(cmd, DEADLINE);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("instance osps"), "{err}");
    // An empty OSPS_RUNTIME_DIR means the default directory, not a missing value.
    let mut cmd = env.cmd("inspect");
    cmd.env("OSPS_RUNTIME_DIR", "").args(["--name", &env.name]);
    let out = run(cmd, DEADLINE);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("there is no instance"), "{err}");
    // An empty OSPS_COLOR means auto.
    let mut cmd = env.cmd("inspect");
    cmd.env("OSPS_COLOR", "").args(["--name", &env.name]);
    let out = run(cmd, DEADLINE);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
}

#[test]
fn client_with_socket_does_not_suggest_a_name() {
    let env = TestEnv::new("hint-sock");
    let socket = env.tmp.path().join("elsewhere.sock");
    let mut cmd = env.cmd("client");
    cmd.arg("--socket").arg(&socket).arg("PING");
    let out = run(cmd, DEADLINE);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert!(err.contains(socket.to_str().unwrap()), "{err}");
    assert!(
        !err.contains("--name"),
        "a --name hint with --socket: {err}"
    );
    assert!(err.starts_with("osps[client]: error: "), "{err}");
}

#[test]
fn client_against_a_rounds_instance_says_it_does_not_serve() {
    let mut env = TestEnv::new("hint-rounds");
    env.start_primary(&["-q"]);
    env.wait_rounds(1, DEADLINE);
    let out = run(
        {
            let mut cmd = env.cmd("client");
            cmd.arg("PING");
            cmd
        },
        DEADLINE,
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(8), "{err}");
    let want = format!(
        "instance {} is running in rounds mode, not serving",
        env.name
    );
    assert!(err.contains(&want), "{want:?} not in {err}");
    assert!(err.contains("start it with --serve"), "{err}");
}

#[test]
fn client_against_no_instance_says_there_is_none() {
    let env = TestEnv::new("hint-none");
    env.make_runtime_dir();
    let mut cmd = env.cmd("client");
    cmd.arg("PING");
    let out = run(cmd, DEADLINE);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    let want = format!("no instance {} is running", env.name);
    assert!(err.contains(&want), "{want:?} not in {err}");
    assert!(
        err.contains(&format!("osps primary --serve --name {}", env.name)),
        "{err}"
    );
}

#[test]
fn client_against_a_stale_instance_says_to_clean_up() {
    let mut env = TestEnv::new("hint-stale");
    let pid = env.start_primary(&["-q"]);
    env.wait_rounds(1, DEADLINE);
    assert!(common::kill(pid, libc::SIGKILL));
    let mut child = env.take_child(pid);
    common::wait_child(&mut child, DEADLINE);
    let mut cmd = env.cmd("client");
    cmd.arg("PING");
    let out = run(cmd, DEADLINE);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(8), "{err}");
    let want = format!("instance {} is not running", env.name);
    assert!(err.contains(&want), "{want:?} not in {err}");
    assert!(
        err.contains(&format!("osps cleanup --name {}", env.name)),
        "{err}"
    );
}

#[test]
fn color_always_and_never() {
    let env = TestEnv::new("color");
    let error_of = |extra: &[&str], envs: &[(&str, &str)]| {
        let mut cmd = env.cmd("inspect");
        cmd.args(["--name", &env.name]).args(extra);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = run(cmd, DEADLINE);
        assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
        stderr_of(&out)
    };
    // TestEnv sets NO_COLOR=1: --color always overrides it, as in ripgrep and fd.
    let always = error_of(&["--color", "always"], &[]);
    assert!(always.contains("\x1b[31merror:\x1b[0m"), "{always:?}");
    assert!(always.starts_with("osps[inspect]: "), "{always:?}");
    let never = error_of(&["--color", "never"], &[("NO_COLOR", "")]);
    assert!(!never.contains('\x1b'), "{never:?}");
    assert!(never.starts_with("osps[inspect]: error: "), "{never:?}");
    // The environment variable stands for the option; the option wins over it.
    let env_always = error_of(&[], &[("OSPS_COLOR", "always")]);
    assert!(env_always.contains('\x1b'), "{env_always:?}");
    let option_wins = error_of(&["--color=never"], &[("OSPS_COLOR", "always")]);
    assert!(!option_wins.contains('\x1b'), "{option_wins:?}");
    // Auto into a pipe: no colour.
    let auto = error_of(&["--color", "auto"], &[("NO_COLOR", "")]);
    assert!(!auto.contains('\x1b'), "{auto:?}");
    // A bad choice is a usage error.
    let mut cmd = env.cmd("inspect");
    cmd.args(["--color", "sometimes"]);
    assert_eq!(run(cmd, DEADLINE).status.code(), Some(2));
}

#[test]
fn every_stderr_line_names_its_role_and_none_interleave() {
    // The primary and the secondary both write with -vv; a line split between two
    // writes would show up as a line without the prefix or with two of them.
    for _ in 0..3 {
        let env = TestEnv::new("lines");
        let mut cmd = env.cmd("primary");
        cmd.args(["--rounds", "200", "-vv"]);
        let out = run(cmd, DEADLINE);
        let err = stderr_of(&out);
        assert!(out.status.success(), "{err}");
        let mut roles = std::collections::BTreeSet::new();
        for line in err.lines() {
            let role = line
                .strip_prefix("osps[")
                .and_then(|l| l.split_once("]: "))
                .map(|(role, _)| role)
                .unwrap_or_else(|| panic!("a line without its role: {line:?}\n{err}"));
            assert!(!line[5..].contains("osps["), "interleaved: {line:?}");
            roles.insert(role.to_string());
        }
        assert!(
            roles.contains("primary") && roles.contains("secondary"),
            "{roles:?}"
        );
    }
    // Errors name their role too.
    let env = TestEnv::new("lines-err");
    let mut cmd = env.cmd("primary");
    cmd.args(["--size", "4096", "--payload", "8K", "--rounds", "1"]);
    let out = run(cmd, DEADLINE);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("osps[primary]: error: "), "{err}");
}

#[test]
fn help_and_version_into_a_full_stdout_fail_with_one_line() {
    for args in [&["--help"][..], &["primary", "--help"], &["--version"]] {
        let mut cmd = osps(args);
        cmd.stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .stderr(Stdio::piped());
        let out = cmd.output().unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("stdout"), "{args:?}: {err}");
    }
}

#[test]
fn help_into_a_closed_pipe_is_a_quiet_success() {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills the two-element array with two new descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(reader); // every write into the pipe now fails with EPIPE
    let mut cmd = osps(&["--help"]);
    cmd.stdout(Stdio::from(writer)).stderr(Stdio::piped());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stderr_of(&out), "");
    // And the help itself, into a working pipe, is whole.
    let out = run(osps(&["--help"]), DEADLINE);
    assert!(out.status.success());
    assert!(
        stdout_of(&out).contains("--color <WHEN>"),
        "{}",
        stdout_of(&out)
    );
}

#[test]
fn the_package_ships_the_license() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = run(
        {
            let mut cmd = Command::new(cargo);
            cmd.args(["package", "--list", "--allow-dirty", "--offline"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .stdin(Stdio::null());
            cmd
        },
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "cargo package --list: {}",
        stderr_of(&out)
    );
    let files = stdout_of(&out);
    assert!(files.lines().any(|l| l == "LICENSE"), "{files}");
    let license = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/LICENSE")).unwrap();
    assert!(license.starts_with("MIT License"), "{license}");
    assert!(license.contains("Copyright (c) 2026 the osps authors"));
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    for key in [
        "license = \"MIT\"",
        "repository = ",
        "readme = ",
        "keywords = ",
        "categories = ",
    ] {
        assert!(manifest.contains(key), "Cargo.toml lacks {key}");
    }
}

/// A count that is not one (`--rounds -1`, `--rounds 1.5`, `--iterations x`) or out of
/// range says what a count is and which ones are allowed, in words: not Rust's "invalid
/// digit found in string" nor a range ending in 18446744073709551615.
#[test]
fn a_bad_count_says_which_counts_are_allowed() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["primary", "--rounds", "-1"],
            "use a whole number of 1 or more",
        ),
        (
            &["primary", "--rounds", "1.5"],
            "use a whole number of 1 or more",
        ),
        (
            &["primary", "--rounds", "abc"],
            "use a whole number of 1 or more",
        ),
        (
            &["primary", "--rounds", "0"],
            "use a whole number of 1 or more",
        ),
        (
            &["primary", "--max-restarts", "-1"],
            "use a whole number of 0 or more",
        ),
        (
            &["primary", "--max-restarts", "many"],
            "use a whole number of 0 or more",
        ),
        (
            &["primary", "--serve", "--secondaries", "0"],
            "from 1 to 64",
        ),
        (
            &["primary", "--serve", "--secondaries", "100"],
            "from 1 to 64",
        ),
        (
            &["primary", "--serve", "--queue", "99999999999"],
            "at most 4294967295",
        ),
        (
            &["top", "--json", "--iterations", "x"],
            "use a whole number of 1 or more",
        ),
    ];
    for (args, want) in cases {
        let out = run(osps(args), DEADLINE);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {want:?} not in {err}");
        let option = args[args.len() - 2];
        assert!(
            err.contains(option),
            "{args:?}: {option} not named in {err}"
        );
        for raw in ["invalid digit", "18446744073709551615", "is not in"] {
            assert!(!err.contains(raw), "{args:?}: {raw:?} in {err}");
        }
    }
}

/// `osps SUB --help` ends with the exit codes that command can end with, each with what it
/// means (the README's table, per command), so a student need not find the man page to
/// read `$?`; and none contradicts the code (inspect's once said 1 for a missing instance).
#[test]
fn every_help_says_what_its_exit_codes_mean() {
    let commands: &[(&str, &[i32])] = &[
        ("primary", &[0, 1, 2, 5, 6]),
        ("inspect", &[0, 1, 2, 4]),
        ("cleanup", &[0, 1, 2, 4]),
        ("client", &[0, 1, 2, 4, 7, 8]),
        ("list", &[0, 1, 2]),
        ("status", &[0, 1, 2, 3, 4]),
        ("stop", &[0, 1, 2, 4]),
        ("top", &[0, 1, 2]),
        ("audit", &[0, 1, 2, 126, 127, 129, 130, 131, 143]),
        ("completions", &[0, 1, 2]),
        ("man", &[0, 1, 2]),
    ];
    for (sub, codes) in commands {
        let out = run(osps(&[sub, "--help"]), DEADLINE);
        assert_eq!(out.status.code(), Some(0), "{sub}: {}", stderr_of(&out));
        let help = stdout_of(&out);
        let section = help
            .split_once("\nExit status:\n")
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("osps {sub} --help has no Exit status section:\n{help}"));
        let listed: Vec<i32> = section
            .lines()
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        assert_eq!(&listed, codes, "osps {sub} --help:\n{section}");
    }
    let inspect = stdout_of(&run(osps(&["inspect", "--help"]), DEADLINE));
    assert!(
        !inspect.contains("1 when --name"),
        "inspect --help still says 1 for a missing instance:\n{inspect}"
    );
    assert!(
        inspect.contains("  4    there is no instance of that name"),
        "{inspect}"
    );
}

/// A lab program that fails at once (a syntax error, a file not found) makes nothing, so
/// the audit has no finding; its report must not read as a clean bill of health, but say
/// that the program itself failed and that the audit saw only what it did until then.
#[test]
fn an_audit_of_a_program_that_failed_says_so_beside_no_finding() {
    let cmd = osps(&["audit", "--", "sh", "-c", "echo 'SyntaxError' >&2; exit 3"]);
    let out = run(cmd, DEADLINE);
    let report = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{report}{}", stderr_of(&out));
    assert!(
        report.contains("no finding, but the program failed (exit 3)"),
        "{report}"
    );
    assert!(!report.contains("it made removed"), "{report}");
    // A program that succeeds keeps the plain verdict.
    let report = stdout_of(&run(osps(&["audit", "--", "true"]), DEADLINE));
    assert!(
        report.contains(
            "no finding: every process was reaped in time and every segment, semaphore, \
             message queue and FIFO it made removed"
        ),
        "{report}"
    );
}

/// Every command that names an instance with no object says it in the same words, with
/// where it looked and what to do next (`inspect --name` said it differently, no hint).
#[test]
fn a_missing_instance_is_said_alike_by_every_command() {
    let env = TestEnv::new("missing");
    let want = format!(
        "error: there is no instance {}: no object of it in /dev/shm or {} (`osps list` shows the instances)",
        env.name,
        env.runtime_dir.display()
    );
    let name = env.name.as_str();
    for (sub, args) in [
        ("inspect", &["--name", name][..]),
        ("status", &[name][..]),
        ("stop", &[name][..]),
        ("cleanup", &["--name", name][..]),
    ] {
        let mut cmd = env.cmd(sub);
        cmd.args(args).env_remove("OSPS_NAME");
        let out = run(cmd, DEADLINE);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(4), "{sub}: {err}");
        assert_eq!(err.trim_end(), format!("osps[{sub}]: {want}"), "{sub}");
    }
}
