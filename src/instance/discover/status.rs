//! The status of an instance, decided from the facts its examination found: the lock (or
//! a live primary proved otherwise) decides liveness, then what objects exist and whether
//! the segment is ours. A pure function, so every case is a unit test.

use serde::Serialize;

/// What an instance is, decided from the lock and the objects that exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A live primary holds the lock.
    Running,
    /// Every object exists and nobody holds the lock: the primary died.
    Stale,
    /// Only some of the objects exist and nobody holds the lock.
    Partial,
    /// The segment is not a valid osps segment of ours (see its `error`).
    Corrupt,
    /// The segment cannot be read (another user's): nothing can be said about it.
    Inaccessible,
}

/// The facts [`decide`] needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Presence {
    pub lock_held: bool,
    /// A live primary of the instance was found without its lock file (see module docs).
    pub live_primary: bool,
    /// The segment exists but could not be read (permission denied).
    pub segment_inaccessible: bool,
    pub lock_exists: bool,
    /// `None` when there is no segment, else whether it is a valid osps segment of ours.
    pub segment_valid: Option<bool>,
    /// How many of the first secondary's two FIFOs exist.
    pub fifos: usize,
}

/// The status of an instance. The lock, or a live primary proved otherwise, decides
/// liveness; then a segment we may not read is `inaccessible`; then a bad segment is
/// `corrupt`; then the full set of objects (lock, segment, both FIFOs) is `stale`.
pub fn decide(p: Presence) -> Status {
    if p.lock_held || p.live_primary {
        return Status::Running;
    }
    if p.segment_inaccessible {
        return Status::Inaccessible;
    }
    match p.segment_valid {
        Some(false) => Status::Corrupt,
        Some(true) if p.lock_exists && p.fifos == 2 => Status::Stale,
        _ => Status::Partial,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(held: bool, lock: bool, segment: Option<bool>, fifos: usize) -> Presence {
        Presence {
            lock_held: held,
            live_primary: false,
            segment_inaccessible: false,
            lock_exists: lock,
            segment_valid: segment,
            fifos,
        }
    }

    #[test]
    fn a_held_lock_means_running_whatever_else() {
        for segment in [None, Some(true), Some(false)] {
            for fifos in 0..=2 {
                assert_eq!(
                    decide(presence(true, true, segment, fifos)),
                    Status::Running
                );
            }
        }
    }

    #[test]
    fn a_live_primary_without_its_lock_file_is_running() {
        for lock in [false, true] {
            let p = Presence {
                live_primary: true,
                segment_inaccessible: true,
                ..presence(false, lock, Some(false), 0)
            };
            assert_eq!(decide(p), Status::Running);
        }
    }

    #[test]
    fn an_unreadable_segment_is_inaccessible_never_corrupt_or_stale() {
        let p = Presence {
            segment_inaccessible: true,
            ..presence(false, true, Some(false), 2)
        };
        assert_eq!(decide(p), Status::Inaccessible);
    }

    #[test]
    fn every_object_without_a_holder_is_stale() {
        assert_eq!(decide(presence(false, true, Some(true), 2)), Status::Stale);
    }

    #[test]
    fn a_bad_segment_is_corrupt_unless_running() {
        assert_eq!(
            decide(presence(false, true, Some(false), 2)),
            Status::Corrupt
        );
        assert_eq!(
            decide(presence(false, false, Some(false), 0)),
            Status::Corrupt
        );
    }

    #[test]
    fn some_of_the_objects_are_partial() {
        let partial = [
            presence(false, false, Some(true), 0), // segment only
            presence(false, false, Some(true), 2), // segment and FIFOs, no lock
            presence(false, true, Some(true), 0),  // segment and lock, no FIFOs
            presence(false, true, Some(true), 1),  // one FIFO missing
            presence(false, false, None, 2),       // FIFOs only
            presence(false, true, None, 2),        // FIFOs and lock, no segment
            presence(false, true, None, 0),        // lock file only
        ];
        for p in partial {
            assert_eq!(decide(p), Status::Partial, "{p:?}");
        }
    }

    #[test]
    fn the_status_serialises_in_snake_case() {
        let v = serde_json::to_value([
            Status::Running,
            Status::Stale,
            Status::Partial,
            Status::Corrupt,
            Status::Inaccessible,
        ])
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!(["running", "stale", "partial", "corrupt", "inaccessible"])
        );
    }
}
