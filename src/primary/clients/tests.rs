//! The clients' bounds and order, over a socket pair the test plays the peer of.

use super::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

fn scratch() -> Vec<u8> {
    vec![0; READ_CHUNK]
}

/// A client over one end of a socket pair; the test plays the peer on the other.
fn client() -> (Client, UnixStream) {
    let (ours, peer) = UnixStream::pair().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (Client::new(Stream::Unix(ours)).ok().unwrap(), peer)
}

const LIMITS: Limits = Limits {
    max_line: 100,
    max_inflight: 4,
};

/// Hands every pending request to "a secondary": returns their order numbers.
fn dispatch_all(c: &mut Client) -> Vec<u64> {
    std::iter::from_fn(|| c.next_pending().map(|(order, _)| order)).collect()
}

#[test]
fn beyond_max_inflight_a_client_is_not_read_until_replies_come() {
    let (mut c, mut peer) = client();
    peer.write_all(&b"PING\n".repeat(10)).unwrap();
    let mut room = 1000;
    assert_eq!(
        c.receive(&LIMITS, &mut room, &mut scratch(), &mut Spare::default()),
        Received::default()
    );
    assert_eq!(c.pending_len(), 4);
    assert_eq!(room, 996);
    assert!(!c.wants(&LIMITS).read, "read beyond --max-inflight");
    assert_eq!(dispatch_all(&mut c), [0, 1, 2, 3]);
    // Still 4 unanswered: dispatching does not make room, replies do.
    c.take_lines(&LIMITS, &mut room, &mut Spare::default());
    assert_eq!(c.pending_len(), 0);
    c.answer(0, b"PONG", &mut Spare::default());
    c.answer(1, b"PONG", &mut Spare::default());
    c.take_lines(&LIMITS, &mut room, &mut Spare::default());
    assert_eq!(dispatch_all(&mut c), [4, 5]);
    assert!(!c.wants(&LIMITS).read);
    c.flush(Instant::now()).unwrap();
    let mut got = [0u8; 10];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"PONG\nPONG\n");
}

#[test]
fn at_its_bound_a_client_stays_in_the_poll_set_until_reported_readable() {
    let (mut c, mut peer) = client();
    peer.write_all(&b"PING\n".repeat(4)).unwrap();
    c.receive(&LIMITS, &mut 1000, &mut scratch(), &mut Spare::default());
    assert!(!c.wants(&LIMITS).read);
    assert!(
        c.poll_interest(&LIMITS).read,
        "no poll-set change for a client that waits"
    );
    // It sends beyond its bound: one report, then it is left out.
    peer.write_all(b"PING\n").unwrap();
    c.receive(&LIMITS, &mut 1000, &mut scratch(), &mut Spare::default());
    assert_eq!(c.pending_len(), 4, "read beyond --max-inflight");
    assert!(!c.poll_interest(&LIMITS).read);
    c.interest.read = false;
    dispatch_all(&mut c);
    c.answer(0, b"PONG", &mut Spare::default());
    assert!(c.poll_interest(&LIMITS).read, "room again: read again");
}

#[test]
fn replies_leave_in_request_order_whatever_order_they_come_in() {
    let (mut c, mut peer) = client();
    peer.write_all(b"a\nb\nc\n").unwrap();
    c.receive(&LIMITS, &mut 1000, &mut scratch(), &mut Spare::default());
    assert_eq!(dispatch_all(&mut c), [0, 1, 2]);
    c.answer(2, b"C", &mut Spare::default());
    c.answer(1, b"B", &mut Spare::default());
    assert!(!c.wants(&LIMITS).write, "nothing may go before reply 0");
    c.answer(0, b"A", &mut Spare::default());
    assert!(c.wants(&LIMITS).write);
    c.flush(Instant::now()).unwrap();
    let mut got = [0u8; 6];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"A\nB\nC\n");
    assert_eq!(c.held(), 0);
}

/// At the stop, lines read but held back by `--max-inflight` are answered after the
/// requests before them, in order; an unfinished line is not a request.
#[test]
fn at_the_stop_lines_held_back_are_answered_in_order_after_the_others() {
    let (mut c, mut peer) = client();
    peer.write_all(b"a\nb\nc\nd\ne\nf\ng\nunfinished").unwrap();
    let mut spare = Spare::default();
    c.receive(&LIMITS, &mut 1000, &mut scratch(), &mut spare);
    assert_eq!(dispatch_all(&mut c), [0, 1, 2, 3]);
    assert!(c.lines_wait(), "3 lines held back");
    c.answer(1, b"B", &mut spare);
    c.answer(0, b"A", &mut spare);
    // The pool cuts short those at a secondary (2 and 3), then the hall the rest.
    c.answer(3, b"ERR shutting down", &mut spare);
    c.answer(2, b"ERR shutting down", &mut spare);
    let (answered, refused) = c.answer_held("ERR shutting down", &LIMITS, &mut spare);
    assert_eq!((answered, refused), (3, Refused::default()));
    assert!(!c.lines_wait());
    c.flush(Instant::now()).unwrap();
    c.say_goodbye();
    let mut got = String::new();
    peer.read_to_string(&mut got).unwrap();
    assert_eq!(got, format!("A\nB\n{}", "ERR shutting down\n".repeat(5)));
    assert_eq!(c.held(), 0);
}

/// At the stop, requests cut but never handed to the pool's ring (a pass that failed
/// between reading a client and settling it) are answered before the lines held back
/// after them: without that, their awaited replies stood in front of the held lines'
/// answers and the client got nothing at all.
#[test]
fn at_the_stop_requests_cut_but_not_queued_are_answered_before_those_held_back() {
    let (mut c, mut peer) = client();
    peer.write_all(b"a\nb\nc\nd\ne\nf\n").unwrap();
    let mut spare = Spare::default();
    c.receive(&LIMITS, &mut 1000, &mut scratch(), &mut spare);
    assert_eq!(c.pending_len(), 4);
    let (answered, _) = c.answer_held("ERR shutting down", &LIMITS, &mut spare);
    assert_eq!(answered, 6, "the 4 cut and the 2 held back");
    assert!(!c.has_pending());
    c.flush(Instant::now()).unwrap();
    c.say_goodbye();
    let mut got = String::new();
    peer.read_to_string(&mut got).unwrap();
    assert_eq!(got, "ERR shutting down\n".repeat(6));
    assert_eq!(c.held(), 0);
}

#[test]
fn a_full_queue_answers_err_busy_in_place() {
    let (mut c, mut peer) = client();
    peer.write_all(b"a\nb\nc\n").unwrap();
    let mut room = 1;
    assert_eq!(
        c.receive(&LIMITS, &mut room, &mut scratch(), &mut Spare::default())
            .refused
            .busy,
        2
    );
    assert_eq!(room, 0);
    assert_eq!(dispatch_all(&mut c), [0]);
    c.answer(0, b"A", &mut Spare::default());
    c.flush(Instant::now()).unwrap();
    let mut got = vec![0u8; 20];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"A\nERR busy\nERR busy\n");
}

#[test]
fn the_bytes_held_bound_a_client_with_large_requests() {
    let (mut c, peer) = client();
    let limits = Limits {
        max_line: 64 << 10,
        max_inflight: 1000,
    };
    let line = format!("ECHO {}\n", "x".repeat(60_000));
    let writer = std::thread::spawn(move || {
        let mut peer = peer;
        peer.set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        for _ in 0..40 {
            if peer.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
        peer
    });
    // Read until the client is no longer read (its bound), dispatching nothing.
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.wants(&limits).read {
        c.receive(&limits, &mut 10_000, &mut scratch(), &mut Spare::default());
        assert!(Instant::now() < deadline, "never stopped reading");
    }
    let _peer = writer.join().unwrap();
    assert!(c.pending_len() < 40, "{} requests queued", c.pending_len());
    assert!(
        c.held() < MAX_HELD + limits.max_line + READ_CHUNK,
        "{} bytes held",
        c.held()
    );
    // Their replies are within what was reserved: answering every one keeps the bound.
    let before = c.held();
    for order in dispatch_all(&mut c) {
        c.answer(order, "x".repeat(60_000).as_bytes(), &mut Spare::default());
    }
    assert!(c.held() <= before);
}

#[test]
fn a_client_far_ahead_is_not_read_while_lines_wait_and_every_line_is_cut() {
    // As the event loop may do: a reply makes room, then the client is read before
    // the lines it already holds are cut (a doorbell handled before its readiness).
    let (mut c, peer) = client();
    let line = format!("ECHO {}\n", "x".repeat(60));
    const LINES: usize = 30_000;
    let mut writer = peer.try_clone().unwrap();
    let bytes = line.repeat(LINES).into_bytes();
    let w = std::thread::spawn(move || {
        writer.write_all(&bytes).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let r = std::thread::spawn(move || {
        let mut peer = peer;
        let mut got = Vec::new();
        peer.read_to_end(&mut got).map(|_| got.len())
    });
    let mut spare = Spare::default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c.finished(Instant::now()) {
        assert!(Instant::now() < deadline, "stuck: {} bytes held", c.held());
        c.receive(&LIMITS, &mut 10_000, &mut scratch(), &mut spare);
        assert!(
            c.input.len() <= READ_CHUNK + LIMITS.max_line + 1,
            "{} bytes of input held: read while lines waited",
            c.input.len()
        );
        for order in dispatch_all(&mut c) {
            c.answer(order, b"x", &mut Spare::default());
        }
        c.flush(Instant::now()).unwrap();
        std::thread::sleep(Duration::from_micros(50));
    }
    w.join().unwrap();
    drop(c);
    assert_eq!(r.join().unwrap().unwrap(), 2 * LINES, "one reply per line");
}

#[test]
fn a_too_long_line_is_answered_then_our_side_shut_and_the_rest_dropped() {
    let (mut c, mut peer) = client();
    let mut bytes = b"PING\n".to_vec();
    bytes.extend_from_slice(&[b'x'; 300]);
    bytes.extend_from_slice(b"\nPING\n");
    peer.write_all(&bytes).unwrap();
    c.receive(&LIMITS, &mut 1000, &mut scratch(), &mut Spare::default());
    assert_eq!(
        dispatch_all(&mut c),
        [0],
        "nothing after the long line is a request"
    );
    assert!(c.is_draining());
    assert!(
        c.drain_deadline().is_none(),
        "its time to read the replies starts once they are all ready"
    );
    // Still reading, to drop what comes, while the reply to PING is awaited.
    assert!(c.wants(&LIMITS).read);
    peer.write_all(&[b'y'; 5000]).unwrap();
    c.receive(&LIMITS, &mut 1000, &mut scratch(), &mut Spare::default());
    c.answer(0, b"PONG", &mut Spare::default());
    c.flush(Instant::now()).unwrap();
    let mut got = String::new();
    peer.read_to_string(&mut got).unwrap();
    assert_eq!(got, "PONG\nERR line too long\n", "then end of file");
    let now = Instant::now();
    assert!(
        !c.finished(now),
        "closed while the client may still be writing"
    );
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    c.receive(&LIMITS, &mut 1000, &mut scratch(), &mut Spare::default());
    assert!(c.finished(now));
}

#[test]
fn a_refused_client_that_never_reads_is_closed_at_its_deadline() {
    let (mut c, mut peer) = client();
    peer.write_all(&[b'x'; 200]).unwrap();
    c.receive(&LIMITS, &mut 1000, &mut scratch(), &mut Spare::default());
    // The serving loop flushes every client it touched.
    c.flush(Instant::now()).unwrap();
    let until = c.drain_deadline().unwrap();
    assert!(!c.finished(until - Duration::from_millis(1)));
    assert!(c.finished(until));
}

#[test]
fn end_of_file_ends_the_client_once_every_reply_is_out() {
    let (mut c, mut peer) = client();
    peer.write_all(b"PING\nREV ab").unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    // As the event loop does while the socket stays readable: a short read stops
    // reading, the end of file comes with the next one.
    for _ in 0..3 {
        c.receive(&LIMITS, &mut 1000, &mut scratch(), &mut Spare::default());
    }
    assert_eq!(
        dispatch_all(&mut c),
        [0, 1],
        "the last line counts without newline"
    );
    assert!(!c.wants(&LIMITS).read);
    let now = Instant::now();
    c.answer(0, b"PONG", &mut Spare::default());
    assert!(!c.finished(now));
    c.answer(1, b"ba", &mut Spare::default());
    c.flush(Instant::now()).unwrap();
    assert!(c.finished(now));
}
