//! `osps audit` on programs of a fourth review: System V segments made without
//! IPC_CREAT, paths through /proc/self, leftover segments opened again, a semaphore the
//! resource tracker removed, a second Ctrl-C, hints for shell scripts.
//! Each test says what was wrong.

use super::*;

/// Removes, when dropped, the System V segment whose id the program wrote to `file`.
struct SysvId(PathBuf);

impl Drop for SysvId {
    fn drop(&mut self) {
        let Ok(text) = std::fs::read_to_string(&self.0) else {
            return;
        };
        if let Ok(id) = text.trim().parse::<i32>() {
            // SAFETY: IPC_RMID takes no buffer (null is allowed).
            unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
        }
    }
}

#[test]
fn shmget_of_ipc_private_without_ipc_creat_makes_a_segment() {
    // The textbook example, shmget(IPC_PRIVATE, size, S_IRUSR | S_IWUSR), has no
    // IPC_CREAT: IPC_PRIVATE always makes a new segment. It was not seen, and the
    // segment it left got "no finding: ... every object removed", exit 0.
    let lab = Lab::new("private");
    let file = lab.dir().join("id");
    let _guard = SysvId(file.clone());
    let (out, doc) = audit_python(
        "import ctypes, sys\n\
         libc = ctypes.CDLL(None)\n\
         made = libc.shmget(0, 4096, 0o600)\n\
         assert made >= 0\n\
         open(sys.argv[1], 'w').write(str(made))",
        &[&file],
    );
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["segment-left"], "{doc:#}");
    let id = std::fs::read_to_string(&file).unwrap();
    let segments = doc["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 1, "{doc:#}");
    assert_eq!(segments[0]["kind"], "sysv");
    assert_eq!(segments[0]["size"], 4096);
    assert_eq!(segments[0]["left"], true);
    assert!(
        segments[0]["name"]
            .as_str()
            .unwrap()
            .ends_with(&format!(" id {id}")),
        "{doc:#}"
    );
}
