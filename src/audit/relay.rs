//! A stop signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT) that came to the audit: did the program get it too?
//!
//! A terminal's Ctrl-C, or `kill -INT -PGID`, goes to the whole process group: the
//! program got it with the audit, and its handler is already at work; sending it again
//! would make it count two (a second Ctrl-C often means "now"). A `kill PID` of the audit
//! alone (a harness, systemd, a teacher's script) reached only the audit: the program
//! must get it from the audit, or it is killed after the grace
//! without its handler ever running, and the report blames it for what that handler
//! would have removed. The signal's `si_code` and `si_pid` are the same both ways, so
//! the audit looks at the program instead:
//!
//! 1. [`barrier`]: a group kill queues the signal to every member while it holds the
//!    kernel's task list lock; `setpgid` takes that lock for writing, so once it returns
//!    the group kill has reached every member, the program too.
//! 2. [`pending`]: queued but not taken yet (the program blocks it, or has not run).
//! 3. Taken already: the tracer saw the program's signal-delivery-stop for it (the
//!    tracer's own record, after the waits queued so far are handled).
//!
//! If none of these, the audit sends it on with [`pass_on`], to the program's main
//! process only: it ends its own children as it chooses, as it would alone.

/// Waits until every signal a group kill was queuing is queued (see the module's
/// note). Its errors are none of our business: EPERM (a session leader) is reported
/// after the lock was taken and released all the same.
pub fn barrier() {
    // SAFETY: setpgid with our own pid (0) and our own group changes nothing; it has no
    // memory effects.
    let _ = unsafe { libc::setpgid(0, libc::getpgrp()) };
}

/// Whether `signal` is queued for process `pid` and not yet taken (the thread group's
/// ShdPnd or the main thread's SigPnd in /proc/PID/status). False if unreadable.
pub fn pending(pid: i32, signal: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .is_ok_and(|status| in_masks(&status, signal))
}

/// Whether `signal` is set in the SigPnd or ShdPnd mask of a /proc/PID/status text.
fn in_masks(status: &str, signal: i32) -> bool {
    let Some(bit) = u32::try_from(signal - 1).ok().filter(|&b| b < 64) else {
        return false;
    };
    status
        .lines()
        .filter_map(|l| {
            l.strip_prefix("SigPnd:")
                .or_else(|| l.strip_prefix("ShdPnd:"))
        })
        .filter_map(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .any(|mask| mask & (1 << bit) != 0)
}

/// Sends `signal` to process `pid` (the program's main process). A process already gone
/// (ESRCH) needs no signal; other errors are said, as the audit goes on either way.
pub fn pass_on(pid: i32, signal: i32) {
    // SAFETY: kill has no memory effects.
    if unsafe { libc::kill(pid, signal) } == -1 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ESRCH) {
            crate::warn!("passing signal {signal} on to the program (pid {pid}): {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tpython3\nSigQ:\t0/95406\nSigPnd:\t0000000000000000\n\
                          ShdPnd:\t0000000000004000\nSigBlk:\t0000000000000002\n";

    #[test]
    fn a_signal_is_pending_when_its_bit_is_in_either_mask() {
        assert!(in_masks(STATUS, libc::SIGTERM)); // bit 14 of ShdPnd
        assert!(!in_masks(STATUS, libc::SIGINT)); // blocked (SigBlk), not pending
        let thread = STATUS.replace("SigPnd:\t0000000000000000", "SigPnd:\t0000000000000002");
        assert!(in_masks(&thread, libc::SIGINT));
    }

    #[test]
    fn odd_signals_or_masks_are_not_pending() {
        assert!(!in_masks(STATUS, 0));
        assert!(!in_masks(STATUS, 65));
        assert!(!in_masks("SigPnd:\tzz\nShdPnd:\t\n", libc::SIGINT));
        assert!(!in_masks("", libc::SIGINT));
    }

    #[test]
    fn our_own_process_has_nothing_pending_and_the_barrier_returns() {
        barrier();
        // SAFETY: getpid cannot fail.
        let me = unsafe { libc::getpid() };
        assert!(!pending(me, libc::SIGUSR2));
        assert!(!pending(-1, libc::SIGINT));
    }
}
