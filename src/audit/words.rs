//! How the report names things for people: a process by its pid and command line, a
//! time in milliseconds, a signal by its name, a path with odd bytes escaped.

use super::model::{Model, Proc};
pub use super::text::{escape, ms, signal_name};

/// A process as people know it: its pid and command line, shortened. A program given
/// by its absolute path is named by its file name, so that an interpreter's long path
/// (`/root/.pyenv/versions/3.11.7/bin/python3`) leaves room for its script.
pub fn who(p: &Proc) -> String {
    let mut words = p.argv.iter().map(String::as_str);
    let program = words.next().map(|a| match a.rsplit_once('/') {
        Some((dir, name)) if a.starts_with('/') && !name.is_empty() && !dir.is_empty() => name,
        _ => a,
    });
    let line = program
        .into_iter()
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ");
    let mut argv = crate::os::procfs::printable(&line);
    if argv.chars().count() > 60 {
        argv = argv.chars().take(57).collect::<String>() + "...";
    }
    if argv.is_empty() {
        format!("pid {}", p.pid)
    } else {
        format!("pid {} ({argv})", p.pid)
    }
}

pub fn who_pid(model: &Model, pid: i32) -> String {
    model.proc(pid).map_or_else(|| format!("pid {pid}"), who)
}
