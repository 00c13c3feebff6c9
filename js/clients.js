'use strict';
// Cache clients: what users construct and hand to modelCacheFactory and withCache. A client owns
// one engine; the faces reach it through `engineOf`.

const { createHash } = require('node:crypto');
const { Engine } = require('./engine');
const { AdapterTier, adapterTier, isAdapter } = require('./adapters/tier');
const { NativeRedisAdapter } = require('./adapters/native');
const { IORedisAdapter } = require('./adapters/ioredis');
const native = require('./native');
const { checkKeys, nonNegativeInteger, nonEmptyString, ttlSeconds, timeoutMs, byteSize, integrityKey, isModelClass, describe } = require('./options');

const { MAX_TIER_BYTES, MAX_VALUE_BYTES } = native.limits;

const kEngine = Symbol('sequelize-native-cache.engine');

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const DEFAULT_TTL_SECONDS = 60;
const DEFAULT_CACHE_NAME = 'model-cache';
const DEFAULT_L1_MAX_BYTES = 32 * 1024 * 1024;
const DEFAULT_L1_TTL_SECONDS = 5;
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
 * How a shared tier reports a stored value it rejected (forged, corrupted, copied from another
 * key, too large): once per burst through the engine's logger. Counting is the engine's (a
 * 'foreign' miss counts as `corrupt`).
 */
function reportRejected(engineRef) {
  return (what, reason) =>
    engineRef().log.warn('cache-corrupt', { ...what, reason }, 'a stored value this client did not write for its key was ignored; treated as a miss');
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
    let engine;
    const remote = adapterTier(adapter, { maxValueBytes: DEFAULT_MAX_VALUE_BYTES, integrityKey: key, onRejected: reportRejected(() => engine) });
    engine = new Engine({ maxBytes: 1024 * 1024, defaultTtlMs: Math.round(lifetime * 1000), prefix: DEFAULT_CACHE_NAME, remote, maxValueBytes: DEFAULT_MAX_VALUE_BYTES });
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
 * A client whose entries live in a network tier reached through the Rust core (Redis, Momento):
 * the shared tier logic (adapters/tier.js) over a NativeAdapter, an optional L1 in front.
 */
class NetworkClient extends CacheClient {
  /**
   * Puts the engine in place. `tier` comes from native.createRedis or createMomento, `adapter` is
   * the NativeAdapter over it; `l1` is from l1Option (undefined: none).
   */
  attachTier({ tier, adapter, l1, ttlSeconds, prefix, maxValueBytes, maxRemoteTtlMs }) {
    let engine;
    engine = new Engine({
      maxBytes: l1 ? l1.maxBytes : 1024 * 1024,
      defaultTtlMs: Math.round(ttlSeconds * 1000),
      prefix,
      remote: new AdapterTier(adapter, {
        onRejected: reportRejected(() => engine),
        // While a write of this process has not reached the network tier, the L1 is not trusted.
        onPendingChange: (pending) => engine.native.setTrust(native.TrustReason.PendingInvalidation, !pending),
      }),
      l1TtlMs: l1 ? Math.round(l1.ttlSeconds * 1000) : undefined,
      maxValueBytes,
      maxRemoteTtlMs,
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

/**
 * The Redis client: entries and generation tokens in Redis (or a Redis Cluster), every command
 * made by the Rust core with a timeout and a circuit breaker. A Redis problem never fails a
 * query: the database answers.
 */
class RedisCache extends NetworkClient {
  /**
   * @param {object} options
   * @param {string} [options.url]               redis://[user:password@]host:port[/db]
   * @param {string[]} [options.nodes]           a Redis Cluster's nodes (host:port or redis:// URLs)
   * @param {string} [options.namespace='snc']  key prefix, so apps sharing a Redis never meet
   * @param {number} [options.defaultTtlSeconds=60]
   * @param {{ maxBytes?: number, ttlSeconds?: number } | false} [options.l1]  the in-process tier
   *   in front of Redis (default 32 MiB, 5 s), kept coherent by pub/sub; false turns it off
   * @param {number} [options.connectTimeoutMs=2000]
   * @param {number} [options.commandTimeoutMs=250]
   * @param {number} [options.compressAboveBytes=16384]  values this long or longer are stored
   *   LZ4-compressed (0: never)
   * @param {number} [options.maxValueBytes=4194304]      longer results are not cached
   * @param {{ key: Buffer | string } | false} [options.integrity]  sign every stored value with
   *   HMAC-SHA-256 under `key` (at least 32 bytes); default: SNC_INTEGRITY_KEY when set
   */
  constructor(options) {
    super();
    const where = 'RedisCache';
    const o = checkKeys(where, options, [
      'url',
      'nodes',
      'namespace',
      'defaultTtlSeconds',
      'l1',
      'connectTimeoutMs',
      'commandTimeoutMs',
      'compressAboveBytes',
      'maxValueBytes',
      'tls',
      'integrity',
    ]);
    if ((o.url === undefined) === (o.nodes === undefined)) {
      throw new TypeError(`${where}: give exactly one of url (a single Redis) or nodes (a Redis Cluster)`);
    }
    const urls = o.url !== undefined ? [redisUrl(where, 'url', o.url)] : redisNodes(where, o.nodes);
    const namespace = nonEmptyString(where, 'namespace', o.namespace, 'snc');
    if (/[{}]/.test(namespace)) throw new TypeError(`${where}: namespace must not contain { or } (they mark Redis hash tags)`);
    const ttl = ttlSeconds(where, 'defaultTtlSeconds', o.defaultTtlSeconds, DEFAULT_TTL_SECONDS);
    const l1 = l1Option(where, o.l1, DEFAULT_L1_TTL_SECONDS);
    const connectTimeoutMs = timeoutMs(where, 'connectTimeoutMs', o.connectTimeoutMs, 2000);
    const commandTimeoutMs = timeoutMs(where, 'commandTimeoutMs', o.commandTimeoutMs, 250);
    const compressAboveBytes = nonNegativeInteger(where, 'compressAboveBytes', o.compressAboveBytes, DEFAULT_COMPRESS_ABOVE_BYTES, MAX_VALUE_BYTES, ' bytes (0: never compress)');
    const maxValueBytes = byteSize(where, 'maxValueBytes', o.maxValueBytes, DEFAULT_MAX_VALUE_BYTES, MAX_VALUE_BYTES);
    const tlsCa = tlsOption(where, o.tls, urls);
    const key = integrityKey(where, o.integrity);
    const redis = native.createRedis({ urls, cluster: o.nodes !== undefined, connectTimeoutMs, commandTimeoutMs, compressAboveBytes, tlsCa, maxValueBytes, integrityKey: key });
    const adapter = new NativeRedisAdapter(redis, namespace);
    const engine = this.attachTier({ tier: redis, adapter, l1, ttlSeconds: ttl, prefix: namespace, maxValueBytes });
    // The L1 stays untrusted (it answers nothing) until Rust's subscription is live.
    if (l1) redis.attachL1(engine.native, adapter.channel);
    this.namespace = namespace;
    this.defaultTtlSeconds = ttl;
  }

  /** The same as close() (which also ends the subscription), for ioredis users. */
  async quit() {
    return this.close();
  }
}

/**
 * A redis:// URL as the core gets it: characters of the user name or password that would end
 * the authority early (`/ ? # @ \`) percent-encoded, so that everything before the last `@` is the
 * credentials, as a person reads it. Anything else is a TypeError that shows the URL redacted.
 */
function redisUrl(where, name, v) {
  if (typeof v !== 'string') throw new TypeError(`${where}: ${name} must be a redis:// URL, got ${describe(v)}`);
  const at = v.lastIndexOf('@');
  const sep = v.indexOf('://');
  const normalized = sep >= 0 && at > sep ? `${v.slice(0, sep + 3)}${v.slice(sep + 3, at).replace(/[/?#@\\]/g, (c) => encodeURIComponent(c))}${v.slice(at)}` : v;
  let u;
  try {
    u = new URL(normalized);
  } catch {
    throw new TypeError(`${where}: ${name} is not a valid URL: ${JSON.stringify(redactUrl(v))}`);
  }
  if ((u.protocol !== 'redis:' && u.protocol !== 'rediss:') || !u.hostname) {
    throw new TypeError(`${where}: ${name} must be a redis:// or rediss:// URL, got ${JSON.stringify(redactUrl(v))}`);
  }
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new TypeError(`${where}: ${name}: the database must be a number (the path of ${JSON.stringify(redactUrl(v))})`);
  return normalized;
}

/** `tls: { ca }` as PEM text for the core; only meaningful with rediss:// URLs. */
function tlsOption(where, tls, urls) {
  if (tls === undefined) return undefined;
  const o = checkKeys(`${where}: tls`, tls, ['ca']);
  const ca = Buffer.isBuffer(o.ca) ? o.ca.toString('utf8') : o.ca;
  if (typeof ca !== 'string' || !ca.includes('-----BEGIN CERTIFICATE-----')) {
    // Never echo the text: a private key passed by mistake would land in the message.
    const got = typeof ca === 'string' ? `text of ${ca.length} characters without a certificate` : describe(o.ca);
    throw new TypeError(`${where}: tls.ca must be a PEM certificate (string or Buffer), got ${got}`);
  }
  if (!urls.every((u) => u.startsWith('rediss://'))) throw new TypeError(`${where}: tls.ca needs rediss:// URLs (TLS)`);
  return ca;
}

function redisNodes(where, nodes) {
  if (!Array.isArray(nodes) || nodes.length === 0) throw new TypeError(`${where}: nodes must be a non-empty array of host:port or redis:// URLs`);
  return nodes.map((n, i) => redisUrl(where, `nodes[${i}]`, typeof n === 'string' && !n.includes('://') ? `redis://${n}` : n));
}

/**
 * `v` with its credentials hidden, for error messages, whatever its shape: everything between the
 * scheme and the last `@` (a password may hold `/`, `:` or `@`), and any password-like query value.
 */
function redactUrl(v) {
  let out = v;
  const at = out.lastIndexOf('@');
  if (at >= 0) {
    const colon = out.indexOf(':');
    const start = colon >= 0 && colon < at ? colon + (out.startsWith('//', colon + 1) ? 3 : 1) : 0;
    out = `${out.slice(0, start)}***${out.slice(at)}`;
  }
  return out.replace(/([?&;](?:password|pass|pwd|auth|token|secret)=)[^&#;]*/gi, '$1***');
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

module.exports = { CacheClient, NetworkClient, MemoryCache, RedisCache, AdapterClient, engineOf, l1Option, redactUrl, DEFAULT_TTL_SECONDS, DEFAULT_COMPRESS_ABOVE_BYTES };
