//! `osps audit` on programs written the way students and teachers write them, by a
//! reviewer who did not write the audit: each test says what the report got wrong, or
//! which true report is worth keeping true.

use super::*;

#[test]
fn a_fifo_in_a_directory_renamed_is_followed_to_its_new_path() {
    // os.rename of the directory holding the FIFOs: the audit kept the old paths, so the
    // FIFO left under the new name was not reported (its old path no longer existed) and
    // the one removed there was never seen removed.
    let lab = Lab::new("dirmoved");
    let script = "import os, sys\n\
                  d = sys.argv[1]\n\
                  os.mkdir(d + '/run')\n\
                  os.mkfifo(d + '/run/left.fifo'); os.mkfifo(d + '/run/gone.fifo')\n\
                  os.rename(d + '/run', d + '/moved')\n\
                  os.unlink(d + '/moved/gone.fifo')";
    let (out, doc) = audit_python(script, &[lab.dir()]);
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["fifo-left"], "{doc:#}");
    let moved = lab.dir().join("moved");
    assert_eq!(
        doc["findings"][0]["path"],
        moved.join("left.fifo").to_str().unwrap()
    );
    let fifos = doc["fifos"].as_array().unwrap();
    assert_eq!(fifos.len(), 2, "{doc:#}");
    assert_eq!(fifos[0]["path"], moved.join("left.fifo").to_str().unwrap());
    assert_eq!(fifos[0]["left"], true);
    assert_eq!(fifos[1]["path"], moved.join("gone.fifo").to_str().unwrap());
    assert_eq!(fifos[1]["unlinked_by"], root(&doc));
    assert_eq!(fifos[1]["left"], false);
}
