//! The description of one instance that `osps status` prints (and `osps top` shows on
//! Enter), in the manner of `systemctl status`: a status line with a coloured dot, since
//! when, the process tree, counters and rates, the objects, heartbeats and warnings.

use std::time::Duration;

use crate::disk::owned::Kind;
use crate::instance::discover::{InstanceReport, Status};
use crate::pair::header::State;

use super::{
    Clock, Mode, Row, human_duration, human_ms, human_rate, or_dash, paint, status_color,
    status_word, utc,
};

/// What the description shows, taken from the model at one clock reading.
#[derive(Clone, Debug, PartialEq)]
pub struct Details {
    pub row: Row,
    pub created_unix_ms: Option<u64>,
    /// When the instance was last seen alive: its primary's last heartbeat (else the
    /// latest of its secondaries'), as an age (`CLOCK_MONOTONIC`, as the header keeps
    /// heartbeats) and as wall-clock time. A dead instance's is not its creation time.
    pub last_beat: Option<LastBeat>,
    /// One line per object: path, what it is, mode, size; absent ones are left out.
    pub objects: Vec<ObjectLine>,
    pub warnings: Vec<String>,
    /// Something at the path of its lock file, of a FIFO or of its segment is not as osps
    /// makes it, or a program that is not osps holds its lock ([`foreign_objects`]):
    /// cleanup leaves the whole instance alone until that is moved away or ended.
    pub foreign: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastBeat {
    pub age_ms: u64,
    pub unix_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectLine {
    pub path: String,
    pub what: String,
    pub mode: Option<String>,
    pub size: Option<u64>,
}

/// The details of one instance at `clock`.
pub fn details(instance: &InstanceReport, clock: Clock) -> Details {
    let h = super::header(instance);
    let mut objects = Vec::new();
    let seg = &instance.segment;
    if seg.object.exists {
        objects.push(ObjectLine {
            path: seg.object.path.clone(),
            what: "segment".into(),
            mode: seg.object.mode.clone(),
            size: seg.size,
        });
    }
    if instance.lock.exists {
        objects.push(ObjectLine {
            path: instance.lock.path.clone(),
            // Named for what it is when it is not a lock file osps makes, as a FIFO's
            // path is (and as cleanup, which leaves it alone, sees it).
            what: match (instance.lock.foreign, instance.lock.held) {
                (Some(kind), false) => format!("foreign {kind} at the path of the lock file"),
                (Some(kind), true) => {
                    format!("foreign {kind} at the path of the lock file (held)")
                }
                (None, true) => "lock (held)".into(),
                (None, false) => "lock (not held)".into(),
            },
            mode: None,
            size: None,
        });
    }
    for temp in &instance.lock.temps {
        objects.push(ObjectLine {
            path: temp.clone(),
            what: "half-made lock file (its creator died)".into(),
            mode: None,
            size: None,
        });
    }
    for fifo in instance.fifos.iter().filter(|f| f.object.exists) {
        objects.push(ObjectLine {
            path: fifo.object.path.clone(),
            // Something else planted at a FIFO's path is named for what it is (inspect's
            // `type`), foreign as `foreign_objects` counts it.
            what: match fifo.object.file_type.filter(|_| !fifo.is_fifo) {
                Some(kind) => format!(
                    "foreign {kind} at the path of fifo {} {}",
                    fifo.index, fifo.role
                ),
                None => format!("fifo {} {}", fifo.index, fifo.role),
            },
            mode: fifo.object.mode.clone(),
            size: None,
        });
    }
    if instance.socket.exists {
        objects.push(ObjectLine {
            path: instance.socket.path.clone(),
            // A stranger's object at its path is named for what it is, as a FIFO's is.
            what: match instance
                .socket
                .file_type
                .filter(|_| !instance.socket.is_kind(Kind::Socket))
            {
                Some(kind) => format!("foreign {kind} at the path of the socket"),
                None => "socket".into(),
            },
            mode: instance.socket.mode.clone(),
            size: None,
        });
    }
    // What inspect warns about, then why an object is not as osps makes it.
    let mut warnings: Vec<String> = instance.warnings.iter().map(|w| w.to_string()).collect();
    warnings.extend(seg.error.iter().cloned());
    warnings.extend(
        instance
            .lock
            .error
            .iter()
            .map(|e| format!("{}: {e}", instance.lock.path)),
    );
    warnings.extend(instance.fifos.iter().filter_map(|f| f.error.clone()));
    // Running, inspect's "socket replaced" says it already.
    if instance.status != Status::Running {
        warnings.extend(instance.socket_error());
    }
    let latest_secondary = instance
        .secondaries
        .iter()
        .filter_map(|m| m.heartbeat_age_ms)
        .chain(instance.secondary.heartbeat_age_ms)
        .min();
    let last_beat = instance
        .primary
        .heartbeat_age_ms
        .or(latest_secondary)
        .map(|age_ms| LastBeat {
            age_ms,
            unix_ms: clock.unix_ms.saturating_sub(age_ms),
        });
    Details {
        row: super::row(instance, clock),
        created_unix_ms: h.map(|h| h.created_unix_ms),
        last_beat,
        objects,
        warnings,
        foreign: !foreign_objects(instance).is_empty(),
    }
}

/// Why each thing at the path of the lock file, of a FIFO, of the socket or of the segment
/// is not as
/// osps makes it, and which program that is not osps holds the lock: what cleanup (and a
/// stopping primary) leaves in place, for the user to move away or end.
pub fn foreign_objects(instance: &InstanceReport) -> Vec<String> {
    let lock = instance
        .lock
        .error
        .iter()
        .map(|e| format!("{}: {e}", instance.lock.path));
    let holder = instance.foreign_lock_holder().map(ToString::to_string);
    let segment = instance.segment.foreign_error().map(str::to_string);
    lock.chain(holder)
        .chain(instance.fifos.iter().filter_map(|f| f.error.clone()))
        .chain(instance.socket_error())
        .chain(segment)
        .collect()
}

/// What to do about an instance that is not running. `foreign`: something at one of its
/// runtime paths is not osps's (see [`Details::foreign`]), which cleanup never removes.
pub fn hint(name: &str, status: Status, foreign: bool) -> Option<String> {
    match status {
        Status::Running => None,
        Status::Stale | Status::Partial if foreign => Some(format!(
            "its primary is gone, but something at one of its paths was not made by osps (see \
             the warnings): `osps cleanup --name {name}` leaves it all alone until you move that \
             away, then removes the rest"
        )),
        Status::Stale => Some(format!(
            "its primary is gone; remove what it left with `osps cleanup --name {name}`"
        )),
        Status::Partial => Some(format!(
            "only some of its objects exist (a crash, or a primary starting or stopping right \
             now); `osps cleanup --name {name}` removes them"
        )),
        Status::Corrupt => Some(format!(
            "its segment is not a valid osps segment (see the warnings); `osps cleanup --name \
             {name}` removes it when it is provably ours"
        )),
        Status::Inaccessible => {
            Some("its segment cannot be read by this user (another user's instance?)".to_string())
        }
    }
}

/// A heartbeat's age, or that the side has not beaten yet.
fn beat(ms: Option<u64>) -> String {
    match ms {
        Some(_) => format!("{} ago", human_ms(ms)),
        None => "none yet".into(),
    }
}

/// The text of `osps status`, ending with a newline.
pub fn render(d: &Details, color: bool) -> String {
    let row = &d.row;
    let mut out = String::new();
    let dot = paint("\u{25cf}", status_color(row.status), color);
    let mode = row.mode.map_or("", |m| match m {
        Mode::Rounds => " (rounds)",
        Mode::Serve => " (serve)",
    });
    out.push_str(&format!("{dot} {} - osps instance{mode}\n", row.name));
    let word = paint(status_word(row.status), status_color(row.status), color);
    let ago = |ms: u64| human_duration(Duration::from_millis(ms));
    let created = match (d.created_unix_ms, row.age_ms) {
        (Some(created), Some(age)) => Some(format!("{}; {} ago", utc(created), ago(age))),
        _ => None,
    };
    if row.status == Status::Running {
        let since = created
            .as_ref()
            .map(|c| format!(" since {c}"))
            .unwrap_or_default();
        out.push_str(&format!("{:>11}: {word}{since}\n", "Status"));
    } else {
        // Not "since" its creation: it may have run for hours and died a second ago.
        let seen = match d.last_beat {
            Some(b) => format!(
                "; last seen alive {}; {} ago (last heartbeat)",
                utc(b.unix_ms),
                ago(b.age_ms)
            ),
            None => "; never seen alive (no heartbeat)".to_string(),
        };
        out.push_str(&format!("{:>11}: {word}{seen}\n", "Status"));
    }
    if let Some(hint) = hint(&row.name, row.status, d.foreign) {
        out.push_str(&format!("{:>11}  {hint}\n", ""));
    }
    if let (Some(created), false) = (&created, row.status == Status::Running) {
        out.push_str(&format!("{:>11}: {created}\n", "Created"));
    }
    // The process tree: the primary, then each secondary under it.
    let primary = match row.primary {
        Some(pid) => format!(
            "{pid} osps primary ({})",
            row.primary_state.map_or("?", State::as_str)
        ),
        None => format!(
            "not running{}",
            row.primary_state
                .map(|s| format!(" (last state {s})"))
                .unwrap_or_default()
        ),
    };
    out.push_str(&format!("{:>11}: {primary}\n", "Primary"));
    for (i, w) in row.workers.iter().enumerate() {
        let branch = if i + 1 == row.workers.len() {
            "\u{2514}\u{2500}"
        } else {
            "\u{251c}\u{2500}"
        };
        let pid = if w.alive { or_dash(w.pid) } else { "-".into() };
        let state = if w.alive {
            State::name(w.state)
        } else {
            "dead"
        };
        let served = if row.mode == Some(Mode::Serve) {
            format!(", {} served", w.served)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{:>11}  {branch}{pid} secondary {} ({state}, {}{served})\n",
            "",
            w.index,
            crate::units::count(w.restarts, "restart", "restarts")
        ));
    }
    if let (Some(mode), Some(count)) = (row.mode, row.count) {
        let average = match row.age_ms {
            Some(age) if age > 0 => format!(
                " ({}/s on average since start)",
                human_rate(count as f64 * 1000.0 / age as f64)
            ),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{:>11}: {count} {}{average}\n",
            "Counters",
            mode.counted()
        ));
        if mode == Mode::Serve {
            out.push_str(&format!(
                "{:>11}  {} clients connected, {} requests queued\n",
                "",
                or_dash(row.clients),
                or_dash(row.queue)
            ));
        }
        out.push_str(&format!(
            "{:>11}  {} of the secondaries\n",
            "",
            row.restarts.map_or_else(
                || "- restarts".to_string(),
                |n| crate::units::count(n, "restart", "restarts")
            )
        ));
    }
    if row.primary.is_some() {
        let secondaries: Vec<String> = row
            .workers
            .iter()
            .filter(|w| w.alive)
            .map(|w| match (row.mode, w.heartbeat_ms) {
                // A serving secondary beats when it takes a turn, not while idle.
                (Some(Mode::Serve), Some(ms)) => {
                    format!("secondary {} last turn {} ago", w.index, human_ms(Some(ms)))
                }
                (Some(Mode::Serve), None) => format!("secondary {} no turn yet", w.index),
                _ => format!("secondary {} {}", w.index, beat(w.heartbeat_ms)),
            })
            .collect();
        let mut beats = vec![format!("primary {}", beat(row.primary_heartbeat_ms))];
        beats.extend(secondaries);
        out.push_str(&format!("{:>11}: {}\n", "Heartbeat", beats.join(", ")));
    }
    let width = d
        .objects
        .iter()
        .map(|o| o.path.chars().count())
        .max()
        .unwrap_or(0);
    for (i, o) in d.objects.iter().enumerate() {
        let label = if i == 0 { "Objects:" } else { "" };
        let mut line = format!("{label:>12} {:width$}  {}", o.path, o.what);
        if let Some(mode) = &o.mode {
            line.push_str(&format!(" {mode}"));
        }
        if let Some(size) = o.size {
            line.push_str(&format!(" {}", crate::units::format_bytes(size)));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for (i, w) in d.warnings.iter().enumerate() {
        let label = if i == 0 { "Warnings:" } else { "" };
        out.push_str(&format!("{label:>12} {}\n", paint(w, "33", color)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::render::tests::sample;

    fn details(row: Row) -> Details {
        Details {
            row,
            created_unix_ms: Some(1_700_000_000_000),
            last_beat: Some(LastBeat {
                age_ms: 80,
                unix_ms: 1_700_000_184_920,
            }),
            objects: vec![
                ObjectLine {
                    path: "/dev/shm/osps.1000.demo".into(),
                    what: "segment".into(),
                    mode: Some("0600".into()),
                    size: Some(1 << 20),
                },
                ObjectLine {
                    path: "/run/user/1000/osps/demo.lock".into(),
                    what: "lock (held)".into(),
                    mode: None,
                    size: None,
                },
            ],
            warnings: vec![],
            foreign: false,
        }
    }

    #[test]
    fn a_running_instance_reads_like_systemctl_status() {
        let text = render(&details(sample("demo", Status::Running)), false);
        let expected = "\
\u{25cf} demo - osps instance (rounds)
     Status: running since 2023-11-14 22:13:20 UTC; 3m05s ago
    Primary: 4242 osps primary (ready)
             \u{2514}\u{2500}4243 secondary 0 (busy, 1 restart)
   Counters: 1234 rounds (6.67/s on average since start)
             1 restart of the secondaries
  Heartbeat: primary 80ms ago, secondary 0 120ms ago
    Objects: /dev/shm/osps.1000.demo        segment 0600 1M
             /run/user/1000/osps/demo.lock  lock (held)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_stale_instance_says_what_to_do_and_shows_warnings() {
        let mut row = sample("demo", Status::Stale);
        row.primary = None;
        row.workers[0].alive = false;
        let mut d = details(row);
        d.warnings = vec!["something odd".into()];
        let text = render(&d, false);
        assert!(text.contains("Status: stale"), "{text}");
        assert!(text.contains("osps cleanup --name demo"), "{text}");
        assert!(
            text.contains("Primary: not running (last state ready)"),
            "{text}"
        );
        assert!(text.contains("- secondary 0 (dead, 1 restart)"), "{text}");
        assert!(!text.contains("Heartbeat"), "{text}");
        assert!(text.contains("   Warnings: something odd\n"), "{text}");
    }

    #[test]
    fn a_dead_instance_says_when_it_was_last_seen_alive_and_when_it_was_created_apart() {
        let mut row = sample("demo", Status::Stale);
        row.primary = None;
        // Created 3m05s ago, its primary's last heartbeat 1.5 s ago.
        let mut d = details(row);
        d.last_beat = Some(LastBeat {
            age_ms: 1500,
            unix_ms: 1_700_000_183_500,
        });
        let text = render(&d, false);
        assert!(
            text.contains(
                "     Status: stale; last seen alive 2023-11-14 22:16:23 UTC; 1s ago (last \
                 heartbeat)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("    Created: 2023-11-14 22:13:20 UTC; 3m05s ago\n"),
            "{text}"
        );
        assert!(!text.contains("stale since"), "{text}");
        d.last_beat = None;
        let text = render(&d, false);
        assert!(text.contains("Status: stale; never seen alive"), "{text}");
    }

    #[test]
    fn the_dot_and_status_are_coloured_only_when_asked() {
        let d = details(sample("demo", Status::Running));
        assert!(!render(&d, false).contains('\x1b'));
        let coloured = render(&d, true);
        assert!(
            coloured.starts_with("\x1b[32m\u{25cf}\x1b[0m demo"),
            "{coloured}"
        );
        assert!(coloured.contains("\x1b[32mrunning\x1b[0m"), "{coloured}");
    }

    #[test]
    fn a_pool_shows_every_secondary_and_the_clients() {
        let mut row = sample("svc", Status::Running);
        row.mode = Some(Mode::Serve);
        let mut second = row.workers[0].clone();
        second.index = 1;
        second.pid = Some(4244);
        second.state = Some(State::Ready);
        row.workers.push(second);
        let text = render(&details(row), false);
        assert!(
            text.contains("\u{251c}\u{2500}4243 secondary 0 (busy, 1 restart, 10 served)"),
            "{text}"
        );
        assert!(
            text.contains("\u{2514}\u{2500}4244 secondary 1 (ready, 1 restart, 10 served)"),
            "{text}"
        );
        assert!(text.contains("1234 requests"), "{text}");
        assert!(
            text.contains("0 clients connected, 0 requests queued"),
            "{text}"
        );
    }
}
