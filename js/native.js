'use strict';
// Loads the napi-rs binding. The generated loader (js/binding/index.js) stays internal: the rest
// of the shim reaches the Rust core from here (with method shapes, the enums of the typed
// contract and the limits), and users import from js/index.js.
let binding;
try {
  binding = require('./binding/index.js');
} catch (err) {
  const e = new Error(
    'sequelize-native-cache: the native engine could not be loaded. In a checkout, run `npm install` ' +
      '(it builds the Rust core with `napi build --release`); when installed from npm, make sure the ' +
      `platform package for ${process.platform}-${process.arch} is installed. Cause: ${err.message}`,
  );
  e.cause = err;
  throw e;
}

/**
 * One client's native store (src/store.rs) as an object. The binding exposes plain functions over
 * an opaque handle (see src/lib.rs for why); this gives them back a method shape.
 */
function createCache(options) {
  const h = binding.cacheCreate(options);
  // Where a lookup writes the header id of the payload it returns (see lastHeader) and the
  // time its entry has left (see lastTimeLeft).
  const out = new Uint32Array(2);
  const cache = {
    handle: h,
    slot: (model, method) => binding.cacheSlot(h, model, method),
    tableId: (name) => binding.cacheTableId(h, name),
    /**
     * A lookup (get, lookupTape, lookupPk) returns a Lookup code, or a payload as the in-process
     * tier keeps it (src/payload.rs): its data, when lastHeader() right after the call is the id
     * of its header line (for header()), or the whole payload when lastHeader() is 0.
     */
    get: (key, slot) => binding.cacheGet(h, key, slot, out),
    lastHeader: () => out[0],
    /** After a lookup that returned a payload: its entry's time left to live, whole milliseconds. */
    lastTimeLeft: () => out[1],
    /**
     * An ArrayBuffer over the store's epoch, read live: two u32 words, a counter that moves when a
     * change that can void an answer the tier gave begins and ends (and on an eviction), and the
     * changes in progress (src/epoch.rs); null where the runtime allows no external buffers.
     */
    epochView: () => binding.cacheEpochView(h),
    /** The header line interned as `id`, or null. */
    header: (id) => binding.cacheHeader(h, id),
    /** The id of a key head (and of its bare findByPk's pk attribute; '' for other queries). */
    head: (head, pkAttr) => binding.cacheHead(h, head, pkAttr),
    /** The key of a query gathered on a tape (js/engine/gather.js), or an Unkeyable code. */
    tapeKey: (headId, tape) => binding.cacheTapeKey(h, headId, tape.slots, tape.n, tape.text, tape.text.length, tape.refs),
    /** Keys a tape and looks it up in one call (a lookup, as get). */
    lookupTape: (headId, tape, slot) => binding.cacheLookupTape(h, headId, tape.slots, tape.n, tape.text, tape.text.length, tape.refs, slot, out),
    /** Keys a bare findByPk under a registered head and looks it up in one call (a lookup, as get). */
    lookupPk: (pkHead, value, slot) => binding.cacheLookupPk(h, pkHead, value, slot, out),
    /** The key lookupPk builds, or an Unkeyable code. */
    pkKey: (pkHead, value) => binding.cachePkKey(h, pkHead, value),
    invalidatePk: (pkHead, value) => binding.cacheInvalidatePk(h, pkHead, value),
    takeDecodeError: () => binding.cacheTakeDecodeError(h),
    /** Starts a read of `key` that depends on `tableIds`; returns its ticket (see release). */
    beginFill: (key, tableIds) => binding.cacheBeginFill(h, key, tableIds),
    fill: (ticket, payload, ttlMs, slot) => binding.cacheFill(h, ticket, payload, ttlMs, slot),
    /** True while `ticket`'s read is as fresh as one begun now (a read may join it). */
    ticketCurrent: (ticket) => binding.cacheTicketCurrent(h, ticket),
    /** Ends a ticket; every ticket must be released once its flight is over, landed or not. */
    release: (ticket) => binding.cacheRelease(h, ticket),
    settle: (ticket) => binding.cacheSettle(h, ticket),
    /** Counts `count` occurrences of a CacheEvent (the engine's EventCounts reports them). */
    recordEvents: (slot, event, count) => binding.cacheRecordEvents(h, slot, event, count),
    invalidateKey: (key) => binding.cacheInvalidateKey(h, key),
    bumpTable: (id) => binding.cacheBumpTable(h, id),
    /** Sets (`trusted: false`) or clears one TrustReason; the tier answers only while none is set. */
    setTrust: (reason, trusted) => binding.cacheSetTrust(h, reason, trusted),
    clear: () => binding.cacheClear(h),
    recordBypass: (slot, reason) => binding.cacheRecordBypass(h, slot, reason),
    stats: () => binding.cacheStats(h),
  };
  // Only in builds with the `test-hooks` feature: stores bytes as an in-process frame (tests of foreign bytes).
  if (typeof binding.cacheFillRaw === 'function') cache.fillRaw = (ticket, frame, ttlMs, slot) => binding.cacheFillRaw(h, ticket, frame, ttlMs, slot);
  return cache;
}

/**
 * A network call's promise as callers see it: the core resolves it to the value or to an Error
 * whose `code` names the failure (`timeout`, `unauthorized`, `cache-not-found`, ...; see
 * src/tier/mod.rs TierError::code); the Error is thrown here, so the promise rejects with it.
 */
async function settled(promise) {
  const v = await promise;
  if (v instanceof Error) throw v;
  return v;
}

/** The calls every network tier answers (src/tier/mod.rs `Remote`); each returns a promise. */
function remote(h) {
  return {
    /** Resolves to `{ values, rejected: [{ index, reason }] }` (see src/lib.rs RemoteValues). */
    mget: (keys) => settled(binding.remoteMget(h, keys)),
    /** Stores `value` under `key` for `ttlMs` milliseconds. */
    set: (key, value, ttlMs) => settled(binding.remoteSet(h, key, value, ttlMs)),
    del: (key) => settled(binding.remoteDel(h, key)),
    breaker: () => binding.remoteBreaker(h),
    close: () => binding.remoteClose(h),
  };
}

/** A Redis tier in the Rust core (redis-rs on tokio: a cluster, or the fallback), with pub/sub for L1 coherence. */
function createRedis(options) {
  const h = binding.redisCreate(options);
  return {
    ...remote(h),
    publish: (channel, message) => settled(binding.redisPublish(h, channel, message)),
    /** Makes `cache` (from createCache) this tier's L1, kept coherent through `channel`. */
    attachL1: (cache, channel) => binding.redisAttachL1(h, cache.handle, channel),
  };
}

/**
 * A single Redis node on this thread's event loop (src/tier/redis_loop.rs): the same calls as
 * createRedis, with no thread crossing per command. Throws when the runtime offers no libuv loop.
 */
function createRedisLoop(options) {
  const h = binding.redisLoopCreate(options);
  return {
    mget: (keys) => binding.redisLoopMget(h, keys).then(loopValues),
    set: (key, value, ttlMs) => settled(binding.redisLoopSet(h, key, value, ttlMs)),
    del: (key) => settled(binding.redisLoopDel(h, key)),
    breaker: () => binding.redisLoopBreaker(h),
    close: () => binding.redisLoopClose(h),
    publish: (channel, message) => settled(binding.redisLoopPublish(h, channel, message)),
    attachL1: (cache, channel) => binding.redisLoopAttachL1(h, cache.handle, channel),
    /** The command connection's counters: `{ writes, replies, foreignThreadCallbacks }`. */
    transportStats: () => binding.redisLoopStats(h),
  };
}

/** An event-loop MGET's answer as createRedis's: `{ values, rejected: [{ index, reason }] }`. */
function loopValues(v) {
  if (v instanceof Error) throw v;
  const [values, rejected] = v;
  return { values, rejected: rejected.length === 0 ? rejected : rejected.map(([index, reason]) => ({ index, reason })) };
}

/** Why the event-loop Redis transport cannot run here, or null when it can. */
const redisLoopUnavailable = () => binding.redisLoopUnavailable();

/** A Momento tier in the Rust core (its HTTP API with reqwest). */
function createMomento(options) {
  return remote(binding.momentoCreate(options));
}

/**
 * Checked text frames for a JS adapter's values (src/frame.rs), bound to the key they are stored
 * under: `seal(key, body, ttlMs)` → text; `open(key, text)` → `{ body }` or `{ rejected: reason }`.
 */
function createTextSealer({ maxValueBytes, integrityKey }) {
  const h = binding.textSealerCreate({ maxValueBytes, integrityKey });
  return {
    seal: (key, body, ttlMs) => binding.textSeal(h, key, body, ttlMs),
    open: (key, text) => binding.textOpen(h, key, text),
  };
}

/**
 * A circuit breaker with the network tiers' policy (src/breaker.rs), for a JS adapter's calls:
 * `allow()` before a call, then `success()` or `failure()`; `state()` → `{ phase, changes }`.
 */
function createBreaker() {
  const h = binding.breakerCreate();
  return {
    allow: () => binding.breakerAllow(h),
    success: () => binding.breakerSuccess(h),
    failure: () => binding.breakerFailure(h),
    state: () => binding.breakerState(h),
  };
}

module.exports = {
  createBreaker,
  createCache,
  createRedis,
  createRedisLoop,
  redisLoopUnavailable,
  createMomento,
  createTextSealer,
  /** Why a lookup found no payload (src/store.rs Lookup); `Unkeyable` + reason code when unkeyable. */
  Lookup: binding.Lookup,
  /** What became of a fill (src/store.rs FillOutcome). */
  FillOutcome: binding.FillOutcome,
  /** Events JS counts and reports with recordEvents (src/stats.rs CacheEvent). */
  CacheEvent: binding.CacheEvent,
  /** Reasons not to trust the in-process tier (src/store.rs TrustReason). */
  TrustReason: binding.TrustReason,
  /** Why a query cannot be keyed (src/key/mod.rs Unkeyable); unkeyableReason names each. */
  Unkeyable: binding.Unkeyable,
  /** What a slot of a key tape holds (src/key/tape.rs TapeOp). */
  TapeOp: binding.TapeOp,
  /** The bounds of every option (src/limits.rs), shared by the validators and the core. */
  limits: Object.freeze({
    MAX_TTL_MS: binding.MAX_TTL_MS,
    MAX_TIER_BYTES: binding.MAX_TIER_BYTES,
    MAX_VALUE_BYTES: binding.MAX_VALUE_BYTES,
    MAX_TIMEOUT_MS: binding.MAX_TIMEOUT_MS,
    MAX_CONCURRENT_REQUESTS: binding.MAX_CONCURRENT_REQUESTS,
    MOMENTO_MAX_ITEM_BYTES: binding.MOMENTO_MAX_ITEM_BYTES,
    MOMENTO_MAX_TTL_SECONDS: binding.MOMENTO_MAX_TTL_SECONDS,
    MIN_INTEGRITY_KEY_BYTES: binding.MIN_INTEGRITY_KEY_BYTES,
    MAX_INCLUDE_DEPTH: binding.MAX_INCLUDE_DEPTH,
    KEY_MAX_DEPTH: binding.KEY_MAX_DEPTH,
    KEY_MAX_NODES: binding.KEY_MAX_NODES,
    PAYLOAD_MAX_HEADERS: binding.PAYLOAD_MAX_HEADERS,
  }),
  /** `scrubText(text, secrets, maxChars?)`: text from outside, safe for a log line (src/redact.rs). */
  scrubText: binding.scrubText,
  /** Network calls made through the tokio runtime since load (two thread crossings each). */
  tokioCalls: binding.tokioCalls,
  canonicalKey: binding.canonicalKey,
  pkKey: binding.pkKey,
  unkeyableReason: binding.unkeyableReason,
};
