//! A segment's size under `osps audit`: what the object really has, not only what the
//! last ftruncate said. An open with O_TRUNC makes it 0 and a write(2) past its end grows
//! it (writes are not traced): the report measures it when it is removed and, for one
//! left, at the end; `size_set` keeps the last size a call set.

use super::*;

fn only_segment(doc: &Value) -> &Value {
    let segments = doc["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 1, "{doc:#}");
    &segments[0]
}

/// Makes the segment (4096 bytes, kept from the resource tracker so that it stays when
/// asked to), then runs `second` as another Python program given the segment's name.
fn create_then(second: &str, unlink_after: bool) -> String {
    let end = if unlink_after {
        "shm.unlink()"
    } else {
        "resource_tracker.unregister(shm._name, 'shared_memory')"
    };
    format!(
        "import subprocess, sys\n\
         from multiprocessing import resource_tracker, shared_memory\n\
         shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=4096)\n\
         shm.close()\n\
         subprocess.run([sys.executable, '-c', {second:?}, sys.argv[1]], check=True)\n\
         {end}"
    )
}

#[test]
fn a_segment_a_second_program_truncates_and_writes_is_left_with_its_real_size() {
    let lab = Lab::new("otrunc");
    let second = "import os, sys\n\
                  fd = os.open('/dev/shm/' + sys.argv[1], os.O_CREAT | os.O_RDWR | os.O_TRUNC)\n\
                  os.write(fd, b'x' * 100)\n\
                  os.close(fd)";
    let script = create_then(second, false);
    let (out, doc) = audit_python(&script, &[&lab.shm]);
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["segment-left"], "{doc:#}");
    let s = only_segment(&doc);
    assert_eq!(s["left"], true);
    assert_eq!(s["size"], 100, "{doc:#}");
    assert_eq!(s["size_set"], 0, "{doc:#}");
    let real = std::fs::metadata(format!("/dev/shm/{}", lab.shm)).unwrap();
    assert_eq!(real.len(), 100);

    // For people: the size it has, and that it is not the one last set.
    let mut human = Command::new(osps_bin());
    human
        .args(["audit", "--", python3(), "-c", &script, &lab.shm])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let _ = std::fs::remove_file(format!("/dev/shm/{}", lab.shm));
    let out = run(human, T);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = format!("/{} (shm, 100 bytes, though last set to 0: writes", lab.shm);
    assert!(text.contains(&line), "{text}");
}

#[test]
fn a_segment_grown_by_write_is_reported_with_the_size_it_had_when_removed() {
    let lab = Lab::new("grown");
    let second = "import os, sys\n\
                  fd = os.open('/dev/shm/' + sys.argv[1], os.O_RDWR | os.O_APPEND)\n\
                  os.write(fd, b'x' * 4096)\n\
                  os.close(fd)";
    let (out, doc) = audit_python(&create_then(second, true), &[&lab.shm]);
    assert_eq!(out.status.code(), Some(0), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), Vec::<String>::new(), "{doc:#}");
    let s = only_segment(&doc);
    assert_eq!(s["left"], false);
    assert_eq!(s["unlinked_by"], root(&doc));
    assert_eq!(s["size"], 8192, "{doc:#}");
    assert_eq!(s["size_set"], 4096, "{doc:#}");
}

/// Audits a segment made, then changed by `second` and left (exit 1, its finding); checks
/// the report's `size` and `size_set` of it.
fn left_with_sizes(name: &str, second: &str, size: u64, size_set: u64) {
    let lab = Lab::new(name);
    let (out, doc) = audit_python(&create_then(second, false), &[&lab.shm]);
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    let s = only_segment(&doc);
    assert_eq!(
        (&s["size"], &s["size_set"]),
        (&size.into(), &size_set.into()),
        "{doc:#}"
    );
}

#[test]
fn an_open_with_o_trunc_and_no_o_creat_sets_the_size_to_zero() {
    let second = "import os, sys\n\
                  os.close(os.open('/dev/shm/' + sys.argv[1], os.O_RDWR | os.O_TRUNC))";
    left_with_sizes("otrunconly", second, 0, 0);
}

#[test]
fn a_segment_truncated_by_path_has_the_size_truncate_set() {
    let second = "import os, sys\n\
                  os.truncate('/dev/shm/' + sys.argv[1], 10)";
    left_with_sizes("bypath", second, 10, 10);
}
