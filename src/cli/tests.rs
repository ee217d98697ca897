//! The command line's unit tests: clap's own consistency check, the parsing of every
//! subcommand, and the rules of [`PrimaryArgs::validate`].

use super::*;
use std::time::Duration;

use crate::os::procfs;
use crate::pair::header::MAX_WORKERS;
use crate::pair::turn::SyncMode;
use clap::CommandFactory;

#[test]
fn clap_definitions_are_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn single_subcommand_parsers_are_consistent() {
    CliOf::<OnlyPrimary>::command().debug_assert();
    CliOf::<OnlySecondary>::command().debug_assert();
}

/// `parse` takes `primary` and `secondary` command lines to the parsers that know only
/// that subcommand: what they make of a line, help and errors included, must be what
/// the whole parser makes of it.
#[test]
fn single_subcommand_parsers_agree_with_the_whole_one() {
    let lines = [
        "osps primary",
        "osps primary --rounds 3 --sync fifo --spin 1ms -q --color never --name a_1",
        "osps primary --serve --secondaries 2 --json -vv",
        "osps primary --name a/b",
        "osps primary --payload 0",
        "osps primary --bogus",
        "osps primary --nme x",
        "osps primary --quiet --verbose",
        "osps primary extra",
        "osps primary --help",
        "osps primary -h",
        "osps primary --version",
        "osps secondary --name n --runtime-dir /tmp/r --sync adaptive --spin 200000ns \
         --start-timeout 5s --index 1 --serve",
        "osps secondary --sync bogus",
        "osps secondary --help",
    ];
    for line in lines {
        let args: Vec<std::ffi::OsString> = line.split_whitespace().map(Into::into).collect();
        let ours = parse_from(args.clone());
        let whole = Cli::try_parse_from(&args);
        match (ours, whole) {
            (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{line}"),
            (Err(a), Err(b)) => {
                assert_eq!(a.kind(), b.kind(), "{line}");
                assert_eq!(a.render().to_string(), b.render().to_string(), "{line}");
            }
            (a, b) => panic!("{line}: {a:?} but the whole parser: {b:?}"),
        }
    }
}

#[test]
fn defaults_match_the_docs() {
    let cli = Cli::try_parse_from(["osps", "primary"]).unwrap();
    let Command::Primary(p) = cli.command else {
        panic!("not primary")
    };
    assert_eq!(p.size, 1 << 20);
    assert_eq!(p.payload, 64);
    assert_eq!(p.interval, Duration::from_secs(1));
    assert_eq!(p.timeout, Duration::from_secs(2));
    assert_eq!(p.start_timeout, Duration::from_secs(5));
    assert_eq!(p.max_restarts, 5);
    assert_eq!(p.sync, SyncMode::Adaptive);
}

#[test]
fn bad_values_are_usage_errors() {
    for args in [
        vec!["osps", "primary", "--name", "a/b"],
        vec!["osps", "primary", "--size", "100"],
        vec!["osps", "primary", "--payload", "0"],
        vec!["osps", "primary", "--interval", "soon"],
    ] {
        let err = Cli::try_parse_from(&args).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{args:?}");
    }
}

#[test]
fn the_flags_parse() {
    use clap::Parser;
    let parse = |args: &[&str]| match Cli::try_parse_from(args) {
        Ok(Cli {
            command: Command::Primary(p),
            ..
        }) => Ok((p.trace, p.hold_zombie)),
        Ok(_) => panic!("not primary"),
        Err(e) => Err(e.exit_code()),
    };
    assert_eq!(parse(&["osps", "primary"]), Ok((None, None)));
    assert_eq!(
        parse(&["osps", "primary", "--trace"]),
        Ok((Some(crate::trace::Format::Text), None))
    );
    assert_eq!(
        parse(&["osps", "primary", "--trace=json", "--hold-zombie", "2s"]),
        Ok((
            Some(crate::trace::Format::Json),
            Some(std::time::Duration::from_secs(2))
        ))
    );
    assert_eq!(parse(&["osps", "primary", "--trace=xml"]), Err(2));
    assert_eq!(parse(&["osps", "primary", "--hold-zombie", "soon"]), Err(2));
}

/// The primary's arguments parsed from `line` (after `osps primary`).
fn primary(line: &str) -> PrimaryArgs {
    let args = ["osps", "primary"]
        .into_iter()
        .chain(line.split_whitespace());
    match Cli::try_parse_from(args).map(|c| c.command) {
        Ok(Command::Primary(p)) => p,
        other => panic!("{line}: {other:?}"),
    }
}

/// What `validate` says of `line`: the size misfit's text, or clap's message.
fn misfit(line: &str) -> String {
    match primary(line).validate() {
        Err(Misfit::Size(why)) => why,
        Err(Misfit::Usage(message)) => {
            format!("usage: {}", usage_error("primary", message).render())
        }
        Ok(()) => "fits".to_string(),
    }
}

#[test]
fn values_that_fit_together_pass() {
    for line in [
        "",
        "--payload 3840 --size 4096",
        "--serve --secondaries 64 --size 1M --max-line 16191",
        "--serve --tcp 127.0.0.1:0",
        "--serve --tcp [::1]:0",
        "--serve --tcp [::ffff:127.0.0.1]:0",
        "--serve --tcp 0.0.0.0:0 --tcp-any",
        "--serve --max-line 3903 --size 8K --secondaries 2",
    ] {
        assert_eq!(misfit(line), "fits", "{line}");
    }
}

#[test]
fn a_spin_as_long_as_the_timeout_is_reported_by_clap() {
    let said = misfit("--spin 3s --payload 5000 --size 4096");
    assert!(
        said.starts_with(
            "usage: error: --spin 3s is not below --timeout 2s: the waiting side would \
             spin through the whole round and the secondary would count as hung; lower \
             --spin or raise --timeout\n\nUsage: osps primary [OPTIONS]"
        ),
        "{said}"
    );
    let Err(Misfit::Usage(message)) = primary("--spin 2s").validate() else {
        panic!("not a usage error")
    };
    assert_eq!(usage_error("primary", message).exit_code(), 2);
}

#[test]
fn sizes_that_do_not_fit_say_which_and_what_to_change() {
    let cases = [
        (
            "--payload 5000 --size 4096",
            "--payload 5000 does not fit: a 4K segment has a 3840-byte data area after \
             its 256-byte header; raise --size or lower --payload",
        ),
        (
            "--serve --tcp nonsense",
            "--tcp nonsense: not an ADDR:PORT (invalid socket address)",
        ),
        (
            "--serve --tcp 0.0.0.0:0",
            "--tcp 0.0.0.0:0 would accept clients from other hosts (0.0.0.0); use a \
             loopback address like 127.0.0.1:PORT, or add --tcp-any if that is what you want",
        ),
        (
            "--serve --tcp [::ffff:10.0.0.1]:0",
            "--tcp [::ffff:10.0.0.1]:0 would accept clients from other hosts (::ffff:10.0.0.1); \
             use a loopback address like 127.0.0.1:PORT, or add --tcp-any if that is what you \
             want",
        ),
        (
            "--serve --secondaries 64 --size 4096",
            "--size 4096 cannot even hold the header of 64 secondaries (8320 bytes); \
             raise --size",
        ),
        (
            "--serve --max-line 1M --size 1M",
            "--max-line 1048576 does not fit: the one secondary has a 1048320-byte data \
             area; raise --size or lower --max-line",
        ),
        (
            "--serve --max-line 3904 --size 8K --secondaries 2",
            "--max-line 3904 does not fit: 2 secondaries share a 7808-byte data area, \
             3904 bytes each; raise --size or lower --max-line or --secondaries",
        ),
    ];
    for (line, said) in cases {
        assert_eq!(misfit(line), said, "{line}");
    }
}

#[test]
fn the_pool_is_bounded_by_the_header() {
    let line = format!("osps primary --serve --secondaries {}", MAX_WORKERS + 1);
    let err = Cli::try_parse_from(line.split_whitespace()).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("from 1 to 64"), "{err}");
}

// ---- Other processes' command lines, read by our parser (see procfs::Invocation)

/// A raw `/proc/PID/cmdline` of `args`.
fn raw(args: &[&str]) -> Vec<u8> {
    format!("{}\0", args.join("\0")).into_bytes()
}

#[test]
fn the_subcommand_is_found_past_global_options() {
    let of =
        |args: &[&str]| procfs::invocation_from(&raw(args), invocation_of).map(|i| i.subcommand);
    assert_eq!(
        of(&["osps", "primary", "--name", "x"]).as_deref(),
        Some("primary")
    );
    assert_eq!(of(&["osps", "-vv", "cleanup"]).as_deref(), Some("cleanup"));
    assert_eq!(of(&["osps", "-q", "cleanup"]).as_deref(), Some("cleanup"));
    assert_eq!(
        of(&["osps", "--color", "never", "primary"]).as_deref(),
        Some("primary")
    );
    assert_eq!(
        of(&["osps", "--color=never", "stop"]).as_deref(),
        Some("stop")
    );
    // Whatever the program is called.
    assert_eq!(of(&["/tmp/x", "primary"]).as_deref(), Some("primary"));
    assert_eq!(of(&["osps", "--color"]), None);
    assert_eq!(of(&["osps"]), None);
    // What that osps refused to run is not running as that subcommand.
    assert_eq!(of(&["osps", "primary", "--help"]), None);
    assert_eq!(of(&["osps", "primary", "--bogus"]), None);
}

#[test]
fn every_spelling_of_the_name_option_names_the_instance() {
    for args in [
        &["osps", "primary", "-nfoo"][..],
        &["osps", "primary", "-n", "foo"],
        &["osps", "primary", "--name", "foo"],
        &["osps", "primary", "--name=foo"],
        &["osps", "primary", "-n=foo"],
        &["osps", "primary", "-qn", "foo"],
        &["osps", "primary", "-qnfoo"],
        &["osps", "primary", "-vvnfoo"],
        &[
            "osps",
            "primary",
            "--start-timeout",
            "9s",
            "-nfoo",
            "--serve",
        ],
        &["osps", "--color", "never", "primary", "-nfoo"],
        &["osps", "-q", "primary", "-n", "foo"],
        &["osps", "secondary", "--name", "foo", "--index", "2"],
        &["osps", "cleanup", "-nfoo"],
        &["/tmp/renamed", "primary", "-nfoo"],
    ] {
        assert_eq!(
            name_of(&raw(args), b"OSPS_NAME=bar\0").as_deref(),
            Some("foo"),
            "{args:?}"
        );
    }
}

#[test]
fn without_a_name_option_the_environment_then_the_default_names_the_instance() {
    let args = raw(&["osps", "primary", "--interval", "5ms"]);
    let env = b"HOME=/root\0OSPS_NAME=bar\0PATH=/bin\0";
    assert_eq!(name_of(&args, env).as_deref(), Some("bar"));
    assert_eq!(name_of(&args, b"OSPS_NAME=\0").as_deref(), Some("osps"));
    assert_eq!(name_of(&args, b"").as_deref(), Some("osps"));
    // Not a name: the value of another option.
    let args = raw(&["osps", "primary", "--runtime-dir=-nfoo"]);
    assert_eq!(name_of(&args, b"").as_deref(), Some("osps"));
    assert_eq!(name_of(&raw(&["osps", "nonsense"]), b""), None);
}

#[test]
fn serve_is_read_from_the_command_line() {
    let serve =
        |args: &[&str]| procfs::invocation_from(&raw(args), invocation_of).is_some_and(|i| i.serve);
    assert!(serve(&["osps", "primary", "--serve", "-nfoo"]));
    assert!(serve(&["osps", "-q", "primary", "--serve"]));
    assert!(!serve(&["osps", "primary", "-nfoo"]));
    assert!(!serve(&["osps", "list"]));
}

/// The instance name another process's raw command line and environment give.
fn name_of(cmdline: &[u8], environ: &[u8]) -> Option<String> {
    procfs::name_from(procfs::invocation_from(cmdline, invocation_of)?, environ)
}

/// The README's Exit status tables are those `crate::exit` writes, for every subcommand
/// with a man page.
#[test]
fn the_readme_has_the_exit_code_tables() {
    use crate::exit::{markdown_by_command, markdown_table};
    let readme = include_str!("../../README.md");
    for table in [markdown_table(), markdown_by_command(&MAN_PAGES)] {
        assert!(
            readme.contains(&table),
            "README.md's Exit status section lacks this table of src/exit.rs:\n{table}"
        );
    }
}
