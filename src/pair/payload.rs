//! The work of one round, on the data area: the primary writes a request, the secondary
//! replaces it in place by its reverse (a reply that depends on every byte, see
//! [`Area::reverse`]), and the primary checks the reply. Every access to the shared bytes
//! goes through [`Area`]'s methods.
//!
//! Requests alternate between two bases, the pattern and its reverse: round `n` sends
//! `base(n)` with its first bytes replaced by the round number (the stamp), where
//! `base(n)` is the pattern for odd `n` and its reverse for even `n`. The reply of round
//! `n` is then `base(n + 1)` but for its last bytes (the reversed stamp), so once that
//! reply is verified the area already holds the next request but for two stamps: writing
//! those few bytes replaces a pass over the whole payload (1 MiB rounds save a full write
//! per round). Whenever the last reply was not verified (the first round, a mismatch, a
//! secondary that died mid-round) the whole request is written, as a peer may have left
//! anything there. A peer scribbling between our check and its next turn can only make
//! the next reply wrong, which that round's check reports like any other corruption.

use std::cell::Cell;

use crate::pair::area::{Area, TooLong};

/// The request bytes of every round (a fixed pseudo-random pattern, stamped with the
/// round number) and their reverse, kept locally so a check reads each reply byte once.
#[derive(Debug)]
pub struct Pattern {
    /// `bases[n % 2]` is the request of round `n` before its stamp.
    bases: [Vec<u8>; 2],
    /// The round whose reply was last verified in full: the area then holds the next
    /// round's base but for the stamps.
    verified: Cell<Option<u64>>,
}

impl Pattern {
    /// A pattern of `len` bytes (allocated once, before the rounds start).
    pub fn new(len: usize) -> Pattern {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                // xorshift64: cheap, not a palindrome, different at every position.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let reversed = bytes.iter().rev().copied().collect();
        Pattern {
            bases: [reversed, bytes],
            verified: Cell::new(None),
        }
    }

    pub fn len(&self) -> usize {
        self.bases[0].len()
    }

    fn stamp_len(&self) -> usize {
        self.len().min(8)
    }

    fn base(&self, seq: u64) -> &[u8] {
        &self.bases[(seq % 2) as usize]
    }

    /// Writes round `seq`'s request into the area: its base, the first bytes replaced by
    /// the round number (so a stale reply cannot pass). Right after the verified reply of
    /// round `seq - 1` only the two stamps' bytes are written (see the module comment).
    pub fn write_request(&self, area: Area<'_>, seq: u64) -> Result<(), TooLong> {
        let (len, stamped) = (self.len(), self.stamp_len());
        let base = self.base(seq);
        let follows = seq
            .checked_sub(1)
            .is_some_and(|prev| self.verified.get() == Some(prev));
        self.verified.set(None);
        if follows && len >= 2 * stamped && len <= area.len() {
            // The reversed stamp of the last reply goes; the stamp of this one comes.
            area.write_at(len - stamped, &base[len - stamped..])?;
        } else {
            area.write(base)?;
        }
        area.write(&seq.to_le_bytes()[..stamped])
    }

    /// True when the area holds the reverse of round `seq`'s request.
    pub fn check_reply(&self, area: Area<'_>, seq: u64) -> Result<bool, TooLong> {
        let len = self.len();
        if len > area.len() {
            return Err(TooLong {
                len,
                area: area.len(),
            });
        }
        let stamped = self.stamp_len();
        let body = len - stamped;
        // The reverse of base(seq) is base(seq + 1).
        if !area.equals(0, &self.base(seq + 1)[..body])? {
            return Ok(false);
        }
        let mut stamp = seq.to_le_bytes();
        stamp[..stamped].reverse();
        let ok = area.equals(body, &stamp[..stamped])?;
        if ok {
            self.verified.set(Some(seq));
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correct_reply_passes_and_a_wrong_one_fails() {
        for len in [1usize, 2, 7, 8, 9, 15, 16, 17, 64, 100, 4096] {
            let pattern = Pattern::new(len);
            let mut buf = vec![0u8; len + 10];
            let area = Area::of_slice(&mut buf);
            pattern.write_request(area, 42).unwrap();
            assert!(
                !pattern.check_reply(area, 42).unwrap() || len == 1,
                "unreversed passes at {len}"
            );
            area.reverse(len).unwrap();
            assert!(pattern.check_reply(area, 42).unwrap(), "len {len}");
            assert!(
                !pattern.check_reply(area, 43).unwrap(),
                "a stale reply passes at {len}"
            );
            buf[len / 2] ^= 1;
            assert!(
                !pattern.check_reply(Area::of_slice(&mut buf), 42).unwrap(),
                "a flipped byte passes at {len}"
            );
        }
    }

    /// The request of round `seq` written in full by a fresh pattern, for comparison.
    fn full_request(len: usize, seq: u64) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        Pattern::new(len)
            .write_request(Area::of_slice(&mut buf), seq)
            .unwrap();
        buf
    }

    #[test]
    fn a_request_after_a_verified_reply_equals_one_written_in_full() {
        for len in [1usize, 8, 15, 16, 17, 64, 4096] {
            let pattern = Pattern::new(len);
            let mut buf = vec![0u8; len];
            for seq in 1..=6u64 {
                pattern
                    .write_request(Area::of_slice(&mut buf), seq)
                    .unwrap();
                assert_eq!(buf, full_request(len, seq), "len {len} round {seq}");
                let area = Area::of_slice(&mut buf);
                area.reverse(len).unwrap();
                assert!(
                    pattern.check_reply(area, seq).unwrap(),
                    "len {len} round {seq}"
                );
            }
        }
    }

    proptest::proptest! {
        /// Whatever happens to the area between rounds (a correct reply, a scribble, a
        /// round lost to a dead secondary), the next request is exactly the full one.
        #[test]
        fn the_request_is_always_the_full_one(
            len in 1usize..200,
            events in proptest::collection::vec((0u8..4, 0usize..200, 0u8..=255), 1..30),
        ) {
            let pattern = Pattern::new(len);
            let mut buf = vec![0u8; len];
            let mut seq = 0u64;
            for (what, at, byte) in events {
                seq += 1;
                pattern.write_request(Area::of_slice(&mut buf), seq).unwrap();
                proptest::prop_assert_eq!(&buf, &full_request(len, seq));
                let area = Area::of_slice(&mut buf);
                match what {
                    0 | 1 => area.reverse(len).unwrap(),
                    2 => {
                        area.reverse(len).unwrap();
                        buf[at % len] ^= byte | 1;
                    }
                    _ => {} // the secondary died before answering
                }
                let area = Area::of_slice(&mut buf);
                let _ = pattern.check_reply(area, seq).unwrap();
            }
        }
    }

    #[test]
    fn patterns_longer_than_the_area_are_refused() {
        let mut buf = vec![0u8; 8];
        let area = Area::of_slice(&mut buf);
        assert!(Pattern::new(9).write_request(area, 1).is_err());
        assert!(Pattern::new(9).check_reply(area, 1).is_err());
    }
}
