//! Which CPUs a thread, or every thread of a process, may run on (`sched_getaffinity(2)`,
//! `sched_setaffinity(2)`), and which one the caller runs on now (`sched_getcpu(3)`). The serving primary uses them to
//! keep its secondaries on its own CPU under load (`primary/placement.rs`); `taskset(1)`
//! shows the result (`taskset -pc PID`), and so does `Cpus_allowed_list` in
//! `/proc/PID/status`.

use color_eyre::eyre::{Result, WrapErr};
use nix::errno::Errno;
use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
use nix::unistd::Pid;

/// A set of CPUs, as the kernel's affinity calls take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpus(CpuSet);

impl Cpus {
    /// The set holding CPU `cpu` alone; `None` past the largest CPU number a set holds.
    pub fn one(cpu: usize) -> Option<Cpus> {
        let mut set = CpuSet::new();
        set.set(cpu).ok()?;
        Some(Cpus(set))
    }

    /// The CPUs of the set, in increasing order.
    pub fn list(&self) -> Vec<usize> {
        (0..CpuSet::count())
            .filter(|&c| self.0.is_set(c).unwrap_or(false))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.list().len()
    }

    pub fn contains(&self, cpu: usize) -> bool {
        self.0.is_set(cpu).unwrap_or(false)
    }

    /// The set the way `taskset -c` and `/proc/PID/status` write it: `0-3,6`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let list = self.list();
        let mut i = 0;
        while i < list.len() {
            let start = list[i];
            let mut end = start;
            while i + 1 < list.len() && list[i + 1] == end + 1 {
                i += 1;
                end = list[i];
            }
            parts.push(if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            });
            i += 1;
        }
        parts.join(",")
    }
}

/// The CPUs thread `tid` may run on (0: the caller).
pub fn allowed(tid: i32) -> Result<Cpus> {
    sched_getaffinity(Pid::from_raw(tid))
        .map(Cpus)
        .wrap_err_with(|| format!("sched_getaffinity({tid})"))
}

/// Lets every thread of process `pid` (0: this process) run only on `cpus`. A CPU
/// affinity belongs to a thread, not a process (`sched_setaffinity` of a pid sets only
/// the thread of that number, the main one): the threads are those in
/// `/proc/PID/task`, and a thread started later inherits its creator's. `Ok(false)` when
/// the process has ended.
pub fn set_process(pid: i32, cpus: &Cpus) -> Result<bool> {
    let dir = if pid == 0 {
        "/proc/self/task".to_string()
    } else {
        format!("/proc/{pid}/task")
    };
    let tasks = match std::fs::read_dir(&dir) {
        Ok(tasks) => tasks,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).wrap_err_with(|| format!("listing the threads in {dir}")),
    };
    let mut any = false;
    for task in tasks {
        let task = task.wrap_err_with(|| format!("listing the threads in {dir}"))?;
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread that ended since the listing is no matter.
        any |= set(tid, cpus)?;
    }
    Ok(any)
}

/// Lets thread `tid` (0: the caller) run only on `cpus`. `Ok(false)` when the thread has
/// ended (its affinity no longer matters).
pub fn set(tid: i32, cpus: &Cpus) -> Result<bool> {
    match sched_setaffinity(Pid::from_raw(tid), &cpus.0) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(e) => Err(e).wrap_err_with(|| {
            format!(
                "sched_setaffinity({tid}, CPUs {}) (a cpuset or a container may forbid them)",
                cpus.describe()
            )
        }),
    }
}

/// The CPU the caller runs on at this moment (it may move the moment after).
pub fn current_cpu() -> Result<usize> {
    sched_getcpu().wrap_err("sched_getcpu")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(cpus: &[usize]) -> Cpus {
        let mut set = CpuSet::new();
        for &c in cpus {
            set.set(c).unwrap();
        }
        Cpus(set)
    }

    #[test]
    fn describes_a_set_as_taskset_writes_it() {
        assert_eq!(of(&[0]).describe(), "0");
        assert_eq!(of(&[0, 1]).describe(), "0-1");
        assert_eq!(of(&[0, 1, 2, 3, 6]).describe(), "0-3,6");
        assert_eq!(of(&[1, 3, 5]).describe(), "1,3,5");
        assert_eq!(of(&[]).describe(), "");
    }

    #[test]
    fn one_cpu_is_a_set_of_one() {
        let one = Cpus::one(1).unwrap();
        assert_eq!(one.list(), vec![1]);
        assert!(one.contains(1) && !one.contains(0));
        assert!(Cpus::one(CpuSet::count()).is_none());
    }

    #[test]
    fn every_thread_of_a_process_is_placed_and_an_ended_one_is_no_matter() {
        // A process of two threads, not this test's (whose threads must not change).
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                "import threading, time\n\
                 threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n\
                 time.sleep(30)",
            ])
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let tasks = || -> Vec<String> {
            std::fs::read_dir(format!("/proc/{pid}/task"))
                .map(|d| {
                    d.flatten()
                        .map(|t| t.path().display().to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while tasks().len() < 2 {
            assert!(std::time::Instant::now() < deadline, "no second thread");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let first = allowed(0).unwrap().list()[0];
        assert!(set_process(pid, &Cpus::one(first).unwrap()).unwrap());
        for task in tasks() {
            let status = std::fs::read_to_string(format!("{task}/status")).unwrap();
            assert!(
                status.contains(&format!("Cpus_allowed_list:\t{first}\n")),
                "{task}: {status}"
            );
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!set_process(pid, &Cpus::one(first).unwrap()).unwrap());
    }

    #[test]
    fn a_thread_pinned_to_one_cpu_runs_there() {
        // A thread of its own: affinity is per thread, and the test's must not change.
        std::thread::spawn(|| {
            let mine = allowed(0).unwrap();
            let first = mine.list()[0];
            assert!(set(0, &Cpus::one(first).unwrap()).unwrap());
            assert_eq!(allowed(0).unwrap().list(), vec![first]);
            assert_eq!(current_cpu().unwrap(), first);
        })
        .join()
        .unwrap();
    }
}
