//! The man pages: clap_mangen renders NAME, SYNOPSIS, DESCRIPTION and OPTIONS from the
//! clap definitions of `cli.rs`; the hand-written prose of the page templates
//! (`pages.rs`, in the format of `markup.rs`) goes around them, then SEE ALSO. Always
//! for the binary name `osps`, with a fixed date, so regenerating gives the same files.

mod markup;
mod pages;
mod signals;

use std::io::Write;
use std::path::Path;

use clap::{Command, CommandFactory};
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};
use color_eyre::eyre::{Result, WrapErr, eyre};

use super::{BIN, Generated};
use crate::cli::Cli;
use markup::{Block, Section};

/// The date in every page's `.TH` line: the day the manual was last revised for this
/// version. A constant rather than today's date, so regenerating gives the same files.
const MANUAL_DATE: &str = "2026-11-29";
/// The man section of every page.
pub(super) const MAN_SECTION: &str = "1";

/// The page of `osps` (`None`) or of one subcommand, exactly as `man/` holds it.
pub(super) fn page_of(subcommand: Option<&str>) -> Result<String> {
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

/// Whether a subcommand gets a man page: every visible one, and a hidden one that has its
/// template (`osps secondary` is kept out of `--help`, not out of the manual).
fn has_page(cmd: &Command) -> bool {
    !cmd.is_hide_set() || pages::template(Some(cmd.get_name())).is_some()
}

/// `osps.1` and one page per documented subcommand.
pub(super) fn man_pages() -> Result<Vec<Generated>> {
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
    let template = pages::template(subcommand).unwrap_or_else(|| {
        crate::warn!(
            "no manual text for `{BIN} {}` yet: add a template to src/generate/pages/",
            subcommand.unwrap_or_default()
        );
        pages::FALLBACK
    });
    let prose = pages::render(template).map_err(|e| {
        eyre!(
            "the manual text of `{BIN} {}` (src/generate/pages/): {e}",
            subcommand.unwrap_or_default()
        )
    })?;
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
    let extra: Vec<&str> = prose.see_also.iter().map(String::as_str).collect();
    page.push(|w| see_also(&own, all_pages, &extra).to_writer(w))?;

    let path = Path::new("man").join(man.get_filename());
    let text =
        String::from_utf8(page.bytes).map_err(|_| eyre!("{} is not UTF-8", path.display()))?;
    // groff reads plain input as Latin-1: anything else renders as garbage.
    if let Some(c) = text.chars().find(|c| !c.is_ascii()) {
        return Err(eyre!(
            "{} contains the non-ASCII character {c:?}: use ASCII in src/cli.rs help texts \
             and src/generate/pages/",
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
    roff.control("SH", [section.title.as_str()]);
    roff.extend([blocks(&section.blocks)]);
    roff
}

/// Renders hand-written blocks.
fn blocks(blocks: &[Block]) -> Roff {
    let mut roff = Roff::new();
    for block in blocks {
        match block {
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
                roff.control("SS", [title.as_str()]);
            }
        }
    }
    roff
}

/// The one piece of markup inside text: `backticks` set a span in bold. Each sentence
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
    let mut others: Vec<&str> = pages::SEE_ALSO_COMMON
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_has_a_date_and_the_version_and_lists_the_duration_units() {
        for page in man_pages().unwrap() {
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
        assert!(page_of(Some("nope")).is_err());
    }

    #[test]
    fn secondary_is_hidden_but_keeps_its_page() {
        assert!(
            Cli::command()
                .find_subcommand("secondary")
                .is_some_and(Command::is_hide_set)
        );
        assert!(
            page_of(Some("secondary"))
                .unwrap()
                .contains("osps-secondary")
        );
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
