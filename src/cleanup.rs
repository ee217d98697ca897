//! `osps cleanup`: removes what crashed instances left behind (stale and partial
//! instances of the current user), and nothing else.
//!
//! Two steps. First a survey ([`plan`], from [`discover::survey`]) decides, changing
//! nothing, what would be removed and what is skipped and why; `--dry-run` prints that
//! plan. Then each planned removal is carried out by whoever owns the instance's name,
//! exactly as a starting primary recovers one: create the lock file, or take the lock of
//! an existing one that nobody holds; look again for a live primary (the kernel's word,
//! not the lock file's: see [`claim::live_primary`]); remove the objects that are provably
//! ours, by identity ([`claim::Leftovers`], which first stops an orphaned secondary); the
//! lock file goes last. A running instance is skipped, whatever became of its lock file,
//! and so is every object of another user, of an unexpected type or mode, or without the
//! osps header, with the reason. Two cleanups at once meet on the lock: the second waits
//! for the first and then finds nothing left, which is not an error.

use std::collections::BTreeMap;
use std::path::PathBuf;

use color_eyre::eyre::Result;
use nix::errno::Errno;
use serde::Serialize;

use crate::cli::CleanupArgs;
use crate::disk::lockfile::InstanceLock;
use crate::disk::names::{self, InstanceName, Paths};
use crate::disk::owned::{self, Kind};
use crate::disk::rundir::RuntimeDir;
use crate::exit::{self, Exit};
use crate::instance::claim;
use crate::instance::discover::{self, Status};
use crate::instance::holder;
use crate::output;
use crate::pair::segment;

/// The version of the `--json` report's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// How many times the name is looked at when, each time, its holder has exited by the time
/// it is looked at itself.
const OWN_ATTEMPTS: usize = 5;

/// What happened (or, in a plan, would happen) to one instance.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// These objects were removed (in a plan: would be).
    Removed(Vec<PathBuf>),
    /// Left alone on purpose, for it runs (or may be starting, or may be another runtime
    /// directory's): nothing of it is stale here. `quiet`: a healthy running instance,
    /// which is mentioned on the terminal only with `-v`.
    Skipped { reason: String, quiet: bool },
    /// Left alone because what stands at its paths is not provably osps's: a process that
    /// is not osps holds its lock or one of its objects, one stuck exiting holds the lock,
    /// or an object has the wrong type, owner, mode or contents. Nothing is done until the
    /// user acts (the reason says how): an error when the instance was named (`--name`),
    /// for the one thing asked was not done; in a sweep of all, one instance skipped while
    /// the others are cleaned.
    Refused(String),
    /// Something went wrong while removing.
    Failed(String),
    /// Nothing was left to remove (another cleanup got there first).
    Nothing,
}

impl Outcome {
    fn skipped(reason: String) -> Outcome {
        Outcome::Skipped {
            reason,
            quiet: false,
        }
    }
}

/// What cleanup will do, decided before anything changes.
struct Plan {
    runtime_dir: PathBuf,
    dir: Option<RuntimeDir>,
    /// Per instance, what would be done.
    steps: Vec<(Paths, Outcome)>,
    /// A failure concerning every instance (an unsafe runtime directory).
    error: Option<String>,
}

/// Runs `osps cleanup`.
pub fn run(args: &CleanupArgs) -> Result<Exit> {
    let runtime_dir = names::default_runtime_dir(args.select.runtime_dir.as_deref());
    let plan = plan(&runtime_dir, args.select.name.as_ref())?;
    let named = args.select.name.is_some();
    let mut report = Report::new(args.dry_run, !args.json, named);
    if let Some(e) = plan.error {
        report.record(None, Outcome::Failed(e))?;
        return report.finish(args.json);
    }
    if let (Some(name), true) = (&args.select.name, plan.steps.is_empty()) {
        // Nothing of that name exists: the code of status and stop for it, after the
        // (empty) report a script reads.
        report.write_json(args.json)?;
        return Err(discover::no_such_instance(name, &runtime_dir));
    }
    if args.dry_run {
        for (paths, outcome) in plan.steps {
            if let (Outcome::Removed(objects), false) = (&outcome, args.json) {
                // The real cleanup stops them first (claim::stop_holders): say so.
                let orphans = claim::holders(&paths, objects).orphans;
                if !orphans.is_empty() {
                    let pids: Vec<String> = orphans.iter().map(i32::to_string).collect();
                    output::write_stdout(
                        format!(
                            "would stop {}: orphaned secondary {} holding its objects \
                             (SIGTERM, then SIGKILL after a second)\n",
                            paths.name,
                            pids.join(", ")
                        )
                        .as_bytes(),
                    )?;
                }
            }
            report.record(Some(&paths.name), outcome)?;
        }
        return report.finish(args.json);
    }
    for (paths, outcome) in plan.steps {
        let outcome = match outcome {
            Outcome::Removed(_) => execute(plan.dir.as_ref(), &plan.runtime_dir, &paths),
            other => other,
        };
        report.record(Some(&paths.name), outcome)?;
    }
    report.finish(args.json)
}

/// Surveys the instances and decides, for each one with objects, what to do.
fn plan(runtime_dir: &std::path::Path, name: Option<&InstanceName>) -> Result<Plan> {
    let survey = discover::survey(runtime_dir, name)?;
    let mut plan = Plan {
        runtime_dir: survey.runtime_dir,
        dir: survey.dir,
        steps: Vec::new(),
        error: survey.dir_error,
    };
    if plan.error.is_some() {
        return Ok(plan);
    }
    let mut found: BTreeMap<InstanceName, discover::InstanceReport> = survey
        .instances
        .into_iter()
        .map(|i| (i.paths.name.clone(), i))
        .collect();
    // A half-made lock file (`.NAME.lock.PID`) of a dead process alone is a partial
    // instance, as the views show it.
    let named = name.is_some();
    let names: Vec<InstanceName> = match name {
        Some(name) => vec![name.clone()],
        None => discover::discover(plan.dir.as_ref())?.into_iter().collect(),
    };
    for name in names {
        let paths = Paths::new(name, plan.runtime_dir.clone());
        if !has_objects(plan.dir.as_ref(), &paths) {
            continue;
        }
        // Segments are per user, runtime directories are not: a segment with nothing of
        // its instance here may belong to an instance whose lock file and FIFOs are in
        // another runtime directory. Removing it would leave those orphaned, so only a
        // cleanup that names the instance removes it.
        if !named && !in_runtime_dir(plan.dir.as_ref(), &paths) {
            let reason = format!(
                "only its segment {} is here, nothing in {}: its other objects may be in \
                 another runtime directory; `osps cleanup --name {}` (with that \
                 --runtime-dir) removes it",
                paths.shm_path().display(),
                plan.runtime_dir.display(),
                paths.name
            );
            plan.steps.push((paths, Outcome::skipped(reason)));
            continue;
        }
        let outcome = decide(
            plan.dir.as_ref(),
            &paths,
            found.remove(&paths.name).as_ref(),
            named,
        );
        plan.steps.push((paths, outcome));
    }
    Ok(plan)
}

/// What to do with one instance, from what the survey saw and a check of its objects.
/// `named`: the user named it (`--name`), so even a healthy running instance left alone
/// is said to be, rather than passed over in silence.
fn decide(
    dir: Option<&RuntimeDir>,
    paths: &Paths,
    seen: Option<&discover::InstanceReport>,
    named: bool,
) -> Outcome {
    if let Some(seen) = seen.filter(|i| i.status == Status::Running) {
        let pid = seen.primary.pid;
        // Held by another cleanup, or by a process that has let go since the survey: the
        // lock decides between us when removing (`claim::own`), it is no reason to skip.
        let passing = seen.lock.held
            && matches!(
                holder::lock_holder(seen.lock.pid),
                holder::LockHolder::Cleanup | holder::LockHolder::Gone
            );
        if !passing {
            let quiet = seen.warnings.is_empty() && !named;
            match &seen.live {
                Some(live) if !seen.lock.held => {
                    return Outcome::Skipped {
                        reason: claim::running_without_lock(paths, live),
                        quiet,
                    };
                }
                _ => match held(paths, pid, quiet) {
                    // Its holder has exited since the survey: as if passing.
                    Outcome::Nothing => {}
                    outcome => return outcome,
                },
            }
        }
    }
    // A holder the survey found stuck exiting (after waiting for it): not ours to clean up
    // yet, and no failure of ours; said with what to do, without waiting for it again.
    if let Some(exiting) = seen.and_then(|i| i.exiting_lock_holder()) {
        return Outcome::Refused(exiting.to_string());
    }
    // A stranger holding the lock (which holds the lock file open, too): named as such,
    // as the removal would find it when it tries to own the name.
    match seen
        .filter(|i| i.lock.held)
        .map(|i| holder::holding(i.lock.pid, paths))
    {
        Some(stranger @ holder::Holding::Stranger { .. }) => {
            return Outcome::Refused(stranger.stranger_text(paths).unwrap_or_default());
        }
        Some(holder::Holding::Exiting(pid)) => {
            return Outcome::Refused(holder::exiting_text(paths, pid));
        }
        _ => {}
    }
    let Some(dir) = dir else {
        return match plan_segment(paths) {
            Ok(removed) => listed(removed),
            Err(e) => Outcome::Refused(format!("{e:#}")),
        };
    };
    match check_ours(dir, paths) {
        Ok(mut removed) => {
            if !matches!(dir.stat(&paths.lock_file()), Ok(None)) {
                removed.push(paths.in_dir(&paths.lock_file()));
            }
            // Another process with one of them open (a shell's `exec 3<>FIFO`, a tool):
            // not an orphan of ours to stop, and removing under it would surprise it.
            let holders = claim::holders(paths, &removed);
            match holders.refusal(paths) {
                // A live primary of the name (its lock elsewhere): it runs.
                Some(why) if holders.primary_first() => Outcome::skipped(why),
                Some(why) => Outcome::Refused(why),
                None => listed(removed),
            }
        }
        Err(e) => Outcome::Refused(format!("{e:#}")),
    }
}

/// Carries out a planned removal, owning the instance's name while doing so.
fn execute(dir: Option<&RuntimeDir>, runtime_dir: &std::path::Path, paths: &Paths) -> Outcome {
    execute_with(dir, runtime_dir, paths, || {})
}

/// [`execute`], calling `between` each time the name was found held, before its holder is
/// looked at again: the moment a test makes the holder exit.
fn execute_with(
    dir: Option<&RuntimeDir>,
    runtime_dir: &std::path::Path,
    paths: &Paths,
    mut between: impl FnMut(),
) -> Outcome {
    // A segment whose runtime directory is gone: removed without the lock, for cleanup
    // creates nothing (it made the directory to hold a lock file in, and left it).
    let Some(dir) = dir else {
        crate::info!(
            "the runtime directory {} does not exist: only the segment of {} is left to remove",
            runtime_dir.display(),
            paths.name
        );
        return match claim::remove_segment_without_dir(paths) {
            Ok(Some(removed)) => listed(removed),
            Ok(None) => Outcome::skipped(format!(
                "the runtime directory {} appeared meanwhile (a primary starting?): left alone; \
                 run cleanup again",
                runtime_dir.display()
            )),
            Err(e) => Outcome::Failed(format!("{e:#}")),
        };
    };
    for _ in 0..OWN_ATTEMPTS {
        match claim::own(dir, paths) {
            Ok(claim::Owner::Created(lock)) => return remove(dir, paths, lock, false),
            Ok(claim::Owner::Taken(lock)) => return remove(dir, paths, lock, true),
            // Held when `own` looked; a holder gone since let go of the name: again.
            Ok(claim::Owner::Held(pid)) => {
                between();
                match held(paths, pid, false) {
                    Outcome::Nothing => {}
                    outcome => return outcome,
                }
            }
            Err(e) => return Outcome::Failed(format!("{e:#}")),
        }
    }
    Outcome::Failed(format!(
        "the lock {} kept changing hands (osps starting or stopping at the same moment?); \
         try again",
        paths.in_dir(&paths.lock_file()).display()
    ))
}

/// Whether any object of the instance exists (a name with none is not touched at all).
fn has_objects(dir: Option<&RuntimeDir>, paths: &Paths) -> bool {
    in_runtime_dir(dir, paths) || segment_exists(paths)
}

fn segment_exists(paths: &Paths) -> bool {
    !matches!(nix::sys::stat::lstat(&paths.shm_path()), Err(Errno::ENOENT))
}

/// Whether any object of the instance (or a half-made lock file) is in this runtime
/// directory.
fn in_runtime_dir(dir: Option<&RuntimeDir>, paths: &Paths) -> bool {
    dir.is_some_and(|dir| {
        std::iter::once(paths.lock_file())
            .chain(
                claim::runtime_files(paths)
                    .into_iter()
                    .map(|(file, _)| file),
            )
            .any(|file| !matches!(dir.stat(&file), Ok(None)))
            || !InstanceLock::stale_temps(dir, paths).is_empty()
    })
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

/// What to do with an instance whose lock `pid` holds, looked at now: skip it (running)
/// when an osps primary or cleanup holds it, refuse it when a stranger does, and
/// [`Outcome::Nothing`] when the holder has exited since it was seen, for then the name
/// is nobody's: look at it again ([`holder::holding`]).
fn held(paths: &Paths, pid: Option<i32>, quiet: bool) -> Outcome {
    let holding = holder::holding(pid, paths);
    if let Some(why) = holding.stranger_text(paths) {
        return Outcome::Refused(why);
    }
    if let holder::Holding::Exiting(pid) = holding {
        return Outcome::Refused(holder::exiting_text(paths, pid));
    }
    let holder::Holding::Osps(pid) = holding else {
        return Outcome::Nothing;
    };
    Outcome::Skipped {
        reason: format!(
            "running: process {pid} holds the lock {}; stop it first (`osps stop {}`) if it \
             must go",
            paths.in_dir(&paths.lock_file()).display(),
            paths.name
        ),
        quiet,
    }
}

/// Checks, without owning or changing anything, that every object of the instance is
/// provably ours, and lists them (the lock file aside).
fn check_ours(dir: &RuntimeDir, paths: &Paths) -> Result<Vec<PathBuf>> {
    let lock = paths.lock_file();
    if let Some(st) = dir.stat(&lock)? {
        owned::check(&st, &paths.in_dir(&lock), Kind::Regular, 0o600)?;
    }
    Ok(claim::survey_leftovers(dir, paths)?.paths())
}

/// Removes the objects of an instance whose name we own, then the lock file. `existed`:
/// the lock file was there before us (it is reported as removed). A live primary found
/// now (the plan is a moment old) leaves everything in place.
fn remove(dir: &RuntimeDir, paths: &Paths, lock: InstanceLock, existed: bool) -> Outcome {
    if let Some(live) = claim::live_primary(paths) {
        if !existed {
            let _ = lock.remove(dir);
        }
        return Outcome::skipped(claim::running_without_lock(paths, &live));
    }
    let lock_path = lock.path().to_path_buf();
    match claim::survey_leftovers(dir, paths).and_then(|left| left.remove(dir, paths)) {
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
    /// How many lines were printed (to say "nothing to clean up" otherwise).
    #[serde(skip)]
    printed: usize,
    /// The user named the instance (`--name`): a refusal is then an error.
    #[serde(skip)]
    named: bool,
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
    fn new(dry_run: bool, human: bool, named: bool) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            dry_run,
            removed: Vec::new(),
            skipped: Vec::new(),
            errors: Vec::new(),
            human,
            printed: 0,
            named,
        }
    }

    /// Adds one instance's outcome; in human mode, prints its line at once. A refusal is
    /// an error of a named instance, else a skip (see [`Outcome::Refused`]); a dry run
    /// reports it the same way, so that it says what the cleanup would exit with.
    fn record(&mut self, name: Option<&InstanceName>, outcome: Outcome) -> Result<()> {
        let outcome = match outcome {
            Outcome::Refused(reason) if self.named => Outcome::Failed(reason),
            other => other,
        };
        let name = name.map(|n| n.to_string());
        if self.human {
            if let Some(line) = human_line(name.as_deref(), &outcome, self.dry_run) {
                output::write_stdout(format!("{line}\n").as_bytes())?;
                self.printed += 1;
            }
        }
        let named = || name.clone().unwrap_or_default();
        match outcome {
            Outcome::Removed(paths) => self.removed.push(Removed {
                name: named(),
                paths: paths.iter().map(|p| p.display().to_string()).collect(),
            }),
            Outcome::Skipped { reason, .. } | Outcome::Refused(reason) => {
                self.skipped.push(Skipped {
                    name: named(),
                    reason,
                })
            }
            Outcome::Failed(error) => self.errors.push(Failure {
                name: name.clone(),
                error,
            }),
            Outcome::Nothing => {}
        }
        Ok(())
    }

    /// Prints the JSON report, with `--json`.
    fn write_json(&self, json: bool) -> Result<()> {
        if json {
            let mut text = serde_json::to_vec(self)?;
            text.push(b'\n');
            output::write_stdout(&text)?;
        }
        Ok(())
    }

    /// Prints the JSON report (with `--json`) and turns failures into the exit status.
    fn finish(self, json: bool) -> Result<Exit> {
        self.write_json(json)?;
        if !json && self.printed == 0 && self.errors.is_empty() {
            // Healthy running instances (skipped quietly) are nothing to clean up either.
            crate::info!("nothing to clean up");
        }
        match failure_message(&self.errors, self.dry_run) {
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
        // A healthy running instance is no news, unless asked for with -v.
        Outcome::Skipped { quiet: true, .. } if crate::log::level() < 1 => None,
        Outcome::Skipped { reason, .. } | Outcome::Refused(reason) => {
            Some(format!("skipped {name}: {reason}"))
        }
        // Failures are reported once, on stderr, by the final error.
        Outcome::Failed(_) | Outcome::Nothing => None,
    }
}

/// The final error when something failed (in a dry run: would fail): every failure, one
/// per line.
fn failure_message(errors: &[Failure], dry_run: bool) -> Option<String> {
    if errors.is_empty() {
        return None;
    }
    let failed = if dry_run { "would fail" } else { "failed" };
    // One instance (as with --name): said as one, not "1 of the instances".
    if let [
        Failure {
            name: Some(name),
            error,
        },
    ] = errors
    {
        return Some(format!("cleanup {failed} for instance {name}: {error}"));
    }
    // One failure of no instance (the runtime directory itself refused): no count.
    if let [Failure { name: None, error }] = errors {
        return Some(format!("cleanup {failed}: {error}"));
    }
    let lines: Vec<String> = errors
        .iter()
        .map(|f| match &f.name {
            Some(name) => format!("{name}: {}", f.error),
            None => f.error.clone(),
        })
        .collect();
    // A dry run tried nothing: what it found is what the cleanup would fail on.
    Some(format!(
        "cleanup {failed} for {} of the instances:\n  {}",
        errors.len(),
        lines.join("\n  ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_whose_lock_holder_has_exited_since_the_survey_is_not_skipped_as_running() {
        let (_tmp, dir, paths) = crate::disk::testlock::stale_lock("ended");
        // The survey saw the lock held by a process (another cleanup) that has exited
        // since, letting go of the lock without removing this lock file.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let pid = gone.id() as i32;
        gone.wait().unwrap();
        let mut seen = discover::examine(Some(&dir), &paths).unwrap();
        seen.status = Status::Running;
        seen.lock.held = true;
        seen.lock.pid = Some(pid);
        let outcome = decide(Some(&dir), &paths, Some(&seen), true);
        assert_eq!(
            outcome,
            Outcome::Removed(vec![paths.in_dir(&paths.lock_file())])
        );
    }

    #[test]
    fn a_lock_holder_that_exits_before_cleanup_names_it_leaves_the_name_to_clean() {
        let (_tmp, dir, paths) = crate::disk::testlock::stale_lock("cleangone");
        let lock = paths.in_dir(&paths.lock_file());
        let mut holder = crate::disk::testlock::Holder::lock(&lock);
        // Held when cleanup tries to own the name; the holder exits before it is looked
        // at (a primary stopping, another cleanup done): it is nobody to blame, and the
        // name is free to clean.
        let outcome = execute_with(Some(&dir), &paths.runtime_dir, &paths, || holder.end());
        assert_eq!(outcome, Outcome::Removed(vec![lock]));
    }

    #[test]
    fn a_refusal_is_an_error_of_a_named_instance_and_a_skip_in_a_sweep() {
        let name: InstanceName = "demo".parse().unwrap();
        for named in [true, false] {
            let mut report = Report::new(false, false, named);
            let refused = Outcome::Refused("a stranger holds its lock".into());
            report.record(Some(&name), refused).unwrap();
            assert_eq!(report.errors.len(), usize::from(named));
            assert_eq!(report.skipped.len(), usize::from(!named));
            // What `finish` turns into exit status 1.
            assert_eq!(failure_message(&report.errors, false).is_some(), named);
        }
    }

    /// A lock holder stuck on its way out, in a sweep of all: that instance is left alone
    /// with the reason (a refusal: an error only when named), not counted as a cleanup
    /// that failed (it used to be, after waiting for the holder twice more).
    #[test]
    fn a_lock_holder_stuck_exiting_is_a_refusal_not_a_failure() {
        let (_tmp, _dir, paths) = crate::disk::testlock::stale_lock("sweepexiting");
        let holder = crate::disk::testlock::Holder::lock_exiting(&paths.in_dir(&paths.lock_file()));
        let plan = plan(&paths.runtime_dir, None).unwrap();
        // (Segments are per user, not per runtime directory: others' may be in the plan.)
        let Some((_, outcome)) = plan.steps.iter().find(|(p, _)| p.name == paths.name) else {
            panic!("{:?}", plan.steps);
        };
        let Outcome::Refused(why) = outcome else {
            panic!("{outcome:?}");
        };
        assert!(
            why.contains(&format!("process {}, which is exiting", holder.pid())),
            "{why}"
        );
    }

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
        let skipped = Outcome::skipped("running".into());
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
    fn a_dry_run_says_the_cleanup_would_fail_not_that_it_failed() {
        let name: InstanceName = "demo".parse().unwrap();
        for (dry_run, said) in [
            (true, "cleanup would fail for instance demo: a stranger"),
            (false, "cleanup failed for instance demo: a stranger"),
        ] {
            let mut report = Report::new(dry_run, false, true);
            let refused = Outcome::Refused("a stranger holds its lock".into());
            report.record(Some(&name), refused).unwrap();
            let message = format!("{:#}", report.finish(false).unwrap_err());
            assert!(message.starts_with(said), "{message}");
        }
    }

    #[test]
    fn failures_are_listed_one_per_line() {
        assert_eq!(failure_message(&[], false), None);
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
        let message = failure_message(&errors, false).unwrap();
        assert_eq!(
            message,
            "cleanup failed for 2 of the instances:\n  a: boom\n  dir"
        );
        // One named instance, as `cleanup --name a` fails: one line that names it.
        assert_eq!(
            failure_message(&errors[..1], true).unwrap(),
            "cleanup would fail for instance a: boom"
        );
        // The runtime directory refused, no instance looked at: no "1 of the instances".
        assert_eq!(
            failure_message(&errors[1..], false).unwrap(),
            "cleanup failed: dir"
        );
    }

    #[test]
    fn the_report_has_the_documented_shape() {
        let mut report = Report::new(false, false, false);
        let name: InstanceName = "demo".parse().unwrap();
        report
            .record(Some(&name), Outcome::Removed(vec!["/dev/shm/x".into()]))
            .unwrap();
        report
            .record(Some(&name), Outcome::skipped("running".into()))
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
