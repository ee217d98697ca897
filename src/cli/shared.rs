//! The options several subcommands share: which instance (`--name`, `--runtime-dir`),
//! or one instance or all of them, and the default name of `status` and `stop`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use clap::ValueEnum;
use clap::builder::{EnumValueParser, PossibleValue, TypedValueParser, ValueParserFactory};
use clap::error::ErrorKind;

use crate::disk::names::InstanceName;
use crate::log::ColorWhen;

/// Which instance, and where its objects live.
#[derive(Debug, Args, Clone)]
pub struct InstanceArgs {
    /// Instance name: 1 to 64 of A-Z a-z 0-9 _ - (not starting with -)
    #[arg(
        short,
        long,
        env = "OSPS_NAME",
        default_value = "osps",
        value_name = "NAME"
    )]
    pub name: InstanceName,

    /// Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]
    #[arg(long, env = "OSPS_RUNTIME_DIR", value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
}

/// Look at one instance or all of them.
#[derive(Debug, Args, Clone)]
pub struct SelectArgs {
    /// Only this instance (default: every instance of the current user)
    #[arg(short, long, value_name = "NAME")]
    pub name: Option<InstanceName>,

    /// Directory for the lock file and FIFOs [default: $XDG_RUNTIME_DIR/osps, else /tmp/osps-UID]
    #[arg(long, env = "OSPS_RUNTIME_DIR", value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
}

/// The instance of `osps status [NAME]` and `osps stop [NAME]`: NAME, else `OSPS_NAME`,
/// else `osps` (as for `osps primary`). Not clap's `env`: a NAME that came from the
/// environment would conflict with `osps stop --all`. An `OSPS_NAME` that is not UTF-8
/// is refused, not taken for unset (which would describe or stop `osps` instead).
pub fn name_or_default(given: Option<&InstanceName>) -> color_eyre::Result<InstanceName> {
    if let Some(name) = given {
        return Ok(name.clone());
    }
    match std::env::var_os("OSPS_NAME").filter(|v| !v.is_empty()) {
        None => Ok(InstanceName::from_str("osps").map_err(|e| usage_error("osps", &e))?),
        Some(value) => parse_name(&value).map_err(|e| usage_error(&shown(&value), &e)),
    }
}

fn usage_error(value: &str, why: &str) -> color_eyre::Report {
    crate::exit::coded(
        crate::exit::Exit::Usage,
        format!("invalid value '{value}' of OSPS_NAME: {why}; set it to a valid name or unset it"),
    )
}

/// An instance name from the command line or the environment, as bytes: one that is not
/// UTF-8 is refused by name, with its bytes shown, rather than by clap's "invalid UTF-8
/// was detected in one or more arguments", which says neither which argument nor why.
fn parse_name(value: &OsStr) -> Result<InstanceName, String> {
    match value.to_str() {
        Some(text) => text.parse(),
        None => Err("the instance name is not UTF-8 text: use only A-Z a-z 0-9 _ -".into()),
    }
}

/// `value` as it is when it is UTF-8, else as printable ASCII with every other byte as
/// `\xNN`.
fn shown(value: &OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    match value.to_str() {
        Some(text) => text.to_string(),
        None => value.as_bytes().escape_ascii().to_string(),
    }
}

/// clap's parser of every `--name` and `NAME` (see [`parse_name`]). The error names the
/// environment variable when that is where the value came from (`OSPS_NAME=a/b osps
/// primary` gives no `--name` to correct).
#[derive(Clone, Copy, Debug)]
pub struct NameParser;

impl TypedValueParser for NameParser {
    type Value = InstanceName;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<InstanceName, clap::Error> {
        parse_name(value).map_err(|why| {
            let what = arg.map_or_else(|| "NAME".to_string(), ToString::to_string);
            let from_env = from_env(arg, value)
                .map(|var| format!(" (from {var})"))
                .unwrap_or_default();
            cmd.clone().error(
                ErrorKind::ValueValidation,
                format!(
                    "invalid value '{}' for '{what}'{from_env}: {why}",
                    shown(value)
                ),
            )
        })
    }
}

/// The environment variable `value` of `arg` came from, if it did: the variable holds it
/// and the command line gives `arg` no such value.
fn from_env(arg: Option<&clap::Arg>, value: &OsStr) -> Option<String> {
    let arg = arg?;
    arg.get_env()
        .filter(|var| std::env::var_os(var).as_deref() == Some(value))
        .filter(|_| !values_on_command_line(arg).iter().any(|v| v == value))
        .map(|var| var.to_string_lossy().into_owned())
}

/// The values this process's command line gives the option `arg` (`--long V`,
/// `--long=V`, `-s V`, `-sV`), up to a `--` (after which the words are a program's, as
/// in `osps audit -- CMD`).
fn values_on_command_line(arg: &clap::Arg) -> Vec<std::ffi::OsString> {
    let long = arg.get_long().map(|l| format!("--{l}"));
    let short = arg.get_short().map(|s| format!("-{s}"));
    let words: Vec<std::ffi::OsString> = std::env::args_os()
        .skip(1)
        .take_while(|w| w != "--")
        .collect();
    let mut values = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let bytes = word.as_bytes();
        for flag in long.iter().chain(short.iter()) {
            let flag = flag.as_bytes();
            if bytes == flag {
                values.extend(words.get(i + 1).cloned());
            } else if let Some(rest) = bytes.strip_prefix(flag) {
                let rest = match rest.strip_prefix(b"=") {
                    Some(value) if flag.starts_with(b"--") => value,
                    _ if flag.starts_with(b"--") => continue,
                    _ => rest,
                };
                values.push(OsStr::from_bytes(rest).to_owned());
            }
        }
    }
    values
}

/// clap's parser of `--color`: the enum's own, whose error also names `OSPS_COLOR` when
/// that is where the value came from (`OSPS_COLOR=bogus osps list` gives no `--color` to
/// correct).
#[derive(Clone)]
pub struct ColorParser(EnumValueParser<ColorWhen>);

impl ColorParser {
    pub fn new() -> ColorParser {
        ColorParser(EnumValueParser::new())
    }
}

impl TypedValueParser for ColorParser {
    type Value = ColorWhen;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<ColorWhen, clap::Error> {
        self.0.parse_ref(cmd, arg, value).or_else(|e| {
            let Some(var) = from_env(arg, value) else {
                return Err(e);
            };
            // clap parses the variable of a global option for the top-level command too,
            // where a `--color` after the subcommand is not seen; the command line's
            // value wins over it (clap keeps a value by its source), so it is moot here.
            if arg.is_some_and(|a| !values_on_command_line(a).is_empty()) {
                return Ok(ColorWhen::Auto);
            }
            let what = arg.map_or_else(|| "--color".to_string(), ToString::to_string);
            let choices: Vec<&str> = ColorWhen::value_variants()
                .iter()
                .map(|c| c.as_str())
                .collect();
            Err(cmd.clone().error(
                ErrorKind::InvalidValue,
                format!(
                    "invalid value '{}' for '{what}' (from {var}): not one of {}; set it to \
                     one of them or unset it",
                    shown(value),
                    choices.join(", ")
                ),
            ))
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        self.0.possible_values()
    }
}

impl ValueParserFactory for InstanceName {
    type Parser = NameParser;

    fn value_parser() -> NameParser {
        NameParser
    }
}
