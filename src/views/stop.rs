//! `osps stop [NAME] [--all]`: stops a running instance the way SIGTERM does, and waits.
//!
//! The primary to signal comes from the instance's lock, never from a pid written in a
//! file: the kernel names the process that holds the lock, and before signalling it we
//! check that it is an `osps primary` that holds that very lock file open (a pid can be
//! reused; a lock dies with its holder). The primary then stops in order by itself
//! (secondaries first, reaped, objects removed); we only watch it go. Past `--timeout`
//! it is hung or stopped (SIGSTOP): without `--kill` that is a failure naming the pid;
//! with `--kill`, the primary and its secondaries get SIGKILL and what they left is
//! removed by [`crate::instance::claim`], exactly as `osps cleanup` would.

use std::path::Path;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use nix::sys::signal::Signal;

use crate::cli::StopArgs;
use crate::disk::names::{self, InstanceName};
use crate::exit::{self, Exit};
use crate::instance::claim::{self, Owner};
use crate::instance::discover::{self, InstanceReport, Status, Survey};
use crate::instance::holder::{self, Holding, LockHolder};
use crate::os::pidfd::{self, Process};
use crate::os::procfs;

/// How long a SIGKILLed process may take to disappear.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// Runs `osps stop`.
pub fn run(args: &StopArgs) -> Result<Exit> {
    let runtime_dir = names::default_runtime_dir(args.runtime_dir.as_deref());
    if args.all {
        return stop_all(&runtime_dir, args);
    }
    let name = crate::cli::name_or_default(args.given_name())?;
    let survey = survey_once_started(&runtime_dir, &name)?;
    let Some(instance) = survey.instances.first() else {
        return Err(discover::no_such_instance(&name, &runtime_dir));
    };
    if instance.status != Status::Running {
        nothing_to_stop(instance, "is not running");
        return Ok(Exit::Success);
    }
    stop_one(&survey, instance, args, false)?;
    Ok(Exit::Success)
}

/// Says that an instance which is not running has nothing to stop, and what removes what
/// it left; `how`: "is not running", or how it came to be not running.
fn nothing_to_stop(instance: &InstanceReport, how: &str) {
    crate::info!("{}", nothing_to_stop_text(instance, how));
}

/// The line [`nothing_to_stop`] prints.
fn nothing_to_stop_text(instance: &InstanceReport, how: &str) -> String {
    let name = &instance.name;
    let status = crate::views::render::status_word(instance.status);
    // Its lock held by a process stuck exiting: cleanup would refuse for that very reason.
    if let Some(exiting) = instance.exiting_lock_holder() {
        return format!("instance {name} {how} ({status}): nothing to stop; but {exiting}");
    }
    let foreign = crate::views::render::describe::foreign_objects(instance);
    if !foreign.is_empty() {
        return format!(
            "instance {name} {how} ({status}): nothing to stop; but what stands at its paths \
             is not all osps's: {}; once that is moved away, `osps cleanup --name {name}` \
             removes the rest",
            foreign.join("; ")
        );
    }
    format!(
        "instance {name} {how} ({status}): nothing to stop; remove what it left with `osps \
         cleanup --name {name}`"
    )
}

/// Stops every running instance of the runtime directory (its lock file here held); the
/// others are left to `osps cleanup`. One failure does not stop the others from stopping.
fn stop_all(runtime_dir: &Path, args: &StopArgs) -> Result<Exit> {
    let survey = survey(runtime_dir, None)?;
    // Only instances whose lock file here is held: a primary found otherwise (its lock in
    // another runtime directory, or its lock file gone) is not this directory's to stop.
    let running: Vec<&InstanceReport> = survey
        .instances
        .iter()
        .filter(|i| i.status == Status::Running && i.lock.held)
        .collect();
    if running.is_empty() {
        crate::info!("no running instance in {}", runtime_dir.display());
        return Ok(Exit::Success);
    }
    let mut failed = Vec::new();
    for instance in running {
        if let Err(e) = stop_one(&survey, instance, args, true) {
            crate::warn!("{e:#}");
            failed.push(instance.name.clone());
        }
    }
    if failed.is_empty() {
        Ok(Exit::Success)
    } else {
        Err(exit::coded(
            Exit::Failure,
            format!(
                "{} of the running instances did not stop: {}",
                failed.len(),
                failed.join(", ")
            ),
        ))
    }
}

fn survey(runtime_dir: &Path, name: Option<&InstanceName>) -> Result<Survey> {
    let survey = quiet_survey(runtime_dir, name)?;
    warn_of_the_dir(&survey);
    Ok(survey)
}

fn quiet_survey(runtime_dir: &Path, name: Option<&InstanceName>) -> Result<Survey> {
    discover::survey(runtime_dir, name)
        .wrap_err_with(|| format!("surveying the instances of {}", runtime_dir.display()))
}

fn warn_of_the_dir(survey: &Survey) {
    if let Some(why) = &survey.dir_error {
        // Nothing in it is used: the primary is found and checked through /proc (as
        // when the directory is gone), and only that process is signalled.
        crate::warn!("{why}; looking for the primary without it");
    }
}

/// How long stop waits for an instance whose primary started a moment ago and is not
/// running yet (`osps primary & osps stop`), as `osps client` waits to connect.
const APPEAR: Duration = Duration::from_secs(1);

/// The survey of instance `name`; while it is not running, or its primary holds the lock
/// but has not made its segment yet, and a process of `osps primary` for that name is
/// there (starting), looked at again, for up to [`APPEAR`].
/// Without such a process (a typo, an instance that crashed) there is no wait.
fn survey_once_started(runtime_dir: &Path, name: &InstanceName) -> Result<Survey> {
    let started = Instant::now();
    let survey = loop {
        let survey = quiet_survey(runtime_dir, Some(name))?;
        // Running as stop needs it: its primary is live (it holds the lock and made its
        // segment), not only holding the lock on its way to making it.
        let running = survey.instances.first().is_some_and(|i| {
            i.status == Status::Running && claim::live_primary(&i.paths).is_some()
        });
        if running || started.elapsed() >= APPEAR || !primary_starting(name) {
            break survey;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    warn_of_the_dir(&survey);
    Ok(survey)
}

/// Whether a process runs `osps primary` for instance `name`.
fn primary_starting(name: &InstanceName) -> bool {
    let name = name.to_string();
    procfs::pids().any(|pid| {
        procfs::subcommand(pid).as_deref() == Some("primary")
            && procfs::runs_osps(pid)
            && procfs::instance_name(pid).is_some_and(|n| n == name)
    })
}

/// What the survey's instance comes to when it is looked at again to be stopped.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// Its live primary: the process to signal.
    Primary(i32),
    /// An `osps cleanup` (this pid) holds its lock: it is removing what a crashed primary
    /// left, so the instance is not running and there is nothing to stop.
    BeingCleaned(i32),
    /// The process that held its lock when the survey looked has exited since (a primary
    /// stopping by itself, a cleanup done): the instance ended or changed hands while we
    /// looked, so what the survey said of it is no longer true; look again.
    HolderGone,
}

/// The pid of the instance's live primary, found and checked as `osps cleanup` and a
/// starting primary do ([`claim::live_primary`]): a process holding a POSIX lock on a file
/// named `NAME.lock` that runs `osps primary` for this name. It must hold the lock of this
/// runtime directory: a primary whose objects are in another one is left to
/// `osps stop --runtime-dir` there. `--all` takes only instances whose lock file here is
/// held, never one found otherwise.
fn live_primary(instance: &InstanceReport, all: bool) -> Result<Target> {
    let name = &instance.name;
    // The lock's holder as the survey saw it, looked at now: one that has exited is no
    // reason to refuse, nor a process to name ("holds the lock but is not one").
    let held_by = instance.lock.pid.filter(|_| instance.lock.held);
    let gone = || held_by.is_some() && holder::lock_holder(held_by) == LockHolder::Gone;
    match held_by.map(|pid| (pid, holder::lock_holder(Some(pid)))) {
        Some((_, LockHolder::Gone)) => return Ok(Target::HolderGone),
        Some((pid, LockHolder::Cleanup)) => return Ok(Target::BeingCleaned(pid)),
        Some((pid, LockHolder::Exiting)) => bail!(
            "{}; not signalling anything",
            holder::exiting_text(&instance.paths, pid)
        ),
        Some((_, LockHolder::Other)) | None => {}
    }
    let Some(live) = claim::live_primary(&instance.paths) else {
        // The primary (or cleanup) that held the lock may have exited after our look at
        // it and before the kernel was asked for a primary.
        if gone() {
            return Ok(Target::HolderGone);
        }
        bail!(
            "no live osps primary of instance {name} was found{}; not signalling anything: look \
             with `osps status {name}`",
            held_by
                .map(|p| format!(" (process {p} holds {} but is not one)", instance.lock.path))
                .unwrap_or_default()
        );
    };
    if let Some(held) = &live.lock {
        let text = held.to_string_lossy();
        let held = Path::new(text.strip_suffix(" (deleted)").unwrap_or(&text));
        let here = std::fs::canonicalize(&instance.paths.runtime_dir)
            .unwrap_or_else(|_| instance.paths.runtime_dir.clone());
        if let Some(there) = held.parent().filter(|p| *p != here) {
            bail!(
                "the primary of instance {name} (pid {}) holds its lock in {}, not here: stop it \
                 with `osps stop {name} --runtime-dir {}`",
                live.pid,
                there.display(),
                there.display()
            );
        }
    }
    if instance.lock.held && instance.lock.pid != Some(live.pid) {
        if gone() {
            // Another primary started once the one the survey saw had let go.
            return Ok(Target::HolderGone);
        }
        let holder = match instance.lock.pid {
            Some(p) if !holder::is_osps_holder(p, &instance.paths) => {
                format!("{p} ({}), which is not osps,", procfs::command_text(p))
            }
            Some(p) => p.to_string(),
            None => "unknown".into(),
        };
        bail!(
            "the lock {} is held by process {holder} but the primary of instance {name} is \
             process {}; not signalling either: look with `osps status {name}`",
            instance.lock.path,
            live.pid
        );
    }
    if all && !instance.lock.held {
        bail!(
            "instance {name} runs (pid {}) without holding its lock file {}; --all leaves it \
             alone: stop it by name (`osps stop {name}`)",
            live.pid,
            instance.lock.path
        );
    }
    Ok(Target::Primary(live.pid))
}

/// The live secondaries of the instance (pids that hold their FIFOs and run
/// `osps secondary`): the ones `--kill` must not leave behind.
fn live_secondaries(instance: &InstanceReport) -> Vec<i32> {
    let mut pids: Vec<i32> = instance
        .secondaries
        .iter()
        .filter(|m| m.alive)
        .filter_map(|m| m.pid)
        .filter(|&p| procfs::subcommand(p).as_deref() == Some("secondary"))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// How many times an instance is looked at again when, each time, the holder of its lock
/// has exited since the look before.
const LOOKS: usize = 5;

/// Stops one running instance; `Err` names what went wrong and what to do.
fn stop_one(survey: &Survey, instance: &InstanceReport, args: &StopArgs, all: bool) -> Result<()> {
    let name = &instance.name;
    let started = Instant::now();
    // The survey's report, then the one of each new look.
    let mut fresh: Option<InstanceReport> = None;
    let mut looks = 0;
    let (instance, primary) = loop {
        let current = fresh.as_ref().unwrap_or(instance);
        match live_primary(current, all)? {
            Target::Primary(pid) => break (current, pid),
            Target::BeingCleaned(pid) => {
                crate::info!(
                    "instance {name} is being removed by `osps cleanup` (process {pid}): it is \
                     not running; nothing to stop"
                );
                return Ok(());
            }
            Target::HolderGone => {}
        }
        looks += 1;
        if looks == LOOKS {
            bail!(
                "the lock of instance {name} kept changing hands while we looked (osps \
                 starting and stopping at the same moment?); not signalling anything: try again"
            );
        }
        match discover::examine(survey.dir.as_ref(), &instance.paths) {
            None => {
                crate::info!(
                    "instance {name} ended while we looked, leaving nothing: nothing to stop"
                );
                return Ok(());
            }
            Some(now) if now.status != Status::Running => {
                nothing_to_stop(&now, "ended while we looked: it is not running");
                return Ok(());
            }
            // Running still, or again: another primary, or one found otherwise.
            Some(now) => fresh = Some(now),
        }
    };
    // Handles first, then the check that each pid is still what the survey saw: from then
    // on a signal can only reach that very process, whatever pids get reused meanwhile.
    let Some(handle) = Process::open(primary)? else {
        crate::info!("instance {name}: primary {primary} exited before it was signalled");
        return Ok(());
    };
    if procfs::subcommand(primary).as_deref() != Some("primary") {
        bail!("process {primary} is no longer the primary of instance {name}; not signalled");
    }
    let mut secondaries = Vec::new();
    for pid in live_secondaries(instance) {
        if let Some(p) = Process::open(pid)? {
            if procfs::subcommand(pid).as_deref() == Some("secondary") {
                secondaries.push(p);
            }
        }
    }
    handle
        .signal(Signal::SIGTERM)
        .wrap_err_with(|| format!("sending SIGTERM to primary {primary} of instance {name}"))?;
    if handle.exited_within(args.timeout) {
        let left = discover::examine(survey.dir.as_ref(), &instance.paths);
        if let Some(left) = left {
            let what = crate::views::render::status_word(left.status);
            if args.kill {
                crate::warn!(
                    "primary {primary} of instance {name} exited but left objects ({what}); \
                     removing them"
                );
                return remove(survey, instance).map(drop);
            }
            let foreign = crate::views::render::describe::foreign_objects(&left);
            if !foreign.is_empty() {
                // Not its own: cleanup would leave them too, so say what to move away.
                bail!(
                    "primary {primary} of instance {name} stopped, but what it did not make is \
                     still at its paths: {}",
                    foreign.join("; ")
                );
            }
            bail!(
                "primary {primary} of instance {name} exited but left objects ({what}); \
                 remove them with `osps cleanup --name {name}`"
            );
        }
        crate::info!(
            "stopped instance {name}: primary {primary} exited in order after {}ms",
            started.elapsed().as_millis()
        );
        return Ok(());
    }
    if !args.kill {
        return Err(exit::coded(
            Exit::Failure,
            format!(
                "primary {primary} of instance {name} did not stop within --timeout {:?} of \
                 SIGTERM (hung, or stopped with SIGSTOP?); it still runs: `osps stop --kill \
                 {name}` kills it and its secondaries",
                args.timeout
            ),
        ));
    }
    crate::warn!(
        "primary {primary} of instance {name} did not stop within --timeout {:?}; killing it \
         and its secondaries",
        args.timeout
    );
    // The primary first, so that it cannot restart the secondaries we kill next.
    handle.signal(Signal::SIGKILL)?;
    if !handle.exited_within(KILL_WAIT) {
        bail!("primary {primary} of instance {name} survived SIGKILL for {KILL_WAIT:?}");
    }
    for p in &secondaries {
        p.signal(Signal::SIGKILL)?;
    }
    let gone = pidfd::all_exited_within(&secondaries, KILL_WAIT);
    let secondaries: Vec<i32> = secondaries.iter().map(Process::pid).collect();
    if !gone {
        bail!("secondaries {secondaries:?} of instance {name} survived SIGKILL for {KILL_WAIT:?}");
    }
    let removed = if remove(survey, instance)? {
        "removed its objects"
    } else {
        "its objects are left to that cleanup"
    };
    crate::info!(
        "killed instance {name}: primary {primary} and secondaries {secondaries:?}; {removed}"
    );
    Ok(())
}

/// Removes what a killed instance left, owning its name as `osps cleanup` does. `false`:
/// an `osps cleanup` holds the name and removes them (said here).
fn remove(survey: &Survey, instance: &InstanceReport) -> Result<bool> {
    remove_with(survey, instance, || {})
}

/// [`remove`], calling `between` each time the name was found held, before its holder is
/// looked at again: the moment a test makes the holder exit.
fn remove_with(
    survey: &Survey,
    instance: &InstanceReport,
    mut between: impl FnMut(),
) -> Result<bool> {
    let name = &instance.name;
    let dir = survey
        .dir
        .as_ref()
        .ok_or_else(|| eyre!("the runtime directory of instance {name} is gone"))?;
    let paths = &instance.paths;
    let mut owned = None;
    for _ in 0..LOOKS {
        match claim::own(dir, paths)? {
            Owner::Created(lock) => owned = Some((lock, false)),
            Owner::Taken(lock) => owned = Some((lock, true)),
            // Held when `own` looked: who holds it is looked at now, for a holder that
            // has exited since (the killed primary's last moments) took nothing over.
            Owner::Held(pid) => {
                between();
                match holder::holding(pid, paths) {
                    Holding::Gone => continue,
                    Holding::Osps(pid) if holder::is_cleanup(Some(pid)) => {
                        crate::info!(
                            "instance {name}: `osps cleanup` (process {pid}) is removing what \
                             it left"
                        );
                        return Ok(false);
                    }
                    Holding::Osps(pid) => bail!(
                        "instance {name} was taken over by process {pid}, a new osps primary, \
                         while being stopped; left alone: it runs (`osps stop {name}` stops it)"
                    ),
                    Holding::Exiting(pid) => bail!("{}", holder::exiting_text(paths, pid)),
                    stranger @ Holding::Stranger { .. } => {
                        bail!("{}", stranger.stranger_text(paths).unwrap_or_default())
                    }
                }
            }
        }
        break;
    }
    let Some((lock, existed)) = owned else {
        bail!(
            "the lock of instance {name} kept changing hands while what it left was to be \
             removed; remove it with `osps cleanup --name {name}`"
        );
    };
    // Another primary of the name may have started meanwhile: never remove its objects.
    let removed = match claim::live_primary(paths) {
        Some(live) => Err(eyre!("{}", claim::running_without_lock(paths, &live))),
        None => claim::survey_leftovers(dir, paths).and_then(|left| left.remove(dir, paths)),
    };
    if let Err(e) = removed {
        // A lock file we made goes; one that was there stays for `osps cleanup` to retry.
        if !existed {
            let _ = lock.remove(dir);
        }
        return Err(e).wrap_err_with(|| {
            format!(
                "removing the objects of instance {name}; see `osps status {name}` and retry \
                 with `osps cleanup --name {name}`"
            )
        });
    }
    lock.remove(dir)
        .wrap_err_with(|| format!("removing the lock file of instance {name}"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::disk::testlock::{Holder, stale_lock};

    /// `osps stop`'s arguments for one instance, without `--kill`.
    fn args() -> StopArgs {
        StopArgs {
            name: None,
            name_option: None,
            all: false,
            timeout: Duration::from_secs(1),
            kill: false,
            runtime_dir: None,
        }
    }

    #[test]
    fn a_lock_holder_that_exits_after_the_survey_ends_the_instance_and_is_not_blamed() {
        let (_tmp, _dir, paths) = stale_lock("stopgone");
        let mut holder = Holder::lock(&paths.in_dir(&paths.lock_file()));
        let mut survey = discover::survey(&paths.runtime_dir, Some(&paths.name)).unwrap();
        // The survey saw the lock held (as by a primary, or a cleanup, about to finish);
        // the holder exits before stop looks at it.
        let seen = &mut survey.instances[0];
        assert!(
            seen.lock.held && seen.lock.pid == Some(holder.pid()),
            "{seen:?}"
        );
        seen.status = Status::Running;
        holder.end();
        let seen = &survey.instances[0];
        assert_eq!(live_primary(seen, false).unwrap(), Target::HolderGone);
        // A fresh look finds the instance ended (its lock file left, unheld): nothing to
        // stop, as for any instance that is not running, and no process named.
        stop_one(&survey, seen, &args(), false).unwrap();
    }

    /// Removes a file when dropped, even when the test fails.
    struct Removed(std::path::PathBuf);

    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// `osps cleanup --name` refuses (exit 1) an instance whose lock a stranger holds or
    /// whose segment is not osps's: stop must not send the user there as if it would
    /// remove them, but name what stands in the way.
    #[test]
    fn nothing_to_stop_names_a_stranger_lock_holder_and_a_foreign_segment() {
        let (_tmp, _dir, paths) = stale_lock("stopforeign");
        let holder = Holder::lock(&paths.in_dir(&paths.lock_file()));
        let survey = discover::survey(&paths.runtime_dir, Some(&paths.name)).unwrap();
        let seen = &survey.instances[0];
        assert_ne!(seen.status, Status::Running, "{seen:?}");
        let text = nothing_to_stop_text(seen, "is not running");
        assert!(
            text.contains(&format!("held by process {}", holder.pid()))
                && text.contains("once that is moved away"),
            "{text}"
        );
        drop(holder);

        let (_tmp, _dir, paths) = stale_lock("stopforeignseg");
        let seg = Removed(paths.shm_path());
        std::fs::write(&seg.0, b"not an osps header").unwrap();
        std::fs::set_permissions(&seg.0, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let survey = discover::survey(&paths.runtime_dir, Some(&paths.name)).unwrap();
        let seen = &survey.instances[0];
        let text = nothing_to_stop_text(seen, "is not running");
        assert!(
            text.contains("does not hold an osps header")
                && text.contains("once that is moved away"),
            "{text}"
        );
    }

    /// A cleanup removing what a crashed primary left holds the lock: the instance is not
    /// running, so stop has nothing to do and says so with exit 0, as for any instance
    /// that is not running (it used to fail: "being removed ...; nothing to stop", exit 1).
    #[test]
    fn an_instance_a_cleanup_is_removing_is_not_running_and_stop_succeeds() {
        // Command lines read as main has them read (unit tests start without it).
        crate::os::procfs::read_command_lines_with(crate::cli::invocation_of);
        let (_tmp, _dir, paths) = stale_lock("stopclean");
        let holder = Holder::lock_as_osps_cleanup(&paths.in_dir(&paths.lock_file()), "stopclean");
        assert_eq!(
            crate::os::procfs::subcommand(holder.pid()).as_deref(),
            Some("cleanup"),
            "the holder reads as a cleanup"
        );
        let survey = discover::survey(&paths.runtime_dir, Some(&paths.name)).unwrap();
        let seen = &survey.instances[0];
        assert!(seen.lock.held, "{seen:?}");
        assert_eq!(
            live_primary(seen, false).unwrap(),
            Target::BeingCleaned(holder.pid())
        );
        stop_one(&survey, seen, &args(), false).unwrap();
    }

    /// The lock held by a process stuck exiting: nothing to stop, and the hint is what to
    /// do about that process, not a cleanup that would refuse for the same reason.
    #[test]
    fn an_instance_whose_lock_holder_is_stuck_exiting_names_it_not_cleanup() {
        let (_tmp, _dir, paths) = stale_lock("stopstuck");
        let holder = Holder::lock_exiting(&paths.in_dir(&paths.lock_file()));
        let survey = discover::survey(&paths.runtime_dir, Some(&paths.name)).unwrap();
        let seen = &survey.instances[0];
        assert_ne!(seen.status, Status::Running);
        let text = nothing_to_stop_text(seen, "is not running");
        assert!(
            text.contains(&format!("process {}, which is exiting", holder.pid()))
                && !text.contains("osps cleanup"),
            "{text}"
        );
    }

    /// A stranger whose arguments happen to read as `cleanup --name NAME` holds the lock:
    /// it is no osps cleanup, so the instance is not "being removed" (stop used to say so,
    /// and exit 0, even with a live primary found otherwise); the stranger is named.
    #[test]
    fn a_stranger_reading_as_cleanup_is_not_taken_for_one() {
        crate::os::procfs::read_command_lines_with(crate::cli::invocation_of);
        let (_tmp, _dir, paths) = stale_lock("stopfakeclean");
        let holder = Holder::lock_as_cleanup(&paths.in_dir(&paths.lock_file()), "stopfakeclean");
        assert_eq!(
            crate::os::procfs::subcommand(holder.pid()).as_deref(),
            Some("cleanup")
        );
        let survey = discover::survey(&paths.runtime_dir, Some(&paths.name)).unwrap();
        let seen = &survey.instances[0];
        assert!(seen.lock.held, "{seen:?}");
        let text = format!("{:#}", live_primary(seen, false).unwrap_err());
        assert!(
            text.contains(&format!("process {} holds", holder.pid()))
                && text.contains("but is not one"),
            "{text}"
        );
    }

    /// After `--kill`, the name is held by a process that exits before it is looked at
    /// again (the killed primary's last moment, a cleanup ending): nothing took the
    /// instance over, so what it left is removed. Stop used to say "taken over by
    /// process N", N gone already, and leave everything.
    #[test]
    fn a_holder_gone_after_the_kill_took_nothing_over_and_the_leftovers_go() {
        let (_tmp, _dir, paths) = stale_lock("stopkillgone");
        let mut holder = Holder::lock(&paths.in_dir(&paths.lock_file()));
        let survey = discover::survey(&paths.runtime_dir, Some(&paths.name)).unwrap();
        let seen = &survey.instances[0];
        assert!(remove_with(&survey, seen, || holder.end()).unwrap());
        assert!(!paths.in_dir(&paths.lock_file()).exists());
    }

    /// One that still holds the name is named for what it is: a stranger is no osps that
    /// took the instance over.
    #[test]
    fn a_stranger_holding_the_name_after_the_kill_is_named_as_a_stranger() {
        let (_tmp, _dir, paths) = stale_lock("stopkillstranger");
        let holder = Holder::lock(&paths.in_dir(&paths.lock_file()));
        let survey = discover::survey(&paths.runtime_dir, Some(&paths.name)).unwrap();
        let seen = &survey.instances[0];
        let text = format!("{:#}", remove(&survey, seen).unwrap_err());
        assert!(
            text.contains(&format!("held by process {}", holder.pid()))
                && text.contains("not an osps primary")
                && !text.contains("taken over"),
            "{text}"
        );
        assert!(paths.in_dir(&paths.lock_file()).exists());
    }
}
