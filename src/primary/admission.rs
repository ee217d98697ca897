//! Who gets in: the serving primary's door. It listens on the instance's socket (and
//! `--tcp`), budgets descriptors at start to size `--max-clients`, refuses newcomers
//! politely beyond it, and handles a shortage of descriptors without spinning: the
//! newcomers are answered `ERR too many clients` on a reserve descriptor, and if even
//! that fails the listeners pause (`fdlimit.rs`). A socket removed while we serve is
//! made anew; one replaced by a stranger's object is said once and left to the user.
//!
//! The door decides who enters; the event loop (`serve.rs`) keeps the clients that did.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, eyre};

use super::clients::Stream;
use crate::cli::PrimaryArgs;
use crate::instance::objects::{Instance, SocketAt};
use crate::os::fdlimit::{self, Budget, Reserve, Shortage, TurnedAway};
use crate::os::poller::{Interest, Poller};
use crate::pair::header::Field;

/// The tokens the listeners have in the event loop's poll set.
#[derive(Clone, Copy, Debug)]
pub struct Tokens {
    pub unix: u64,
    pub tcp: u64,
}

/// The listeners and what bounds the clients they let in.
pub struct Door {
    unix: UnixListener,
    tcp: Option<TcpListener>,
    tokens: Tokens,
    /// The listeners are in the poll set (out of it while descriptors are short).
    listening: bool,
    reserve: Reserve,
    shortage: Shortage,
    max_clients: u64,
    /// Newcomers answered `ERR too many clients` and closed.
    turned_away: u64,
    /// When the door last looked whether its socket is still there.
    socket_seen: Instant,
    /// Making the removed socket anew failed, and was said (once per episode: the
    /// whole runtime directory may be gone, and it is looked at every second).
    socket_trouble: bool,
    /// A stranger's object stands at the socket's path, and that was said (once per
    /// episode, as `socket_trouble`).
    socket_taken: bool,
}

impl Door {
    /// Raises the descriptor limit, sizes --max-clients to it, and listens.
    pub fn open(args: &PrimaryArgs, inst: &mut Instance, tokens: Tokens) -> Result<Door> {
        let limit = fdlimit::raise_soft_limit()?;
        let budget = Budget::new(limit, fdlimit::open_now()?, u64::from(args.secondaries));
        let (max_clients, warning) = budget
            .max_clients(args.max_clients.map(u64::from))
            .map_err(|e| eyre!(e))?;
        if let Some(w) = warning {
            crate::warn!("{w}");
        }
        crate::debug!("descriptor limit {limit}: at most {max_clients} clients");
        let reserve = Reserve::open()?;
        let (unix, tcp) = listen(args, inst)?;
        Ok(Door {
            unix,
            tcp,
            tokens,
            listening: true,
            reserve,
            shortage: Shortage::default(),
            max_clients,
            turned_away: 0,
            socket_seen: Instant::now(),
            socket_trouble: false,
            socket_taken: false,
        })
    }

    /// Puts the listeners in the poll set.
    pub fn register(&self, poller: &Poller) -> Result<()> {
        poller.add(&self.unix, self.tokens.unix, Interest::READ)?;
        if let Some(t) = &self.tcp {
            poller.add(t, self.tokens.tcp, Interest::READ)?;
        }
        Ok(())
    }

    /// The TCP address it listens on, if any.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn turned_away(&self) -> u64 {
        self.turned_away
    }

    /// When a pause of the listeners ends, if they are paused.
    pub fn resume_at(&self) -> Option<Instant> {
        self.shortage.resume_at()
    }

    /// A client left: its descriptor is free again.
    pub fn client_left(&mut self) {
        self.shortage.client_left();
    }

    /// The next connection waiting on one listener (TCP if `tcp`), if any. Out of
    /// descriptors, every newcomer waiting is turned away instead (see `turn_away`).
    pub fn accept(&mut self, tcp: bool) -> Option<Stream> {
        loop {
            let accepted = match (&self.tcp, tcp) {
                (Some(t), true) => t.accept().map(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    Stream::Tcp(s)
                }),
                (None, true) => return None,
                (_, false) => self.unix.accept().map(|(s, _)| Stream::Unix(s)),
            };
            match accepted {
                Ok(stream) => {
                    if let Some(line) = self.shortage.ended() {
                        crate::info!("{line}");
                    }
                    return Some(stream);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if fdlimit::is_shortage(&e) => {
                    if let Some(w) = self.shortage.hit(&e) {
                        crate::warn!("{w}");
                    }
                    self.turn_away(tcp);
                    return None;
                }
                Err(e) => {
                    // A connection that went away before we took it (ECONNABORTED) and
                    // the like: the next one may be fine.
                    crate::debug!("accepting a client: {e}");
                    return None;
                }
            }
        }
    }

    /// Whether `clients` connected fill --max-clients.
    pub fn full(&self, clients: usize) -> bool {
        clients as u64 >= self.max_clients
    }

    /// Lets a newcomer in beside `clients` connected ones, or refuses it politely
    /// beyond --max-clients.
    pub fn admit(&mut self, stream: Stream, clients: usize) -> Option<Stream> {
        if self.full(clients) {
            let max = self.max_clients;
            stream.refuse(&format!("ERR too many clients (--max-clients {max})"));
            self.turned_away += 1;
            return None;
        }
        Some(stream)
    }

    /// Out of descriptors: every newcomer waiting is answered `ERR too many clients`
    /// on the reserve descriptor; if even that fails, the listeners pause.
    fn turn_away(&mut self, tcp: bool) {
        let reply = format!(
            "ERR too many clients (out of descriptors; --max-clients {})\n",
            self.max_clients
        );
        loop {
            let outcome = match (&self.tcp, tcp) {
                (Some(t), true) => fdlimit::turn_away(
                    &mut self.reserve,
                    || t.accept().map(|a| a.0),
                    reply.as_bytes(),
                ),
                (None, true) => return,
                (_, false) => fdlimit::turn_away(
                    &mut self.reserve,
                    || self.unix.accept().map(|a| a.0),
                    reply.as_bytes(),
                ),
            };
            match outcome {
                TurnedAway::One => {
                    self.shortage.turned_away();
                    self.turned_away += 1;
                }
                TurnedAway::Nobody => return,
                TurnedAway::Failed => {
                    self.shortage.pause(Instant::now());
                    return;
                }
            }
        }
    }

    /// Takes the listeners out of the poll set during a descriptor shortage that even
    /// the reserve could not relieve, and puts them back when it may be over.
    pub fn watch(&mut self, poller: &Poller, now: Instant) -> Result<()> {
        let want = !self.shortage.paused(now);
        if want == self.listening {
            return Ok(());
        }
        let interest = if want { Interest::READ } else { Interest::NONE };
        poller.modify(&self.unix, self.tokens.unix, interest)?;
        if let Some(t) = &self.tcp {
            poller.modify(t, self.tokens.tcp, interest)?;
        }
        self.listening = want;
        Ok(())
    }

    /// Makes the socket anew if it was removed while we serve (a user's `rm`, an
    /// age-based cleaner of /tmp): without it no new client could reach us. Another
    /// object put at its path is a stranger's: said once, left alone, and the socket made
    /// anew once it is gone. Looked at
    /// once every `every` (the event loop wakes that often); the connected clients are
    /// not disturbed.
    pub fn defend_socket(
        &mut self,
        inst: &Instance,
        poller: &Poller,
        every: Duration,
        now: Instant,
    ) {
        if now < self.socket_seen + every {
            return;
        }
        self.socket_seen = now;
        let path = inst.paths().in_dir(&inst.paths().socket_file());
        match inst.socket_at() {
            SocketAt::Ours => {
                self.socket_taken = false;
                return;
            }
            // Not ours to remove (docs/FAULTS.md): said once, and looked at again every
            // second, so that the socket is made anew once the object is moved away.
            SocketAt::Stranger(kind) => {
                if !self.socket_taken {
                    crate::warn!(
                        "the socket {} was replaced by a {kind} while instance {} serves; \
                         left it in place (osps removes only what it made): no new client can \
                         connect until you look at it and move it away or remove it by hand, \
                         then the socket is made anew within two seconds",
                        path.display(),
                        inst.paths().name
                    );
                    self.socket_taken = true;
                }
                return;
            }
            SocketAt::Gone => self.socket_taken = false,
        }
        let listener = match inst.listen() {
            Ok(listener) => listener,
            Err(e) => {
                if !self.socket_trouble {
                    crate::warn!(
                        "the socket {} was removed and cannot be made anew ({e:#}); clients \
                         cannot connect until it is (tried every second)",
                        path.display()
                    );
                    self.socket_trouble = true;
                }
                return;
            }
        };
        self.socket_trouble = false;
        let interest = if self.listening {
            Interest::READ
        } else {
            Interest::NONE
        };
        if let Err(e) = poller.add(&listener, self.tokens.unix, interest) {
            crate::warn!("listening on {} again: {e:#}", path.display());
            return;
        }
        // The old listener, now nameless, leaves the poll set as it closes.
        self.unix = listener;
        crate::warn!(
            "the socket {} was removed while instance {} serves; made it anew",
            path.display(),
            inst.paths().name
        );
    }
}

/// Listens on the instance's socket, and on `--tcp` if asked (port 0: any free port,
/// published in the header as `tcp_port`).
fn listen(args: &PrimaryArgs, inst: &mut Instance) -> Result<(UnixListener, Option<TcpListener>)> {
    let unix = inst.listen()?;
    let tcp = match &args.tcp {
        Some(addr) => {
            let l = TcpListener::bind(addr).wrap_err_with(|| format!("listening on TCP {addr}"))?;
            l.set_nonblocking(true)
                .wrap_err("making the TCP listener non-blocking")?;
            let port = l
                .local_addr()
                .wrap_err_with(|| format!("reading the port bound for TCP {addr}"))?
                .port();
            inst.seg().store(Field::TcpPort, u64::from(port));
            crate::trace!("listen", tcp = addr, port = port);
            Some(l)
        }
        None => None,
    };
    Ok((unix, tcp))
}
