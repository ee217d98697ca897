//! `epoll`, thinly: the serving primary's event loop registers each descriptor once with a
//! `u64` token and changes only what it wants when that changes, instead of rebuilding a
//! `poll` set of every client on every pass (which costs O(clients) per wake-up).
//!
//! There is no "remove": closing a descriptor removes it from the set (no descriptor of
//! ours is ever duplicated), which is how clients and dead secondaries leave it.
//!
//! Registrations are level-triggered unless asked otherwise ([`Interest::edge`]): a
//! descriptor that stays readable is reported again on the next wait, so the loop may read
//! a bounded amount and come back later. The
//! kernel always reports hang-up and error, even for a descriptor registered with no
//! interest at all; a caller that pauses a descriptor (back-pressure) must therefore act
//! on [`Ready::hangup`] or [`Ready::error`], or it would be woken for them forever.

use std::os::fd::AsFd;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr};
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

/// The events a caller asks to be woken for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    pub read: bool,
    pub write: bool,
    /// Edge-triggered: reported when bytes or room come, not while they are there (for a
    /// descriptor whose reader leaves bytes in it on purpose, see `primary/stream.rs`).
    pub edge: bool,
}

impl Interest {
    /// Nothing but hang-up and error (which the kernel always reports).
    pub const NONE: Interest = Interest {
        read: false,
        write: false,
        edge: false,
    };
    pub const READ: Interest = Interest {
        read: true,
        write: false,
        edge: false,
    };

    fn flags(self) -> EpollFlags {
        let mut flags = EpollFlags::empty();
        if self.read {
            // RDHUP too: a peer that shut down its write side is "readable" (end of file).
            flags |= EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP;
        }
        if self.write {
            flags |= EpollFlags::EPOLLOUT;
        }
        if self.edge {
            flags |= EpollFlags::EPOLLET;
        }
        flags
    }
}

/// What one wait found for one registered descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    pub token: u64,
    /// Data, or end of file, can be read.
    pub readable: bool,
    /// The peer shut down its writing side: end of file comes after what it sent (an
    /// edge-triggered reader must read on to it, no later event says so again).
    pub peer_closed: bool,
    pub writable: bool,
    /// The peer is gone in both directions (or the descriptor was shut down both ways).
    pub hangup: bool,
    pub error: bool,
}

impl Ready {
    fn of(event: &EpollEvent) -> Ready {
        let f = event.events();
        Ready {
            token: event.data(),
            readable: f.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP),
            peer_closed: f.contains(EpollFlags::EPOLLRDHUP),
            writable: f.contains(EpollFlags::EPOLLOUT),
            hangup: f.contains(EpollFlags::EPOLLHUP),
            error: f.contains(EpollFlags::EPOLLERR),
        }
    }
}

/// An epoll instance and the buffer its waits fill.
#[derive(Debug)]
pub struct Poller {
    epoll: Epoll,
    events: Vec<EpollEvent>,
}

/// How many events one wait returns at first; the buffer doubles when a wait fills it.
const FIRST_CAPACITY: usize = 64;
/// The buffer never grows past this many events (a wait returns the rest next time).
const MAX_CAPACITY: usize = 4096;

impl Poller {
    pub fn new() -> Result<Poller> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .wrap_err("creating the epoll instance of the event loop")?;
        Ok(Poller {
            epoll,
            events: vec![EpollEvent::empty(); FIRST_CAPACITY],
        })
    }

    /// Starts watching `fd`; its events come back with `token`.
    pub fn add(&self, fd: impl AsFd, token: u64, interest: Interest) -> Result<()> {
        self.epoll
            .add(fd, EpollEvent::new(interest.flags(), token))
            .wrap_err_with(|| format!("adding descriptor {token} to the epoll set"))
    }

    /// Changes what `fd` (already added) is watched for.
    pub fn modify(&self, fd: impl AsFd, token: u64, interest: Interest) -> Result<()> {
        let mut event = EpollEvent::new(interest.flags(), token);
        self.epoll
            .modify(fd, &mut event)
            .wrap_err_with(|| format!("changing descriptor {token} in the epoll set"))
    }

    /// Waits until something is ready or `timeout` passes (`None`: no limit). A signal
    /// interrupting the wait returns nothing ready; the self-pipe says which.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<impl Iterator<Item = Ready> + '_> {
        let timeout = match timeout {
            // Rounded up: a deadline 0.3 ms away must not become a busy loop of 0 ms waits.
            Some(t) => {
                let ms = t.as_micros().div_ceil(1000).min(i32::MAX as u128);
                EpollTimeout::try_from(ms as i32).unwrap_or(EpollTimeout::MAX)
            }
            None => EpollTimeout::NONE,
        };
        let n = match self.epoll.wait(&mut self.events, timeout) {
            Ok(n) => n,
            Err(Errno::EINTR) => 0,
            Err(e) => return Err(e).wrap_err("waiting for clients and secondaries (epoll_wait)"),
        };
        if n == self.events.len() && n < MAX_CAPACITY {
            // A full buffer: more may be ready. Grow for next time; the rest stay ready
            // (level-triggered) and are reported by the next wait.
            self.events
                .resize((2 * n).min(MAX_CAPACITY), EpollEvent::empty());
        }
        Ok(self.events[..n].iter().map(Ready::of))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::Instant;

    use super::*;

    fn ready(p: &mut Poller, timeout_ms: u64) -> Vec<Ready> {
        p.wait(Some(Duration::from_millis(timeout_ms)))
            .unwrap()
            .collect()
    }

    #[test]
    fn a_readable_socket_is_reported_with_its_token_until_drained() {
        let mut p = Poller::new().unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        p.add(&b, 42, Interest::READ).unwrap();
        assert!(ready(&mut p, 0).is_empty());
        a.write_all(b"x").unwrap();
        let r = ready(&mut p, 1000);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].token, 42);
        assert!(r[0].readable && !r[0].writable && !r[0].hangup && !r[0].error);
        // Level-triggered: still unread, so reported again.
        assert_eq!(ready(&mut p, 0).len(), 1);
    }

    #[test]
    fn modify_switches_between_write_and_nothing_and_closing_removes() {
        let mut p = Poller::new().unwrap();
        let (_a, b) = UnixStream::pair().unwrap();
        p.add(&b, 7, Interest::NONE).unwrap();
        assert!(ready(&mut p, 0).is_empty());
        let write = Interest {
            read: false,
            write: true,
            edge: false,
        };
        p.modify(&b, 8, write).unwrap();
        let r = ready(&mut p, 1000);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].token, 8);
        assert!(r[0].writable && !r[0].readable);
        p.modify(&b, 8, Interest::NONE).unwrap();
        assert!(ready(&mut p, 0).is_empty());
        drop(b);
        // Closed: gone from the set.
        assert!(ready(&mut p, 0).is_empty());
    }

    #[test]
    fn a_peer_that_closes_is_a_hangup_even_without_interest() {
        let mut p = Poller::new().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        p.add(&b, 1, Interest::NONE).unwrap();
        drop(a);
        let r = ready(&mut p, 1000);
        assert_eq!(r.len(), 1);
        assert!(r[0].hangup, "{r:?}");
    }

    #[test]
    fn a_peer_that_shuts_down_its_write_side_is_readable() {
        let mut p = Poller::new().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        p.add(&b, 1, Interest::READ).unwrap();
        a.shutdown(std::net::Shutdown::Write).unwrap();
        let r = ready(&mut p, 1000);
        assert_eq!(r.len(), 1);
        assert!(r[0].readable && !r[0].hangup, "{r:?}");
    }

    #[test]
    fn a_wait_with_nothing_ready_lasts_at_least_its_timeout() {
        let mut p = Poller::new().unwrap();
        let (_a, b) = UnixStream::pair().unwrap();
        p.add(&b, 1, Interest::READ).unwrap();
        let t = Instant::now();
        // 1.5 ms rounds up to 2 ms, never down to a 1 ms (or 0 ms) wait.
        assert!(
            p.wait(Some(Duration::from_micros(1500)))
                .unwrap()
                .next()
                .is_none()
        );
        assert!(t.elapsed() >= Duration::from_micros(1500));
    }

    #[test]
    fn more_ready_descriptors_than_the_buffer_are_all_reported_over_several_waits() {
        let mut p = Poller::new().unwrap();
        let pairs: Vec<_> = (0..FIRST_CAPACITY + 10)
            .map(|_| UnixStream::pair().unwrap())
            .collect();
        for (i, (a, b)) in pairs.iter().enumerate() {
            p.add(b, i as u64, Interest::READ).unwrap();
            (&*a).write_all(b"x").unwrap();
        }
        let first: Vec<_> = ready(&mut p, 1000);
        assert_eq!(first.len(), FIRST_CAPACITY);
        // The buffer grew: the next wait sees every ready descriptor.
        let mut tokens: Vec<_> = ready(&mut p, 1000).iter().map(|r| r.token).collect();
        tokens.sort();
        assert_eq!(tokens, (0..pairs.len() as u64).collect::<Vec<_>>());
    }

    #[test]
    fn adding_a_descriptor_twice_is_an_error() {
        let p = Poller::new().unwrap();
        let (_a, b) = UnixStream::pair().unwrap();
        p.add(&b, 1, Interest::READ).unwrap();
        assert!(p.add(&b, 2, Interest::READ).is_err());
    }
}
