//! `osps client`: sends requests to a serving primary and prints each reply.
//!
//! Each argument is one request (or, with no argument, each line of stdin); each reply is
//! printed on its own line. The exit status is 1 when any reply was `ERR ...`.
//!
//! When the instance's socket does not answer, the error says why in the instance's
//! terms (none running, a stale one, one running rounds rather than serving), read from
//! its lock file and segment as `inspect` does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

use color_eyre::eyre::{Result, WrapErr, bail};

use crate::cli::ClientArgs;
use crate::exit::Exit;
use crate::lockfile::InstanceLock;
use crate::names::{Paths, default_runtime_dir};
use crate::procfs;
use crate::protocol;
use crate::rundir::RuntimeDir;
use crate::segment;

/// A connection, over a Unix socket or TCP.
enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn split(self) -> Result<(Box<dyn Read>, Box<dyn Write>)> {
        Ok(match self {
            Conn::Unix(s) => (Box::new(s.try_clone()?), Box::new(s)),
            Conn::Tcp(s) => (Box::new(s.try_clone()?), Box::new(s)),
        })
    }
}

fn connect(args: &ClientArgs) -> Result<(Conn, String)> {
    if let Some(addr) = &args.tcp {
        let s = TcpStream::connect(addr).wrap_err_with(|| {
            format!("connecting to {addr}: is `osps primary --serve --tcp {addr}` running?")
        })?;
        s.set_read_timeout(Some(args.timeout))?;
        s.set_nodelay(true)?;
        return Ok((Conn::Tcp(s), addr.clone()));
    }
    let Some(socket) = &args.socket else {
        return connect_instance(args);
    };
    let s = UnixStream::connect(socket).wrap_err_with(|| {
        format!(
            "connecting to {}: is an `osps primary --serve` listening on this socket? \
             (`osps inspect` shows each instance's socket path)",
            socket.display()
        )
    })?;
    s.set_read_timeout(Some(args.timeout))?;
    Ok((Conn::Unix(s), socket.display().to_string()))
}

/// Connects to the socket of the instance named by `--name`; when that fails, says why
/// in the terms of the instance (not running, stale, running without `--serve`).
fn connect_instance(args: &ClientArgs) -> Result<(Conn, String)> {
    let paths = Paths::new(
        args.instance.name.clone(),
        default_runtime_dir(args.instance.runtime_dir.as_deref()),
    );
    let path = paths.in_dir(&paths.socket_file());
    let s = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) => {
            return Err(e)
                .wrap_err_with(|| format!("connecting to {}", path.display()))
                .wrap_err_with(|| why_not_serving(&paths));
        }
    };
    s.set_read_timeout(Some(args.timeout))?;
    Ok((Conn::Unix(s), path.display().to_string()))
}

/// What the instance's lock file and segment say about why its socket did not answer.
/// Read-only, like `inspect`: never takes the lock, never opens a FIFO.
fn why_not_serving(paths: &Paths) -> String {
    let name = &paths.name;
    let start = format!("start it with `osps primary --serve --name {name}`");
    let Ok(dir) = RuntimeDir::open_existing(&paths.runtime_dir) else {
        return format!(
            "no instance {name} is running (no runtime directory {}); {start}",
            paths.runtime_dir.display()
        );
    };
    let lock = InstanceLock::probe(&dir, paths);
    if lock.held {
        let pid = lock
            .pid
            .map(|p| format!(" (primary pid {p})"))
            .unwrap_or_default();
        let serving = lock.pid.is_some_and(procfs::serves);
        return match dir.stat(&paths.socket_file()) {
            Ok(None) if serving => format!(
                "instance {name} is serving{pid}, but its socket {} is gone (removed while it \
                 runs?): no client can connect until it is restarted (`osps stop {name}`, then \
                 {start})",
                paths.in_dir(&paths.socket_file()).display()
            ),
            Ok(None) => format!(
                "instance {name} is running in rounds mode, not serving{pid}; start it with --serve"
            ),
            _ => format!("instance {name} is running{pid} but its socket refused the connection"),
        };
    }
    let segment = segment::look(paths).ok().flatten().is_some();
    if lock.exists || segment {
        return format!(
            "instance {name} is not running (its primary is gone and left its objects); \
             run `osps cleanup --name {name}`, then {start}"
        );
    }
    format!("no instance {name} is running; {start}")
}

/// Runs `osps client`.
pub fn run(args: &ClientArgs) -> Result<Exit> {
    let (conn, peer) = connect(args)?;
    let (reader, mut writer) = conn.split()?;
    let mut replies = BufReader::new(reader);
    let stdin_lines;
    let requests: Box<dyn Iterator<Item = Result<String>>> = if args.requests.is_empty() {
        stdin_lines = std::io::stdin().lock().lines();
        Box::new(stdin_lines.map(|l| l.wrap_err("reading a request from stdin")))
    } else {
        Box::new(args.requests.iter().cloned().map(Ok))
    };
    let mut out = std::io::stdout().lock();
    let mut failed = 0usize;
    let mut line = String::new();
    for request in requests {
        let request = request?;
        if request.contains('\n') {
            bail!("a request cannot contain a newline: {request:?}");
        }
        if let Err(e) = writer.write_all(format!("{request}\n").as_bytes()) {
            // The server may have closed after saying why (`ERR too many clients`): that
            // line is the answer to show, rather than the broken pipe it caused.
            line.clear();
            if replies.read_line(&mut line).is_ok_and(|n| n > 0)
                && protocol::is_error(line.trim_end_matches('\n'))
            {
                failed += 1;
                let _ = writeln!(out, "{}", line.trim_end_matches('\n'));
                break;
            }
            return Err(e).wrap_err_with(|| format!("sending a request to {peer}"));
        }
        line.clear();
        let n = replies.read_line(&mut line).wrap_err_with(|| {
            format!(
                "waiting for the reply from {peer} (--timeout {:?})",
                args.timeout
            )
        })?;
        if n == 0 || !line.ends_with('\n') {
            bail!("{peer} closed the connection before replying to {request:?}");
        }
        let reply = line.trim_end_matches('\n');
        if protocol::is_error(reply) {
            failed += 1;
        }
        if writeln!(out, "{reply}").is_err() {
            break; // stdout closed (osps client ... | head): nothing more to show
        }
    }
    if failed > 0 {
        crate::warn!("{failed} request(s) got an ERR reply");
        return Ok(Exit::Failure);
    }
    Ok(Exit::Success)
}
