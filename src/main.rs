//! osps: two processes sharing memory safely. `main` parses the command line, installs
//! error reporting, dispatches to the subcommand, and maps the result to an exit status.

mod area;
mod audit;
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
mod lockwatch;
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
    // SAFETY: still before any other thread exists (the watchdog and the lock file's
    // watcher start later, in the subcommands).
    unsafe { log::install_error_reporting() };
    trace::init(&cli.command);
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
        Command::List(args) => list::run(args),
        Command::Status(args) => status::run(args),
        Command::Stop(args) => stop::run(args),
        Command::Top(args) => top::run(args),
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
