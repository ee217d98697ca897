//! The shell completions: clap_complete's scripts for the public command (hidden
//! subcommands left out), plus dynamic completion of instance names in bash, zsh and fish.
//!
//! To put the call exactly where clap places value completions, `--name` is given a
//! sentinel possible value while generating and the sentinel is then replaced by the
//! shell's call; the function that lists this user's segments in `/dev/shm` is a real
//! shell file beside this one (`completions/instance-names.*`), appended to the script.
//! The elvish and PowerShell scripts complete options and subcommands only (the README
//! says so).

use std::path::Path;

use clap::builder::PossibleValuesParser;
use clap::{Command, CommandFactory};
use clap_complete::{Generator, Shell};
use color_eyre::eyre::{Result, ensure, eyre};

use super::{BIN, Generated};
use crate::cli::Cli;

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

/// The functions listing instance names, one per shell with dynamic completion.
const BASH_NAMES: &str = include_str!("completions/instance-names.bash");
const ZSH_NAMES: &str = include_str!("completions/instance-names.zsh");
const FISH_NAMES: &str = include_str!("completions/instance-names.fish");

/// Every completion script, in a stable order.
pub(super) fn completions() -> Result<Vec<Generated>> {
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
pub(super) fn completion(shell: Shell) -> Result<String> {
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
         complete_instance_names in src/generate/completions.rs"
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
                eyre!("the zsh script has no `{dispatch}` line: update src/generate/completions.rs")
            })?;
            format!("{}{function}\n{}", &script[..at], &script[at..])
        }
        _ => format!("{script}\n{function}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(
            completion(Shell::Bash)
                .unwrap()
                .contains("compgen -W \"$(_osps_instance_names)\"")
        );
        assert!(
            completion(Shell::Zsh)
                .unwrap()
                .contains(":NAME:_osps_instance_names")
        );
        assert!(
            completion(Shell::Fish)
                .unwrap()
                .contains("-a \"(__fish_osps_instance_names)\"")
        );
    }

    #[test]
    fn the_hidden_secondary_is_not_completed() {
        assert!(
            Cli::command()
                .find_subcommand("secondary")
                .is_some_and(Command::is_hide_set)
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
}
