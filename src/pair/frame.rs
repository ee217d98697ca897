//! The frames that travel on the FIFO pair: small fixed-size binary messages that say
//! "your turn" (the data itself is in the segment). Pure encode / decode over bytes.
//!
//! Every frame is [`FRAME_LEN`] = 16 bytes, far below `PIPE_BUF` (4096), so one `write`
//! puts a whole frame in the pipe atomically even if a third process writes too.
//!
//! | bytes | field    | value                                           |
//! |------:|----------|-------------------------------------------------|
//! |  0..2 | magic    | `0x0F5A` little-endian                           |
//! |     2 | version  | 1                                               |
//! |     3 | kind     | a [`Kind`]                                      |
//! |  4..8 | arg      | `u32` LE: the sender's pid in `Hello`, else 0    |
//! | 8..16 | seq      | `u64` LE: the round number (or the base round)   |

/// Size of every frame in bytes.
pub const FRAME_LEN: usize = 16;
const MAGIC: u16 = 0x0F5A;
const VERSION: u8 = 1;

/// What a frame means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// secondary → primary: "I am up"; `arg` is the secondary's pid.
    Hello = 1,
    /// primary → secondary: "start"; `seq` is the last round already done.
    Ready = 2,
    /// primary → secondary: round `seq` is in the segment (in adaptive mode: a doorbell).
    Request = 3,
    /// secondary → primary: the reply to round `seq` is in the segment (adaptive: a doorbell).
    Reply = 4,
    /// primary → secondary: finish and exit.
    Stop = 5,
    /// secondary → primary: "stopping"; `seq` is the number of rounds it served.
    StopAck = 6,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::Hello,
            2 => Kind::Ready,
            3 => Kind::Request,
            4 => Kind::Reply,
            5 => Kind::Stop,
            6 => Kind::StopAck,
            _ => return None,
        })
    }
}

/// One decoded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub arg: u32,
    pub seq: u64,
}

/// Why bytes are not a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    BadMagic(u16),
    BadVersion(u8),
    UnknownKind(u8),
    /// `arg` must be 0 for every kind but `Hello`.
    UnexpectedArg {
        kind: Kind,
        arg: u32,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::BadMagic(m) => write!(f, "bad magic {m:#06x} (garbage on the FIFO?)"),
            FrameError::BadVersion(v) => write!(f, "frame version {v}, expected {VERSION}"),
            FrameError::UnknownKind(k) => write!(f, "unknown frame kind {k}"),
            FrameError::UnexpectedArg { kind, arg } => {
                write!(f, "{kind:?} frame with a non-zero argument {arg}")
            }
        }
    }
}

impl std::error::Error for FrameError {}

impl Frame {
    pub fn new(kind: Kind, seq: u64) -> Frame {
        Frame { kind, arg: 0, seq }
    }

    pub fn hello(pid: u32) -> Frame {
        Frame {
            kind: Kind::Hello,
            arg: pid,
            seq: 0,
        }
    }

    pub fn encode(&self) -> [u8; FRAME_LEN] {
        let mut b = [0u8; FRAME_LEN];
        b[0..2].copy_from_slice(&MAGIC.to_le_bytes());
        b[2] = VERSION;
        b[3] = self.kind as u8;
        b[4..8].copy_from_slice(&self.arg.to_le_bytes());
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8; FRAME_LEN]) -> Result<Frame, FrameError> {
        let magic = u16::from_le_bytes([b[0], b[1]]);
        if magic != MAGIC {
            return Err(FrameError::BadMagic(magic));
        }
        if b[2] != VERSION {
            return Err(FrameError::BadVersion(b[2]));
        }
        let kind = Kind::from_u8(b[3]).ok_or(FrameError::UnknownKind(b[3]))?;
        let arg = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        if arg != 0 && kind != Kind::Hello {
            return Err(FrameError::UnexpectedArg { kind, arg });
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&b[8..16]);
        Ok(Frame {
            kind,
            arg,
            seq: u64::from_le_bytes(seq),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_kind_round_trips() {
        for kind in [
            Kind::Hello,
            Kind::Ready,
            Kind::Request,
            Kind::Reply,
            Kind::Stop,
            Kind::StopAck,
        ] {
            let f = if kind == Kind::Hello {
                Frame::hello(77)
            } else {
                Frame::new(kind, u64::MAX - 3)
            };
            assert_eq!(Frame::decode(&f.encode()), Ok(f));
        }
    }

    #[test]
    fn malformed_frames_are_rejected() {
        let good = Frame::new(Kind::Request, 5).encode();
        let mut b = good;
        b[0] = 0;
        assert!(matches!(Frame::decode(&b), Err(FrameError::BadMagic(_))));
        let mut b = good;
        b[2] = 9;
        assert_eq!(Frame::decode(&b), Err(FrameError::BadVersion(9)));
        for k in [0u8, 7, 200, 255] {
            let mut b = good;
            b[3] = k;
            assert_eq!(Frame::decode(&b), Err(FrameError::UnknownKind(k)));
        }
        let mut b = good;
        b[5] = 1;
        assert!(matches!(
            Frame::decode(&b),
            Err(FrameError::UnexpectedArg { .. })
        ));
        assert!(Frame::decode(&[0u8; FRAME_LEN]).is_err());
        assert!(Frame::decode(&[0xffu8; FRAME_LEN]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in any::<[u8; FRAME_LEN]>()) {
            if let Ok(f) = Frame::decode(&bytes) {
                prop_assert_eq!(f.encode(), bytes);
            }
        }

        #[test]
        fn frames_round_trip(kind in 1u8..=6, seq in any::<u64>(), pid in any::<u32>()) {
            let kind = Kind::from_u8(kind).unwrap();
            let f = Frame { kind, arg: if kind == Kind::Hello { pid } else { 0 }, seq };
            prop_assert_eq!(Frame::decode(&f.encode()), Ok(f));
        }
    }
}
