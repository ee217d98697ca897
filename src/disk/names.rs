//! Instance names and where every object of an instance lives: the one place that
//! knows the paths (a public contract that inspect, cleanup, the docs and outside
//! scripts rely on).
//!
//! For instance `NAME` of user `UID`:
//! - segment: POSIX shared-memory object `/osps.UID.NAME`, i.e. `/dev/shm/osps.UID.NAME`;
//! - runtime directory `DIR`: `--runtime-dir`, else `$XDG_RUNTIME_DIR/osps` when that is a
//!   private directory of ours, else `/tmp/osps-UID`;
//! - in `DIR`: `NAME.lock` (held by the live primary), `NAME.p2s.fifo` (primary to
//!   secondary) and `NAME.s2p.fifo` (secondary to primary).

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where POSIX shared memory objects appear on Linux.
pub const SHM_DIR: &str = "/dev/shm";
/// The longest instance name.
pub const MAX_NAME_LEN: usize = 64;

/// A validated instance name: 1 to 64 of `[A-Za-z0-9_-]`, not starting with `-`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceName(String);

impl fmt::Display for InstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for InstanceName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("the instance name is empty: use 1 to 64 of A-Z a-z 0-9 _ -".into());
        }
        if let Some((i, c)) = s
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(format!(
                "character {c:?} at position {} is not allowed in an instance name: use only A-Z a-z 0-9 _ -",
                i + 1
            ));
        }
        if s.len() > MAX_NAME_LEN {
            return Err(format!(
                "the instance name is {} characters long; at most {MAX_NAME_LEN} are allowed",
                s.len()
            ));
        }
        if s.starts_with('-') {
            return Err(
                "an instance name must not start with '-' (it would read as an option)".into(),
            );
        }
        Ok(InstanceName(s.to_string()))
    }
}

/// The real user id of this process (every object belongs to it).
pub fn uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// The file-name prefix of this user's segments in `/dev/shm`: `osps.UID.`.
pub fn shm_prefix() -> String {
    format!("osps.{}.", uid())
}

/// Which kind of object a runtime-dir entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeEntry {
    Lock,
    Fifo,
    Socket,
}

/// The instance a `/dev/shm` entry belongs to, if it follows this user's osps pattern.
pub fn instance_of_shm_entry(file_name: &str) -> Option<InstanceName> {
    file_name.strip_prefix(&shm_prefix())?.parse().ok()
}

/// The instance a runtime-dir entry belongs to, if it follows the osps pattern:
/// `NAME.lock`, `NAME.sock`, `NAME.p2s.fifo`, `NAME.s2p.fifo`, `NAME.I.p2s.fifo`, `NAME.I.s2p.fifo`.
pub fn instance_of_runtime_entry(file_name: &str) -> Option<(InstanceName, RuntimeEntry)> {
    // `.NAME.lock.PID`: a lock file being created (or left by a crash while it was).
    if let Some((name, pid)) = file_name
        .strip_prefix('.')
        .and_then(|f| f.rsplit_once(".lock."))
    {
        if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
            return Some((name.parse().ok()?, RuntimeEntry::Lock));
        }
    }
    if let Some(stem) = file_name.strip_suffix(".lock") {
        return Some((stem.parse().ok()?, RuntimeEntry::Lock));
    }
    if let Some(stem) = file_name.strip_suffix(".sock") {
        return Some((stem.parse().ok()?, RuntimeEntry::Socket));
    }
    let stem = file_name
        .strip_suffix(".p2s.fifo")
        .or_else(|| file_name.strip_suffix(".s2p.fifo"))?;
    // An optional secondary index sits between the name and the role.
    let name = match stem.rsplit_once('.') {
        Some((name, index)) if !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => stem,
    };
    Some((name.parse().ok()?, RuntimeEntry::Fifo))
}

/// Chooses the runtime directory: the explicit one, else `$XDG_RUNTIME_DIR/osps` when
/// `XDG_RUNTIME_DIR` is a private directory of ours, else `/tmp/osps-UID`.
pub fn default_runtime_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return absolute(dir);
    }
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        let private = std::fs::symlink_metadata(&xdg)
            .is_ok_and(|m| m.is_dir() && m.uid() == uid() && m.mode() & 0o077 == 0);
        if private && xdg.is_absolute() {
            return xdg.join("osps");
        }
    }
    PathBuf::from(format!("/tmp/osps-{}", uid()))
}

fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Every path of one instance. Built once; nothing else derives these names.
#[derive(Clone, Debug)]
pub struct Paths {
    pub name: InstanceName,
    pub runtime_dir: PathBuf,
}

impl Paths {
    pub fn new(name: InstanceName, runtime_dir: PathBuf) -> Self {
        Paths { name, runtime_dir }
    }

    /// The name given to `shm_open`: `/osps.UID.NAME`.
    pub fn shm_name(&self) -> String {
        format!("/{}{}", shm_prefix(), self.name)
    }

    /// Where the segment shows in the file system: `/dev/shm/osps.UID.NAME`.
    pub fn shm_path(&self) -> PathBuf {
        Path::new(SHM_DIR).join(format!("{}{}", shm_prefix(), self.name))
    }

    /// The lock file's name inside the runtime directory.
    pub fn lock_file(&self) -> String {
        format!("{}.lock", self.name)
    }

    /// The FIFO file names `(p2s, s2p)` of secondary `index` (0 is the first secondary).
    pub fn fifo_files(&self, index: usize) -> (String, String) {
        if index == 0 {
            (
                format!("{}.p2s.fifo", self.name),
                format!("{}.s2p.fifo", self.name),
            )
        } else {
            (
                format!("{}.{index}.p2s.fifo", self.name),
                format!("{}.{index}.s2p.fifo", self.name),
            )
        }
    }

    /// The client socket's file name inside the runtime directory.
    pub fn socket_file(&self) -> String {
        format!("{}.sock", self.name)
    }

    /// A runtime-dir entry as a full path, for messages and JSON.
    pub fn in_dir(&self, file: &str) -> PathBuf {
        self.runtime_dir.join(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for ok in ["osps", "a", "A-b_9", "x-", &"n".repeat(64)] {
            assert!(ok.parse::<InstanceName>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn invalid_names_say_which_character() {
        let err = "ab/c".parse::<InstanceName>().unwrap_err();
        assert!(err.contains("'/'") && err.contains("position 3"), "{err}");
        assert!("a.b".parse::<InstanceName>().unwrap_err().contains("'.'"));
        assert!("é".parse::<InstanceName>().unwrap_err().contains("'é'"));
        assert!("a b".parse::<InstanceName>().unwrap_err().contains("' '"));
        assert!("".parse::<InstanceName>().unwrap_err().contains("empty"));
        assert!("-x".parse::<InstanceName>().unwrap_err().contains("'-'"));
        assert!(
            "n".repeat(65)
                .parse::<InstanceName>()
                .unwrap_err()
                .contains("65")
        );
    }

    #[test]
    fn paths_follow_the_contract() {
        let p = Paths::new("demo".parse().unwrap(), PathBuf::from("/run/x"));
        assert_eq!(p.shm_name(), format!("/osps.{}.demo", uid()));
        assert_eq!(
            p.shm_path(),
            PathBuf::from(format!("/dev/shm/osps.{}.demo", uid()))
        );
        assert_eq!(p.lock_file(), "demo.lock");
        assert_eq!(
            p.fifo_files(0),
            ("demo.p2s.fifo".into(), "demo.s2p.fifo".into())
        );
        assert_eq!(
            p.fifo_files(3),
            ("demo.3.p2s.fifo".into(), "demo.3.s2p.fifo".into())
        );
        assert_eq!(p.in_dir("demo.lock"), PathBuf::from("/run/x/demo.lock"));
    }

    #[test]
    fn entries_map_back_to_instances() {
        let shm = format!("osps.{}.demo", uid());
        assert_eq!(instance_of_shm_entry(&shm).unwrap().to_string(), "demo");
        assert!(instance_of_shm_entry("osps.99999999.demo").is_none() || uid() == 99999999);
        assert!(instance_of_shm_entry("other").is_none());
        let e = |s: &str| instance_of_runtime_entry(s).map(|(n, k)| (n.0, k));
        assert_eq!(e("demo.lock"), Some(("demo".into(), RuntimeEntry::Lock)));
        assert_eq!(
            e("demo.p2s.fifo"),
            Some(("demo".into(), RuntimeEntry::Fifo))
        );
        assert_eq!(
            e("demo.2.s2p.fifo"),
            Some(("demo".into(), RuntimeEntry::Fifo))
        );
        assert_eq!(e("demo.sock"), Some(("demo".into(), RuntimeEntry::Socket)));
        assert_eq!(
            e(".demo.lock.123"),
            Some(("demo".into(), RuntimeEntry::Lock))
        );
        assert_eq!(e(".demo.lock.x"), None);
        assert_eq!(e("demo.txt"), None);
        assert_eq!(e("bad name.lock"), None);
    }
}
