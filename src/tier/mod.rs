//! Storage tiers. The in-process tier (`memory`) holds in-process frames (see [`crate::frame`])
//! under canonical keys; the network tiers (`redis`, `momento`) store strings for the shim's
//! generation-token logic (js/remote/generations.js), each sealed in a stored frame bound to its key,
//! behind one [`Remote`] surface so both reach JS through the same calls. `redis_loop` is the
//! single-node Redis tier on the JS thread's event loop: not `Send`, so outside [`Remote`], with
//! its own N-API calls answering in the same shapes.

pub mod memory;
pub mod momento;
pub mod redis;
pub mod redis_loop;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

use crate::breaker::Breaker;
use crate::frame::{DecodeError, Sealer};

/// What a network tier found under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
  /// Nothing (or nothing this tier can read as a value, such as a Redis hash at the key).
  Absent,
  /// The value stored, its frame checked.
  Value(String),
  /// Something is stored that this client did not write for this key: a miss, to be counted.
  Rejected(DecodeError),
}

impl Read {
  /// Opens the bytes found under `key` (None: nothing there).
  pub fn of(sealer: &Sealer, key: &str, bytes: Option<&[u8]>) -> Read {
    match bytes {
      None => Read::Absent,
      Some(b) => match sealer.open(key, b) {
        Ok(v) => Read::Value(v),
        Err(e) => Read::Rejected(e),
      },
    }
  }
}

/// Why a network call did not complete. Every variant is a miss (or a skipped write) to the
/// caller; the variants exist so the shim can log the right thing once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TierError {
  /// The breaker is open: nothing was sent.
  Open,
  /// No answer within the timeout.
  Timeout,
  /// The credentials were refused (HTTP 401 or 403).
  Unauthorized(u16),
  /// The named cache does not exist.
  CacheNotFound(String),
  /// The service asked us to slow down (HTTP 429).
  Throttled,
  /// The service refused this request (another 4xx): the service is up, the request is not
  /// acceptable (a key or item it will not take).
  Rejected(u16, String),
  /// The item is larger than the service accepts; nothing was sent.
  TooLarge,
  /// Any other failure reported by the service or the connection.
  Failed(String),
}

impl TierError {
  /// A stable code, which JS reads as the error's `code` (`timeout`, `unauthorized`, ...).
  pub fn code(&self) -> &'static str {
    match self {
      TierError::Open => "open",
      TierError::Timeout => "timeout",
      TierError::Unauthorized(_) => "unauthorized",
      TierError::CacheNotFound(_) => "cache-not-found",
      TierError::Throttled => "throttled",
      TierError::Rejected(..) => "rejected",
      TierError::TooLarge => "too-large",
      TierError::Failed(_) => "failed",
    }
  }
}

impl std::fmt::Display for TierError {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match self {
      TierError::Open => write!(f, "circuit open: the tier keeps failing, calls paused"),
      TierError::Timeout => write!(f, "no answer in time"),
      TierError::Unauthorized(status) => write!(f, "the API key was rejected (HTTP {status})"),
      TierError::CacheNotFound(name) => write!(f, "cache {name:?} not found: create it first"),
      TierError::Throttled => write!(f, "throttled (HTTP 429): over the account's request rate"),
      TierError::Rejected(status, text) => write!(f, "request refused (HTTP {status}): {text}"),
      TierError::TooLarge => write!(f, "item larger than the tier accepts; not stored"),
      TierError::Failed(e) => write!(f, "{e}"),
    }
  }
}

/// The one way a network tier makes a call: refused once the tier is closed, and while `breaker`
/// is open; otherwise `call` runs and its outcome is recorded. An answer that only refuses this
/// request (`Rejected`) still shows the service is up.
pub async fn guarded<T>(
  closed: &AtomicBool,
  breaker: &Breaker,
  call: impl Future<Output = Result<T, TierError>>,
) -> Result<T, TierError> {
  if closed.load(SeqCst) {
    return Err(TierError::Failed("the client is closed".into()));
  }
  if !breaker.allow() {
    return Err(TierError::Open);
  }
  let result = call.await;
  match &result {
    Ok(_) | Err(TierError::Rejected(..)) => breaker.success(),
    Err(_) => breaker.failure(),
  }
  result
}

/// A network tier, whichever service it talks to.
#[derive(Clone)]
pub enum Remote {
  /// Redis or a Redis Cluster.
  Redis(Arc<redis::RedisTier>),
  /// Momento's HTTP API.
  Momento(Arc<momento::MomentoTier>),
}

impl Remote {
  /// What is stored under each key, in order.
  pub async fn mget(&self, keys: Vec<String>) -> Result<Vec<Read>, TierError> {
    match self {
      Remote::Redis(t) => t.mget(keys).await,
      Remote::Momento(t) => t.mget(keys).await,
    }
  }

  /// Stores `value` under `key` for `ttl_ms` milliseconds (sealed in a stored frame).
  pub async fn set(&self, key: String, value: String, ttl_ms: u64) -> Result<(), TierError> {
    match self {
      Remote::Redis(t) => t.set(key, value, ttl_ms).await,
      Remote::Momento(t) => t.set(key, value, ttl_ms).await,
    }
  }

  /// Deletes `key`.
  pub async fn del(&self, key: String) -> Result<(), TierError> {
    match self {
      Remote::Redis(t) => t.del(key).await,
      Remote::Momento(t) => t.del(key).await,
    }
  }

  /// The tier's circuit breaker.
  pub fn breaker(&self) -> &Breaker {
    match self {
      Remote::Redis(t) => &t.breaker,
      Remote::Momento(t) => &t.breaker,
    }
  }

  /// Stops the tier: no further call goes out, background tasks end.
  pub fn close(&self) {
    match self {
      Remote::Redis(t) => t.close(),
      Remote::Momento(t) => t.close(),
    }
  }
}
