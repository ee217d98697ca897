//! `osps generate --out DIR` (hidden, for maintainers): writes the man pages into
//! `DIR/man` ([`man`]) and the shell completions into `DIR/completions`
//! ([`completions`]), from the clap definitions of `cli.rs` plus the prose of the page
//! templates, always for the binary name `osps`.
//!
//! The results are checked in and `tests/generated.rs` fails when they differ from what
//! this produces, so the docs cannot drift from the code: after changing `cli.rs` or the
//! texts, run `cargo run -- generate --out .` (the one step to regenerate everything).
//!
//! The same texts are printed one at a time by `osps completions SHELL` and
//! `osps man [SUBCOMMAND]` ([`run_completions`], [`run_man`]), so that whoever installed
//! the binary alone (`cargo install`) gets exactly the checked-in files.
//!
//! The prose is text, not Rust: one template per page in `pages/` (see `man/markup.rs`
//! for the format, `man/pages.rs` for the placeholders), and the shell functions the
//! completions append are shell files in `completions/`.
//!
//! It may import `cli`, `exit`, `output`, the `log` macros, the leaf `trace` (its list of
//! steps) and the signal tables of `os::signals`; nothing of an instance, the pair or
//! another command.

mod completions;
mod man;

use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr};

use crate::cli::{CompletionsArgs, GenerateArgs, ManArgs};
use crate::exit::Exit;
use crate::output::write_stdout;
use man::MAN_SECTION;

/// The binary name the pages and scripts are written for, whatever this one is called.
const BIN: &str = "osps";

/// Runs `osps generate`.
pub fn run(args: &GenerateArgs) -> Result<Exit> {
    let files = render()?;
    write_all(&args.out, &files)?;
    crate::info!(
        "wrote {} man pages into {} and {} completion scripts into {}",
        files.iter().filter(|f| f.path.starts_with("man")).count(),
        args.out.join("man").display(),
        files
            .iter()
            .filter(|f| f.path.starts_with("completions"))
            .count(),
        args.out.join("completions").display(),
    );
    Ok(Exit::Success)
}

/// Runs `osps completions SHELL`: the script `osps generate` writes for that shell.
pub fn run_completions(args: &CompletionsArgs) -> Result<Exit> {
    let script = completions::completion(args.shell)?;
    write_stdout(script.as_bytes())?;
    Ok(Exit::Success)
}

/// Runs `osps man [SUBCOMMAND]`: the page `osps generate` writes for it.
pub fn run_man(args: &ManArgs) -> Result<Exit> {
    let page = man::page_of(args.subcommand.as_deref())?;
    write_stdout(page.as_bytes())?;
    Ok(Exit::Success)
}

/// One generated file: where it goes under the output directory, and its contents.
#[derive(Debug)]
struct Generated {
    path: PathBuf,
    text: String,
}

/// Every generated file, in a stable order.
fn render() -> Result<Vec<Generated>> {
    let mut files = man::man_pages()?;
    files.extend(completions::completions()?);
    Ok(files)
}

/// Writes the files, and removes man pages of subcommands that no longer exist.
fn write_all(out: &Path, files: &[Generated]) -> Result<()> {
    for dir in ["man", "completions"] {
        let dir = out.join(dir);
        std::fs::create_dir_all(&dir)
            .wrap_err_with(|| format!("creating directory {}", dir.display()))?;
    }
    for file in files {
        let path = out.join(&file.path);
        std::fs::write(&path, &file.text)
            .wrap_err_with(|| format!("writing {}", path.display()))?;
    }
    let man_dir = out.join("man");
    let entries =
        std::fs::read_dir(&man_dir).wrap_err_with(|| format!("listing {}", man_dir.display()))?;
    for entry in entries {
        let entry = entry.wrap_err_with(|| format!("listing {}", man_dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with(BIN) && name.ends_with(&format!(".{MAN_SECTION}"));
        if ours && !files.iter().any(|f| f.path == Path::new("man").join(&name)) {
            std::fs::remove_file(entry.path())
                .wrap_err_with(|| format!("removing stale page {}", entry.path().display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_visible_subcommand_and_every_shell() {
        let files = render().unwrap();
        let mut paths: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
        paths.sort();
        for expected in [
            "man/osps.1",
            "man/osps-primary.1",
            "man/osps-secondary.1",
            "man/osps-inspect.1",
            "man/osps-cleanup.1",
            "completions/osps.bash",
            "completions/_osps",
            "completions/osps.fish",
            "completions/osps.elv",
            "completions/_osps.ps1",
        ] {
            assert!(
                paths.iter().any(|p| p == expected),
                "{expected} missing from {paths:?}"
            );
        }
        assert!(!paths.iter().any(|p| p.contains("generate")), "{paths:?}");
    }
}
