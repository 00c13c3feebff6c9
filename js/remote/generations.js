'use strict';
// A cache tier shared with other processes: the native network tiers (RedisCache, MomentoCache)
// and JS adapters (the seed's CacheAdapter, IORedisAdapter, sequelize-transparent-cache adaptors).
//
// Such a tier is shared by many processes, so invalidation cannot live in this process's memory.
// Every table has a *generation token* in the tier (`['#generation', table]`), a random UUID
// replaced on each write. An entry carries the tokens of the tables it read, taken before its
// database read; a lookup compares them with the current ones. Missing tokens never match, so an
// evicted or expired token makes entries stale, never fresh. Random tokens (not counters) mean two
// concurrent bumps can never cancel each other. A token read back in any other format is missing.
//
// A write whose token bump (or PUBLISH) fails — the tier is unreachable — is not dropped: its
// tables stay *pending* in this process and the bump is retried with a back-off until it succeeds.
// While a table is pending, reads that depend on it neither read nor fill the tier (the database
// answers), and `onPendingChange(true)` tells the owner (the in-process L1 stops being trusted).
// Past MAX_PENDING_TABLES every table counts as pending until a bump of every table this process
// knows succeeds.
//
// Entry body: "snc2 " + JSON [key, [[table, token], ...]] + "\n" + payload, where `key` is the
// engine's key of the entry: where an entry is stored (a path in a JS adapter's layout, the Momento
// wrapper's key) need not say which query it answers, so the body does, and an entry stored there
// for another query is a miss. Every value is stored in a checked frame bound to the key it is
// stored under (src/frame.rs), which covers the body: the Rust core frames the native tiers'
// values, and a JS adapter's values are text frames made through the binding (AdapterStore below).
// Anything else read back is a miss, reported to the caller's `report` (its logger).

const { randomUUID } = require('node:crypto');
const native = require('../native');
const { remember, rememberText } = require('../memo');

const ENTRY_PREFIX = 'snc2 ';
/** Generation tokens outlive any entry: a month, refreshed by every write. */
const TOKEN_LIFETIME_MS = 30 * 24 * 3600 * 1000;
/** What randomUUID() writes; any other token read back is treated as missing. */
const TOKEN_FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** Tables whose failed bumps are remembered one by one; past this, every table is pending. */
const MAX_PENDING_TABLES = 1024;
/** Back-off of the retries of failed bumps: first delay and cap, in milliseconds. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5000;
/** Default deadline of each call on a JS adapter (RedisCache's commandTimeoutMs). */
const ADAPTER_TIMEOUT_MS = 250;

/** Refuses a fill (or a read) of a table whose invalidation has not reached the tier yet. */
class PendingInvalidation extends Error {
  constructor() {
    super('a write to a table this read depends on has not reached the shared tier yet; the database answers');
    this.code = 'invalidation-pending';
  }
}

/** A value read back that this client did not write for its key: a miss, with the reason. */
class Rejected {
  constructor(reason) {
    this.reason = reason;
  }
}

/** A failed call on a JS adapter that never reached it or never answered; `code` as the Rust core's. */
class AdapterUnavailable extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** True for an object usable as an adapter (get, set, del). */
function isAdapter(x) {
  return x !== null && typeof x === 'object' && ['get', 'set', 'del'].every((m) => typeof x[m] === 'function');
}

/**
 * A user's JS adapter as a store of text frames: keys are key arrays, values strings, TTLs in
 * milliseconds here and whole seconds for the adapter (`lifetime` is the CacheAdapter's name,
 * `ttl` transparent-cache's; each ignores the other).
 *
 * Every call on the adapter goes through one breaker and has a deadline (`timeoutMs`): the adapter
 * is the user's code over a network, and nothing else bounds it (ioredis' defaults wait for ever
 * on a hung server). A call past its deadline has failed: the read gets the database's answer, a
 * token bump stays pending (AdapterTier). Its late answer is dropped.
 */
class AdapterStore {
  /**
   * @param {object} adapter  get/set/del (and optionally mget)
   * @param {{ seal: Function, open: Function }} sealer  from native.createTextSealer
   * @param {{ timeoutMs?: number }} [o]
   */
  constructor(adapter, sealer, { timeoutMs = ADAPTER_TIMEOUT_MS } = {}) {
    this.adapter = adapter;
    this.sealer = sealer;
    this.timeoutMs = timeoutMs;
    /** Whether a caller (withCache's adapterTimeoutMs) has set timeoutMs: one setting per adapter. */
    this.timeoutSet = false;
    // Every tier's breaker, the core's own (src/breaker.rs): 3 failures, 500 ms doubling to 10 s.
    this.breaker = native.createBreaker();
  }

  /**
   * Runs `op` (one round of calls on the adapter) under the breaker and the deadline. Resolves or
   * rejects once, by the deadline at the latest.
   */
  #call(op) {
    const breaker = this.breaker;
    if (!breaker.allow()) return Promise.reject(new AdapterUnavailable('open', 'circuit open: the adapter keeps failing, calls paused'));
    let answer;
    try {
      answer = Promise.resolve(op());
    } catch (err) {
      breaker.failure();
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      let done = false;
      // The first of the answer and the deadline settles the call and tells the breaker; the
      // other is dropped (a late rejection is still handled: both handlers stay attached).
      const settle = (ok, value) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (ok) {
          breaker.success();
          resolve(value);
        } else {
          breaker.failure();
          reject(value);
        }
      };
      const timer = setTimeout(() => settle(false, new AdapterUnavailable('timeout', `no answer from the adapter in ${this.timeoutMs} ms`)), this.timeoutMs);
      answer.then(
        (v) => settle(true, v),
        (err) => settle(false, err),
      );
    });
  }

  /**
   * Sets the deadline (withCache's `name` option, already validated). One adapter takes one
   * setting: its store, breaker and pending writes are shared by every withCache over it.
   */
  useTimeout(where, name, ms) {
    if (this.timeoutSet && ms !== this.timeoutMs) {
      throw new TypeError(`${where}: this adapter is already in use with ${name} ${this.timeoutMs}; use one setting per adapter`);
    }
    this.timeoutMs = ms;
    this.timeoutSet = true;
  }

  /**
   * The key a value's frame is bound to: the adapter's namespace and the key array, so a value
   * copied to another key, or from another namespace, never answers there.
   */
  boundKey(path) {
    const ns = typeof this.adapter.namespace === 'string' ? this.adapter.namespace : '';
    return JSON.stringify([ns, ...path]);
  }

  /** Values of `paths`: strings, null where absent, or Rejected. One deadline for them all. */
  async read(paths) {
    const a = this.adapter;
    const raw = await this.#call(() => (typeof a.mget === 'function' ? a.mget(paths) : Promise.all(paths.map((p) => a.get(p)))));
    return paths.map((p, i) => {
      const v = raw[i];
      if (v === null || v === undefined) return null;
      if (typeof v !== 'string') return new Rejected('not a text frame');
      const opened = this.sealer.open(this.boundKey(p), v);
      return opened.body ?? new Rejected(opened.rejected);
    });
  }

  async write(path, value, ttlMs) {
    const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
    const text = this.sealer.seal(this.boundKey(path), value, ttlMs);
    await this.#call(() => this.adapter.set(path, text, { lifetime: seconds, ttl: seconds }));
  }

  async remove(path) {
    await this.#call(() => this.adapter.del(path));
  }
}

/**
 * The generation-token protocol over a store: `read(paths)`, `write(path, value, ttlMs)`,
 * `remove(path)`, and optionally `publishInvalidation(tables)` (an AdapterStore, or a
 * NativeAdapter whose values the Rust core frames).
 */
class AdapterTier {
  /**
   * @param {object} store
   * @param {object} [o]
   * @param {(pending: boolean) => void} [o.onPendingChange]  told when the first table becomes
   *   pending (true) and when none is left (false)
   */
  constructor(store, { onPendingChange } = {}) {
    this.store = store;
    this.onPendingChange = onPendingChange ?? (() => {});
    /** Tables this process has read or written: what an overflowed pending set retries. */
    this.known = new Set();
    /** The last well-formed token read of each table (bounded like the pending set). */
    this.lastTokens = new Map();
    /** Token paths by table (see #tokenPath). */
    this.tokenPaths = new Map();
    /** Tables whose bump has not reached the tier; `pendingAll`: the set overflowed. */
    this.pending = new Set();
    this.pendingAll = false;
    this.retryDelayMs = RETRY_FIRST_MS;
    this.retryTimer = undefined;
  }

  /** True while any table's bump is waiting for a retry. */
  hasPending() {
    return this.pendingAll || this.pending.size > 0;
  }

  #isPending(tables) {
    return this.pendingAll || (this.pending.size > 0 && tables.some((t) => this.pending.has(t)));
  }

  #learn(tables) {
    for (const t of tables) this.known.add(t);
  }

  #notify(pending) {
    try {
      this.onPendingChange(pending);
    } catch {
      // The owner's reaction never fails a write.
    }
  }

  /** Remembers that `tables` were not bumped, and schedules a retry. */
  #markPending(tables) {
    const before = this.hasPending();
    if (!this.pendingAll) {
      for (const t of tables) this.pending.add(t);
      if (this.pending.size > MAX_PENDING_TABLES) {
        this.pendingAll = true;
        this.pending.clear();
      }
    }
    if (!before) this.#notify(true);
    this.#scheduleRetry();
  }

  #scheduleRetry() {
    if (this.retryTimer !== undefined || !this.hasPending()) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.#retry().then(
        () => {
          this.retryDelayMs = RETRY_FIRST_MS;
        },
        () => {
          this.retryDelayMs = Math.min(this.retryDelayMs * 2, RETRY_MAX_MS);
          this.#scheduleRetry();
        },
      );
    }, this.retryDelayMs);
    // A retry never keeps the process alive; close() flushes what it can.
    this.retryTimer.unref?.();
  }

  /** One attempt to bump every pending table (every known one after an overflow). */
  async #retry() {
    if (!this.hasPending()) return;
    const all = this.pendingAll;
    const tables = all ? [...this.known] : [...this.pending];
    await this.#bumpNow(tables);
    if (all) this.pendingAll = false;
    for (const t of tables) this.pending.delete(t);
    if (!this.hasPending()) this.#notify(false);
    else this.#scheduleRetry();
  }

  /**
   * Tries once, now, to bump what is pending (used by close()). Resolves either way; true when
   * nothing is left pending.
   */
  async flush() {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    try {
      await this.#retry();
    } catch {
      // Still pending: entries written before the failed bumps expire by their TTL.
    }
    return !this.hasPending();
  }

  /** A token as read back: the token, or '' when missing or not in the format written. */
  #token(table, v, report) {
    if (v instanceof Rejected) rejected(report, { table }, v.reason);
    if (typeof v !== 'string') return '';
    // A token is read with every hit and moves only on writes: the last one seen is checked once.
    if (this.lastTokens.get(table) === v) return v;
    if (!TOKEN_FORMAT.test(v)) return '';
    return remember(this.lastTokens, table, v, MAX_PENDING_TABLES);
  }

  /** Current tokens of `tables` ('' where none). */
  async tokens(tables, report) {
    const values = await this.store.read(tables.map((t) => ['#generation', t]));
    return tables.map((t, i) => this.#token(t, values[i], report));
  }

  /**
   * Current tokens of `tables`, creating the missing ones, as [[table, token], ...]. Rejects with
   * PendingInvalidation while one of them is pending: that read must not be stored.
   */
  async tokensForFill(tables, report) {
    this.#learn(tables);
    if (this.#isPending(tables)) throw new PendingInvalidation();
    if (tables.length === 0) return [];
    const current = await this.tokens(tables, report);
    return Promise.all(
      tables.map(async (t, i) => {
        if (current[i] !== '') return [t, current[i]];
        const token = randomUUID();
        await this.store.write(['#generation', t], token, TOKEN_LIFETIME_MS);
        return [t, token];
      }),
    );
  }

  /**
   * `{ payload }` for a current entry of the engine key `key` stored at `path`, or `{ miss }` with
   * 'absent', 'stale', 'pending' or 'foreign' (a value this client did not write for this key;
   * `reason` says why, and `report(what, reason)` is told); on a miss, `tokens` holds the tokens of
   * `expected` as read with the entry ([[table, token], ...]), or undefined when one is missing
   * or the miss is 'pending'.
   *
   * The tokens of `expected` (the tables the caller knows the entry depends on) are read in the
   * same round trip as the entry, so a hit costs one round trip. Reading them no later than the
   * entry is what makes it safe: a write that finished before this read began has already moved
   * them.
   */
  async get(path, expected, key, report) {
    this.#learn(expected);
    // A table whose write has not reached the tier: what the tier holds for it may be older.
    if (this.#isPending(expected)) return { miss: 'pending', tokens: undefined };
    const paths = [path];
    for (const t of expected) paths.push(this.#tokenPath(t));
    const values = await this.store.read(paths);
    // The current token of expected[i] is known[i] ('' where missing).
    const known = new Array(expected.length);
    for (let i = 0; i < expected.length; i++) known[i] = this.#token(expected[i], values[i + 1], report);
    const v = values[0];
    if (v === null || v === undefined) return missWith('absent', expected, known);
    const entry = v instanceof Rejected ? v : parseEntry(v, key);
    if (entry instanceof Rejected) {
      rejected(report, { path }, entry.reason);
      return { ...missWith('foreign', expected, known), reason: entry.reason };
    }
    const { deps, payload } = entry;
    if (this.hasPending() && this.#isPending(deps.map((d) => d[0]))) return { miss: 'pending', tokens: undefined };
    // An entry that does not depend on a table the caller expects was not written for this read.
    for (const t of expected) if (!deps.some((d) => d[0] === t)) return missWith('stale', expected, known);
    let unknown;
    for (const d of deps) {
      const i = expected.indexOf(d[0]);
      if (i < 0) (unknown ??= []).push(d[0]);
      else if (d[1] !== known[i]) return missWith('stale', expected, known);
    }
    if (unknown !== undefined) {
      // Tables the caller did not foresee (none, normally) cost a second round trip.
      const current = await this.tokens(unknown, report);
      for (const d of deps) {
        const i = unknown.indexOf(d[0]);
        if (i >= 0 && d[1] !== current[i]) return missWith('stale', expected, known);
      }
    }
    return { payload, tokens: undefined };
  }

  /** The path of a table's generation token (made once per table). */
  #tokenPath(table) {
    let p = this.tokenPaths.get(table);
    if (p === undefined) {
      p = remember(this.tokenPaths, table, Object.freeze(['#generation', table]), MAX_PENDING_TABLES);
    }
    return p;
  }

  /**
   * Stores at `path` a payload of the engine key `key`, read under `deps` ([[table, token], ...]),
   * for `ttlMs`. Rejects with PendingInvalidation, storing nothing, when one of those tables is
   * pending: its token did not move, so the entry would look current to every process.
   */
  async set(path, key, payload, ttlMs, deps) {
    if (this.#isPending(deps.map((d) => d[0]))) throw new PendingInvalidation();
    await this.store.write(path, `${ENTRY_PREFIX}${JSON.stringify([key, deps])}\n${payload}`, ttlMs);
  }

  async del(path) {
    await this.store.remove(path);
  }

  /**
   * Makes every entry that read one of `tables` stale. If that fails, the tables stay pending and
   * the bump is retried until it succeeds; the returned promise still rejects, so the caller
   * can report it.
   */
  async bump(tables) {
    this.#learn(tables);
    try {
      await this.#bumpNow(tables);
    } catch (err) {
      this.#markPending(tables);
      throw err;
    }
    // A later bump that went through settles an earlier failed one of the same tables.
    if (this.pending.size > 0 && !this.pendingAll) {
      for (const t of tables) this.pending.delete(t);
      if (!this.hasPending()) this.#notify(false);
    }
  }

  async #bumpNow(tables) {
    await Promise.all(tables.map((t) => this.store.write(['#generation', t], randomUUID(), TOKEN_LIFETIME_MS)));
    // After the tokens moved: processes holding an in-process tier drop what they hold.
    if (typeof this.store.publishInvalidation === 'function') await this.store.publishInvalidation(tables);
  }
}

/**
 * A miss of `get`: `why`, with the tokens of `expected` as read with the entry (`known`, aligned
 * with it), which a miss's fill may use; undefined when one of them is missing.
 */
function missWith(why, expected, known) {
  return { miss: why, tokens: known.every((t) => t !== '') ? expected.map((t, i) => [t, known[i]]) : undefined };
}

/** Tells `report` (a caller's logger, through the engine) of a rejected value; never throws. */
function rejected(report, what, reason) {
  try {
    if (report !== undefined) report(what, reason);
  } catch {
    // Reporting never fails a read.
  }
}

/**
 * `{ deps, payload }` of an entry body written for the engine key `key`, or Rejected when it is not
 * one this library writes, or was written for another key.
 */
function parseEntry(v, key) {
  const nl = v.indexOf('\n');
  if (!v.startsWith(ENTRY_PREFIX) || nl < 0) return new Rejected('not an entry');
  const headText = v.slice(ENTRY_PREFIX.length, nl);
  let head = entryHeads.get(headText);
  if (head === undefined) {
    head = rememberText(entryHeads, headText, parseEntryHead(headText), MAX_ENTRY_HEADS, MAX_ENTRY_HEAD_CHARS, MAX_ENTRY_HEAD_TEXT);
  }
  if (head instanceof Rejected) return head;
  if (head.key !== key) return new Rejected('entry written for another key');
  return { deps: head.deps, payload: v.slice(nl + 1) };
}

/**
 * Checked entry heads by their text: `{ key, deps }` (deps frozen), or the Rejected one gave. A
 * head repeats on every hit of its entry until a table it read moves; bounded, cleared when full.
 */
const entryHeads = new Map();
const MAX_ENTRY_HEADS = 1024;
/** Characters of heads the memo holds in all, and the longest it keeps (memo.js rememberText). */
const MAX_ENTRY_HEAD_CHARS = 1 << 20;
const MAX_ENTRY_HEAD_TEXT = 8192;

function parseEntryHead(text) {
  let head;
  try {
    head = JSON.parse(text);
  } catch {
    return new Rejected('entry header is not JSON');
  }
  if (!Array.isArray(head) || head.length !== 2 || typeof head[0] !== 'string') return new Rejected('entry header malformed');
  const deps = head[1];
  if (!Array.isArray(deps) || !deps.every((d) => Array.isArray(d) && d.length === 2 && typeof d[0] === 'string' && typeof d[1] === 'string' && TOKEN_FORMAT.test(d[1]))) {
    return new Rejected('entry dependencies malformed');
  }
  for (const d of deps) Object.freeze(d);
  return { key: head[0], deps: Object.freeze(deps) };
}

/** The AdapterStore behind `tier` when it is over a user's JS adapter, else undefined. */
function adapterStoreOf(tier) {
  return tier instanceof AdapterTier && tier.store instanceof AdapterStore ? tier.store : undefined;
}

/** The tier over a user's JS adapter, its values in text frames sealed by the Rust core. */
function adapterTier(adapter, { maxValueBytes, integrityKey, ...events }) {
  return new AdapterTier(new AdapterStore(adapter, native.createTextSealer({ maxValueBytes, integrityKey })), events);
}

module.exports = { AdapterTier, AdapterStore, Rejected, PendingInvalidation, adapterTier, adapterStoreOf, isAdapter, MAX_PENDING_TABLES, ADAPTER_TIMEOUT_MS };
