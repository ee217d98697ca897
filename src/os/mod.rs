//! The operating-system layer: thin, typed helpers over the kernel's process and
//! descriptor interfaces (signals and the SIGBUS guard, `/proc`, pidfds, epoll, descriptor
//! limits, CPU affinity, fork + exec + wait, systemd's notify socket, the watchdog thread).
//!
//! It owns no file of an instance and knows nothing of the pair: it may import only the
//! leaf helpers at the top of `src/` (`log`, `clock`, `trace`, `units`), never `disk`,
//! `pair`, `instance` or a command.

pub mod affinity;
pub mod fdlimit;
pub mod maps;
pub mod notify;
pub mod pidfd;
pub mod poller;
pub mod procfs;
pub mod sigbus;
pub mod signals;
pub mod spawn;
pub mod watchdog;
