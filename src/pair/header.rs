//! The segment header, layout version 1: the first 256 bytes of the shared segment.
//!
//! Every field is a native-endian `u64` at an 8-byte aligned offset, so each can be read
//! and written as an atomic by either process. Fields are grouped by writer, one 64-byte
//! cache line per writer, so the two sides do not slow each other down (false sharing).
//!
//! | offset | field                 | written by | meaning                                   |
//! |-------:|-----------------------|------------|-------------------------------------------|
//! |      0 | `magic`               | creator    | `b"OSPSSEG\0"`                             |
//! |      8 | `version`             | creator    | layout version (1)                         |
//! |     16 | `header_len`          | creator    | 256                                        |
//! |     24 | `segment_size`        | creator    | whole segment, bytes                       |
//! |     32 | `data_offset`         | creator    | where the data area starts (256)           |
//! |     40 | `data_size`           | creator    | data area bytes (`segment_size - 256`)     |
//! |     48 | `created_unix_ms`     | creator    | creation time                              |
//! |     56 | `restarts`            | primary    | secondaries started after the first        |
//! |     64 | `primary_pid`         | primary    |                                            |
//! |     72 | `primary_state`       | primary    | a [`State`]                                |
//! |     80 | `primary_heartbeat`   | primary    | `CLOCK_MONOTONIC` ns of its last sign of life |
//! |     88 | `request_seq`         | primary    | turn counter: the round now requested      |
//! |     96 | `request_len`         | primary    | payload bytes of that round                |
//! |    104 | `primary_sleeping`    | primary    | 1: blocked on its FIFO, ring its doorbell  |
//! |    112 | `rounds_completed`    | primary    | rounds verified                            |
//! |    120 | `rounds_failed`       | primary    | rounds given up or mismatched              |
//! |    128 | `secondary_pid`       | secondary  |                                            |
//! |    136 | `secondary_state`     | secondary  | a [`State`]                                |
//! |    144 | `secondary_heartbeat` | secondary  | `CLOCK_MONOTONIC` ns                       |
//! |    152 | `reply_seq`           | secondary  | turn counter: the round last answered      |
//! |    160 | `reply_len`           | secondary  | reply bytes of that round                  |
//! |    168 | `secondary_sleeping`  | secondary  | 1: blocked on its FIFO                     |
//! |    176 | `rounds_served`       | secondary  | rounds this secondary answered (`--serve`: requests, each line of a batch) |
//! |    184 | `secondary_cpu`       | secondary  | CPU it last waited on + 1 (0: unknown); a hint for the spin rule of `turn.rs` |
//! |    192 | `workers`             | creator    | secondaries in the pool, 1 to 64           |
//! |    200 | `clients`             | primary    | connected clients (`--serve`)              |
//! |    208 | `queued`              | primary    | requests waiting for a free secondary      |
//! |    216 | `requests`            | primary    | requests answered (`--serve`)              |
//! |    224 | `tcp_port`            | primary    | the TCP port it listens on (`--tcp`, the one bound for port 0), else 0 |
//! |    232 | `primary_cpu`         | primary    | CPU it last waited on + 1 (0: unknown); a hint only |
//! |    240 | reserved (zero)       |            | up to 256                                  |
//!
//! With a pool of `workers` secondaries (`osps primary --serve --secondaries N`), the first
//! secondary uses the fields above and each further secondary `i` (1 to N-1) has a
//! 128-byte scoreboard entry at `256 + 128 * (i - 1)`, one cache line per writer:
//!
//! | entry offset | field | written by |   | entry offset | field | written by |
//! |---:|---|---|---|---:|---|---|
//! | 0 | `request_seq` | primary | | 64 | `pid` | secondary |
//! | 8 | `request_len` | primary | | 72 | `state` | secondary |
//! | 16 | `primary_sleeping` | primary | | 80 | `heartbeat` | secondary |
//! | 24 | `restarts` | primary | | 88 | `reply_seq` | secondary |
//! | | | | | 96 | `reply_len` | secondary |
//! | | | | | 104 | `secondary_sleeping` | secondary |
//! | | | | | 112 | `served` | secondary |
//!
//! `header_len` and `data_offset` are then `256 + 128 * (N - 1)`, and the data area is
//! cut into N equal slots (a multiple of 64 bytes each), one per secondary.
//!
//! Decoding works on a copied snapshot (`[u8; HEADER_LEN]`), never on the live memory, so a
//! peer changing a field while we check it cannot make us accept what we rejected.

use serde::Serialize;

/// The header's size; the data area starts right after it.
pub const HEADER_LEN: usize = 256;
/// The first eight bytes of every osps segment.
pub const MAGIC: [u8; 8] = *b"OSPSSEG\0";
/// The layout described above.
pub const VERSION: u64 = 1;

/// One `u64` field of the header, by its byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Field {
    Magic = 0,
    Version = 8,
    HeaderLen = 16,
    SegmentSize = 24,
    DataOffset = 32,
    DataSize = 40,
    CreatedUnixMs = 48,
    Restarts = 56,
    PrimaryPid = 64,
    PrimaryState = 72,
    PrimaryHeartbeat = 80,
    RequestSeq = 88,
    RequestLen = 96,
    PrimarySleeping = 104,
    RoundsCompleted = 112,
    RoundsFailed = 120,
    SecondaryPid = 128,
    SecondaryState = 136,
    SecondaryHeartbeat = 144,
    ReplySeq = 152,
    ReplyLen = 160,
    SecondarySleeping = 168,
    RoundsServed = 176,
    SecondaryCpu = 184,
    Workers = 192,
    Clients = 200,
    Queued = 208,
    Requests = 216,
    TcpPort = 224,
    PrimaryCpu = 232,
}

/// The most secondaries a pool can have.
pub const MAX_WORKERS: usize = 64;
/// Size of one scoreboard entry (secondaries 1 and up).
pub const ENTRY_LEN: usize = 128;

/// The header's length (and the data area's offset) for a pool of `workers` secondaries.
pub const fn header_len_for(workers: usize) -> usize {
    HEADER_LEN + ENTRY_LEN * (workers - 1)
}

/// Byte offsets of the fields one secondary and the primary use for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerFields {
    pub request_seq: usize,
    pub request_len: usize,
    pub primary_sleeping: usize,
    /// Restarts of this secondary (secondary 0: the instance's `restarts`).
    pub restarts: usize,
    pub pid: usize,
    pub state: usize,
    pub heartbeat: usize,
    pub reply_seq: usize,
    pub reply_len: usize,
    pub secondary_sleeping: usize,
    pub served: usize,
}

/// Where secondary `index`'s fields live (0: the base header; others: the scoreboard).
pub const fn worker_fields(index: usize) -> WorkerFields {
    if index == 0 {
        return WorkerFields {
            request_seq: Field::RequestSeq.offset(),
            request_len: Field::RequestLen.offset(),
            primary_sleeping: Field::PrimarySleeping.offset(),
            restarts: Field::Restarts.offset(),
            pid: Field::SecondaryPid.offset(),
            state: Field::SecondaryState.offset(),
            heartbeat: Field::SecondaryHeartbeat.offset(),
            reply_seq: Field::ReplySeq.offset(),
            reply_len: Field::ReplyLen.offset(),
            secondary_sleeping: Field::SecondarySleeping.offset(),
            served: Field::RoundsServed.offset(),
        };
    }
    let e = HEADER_LEN + ENTRY_LEN * (index - 1);
    WorkerFields {
        request_seq: e,
        request_len: e + 8,
        primary_sleeping: e + 16,
        restarts: e + 24,
        pid: e + 64,
        state: e + 72,
        heartbeat: e + 80,
        reply_seq: e + 88,
        reply_len: e + 96,
        secondary_sleeping: e + 104,
        served: e + 112,
    }
}

/// One secondary's scoreboard line, decoded from a snapshot (for inspect and STATS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkerView {
    pub index: usize,
    pub pid: u64,
    /// `None` for a value no version of osps writes (a broken or hostile peer's).
    #[serde(serialize_with = "state_or_unknown")]
    pub state: Option<State>,
    pub restarts: u64,
    pub served: u64,
    pub heartbeat_ns: u64,
}

/// Reads secondary `index` out of a snapshot of the whole header (`None` if it is
/// shorter than that entry). Unknown states read as `None`: never a panic.
pub fn worker_view(bytes: &[u8], index: usize) -> Option<WorkerView> {
    let f = worker_fields(index);
    let word = |off: usize| -> Option<u64> {
        let b = bytes.get(off..off + 8)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        Some(u64::from_ne_bytes(w))
    };
    Some(WorkerView {
        index,
        pid: word(f.pid)?,
        state: State::from_u64(word(f.state)?),
        restarts: word(f.restarts)?,
        served: word(f.served)?,
        heartbeat_ns: word(f.heartbeat)?,
    })
}

/// Serialises a scoreboard state as its name (`"unknown"` when unknown), for
/// `#[serde(serialize_with)]`.
pub fn state_or_unknown<S: serde::Serializer>(
    state: &Option<State>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(State::name(*state))
}

impl Field {
    pub const fn offset(self) -> usize {
        self as usize
    }
}

/// The life stage of one side, as published in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not started yet (or the slot is empty).
    Absent = 0,
    Starting = 1,
    /// Handshake done, waiting for work.
    Ready = 2,
    /// Inside a round.
    Busy = 3,
    Stopping = 4,
    Stopped = 5,
    /// Stopped on an error.
    Failed = 6,
}

impl State {
    pub fn from_u64(v: u64) -> Option<State> {
        Some(match v {
            0 => State::Absent,
            1 => State::Starting,
            2 => State::Ready,
            3 => State::Busy,
            4 => State::Stopping,
            5 => State::Stopped,
            6 => State::Failed,
            _ => return None,
        })
    }

    /// Its name in the JSON and the views; `"unknown"` for a value no osps writes.
    pub fn name(state: Option<State>) -> &'static str {
        state.map_or("unknown", State::as_str)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Absent => "absent",
            State::Starting => "starting",
            State::Ready => "ready",
            State::Busy => "busy",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Failed => "failed",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoded, validated copy of a header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Header {
    pub valid: bool,
    pub version: u64,
    pub header_len: u64,
    pub segment_size: u64,
    pub data_offset: u64,
    pub data_size: u64,
    pub created_unix_ms: u64,
    pub restarts: u64,
    pub primary_pid: u64,
    pub primary_state: State,
    pub primary_heartbeat_ns: u64,
    pub secondary_pid: u64,
    pub secondary_state: State,
    pub secondary_heartbeat_ns: u64,
    pub request_seq: u64,
    pub request_len: u64,
    pub reply_seq: u64,
    pub reply_len: u64,
    /// Rounds the primary verified (the same as `rounds_completed`, kept short for jq).
    pub rounds: u64,
    pub rounds_failed: u64,
    pub rounds_served: u64,
    pub primary_sleeping: bool,
    pub secondary_sleeping: bool,
    /// Secondaries in the pool (1 unless `--serve --secondaries N`).
    pub workers: u64,
    pub clients: u64,
    pub queued: u64,
    pub requests: u64,
    pub tcp_port: u64,
}

/// Why a header snapshot was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    TooShort {
        len: usize,
    },
    /// Zeros where the header goes: its primary died between sizing the segment and
    /// writing the header (a crash's leftover, as a 0-byte segment is).
    NeverWritten,
    BadMagic,
    UnsupportedVersion(u64),
    BadLayout(String),
    SizeMismatch {
        header: u64,
        actual: u64,
    },
    BadState {
        side: &'static str,
        value: u64,
    },
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::TooShort { len } => write!(
                f,
                "the segment is {len} bytes, shorter than the {HEADER_LEN}-byte header"
            ),
            HeaderError::NeverWritten => write!(
                f,
                "only zeros where the header goes: the header was never written (not an osps \
                 segment yet; a primary killed while creating the segment leaves this)"
            ),
            HeaderError::BadMagic => write!(
                f,
                "the segment does not start with the osps magic (not an osps segment)"
            ),
            HeaderError::UnsupportedVersion(v) => write!(
                f,
                "the header has layout version {v}; this osps reads version {VERSION}"
            ),
            HeaderError::BadLayout(why) => write!(f, "the header's layout is inconsistent: {why}"),
            HeaderError::SizeMismatch { header, actual } => write!(
                f,
                "the header says the segment is {header} bytes but it is {actual} bytes (truncated or resized)"
            ),
            HeaderError::BadState { side, value } => {
                write!(
                    f,
                    "the {side} state field holds {value}, which is not a known state"
                )
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// Reads field `f` out of a snapshot.
pub fn get(bytes: &[u8; HEADER_LEN], f: Field) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[f.offset()..f.offset() + 8]);
    u64::from_ne_bytes(word)
}

/// Writes field `f` into a snapshot (used to build headers and in tests).
pub fn put(bytes: &mut [u8; HEADER_LEN], f: Field, value: u64) {
    bytes[f.offset()..f.offset() + 8].copy_from_slice(&value.to_ne_bytes());
}

/// The base header of a fresh segment of `segment_size` bytes for `workers` secondaries
/// (the scoreboard entries after it start as zeros).
pub fn initial(
    segment_size: u64,
    created_unix_ms: u64,
    primary_pid: u64,
    workers: usize,
) -> [u8; HEADER_LEN] {
    let len = header_len_for(workers.clamp(1, MAX_WORKERS)) as u64;
    let mut h = [0u8; HEADER_LEN];
    h[Field::Magic.offset()..Field::Magic.offset() + 8].copy_from_slice(&MAGIC);
    put(&mut h, Field::Version, VERSION);
    put(&mut h, Field::HeaderLen, len);
    put(&mut h, Field::SegmentSize, segment_size);
    put(&mut h, Field::DataOffset, len);
    put(&mut h, Field::DataSize, segment_size.saturating_sub(len));
    put(&mut h, Field::Workers, workers.clamp(1, MAX_WORKERS) as u64);
    put(&mut h, Field::CreatedUnixMs, created_unix_ms);
    put(&mut h, Field::PrimaryPid, primary_pid);
    put(&mut h, Field::PrimaryState, State::Starting as u64);
    h
}

/// True when the snapshot starts with the osps magic (the first test for "is this ours").
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..8] == MAGIC
}

/// True when the snapshot is all zeros: a segment sized by a primary that died before it
/// wrote the header (osps writes the magic with the rest of the header, never apart).
pub fn never_written(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| b == 0)
}

/// Decodes and validates a snapshot of a segment whose real size (from `fstat`) is
/// `actual_size`. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8], actual_size: u64) -> Result<Header, HeaderError> {
    let Ok(bytes) = <&[u8; HEADER_LEN]>::try_from(bytes.get(..HEADER_LEN).unwrap_or(bytes)) else {
        return Err(HeaderError::TooShort { len: bytes.len() });
    };
    if never_written(bytes) {
        return Err(HeaderError::NeverWritten);
    }
    if !has_magic(bytes) {
        return Err(HeaderError::BadMagic);
    }
    let version = get(bytes, Field::Version);
    if version != VERSION {
        return Err(HeaderError::UnsupportedVersion(version));
    }
    let header_len = get(bytes, Field::HeaderLen);
    let segment_size = get(bytes, Field::SegmentSize);
    let data_offset = get(bytes, Field::DataOffset);
    let data_size = get(bytes, Field::DataSize);
    let workers = get(bytes, Field::Workers);
    if workers == 0 || workers > MAX_WORKERS as u64 {
        return Err(HeaderError::BadLayout(format!(
            "workers is {workers}, expected 1 to {MAX_WORKERS}"
        )));
    }
    let expected_len = header_len_for(workers as usize) as u64;
    if header_len != expected_len {
        return Err(HeaderError::BadLayout(format!(
            "header_len is {header_len}, expected {expected_len} for {workers} secondaries"
        )));
    }
    if data_offset != header_len {
        return Err(HeaderError::BadLayout(format!(
            "data_offset is {data_offset}, expected {header_len}"
        )));
    }
    if segment_size != actual_size {
        return Err(HeaderError::SizeMismatch {
            header: segment_size,
            actual: actual_size,
        });
    }
    if segment_size > crate::units::MAX_SEGMENT || segment_size % 8 != 0 {
        return Err(HeaderError::BadLayout(format!(
            "segment_size {segment_size} is out of range"
        )));
    }
    // data_offset + data_size must equal segment_size, computed without overflow.
    if data_offset.checked_add(data_size) != Some(segment_size) {
        return Err(HeaderError::BadLayout(format!(
            "data_offset {data_offset} + data_size {data_size} is not the segment size {segment_size}"
        )));
    }
    let state = |side: &'static str, f: Field| {
        let value = get(bytes, f);
        State::from_u64(value).ok_or(HeaderError::BadState { side, value })
    };
    let primary_state = state("primary", Field::PrimaryState)?;
    let secondary_state = state("secondary", Field::SecondaryState)?;
    Ok(Header {
        valid: true,
        version,
        header_len,
        segment_size,
        data_offset,
        data_size,
        created_unix_ms: get(bytes, Field::CreatedUnixMs),
        restarts: get(bytes, Field::Restarts),
        primary_pid: get(bytes, Field::PrimaryPid),
        primary_state,
        primary_heartbeat_ns: get(bytes, Field::PrimaryHeartbeat),
        secondary_pid: get(bytes, Field::SecondaryPid),
        secondary_state,
        secondary_heartbeat_ns: get(bytes, Field::SecondaryHeartbeat),
        request_seq: get(bytes, Field::RequestSeq),
        request_len: get(bytes, Field::RequestLen),
        reply_seq: get(bytes, Field::ReplySeq),
        reply_len: get(bytes, Field::ReplyLen),
        rounds: get(bytes, Field::RoundsCompleted),
        rounds_failed: get(bytes, Field::RoundsFailed),
        rounds_served: get(bytes, Field::RoundsServed),
        primary_sleeping: get(bytes, Field::PrimarySleeping) != 0,
        secondary_sleeping: get(bytes, Field::SecondarySleeping) != 0,
        workers,
        clients: get(bytes, Field::Clients),
        queued: get(bytes, Field::Queued),
        requests: get(bytes, Field::Requests),
        tcp_port: get(bytes, Field::TcpPort),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SIZE: u64 = 1 << 20;

    fn fresh() -> [u8; HEADER_LEN] {
        initial(SIZE, 1_700_000_000_000, 42, 1)
    }

    #[test]
    fn a_fresh_header_round_trips() {
        let h = decode(&fresh(), SIZE).unwrap();
        assert_eq!(h.segment_size, SIZE);
        assert_eq!(h.data_size, SIZE - HEADER_LEN as u64);
        assert_eq!(h.primary_pid, 42);
        assert_eq!(h.primary_state, State::Starting);
        assert_eq!(h.secondary_state, State::Absent);
        assert!(h.valid);
    }

    #[test]
    fn fields_do_not_overlap_and_fit() {
        let all = [
            Field::Magic,
            Field::Version,
            Field::HeaderLen,
            Field::SegmentSize,
            Field::DataOffset,
            Field::DataSize,
            Field::CreatedUnixMs,
            Field::Restarts,
            Field::PrimaryPid,
            Field::PrimaryState,
            Field::PrimaryHeartbeat,
            Field::RequestSeq,
            Field::RequestLen,
            Field::PrimarySleeping,
            Field::RoundsCompleted,
            Field::RoundsFailed,
            Field::SecondaryPid,
            Field::SecondaryState,
            Field::SecondaryHeartbeat,
            Field::ReplySeq,
            Field::ReplyLen,
            Field::SecondarySleeping,
            Field::RoundsServed,
            Field::SecondaryCpu,
        ];
        let pool = [
            Field::Workers,
            Field::Clients,
            Field::Queued,
            Field::Requests,
            Field::TcpPort,
            Field::PrimaryCpu,
        ];
        for (i, f) in pool.iter().enumerate() {
            assert_eq!(f.offset(), 192 + 8 * i);
        }
        for (i, f) in all.iter().enumerate() {
            assert_eq!(f.offset() % 8, 0);
            assert!(f.offset() + 8 <= HEADER_LEN);
            if i > 0 {
                assert_eq!(f.offset(), all[i - 1].offset() + 8, "{f:?}");
            }
        }
        // The two writers' fields sit on different cache lines.
        assert_eq!(
            Field::PrimaryPid.offset() / 64,
            Field::RoundsFailed.offset() / 64
        );
        assert_eq!(
            Field::SecondaryPid.offset() / 64,
            Field::RoundsServed.offset() / 64
        );
        assert_ne!(
            Field::PrimaryPid.offset() / 64,
            Field::SecondaryPid.offset() / 64
        );
    }

    #[test]
    fn every_malformed_header_is_rejected() {
        assert_eq!(
            decode(&[0u8; 10], SIZE),
            Err(HeaderError::TooShort { len: 10 })
        );
        assert_eq!(decode(&[], SIZE), Err(HeaderError::TooShort { len: 0 }));
        assert_eq!(
            decode(&[0u8; HEADER_LEN], SIZE),
            Err(HeaderError::NeverWritten)
        );
        let mut one = [0u8; HEADER_LEN];
        one[HEADER_LEN - 1] = 1;
        assert_eq!(decode(&one, SIZE), Err(HeaderError::BadMagic));

        let with = |f: Field, v: u64| {
            let mut h = fresh();
            put(&mut h, f, v);
            h
        };
        assert_eq!(
            decode(&with(Field::Version, 2), SIZE),
            Err(HeaderError::UnsupportedVersion(2))
        );
        assert!(matches!(
            decode(&with(Field::HeaderLen, 64), SIZE),
            Err(HeaderError::BadLayout(_))
        ));
        assert!(matches!(
            decode(&with(Field::DataOffset, 8), SIZE),
            Err(HeaderError::BadLayout(_))
        ));
        assert!(matches!(
            decode(&with(Field::DataSize, SIZE), SIZE),
            Err(HeaderError::BadLayout(_))
        ));
        assert!(matches!(
            decode(&with(Field::DataSize, u64::MAX), SIZE),
            Err(HeaderError::BadLayout(_))
        ));
        assert_eq!(
            decode(&fresh(), SIZE / 2),
            Err(HeaderError::SizeMismatch {
                header: SIZE,
                actual: SIZE / 2
            })
        );
        let mut huge = initial(u64::MAX - 7, 0, 1, 1);
        put(&mut huge, Field::DataSize, u64::MAX - 7 - HEADER_LEN as u64);
        assert!(decode(&huge, u64::MAX - 7).is_err());
        assert_eq!(
            decode(&with(Field::SecondaryState, 99), SIZE),
            Err(HeaderError::BadState {
                side: "secondary",
                value: 99
            })
        );
    }

    #[test]
    fn a_pool_header_places_each_secondary_in_its_own_entry() {
        let size = 1u64 << 20;
        let h = initial(size, 0, 1, 4);
        let d = decode(&h, size).unwrap();
        assert_eq!(d.workers, 4);
        assert_eq!(d.data_offset, (HEADER_LEN + 3 * ENTRY_LEN) as u64);
        assert_eq!(d.data_offset + d.data_size, size);
        assert_eq!(worker_fields(0).reply_seq, Field::ReplySeq.offset());
        assert_eq!(worker_fields(1).request_seq, HEADER_LEN);
        assert_eq!(worker_fields(2).pid, HEADER_LEN + ENTRY_LEN + 64);
        let last = worker_fields(MAX_WORKERS - 1);
        assert!(last.served + 8 <= header_len_for(MAX_WORKERS));
        // Primary-written and secondary-written words of an entry sit on different lines.
        assert_ne!(
            worker_fields(3).request_seq / 64,
            worker_fields(3).reply_seq / 64
        );
        let mut bad = h;
        put(&mut bad, Field::Workers, 0);
        assert!(decode(&bad, size).is_err());
        put(&mut bad, Field::Workers, 65);
        assert!(decode(&bad, size).is_err());
        let mut whole = h.to_vec();
        whole.resize(header_len_for(4), 0);
        let v = worker_view(&whole, 3).unwrap();
        assert_eq!((v.index, v.state), (3, Some(State::Absent)));
        assert!(worker_view(&whole, 4).is_none());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), size in any::<u64>()) {
            let _ = decode(&bytes, size);
        }

        #[test]
        fn decoding_a_damaged_header_never_panics(offset in 0usize..HEADER_LEN, value in any::<u8>()) {
            let mut h = fresh();
            h[offset] = value;
            if let Ok(d) = decode(&h, SIZE) {
                prop_assert_eq!(d.data_size + d.data_offset, d.segment_size);
            }
        }

        #[test]
        fn valid_sizes_round_trip(pages in 1u64..1024, pid in any::<u32>()) {
            let size = pages * 4096;
            let d = decode(&initial(size, 5, u64::from(pid), 1), size).unwrap();
            prop_assert_eq!(d.segment_size, size);
            prop_assert_eq!(d.primary_pid, u64::from(pid));
        }
    }
}
