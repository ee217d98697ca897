//! Paths longer than PATH_MAX. A program may make a FIFO by a short relative name in a
//! directory nested deeper than 4096 bytes: the kernel then cannot name that directory
//! (`/proc/PID/cwd` says ENAMETOOLONG) and no single call takes the whole path. Its name
//! is found by walking up through `..`, each step's name looked up among its parent's
//! entries by device and inode (what getcwd(3) did before the kernel's); it is reached
//! again by opening its directories a few at a time.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The longest path handed to one call here, well under PATH_MAX with the
/// `/proc/self/fd/N/` prefix.
const STEP: usize = 3000;

/// The absolute path of the directory that `link` (such as `/proc/PID/cwd` or
/// `/proc/PID/fd/N`) refers to, however long; `None` if it cannot be found (a directory
/// removed, or one we may not read).
pub fn dir_path(link: &Path) -> Option<Vec<u8>> {
    let root = std::fs::metadata("/").ok()?;
    let mut dir = File::open(link).ok()?;
    let mut names: Vec<Vec<u8>> = Vec::new();
    // A bound on the depth: each step is at least two bytes of the path.
    for _ in 0..(1 << 16) {
        let here = dir.metadata().ok()?;
        if (here.dev(), here.ino()) == (root.dev(), root.ino()) {
            let mut path = Vec::new();
            for name in names.iter().rev() {
                path.push(b'/');
                path.extend_from_slice(name);
            }
            return Some(if path.is_empty() { b"/".to_vec() } else { path });
        }
        let parent = File::open(format!("/proc/self/fd/{}/..", dir.as_raw_fd())).ok()?;
        let entries = std::fs::read_dir(format!("/proc/self/fd/{}", parent.as_raw_fd())).ok()?;
        let name = entries.filter_map(Result::ok).find_map(|e| {
            // lstat of the entry itself: a mount point's d_ino is the covered directory's.
            let m = e.metadata().ok()?;
            ((m.dev(), m.ino()) == (here.dev(), here.ino()))
                .then(|| e.file_name().as_bytes().to_vec())
        })?;
        names.push(name);
        dir = parent;
    }
    None
}

/// A path of any length made usable by ordinary calls: itself when it is short, else
/// `/proc/self/fd/N/NAME` through its directory, opened a few components at a time and
/// kept open while this lives.
pub struct Reachable {
    _dir: Option<File>,
    path: PathBuf,
}

impl Reachable {
    pub fn new(path: &[u8]) -> io::Result<Reachable> {
        if path.len() < STEP {
            return Ok(Reachable {
                _dir: None,
                path: PathBuf::from(OsStr::from_bytes(path)),
            });
        }
        let cut = path.iter().rposition(|&b| b == b'/').unwrap_or(0);
        let (dir_part, name) = (&path[..cut], &path[cut + 1..]);
        let mut dir = File::open("/")?;
        let mut chunk: Vec<u8> = Vec::new();
        for part in dir_part.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
            if !chunk.is_empty() && chunk.len() + part.len() + 1 > STEP {
                dir = open_under(&dir, &chunk)?;
                chunk.clear();
            }
            if !chunk.is_empty() {
                chunk.push(b'/');
            }
            chunk.extend_from_slice(part);
        }
        if !chunk.is_empty() {
            dir = open_under(&dir, &chunk)?;
        }
        let mut short = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
        short.extend_from_slice(name);
        Ok(Reachable {
            _dir: Some(dir),
            path: PathBuf::from(OsStr::from_bytes(&short)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn open_under(dir: &File, rel: &[u8]) -> io::Result<File> {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(rel);
    File::open(OsStr::from_bytes(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_deeper_than_path_max_is_named_and_reached() {
        let top = tempfile::tempdir().unwrap();
        let top_path = top.path().canonicalize().unwrap();
        let part = "d".repeat(200);
        let mut dir = File::open(&top_path).unwrap();
        let mut expected = top_path.as_os_str().as_bytes().to_vec();
        for _ in 0..25 {
            let here = format!("/proc/self/fd/{}/{part}", dir.as_raw_fd());
            std::fs::create_dir(&here).unwrap();
            dir = File::open(&here).unwrap();
            expected.push(b'/');
            expected.extend_from_slice(part.as_bytes());
        }
        std::fs::write(format!("/proc/self/fd/{}/f", dir.as_raw_fd()), b"x").unwrap();
        assert!(expected.len() > libc::PATH_MAX as usize);
        let link = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
        assert_eq!(dir_path(&link), Some(expected.clone()));
        expected.extend_from_slice(b"/f");
        let r = Reachable::new(&expected).unwrap();
        assert_eq!(std::fs::read(r.path()).unwrap(), b"x");
        assert!(Reachable::new(b"/tmp/short").unwrap().path() == Path::new("/tmp/short"));
        // tempdir's own removal does not reach past PATH_MAX: undo the tree by hand.
        for _ in 0..25 {
            let up = File::open(format!("/proc/self/fd/{}/..", dir.as_raw_fd())).unwrap();
            let _ = std::fs::remove_file(format!("/proc/self/fd/{}/f", dir.as_raw_fd()));
            std::fs::remove_dir(format!("/proc/self/fd/{}/{part}", up.as_raw_fd())).unwrap();
            dir = up;
        }
    }
}
