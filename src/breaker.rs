//! A circuit breaker for network tiers: after `threshold` consecutive failures the tier is
//! *open* and calls fail at once (the caller falls back to the database) for a back-off period;
//! then one *probe* is let through. A success closes the breaker; a failed probe doubles the
//! back-off, up to a cap.
//!
//! Each state change increments [`Breaker::changes`], so the shim can log once per change rather
//! than once per call.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
  Closed { failures: u32 },
  Open { until: Instant, backoff: Duration },
  Probing { backoff: Duration },
}

/// The observable state, for logs and stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
  /// Calls go out.
  Closed,
  /// Calls fail at once until the back-off passes.
  Open,
  /// One call (the probe) is out; the others fail at once until it reports.
  Probing,
}

impl Phase {
  /// The name JS sees in `breaker().phase`.
  pub fn as_str(self) -> &'static str {
    match self {
      Phase::Closed => "closed",
      Phase::Open => "open",
      Phase::Probing => "probing",
    }
  }
}

/// One network tier's breaker. Every call asks [`Breaker::allow`] and reports its outcome with
/// [`Breaker::success`] or [`Breaker::failure`].
pub struct Breaker {
  state: Mutex<State>,
  threshold: u32,
  first_backoff: Duration,
  max_backoff: Duration,
  changes: AtomicU64,
}

impl Breaker {
  /// Every network tier's breaker (Redis, Momento, a JS adapter): open after 3 consecutive
  /// failures for 500 ms, doubling on each failed probe up to 10 s.
  pub fn for_tier() -> Self {
    Self::new(3, Duration::from_millis(500), Duration::from_secs(10))
  }

  /// Opens after `threshold` consecutive failures for `first_backoff`, doubling on each failed
  /// probe up to `max_backoff`.
  pub fn new(threshold: u32, first_backoff: Duration, max_backoff: Duration) -> Self {
    Breaker {
      state: Mutex::new(State::Closed { failures: 0 }),
      threshold: threshold.max(1),
      first_backoff,
      max_backoff,
      changes: AtomicU64::new(0),
    }
  }

  /// Whether a call may go out now. An open breaker whose back-off has passed lets exactly one
  /// probe through.
  pub fn allow(&self) -> bool {
    let mut s = self.state.lock().expect("breaker lock");
    match *s {
      State::Closed { .. } => true,
      State::Probing { .. } => false,
      State::Open { until, backoff } => {
        if Instant::now() >= until {
          *s = State::Probing { backoff };
          self.changes.fetch_add(1, SeqCst);
          true
        } else {
          false
        }
      }
    }
  }

  /// A call succeeded (or was refused by a service that answered): the breaker closes.
  pub fn success(&self) {
    let mut s = self.state.lock().expect("breaker lock");
    if !matches!(*s, State::Closed { .. }) {
      self.changes.fetch_add(1, SeqCst);
    }
    *s = State::Closed { failures: 0 };
  }

  /// A call failed: one more toward the threshold, or a longer back-off after a failed probe.
  pub fn failure(&self) {
    let mut s = self.state.lock().expect("breaker lock");
    let next = match *s {
      State::Closed { failures } if failures + 1 < self.threshold => State::Closed { failures: failures + 1 },
      State::Closed { .. } => State::Open {
        until: Instant::now() + self.first_backoff,
        backoff: self.first_backoff,
      },
      // Failures of calls let through before the breaker opened change nothing: only a failed
      // probe lengthens the back-off (else one failing batch would jump it to the cap).
      State::Open { .. } => *s,
      State::Probing { backoff } => {
        let b = (backoff * 2).min(self.max_backoff);
        State::Open {
          until: Instant::now() + b,
          backoff: b,
        }
      }
    };
    if std::mem::discriminant(&next) != std::mem::discriminant(&*s) {
      self.changes.fetch_add(1, SeqCst);
    }
    *s = next;
  }

  /// The current phase.
  pub fn phase(&self) -> Phase {
    match *self.state.lock().expect("breaker lock") {
      State::Closed { .. } => Phase::Closed,
      State::Open { .. } => Phase::Open,
      State::Probing { .. } => Phase::Probing,
    }
  }

  /// How many times the phase changed.
  pub fn changes(&self) -> u64 {
    self.changes.load(SeqCst)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn opens_after_the_threshold_then_probes_then_closes() {
    let b = Breaker::new(2, Duration::from_millis(20), Duration::from_millis(200));
    assert!(b.allow());
    b.failure();
    assert_eq!(b.phase(), Phase::Closed);
    b.failure();
    assert_eq!(b.phase(), Phase::Open);
    assert!(!b.allow(), "open: calls fail fast");
    std::thread::sleep(Duration::from_millis(30));
    assert!(b.allow(), "one probe after the back-off");
    assert!(!b.allow(), "only one");
    b.success();
    assert_eq!(b.phase(), Phase::Closed);
    assert_eq!(b.changes(), 3);
  }

  #[test]
  fn a_failed_probe_doubles_the_back_off() {
    let b = Breaker::new(1, Duration::from_millis(10), Duration::from_millis(1000));
    b.failure();
    std::thread::sleep(Duration::from_millis(15));
    assert!(b.allow());
    b.failure();
    std::thread::sleep(Duration::from_millis(12));
    assert!(!b.allow(), "the back-off is now 20 ms");
    std::thread::sleep(Duration::from_millis(15));
    assert!(b.allow());
  }

  #[test]
  fn late_failures_while_open_do_not_lengthen_the_back_off() {
    let b = Breaker::new(1, Duration::from_millis(20), Duration::from_millis(10_000));
    b.failure();
    for _ in 0..23 {
      b.failure(); // the rest of a batch that was already on its way
    }
    std::thread::sleep(Duration::from_millis(30));
    assert!(b.allow(), "the first back-off still applies");
  }
}
