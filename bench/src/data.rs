//! Object bodies and what was written. A body is a window into a fixed pool of random bytes,
//! chosen by a seed, so generating it costs no copies and no memory per object; what each key
//! holds is one xxh3 per key, so a GET can be verified without keeping any body.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use rand::{RngCore, SeedableRng};

/// Size of the random pool a body is a window of; also the largest piece a body is sent in.
pub const POOL_BYTES: usize = 1 << 20;

fn pool() -> &'static Bytes {
    static POOL: OnceLock<Bytes> = OnceLock::new();
    POOL.get_or_init(|| {
        // Twice the window, so every piece of up to POOL_BYTES from an offset below POOL_BYTES is
        // one contiguous slice.
        let mut bytes = vec![0u8; 2 * POOL_BYTES];
        rand::rngs::SmallRng::seed_from_u64(0x00ca_14b3).fill_bytes(&mut bytes);
        Bytes::from(bytes)
    })
}

/// The pieces of the body of `size` bytes that `seed` names: slices of the pool, no copies.
pub fn body(seed: u64, size: u64) -> impl Iterator<Item = Bytes> + Send + 'static {
    let pool = pool().clone();
    let mut offset = (seed % POOL_BYTES as u64) as usize;
    let mut left = size;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let take = (left as usize).min(POOL_BYTES);
        let piece = pool.slice(offset..offset + take);
        offset = (offset + take) % POOL_BYTES;
        left -= take as u64;
        Some(piece)
    })
}

/// The xxh3 of a body.
pub fn body_hash(seed: u64, size: u64) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3Default::new();
    for piece in body(seed, size) {
        hasher.update(&piece);
    }
    hasher.digest()
}

/// What each key holds, as far as this run knows, for verifying GETs. Per key: a change counter,
/// the changes in flight, and the hash of the body (0: unknown). Two changes of one key that
/// overlap leave it unknown: the server ordered them, and the client cannot tell how.
#[derive(Debug)]
pub struct Ledger {
    changes: Vec<AtomicU64>,
    in_flight: Vec<AtomicU64>,
    hash: Vec<AtomicU64>,
}

/// What a read of a key should have seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The body with this hash.
    Body(u64),
    /// No object (deleted in this run).
    Absent,
    /// Not known: never written in this run, or changed while the read was in flight.
    Unknown,
}

/// Hash value standing for "deleted".
const ABSENT: u64 = u64::MAX;

/// A change begun with `Ledger::begin`.
#[derive(Clone, Copy, Debug)]
pub struct Change(u64);

/// A read begun with `Ledger::snapshot`: `None` while a change was in flight.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot(Option<u64>);

impl Ledger {
    pub fn new(keys: u64) -> Ledger {
        let keys = usize::try_from(keys).expect("the key space fits memory");
        let zeros = || (0..keys).map(|_| AtomicU64::new(0)).collect();
        Ledger { changes: zeros(), in_flight: zeros(), hash: zeros() }
    }

    /// Marks a write or delete of `key` as started.
    pub fn begin(&self, key: u64) -> Change {
        self.in_flight[key as usize].fetch_add(1, Ordering::SeqCst);
        Change(self.changes[key as usize].fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Ends a write (`Some(hash)`), a delete (`None`), or a failed change (`failed`). The key is
    /// unknown afterwards if the change failed or overlapped another.
    pub fn end(&self, key: u64, change: Change, hash: Option<u64>, failed: bool) {
        let alone = self.in_flight[key as usize].load(Ordering::SeqCst) == 1
            && self.changes[key as usize].load(Ordering::SeqCst) == change.0;
        let value = if failed || !alone { 0 } else { hash.unwrap_or(ABSENT) };
        self.hash[key as usize].store(value, Ordering::SeqCst);
        self.changes[key as usize].fetch_add(1, Ordering::SeqCst);
        self.in_flight[key as usize].fetch_sub(1, Ordering::SeqCst);
    }

    /// Taken before a read: pass it to `expect` after the read.
    pub fn snapshot(&self, key: u64) -> Snapshot {
        let changes = self.changes[key as usize].load(Ordering::SeqCst);
        Snapshot((self.in_flight[key as usize].load(Ordering::SeqCst) == 0).then_some(changes))
    }

    /// What a read that started at `snapshot` should have returned.
    pub fn expect(&self, key: u64, snapshot: Snapshot) -> Expect {
        let hash = self.hash[key as usize].load(Ordering::SeqCst);
        let now = self.changes[key as usize].load(Ordering::SeqCst);
        if snapshot.0 != Some(now) {
            return Expect::Unknown;
        }
        match hash {
            0 => Expect::Unknown,
            ABSENT => Expect::Absent,
            hash => Expect::Body(hash),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_deterministic_windows() {
        let a: Vec<u8> = body(5, 3 * POOL_BYTES as u64 + 17).flat_map(|b| b.to_vec()).collect();
        let again: Vec<u8> = body(5, 3 * POOL_BYTES as u64 + 17).flat_map(|b| b.to_vec()).collect();
        assert_eq!(a.len(), 3 * POOL_BYTES + 17);
        assert_eq!(a, again);
        let other: Vec<u8> = body(6, 4096).flat_map(|b| b.to_vec()).collect();
        assert_ne!(&a[..4096], &other[..]);
        assert_eq!(body_hash(5, 3 * POOL_BYTES as u64 + 17), xxhash_rust::xxh3::xxh3_64(&a));
        assert_eq!(body(1, 0).count(), 0);
    }

    #[test]
    fn the_ledger_knows_only_settled_keys() {
        let ledger = Ledger::new(4);
        assert_eq!(ledger.expect(0, ledger.snapshot(0)), Expect::Unknown, "never written");
        let change = ledger.begin(0);
        let during = ledger.snapshot(0);
        assert_eq!(ledger.expect(0, during), Expect::Unknown, "write in flight");
        ledger.end(0, change, Some(42), false);
        assert_eq!(ledger.expect(0, during), Expect::Unknown, "changed during the read");
        let settled = ledger.snapshot(0);
        assert_eq!(ledger.expect(0, settled), Expect::Body(42));
        let change = ledger.begin(0);
        ledger.end(0, change, None, false);
        assert_eq!(ledger.expect(0, ledger.snapshot(0)), Expect::Absent);
        let change = ledger.begin(0);
        ledger.end(0, change, Some(7), true);
        assert_eq!(ledger.expect(0, ledger.snapshot(0)), Expect::Unknown, "a failed write");
    }

    #[test]
    fn overlapping_changes_leave_the_key_unknown() {
        let ledger = Ledger::new(1);
        let first = ledger.begin(0);
        let second = ledger.begin(0);
        ledger.end(0, first, Some(1), false);
        ledger.end(0, second, Some(2), false);
        assert_eq!(ledger.expect(0, ledger.snapshot(0)), Expect::Unknown);
        let alone = ledger.begin(0);
        ledger.end(0, alone, Some(3), false);
        assert_eq!(ledger.expect(0, ledger.snapshot(0)), Expect::Body(3));
    }
}
