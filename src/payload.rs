//! The work of one round, on the data area: the primary writes a request, the secondary
//! replaces it in place by its reverse (a reply that depends on every byte, see
//! [`Area::reverse`]), and the primary checks the reply. Every access to the shared bytes
//! goes through [`Area`]'s methods.

use crate::area::{Area, TooLong};

/// The request bytes of every round (a fixed pseudo-random pattern, stamped with the
/// round number) and their reverse, kept locally so a check reads each reply byte once.
#[derive(Debug)]
pub struct Pattern {
    bytes: Vec<u8>,
    reversed: Vec<u8>,
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
        Pattern { bytes, reversed }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    fn stamp_len(&self) -> usize {
        self.bytes.len().min(8)
    }

    /// Writes round `seq`'s request into the area: the pattern, its first bytes
    /// replaced by the round number (so a stale reply cannot pass).
    pub fn write_request(&self, area: Area<'_>, seq: u64) -> Result<(), TooLong> {
        area.write(&self.bytes)?;
        area.write(&seq.to_le_bytes()[..self.stamp_len()])
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
        if !area.equals(0, &self.reversed[..body])? {
            return Ok(false);
        }
        let mut stamp = seq.to_le_bytes();
        stamp[..stamped].reverse();
        area.equals(body, &stamp[..stamped])
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

    #[test]
    fn patterns_longer_than_the_area_are_refused() {
        let mut buf = vec![0u8; 8];
        let area = Area::of_slice(&mut buf);
        assert!(Pattern::new(9).write_request(area, 1).is_err());
        assert!(Pattern::new(9).check_reply(area, 1).is_err());
    }
}
