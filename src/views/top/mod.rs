//! `osps top`: a live view of every instance, refreshed every `--interval`, drawn with
//! ratatui on crossterm; or, with `--json`, one compact JSON document per interval.
//!
//! Each refresh is one survey of [`crate::instance::discover`]; rates are the change of the
//! header's counter (rounds, or requests when serving) between two refreshes divided by
//! the time between them ([`rates`], a pure function). The terminal is put back as it
//! was (main screen, cooked mode, cursor shown) on every way out: `q`, an error (a guard's
//! `Drop`), a panic (a panic hook restores before the message is printed) and SIGTERM,
//! SIGINT or SIGHUP (they arrive through the self-pipe of [`crate::os::signals`] and end the
//! loop like `q`).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail};
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, terminal};
use nix::sys::signal::Signal;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{
    Block, Borders, Cell, Clear, HighlightSpacing, Paragraph, Row as TableRow, Table, TableState,
    Wrap,
};
use serde::Serialize;

use crate::cli::TopArgs;
use crate::disk::names;
use crate::exit::Exit;
use crate::instance::discover::{self, InstanceReport, Status};
use crate::os::signals;
use crate::output::{self, Reader};
use crate::views::render::{self, Clock, Row, describe, fit};

mod table;

use table::{GAP, MARKER, STATUS, lay_out, right_aligned};

/// The version of the `--json` documents' shape: 2 since the keys are inspect's
/// (`secondaries`, was `workers`; `heartbeat_age_ms` and `primary_heartbeat_age_ms`, were
/// `heartbeat_ms` and `primary_heartbeat_ms`, in the rows and the secondaries).
pub const SCHEMA_VERSION: u32 = 2;
/// The longest the loop waits for a key before looking for signals again.
const SLICE: Duration = Duration::from_millis(50);

/// Runs `osps top`.
pub fn run(args: &TopArgs) -> Result<Exit> {
    let runtime_dir = names::default_runtime_dir(args.select.runtime_dir.as_deref());
    if args.json {
        return json_loop(&runtime_dir, args);
    }
    if !std::io::stdout().is_terminal() {
        bail!(
            "osps top draws on a terminal and stdout is not one; use `osps top --json` for one \
             JSON document per interval (`--iterations N` stops after N)"
        );
    }
    tui(&runtime_dir, args)
}

// ---------------------------------------------------------------------------------------
// Samples and rates

/// One refresh: the survey, and the rows with their rates.
struct Sample {
    clock: Clock,
    /// Why the runtime directory was refused, if it was (only /dev/shm was surveyed).
    dir_error: Option<String>,
    instances: Vec<InstanceReport>,
    rows: Vec<RatedRow>,
}

/// A row of `top`: the instance's summary and its rate since the previous refresh.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RatedRow {
    #[serde(flatten)]
    pub row: Row,
    /// Rounds or requests per second since the previous refresh; `None` for an instance
    /// seen for the first time, or whose counter went backwards (a new instance of the
    /// same name).
    pub rate: Option<f64>,
    pub scoreboard: String,
}

/// The counters of the previous refresh, by instance name, and when they were read.
#[derive(Default)]
pub struct Previous {
    counts: HashMap<String, u64>,
    monotonic_ns: u64,
}

/// The highest rate top shows, per second: beyond, the counter was not counted but
/// written over.
const MAX_RATE: f64 = 1e8;

/// The rows with their rates against `previous`, which becomes this refresh.
pub fn rates(rows: Vec<Row>, monotonic_ns: u64, previous: &mut Previous) -> Vec<RatedRow> {
    let elapsed_s = monotonic_ns.saturating_sub(previous.monotonic_ns) as f64 / 1e9;
    let rated = rows
        .into_iter()
        .map(|row| {
            let rate = match (row.count, previous.counts.get(&row.name)) {
                (Some(now), Some(&before)) if now >= before && elapsed_s > 0.0 => {
                    Some((now - before) as f64 / elapsed_s)
                }
                _ => None,
            }
            // A count that leapt further than any pair can go (a round takes a
            // microsecond at best): a header scribbled by another process, not a rate.
            .filter(|&r| r <= MAX_RATE);
            RatedRow {
                scoreboard: row.scoreboard(),
                row,
                rate,
            }
        })
        .collect::<Vec<_>>();
    previous.counts = rated
        .iter()
        .filter_map(|r| Some((r.row.name.clone(), r.row.count?)))
        .collect();
    previous.monotonic_ns = monotonic_ns;
    rated
}

fn sample(runtime_dir: &Path, args: &TopArgs, previous: &mut Previous) -> Result<Sample> {
    let survey = discover::survey(runtime_dir, args.select.name.as_ref())
        .wrap_err_with(|| format!("surveying the instances of {}", runtime_dir.display()))?;
    let clock = Clock::now();
    let rows = survey
        .instances
        .iter()
        .map(|i| render::row(i, clock))
        .collect();
    Ok(Sample {
        clock,
        dir_error: survey.dir_error,
        rows: rates(rows, clock.monotonic_ns, previous),
        instances: survey.instances,
    })
}

// ---------------------------------------------------------------------------------------
// --json

/// One `--json` document.
#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    unix_ms: u64,
    /// `CLOCK_MONOTONIC` when the counters were read: rates are count differences over
    /// differences of this.
    monotonic_ns: u64,
    instances: &'a [RatedRow],
}

/// Prints one compact document at once (its rates null: nothing to compare with yet),
/// then one per interval, until `--iterations` or a reader that went away.
fn json_loop(runtime_dir: &Path, args: &TopArgs) -> Result<Exit> {
    let mut previous = Previous::default();
    let mut printed = 0u64;
    // Said once, and again when it changes, as list and inspect say it: without it the
    // instances of a refused directory look stale or partial for no stated reason.
    let mut said: Option<String> = None;
    while args.iterations.is_none_or(|n| printed < n) {
        if printed > 0 {
            // The interval runs from the end of one survey to the start of the next, so
            // a slow survey (a busy /proc) never leaves two refreshes a moment apart.
            std::thread::sleep(args.interval);
        }
        let s = sample(runtime_dir, args, &mut previous)?;
        if s.dir_error != said {
            if let Some(why) = &s.dir_error {
                crate::warn!("{why}; showing only what is in {}", names::SHM_DIR);
            }
            said = s.dir_error.clone();
        }
        let mut line = serde_json::to_vec(&Document {
            schema_version: SCHEMA_VERSION,
            unix_ms: s.clock.unix_ms,
            monotonic_ns: s.clock.monotonic_ns,
            instances: &s.rows,
        })
        .wrap_err("encoding a JSON document")?;
        line.push(b'\n');
        // A reader that left has all it wanted (`osps top --json | head -1`).
        if output::write_stdout_piece(&line)? == Reader::Gone {
            break;
        }
        printed += 1;
    }
    Ok(Exit::Success)
}

// ---------------------------------------------------------------------------------------
// The terminal

/// Puts the terminal back: main screen, cooked mode, cursor shown. Safe to call twice.
fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

/// The terminal in the state `top` draws in, for as long as it lives.
struct Screen {
    terminal: Terminal<CrosstermBackend<std::io::Stdout>>,
}

impl Screen {
    fn enter() -> Result<Screen> {
        // A panic restores the terminal before its message is printed, or the message
        // would land on the alternate screen and vanish with it.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        // The guard exists before the terminal changes, so every later failure restores it.
        let screen = Screen {
            terminal: Terminal::new(CrosstermBackend::new(std::io::stdout()))
                .wrap_err("setting up the terminal")?,
        };
        terminal::enable_raw_mode().wrap_err("switching the terminal to raw mode")?;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )
        .wrap_err("switching to the alternate screen")?;
        Ok(screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// What the interactive view shows besides the table.
struct View {
    selected: Option<String>,
    details: bool,
}

fn tui(runtime_dir: &Path, args: &TopArgs) -> Result<Exit> {
    let signals = signals::SelfPipe::install(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])?;
    let tty = std::fs::File::open("/dev/tty").wrap_err("opening /dev/tty to watch for keys")?;
    let mut screen = Screen::enter()?;
    let mut previous = Previous::default();
    let mut view = View {
        selected: None,
        details: false,
    };
    let mut refreshes = 0u64;
    'refresh: loop {
        let s = sample(runtime_dir, args, &mut previous)?;
        refreshes += 1;
        if view.selected.is_none() {
            view.selected = s.rows.first().map(|r| r.row.name.clone());
        }
        let next = Instant::now() + args.interval;
        // Drawn after each refresh and each key or resize, not every slice.
        let mut dirty = true;
        loop {
            if std::mem::take(&mut dirty) {
                screen
                    .terminal
                    .draw(|frame| draw(frame, runtime_dir, args, &s, &view))
                    .wrap_err("drawing on the terminal")?;
            }
            if signals::arrived() {
                signals.drain();
                break 'refresh;
            }
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                if args.iterations.is_some_and(|n| refreshes >= n) {
                    break 'refresh;
                }
                continue 'refresh;
            }
            // Wait on the terminal ourselves: a terminal that went away (window closed,
            // SSH dropped) makes crossterm's reader spin on end of file instead of failing.
            match wait_input(&tty, &signals, left.min(SLICE))? {
                Input::Nothing => continue,
                Input::Signal => continue, // seen at the top of the loop
                Input::HungUp => break 'refresh,
                Input::Keys => {}
            }
            // One wake-up may bring several keys (typed fast, or sent together):
            // crossterm reads all the terminal has and queues the events, and the terminal
            // then has nothing more to wake us for. So every queued event is handled now.
            while event::poll(Duration::ZERO).wrap_err("reading the keyboard")? {
                let key = match event::read().wrap_err("reading the keyboard")? {
                    Event::Key(key) if key.kind == KeyEventKind::Press => key,
                    Event::Resize(..) => {
                        dirty = true;
                        continue;
                    }
                    _ => continue,
                };
                dirty = true;
                if on_key(key, &s.rows, &mut view) == Asked::Quit {
                    break 'refresh;
                }
            }
        }
    }
    drop(screen);
    Ok(Exit::Success)
}

/// What a key asks of top.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    Stay,
    Quit,
}

/// Applies one key press to the view.
fn on_key(key: KeyEvent, rows: &[RatedRow], view: &mut View) -> Asked {
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('q') => return Asked::Quit,
        _ if ctrl_c => return Asked::Quit,
        KeyCode::Esc if view.details => view.details = false,
        KeyCode::Esc => return Asked::Quit,
        KeyCode::Enter => view.details = !view.details && view.selected.is_some(),
        KeyCode::Down | KeyCode::Char('j') => view.selected = step(rows, &view.selected, 1),
        KeyCode::Up | KeyCode::Char('k') => view.selected = step(rows, &view.selected, -1),
        _ => {}
    }
    Asked::Stay
}

/// What waiting on the terminal found.
enum Input {
    Nothing,
    Signal,
    Keys,
    /// The terminal is gone: nobody can see the screen or type a key any more.
    HungUp,
}

/// Waits up to `timeout` for a key on the terminal or a signal.
fn wait_input(
    tty: &std::fs::File,
    signals: &signals::SelfPipe,
    timeout: Duration,
) -> Result<Input> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [
        PollFd::new(tty.as_fd(), PollFlags::POLLIN),
        PollFd::new(signals.fd(), PollFlags::POLLIN),
    ];
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
        Err(e) => return Err(e).wrap_err("waiting for a key on /dev/tty"),
    }
    let tty = fds[0].revents().unwrap_or(PollFlags::empty());
    let sig = fds[1].revents().unwrap_or(PollFlags::empty());
    Ok(
        if tty.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
            Input::HungUp
        } else if sig.contains(PollFlags::POLLIN) {
            Input::Signal
        } else if tty.contains(PollFlags::POLLIN) {
            Input::Keys
        } else {
            Input::Nothing
        },
    )
}

/// The name `by` rows after the selected one (clamped), or the first when none is.
fn step(rows: &[RatedRow], selected: &Option<String>, by: isize) -> Option<String> {
    let at = selected
        .as_ref()
        .and_then(|name| rows.iter().position(|r| &r.row.name == name));
    let index = match at {
        Some(i) => i
            .saturating_add_signed(by)
            .min(rows.len().saturating_sub(1)),
        None => 0,
    };
    rows.get(index).map(|r| r.row.name.clone())
}

fn status_style(status: Status) -> Style {
    Style::default().fg(match status {
        Status::Running => Color::Green,
        Status::Stale | Status::Partial => Color::Yellow,
        Status::Corrupt => Color::Red,
        Status::Inaccessible => Color::Magenta,
    })
}

fn draw(
    frame: &mut ratatui::Frame<'_>,
    runtime_dir: &Path,
    args: &TopArgs,
    s: &Sample,
    view: &View,
) {
    // Lines cut to the width are marked, as the table's cells are: a clock cut to `12:3`
    // would read as another time. A warning is wrapped instead: it must be read whole.
    let width = usize::from(frame.area().width);
    let warning = refusal(s).map_or_else(Vec::new, |w| fit::wrap(&w, width));
    // At most half the screen, so that the table stays in view on a small terminal.
    let warning_height = warning.len().min(usize::from(frame.area().height / 2));
    let [title, warned, body, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::try_from(warning_height).unwrap_or(u16::MAX)),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(
        Paragraph::new(warning.into_iter().map(Line::from).collect::<Vec<_>>()).style(
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ),
        warned,
    );
    let running = s
        .rows
        .iter()
        .filter(|r| r.row.status == Status::Running)
        .count();
    let heading = format!(
        "osps top - {}, {running} running - {} - every {} - {}",
        crate::units::count(s.rows.len() as u64, "instance", "instances"),
        runtime_dir.display(),
        render::human_duration(args.interval),
        render::utc(s.clock.unix_ms),
    );
    frame.render_widget(
        Line::from(fit::cut_end(&heading, width))
            .style(Style::default().add_modifier(Modifier::BOLD)),
        title,
    );
    let laid = lay_out(&s.rows, usize::from(body.width));
    let cell = |column: usize, text: String| {
        let line = Line::from(text);
        Cell::from(if right_aligned(column) {
            line.alignment(Alignment::Right)
        } else {
            line
        })
    };
    let header = TableRow::new(
        laid.columns
            .iter()
            .zip(&laid.headings)
            .map(|(&(i, _), h)| cell(i, h.clone())),
    );
    let rows = s.rows.iter().zip(&laid.rows).map(|(r, texts)| {
        TableRow::new(laid.columns.iter().zip(texts).map(|(&(i, _), text)| {
            let c = cell(i, text.clone());
            if i == STATUS {
                c.style(status_style(r.row.status))
            } else {
                c
            }
        }))
    });
    let widths = laid
        .columns
        .iter()
        .map(|&(_, w)| Constraint::Length(u16::try_from(w).unwrap_or(u16::MAX)));
    let table = Table::new(rows, widths)
        .column_spacing(GAP as u16)
        .header(header.style(Style::default().add_modifier(Modifier::REVERSED)))
        .row_highlight_style(Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED))
        .highlight_symbol(MARKER)
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(
        view.selected
            .as_ref()
            .and_then(|name| s.rows.iter().position(|r| &r.row.name == name)),
    );
    frame.render_stateful_widget(table, body, &mut state);
    frame.render_widget(
        Line::from(fit::cut_end(
            "q quit   up/down or j/k select   Enter status   scoreboard: _ idle  W working  S starting  G stopping  T stopped  . dead",
            width,
        )),
        help,
    );
    if view.details {
        let instance = view
            .selected
            .as_ref()
            .and_then(|name| s.instances.iter().find(|i| &i.name == name));
        let text = instance.map_or_else(
            || "this instance is gone\n".to_string(),
            |i| describe::render(&describe::details(i, s.clock), false),
        );
        let area = inset(body);
        frame.render_widget(Clear, area);
        frame.render_widget(
            // Wrapped rather than cut at the panel's edge, for the same reason.
            Paragraph::new(text).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" status (Enter or Esc closes) "),
            ),
            area,
        );
    }
}

/// What the screen says, on every refresh while it lasts, when the runtime directory was
/// refused: the same words as the warning of `top --json` (and of list and inspect), for
/// without it the instances of that directory look stale or partial for no stated reason.
fn refusal(s: &Sample) -> Option<String> {
    s.dir_error
        .as_ref()
        .map(|why| format!("warning: {why}; showing only what is in {}", names::SHM_DIR))
}

/// A rectangle two cells inside `area` on each side (the whole area when too small).
fn inset(area: Rect) -> Rect {
    if area.width < 10 || area.height < 6 {
        return area;
    }
    Rect::new(area.x + 2, area.y + 1, area.width - 4, area.height - 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::render::tests::with_count;

    #[test]
    fn a_count_that_leapt_has_no_rate() {
        let mut previous = Previous::default();
        rates(vec![with_count("a", 5)], 1_000_000_000, &mut previous);
        let rated = rates(
            vec![with_count("a", u64::MAX - 1)],
            2_000_000_000,
            &mut previous,
        );
        assert_eq!(rated[0].rate, None);
    }

    #[test]
    fn rates_are_count_differences_over_time() {
        let mut previous = Previous::default();
        let first = rates(vec![with_count("a", 100)], 1_000_000_000, &mut previous);
        assert_eq!(first[0].rate, None);
        let second = rates(
            vec![with_count("a", 350), with_count("b", 7)],
            1_500_000_000,
            &mut previous,
        );
        assert_eq!(second[0].rate, Some(500.0));
        assert_eq!(second[1].rate, None, "b is new");
        // A new instance of the same name starts again from zero: no negative rate.
        let third = rates(vec![with_count("a", 3)], 2_500_000_000, &mut previous);
        assert_eq!(third[0].rate, None);
    }

    #[test]
    fn selection_moves_and_stays_within_the_rows() {
        let mut previous = Previous::default();
        let rows = rates(
            vec![with_count("a", 0), with_count("b", 0)],
            0,
            &mut previous,
        );
        assert_eq!(step(&rows, &None, 1), Some("a".into()));
        assert_eq!(step(&rows, &Some("a".into()), 1), Some("b".into()));
        assert_eq!(step(&rows, &Some("b".into()), 1), Some("b".into()));
        assert_eq!(step(&rows, &Some("a".into()), -1), Some("a".into()));
        assert_eq!(step(&[], &Some("a".into()), 1), None);
    }

    #[test]
    fn json_rows_flatten_the_summary() {
        let mut previous = Previous::default();
        let rows = rates(vec![with_count("a", 5)], 0, &mut previous);
        let v = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(v["name"], "a");
        assert_eq!(v["count"], 5);
        assert_eq!(v["rate"], serde_json::Value::Null);
        assert_eq!(v["scoreboard"], "W");
    }
}
