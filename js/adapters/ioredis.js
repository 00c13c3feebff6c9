'use strict';
// IORedisAdapter: sequelize-memory-clone's CacheAdapter over the user's own ioredis client, with
// its key layout — `namespace:Model:pk` for entities, `namespace:Model:query:<name>` for named
// queries — and its defaults (namespace `sequelize-cache`, a lifetime of 3600 s). Values are JSON.

/** sequelize-memory-clone's defaults, so its users' keys and expiries stay where they were. */
const DEFAULT_NAMESPACE = 'sequelize-cache';
const DEFAULT_LIFETIME_SECONDS = 3600;

const { checkKeys, ttlSeconds, describe } = require('../options');

class IORedisAdapter {
  /**
   * @param {object} options
   * @param {object} options.client      an ioredis client (Redis or Cluster)
   * @param {string} [options.namespace='sequelize-cache'] key prefix ('' for none)
   * @param {number} [options.lifetime=3600]  default expiry in seconds
   */
  constructor(options) {
    const o = checkKeys('IORedisAdapter', options, ['client', 'namespace', 'lifetime']);
    const c = o.client;
    if (c === null || typeof c !== 'object' || !['get', 'set', 'del'].every((m) => typeof c[m] === 'function')) {
      throw new TypeError(`IORedisAdapter: client must be an ioredis client, got ${describe(c)}`);
    }
    if (o.namespace !== undefined && typeof o.namespace !== 'string') {
      throw new TypeError(`IORedisAdapter: namespace must be a string, got ${describe(o.namespace)}`);
    }
    this.client = c;
    this.namespace = o.namespace ?? DEFAULT_NAMESPACE;
    this.lifetime = ttlSeconds('IORedisAdapter', 'lifetime', o.lifetime, DEFAULT_LIFETIME_SECONDS);
  }

  /** The Redis key of a key array. */
  key(parts) {
    return (this.namespace ? [this.namespace, ...parts] : parts).join(':');
  }

  /** The JSON value under `key`, or null: absent, not JSON, or another Redis type (a hash, a list). */
  async get(key) {
    let raw;
    try {
      raw = await this.client.get(this.key(key));
    } catch (err) {
      // Not a string key: nothing this adapter stored; the next set replaces it.
      if (err && /^WRONGTYPE/.test(err.message)) return null;
      throw err;
    }
    if (raw === null || raw === undefined) return null;
    try {
      return JSON.parse(raw);
    } catch {
      return null;
    }
  }

  async set(key, value, options = {}) {
    const lifetime = options.lifetime ?? this.lifetime;
    const raw = JSON.stringify(value);
    if (lifetime) await this.client.set(this.key(key), raw, 'PX', Math.max(1, Math.round(lifetime * 1000)));
    else await this.client.set(this.key(key), raw);
  }

  async del(key) {
    await this.client.del(this.key(key));
  }

  /** Deletes every query key of a model (a SCAN; the cache itself invalidates by generation). */
  async delModelQueries(modelName) {
    const pattern = `${this.key([modelName, 'query'])}:*`;
    let cursor = '0';
    do {
      const [next, keys] = await this.client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await this.client.del(...keys);
    } while (cursor !== '0');
  }

  /** Part of the seed's interface. Not needed here: invalidation uses generation tokens, so no key set grows. */
  async addQueryKey() {}
}

module.exports = { IORedisAdapter };
