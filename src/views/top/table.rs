//! The table of `osps top`: its columns, the cells of a row, and their layout for the
//! terminal's width ([`lay_out`]), a pure function of the rows and the width.
//!
//! A narrow terminal loses its least important columns first ([`DROP_ORDER`]); a number
//! is shown whole or not at all, and only text (the name, the scoreboard) is cut, marked
//! with `…` (see [`crate::views::render::fit`]), so that nothing cut reads as another value.

use super::RatedRow;
use crate::views::render::{
    self,
    fit::{self, Need},
};

const NAME: usize = 0;
pub const STATUS: usize = 1;
const MODE: usize = 2;
const PRIMARY: usize = 3;
const PER_SEC: usize = 4;
const TOTAL: usize = 5;
const RESTARTS: usize = 6;
const HEARTBEAT: usize = 7;
const SECONDARIES: usize = 8;

/// The headings, left to right. The counter's is `TOTAL` (rounds or requests, as MODE
/// says), not `osps list`'s `ROUNDS/REQUESTS`: next to `PER SEC` it reads as the total,
/// and it leaves room for every column of a short name at 80 columns.
const HEADINGS: [&str; 9] = [
    "NAME",
    "STATUS",
    "MODE",
    "PRIMARY",
    "PER SEC",
    "TOTAL",
    "RESTARTS",
    "HEARTBEAT",
    "SECONDARIES",
];

/// The columns by importance to a live view, the first to go first when the terminal
/// is too narrow: the mode and the counters change least or are in the status panel
/// (Enter); the rate, the scoreboard and the heartbeat are what one watches; the name
/// and the status go last ([`LAST_TO_GO`]), the name never.
const DROP_ORDER: [usize; 9] = [
    MODE,
    RESTARTS,
    TOTAL,
    PRIMARY,
    HEARTBEAT,
    SECONDARIES,
    PER_SEC,
    STATUS,
    NAME,
];
const LAST_TO_GO: usize = 2;
/// Blanks between columns (ratatui's default column spacing).
pub const GAP: usize = 1;
/// The selection's marker, `> `, always set aside so that columns never move.
pub const MARKER: &str = "> ";

/// The cells of one line of the table, whole.
pub fn cells(r: &RatedRow) -> [String; 9] {
    let row = &r.row;
    let (live, total) = row.secondaries();
    [
        row.name.clone(),
        render::status_word(row.status).into(),
        row.mode.map_or("-", |m| m.as_str()).into(),
        render::or_dash(row.primary),
        r.rate.map_or_else(|| "-".into(), render::human_rate),
        render::or_dash(row.count),
        render::or_dash(row.restarts),
        render::human_ms(row.heartbeat_ms),
        if total == 0 {
            "-".into()
        } else {
            format!("{live}/{total} {}", r.scoreboard)
        },
    ]
}

/// Numbers are right-aligned, as in `osps list`.
pub fn right_aligned(column: usize) -> bool {
    matches!(column, PRIMARY | PER_SEC | TOTAL | RESTARTS | HEARTBEAT)
}

/// The table laid out for a width: the columns shown, with their widths, headings and
/// cells, each cut to fit and marked `…` when cut.
#[derive(Debug, PartialEq)]
pub struct Laid {
    /// (column, width), left to right.
    pub columns: Vec<(usize, usize)>,
    pub headings: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Lays the table out in `width` characters (the selection's marker included). A number
/// is shown whole or its column left out ([`fit`](render::fit::fit)); only the name (cut in
/// the middle: names often differ at the end) and the scoreboard are ever cut.
pub fn lay_out(rows: &[RatedRow], width: usize) -> Laid {
    let cells: Vec<[String; 9]> = rows.iter().map(cells).collect();
    let needs: Vec<Need> = (0..HEADINGS.len())
        .map(|i| {
            let full = cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([HEADINGS[i].len()])
                .max()
                .unwrap_or(0);
            match i {
                NAME => Need {
                    full,
                    roomy: full.min(24),
                    min: full.min(8),
                },
                // The count of secondaries stays whole: the heading is wider than it.
                SECONDARIES => Need {
                    full,
                    roomy: full.min(24),
                    min: HEADINGS[i].len(),
                },
                _ => Need::whole(full),
            }
        })
        .collect();
    let room = width.saturating_sub(MARKER.len());
    let widths = fit::fit(&needs, &DROP_ORDER, LAST_TO_GO, room, GAP);
    let columns: Vec<(usize, usize)> = widths
        .iter()
        .enumerate()
        .filter_map(|(i, w)| Some((i, (*w)?)))
        .collect();
    let cut = |i: usize, text: &str, w: usize| {
        if i == NAME {
            fit::cut_middle(text, w)
        } else {
            fit::cut_end(text, w)
        }
    };
    Laid {
        headings: columns
            .iter()
            .map(|&(i, w)| fit::cut_end(HEADINGS[i], w))
            .collect(),
        rows: cells
            .iter()
            .map(|c| columns.iter().map(|&(i, w)| cut(i, &c[i], w)).collect())
            .collect(),
        columns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::render::tests::with_count;
    use crate::views::top::{Previous, rates};

    #[test]
    fn cells_show_the_rate_and_the_scoreboard() {
        let mut previous = Previous::default();
        rates(vec![with_count("a", 0)], 0, &mut previous);
        let rows = rates(vec![with_count("a", 25)], 2_000_000_000, &mut previous);
        let c = cells(&rows[0]);
        assert_eq!(c[0], "a");
        assert_eq!(c[4], "12.5");
        assert_eq!(c[5], "25");
        assert_eq!(c[8], "1/1 W");
    }

    /// Rated rows named `names`, each with a pool of `pool` secondaries, a pid of 24404
    /// and a heartbeat of 281ms: the values the review saw cut to `2440` and `281m`.
    fn rated(names: &[&str], pool: usize) -> Vec<RatedRow> {
        let rows = names
            .iter()
            .map(|name| {
                let mut row = with_count(name, 25);
                row.primary = Some(24404);
                row.heartbeat_ms = Some(281);
                row.workers = vec![row.workers[0].clone(); pool];
                row
            })
            .collect();
        let mut previous = Previous::default();
        rates(rows, 0, &mut previous)
    }

    #[test]
    fn at_80_columns_every_heading_is_whole_and_short_names_keep_every_column() {
        let laid = lay_out(&rated(&["svc-1", "t1"], 2), 80);
        assert_eq!(laid.headings, HEADINGS);
        assert_eq!(
            laid.rows[0],
            [
                "svc-1", "running", "rounds", "24404", "-", "25", "1", "281ms", "2/2 WW"
            ]
        );
        let used: usize = laid.columns.iter().map(|&(_, w)| w + GAP).sum::<usize>() - GAP;
        assert!(MARKER.len() + used <= 80, "{laid:?}");
    }

    #[test]
    fn a_narrow_table_leaves_columns_out_rather_than_cut_a_number() {
        let long = "an-instance-with-a-rather-long-name-1";
        let rows = rated(&["clitop-a", long, "t1"], 64);
        // No room even for the marker: nothing to show, and no panic.
        assert_eq!(lay_out(&rows, 0).rows[0], [""]);
        for width in MARKER.len() + 1..=160 {
            let laid = lay_out(&rows, width);
            let used: usize = laid.columns.iter().map(|&(_, w)| w + GAP).sum::<usize>();
            assert!(used - GAP + MARKER.len() <= width, "{width}: {laid:?}");
            assert_eq!(laid.columns[0].0, NAME, "{width}: the name is always shown");
            for (r, texts) in rows.iter().zip(&laid.rows) {
                let whole = cells(r);
                for (&(i, _), text) in laid.columns.iter().zip(texts) {
                    match i {
                        NAME | SECONDARIES => assert!(
                            *text == whole[i] || text.contains('…'),
                            "{width}: {text:?} cut without a mark"
                        ),
                        _ => assert_eq!(*text, whole[i], "{width}: a cut value"),
                    }
                }
            }
            // Headings are whole once the name's fits (the rest never get narrower).
            if width >= MARKER.len() + HEADINGS[NAME].len() {
                for (&(i, _), h) in laid.columns.iter().zip(&laid.headings) {
                    assert_eq!(h, HEADINGS[i], "{width}");
                }
            }
        }
        // The least important go first: at 50 columns, name, status and rate are left
        // (the long name cut to 24 made room for no more).
        let shown: Vec<usize> = lay_out(&rows, 50).columns.iter().map(|c| c.0).collect();
        assert_eq!(shown, [NAME, STATUS, PER_SEC]);
    }

    #[test]
    fn names_that_differ_at_the_end_stay_apart_when_cut() {
        let laid = lay_out(&rated(&["clitop-0001", "clitop-0002"], 1), 20);
        let names: Vec<&str> = laid.rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(names, ["clit…-0001", "clit…-0002"]);
        assert_eq!(laid.headings, ["NAME", "STATUS"]);
    }
}
