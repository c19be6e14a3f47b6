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
    let Ok(mut entries) = ENTRIES.try_lock() else { return };
    if entries.len() >= CAPACITY {
        entries.remove(0);
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

/// Drops every kept UDF.
pub fn clear() {
    if let Ok(mut entries) = ENTRIES.try_lock() {
        entries.clear();
    }
}
