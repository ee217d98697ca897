//! Proof that a file-system object is ours: the checks made with `fstat` after every
//! open and before every removal. An object is ours when it has the expected type, is
//! owned by our user, and has exactly the mode osps gives it.

use std::path::Path;

use color_eyre::eyre::{Result, bail};
use nix::sys::stat::{FileStat, SFlag};

/// The kind of object we expect at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Regular,
    Fifo,
    Directory,
    Socket,
}

impl Kind {
    fn flag(self) -> SFlag {
        match self {
            Kind::Regular => SFlag::S_IFREG,
            Kind::Fifo => SFlag::S_IFIFO,
            Kind::Directory => SFlag::S_IFDIR,
            Kind::Socket => SFlag::S_IFSOCK,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Regular => "a regular file",
            Kind::Fifo => "a FIFO",
            Kind::Directory => "a directory",
            Kind::Socket => "a socket",
        }
    }
}

/// Names the type of a stat result, for messages and JSON.
pub fn type_name(st: &FileStat) -> &'static str {
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFREG => "regular file",
        SFlag::S_IFIFO => "FIFO",
        SFlag::S_IFDIR => "directory",
        SFlag::S_IFLNK => "symbolic link",
        SFlag::S_IFSOCK => "socket",
        SFlag::S_IFCHR => "character device",
        SFlag::S_IFBLK => "block device",
        _ => "unknown file type",
    }
}

/// True when `st` is of type `kind`.
pub fn is_kind(st: &FileStat, kind: Kind) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == kind.flag().bits()
}

/// The permission bits of a stat result (`0o600` for our objects).
pub fn perm_bits(st: &FileStat) -> u32 {
    st.st_mode & 0o7777
}

/// Fails unless `st` (of `path`) is of type `kind`, owned by us, with mode `mode`.
/// The message names the path, what is wrong, and what to do.
pub fn check(st: &FileStat, path: &Path, kind: Kind, mode: u32) -> Result<()> {
    let path = path.display();
    if !is_kind(st, kind) {
        bail!(
            "{path} is a {} where osps expects {}: it was not made by osps; \
             move it away or remove it by hand (osps cleanup never removes what it did not make)",
            type_name(st),
            kind.describe()
        );
    }
    let me = crate::disk::names::uid();
    if st.st_uid != me {
        // A segment's path depends on the name alone; a runtime file's on the directory too.
        let other = if path.to_string().starts_with(crate::disk::names::SHM_DIR) {
            "use another --name"
        } else {
            "use another --name or --runtime-dir"
        };
        bail!(
            "{path} belongs to uid {} and we are uid {me}: osps refuses objects of another user; \
             {other}",
            st.st_uid
        );
    }
    if perm_bits(st) != mode && kind == Kind::Socket {
        // A socket is another program's as soon as it listens there: a chmod would make
        // it look like osps's, and cleanup would then remove a live socket of another.
        bail!(
            "{path} is a socket of mode {:04o} where osps makes its sockets {mode:04o}: it \
             may belong to another program (`ss -xlp | grep {path}` names the one listening \
             on it); if none listens, remove it by hand (`rm {path}`)",
            perm_bits(st)
        );
    }
    if perm_bits(st) != mode {
        bail!(
            "{path} has mode {:04o} where osps uses {mode:04o}: it was not made by osps or was \
             changed since; if it is yours, `chmod {mode:o} {path}` puts it back (an instance \
             may still be using it: `osps inspect` tells)",
            perm_bits(st)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_socket_of_another_mode_is_never_said_to_be_put_back_with_chmod() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sock");
        let _listening = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let st = nix::sys::stat::lstat(&path).unwrap();
        let said = format!("{:#}", check(&st, &path, Kind::Socket, 0o600).unwrap_err());
        assert!(said.contains("may belong to another program"), "{said}");
        assert!(
            said.contains("ss -xlp") && !said.contains("chmod"),
            "{said}"
        );
        // A FIFO of another mode may be ours, changed: chmod is the way back.
        let fifo = dir.path().join("x.fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o644)).unwrap();
        let st = nix::sys::stat::lstat(&fifo).unwrap();
        let said = format!("{:#}", check(&st, &fifo, Kind::Fifo, 0o600).unwrap_err());
        assert!(said.contains("chmod 600"), "{said}");
    }
}
