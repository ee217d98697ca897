//! Placeholder replaced by inspect.
use color_eyre::eyre::Result;
pub fn run(_args: &crate::cli::InspectArgs) -> Result<crate::exit::Exit> { color_eyre::eyre::bail!("not yet") }
