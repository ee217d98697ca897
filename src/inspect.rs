//! `osps inspect`: a read-only look at every instance of the current user (or one), written
//! as one JSON document on stdout for `jq`.
//!
//! What the instances are comes from [`crate::instance::discover`] (the same survey `cleanup` and the
//! views use); this file only renders it: the document is written to stdout in one piece,
//! and a reader that went away is not an error (see [`crate::output`]).

use color_eyre::eyre::{Result, WrapErr};
use serde::Serialize;

use crate::cli::InspectArgs;
use crate::disk::names;
use crate::exit::Exit;
use crate::instance::discover::{self, InstanceReport};
use crate::output;

/// The version of the document's shape; bumped only when a documented key changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// Runs `osps inspect`.
pub fn run(args: &InspectArgs) -> Result<Exit> {
    let runtime_dir = names::default_runtime_dir(args.select.runtime_dir.as_deref());
    let survey = discover::survey(&runtime_dir, args.select.name.as_ref())?;
    if let Some(e) = &survey.dir_error {
        crate::warn!("{e}; showing only what is in {}", names::SHM_DIR);
    }
    let not_found = survey.instances.is_empty();
    let document = Document {
        schema_version: SCHEMA_VERSION,
        uid: names::uid(),
        runtime_dir: survey.runtime_dir.display().to_string(),
        instances: survey.instances,
    };
    write_json(&document, args.compact)?;
    match &args.select.name {
        Some(name) if not_found => Err(discover::no_such_instance(name, &runtime_dir)),
        _ => Ok(Exit::Success),
    }
}

/// The document: every instance found, with what identifies the survey.
#[derive(Debug, Serialize)]
struct Document {
    schema_version: u32,
    uid: u32,
    runtime_dir: String,
    instances: Vec<InstanceReport>,
}

fn write_json(document: &Document, compact: bool) -> Result<()> {
    let mut text = if compact {
        serde_json::to_vec(document)
    } else {
        serde_json::to_vec_pretty(document)
    }
    .wrap_err("encoding the JSON document")?;
    text.push(b'\n');
    output::write_stdout(&text)
}
