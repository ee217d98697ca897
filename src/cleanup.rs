//! Placeholder replaced by cleanup.
use color_eyre::eyre::Result;
pub fn run(_args: &crate::cli::CleanupArgs) -> Result<crate::exit::Exit> { color_eyre::eyre::bail!("not yet") }
