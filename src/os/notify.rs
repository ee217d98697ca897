//! systemd integration (`Type=notify`): when `NOTIFY_SOCKET` is set, the primary sends
//! `READY=1` once the secondary is ready, `STATUS=` lines as it runs, `STOPPING=1` when it
//! stops, and `WATCHDOG=1` pings every half `WATCHDOG_USEC` when the unit has `WatchdogSec=`.
//! The protocol is one datagram per message on a Unix socket (see sd_notify(3)); a
//! name starting with `@` is an abstract socket. Without `NOTIFY_SOCKET` all of this is off.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
    last_ping: Instant,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` (honouring `WATCHDOG_PID`).
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|path| {
            let path = path.to_str()?.to_string();
            let addr = match path.strip_prefix('@') {
                Some(name) => SocketAddr::from_abstract_name(name.as_bytes()).ok()?,
                None => SocketAddr::from_pathname(&path).ok()?,
            };
            let sock = UnixDatagram::unbound().ok()?;
            Some((sock, addr))
        });
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us && socket.is_some())
            .map(|u| Duration::from_micros(u / 2));
        Notifier {
            socket,
            watchdog,
            last_ping: Instant::now(),
        }
    }

    fn send(&self, message: &str) {
        if let Some((sock, addr)) = &self.socket {
            if let Err(e) = sock.send_to_addr(message.as_bytes(), addr) {
                crate::debug!("sd_notify {message:?} failed: {e}");
            }
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}"));
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }

    /// How long the caller may sleep before the next watchdog ping is due.
    pub fn next_ping_in(&self) -> Option<Duration> {
        self.watchdog
            .map(|p| p.saturating_sub(self.last_ping.elapsed()))
    }

    /// When the next watchdog ping is due.
    pub fn next_ping_at(&self) -> Option<Instant> {
        self.watchdog.map(|p| self.last_ping + p)
    }

    /// Sends `WATCHDOG=1` if a ping is due.
    pub fn ping_if_due(&mut self) {
        if let Some(period) = self.watchdog {
            if self.last_ping.elapsed() >= period {
                self.send("WATCHDOG=1");
                self.last_ping = Instant::now();
            }
        }
    }
}
