'use strict';
// Cache clients: what users construct and hand to modelCacheFactory (and, later, withCache).
// A client owns one engine; the faces reach it through `engineOf`.

const { Engine } = require('./engine');
const { AdapterTier, isAdapter } = require('./adapters/tier');
const { checkKeys, positiveInteger, positiveNumber, nonEmptyString, isModelClass, describe } = require('./options');

const kEngine = Symbol('sequelize-native-cache.engine');

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const DEFAULT_TTL_SECONDS = 60;
const DEFAULT_CACHE_NAME = 'model-cache';

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
    const maxBytes = positiveInteger(where, 'maxBytes', o.maxBytes, DEFAULT_MAX_BYTES);
    const ttl = positiveNumber(where, 'defaultTtlSeconds', o.defaultTtlSeconds, DEFAULT_TTL_SECONDS);
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
 * adaptor): entries live in the adapter, invalidated by generation tokens there; this process
 * keeps only fill guards and counters.
 */
class AdapterClient extends CacheClient {
  constructor(adapter) {
    super();
    const lifetime = typeof adapter.lifetime === 'number' && adapter.lifetime > 0 ? adapter.lifetime : DEFAULT_TTL_SECONDS;
    Object.defineProperty(this, kEngine, {
      value: new Engine({ maxBytes: 1024 * 1024, defaultTtlMs: Math.round(lifetime * 1000), prefix: DEFAULT_CACHE_NAME, remote: new AdapterTier(adapter) }),
    });
    this.adapter = adapter;
  }
}

const adapterClients = new WeakMap();

/** The engine behind a client (or, where accepted, an adapter), or a TypeError naming what was passed. */
function engineOf(client, where, { acceptAdapters = false } = {}) {
  if (client !== null && typeof client === 'object' && kEngine in client) return client[kEngine];
  if (acceptAdapters && isAdapter(client)) {
    let c = adapterClients.get(client);
    if (c === undefined) adapterClients.set(client, (c = new AdapterClient(client)));
    return c[kEngine];
  }
  const expected = acceptAdapters
    ? 'a sequelize-native-cache client (e.g. new MemoryCache()) or an adapter with get, set and del'
    : 'a sequelize-native-cache client (e.g. new MemoryCache())';
  throw new TypeError(`${where}: client must be ${expected}, got ${describe(client)}`);
}

module.exports = { CacheClient, MemoryCache, AdapterClient, engineOf, DEFAULT_TTL_SECONDS };
