//! The columns of `osps list`, in the util-linux style of `lsipc` and `lsblk`: each column
//! has a heading (also its name for `-o`), a JSON key, a one-line help for `-o help`, and
//! renders a [`Row`] as text and as a JSON value. Numbers are right-aligned.

use serde_json::{Map, Value, json};

use super::{Row, human_ms, or_dash, paint, status_color, status_word};

/// One column of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Name,
    Status,
    Mode,
    Primary,
    Secondaries,
    Count,
    Restarts,
    Age,
    Heartbeat,
}

/// Every column, in the default order.
pub const ALL: [Column; 9] = [
    Column::Name,
    Column::Status,
    Column::Mode,
    Column::Primary,
    Column::Secondaries,
    Column::Count,
    Column::Restarts,
    Column::Age,
    Column::Heartbeat,
];

impl Column {
    /// The heading, which is also the column's name for `-o` (any case).
    pub fn heading(self) -> &'static str {
        match self {
            Column::Name => "NAME",
            Column::Status => "STATUS",
            Column::Mode => "MODE",
            Column::Primary => "PRIMARY",
            Column::Secondaries => "SECONDARIES",
            Column::Count => "ROUNDS/REQUESTS",
            Column::Restarts => "RESTARTS",
            Column::Age => "AGE",
            Column::Heartbeat => "HEARTBEAT",
        }
    }

    /// The key of the column in `--json` rows.
    pub fn key(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::Status => "status",
            Column::Mode => "mode",
            Column::Primary => "primary",
            Column::Secondaries => "secondaries",
            Column::Count => "count",
            Column::Restarts => "restarts",
            Column::Age => "age_ms",
            Column::Heartbeat => "heartbeat_age_ms",
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            Column::Name => "instance name",
            Column::Status => "running, stale, partial, corrupt or inaccessible",
            Column::Mode => "rounds (osps primary) or serve (osps primary --serve)",
            Column::Primary => "pid of the live primary (the lock's holder)",
            Column::Secondaries => "live/total secondaries",
            Column::Count => "rounds verified, or requests answered when serving",
            Column::Restarts => "restarts of the secondaries",
            Column::Age => "time since the segment was created",
            Column::Heartbeat => "age of the older side's last heartbeat",
        }
    }

    fn right_aligned(self) -> bool {
        !matches!(self, Column::Name | Column::Status | Column::Mode)
    }

    /// The column named `name` (a heading in any case; `ROUNDS` and `REQUESTS` name the
    /// counter too).
    pub fn parse(name: &str) -> Option<Column> {
        let upper = name.trim().to_ascii_uppercase();
        if upper == "ROUNDS" || upper == "REQUESTS" {
            return Some(Column::Count);
        }
        // The key of list's schema_version 1, so that `-o heartbeat_ms` keeps working.
        if upper == "HEARTBEAT_MS" {
            return Some(Column::Heartbeat);
        }
        // The JSON key names the column too (`-o help` shows both).
        ALL.into_iter()
            .find(|c| c.heading() == upper || c.key().eq_ignore_ascii_case(name.trim()))
    }

    /// The cell's text (without colour).
    pub fn text(self, row: &Row) -> String {
        match self {
            Column::Name => row.name.clone(),
            Column::Status => status_word(row.status).into(),
            Column::Mode => row.mode.map_or("-", |m| m.as_str()).into(),
            Column::Primary => or_dash(row.primary),
            Column::Secondaries => {
                let (live, total) = row.secondaries();
                if total == 0 {
                    "-".into()
                } else {
                    format!("{live}/{total}")
                }
            }
            Column::Count => or_dash(row.count),
            Column::Restarts => or_dash(row.restarts),
            Column::Age => human_ms(row.age_ms),
            Column::Heartbeat => human_ms(row.heartbeat_ms),
        }
    }

    /// The cell's JSON value (numbers stay numbers; unknown is null).
    pub fn value(self, row: &Row) -> Value {
        match self {
            Column::Name => json!(row.name),
            Column::Status => json!(status_word(row.status)),
            Column::Mode => json!(row.mode.map(|m| m.as_str())),
            Column::Primary => json!(row.primary),
            Column::Secondaries => {
                let (live, total) = row.secondaries();
                json!({ "live": live, "total": total })
            }
            Column::Count => json!(row.count),
            Column::Restarts => json!(row.restarts),
            Column::Age => json!(row.age_ms),
            Column::Heartbeat => json!(row.heartbeat_ms),
        }
    }
}

/// The names `-o` is completed with (in every shell, from `cli.rs`): each column by its
/// heading in lower case (`rounds` and `requests` for the counter), and `help`.
pub fn completion_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = ALL
        .iter()
        .flat_map(|c| match c {
            Column::Name => &["name"][..],
            Column::Status => &["status"],
            Column::Mode => &["mode"],
            Column::Primary => &["primary"],
            Column::Secondaries => &["secondaries"],
            Column::Count => &["rounds", "requests"],
            Column::Restarts => &["restarts"],
            Column::Age => &["age"],
            Column::Heartbeat => &["heartbeat"],
        })
        .copied()
        .collect();
    names.push("help");
    names
}

/// The value parser of `-o`: any text (checked by [`columns`], whose error names `-o
/// help`), with the column names as possible values, so that completions offer them
/// rather than file names.
#[derive(Clone, Copy, Debug)]
pub struct ColumnNames;

impl clap::builder::TypedValueParser for ColumnNames {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            completion_names()
                .into_iter()
                .map(clap::builder::PossibleValue::new),
        ))
    }
}

/// The columns `-o` asks for (all of them when empty), or why a name is unknown.
pub fn columns(names: &[String]) -> Result<Vec<Column>, String> {
    if names.is_empty() {
        return Ok(ALL.to_vec());
    }
    names
        .iter()
        .map(|name| {
            Column::parse(name).ok_or_else(|| {
                format!("unknown column '{name}': `osps list -o help` lists the columns")
            })
        })
        .collect()
}

/// The text of `-o help`: one line per column.
pub fn help() -> String {
    let width = ALL.iter().map(|c| c.heading().len()).max().unwrap_or(0);
    let mut text = String::from("Available columns (for -o, comma-separated, any case):\n");
    for c in ALL {
        text.push_str(&format!(
            "  {:width$}  {} (JSON key {})\n",
            c.heading(),
            c.help(),
            c.key()
        ));
    }
    text
}

/// The table: a heading line (unless `headings` is false) and one line per row, each
/// column as wide as its widest cell, two spaces apart, without trailing blanks. With
/// `color`, the status is painted (after padding, so escape codes never skew widths).
pub fn render(rows: &[Row], columns: &[Column], headings: bool, color: bool) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|c| c.text(row)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|line| line[i].chars().count())
                .chain(headings.then(|| c.heading().len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |texts: Vec<String>, row: Option<&Row>| {
        let mut out = String::new();
        for (i, (text, c)) in texts.iter().zip(columns).enumerate() {
            let last = i + 1 == columns.len();
            let padded = if c.right_aligned() {
                format!("{text:>w$}", w = widths[i])
            } else if last {
                text.clone()
            } else {
                format!("{text:<w$}", w = widths[i])
            };
            let painted = match row {
                Some(row) if *c == Column::Status => {
                    paint(&padded, status_color(row.status), color)
                }
                _ => padded,
            };
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(&painted);
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
        out
    };
    let mut text = String::new();
    if headings {
        text.push_str(&line(
            columns.iter().map(|c| c.heading().to_string()).collect(),
            None,
        ));
    }
    for (row, texts) in rows.iter().zip(cells) {
        text.push_str(&line(texts, Some(row)));
    }
    text
}

/// The `--json` document: an array with one object per row, holding the chosen columns.
pub fn json_rows(rows: &[Row], columns: &[Column]) -> Value {
    Value::Array(
        rows.iter()
            .map(|row| {
                Value::Object(
                    columns
                        .iter()
                        .map(|c| (c.key().to_string(), c.value(row)))
                        .collect::<Map<String, Value>>(),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::discover::Status;
    use crate::views::render::tests::sample;

    #[test]
    fn an_empty_table_still_has_its_headings() {
        let text = render(&[], &ALL, true, false);
        assert_eq!(
            text,
            "NAME  STATUS  MODE  PRIMARY  SECONDARIES  ROUNDS/REQUESTS  RESTARTS  AGE  HEARTBEAT\n"
        );
        assert_eq!(render(&[], &ALL, false, false), "");
    }

    #[test]
    fn columns_are_aligned_numbers_to_the_right() {
        let mut stale = sample("old-one", Status::Stale);
        stale.primary = None;
        stale.workers[0].alive = false;
        stale.heartbeat_ms = None;
        let rows = [sample("demo", Status::Running), stale];
        let text = render(&rows, &ALL, true, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "NAME     STATUS   MODE    PRIMARY  SECONDARIES  ROUNDS/REQUESTS  RESTARTS    AGE  HEARTBEAT",
                "demo     running  rounds     4242          1/1             1234         1  3m05s      120ms",
                "old-one  stale    rounds        -          0/1             1234         1  3m05s          -",
            ]
        );
    }

    #[test]
    fn o_picks_and_orders_columns_in_any_case() {
        let cols = columns(&["status".into(), "NAME".into(), "Requests".into()]).unwrap();
        assert_eq!(cols, [Column::Status, Column::Name, Column::Count]);
        let text = render(&[sample("demo", Status::Running)], &cols, false, false);
        assert_eq!(text, "running  demo  1234\n");
        let err = columns(&["NAME".into(), "nope".into()]).unwrap_err();
        assert!(err.contains("'nope'") && err.contains("-o help"), "{err}");
        assert_eq!(columns(&[]).unwrap(), ALL);
        // A column's JSON key (shown by `-o help`) names it too.
        let cols = columns(&["count".into(), "heartbeat_age_ms".into()]).unwrap();
        assert_eq!(cols, [Column::Count, Column::Heartbeat]);
        assert_eq!(
            columns(&["heartbeat_ms".into()]).unwrap(),
            [Column::Heartbeat]
        );
    }

    #[test]
    fn every_completed_name_is_a_column_or_help() {
        for name in completion_names() {
            assert!(name == "help" || Column::parse(name).is_some(), "{name}");
        }
        // Every column can be completed.
        for c in ALL {
            assert!(
                completion_names()
                    .iter()
                    .any(|n| Column::parse(n) == Some(c)),
                "{c:?}"
            );
        }
    }

    #[test]
    fn colour_paints_the_status_after_padding() {
        let rows = [sample("demo", Status::Running)];
        let text = render(&rows, &[Column::Status, Column::Name], false, true);
        assert_eq!(text, "\x1b[32mrunning\x1b[0m  demo\n");
    }

    #[test]
    fn json_rows_keep_numbers_and_only_the_chosen_columns() {
        let rows = [sample("demo", Status::Running)];
        let all = json_rows(&rows, &ALL);
        assert_eq!(
            all,
            json!([{
                "name": "demo", "status": "running", "mode": "rounds", "primary": 4242,
                "secondaries": {"live": 1, "total": 1}, "count": 1234, "restarts": 1,
                "age_ms": 185000, "heartbeat_age_ms": 120
            }])
        );
        let some = json_rows(&rows, &[Column::Name, Column::Heartbeat]);
        assert_eq!(some, json!([{"name": "demo", "heartbeat_age_ms": 120}]));
    }

    #[test]
    fn help_lists_every_column() {
        let text = help();
        for c in ALL {
            assert!(
                text.contains(c.heading()) && text.contains(c.key()),
                "{text}"
            );
        }
    }
}
