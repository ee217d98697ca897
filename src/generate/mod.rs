//! `osps generate --out DIR` (hidden, for maintainers): writes the man pages into
//! `DIR/man` and the shell completions into `DIR/completions`, from the clap definitions
//! of `cli.rs` plus the prose of `manual.rs`, always for the binary name `osps`.
//!
//! The results are checked in and `tests/generated.rs` fails when they differ from what
//! this produces, so the docs cannot drift from the code: after changing `cli.rs` or the
//! texts, run `cargo run -- generate --out .` (the one step to regenerate everything).
//!
//! The same texts are printed one at a time by `osps completions SHELL` and
//! `osps man [SUBCOMMAND]` ([`run_completions`], [`run_man`]), so that whoever installed
//! the binary alone (`cargo install`) gets exactly the checked-in files.
//!
//! Completion of instance names after `--name` is dynamic in bash, zsh and fish (the
//! elvish and PowerShell scripts complete options and subcommands only; the README says
//! so): the generated scripts call a small shell function, appended here,
//! that lists this user's segments in `/dev/shm`. To put the call exactly where clap
//! places value completions, `--name` is given a sentinel possible value while generating
//! and the sentinel is then replaced by the shell's call.

mod manual;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::builder::PossibleValuesParser;
use clap::{Command, CommandFactory};
use clap_complete::{Generator, Shell};
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};
use color_eyre::eyre::{Result, WrapErr, ensure, eyre};

use crate::cli::{Cli, CompletionsArgs, GenerateArgs, ManArgs};
use crate::exit::Exit;
use crate::output::write_stdout;
use manual::{Block, Section};

/// The binary name the pages and scripts are written for, whatever this one is called.
const BIN: &str = "osps";
/// The date in every page's `.TH` line: the day the manual was last revised for this
/// version. A constant rather than today's date, so regenerating gives the same files.
const MANUAL_DATE: &str = "2026-11-29";
/// The man section of every page.
const MAN_SECTION: &str = "1";
/// The shells we ship completions for, each in its conventional file name.
const SHELLS: [Shell; 5] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::Elvish,
    Shell::PowerShell,
];
/// Stands in for the instance names while clap writes a completion script.
const SENTINEL: &str = "OSPS_INSTANCE_NAMES_SENTINEL";

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
    let script = completion(args.shell)?;
    write_stdout(script.as_bytes())?;
    Ok(Exit::Success)
}

/// Runs `osps man [SUBCOMMAND]`: the page `osps generate` writes for it.
pub fn run_man(args: &ManArgs) -> Result<Exit> {
    let page = man_page_of(args.subcommand.as_deref())?;
    write_stdout(page.as_bytes())?;
    Ok(Exit::Success)
}

/// The page of `osps` (`None`) or of one subcommand, exactly as `man/` holds it.
fn man_page_of(subcommand: Option<&str>) -> Result<String> {
    let file = match subcommand {
        None => format!("{BIN}.{MAN_SECTION}"),
        Some(sub) => format!("{BIN}-{sub}.{MAN_SECTION}"),
    };
    let path = Path::new("man").join(&file);
    man_pages()?
        .into_iter()
        .find(|page| page.path == path)
        .map(|page| page.text)
        .ok_or_else(|| {
            eyre!(
                "there is no man page {file}: `osps man` alone prints the page of osps, which \
                 lists the subcommands"
            )
        })
}

/// One generated file: where it goes under the output directory, and its contents.
#[derive(Debug)]
struct Generated {
    path: PathBuf,
    text: String,
}

/// Every generated file, in a stable order.
fn render() -> Result<Vec<Generated>> {
    let mut files = man_pages()?;
    files.extend(completions()?);
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

// ---------------------------------------------------------------------------------------
// Man pages
// ---------------------------------------------------------------------------------------

/// Whether a subcommand gets a man page: every visible one, and a hidden one that has its
/// text in manual.rs (`osps secondary` is kept out of `--help`, not out of the manual).
fn has_page(cmd: &Command) -> bool {
    !cmd.is_hide_set() || manual::page(Some(cmd.get_name())).is_some()
}

/// `osps.1` and one page per documented subcommand.
fn man_pages() -> Result<Vec<Generated>> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let subcommands: Vec<&Command> = root.get_subcommands().filter(|s| has_page(s)).collect();
    let mut all_pages = vec![format!("{BIN}({MAN_SECTION})")];
    all_pages.extend(
        subcommands
            .iter()
            .map(|s| format!("{BIN}-{}({MAN_SECTION})", s.get_name())),
    );
    let mut pages = vec![man_page(&root, None, &all_pages)?];
    for sub in subcommands {
        pages.push(man_page(sub, Some(sub.get_name()), &all_pages)?);
    }
    Ok(pages)
}

/// One page: clap_mangen's NAME, SYNOPSIS, DESCRIPTION, OPTIONS (and SUBCOMMANDS on
/// `osps.1`), then the hand-written sections, then SEE ALSO.
fn man_page(cmd: &Command, subcommand: Option<&str>, all_pages: &[String]) -> Result<Generated> {
    let prose = manual::page(subcommand).unwrap_or_else(|| {
        crate::warn!(
            "no manual text for `{BIN} {}` yet: add it to src/generate/manual.rs",
            subcommand.unwrap_or_default()
        );
        manual::fallback()
    });
    let man = Man::new(cmd.clone())
        .section(MAN_SECTION)
        // A fixed date, so the output depends on the code only (tests/generated.rs
        // compares it with the checked-in pages); bump it with the version.
        .date(MANUAL_DATE)
        .source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");
    let own = format!(
        "{}({MAN_SECTION})",
        cmd.get_display_name().unwrap_or(cmd.get_name())
    );

    let mut page = Sheet::default();
    page.push(|w| man.render_title(w))?;
    page.push(|w| man.render_name_section(w))?;
    page.push(|w| man.render_synopsis_section(w))?;
    page.push(|w| man.render_description_section(w))?;
    page.push(|w| blocks(&prose.description).to_writer(w))?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        page.push(|w| man.render_options_section(w))?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        page.push(|w| man.render_subcommands_section(w))?;
    }
    for section in &prose.sections {
        page.push(|w| section_roff(section).to_writer(w))?;
    }
    page.push(|w| see_also(&own, all_pages, prose.see_also).to_writer(w))?;

    let path = Path::new("man").join(man.get_filename());
    let text =
        String::from_utf8(page.bytes).map_err(|_| eyre!("{} is not UTF-8", path.display()))?;
    // groff reads plain input as Latin-1: anything else renders as garbage.
    if let Some(c) = text.chars().find(|c| !c.is_ascii()) {
        return Err(eyre!(
            "{} contains the non-ASCII character {c:?}: use ASCII in src/cli.rs help texts \
             and src/generate/manual.rs",
            path.display()
        ));
    }
    Ok(Generated { path, text })
}

/// A page being assembled from pieces that each start with roff's preamble (the
/// definition of the apostrophe string); the preamble is kept once, at the top.
#[derive(Default)]
struct Sheet {
    bytes: Vec<u8>,
}

impl Sheet {
    fn push(&mut self, render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
        let mut piece = Vec::new();
        render(&mut piece).wrap_err("rendering a man page section")?;
        let preamble = Roff::new().render();
        let body = match piece.strip_prefix(preamble.as_bytes()) {
            Some(body) if !self.bytes.is_empty() => body,
            _ => &piece,
        };
        self.bytes.extend_from_slice(body);
        Ok(())
    }
}

fn section_roff(section: &Section) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", [section.title]);
    roff.extend([blocks(&section.blocks)]);
    roff
}

/// Renders hand-written blocks.
fn blocks(blocks: &[Block]) -> Roff {
    let mut roff = Roff::new();
    for block in blocks {
        match *block {
            Block::P(text) => {
                roff.control("PP", []);
                roff.text(inline(text));
            }
            Block::Tag(tag, text) => {
                roff.control("TP", []);
                roff.text(inline(tag));
                roff.text(inline(text));
            }
            Block::Code(code) => {
                roff.control("PP", [])
                    .control("RS", ["4"])
                    .control("nf", []);
                for line in code.lines() {
                    roff.text([roman(line)]);
                }
                roff.control("fi", []).control("RE", []);
            }
            Block::Sub(title) => {
                roff.control("SS", [title]);
            }
        }
    }
    roff
}

/// The one piece of markup of manual.rs: `backticks` set a span in bold. Each sentence
/// of plain text goes on its own source line, as man pages are usually written.
fn inline(text: &str) -> Vec<clap_mangen::roff::Inline> {
    text.split('`')
        .enumerate()
        .filter(|(_, span)| !span.is_empty())
        .map(|(i, span)| {
            if i % 2 == 1 {
                bold(span)
            } else {
                roman(one_sentence_per_line(span))
            }
        })
        .collect()
}

fn one_sentence_per_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if matches!(c, '.' | '?' | ':') {
            let mut ahead = chars.clone();
            if ahead.next() == Some(' ') && ahead.next().is_some_and(|n| n.is_ascii_uppercase()) {
                chars.next();
                out.push('\n');
            }
        }
    }
    out
}

/// SEE ALSO: the other osps pages, then the system's pages by section and name.
fn see_also(own: &str, all_pages: &[String], extra: &[&str]) -> Roff {
    let mut others: Vec<&str> = manual::SEE_ALSO_COMMON
        .iter()
        .chain(extra)
        .copied()
        .collect();
    let key = |r: &&str| {
        let (name, section) = r.split_once('(').unwrap_or((r, ""));
        (section.to_string(), name.to_string())
    };
    others.sort_by_key(key);
    others.dedup();
    let refs: Vec<&str> = all_pages
        .iter()
        .map(String::as_str)
        .filter(|p| *p != own)
        .chain(others)
        .collect();
    let mut line = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        let (name, section) = r.split_once('(').unwrap_or((r, ""));
        let sep = if i + 1 < refs.len() { ", " } else { "" };
        line.push(bold(name));
        line.push(roman(format!("({section}{sep}")));
    }
    let mut roff = Roff::new();
    roff.control("SH", ["SEE ALSO"]).text(line);
    roff
}

// ---------------------------------------------------------------------------------------
// Completions
// ---------------------------------------------------------------------------------------

fn completions() -> Result<Vec<Generated>> {
    SHELLS
        .into_iter()
        .map(|shell| {
            Ok(Generated {
                path: Path::new("completions").join(shell.file_name(BIN)),
                text: completion(shell)?,
            })
        })
        .collect()
}

/// The completion script for one shell.
fn completion(shell: Shell) -> Result<String> {
    let public = public_command();
    let dynamic = matches!(shell, Shell::Bash | Shell::Zsh | Shell::Fish);
    let mut cmd = if dynamic {
        with_name_sentinel(public)
    } else {
        public
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut script);
    let script = String::from_utf8(script)
        .map_err(|_| eyre!("the {shell} completion script is not UTF-8"))?;
    let script = if dynamic {
        complete_instance_names(shell, script)?
    } else {
        script
    };
    ensure!(
        !script.contains(SENTINEL),
        "the {shell} completion script still contains the placeholder {SENTINEL}"
    );
    Ok(script)
}

/// The root command without hidden subcommands (clap completes those too, and has no
/// way to remove a subcommand): a copy of the root's settings, arguments and visible
/// subcommands.
fn public_command() -> Command {
    let root = Cli::command();
    let mut public = Command::new(BIN)
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(root.is_propagate_version_set())
        .subcommand_required(root.is_subcommand_required_set())
        .arg_required_else_help(root.is_arg_required_else_help_set())
        .args(root.get_arguments().cloned())
        .subcommands(root.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = root.get_about() {
        public = public.about(about.clone());
    }
    if let Some(about) = root.get_long_about() {
        public = public.long_about(about.clone());
    }
    public
}

/// Gives every subcommand's `--name` the sentinel as its only possible value.
fn with_name_sentinel(cmd: Command) -> Command {
    cmd.mut_subcommands(|sub| {
        if sub.get_arguments().any(|a| a.get_id() == "name") {
            sub.mut_arg("name", |a| {
                a.value_parser(PossibleValuesParser::new([SENTINEL]))
            })
        } else {
            sub
        }
    })
}

/// The visible subcommands that take an instance name as a positional argument.
fn positional_name_subcommands() -> Vec<String> {
    public_command()
        .get_subcommands()
        .filter(|sub| {
            sub.get_positionals()
                .any(|a| a.get_id() == "name" && !a.is_hide_set())
        })
        .map(|sub| sub.get_name().to_string())
        .collect()
}

/// Replaces the sentinel by the shell's call listing instance names, and adds the
/// function that lists them.
fn complete_instance_names(shell: Shell, script: String) -> Result<String> {
    let (placeholder, call, function) = match shell {
        Shell::Bash => (
            format!("\"{SENTINEL}\""),
            "\"$(_osps_instance_names)\"",
            BASH_NAMES,
        ),
        Shell::Zsh => (format!("({SENTINEL})"), "_osps_instance_names", ZSH_NAMES),
        Shell::Fish => (
            format!("\"{SENTINEL}\\t''\""),
            "\"(__fish_osps_instance_names)\"",
            FISH_NAMES,
        ),
        _ => return Ok(script),
    };
    ensure!(
        script.contains(&placeholder),
        "clap_complete no longer writes {placeholder} in the {shell} script: update \
         complete_instance_names in src/generate.rs"
    );
    let mut script = script.replace(&placeholder, call);
    match shell {
        // A positional NAME (`osps status NAME`) is one more word in the `opts` string
        // that bash hands to `compgen -W`; inside its double quotes the call expands when
        // the subcommand is completed.
        Shell::Bash => script = script.replace(SENTINEL, "$(_osps_instance_names)"),
        // clap_complete writes no fish completion for positionals: add one line per
        // subcommand that takes a NAME.
        Shell::Fish => {
            for sub in positional_name_subcommands() {
                script.push_str(&format!(
                    "complete -c {BIN} -n \"__fish_{BIN}_using_subcommand {sub}\" -f -a \
                     \"(__fish_osps_instance_names)\"\n"
                ));
            }
        }
        _ => {}
    }
    Ok(match shell {
        // zsh runs the file as the completion function on first use: the helper must be
        // defined before the dispatch at the end of the file.
        Shell::Zsh => {
            let dispatch = format!("if [ \"$funcstack[1]\" = \"_{BIN}\" ]; then");
            let at = script.rfind(&dispatch).ok_or_else(|| {
                eyre!("the zsh script has no `{dispatch}` line: update src/generate.rs")
            })?;
            format!("{}{function}\n{}", &script[..at], &script[at..])
        }
        _ => format!("{script}\n{function}"),
    })
}

const BASH_NAMES: &str = r#"# Instance names for --name: this user's segments /dev/shm/osps.UID.NAME.
# (Appended to clap's script by osps's own generator.)
_osps_instance_names() {
    local f prefix="/dev/shm/osps.${UID:-$(id -u)}."
    for f in "$prefix"*; do
        [[ -e $f ]] || continue
        f=${f#"$prefix"}
        [[ $f =~ ^[A-Za-z0-9_][A-Za-z0-9_-]*$ ]] && printf '%s\n' "$f"
    done
}
"#;

const ZSH_NAMES: &str = r#"# Instance names for --name: this user's segments /dev/shm/osps.UID.NAME.
# (Appended to clap's script by osps's own generator.)
(( $+functions[_osps_instance_names] )) ||
_osps_instance_names() {
    local -a names
    names=( /dev/shm/osps.${UID}.*(N:t) )
    names=( ${names#osps.${UID}.} )
    names=( ${names:#*[^A-Za-z0-9_-]*} )
    compadd "$@" -a names
}
"#;

const FISH_NAMES: &str = r#"# Instance names for --name: this user's segments /dev/shm/osps.UID.NAME.
# (Appended to clap's script by osps's own generator.)
function __fish_osps_instance_names
    set -l prefix /dev/shm/osps.(id -u).
    for f in $prefix*
        string replace -- $prefix '' $f
    end | string match -r -- '^[A-Za-z0-9_][A-Za-z0-9_-]*$'
end
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn file<'a>(files: &'a [Generated], path: &str) -> &'a str {
        &files
            .iter()
            .find(|f| f.path == Path::new(path))
            .unwrap_or_else(|| panic!("{path} not generated"))
            .text
    }

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

    #[test]
    fn the_hidden_generate_command_is_never_completed() {
        assert!(
            Cli::command()
                .find_subcommand("generate")
                .is_some_and(Command::is_hide_set)
        );
        for f in completions().unwrap() {
            assert!(
                !f.text.contains("generate"),
                "{} offers `generate`",
                f.path.display()
            );
        }
    }

    #[test]
    fn the_public_command_keeps_every_visible_subcommand_and_global_option() {
        let root = Cli::command();
        let public = public_command();
        let names = |c: &Command| {
            c.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(|s| s.get_name().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&root), names(&public));
        let args = |c: &Command| {
            c.get_arguments()
                .map(|a| a.get_id().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(args(&root), args(&public));
    }

    #[test]
    fn name_completion_is_dynamic_in_bash_zsh_and_fish() {
        let files = render().unwrap();
        assert!(
            file(&files, "completions/osps.bash")
                .contains("compgen -W \"$(_osps_instance_names)\"")
        );
        assert!(file(&files, "completions/_osps").contains(":NAME:_osps_instance_names"));
        assert!(
            file(&files, "completions/osps.fish").contains("-a \"(__fish_osps_instance_names)\"")
        );
    }

    #[test]
    fn every_page_has_a_date_and_the_version_and_lists_the_duration_units() {
        let files = render().unwrap();
        for page in files.iter().filter(|f| f.path.starts_with("man")) {
            let th = page.text.lines().find(|l| l.starts_with(".TH ")).unwrap();
            let want = format!("{MANUAL_DATE} \"osps {}\"", env!("CARGO_PKG_VERSION"));
            assert!(th.contains(&want), "{}: {th}", page.path.display());
            if page.text.contains("DURATION") {
                for unit in ["ns", "us", "ms", "s", "m", "h", "1m30s", "2.5s"] {
                    assert!(
                        page.text.contains(&format!("\\fB{unit}\\fR")),
                        "{} lists no {unit}",
                        page.path.display()
                    );
                }
            }
        }
    }

    #[test]
    fn osps_man_offers_exactly_the_generated_pages() {
        let mut offered: Vec<String> = crate::cli::MAN_PAGES
            .iter()
            .map(|s| format!("man/{BIN}-{s}.{MAN_SECTION}"))
            .collect();
        offered.push(format!("man/{BIN}.{MAN_SECTION}"));
        offered.sort();
        let mut generated: Vec<String> = man_pages()
            .unwrap()
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        generated.sort();
        assert_eq!(offered, generated);
        assert!(man_page_of(Some("nope")).is_err());
    }

    #[test]
    fn secondary_is_hidden_but_keeps_its_page() {
        assert!(
            Cli::command()
                .find_subcommand("secondary")
                .is_some_and(Command::is_hide_set)
        );
        assert!(
            man_page_of(Some("secondary"))
                .unwrap()
                .contains("osps-secondary")
        );
        let bash = completion(Shell::Bash).unwrap();
        assert!(
            !bash.contains("secondary)"),
            "bash completes `osps secondary`"
        );
    }

    #[test]
    fn status_and_stop_complete_instance_names_as_their_argument() {
        let bash = completion(Shell::Bash).unwrap();
        for sub in ["status", "stop"] {
            let at = bash
                .find(&format!("osps__subcmd__{sub})"))
                .unwrap_or_else(|| panic!("no bash case for {sub}"));
            let opts = bash[at..].lines().find(|l| l.contains("opts=")).unwrap();
            assert!(opts.contains("$(_osps_instance_names)"), "{sub}: {opts}");
        }
        let fish = completion(Shell::Fish).unwrap();
        for sub in ["status", "stop"] {
            assert!(fish.contains(&format!(
                "__fish_osps_using_subcommand {sub}\" -f -a \"(__fish_osps_instance_names)\""
            )));
        }
        let zsh = completion(Shell::Zsh).unwrap();
        assert_eq!(
            zsh.matches("else osps\\]:_osps_instance_names'").count(),
            2,
            "{zsh}"
        );
        assert!(fish.contains("__fish_osps_using_subcommand top\" -s n -l name"));
    }

    #[test]
    fn sentences_go_on_their_own_lines() {
        assert_eq!(
            one_sentence_per_line("One. Two? Three: Four"),
            "One.\nTwo?\nThree:\nFour"
        );
        assert_eq!(one_sentence_per_line("e.g. this, 1. 2"), "e.g. this, 1. 2");
    }

    #[test]
    fn backticks_set_bold() {
        let got = inline("run `osps cleanup` now");
        assert_eq!(
            got,
            vec![roman("run "), bold("osps cleanup"), roman(" now")]
        );
    }

    #[test]
    fn see_also_lists_the_other_pages_then_the_system_ones() {
        let all = ["osps(1)".to_string(), "osps-inspect(1)".to_string()];
        let text = see_also("osps-inspect(1)", &all, &["jq(1)", "fcntl(2)"]).to_roff();
        assert_eq!(
            text,
            ".SH \"SEE ALSO\"\n\\fBosps\\fR(1), \\fBjq\\fR(1), \\fBfcntl\\fR(2), \
             \\fBfifo\\fR(7), \\fBshm_overview\\fR(7), \\fBsignal\\fR(7)\n"
        );
    }
}
