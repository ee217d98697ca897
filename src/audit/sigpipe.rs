//! What a process getting a SIGPIPE was writing to. The kernel raises SIGPIPE in a
//! process whose write found no reader left: on an anonymous pipe (`yes | head -n 1`, how
//! every pipeline ends once its last stage has read enough), on a stream socket whose
//! peer closed, or on a FIFO (the lab's bug: the reader, a server, stopped before its
//! writer). Only the last is a mistake of the program, so the tracer looks at the
//! signal's delivery stop, while the process is still whole: who sent the signal (the
//! kernel raising it for the process's own write leaves SI_USER and the process's own
//! pid), the call the task has just returned from (`/proc/TID/syscall`: on x86_64 it
//! still names the call and its descriptor; on aarch64 the kernel has forgotten the call
//! by then), and what that descriptor is. When the call is not known, a FIFO the process
//! has open for writing stands for it, and the report says so.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;

use super::model::{BrokenPipe, End};
use super::ptrace;
use super::syscalls;

/// At the delivery stop of a SIGPIPE to task `tid` of process `tgid`: what its write
/// found without a reader, or `None` when the kernel did not raise it for a write of
/// this process (a kill, from outside the audit or not, or from the process itself: then
/// the call it stopped in is known and is no write).
pub fn at_delivery(tid: i32, tgid: i32) -> Option<BrokenPipe> {
    let (code, from) = ptrace::signal_sender(tid).ok()?;
    if code != libc::SI_USER || from != tgid {
        return None;
    }
    let call = std::fs::read_to_string(format!("/proc/{tid}/syscall"))
        .ok()
        .and_then(|text| syscalls::parse_proc_syscall(&text));
    if let Some((nr, args)) = call {
        // The call is known: unless it writes, the signal is a kill the process sent
        // itself (kill(getpid(), SIGPIPE) reads as the kernel's own), not a broken pipe.
        let fd = syscalls::written_fd(nr, args)?;
        if let Some(end) = end_of(tid, fd) {
            return Some(BrokenPipe { end, fd: Some(fd) });
        }
    }
    let end = fifo_open_for_writing(tid).map_or(End::Unnamed, End::Fifo);
    Some(BrokenPipe { end, fd: None })
}

/// What descriptor `fd` of task `tid` is, when it is something a write can find
/// without a reader.
fn end_of(tid: i32, fd: i32) -> Option<End> {
    let link = format!("/proc/{tid}/fd/{fd}");
    let target = std::fs::read_link(&link).ok()?;
    let target = target.as_os_str().as_bytes();
    if target.starts_with(b"pipe:") {
        return Some(End::Pipe);
    }
    if target.starts_with(b"socket:") {
        return Some(End::Socket);
    }
    // Following the link reaches the object itself, even a FIFO removed since.
    let is_fifo = std::fs::metadata(&link).is_ok_and(|m| m.file_type().is_fifo());
    is_fifo.then(|| End::Fifo(syscalls::fd_target(target).to_vec()))
}

/// The path of a FIFO task `tid` has open for writing only (a FIFO open for reading and
/// writing is its own reader: a write to it never meets a closed end).
fn fifo_open_for_writing(tid: i32) -> Option<Vec<u8>> {
    let fds = std::fs::read_dir(format!("/proc/{tid}/fd")).ok()?;
    fds.flatten().find_map(|entry| {
        let fd: i32 = entry.file_name().to_str()?.parse().ok()?;
        let End::Fifo(path) = end_of(tid, fd)? else {
            return None;
        };
        let info = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
        (syscalls::fdinfo_access(&info)? == libc::O_WRONLY).then_some(path)
    })
}
