//! Line buffers of answered requests: the pool gives each request's line back once it
//! is answered, and the next requests cut (`clients.rs`) are copied into them, so that
//! serving a request allocates nothing once a few are in use.

/// Line buffers of answered requests, given back by the pool and reused for the next
/// requests cut, so that cutting a request allocates nothing once a few are in use.
/// Bounded: at most [`SPARE_LINES`] buffers of at most [`SPARE_CAPACITY`] bytes.
#[derive(Default)]
pub struct Spare(Vec<Vec<u8>>);

const SPARE_LINES: usize = 1024;
const SPARE_CAPACITY: usize = 256;

impl Spare {
    /// Takes back the buffer of an answered request's line.
    pub fn give(&mut self, mut line: Vec<u8>) {
        if self.0.len() < SPARE_LINES && line.capacity() <= SPARE_CAPACITY {
            line.clear();
            self.0.push(line);
        }
    }

    /// A copy of `line`, in a spare buffer when one is left.
    pub fn copy_of(&mut self, line: &[u8]) -> Vec<u8> {
        match self.0.pop() {
            Some(mut buf) => {
                buf.extend_from_slice(line);
                buf
            }
            None => line.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_serves_again_and_the_spare_stays_bounded() {
        let mut spare = Spare::default();
        let first = spare.copy_of(b"PING");
        let at = first.as_ptr();
        spare.give(first);
        let again = spare.copy_of(b"ECHO a");
        assert_eq!((again.as_ptr(), &again[..]), (at, &b"ECHO a"[..]));
        spare.give(Vec::with_capacity(SPARE_CAPACITY + 1));
        for _ in 0..SPARE_LINES + 10 {
            spare.give(Vec::new());
        }
        assert_eq!(
            spare.0.len(),
            SPARE_LINES,
            "large or extra buffers are freed"
        );
    }
}
