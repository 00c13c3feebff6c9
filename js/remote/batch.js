'use strict';
// The store behind RedisCache and MomentoCache, batching reads per tick: the same
// generation-token tier as any adapter (generations.js), with every network call made by the Rust
// core (src/tier/: Redis on the event loop or redis-rs, Momento with reqwest; timeouts, circuit
// breaker), which also seals every value in a frame bound to its key.
//
// Keys: a one-element path is the key itself (the engine's full key, which already starts with the
// client's prefix); a longer path is `<namespace>:<parts...>`; generation tokens are
// `{<namespace>}:#generation:<table>`, sharing the Redis hash tag `{<namespace>}` (harmless braces
// on Momento).
//
// Reads are batched: every read issued in one tick of the event loop — concurrent queries
// included — is queued and sent as one native call: one MGET on Redis (split per shard by the
// cluster client), concurrent GETs on Momento. A lone read waits only for process.nextTick (not a
// turn of the event loop); 64 concurrent reads pay one crossing instead of 64.

const { Rejected } = require('./generations');

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
    /** Keys of frozen paths, spelled out once (see key). */
    this.frozenKeys = new WeakMap();
  }

  /**
   * Resolves with the values of `keys` (strings, null where absent, Rejected where the core
   * refused the stored bytes), read together with every other read asked for in this tick: one
   * native call, one promise per caller.
   */
  #read(keys) {
    return new Promise((resolve, reject) => {
      let b = this.batch;
      if (b === undefined) {
        b = this.batch = { index: new Map(), keys: [], waiters: [] };
        process.nextTick(() => this.#flush(b));
      }
      const at = new Array(keys.length);
      for (let j = 0; j < keys.length; j++) {
        const k = keys[j];
        let i = b.index.get(k);
        if (i === undefined) {
          i = b.keys.push(k) - 1;
          b.index.set(k, i);
        }
        at[j] = i;
      }
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
      ({ values, rejected }) => {
        const out = values.slice();
        for (const r of rejected) out[r.index] = new Rejected(r.reason);
        for (const w of b.waiters) w.resolve(w.at.map((i) => out[i] ?? null));
      },
      (err) => {
        for (const w of b.waiters) w.reject(err);
      },
    );
  }

  key(parts) {
    if (parts.length === 1 && parts[0] !== '#generation') return parts[0];
    // A frozen path (a generation token's, read with every hit) is spelled out once.
    const frozen = Object.isFrozen(parts);
    let k = frozen ? this.frozenKeys.get(parts) : undefined;
    if (k !== undefined) return k;
    k = parts[0] === '#generation' ? `{${this.namespace}}:#generation:${parts.slice(1).join(':')}` : `${this.namespace}:${parts.join(':')}`;
    if (frozen) this.frozenKeys.set(parts, k);
    return k;
  }

  checkOpen() {
    if (this.closed) throw new Error('the cache client is closed');
  }

  /** Values of several paths (see #read). Not an async function: a hit's promise has one hop less. */
  read(paths) {
    try {
      this.checkOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    const keys = new Array(paths.length);
    for (let i = 0; i < paths.length; i++) keys[i] = this.key(paths[i]);
    return this.#read(keys);
  }

  /** Stores a string for `ttlMs` milliseconds. */
  async write(parts, value, ttlMs) {
    this.checkOpen();
    await this.tier.set(this.key(parts), value, ttlMs);
  }

  async remove(parts) {
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
