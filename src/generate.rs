//! Placeholder replaced by the man page and completion generator.
use color_eyre::eyre::Result;
pub fn run(_args: &crate::cli::GenerateArgs) -> Result<crate::exit::Exit> { color_eyre::eyre::bail!("not yet") }
