//! Reaching the server: over TCP (`--tcp`), a Unix socket given by path (`--socket`), or
//! the socket of the instance named by `--name`, waited for while it starts.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr};

use super::why::{Why, why_not_serving};
use crate::cli::ClientArgs;
use crate::disk::names::{Paths, default_runtime_dir};
use crate::exit::{Exit, coded};

/// A connection, over a Unix socket or TCP.
pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    /// The connection as a reader (which can set its own timeout) and a writer.
    pub fn split(self) -> Result<(Conn, Box<dyn Write>)> {
        Ok(match self {
            Conn::Unix(s) => (Conn::Unix(s.try_clone()?), Box::new(s)),
            Conn::Tcp(s) => (Conn::Tcp(s.try_clone()?), Box::new(s)),
        })
    }

    /// A descriptor of its own on the connection (to poll it beside stdin).
    pub fn try_clone_fd(&self) -> Result<OwnedFd> {
        match self {
            Conn::Unix(s) => s.as_fd().try_clone_to_owned(),
            Conn::Tcp(s) => s.as_fd().try_clone_to_owned(),
        }
        .wrap_err("duplicating the connection's descriptor")
    }

    pub fn set_read_timeout(&self, timeout: Duration) -> std::io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_read_timeout(Some(timeout)),
            Conn::Tcp(s) => s.set_read_timeout(Some(timeout)),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

/// Connects as the arguments say: the connection, and how to name its peer in messages.
pub fn connect(args: &ClientArgs) -> Result<(Conn, String)> {
    if let Some(addr) = &args.tcp {
        check_address(addr)?;
        let s = connect_tcp(addr, args.timeout)
            .map_err(out_of_reach)
            .wrap_err_with(|| {
                format!("connecting to {addr}: is `osps primary --serve --tcp {addr}` running?")
            })?;
        s.set_read_timeout(Some(args.timeout))?;
        s.set_nodelay(true)?;
        return Ok((Conn::Tcp(s), addr.clone()));
    }
    let Some(socket) = &args.socket else {
        return connect_instance(args);
    };
    check_socket_path(socket, "--socket")?;
    let s = UnixStream::connect(socket)
        .map_err(out_of_reach)
        .wrap_err_with(|| {
            format!(
                "connecting to {}: is an `osps primary --serve` listening on this socket? \
             (`osps inspect` shows each instance's socket path)",
                socket.display()
            )
        })?;
    s.set_read_timeout(Some(args.timeout))?;
    Ok((Conn::Unix(s), socket.display().to_string()))
}

/// The longest path a Unix socket can have (`sun_path` holds 108 bytes, its NUL included).
const MAX_SOCKET_PATH: usize = 107;

/// A socket path longer than a Unix socket path can be is a value to correct (exit status
/// 2): no server can listen there (`osps primary --serve` refuses it), so "is a server
/// listening?" or "start it with `osps primary --serve`" would send the user astray.
fn check_socket_path(path: &std::path::Path, shorter: &str) -> Result<()> {
    let len = path.as_os_str().len();
    if len <= MAX_SOCKET_PATH {
        return Ok(());
    }
    Err(coded(
        Exit::Usage,
        format!(
            "the socket path {} is {len} bytes, longer than the {MAX_SOCKET_PATH} a Unix \
             socket path can have: no server can listen there; give a shorter {shorter}",
            path.display()
        ),
    ))
}

/// Connects to `addr` (each address it resolves to in turn) within `timeout` for each: a
/// server whose accept queue is full, or an address that drops the handshake, would
/// otherwise keep the client waiting for the kernel's SYN retries (about two minutes).
fn connect_tcp(addr: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                last = Some(std::io::Error::new(
                    ErrorKind::TimedOut,
                    format!("no answer from {a} within --timeout {timeout:?}"),
                ));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            ErrorKind::NotFound,
            format!("{addr} resolves to no address"),
        )
    }))
}

/// A `--tcp` value that is no `ADDR:PORT` at all (no port, a port past 65535) is a value
/// to correct (exit status 2, as `osps primary --tcp` says of the same value), not a
/// server out of reach (8): nothing could be tried. The same split as the standard
/// library's, without resolving a host name.
fn check_address(addr: &str) -> Result<()> {
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let why = match addr.rsplit_once(':') {
        None => "no :PORT",
        Some(("", _)) => "no address before :PORT",
        Some((_, port)) if port.parse::<u16>().is_err() => {
            "the port is not a number from 0 to 65535"
        }
        Some(_) => return Ok(()),
    };
    Err(coded(
        Exit::Usage,
        format!(
            "--tcp {addr}: not an ADDR:PORT ({why}); give the address and port the server \
             listens on, like 127.0.0.1:7000 (`osps inspect` shows its .segment.header.tcp_port)"
        ),
    ))
}

/// A connection that could not be made or was lost: the cause of the error that says
/// where, with the exit status of a server out of reach.
pub fn out_of_reach(e: std::io::Error) -> color_eyre::Report {
    coded(Exit::NoConnection, e.to_string())
}

/// How long an instance of which nothing exists yet is given to appear: its primary
/// may have been started a moment ago (`osps primary --serve & osps client ...`).
const APPEAR: Duration = Duration::from_secs(1);

/// How often a client waiting for a starting instance tries its socket again.
const RETRY: Duration = Duration::from_millis(10);

/// Connects to the socket of the instance named by `--name`. An instance that is starting
/// (its primary holds the lock but does not listen yet) is waited for, up to `--timeout`;
/// one of which nothing exists, up to a second. When that fails, says why in the terms
/// of the instance (starting, not running, stale, running without `--serve`).
fn connect_instance(args: &ClientArgs) -> Result<(Conn, String)> {
    let paths = Paths::new(
        args.instance.name.clone(),
        default_runtime_dir(args.instance.runtime_dir.as_deref()),
    );
    let path = paths.in_dir(&paths.socket_file());
    check_socket_path(&path, "--runtime-dir or --name")?;
    let started = Instant::now();
    let s = loop {
        let e = match UnixStream::connect(&path) {
            Ok(s) => break s,
            Err(e) => e,
        };
        let why = why_not_serving(&paths);
        let waited = started.elapsed();
        let worth_waiting = match why {
            // A stranger's object may be moved away, and the socket made anew, meanwhile.
            Why::Starting { .. } | Why::Taken { .. } => waited < args.timeout,
            Why::Absent { .. } | Why::Stale => waited < args.timeout.min(APPEAR),
            Why::Rounds { .. } => false,
        };
        if !worth_waiting {
            let exit = match why {
                Why::Absent { .. } => Exit::NoSuchInstance,
                _ => Exit::NoConnection,
            };
            return Err(coded(exit, e.to_string()))
                .wrap_err_with(|| format!("connecting to {}", path.display()))
                .wrap_err_with(|| why.message(&paths, args.timeout));
        }
        std::thread::sleep(RETRY);
    };
    s.set_read_timeout(Some(args.timeout))?;
    Ok((Conn::Unix(s), path.display().to_string()))
}
