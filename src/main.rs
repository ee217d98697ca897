//! osps: two processes sharing memory safely. `main` parses the command line, installs
//! error reporting, dispatches to the subcommand, and maps the result to an exit status.

// Leaf helpers, imported by every layer.
mod clock;
mod exit;
mod log;
mod output;
mod protocol;
mod trace;
mod units;

// The layers, from the lowest: os, disk, pair, instance (each folder's mod.rs says what it
// may import; none imports a layer above its own).
mod disk;
mod instance;
mod os;
mod pair;

// The commands and the views, which import the layers and never each other.
mod audit;
mod cleanup;
mod cli;
mod client;
mod generate;
mod inspect;
mod primary;
mod secondary;
mod views;

use crate::cli::Command;

fn main() {
    // SAFETY: first thing in main, before any other thread exists.
    let cli = unsafe { cli::parse_or_exit() };
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
    log::install_error_reporting();
    // Other processes' command lines (whose is this lock, this FIFO?) are read by our own
    // parser, so every spelling of an option reads as it did for that process.
    os::procfs::read_command_lines_with(cli::invocation_of);
    match &cli.command {
        Command::Primary(args) => trace::init_primary(args.trace),
        Command::Secondary(args) => trace::init_secondary(args.index),
        _ => {}
    }
    // Every object osps creates is private: with this umask the modes we ask for (0600,
    // 0700) are exactly the modes we get, whatever the caller's umask was.
    // Not for an audit: the program it runs must get the caller's umask.
    if !matches!(cli.command, Command::Audit(_)) {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    }
    let stdout_ok = if cli.command.writes_stdout() {
        output::ensure_stdout_open()
    } else {
        Ok(())
    };
    let result = stdout_ok.and_then(|()| match &cli.command {
        Command::Primary(args) => primary::run(args),
        Command::Secondary(args) => secondary::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Cleanup(args) => cleanup::run(args),
        Command::Client(args) => client::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Completions(args) => generate::run_completions(args),
        Command::Man(args) => generate::run_man(args),
        Command::List(args) => views::list::run(args),
        Command::Status(args) => views::status::run(args),
        Command::Stop(args) => views::stop::run(args),
        Command::Top(args) => views::top::run(args),
        Command::Audit(args) => audit::run(args),
    });
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
