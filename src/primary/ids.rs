//! The serving primary's client ids: a slab that holds the clients, indexed by id with
//! no hash at all, and a set of ids with a hash that costs a multiplication instead of
//! SipHash's rounds. The pool and the hall look a client up several times per request.
//! The ids are ours, never chosen by a peer, so a hash that resists flooding buys nothing
//! here.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// A set of client ids.
pub type IdSet = HashSet<u64, BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of one `u64`: consecutive ids spread over the high bits, which the
/// table's probing and control bytes use.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; any other is still hashed, byte by byte.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = (self.0 ^ id).wrapping_mul(K);
    }
}

/// 2^64 divided by the golden ratio, odd.
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Values by id, each id made by [`Slab::insert`]: its low 32 bits are the index of its
/// slot, the bits above them the slot's generation. A lookup is an index and a
/// comparison. A slot freed by a value removed serves the next one under the next
/// generation, so an old id (a reply for a client that left) never finds its successor.
/// Ids stay below 2^63 (31 bits of generation), so a poll token may add an offset of up
/// to 2^62 to them.
pub struct Slab<V> {
    slots: Vec<Slot<V>>,
    /// Indices of the empty slots, the last freed first.
    free: Vec<u32>,
    len: usize,
}

struct Slot<V> {
    generation: u32,
    value: Option<V>,
}

/// The generations a slot goes through before it starts again at 0 (after 2^31 values
/// in the same slot, an id that old would find its successor: a client would have to
/// stay that long with a reply owed).
const GENERATIONS: u32 = 1 << 31;

impl<V> Default for Slab<V> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<V> Slab<V> {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Stores `value`: its id.
    pub fn insert(&mut self, value: V) -> u64 {
        self.len += 1;
        match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.value = Some(value);
                id_of(index, slot.generation)
            }
            None => {
                let index = u32::try_from(self.slots.len()).expect("fewer than 2^32 clients");
                self.slots.push(Slot {
                    generation: 0,
                    value: Some(value),
                });
                id_of(index, 0)
            }
        }
    }

    /// The index of `id`'s slot, if the slot is still of `id`'s generation.
    fn index(&self, id: u64) -> Option<usize> {
        let index = shown(id) as usize;
        (u64::from(self.slots.get(index)?.generation) == id >> 32).then_some(index)
    }

    pub fn get(&self, id: u64) -> Option<&V> {
        self.slots[self.index(id)?].value.as_ref()
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        let index = self.index(id)?;
        self.slots[index].value.as_mut()
    }

    pub fn contains_key(&self, id: u64) -> bool {
        self.get(id).is_some()
    }

    /// Takes the value of `id` out: its slot serves again under the next generation.
    pub fn remove(&mut self, id: u64) -> Option<V> {
        let index = self.index(id)?;
        let slot = &mut self.slots[index];
        let value = slot.value.take()?;
        slot.generation = (slot.generation + 1) % GENERATIONS;
        self.free.push(index as u32);
        self.len -= 1;
        Some(value)
    }

    /// The ids of the values held, in slot order.
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.value.is_some())
            .map(|(i, s)| id_of(i as u32, s.generation))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots.iter_mut().filter_map(|s| s.value.as_mut())
    }

    /// Removes every value (their slots serve again under their next generation).
    pub fn clear(&mut self) {
        for id in self.keys().collect::<Vec<_>>() {
            self.remove(id);
        }
    }
}

/// How a client is named in messages: the index of its slot (unique among the clients
/// connected at one moment; a slot freed serves a later client).
pub fn shown(id: u64) -> u64 {
    id & u64::from(u32::MAX)
}

fn id_of(index: u32, generation: u32) -> u64 {
    u64::from(generation) << 32 | u64::from(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ids_are_found_in_the_set() {
        let set: IdSet = (0..10_000).collect();
        assert!((0..10_000).all(|id| set.contains(&id)) && !set.contains(&10_000));
    }

    #[test]
    fn an_id_finds_its_value_and_never_its_slots_next_one() {
        let mut slab = Slab::default();
        let ids: Vec<u64> = (0..100).map(|v| slab.insert(v)).collect();
        assert!(ids.iter().zip(0..).all(|(&id, v)| slab.get(id) == Some(&v)));
        assert_eq!(slab.remove(ids[7]), Some(7));
        assert_eq!(
            (slab.remove(ids[7]), slab.len()),
            (None, 99),
            "removed once"
        );
        // The slot serves again, under a new id: the old one finds nothing.
        let next = slab.insert(1000);
        assert_eq!(next & u64::from(u32::MAX), ids[7] & u64::from(u32::MAX));
        assert_ne!(next, ids[7]);
        assert_eq!((slab.get(ids[7]), slab.get(next)), (None, Some(&1000)));
        assert!(slab.get_mut(ids[7]).is_none() && !slab.contains_key(ids[7]));
        assert_eq!(slab.keys().count(), 100);
        assert!(slab.keys().all(|id| slab.contains_key(id)));
        // Ids no one made find nothing, and do not panic.
        assert!(slab.get(u64::MAX).is_none() && slab.remove(1 << 40).is_none());
        slab.clear();
        assert_eq!((slab.len(), slab.keys().count()), (0, 0));
        assert!(slab.get(next).is_none());
    }

    #[test]
    fn a_slot_used_over_and_over_keeps_ids_below_2_63() {
        let mut slab = Slab::default();
        let first = slab.insert(());
        // As if 2^31 - 1 values had used the slot before.
        slab.slots[0].generation = GENERATIONS - 1;
        let last = id_of(0, GENERATIONS - 1);
        assert!(last < 1 << 63 && slab.get(first).is_none());
        assert!(slab.remove(last).is_some());
        assert_eq!(slab.insert(()), first, "the generation starts again at 0");
    }
}
