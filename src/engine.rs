//! The engine: one cache client's tiers, fill guard and counters, behind the small interface
//! both API styles use — `get`, `begin_fill`/`fill`/`abandon`, `invalidate_key`, `bump_model`,
//! `clear`. Network tiers plug in here.

use std::sync::Arc;
use std::time::Duration;

use crate::codec::{self, DecodeError};
use crate::fill::FillGuard;
use crate::stats::{Event, Stats};
use crate::tier::memory::{Entry, MemoryTier};

/// Why a lookup found nothing usable. Every variant is a miss to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
  /// No entry (or it expired).
  Absent,
  /// The entry was read under a model generation that has since moved; it was dropped.
  Stale,
  /// The entry could not be decoded; it was dropped.
  Corrupt(DecodeError),
}

/// Construction options, validated by the caller.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
  pub max_bytes: u64,
  pub default_ttl: Duration,
}

/// One cache client's state.
pub struct Engine {
  tier: MemoryTier,
  guard: FillGuard,
  stats: Arc<Stats>,
  default_ttl: Duration,
}

impl Engine {
  pub fn new(opts: EngineOptions) -> Self {
    let stats = Arc::new(Stats::default());
    Engine {
      tier: MemoryTier::new(opts.max_bytes, stats.clone()),
      guard: FillGuard::default(),
      stats,
      default_ttl: opts.default_ttl,
    }
  }

  pub fn stats(&self) -> &Stats {
    &self.stats
  }

  pub fn guard(&self) -> &FillGuard {
    &self.guard
  }

  /// (entries, weighted bytes) held by the in-process tier.
  pub fn usage(&self) -> (u64, u64) {
    self.tier.usage()
  }

  /// Looks `key` up and hands its payload to `read`. Counts the hit or the miss on `slot`.
  pub fn get<R>(&self, key: &str, slot: u32, read: impl FnOnce(&str) -> R) -> Result<R, Miss> {
    let outcome = match self.tier.get(key) {
      None => Err(Miss::Absent),
      Some(entry) if !self.guard.is_current(&entry.deps) => {
        self.tier.remove(key);
        Err(Miss::Stale)
      }
      Some(entry) => match codec::decode(&entry.frame) {
        Ok(payload) => Ok(read(payload)),
        Err(e) => {
          self.tier.remove(key);
          self.stats.record(slot, Event::Corrupt);
          Err(Miss::Corrupt(e))
        }
      },
    };
    self
      .stats
      .record(slot, if outcome.is_ok() { Event::Hit } else { Event::Miss });
    outcome
  }

  /// Starts a fill of `key`, a query that reads `models` (ids from [`FillGuard::model_id`]).
  pub fn begin_fill(&self, key: &str, models: &[u32]) -> u32 {
    self.guard.begin(key, models)
  }

  /// Stores `payload` for `ticket` unless an invalidation overtook it. `ttl` of `None` uses the
  /// client default. Returns whether it stored.
  pub fn fill(&self, ticket: u32, payload: &str, ttl: Option<Duration>, slot: u32) -> bool {
    let frame = codec::encode(payload).into_boxed_slice();
    self.fill_frame(ticket, frame, ttl, slot)
  }

  /// As [`Engine::fill`] with an already framed value (also used to store foreign bytes in tests).
  pub fn fill_frame(&self, ticket: u32, frame: Box<[u8]>, ttl: Option<Duration>, slot: u32) -> bool {
    let ttl = ttl.unwrap_or(self.default_ttl);
    let stored = self.guard.land(ticket, |t| {
      self.tier.insert(
        t.key.clone(),
        Entry {
          frame,
          deps: t.deps.clone(),
          ttl,
        },
      );
    });
    self
      .stats
      .record(slot, if stored { Event::Fill } else { Event::FillRejected });
    stored
  }

  /// Drops a ticket whose database read failed.
  pub fn abandon(&self, ticket: u32) {
    self.guard.abandon(ticket);
  }

  /// Removes `key` and voids any fill of it in flight.
  pub fn invalidate_key(&self, key: &str) {
    self.guard.invalidate_key(key, || self.tier.remove(key));
  }

  /// Makes every entry and in-flight fill that read `model` stale, in O(1).
  pub fn bump_model(&self, model: u32) {
    self.guard.bump(model);
  }

  /// Removes every entry and voids every fill in flight.
  pub fn clear(&self) {
    self.guard.clear(|| self.tier.clear());
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn engine() -> Engine {
    Engine::new(EngineOptions {
      max_bytes: 1 << 20,
      default_ttl: Duration::from_secs(60),
    })
  }

  #[test]
  fn read_aside_round_trip() {
    let e = engine();
    let s = e.stats().slot("User", "findAll");
    assert_eq!(e.get("k", s, |p| p.to_owned()), Err(Miss::Absent));
    let t = e.begin_fill("k", &[]);
    assert!(e.fill(t, "[1]", None, s));
    assert_eq!(e.get("k", s, |p| p.to_owned()), Ok("[1]".to_owned()));
    let snap = &e.stats().snapshot()[s as usize];
    assert_eq!((snap.hits, snap.misses, snap.fills), (1, 1, 1));
  }

  #[test]
  fn entries_of_a_bumped_model_are_stale() {
    let e = engine();
    let users = e.guard().model_id("Users");
    let t = e.begin_fill("k", &[users]);
    assert!(e.fill(t, "[1]", None, 0));
    e.bump_model(users);
    assert_eq!(e.get("k", 0, |_| ()), Err(Miss::Stale));
    assert_eq!(e.get("k", 0, |_| ()), Err(Miss::Absent));
  }

  #[test]
  fn a_fill_overtaken_by_invalidation_does_not_land() {
    let e = engine();
    let t = e.begin_fill("k", &[]);
    e.invalidate_key("k");
    assert!(!e.fill(t, "[1]", None, 0));
    assert_eq!(e.get("k", 0, |_| ()), Err(Miss::Absent));
  }

  #[test]
  fn corrupt_entries_are_misses_and_are_dropped() {
    let e = engine();
    let s = e.stats().slot("User", "findAll");
    let t = e.begin_fill("k", &[]);
    assert!(e.fill_frame(t, b"garbage".to_vec().into_boxed_slice(), None, s));
    assert_eq!(e.get("k", s, |_| ()), Err(Miss::Corrupt(DecodeError::TooShort)));
    assert_eq!(e.get("k", s, |_| ()), Err(Miss::Absent));
    assert_eq!(e.stats().snapshot()[s as usize].corrupt, 1);
  }
}
