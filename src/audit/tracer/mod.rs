//! The ptrace loop: one `waitpid(-1, __WALL)` after another, each stop handled and the
//! tracee resumed at once. Events (fork, vfork, clone, exec, exit) come from the ptrace
//! options; system calls only from the seccomp filter's stops. At a seccomp stop the
//! arguments are read (paths resolved against the tracee's cwd or dirfd while it is
//! stopped, so they name what the kernel will use); when the result matters (did the
//! FIFO get made, which child did wait4 reap) the tracee is resumed with PTRACE_SYSCALL
//! and its syscall-exit stop gives the return value.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr};

use super::interrupt;
use super::memory::{self, Unread};
use super::model::{KERNEL_RAISED, Kind, Model};
use super::mqueue;
use super::pending::Pending;
use super::procfs;
use super::ptrace::{self, SyscallInfo, Wait};
use super::sigpipe;
use super::spawn::Child;
use super::syscalls::{self, Base, Call, PATH_MAX};

mod paths;
mod stops;

pub use paths::as_path;
use paths::read_path;

/// Why following stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The main process ended and the grace passed (or nothing was left to follow).
    Program,
    Timeout,
    /// A stop signal to the audit (SIGINT, SIGTERM, SIGHUP, SIGQUIT).
    Signal(i32),
}

pub struct Limits {
    pub grace: Duration,
    pub timeout: Option<Duration>,
}

/// What one traced thread is doing.
#[derive(Debug)]
struct Task {
    tgid: i32,
    /// It reached its exit stop (or its thread group was replaced by an exec).
    exiting: bool,
    pending: Option<Pending>,
}

pub struct Tracer {
    start: Instant,
    pub root: i32,
    execed: bool,
    tasks: HashMap<i32, Task>,
    /// Per thread group, its tasks not yet at their exit stop: the process ends (becomes
    /// a zombie) when its last thread does, not when its leader does (pthread_exit).
    running: HashMap<i32, u32>,
    /// New tasks stopped before their parent's fork event said who they are.
    held: HashSet<i32>,
    pub model: Model,
    root_ended: Option<Instant>,
    /// When the first stop signal came to the audit.
    stop_seen: Option<Instant>,
    /// The stop signals to the audit looked at so far ([`interrupt::count`]).
    stops_counted: i32,
    /// A stop signal came again from the user (Ctrl-C pressed twice), this one: stop at
    /// once.
    insisted: Option<i32>,
    /// The first stop signal to the audit: the one the audit ends by.
    first_stop: Option<i32>,
    /// When the main process's thread group last took each signal (its
    /// signal-delivery-stop): whether a stop signal to the audit reached it too.
    took: HashMap<(i32, i32), Instant>,
    /// Paths that could not be resolved for want of permission (the working directory
    /// or a directory descriptor of a non-dumpable process, to an unprivileged audit).
    unresolved: u32,
}

/// The least time the program gets to handle a stop signal it got with the audit.
const SIGNAL_GRACE: Duration = Duration::from_millis(500);

impl Tracer {
    pub fn new(start: Instant, root: i32, argv: Vec<String>) -> Tracer {
        let mut model = Model::default();
        // SAFETY: getpid cannot fail.
        let me = unsafe { libc::getpid() };
        model.started(root, me, Some(argv.into()), 0);
        let mut tasks = HashMap::new();
        tasks.insert(
            root,
            Task {
                tgid: root,
                exiting: false,
                pending: None,
            },
        );
        Tracer {
            start,
            root,
            execed: false,
            tasks,
            running: HashMap::from([(root, 1)]),
            held: HashSet::new(),
            model,
            root_ended: None,
            stop_seen: None,
            stops_counted: 0,
            insisted: None,
            first_stop: None,
            took: HashMap::new(),
            unresolved: 0,
        }
    }

    /// The second stop signal that stopped the audit at once, with no more grace, if one
    /// did.
    pub fn insisted(&self) -> Option<i32> {
        self.insisted
    }

    /// Microseconds since the audit started.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Follows until the end; an exec failure of the program comes back as its error.
    pub fn follow(
        &mut self,
        child: &mut Child,
        limits: &Limits,
        argv: &[std::ffi::OsString],
    ) -> Result<Ended> {
        let ended = self.follow_until(child, limits, argv)?;
        self.settle(child, argv)?;
        Ok(ended)
    }

    /// A process whose exit was seen (at its exit stop) when following ends is dying:
    /// its death is a moment away, and calling it still running would contradict the
    /// exit time the report shows. Its death is collected, for at most 100 ms.
    fn settle(&mut self, child: &mut Child, argv: &[std::ffi::OsString]) -> Result<()> {
        let deadline = Instant::now() + Duration::from_millis(100);
        while Instant::now() < deadline
            && self
                .model
                .procs
                .iter()
                .any(|p| p.alive() && p.exit.is_some())
        {
            let wait = ptrace::wait_any().wrap_err("waiting for the traced processes")?;
            if !self.dispatch(child, argv, wait)? {
                break;
            }
        }
        Ok(())
    }

    /// Handles what one wait returned; false when no traced process is left.
    fn dispatch(
        &mut self,
        child: &mut Child,
        argv: &[std::ffi::OsString],
        wait: Wait,
    ) -> Result<bool> {
        match wait {
            Wait::Interrupted => {}
            Wait::NoChild => return Ok(false),
            Wait::Exited(pid, code) => self.death(child, argv, pid, Some(code), None)?,
            Wait::Signaled(pid, sig) => self.death(child, argv, pid, None, Some(sig))?,
            Wait::Stopped(pid, sig, event) => self.stopped(pid, sig, event),
        }
        Ok(true)
    }

    fn follow_until(
        &mut self,
        child: &mut Child,
        limits: &Limits,
        argv: &[std::ffi::OsString],
    ) -> Result<Ended> {
        loop {
            if self.stop_seen.is_none()
                && interrupt::sender().is_some_and(|p| self.model.proc(p).is_some())
            {
                interrupt::forget();
            }
            if let Some(s) = self.first_stop.or(interrupt::stop_signal()) {
                // The program gets the signal (with Ctrl-C, with the audit; otherwise
                // from it): its own handlers (a shm.unlink() in a SIGINT handler) get
                // the grace to end it in order before the report; a second signal
                // stops at once.
                let first = match self.stop_seen {
                    Some(t) => t,
                    None => {
                        let at = Instant::now();
                        self.stops_counted = interrupt::count();
                        self.first_stop = Some(s);
                        self.relay(child, argv, s)?;
                        *self.stop_seen.insert(at)
                    }
                };
                if let Some(latest) = interrupt::stop_signal() {
                    self.look_for_insistence(s, latest);
                }
                if self.insisted.is_some() || first.elapsed() >= limits.grace.max(SIGNAL_GRACE) {
                    return Ok(Ended::Signal(s));
                }
            }
            if limits.timeout.is_some_and(|t| self.start.elapsed() >= t) {
                return Ok(Ended::Timeout);
            }
            if self
                .root_ended
                .is_some_and(|t| t.elapsed() >= limits.grace + self.tracker_wait(t))
            {
                return Ok(self
                    .first_stop
                    .or(interrupt::stop_signal())
                    .map_or(Ended::Program, Ended::Signal));
            }
            let wait = ptrace::wait_any().wrap_err("waiting for the traced processes")?;
            if !self.dispatch(child, argv, wait)? {
                return Ok(self
                    .first_stop
                    .or(interrupt::stop_signal())
                    .map_or(Ended::Program, Ended::Signal));
            }
        }
    }

    /// Extra time past the grace while only Python's multiprocessing helpers (resource
    /// tracker, forkserver) still run: they end by themselves once the program's pipe
    /// closes (the tracker removing what it leaked), and a busy machine may take longer
    /// than the grace (at most 5 s more).
    fn tracker_wait(&self, root_ended: Instant) -> Duration {
        let mut alive = self.model.procs.iter().filter(|p| p.alive()).peekable();
        let only_trackers = alive.peek().is_some() && alive.all(|p| p.is_python_helper());
        if only_trackers && root_ended.elapsed() < Duration::from_secs(5) {
            Duration::from_secs(5)
        } else {
            Duration::ZERO
        }
    }

    fn death(
        &mut self,
        child: &mut Child,
        argv: &[std::ffi::OsString],
        pid: i32,
        code: Option<i32>,
        signal: Option<i32>,
    ) -> Result<()> {
        let task = self.tasks.remove(&pid);
        self.held.remove(&pid);
        if let Some(t) = task.as_ref().filter(|t| !t.exiting) {
            // Killed without an exit stop.
            let tgid = t.tgid;
            self.thread_done(tgid);
        }
        if task.as_ref().is_some_and(|t| t.tgid != pid) {
            return Ok(()); // a thread
        }
        if pid == self.root && !self.execed {
            if let Some(failure) = child.failure() {
                return Err(super::describe_failure(failure, argv));
            }
        }
        let at = self.now();
        let met_again = self.model.died(pid, code, signal, at);
        // A traced child is released at the tracer's wait only when its parent lets the
        // kernel reap it; otherwise it stays a zombie (state Z) for its parent.
        if !met_again && pid != self.root && procfs::state(pid).is_none() {
            self.model.kernel_reaped(pid);
        }
        if pid == self.root {
            self.root_ended = Some(Instant::now());
        }
        Ok(())
    }

    fn stopped(&mut self, pid: i32, sig: i32, event: i32) {
        if !self.tasks.contains_key(&pid) {
            // A new child stopped before its parent's fork event: held until that event
            // says whose it is.
            self.held.insert(pid);
            return;
        }
        if sig == (libc::SIGTRAP | 0x80) {
            self.syscall_exit(pid);
            let _ = ptrace::cont(pid, 0);
        } else if event == libc::PTRACE_EVENT_STOP {
            let stops = [libc::SIGSTOP, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU];
            if stops.contains(&sig) {
                // A group-stop (SIGSTOP, Ctrl-Z, a background read of the terminal): it
                // stays stopped, as it would alone, until a SIGCONT (or SIGKILL), and its
                // parent sees it stopped; the kernel tells us when that changes.
                let tgid = self.tasks.get(&pid).map_or(pid, |t| t.tgid);
                self.model.group_stop(tgid, Some(sig));
                let _ = ptrace::listen(pid);
            } else {
                // The first stop of a new child, or the end of a group-stop.
                let tgid = self.tasks.get(&pid).map_or(pid, |t| t.tgid);
                self.model.group_stop(tgid, None);
                let _ = ptrace::cont(pid, 0);
            }
        } else if sig == libc::SIGTRAP && event != 0 {
            self.event(pid, event);
        } else {
            // A signal on its way: delivered. A SIGPIPE is looked at first, while the
            // process still holds the end its write found closed.
            let tgid = self.tasks.get(&pid).map_or(pid, |t| t.tgid);
            if interrupt::STOP_SIGNALS.contains(&sig) {
                self.took.insert((tgid, sig), Instant::now());
                self.model.took_stop(tgid, sig);
            }
            if KERNEL_RAISED.contains(&sig) {
                // The kernel's own codes are positive (SI_KERNEL for alarm and setitimer,
                // SEGV_MAPERR and the like for a fault), a kill's are not; a timer_create
                // timer's is SI_TIMER; a file-size limit's SIGXFSZ comes as sent by the
                // process itself.
                let by_kernel = ptrace::signal_sender(pid).is_ok_and(|(code, from)| {
                    code > 0 || code == libc::SI_TIMER || (code == libc::SI_USER && from == tgid)
                });
                self.model.delivered(tgid, sig, by_kernel);
            }
            if sig == libc::SIGPIPE {
                let broken = sigpipe::at_delivery(pid, tgid);
                self.model.sigpipe(tgid, broken);
            }
            let _ = ptrace::cont(pid, sig);
        }
    }

    fn event(&mut self, pid: i32, event: i32) {
        let tgid = self.tasks.get(&pid).map_or(pid, |t| t.tgid);
        match event {
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                if let Ok(new) = ptrace::event_msg(pid) {
                    let new = new as i32;
                    let thread = event == libc::PTRACE_EVENT_CLONE && tgid_of(new) != Some(new);
                    let new_tgid = if thread { tgid } else { new };
                    if !thread {
                        let at = self.now();
                        // Its real parent: the caller, or with CLONE_PARENT the caller's
                        // own parent, which then is the one to wait for it (`PPid` is the
                        // real parent, not the tracer).
                        let parent = status_field(new, "PPid:")
                            .filter(|&p| p != tgid && self.model.proc(p).is_some())
                            .unwrap_or(tgid);
                        self.model.started(new, parent, None, at);
                    }
                    let held = self.held.remove(&new);
                    let task = Task {
                        tgid: new_tgid,
                        exiting: false,
                        pending: None,
                    };
                    if self.tasks.insert(new, task).is_none() {
                        *self.running.entry(new_tgid).or_default() += 1;
                    }
                    if held {
                        let _ = ptrace::cont(new, 0);
                    }
                }
            }
            libc::PTRACE_EVENT_EXEC => {
                if let Ok(former) = ptrace::event_msg(pid) {
                    let former = former as i32;
                    if former != pid {
                        self.tasks.remove(&former);
                    }
                }
                self.execed_alone(pid, tgid);
                if pid == self.root {
                    self.execed = true;
                }
                self.model.execed(tgid, cmdline(pid));
            }
            libc::PTRACE_EVENT_EXIT => {
                if let Some(task) = self.tasks.get_mut(&pid).filter(|t| !t.exiting) {
                    task.exiting = true;
                    self.thread_done(tgid);
                }
            }
            libc::PTRACE_EVENT_SECCOMP if self.syscall_entry(pid, tgid) => {
                let _ = ptrace::syscall(pid);
                return;
            }
            _ => {}
        }
        let _ = ptrace::cont(pid, 0);
    }

    /// One task of `tgid` reached its exit: the last one ends the process.
    fn thread_done(&mut self, tgid: i32) {
        let Some(n) = self.running.get_mut(&tgid) else {
            return;
        };
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.running.remove(&tgid);
            let at = self.now();
            self.model.exiting(tgid, at);
        }
    }

    /// After an exec the thread group is the execing thread alone, under the leader's
    /// id: the other threads were killed and are no longer counted.
    fn execed_alone(&mut self, pid: i32, tgid: i32) {
        let leader_exited = self.tasks.get(&pid).is_some_and(|t| t.exiting);
        if leader_exited || self.running.get(&tgid) != Some(&1) {
            for (&tid, task) in &mut self.tasks {
                if task.tgid == tgid {
                    task.exiting = tid != pid;
                }
            }
            self.running.insert(tgid, 1);
        }
    }

    /// Reads a stopped call; true when its exit stop is wanted.
    fn syscall_entry(&mut self, pid: i32, tgid: i32) -> bool {
        let Ok(SyscallInfo::Entry { nr, args }) = ptrace::syscall_info(pid) else {
            return false;
        };
        let pending = match syscalls::decode(nr, args) {
            Call::Open {
                base,
                path,
                flags,
                how,
            } => {
                let flags = match (flags, how) {
                    (Some(flags), _) => Some(flags),
                    (None, Some(how)) => self.counted(memory::read_u64(pid, how)),
                    (None, None) => None,
                };
                let Some(flags) = flags.filter(|&f| syscalls::creates(f) || syscalls::truncates(f))
                else {
                    return false;
                };
                let Some(path) = self.path(pid, base, path) else {
                    return false;
                };
                // O_CREAT of an existing file creates nothing, but a segment left there
                // (by an earlier run) and opened so is the program's to remove all the
                // same; O_TRUNC of one of our segments makes its size 0.
                let exists = std::fs::symlink_metadata(as_path(&path)).is_ok();
                match syscalls::opened_shm_name(&path) {
                    Some((kind, name)) if syscalls::creates(flags) && !exists => {
                        Pending::Create { kind, path, name }
                    }
                    Some((kind, name))
                        if syscalls::creates(flags) && !self.model.is_live(&path) =>
                    {
                        Pending::Reopen {
                            kind,
                            path,
                            name,
                            truncates: syscalls::truncates(flags),
                        }
                    }
                    _ if syscalls::truncates(flags) && self.is_segment(&path) => {
                        Pending::Truncate(path, 0, false)
                    }
                    _ => return false,
                }
            }
            Call::Mknod { base, path, mode } if syscalls::makes_fifo(mode) => {
                let Some(path) = self.path(pid, base, path) else {
                    return false;
                };
                Pending::Fifo(path)
            }
            Call::Unlink { base, path, flags } if !syscalls::removes_dir(flags) => {
                match self.path(pid, base, path) {
                    Some(path) if self.model.is_live(&path) => {
                        // Its size when removed: what a stat says now, just before.
                        let size = self
                            .is_segment(&path)
                            .then(|| std::fs::symlink_metadata(as_path(&path)).ok())
                            .flatten()
                            .map(|m| m.len());
                        Pending::Unlink(path, size)
                    }
                    _ => return false,
                }
            }
            Call::Rename { from, to, exchange } => {
                match (self.path(pid, from.0, from.1), self.path(pid, to.0, to.1)) {
                    // A rename onto one of ours removes it, whatever is moved there; a
                    // directory holding ours takes them along.
                    (Some(a), Some(b))
                        if self.model.is_live(&a)
                            || self.model.is_live(&b)
                            || self.model.is_live_under(&a)
                            || (exchange && self.model.is_live_under(&b)) =>
                    {
                        Pending::Rename(a, b, exchange)
                    }
                    _ => return false,
                }
            }
            Call::Link { from, to } => {
                match (self.path(pid, from.0, from.1), self.path(pid, to.0, to.1)) {
                    // A new name in /dev/shm, or one more name of an object of ours.
                    (Some(a), Some(b))
                        if syscalls::shm_name(&b).is_some() || self.model.is_live(&a) =>
                    {
                        Pending::Link(a, b)
                    }
                    _ => return false,
                }
            }
            Call::Ftruncate {
                fd,
                length,
                grows_only,
            } => match std::fs::read_link(format!("/proc/{pid}/fd/{fd}")) {
                Ok(link) => {
                    let path = syscalls::fd_target(link.as_os_str().as_bytes()).to_vec();
                    if !self.model.is_live(&path) {
                        return false;
                    }
                    Pending::Truncate(path, length, grows_only)
                }
                Err(_) => return false,
            },
            Call::Truncate { path, length } => match self.path(pid, Base::Cwd, path) {
                Some(path) if self.model.is_live(&path) => Pending::Truncate(path, length, false),
                _ => return false,
            },
            Call::Wait4 { .. } => Pending::Wait {
                info: None,
                asked: self.now(),
            },
            Call::Waitid { info, options } if !syscalls::leaves_waitable(options) => {
                Pending::Wait {
                    info: Some(info),
                    asked: self.now(),
                }
            }
            Call::Kill {
                target,
                signal,
                thread,
            } => {
                let target = if thread {
                    i32::try_from(target)
                        .ok()
                        .and_then(|t| self.tasks.get(&t))
                        .map_or(target, |t| i64::from(t.tgid))
                } else {
                    target
                };
                self.model.signalled(tgid, target, signal);
                return false;
            }
            Call::PidfdKill { fd, signal } => {
                if let Some(target) = pidfd_target(pid, fd) {
                    self.model.signalled(tgid, i64::from(target), signal);
                }
                return false;
            }
            Call::IpcGet {
                ipc,
                key,
                size,
                flags,
            } if super::sysv::get_creates(ipc, key, flags) => {
                Pending::IpcGet(super::pending::sysv_kind(ipc), key, size)
            }
            // IPC_CREAT of a key that has an object: a leftover the program meant to make.
            Call::IpcGet {
                ipc, key, flags, ..
            } if flags & libc::IPC_CREAT as u64 != 0 => {
                Pending::IpcReopen(super::pending::sysv_kind(ipc), key)
            }
            Call::IpcCtl { ipc, id, cmd } if cmd == i64::from(libc::IPC_RMID) => {
                Pending::IpcRmid(super::pending::sysv_kind(ipc), id)
            }
            Call::MqOpen { name, flags } if syscalls::creates(flags) => {
                match self.mq_names(pid, name) {
                    Some((path, name)) if !mqueue::exists(&name) => Pending::MqCreate(path, name),
                    Some((path, name)) => Pending::MqReopen(path, name),
                    None => return false,
                }
            }
            Call::MqUnlink { name } => match self.mq_names(pid, name) {
                Some((path, _)) if self.model.is_live(&path) => Pending::MqUnlink(path),
                _ => return false,
            },
            _ => return false,
        };
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.pending = Some(pending);
        }
        true
    }

    /// The path a call names (see [`read_path`]); one that could not be resolved for
    /// want of permission is counted, for the report to say so.
    fn path(&mut self, pid: i32, base: Base, addr: u64) -> Option<Vec<u8>> {
        self.counted(read_path(pid, base, addr))
    }

    /// What a read gave; one refused for want of permission is counted.
    fn counted<T>(&mut self, read: Result<T, Unread>) -> Option<T> {
        match read {
            Ok(value) => Some(value),
            Err(Unread::Denied) => {
                self.unresolved += 1;
                None
            }
            Err(Unread::Gone) => None,
        }
    }

    /// The path and name of the message queue an mq call names (see [`mqueue::names`]).
    fn mq_names(&mut self, pid: i32, addr: u64) -> Option<(Vec<u8>, Vec<u8>)> {
        let raw = self.counted(memory::read_cstring(pid, addr, PATH_MAX))?;
        mqueue::names(&raw)
    }

    /// How many paths could not be resolved for want of permission.
    pub fn unresolved(&self) -> u32 {
        self.unresolved
    }

    /// Whether one of our POSIX segments is at `path`.
    fn is_segment(&self, path: &[u8]) -> bool {
        self.model.kind_at(path) == Some(Kind::Segment)
    }

    fn syscall_exit(&mut self, pid: i32) {
        let Some(task) = self.tasks.get_mut(&pid) else {
            return;
        };
        let tgid = task.tgid;
        let Some(pending) = task.pending.take() else {
            return;
        };
        let Ok(SyscallInfo::Exit { rval, is_error }) = ptrace::syscall_info(pid) else {
            return;
        };
        if is_error {
            return;
        }
        let at = self.now();
        pending.complete(&mut self.model, pid, tgid, rval, at);
    }

    /// Ends every traced process still alive (after the report) and collects them, for
    /// at most a few seconds: a tracee detached with the seccomp filter still installed
    /// would see every traced call fail with ENOSYS, so ending them is the honest way.
    pub fn end_all(&mut self) {
        for &tid in self.tasks.keys() {
            // SAFETY: kill has no memory effects; these are our tracees.
            unsafe { libc::kill(tid, libc::SIGKILL) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match ptrace::wait_any() {
                Ok(Wait::NoChild) | Err(_) => break,
                Ok(Wait::Stopped(pid, _, _)) => {
                    let _ = ptrace::cont(pid, 0);
                }
                Ok(_) => {}
            }
        }
    }
}

/// The process a pidfd of `pid` refers to (`Pid:` in its fdinfo).
fn pidfd_target(pid: i32, fd: i32) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
        .filter(|&p: &i32| p > 0)
}

/// The thread group of a task, from `/proc/TID/status`.
fn tgid_of(tid: i32) -> Option<i32> {
    status_field(tid, "Tgid:")
}

/// A number of `/proc/TID/status` (`Tgid:`, `PPid:`).
fn status_field(tid: i32, field: &str) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().parse().ok())
}

/// The arguments after an exec, at most 4 KiB of them.
fn cmdline(pid: i32) -> Vec<String> {
    let mut bytes = Vec::new();
    if let Ok(f) = std::fs::File::open(format!("/proc/{pid}/cmdline")) {
        let _ = f.take(4096).read_to_end(&mut bytes);
    }
    bytes
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}
