//! Maps keyed by FastCGI request id (or by a pool's connection number), hashed by one
//! multiplication.
//!
//! A connection holds at most its request limit of ids, each a `u16` the peer chose, and a
//! pool numbers its connections itself: SipHash's resistance to chosen keys buys nothing
//! for so few, and costs more than the rest of a lookup.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use fastcgi_codec::RequestId;

/// A map from request id to `V`.
pub(crate) type IdMap<V> = HashMap<RequestId, V, BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing: the id times 2^64 / φ, which spreads consecutive ids over the
/// high bits the table probes by as well as the low ones.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(GOLDEN);
        }
    }

    fn write_u16(&mut self, id: u16) {
        self.0 = (self.0 ^ u64::from(id)).wrapping_mul(GOLDEN);
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = (self.0 ^ id).wrapping_mul(GOLDEN);
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn every_id_hashes_apart_and_finds_its_entry() {
        let build = BuildHasherDefault::<IdHasher>::default();
        let hashes: std::collections::HashSet<u64> = (1..=u16::MAX)
            .map(|id| build.hash_one(RequestId::new(id)))
            .collect();
        assert_eq!(hashes.len(), usize::from(u16::MAX));
        let connections: std::collections::HashSet<u64> =
            (0..1u64 << 16).map(|id| build.hash_one(id)).collect();
        assert_eq!(connections.len(), 1 << 16, "connection numbers too");
        let mut map = IdMap::default();
        for id in [1, 2, 300, u16::MAX] {
            map.insert(RequestId::new(id), id);
        }
        assert_eq!(map.get(&RequestId::new(300)), Some(&300));
        assert_eq!(map.remove(&RequestId::new(u16::MAX)), Some(u16::MAX));
        assert_eq!(map.len(), 3);
    }
}
