//! The page templates' format, and the two pure functions that read it: [`fill`] puts
//! the values of `{{PLACEHOLDER}}`s in (an unknown one is an error), [`parse`] cuts the
//! filled text into sections and blocks, which `man.rs` turns into roff.
//!
//! A template is plain text, blocks separated by blank lines:
//!
//! - `# TITLE` starts a section (`.SH`); the blocks before the first one are appended to
//!   clap's DESCRIPTION, and the lines of a last `# SEE ALSO` list extra references;
//! - `## Title` is a subsection heading (`.SS`);
//! - lines all indented by four spaces are literal lines (commands, output);
//! - a line followed by lines whose first starts with `: ` is a tagged paragraph
//!   (`.TP`): the tag, then its text;
//! - anything else is a paragraph; its lines are joined with spaces.
//!
//! Inside text, `backticks` set a span in bold (see `man.rs`). Keep it ASCII: groff reads
//! its input as Latin-1.

/// A piece of a man page section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// A paragraph.
    P(String),
    /// A tagged paragraph: the tag on its own line, then the text indented under it.
    Tag(String, String),
    /// Literal lines (commands, output), indented and not filled; no markup.
    Code(String),
    /// A subsection heading.
    Sub(String),
}

/// One top-level section (`.SH`).
#[derive(Debug, PartialEq, Eq)]
pub struct Section {
    pub title: String,
    pub blocks: Vec<Block>,
}

/// Everything hand-written for one page.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Appended to the DESCRIPTION that clap renders from the doc comment.
    pub description: Vec<Block>,
    /// Sections after OPTIONS, in order, before SEE ALSO.
    pub sections: Vec<Section>,
    /// References beyond the osps pages and the ones every page lists.
    pub see_also: Vec<String>,
}

/// `template` with every `{{NAME}}` replaced by `value(NAME)`, once (values are not
/// searched for placeholders). An unknown name or an unclosed `{{` is an error.
pub fn fill(template: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("an unclosed {{{{ before {:?}", first_line(after)))?;
        let name = &after[..end];
        out.push_str(&value(name).ok_or_else(|| format!("unknown placeholder {{{{{name}}}}}"))?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// The page a filled template describes.
pub fn parse(text: &str) -> Result<Page, String> {
    let mut page = Page::default();
    let mut in_see_also = false;
    let mut lines = text.lines().peekable();
    while lines.peek().is_some() {
        let chunk: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.trim().is_empty())
            .collect();
        let Some(&first) = chunk.first() else {
            continue;
        };
        if let Some(title) = first.strip_prefix("# ") {
            if chunk.len() > 1 {
                return Err(format!(
                    "the heading {first:?} is not followed by a blank line"
                ));
            }
            in_see_also = title == "SEE ALSO";
            if !in_see_also {
                page.sections.push(Section {
                    title: title.to_string(),
                    blocks: vec![],
                });
            }
            continue;
        }
        if in_see_also {
            let refs = chunk.iter().flat_map(|l| l.split(','));
            page.see_also.extend(
                refs.map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(String::from),
            );
            continue;
        }
        let block = block(&chunk);
        match page.sections.last_mut() {
            Some(section) => section.blocks.push(block),
            None => page.description.push(block),
        }
    }
    Ok(page)
}

/// One block from its lines (none of them blank).
fn block(lines: &[&str]) -> Block {
    let joined = |lines: &[&str]| lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
    if let [line] = lines {
        if let Some(title) = line.strip_prefix("## ") {
            return Block::Sub(title.to_string());
        }
    }
    if lines.iter().all(|l| l.starts_with("    ")) {
        let code: Vec<&str> = lines.iter().map(|l| &l[4..]).collect();
        return Block::Code(code.join("\n"));
    }
    if let [tag, first, rest @ ..] = lines {
        if let Some(first) = first.strip_prefix(": ") {
            let text: Vec<&str> = std::iter::once(first).chain(rest.iter().copied()).collect();
            return Block::Tag(tag.to_string(), joined(&text));
        }
    }
    Block::P(joined(lines))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Block::{Code, P, Sub, Tag};

    fn known(name: &str) -> Option<String> {
        (name == "TWO").then(|| "2".to_string())
    }

    #[test]
    fn fill_replaces_known_placeholders_and_refuses_others() {
        assert_eq!(fill("1 {{TWO}} 3", known).unwrap(), "1 2 3");
        assert_eq!(fill("no braces { }", known).unwrap(), "no braces { }");
        let err = fill("a {{THREE}} b", known).unwrap_err();
        assert_eq!(err, "unknown placeholder {{THREE}}");
        assert!(fill("a {{TWO", known).unwrap_err().contains("unclosed"));
    }

    #[test]
    fn fill_does_not_fill_inside_values() {
        let value = |_: &str| Some("{{TWO}}".to_string());
        assert_eq!(fill("{{X}}", value).unwrap(), "{{TWO}}");
    }

    #[test]
    fn parse_reads_every_kind_of_block() {
        let text = "Intro that goes\non.\n\n# FIRST\n\n## Sub\n\n`TAG`\n: Its text\n  goes on.\n\n    \
                    code line\n      indented\n\n\n# SEE ALSO\n\njq(1), ps(1)\n";
        let page = parse(text).unwrap();
        assert_eq!(page.description, [P("Intro that goes on.".into())]);
        assert_eq!(
            page.sections,
            [Section {
                title: "FIRST".into(),
                blocks: vec![
                    Sub("Sub".into()),
                    Tag("`TAG`".into(), "Its text goes on.".into()),
                    Code("code line\n  indented".into()),
                ],
            }]
        );
        assert_eq!(page.see_also, ["jq(1)", "ps(1)"]);
    }

    #[test]
    fn a_heading_needs_a_blank_line_after_it() {
        assert!(parse("# TITLE\ntext\n").is_err());
    }
}
