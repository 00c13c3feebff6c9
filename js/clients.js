'use strict';
// Cache clients: what users construct and hand to modelCacheFactory and withCache. A client owns
// one engine; the faces reach it through `engineOf`.

const { createHash } = require('node:crypto');
const { Engine } = require('./engine');
const { AdapterTier, adapterTier, isAdapter } = require('./remote/generations');
const { IORedisAdapter } = require('./adapters/ioredis');
const native = require('./native');
const { checkKeys, nonEmptyString, ttlSeconds, byteSize, integrityKey, isModelClass, describe } = require('./options');

const { MAX_TIER_BYTES } = native.limits;

const kEngine = Symbol('sequelize-native-cache.engine');

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const DEFAULT_TTL_SECONDS = 60;
const DEFAULT_CACHE_NAME = 'model-cache';
const DEFAULT_L1_MAX_BYTES = 32 * 1024 * 1024;
const DEFAULT_COMPRESS_ABOVE_BYTES = 16 * 1024;
const DEFAULT_MAX_VALUE_BYTES = 4 * 1024 * 1024;

/** Methods every client shares: stats, clear, invalidation, key inspection. */
class CacheClient {
  /** Counters: hits, misses, bypasses (and why), fills, evictions, bytes in use; per model and method. */
  stats() {
    return this[kEngine].stats();
  }

  /** Removes every entry (and voids reads in flight, so none of them refills). */
  clear() {
    this[kEngine].clear();
  }

  /** Makes every cached read that touches `Model`'s table stale, in O(1). */
  invalidateModel(Model) {
    if (!isModelClass(Model)) throw new TypeError(`invalidateModel: expected a Sequelize model class, got ${describe(Model)}`);
    this[kEngine].invalidateModel(Model);
  }

  /**
   * The cache key that `Model[method](...args)` reads and fills, or null when that call bypasses
   * the cache (transaction, lock, find hooks, or a value that cannot be keyed).
   */
  keyFor(Model, method, ...args) {
    if (!isModelClass(Model)) throw new TypeError(`keyFor: expected a Sequelize model class, got ${describe(Model)}`);
    return this[kEngine].keyFor(Model, method, args);
  }

  /** Releases the client. The in-process tier holds no connections; entries are dropped. */
  async close() {
    this[kEngine].clear();
  }
}

/** The embedded client: the in-process tier only. */
class MemoryCache extends CacheClient {
  /**
   * @param {object} [options]
   * @param {number} [options.maxBytes=67108864]     bound of the tier in bytes (keys + values)
   * @param {number} [options.defaultTtlSeconds=60]  TTL of entries stored without one
   * @param {string} [options.modelCacheName='model-cache'] key prefix
   */
  constructor(options) {
    super();
    const where = 'MemoryCache';
    const o = checkKeys(where, options, ['maxBytes', 'defaultTtlSeconds', 'modelCacheName']);
    const maxBytes = byteSize(where, 'maxBytes', o.maxBytes, DEFAULT_MAX_BYTES, MAX_TIER_BYTES);
    const ttl = ttlSeconds(where, 'defaultTtlSeconds', o.defaultTtlSeconds, DEFAULT_TTL_SECONDS);
    const name = nonEmptyString(where, 'modelCacheName', o.modelCacheName, DEFAULT_CACHE_NAME);
    Object.defineProperty(this, kEngine, {
      value: new Engine({ maxBytes, defaultTtlMs: Math.round(ttl * 1000), prefix: name }),
    });
    this.modelCacheName = name;
    this.defaultTtlSeconds = ttl;
    this.maxBytes = maxBytes;
  }
}

/**
 * The client over a JS adapter (the seed's CacheAdapter, IORedisAdapter, a transparent-cache
 * adaptor): entries live in the adapter in checked text frames (signed with `integrityKey`),
 * invalidated by generation tokens there; this process keeps only fill guards and counters.
 */
class AdapterClient extends CacheClient {
  /**
   * @param {object} adapter
   * @param {{ integrityKey?: Buffer }} [o]
   */
  constructor(adapter, { integrityKey: key } = {}) {
    super();
    const lifetime = typeof adapter.lifetime === 'number' && adapter.lifetime > 0 ? adapter.lifetime : DEFAULT_TTL_SECONDS;
    const remote = adapterTier(adapter, { maxValueBytes: DEFAULT_MAX_VALUE_BYTES, integrityKey: key });
    const engine = new Engine({ maxBytes: 1024 * 1024, defaultTtlMs: Math.round(lifetime * 1000), prefix: DEFAULT_CACHE_NAME, remote, maxValueBytes: DEFAULT_MAX_VALUE_BYTES });
    Object.defineProperty(this, kEngine, { value: engine });
    this.adapter = adapter;
  }
}

/** `l1` as given to a network client: undefined for `false`, else its validated bounds. */
function l1Option(where, value, defaultTtlSeconds) {
  if (value === false) return undefined;
  const l = checkKeys(`${where}: l1`, value, ['maxBytes', 'ttlSeconds']);
  return {
    maxBytes: byteSize(`${where}: l1`, 'maxBytes', l.maxBytes, DEFAULT_L1_MAX_BYTES, MAX_TIER_BYTES),
    ttlSeconds: ttlSeconds(`${where}: l1`, 'ttlSeconds', l.ttlSeconds, defaultTtlSeconds),
  };
}

const kNetwork = Symbol('sequelize-native-cache.network');

/**
 * A client whose entries live in a network tier reached through the Rust core (RedisCache in
 * redis.js, MomentoCache in momento.js): the generation-token tier (remote/generations.js) over
 * a NativeAdapter (remote/batch.js), an optional L1 in front.
 */
class NetworkClient extends CacheClient {
  /**
   * Puts the engine in place. `tier` comes from native.createRedis or createMomento, `adapter` is
   * the NativeAdapter over it; `l1` is from l1Option (undefined: none). The engine is told to
   * store entries at their own key (`storeAtKey`: a one-element path `[key]`, which the
   * NativeAdapter stores under exactly that key, the client's prefix already at its start), or,
   * with `wrapperKeys`, canonical queries at the Momento wrapper's keys (see engine/keys.js).
   */
  attachTier({ tier, adapter, l1, ttlSeconds, prefix, maxValueBytes, maxRemoteTtlMs, wrapperKeys = false }) {
    // The tier's callbacks run after construction, when `engine` is set.
    const engine = new Engine({
      maxBytes: l1 ? l1.maxBytes : 1024 * 1024,
      defaultTtlMs: Math.round(ttlSeconds * 1000),
      prefix,
      remote: new AdapterTier(adapter, {
        // While a write of this process has not reached the network tier, the L1 is not trusted.
        onPendingChange: (pending) => engine.native.setTrust(native.TrustReason.PendingInvalidation, !pending),
      }),
      l1TtlMs: l1 ? Math.round(l1.ttlSeconds * 1000) : undefined,
      maxValueBytes,
      maxRemoteTtlMs,
      storeAtKey: true,
      wrapperKeys,
    });
    Object.defineProperty(this, kEngine, { value: engine });
    Object.defineProperty(this, kNetwork, { value: { tier, adapter } });
    return engine;
  }

  /** The circuit breaker: `{ phase: 'closed' | 'open' | 'probing', changes }`. */
  breaker() {
    return this[kNetwork].tier.breaker();
  }

  /**
   * Stops using the network tier (and its background tasks); later calls go to the database only.
   * First, one last attempt is made to deliver invalidations whose retries are pending.
   */
  async close() {
    await this[kEngine].remote.flush();
    this[kNetwork].adapter.closed = true;
    this[kNetwork].tier.close();
    this[kEngine].clear();
  }
}

/** Adapter clients by adapter (or ioredis settings object), with their integrity fingerprint. */
const adapterClients = new WeakMap();

/** True for `{ client, namespace?, lifetime? }` around an ioredis client (IORedisAdapter's options). */
function isIORedisSettings(x) {
  return (
    x !== null &&
    typeof x === 'object' &&
    !Array.isArray(x) &&
    x.client !== null &&
    typeof x.client === 'object' &&
    ['get', 'set', 'del'].every((m) => typeof x.client[m] === 'function') &&
    Object.keys(x).every((k) => k === 'client' || k === 'namespace' || k === 'lifetime')
  );
}

/**
 * The engine behind a client, or a TypeError naming what was passed. With `acceptAdapters`, also
 * an adapter (get/set/del) or ioredis settings `{ client, namespace, lifetime }` (used as
 * `new IORedisAdapter(settings)`); `adapterOptions.integrity` is their integrity setting (as
 * RedisCache's `integrity`; SNC_INTEGRITY_KEY when not given). One adapter gets one client:
 * asking again with another integrity setting is a TypeError.
 */
function engineOf(client, where, { acceptAdapters = false, adapterOptions = {} } = {}) {
  if (client !== null && typeof client === 'object' && kEngine in client) return client[kEngine];
  if (acceptAdapters && (isAdapter(client) || isIORedisSettings(client))) {
    const o = checkKeys(`${where}: adapter options`, adapterOptions, ['integrity']);
    const key = integrityKey(where, o.integrity);
    const fingerprint = key === undefined ? 'none' : createHash('sha256').update(key).digest('hex');
    let entry = adapterClients.get(client);
    if (entry === undefined) {
      const adapter = isAdapter(client) ? client : new IORedisAdapter(client);
      adapterClients.set(client, (entry = { client: new AdapterClient(adapter, { integrityKey: key }), fingerprint }));
    } else if (entry.fingerprint !== fingerprint) {
      throw new TypeError(`${where}: this adapter is already in use with another integrity setting; use one setting per adapter`);
    }
    return entry.client[kEngine];
  }
  const expected = acceptAdapters
    ? 'a sequelize-native-cache client (e.g. new MemoryCache()), an adapter with get, set and del, or { client: <ioredis client>, namespace, lifetime }'
    : 'a sequelize-native-cache client (e.g. new MemoryCache())';
  throw new TypeError(`${where}: client must be ${expected}, got ${describe(client)}`);
}

module.exports = { CacheClient, NetworkClient, MemoryCache, AdapterClient, engineOf, l1Option, DEFAULT_TTL_SECONDS, DEFAULT_COMPRESS_ABOVE_BYTES, DEFAULT_MAX_VALUE_BYTES };
