//! Version checks that keep a late fill from resurrecting stale data, and tell a read whether an
//! earlier read of the same key may still be shared.
//!
//! A read that misses takes a *ticket* before it queries the database. The ticket records
//! the generation of every table the query reads and holds a *lease* on the key. Between
//! that moment and the fill:
//! - an invalidation of one of those tables bumps its generation,
//! - an invalidation of the key, or a newer ticket for the same key, voids its lease,
//! - `clear()` voids every lease,
//!
//! and any of these makes the fill a no-op. Stored entries also carry the generations they were
//! read under, so a reader rejects an entry whose table moved on even if its fill raced the bump.
//!
//! A ticket lives for its whole flight: [`FillGuard::land`] stores (once) but keeps it, and only
//! [`FillGuard::release`] ends it. Until then [`FillGuard::is_current`] answers whether the result
//! it carries is still as fresh as a database read begun now would be. Single-flight relies on
//! this: a read may join one already in flight only while that read's ticket is current, so no
//! read that starts after a committed write is handed rows read before it.
//!
//! Invariant (kept by [`FillGuard::land`] and [`FillGuard::invalidate_key`], which both hold the
//! lease lock while touching the tier): once `invalidate_key(k)` returns, no fill whose ticket
//! was taken before it can store `k`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, RwLock};

/// Tickets alive at once before some are dropped (protects against callers that never release
/// a ticket). Landed tickets go first: dropping one only makes it non-current. Only when every
/// ticket is still in flight are all of them voided, which costs those fills and nothing else.
pub const MAX_OUTSTANDING_TICKETS: usize = 65_536;

/// A read in flight, from [`FillGuard::begin`] to [`FillGuard::release`].
#[derive(Debug, Clone)]
pub struct Ticket {
  pub key: Arc<str>,
  /// (table id, generation) pairs read at [`FillGuard::begin`].
  pub deps: Box<[(u32, u64)]>,
  lease: u64,
  /// Whether [`FillGuard::land`] already stored (or declined to store) for it.
  landed: bool,
}

#[derive(Default)]
struct Leases {
  by_key: HashMap<Arc<str>, u64>,
  tickets: HashMap<u32, Ticket>,
  next_lease: u64,
  next_ticket: u32,
}

impl Leases {
  /// Ends `ticket`, and its lease unless a newer ticket holds the key.
  fn end(&mut self, ticket: u32) -> Option<Ticket> {
    let t = self.tickets.remove(&ticket)?;
    if self.by_key.get(&t.key) == Some(&t.lease) {
      self.by_key.remove(&t.key);
    }
    Some(t)
  }

  /// Makes room for one more ticket (see [`MAX_OUTSTANDING_TICKETS`]).
  fn make_room(&mut self) {
    if self.tickets.len() < MAX_OUTSTANDING_TICKETS {
      return;
    }
    let landed: Vec<u32> = self.tickets.iter().filter(|(_, t)| t.landed).map(|(n, _)| *n).collect();
    for n in landed {
      self.end(n);
    }
    if self.tickets.len() >= MAX_OUTSTANDING_TICKETS {
      self.tickets.clear();
      self.by_key.clear();
    }
  }
}

/// Generations per table and leases per key.
#[derive(Default)]
pub struct FillGuard {
  table_ids: Mutex<HashMap<String, u32>>,
  generations: RwLock<Vec<AtomicU64>>,
  leases: Mutex<Leases>,
}

impl FillGuard {
  /// The id of the table (or other generation name) called `name`, registering it on first use.
  pub fn table_id(&self, name: &str) -> u32 {
    let mut ids = self.table_ids.lock().expect("guard lock");
    if let Some(id) = ids.get(name) {
      return *id;
    }
    let mut gens = self.generations.write().expect("guard lock");
    gens.push(AtomicU64::new(0));
    let id = (gens.len() - 1) as u32;
    ids.insert(name.to_owned(), id);
    id
  }

  /// The id of `name` if this process already registered it; never registers. Input from outside
  /// the process (invalidation messages) goes through this, so it cannot grow the guard.
  pub fn known_table_id(&self, name: &str) -> Option<u32> {
    self.table_ids.lock().expect("guard lock").get(name).copied()
  }

  /// How many tables are registered.
  pub fn table_count(&self) -> usize {
    self.generations.read().expect("guard lock").len()
  }

  /// The current generation of `table`; unknown ids read as generation 0.
  pub fn generation(&self, table: u32) -> u64 {
    let gens = self.generations.read().expect("guard lock");
    gens.get(table as usize).map_or(0, |g| g.load(SeqCst))
  }

  /// Moves `table` to a new generation: every entry and pending fill that read it is now stale.
  pub fn bump(&self, table: u32) {
    let gens = self.generations.read().expect("guard lock");
    if let Some(g) = gens.get(table as usize) {
      g.fetch_add(1, SeqCst);
    }
  }

  /// True when every (table, generation) pair is still current.
  pub fn deps_current(&self, deps: &[(u32, u64)]) -> bool {
    let gens = self.generations.read().expect("guard lock");
    deps
      .iter()
      .all(|(m, g)| gens.get(*m as usize).map_or(*g == 0, |cur| cur.load(SeqCst) == *g))
  }

  /// Starts a read of `key` that depends on `tables`; returns its ticket number. Voids the lease
  /// of any older ticket for the same key.
  pub fn begin(&self, key: &str, tables: &[u32]) -> u32 {
    let deps: Box<[(u32, u64)]> = {
      let gens = self.generations.read().expect("guard lock");
      tables
        .iter()
        .map(|m| (*m, gens.get(*m as usize).map_or(0, |g| g.load(SeqCst))))
        .collect()
    };
    let mut l = self.leases.lock().expect("guard lock");
    l.make_room();
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
        lease,
        landed: false,
      },
    );
    ticket
  }

  /// Whether `t` is still current: its lease holds and none of its tables moved.
  fn current(&self, l: &Leases, t: &Ticket) -> bool {
    l.by_key.get(&t.key) == Some(&t.lease) && self.deps_current(&t.deps)
  }

  /// True while `ticket` exists (not released), its key lease was not voided (by
  /// [`FillGuard::invalidate_key`], a newer [`FillGuard::begin`] of the key, or
  /// [`FillGuard::clear`]), and none of its tables' generations moved. A landed ticket is still checked:
  /// a write after its fill makes it non-current.
  pub fn is_current(&self, ticket: u32) -> bool {
    let l = self.leases.lock().expect("guard lock");
    l.tickets.get(&ticket).is_some_and(|t| self.current(&l, t))
  }

  /// Completes a fill: runs `store` (under the lease lock) only if the ticket is current and did
  /// not land before. Returns whether it stored. The ticket stays checkable until
  /// [`FillGuard::release`].
  pub fn land(&self, ticket: u32, store: impl FnOnce(&Ticket)) -> bool {
    let mut l = self.leases.lock().expect("guard lock");
    let Some(t) = l.tickets.get(&ticket) else {
      return false;
    };
    if t.landed || !self.current(&l, t) {
      return false;
    }
    store(t);
    if let Some(t) = l.tickets.get_mut(&ticket) {
      t.landed = true;
    }
    true
  }

  /// Ends a ticket, landed or not (a read that failed, or whose flight is over). Unknown
  /// tickets are ignored.
  pub fn release(&self, ticket: u32) {
    self.leases.lock().expect("guard lock").end(ticket);
  }

  /// Voids any pending fill of `key` and runs `remove` under the lease lock.
  pub fn invalidate_key(&self, key: &str, remove: impl FnOnce()) {
    let mut l = self.leases.lock().expect("guard lock");
    l.by_key.remove(key);
    remove();
  }

  /// Voids every ticket's lease (so no fill in flight lands, and no read joins one) and runs
  /// `clear` under the lease lock.
  pub fn clear(&self, clear: impl FnOnce()) {
    let mut l = self.leases.lock().expect("guard lock");
    l.by_key.clear();
    clear();
  }

  /// Tickets taken and not yet released.
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
    let m = g.table_id("Users");
    let t = g.begin("k", &[m]);
    let mut stored = None;
    assert!(g.land(t, |t| stored = Some(t.deps.clone())));
    assert_eq!(stored.unwrap().as_ref(), &[(m, 0)]);
    assert_eq!(g.outstanding(), 1, "a landed ticket lives until it is released");
    g.release(t);
    assert_eq!(g.outstanding(), 0);
  }

  #[test]
  fn a_table_bump_during_the_read_voids_the_fill() {
    let g = FillGuard::default();
    let users = g.table_id("Users");
    let orders = g.table_id("Orders");
    let t = g.begin("k", &[users, orders]);
    g.bump(orders);
    assert!(!g.land(t, |_| panic!("stale fill stored")));
    assert!(!g.deps_current(&[(orders, 0)]));
    assert!(g.deps_current(&[(users, 0), (orders, 1)]));
  }

  #[test]
  fn a_key_invalidation_during_the_read_voids_the_fill() {
    let g = FillGuard::default();
    let t = g.begin("k", &[]);
    g.invalidate_key("k", || {});
    assert!(!g.land(t, |_| panic!("stale fill stored")));
    g.release(t);
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
  fn released_and_unknown_tickets_do_not_land() {
    let g = FillGuard::default();
    let t = g.begin("k", &[]);
    g.release(t);
    assert!(!g.land(t, |_| panic!()));
    assert!(!g.land(12345, |_| panic!()));
    assert_eq!(g.outstanding(), 0);
  }

  #[test]
  fn a_ticket_lands_at_most_once() {
    let g = FillGuard::default();
    let t = g.begin("k", &[]);
    assert!(g.land(t, |_| {}));
    assert!(!g.land(t, |_| panic!("a second store for one read")));
  }

  #[test]
  fn releasing_an_old_ticket_keeps_a_newer_lease_of_the_key() {
    let g = FillGuard::default();
    let old = g.begin("k", &[]);
    let new = g.begin("k", &[]);
    g.release(old);
    assert!(g.is_current(new));
    assert!(g.land(new, |_| {}));
  }

  // ---- is_current: one test per rule ----

  #[test]
  fn a_fresh_ticket_is_current() {
    let g = FillGuard::default();
    let users = g.table_id("Users");
    let t = g.begin("k", &[users]);
    assert!(g.is_current(t));
  }

  #[test]
  fn an_unknown_or_released_ticket_is_not_current() {
    let g = FillGuard::default();
    assert!(!g.is_current(7));
    let t = g.begin("k", &[]);
    g.release(t);
    assert!(!g.is_current(t));
  }

  #[test]
  fn a_key_invalidation_makes_the_ticket_non_current() {
    let g = FillGuard::default();
    let t = g.begin("k", &[]);
    let other = g.begin("j", &[]);
    g.invalidate_key("k", || {});
    assert!(!g.is_current(t));
    assert!(g.is_current(other), "another key's ticket is untouched");
  }

  #[test]
  fn a_newer_ticket_for_the_key_makes_the_older_non_current() {
    let g = FillGuard::default();
    let old = g.begin("k", &[]);
    let new = g.begin("k", &[]);
    assert!(!g.is_current(old));
    assert!(g.is_current(new));
  }

  #[test]
  fn a_clear_makes_every_ticket_non_current() {
    let g = FillGuard::default();
    let a = g.begin("a", &[]);
    g.clear(|| {});
    assert!(!g.is_current(a));
    assert!(
      g.is_current(g.begin("a", &[])),
      "a ticket taken after the clear is current"
    );
  }

  #[test]
  fn a_bump_of_a_table_read_makes_the_ticket_non_current() {
    let g = FillGuard::default();
    let users = g.table_id("Users");
    let orders = g.table_id("Orders");
    let posts = g.table_id("Posts");
    let t = g.begin("k", &[users, orders]);
    g.bump(posts);
    assert!(g.is_current(t), "a table the read does not depend on changes nothing");
    g.bump(orders);
    assert!(!g.is_current(t));
  }

  #[test]
  fn a_landed_ticket_stays_current_until_a_write_moves_on() {
    let g = FillGuard::default();
    let users = g.table_id("Users");
    let t = g.begin("k", &[users]);
    assert!(g.land(t, |_| {}));
    assert!(g.is_current(t), "landing does not end the flight");
    g.bump(users);
    assert!(!g.is_current(t), "a write after the fill makes it non-current");
  }

  #[test]
  fn a_landed_ticket_is_voided_by_a_later_key_invalidation_or_clear() {
    let g = FillGuard::default();
    let a = g.begin("a", &[]);
    let b = g.begin("b", &[]);
    assert!(g.land(a, |_| {}) && g.land(b, |_| {}));
    g.invalidate_key("a", || {});
    assert!(!g.is_current(a));
    assert!(g.is_current(b));
    g.clear(|| {});
    assert!(!g.is_current(b));
  }

  #[test]
  fn at_the_ticket_bound_landed_tickets_go_first() {
    let g = FillGuard::default();
    let in_flight = g.begin("in-flight", &[]);
    for i in 0..MAX_OUTSTANDING_TICKETS - 1 {
      let t = g.begin(&format!("k{i}"), &[]);
      assert!(g.land(t, |_| {}));
    }
    assert_eq!(g.outstanding(), MAX_OUTSTANDING_TICKETS);
    let next = g.begin("next", &[]);
    assert_eq!(g.outstanding(), 2, "only the landed tickets were dropped");
    assert!(g.is_current(in_flight), "a read still in flight keeps its ticket");
    assert!(g.is_current(next));
  }

  #[test]
  fn known_table_ids_never_register() {
    let g = FillGuard::default();
    assert_eq!(g.known_table_id("Users"), None);
    let users = g.table_id("Users");
    assert_eq!(g.known_table_id("Users"), Some(users));
    assert_eq!(g.table_count(), 1);
  }
}
