//! The client protocol of `osps primary --serve`: one request per line, one reply line
//! per request, in order, so `nc`, `socat` or a shell's `/dev/tcp` are real clients.
//!
//! | request          | reply                                     |
//! |------------------|-------------------------------------------|
//! | `PING`           | `PONG`                                    |
//! | `ECHO <text>`    | `<text>`                                  |
//! | `REV <text>`     | the text reversed by Unicode scalar values |
//! | `SHA256 <text>`  | the SHA-256 digest of the text, in hex     |
//! | `STATS`          | one line of JSON with the instance's counters |
//! | anything else    | `ERR <reason>` (the connection stays usable) |
//!
//! A line longer than `--max-line` gets `ERR line too long` and the connection is closed.
//! These functions are pure: the secondary calls [`answer`] on the bytes it finds in its
//! slot of the segment; the primary only frames lines and never computes a reply.

use sha2::{Digest, Sha256};

/// One parsed request.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Ping,
    Echo(&'a str),
    Rev(&'a str),
    Sha256(&'a str),
    Stats,
}

/// Parses a request line (without its newline; a trailing `\r` is ignored).
pub fn parse(line: &[u8]) -> Result<Request<'_>, String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line)
        .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?;
    let (verb, arg) = match text.split_once(' ') {
        Some((verb, arg)) => (verb, Some(arg)),
        None => (text, None),
    };
    match (verb, arg) {
        ("PING", None) => Ok(Request::Ping),
        ("STATS", None) => Ok(Request::Stats),
        ("ECHO", arg) => Ok(Request::Echo(arg.unwrap_or(""))),
        ("REV", arg) => Ok(Request::Rev(arg.unwrap_or(""))),
        ("SHA256", arg) => Ok(Request::Sha256(arg.unwrap_or(""))),
        ("PING" | "STATS", Some(_)) => Err(format!("{verb} takes no argument")),
        ("", _) => Err("empty request: use PING, ECHO, REV, SHA256 or STATS".into()),
        _ => Err(format!(
            "unknown request {:?}: use PING, ECHO, REV, SHA256 or STATS",
            verb.chars().take(32).collect::<String>()
        )),
    }
}

/// The reply line (without newline) to a request line. `stats` is called for `STATS` only.
pub fn answer(line: &[u8], stats: impl FnOnce() -> String) -> String {
    let mut reply = Vec::new();
    answer_into(line, &mut reply, stats);
    // Every reply is made of `str`s: this is never lossy.
    String::from_utf8_lossy(&reply).into_owned()
}

/// [`answer`], appended to `out` (UTF-8, without newline): what a secondary answering
/// a batch uses, so that no reply needs a buffer of its own.
pub fn answer_into(line: &[u8], out: &mut Vec<u8>, stats: impl FnOnce() -> String) {
    match parse(line) {
        Ok(Request::Ping) => out.extend_from_slice(b"PONG"),
        Ok(Request::Echo(text)) => out.extend_from_slice(text.as_bytes()),
        Ok(Request::Rev(text)) => {
            let mut utf8 = [0u8; 4];
            for c in text.chars().rev() {
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
        Ok(Request::Sha256(text)) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for b in Sha256::digest(text.as_bytes()) {
                out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
        }
        Ok(Request::Stats) => out.extend_from_slice(stats().as_bytes()),
        Err(reason) => {
            out.extend_from_slice(b"ERR ");
            out.extend_from_slice(reason.as_bytes());
        }
    }
}

/// The most bytes the reply to `line` takes, for the room a batch leaves it: `STATS`
/// gets [`STATS_ROOM`]; any other reply is at most its request's length (ECHO, REV),
/// or short (PONG, a digest), or an error quoting at most 32 characters of it (each at
/// most 10 bytes escaped) within [`ERROR_ROOM`]. Should a reply still not fit, the
/// secondary answers it with an error rather than overflow its slot.
pub fn reply_room(line: &[u8]) -> usize {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line == b"STATS" {
        STATS_ROOM
    } else {
        (line.len() + 64).max(ERROR_ROOM)
    }
}

/// Room for the `STATS` reply (one line of JSON).
const STATS_ROOM: usize = 2048;
/// Room for the longest error (an unknown request quoted, then the usage).
const ERROR_ROOM: usize = 512;

/// Whether a reply line (without its newline) reports an error.
pub fn is_error(reply: &[u8]) -> bool {
    reply == b"ERR" || reply.starts_with(b"ERR ")
}

/// Whether `request` can be sent as one request line: any bytes but a newline, which
/// would end the line early and make the rest a second request.
pub fn check_one_line(request: &[u8]) -> Result<(), String> {
    if request.contains(&b'\n') {
        return Err(
            "a request is one line and cannot contain a newline; pass each request \
                    as its own argument (or one per line on stdin)"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ans(line: &str) -> String {
        answer(line.as_bytes(), || "{\"x\":1}".into())
    }

    #[test]
    fn every_request_kind() {
        assert_eq!(ans("PING"), "PONG");
        assert_eq!(ans("PING\r"), "PONG");
        assert_eq!(ans("ECHO hello world"), "hello world");
        assert_eq!(ans("ECHO"), "");
        assert_eq!(ans("REV abc"), "cba");
        assert_eq!(ans("REV héllo👋"), "👋olléh");
        assert_eq!(
            ans("SHA256 abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            ans("SHA256 "),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(ans("STATS"), "{\"x\":1}");
    }

    #[test]
    fn bad_requests_get_err_with_a_reason() {
        assert!(ans("FOO bar").starts_with("ERR unknown request \"FOO\""));
        assert!(ans("ping").starts_with("ERR unknown"));
        assert!(ans("").starts_with("ERR empty"));
        assert_eq!(ans("PING x"), "ERR PING takes no argument");
        let reply = answer(b"ECHO \xff\xfe", String::new);
        assert_eq!(reply, "ERR invalid UTF-8 at byte 5");
        assert!(is_error(reply.as_bytes()) && is_error(b"ERR") && !is_error(b"ERROR"));
    }

    #[test]
    fn the_longest_error_fits_its_room() {
        // An unknown verb of 40 characters, each escaped to its longest form when quoted.
        let line = format!("{} x", "\u{10ffff}".repeat(40));
        let reply = ans(&line);
        assert!(
            reply.len() > 300 && reply.len() <= reply_room(line.as_bytes()),
            "{reply}"
        );
    }

    #[test]
    fn a_request_line_is_any_bytes_but_a_newline() {
        assert_eq!(check_one_line(b"ECHO \xff\r\0"), Ok(()));
        assert_eq!(check_one_line(b""), Ok(()));
        let why = check_one_line(b"ECHO a\nb").unwrap_err();
        assert!(why.contains("newline"), "{why}");
    }

    proptest! {
        #[test]
        fn any_bytes_get_one_line_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let reply = answer(&bytes, || "{}".into());
            prop_assert!(!reply.contains('\n') || bytes.contains(&b'\n'));
        }

        #[test]
        fn a_reply_fits_the_room_reserved_for_it(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            verb in "[\\u{0}-\\u{10ffff}]{0,40}",
        ) {
            // Arbitrary bytes, and unknown verbs of any characters (quoted, escaped).
            for line in [bytes, format!("{verb} x").into_bytes()] {
                let reply = answer(&line, || "{}".into());
                prop_assert!(reply.len() <= reply_room(&line), "{} > {}", reply.len(), reply_room(&line));
            }
        }

        #[test]
        fn rev_twice_is_identity(text in "\\PC*") {
            let once = ans(&format!("REV {text}"));
            prop_assert_eq!(ans(&format!("REV {once}")), text);
        }
    }
}
