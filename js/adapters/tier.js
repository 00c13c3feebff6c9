'use strict';
// A cache tier over a JS adapter: the seed's CacheAdapter (get/set/del with key arrays, set's
// `{ lifetime }` in seconds) or a sequelize-transparent-cache adaptor (the same, with `{ ttl }`).
//
// Adapters are shared by many processes, so invalidation cannot live in this process's memory.
// Every table has a *generation token* in the adapter (`['#generation', table]`), a random string
// replaced on each write. An entry carries the tokens of the tables it read, taken before its
// database read; a lookup compares them with the current ones. Missing tokens never match, so an
// evicted or expired token makes entries stale, never fresh. Random tokens (not counters) mean
// two concurrent bumps can never cancel each other.
//
// Stored value: "snc1 " + JSON [[table, token], ...] + "\n" + codec payload. Anything else read
// back is treated as a miss.

const { randomUUID } = require('node:crypto');

const VALUE_PREFIX = 'snc1 ';
/** Generation tokens outlive any entry: a month, refreshed by every write. */
const TOKEN_LIFETIME_SECONDS = 30 * 24 * 3600;

/** True for an object usable as an adapter (get, set, del). */
function isAdapter(x) {
  return x !== null && typeof x === 'object' && ['get', 'set', 'del'].every((m) => typeof x[m] === 'function');
}

function lifetimeOptions(seconds) {
  // `lifetime` is the CacheAdapter's name, `ttl` transparent-cache's; each ignores the other.
  return { lifetime: seconds, ttl: seconds };
}

class AdapterTier {
  constructor(adapter) {
    this.adapter = adapter;
  }

  /** Current tokens of `tables` ('' where none). */
  async tokens(tables) {
    const paths = tables.map((t) => ['#generation', t]);
    // One round trip when the adapter can read several keys at once.
    const values = typeof this.adapter.mget === 'function' ? await this.adapter.mget(paths) : await Promise.all(paths.map((p) => this.adapter.get(p)));
    return values.map((v) => (typeof v === 'string' ? v : ''));
  }

  /** Current tokens of `tables`, creating the missing ones, as [[table, token], ...]. */
  async tokensForFill(tables) {
    if (tables.length === 0) return [];
    const current = await this.tokens(tables);
    return Promise.all(
      tables.map(async (t, i) => {
        if (current[i] !== '') return [t, current[i]];
        const token = randomUUID();
        await this.adapter.set(['#generation', t], token, lifetimeOptions(TOKEN_LIFETIME_SECONDS));
        return [t, token];
      }),
    );
  }

  /**
   * `{ payload }` for a current entry, or `{ miss }` with 'absent', 'stale' or 'foreign' (a value
   * this tier did not write); either way `tokens` holds the tokens of `expected` as read with the
   * entry ([[table, token], ...]), or undefined when one is missing.
   *
   * The tokens of `expected` (the tables the caller knows the entry depends on) are read in the
   * same round trip as the entry — one MGET when the adapter has mget — so a hit costs one round
   * trip. Reading them no later than the entry is what makes it safe: a write that finished
   * before this read began has already moved them.
   */
  async get(path, expected = []) {
    const paths = [path, ...expected.map((t) => ['#generation', t])];
    const values = typeof this.adapter.mget === 'function' ? await this.adapter.mget(paths) : await Promise.all(paths.map((p) => this.adapter.get(p)));
    const known = new Map();
    expected.forEach((t, i) => known.set(t, typeof values[i + 1] === 'string' ? values[i + 1] : ''));
    const tokens = expected.every((t) => known.get(t) !== '') ? expected.map((t) => [t, known.get(t)]) : undefined;
    const v = values[0];
    if (v === null || v === undefined) return { miss: 'absent', tokens };
    if (typeof v !== 'string' || !v.startsWith(VALUE_PREFIX)) return { miss: 'foreign', tokens };
    const nl = v.indexOf('\n');
    let deps;
    try {
      deps = JSON.parse(v.slice(VALUE_PREFIX.length, nl));
    } catch {
      return { miss: 'foreign', tokens };
    }
    if (nl < 0 || !Array.isArray(deps) || !deps.every((d) => Array.isArray(d) && typeof d[0] === 'string' && typeof d[1] === 'string')) {
      return { miss: 'foreign', tokens };
    }
    // An entry that does not depend on a table the caller expects was not written for this read.
    if (expected.some((t) => !deps.some((d) => d[0] === t))) return { miss: 'stale', tokens };
    // Tables the caller did not foresee (none, normally) cost a second round trip.
    const unknown = deps.filter((d) => !known.has(d[0])).map((d) => d[0]);
    if (unknown.length > 0) (await this.tokens(unknown)).forEach((token, i) => known.set(unknown[i], token));
    if (deps.some((d) => d[1] === '' || d[1] !== known.get(d[0]))) return { miss: 'stale', tokens };
    return { payload: v.slice(nl + 1), tokens };
  }

  /** Stores a payload read under `deps` ([[table, token], ...]). */
  async set(path, payload, ttlMs, deps) {
    const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
    await this.adapter.set(path, `${VALUE_PREFIX}${JSON.stringify(deps)}\n${payload}`, lifetimeOptions(seconds));
  }

  async del(path) {
    await this.adapter.del(path);
  }

  /** Makes every entry that read one of `tables` stale. */
  async bump(tables) {
    await Promise.all(tables.map((t) => this.adapter.set(['#generation', t], randomUUID(), lifetimeOptions(TOKEN_LIFETIME_SECONDS))));
    // After the tokens moved: processes holding an in-process tier drop what they hold.
    if (typeof this.adapter.publishInvalidation === 'function') await this.adapter.publishInvalidation(tables);
  }
}

module.exports = { AdapterTier, isAdapter };
