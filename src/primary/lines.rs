//! Cutting a client's bytes into request lines: a pure function over the bytes received
//! so far, so its rules are tested on their own (and property-tested): a line ends at
//! `\n`; the `\r` of a CRLF line is not part of the request; at end of file a last line
//! without its newline is still a request; a line longer than `--max-line` is refused
//! (the caller answers `ERR line too long` and reads nothing more).

/// Cuts `buf` (the bytes received and not yet cut) into at most `max_lines` lines of at
/// most `max_line` bytes (the rest stays for later: a client sending far ahead is not
/// cut all at once). `eof`: the client sent everything, so a last line without newline
/// counts. An unfinished line longer than `max_line` is refused at once (it can only
/// grow). The `\r` of a CRLF line does not count in its length: it is not part of the
/// request.
///
/// The lines come one at a time, borrowed from `buf` (cutting allocates nothing); once
/// the iterator has said `None`, [`Lines::end`] tells how much the lines used up.
pub fn cut_lines(buf: &[u8], max_line: usize, eof: bool, max_lines: usize) -> Lines<'_> {
    Lines {
        buf,
        max_line,
        eof,
        left: max_lines,
        start: 0,
        end: None,
    }
}

/// The request lines of a client's bytes, without their newlines (see [`cut_lines`]).
#[derive(Debug)]
pub struct Lines<'a> {
    buf: &'a [u8],
    max_line: usize,
    eof: bool,
    /// How many more lines may be cut.
    left: usize,
    /// Where the next line starts.
    start: usize,
    /// Set when the cutting ended: what [`Lines::end`] returns.
    end: Option<End>,
}

/// How a cut ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct End {
    /// How many bytes of the input the lines (and a refused line) used up.
    pub consumed: usize,
    /// A line longer than `max_line` came after the lines: answer it with an error and
    /// read nothing more from this client.
    pub too_long: bool,
}

impl Lines<'_> {
    /// How the cut ended, once the iterator has returned `None` (before that, `None`).
    pub fn end(&self) -> Option<End> {
        self.end
    }

    fn finish(&mut self, consumed: usize, too_long: bool) {
        self.end = Some(End { consumed, too_long });
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.end.is_some() {
            return None;
        }
        if self.left == 0 {
            self.finish(self.start, false);
            return None;
        }
        let buf = self.buf;
        let rest = &buf[self.start..];
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(nl) => (&rest[..nl], self.start + nl + 1),
            None if self.eof && !rest.is_empty() => (rest, buf.len()),
            None => {
                // Unfinished: too long once even a `\r` before its `\n` cannot save it.
                let too_long =
                    !self.eof && rest.len() > self.max_line + usize::from(rest.ends_with(b"\r"));
                self.finish(if too_long { buf.len() } else { self.start }, too_long);
                return None;
            }
        };
        // A CRLF line's `\r` is not part of the request (see `protocol.rs`).
        if line.strip_suffix(b"\r").unwrap_or(line).len() > self.max_line {
            self.finish(buf.len(), true);
            return None;
        }
        self.left -= 1;
        self.start = next;
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// A cut, collected: its lines and how it ended.
    struct Cut<'a> {
        lines: Vec<&'a [u8]>,
        consumed: usize,
        too_long: bool,
    }

    fn cut_lines(buf: &[u8], max_line: usize, eof: bool, max_lines: usize) -> Cut<'_> {
        let mut it = super::cut_lines(buf, max_line, eof, max_lines);
        let lines: Vec<&[u8]> = it.by_ref().collect();
        let end = it.end().expect("ended once it said None");
        Cut {
            lines,
            consumed: end.consumed,
            too_long: end.too_long,
        }
    }

    fn cut(buf: &[u8], max: usize, eof: bool) -> (Vec<&[u8]>, usize, bool) {
        let c = cut_lines(buf, max, eof, usize::MAX);
        (c.lines, c.consumed, c.too_long)
    }

    #[test]
    fn lines_end_at_newlines_and_the_rest_waits() {
        assert_eq!(
            cut(b"a\nbc\nde", 10, false),
            (vec![&b"a"[..], b"bc"], 5, false)
        );
        assert_eq!(cut(b"", 10, false), (vec![], 0, false));
        assert_eq!(cut(b"\n", 10, false), (vec![&b""[..]], 1, false));
    }

    #[test]
    fn at_most_max_lines_are_cut_and_the_rest_waits_even_a_long_one() {
        let c = cut_lines(b"a\nb\n123456\n", 4, false, 2);
        assert_eq!(
            (c.lines, c.consumed, c.too_long),
            (vec![&b"a"[..], b"b"], 4, false)
        );
        let c = cut_lines(b"a\nb\n", 4, true, 0);
        assert_eq!((c.lines.len(), c.consumed, c.too_long), (0, 0, false));
    }

    #[test]
    fn a_last_line_without_newline_counts_at_end_of_file() {
        assert_eq!(cut(b"a\nbc", 10, true), (vec![&b"a"[..], b"bc"], 4, false));
        assert_eq!(cut(b"a\n", 10, true), (vec![&b"a"[..]], 2, false));
        assert_eq!(cut(b"", 10, true), (vec![], 0, false));
    }

    #[test]
    fn the_cr_of_a_crlf_line_does_not_count_against_max_line() {
        let cut = cut_lines(b"ECHO 12345\r\n", 10, false, 10);
        assert_eq!(cut.lines, vec![&b"ECHO 12345\r"[..]]);
        assert!(!cut.too_long);
        // Its newline still to come: it waits rather than being refused.
        let cut = cut_lines(b"ECHO 12345\r", 10, false, 10);
        assert!(cut.lines.is_empty() && !cut.too_long && cut.consumed == 0);
        // One byte more is one too many, with or without the `\r`.
        assert!(cut_lines(b"ECHO 123456\r\n", 10, false, 10).too_long);
        assert!(cut_lines(b"ECHO 123456\r", 10, false, 10).too_long);
    }

    #[test]
    fn a_line_too_long_is_refused_and_ends_the_input() {
        assert_eq!(
            cut(b"ok\n12345\nlater\n", 4, false),
            (vec![&b"ok"[..]], 15, true)
        );
        assert_eq!(cut(b"1234\n", 4, false), (vec![&b"1234"[..]], 5, false));
        // An unfinished line already longer than the limit is refused at once...
        assert_eq!(cut(b"ok\n12345", 4, false), (vec![&b"ok"[..]], 8, true));
        // ...one at the limit may still end in time.
        assert_eq!(cut(b"ok\n1234", 4, false), (vec![&b"ok"[..]], 3, false));
        // At end of file the last line is checked like any other.
        assert_eq!(cut(b"12345", 4, true), (vec![], 5, true));
    }

    proptest! {
        #[test]
        fn cutting_keeps_every_byte_in_order(
            buf in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), any::<u8>()], 0..200),
            max in 0usize..20,
            eof in any::<bool>(),
        ) {
            let c = cut_lines(&buf, max, eof, usize::MAX);
            prop_assert!(c.consumed <= buf.len());
            // At most `max` bytes, not counting the `\r` of a CRLF line.
            let body = |l: &[u8]| l.strip_suffix(b"\r").unwrap_or(l).len();
            prop_assert!(c.lines.iter().all(|l| body(l) <= max && !l.contains(&b'\n')));
            if c.too_long {
                prop_assert_eq!(c.consumed, buf.len());
            } else {
                // The lines, each with its newline, are exactly the bytes consumed (the
                // last one at end of file may lack its newline).
                let mut joined: Vec<u8> = c.lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
                if eof && !buf.ends_with(b"\n") && !buf.is_empty() {
                    joined.pop();
                }
                prop_assert_eq!(&joined[..], &buf[..c.consumed]);
                let rest = &buf[c.consumed..];
                prop_assert!(!rest.contains(&b'\n'));
                prop_assert!(body(rest) <= max);
                prop_assert!(!eof || rest.is_empty());
            }
        }

        #[test]
        fn cutting_in_pieces_finds_the_same_lines(
            buf in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'x')], 0..100),
            split in 0usize..100,
        ) {
            // No line too long: feeding the bytes in two pieces gives the same lines.
            let whole: Vec<Vec<u8>> = cut_lines(&buf, 1000, true, usize::MAX).lines.iter().map(|l| l.to_vec()).collect();
            let split = split.min(buf.len());
            let first = cut_lines(&buf[..split], 1000, false, usize::MAX);
            let mut pieces: Vec<Vec<u8>> = first.lines.iter().map(|l| l.to_vec()).collect();
            let mut rest = buf[first.consumed..split].to_vec();
            rest.extend_from_slice(&buf[split..]);
            pieces.extend(cut_lines(&rest, 1000, true, usize::MAX).lines.iter().map(|l| l.to_vec()));
            prop_assert_eq!(whole, pieces);
        }
    }
}
