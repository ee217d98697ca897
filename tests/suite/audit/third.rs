//! `osps audit` on programs of a third review: waits that report a stopped child.
//! Each test says what was wrong.

use super::*;

#[test]
fn a_wait_that_reports_a_stopped_child_does_not_reap_it() {
    // waitpid(WUNTRACED) returning a child stopped by SIGSTOP was taken for its reap:
    // the child, continued, then exited and was never waited for, yet the report said
    // "reaped by" its parent at the time of the stop, zombie 0 ms, and no finding.
    let (out, doc) = audit_python::<&str>(
        "import os, signal, time\n\
         c = os.fork()\n\
         if c == 0:\n    \
             os.kill(os.getpid(), signal.SIGSTOP)\n    \
             os._exit(6)\n\
         pid, st = os.waitpid(c, os.WUNTRACED)\n\
         assert os.WIFSTOPPED(st), st\n\
         os.kill(c, signal.SIGCONT)\n\
         time.sleep(0.5)",
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}\n{doc:#}", stderr_of(&out));
    assert_eq!(kinds(&doc), ["zombie"], "{doc:#}");
    let f = &doc["findings"][0];
    assert!(
        f["message"].as_str().unwrap().contains("never reaped"),
        "{f:#}"
    );
    let child = process(&doc, f["pid"].as_i64().unwrap());
    assert_eq!(child["exit_code"], 6, "{child:#}");
    assert_eq!(child["reaped_by"], Value::Null, "{child:#}");
}
