//! The options of the pair: `osps primary` (with the rules its values must keep
//! together, [`PrimaryArgs::validate`]) and `osps secondary`.

use std::net::ToSocketAddrs;
use std::time::Duration;

use clap::Args;

use super::shared::InstanceArgs;
use crate::pair::area::part_len;
use crate::pair::header::{HEADER_LEN, MAX_WORKERS, header_len_for};
use crate::pair::turn::SyncMode;
use crate::units;

/// Create the segment and FIFOs, start the secondary, run rounds, stop in order.
///
/// One round: the primary writes --payload bytes into the segment and gives the turn to
/// the secondary, which replaces them by their reverse and gives the turn back; the primary
/// checks every byte. With --rounds N it runs N rounds back to back and stops; without, it
/// runs a heartbeat round every --interval until SIGINT (Ctrl-C) or SIGTERM.
///
/// On stop the secondary exits first and the primary reaps it (no zombie), then removes
/// the FIFOs, the segment and the lock file. If the secondary dies or hangs it is
/// restarted, up to --max-restarts times a minute.
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment, allow_negative_numbers = true, after_long_help = crate::exit::help_of("primary"))]
pub struct PrimaryArgs {
    #[command(flatten)]
    pub instance: InstanceArgs,

    /// Segment size: a multiple of 8, at least one page, at most 1G (suffixes K, M, G)
    #[arg(long, allow_hyphen_values = true, default_value = "1M", value_parser = units::parse_segment_size, value_name = "BYTES")]
    pub size: u64,

    /// Bytes exchanged per round, at most the data area (size minus the 256-byte header)
    #[arg(long, allow_hyphen_values = true, default_value = "64", value_parser = units::parse_nonzero_bytes, value_name = "BYTES", conflicts_with = "serve")]
    pub payload: u64,

    /// Run N rounds back to back, then stop (default: run until SIGINT or SIGTERM)
    #[arg(long, value_name = "N", value_parser = units::parse_positive_count)]
    pub rounds: Option<u64>,

    /// Time between heartbeat rounds when running without --rounds (not 0)
    #[arg(long, allow_hyphen_values = true, default_value = "1s", value_parser = units::parse_nonzero_duration, value_name = "DURATION", conflicts_with = "serve")]
    pub interval: Duration,

    /// How long the secondary may take to start and say hello (not 0)
    #[arg(long, allow_hyphen_values = true, default_value = "5s", value_parser = units::parse_nonzero_duration, value_name = "DURATION")]
    pub start_timeout: Duration,

    /// How long a round may take before the secondary counts as hung (killed, restarted; not 0)
    #[arg(long, allow_hyphen_values = true, default_value = "2s", value_parser = units::parse_nonzero_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// Restarts of a dead or hung secondary allowed within a minute before giving up (0: never restart)
    #[arg(long, default_value_t = 5, value_parser = units::parse_count32, value_name = "N")]
    pub max_restarts: u32,

    /// Wait before the first restart; doubles with each restart in the last minute, capped at 5s
    #[arg(long, allow_hyphen_values = true, default_value = "100ms", value_parser = units::parse_duration, value_name = "DURATION")]
    pub restart_backoff: Duration,

    /// How the two sides wait for their turn
    #[arg(long, value_enum, default_value_t = SyncMode::Adaptive)]
    pub sync: SyncMode,

    /// In adaptive mode, the longest a wait polls the segment before sleeping on the FIFO (below --timeout); the budget shrinks when polling does not pay
    #[arg(long, allow_hyphen_values = true, default_value = "200us", value_parser = units::parse_duration, value_name = "DURATION")]
    pub spin: Duration,

    /// Print the final summary as one JSON object on stdout
    #[arg(long)]
    pub json: bool,

    /// Print every system-level step of both processes on stderr: aligned text, or NDJSON with =json
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "text", value_name = "FORMAT")]
    pub trace: Option<crate::trace::Format>,

    /// Wait this long between the secondary's exit and its reap, so ps shows it as a zombie (Z)
    #[arg(long, allow_hyphen_values = true, value_parser = units::parse_duration, value_name = "DURATION")]
    pub hold_zombie: Option<Duration>,

    /// Serve clients (see osps-client(1)) on RUNDIR/NAME.sock instead of running rounds
    #[arg(long, conflicts_with = "rounds")]
    pub serve: bool,

    /// With --serve, also accept clients on this TCP address (loopback only without --tcp-any)
    #[arg(
        long,
        value_name = "ADDR:PORT",
        requires = "serve",
        conflicts_with = "rounds"
    )]
    pub tcp: Option<String>,

    /// Allow --tcp to bind a non-loopback address
    #[arg(long, requires = "tcp", conflicts_with = "rounds")]
    pub tcp_any: bool,

    /// With --serve, how many secondaries share the work (each its own FIFO pair and slot)
    #[arg(long, default_value_t = 1, value_parser = parse_secondaries, value_name = "N", requires = "serve", conflicts_with = "rounds")]
    pub secondaries: u32,

    /// With --serve, the longest request line; longer ones get "ERR line too long"
    #[arg(long, allow_hyphen_values = true, default_value = "64K", value_parser = units::parse_nonzero_bytes, value_name = "BYTES", requires = "serve", conflicts_with = "rounds")]
    pub max_line: u64,

    /// With --serve, how many clients may be connected at once [default: 1024, or fewer if the descriptor limit allows fewer]
    #[arg(long, value_name = "N", value_parser = units::parse_positive_count32, requires = "serve", conflicts_with = "rounds")]
    pub max_clients: Option<u32>,

    /// With --serve, how many requests of one client may wait or be served at once; beyond, it is not read until its replies drain
    #[arg(long, default_value_t = 32, value_parser = units::parse_positive_count32, value_name = "N", requires = "serve", conflicts_with = "rounds")]
    pub max_inflight: u32,

    /// With --serve, how many requests may wait for a free secondary; beyond, "ERR busy"
    #[arg(long, default_value_t = 4096, value_parser = units::parse_positive_count32, value_name = "N", requires = "serve", conflicts_with = "rounds")]
    pub queue: u32,

    /// With --serve, whether the primary and its secondaries run together on one CPU (pinned), leaving the others to the clients: more requests a second under load on few CPUs (together, a lone client waits longer)
    #[arg(long, value_enum, default_value_t = ShareCpu::Auto, value_name = "WHEN", requires = "serve", conflicts_with = "rounds")]
    pub share_cpu: ShareCpu,
}

/// When the serving processes share one CPU (see `primary/placement.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ShareCpu {
    /// Together while the server is loaded (4 or more requests a turn for 20 ms), apart after 100 ms of light load; only where the primary may run on 2 CPUs
    Auto,
    /// Together from the start, on the CPU the primary starts on
    Always,
    /// Apart: the kernel places every process
    Never,
}

/// Values of `osps primary` that do not fit together: a usage error (exit status 2)
/// either way, reported before anything is created.
#[derive(Debug)]
pub enum Misfit {
    /// Reported by clap as it parses, with the subcommand's usage (see
    /// `Command::validate`): the message.
    Usage(String),
    /// Sizes that do not fit: reported by the primary as its first act, once its log is
    /// set up, like any of its errors (see `primary::run`).
    Size(String),
}

impl PrimaryArgs {
    /// Checks the values that only make sense together, every rule in this one place:
    /// the spin against the timeout, the payload against the segment, and with
    /// `--serve` the TCP address and each secondary's slot against the longest line.
    pub fn validate(&self) -> Result<(), Misfit> {
        if self.spin >= self.timeout {
            return Err(Misfit::Usage(format!(
                "--spin {:?} is not below --timeout {:?}: the waiting side would spin through \
                 the whole round and the secondary would count as hung; lower --spin or raise --timeout",
                self.spin, self.timeout
            )));
        }
        self.check_payload().map_err(Misfit::Size)?;
        if self.serve {
            self.check_tcp().map_err(Misfit::Size)?;
            self.check_slots().map_err(Misfit::Size)?;
        }
        Ok(())
    }

    /// The rounds' payload must fit the data area after the header.
    fn check_payload(&self) -> Result<(), String> {
        let data_size = self.size - HEADER_LEN as u64;
        if self.payload > data_size {
            return Err(format!(
                "--payload {} does not fit: a {} segment has a {data_size}-byte data area after \
                 its {HEADER_LEN}-byte header; raise --size or lower --payload",
                self.payload,
                units::format_bytes(self.size)
            ));
        }
        Ok(())
    }

    /// `--tcp` is an address, on loopback only unless `--tcp-any`.
    fn check_tcp(&self) -> Result<(), String> {
        let Some(addr) = &self.tcp else { return Ok(()) };
        let resolved: Vec<_> = addr
            .to_socket_addrs()
            .map_err(|e| format!("--tcp {addr}: not an ADDR:PORT ({e})"))?
            .collect();
        if !self.tcp_any {
            if let Some(open) = resolved.iter().find(|a| !loopback(a.ip())) {
                return Err(format!(
                    "--tcp {addr} would accept clients from other hosts ({}); use a loopback \
                     address like 127.0.0.1:PORT, or add --tcp-any if that is what you want",
                    open.ip()
                ));
            }
        }
        Ok(())
    }

    /// The slot every secondary gets must hold the longest line, plus its newline.
    fn check_slots(&self) -> Result<(), String> {
        let header = header_len_for(self.secondaries as usize) as u64;
        let Some(data_size) = self.size.checked_sub(header) else {
            return Err(format!(
                "--size {} cannot even hold the header of {} secondaries ({header} bytes); \
                 raise --size",
                self.size, self.secondaries
            ));
        };
        let whole = usize::try_from(data_size).unwrap_or(usize::MAX);
        let slot = part_len(whole, self.secondaries as usize) as u64;
        if slot < self.max_line + 1 {
            let who = if self.secondaries == 1 {
                format!("the one secondary has a {data_size}-byte data area")
            } else {
                format!(
                    "{} secondaries share a {data_size}-byte data area, {slot} bytes each",
                    self.secondaries
                )
            };
            return Err(format!(
                "--max-line {} does not fit: {who}; raise --size or lower --max-line{}",
                self.max_line,
                if self.secondaries == 1 {
                    ""
                } else {
                    " or --secondaries"
                }
            ));
        }
        Ok(())
    }
}

/// Whether a client from `ip` can only be on this host: a loopback address, IPv4's
/// written as IPv6 too (`::ffff:127.0.0.1`, which `is_loopback` does not count).
fn loopback(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        v4 => v4.is_loopback(),
    }
}

/// The worker side; normally started by "osps primary", never by hand except to debug.
///
/// It attaches to the instance's segment, opens the FIFOs, says hello, then answers each
/// round until the primary says stop (or disappears: then it exits within a second).
/// Started wrongly (no segment, a bad header, a missing FIFO) it exits with an error.
#[derive(Debug, Args, Clone)]
#[command(verbatim_doc_comment, after_long_help = crate::exit::help_of("secondary"))]
pub struct SecondaryArgs {
    #[command(flatten)]
    pub instance: InstanceArgs,

    /// How to wait for turns (must match the primary's)
    #[arg(long, value_enum, default_value_t = SyncMode::Adaptive)]
    pub sync: SyncMode,

    /// In adaptive mode, the longest a wait polls the segment before sleeping on the FIFO
    #[arg(long, allow_hyphen_values = true, default_value = "200us", value_parser = units::parse_duration, value_name = "DURATION")]
    pub spin: Duration,

    /// How long to wait for the primary's ready after saying hello (not 0)
    #[arg(long, allow_hyphen_values = true, default_value = "5s", value_parser = units::parse_nonzero_duration, value_name = "DURATION")]
    pub start_timeout: Duration,

    /// Which secondary of the pool this is (0 for the first; set by the primary)
    #[arg(long, default_value_t = 0, value_name = "I")]
    pub index: u32,

    /// Answer client requests (the primary's --serve mode) instead of reversing payloads
    #[arg(long)]
    pub serve: bool,
}

/// `--secondaries`: 1 to [`MAX_WORKERS`], the slots the header has room for.
fn parse_secondaries(text: &str) -> Result<u32, String> {
    let most = u64::try_from(MAX_WORKERS).unwrap_or(u64::MAX);
    units::parse_count(text, 1, most).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}
