'use strict';
// THE read path, shared by both API styles:
//   bypass? → key (Rust) → in-process tier (sync) → network tier → single-flight → database
//   → version-checked fill (Rust).
// Nothing here stores or compares data itself; the native store and the network tier do. A cache
// problem never fails the caller's query: every path falls back to the database.

const native = require('../native');
const payload = require('../payload');
const { toStored, fromStored, prepareBuild, simpleBuild } = require('../hydrate');
const { bypassReason } = require('./bypass');
const { tablesRead } = require('./dependencies');
const { remember } = require('../memo');
const { definitionOf } = require('./definition');

/** Read methods served from the cache. */
const READ_METHODS = ['findByPk', 'findOne', 'findAll', 'count', 'findAndCountAll'];

// The typed contract with the core (src/store.rs, src/stats.rs): a lookup gives a payload string
// or a Lookup code; the in-process tier's hits, misses and fills are counted by the core itself,
// the network tier's are counted by the engine's EventCounts (stats.js), which reports them to the core.
const { Lookup, CacheEvent, FillOutcome } = native;

/** Why a read did not use the network tier: a write of this process has not reached it yet. */
const PENDING_INVALIDATION = 'invalidation-pending';

/** Upper bound of the per-key build-options memo. */
const MAX_MEMOIZED_BUILDS = 1024;

/** Stored shapes each method can return (hydrate.js toStored); anything else is not ours. */
const SHAPES = {
  findByPk: ['row', 'value'],
  findOne: ['row', 'value'],
  findAll: ['rows', 'value'],
  findAndCountAll: ['page', 'value'],
  count: ['value'],
};

/** findAll with `plain: true` returns one row (or null), as findOne does. */
const PLAIN_FIND_ALL = ['row', 'value'];

/** The stored shapes that may answer `method` called with `options`. */
function shapesFor(method, options) {
  return method === 'findAll' && options != null && options.plain ? PLAIN_FIND_ALL : SHAPES[method];
}

const isRecord = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isCount = (v) => typeof v === 'number' || (Array.isArray(v) && v.every(isRecord));

/**
 * Whether stored data of `shape` has a form `method` can return. The shape label alone is not
 * enough: a forged entry (no integrity key) could label a list, a string or a number a row.
 */
function dataFits(method, options, shape, data) {
  switch (shape) {
    case 'row':
      return isRecord(data);
    case 'rows':
      return Array.isArray(data) && data.every(isRecord);
    case 'page':
      return isRecord(data) && isCount(data.count) && Array.isArray(data.rows) && data.rows.every(isRecord);
    case 'value':
      if (method === 'count') return isCount(data);
      if (method === 'findAndCountAll') return isRecord(data) && isCount(data.count) && Array.isArray(data.rows) && data.rows.every(isRecord);
      if (method === 'findAll' && !(options != null && options.plain)) return Array.isArray(data) && data.every(isRecord);
      // findByPk, findOne, findAll with plain: nothing found, or a raw row.
      return data === null || isRecord(data);
    default:
      return false;
  }
}

/** The options a read method hydrates with. */
function hydrateOptionsFor(method, args) {
  return method === 'findByPk' ? args[1] : args[0];
}

function rejectsOnEmpty(Model, options) {
  if (options != null && Object.prototype.hasOwnProperty.call(options, 'rejectOnEmpty')) return !!options.rejectOnEmpty;
  return !!(Model.options && Model.options.rejectOnEmpty);
}

function isEmptyResult(r) {
  return r === null || (Array.isArray(r) && r.length === 0);
}

/** Each logger's reporter of refused values (see ReadPath#reporter), made once per logger. */
const reporters = new WeakMap();

/**
 * One engine's read path. `engine` gives the native store (`native`), the network tier
 * (`remote`, or undefined), key building (`keys`), table ids (`tableIds`), stats slots (`slot`)
 * and the TTL settings.
 */
class ReadPath {
  constructor(engine) {
    this.engine = engine;
    /** Database reads in flight, by key: `{ ticket, done }` (see #missed). */
    this.inflight = new Map();
    /** `{ Model, b }`: validated build options per key (see hydrate.prepareBuild); bounded, cleared when full. */
    this.builds = new Map();
    /** The same build options by the key of their include tree and attributes (see #buildFor). */
    this.buildShapes = new Map();
    /**
     * Parsed header lines of in-process payloads (or the Error one gave), by the id the store
     * interned it under. Ids are never reused, and the store gives out at most a few thousand.
     */
    this.headers = [];
  }

  /**
   * The synchronous half of a read: `{ hit }` when the in-process tier answers, otherwise a plan
   * for fetch(). Never throws.
   * @param {object} call
   * @param {Function} call.Model
   * @param {string} call.method   one of READ_METHODS
   * @param {Array} call.args      the caller's arguments
   * @param {Function} call.run    performs the database read
   * @param {number} [call.ttlMs]
   * @param {number} [call.negativeTtlMs]  TTL of a null result (0: not stored)
   * @param {(result: any) => boolean} [call.storable]  false: the database's result is returned
   *   but not stored (counted as the bypass `pk-spelling`; see with-cache.js entityRead)
   * @param {{ key?: string, spec?: object, tables?: string[], path?: string[] }} [call.target]  a
   *   fixed entry instead of the canonical key (entity entries, named queries; see keys.js)
   * @param {import('../logger').OnceLogger} call.log
   */
  plan(call) {
    const { Model, method, args, log } = call;
    const { native: store, keys } = this.engine;
    const options = hydrateOptionsFor(method, args);
    try {
      const slot = this.engine.slot(Model, method);
      const reason = bypassReason(Model, options);
      const spec = reason !== null ? null : call.target !== undefined ? call.target.spec || { fixed: call.target.key } : keys.querySpec(Model, method, args);
      if (spec === null) {
        store.recordBypass(slot, reason || 'unkeyable:arguments');
        return { options };
      }
      if (this.engine.remote !== undefined && this.engine.l1TtlMs === undefined) {
        // Network lookups are asynchronous: fetch() does them.
        const key = keys.text(spec);
        if (typeof key !== 'string') {
          store.recordBypass(slot, key.bypass);
          return { options };
        }
        return this.#missPlan(call, slot, key, options, true);
      }
      // A hit needs its key text only to memoize build options that are not the trivial ones.
      const { got, key: known, header } = this.#lookup(spec, slot, simpleBuild(Model, options) === undefined);
      if (typeof got === 'string') {
        const value = this.#rebuild(got, header, known, spec, call, options);
        if (value !== undefined) return { hit: value };
      } else if (got >= Lookup.Unkeyable) {
        store.recordBypass(slot, native.unkeyableReason(got - Lookup.Unkeyable));
        return { options };
      }
      // A miss: a bare findByPk's key becomes a string only now, for the fill.
      const key = known !== undefined ? known : keys.text(spec);
      if (got === Lookup.Corrupt) {
        log.warn('cache-corrupt', { key, reason: store.takeDecodeError() }, 'unreadable cache entry dropped; treated as a miss');
      }
      // With a network tier behind the L1, fetch() asks it next.
      return this.#missPlan(call, slot, key, options, this.engine.remote !== undefined);
    } catch (err) {
      log.warn('cache-read', { error: err && err.message, model: Model.name, method }, 'cache lookup failed; the database answers');
      return { options };
    }
  }

  /**
   * The plan of a read the in-process tier did not answer, with the tables it depends on (worked
   * out only now: a hit never needs them). A read whose tables cannot all be named is not cached.
   */
  #missPlan(call, slot, key, options, remote) {
    const tables = call.target !== undefined && call.target.tables !== undefined ? call.target.tables : tablesRead(call.Model, options);
    if (tables === null) {
      this.engine.native.recordBypass(slot, 'unkeyable:include-depth');
      return { options };
    }
    return { key, slot, options, tables, remote };
  }

  /** The asynchronous half: the network tier, then the database (single-flight, version-checked fill), or a bypass. */
  fetch(call, plan) {
    if (plan.key === undefined) return call.run();
    if (plan.remote) return this.#remoteRead(call, plan);
    return this.#missed(call, plan);
  }

  /**
   * Looks a spec up: `{ got, key }` where got is the payload string or a miss / unkeyable code.
   * Either way it is one native call; a hit's key text is made a JS string only when `hitKey`
   * asks for it (a bare findByPk never needs it: its build options are always the trivial ones).
   */
  #lookup(spec, slot, hitKey) {
    const store = this.engine.native;
    const { hits } = this.engine;
    if (spec.fixed !== undefined) {
      const got = hits.get(spec.fixed, slot);
      return { got, key: spec.fixed, header: hits.lastHeader() };
    }
    if (spec.pk !== undefined) {
      // A key this process has filled (or keyed) before has its text remembered, and its recent
      // hit may be too; any other is keyed and looked up in one call.
      const key = this.engine.keys.knownPkKey(spec.pkHead, spec.value);
      if (key !== undefined) return { got: hits.get(key, slot), key, header: hits.lastHeader() };
      const got = store.lookupPk(spec.pkHead, spec.value, slot);
      return { got, key: undefined, header: store.lastHeader() };
    }
    return this.engine.keys.lookup(spec, slot, hitKey);
  }

  /**
   * A payload the in-process tier returned, decoded: its data under header id `header`, or the
   * whole payload when `header` is 0 (see native.js lastHeader). Throws when it cannot be decoded.
   */
  #decodeHit(text, header) {
    if (header === 0) return payload.decode(text);
    let h = this.headers[header];
    if (h === undefined) {
      try {
        h = payload.parseHeader(this.engine.native.header(header) ?? '');
      } catch (err) {
        h = err;
      }
      this.headers[header] = h;
    }
    if (h instanceof Error) throw h;
    return payload.decodeData(h, text, true);
  }

  /**
   * The result a stored payload stands for, or undefined when the caller must not be answered with
   * it (an empty result where the read rejects on empty). Throws when the payload cannot be rebuilt.
   */
  #fromPayload(text, key, call, options) {
    return this.#answer(payload.decode(text), key, call, options);
  }

  /** As #fromPayload, for a decoded payload. */
  #answer(stored, key, { Model, method }, options) {
    if (!shapesFor(method, options).includes(stored.shape) || !dataFits(method, options, stored.shape, stored.data)) {
      throw new Error(`a ${stored.shape} entry of this form cannot answer ${method}`);
    }
    // Stored by another definition of the model (definition.js): a miss, which the fill replaces.
    if (stored.definition !== definitionOf(Model)) return undefined;
    const value = fromStored(Model, this.#buildFor(key, Model, options), stored);
    return isEmptyResult(value) && rejectsOnEmpty(Model, options) ? undefined : value;
  }

  /**
   * Build options for a hit of `key`, memoized when they are not the trivial ones: by the query's
   * key, and by the key of its include tree and attributes alone, which is all they depend on
   * (hydrate.prepareBuild). So the first hit of a query that differs from an earlier one only in
   * its where, order or limit reuses that one's validated include tree, which Sequelize has
   * already prepared for building as well.
   */
  #buildFor(key, Model, options) {
    const simple = simpleBuild(Model, options);
    if (simple !== undefined) return simple;
    // Memoized with their model: two models can share a key (definition.js).
    const byKey = key === undefined ? undefined : this.builds.get(key);
    if (byKey !== undefined && byKey.Model === Model) return byKey.b;
    const shape = key === undefined ? undefined : this.#buildShape(Model, options);
    const byShape = shape === undefined ? undefined : this.buildShapes.get(shape);
    let b = byShape !== undefined && byShape.Model === Model ? byShape.b : undefined;
    if (b === undefined) {
      b = prepareBuild(Model, options);
      if (shape !== undefined) remember(this.buildShapes, shape, { Model, b }, MAX_MEMOIZED_BUILDS);
    }
    if (key !== undefined) remember(this.builds, key, { Model, b }, MAX_MEMOIZED_BUILDS);
    return b;
  }

  /** The key of the part of a read's options its build options depend on, or undefined. */
  #buildShape(Model, options) {
    const part = options == null ? {} : { include: options.include, attributes: options.attributes };
    const spec = this.engine.keys.querySpec(Model, 'findAll', [part]);
    const text = spec === null ? undefined : this.engine.keys.text(spec);
    return typeof text === 'string' ? text : undefined;
  }

  /**
   * The result of an in-process hit, or undefined: when it must not answer (#fromPayload), or when
   * it cannot be rebuilt (the entry is dropped, logged).
   */
  #rebuild(text, header, known, spec, call, options) {
    try {
      return this.#answer(this.#decodeHit(text, header), known, call, options);
    } catch (err) {
      const key = known !== undefined ? known : this.engine.keys.text(spec);
      if (typeof key === 'string') this.engine.native.invalidateKey(key);
      call.log.warn('cache-decode', { key, error: err && err.message }, 'cache entry could not be rebuilt; dropped and treated as a miss');
      return undefined;
    }
  }

  /** Where an entry lives in the network tier. */
  #pathOf(call, key) {
    return call.target !== undefined && call.target.path !== undefined ? call.target.path : this.engine.keys.queryPath(call.Model, key, call.method, call.args);
  }

  /** How the network tier tells a caller of a value it refused: once per burst, in its logger. */
  #reporter(call) {
    let report = reporters.get(call.log);
    if (report === undefined) {
      const log = call.log;
      report = (what, reason) => log.warn('cache-corrupt', { ...what, reason }, 'a stored value this client did not write for its key was ignored; treated as a miss');
      reporters.set(log, report);
    }
    return report;
  }

  /** A network-tier lookup, then the database on a miss. A tier failure is a miss, logged once. */
  async #remoteRead(call, plan) {
    const { key, slot, options, tables } = plan;
    const { native: store, remote, l1TtlMs } = this.engine;
    // An L1 fill from a network hit is guarded like any fill: the ticket predates the network read.
    let l1Ticket;
    if (l1TtlMs !== undefined) {
      try {
        l1Ticket = store.beginFill(key, this.engine.tableIds(tables));
      } catch {
        l1Ticket = undefined;
      }
    }
    let got;
    try {
      try {
        got = await remote.get(this.#pathOf(call, key), tables, key, this.#reporter(call));
      } catch (err) {
        call.log.tierFailed(err, { key }, 'network tier read failed; the database answers');
        got = { miss: 'error' };
      }
      if (got.payload !== undefined) {
        try {
          const value = this.#fromPayload(got.payload, key, call, options);
          if (value !== undefined) {
            this.engine.events.record(slot, CacheEvent.RemoteHit);
            if (l1Ticket !== undefined) this.#fill(l1Ticket, key, got.payload, l1TtlMs, slot);
            return value;
          }
        } catch (err) {
          call.log.warn('cache-decode', { key, error: err && err.message }, 'network tier entry could not be rebuilt; treated as a miss');
          got = { miss: 'foreign' };
        }
      }
    } finally {
      if (l1Ticket !== undefined) store.release(l1Ticket);
    }
    if (got.miss === 'pending') {
      // A write of this process to a table this read depends on has not reached the tier: the
      // database answers, and nothing is stored (tokensForFill refuses too).
      store.recordBypass(slot, PENDING_INVALIDATION);
      return call.run();
    }
    if (got.miss === 'error') {
      // The tier has just failed: a fill would wait on it again for its tokens, past the timeout
      // the caller was promised. The database answers; nothing is stored.
      this.engine.events.record(slot, CacheEvent.RemoteMiss);
      return call.run();
    }
    if (got.miss === 'foreign') this.engine.events.record(slot, CacheEvent.Corrupt);
    this.engine.events.record(slot, CacheEvent.RemoteMiss);
    // Tokens read with the entry predate the database read, so the fill may use them.
    return this.#missed(call, plan, got.tokens);
  }

  /**
   * A database read, shared by concurrent misses of one key (single-flight), stored unless an
   * invalidation overtook it. A caller joins a read in flight only while that read's ticket is
   * current: no table it reads has moved and its key was not invalidated since it began. A read
   * that began before a write must never answer a caller that came after the write.
   */
  async #missed(call, plan, knownTokens) {
    const { key, slot, options } = plan;
    const { Model, run, log } = call;
    const store = this.engine.native;
    const flight = this.inflight.get(key);
    if (flight !== undefined && flight.ticket !== undefined && store.ticketCurrent(flight.ticket)) {
      const text = await flight.done;
      if (text !== null) {
        try {
          const value = this.#fromPayload(text, key, call, options);
          if (value !== undefined) return value;
        } catch (err) {
          log.warn('cache-decode', { key, error: err && err.message }, 'shared result could not be rebuilt; the database answers');
        }
      }
      return run();
    }

    let settle;
    // The ticket is taken before anything is awaited: callers arriving in the same tick join it.
    const fill = this.#beginFill(call, key, plan.tables, knownTokens);
    const mine = { ticket: fill.ticket, done: new Promise((resolve) => (settle = resolve)) };
    this.inflight.set(key, mine);
    let text = null;
    try {
      await fill.ready;
      const result = await run();
      if (call.storable !== undefined && !call.storable(result)) {
        store.recordBypass(slot, 'pk-spelling');
        return result;
      }
      try {
        const stored = toStored(result);
        text = payload.encode(stored.shape, stored.data, definitionOf(Model));
        // "Absent" is remembered only for negativeTtlMs (0: not at all).
        const ttlMs = result === null && call.negativeTtlMs !== undefined ? call.negativeTtlMs : call.ttlMs;
        if (fill.ticket !== undefined && ttlMs !== 0) await this.#completeFill(call, fill, key, text, ttlMs, slot);
      } catch (err) {
        const unstorable = err instanceof payload.UnstorableError;
        if (unstorable) store.recordBypass(slot, 'unstorable');
        log.warn(unstorable ? 'cache-unstorable' : 'cache-fill', { key, error: err && err.message }, 'query result not cached');
        text = null;
      }
      return result;
    } finally {
      if (fill.ticket !== undefined) store.release(fill.ticket);
      if (this.inflight.get(key) === mine) this.inflight.delete(key);
      settle(text);
    }
  }

  /**
   * Reads from the database (never the cache) and stores what `stored(result)` returns (nothing
   * when it returns null) under `target`, with the same version check as a miss. Returns the
   * database result. A cache problem is logged and the result still returned.
   */
  async refresh({ Model, target, ttlMs, log, run, stored }) {
    const slot = this.engine.slot(Model, 'findByPk');
    const key = target.key !== undefined ? target.key : this.engine.keys.text(target.spec);
    if (typeof key !== 'string') return run();
    const call = { Model, target, log };
    const fill = this.#beginFill(call, key, target.tables, undefined);
    try {
      await fill.ready;
      const result = await run();
      if (fill.ticket !== undefined) {
        try {
          const row = stored(result);
          if (row !== null) await this.#completeFill(call, fill, key, payload.encode('row', row, definitionOf(Model)), ttlMs, slot);
        } catch (err) {
          log.warn('cache-fill', { key, error: err && err.message }, 'refreshed row not cached');
        }
      }
      return result;
    } finally {
      if (fill.ticket !== undefined) this.engine.native.release(fill.ticket);
    }
  }

  /**
   * Takes what a fill needs before its database read: the local ticket, synchronously, and, with a
   * network tier, the tables' current tokens (read first, so a write during the read makes the entry
   * stale). `knownTokens`, when given, were read earlier in this call and serve as those tokens.
   * Returns `{ ticket, tokens, ready }`: await `ready` before the database read. If the fill cannot
   * start, `ticket` ends up undefined (and the result is not stored); the caller releases it.
   */
  #beginFill(call, key, tables, knownTokens) {
    const { native: store, remote } = this.engine;
    const fill = { ticket: undefined, tokens: undefined, ready: undefined };
    const failed = (err) => {
      if (remote !== undefined) call.log.tierFailed(err, { key }, 'cache fill could not start; the result will not be stored');
      else call.log.warn('cache-fill', { key, error: err && err.message }, 'cache fill could not start; the result will not be stored');
    };
    try {
      fill.ticket = store.beginFill(key, this.engine.tableIds(tables));
    } catch (err) {
      failed(err);
      fill.ready = Promise.resolve();
      return fill;
    }
    if (remote === undefined || knownTokens !== undefined) {
      fill.tokens = knownTokens;
      fill.ready = Promise.resolve();
      return fill;
    }
    fill.ready = remote.tokensForFill(tables, this.#reporter(call)).then(
      (tokens) => {
        fill.tokens = tokens;
      },
      (err) => {
        // Without tokens nothing may be stored: give the ticket up now. A pending invalidation is
        // not a failure of the tier (it is counted, not logged).
        store.release(fill.ticket);
        fill.ticket = undefined;
        if (err && err.code === PENDING_INVALIDATION) store.recordBypass(this.engine.slot(call.Model, call.method ?? 'findByPk'), PENDING_INVALIDATION);
        else failed(err);
      },
    );
    return fill;
  }

  /** Stores a payload for a fill begun by #beginFill, unless an invalidation overtook it. */
  async #completeFill(call, fill, key, text, ttlMs, slot) {
    const { native: store, remote, l1TtlMs, maxValueBytes, maxRemoteTtlMs, defaultTtlMs } = this.engine;
    // String length is a lower bound of the UTF-8 size; measure only when it could matter.
    if (maxValueBytes !== undefined && text.length * 3 > maxValueBytes && Buffer.byteLength(text) > maxValueBytes) {
      store.recordBypass(slot, 'value-too-large');
      call.log.warn('cache-too-large', { key, bytes: Buffer.byteLength(text), maxValueBytes }, 'result larger than maxValueBytes; not cached');
      return;
    }
    if (remote === undefined) {
      this.#fill(fill.ticket, key, text, ttlMs, slot);
      return;
    }
    if (l1TtlMs !== undefined) {
      // One ticket decides both tiers: overtaken means stored nowhere.
      const l1Ttl = Math.min(l1TtlMs, ttlMs !== undefined ? ttlMs : defaultTtlMs);
      if (this.#fill(fill.ticket, key, text, l1Ttl, slot) === FillOutcome.Rejected) return;
    } else if (!store.settle(fill.ticket)) {
      this.engine.events.record(slot, CacheEvent.FillRejected);
      return;
    }
    try {
      let remoteTtlMs = ttlMs !== undefined ? ttlMs : defaultTtlMs;
      if (maxRemoteTtlMs !== undefined && remoteTtlMs > maxRemoteTtlMs) {
        call.log.warn('cache-ttl-clamped', { key, ttlMs: remoteTtlMs, maxTtlMs: maxRemoteTtlMs }, "TTL above the tier's maximum; clamped to it");
        remoteTtlMs = maxRemoteTtlMs;
      }
      await remote.set(this.#pathOf(call, key), key, text, remoteTtlMs, fill.tokens);
      this.engine.events.record(slot, CacheEvent.RemoteFill);
    } catch (err) {
      if (!(err && err.code === PENDING_INVALIDATION)) call.log.tierFailed(err, { key }, 'network tier write failed; the result is not cached');
    }
  }

  /** Stores a payload for `ticket`, a fill of `key`, in the in-process tier (the fill guard decides). */
  #fill(ticket, key, text, ttlMs, slot) {
    // A fill changes this key's entry without moving the store's epoch (see hit-memo.js).
    this.engine.hits.forget(key);
    return this.engine.native.fill(ticket, text, ttlMs, slot);
  }

  /** Forgets memoized build options (after clear()). */
  clear() {
    this.builds.clear();
    this.buildShapes.clear();
  }
}

module.exports = { ReadPath, READ_METHODS, hydrateOptionsFor };
