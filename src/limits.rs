//! The bounds both halves of the library keep, defined once here and exported to JS as N-API
//! constants (`js/native.js` re-exports them; `js/options.js` validates options against them, and
//! the core checks or clamps again, so no value outside them reaches a tier).

use napi_derive::napi;

/// The longest TTL of any entry or TTL option: 365 days, in milliseconds.
#[napi]
pub const MAX_TTL_MS: i64 = 365 * 24 * 3600 * 1000;

/// The largest in-process tier (`maxBytes`, `l1.maxBytes`): 1 TiB.
#[napi]
pub const MAX_TIER_BYTES: i64 = 1 << 40;

/// The largest value a client caches (`maxValueBytes`): 512 MiB, Redis's own string limit.
#[napi]
pub const MAX_VALUE_BYTES: u32 = 512 * 1024 * 1024;

/// The longest connect, command or request timeout: 10 minutes, in milliseconds.
#[napi]
pub const MAX_TIMEOUT_MS: u32 = 10 * 60 * 1000;

/// The most requests a Momento client keeps in flight (`maxConcurrentRequests`).
#[napi]
pub const MAX_CONCURRENT_REQUESTS: u32 = 65_536;

/// Momento's largest item, key and value together: 5 MB (decimal, the safer reading).
#[napi]
pub const MOMENTO_MAX_ITEM_BYTES: u32 = 5_000_000;

/// Momento's longest TTL: 24 hours, in seconds.
#[napi]
pub const MOMENTO_MAX_TTL_SECONDS: u32 = 24 * 3600;

/// Integrity keys shorter than this are refused (HMAC-SHA-256's own output size).
#[napi]
pub const MIN_INTEGRITY_KEY_BYTES: u32 = 32;

/// The deepest include tree whose tables a read's dependencies are collected from. A query
/// nested deeper must bypass the cache (its dependencies would be incomplete).
#[napi]
pub const MAX_INCLUDE_DEPTH: u32 = 12;

/// Option trees nested deeper than this are not keyed (a cycle, in practice).
#[napi]
pub const KEY_MAX_DEPTH: u32 = crate::key::MAX_DEPTH;

/// Option trees with more values than this are not keyed.
#[napi]
pub const KEY_MAX_NODES: u32 = crate::key::MAX_NODES;

/// The most distinct payload header lines the in-process tier keeps split (see `src/payload.rs`);
/// past it, payloads are kept whole and a hit parses their header line again.
#[napi]
pub const PAYLOAD_MAX_HEADERS: u32 = crate::payload::MAX_HEADERS as u32;
