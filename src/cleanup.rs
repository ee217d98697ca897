//! `osps cleanup`: removes what crashed instances left behind (stale and partial
//! instances of the current user), and nothing else.
//!
//! An instance is removed only by whoever owns its name, exactly as a starting primary
//! recovers one: create the lock file, or take the lock of an existing one that nobody
//! holds (the kernel dropped it when the primary died); then remove the objects that are
//! provably ours ([`claim::remove_leftovers`], which first stops an orphaned secondary);
//! the lock file goes last. A running instance (lock held) is skipped, and so is every
//! object of another user, of an unexpected type or mode, or without the osps header,
//! with the reason. Two cleanups at once meet on the lock: the second waits for the first
//! and then finds nothing left, which is not an error.

use std::path::PathBuf;

use color_eyre::eyre::Result;
use nix::errno::Errno;
use serde::Serialize;

use crate::claim;
use crate::cli::CleanupArgs;
use crate::discover;
use crate::exit::{self, Exit};
use crate::lockfile::InstanceLock;
use crate::names::{self, InstanceName, Paths};
use crate::output;
use crate::owned::{self, Kind};
use crate::rundir::RuntimeDir;
use crate::segment;

/// The version of the `--json` report's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// What happened to one instance.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// These objects were removed (or, with `--dry-run`, would be).
    Removed(Vec<PathBuf>),
    /// Left alone on purpose: running, or not provably ours.
    Skipped(String),
    /// Something went wrong while removing.
    Failed(String),
    /// Nothing was left to remove (another cleanup got there first).
    Nothing,
}

/// Runs `osps cleanup`.
pub fn run(args: &CleanupArgs) -> Result<Exit> {
    crate::log::set_role("cleanup");
    let runtime_dir = names::default_runtime_dir(args.select.runtime_dir.as_deref());
    let mut report = Report::new(args.dry_run, !args.json);
    let survey = discover::survey(&runtime_dir, args.select.name.as_ref())?;
    if let Some(e) = survey.dir_error {
        report.record(None, Outcome::Failed(e))?;
        return report.finish(args.json);
    }
    let mut dir = survey.dir;
    let wanted: Vec<InstanceName> = match &args.select.name {
        Some(name) => vec![name.clone()],
        None => survey.instances.into_iter().map(|i| i.paths.name).collect(),
    };
    for name in wanted {
        let paths = Paths::new(name, runtime_dir.clone());
        if !has_objects(dir.as_ref(), &paths) {
            continue;
        }
        let outcome = if args.dry_run {
            plan(dir.as_ref(), &paths)
        } else {
            // A segment whose runtime directory is gone still needs a lock file to own it.
            if dir.is_none() {
                match RuntimeDir::ensure(&runtime_dir) {
                    Ok(made) => dir = Some(made),
                    Err(e) => {
                        report.record(Some(&paths.name), Outcome::Failed(format!("{e:#}")))?;
                        continue;
                    }
                }
            }
            match &dir {
                Some(dir) => clean(dir, &paths),
                None => continue,
            }
        };
        report.record(Some(&paths.name), outcome)?;
    }
    report.finish(args.json)
}

/// Whether any object of the instance exists (a name with none is not touched at all).
fn has_objects(dir: Option<&RuntimeDir>, paths: &Paths) -> bool {
    let in_dir = dir.is_some_and(|dir| {
        std::iter::once(paths.lock_file())
            .chain(
                claim::runtime_files(paths)
                    .into_iter()
                    .map(|(file, _)| file),
            )
            .any(|file| !matches!(dir.stat(&file), Ok(None)))
            || !InstanceLock::stale_temps(dir, paths).is_empty()
    });
    in_dir || !matches!(nix::sys::stat::lstat(&paths.shm_path()), Err(Errno::ENOENT))
}

/// Removes one instance, owning its name while doing so.
fn clean(dir: &RuntimeDir, paths: &Paths) -> Outcome {
    if let Some(skip) = running(dir, paths) {
        return skip;
    }
    if let Err(e) = check_ours(dir, paths) {
        return Outcome::Skipped(format!("{e:#}"));
    }
    match claim::own(dir, paths) {
        Ok(claim::Owner::Created(lock)) => remove(dir, paths, lock, false),
        Ok(claim::Owner::Taken(lock)) => remove(dir, paths, lock, true),
        Ok(claim::Owner::Held(pid)) => Outcome::Skipped(held_reason(paths, pid)),
        Err(e) => Outcome::Failed(format!("{e:#}")),
    }
}

/// What `--dry-run` reports for one instance: what `clean` would do, changing nothing.
fn plan(dir: Option<&RuntimeDir>, paths: &Paths) -> Outcome {
    let Some(dir) = dir else {
        return match plan_segment(paths) {
            Ok(removed) => listed(removed),
            Err(e) => Outcome::Skipped(format!("{e:#}")),
        };
    };
    if let Some(skip) = running(dir, paths) {
        return skip;
    }
    match check_ours(dir, paths) {
        Ok(mut removed) => {
            if !matches!(dir.stat(&paths.lock_file()), Ok(None)) {
                removed.push(paths.in_dir(&paths.lock_file()));
            }
            listed(removed)
        }
        Err(e) => Outcome::Skipped(format!("{e:#}")),
    }
}

fn listed(removed: Vec<PathBuf>) -> Outcome {
    if removed.is_empty() {
        Outcome::Nothing
    } else {
        Outcome::Removed(removed)
    }
}

/// Without a runtime directory only a segment can exist; checks it is ours and orphaned.
fn plan_segment(paths: &Paths) -> Result<Vec<PathBuf>> {
    let Some(look) = segment::look(paths)? else {
        return Ok(Vec::new());
    };
    claim::check_segment(paths, &look)?;
    claim::check_segment_holders(paths, &[])?;
    Ok(vec![paths.shm_path()])
}

/// `Some(skipped)` when a live process other than a cleanup holds the lock: tested with
/// `F_GETLK`, so a running instance is never even briefly locked by us.
fn running(dir: &RuntimeDir, paths: &Paths) -> Option<Outcome> {
    let probe = InstanceLock::probe(dir, paths);
    (probe.held && !claim::is_cleanup(probe.pid))
        .then(|| Outcome::Skipped(held_reason(paths, probe.pid)))
}

fn held_reason(paths: &Paths, pid: Option<i32>) -> String {
    let pid = pid.map_or("unknown".into(), |p| p.to_string());
    format!(
        "running: process {pid} holds the lock {}; stop it first (`kill {pid}`) if it must go",
        paths.in_dir(&paths.lock_file()).display()
    )
}

/// Checks, without owning or changing anything, that every object of the instance is
/// provably ours, and lists them (the lock file aside).
fn check_ours(dir: &RuntimeDir, paths: &Paths) -> Result<Vec<PathBuf>> {
    let lock = paths.lock_file();
    if let Some(st) = dir.stat(&lock)? {
        owned::check(&st, &paths.in_dir(&lock), Kind::Regular, 0o600)?;
    }
    claim::remove_leftovers(dir, paths, true)
}

/// Removes the objects of an instance whose name we own, then the lock file. `existed`:
/// the lock file was there before us (it is reported as removed).
fn remove(dir: &RuntimeDir, paths: &Paths, lock: InstanceLock, existed: bool) -> Outcome {
    let lock_path = lock.path().to_path_buf();
    match claim::remove_leftovers(dir, paths, false) {
        Ok(mut removed) => {
            if let Err(e) = lock.remove(dir) {
                return Outcome::Failed(format!("{e:#}"));
            }
            if existed {
                removed.push(lock_path);
            }
            listed(removed)
        }
        Err(e) => {
            // A lock file we made goes; one that was there stays, for another try.
            if !existed {
                let _ = lock.remove(dir);
            }
            Outcome::Failed(format!("{e:#}"))
        }
    }
}

// ---------------------------------------------------------------------------------------
// The report

#[derive(Debug, Serialize)]
struct Report {
    schema_version: u32,
    dry_run: bool,
    removed: Vec<Removed>,
    skipped: Vec<Skipped>,
    errors: Vec<Failure>,
    /// Print one line per action as it happens (not with `--json`).
    #[serde(skip)]
    human: bool,
}

#[derive(Debug, Serialize)]
struct Removed {
    name: String,
    paths: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Skipped {
    name: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct Failure {
    /// The instance, or null for a failure that concerns them all (the runtime directory).
    name: Option<String>,
    error: String,
}

impl Report {
    fn new(dry_run: bool, human: bool) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            dry_run,
            removed: Vec::new(),
            skipped: Vec::new(),
            errors: Vec::new(),
            human,
        }
    }

    /// Adds one instance's outcome; in human mode, prints its line at once.
    fn record(&mut self, name: Option<&InstanceName>, outcome: Outcome) -> Result<()> {
        let name = name.map(|n| n.to_string());
        if self.human {
            if let Some(line) = human_line(name.as_deref(), &outcome, self.dry_run) {
                output::write_stdout(format!("{line}\n").as_bytes())?;
            }
        }
        let named = || name.clone().unwrap_or_default();
        match outcome {
            Outcome::Removed(paths) => self.removed.push(Removed {
                name: named(),
                paths: paths.iter().map(|p| p.display().to_string()).collect(),
            }),
            Outcome::Skipped(reason) => self.skipped.push(Skipped {
                name: named(),
                reason,
            }),
            Outcome::Failed(error) => self.errors.push(Failure {
                name: name.clone(),
                error,
            }),
            Outcome::Nothing => {}
        }
        Ok(())
    }

    /// Prints the JSON report (with `--json`) and turns failures into the exit status.
    fn finish(self, json: bool) -> Result<Exit> {
        if json {
            let mut text = serde_json::to_vec(&self)?;
            text.push(b'\n');
            output::write_stdout(&text)?;
        } else if self.removed.is_empty() && self.skipped.is_empty() && self.errors.is_empty() {
            crate::info!("nothing to clean up");
        }
        match failure_message(&self.errors) {
            Some(message) => Err(exit::coded(Exit::Failure, message)),
            None => Ok(Exit::Success),
        }
    }
}

/// The line printed for one outcome without `--json`; none when nothing was done.
fn human_line(name: Option<&str>, outcome: &Outcome, dry_run: bool) -> Option<String> {
    let name = name.unwrap_or("(all)");
    match outcome {
        Outcome::Removed(paths) => {
            let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            let verb = if dry_run { "would remove" } else { "removed" };
            Some(format!("{verb} {name}: {}", list.join(" ")))
        }
        Outcome::Skipped(reason) => Some(format!("skipped {name}: {reason}")),
        // Failures are reported once, on stderr, by the final error.
        Outcome::Failed(_) | Outcome::Nothing => None,
    }
}

/// The final error when something failed: every failure, one per line.
fn failure_message(errors: &[Failure]) -> Option<String> {
    if errors.is_empty() {
        return None;
    }
    let lines: Vec<String> = errors
        .iter()
        .map(|f| match &f.name {
            Some(name) => format!("{name}: {}", f.error),
            None => f.error.clone(),
        })
        .collect();
    Some(format!(
        "cleanup failed for {} of the instances:\n  {}",
        errors.len(),
        lines.join("\n  ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_lines_say_what_was_done() {
        let removed = Outcome::Removed(vec!["/a".into(), "/b".into()]);
        assert_eq!(
            human_line(Some("x"), &removed, false).unwrap(),
            "removed x: /a /b"
        );
        assert_eq!(
            human_line(Some("x"), &removed, true).unwrap(),
            "would remove x: /a /b"
        );
        let skipped = Outcome::Skipped("running".into());
        assert_eq!(
            human_line(Some("x"), &skipped, false).unwrap(),
            "skipped x: running"
        );
        assert_eq!(human_line(Some("x"), &Outcome::Nothing, false), None);
        assert_eq!(
            human_line(Some("x"), &Outcome::Failed("e".into()), false),
            None
        );
    }

    #[test]
    fn failures_are_listed_one_per_line() {
        assert_eq!(failure_message(&[]), None);
        let errors = [
            Failure {
                name: Some("a".into()),
                error: "boom".into(),
            },
            Failure {
                name: None,
                error: "dir".into(),
            },
        ];
        let message = failure_message(&errors).unwrap();
        assert_eq!(
            message,
            "cleanup failed for 2 of the instances:\n  a: boom\n  dir"
        );
    }

    #[test]
    fn the_report_has_the_documented_shape() {
        let mut report = Report::new(false, false);
        let name: InstanceName = "demo".parse().unwrap();
        report
            .record(Some(&name), Outcome::Removed(vec!["/dev/shm/x".into()]))
            .unwrap();
        report
            .record(Some(&name), Outcome::Skipped("running".into()))
            .unwrap();
        report
            .record(None, Outcome::Failed("bad dir".into()))
            .unwrap();
        report.record(Some(&name), Outcome::Nothing).unwrap();
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "schema_version": 1,
                "dry_run": false,
                "removed": [{ "name": "demo", "paths": ["/dev/shm/x"] }],
                "skipped": [{ "name": "demo", "reason": "running" }],
                "errors": [{ "name": null, "error": "bad dir" }],
            })
        );
    }
}
