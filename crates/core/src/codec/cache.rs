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

fn key_hash(name: &str, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(name.as_bytes());
    h.update(&[0]);
    h.update(payload);
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

    #[test]
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
