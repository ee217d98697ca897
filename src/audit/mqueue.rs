//! POSIX message queues (mq_open(3)): the kernel keeps them in a file system of its own,
//! shown at /dev/mqueue only where it is mounted, so whether one exists is asked with
//! mq_open itself, and one left is removed with mq_unlink(3). glibc passes the kernel the
//! name without its leading slash.

use std::ffi::CString;
use std::io;

/// Where /dev/mqueue shows a queue (the audit's key for it, mounted or not) and its
/// POSIX name (`/NAME`), from the name the kernel got; `None` for a name the kernel
/// refuses (empty, or with a slash).
pub fn names(raw: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if raw.is_empty() || raw.contains(&b'/') {
        return None;
    }
    Some(([b"/dev/mqueue/", raw].concat(), [b"/", raw].concat()))
}

/// Whether a queue of that POSIX name exists now (one we may not open exists too).
pub fn exists(name: &[u8]) -> bool {
    let Ok(c) = CString::new(name) else {
        return false;
    };
    // SAFETY: a NUL-terminated name; without O_CREAT mq_open takes no more arguments.
    let q = unsafe { libc::mq_open(c.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK) };
    if q == -1 {
        return io::Error::last_os_error().raw_os_error() == Some(libc::EACCES);
    }
    // SAFETY: the descriptor was just opened, and is ours.
    unsafe { libc::mq_close(q) };
    true
}

/// Removes the queue of that POSIX name (`--clean`).
pub fn unlink(name: &[u8]) -> io::Result<()> {
    let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a NUL-terminated name.
    match unsafe { libc::mq_unlink(c.as_ptr()) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_named_as_posix_and_as_dev_mqueue_would_show_it() {
        assert_eq!(
            names(b"q1"),
            Some((b"/dev/mqueue/q1".to_vec(), b"/q1".to_vec()))
        );
        assert_eq!(names(b""), None);
        assert_eq!(names(b"a/b"), None);
        assert!(!exists(b"/osps-no-such-queue-ever"));
    }
}
