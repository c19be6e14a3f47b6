//! Decoded immutable Python UDFs, kept so that the same payload arriving
//! again reuses its callable instead of running the unpickler again.
//!
//! Only `immutable` UDFs are kept: their result depends on their inputs
//! alone, so sharing one callable between expressions is invisible. `stable`
//! and `volatile` UDFs may keep state and are rebuilt on every decode.
//!
//! Entries are keyed by the UDF's name and its whole payload (type, closure
//! and code included), compared byte for byte. The cache is small, bounded
//! and process-wide; it is never waited on: a contended or (after `fork`)
//! orphaned lock just skips it.

use std::any::Any;
use std::sync::{Arc, Mutex};

/// Most entries kept; the oldest goes first.
const CAPACITY: usize = 256;
/// Most payload bytes kept over all entries (a payload's callable, closure
/// included, can be large); the oldest go first. A payload over a quarter of
/// this is not kept at all.
const CAPACITY_BYTES: usize = 64 * 1024 * 1024;

struct Entry {
    hash: u32,
    name: String,
    payload: Box<[u8]>,
    udf: Arc<dyn Any + Send + Sync>,
}

static ENTRIES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// Bytes of each end of a payload that its fingerprint covers.
const FINGERPRINT_ENDS: usize = 4096;

/// A fingerprint of the key that costs the same for any payload size: the
/// name, the length and both ends of the payload (a closure's captured data
/// can be megabytes, and the frame's check has already read every byte
/// once). Entries with the same fingerprint are still compared whole.
fn key_hash(name: &str, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(name.as_bytes());
    h.update(&[0]);
    h.update(&(payload.len() as u64).to_le_bytes());
    if payload.len() <= 2 * FINGERPRINT_ENDS {
        h.update(payload);
    } else {
        h.update(&payload[..FINGERPRINT_ENDS]);
        h.update(&payload[payload.len() - FINGERPRINT_ENDS..]);
    }
    h.finalize()
}

pub fn get<T: Send + Sync + 'static>(name: &str, payload: &[u8]) -> Option<Arc<T>> {
    let hash = key_hash(name, payload);
    let entries = ENTRIES.try_lock().ok()?;
    let entry = entries.iter().find(|e| e.hash == hash && e.name == name && *e.payload == *payload)?;
    Arc::clone(&entry.udf).downcast::<T>().ok()
}

pub fn put<T: Send + Sync + 'static>(name: &str, payload: &[u8], udf: Arc<T>) {
    if payload.len() > CAPACITY_BYTES / 4 {
        return;
    }
    let Ok(mut entries) = ENTRIES.try_lock() else { return };
    let mut held: usize = entries.iter().map(|e| e.payload.len()).sum();
    while !entries.is_empty() && (entries.len() >= CAPACITY || held + payload.len() > CAPACITY_BYTES) {
        held -= entries.remove(0).payload.len();
    }
    entries.push(Entry {
        hash: key_hash(name, payload),
        name: name.to_owned(),
        payload: payload.into(),
        udf,
    });
}

/// How many decoded UDFs are kept (for tests and diagnostics).
pub fn len() -> usize {
    ENTRIES.try_lock().map_or(0, |e| e.len())
}

/// How many payload bytes the kept UDFs hold.
#[cfg(test)]
fn bytes() -> usize {
    ENTRIES.try_lock().map_or(0, |e| e.iter().map(|e| e.payload.len()).sum())
}

/// Drops every kept UDF.
pub fn clear() {
    if let Ok(mut entries) = ENTRIES.try_lock() {
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads_alike_at_both_ends_are_told_apart() {
        let mut first = vec![3_u8; 10 * FINGERPRINT_ENDS];
        let mut second = first.clone();
        second[5 * FINGERPRINT_ENDS] = 4;
        assert_eq!(key_hash("same_ends", &first), key_hash("same_ends", &second));
        put("same_ends", &first, Arc::new(1_u8));
        assert!(get::<u8>("same_ends", &second).is_none(), "the middle differs");
        put("same_ends", &second, Arc::new(2_u8));
        assert_eq!(get::<u8>("same_ends", &second).as_deref(), Some(&2));
        assert_eq!(get::<u8>("same_ends", &first).as_deref(), Some(&1));
        first[0] = 9;
        assert!(get::<u8>("same_ends", &first).is_none());
    }

    /// One test: the cache is process-wide, and a test running beside
    /// another would find its lock taken or its entries cleared.
    #[test]
    fn keyed_whole_and_bounded() {
        payloads_alike_at_both_ends_are_told_apart();
        bounded_by_bytes_as_well_as_entries();
    }

    fn bounded_by_bytes_as_well_as_entries() {
        let big = vec![7_u8; 10 * 1024 * 1024];
        for i in 0..10_u8 {
            let mut payload = big.clone();
            payload[0] = i;
            put(&format!("bytes_bound_{i}"), &payload, Arc::new(i));
            assert!(bytes() <= CAPACITY_BYTES, "{} bytes kept", bytes());
        }
        let mut first = big.clone();
        first[0] = 0;
        assert!(get::<u8>("bytes_bound_0", &first).is_none(), "the oldest went first");
        let mut last = big.clone();
        last[0] = 9;
        assert_eq!(get::<u8>("bytes_bound_9", &last).as_deref(), Some(&9));
        let oversized = vec![1_u8; CAPACITY_BYTES / 4 + 1];
        put("bytes_bound_oversized", &oversized, Arc::new(0_u8));
        assert!(get::<u8>("bytes_bound_oversized", &oversized).is_none());
        clear();
    }
}
