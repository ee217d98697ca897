"""Lab-style programs for tests/audit.rs, each right or with one mistake.

python3 lab.py MODE NAME DIR: NAME is a unique shared-memory name, DIR a private
directory for FIFOs. Uses the lab's own APIs: multiprocessing.shared_memory, os.mkfifo,
os.fork, os.waitpid, subprocess.
"""
import os
import signal
import subprocess
import sys
import time
from multiprocessing import resource_tracker, shared_memory

mode, name, d = sys.argv[1], sys.argv[2], sys.argv[3]


def clean_pair():
    """The lab done right: a segment and a FIFO, a child that writes both, reaped."""
    fifo = os.path.join(d, "pair.fifo")
    shm = shared_memory.SharedMemory(name=name, create=True, size=4096)
    os.mkfifo(fifo)
    pid = os.fork()
    if pid == 0:
        peer = shared_memory.SharedMemory(name=name)
        peer.buf[:5] = b"hello"
        peer.close()
        with open(fifo, "wb") as f:
            f.write(b"go")
        os._exit(0)
    with open(fifo, "rb") as f:
        assert f.read() == b"go"
    os.waitpid(pid, 0)
    assert bytes(shm.buf[:5]) == b"hello"
    shm.close()
    shm.unlink()
    os.unlink(fifo)


def segment_left():
    """Forgets shm.unlink(), and keeps the resource tracker from covering it up."""
    shm = shared_memory.SharedMemory(name=name, create=True, size=4096)
    resource_tracker.unregister(shm._name, "shared_memory")
    shm.close()


def tracker_removes():
    """Forgets shm.unlink(): Python's resource tracker removes it at shutdown."""
    shm = shared_memory.SharedMemory(name=name, create=True, size=4096)
    shm.close()


def fifo_left():
    os.mkfifo(os.path.join(d, "left.fifo"))


def zombie():
    """The child ends at once; the parent waits only a second later."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    time.sleep(1.0)
    os.waitpid(pid, 0)


def never_reaped():
    """The child ends at once; the parent never waits for it."""
    if os.fork() == 0:
        os._exit(0)
    time.sleep(0.3)
    os._exit(0)


def grandchild():
    """A child starts a long sleep and ends; nobody stops the sleep."""
    child = subprocess.Popen(["sh", "-c", "sleep 30 >/dev/null & echo $!"], stdout=subprocess.PIPE)
    print(child.stdout.read().decode().strip(), file=sys.stderr, flush=True)
    child.wait()


def parent_first():
    """The parent ends while its child still runs: the child ends only once adopted (a
    fixed sleep lost the race to a parent slow to exit on a loaded machine, and then the
    child was, truly, a zombie its parent never reaped)."""
    parent = os.getpid()
    if os.fork() == 0:
        while os.getppid() == parent:
            time.sleep(0.01)
        time.sleep(0.3)
        os._exit(0)


def after_chdir():
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    os.chdir(sub)
    os.mkfifo("rel.fifo")
    os.unlink("rel.fifo")


def through_dirfd():
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    fd = os.open(sub, os.O_RDONLY)
    os.mkfifo("at.fifo", dir_fd=fd)
    os.unlink("at.fifo", dir_fd=fd)
    os.close(fd)


def odd_name():
    """A FIFO whose name holds a newline and a byte that is not UTF-8; left behind."""
    os.mkfifo(os.path.join(os.fsencode(d), b"new\nline\xff.fifo"))


def threads():
    """A thread makes and removes the FIFO: the process is what counts."""
    import threading

    def work():
        path = os.path.join(d, "thread.fifo")
        os.mkfifo(path)
        os.unlink(path)

    t = threading.Thread(target=work)
    t.start()
    t.join()


def storm():
    n = int(os.environ.get("STORM", "2000"))
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)


def ignores_term():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ready", file=sys.stderr, flush=True)
    while True:
        time.sleep(0.05)


def sleeps():
    print("ready", file=sys.stderr, flush=True)
    time.sleep(30)


{
    "clean": clean_pair,
    "segment-left": segment_left,
    "tracker": tracker_removes,
    "fifo-left": fifo_left,
    "zombie": zombie,
    "never-reaped": never_reaped,
    "grandchild": grandchild,
    "parent-first": parent_first,
    "chdir": after_chdir,
    "dirfd": through_dirfd,
    "odd-name": odd_name,
    "storm": storm,
    "threads": threads,
    "ignores-term": ignores_term,
    "sleeps": sleeps,
}[mode]()
