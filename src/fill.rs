//! Version checks that keep a late fill from resurrecting stale data.
//!
//! A read that misses takes a *ticket* before it queries the database. The ticket records
//! the generation of every model the query reads and holds a *lease* on the key. Between
//! that moment and the fill:
//! - an invalidation of one of those models bumps its generation,
//! - an invalidation of the key voids its lease,
//! - `clear()` moves the epoch,
//!
//! and any of these makes the fill a no-op. Stored entries also carry the generations they were
//! read under, so a reader rejects an entry whose model moved on even if its fill raced the bump.
//!
//! Invariant (kept by [`FillGuard::land`] and [`FillGuard::invalidate_key`], which both hold the
//! lease lock while touching the tier): once `invalidate_key(k)` returns, no fill whose ticket
//! was taken before it can store `k`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, RwLock};

/// Tickets outstanding at once before the oldest are voided (protects against callers that
/// never complete a fill; voiding a ticket only costs that fill).
pub const MAX_OUTSTANDING_TICKETS: usize = 65_536;

/// A pending fill.
#[derive(Debug, Clone)]
pub struct Ticket {
  pub key: Arc<str>,
  pub deps: Box<[(u32, u64)]>,
  epoch: u64,
  lease: u64,
}

#[derive(Default)]
struct Leases {
  by_key: HashMap<Arc<str>, u64>,
  tickets: HashMap<u32, Ticket>,
  next_lease: u64,
  next_ticket: u32,
}

/// Generations per model, leases per key, and the clear epoch.
#[derive(Default)]
pub struct FillGuard {
  model_ids: Mutex<HashMap<String, u32>>,
  generations: RwLock<Vec<AtomicU64>>,
  epoch: AtomicU64,
  leases: Mutex<Leases>,
}

impl FillGuard {
  /// The id of the model (or table) called `name`, registering it on first use.
  pub fn model_id(&self, name: &str) -> u32 {
    let mut ids = self.model_ids.lock().expect("guard lock");
    if let Some(id) = ids.get(name) {
      return *id;
    }
    let mut gens = self.generations.write().expect("guard lock");
    gens.push(AtomicU64::new(0));
    let id = (gens.len() - 1) as u32;
    ids.insert(name.to_owned(), id);
    id
  }

  /// The current generation of `model`; unknown ids read as generation 0.
  pub fn generation(&self, model: u32) -> u64 {
    let gens = self.generations.read().expect("guard lock");
    gens.get(model as usize).map_or(0, |g| g.load(SeqCst))
  }

  /// Moves `model` to a new generation: every entry and pending fill that read it is now stale.
  pub fn bump(&self, model: u32) {
    let gens = self.generations.read().expect("guard lock");
    if let Some(g) = gens.get(model as usize) {
      g.fetch_add(1, SeqCst);
    }
  }

  /// True when every (model, generation) pair is still current.
  pub fn is_current(&self, deps: &[(u32, u64)]) -> bool {
    let gens = self.generations.read().expect("guard lock");
    deps
      .iter()
      .all(|(m, g)| gens.get(*m as usize).map_or(*g == 0, |cur| cur.load(SeqCst) == *g))
  }

  /// Starts a fill of `key` that reads `models`; returns its ticket number.
  pub fn begin(&self, key: &str, models: &[u32]) -> u32 {
    let deps: Box<[(u32, u64)]> = {
      let gens = self.generations.read().expect("guard lock");
      models
        .iter()
        .map(|m| (*m, gens.get(*m as usize).map_or(0, |g| g.load(SeqCst))))
        .collect()
    };
    let epoch = self.epoch.load(SeqCst);
    let mut l = self.leases.lock().expect("guard lock");
    if l.tickets.len() >= MAX_OUTSTANDING_TICKETS {
      l.tickets.clear();
      l.by_key.clear();
    }
    l.next_lease += 1;
    let lease = l.next_lease;
    let key: Arc<str> = Arc::from(key);
    l.by_key.insert(key.clone(), lease);
    let ticket = loop {
      l.next_ticket = l.next_ticket.wrapping_add(1);
      if !l.tickets.contains_key(&l.next_ticket) {
        break l.next_ticket;
      }
    };
    l.tickets.insert(
      ticket,
      Ticket {
        key,
        deps,
        epoch,
        lease,
      },
    );
    ticket
  }

  /// Completes a fill: runs `store` (under the lease lock) only if nothing invalidated the
  /// ticket's key, models or epoch since [`FillGuard::begin`]. Returns whether it stored.
  pub fn land(&self, ticket: u32, store: impl FnOnce(&Ticket)) -> bool {
    let mut l = self.leases.lock().expect("guard lock");
    let Some(t) = l.tickets.remove(&ticket) else {
      return false;
    };
    let leased = l.by_key.get(&t.key) == Some(&t.lease);
    if leased {
      l.by_key.remove(&t.key);
    }
    if !leased || t.epoch != self.epoch.load(SeqCst) || !self.is_current(&t.deps) {
      return false;
    }
    store(&t);
    true
  }

  /// Drops a ticket whose read failed.
  pub fn abandon(&self, ticket: u32) {
    let mut l = self.leases.lock().expect("guard lock");
    if let Some(t) = l.tickets.remove(&ticket) {
      if l.by_key.get(&t.key) == Some(&t.lease) {
        l.by_key.remove(&t.key);
      }
    }
  }

  /// Voids any pending fill of `key` and runs `remove` under the lease lock.
  pub fn invalidate_key(&self, key: &str, remove: impl FnOnce()) {
    let mut l = self.leases.lock().expect("guard lock");
    l.by_key.remove(key);
    remove();
  }

  /// Voids every pending fill and runs `clear` under the lease lock.
  pub fn clear(&self, clear: impl FnOnce()) {
    let mut l = self.leases.lock().expect("guard lock");
    self.epoch.fetch_add(1, SeqCst);
    l.by_key.clear();
    clear();
  }

  /// Tickets taken and not yet landed or abandoned.
  pub fn outstanding(&self) -> usize {
    self.leases.lock().expect("guard lock").tickets.len()
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_fill_lands_when_nothing_changed() {
    let g = FillGuard::default();
    let m = g.model_id("Users");
    let t = g.begin("k", &[m]);
    let mut stored = None;
    assert!(g.land(t, |t| stored = Some(t.deps.clone())));
    assert_eq!(stored.unwrap().as_ref(), &[(m, 0)]);
    assert_eq!(g.outstanding(), 0);
  }

  #[test]
  fn a_model_bump_during_the_read_voids_the_fill() {
    let g = FillGuard::default();
    let users = g.model_id("Users");
    let orders = g.model_id("Orders");
    let t = g.begin("k", &[users, orders]);
    g.bump(orders);
    assert!(!g.land(t, |_| panic!("stale fill stored")));
    assert!(!g.is_current(&[(orders, 0)]));
    assert!(g.is_current(&[(users, 0), (orders, 1)]));
  }

  #[test]
  fn a_key_invalidation_during_the_read_voids_the_fill() {
    let g = FillGuard::default();
    let t = g.begin("k", &[]);
    g.invalidate_key("k", || {});
    assert!(!g.land(t, |_| panic!("stale fill stored")));
    // A later read may fill again.
    let t2 = g.begin("k", &[]);
    assert!(g.land(t2, |_| {}));
  }

  #[test]
  fn clear_voids_every_pending_fill() {
    let g = FillGuard::default();
    let a = g.begin("a", &[]);
    let b = g.begin("b", &[]);
    g.clear(|| {});
    assert!(!g.land(a, |_| panic!()));
    assert!(!g.land(b, |_| panic!()));
  }

  #[test]
  fn the_newest_of_two_fills_of_one_key_wins() {
    let g = FillGuard::default();
    let old = g.begin("k", &[]);
    let new = g.begin("k", &[]);
    assert!(!g.land(old, |_| panic!("older fill stored over a newer lease")));
    assert!(g.land(new, |_| {}));
  }

  #[test]
  fn abandoned_and_unknown_tickets_do_not_land() {
    let g = FillGuard::default();
    let t = g.begin("k", &[]);
    g.abandon(t);
    assert!(!g.land(t, |_| panic!()));
    assert!(!g.land(12345, |_| panic!()));
    assert_eq!(g.outstanding(), 0);
  }
}
