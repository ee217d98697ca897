//! Reading a stopped tracee's memory: a path a call names, the siginfo waitid filled.
//! process_vm_readv(2) reads a whole buffer in one call; where it is missing (ENOSYS: a
//! sandbox's seccomp filter) or refused (EPERM), PTRACE_PEEKDATA reads it a word at a
//! time. Both are refused for a non-dumpable process (an execute-only program, mode
//! 0711, or one that called prctl(PR_SET_DUMPABLE, 0)) when the tracer is not privileged
//! (Linux 4.10 and later check dumpability for PEEKDATA too): then the read is
//! [`Unread::Denied`], and the report says what could not be seen.

use std::io;

/// Why a tracee's memory could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unread {
    /// The kernel refuses it: the process is not dumpable and we are not privileged.
    Denied,
    /// Not mapped, too long, or the process is gone.
    Gone,
}

/// Reads a NUL-terminated string of at most `max` bytes from a tracee's memory, page by
/// page (a string may end just before an unmapped page).
pub fn read_cstring(pid: i32, addr: u64, max: usize) -> Result<Vec<u8>, Unread> {
    const PAGE: u64 = 4096;
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < max {
        let to_page_end = (PAGE - at % PAGE) as usize;
        let want = to_page_end.min(max - out.len());
        let mut buf = vec![0u8; want];
        let n = read_mem(pid, at, &mut buf)?;
        if n == 0 {
            return Err(Unread::Gone);
        }
        if let Some(end) = buf[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..end]);
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        at += n as u64;
    }
    Err(Unread::Gone)
}

/// Reads a little-endian word from a tracee's memory.
pub fn read_u64(pid: i32, addr: u64) -> Result<u64, Unread> {
    let mut buf = [0u8; 8];
    match read_mem(pid, addr, &mut buf)? {
        8 => Ok(u64::from_ne_bytes(buf)),
        _ => Err(Unread::Gone),
    }
}

/// Reads `buf.len()` bytes at `addr` of a stopped tracee: how many it could read.
fn read_mem(pid: i32, addr: u64, buf: &mut [u8]) -> Result<usize, Unread> {
    if addr == 0 {
        return Err(Unread::Gone);
    }
    match vm_read(pid, addr, buf) {
        Ok(n) => Ok(n),
        // EPERM: not dumpable, and we are not privileged; ENOSYS: no such call here.
        Err(e) => {
            let denied = e.raw_os_error() == Some(libc::EPERM);
            if denied || e.raw_os_error() == Some(libc::ENOSYS) {
                // PEEKDATA says EIO both when refused and when not mapped: what
                // process_vm_readv said tells the two apart.
                peek_read(pid, addr, buf).ok_or(if denied { Unread::Denied } else { Unread::Gone })
            } else {
                Err(Unread::Gone)
            }
        }
    }
}

/// The word of a stopped tracee's memory at `addr`, by PTRACE_PEEKDATA.
fn peek(pid: i32, addr: u64) -> io::Result<[u8; WORD]> {
    // SAFETY: errno is thread-local; PEEKDATA returns the word itself, so -1 is an error
    // only when errno says so, and it must be cleared first.
    unsafe { *libc::__errno_location() = 0 };
    // SAFETY: PTRACE_PEEKDATA takes plain integers and writes no memory of ours.
    let word = unsafe {
        libc::ptrace(
            libc::PTRACE_PEEKDATA,
            pid,
            addr as usize as *mut libc::c_void,
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    if word == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(0) {
            return Err(e);
        }
    }
    Ok(word.to_ne_bytes())
}

const WORD: usize = std::mem::size_of::<libc::c_long>();

/// `buf` filled from aligned words (an aligned word never straddles a page, so the last
/// bytes before an unmapped page are read too); how many bytes were read before the
/// first word that could not be (`None` if not even the first).
fn peek_read(pid: i32, addr: u64, buf: &mut [u8]) -> Option<usize> {
    let mut done = 0;
    while done < buf.len() {
        let at = addr + done as u64;
        let skip = (at % WORD as u64) as usize;
        let Ok(word) = peek(pid, at - skip as u64) else {
            break;
        };
        let n = (WORD - skip).min(buf.len() - done);
        buf[done..done + n].copy_from_slice(&word[skip..skip + n]);
        done += n;
    }
    (done > 0).then_some(done)
}

/// process_vm_readv(2) of `buf.len()` bytes at `addr`.
fn vm_read(pid: i32, addr: u64, buf: &mut [u8]) -> io::Result<usize> {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: the local iovec covers exactly `buf`; the remote one is only read by the
    // kernel, which checks it against the tracee's mappings.
    let n = unsafe { libc::process_vm_readv(pid, &raw const local, 1, &raw const remote, 1, 0) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}
