'use strict';
// The adapter behind RedisCache: the same generation-token tier as any adapter (tier.js), with
// every command made by the Rust core (src/tier/redis.rs: redis-rs, timeouts, circuit breaker).
// Keys are `<namespace>:<parts...>`; generation tokens share the hash tag `{<namespace>}`.
//
// Reads are batched: every get or mget issued in one tick of the event loop — concurrent queries
// included — is queued and sent as one native call, which Redis receives as one MGET (split per
// shard by the cluster client). A lone read pays one extra tick; 64 concurrent reads pay one
// crossing and one round trip instead of 64 (or 128, with their tokens).

class NativeRedisAdapter {
  constructor(redis, namespace) {
    this.redis = redis;
    this.namespace = namespace;
    this.closed = false;
    /** Where writes announce the tables they touched, for every process's L1. */
    this.channel = `{${namespace}}:#invalidate`;
    /** Keys read in the current tick, with their waiters. */
    this.queue = new Map();
  }

  /** Resolves with the value of `key`, read together with every other key asked for in this tick. */
  #read(key) {
    return new Promise((resolve, reject) => {
      let waiters = this.queue.get(key);
      if (waiters === undefined) {
        if (this.queue.size === 0) process.nextTick(() => this.#flush());
        this.queue.set(key, (waiters = []));
      }
      waiters.push({ resolve, reject });
    });
  }

  #flush() {
    const batch = this.queue;
    this.queue = new Map();
    const keys = [...batch.keys()];
    this.redis.mget(keys).then(
      (values) => keys.forEach((k, i) => batch.get(k).forEach((w) => w.resolve(values[i] ?? null))),
      (err) => batch.forEach((waiters) => waiters.forEach((w) => w.reject(err))),
    );
  }

  key(parts) {
    if (parts[0] === '#generation') return `{${this.namespace}}:#generation:${parts.slice(1).join(':')}`;
    return `${this.namespace}:${parts.join(':')}`;
  }

  #open() {
    if (this.closed) throw new Error('the Redis client is closed');
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
    await this.redis.set(this.key(parts), typeof value === 'string' ? value : JSON.stringify(value), Math.round(seconds * 1000));
  }

  async del(parts) {
    this.#open();
    await this.redis.del(this.key(parts));
  }

  /** Tells every subscribed process (its L1) that these tables changed. */
  async publishInvalidation(tables) {
    this.#open();
    await this.redis.publish(this.channel, tables.join('\n'));
  }
}

module.exports = { NativeRedisAdapter };
