//! The store's epoch: how a reader outside the store (JS's memo of recent hits,
//! `js/engine/hit-memo.js`) tells whether an answer the store gave still holds, without asking it.
//!
//! Two words, read live by JS through an `ArrayBuffer` over them (`cache_epoch_view`):
//! - `[0]`, the epoch: moves (wrapping) when a change that can void an answer begins, when it
//!   ends, and when the tier evicts an entry for space;
//! - `[1]`, the changes in progress (on any thread).
//!
//! The reader's rule, and why it holds: an answer the store gave while `[1]` read 0, with `[0]`
//! read as `e` before the lookup, still holds while `[1]` reads 0 and `[0]` still reads `e`
//! (TTL aside). A change moves `[0]` and counts itself in `[1]` before it touches anything, so a
//! lookup that saw any part of it was made after `[0]` left `e`; and until the change has ended,
//! `[1]` is not 0. Changes on two threads at once only add up in `[1]`. All accesses are SeqCst:
//! a JS lookup that sees a change's effect through the store's own SeqCst atomics sees its moves.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Arc;

/// Index of the epoch word.
const EPOCH: usize = 0;
/// Index of the count of changes in progress.
const CHANGING: usize = 1;

/// The two words (see the module documentation).
pub type Cell = [AtomicU32; 2];

/// A store's epoch. Cloning shares it.
#[derive(Clone, Default)]
pub struct Epoch {
  cell: Arc<Cell>,
}

/// A change in progress: counted from [`Epoch::change`] until it is dropped.
#[must_use = "the change ends when this is dropped"]
pub struct Change<'a> {
  cell: &'a Cell,
}

impl Epoch {
  /// The shared words, for a view from JS.
  pub fn cell(&self) -> Arc<Cell> {
    self.cell.clone()
  }

  /// Begins a change that can void an answer the store gave; it ends when the result is dropped.
  pub fn change(&self) -> Change<'_> {
    self.cell[CHANGING].fetch_add(1, SeqCst);
    self.cell[EPOCH].fetch_add(1, SeqCst);
    Change { cell: &self.cell }
  }

  /// Marks a change that is already complete and voids no answer that still holds (an entry
  /// evicted for space: its answer is no longer the tier's).
  pub fn moved(&self) {
    self.cell[EPOCH].fetch_add(1, SeqCst);
  }

  /// The epoch word.
  pub fn value(&self) -> u32 {
    self.cell[EPOCH].load(SeqCst)
  }

  /// The changes in progress.
  pub fn changing(&self) -> u32 {
    self.cell[CHANGING].load(SeqCst)
  }
}

impl Drop for Change<'_> {
  fn drop(&mut self) {
    self.cell[EPOCH].fetch_add(1, SeqCst);
    self.cell[CHANGING].fetch_sub(1, SeqCst);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_change_is_counted_while_it_lasts_and_moves_the_epoch_at_both_ends() {
    let epoch = Epoch::default();
    let e0 = epoch.value();
    let outer = epoch.change();
    assert_eq!((epoch.changing(), epoch.value()), (1, e0.wrapping_add(1)));
    {
      let _inner = epoch.change();
      assert_eq!(epoch.changing(), 2, "changes at once add up");
    }
    assert_eq!(epoch.changing(), 1, "the outer change is still in progress");
    drop(outer);
    assert_eq!(epoch.changing(), 0);
    assert_eq!(epoch.value(), e0.wrapping_add(4));
  }
}
