//! Counters per model and method, plus tier-wide eviction counts.
//!
//! A *slot* is one (model, method) pair; the shim registers it once and passes its number on
//! every call, so the hot path increments an atomic instead of hashing two strings.

use std::collections::BTreeMap;

use napi_derive::napi;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, RwLock};

/// What happened to one call or one fill. The ones that happen outside the in-process tier are
/// counted in JS and reported here in bulk through `cache_record_events`.
#[napi]
#[derive(Debug, PartialEq, Eq)]
pub enum CacheEvent {
  /// Served from the cache.
  Hit = 0,
  /// Not in the cache (or expired, stale or unreadable): the database answered.
  Miss = 1,
  /// A database result was stored.
  Fill = 2,
  /// A database result was not stored because an invalidation happened while it was read.
  FillRejected = 3,
  /// An entry failed to decode (or was rejected by its frame) and was dropped.
  Corrupt = 4,
  /// Served by the network tier behind the in-process one (recorded by the shim).
  RemoteHit = 5,
  /// Not found (or stale, or unreachable) in the network tier.
  RemoteMiss = 6,
  /// A database result was stored in the network tier.
  RemoteFill = 7,
}

#[derive(Default)]
struct Counters {
  hits: AtomicU64,
  misses: AtomicU64,
  fills: AtomicU64,
  fills_rejected: AtomicU64,
  corrupt: AtomicU64,
  remote_hits: AtomicU64,
  remote_misses: AtomicU64,
  remote_fills: AtomicU64,
}

struct Slot {
  model: String,
  method: String,
  counters: Counters,
}

/// One slot's counters as read by [`Stats::snapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotSnapshot {
  pub model: String,
  pub method: String,
  pub hits: u64,
  pub misses: u64,
  pub fills: u64,
  pub fills_rejected: u64,
  pub corrupt: u64,
  pub remote_hits: u64,
  pub remote_misses: u64,
  pub remote_fills: u64,
  pub bypasses: u64,
  /// Bypass counts by reason, sorted by reason.
  pub bypass_reasons: BTreeMap<String, u64>,
}

/// All counters of one cache client.
#[derive(Default)]
pub struct Stats {
  slots: RwLock<Vec<Slot>>,
  bypasses: Mutex<BTreeMap<(u32, String), u64>>,
  /// Entries removed to stay under the byte bound.
  pub evictions: AtomicU64,
  /// Entries removed because their TTL passed.
  pub expirations: AtomicU64,
}

impl Stats {
  /// Returns the slot number of (model, method), registering it on first use.
  pub fn slot(&self, model: &str, method: &str) -> u32 {
    if let Some(i) = self.find(model, method) {
      return i;
    }
    let mut slots = self.slots.write().expect("stats lock");
    // Another thread may have registered it between the read and the write lock.
    if let Some(i) = slots.iter().position(|s| s.model == model && s.method == method) {
      return i as u32;
    }
    slots.push(Slot {
      model: model.to_owned(),
      method: method.to_owned(),
      counters: Counters::default(),
    });
    (slots.len() - 1) as u32
  }

  fn find(&self, model: &str, method: &str) -> Option<u32> {
    let slots = self.slots.read().expect("stats lock");
    slots
      .iter()
      .position(|s| s.model == model && s.method == method)
      .map(|i| i as u32)
  }

  /// Counts `event` for `slot`; an unknown slot is ignored (stats never fail a call).
  pub fn record(&self, slot: u32, event: CacheEvent) {
    self.record_n(slot, event, 1);
  }

  /// Counts `n` occurrences of `event` for `slot` (events the shim counted since it last
  /// reported); an unknown slot is ignored.
  pub fn record_n(&self, slot: u32, event: CacheEvent, n: u64) {
    let slots = self.slots.read().expect("stats lock");
    let Some(s) = slots.get(slot as usize) else { return };
    let c = &s.counters;
    let counter = match event {
      CacheEvent::Hit => &c.hits,
      CacheEvent::Miss => &c.misses,
      CacheEvent::Fill => &c.fills,
      CacheEvent::FillRejected => &c.fills_rejected,
      CacheEvent::Corrupt => &c.corrupt,
      CacheEvent::RemoteHit => &c.remote_hits,
      CacheEvent::RemoteMiss => &c.remote_misses,
      CacheEvent::RemoteFill => &c.remote_fills,
    };
    counter.fetch_add(n, Relaxed);
  }

  /// Counts a call that went to the database without touching the cache, and why.
  pub fn record_bypass(&self, slot: u32, reason: &str) {
    let mut b = self.bypasses.lock().expect("stats lock");
    *b.entry((slot, reason.to_owned())).or_insert(0) += 1;
  }

  /// Reads every slot's counters.
  pub fn snapshot(&self) -> Vec<SlotSnapshot> {
    let slots = self.slots.read().expect("stats lock");
    let bypasses = self.bypasses.lock().expect("stats lock");
    let mut out: Vec<SlotSnapshot> = slots
      .iter()
      .map(|s| SlotSnapshot {
        model: s.model.clone(),
        method: s.method.clone(),
        hits: s.counters.hits.load(Relaxed),
        misses: s.counters.misses.load(Relaxed),
        fills: s.counters.fills.load(Relaxed),
        fills_rejected: s.counters.fills_rejected.load(Relaxed),
        corrupt: s.counters.corrupt.load(Relaxed),
        remote_hits: s.counters.remote_hits.load(Relaxed),
        remote_misses: s.counters.remote_misses.load(Relaxed),
        remote_fills: s.counters.remote_fills.load(Relaxed),
        ..SlotSnapshot::default()
      })
      .collect();
    for ((slot, reason), n) in bypasses.iter() {
      if let Some(s) = out.get_mut(*slot as usize) {
        s.bypasses += n;
        s.bypass_reasons.insert(reason.clone(), *n);
      }
    }
    out
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn counts_per_slot_and_reason() {
    let s = Stats::default();
    let a = s.slot("User", "findByPk");
    let b = s.slot("User", "findAll");
    assert_eq!(s.slot("User", "findByPk"), a);
    assert_ne!(a, b);
    s.record(a, CacheEvent::Hit);
    s.record(a, CacheEvent::Hit);
    s.record(b, CacheEvent::Miss);
    s.record_bypass(b, "transaction");
    s.record_bypass(b, "transaction");
    s.record_bypass(b, "lock");
    s.record(99, CacheEvent::Hit);
    let snap = s.snapshot();
    assert_eq!(snap[a as usize].hits, 2);
    assert_eq!(snap[b as usize].misses, 1);
    assert_eq!(snap[b as usize].bypasses, 3);
    assert_eq!(snap[b as usize].bypass_reasons["transaction"], 2);
  }
}
