//! osps: two processes sharing memory safely. `main` parses the command line, installs
//! error reporting, dispatches to the subcommand, and maps the result to an exit status.

mod claim;
mod cleanup;
mod cli;
mod client;
mod exit;
// Used by the serving event loop (issue 11); wired in with the move to src/primary/.
#[allow(dead_code)]
mod fdlimit;
mod fifo;
mod frame;
mod generate;
mod header;
mod inspect;
mod instance;
mod lockfile;
mod log;
mod names;
mod notify;
mod owned;
mod payload;
#[allow(dead_code)]
mod poller;
mod primary;
mod procfs;
mod protocol;
mod rundir;
mod secondary;
mod segment;
mod serve;
mod sigbus;
mod signals;
mod spawn;
mod stats;
mod summary;
mod turn;
mod units;
mod worker;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    log::set_level(if cli.quiet {
        -1
    } else {
        cli.verbose.min(3) as i8
    });
    install_error_reporting();
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
    };
    let exit = match result {
        Ok(exit) => exit,
        Err(report) => {
            log::error(&report);
            exit::of_report(&report)
        }
    };
    std::process::exit(exit.code());
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
