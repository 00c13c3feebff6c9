'use strict';
// The adapter behind RedisCache: the same generation-token tier as any adapter (tier.js), with
// every command made by the Rust core (src/tier/redis.rs: redis-rs, timeouts, circuit breaker).
// Keys are `<namespace>:<parts...>`; generation tokens share the hash tag `{<namespace>}` so that
// one MGET reads all of a query's tokens, in a Redis Cluster too.

class NativeRedisAdapter {
  constructor(redis, namespace) {
    this.redis = redis;
    this.namespace = namespace;
    this.closed = false;
    /** Where writes announce the tables they touched, for every process's L1. */
    this.channel = `{${namespace}}:#invalidate`;
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
    return this.redis.get(this.key(parts));
  }

  async mget(paths) {
    this.#open();
    return this.redis.mget(paths.map((p) => this.key(p)));
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
