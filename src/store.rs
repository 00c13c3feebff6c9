//! The store: one cache client's in-process tier, fill guard and counters, behind the small
//! interface both API styles use — `lookup`, `begin_fill`/`fill`/`release`, `ticket_current`,
//! `invalidate_key`, `bump_table`, `clear` — plus the registry of findByPk key heads. A network
//! tier (src/tier/) is a separate handle; when one is used, this in-process tier is its L1.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use napi_derive::napi;

use crate::epoch::{self, Epoch};
use crate::fill::FillGuard;
use crate::frame::{self, DecodeError};
use crate::payload::{Body, Headers};
use crate::stats::{CacheEvent, Stats};
use crate::tier::memory::{Entry, MemoryTier};

/// Why a lookup found nothing usable. Every variant is a miss to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
  /// No entry (or it expired).
  Absent,
  /// The entry was read under a table generation that has since moved; it was dropped.
  Stale,
  /// The entry could not be decoded; it was dropped.
  Corrupt(DecodeError),
}

/// Why a lookup returned no payload, as JS receives it (`cache_get`, `cache_lookup_pk`).
#[napi]
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
  /// No entry (or it expired, or the tier is untrusted).
  Absent = 0,
  /// The entry was read under a table generation that has since moved; it was dropped.
  Stale = 1,
  /// The entry could not be decoded; it was dropped (`cache_take_decode_error` says why).
  Corrupt = 2,
  /// The key could not be built: the value is this plus the unkeyable-reason code (for
  /// `unkeyable_reason`).
  Unkeyable = 16,
}

impl From<&Miss> for Lookup {
  fn from(m: &Miss) -> Self {
    match m {
      Miss::Absent => Lookup::Absent,
      Miss::Stale => Lookup::Stale,
      Miss::Corrupt(_) => Lookup::Corrupt,
    }
  }
}

/// What became of a fill.
#[napi]
#[derive(Debug, PartialEq, Eq)]
pub enum FillOutcome {
  /// An invalidation overtook the read: nothing may be stored anywhere.
  Rejected = 0,
  /// Stored in the in-process tier.
  Stored = 1,
  /// Still current, but the in-process tier is untrusted and stored nothing (other tiers may).
  Untrusted = 2,
}

/// Why the in-process tier may not be trusted to answer: each reason is set and cleared on its
/// own, and the tier is trusted only while none is set.
#[napi]
#[derive(Debug, PartialEq, Eq)]
pub enum TrustReason {
  /// The invalidation subscription (Redis pub/sub) is down, or Redis does not answer a PING:
  /// other processes' writes may be missed.
  Subscription = 1,
  /// A write of this process has not reached the shared tier yet (its token bump is being
  /// retried): what the shared tier holds may be older than the database.
  PendingInvalidation = 2,
}

/// Construction options, validated by the caller.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
  /// Upper bound of the in-process tier, in bytes.
  pub max_bytes: u64,
  /// TTL of entries stored without one.
  pub default_ttl: Duration,
}

/// One cache client's state.
pub struct Store {
  tier: MemoryTier,
  guard: FillGuard,
  stats: Arc<Stats>,
  default_ttl: Duration,
  /// The [`TrustReason`]s currently set, as bits. While any is set the tier neither answers nor
  /// stores, so it is never trusted stale.
  distrust: AtomicU32,
  /// Why the last corrupt entry could not be decoded, until JS asks (one call per warning).
  last_decode_error: Mutex<Option<String>>,
  /// (key head, primary-key attribute) pairs registered by [`Store::register_head`]; the
  /// attribute is empty for the head of a gathered query (see `key::tape`).
  heads: RwLock<Vec<(Arc<str>, Arc<str>)>>,
  /// The header lines of stored payloads (see [`crate::payload`]).
  headers: Headers,
  /// Every change that can make an answer this store gave unreturnable (a table bump, a key
  /// invalidation, a clear, a change of trust, an invalidation message) runs as an
  /// [`Epoch::change`], and an eviction for space moves it, so a reader outside can tell whether
  /// an answer still holds (see [`crate::epoch`]). A fill is no such change: whoever fills knows
  /// its key and forgets it.
  epoch: Epoch,
}

impl Store {
  /// An empty store, trusted.
  pub fn new(opts: StoreOptions) -> Self {
    let stats = Arc::new(Stats::default());
    let epoch = Epoch::default();
    Store {
      tier: MemoryTier::new(opts.max_bytes, stats.clone(), epoch.clone()),
      guard: FillGuard::default(),
      stats,
      default_ttl: opts.default_ttl,
      distrust: AtomicU32::new(0),
      last_decode_error: Mutex::new(None),
      heads: RwLock::new(Vec::new()),
      headers: Headers::default(),
      epoch,
    }
  }

  /// The words of the store's epoch, for a reader on another side (JS reads them through an
  /// `ArrayBuffer` over them, to keep a memo of recent hits; `js/engine/hit-memo.js`).
  pub fn epoch_cell(&self) -> Arc<epoch::Cell> {
    self.epoch.cell()
  }

  /// Registers a key head and the primary-key attribute of its bare `findByPk` (empty for any
  /// other query), once per pair; returns its id.
  pub fn register_head(&self, head: String, attr: String) -> u32 {
    let mut heads = self.heads.write().expect("lock");
    if let Some(i) = heads.iter().position(|(h, a)| **h == *head && **a == *attr) {
      return i as u32;
    }
    heads.push((head.into(), attr.into()));
    (heads.len() - 1) as u32
  }

  /// The (head, attribute) registered as `id`; None for an unknown id. Returned rather than lent,
  /// since a key walk can run JS (getters), which may register another head meanwhile.
  pub fn head(&self, id: u32) -> Option<(Arc<str>, Arc<str>)> {
    let heads = self.heads.read().expect("lock");
    heads.get(id as usize).cloned()
  }

  /// Looks `key` up and hands its payload, as the tier keeps it (see [`crate::payload`]), and the
  /// entry's time left to live to `read`; or says why not. A corrupt entry's decode error is kept for
  /// [`Store::take_decode_error`].
  pub fn lookup<R>(&self, key: &str, slot: u32, read: impl FnOnce(&Body, Duration) -> R) -> Result<R, Lookup> {
    self.get(key, slot, read).map_err(|miss| {
      if let Miss::Corrupt(e) = &miss {
        *self.last_decode_error.lock().expect("lock") = Some(e.to_string());
      }
      Lookup::from(&miss)
    })
  }

  /// The header text interned as `id` (see [`crate::payload`]); None for an id never given out.
  pub fn header(&self, id: u32) -> Option<Arc<str>> {
    self.headers.text(id)
  }

  /// Why the last corrupt entry could not be decoded (once).
  pub fn take_decode_error(&self) -> Option<String> {
    self.last_decode_error.lock().expect("lock").take()
  }

  /// Sets (`trusted: false`) or clears one reason not to trust the in-process tier. The tier is
  /// emptied whenever it goes from trusted to untrusted or back: entries stored before a period of
  /// untrust may have missed invalidations. (Each atomic update sees exactly one side of every
  /// such change, so each change empties it once.)
  pub fn set_trust(&self, reason: TrustReason, trusted: bool) {
    let _change = self.epoch.change();
    let bit = reason as u32;
    let before = if trusted {
      self.distrust.fetch_and(!bit, SeqCst)
    } else {
      self.distrust.fetch_or(bit, SeqCst)
    };
    let after = if trusted { before & !bit } else { before | bit };
    if (before == 0) != (after == 0) {
      self.clear();
    }
  }

  /// Whether the in-process tier may answer and store: no [`TrustReason`] is set.
  pub fn is_trusted(&self) -> bool {
    self.distrust.load(SeqCst) == 0
  }

  /// The counters.
  pub fn stats(&self) -> &Stats {
    &self.stats
  }

  /// The fill guard: table generations and key leases.
  pub fn guard(&self) -> &FillGuard {
    &self.guard
  }

  /// (entries, weighted bytes) held by the in-process tier.
  pub fn usage(&self) -> (u64, u64) {
    self.tier.usage()
  }

  /// Looks `key` up and hands its payload, as the tier keeps it, and its time left to `read`.
  /// Counts the hit or the miss on `slot`.
  pub fn get<R>(&self, key: &str, slot: u32, read: impl FnOnce(&Body, Duration) -> R) -> Result<R, Miss> {
    let found = if self.is_trusted() { self.tier.get(key) } else { None };
    let outcome = match found {
      None => Err(Miss::Absent),
      Some(entry) if !self.guard.deps_current(&entry.deps) => {
        self.tier.remove(key);
        Err(Miss::Stale)
      }
      Some(entry) => match &entry.body {
        Ok(body) => Ok(read(body, entry.time_left())),
        Err(e) => {
          let e = e.clone();
          self.tier.remove(key);
          self.stats.record(slot, CacheEvent::Corrupt);
          Err(Miss::Corrupt(e))
        }
      },
    };
    self.stats.record(
      slot,
      if outcome.is_ok() {
        CacheEvent::Hit
      } else {
        CacheEvent::Miss
      },
    );
    outcome
  }

  /// Starts a fill of `key`, a query that reads `tables` (ids from [`FillGuard::table_id`]).
  pub fn begin_fill(&self, key: &str, tables: &[u32]) -> u32 {
    self.guard.begin(key, tables)
  }

  /// Whether the read behind `ticket` is still as fresh as one begun now (see
  /// [`FillGuard::is_current`]).
  pub fn ticket_current(&self, ticket: u32) -> bool {
    self.guard.is_current(ticket)
  }

  /// Stores `payload` for `ticket` unless an invalidation overtook it. `ttl` of `None` uses the
  /// client default.
  pub fn fill(&self, ticket: u32, payload: &str, ttl: Option<Duration>, slot: u32) -> FillOutcome {
    self.fill_body(ticket, Ok(self.headers.body(payload)), ttl, slot)
  }

  /// As [`Store::fill`] with the payload in an in-process frame (see [`crate::frame`]): how tests
  /// store bytes the codec did not write, which read back as corrupt entries. The frame is read
  /// once, here.
  pub fn fill_frame(&self, ticket: u32, frame: &[u8], ttl: Option<Duration>, slot: u32) -> FillOutcome {
    let body = frame::decode(frame).map(|payload| self.headers.body(payload));
    self.fill_body(ticket, body, ttl, slot)
  }

  fn fill_body(&self, ticket: u32, body: Result<Body, DecodeError>, ttl: Option<Duration>, slot: u32) -> FillOutcome {
    let ttl = ttl.unwrap_or(self.default_ttl);
    let trusted = self.is_trusted();
    let landed = self.guard.land(ticket, |t| {
      if trusted {
        let entry = Entry {
          body,
          deps: t.deps.clone(),
          ttl,
          made: Instant::now(),
        };
        self.tier.insert(t.key.clone(), entry);
      }
    });
    let outcome = match (landed, trusted) {
      (false, _) => FillOutcome::Rejected,
      (true, true) => FillOutcome::Stored,
      (true, false) => FillOutcome::Untrusted,
    };
    match outcome {
      FillOutcome::Rejected => self.stats.record(slot, CacheEvent::FillRejected),
      FillOutcome::Stored => self.stats.record(slot, CacheEvent::Fill),
      FillOutcome::Untrusted => {}
    }
    outcome
  }

  /// Ends a ticket: its read failed, or its flight (fill and sharing) is over.
  pub fn release(&self, ticket: u32) {
    self.guard.release(ticket);
  }

  /// Removes `key` and voids any fill of it in flight.
  pub fn invalidate_key(&self, key: &str) {
    let _change = self.epoch.change();
    self.guard.invalidate_key(key, || self.tier.remove(key));
  }

  /// Makes every entry and in-flight fill that read `table` stale, in O(1).
  pub fn bump_table(&self, table: u32) {
    let _change = self.epoch.change();
    self.guard.bump(table);
  }

  /// Removes every entry and voids every fill in flight.
  pub fn clear(&self) {
    let _change = self.epoch.change();
    self.guard.clear(|| self.tier.clear());
  }

  /// Applies an invalidation message from another process: table names, one per line. Only
  /// tables this process already knows are bumped (a table it never read has nothing here to make
  /// stale), so names from outside never take memory. A message longer than
  /// [`MAX_INVALIDATION_MESSAGE_BYTES`] is not read: everything is dropped instead, which is
  /// always safe.
  pub fn apply_invalidation(&self, message: &[u8]) {
    if message.len() > MAX_INVALIDATION_MESSAGE_BYTES {
      self.clear();
      return;
    }
    let Ok(text) = std::str::from_utf8(message) else {
      return;
    };
    let known: Vec<u32> = text
      .split('\n')
      .filter_map(|table| self.guard.known_table_id(table))
      .collect();
    if known.is_empty() {
      // Another process wrote tables this one never read: no answer here changes.
      return;
    }
    // One change for every table of the message: no answer is given from outside until all are bumped.
    let _change = self.epoch.change();
    for id in known {
      self.guard.bump(id);
    }
  }
}

/// The longest invalidation message read name by name; a write names a handful of tables.
pub const MAX_INVALIDATION_MESSAGE_BYTES: usize = 16 * 1024;

#[cfg(test)]
mod tests {
  use super::*;

  fn store() -> Store {
    Store::new(StoreOptions {
      max_bytes: 1 << 20,
      default_ttl: Duration::from_secs(60),
    })
  }

  #[test]
  fn read_aside_round_trip() {
    let e = store();
    let s = e.stats().slot("User", "findAll");
    assert_eq!(e.lookup("k", s, |b, _| b.clone()), Err(Lookup::Absent));
    let t = e.begin_fill("k", &[]);
    assert_eq!(e.fill(t, "[1]", None, s), FillOutcome::Stored);
    assert_eq!(e.lookup("k", s, |b, _| b.clone()), Ok(Body::Whole("[1]".into())));
    let snap = &e.stats().snapshot()[s as usize];
    assert_eq!((snap.hits, snap.misses, snap.fills), (1, 1, 1));
  }

  #[test]
  fn entries_of_a_bumped_table_are_stale() {
    let e = store();
    let users = e.guard().table_id("Users");
    let t = e.begin_fill("k", &[users]);
    assert_eq!(e.fill(t, "[1]", None, 0), FillOutcome::Stored);
    e.bump_table(users);
    assert_eq!(e.get("k", 0, |_, _| ()), Err(Miss::Stale));
    assert_eq!(e.get("k", 0, |_, _| ()), Err(Miss::Absent));
  }

  #[test]
  fn a_fill_overtaken_by_invalidation_does_not_land() {
    let e = store();
    let t = e.begin_fill("k", &[]);
    e.invalidate_key("k");
    assert_eq!(e.fill(t, "[1]", None, 0), FillOutcome::Rejected);
    assert_eq!(e.get("k", 0, |_, _| ()), Err(Miss::Absent));
  }

  #[test]
  fn an_untrusted_tier_neither_answers_nor_stores_and_is_emptied() {
    let e = store();
    let t = e.begin_fill("k", &[]);
    assert_eq!(e.fill(t, "[1]", None, 0), FillOutcome::Stored);
    e.set_trust(TrustReason::Subscription, false);
    assert_eq!(e.get("k", 0, |_, _| ()), Err(Miss::Absent));
    let t = e.begin_fill("j", &[]);
    assert_eq!(e.fill(t, "[2]", None, 0), FillOutcome::Untrusted);
    e.set_trust(TrustReason::Subscription, true);
    assert_eq!(
      e.get("k", 0, |_, _| ()),
      Err(Miss::Absent),
      "emptied when trust changed"
    );
  }

  #[test]
  fn the_tier_is_trusted_only_while_no_reason_is_set() {
    let e = store();
    e.set_trust(TrustReason::Subscription, false);
    e.set_trust(TrustReason::PendingInvalidation, false);
    e.set_trust(TrustReason::Subscription, true);
    assert!(!e.is_trusted(), "a pending invalidation alone keeps it untrusted");
    let t = e.begin_fill("k", &[]);
    assert_eq!(e.fill(t, "[1]", None, 0), FillOutcome::Untrusted);
    e.set_trust(TrustReason::PendingInvalidation, true);
    assert!(e.is_trusted());
    let t = e.begin_fill("k", &[]);
    assert_eq!(e.fill(t, "[1]", None, 0), FillOutcome::Stored);
    e.set_trust(TrustReason::PendingInvalidation, true);
    assert_eq!(
      e.get("k", 0, |_, _| ()),
      Ok(()),
      "clearing a reason that is not set changes nothing"
    );
  }

  #[test]
  fn invalidation_messages_bump_known_tables_and_take_no_memory() {
    let e = store();
    let users = e.guard().table_id("Users");
    let t = e.begin_fill("k", &[users]);
    assert_eq!(e.fill(t, "[1]", None, 0), FillOutcome::Stored);
    let message: String = (0..5_000).map(|i| format!("made-up-{i}\n")).collect();
    e.apply_invalidation(&message.as_bytes()[..MAX_INVALIDATION_MESSAGE_BYTES]);
    assert_eq!(e.guard().table_count(), 1, "unknown names register nothing");
    assert_eq!(e.get("k", 0, |_, _| ()), Ok(()), "and bump nothing");
    e.apply_invalidation(b"Orders\nUsers");
    assert_eq!(e.get("k", 0, |_, _| ()), Err(Miss::Stale), "a known table is bumped");
  }

  #[test]
  fn an_oversized_invalidation_message_drops_everything() {
    let e = store();
    let t = e.begin_fill("k", &[]);
    assert_eq!(e.fill(t, "[1]", None, 0), FillOutcome::Stored);
    e.apply_invalidation(&vec![b'x'; MAX_INVALIDATION_MESSAGE_BYTES + 1]);
    assert_eq!(e.get("k", 0, |_, _| ()), Err(Miss::Absent));
    assert_eq!(e.guard().table_count(), 0);
  }

  #[test]
  fn corrupt_entries_are_misses_and_are_dropped() {
    let e = store();
    let s = e.stats().slot("User", "findAll");
    let t = e.begin_fill("k", &[]);
    assert_eq!(e.fill_frame(t, b"garbage", None, s), FillOutcome::Stored);
    assert_eq!(e.get("k", s, |_, _| ()), Err(Miss::Corrupt(DecodeError::TooShort)));
    assert_eq!(e.get("k", s, |_, _| ()), Err(Miss::Absent));
    assert_eq!(e.stats().snapshot()[s as usize].corrupt, 1);
  }

  #[test]
  fn every_change_that_can_void_an_answer_moves_the_epoch_and_nothing_else_does() {
    let e = store();
    let cell = e.epoch_cell();
    let now = || {
      assert_eq!(cell[1].load(SeqCst), 0, "no change is left in progress");
      cell[0].load(SeqCst)
    };
    let users = e.guard().table_id("Users");
    let mut last = now();
    let mut moves = |what: &str, moved: bool| {
      let n = now();
      assert_eq!(n != last, moved, "{what}");
      last = n;
    };
    let t = e.begin_fill("k", &[users]);
    assert_eq!(e.fill(t, "[1]", None, 0), FillOutcome::Stored);
    e.release(t);
    assert_eq!(e.lookup("k", 0, |_, _| ()), Ok(()));
    moves("a fill and a lookup", false);
    e.bump_table(users);
    moves("a table bump", true);
    e.invalidate_key("k");
    moves("a key invalidation", true);
    e.clear();
    moves("a clear", true);
    e.set_trust(TrustReason::Subscription, false);
    moves("losing trust", true);
    e.set_trust(TrustReason::PendingInvalidation, false);
    moves("another reason not to trust", true);
    e.set_trust(TrustReason::Subscription, true);
    e.set_trust(TrustReason::PendingInvalidation, true);
    moves("regaining trust", true);
    e.apply_invalidation(b"Orders\nPosts");
    moves("an invalidation message naming no table this process knows", false);
    e.apply_invalidation(b"Orders\nUsers");
    moves("an invalidation message", true);
    e.apply_invalidation(&vec![b'x'; MAX_INVALIDATION_MESSAGE_BYTES + 1]);
    moves("an oversized invalidation message", true);
  }

  #[test]
  fn a_hit_tells_the_time_its_entry_has_left() {
    let e = store();
    let t = e.begin_fill("k", &[]);
    assert_eq!(e.fill(t, "[1]", Some(Duration::from_secs(30)), 0), FillOutcome::Stored);
    let left = e.lookup("k", 0, |_, left| left).expect("a hit");
    assert!(
      left <= Duration::from_secs(30) && left > Duration::from_secs(29),
      "{left:?}"
    );
  }
}
