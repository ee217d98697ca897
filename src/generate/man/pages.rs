//! The hand-written parts of the man pages, what clap cannot know from `cli.rs` (the
//! paths, the environment, the exit codes, the JSON keys, worked examples): one template
//! per page in `src/generate/pages/`, in the format of `markup.rs`, plus the pieces
//! several pages share (`pages/common/`) and the lists that come from code (the trace
//! steps of `trace.rs`, the signals of `os/signals.rs`), put in as placeholders.

use super::markup::{self, Page};
use super::signals;

/// The template of `osps` (`None`) or of one subcommand; `None` for a subcommand that
/// has none yet (the generator then uses [`FALLBACK`]).
pub fn template(subcommand: Option<&str>) -> Option<&'static str> {
    Some(match subcommand {
        None => include_str!("../pages/osps.md"),
        Some("primary") => include_str!("../pages/osps-primary.md"),
        Some("secondary") => include_str!("../pages/osps-secondary.md"),
        Some("inspect") => include_str!("../pages/osps-inspect.md"),
        Some("cleanup") => include_str!("../pages/osps-cleanup.md"),
        Some("client") => include_str!("../pages/osps-client.md"),
        Some("list") => include_str!("../pages/osps-list.md"),
        Some("status") => include_str!("../pages/osps-status.md"),
        Some("stop") => include_str!("../pages/osps-stop.md"),
        Some("top") => include_str!("../pages/osps-top.md"),
        Some("audit") => include_str!("../pages/osps-audit.md"),
        Some("completions") => include_str!("../pages/osps-completions.md"),
        Some("man") => include_str!("../pages/osps-man.md"),
        Some(_) => return None,
    })
}

/// The shared sections, for a subcommand added to `cli.rs` before its text was written.
pub const FALLBACK: &str = include_str!("../pages/fallback.md");

/// References every page shares.
pub const SEE_ALSO_COMMON: &[&str] = &["shm_overview(7)", "fifo(7)", "signal(7)"];

/// A template filled and parsed.
pub fn render(template: &str) -> Result<Page, String> {
    markup::parse(&markup::fill(template, value)?)
}

/// The texts several pages share, by placeholder.
const COMMON: &[(&str, &str)] = &[
    // How every duration option is written; the same units as the error message of
    // `units::parse_duration`.
    ("DURATIONS", include_str!("../pages/common/durations.md")),
    // ENVIRONMENT: OSPS_NAME as the commands that take a default name read it, or as
    // inspect, cleanup, list and top (which look at every instance) do not; then the rest.
    ("ENV_NAME", include_str!("../pages/common/env-name.md")),
    (
        "ENV_NAME_UNREAD",
        include_str!("../pages/common/env-name-unread.md"),
    ),
    (
        "ENVIRONMENT",
        include_str!("../pages/common/environment.md"),
    ),
    // EXIT STATUS: what every command says, and the codes only some of them use.
    ("EXIT_INTRO", include_str!("../pages/common/exit-intro.md")),
    ("EXIT_USAGE", include_str!("../pages/common/exit-usage.md")),
    (
        "EXIT_3_UNUSED",
        include_str!("../pages/common/exit-3-unused.md"),
    ),
    (
        "EXIT_4_UNUSED",
        include_str!("../pages/common/exit-4-unused.md"),
    ),
];

/// FILES, whose socket entry only the pages of commands that use the socket have.
const FILES: &str = include_str!("../pages/common/files.md");
const FILES_SOCKET: &str = include_str!("../pages/common/files-socket.md");
const FILES_EXE: &str = include_str!("../pages/common/files-exe.md");

/// The text of one placeholder.
fn value(name: &str) -> Option<String> {
    if let Some((_, text)) = COMMON.iter().find(|(n, _)| *n == name) {
        return Some(text.trim_end().to_string());
    }
    let [files, socket, exe] = [FILES, FILES_SOCKET, FILES_EXE].map(str::trim_end);
    Some(match name {
        "FILES" => format!("{files}\n\n{exe}"),
        "FILES_WITH_SOCKET" => format!("{files}\n\n{socket}\n\n{exe}"),
        "TRACE_STEPS" => trace_steps(),
        _ => return signals::value(name),
    })
}

/// Every step `--trace` prints, from `trace::STEPS`, so the page and the code cannot
/// disagree.
fn trace_steps() -> String {
    crate::trace::STEPS
        .iter()
        .map(|(_, tag, what)| format!("{tag}\n: {what}"))
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every template, by the name of its file.
    fn all() -> Vec<(String, &'static str)> {
        let mut all = vec![("fallback".to_string(), FALLBACK)];
        for sub in crate::cli::MAN_PAGES {
            all.push((format!("osps-{sub}"), template(Some(sub)).unwrap()));
        }
        all.push(("osps".to_string(), template(None).unwrap()));
        all
    }

    #[test]
    fn every_template_fills_every_placeholder_and_parses() {
        for (name, text) in all() {
            let page = render(text).unwrap_or_else(|e| panic!("pages/{name}.md: {e}"));
            assert!(!page.sections.is_empty(), "pages/{name}.md has no section");
        }
    }

    #[test]
    fn every_shared_text_is_used() {
        let used = |placeholder: &str| {
            all()
                .iter()
                .any(|(_, text)| text.contains(&format!("{{{{{placeholder}}}}}")))
        };
        for (name, _) in COMMON {
            assert!(used(name), "no page uses {{{{{name}}}}}");
        }
    }

    #[test]
    fn the_trace_steps_are_tags() {
        let page = render("# TRACE\n\n{{TRACE_STEPS}}\n").unwrap();
        assert_eq!(page.sections[0].blocks.len(), crate::trace::STEPS.len());
        assert!(
            page.sections[0]
                .blocks
                .iter()
                .all(|b| matches!(b, markup::Block::Tag(..)))
        );
    }
}
