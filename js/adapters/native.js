'use strict';
// The adapter behind RedisCache and MomentoCache: the same generation-token tier as any adapter
// (tier.js), with every network call made by the Rust core (src/tier/: redis-rs or reqwest,
// timeouts, circuit breaker). Keys are `<namespace>:<parts...>`; generation tokens share the
// Redis hash tag `{<namespace>}` (harmless braces on Momento).
//
// Reads are batched: every get or mget issued in one tick of the event loop — concurrent queries
// included — is queued and sent as one native call: one MGET on Redis (split per shard by the
// cluster client), concurrent GETs on Momento. A lone read pays one extra tick; 64 concurrent
// reads pay one crossing instead of 64.

/** Keys per native call at most; more in one tick are sent as several batches, overlapping. */
const MAX_BATCH_KEYS = 24;

class NativeAdapter {
  /**
   * @param {object} tier       from native.createRedis or native.createMomento
   * @param {string} namespace  key prefix
   */
  constructor(tier, namespace) {
    this.tier = tier;
    this.namespace = namespace;
    this.closed = false;
    /** Where writes announce the tables they touched, for every process's L1 (Redis only). */
    this.channel = `{${namespace}}:#invalidate`;
    /** Keys read in the current tick, with their waiters. */
    this.queue = new Map();
  }

  /** Resolves with the value of `key`, read together with every other key asked for in this tick. */
  #read(key) {
    return new Promise((resolve, reject) => {
      let waiters = this.queue.get(key);
      if (waiters === undefined) {
        if (this.queue.size === 0) {
          const batch = this.queue;
          process.nextTick(() => this.#flush(batch));
        }
        this.queue.set(key, (waiters = []));
        // A full batch goes now, so that the network works on it while this tick goes on
        // producing the next one (one batch at a time would leave both sides idle in turn).
        if (this.queue.size >= MAX_BATCH_KEYS) this.#flush(this.queue);
      }
      waiters.push({ resolve, reject });
    });
  }

  #flush(batch) {
    if (batch !== this.queue || batch.size === 0) return; // already sent
    this.queue = new Map();
    const keys = [...batch.keys()];
    this.tier.mget(keys).then(
      (values) => keys.forEach((k, i) => batch.get(k).forEach((w) => w.resolve(values[i] ?? null))),
      (err) => batch.forEach((waiters) => waiters.forEach((w) => w.reject(err))),
    );
  }

  key(parts) {
    if (parts[0] === '#generation') return `{${this.namespace}}:#generation:${parts.slice(1).join(':')}`;
    return `${this.namespace}:${parts.join(':')}`;
  }

  #open() {
    if (this.closed) throw new Error('the cache client is closed');
  }

  async get(parts) {
    this.#open();
    return this.#read(this.key(parts));
  }

  async mget(paths) {
    this.#open();
    return Promise.all(paths.map((p) => this.#read(this.key(p))));
  }

  async set(parts, value, options = {}) {
    this.#open();
    const seconds = options.lifetime ?? options.ttl;
    await this.tier.set(this.key(parts), typeof value === 'string' ? value : JSON.stringify(value), Math.round(seconds * 1000));
  }

  async del(parts) {
    this.#open();
    await this.tier.del(this.key(parts));
  }
}

/** A NativeAdapter over Redis: writes also tell every subscribed process's L1. */
class NativeRedisAdapter extends NativeAdapter {
  async publishInvalidation(tables) {
    if (this.closed) throw new Error('the cache client is closed');
    await this.tier.publish(this.channel, tables.join('\n'));
  }
}

module.exports = { NativeAdapter, NativeRedisAdapter };
