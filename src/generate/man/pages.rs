//! The hand-written parts of the man pages, what clap cannot know from `cli.rs` (the
//! paths, the environment, the exit codes, the JSON keys, worked examples): one template
//! per page in `src/generate/pages/`, in the format of `markup.rs`, plus the pieces
//! several pages share (`pages/common/`) and the lists that come from code (the trace
//! steps of `trace.rs`, the signals of `os/signals/policy.rs`), put in as placeholders.

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
    // EXIT STATUS: what every command says; the codes only some of them use are written
    // from `crate::exit` (`EXIT_CODES:SUBCOMMAND`, `EXIT_TABLE`).
    ("EXIT_INTRO", include_str!("../pages/common/exit-intro.md")),
    ("EXIT_USAGE", include_str!("../pages/common/exit-usage.md")),
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
        "EXIT_TABLE" => exit_codes(None),
        "EXIT_CODES_NONE" => exit_codes(Some("")),
        _ => match name.strip_prefix("EXIT_CODES:") {
            Some(subcommand) => exit_codes(Some(subcommand)),
            None => return signals::value(name),
        },
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

/// The codes beyond 0, 1 and 2 (which every page words for its own command), from
/// `crate::exit`: those `subcommand` uses, then which it never uses; with `None`, every
/// code and the commands that use it (the page of `osps`).
fn exit_codes(subcommand: Option<&str>) -> String {
    use crate::exit::Exit;
    let special = Exit::ALL.into_iter().filter(|e| e.code() > 2);
    let sentence = |e: Exit| {
        let meaning = e.meaning();
        let mut first = meaning.chars();
        let capital = first.next().map(|c| c.to_ascii_uppercase()).unwrap_or(' ');
        format!("{capital}{}.", first.as_str())
    };
    let Some(subcommand) = subcommand else {
        return special
            .map(|e| {
                let users: Vec<String> =
                    e.commands().iter().map(|c| format!("`osps {c}`")).collect();
                format!(
                    "{}\n: {} Used by {}.",
                    e.code(),
                    sentence(e),
                    users.join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n\n");
    };
    let (used, unused): (Vec<Exit>, Vec<Exit>) = special.partition(|e| e.used_by(subcommand));
    let mut blocks: Vec<String> = used
        .iter()
        .map(|&e| format!("{}\n: {}", e.code(), sentence(e)))
        .collect();
    let unused: Vec<String> = unused.iter().map(|e| e.code().to_string()).collect();
    if !unused.is_empty() {
        blocks.push(format!(
            "This command never exits with {}; osps(1) lists every code and the commands \
             that use it: a code means the same in every command.",
            join_or(&unused)
        ));
    }
    blocks.join("\n\n")
}

/// `a, b or c`.
fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
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
    fn each_page_lists_the_exit_codes_its_command_uses() {
        let status = exit_codes(Some("status"));
        assert!(status.starts_with("3\n: The instance exists but is not running"));
        assert!(status.contains("\n\n4\n: There is no instance"));
        assert!(status.contains("never exits with 5, 6, 7, 8, 126, 127, 129, 130, 131 or 143"));
        let audit = exit_codes(Some("audit"));
        assert!(
            audit.contains("127\n: The program to audit was not found"),
            "{audit}"
        );
        for sub in ["inspect", "stop", "cleanup", "client"] {
            assert!(
                exit_codes(Some(sub)).contains("4\n: There is no instance"),
                "{sub}"
            );
        }
        let client = exit_codes(Some("client"));
        assert!(client.contains("7\n: The server answered") && client.contains("8\n: The server"));
        assert!(exit_codes(None).contains("5\n: At least one reply did not match its request (corrupted data). Used by `osps primary`."));
    }

    /// The long options named in the text of exit code 2 of `subcommand`'s page.
    fn options_in_exit_usage(subcommand: &str) -> Vec<String> {
        let text = markup::fill(template(Some(subcommand)).unwrap(), value).unwrap();
        let Some((_, usage)) = text.split_once("\n2\n: ") else {
            panic!("pages/osps-{subcommand}.md has no exit code 2")
        };
        let usage = usage.split("\n\n").next().unwrap_or_default();
        usage
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.len() > 2 && w.starts_with("--"))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn exit_code_2_of_each_page_names_only_options_of_its_command() {
        // The shared text named --rounds and --spin, options of the primary alone, in the
        // pages of status, list, client and every other command.
        use clap::CommandFactory;
        let root = crate::cli::Cli::command();
        for sub in crate::cli::MAN_PAGES {
            let cmd = root.find_subcommand(sub).unwrap();
            for option in options_in_exit_usage(sub) {
                let known = cmd
                    .get_arguments()
                    .chain(root.get_arguments())
                    .any(|a| a.get_long() == option.strip_prefix("--"));
                assert!(known, "osps {sub}: its exit code 2 names {option}");
            }
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
