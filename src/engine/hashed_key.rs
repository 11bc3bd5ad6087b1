//! A hasher for map keys that already are 64-bit hashes (event-id hashes,
//! user-agent hashes): it passes the key through. Exists because a general
//! hasher spends more instructions re-hashing such a key than the map
//! lookup itself takes.

use std::hash::{BuildHasherDefault, Hasher};

/// Passes a `u64` key through as its own hash (hashbrown takes the low bits
/// for the bucket and the top 7 for its tag, so the key must be well mixed
/// in both: true of xxh3 output).
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    #[inline(always)]
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }

    /// Only `u64` keys are expected; anything else is folded in, so the map
    /// stays correct (if slower) should another key type ever be used.
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    #[inline(always)]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The `BuildHasher` of maps keyed by pre-hashed `u64`s.
pub type PreHashed = BuildHasherDefault<PassThrough>;
