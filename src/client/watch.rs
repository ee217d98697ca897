//! Standard input, read only while the connection has nothing to say: an interactive
//! `osps client` that waits for its next request line also notices the server hang up,
//! and says so at once instead of when the next line is typed.
//!
//! Before each read of stdin (a `BufReader` over this reads only once its buffer is
//! empty, that is, exactly when the client would block), both stdin and the connection
//! are polled. Stdin is read as soon as it is ready, data or end of file alike, so input
//! already there is always taken first. The connection turning readable first with an
//! end of file means the server closed it: the read fails with [`ServerClosed`]. Bytes
//! the server sent unasked are left for the next reply's read, and the connection is not
//! watched any more (it would stay readable).

use std::io::{ErrorKind, Read, Stdin};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Stdin, watched beside a connection.
pub struct Watched<'a> {
    stdin: Stdin,
    conn: Option<BorrowedFd<'a>>,
}

/// The error a read of [`Watched`] fails with when the server closed the connection
/// while we waited for input.
#[derive(Debug)]
pub struct ServerClosed;

impl std::fmt::Display for ServerClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the server closed the connection")
    }
}

impl std::error::Error for ServerClosed {}

impl<'a> Watched<'a> {
    pub fn new(stdin: Stdin, conn: BorrowedFd<'a>) -> Watched<'a> {
        Watched {
            stdin,
            conn: Some(conn),
        }
    }

    /// Waits until stdin is ready; `Err(ServerClosed)` if the server hung up first.
    fn wait(&mut self) -> std::io::Result<()> {
        while let Some(conn) = self.conn {
            let stdin = self.stdin.as_fd();
            let mut fds = [
                PollFd::new(stdin, PollFlags::POLLIN),
                PollFd::new(conn, PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            if ready(&fds[0]) {
                return Ok(());
            }
            if !ready(&fds[1]) {
                continue;
            }
            let mut byte = [0u8; 1];
            // SAFETY: recv writes at most one byte into `byte`, ours for the call; the
            // descriptor is borrowed, open for as long as `self`.
            let n = unsafe {
                libc::recv(
                    conn.as_raw_fd(),
                    byte.as_mut_ptr().cast(),
                    1,
                    libc::MSG_PEEK | libc::MSG_DONTWAIT,
                )
            };
            match (n, Errno::last()) {
                (0, _) => {
                    return Err(std::io::Error::new(
                        ErrorKind::ConnectionAborted,
                        ServerClosed,
                    ));
                }
                (-1, Errno::EAGAIN | Errno::EINTR) => {}
                // Bytes unasked, or an error the next reply's read will report: stop
                // watching, and wait for stdin alone.
                _ => self.conn = None,
            }
        }
        Ok(())
    }
}

impl Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.wait()?;
        // The descriptor itself, not `Stdin`'s own buffer: what poll saw is what is read.
        loop {
            match nix::unistd::read(self.stdin.as_fd(), buf) {
                Err(Errno::EINTR) => continue,
                // A closed stdin (`<&-`) is no input, as `std::io::stdin` takes it.
                Err(Errno::EBADF) => return Ok(0),
                other => return other.map_err(std::io::Error::from),
            }
        }
    }
}

/// Whether `e`, from reading a request, is [`ServerClosed`].
pub fn server_closed(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<ServerClosed>())
}
