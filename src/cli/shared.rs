//! The options several subcommands share: which instance (`--name`, `--runtime-dir`),
//! or one instance or all of them, and the default name of `status` and `stop`.

use std::path::PathBuf;

use clap::Args;

use crate::disk::names::InstanceName;

/// Which instance, and where its objects live.
#[derive(Debug, Args, Clone)]
pub struct InstanceArgs {
    /// Instance name: 1 to 64 of A-Z a-z 0-9 _ - (not starting with -)
    #[arg(
        short,
        long,
        env = "OSPS_NAME",
        default_value = "osps",
        value_name = "NAME"
    )]
    pub name: InstanceName,

    /// Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]
    #[arg(long, env = "OSPS_RUNTIME_DIR", value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
}

/// Look at one instance or all of them.
#[derive(Debug, Args, Clone)]
pub struct SelectArgs {
    /// Only this instance (default: every instance of the current user)
    #[arg(short, long, value_name = "NAME")]
    pub name: Option<InstanceName>,

    /// Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]
    #[arg(long, env = "OSPS_RUNTIME_DIR", value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
}

/// The instance of `osps status [NAME]` and `osps stop [NAME]`: NAME, else `OSPS_NAME`,
/// else `osps` (as for `osps primary`). Not clap's `env`: a NAME that came from the
/// environment would conflict with `osps stop --all`.
pub fn name_or_default(given: Option<&InstanceName>) -> color_eyre::Result<InstanceName> {
    if let Some(name) = given {
        return Ok(name.clone());
    }
    let from_env = std::env::var("OSPS_NAME").ok().filter(|v| !v.is_empty());
    from_env
        .as_deref()
        .unwrap_or("osps")
        .parse()
        .map_err(|e: String| {
            crate::exit::coded(crate::exit::Exit::Usage, format!("OSPS_NAME: {e}"))
        })
}
