//! The baselines and floors osps is measured against: a bare FIFO ping-pong, a busy-poll
//! ping-pong in shared memory, the 1 MiB round done by the simplest program, and memcpy
//! bandwidth.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::hint::black_box;
use std::io::{Read, Write};
use std::num::NonZeroUsize;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};
use nix::sys::stat::Mode;
use nix::unistd::mkfifo;
use serde::Serialize;

use super::forked::{Forked, monotonic_s};
use super::stats::{Percentiles, median_f64};

/// The FIFO baseline's message size.
const MESSAGE: usize = 16;

#[derive(Debug, Serialize)]
pub(super) struct Baseline {
    pub(super) name: &'static str,
    /// Both processes on CPU 0 instead of wherever the scheduler puts them.
    pub(super) same_core: bool,
    pub(super) round_trips: usize,
    #[serde(flatten)]
    pub(super) latency: Percentiles,
}

#[derive(Debug, Serialize)]
pub(super) struct Memcpy {
    pub(super) bytes: usize,
    pub(super) gb_per_s: f64,
}

/// The large-payload floor: [`large_floor`] at one size.
#[derive(Debug, Serialize)]
pub(super) struct LargeFloor {
    pub(super) bytes: usize,
    pub(super) round_trips: usize,
    #[serde(flatten)]
    pub(super) latency: Percentiles,
    pub(super) gb_per_s: f64,
}

/// Reads exactly `buf.len()` bytes with raw `read`: true on success, false on end of file
/// or error. Async-signal-safe.
fn read_full(fd: libc::c_int, buf: &mut [u8]) -> bool {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        if n <= 0 {
            return false;
        }
        got += n as usize;
    }
    true
}

/// Baseline 1: a bare ping-pong of 16-byte messages over two FIFOs, blocking reads.
pub(super) fn fifo_baseline(round_trips: usize) -> Vec<u64> {
    let dir = tempfile::Builder::new()
        .prefix("osps-bench-fifo-")
        .tempdir()
        .expect("tempdir");
    let ping = dir.path().join("ping");
    let pong = dir.path().join("pong");
    for p in [&ping, &pong] {
        mkfifo(p, Mode::S_IRUSR | Mode::S_IWUSR).expect("mkfifo");
    }
    // Prepared before the fork: the child must not allocate.
    let c_ping = CString::new(ping.as_os_str().as_bytes()).expect("path");
    let c_pong = CString::new(pong.as_os_str().as_bytes()).expect("path");
    let warmup = round_trips / 10;
    let child = Forked::spawn(|| {
        // Same opening order as the parent (ping, then pong): the blocking opens pair up.
        // SAFETY: valid NUL-terminated paths; open is async-signal-safe.
        let rd = unsafe { libc::open(c_ping.as_ptr(), libc::O_RDONLY) };
        // SAFETY: as above.
        let wr = unsafe { libc::open(c_pong.as_ptr(), libc::O_WRONLY) };
        if rd < 0 || wr < 0 {
            return 1;
        }
        let mut buf = [0u8; MESSAGE];
        while read_full(rd, &mut buf) {
            // SAFETY: writes the MESSAGE bytes of `buf` (atomic: less than PIPE_BUF).
            if unsafe { libc::write(wr, buf.as_ptr().cast(), MESSAGE) } != MESSAGE as isize {
                return 1;
            }
        }
        0
    });
    let mut to = OpenOptions::new()
        .write(true)
        .open(&ping)
        .expect("open ping");
    let mut from = OpenOptions::new()
        .read(true)
        .open(&pong)
        .expect("open pong");
    let mut msg = [0u8; MESSAGE];
    let mut samples = Vec::with_capacity(round_trips);
    for i in 0..warmup + round_trips {
        msg[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let t0 = Instant::now();
        to.write_all(&msg).expect("write ping");
        from.read_exact(&mut msg).expect("read pong");
        let dt = t0.elapsed();
        if i >= warmup {
            samples.push(dt.as_nanos() as u64);
        }
    }
    drop(to); // end of file: the child leaves its loop
    child.wait();
    samples
}

/// The ping that tells the child of a busy-polling floor to leave.
const DONE: u64 = u64::MAX;

/// The child side of the busy-polling floors: for each ping (a counter in shared
/// memory) it does `work` and answers with the same value in `pong`, until `DONE`. An
/// abandoned child (the parent died) must not spin forever: it leaves after 10 s without
/// progress (exit status 2).
fn answer_pings(ping: &AtomicU64, pong: &AtomicU64, mut work: impl FnMut()) -> i32 {
    let mut next = 1u64;
    let mut spins = 0u32;
    let (mut checked_at, mut checked_next) = (monotonic_s(), next);
    loop {
        let v = ping.load(Ordering::Acquire);
        if v == DONE {
            return 0;
        }
        if v == next {
            work();
            pong.store(next, Ordering::Release);
            next += 1;
            continue;
        }
        std::hint::spin_loop();
        spins += 1;
        if spins == 1 << 20 {
            spins = 0;
            let now = monotonic_s();
            if next != checked_next {
                (checked_at, checked_next) = (now, next);
            } else if now - checked_at > 10 {
                return 2;
            }
        }
    }
}

/// The shared memory of the two floors below: an anonymous shared mapping, inherited by
/// a forked child, with two counters on separate cache lines (at 0 and 128) and `len`
/// bytes of data from its second page. Unmapped when dropped (a forked child keeps its
/// own mapping of it).
struct Shared {
    map: std::ptr::NonNull<libc::c_void>,
    map_len: usize,
}

impl Shared {
    fn new(len: usize) -> Shared {
        let map_len = 4096 + len;
        // SAFETY: a fresh anonymous mapping; nothing else refers to that address range.
        let map = unsafe {
            mmap_anonymous(
                None,
                NonZeroUsize::new(map_len).expect("non-zero"),
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }
        .expect("mmap");
        Shared { map, map_len }
    }

    /// The counter at `offset` (0 or 128).
    fn counter(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: offsets 0 and 128 are 8-aligned and inside the zero-filled mapping,
        // which lives as long as `self`; AtomicU64 has the layout of u64 and is shared
        // only through atomics.
        unsafe {
            &*self
                .map
                .as_ptr()
                .cast::<u8>()
                .add(offset)
                .cast::<AtomicU64>()
        }
    }

    /// The parent's counter: the round it asks for.
    fn ping(&self) -> &AtomicU64 {
        self.counter(0)
    }

    /// The child's counter: the round it answered.
    fn pong(&self) -> &AtomicU64 {
        self.counter(128)
    }

    /// The data bytes (`len` of them, from the second page).
    fn data(&self) -> *mut u8 {
        // SAFETY: 4096 <= map_len: the data starts a page into the mapping.
        unsafe { self.map.as_ptr().cast::<u8>().add(4096) }
    }

    /// Asks for round `i` and busy-polls until the child answered it. (Release/acquire
    /// pairs with the child's acquire load and release store.)
    fn round_trip(&self, i: u64) {
        self.ping().store(i, Ordering::Release);
        while self.pong().load(Ordering::Acquire) != i {
            std::hint::spin_loop();
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours, and nothing borrowed from `self` outlives it.
        unsafe { munmap(self.map, self.map_len) }.expect("munmap");
    }
}

/// Baseline 2, the floor: two processes busy-poll two counters on separate cache lines of
/// a shared anonymous mapping.
pub(super) fn shm_floor(round_trips: usize) -> Vec<u64> {
    let shared = Shared::new(0);
    let warmup = round_trips / 10;
    let child = Forked::spawn(|| answer_pings(shared.ping(), shared.pong(), || {}));
    let mut samples = Vec::with_capacity(round_trips);
    for i in 1..=(warmup + round_trips) as u64 {
        let t0 = Instant::now();
        shared.round_trip(i);
        let dt = t0.elapsed();
        if i > warmup as u64 {
            samples.push(dt.as_nanos() as u64);
        }
    }
    shared.ping().store(DONE, Ordering::Release);
    child.wait();
    samples
}

/// Reverses `len` bytes at `p` in place, sixteen bytes at a time from both ends: the
/// secondary's work, written as simply as it can be. Async-signal-safe (memory only).
///
/// # Safety
/// `p..p + len` must be valid for reads and writes and not accessed by anyone else
/// meanwhile.
unsafe fn reverse_raw(p: *mut u8, len: usize) {
    let (mut i, mut j) = (0usize, len);
    while j - i >= 32 {
        // SAFETY: i + 16 <= j - 16 <= len: two disjoint blocks inside the buffer.
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
    while j > i + 1 {
        j -= 1;
        // SAFETY: i < j < len.
        unsafe {
            let (a, b) = (p.add(i).read(), p.add(j).read());
            p.add(i).write(b);
            p.add(j).write(a);
        }
        i += 1;
    }
}

/// Floor 3, for large payloads: the same work as an osps round done by the simplest
/// program. The parent writes a `len`-byte pattern into a shared mapping and bumps a
/// counter; a forked child busy-polls the counter, reverses the bytes in place and bumps
/// its own; the parent busy-polls that and compares the bytes with the reversed pattern.
/// Timed from the first byte written to the check done, as osps times a round.
pub(super) fn large_floor(len: usize, round_trips: usize) -> Vec<u64> {
    let shared = Shared::new(len);
    let data = shared.data();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let pattern: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let reversed: Vec<u8> = pattern.iter().rev().copied().collect();
    let warmup = (round_trips / 10).max(2);
    let child = Forked::spawn(|| {
        answer_pings(shared.ping(), shared.pong(), || {
            // SAFETY: the parent does not touch the data between its ping and our pong.
            unsafe { reverse_raw(data, len) }
        })
    });
    let mut samples = Vec::with_capacity(round_trips);
    for i in 1..=(warmup + round_trips) as u64 {
        let t0 = Instant::now();
        // SAFETY: `data` has `len` bytes; the child touches them only between our ping
        // and its pong.
        unsafe { std::ptr::copy_nonoverlapping(pattern.as_ptr(), data, len) };
        shared.round_trip(i);
        // SAFETY: as above; memcmp reads through raw pointers.
        let same = unsafe { libc::memcmp(data.cast(), reversed.as_ptr().cast(), len) } == 0;
        let dt = t0.elapsed();
        assert!(same, "the floor's reply is wrong in round {i}");
        if i > warmup as u64 {
            samples.push(dt.as_nanos() as u64);
        }
    }
    shared.ping().store(DONE, Ordering::Release);
    child.wait();
    samples
}

/// The page-aligned `len` bytes inside `buf` (which has a page to spare).
fn page_aligned(buf: &mut [u8], len: usize) -> &mut [u8] {
    let skip = buf.as_ptr().align_offset(4096);
    &mut buf[skip..skip + len]
}

/// memcpy bandwidth between two `len`-byte buffers: median over batches of ~20 ms.
///
/// Both buffers are page-aligned, as the segment's data area is. Heap buffers at
/// arbitrary addresses can land `dst` a few bytes after `src` modulo 4 KiB, where
/// `rep movsb` (glibc's memcpy for these sizes on this CPU) runs ten times slower: that
/// would measure the allocator's luck, not the machine.
pub(super) fn memcpy_gbs(len: usize) -> f64 {
    let mut src_buf = vec![0x5Au8; len + 4096];
    let mut dst_buf = vec![0u8; len + 4096];
    let src = page_aligned(&mut src_buf, len);
    let dst = page_aligned(&mut dst_buf, len);
    let per_batch = ((20 << 20) / len).max(1);
    let mut rates = Vec::new();
    for batch in 0..12 {
        let t0 = Instant::now();
        for _ in 0..per_batch {
            dst.copy_from_slice(black_box(&*src));
            black_box(&mut *dst);
        }
        let ns = t0.elapsed().as_nanos() as f64;
        if batch >= 2 {
            rates.push((per_batch * len) as f64 / ns);
        }
    }
    median_f64(rates)
}
