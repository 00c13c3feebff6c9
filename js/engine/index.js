'use strict';
// The engine: one cache client's machinery behind both API styles. It owns the native store (the
// in-process tier, the fill guard and the counters, in Rust), the network tier when there is one,
// key building (keys.js) and the read path (read.js), and applies what invalidation decided a
// write changed (../invalidation). The faces (model-cache.js, with-cache.js) only call it.

const native = require('../native');
const invalidation = require('../invalidation');
const { Keys } = require('./keys');
const { ReadPath, READ_METHODS, hydrateOptionsFor } = require('./read');
const { bypassReason } = require('./bypass');
const { tableNameOf, entityTableOf } = require('./dependencies');
const { summarize, EventCounts } = require('./stats');
const { HitMemo } = require('./hit-memo');

class Engine {
  /**
   * @param {object} o
   * @param {number} o.maxBytes        bound of the in-process tier
   * @param {number} o.defaultTtlMs    TTL of entries stored without one
   * @param {string} o.prefix          the first segment of every key (modelCacheName / namespace)
   * @param {object} [o.remote]        a network tier (remote/generations.js), or undefined
   * @param {number} [o.l1TtlMs]       with `remote`: the TTL of the in-process tier in front of it
   *   (an L1), or undefined for none. Whoever sets it keeps the L1 coherent (RedisCache: pub/sub
   *   in Rust; MomentoCache: a short TTL, since Momento's HTTP API has no subscription).
   * @param {number} [o.maxValueBytes] results whose stored form is longer are not cached
   * @param {number} [o.maxRemoteTtlMs] the network tier's longest TTL; longer ones are clamped (logged)
   * @param {boolean} [o.storeAtKey]   network-tier entries live at their key text (see keys.js)
   * @param {boolean} [o.wrapperKeys]  canonical queries live at the Momento wrapper's keys (keys.js)
   */
  constructor({ maxBytes, defaultTtlMs, prefix, remote, l1TtlMs, maxValueBytes, maxRemoteTtlMs, storeAtKey = false, wrapperKeys = false }) {
    this.native = native.createCache({ maxBytes, defaultTtlMs });
    this.remote = remote;
    this.l1TtlMs = remote !== undefined ? l1TtlMs : undefined;
    this.maxValueBytes = maxValueBytes;
    this.maxRemoteTtlMs = maxRemoteTtlMs;
    this.defaultTtlMs = defaultTtlMs;
    /** The read path's own events, reported to the native counters when stats are read. */
    this.events = new EventCounts(this.native);
    /** The in-process tier's lookups by key text, with recent hits remembered in JS. */
    this.hits = new HitMemo(this.native, this.events);
    this.keys = new Keys(prefix, this.native, this.hits, storeAtKey, wrapperKeys);
    this.reads = new ReadPath(this);
    /** Native generation ids by table name. */
    this.ids = new Map();
    /** Stats slots by model, then method. */
    this.slots = new WeakMap();
    /** Writes whose tables could not be told, so every table was invalidated. */
    this.conservativeInvalidations = 0;
  }

  /** The stats slot of (Model, method). */
  slot(Model, method) {
    let bySlot = this.slots.get(Model);
    if (bySlot === undefined) this.slots.set(Model, (bySlot = Object.create(null)));
    const s = bySlot[method];
    return s !== undefined ? s : (bySlot[method] = this.native.slot(Model.name, method));
  }

  /** The native generation id of a table name. */
  tableId(table) {
    let id = this.ids.get(table);
    if (id === undefined) this.ids.set(table, (id = this.native.tableId(table)));
    return id;
  }

  /** Native generation ids of table names. */
  tableIds(tables) {
    return tables.map((t) => this.tableId(t));
  }

  /** Runs one read method through the cache. See ReadPath#plan for `call`. */
  read(call) {
    const plan = this.reads.plan(call);
    return 'hit' in plan ? plan.hit : this.reads.fetch(call, plan);
  }

  /** The synchronous half of a read: `{ hit }`, or a plan for fetch(). Never throws. */
  plan(call) {
    return this.reads.plan(call);
  }

  /** The asynchronous half of a read, for a plan without a hit. */
  fetch(call, plan) {
    return this.reads.fetch(call, plan);
  }

  /** Reads from the database and stores the result under a fixed target (see ReadPath#refresh). */
  refresh(o) {
    return this.reads.refresh(o);
  }

  /** Invalidates this engine's entries on every write made through `sequelize`, reporting to `log`. */
  watch(sequelize, log) {
    if (sequelize && typeof sequelize.addHook === 'function') invalidation.watch(sequelize, this, log);
  }

  /**
   * Applies what a committed write changed (decided by ../invalidation): for each `{ Model, pk }`,
   * every cached query of the model's table goes stale, and its entity entry of `pk` (null: all of
   * its entities). With a network tier, every table's tokens move too (its other processes' late
   * fills no lease here can stop); the returned promise settles when they have.
   */
  applyWrite(targets, conservative = false) {
    if (conservative) this.conservativeInvalidations++;
    const tokens = new Set();
    for (const { Model, pk } of targets) {
      const table = tableNameOf(Model);
      this.native.bumpTable(this.tableId(table));
      tokens.add(table);
      // A row another model over this table may have read under its own head: all entities go.
      const spec = pk && !this.keys.entitiesSharedBeyond(Model) ? this.keys.entitySpec(Model, pk) : null;
      if (spec && spec.pkHead !== undefined) this.native.invalidatePk(spec.pkHead, spec.value);
      else if (spec) this.native.invalidateKey(spec.fixed);
      else this.native.bumpTable(this.tableId(entityTableOf(Model)));
      // Shared with other processes: a row's entity is dropped there by moving the whole token.
      tokens.add(entityTableOf(Model));
    }
    return this.remote !== undefined ? this.remote.bump([...tokens]) : undefined;
  }

  /** Makes every cached read of `Model`'s table stale (O(1)); entity entries stay. */
  invalidateModel(Model) {
    const table = tableNameOf(Model);
    this.native.bumpTable(this.tableId(table));
    return this.remote !== undefined ? this.remote.bump([table]) : undefined;
  }

  /** Removes one entry (at `path` in a network tier) and voids any fill of it in flight. */
  invalidateKey(key, path) {
    this.native.invalidateKey(key);
    return this.remote !== undefined && path !== undefined ? this.remote.del(path) : undefined;
  }

  /** Removes every entry and voids every fill in flight. */
  clear() {
    this.native.clear();
    this.hits.clear();
    this.reads.clear();
  }

  /** The key `Model[method](...args)` would use, or null if that call bypasses the cache. */
  keyFor(Model, method, args) {
    if (!READ_METHODS.includes(method)) return null;
    if (bypassReason(Model, hydrateOptionsFor(method, args)) !== null) return null;
    const spec = this.keys.querySpec(Model, method, args);
    const k = spec === null ? null : this.keys.text(spec);
    return typeof k === 'string' ? k : null;
  }

  /** Counters, totals and per model / method. */
  stats() {
    this.events.report();
    return summarize(this.native.stats(), this.remote !== undefined, this.conservativeInvalidations);
  }
}

module.exports = { Engine, READ_METHODS };
