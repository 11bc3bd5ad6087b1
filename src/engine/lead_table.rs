//! The sharded concurrent map of a task's leads: the task writes, HTTP
//! lookups and the snapshot writer read, each shard behind its own lock
//! (dashmap's design). It is written here on `hashbrown::HashTable`
//! because its entries must be one thin pointer each, with the id inside
//! the lead's block (`lead_block.rs`); a map with separate keys and values
//! costs a lead about 40 more bytes at 10M leads.
//!
//! Which shard a lead lives in is a fixed function of its id hash, so
//! work that walks the table a slice at a time (the eviction check,
//! `task.rs`) visits the same leads at the same event times in every run.

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hashbrown::HashTable;

use super::lead_block::LeadBlock;
use super::lead_key::LeadId;

/// Number of shards. A snapshot walk holds one shard's lock at a time, so
/// a task waits at most for one shard's worth of leads to be encoded (10M
/// leads: 10k, about 2 ms).
pub const SHARDS: usize = 1024;

/// One shard: a hash table of lead blocks.
pub(crate) type Shard = HashTable<LeadBlock>;

/// The shard of an id hash. Bits 40..50: hashbrown uses the lowest bits
/// for the bucket and the highest 7 for its tag byte, and neither may be
/// constant within a shard.
#[inline(always)]
pub(crate) fn shard_of(hash: u64) -> usize {
    ((hash >> 40) as usize) & (SHARDS - 1)
}

/// Starts fetching the first block in `shard` with `hash`'s tag.
#[inline(always)]
fn prefetch_in(shard: &Shard, hash: u64) {
    if let Some(b) = shard.find(hash, |_| true) {
        b.prefetch();
    }
}

/// The hash a block's id has (for rehashing when a shard grows).
#[inline]
pub(crate) fn block_hash(b: &LeadBlock) -> u64 {
    b.id_hash()
}

/// See the module docs.
pub struct LeadTable {
    shards: Box<[RwLock<Shard>]>,
}

impl Default for LeadTable {
    fn default() -> Self {
        LeadTable::with_capacity(0)
    }
}

impl std::fmt::Debug for LeadTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LeadTable({} leads)", self.len())
    }
}

impl LeadTable {
    /// A table with room for about `leads` leads.
    pub fn with_capacity(leads: usize) -> LeadTable {
        let per = leads.div_ceil(SHARDS);
        LeadTable {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(HashTable::with_capacity(per)))
                .collect(),
        }
    }

    /// Shard `i`, read-locked.
    #[inline]
    pub(crate) fn read_shard(&self, i: usize) -> RwLockReadGuard<'_, Shard> {
        self.shards[i]
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Shard `i`, write-locked.
    #[inline]
    pub(crate) fn write_shard(&self, i: usize) -> RwLockWriteGuard<'_, Shard> {
        self.shards[i]
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the lead `id` (whose hash is `hash`) under a read lock.
    pub(crate) fn read<R>(
        &self,
        id: &LeadId<'_>,
        hash: u64,
        f: impl FnOnce(&LeadBlock) -> R,
    ) -> Option<R> {
        let shard = self.read_shard(shard_of(hash));
        shard.find(hash, |b| b.has_id(id)).map(f)
    }

    /// Starts fetching the block of the lead whose id hash is `hash` into
    /// the cache, reading none of it: the first block with the hash's tag
    /// is taken without comparing ids (which would wait for the fetch), so
    /// on a tag collision another lead is fetched, to no harm.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        prefetch_in(&self.read_shard(shard_of(hash)), hash);
    }

    /// [`LeadTable::prefetch`] of each hash, through `&mut` and so with
    /// no lock: taking a lock is a locked instruction, which waits for
    /// every load before it, so probes under locks wait for each other's
    /// cache misses; these overlap.
    pub(crate) fn prefetch_exclusive(&mut self, hashes: impl Iterator<Item = u64>) {
        for hash in hashes {
            let shard = self.shards[shard_of(hash)]
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner);
            prefetch_in(shard, hash);
        }
    }

    /// Inserts a block unless its id is in the table already (one probe);
    /// returns whether it was inserted.
    pub(crate) fn insert_if_absent(
        shard: &mut Shard,
        id: &LeadId<'_>,
        hash: u64,
        block: LeadBlock,
    ) -> bool {
        use hashbrown::hash_table::Entry;
        match shard.entry(hash, |b| b.has_id(id), block_hash) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(block);
                true
            }
        }
    }

    /// Finds a lead in a locked shard, for writing.
    #[inline]
    pub(crate) fn find_mut<'s>(
        shard: &'s mut Shard,
        id: &LeadId<'_>,
        hash: u64,
    ) -> Option<&'s mut LeadBlock> {
        shard.find_mut(hash, |b| b.has_id(id))
    }

    /// Number of leads (takes every shard's read lock in turn).
    pub fn len(&self) -> usize {
        (0..SHARDS).map(|i| self.read_shard(i).len()).sum()
    }

    /// Whether the table holds no lead.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
