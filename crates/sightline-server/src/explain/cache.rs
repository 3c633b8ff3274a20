//! Computed explanations by what determines them: the version's explainer, the request
//! (method and options) and the exact rows (and labels) read. Logged predictions never
//! change, so a hit is the answer the computation would give again; an endpoint's model
//! may change behind its URL, so its entries also expire.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Results kept; the oldest goes first.
const CAPACITY: usize = 256;
/// How long a result computed through a prediction endpoint is trusted.
pub const ENDPOINT_TTL: Duration = Duration::from_secs(600);

pub type Key = [u8; 32];

/// Builds a key from the parts of a computation, each length-prefixed so no two part
/// lists collide.
#[derive(Default)]
pub struct KeyBuilder(Sha256);

impl KeyBuilder {
    pub fn text(mut self, part: &str) -> Self {
        self.0.update((part.len() as u64).to_le_bytes());
        self.0.update(part.as_bytes());
        self
    }

    pub fn numbers<'a>(mut self, rows: impl IntoIterator<Item = &'a Vec<f64>>) -> Self {
        for row in rows {
            self.0.update((row.len() as u64).to_le_bytes());
            for v in row {
                self.0.update(v.to_bits().to_le_bytes());
            }
        }
        self.0.update(u64::MAX.to_le_bytes());
        self
    }

    pub fn finish(self) -> Key {
        self.0.finalize().into()
    }
}

struct Entry {
    at: Instant,
    ttl: Option<Duration>,
    value: Arc<serde_json::Value>,
}

#[derive(Default)]
pub struct ResultCache {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl ResultCache {
    pub fn get(&self, key: &Key) -> Option<Arc<serde_json::Value>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get(key)?;
        if entry.ttl.is_some_and(|ttl| entry.at.elapsed() > ttl) {
            entries.remove(key);
            return None;
        }
        Some(entry.value.clone())
    }

    pub fn put(&self, key: Key, value: Arc<serde_json::Value>, ttl: Option<Duration>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY
            && let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.at).map(|(k, _)| *k)
        {
            entries.remove(&oldest);
        }
        entries.insert(key, Entry { at: Instant::now(), ttl, value });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_their_parts_and_the_cache_keeps_its_capacity() {
        let a = KeyBuilder::default().text("ab").text("c").finish();
        let b = KeyBuilder::default().text("a").text("bc").finish();
        assert_ne!(a, b);
        let rows = [vec![1.0, 2.0]];
        let split = [vec![1.0], vec![2.0]];
        assert_ne!(KeyBuilder::default().numbers(&rows).finish(), KeyBuilder::default().numbers(&split).finish());
        let cache = ResultCache::default();
        for i in 0..CAPACITY + 10 {
            cache.put(KeyBuilder::default().text(&i.to_string()).finish(), Arc::new(serde_json::json!(i)), None);
        }
        assert_eq!(cache.entries.lock().expect("lock").len(), CAPACITY);
        let last = KeyBuilder::default().text(&(CAPACITY + 9).to_string()).finish();
        assert_eq!(cache.get(&last).as_deref(), Some(&serde_json::json!(CAPACITY + 9)));
        cache.put(last, Arc::new(serde_json::json!("x")), Some(Duration::ZERO));
        std::thread::sleep(Duration::from_millis(2));
        assert!(cache.get(&last).is_none());
    }
}
