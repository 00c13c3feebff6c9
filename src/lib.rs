#![deny(clippy::all)]
//! The native core of sequelize-native-cache.
//!
//! This file is only the N-API surface; each concept lives in its own module:
//! - [`key`]: canonical query keys, read straight from JS values;
//! - [`ffi`]: the safe surface over raw N-API and libuv (the only unsafe code);
//! - [`frame`]: the framed, versioned formats of stored values (checked, optionally signed);
//! - [`tier`]: the in-process tier (moka) and the network tiers (Redis on the event loop or on
//!   tokio, Momento);
//! - [`breaker`]: the network tiers' circuit breaker;
//! - [`fill`]: table generations and key leases that stop late fills;
//! - [`store`]: one client's in-process tier, guard and counters behind lookup / fill / invalidate;
//! - [`stats`]: counters per model and method;
//! - [`redact`]: keeping secrets out of log lines and error messages;
//! - [`limits`]: the bounds of every option, shared with JS;
//! - [`transport`]: Redis on the JS thread's own event loop (unsafe parts in [`ffi`]).
//!
//! Nothing here knows Sequelize beyond the shapes [`key`] recognizes; the JS shim in `js/`
//! decides what to cache and hydrates instances.

pub mod breaker;
pub mod epoch;
pub mod ffi;
pub mod fill;
pub mod frame;
pub mod key;
pub mod limits;
pub mod payload;
pub mod redact;
pub mod stats;
pub mod store;
pub mod tier;
pub mod transport;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::ffi::loop_napi::Js;
use crate::key::walk::Walker;
use crate::key::Unkeyable;
use crate::payload::Body;
use crate::stats::CacheEvent;
use crate::store::{FillOutcome, Lookup, Store, StoreOptions, TrustReason};

/// Builds the canonical key of a query: `head` (`prefix:method:segment`), the model's active
/// `scope` and the query `options`. Returns the key, or a number (an unkeyable-reason code for
/// [`unkeyable_reason`]) when the query cannot be keyed and must bypass the cache.
#[napi]
pub fn canonical_key(env: Env, head: String, scope: Unknown, options: Unknown) -> Either<String, u32> {
  let env = ffi::Env::new(&env);
  match Walker::new(env).query_key(&head, env.arg(&scope), env.arg(&options)) {
    Ok(key) => Either::A(key),
    Err(why) => Either::B(why as u32),
  }
}

/// The key of `findByPk(value)` when the call has no other options and the model no active
/// scope; equal to what [`canonical_key`] gives for `{ where: { [attr]: value } }`.
#[napi]
pub fn pk_key(env: Env, head: String, attr: String, value: Unknown) -> Either<String, u32> {
  let env = ffi::Env::new(&env);
  match Walker::new(env).pk_key(&head, &attr, env.arg(&value)) {
    Ok(key) => Either::A(key),
    Err(why) => Either::B(why as u32),
  }
}

/// The bypass reason for a code returned by [`canonical_key`].
#[napi]
pub fn unkeyable_reason(code: u32) -> &'static str {
  Unkeyable::from_code(code).map_or("unkeyable", Unkeyable::reason)
}

/// How many JS environments (the main thread's, each live worker's) hold key-walk state now.
/// Each releases it when the environment is torn down; tests read this to prove that workers
/// which come and go leave nothing behind.
#[napi]
pub fn key_environments() -> u32 {
  ffi::live_environments() as u32
}

/// Options of [`cache_create`], validated by the shim (and again here).
#[napi(object)]
pub struct NativeCacheOptions {
  /// Upper bound of the in-process tier, in bytes.
  pub max_bytes: f64,
  /// TTL of entries stored without one, in milliseconds.
  pub default_ttl_ms: f64,
}

/// Counters of one (model, method) pair (the fields of `stats::SlotSnapshot`, as JS numbers).
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
  /// Table generations tracked (tables this client has read or written).
  pub tables: f64,
  pub entries: f64,
  pub bytes: f64,
  pub evictions: f64,
  pub expirations: f64,
  pub slots: Vec<SlotStats>,
}

/// One cache client's store, held by JS as an opaque handle.
///
/// The binding is a set of plain functions taking this handle rather than a napi class: napi-rs
/// re-validates `this` on every class-method call (hundreds of nanoseconds here), which would
/// dominate an in-process hit.
type Handle = External<Arc<Store>>;

/// A TTL from JS: None unless positive; at most [`limits::MAX_TTL_MS`] (a longer one would
/// overflow the tier's clock arithmetic).
fn ttl_from_ms(ms: Option<f64>) -> Option<Duration> {
  ms.filter(|m| m.is_finite() && *m > 0.0)
    .map(|m| Duration::from_millis((m as u64).clamp(1, limits::MAX_TTL_MS as u64)))
}

/// A lookup as JS receives it (see [`cache_get`]): the payload's data with its header's id
/// written to `out[0]`, or the whole payload with 0 written there, and either way the entry's
/// time left to live, in whole milliseconds, written to `out[1]`; or a [`Lookup`] code.
fn lookup_key<'e>(env: &'e Env, cache: &Store, key: &str, slot: u32, out: &Unknown) -> Result<Unknown<'e>> {
  let js = ffi::Env::new(env);
  let answer = cache.lookup(key, slot, |body, left| {
    let (header, text) = match body {
      Body::Split { header, data } => (*header, &**data),
      Body::Whole(text) => (0, &**text),
    };
    // Whole milliseconds, rounded down: a reader's deadline never outlasts the entry.
    let left_ms = u32::try_from(left.as_millis()).unwrap_or(u32::MAX);
    js.set_u32s(js.arg(out), &[header, left_ms])?;
    js.create_text(text)
  });
  let value = match answer {
    Ok(made) => made,
    Err(why) => js.create_u32(why as u32),
  };
  value.map(|v| js.into_unknown(env, v)).map_err(|_| napi_failed())
}

/// The error a lookup throws when N-API itself fails (the caller's query then reads the database).
fn napi_failed() -> Error {
  Error::new(Status::GenericFailure, "cache lookup: an N-API call failed".to_owned())
}

/// A [`Lookup`] code (or [`Lookup::Unkeyable`] plus a reason) as a lookup returns it.
fn lookup_code<'e>(env: &'e Env, code: u32) -> Result<Unknown<'e>> {
  let js = ffi::Env::new(env);
  js.create_u32(code)
    .map(|v| js.into_unknown(env, v))
    .map_err(|_| napi_failed())
}

/// Creates a cache client's store.
#[napi]
pub fn cache_create(options: NativeCacheOptions) -> Result<Handle> {
  if !(options.max_bytes.is_finite() && options.max_bytes >= 1.0 && options.max_bytes <= limits::MAX_TIER_BYTES as f64)
  {
    return Err(Error::new(
      Status::InvalidArg,
      format!(
        "maxBytes must be a positive number of bytes of at most {}",
        limits::MAX_TIER_BYTES
      ),
    ));
  }
  let ttl_ok = options.default_ttl_ms.is_finite()
    && options.default_ttl_ms > 0.0
    && options.default_ttl_ms <= limits::MAX_TTL_MS as f64;
  let (true, Some(default_ttl)) = (ttl_ok, ttl_from_ms(Some(options.default_ttl_ms))) else {
    return Err(Error::new(
      Status::InvalidArg,
      format!(
        "defaultTtlSeconds must be a positive number of at most {} seconds",
        limits::MAX_TTL_MS / 1000
      ),
    ));
  };
  Ok(External::new(Arc::new(Store::new(StoreOptions {
    max_bytes: options.max_bytes as u64,
    default_ttl,
  }))))
}

/// An `ArrayBuffer` over the store's epoch (two `u32`s: the epoch and the changes in progress;
/// see the `epoch` module), which JS reads live to tell whether an answer it remembers still
/// holds; null where the runtime allows no external buffers (then JS remembers nothing).
#[napi(ts_return_type = "ArrayBuffer | null")]
pub fn cache_epoch_view<'e>(env: &'e Env, cache: &Handle) -> Result<Unknown<'e>> {
  let js = ffi::Env::new(env);
  let view = js.create_words_view(cache.epoch_cell()).or_else(|_| {
    js.clear_exception();
    js.null()
  });
  view.map(|v| js.into_unknown(env, v)).map_err(|_| napi_failed())
}

/// The stats slot of (model, method).
#[napi]
pub fn cache_slot(cache: &Handle, model: String, method: String) -> u32 {
  cache.stats().slot(&model, &method)
}

/// The generation id of a table (its schema-qualified name, or another generation name such as
/// `<table>#entities`), registering it on first use.
#[napi]
pub fn cache_table_id(cache: &Handle, name: String) -> u32 {
  cache.guard().table_id(&name)
}

/// The payload stored under `key`, or a [`Lookup`] code (`Corrupt`: then
/// [`cache_take_decode_error`] says why). A payload comes as the in-process tier keeps it (see
/// [`payload`]): its data, with the id of its header (for [`cache_header`]) written to `out[0]`,
/// a `Uint32Array` of at least two elements; or whole, with 0 written there. The entry's time left
/// to live, in whole milliseconds, is written to `out[1]`.
#[napi(ts_return_type = "string | number")]
pub fn cache_get<'e>(env: &'e Env, cache: &Handle, key: String, slot: u32, out: Unknown) -> Result<Unknown<'e>> {
  lookup_key(env, cache, &key, slot, &out)
}

/// The header line interned as `id` by the in-process tier (see [`cache_get`]); null for an id
/// it never gave out.
#[napi]
pub fn cache_header(cache: &Handle, id: u32) -> Option<String> {
  cache.header(id).map(|h| h.to_string())
}

/// Registers a key head (`prefix:method:segment`) and, for a model's bare `findByPk`, its
/// primary-key attribute (`""` for any other query); returns its id. Each later call then passes
/// the id, not the text.
#[napi]
pub fn cache_head(cache: &Handle, head: String, pk_attr: String) -> u32 {
  cache.register_head(head, pk_attr)
}

/// The key of `value` under a head registered by [`cache_head`] with its attribute; None for an
/// unknown head.
fn registered_pk_key(
  env: &Env,
  cache: &Store,
  pk_head: u32,
  value: &Unknown,
) -> Option<std::result::Result<String, Unkeyable>> {
  let env = ffi::Env::new(env);
  let (head, attr) = cache.head(pk_head)?;
  Some(Walker::new(env).pk_key(&head, &attr, env.arg(value)))
}

/// Builds the key of `findByPk(value)` with no options and no scope (as [`pk_key`], from a head
/// registered by [`cache_head`]) and looks it up in one crossing, so the hottest hit never
/// turns its key into a JS string. Returns the payload, a [`Lookup`] code (as [`cache_get`]),
/// or [`Lookup::Unkeyable`] plus an unkeyable-reason code.
#[napi(ts_return_type = "string | number")]
pub fn cache_lookup_pk<'e>(
  env: &'e Env,
  cache: &Handle,
  pk_head: u32,
  value: Unknown,
  slot: u32,
  out: Unknown,
) -> Result<Unknown<'e>> {
  match registered_pk_key(env, cache, pk_head, &value) {
    Some(Ok(key)) => lookup_key(env, cache, &key, slot, &out),
    Some(Err(why)) => lookup_code(env, Lookup::Unkeyable as u32 + why as u32),
    None => lookup_code(env, Lookup::Absent as u32),
  }
}

/// The key [`cache_lookup_pk`] builds for `value` under a registered head, or an unkeyable-reason
/// code (0 for an unknown head). Saves passing the head and attribute texts on every call.
#[napi]
pub fn cache_pk_key(env: Env, cache: &Handle, pk_head: u32, value: Unknown) -> Either<String, u32> {
  match registered_pk_key(&env, cache, pk_head, &value) {
    Some(Ok(key)) => Either::A(key),
    Some(Err(why)) => Either::B(why as u32),
    None => Either::B(0),
  }
}

/// Removes the entry whose key [`cache_lookup_pk`] would build for `value` under a registered
/// head (an entity entry), voiding any fill of it in flight. One crossing per write.
#[napi]
pub fn cache_invalidate_pk(env: Env, cache: &Handle, pk_head: u32, value: Unknown) {
  if let Some(Ok(key)) = registered_pk_key(&env, cache, pk_head, &value) {
    cache.invalidate_key(&key);
  }
}

/// Buffers of tape reads: the slots and text copied out of JS, and the reader's scratch.
#[derive(Default)]
struct TapeBuffers {
  slots: Vec<f64>,
  text: Vec<u16>,
  scratch: key::tape::Scratch,
}

impl TapeBuffers {
  /// Buffers up to this size are kept for the next key; larger ones (one key with a huge string
  /// or array) are freed rather than held by the thread for good.
  const KEPT_BYTES: usize = 64 * 1024;

  fn worth_keeping(&self) -> bool {
    self.slots.capacity() * 8 + self.text.capacity() * 2 + self.scratch.capacity_bytes() <= Self::KEPT_BYTES
  }
}

thread_local! {
  /// Buffers reused by tape reads on this thread (taken while in use, so a read that runs JS
  /// which reads another tape gets fresh ones).
  static TAPE_BUFFERS: std::cell::Cell<Option<TapeBuffers>> = const { std::cell::Cell::new(None) };
}

/// The key of a query gathered on a tape (see [`key::tape`]) under a head registered by
/// [`cache_head`]; None for an unknown head.
#[allow(clippy::too_many_arguments)]
fn tape_key(
  env: &Env,
  cache: &Store,
  head: u32,
  slots: &Unknown,
  len: u32,
  text: &Unknown,
  text_len: u32,
  refs: &Unknown,
) -> Option<std::result::Result<String, Unkeyable>> {
  let (head, _) = cache.head(head)?;
  let env = ffi::Env::new(env);
  let mut buffers = TAPE_BUFFERS.with(|b| b.take()).unwrap_or_default();
  let result = (|| {
    env.f64_prefix(env.arg(slots), len as usize, &mut buffers.slots)?;
    let text = env.utf16_units(env.arg(text), text_len as usize, &mut buffers.text)?;
    let tape = key::tape::Tape {
      slots: &buffers.slots,
      text,
      refs: env.arg(refs),
    };
    let mut reader = key::tape::TapeReader::new(env, tape, std::mem::take(&mut buffers.scratch));
    let key = reader.query_key(&head);
    buffers.scratch = reader.into_scratch();
    Ok(key)
  })()
  .unwrap_or_else(|ffi::Failed| {
    env.clear_exception();
    Err(Unkeyable::Unreadable)
  });
  if buffers.worth_keeping() {
    TAPE_BUFFERS.with(|b| b.set(Some(buffers)));
  }
  Some(result)
}

/// The key of a query gathered on a tape by the shim (`len` slots of the `Float64Array`
/// `slots`, strings in `text` of `text_len` UTF-16 units, other values in the array `refs`), under
/// a head registered by [`cache_head`]: the text [`canonical_key`] gives for the same scope and
/// options. A number (an unkeyable-reason code) when the query cannot be keyed; 0 for an unknown
/// head.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn cache_tape_key(
  env: Env,
  cache: &Handle,
  head: u32,
  slots: Unknown,
  len: u32,
  text: Unknown,
  text_len: u32,
  refs: Unknown,
) -> Either<String, u32> {
  match tape_key(&env, cache, head, &slots, len, &text, text_len, &refs) {
    Some(Ok(key)) => Either::A(key),
    Some(Err(why)) => Either::B(why as u32),
    None => Either::B(0),
  }
}

/// Keys a query gathered on a tape (as [`cache_tape_key`]) and looks it up, in one crossing; its
/// key text only becomes a JS string if the caller asks for it. Returns the payload, a [`Lookup`]
/// code (as [`cache_get`]), or [`Lookup::Unkeyable`] plus an unkeyable-reason code.
#[napi(ts_return_type = "string | number")]
#[allow(clippy::too_many_arguments)]
pub fn cache_lookup_tape<'e>(
  env: &'e Env,
  cache: &Handle,
  head: u32,
  slots: Unknown,
  len: u32,
  text: Unknown,
  text_len: u32,
  refs: Unknown,
  slot: u32,
  out: Unknown,
) -> Result<Unknown<'e>> {
  match tape_key(env, cache, head, &slots, len, &text, text_len, &refs) {
    Some(Ok(key)) => lookup_key(env, cache, &key, slot, &out),
    Some(Err(why)) => lookup_code(env, Lookup::Unkeyable as u32 + why as u32),
    None => lookup_code(env, Lookup::Absent as u32),
  }
}

/// Why the last corrupt entry could not be decoded.
#[napi]
pub fn cache_take_decode_error(cache: &Handle) -> Option<String> {
  cache.take_decode_error()
}

/// Starts a read of `key` that depends on `tables` (ids from [`cache_table_id`]); returns its
/// ticket. The ticket lives until [`cache_release`].
#[napi]
pub fn cache_begin_fill(cache: &Handle, key: String, tables: Vec<u32>) -> u32 {
  cache.begin_fill(&key, &tables)
}

/// True while the read behind `ticket` is as fresh as one begun now: the ticket was not
/// released, its key was not invalidated or taken by a newer ticket, nothing was cleared and none
/// of its tables was bumped. A read may join a read in flight only while this holds. A landed
/// ticket is still checked.
#[napi]
pub fn cache_ticket_current(cache: &Handle, ticket: u32) -> bool {
  cache.ticket_current(ticket)
}

/// Ends a ticket (landed or not): its read failed, or its flight is over.
#[napi]
pub fn cache_release(cache: &Handle, ticket: u32) {
  cache.release(ticket)
}

/// Stores `payload` unless an invalidation overtook the ticket (or it landed before); see
/// [`FillOutcome`] (`Rejected`: store it nowhere; `Untrusted`: current, but this tier is
/// untrusted, see [`redis_attach_l1`]). The ticket stays alive until [`cache_release`].
#[napi]
pub fn cache_fill(cache: &Handle, ticket: u32, payload: String, ttl_ms: Option<f64>, slot: u32) -> FillOutcome {
  cache.fill(ticket, &payload, ttl_from_ms(ttl_ms), slot)
}

/// Stores bytes as they are, without framing them, so tests can prove that bytes the frame
/// format did not write read back as a miss. Built only with the `test-hooks` feature, and kept
/// out of the generated typings, so they are the same whichever features a build has.
#[cfg(feature = "test-hooks")]
#[napi(skip_typescript)]
pub fn cache_fill_raw(cache: &Handle, ticket: u32, frame: &[u8], ttl_ms: Option<f64>, slot: u32) -> FillOutcome {
  cache.fill_frame(ticket, frame, ttl_from_ms(ttl_ms), slot)
}

/// Lands a ticket without storing anything here: true if no invalidation overtook it. Used when
/// the value goes to a tier outside this engine (a JS adapter). The ticket stays alive until
/// [`cache_release`].
#[napi]
pub fn cache_settle(cache: &Handle, ticket: u32) -> bool {
  cache.guard().land(ticket, |_| {})
}

/// Counts `count` occurrences of an event that happened outside the in-process tier (the shim
/// counts them as they happen and reports them before stats are read). A value that is not a
/// [`CacheEvent`] is refused (an `InvalidArg` error), never counted.
#[napi]
pub fn cache_record_events(cache: &Handle, slot: u32, event: CacheEvent, count: u32) {
  cache.stats().record_n(slot, event, u64::from(count));
}

/// Removes `key` and voids any fill of it in flight.
#[napi]
pub fn cache_invalidate_key(cache: &Handle, key: String) {
  cache.invalidate_key(&key)
}

/// Makes every entry and in-flight fill that read the table stale.
#[napi]
pub fn cache_bump_table(cache: &Handle, table_id: u32) {
  cache.bump_table(table_id)
}

/// Sets (`trusted: false`) or clears one reason not to trust the in-process tier; it answers and
/// stores only while no reason is set, and is emptied on every change (see [`TrustReason`]).
#[napi]
pub fn cache_set_trust(cache: &Handle, reason: TrustReason, trusted: bool) {
  cache.set_trust(reason, trusted)
}

/// Removes every entry and voids every fill in flight.
#[napi]
pub fn cache_clear(cache: &Handle) {
  cache.clear()
}

/// Counts a call that went to the database without touching the cache.
#[napi]
pub fn cache_record_bypass(cache: &Handle, slot: u32, reason: String) {
  cache.stats().record_bypass(slot, &reason)
}

/// A snapshot of the counters.
#[napi]
pub fn cache_stats(cache: &Handle) -> NativeStats {
  let (entries, bytes) = cache.usage();
  let s = cache.stats();
  NativeStats {
    tables: cache.guard().table_count() as f64,
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
  /// `closed`, `open` or `probing`.
  pub phase: String,
  /// How many times the phase changed.
  pub changes: f64,
}

impl BreakerState {
  fn of(b: &breaker::Breaker) -> BreakerState {
    BreakerState {
      phase: b.phase().as_str().to_owned(),
      changes: b.changes() as f64,
    }
  }
}

/// A network tier (Redis or Momento) behind one set of calls.
type RemoteHandle = External<tier::Remote>;

/// What a network call's promise resolves to: the value, or an `Error` whose `code` is the
/// failure's [`tier::TierError::code`]. js/native.js throws the latter, so callers see a rejection
/// with `err.code`. (A rejected napi promise can only carry napi's own status as its code.)
type Settled<T> = Either<T, Error<String>>;

fn settled<T>(r: std::result::Result<T, tier::TierError>) -> Result<Settled<T>> {
  Ok(match r {
    Ok(v) => Either::A(v),
    Err(e) => Either::B(Error::new(e.code().to_owned(), e.to_string())),
  })
}

/// Network calls handed to napi's tokio runtime since the addon was loaded. Each costs two thread
/// crossings (JS thread → runtime worker → JS thread); the bench and tests read it to show that a
/// Redis-tier hit on the event-loop transport makes none.
static TOKIO_CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs `call` on napi's tokio runtime, counted in [`TOKIO_CALLS`].
fn on_tokio<'e, T: ToNapiValue + Send + 'static>(
  env: &'e Env,
  call: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<PromiseRaw<'e, T>> {
  TOKIO_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
  env.spawn_future(call)
}

/// How many network calls went through the tokio runtime since the addon was loaded (each is two
/// thread crossings). A call on the event-loop transport is not one of them.
#[napi]
pub fn tokio_calls() -> f64 {
  TOKIO_CALLS.load(std::sync::atomic::Ordering::Relaxed) as f64
}

/// A timeout from JS, from 1 ms to [`limits::MAX_TIMEOUT_MS`].
fn duration_ms(v: f64) -> Duration {
  let ms = if v.is_finite() && v >= 1.0 { v as u64 } else { 1 };
  Duration::from_millis(ms.min(limits::MAX_TIMEOUT_MS as u64))
}

fn compress_threshold(bytes: f64) -> usize {
  if bytes >= 1.0 {
    bytes as usize
  } else {
    usize::MAX
  }
}

/// The sealer of a tier's or adapter's values. The key is checked here too (the shim checks it
/// first, naming the option); the error never includes it.
fn sealer_of(integrity_key: Option<&[u8]>, max_value_bytes: f64, compress_above_bytes: f64) -> Result<frame::Sealer> {
  if !(max_value_bytes.is_finite() && max_value_bytes >= 1.0 && max_value_bytes <= limits::MAX_VALUE_BYTES as f64) {
    return Err(Error::new(
      Status::InvalidArg,
      format!(
        "maxValueBytes must be a positive number of bytes of at most {}",
        limits::MAX_VALUE_BYTES
      ),
    ));
  }
  frame::Sealer::new(
    integrity_key,
    max_value_bytes as usize,
    compress_threshold(compress_above_bytes),
  )
  .map_err(|e| Error::new(Status::InvalidArg, e))
}

/// A stored value this client did not write for its key (see [`frame::DecodeError`]).
#[napi(object)]
pub struct RejectedValue {
  /// Its position among the keys asked for.
  pub index: u32,
  /// Why it was rejected, for the log (never the value itself).
  pub reason: String,
}

/// What [`remote_mget`] found.
#[napi(object)]
pub struct RemoteValues {
  /// One per key: the value, or null where nothing usable is stored.
  pub values: Vec<Option<String>>,
  /// The keys whose stored bytes were rejected (null in `values`): misses to count and log.
  pub rejected: Vec<RejectedValue>,
}

/// Values of several keys: one MGET on Redis, concurrent GETs on Momento. Any tier problem is a
/// failure (see [`Settled`]; the caller treats it as a miss).
#[napi]
pub fn remote_mget<'e>(
  env: &'e Env,
  tier: &RemoteHandle,
  keys: Vec<String>,
) -> Result<PromiseRaw<'e, Settled<RemoteValues>>> {
  let t = (**tier).clone();
  on_tokio(env, async move { settled(t.mget(keys).await.map(remote_values)) })
}

/// Reads as JS receives them: values, and the rejected ones apart.
fn remote_values(reads: Vec<tier::Read>) -> RemoteValues {
  let mut out = RemoteValues {
    values: Vec::with_capacity(reads.len()),
    rejected: Vec::new(),
  };
  for (i, r) in reads.into_iter().enumerate() {
    out.values.push(match r {
      tier::Read::Value(v) => Some(v),
      tier::Read::Absent => None,
      tier::Read::Rejected(e) => {
        out.rejected.push(RejectedValue {
          index: i as u32,
          reason: e.to_string(),
        });
        None
      }
    });
  }
  out
}

/// Stores a value with a TTL in milliseconds.
#[napi]
pub fn remote_set<'e>(
  env: &'e Env,
  tier: &RemoteHandle,
  key: String,
  value: String,
  ttl_ms: f64,
) -> Result<PromiseRaw<'e, Settled<()>>> {
  let t = (**tier).clone();
  let ttl = ttl_from_ms(Some(ttl_ms)).map_or(1, |d| d.as_millis() as u64);
  on_tokio(env, async move { settled(t.set(key, value, ttl).await) })
}

/// Deletes a key.
#[napi]
pub fn remote_del<'e>(env: &'e Env, tier: &RemoteHandle, key: String) -> Result<PromiseRaw<'e, Settled<()>>> {
  let t = (**tier).clone();
  on_tokio(env, async move { settled(t.del(key).await) })
}

/// The breaker's state, so the shim can log once per change.
#[napi]
pub fn remote_breaker(tier: &RemoteHandle) -> BreakerState {
  BreakerState::of(tier.breaker())
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
  /// Whether `urls` are a cluster's nodes.
  pub cluster: bool,
  /// Connect timeout, in milliseconds.
  pub connect_timeout_ms: f64,
  /// Command timeout, in milliseconds.
  pub command_timeout_ms: f64,
  /// Values of at least this many bytes are stored compressed (0: never).
  pub compress_above_bytes: f64,
  /// For `rediss://`: a CA certificate (PEM) trusted instead of the system's roots.
  pub tls_ca: Option<String>,
  /// Values read back longer than this (plus their frame) are misses, never decoded.
  pub max_value_bytes: f64,
  /// Signs every stored value with HMAC-SHA-256 under this key (at least 32 bytes).
  pub integrity_key: Option<Buffer>,
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
  let sealer = sealer_of(
    options.integrity_key.as_deref(),
    options.max_value_bytes,
    options.compress_above_bytes,
  )?;
  Ok(External::new(tier::Remote::Redis(tier::redis::RedisTier::new(
    tier::redis::RedisConfig {
      urls: options.urls,
      cluster: options.cluster,
      connect_timeout: duration_ms(options.connect_timeout_ms),
      command_timeout: duration_ms(options.command_timeout_ms),
      sealer,
      tls_ca: options.tls_ca.map(String::into_bytes),
    },
  ))))
}

fn redis_of(tier: &RemoteHandle) -> Result<&Arc<tier::redis::RedisTier>> {
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
) -> Result<PromiseRaw<'e, Settled<()>>> {
  let t = Arc::clone(redis_of(tier)?);
  on_tokio(env, async move { settled(t.publish(channel, message).await) })
}

/// Puts the in-process tier `cache` in front of Redis as its L1: a background task subscribes to
/// `channel` and bumps the local generation of every table named in a message that this process
/// knows (see `Store::apply_invalidation`). While the
/// subscription is down the L1 is untrusted (it answers nothing and stores nothing) and it is
/// emptied on every change, since messages may have been missed.
#[napi]
pub fn redis_attach_l1(tier: &RemoteHandle, cache: &Handle, channel: String) -> Result<()> {
  let tier = redis_of(tier)?;
  let on_message = {
    let cache = Arc::clone(cache);
    move |tables: &[u8]| cache.apply_invalidation(tables)
  };
  let on_state = {
    let cache = Arc::clone(cache);
    move |subscribed: bool| cache.set_trust(TrustReason::Subscription, subscribed)
  };
  cache.set_trust(TrustReason::Subscription, false);
  tier::redis::RedisTier::subscribe(Arc::clone(tier), channel, on_message, on_state);
  Ok(())
}

// ---- the Redis tier on the event loop -----------------------------------------------------------

/// A single Redis node on this thread's event loop (see [`tier::redis_loop`]).
type LoopRedisHandle = External<tier::redis_loop::LoopRedisTier>;

/// Why the event-loop Redis transport cannot run in this process, or null when it can (then
/// RedisCache uses it for a single node).
#[napi]
pub fn redis_loop_unavailable() -> Option<String> {
  transport::redis::available().err().map(str::to_owned)
}

/// A Redis tier for one node on the event loop of the calling thread. Nothing connects until
/// the first command.
#[napi]
pub fn redis_loop_create(env: Env, options: RedisOptions) -> Result<LoopRedisHandle> {
  if options.urls.len() != 1 || options.cluster {
    return Err(Error::new(
      Status::InvalidArg,
      "the event-loop tier takes one Redis URL",
    ));
  }
  let sealer = sealer_of(
    options.integrity_key.as_deref(),
    options.max_value_bytes,
    options.compress_above_bytes,
  )?;
  tier::redis_loop::LoopRedisTier::open(
    &Js::from_call(&env),
    &options.urls[0],
    options.tls_ca.as_deref().map(str::as_bytes),
    duration_ms(options.connect_timeout_ms),
    duration_ms(options.command_timeout_ms),
    sealer,
  )
  .map(External::new)
  .map_err(|e| Error::new(Status::InvalidArg, e))
}

/// A promise for a loop-tier call: `issue` sends the command with the promise's [`Pending`]
/// resolver for its completion; when nothing could be sent, the promise resolves at once to the
/// error (see [`Settled`]). Either way the resolver is settled exactly once.
///
/// [`Pending`]: tier::redis_loop::Pending
fn loop_promise<'e>(
  env: &'e Env,
  issue: impl FnOnce(tier::redis_loop::Pending) -> std::result::Result<(), tier::TierError>,
) -> Result<Unknown<'e>> {
  let js = Js::from_call(env);
  let (deferred, promise) = js.promise().map_err(|_| Error::from_reason("N-API failure"))?;
  let pending = tier::redis_loop::Pending::new(deferred);
  if let Err(e) = issue(pending.clone()) {
    pending.settle(&js, Err::<(), _>(e), |js, ()| js.undefined());
  }
  Ok(promise.into_unknown(&js))
}

/// MGET: resolves to `[values, rejected]` (values: a string or null per key; rejected:
/// `[index, reason]` pairs), or to an `Error` with a `code`.
#[napi(ts_return_type = "Promise<[Array<string | null>, Array<[number, string]>] | Error>")]
pub fn redis_loop_mget<'e>(env: &'e Env, tier: &LoopRedisHandle, keys: Vec<String>) -> Result<Unknown<'e>> {
  loop_promise(env, |d| {
    tier.mget(keys, move |js, r| d.settle(js, r, tier::redis_loop::reads_value))
  })
}

/// SET with a TTL in milliseconds; resolves to undefined or an `Error` with a `code`.
#[napi(ts_return_type = "Promise<undefined | Error>")]
pub fn redis_loop_set<'e>(
  env: &'e Env,
  tier: &LoopRedisHandle,
  key: String,
  value: String,
  ttl_ms: f64,
) -> Result<Unknown<'e>> {
  let ttl = ttl_from_ms(Some(ttl_ms)).map_or(1, |d| d.as_millis() as u64);
  loop_promise(env, |d| {
    tier.set(&key, &value, ttl, move |js, r| d.settle(js, r, |js, ()| js.undefined()))
  })
}

/// DEL; resolves to undefined or an `Error` with a `code`.
#[napi(ts_return_type = "Promise<undefined | Error>")]
pub fn redis_loop_del<'e>(env: &'e Env, tier: &LoopRedisHandle, key: String) -> Result<Unknown<'e>> {
  loop_promise(env, |d| {
    tier.del(&key, move |js, r| d.settle(js, r, |js, ()| js.undefined()))
  })
}

/// PUBLISH (see [`redis_publish`]); resolves to undefined or an `Error` with a `code`.
#[napi(ts_return_type = "Promise<undefined | Error>")]
pub fn redis_loop_publish<'e>(
  env: &'e Env,
  tier: &LoopRedisHandle,
  channel: String,
  message: String,
) -> Result<Unknown<'e>> {
  loop_promise(env, |d| {
    tier.publish(&channel, &message, move |js, r| {
      d.settle(js, r, |js, ()| js.undefined())
    })
  })
}

/// Puts `cache` in front of the tier as its L1 (see [`redis_attach_l1`]), subscribed on a second
/// connection of the same loop.
#[napi]
pub fn redis_loop_attach_l1(env: Env, tier: &LoopRedisHandle, cache: &Handle, channel: String) -> Result<()> {
  tier
    .attach_l1(&Js::from_call(&env), Arc::clone(cache), &channel)
    .map_err(|e| Error::new(Status::GenericFailure, e))
}

/// The breaker's state (see [`remote_breaker`]).
#[napi]
pub fn redis_loop_breaker(tier: &LoopRedisHandle) -> BreakerState {
  BreakerState::of(tier.breaker())
}

/// Counters of the event-loop tier's command connection.
#[napi(object)]
pub struct LoopTransportStats {
  /// Commands written.
  pub writes: f64,
  /// Replies parsed.
  pub replies: f64,
  /// libuv callbacks of this connection that ran on another thread than its JS thread (0 is the
  /// invariant: everything happens on the loop of the thread that made the client).
  pub foreign_thread_callbacks: f64,
}

/// The event-loop tier's counters (see [`LoopTransportStats`]).
#[napi]
pub fn redis_loop_stats(tier: &LoopRedisHandle) -> LoopTransportStats {
  let s = tier.stats();
  LoopTransportStats {
    writes: s.writes as f64,
    replies: s.replies as f64,
    foreign_thread_callbacks: s.foreign_thread_callbacks as f64,
  }
}

/// Closes the tier: pending commands fail, the subscription ends, nothing more is sent.
#[napi]
pub fn redis_loop_close(env: Env, tier: &LoopRedisHandle) {
  tier.close(&Js::from_call(&env));
}

/// Options of [`momento_create`], validated by the shim (which also resolves the credentials).
#[napi(object)]
pub struct MomentoOptions {
  /// `https://api.cache.<cell-host>`, or a loopback `http://` URL.
  pub base_url: String,
  /// The Momento cache.
  pub cache_name: String,
  /// The key sent as `Authorization`.
  pub api_key: String,
  /// Covers waiting for a request slot and the request, in milliseconds.
  pub request_timeout_ms: f64,
  /// Requests in flight at most.
  pub max_concurrency: u32,
  /// Values of at least this many bytes are stored compressed (0: never).
  pub compress_above_bytes: f64,
  /// Values read back longer than this (plus their frame) are misses, never downloaded whole.
  pub max_value_bytes: f64,
  /// Signs every stored value with HMAC-SHA-256 under this key (at least 32 bytes).
  pub integrity_key: Option<Buffer>,
}

/// A Momento tier over its HTTP API. Nothing connects until the first request.
#[napi]
pub fn momento_create(options: MomentoOptions) -> Result<RemoteHandle> {
  let sealer = sealer_of(
    options.integrity_key.as_deref(),
    options.max_value_bytes,
    options.compress_above_bytes,
  )?;
  let tier = tier::momento::MomentoTier::new(tier::momento::MomentoConfig {
    base_url: options.base_url,
    cache_name: options.cache_name,
    token: options.api_key,
    request_timeout: duration_ms(options.request_timeout_ms),
    max_concurrency: options.max_concurrency.clamp(1, limits::MAX_CONCURRENT_REQUESTS) as usize,
    sealer,
  })
  .map_err(|e| Error::new(Status::InvalidArg, e))?;
  Ok(External::new(tier::Remote::Momento(tier)))
}

// ---- text frames, for JS adapters -------------------------------------------------------------

/// Options of [`text_sealer_create`].
#[napi(object)]
pub struct TextSealerOptions {
  /// Values read back longer than this (plus their frame) are misses, never checked further.
  pub max_value_bytes: f64,
  /// Signs every stored value with HMAC-SHA-256 under this key (at least 32 bytes).
  pub integrity_key: Option<Buffer>,
}

/// What [`text_open`] found: the body, or why the text was rejected.
#[napi(object)]
pub struct OpenedText {
  /// The body, when the frame checked out.
  pub body: Option<String>,
  /// Why the text was rejected (see [`frame::DecodeError`]).
  pub rejected: Option<String>,
}

/// A circuit breaker with every tier's policy ([`breaker::Breaker::for_tier`]), for the calls the
/// shim makes on a JS adapter: one per adapter.
#[napi]
pub fn breaker_create() -> External<breaker::Breaker> {
  External::new(breaker::Breaker::for_tier())
}

/// Whether a call may go out now (past the back-off, exactly one probe).
#[napi]
pub fn breaker_allow(b: &External<breaker::Breaker>) -> bool {
  b.allow()
}

/// Reports a call that succeeded.
#[napi]
pub fn breaker_success(b: &External<breaker::Breaker>) {
  b.success()
}

/// Reports a call that failed (or missed its deadline).
#[napi]
pub fn breaker_failure(b: &External<breaker::Breaker>) {
  b.failure()
}

/// The breaker's phase and how often it changed.
#[napi]
pub fn breaker_state(b: &External<breaker::Breaker>) -> BreakerState {
  BreakerState::of(b)
}

/// Seals and opens the text frames a JS adapter stores (see [`frame`]): one per adapter client.
#[napi]
pub fn text_sealer_create(options: TextSealerOptions) -> Result<External<frame::Sealer>> {
  sealer_of(options.integrity_key.as_deref(), options.max_value_bytes, 0.0).map(External::new)
}

/// `body` as a text frame to be stored under `key` for `ttl_ms`.
#[napi]
pub fn text_seal(sealer: &External<frame::Sealer>, key: String, body: String, ttl_ms: f64) -> String {
  let ttl = ttl_from_ms(Some(ttl_ms)).map_or(1, |d| d.as_millis() as u64);
  sealer.seal_text(&key, &body, ttl)
}

/// The body of a text frame read back from under `key`, or why it is not one this client wrote
/// for that key.
#[napi]
pub fn text_open(sealer: &External<frame::Sealer>, key: String, text: String) -> OpenedText {
  match sealer.open_text(&key, &text) {
    Ok(body) => OpenedText {
      body: Some(body.to_owned()),
      rejected: None,
    },
    Err(e) => OpenedText {
      body: None,
      rejected: Some(e.to_string()),
    },
  }
}

/// `text` with every one of `secrets`, anything after an `Authorization` header name and every
/// token-like run replaced, printable and at most `maxChars` characters long (see [`redact`]).
/// For messages that come from outside (a credential provider's error, a service's answer).
#[napi]
pub fn scrub_text(text: String, secrets: Vec<String>, max_chars: Option<u32>) -> String {
  let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
  redact::scrub(
    &text,
    &secrets,
    max_chars.map_or(redact::MAX_SNIPPET_CHARS, |n| n as usize),
  )
}
