//! The primary's life: create the instance, start the secondaries, shake hands, run a
//! mode (rounds, or serving clients), supervise (restart a dead or hung secondary), then
//! stop in order: the secondaries first (the primary reaps them: no zombie), then every
//! object is removed.
//!
//! Which server must stop first? The secondary. A process that exits becomes a zombie
//! until its parent collects its status with `waitpid`; the primary is the parent, so it
//! must outlive the secondary to reap it. (If the primary died first, the secondary would
//! be an orphan, adopted by init or a subreaper; ours notices and exits by itself.)
//!
//! The primary's side is one folder: this file creates the instance, chooses the mode
//! and tears down (one path for both modes); `rounds.rs` and `serve.rs` are the two
//! modes, the serving one with its door (`admission.rs`), its clients (`clients.rs`)
//! and its pool (`pool.rs`); `worker/` is one secondary and `supervisor.rs` all of
//! them, for both modes; `summary.rs` says how the run went.
//!
//! A command of its own: it may import every layer below (`os`, `disk`, `pair`,
//! `instance`), the leaf helpers and `cli` (its arguments); nothing imports it but `main`.

mod admission;
mod clients;
mod hall;
mod hands;
mod ids;
mod lines;
mod placement;
mod pool;
mod rounds;
mod serve;
mod spare;
pub mod stats;
mod stream;
mod summary;
mod supervisor;
mod worker;

use color_eyre::eyre::{Result, WrapErr};

use crate::cli::{Misfit, PrimaryArgs};
use crate::disk::names::{Paths, default_runtime_dir};
use crate::exit::{Exit, coded};
use crate::instance::objects::Instance;
use crate::os::signals::{self, SelfPipe};
use crate::pair::header::{Field, State};
use summary::Report;
use worker::Ctx;

/// Runs `osps primary`.
pub fn run(args: &PrimaryArgs) -> Result<Exit> {
    crate::log::set_role("primary");
    match args.validate() {
        Err(Misfit::Size(why)) => return Err(coded(Exit::Usage, why)),
        // Reported by clap as the command line was parsed (see `cli::parse_or_exit`).
        Err(Misfit::Usage(e)) => return Err(coded(Exit::Usage, e.to_string())),
        Ok(()) => {}
    }
    // Before anything is created: from here on no signal ends us without the orderly
    // stop (see os/signals/mod.rs for each one's treatment).
    let sigs = SelfPipe::install_policy(signals::PRIMARY)?;
    let paths = Paths::new(
        args.instance.name.clone(),
        default_runtime_dir(args.instance.runtime_dir.as_deref()),
    );
    let workers = if args.serve {
        args.secondaries as usize
    } else {
        1
    };
    let mut instance = Instance::create(paths, args.size, workers)
        .wrap_err_with(|| format!("starting instance {}", args.instance.name))?;
    let (result, report) = if args.serve {
        let (result, summary) = serve::run(args, &mut instance, &sigs);
        (result, summary.map(Report::Serve))
    } else {
        let ctx = Ctx {
            inst: &instance,
            sigs: &sigs,
            args,
        };
        let (result, summary) = rounds::run(ctx);
        (result, Some(Report::Rounds(summary)))
    };
    tear_down(instance, result, report, args.json)
}

/// The one way a primary ends, whatever its mode (the secondaries are already stopped
/// and reaped): publish the final state, remove every object, print the summary, and
/// report the run's error first, then a removal error.
fn tear_down(
    instance: Instance,
    result: Result<Exit>,
    report: Option<Report>,
    json: bool,
) -> Result<Exit> {
    // A segment truncated or removed under us explains whatever failed after it (a
    // zeroed turn counter, a dead secondary): report that cause.
    let result = result.map_err(|e| instance.seg().check_intact().err().unwrap_or(e));
    let state = if result.is_ok() {
        State::Stopped
    } else {
        State::Failed
    };
    instance.seg().store(Field::PrimaryState, state as u64);
    let removal = instance
        .remove()
        .wrap_err("removing the instance's objects");
    let printed = report.map_or(Ok(()), |r| r.print(json));
    let exit = result?;
    removal?;
    match printed {
        // A failed run's exit status says more than the lost summary would.
        Err(e) if exit == Exit::Success => Err(e),
        Err(e) => {
            crate::warn!("{e:#}");
            Ok(exit)
        }
        Ok(()) => Ok(exit),
    }
}
