//! Several request lines in one turn of a secondary's slot, and their replies back: the
//! serving primary hands a secondary a batch when several requests wait, so one doorbell
//! and one wake-up carry many requests instead of one each.
//!
//! A slot holds either one request line as it came (the common case when the load is
//! light, unchanged from a single request) or a batch, which starts with a newline byte:
//! a request line never contains one, so the two cannot be confused whatever a client
//! sends. After the newline: the number of items (u32, little-endian), then each item as
//! its length (u32, little-endian) and its bytes. Replies use the same layout.
//!
//! Decoding is a pure function over bytes copied out of the segment: everything in them
//! may have been written by a broken or hostile peer, so every length is checked against
//! what remains and the item count against what was asked.

/// The first byte of a batch (never in a request line).
const MARK: u8 = b'\n';
/// Bytes before the first item: the mark and the count.
const HEAD: usize = 1 + 4;
/// Bytes before each item's bytes: its length.
const ITEM_HEAD: usize = 4;

/// The bytes a batch of items of these lengths takes.
pub fn encoded_len(lens: impl IntoIterator<Item = usize>) -> usize {
    HEAD + lens.into_iter().map(|l| ITEM_HEAD + l).sum::<usize>()
}

/// The bytes one item of this length adds to a batch.
pub fn item_len(len: usize) -> usize {
    ITEM_HEAD + len
}

/// Whether slot bytes (a copy) hold a batch rather than one line.
pub fn is_batch(bytes: &[u8]) -> bool {
    bytes.first() == Some(&MARK)
}

/// Encodes `items` as a batch into `out` (replacing its contents).
pub fn encode<'a>(items: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    let mut batch = Encoder::new(out);
    for item in items {
        batch.item(|out| out.extend_from_slice(item));
    }
}

/// A batch encoded item by item, each written in place where it goes (no buffer of its
/// own per item): what a secondary answering a batch writes its replies with.
pub struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    count: u32,
}

impl<'a> Encoder<'a> {
    /// An empty batch in `out` (replacing its contents).
    pub fn new(out: &'a mut Vec<u8>) -> Encoder<'a> {
        out.clear();
        out.push(MARK);
        out.extend_from_slice(&0u32.to_le_bytes());
        Encoder { out, count: 0 }
    }

    /// Adds one item, whose bytes `write` appends to the vector it is given.
    pub fn item(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let at = self.out.len();
        self.out.extend_from_slice(&0u32.to_le_bytes());
        write(self.out);
        let len = (self.out.len() - at - ITEM_HEAD) as u32;
        self.out[at..at + ITEM_HEAD].copy_from_slice(&len.to_le_bytes());
        self.count += 1;
        self.out[1..HEAD].copy_from_slice(&self.count.to_le_bytes());
    }
}

/// Why bytes are not a well-formed batch.
#[derive(Debug, PartialEq, Eq)]
pub enum BadBatch {
    NoMark,
    Truncated,
    /// It holds `found` items where `expected` were asked for.
    Count {
        found: usize,
        expected: usize,
    },
    /// Bytes after the last item.
    Trailing,
}

impl std::fmt::Display for BadBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadBatch::NoMark => write!(f, "not a batch (no leading newline)"),
            BadBatch::Truncated => write!(f, "a batch item runs past the end"),
            BadBatch::Count { found, expected } => {
                write!(f, "a batch of {found} items where {expected} were expected")
            }
            BadBatch::Trailing => write!(f, "bytes after the last item of a batch"),
        }
    }
}

impl std::error::Error for BadBatch {}

/// The items of a batch, checked: the count (against `expected`, if given) and every
/// length against the bytes that remain.
pub fn decode(bytes: &[u8], expected: Option<usize>) -> Result<Vec<&[u8]>, BadBatch> {
    let mut items = Vec::new();
    walk(bytes, expected, |item| items.push(item))?;
    Ok(items)
}

/// Whether `bytes` are a well-formed batch (of `expected` items, if given), checked as
/// [`decode`] does, without allocating.
pub fn check(bytes: &[u8], expected: Option<usize>) -> Result<(), BadBatch> {
    walk(bytes, expected, |_| {})
}

/// Calls `each` on every item of a batch once the whole batch is checked (nothing is
/// called for a malformed one): [`decode`] without a vector, for the serving primary's
/// replies, delivered in place.
pub fn decode_each<'a>(
    bytes: &'a [u8],
    expected: Option<usize>,
    each: impl FnMut(&'a [u8]),
) -> Result<(), BadBatch> {
    check(bytes, expected)?;
    walk(bytes, expected, each)
}

/// Walks the items of a batch, checking as it goes, calling `each` on each one: a
/// malformed batch may have had some items called before the error.
fn walk<'a>(
    bytes: &'a [u8],
    expected: Option<usize>,
    mut each: impl FnMut(&'a [u8]),
) -> Result<(), BadBatch> {
    if !is_batch(bytes) {
        return Err(BadBatch::NoMark);
    }
    let count = read_u32(bytes, 1).ok_or(BadBatch::Truncated)? as usize;
    if let Some(expected) = expected {
        if count != expected {
            return Err(BadBatch::Count {
                found: count,
                expected,
            });
        }
    }
    // Each item takes at least its length field: a count beyond that is a lie, refused
    // before anything is done with it.
    if count > (bytes.len() - HEAD) / ITEM_HEAD {
        return Err(BadBatch::Truncated);
    }
    let mut at = HEAD;
    for _ in 0..count {
        let len = read_u32(bytes, at).ok_or(BadBatch::Truncated)? as usize;
        at += ITEM_HEAD;
        let end = at.checked_add(len).filter(|&e| e <= bytes.len());
        let end = end.ok_or(BadBatch::Truncated)?;
        each(&bytes[at..end]);
        at = end;
    }
    if at != bytes.len() {
        return Err(BadBatch::Trailing);
    }
    Ok(())
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_batch_round_trips_and_says_its_length() {
        let items: [&[u8]; 3] = [b"PING", b"", b"REV abc"];
        let mut out = Vec::new();
        encode(items, &mut out);
        assert_eq!(out.len(), encoded_len(items.iter().map(|i| i.len())));
        assert!(is_batch(&out));
        assert_eq!(decode(&out, Some(3)).unwrap(), items);
        assert_eq!(decode(&out, None).unwrap(), items);
    }

    #[test]
    fn a_line_is_never_a_batch() {
        assert!(!is_batch(b"PING"));
        assert!(!is_batch(b""));
        assert_eq!(decode(b"PING", None), Err(BadBatch::NoMark));
    }

    #[test]
    fn lies_about_counts_and_lengths_are_refused() {
        let mut out = Vec::new();
        encode([&b"ab"[..], b"c"], &mut out);
        assert_eq!(
            decode(&out, Some(3)),
            Err(BadBatch::Count {
                found: 2,
                expected: 3
            })
        );
        assert_eq!(
            decode(&out[..out.len() - 1], None),
            Err(BadBatch::Truncated)
        );
        let mut longer = out.clone();
        longer.push(0);
        assert_eq!(decode(&longer, None), Err(BadBatch::Trailing));
        // A huge count or length in a short buffer.
        assert_eq!(
            decode(b"\n\xff\xff\xff\xff", None),
            Err(BadBatch::Truncated)
        );
        assert_eq!(
            decode(b"\n\x01\0\0\0\xff\xff\xff\xffab", None),
            Err(BadBatch::Truncated)
        );
        assert_eq!(decode(b"\n\x01\0", None), Err(BadBatch::Truncated));
    }

    proptest! {
        #[test]
        fn any_items_round_trip(items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20)) {
            let mut out = Vec::new();
            encode(items.iter().map(|i| &i[..]), &mut out);
            prop_assert_eq!(out.len(), encoded_len(items.iter().map(Vec::len)));
            let back = decode(&out, Some(items.len())).unwrap();
            prop_assert_eq!(back.len(), items.len());
            for (a, b) in back.iter().zip(&items) {
                prop_assert_eq!(*a, &b[..]);
            }
        }

        #[test]
        fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes, None);
        }
    }
}
