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

/**
 * Keys per native call, about: a batch is sent once it holds this many (a caller's keys stay in one
 * batch); more in one tick go as several batches, overlapping.
 */
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
    /** The batch being gathered in this tick: its keys (each once) and who waits for what. */
    this.batch = undefined;
  }

  /**
   * Resolves with the values of `keys`, read together with every other read asked for in this
   * tick: one native call, one promise per caller.
   */
  #read(keys) {
    return new Promise((resolve, reject) => {
      let b = this.batch;
      if (b === undefined) {
        b = this.batch = { index: new Map(), keys: [], waiters: [] };
        process.nextTick(() => this.#flush(b));
      }
      const at = keys.map((k) => {
        let i = b.index.get(k);
        if (i === undefined) {
          i = b.keys.push(k) - 1;
          b.index.set(k, i);
        }
        return i;
      });
      b.waiters.push({ at, resolve, reject });
      // A full batch goes now, so that the network works on it while this tick goes on
      // producing the next one (one batch at a time would leave both sides idle in turn).
      if (b.keys.length >= MAX_BATCH_KEYS) this.#flush(b);
    });
  }

  #flush(b) {
    if (b !== this.batch) return; // already sent
    this.batch = undefined;
    let pending;
    try {
      pending = this.tier.mget(b.keys);
    } catch (err) {
      pending = Promise.reject(err); // every waiter hears of it, none is left pending
    }
    pending.then(
      (values) => {
        for (const w of b.waiters) w.resolve(w.at.map((i) => values[i] ?? null));
      },
      (err) => {
        for (const w of b.waiters) w.reject(err);
      },
    );
  }

  key(parts) {
    if (parts[0] === '#generation') return `{${this.namespace}}:#generation:${parts.slice(1).join(':')}`;
    return `${this.namespace}:${parts.join(':')}`;
  }

  checkOpen() {
    if (this.closed) throw new Error('the cache client is closed');
  }

  async get(parts) {
    this.checkOpen();
    return (await this.#read([this.key(parts)]))[0];
  }

  async mget(paths) {
    this.checkOpen();
    return this.#read(paths.map((p) => this.key(p)));
  }

  async set(parts, value, options = {}) {
    this.checkOpen();
    const seconds = options.lifetime ?? options.ttl;
    await this.tier.set(this.key(parts), typeof value === 'string' ? value : JSON.stringify(value), Math.round(seconds * 1000));
  }

  async del(parts) {
    this.checkOpen();
    await this.tier.del(this.key(parts));
  }
}

/** A NativeAdapter over Redis: writes also tell every subscribed process's L1. */
class NativeRedisAdapter extends NativeAdapter {
  async publishInvalidation(tables) {
    this.checkOpen();
    await this.tier.publish(this.channel, tables.join('\n'));
  }
}

module.exports = { NativeAdapter, NativeRedisAdapter };
