//! The in-process tier: a moka cache bounded in bytes, with a TTL per entry.
//!
//! Lookups are synchronous and lock-free on the read path (moka), which is why a hit costs a
//! plain N-API call and no promise.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;

use crate::epoch::Epoch;
use crate::frame::DecodeError;
use crate::payload::Body;
use crate::stats::Stats;

/// Fixed bytes charged per entry on top of its key and value, for moka's own bookkeeping.
pub const ENTRY_OVERHEAD: u32 = 96;

/// A stored value and what it was computed from.
#[derive(Debug)]
pub struct Entry {
  /// The payload, split or whole (see [`crate::payload`]); or why bytes stored as a frame could
  /// not be read, which a lookup reports as a corrupt entry.
  pub body: Result<Body, DecodeError>,
  /// (model id, generation) pairs the value was read under; stale once any generation moved.
  pub deps: Box<[(u32, u64)]>,
  /// Time to live, fixed when the entry is stored.
  pub ttl: Duration,
  /// When the entry was made, taken before it is handed to the tier: no later than the time its
  /// TTL runs from there, so [`Entry::time_left`] never outlasts the tier's own expiry.
  pub made: Instant,
}

impl Entry {
  /// How long the entry has left to live (zero once its TTL has run out).
  pub fn time_left(&self) -> Duration {
    self.ttl.saturating_sub(self.made.elapsed())
  }
}

struct PerEntryTtl;

impl Expiry<Arc<str>, Arc<Entry>> for PerEntryTtl {
  fn expire_after_create(&self, _key: &Arc<str>, value: &Arc<Entry>, _now: Instant) -> Option<Duration> {
    Some(value.ttl)
  }

  fn expire_after_update(
    &self,
    _key: &Arc<str>,
    value: &Arc<Entry>,
    _now: Instant,
    _remaining: Option<Duration>,
  ) -> Option<Duration> {
    // A replaced entry gets the new value's full TTL.
    Some(value.ttl)
  }
}

/// The in-process tier. Cloning shares the same cache.
#[derive(Clone)]
pub struct MemoryTier {
  cache: Cache<Arc<str>, Arc<Entry>>,
}

impl MemoryTier {
  /// A tier holding at most `max_bytes` (keys, values and [`ENTRY_OVERHEAD`] counted). An entry
  /// evicted for space moves `epoch`: an answer for it is no longer the tier's.
  pub fn new(max_bytes: u64, stats: Arc<Stats>, epoch: Epoch) -> Self {
    let cache = Cache::builder()
      .max_capacity(max_bytes)
      .weigher(|k: &Arc<str>, v: &Arc<Entry>| -> u32 {
        let body = v.body.as_ref().map_or(0, Body::len);
        let bytes = k.len() + body + v.deps.len() * 12;
        u32::try_from(bytes).unwrap_or(u32::MAX).saturating_add(ENTRY_OVERHEAD)
      })
      .expire_after(PerEntryTtl)
      .eviction_listener(move |_k, _v, cause| match cause {
        RemovalCause::Size => {
          stats.evictions.fetch_add(1, Relaxed);
          epoch.moved();
        }
        RemovalCause::Expired => {
          stats.expirations.fetch_add(1, Relaxed);
        }
        RemovalCause::Explicit | RemovalCause::Replaced => {}
      })
      .build();
    MemoryTier { cache }
  }

  /// The entry under `key`, if present and not expired.
  pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
    self.cache.get(key)
  }

  /// Stores `entry` under `key`, replacing any previous one.
  pub fn insert(&self, key: Arc<str>, entry: Entry) {
    self.cache.insert(key, Arc::new(entry));
  }

  /// Removes `key`.
  pub fn remove(&self, key: &str) {
    self.cache.invalidate(key);
  }

  /// Removes everything.
  pub fn clear(&self) {
    self.cache.invalidate_all();
  }

  /// Entries and weighted bytes, after moka has applied its pending bookkeeping.
  pub fn usage(&self) -> (u64, u64) {
    self.cache.run_pending_tasks();
    (self.cache.entry_count(), self.cache.weighted_size())
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn entry(n: usize, ttl_ms: u64) -> Entry {
    Entry {
      body: Ok(Body::Whole("x".repeat(n).into())),
      deps: Box::new([]),
      ttl: Duration::from_millis(ttl_ms),
      made: Instant::now(),
    }
  }

  #[test]
  fn stays_under_its_byte_bound() {
    let stats = Arc::new(Stats::default());
    let epoch = Epoch::default();
    let tier = MemoryTier::new(64 * 1024, stats.clone(), epoch.clone());
    for i in 0..1000 {
      tier.insert(Arc::from(format!("k{i}")), entry(1000, 60_000));
    }
    let (_, bytes) = tier.usage();
    assert!(bytes <= 64 * 1024, "weighted size {bytes} over the bound");
    assert!(stats.evictions.load(Relaxed) > 0);
    assert_eq!(
      epoch.value() as u64,
      stats.evictions.load(Relaxed),
      "each eviction moved the epoch"
    );
  }

  #[test]
  fn expires_each_entry_after_its_own_ttl() {
    let tier = MemoryTier::new(1 << 20, Arc::new(Stats::default()), Epoch::default());
    tier.insert(Arc::from("short"), entry(10, 30));
    tier.insert(Arc::from("long"), entry(10, 60_000));
    std::thread::sleep(Duration::from_millis(80));
    assert!(tier.get("short").is_none());
    assert!(tier.get("long").is_some());
  }

  #[test]
  fn time_left_counts_down_from_the_ttl() {
    let e = entry(1, 60_000);
    assert!(e.time_left() <= Duration::from_millis(60_000));
    assert!(e.time_left() > Duration::from_millis(59_000));
    let gone = entry(1, 0);
    assert_eq!(gone.time_left(), Duration::ZERO);
  }
}
