//! What the audit saw: the processes and the objects they made, recorded as the tracer
//! reports each event, with times in microseconds since the audit started.
//!
//! Per process a few dozen bytes: the argument vector is shared (`Rc`) between a parent
//! and the children it forked until one of them execs, so a fork storm of 10 000
//! children holds one copy of it.

use std::collections::HashMap;
use std::rc::Rc;

pub use super::kind::Kind;
use super::live;

/// The signals the kernel raises for what a process did itself (its timer ran out, a
/// resource limit, a bad memory access or instruction), whose hint differs from that of
/// a kill from outside (see `Proc::kernel_raised`).
pub const KERNEL_RAISED: [i32; 9] = [
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
];

/// One process (a thread group) the program started, or the program itself.
#[derive(Clone, Debug)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub argv: Rc<[String]>,
    /// `argv` is its own (given at start or by an exec), not inherited from its parent.
    own_argv: bool,
    pub start: u64,
    /// When it ended: its death, when the tracer collected it (the moment it became a
    /// zombie), else the exit stop of its last thread.
    pub exit: Option<u64>,
    /// When its last thread reached its exit stop: its files (a pipe to Python's
    /// resource tracker) close only after, so what its end sets off comes later, though
    /// the tracer may see that before it sees the process dead.
    pub exit_stop: Option<u64>,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// The traced process whose wait reaped it, and when.
    pub reaped_by: Option<i32>,
    pub reaped: Option<u64>,
    /// When its parent ended while it still ran (it was adopted).
    pub adopted: Option<u64>,
    /// When its parent ended without reaping it (it was a zombie then).
    pub orphaned_zombie: Option<u64>,
    /// Still running when the audit ended (then ended by the audit).
    pub left_running: bool,
    /// The signal of a group-stop it is in (SIGSTOP, SIGTSTP, ...): stopped, not running,
    /// until a SIGCONT.
    pub stopped: Option<i32>,
    /// Its parent ignores SIGCHLD or asked the kernel to reap: gone at its exit.
    pub auto_reaped: bool,
    /// Gone at the end with no reap seen: a wait that ended after the audit stopped
    /// looking (its parent's, or the audit's own for a child of the audit).
    pub gone_unseen: bool,
    /// The last signal delivered to it that the kernel raised (si_code SI_KERNEL: its
    /// own timer ran out, a resource limit), of those whose hint depends on it.
    pub kernel_raised: Option<i32>,
    /// The last stop signal (SIGINT, SIGTERM, ...) delivered to it: whether one that came
    /// to the audit's whole group reached it too.
    pub took_stop: Option<i32>,
    /// What its write had found without a reader, at the last SIGPIPE the kernel raised
    /// for it (`None` after a SIGPIPE sent by a kill).
    broken_pipe: Option<BrokenPipe>,
}

impl Proc {
    /// Not dead yet as the tracer sees it (it may be at its exit stop).
    pub fn alive(&self) -> bool {
        self.code.is_none() && self.signal.is_none()
    }

    /// Python's multiprocessing resource tracker: started by the first SharedMemory, it
    /// outlives its parent by design (it waits for the pipe to close, then removes what
    /// was leaked and warns). Its own life is not the student's mistake; what it removes
    /// is reported.
    pub fn is_resource_tracker(&self) -> bool {
        self.runs_python_module("multiprocessing.resource_tracker")
    }

    /// A helper that Python's multiprocessing starts by itself and that outlives its
    /// parent by design: the resource tracker, or the forkserver (the 'forkserver' start
    /// method, the default on Linux from Python 3.14), which forks every Process and
    /// Pool worker and ends once the program's pipe to it closes. A child the forkserver
    /// forks has the same command line without an exec of its own: it is the program's
    /// process, not a helper.
    pub fn is_python_helper(&self) -> bool {
        self.helper_name().is_some()
    }

    /// What the helper is, for people (its command line is cut before the module).
    pub fn helper_name(&self) -> Option<&'static str> {
        if self.is_resource_tracker() {
            Some("Python's resource tracker")
        } else if self.runs_python_module("multiprocessing.forkserver") {
            Some("Python's forkserver")
        } else {
            None
        }
    }

    fn runs_python_module(&self, module: &str) -> bool {
        self.own_argv && self.argv.iter().any(|a| a.contains(module))
    }

    /// When it was ended by a SIGPIPE the kernel raised for one of its writes: what that
    /// write found without a reader.
    pub fn broken_pipe(&self) -> Option<&BrokenPipe> {
        self.broken_pipe
            .as_ref()
            .filter(|_| self.signal == Some(libc::SIGPIPE))
    }

    /// What a write of this process found without a reader when the SIGPIPE the kernel
    /// raised for it did not end it (ignored or handled: the write failed with EPIPE).
    pub fn survived_broken_pipe(&self) -> Option<&BrokenPipe> {
        self.broken_pipe
            .as_ref()
            .filter(|_| self.signal != Some(libc::SIGPIPE))
    }

    /// Exited (or killed) but not reaped yet by anyone.
    fn unreaped(&self) -> bool {
        !self.alive()
            && self.reaped.is_none()
            && self.orphaned_zombie.is_none()
            && !self.auto_reaped
            && !self.gone_unseen
    }
}

/// What a write that raised SIGPIPE was writing to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// An anonymous pipe (`|`, pipe(2)) whose reader had ended.
    Pipe,
    /// A stream socket whose peer had closed.
    Socket,
    /// A FIFO (a named pipe, at this path) whose reader had closed it.
    Fifo(Vec<u8>),
    /// The call was not known and no FIFO was open for writing: a pipe or a socket.
    Unnamed,
}

/// What a SIGPIPE the kernel raised says: the end written to and, when the call was
/// known, the descriptor (when not, a FIFO open for writing stands for the end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenPipe {
    pub end: End,
    pub fd: Option<i32>,
}

/// One object made during the audit.
#[derive(Clone, Debug)]
pub struct Obj {
    pub kind: Kind,
    /// The file's path (empty for System V).
    pub path: Vec<u8>,
    /// The POSIX name (`/NAME`), or `key 0x... id N` for System V.
    pub name: Vec<u8>,
    pub sysv_id: Option<i64>,
    pub created_by: i32,
    pub created: u64,
    /// Its size in bytes as last known: measured (stat) when it was removed or at the
    /// end when it was left, else the last size set.
    pub size: Option<u64>,
    /// The last size a call seen set: ftruncate, fallocate (growing only), truncate, an
    /// open with O_TRUNC (0), shmget. A write(2) past the end also grows a segment, and
    /// writes are not traced: only a measure says what it really has.
    pub size_set: Option<u64>,
    pub unlinked_by: Option<i32>,
    pub unlinked: Option<u64>,
    /// Still there when the audit ended (filled in at the end).
    pub left: bool,
    /// A temporary name that got its real one by link(2) (glibc's sem_open): not shown.
    pub hidden: bool,
    /// It was there before: the program opened it with O_CREAT, which made nothing
    /// (`created_by` and `created` say who opened it, and when). Not the program's.
    pub existed: bool,
}

/// A signal one traced process sent.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    /// Who sent it (a thread group).
    pub from: i32,
    /// kill's pid (0 and negative ones name groups; -1 everyone), or a thread id.
    pub target: i64,
    pub signal: i32,
}

/// The cap on signals remembered: a program that signals in a loop does not grow us.
const MAX_SENT: usize = 10_000;

#[derive(Debug, Default)]
pub struct Model {
    pub procs: Vec<Proc>,
    /// The latest record of each pid (pids can be reused in a long run).
    by_pid: HashMap<i32, usize>,
    /// Children started and not yet reaped, per parent: needed when the parent ends.
    open_children: HashMap<i32, u32>,
    pub objects: Vec<Obj>,
    /// The object that currently has each path.
    live: HashMap<Vec<u8>, usize>,
    sysv: HashMap<(Kind, i64), usize>,
    pub sent: Vec<Sent>,
}

impl Model {
    pub fn proc(&self, pid: i32) -> Option<&Proc> {
        self.by_pid.get(&pid).map(|&i| &self.procs[i])
    }

    fn proc_mut(&mut self, pid: i32) -> Option<&mut Proc> {
        self.by_pid.get(&pid).copied().map(|i| &mut self.procs[i])
    }

    /// A new process, `argv` shared with its parent's unless given.
    pub fn started(&mut self, pid: i32, ppid: i32, argv: Option<Rc<[String]>>, at: u64) {
        live::started(pid, ppid, at);
        let own_argv = argv.is_some();
        let argv = argv
            .or_else(|| self.proc(ppid).map(|p| p.argv.clone()))
            .unwrap_or_else(|| Rc::from(Vec::new()));
        self.by_pid.insert(pid, self.procs.len());
        self.procs.push(Proc {
            pid,
            ppid,
            argv,
            own_argv,
            start: at,
            exit: None,
            exit_stop: None,
            code: None,
            signal: None,
            reaped_by: None,
            reaped: None,
            adopted: None,
            orphaned_zombie: None,
            left_running: false,
            stopped: None,
            auto_reaped: false,
            gone_unseen: false,
            kernel_raised: None,
            took_stop: None,
            broken_pipe: None,
        });
        *self.open_children.entry(ppid).or_default() += 1;
    }

    pub fn execed(&mut self, pid: i32, argv: Vec<String>) {
        live::execed(pid, &argv);
        if let Some(p) = self.proc_mut(pid) {
            p.argv = Rc::from(argv);
            p.own_argv = true;
        }
    }

    /// The exit stop of its last thread: the time it ended, until its death is seen.
    pub fn exiting(&mut self, pid: i32, at: u64) {
        if let Some(p) = self.proc_mut(pid) {
            p.exit.get_or_insert(at);
            p.exit_stop.get_or_insert(at);
        }
    }

    /// Its death as the tracer sees it. Returns whether this is a zombie met again (its
    /// parent ended and the audit, as subreaper, now reaps it).
    pub fn died(&mut self, pid: i32, code: Option<i32>, signal: Option<i32>, at: u64) -> bool {
        let Some(p) = self.proc_mut(pid) else {
            return false;
        };
        if !p.alive() {
            return true;
        }
        // Not the exit stop: after it the kernel still frees the process's memory (tens
        // of milliseconds for a large one), and only then is it a zombie its parent can
        // reap. Counting that time as zombie time blamed a parent already waiting.
        p.exit = Some(at);
        live::ended(pid, code, signal, at);
        p.code = code;
        p.signal = signal;
        let ppid = p.ppid;
        let adopted = p.adopted.is_some();
        if adopted {
            // Its parent is the audit now, which reaps it with this very wait.
            self.closed_child(ppid);
        }
        if self.open_children.get(&pid).copied().unwrap_or(0) > 0 {
            self.parent_ended(pid, at);
        }
        false
    }

    fn closed_child(&mut self, ppid: i32) {
        if let Some(n) = self.open_children.get_mut(&ppid) {
            *n = n.saturating_sub(1);
        }
    }

    /// `parent` ended: its live children are adopted, its unreaped ones stay zombies
    /// until the audit reaps them.
    fn parent_ended(&mut self, parent: i32, at: u64) {
        let ended = self.by_pid.get(&parent).copied();
        for (i, p) in self.procs.iter_mut().enumerate() {
            if p.ppid != parent || Some(i) == ended || p.reaped.is_some() {
                continue;
            }
            if p.alive() && p.adopted.is_none() {
                p.adopted = Some(at);
            } else if p.unreaped() {
                p.orphaned_zombie = Some(at);
            }
        }
        self.open_children.remove(&parent);
    }

    /// `by` reaped `pid` with wait4 or waitid.
    pub fn reaped(&mut self, pid: i32, by: i32, at: u64) {
        let Some(p) = self.proc_mut(pid) else { return };
        if p.reaped.is_some() {
            return;
        }
        p.reaped = Some(at);
        p.reaped_by = Some(by);
        live::reaped(pid, by, at);
        // Taken for the kernel's when its parent, already blocked in waitpid, reaped it
        // the moment the tracer let it go: the parent's wait says who did.
        let counted = std::mem::replace(&mut p.auto_reaped, false);
        if !counted {
            self.closed_child(by);
        }
    }

    /// `pid` reaped by a wait of `by` that was called at `asked` and returned at
    /// `returned` (each when the tracer saw it). The program reaped it when it asked, or,
    /// when it was waiting already, as the child ended: how long the tracer took to see
    /// the call return (on a loaded machine, easily past the zombie threshold) is the
    /// audit's delay, not the program's, and never counts as time spent a zombie.
    ///
    /// A wait returns a child that is still alive too: one stopped (WUNTRACED) or
    /// continued (WCONTINUED). That is no reap. A child that died is always seen dead
    /// here first: the kernel lets its parent reap a traced child only once the tracer
    /// has collected its death.
    pub fn reaped_by_wait(&mut self, pid: i32, by: i32, asked: u64, returned: u64) {
        if self.proc(pid).is_some_and(Proc::alive) {
            return;
        }
        let exit = self.proc(pid).and_then(|p| p.exit);
        let at = exit.map_or(asked, |e| e.max(asked)).min(returned);
        self.reaped(pid, by, at);
    }

    /// The children of `parent` that ended and that no wait is known to have reaped (the
    /// kernel's release of one to a parent already waiting can look like a kernel reap).
    pub fn unreaped_children(&self, parent: i32) -> Vec<i32> {
        self.procs
            .iter()
            .filter(|p| {
                p.ppid == parent
                    && !p.alive()
                    && p.reaped.is_none()
                    && p.adopted.is_none()
                    && p.orphaned_zombie.is_none()
            })
            .map(|p| p.pid)
            .collect()
    }

    /// `pid` was gone from /proc as soon as the tracer collected its death while its
    /// parent still ran: the kernel reaped it (the parent ignores SIGCHLD or set
    /// SA_NOCLDWAIT), so it is no zombie even if that parent ends later. (A wait of the
    /// parent that raced the check still records it as reaped.)
    pub fn kernel_reaped(&mut self, pid: i32) {
        // The main process is reaped by the audit, not by a parent of the program.
        let Some(ppid) = self.proc(pid).map(|p| p.ppid) else {
            return;
        };
        if self.proc(ppid).is_none() {
            return;
        }
        let Some(p) = self.proc_mut(pid) else { return };
        if p.alive() || p.reaped.is_some() || p.adopted.is_some() || p.auto_reaped {
            return;
        }
        p.auto_reaped = true;
        live::kernel_reaped(pid);
        let ppid = p.ppid;
        self.closed_child(ppid);
    }

    /// A signal is delivered to `pid`; `by_kernel`: the kernel raised it (a timer, a
    /// limit), not a kill.
    pub fn delivered(&mut self, pid: i32, signal: i32, by_kernel: bool) {
        if let Some(p) = self.proc_mut(pid) {
            if by_kernel {
                p.kernel_raised = Some(signal);
            } else if p.kernel_raised == Some(signal) {
                p.kernel_raised = None;
            }
        }
    }

    /// A stop signal (SIGINT, SIGTERM, ...) is delivered to `pid`.
    pub fn took_stop(&mut self, pid: i32, signal: i32) {
        if let Some(p) = self.proc_mut(pid) {
            p.took_stop = Some(signal);
        }
    }

    /// Process `pid` entered a group-stop on `signal`, or (`None`) left it.
    pub fn group_stop(&mut self, pid: i32, signal: Option<i32>) {
        if let Some(p) = self.proc_mut(pid) {
            p.stopped = signal;
        }
    }

    /// A SIGPIPE is delivered to `pid`: raised by the kernel for a write (`Some`, what
    /// the write found) or sent by a kill (`None`).
    pub fn sigpipe(&mut self, pid: i32, broken: Option<BrokenPipe>) {
        if let Some(p) = self.proc_mut(pid) {
            p.broken_pipe = broken;
        }
    }

    pub fn signalled(&mut self, from: i32, target: i64, signal: i32) {
        if self.sent.len() < MAX_SENT && signal != 0 {
            self.sent.push(Sent {
                from,
                target,
                signal,
            });
        }
    }

    /// A new object at `path` (or a System V id).
    pub fn created(&mut self, kind: Kind, path: Vec<u8>, name: Vec<u8>, by: i32, at: u64) {
        live::made(kind, &name, by, at);
        self.record(kind, path, name, by, at);
    }

    fn record(&mut self, kind: Kind, path: Vec<u8>, name: Vec<u8>, by: i32, at: u64) {
        let i = self.objects.len();
        if !path.is_empty() {
            self.live.insert(path.clone(), i);
        }
        self.objects.push(Obj {
            kind,
            path,
            name,
            sysv_id: None,
            created_by: by,
            created: at,
            size: None,
            size_set: None,
            unlinked_by: None,
            unlinked: None,
            left: false,
            hidden: false,
            existed: false,
        });
    }

    /// The object at `path`, taken for one there before the audit (an open with O_CREAT
    /// found it), was made by `by` after all: its open, which found none, ended later.
    pub fn made_after_all(&mut self, path: &[u8], by: i32) {
        if let Some(&i) = self.live.get(path) {
            let o = &mut self.objects[i];
            if o.existed {
                o.existed = false;
                o.created_by = by;
            }
        }
    }

    /// An object that was there already, opened with O_CREAT (no O_EXCL) by `by`.
    pub fn opened_existing(&mut self, kind: Kind, path: Vec<u8>, name: Vec<u8>, by: i32, at: u64) {
        live::opened(kind, &name, by, at);
        self.record(kind, path, name, by, at);
        if let Some(o) = self.objects.last_mut() {
            o.existed = true;
        }
    }

    /// A System V object of `kind`; `size`: a segment's bytes (ignored for the others).
    pub fn created_sysv(&mut self, kind: Kind, id: i64, key: i64, size: u64, by: i32, at: u64) {
        self.add_sysv(kind, id, key, size, by, at, false);
    }

    /// A System V object that was there already, got by `by` with IPC_CREAT of its key.
    pub fn opened_existing_sysv(&mut self, kind: Kind, id: i64, key: i64, by: i32, at: u64) {
        self.add_sysv(kind, id, key, 0, by, at, true);
    }

    #[allow(clippy::too_many_arguments)]
    fn add_sysv(
        &mut self,
        kind: Kind,
        id: i64,
        key: i64,
        size: u64,
        by: i32,
        at: u64,
        existed: bool,
    ) {
        // One made a moment ago by another process of the program, opened again.
        if self.sysv.contains_key(&(kind, id)) {
            return;
        }
        let name = format!("key 0x{:08x} id {id}", key as u32).into_bytes();
        if existed {
            live::opened(kind, &name, by, at);
        } else {
            live::made(kind, &name, by, at);
        }
        self.record(kind, Vec::new(), name, by, at);
        let i = self.objects.len() - 1;
        self.objects[i].existed = existed;
        self.objects[i].sysv_id = Some(id);
        // Bytes for a segment; a semaphore set's count of semaphores is no size.
        if kind == Kind::SysV && !existed {
            self.objects[i].size = Some(size);
            self.objects[i].size_set = Some(size);
        }
        self.sysv.insert((kind, id), i);
    }

    /// The kind of the object of ours at `path`, if any.
    pub fn kind_at(&self, path: &[u8]) -> Option<Kind> {
        self.live.get(path).map(|&i| self.objects[i].kind)
    }

    pub fn is_live(&self, path: &[u8]) -> bool {
        self.live.contains_key(path)
    }

    pub fn unlinked(&mut self, path: &[u8], by: i32, at: u64) {
        if let Some(i) = self.live.remove(path) {
            let o = &mut self.objects[i];
            live::removed(o.kind, &o.name, by, at);
            o.unlinked_by = Some(by);
            o.unlinked = Some(at);
        }
    }

    pub fn removed_sysv(&mut self, kind: Kind, id: i64, by: i32, at: u64) {
        if let Some(i) = self.sysv.remove(&(kind, id)) {
            let o = &mut self.objects[i];
            live::removed(o.kind, &o.name, by, at);
            o.unlinked_by = Some(by);
            o.unlinked = Some(at);
        }
    }

    /// rename(2): the object keeps its history under its new path.
    pub fn renamed(&mut self, from: &[u8], to: Vec<u8>, name: Option<Vec<u8>>) {
        if let Some(i) = self.live.remove(from) {
            self.renamed_to(i, to, name);
        }
    }

    /// rename(2) with RENAME_EXCHANGE: the objects at the two paths swap them.
    pub fn exchanged(
        &mut self,
        a: &[u8],
        b: &[u8],
        a_name: Option<Vec<u8>>,
        b_name: Option<Vec<u8>>,
    ) {
        let (at_a, at_b) = (self.live.remove(a), self.live.remove(b));
        if let Some(i) = at_a {
            self.renamed_to(i, b.to_vec(), b_name);
        }
        if let Some(i) = at_b {
            self.renamed_to(i, a.to_vec(), a_name);
        }
    }

    /// Whether an object of ours lies somewhere under the directory `dir`.
    pub fn is_live_under(&self, dir: &[u8]) -> bool {
        self.live.keys().any(|p| under(p, dir).is_some())
    }

    /// rename(2) of a directory (`exchange`: RENAME_EXCHANGE of two): the objects under
    /// it keep their history under its new path.
    pub fn moved_dir(&mut self, from: &[u8], to: &[u8], exchange: bool) {
        let mut moves = Vec::new();
        for (path, &i) in &self.live {
            if let Some(rest) = under(path, from) {
                moves.push((path.clone(), i, [to, rest].concat()));
            } else if let Some(rest) = under(path, to).filter(|_| exchange) {
                moves.push((path.clone(), i, [from, rest].concat()));
            }
        }
        for (old, ..) in &moves {
            self.live.remove(old);
        }
        for (_, i, new) in moves {
            self.objects[i].path = new.clone();
            self.live.insert(new, i);
        }
    }

    fn renamed_to(&mut self, i: usize, to: Vec<u8>, name: Option<Vec<u8>>) {
        self.objects[i].path = to.clone();
        if let Some(name) = name {
            self.objects[i].name = name;
        }
        self.live.insert(to, i);
    }

    /// link(2) of a temporary file to its real name (sem_open): the temporary one is not
    /// reported.
    pub fn hide(&mut self, path: &[u8]) {
        if let Some(&i) = self.live.get(path) {
            self.objects[i].hidden = true;
        }
    }

    /// ftruncate, truncate and an open with O_TRUNC set the size; fallocate
    /// (`grows_only`) only makes it larger.
    pub fn resized(&mut self, path: &[u8], size: u64, grows_only: bool) {
        if let Some(&i) = self.live.get(path) {
            let o = &mut self.objects[i];
            let size = if grows_only {
                o.size.unwrap_or(0).max(size)
            } else {
                size
            };
            o.size = Some(size);
            o.size_set = Some(size);
        }
    }

    /// The size the object at `path` really has (a stat just before its removal).
    pub fn measured(&mut self, path: &[u8], size: u64) {
        if let Some(&i) = self.live.get(path) {
            self.objects[i].size = Some(size);
        }
    }

    /// At the end, after [`Model::finish`]: the size of each POSIX segment left, as the
    /// file in /dev/shm has it now (`size_now`; `None` when it cannot be read).
    pub fn measure_left(&mut self, size_now: impl Fn(&Obj) -> Option<u64>) {
        for o in &mut self.objects {
            if o.left && o.kind == Kind::Segment {
                if let Some(size) = size_now(o) {
                    o.size = Some(size);
                }
            }
        }
    }

    /// At the end: marks what is left running, which objects remain, and which exited
    /// processes no one reaped because the kernel did it for a parent that ignores SIGCHLD.
    pub fn finish(&mut self, exists: impl Fn(&Obj) -> bool, zombie: impl Fn(i32) -> bool) {
        let traced: std::collections::HashSet<i32> = self.procs.iter().map(|p| p.pid).collect();
        for p in &mut self.procs {
            if p.alive() {
                p.left_running = true;
            } else if p.unreaped()
                && p.adopted.is_none()
                && traced.contains(&p.ppid)
                && !zombie(p.pid)
            {
                // Not the kernel's at the exit (the tracer sees that, `kernel_reaped`):
                // nothing says who reaped it, only that no zombie is left.
                p.gone_unseen = true;
            }
        }
        for o in &mut self.objects {
            o.left = o.unlinked.is_none() && exists(o);
        }
    }
}

/// The rest of `path` from the `/` after `dir`, when `path` lies under the directory `dir`.
fn under<'a>(path: &'a [u8], dir: &[u8]) -> Option<&'a [u8]> {
    path.strip_prefix(dir)
        .filter(|rest| rest.first() == Some(&b'/'))
}

#[cfg(test)]
mod tests;
