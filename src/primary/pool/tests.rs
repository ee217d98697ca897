//! The pool's promise, tested on a world without processes or sockets: a request is
//! retried once on another secondary when one dies, and never answered twice.

use std::collections::{HashMap, VecDeque};

use super::*;

/// A pool's world without processes or sockets: secondaries that take turns and
/// answer when told to, clients that queue lines and collect replies.
struct World {
    now: Instant,
    live: Vec<bool>,
    given_up: Vec<bool>,
    /// The bytes each secondary's slot holds.
    room: usize,
    /// Each secondary's reply counter, and the reply in its slot.
    published: Vec<u64>,
    slot: Vec<Vec<u8>>,
    /// Every turn given: to whom, which turn, which lines.
    handed: Vec<(usize, u64, Vec<String>)>,
    deaths: Vec<(usize, Trouble, String)>,
    queues: HashMap<u64, VecDeque<(u64, Vec<u8>)>>,
    /// Every reply filed: client, order, text.
    answers: Vec<(u64, u64, String)>,
    /// How long the primary is held up (stopped, descheduled) while it hands a turn over:
    /// the clock moves on by that much inside `hand`.
    held_in_hand: Duration,
}

impl World {
    fn new(secondaries: usize) -> World {
        World {
            now: Instant::now(),
            live: vec![true; secondaries],
            given_up: vec![false; secondaries],
            room: 1 << 20,
            published: vec![0; secondaries],
            slot: vec![Vec::new(); secondaries],
            handed: Vec::new(),
            deaths: Vec::new(),
            queues: HashMap::new(),
            answers: Vec::new(),
            held_in_hand: Duration::ZERO,
        }
    }

    /// Client `id` sends `lines`: queued, and the client in the pool's ring.
    fn send(&mut self, pool: &mut Pool, id: u64, lines: &[&str]) {
        let q = self.queues.entry(id).or_default();
        for line in lines {
            let order = q.len() as u64;
            q.push_back((order, line.as_bytes().to_vec()));
        }
        pool.queue_grew(lines.len());
        pool.wants_turn(id);
    }

    /// Secondary `i` answers its last turn: "did LINE" for each of its lines.
    fn answer(&mut self, i: usize) {
        let Some((_, seq, lines)) = self.handed.iter().rev().find(|h| h.0 == i) else {
            panic!("secondary {i} was given no turn")
        };
        let replies: Vec<String> = lines.iter().map(|l| format!("did {l}")).collect();
        self.slot[i] = match &replies[..] {
            [one] => one.clone().into_bytes(),
            many => {
                let mut out = Vec::new();
                batch::encode(many.iter().map(|r| r.as_bytes()), &mut out);
                out
            }
        };
        self.published[i] = *seq;
    }

    /// Secondary `i` dies and is back at once (restarted), as far as the pool sees.
    fn restarted(&mut self, i: usize) {
        self.live[i] = true;
    }

    fn answers_to(&self, client: u64, order: u64) -> Vec<&str> {
        self.answers
            .iter()
            .filter(|a| a.0 == client && a.1 == order)
            .map(|a| a.2.as_str())
            .collect()
    }
}

impl Io for World {
    fn now(&self) -> Instant {
        self.now
    }
    fn live(&self, i: usize) -> bool {
        self.live[i]
    }
    fn given_up(&self, i: usize) -> bool {
        self.given_up[i]
    }
    fn awake(&self, _: usize) -> bool {
        true
    }
    fn room(&self, _: usize) -> usize {
        self.room
    }
    fn hand(&mut self, i: usize, seq: u64, jobs: &[Job], _: Instant) -> Result<Option<Trouble>> {
        let lines = jobs
            .iter()
            .map(|j| String::from_utf8_lossy(j.line()).into_owned())
            .collect();
        self.handed.push((i, seq, lines));
        self.now += self.held_in_hand;
        Ok(None)
    }
    fn published(&self, i: usize) -> u64 {
        self.published[i]
    }
    fn reply_into(&self, i: usize, out: &mut Vec<u8>) -> bool {
        out.clone_from(&self.slot[i]);
        true
    }
    fn died(&mut self, i: usize, trouble: Trouble, during: &str) -> Result<()> {
        self.live[i] = false;
        self.deaths.push((i, trouble, during.to_string()));
        Ok(())
    }
    fn connected(&self, client: u64) -> bool {
        self.queues.contains_key(&client)
    }
    fn take_request(&mut self, client: u64) -> Option<(u64, Vec<u8>)> {
        self.queues.get_mut(&client)?.pop_front()
    }
    fn has_more(&self, client: u64) -> bool {
        self.queues.get(&client).is_some_and(|q| !q.is_empty())
    }
    fn answer(&mut self, client: u64, order: u64, reply: &[u8]) {
        if self.queues.contains_key(&client) {
            let reply = String::from_utf8_lossy(reply).into_owned();
            self.answers.push((client, order, reply));
        }
    }
    fn answer_queued(&mut self, client: u64, reply: &str) -> usize {
        let Some(q) = self.queues.get_mut(&client) else {
            return 0;
        };
        let n = q.len();
        for (order, _) in q.drain(..) {
            self.answers.push((client, order, reply.to_string()));
        }
        n
    }
}

fn pool(secondaries: usize) -> (Pool, World) {
    let pool = Pool::new(secondaries, Duration::from_secs(2), Duration::ZERO);
    (pool, World::new(secondaries))
}

fn handed(w: &World) -> Vec<(usize, u64, Vec<&str>)> {
    w.handed
        .iter()
        .map(|(i, seq, lines)| (*i, *seq, lines.iter().map(String::as_str).collect()))
        .collect()
}

#[test]
fn a_request_whose_secondary_dies_is_retried_once_on_another_and_answered_once() {
    let (mut pool, mut w) = pool(2);
    w.send(&mut pool, 7, &["HASH a"]);
    pool.dispatch(&mut w);
    assert_eq!(handed(&w), [(0, 1, vec!["HASH a"])]);

    pool.died(0, Trouble::Exited, &mut w).unwrap();
    assert_eq!(
        w.deaths,
        [(0, Trouble::Exited, "during a request of client 7".into())]
    );
    assert!(w.answers.is_empty(), "{:?}", w.answers);
    // Back at once, yet the retry goes to the other one.
    w.restarted(0);
    pool.dispatch(&mut w);
    assert_eq!(handed(&w)[1..], [(1, 1, vec!["HASH a"])]);

    w.answer(1);
    pool.collect(&mut w).unwrap();
    // A late doorbell for the same turn, and the counter looked at again.
    pool.complete(1, 1, &mut w).unwrap();
    pool.collect(&mut w).unwrap();
    pool.answer_all("ERR shutting down", &mut w);
    assert_eq!(w.answers_to(7, 0), ["did HASH a"]);
    assert_eq!(w.answers.len(), 1);
    assert_eq!(w.deaths.len(), 1);
    let counts = pool.counts();
    assert_eq!((counts.requests, counts.retried, counts.failed), (1, 1, 0));
}

#[test]
fn a_request_that_fails_twice_is_answered_worker_failed_once() {
    let (mut pool, mut w) = pool(2);
    w.send(&mut pool, 7, &["HASH a"]);
    pool.dispatch(&mut w);
    pool.died(0, Trouble::Exited, &mut w).unwrap();
    pool.dispatch(&mut w);
    assert_eq!(handed(&w)[1..], [(1, 1, vec!["HASH a"])]);

    // Secondary 1 hangs: past its deadline without a reply, it is killed.
    let late = w.now + Duration::from_secs(3);
    pool.check_deadline(1, late, &mut w).unwrap();
    assert_eq!(w.deaths[1].1, Trouble::Hung);
    assert_eq!(w.answers_to(7, 0), ["ERR worker failed"]);

    // Nothing is left to retry, answer or hand out.
    w.restarted(0);
    w.restarted(1);
    pool.dispatch(&mut w);
    pool.fail_queued("ERR worker failed", &mut w);
    pool.answer_all("ERR shutting down", &mut w);
    assert_eq!(w.handed.len(), 2);
    assert_eq!(w.answers.len(), 1);
    let counts = pool.counts();
    assert_eq!(
        (
            counts.requests,
            counts.errors,
            counts.retried,
            counts.failed
        ),
        (1, 1, 1, 1)
    );
}

#[test]
fn a_retry_waits_for_another_secondary_rather_than_go_back_to_the_one_it_failed_on() {
    let (mut pool, mut w) = pool(2);
    w.send(&mut pool, 7, &["one"]);
    w.send(&mut pool, 8, &["two"]);
    pool.dispatch(&mut w);
    // Both at secondary 0, in one batch (a share is at least MIN_BATCH).
    assert_eq!(handed(&w), [(0, 1, vec!["one", "two"])]);
    pool.died(0, Trouble::BadFrame, &mut w).unwrap();
    assert_eq!(w.deaths[0].2, "during a batch of 2 requests");
    w.restarted(0);
    pool.dispatch(&mut w);
    // Each retried alone, in order, on secondary 1 only: 0 stays idle meanwhile.
    assert_eq!(handed(&w)[1..], [(1, 1, vec!["one"])]);
    w.answer(1);
    pool.collect(&mut w).unwrap();
    pool.dispatch(&mut w);
    assert_eq!(handed(&w)[2..], [(1, 2, vec!["two"])]);
    w.answer(1);
    pool.collect(&mut w).unwrap();
    assert_eq!(w.answers_to(7, 0), ["did one"]);
    assert_eq!(w.answers_to(8, 0), ["did two"]);
    assert_eq!(w.answers.len(), 2);
}

#[test]
fn a_retry_goes_back_to_the_one_it_failed_on_when_no_other_will_take_it() {
    let (mut pool, mut w) = pool(2);
    w.given_up[1] = true;
    w.live[1] = false;
    w.send(&mut pool, 7, &["HASH a"]);
    pool.dispatch(&mut w);
    pool.died(0, Trouble::Exited, &mut w).unwrap();
    w.restarted(0);
    pool.dispatch(&mut w);
    assert_eq!(handed(&w), [(0, 1, vec!["HASH a"]), (0, 2, vec!["HASH a"])]);
    w.answer(0);
    pool.collect(&mut w).unwrap();
    assert_eq!(w.answers_to(7, 0), ["did HASH a"]);
}

#[test]
fn a_reply_published_by_the_deadline_is_taken_not_killed() {
    let (mut pool, mut w) = pool(1);
    w.send(&mut pool, 7, &["HASH a"]);
    pool.dispatch(&mut w);
    w.answer(0);
    // No doorbell seen, and the primary itself held up past the deadline.
    pool.check_deadline(0, w.now + Duration::from_secs(3), &mut w)
        .unwrap();
    assert!(w.deaths.is_empty(), "{:?}", w.deaths);
    assert_eq!(w.answers_to(7, 0), ["did HASH a"]);
}

#[test]
fn a_primary_held_up_while_it_hands_a_turn_over_gives_the_secondary_its_whole_timeout() {
    // Stopped after it read the clock for the deadline and before the doorbell rang,
    // the primary finds the deadline past as soon as it runs again, though the secondary
    // got the turn only then (CI's paused-primary test, tests/idle.rs).
    let (mut pool, mut w) = pool(1);
    w.held_in_hand = Duration::from_secs(3);
    w.send(&mut pool, 7, &["HASH a"]);
    pool.dispatch(&mut w);
    pool.check_deadline(0, w.now + Duration::from_millis(10), &mut w)
        .unwrap();
    assert!(w.deaths.is_empty(), "{:?}", w.deaths);
    w.answer(0);
    pool.collect(&mut w).unwrap();
    assert_eq!(w.answers_to(7, 0), ["did HASH a"]);
    // A whole timeout after the turn was given, with no reply, it is hung all the same.
    w.held_in_hand = Duration::ZERO;
    w.send(&mut pool, 7, &["HASH b"]);
    pool.dispatch(&mut w);
    pool.check_deadline(0, w.now + Duration::from_secs(2), &mut w)
        .unwrap();
    assert_eq!(w.deaths.first().map(|d| d.1), Some(Trouble::Hung));
}

#[test]
fn a_reply_for_a_turn_not_given_kills_the_secondary_and_retries_its_request() {
    let (mut pool, mut w) = pool(2);
    w.send(&mut pool, 7, &["HASH a"]);
    pool.dispatch(&mut w);
    w.published[0] = 5;
    pool.complete(0, 5, &mut w).unwrap();
    assert_eq!(w.deaths[0].1, Trouble::WrongTurn);
    assert!(w.answers.is_empty());
    pool.dispatch(&mut w);
    assert_eq!(handed(&w)[1..], [(1, 1, vec!["HASH a"])]);
}

#[test]
fn the_stop_answers_every_request_once_and_counts_no_failure() {
    let (mut pool, mut w) = pool(1);
    w.send(&mut pool, 7, &["a", "b"]);
    pool.dispatch(&mut w);
    w.send(&mut pool, 8, &["c"]);
    pool.died(0, Trouble::Exited, &mut w).unwrap();
    pool.answer_all("ERR shutting down", &mut w);
    for (client, order) in [(7, 0), (7, 1), (8, 0)] {
        assert_eq!(w.answers_to(client, order), ["ERR shutting down"]);
    }
    assert_eq!(w.answers.len(), 3);
    assert_eq!(pool.counts().failed, 0);
    assert_eq!(pool.waiting(), 0);
}

/// `ERR shutting down` is the server's refusal, not an error of the request: requests
/// cut short by the stop (waiting, retried, at a secondary) are counted as requests and
/// as cut short, never as errors.
#[test]
fn requests_cut_short_by_the_stop_are_not_errors() {
    let (mut pool, mut w) = pool(2);
    w.send(&mut pool, 7, &["a"]);
    pool.dispatch(&mut w);
    w.send(&mut pool, 8, &["b"]);
    pool.dispatch(&mut w);
    w.send(&mut pool, 9, &["c"]);
    // "a" is retried, "b" at secondary 1, "c" waits.
    pool.died(0, Trouble::Exited, &mut w).unwrap();
    pool.answer_all("ERR shutting down", &mut w);
    assert_eq!(w.answers.len(), 3);
    let counts = pool.counts();
    assert_eq!(
        (
            counts.requests,
            counts.errors,
            counts.failed,
            counts.cut_short
        ),
        (3, 0, 0, 3),
        "{counts:?}"
    );
}

#[test]
fn a_client_gone_before_its_turn_is_skipped() {
    let (mut pool, mut w) = pool(1);
    w.send(&mut pool, 7, &["a"]);
    w.send(&mut pool, 8, &["b"]);
    w.queues.remove(&7);
    pool.queue_shrank(1);
    pool.dispatch(&mut w);
    assert_eq!(handed(&w), [(0, 1, vec!["b"])]);
}

/// A request left out of a full batch (its reply would not fit the slot) waits first in
/// line for the next turn, never tried: it is counted as the requests waiting with it.
/// At a stop it is cut short, not failed; once every secondary is given up it is
/// answered `ERR worker failed` and counted failed (that is its reply), never retried.
#[test]
fn a_request_left_out_of_a_full_batch_counts_as_the_requests_waiting_with_it() {
    for give_up in [false, true] {
        let (mut pool, mut w) = pool(1);
        // Room for the replies of two requests, not three.
        w.room = batch::encoded_len([reply_room(b"a"), reply_room(b"b")]);
        w.send(&mut pool, 7, &["a", "b", "c", "d"]);
        pool.dispatch(&mut w);
        assert_eq!(handed(&w), [(0, 1, vec!["a", "b"])]);
        assert_eq!(pool.waiting(), 2, "c left out, d queued");
        let counts = if give_up {
            pool.died(0, Trouble::Exited, &mut w).unwrap();
            w.given_up[0] = true;
            pool.fail_queued("ERR worker failed", &mut w);
            pool.counts()
        } else {
            pool.answer_all("ERR shutting down", &mut w);
            pool.counts()
        };
        let want = if give_up {
            "ERR worker failed"
        } else {
            "ERR shutting down"
        };
        for order in 0..4 {
            assert_eq!(w.answers_to(7, order), [want], "{give_up}: request {order}");
        }
        assert_eq!(w.answers.len(), 4);
        assert_eq!(pool.waiting(), 0);
        let (retried, failed, errors, cut_short) =
            if give_up { (2, 4, 4, 0) } else { (0, 0, 0, 4) };
        assert_eq!(
            counts,
            Counts {
                requests: 4,
                errors,
                retried,
                failed,
                cut_short,
                turns: counts.turns,
            },
            "give up: {give_up}"
        );
    }
}

/// A reply that is not what its secondary owed (a batch that does not decode, a line with
/// a newline in it) is answered `ERR worker failed (...)` and counted failed, as every
/// `ERR worker failed` reply is: the secondary's fault, not the request's.
#[test]
fn a_malformed_reply_counts_as_failed() {
    let (mut pool, mut w) = pool(1);
    w.send(&mut pool, 7, &["a", "b"]);
    pool.dispatch(&mut w);
    assert_eq!(handed(&w), [(0, 1, vec!["a", "b"])]);
    w.slot[0] = b"not a batch".to_vec();
    w.published[0] = 1;
    pool.collect(&mut w).unwrap();
    w.send(&mut pool, 8, &["c"]);
    pool.dispatch(&mut w);
    w.slot[0] = b"two\nlines".to_vec();
    w.published[0] = 2;
    pool.collect(&mut w).unwrap();
    assert_eq!(w.answers.len(), 3);
    for (client, order) in [(7, 0), (7, 1), (8, 0)] {
        let reply = w.answers_to(client, order);
        assert!(reply[0].starts_with("ERR worker failed ("), "{reply:?}");
    }
    let counts = pool.counts();
    assert_eq!(
        (counts.requests, counts.errors, counts.failed),
        (3, 3, 3),
        "{counts:?}"
    );
}
