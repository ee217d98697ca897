//! The stop of a serving primary as a pipelining client sees it, with the real binary:
//! every request the primary read is answered exactly once and in order (its reply or
//! `ERR shutting down`), those held back by `--max-inflight` included, and counted as
//! `cut_short`; requests still unread in the socket get no answer, only the end of file
//! right after the last answer (docs/SERVICE.md, "Stopping a serving primary").

use crate::common;

use std::time::Duration;

use common::sockets::{Got, unix};
use common::{T, TestEnv, json_of, kill, output_within, run, stderr_of};

/// Lets a secondary stopped by the test run again when the test ends, passed or not: a
/// stopped process does not act on the SIGTERM its dead parent leaves it.
struct Continue(u32);

impl Drop for Continue {
    fn drop(&mut self) {
        kill(self.0, libc::SIGCONT);
    }
}

/// A client writes 8 requests in one go to a server with `--max-inflight 2` whose only
/// secondary is stopped (a slow turn): the primary reads all 8, hands 2 to the
/// secondary and holds 6 back. Then 4 more, which it does not read (the client is at its
/// bound). Stopped (SIGTERM, `osps stop`), it answers the 8 `ERR shutting down`, in
/// order, then ends the connection; the 4 unread get nothing. Before, the 6 held back
/// got no answer either: the client read 2 replies and the end of file, and the
/// summary counted 3 requests of which 2 were cut short.
#[test]
fn stopping_answers_requests_held_back_by_max_inflight_and_not_the_unread_ones() {
    for how in ["SIGTERM", "osps stop"] {
        let mut env = TestEnv::new("heldstop");
        let pid = env.start_serving(&[
            "--secondaries",
            "1",
            "--max-inflight",
            "2",
            "--timeout",
            "1s",
        ]);
        let mut conn = unix(&env);
        assert_eq!(conn.ask("PING"), "PONG");
        let secondary = env.wait_worker_up(0, None, T);
        assert!(kill(secondary, libc::SIGSTOP));
        let _cont = Continue(secondary);
        let batch = |from: usize, n: usize| -> Vec<u8> {
            (from..from + n)
                .flat_map(|i| format!("REV r{i}\n").into_bytes())
                .collect()
        };
        // One write: read in one go, 2 requests in flight, 6 held back.
        conn.send_raw(&batch(0, 8));
        std::thread::sleep(Duration::from_millis(200));
        // At its bound, the client is not read: these stay in the socket.
        conn.send_raw(&batch(8, 4));
        std::thread::sleep(Duration::from_millis(100));
        let out = if how == "SIGTERM" {
            assert!(kill(pid, libc::SIGTERM));
            output_within(env.take_child(pid), T)
        } else {
            let mut cmd = env.cmd("stop");
            cmd.arg(&env.name);
            let stop = run(cmd, T);
            assert!(stop.status.success(), "{how}: {}", stderr_of(&stop));
            output_within(env.take_child(pid), T)
        };
        assert!(out.status.success(), "{how}: {}", stderr_of(&out));
        let mut answers = Vec::new();
        let end = loop {
            match conn.get() {
                Got::Line(l) => answers.push(l),
                other => break other,
            }
        };
        assert_eq!(
            answers,
            vec!["ERR shutting down"; 8],
            "{how}: one answer per request read, in order"
        );
        assert_eq!(end, Got::Eof, "{how}: after the answers");
        env.assert_nothing_left();
        let v = json_of(&out);
        let count = |key: &str| v[key].as_u64().unwrap();
        assert_eq!(count("requests"), 9, "{how}: the PING and the 8 read: {v}");
        assert_eq!(count("cut_short"), 8, "{how}: {v}");
        assert_eq!(count("errors"), 0, "{how}: {v}");
    }
}
