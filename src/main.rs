//! osps: two processes sharing memory safely. `main` parses the command line, installs
//! error reporting, dispatches to the subcommand, and maps the result to an exit status.

mod area;
mod batch;
mod claim;
mod cleanup;
mod cli;
mod client;
mod discover;
mod exit;
mod fdlimit;
mod fifo;
mod frame;
mod generate;
mod header;
mod inspect;
mod instance;
mod list;
mod lockfile;
mod log;
mod names;
mod notify;
mod output;
mod owned;
mod payload;
mod pidfd;
mod poller;
mod primary;
mod procfs;
mod protocol;
mod rundir;
mod secondary;
mod segment;
mod sigbus;
mod signals;
mod spawn;
mod spin;
mod stats;
mod status;
mod stop;
mod top;
mod trace;
mod turn;
mod units;
mod view;
mod watchdog;

use std::io::Write;

use clap::error::ErrorKind;

use crate::cli::Command;
use crate::exit::Exit;

fn main() {
    forget_empty_env();
    let cli = cli::parse().unwrap_or_else(|e| clap_exit(e));
    if let Err(e) = cli.command.validate() {
        clap_exit(e);
    }
    log::set_level(if cli.quiet {
        -1
    } else {
        cli.verbose.min(3) as i8
    });
    log::set_color(cli.color);
    log::set_role(cli.command.role());
    // The secondaries the primary starts inherit the environment: they colour as we do.
    // SAFETY: called at the start of main, before any other thread exists.
    unsafe { std::env::set_var("OSPS_COLOR", cli.color.as_str()) };
    install_error_reporting();
    trace::init(&cli.command);
    // Every object osps creates is private: with this umask the modes we ask for (0600,
    // 0700) are exactly the modes we get, whatever the caller's umask was.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let result = match &cli.command {
        Command::Primary(args) => primary::run(args),
        Command::Secondary(args) => secondary::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Cleanup(args) => cleanup::run(args),
        Command::Client(args) => client::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Completions(args) => generate::run_completions(args),
        Command::Man(args) => generate::run_man(args),
        Command::List(args) => list::run(args),
        Command::Status(args) => status::run(args),
        Command::Stop(args) => stop::run(args),
        Command::Top(args) => top::run(args),
    };
    let exit = match result {
        Ok(exit) => exit,
        Err(report) => {
            log::error(&report);
            exit::of_report(&report)
        }
    };
    crate::trace!("exit", status = exit.code());
    std::process::exit(exit.code());
}

/// An empty `OSPS_NAME`, `OSPS_RUNTIME_DIR` or `OSPS_COLOR` counts as unset (as an empty
/// `NO_COLOR` does), so `OSPS_NAME= osps primary` uses the default name rather than
/// refusing an empty one. clap treats a present variable as given, so drop the empty ones
/// before it looks.
fn forget_empty_env() {
    for var in cli::ENV_VARS {
        if std::env::var_os(var).is_some_and(|v| v.is_empty()) {
            // SAFETY: called first thing in main, before any other thread exists.
            unsafe { std::env::remove_var(var) };
        }
    }
}

/// Ends the process for what clap found: a usage error (exit status 2, clap prints it),
/// or `--help`/`--version`, written here so that a failed write is an error (exit status
/// 1, one line naming stdout) rather than silently lost; a closed pipe (`| head -1`) is
/// a quiet success.
fn clap_exit(err: clap::Error) -> ! {
    if !matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        err.exit();
    }
    let styled = err.render();
    let text = if help_in_color() {
        styled.ansi().to_string()
    } else {
        styled.to_string()
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => std::process::exit(Exit::Success.code()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            std::process::exit(Exit::Success.code())
        }
        Err(e) => {
            let what = match err.kind() {
                ErrorKind::DisplayVersion => "version",
                _ => "help",
            };
            log::set_role(what);
            log::error(&color_eyre::eyre::eyre!(
                "writing the {what} to stdout: {e}"
            ));
            std::process::exit(Exit::Failure.code())
        }
    }
}

/// Whether `--help` is styled: stdout is a terminal and neither `NO_COLOR` nor a
/// `never` colour choice (`--color never`, `--color=never`, `OSPS_COLOR=never`) says
/// otherwise. clap stopped before parsing `--color`, so the arguments are looked at as
/// they are.
fn help_in_color() -> bool {
    // args_os: an argument that is not UTF-8 must not panic here.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let never_arg = args.iter().any(|a| a == "--color=never")
        || args
            .windows(2)
            .any(|w| w[0] == "--color" && w[1] == "never");
    let never_env = std::env::var_os("OSPS_COLOR").is_some_and(|v| v == "never");
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    std::io::IsTerminal::is_terminal(&std::io::stdout()) && !never_arg && !never_env && !no_color
}

/// color-eyre prints the cause chain; no backtrace or location noise for users, and
/// colour only on a terminal without NO_COLOR.
fn install_error_reporting() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // Error reports are for users: no backtrace unless asked for with
        // RUST_LIB_BACKTRACE=1 (RUST_BACKTRACE alone keeps meaning panics only).
        // SAFETY: called at the start of main, before any other thread exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    let theme = if log::use_color() {
        color_eyre::config::Theme::dark()
    } else {
        color_eyre::config::Theme::new()
    };
    let _ = color_eyre::config::HookBuilder::default()
        .theme(theme)
        .display_env_section(false)
        .display_location_section(false)
        .install();
}
