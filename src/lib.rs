#![deny(clippy::all)]
//! The native core of sequelize-native-cache.
//!
//! This file is only the N-API surface; each concept lives in its own module:
//! - [`key`]: canonical query keys, read straight from JS values;
//! - [`codec`]: the framed, versioned format of stored values;
//! - [`tier::memory`]: the in-process tier (moka, bounded in bytes, TTL per entry);
//! - [`fill`]: table generations and key leases that stop late fills;
//! - [`engine`]: one client's tiers, guard and counters behind get / fill / invalidate;
//! - [`stats`]: counters per model and method;
//! - [`transport`]: Redis on the JS thread's own event loop (unsafe parts in [`ffi`]).
//!
//! Nothing here knows Sequelize beyond the shapes [`key`] recognizes; the JS shim in `js/`
//! decides what to cache and hydrates instances.

pub mod breaker;
pub mod codec;
pub mod engine;
pub mod ffi;
pub mod fill;
pub mod key;
pub mod stats;
pub mod tier;
pub mod transport;

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::engine::{Engine, EngineOptions, Miss};
use crate::key::{Unkeyable, Walker};
use crate::stats::Event;

/// Builds the canonical key of a query: `head` (`prefix:method:segment`), the model's active
/// `scope` and the query `options`. Returns the key, or a number (an unkeyable-reason code for
/// [`unkeyable_reason`]) when the query cannot be keyed and must bypass the cache.
#[napi]
pub fn canonical_key(env: Env, head: String, scope: Unknown, options: Unknown) -> Either<String, u32> {
  let result = Walker::new(env.raw()).query_key(&head, scope.value().value, options.value().value);
  match result {
    Ok(key) => Either::A(key),
    Err(why) => Either::B(why as u32),
  }
}

/// The key of `findByPk(value)` when the call has no other options and the model no active
/// scope; equal to what [`canonical_key`] gives for `{ where: { [attr]: value } }`.
#[napi]
pub fn pk_key(env: Env, head: String, attr: String, value: Unknown) -> Either<String, u32> {
  match Walker::new(env.raw()).pk_key(&head, &attr, value.value().value) {
    Ok(key) => Either::A(key),
    Err(why) => Either::B(why as u32),
  }
}

/// The bypass reason for a code returned by [`canonical_key`].
#[napi]
pub fn unkeyable_reason(code: u32) -> &'static str {
  [
    Unkeyable::Function,
    Unkeyable::TooDeep,
    Unkeyable::TooLarge,
    Unkeyable::UnknownClass,
    Unkeyable::Unreadable,
  ]
  .into_iter()
  .find(|u| *u as u32 == code)
  .map_or("unkeyable", |u| u.reason())
}

/// Options of [`cache_create`], validated by the shim (and again here).
#[napi(object)]
pub struct NativeCacheOptions {
  /// Upper bound of the in-process tier, in bytes.
  pub max_bytes: f64,
  /// TTL of entries stored without one, in milliseconds.
  pub default_ttl_ms: f64,
}

/// Counters of one (model, method) pair.
#[napi(object)]
pub struct SlotStats {
  pub model: String,
  pub method: String,
  pub hits: f64,
  pub misses: f64,
  pub fills: f64,
  pub fills_rejected: f64,
  pub corrupt: f64,
  pub remote_hits: f64,
  pub remote_misses: f64,
  pub remote_fills: f64,
  pub bypasses: f64,
  pub bypass_reasons: HashMap<String, f64>,
}

/// A snapshot of one client's counters.
#[napi(object)]
pub struct NativeStats {
  pub entries: f64,
  pub bytes: f64,
  pub evictions: f64,
  pub expirations: f64,
  pub slots: Vec<SlotStats>,
}

/// Lookup outcome codes returned by [`cache_get`] on a miss.
pub const MISS_ABSENT: u32 = 0;
pub const MISS_STALE: u32 = 1;
pub const MISS_CORRUPT: u32 = 2;
/// Added to an unkeyable-reason code by [`cache_lookup_pk`].
pub const UNKEYABLE: u32 = 16;

/// One cache client's engine, held by JS as an opaque handle.
///
/// The binding is a set of plain functions taking this handle rather than a napi class: napi-rs
/// re-validates `this` on every class-method call (hundreds of nanoseconds here), which would
/// dominate an in-process hit.
pub struct Cache {
  engine: Engine,
  last_decode_error: Mutex<Option<String>>,
  /// (key head, primary-key attribute) pairs registered by [`cache_pk_head`].
  pk_heads: RwLock<Vec<(String, String)>>,
}

type Handle = External<std::sync::Arc<Cache>>;

fn ttl_from_ms(ms: Option<f64>) -> Option<Duration> {
  ms.filter(|m| m.is_finite() && *m > 0.0)
    .map(|m| Duration::from_millis(m as u64))
}

fn lookup_key(cache: &Cache, key: &str, slot: u32) -> Either<String, u32> {
  match cache.engine.get(key, slot, str::to_owned) {
    Ok(payload) => Either::A(payload),
    Err(Miss::Absent) => Either::B(MISS_ABSENT),
    Err(Miss::Stale) => Either::B(MISS_STALE),
    Err(Miss::Corrupt(e)) => {
      *cache.last_decode_error.lock().expect("lock") = Some(e.to_string());
      Either::B(MISS_CORRUPT)
    }
  }
}

/// Creates a cache client's engine.
#[napi]
pub fn cache_create(options: NativeCacheOptions) -> Result<Handle> {
  if !(options.max_bytes.is_finite() && options.max_bytes >= 1.0) {
    return Err(Error::new(
      Status::InvalidArg,
      "maxBytes must be a positive number of bytes",
    ));
  }
  let Some(default_ttl) = ttl_from_ms(Some(options.default_ttl_ms)) else {
    return Err(Error::new(
      Status::InvalidArg,
      "defaultTtlSeconds must be a positive number",
    ));
  };
  Ok(External::new(std::sync::Arc::new(Cache {
    engine: Engine::new(EngineOptions {
      max_bytes: options.max_bytes as u64,
      default_ttl,
    }),
    last_decode_error: Mutex::new(None),
    pk_heads: RwLock::new(Vec::new()),
  })))
}

/// The stats slot of (model, method).
#[napi]
pub fn cache_slot(cache: &Handle, model: String, method: String) -> u32 {
  cache.engine.stats().slot(&model, &method)
}

/// The generation id of a table (its schema-qualified name, or another generation name such as
/// `<table>#entities`), registering it on first use.
#[napi]
pub fn cache_table_id(cache: &Handle, name: String) -> u32 {
  cache.engine.guard().table_id(&name)
}

/// The payload stored under `key`, or a miss code: 0 absent, 1 stale, 2 corrupt (then
/// [`cache_take_decode_error`] says why).
#[napi]
pub fn cache_get(cache: &Handle, key: String, slot: u32) -> Either<String, u32> {
  lookup_key(cache, &key, slot)
}

/// Registers the key head and primary-key attribute of a model's bare `findByPk`, so that each
/// hit passes only the id value across N-API.
#[napi]
pub fn cache_pk_head(cache: &Handle, head: String, attr: String) -> u32 {
  let mut heads = cache.pk_heads.write().expect("lock");
  if let Some(i) = heads.iter().position(|(h, a)| *h == head && *a == attr) {
    return i as u32;
  }
  heads.push((head, attr));
  (heads.len() - 1) as u32
}

/// The key of `value` under a head registered by [`cache_pk_head`]; None for an unknown head.
fn registered_pk_key(
  env: &Env,
  cache: &Cache,
  pk_head: u32,
  value: &Unknown,
) -> Option<std::result::Result<String, Unkeyable>> {
  let heads = cache.pk_heads.read().expect("lock");
  let (head, attr) = heads.get(pk_head as usize)?;
  Some(Walker::new(env.raw()).pk_key(head, attr, value.value().value))
}

/// Builds the key of `findByPk(value)` with no options and no scope (as [`pk_key`], from a head
/// registered by [`cache_pk_head`]) and looks it up in one crossing, so the hottest hit never
/// turns its key into a JS string. Returns the payload, a miss code (as [`cache_get`]), or
/// [`UNKEYABLE`] plus an unkeyable-reason code.
#[napi]
pub fn cache_lookup_pk(env: Env, cache: &Handle, pk_head: u32, value: Unknown, slot: u32) -> Either<String, u32> {
  match registered_pk_key(&env, cache, pk_head, &value) {
    Some(Ok(key)) => lookup_key(cache, &key, slot),
    Some(Err(why)) => Either::B(UNKEYABLE + why as u32),
    None => Either::B(MISS_ABSENT),
  }
}

/// Removes the entry whose key [`cache_lookup_pk`] would build for `value` under a registered
/// head (an entity entry), voiding any fill of it in flight. One crossing per write.
#[napi]
pub fn cache_invalidate_pk(env: Env, cache: &Handle, pk_head: u32, value: Unknown) {
  if let Some(Ok(key)) = registered_pk_key(&env, cache, pk_head, &value) {
    cache.engine.invalidate_key(&key);
  }
}

/// Why the last corrupt entry could not be decoded.
#[napi]
pub fn cache_take_decode_error(cache: &Handle) -> Option<String> {
  cache.last_decode_error.lock().expect("lock").take()
}

/// Starts a read of `key` that depends on `tables` (ids from [`cache_table_id`]); returns its
/// ticket. The ticket lives until [`cache_release`].
#[napi]
pub fn cache_begin_fill(cache: &Handle, key: String, tables: Vec<u32>) -> u32 {
  cache.engine.begin_fill(&key, &tables)
}

/// True while the read behind `ticket` is as fresh as one begun now: the ticket was not
/// released, its key was not invalidated or taken by a newer ticket, nothing was cleared and none
/// of its tables was bumped. A read may join a read in flight only while this holds. A landed
/// ticket is still checked.
#[napi]
pub fn cache_ticket_current(cache: &Handle, ticket: u32) -> bool {
  cache.engine.ticket_current(ticket)
}

/// Ends a ticket (landed or not): its read failed, or its flight is over.
#[napi]
pub fn cache_release(cache: &Handle, ticket: u32) {
  cache.engine.release(ticket)
}

/// Stores `payload` unless an invalidation overtook the ticket (or it landed before). Returns 0
/// when it was overtaken (store it nowhere), 1 when stored, 2 when current but this tier is
/// untrusted (see [`redis_attach_l1`]). The ticket stays alive until [`cache_release`].
#[napi]
pub fn cache_fill(cache: &Handle, ticket: u32, payload: String, ttl_ms: Option<f64>, slot: u32) -> u32 {
  cache.engine.fill(ticket, &payload, ttl_from_ms(ttl_ms), slot) as u32
}

/// Stores bytes as they are, without framing them. Exists so tests can prove that bytes the
/// codec did not write read back as a miss.
#[napi]
pub fn cache_fill_raw(cache: &Handle, ticket: u32, frame: &[u8], ttl_ms: Option<f64>, slot: u32) -> u32 {
  cache.engine.fill_frame(ticket, frame.into(), ttl_from_ms(ttl_ms), slot) as u32
}

/// Lands a ticket without storing anything here: true if no invalidation overtook it. Used when
/// the value goes to a tier outside this engine (a JS adapter). The ticket stays alive until
/// [`cache_release`].
#[napi]
pub fn cache_settle(cache: &Handle, ticket: u32) -> bool {
  cache.engine.guard().land(ticket, |_| {})
}

/// Counts an event that happened outside the in-process tier: 0 hit, 1 miss, 2 fill, 3 fill
/// rejected, 4 corrupt, 5 network-tier hit, 6 network-tier miss, 7 network-tier fill.
#[napi]
pub fn cache_record_event(cache: &Handle, slot: u32, event: u32) {
  let e = match event {
    0 => Event::Hit,
    1 => Event::Miss,
    2 => Event::Fill,
    3 => Event::FillRejected,
    5 => Event::RemoteHit,
    6 => Event::RemoteMiss,
    7 => Event::RemoteFill,
    _ => Event::Corrupt,
  };
  cache.engine.stats().record(slot, e);
}

/// Removes `key` and voids any fill of it in flight.
#[napi]
pub fn cache_invalidate_key(cache: &Handle, key: String) {
  cache.engine.invalidate_key(&key)
}

/// Makes every entry and in-flight fill that read the table stale.
#[napi]
pub fn cache_bump_table(cache: &Handle, table_id: u32) {
  cache.engine.bump_table(table_id)
}

/// Removes every entry and voids every fill in flight.
#[napi]
pub fn cache_clear(cache: &Handle) {
  cache.engine.clear()
}

/// Counts a call that went to the database without touching the cache.
#[napi]
pub fn cache_record_bypass(cache: &Handle, slot: u32, reason: String) {
  cache.engine.stats().record_bypass(slot, &reason)
}

/// A snapshot of the counters.
#[napi]
pub fn cache_stats(cache: &Handle) -> NativeStats {
  let (entries, bytes) = cache.engine.usage();
  let s = cache.engine.stats();
  NativeStats {
    entries: entries as f64,
    bytes: bytes as f64,
    evictions: s.evictions.load(std::sync::atomic::Ordering::Relaxed) as f64,
    expirations: s.expirations.load(std::sync::atomic::Ordering::Relaxed) as f64,
    slots: s
      .snapshot()
      .into_iter()
      .map(|x| SlotStats {
        model: x.model,
        method: x.method,
        hits: x.hits as f64,
        misses: x.misses as f64,
        fills: x.fills as f64,
        fills_rejected: x.fills_rejected as f64,
        corrupt: x.corrupt as f64,
        remote_hits: x.remote_hits as f64,
        remote_misses: x.remote_misses as f64,
        remote_fills: x.remote_fills as f64,
        bypasses: x.bypasses as f64,
        bypass_reasons: x.bypass_reasons.into_iter().map(|(k, v)| (k, v as f64)).collect(),
      })
      .collect(),
  }
}

// ---- the network tiers ------------------------------------------------------------------------

/// The breaker's phase (`closed`, `open`, `probing`) and how often it changed.
#[napi(object)]
pub struct BreakerState {
  pub phase: String,
  pub changes: f64,
}

/// A network tier (Redis or Momento) behind one set of calls.
type RemoteHandle = External<tier::Remote>;

/// A tier failure as a JS error whose message starts with the failure's code (`timeout: ...`).
fn tier_error(e: tier::TierError) -> Error {
  Error::new(Status::GenericFailure, e.to_string())
}

fn duration_ms(v: f64) -> Duration {
  Duration::from_millis(if v.is_finite() && v >= 1.0 { v as u64 } else { 1 })
}

fn compress_threshold(bytes: f64) -> usize {
  if bytes >= 1.0 {
    bytes as usize
  } else {
    usize::MAX
  }
}

/// Values of several keys: one MGET on Redis, concurrent GETs on Momento. Resolves to the values
/// (null where absent or unreadable); rejects on any tier problem (the caller treats it as a miss).
#[napi]
pub fn remote_mget<'e>(
  env: &'e Env,
  tier: &RemoteHandle,
  keys: Vec<String>,
) -> Result<PromiseRaw<'e, Vec<Option<String>>>> {
  let t = (**tier).clone();
  env.spawn_future(async move { t.mget(keys).await.map_err(tier_error) })
}

/// Stores a value with a TTL in milliseconds.
#[napi]
pub fn remote_set<'e>(
  env: &'e Env,
  tier: &RemoteHandle,
  key: String,
  value: String,
  ttl_ms: f64,
) -> Result<PromiseRaw<'e, ()>> {
  let t = (**tier).clone();
  let ttl = if ttl_ms.is_finite() && ttl_ms > 0.0 {
    ttl_ms as u64
  } else {
    1
  };
  env.spawn_future(async move { t.set(key, value, ttl).await.map_err(tier_error) })
}

/// Deletes a key.
#[napi]
pub fn remote_del<'e>(env: &'e Env, tier: &RemoteHandle, key: String) -> Result<PromiseRaw<'e, ()>> {
  let t = (**tier).clone();
  env.spawn_future(async move { t.del(key).await.map_err(tier_error) })
}

/// The breaker's state, so the shim can log once per change.
#[napi]
pub fn remote_breaker(tier: &RemoteHandle) -> BreakerState {
  let b = tier.breaker();
  BreakerState {
    phase: b.phase().as_str().to_owned(),
    changes: b.changes() as f64,
  }
}

/// Stops the tier: background tasks end and no further request is sent.
#[napi]
pub fn remote_close(tier: &RemoteHandle) {
  tier.close();
}

/// Options of [`redis_create`], validated by the shim.
#[napi(object)]
pub struct RedisOptions {
  /// One `redis://` or `rediss://` URL, or the cluster's nodes.
  pub urls: Vec<String>,
  pub cluster: bool,
  pub connect_timeout_ms: f64,
  pub command_timeout_ms: f64,
  /// Values of at least this many bytes are stored compressed (0: never).
  pub compress_above_bytes: f64,
  /// For `rediss://`: a CA certificate (PEM) trusted instead of the system's roots.
  pub tls_ca: Option<String>,
}

/// A Redis tier. Nothing connects until the first command.
#[napi]
pub fn redis_create(options: RedisOptions) -> Result<RemoteHandle> {
  if options.urls.is_empty() {
    return Err(Error::new(
      Status::InvalidArg,
      "a Redis URL or cluster nodes are required",
    ));
  }
  Ok(External::new(tier::Remote::Redis(tier::redis::RedisTier::new(
    tier::redis::RedisConfig {
      urls: options.urls,
      cluster: options.cluster,
      connect_timeout: duration_ms(options.connect_timeout_ms),
      command_timeout: duration_ms(options.command_timeout_ms),
      compress_above: compress_threshold(options.compress_above_bytes),
      tls_ca: options.tls_ca.map(String::into_bytes),
    },
  ))))
}

fn redis_of(tier: &RemoteHandle) -> Result<&std::sync::Arc<tier::redis::RedisTier>> {
  match &**tier {
    tier::Remote::Redis(t) => Ok(t),
    _ => Err(Error::new(Status::InvalidArg, "not a Redis tier")),
  }
}

/// PUBLISH: tells every process subscribed with [`redis_attach_l1`] which tables a write touched
/// (newline-separated).
#[napi]
pub fn redis_publish<'e>(
  env: &'e Env,
  tier: &RemoteHandle,
  channel: String,
  message: String,
) -> Result<PromiseRaw<'e, ()>> {
  let t = std::sync::Arc::clone(redis_of(tier)?);
  env.spawn_future(async move { t.publish(channel, message).await.map_err(tier_error) })
}

/// Puts the in-process tier `cache` in front of Redis as its L1: a background task subscribes to
/// `channel` and bumps the local generation of every table named in a message. While the
/// subscription is down the L1 is untrusted (it answers nothing and stores nothing) and it is
/// emptied on every change, since messages may have been missed.
#[napi]
pub fn redis_attach_l1(tier: &RemoteHandle, cache: &Handle, channel: String) -> Result<()> {
  let tier = redis_of(tier)?;
  let on_message = {
    let cache = std::sync::Arc::clone(cache);
    move |tables: &str| {
      let guard = cache.engine.guard();
      for table in tables.split('\n').filter(|t| !t.is_empty()) {
        guard.bump(guard.table_id(table));
      }
    }
  };
  let on_state = {
    let cache = std::sync::Arc::clone(cache);
    move |subscribed: bool| cache.engine.set_trusted(subscribed)
  };
  cache.engine.set_trusted(false);
  tier::redis::RedisTier::subscribe(std::sync::Arc::clone(tier), channel, on_message, on_state);
  Ok(())
}

/// Options of [`momento_create`], validated by the shim (which also resolves the credentials).
#[napi(object)]
pub struct MomentoOptions {
  /// `https://api.cache.<cell-host>`, or a loopback `http://` URL.
  pub base_url: String,
  pub cache_name: String,
  pub api_key: String,
  pub request_timeout_ms: f64,
  pub max_concurrency: u32,
  /// Values of at least this many bytes are stored compressed (0: never).
  pub compress_above_bytes: f64,
}

/// A Momento tier over its HTTP API. Nothing connects until the first request.
#[napi]
pub fn momento_create(options: MomentoOptions) -> Result<RemoteHandle> {
  let tier = tier::momento::MomentoTier::new(tier::momento::MomentoConfig {
    base_url: options.base_url,
    cache_name: options.cache_name,
    token: options.api_key,
    request_timeout: duration_ms(options.request_timeout_ms),
    max_concurrency: options.max_concurrency.max(1) as usize,
    compress_above: compress_threshold(options.compress_above_bytes),
  })
  .map_err(|e| Error::new(Status::InvalidArg, e))?;
  Ok(External::new(tier::Remote::Momento(tier)))
}
