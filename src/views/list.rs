//! `osps list` (alias `ls`): one line per instance, like `lsipc`, rendered from the
//! survey of [`crate::instance::discover`] by [`crate::views::render::table`]; `--json` gives the same rows
//! in an object with its `schema_version`, like every JSON document of osps
//! (schema/list.schema.json).

use color_eyre::eyre::{Result, WrapErr};

use crate::cli::ListArgs;
use crate::disk::names;
use crate::exit::{self, Exit};
use crate::instance::discover;
use crate::output::write_stdout;
use crate::views::render::{self, Clock, table};

/// The version of `list --json`: 2 since the rows are in an object (`instances`) and the
/// heartbeat's key is `heartbeat_age_ms`, as in `inspect` (1: a bare array, `heartbeat_ms`).
pub const SCHEMA_VERSION: u32 = 2;

/// Runs `osps list`.
pub fn run(args: &ListArgs) -> Result<Exit> {
    if args.output.len() == 1 && args.output[0].eq_ignore_ascii_case("help") {
        write_stdout(table::help().as_bytes())?;
        return Ok(Exit::Success);
    }
    let columns = table::columns(&args.output).map_err(|e| exit::coded(Exit::Usage, e))?;
    let runtime_dir = names::default_runtime_dir(args.runtime_dir.as_deref());
    let survey = discover::survey(&runtime_dir, None)
        .wrap_err_with(|| format!("surveying the instances of {}", runtime_dir.display()))?;
    if let Some(why) = &survey.dir_error {
        crate::warn!("{why}; listing only what is in {}", names::SHM_DIR);
    }
    let clock = Clock::now();
    let rows: Vec<render::Row> = survey
        .instances
        .iter()
        .map(|i| render::row(i, clock))
        .collect();
    let text = if args.json {
        let document = serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "instances": table::json_rows(&rows, &columns),
        });
        let mut text = serde_json::to_string(&document).wrap_err("encoding the rows as JSON")?;
        text.push('\n');
        text
    } else {
        // Colour for a person at a terminal (or with --color always), as on stderr.
        let color = crate::log::use_color_on_stdout();
        table::render(&rows, &columns, !args.noheadings, color)
    };
    write_stdout(text.as_bytes())?;
    Ok(Exit::Success)
}
