//! The data area of the segment (or one secondary's slot of it), and every copy into or
//! out of it. This is the one module that touches those bytes, so the unsafe code that
//! reaches shared memory lives here and nowhere else.
//!
//! An [`Area`] is a raw pointer and a length, never a slice: the peer may write those
//! bytes at any time, and a Rust reference to memory that changes under it would be
//! undefined behaviour. Every method copies through raw pointers (unaligned word copies
//! are fine: every bit pattern is a valid byte), checks each length against the area
//! first, and hands out only copies. A peer scribbling meanwhile can only make a reply
//! wrong, which whoever reads the copy then detects.

use std::marker::PhantomData;

/// Why a length cannot be used on an area.
#[derive(Debug, PartialEq, Eq)]
pub struct TooLong {
    pub len: usize,
    pub area: usize,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "length {} exceeds the {}-byte data area",
            self.len, self.area
        )
    }
}

impl std::error::Error for TooLong {}

/// Bytes shared with a peer, valid for the lifetime `'a` of the mapping they live in.
#[derive(Clone, Copy, Debug)]
pub struct Area<'a> {
    ptr: *mut u8,
    len: usize,
    _mapping: PhantomData<&'a ()>,
}

/// The length of each of `parts` equal parts of `len` bytes (see [`Area::part`]): a
/// multiple of 64 bytes, so parts never share a cache line.
pub const fn part_len(len: usize, parts: usize) -> usize {
    (len / if parts == 0 { 1 } else { parts }) & !63
}

impl<'a> Area<'a> {
    /// An area over `len` bytes at `ptr`.
    ///
    /// # Safety
    /// `ptr..ptr + len` must stay mapped readable and writable for `'a`, and no Rust
    /// reference to those bytes may exist meanwhile (only raw accesses, like ours).
    pub unsafe fn from_raw(ptr: *mut u8, len: usize) -> Area<'a> {
        Area {
            ptr,
            len,
            _mapping: PhantomData,
        }
    }

    /// An area over a buffer of our own (tests, benchmarks): the exclusive borrow keeps
    /// every other access out for `'a`.
    #[cfg(test)]
    pub fn of_slice(buf: &'a mut [u8]) -> Area<'a> {
        // SAFETY: the slice is valid for 'a and borrowed exclusively by the area.
        unsafe { Area::from_raw(buf.as_mut_ptr(), buf.len()) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn check(&self, end: usize) -> Result<(), TooLong> {
        if end > self.len {
            Err(TooLong {
                len: end,
                area: self.len,
            })
        } else {
            Ok(())
        }
    }

    /// Part `index` of `parts` equal parts, each a multiple of 64 bytes (so parts never
    /// share a cache line): a secondary's slot of the pool.
    pub fn part(self, index: usize, parts: usize) -> Area<'a> {
        let parts = parts.max(1);
        let len = part_len(self.len, parts);
        let index = index.min(parts - 1);
        // SAFETY: index < parts and len * parts <= self.len: the part lies inside the area.
        let ptr = unsafe { self.ptr.add(index * len) };
        // SAFETY: a sub-range of an area valid for 'a.
        unsafe { Area::from_raw(ptr, len) }
    }

    /// Copies `bytes` to `offset` in the area.
    pub fn write_at(&self, offset: usize, bytes: &[u8]) -> Result<(), TooLong> {
        self.check(offset.saturating_add(bytes.len()))?;
        // SAFETY: offset + bytes.len() <= self.len (checked), so the copy stays inside the
        // area; the source is our own memory and cannot overlap the shared mapping.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(offset), bytes.len()) };
        Ok(())
    }

    /// Copies `bytes` to the start of the area (a request, or a reply).
    pub fn write(&self, bytes: &[u8]) -> Result<(), TooLong> {
        self.write_at(0, bytes)
    }

    /// Copies the first `len` bytes out into `out` (replacing its contents). `len` is
    /// typically read from the peer-written header, so it is checked here: untrusted.
    pub fn read_into(&self, len: u64, out: &mut Vec<u8>) -> Result<(), TooLong> {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.check(len)?;
        out.clear();
        out.resize(len, 0);
        // SAFETY: len <= self.len (checked); the destination is our own buffer of len bytes.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr, out.as_mut_ptr(), len) };
        Ok(())
    }

    /// Whether the bytes at `offset` equal `expected` (compared without copying).
    pub fn equals(&self, offset: usize, expected: &[u8]) -> Result<bool, TooLong> {
        self.check(offset.saturating_add(expected.len()))?;
        // SAFETY: offset + expected.len() <= self.len (checked); memcmp reads the shared
        // bytes through a raw pointer without creating a reference to them.
        let same = unsafe {
            libc::memcmp(
                self.ptr.add(offset).cast(),
                expected.as_ptr().cast(),
                expected.len(),
            )
        };
        Ok(same == 0)
    }

    /// Reverses the first `len` bytes in place (the rounds mode's reply): sixteen bytes
    /// at a time from both ends, then eight, then the middle byte by byte. No staging
    /// buffer. (`u128::swap_bytes` compiles to a few SSE2 shuffles, faster than two 8-byte
    /// `bswap`s on the baseline x86-64 target, which lacks `pshufb`: 24 against 15-20 GB/s
    /// in cache on our test machine.)
    pub fn reverse(&self, len: usize) -> Result<(), TooLong> {
        self.check(len)?;
        let p = self.ptr;
        let (mut i, mut j) = (0usize, len);
        while j - i >= 32 {
            // SAFETY: i + 16 <= j - 16 and j <= len <= self.len: both blocks are inside the
            // area and do not overlap. Unaligned reads and writes are allowed on raw pointers.
            unsafe {
                let front = p.add(i).cast::<u128>().read_unaligned();
                let back = p.add(j - 16).cast::<u128>().read_unaligned();
                p.add(i).cast::<u128>().write_unaligned(back.swap_bytes());
                p.add(j - 16)
                    .cast::<u128>()
                    .write_unaligned(front.swap_bytes());
            }
            i += 16;
            j -= 16;
        }
        while j - i >= 16 {
            // SAFETY: i + 8 <= j - 8 and j <= len <= self.len: both words are inside the
            // area and do not overlap. Unaligned reads and writes are allowed on raw pointers.
            unsafe {
                let front = p.add(i).cast::<u64>().read_unaligned();
                let back = p.add(j - 8).cast::<u64>().read_unaligned();
                p.add(i).cast::<u64>().write_unaligned(back.swap_bytes());
                p.add(j - 8)
                    .cast::<u64>()
                    .write_unaligned(front.swap_bytes());
            }
            i += 8;
            j -= 8;
        }
        while j > i + 1 {
            j -= 1;
            // SAFETY: i < j < len <= self.len.
            unsafe {
                let a = p.add(i).read();
                let b = p.add(j).read();
                p.add(i).write(b);
                p.add(j).write(a);
            }
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_beyond_the_area_are_refused() {
        let mut buf = vec![0u8; 8];
        let area = Area::of_slice(&mut buf);
        assert_eq!(area.reverse(9), Err(TooLong { len: 9, area: 8 }));
        assert!(area.reverse(usize::MAX).is_err());
        assert!(area.write(&[0; 9]).is_err());
        assert!(area.write_at(usize::MAX, &[1]).is_err());
        let mut out = Vec::new();
        assert!(area.read_into(9, &mut out).is_err());
        assert!(area.read_into(u64::MAX, &mut out).is_err());
        assert!(area.equals(4, &[0; 5]).is_err());
        area.read_into(8, &mut out).unwrap();
        assert_eq!(out, vec![0; 8]);
    }

    #[test]
    fn writes_land_where_asked_and_copies_come_back() {
        let mut buf = vec![0u8; 16];
        let area = Area::of_slice(&mut buf);
        area.write(b"hello").unwrap();
        area.write_at(10, b"xy").unwrap();
        assert!(area.equals(0, b"hello").unwrap());
        assert!(area.equals(10, b"xy").unwrap());
        assert!(!area.equals(0, b"hellO").unwrap());
        let mut out = vec![9; 3];
        area.read_into(5, &mut out).unwrap();
        assert_eq!(out, b"hello");
        assert_eq!(&buf[..12], b"hello\0\0\0\0\0xy");
    }

    #[test]
    fn parts_are_cache_line_multiples_inside_the_area() {
        let mut buf = vec![0u8; 1000];
        let base = buf.as_ptr() as usize;
        let area = Area::of_slice(&mut buf);
        for parts in 1..5 {
            for i in 0..parts {
                let p = area.part(i, parts);
                assert_eq!(p.len() % 64, 0);
                let start = p.ptr as usize - base;
                assert!(start + p.len() <= 1000);
                assert_eq!(start, i * p.len());
            }
        }
    }

    proptest! {
        #[test]
        fn reverse_matches_the_standard_reverse(data in proptest::collection::vec(any::<u8>(), 0..300), extra in 0usize..20) {
            let mut buf = data.clone();
            buf.extend(std::iter::repeat_n(0xAA, extra));
            Area::of_slice(&mut buf).reverse(data.len()).unwrap();
            let mut expected = data.clone();
            expected.reverse();
            prop_assert_eq!(&buf[..data.len()], &expected[..]);
            prop_assert!(buf[data.len()..].iter().all(|&b| b == 0xAA));
        }
    }
}
