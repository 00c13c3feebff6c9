'use strict';
// The sequelize-memory-clone / sequelize-transparent-cache API:
//
//   const { withCache: cacheWrapper } = withCache(client, options);
//   const CacheUser = cacheWrapper(User);          // the same class, with cache() added
//   await CacheUser.cache().findByPk(1);           // entity entry
//   await CacheUser.cache('active').findAll(q);    // a query cached under a name you choose
//   await user.cache().reload();                   // fresh from the database, entity rewritten
//
// Results are living instances. Reads go through the shared engine. Writes are write-through:
// every instance write of a wrapped model (create, save, update, upsert, destroy, restore — plain
// or through cache(), fired by Sequelize's instance hooks) is followed, once its root transaction
// commits, by the invalidation of the model's queries and the row's entity entry, and then by one
// re-read of the row into its entity entry, so the entry holds what the database stores (defaults,
// DECIMAL formatting, triggers), not the instance's guess. With `autoInvalidate: false` that is
// all that invalidates; with the default, the afterQuery hook (../invalidation) also sees static
// bulk writes, raw SQL and cascades.

const { engineOf } = require('./clients');
const { changesOf, pkOf } = require('./invalidation');
const { hasIntegerKey } = require('./engine/keys');
const { rootTransaction, afterRootCommit } = require('./invalidation/transactions');
const { OnceLogger, defaultLogger } = require('./logger');
const { adapterStoreOf, ADAPTER_TIMEOUT_MS } = require('./remote/generations');
const {
  checkKeys,
  ttlSeconds,
  ttlSecondsOrZero,
  timeoutMs,
  optionalBoolean,
  optionalLogger,
  nonEmptyString,
  isModelClass,
  describe,
} = require('./options');

const kBinding = Symbol('sequelize-native-cache.withCache');
/** Marks a model whose write-through hooks are registered. */
const kHooked = Symbol('sequelize-native-cache.write-through-hooks');
/** The name under which the write-through hooks are registered on a model (once). */
const HOOK_NAME = 'sequelize-native-cache.write-through';

/** Default time an "absent" findByPk answer is remembered, in seconds. */
const DEFAULT_NEGATIVE_TTL_SECONDS = 5;

/** Options of a findByPk that still reads the plain entity row. */
const ENTITY_NEUTRAL_OPTIONS = new Set(['transaction', 'logging', 'benchmark']);

function isEntityNeutral(options) {
  if (options == null) return true;
  if (typeof options !== 'object' || Object.getOwnPropertySymbols(options).length > 0) return false;
  return Object.keys(options).every((k) => ENTITY_NEUTRAL_OPTIONS.has(k));
}

/** `{ pkAttr: value, ... }` for a findByPk argument, or null when it does not name one row. */
function pkFromParam(Model, param) {
  const attrs = Model.primaryKeyAttributes || [];
  if (attrs.length === 0 || param === null || param === undefined) return null;
  if (typeof param === 'object' && !Buffer.isBuffer(param) && !(param instanceof Date)) {
    const keys = Object.keys(param);
    if (keys.length !== attrs.length || !attrs.every((a) => keys.includes(a) && param[a] != null)) return null;
    return Object.fromEntries(attrs.map((a) => [a, param[a]]));
  }
  return attrs.length === 1 ? { [attrs[0]]: param } : null;
}

/** The primary key a static `where` names exactly (`{ id: 1 }`), or null. */
function pkFromWhere(Model, where) {
  if (where === null || typeof where !== 'object' || Object.getOwnPropertySymbols(where).length > 0) return null;
  const attrs = Model.primaryKeyAttributes || [];
  const keys = Object.keys(where);
  if (attrs.length === 0 || keys.length !== attrs.length || !attrs.every((a) => keys.includes(a))) return null;
  const pk = {};
  for (const a of attrs) {
    const v = where[a];
    if (typeof v !== 'number' && typeof v !== 'string' && typeof v !== 'bigint') return null;
    pk[a] = v;
  }
  return pk;
}

/** The instance's own row when it holds every stored attribute (no includes), else null. */
function entityRow(Model, inst) {
  const values = inst.get({ raw: true });
  const row = {};
  for (const [name, attr] of Object.entries(Model.rawAttributes)) {
    if (attr.type && attr.type.key === 'VIRTUAL') continue;
    if (!Object.prototype.hasOwnProperty.call(values, name)) return null;
    row[name] = values[name];
  }
  return row;
}

class Binding {
  constructor(client, engine, { ttlMs, negativeTtlMs, autoInvalidate, writeThrough, log }) {
    this.client = client;
    this.engine = engine;
    this.ttlMs = ttlMs;
    this.negativeTtlMs = negativeTtlMs;
    this.autoInvalidate = autoInvalidate;
    this.writeThrough = writeThrough;
    this.log = log;
    this.methods = new WeakMap();
  }

  /** The entity entry of one row of `Model`, or null when the model's reads are scoped. */
  entityTarget(Model, pk) {
    if (pk === null || this.engine.keys.scopeOf(Model) !== undefined) return null;
    return this.engine.keys.entityTarget(Model, pk);
  }

  /** Runs a cache operation that may be asynchronous (network tiers) without letting it reject unhandled. */
  background(what, op) {
    try {
      const p = op();
      if (p && typeof p.then === 'function') {
        return p.catch((err) => this.log.tierFailed(err, { what }, `${what} failed in the network tier; entries expire by TTL`));
      }
      return p;
    } catch (err) {
      this.log.warn('cache-invalidate', { what, error: err && err.message }, `${what} failed; entries expire by TTL`);
      return undefined;
    }
  }

  read(Model, method, args, run, extra) {
    return this.engine.read({ Model, method, args, run, ttlMs: this.ttlMs, log: this.log, ...extra });
  }

  /**
   * How a read of one row's entity entry at `target` is stored. A found row is stored only when
   * its own key is spelled as the one asked for: a write to the row names it by the row's own
   * spelling, which would miss an entry stored under another (`'ABC'` for a row `'abc'` under a
   * case-insensitive collation). An absent row is remembered only for an integer key, the one kind
   * with a single spelling (keys.js canonicalPk): a create of a row spelled otherwise would not
   * find the entry to clear.
   */
  entityRead(Model, target) {
    const keys = this.engine.keys;
    return {
      target,
      negativeTtlMs: hasIntegerKey(Model) ? this.negativeTtlMs : 0,
      storable: (row) => {
        if (row === null || row === undefined) return true;
        const own = pkOf(Model, row);
        return own !== null && keys.entityKey(Model, own) === keys.text(target.spec);
      },
    };
  }

  /** Re-reads one row from the database into its entity entry (a version-checked fill). */
  async refill(Model, pk) {
    const target = this.entityTarget(Model, pk);
    if (target === null) return;
    // transaction: null — after a commit, a CLS context may still name the finished transaction.
    const options = { transaction: null };
    await this.read(Model, 'findByPk', [pk, options], () => Model.findOne({ where: pk, ...options }), this.entityRead(Model, target));
  }

  /**
   * After an instance write of `kind` ('insert', 'update', 'upsert', 'delete'): once the root transaction
   * commits, invalidate what it changed (unless the afterQuery hook does), then re-read the row into
   * its entity entry (unless it was deleted). Never throws: a failure is logged and entries
   * expire by TTL.
   */
  instanceWritten(Model, instance, options, kind) {
    return afterRootCommit(rootTransaction(Model, options), async () => {
      try {
        if (!this.autoInvalidate) {
          const fields = options && Array.isArray(options.fields) ? options.fields : undefined;
          // An upsert may have updated the row another unique column matches: its row is not named.
          const named = kind === 'upsert' ? undefined : instance;
          await this.engine.applyWrite(changesOf(Model.sequelize, Model, { instance: named, kind: kind === 'upsert' ? 'update' : kind, fields }));
        }
        const pk = kind === 'delete' || !this.writeThrough ? null : pkOf(Model, instance);
        if (pk !== null) await this.refill(Model, pk);
      } catch (err) {
        this.log.warn('cache-write-through', { model: Model.name, error: err && err.message }, 'write-through failed; the entry is refreshed on the next read');
      }
    });
  }

  /**
   * After a static write through cache() whose rows are not known one by one: every entity and
   * query of the model, once committed; a `where` naming one primary key re-reads that row.
   */
  bulkWritten(Model, options) {
    return afterRootCommit(rootTransaction(Model, options), async () => {
      await this.background('invalidation', () => this.engine.applyWrite([{ Model, pk: null }]));
      const pk = options && this.writeThrough ? pkFromWhere(Model, options.where) : null;
      if (pk !== null) {
        try {
          await this.refill(Model, pk);
        } catch (err) {
          this.log.warn('cache-write-through', { model: Model.name, error: err && err.message }, 'write-through failed; the entry is refreshed on the next read');
        }
      }
    });
  }
}

/** The binding of the wrapped model `Model` (or its nearest wrapped ancestor, for scopes). */
function bindingOf(Model) {
  return Model[kBinding];
}

/** Registers, once per model, the instance hooks that write through (they read the current binding). */
function addWriteThroughHooks(Model) {
  if (Object.prototype.hasOwnProperty.call(Model, kHooked)) return;
  Object.defineProperty(Model, kHooked, { value: true });
  const on = (hook, kind, pick = (x) => x) =>
    Model.addHook(hook, HOOK_NAME, (result, options) => {
      const instance = pick(result);
      const binding = bindingOf(instance && instance.constructor ? instance.constructor : Model);
      if (binding === undefined || !instance || typeof instance.get !== 'function') return undefined;
      return binding.instanceWritten(instance.constructor, instance, options, kind);
    });
  on('afterCreate', 'insert');
  on('afterUpdate', 'update');
  on('afterDestroy', 'delete');
  on('afterRestore', 'update');
  on('afterUpsert', 'upsert', (r) => (Array.isArray(r) ? r[0] : r));
}

/** `Model.cache()`: entity reads, canonical query reads, and writes. */
class ModelCacheMethods {
  constructor(binding, Model, ttlMs) {
    this.binding = binding;
    this.Model = Model;
    this.ttlMs = ttlMs;
  }

  /** The cache client (or adapter) given to withCache. */
  client() {
    return this.binding.client;
  }

  #read(method, args, run, extra) {
    return this.binding.read(this.Model, method, args, run, { ...(this.ttlMs ? { ttlMs: this.ttlMs } : {}), ...extra });
  }

  /** One row by primary key (an object of key columns for a composite key). */
  findByPk(param, options) {
    const { Model, binding } = this;
    const pk = pkFromParam(Model, param);
    const composite = pk !== null && (Model.primaryKeyAttributes || []).length > 1;
    const run = composite ? () => Model.findOne({ ...options, where: pk }) : () => Model.findByPk(param, options);
    const target = isEntityNeutral(options) ? binding.entityTarget(Model, pk) : null;
    if (target !== null) return this.#read('findByPk', [param, options], run, binding.entityRead(Model, target));
    if (composite) return this.#read('findOne', [{ ...options, where: pk }], run);
    return this.#read('findByPk', [param, options], run);
  }

  /** sequelize-transparent-cache's name for findByPk. */
  findById(param, options) {
    return this.findByPk(param, options);
  }

  findOne(options) {
    return this.#read('findOne', [options], () => this.Model.findOne(options));
  }

  findAll(options) {
    return this.#read('findAll', [options], () => this.Model.findAll(options));
  }

  findAndCountAll(options) {
    return this.#read('findAndCountAll', [options], () => this.Model.findAndCountAll(options));
  }

  count(options) {
    return this.#read('count', [options], () => this.Model.count(options));
  }

  /** Instance writes write through by their hooks; with `hooks: false` none fire, so it is done here. */
  async #withoutHooks(options, instance, kind) {
    if (options && options.hooks === false && instance && typeof instance.get === 'function') {
      await this.binding.instanceWritten(this.Model, instance, options, kind);
    }
  }

  async create(values, options) {
    const instance = await this.Model.create(values, options);
    await this.#withoutHooks(options, instance, 'insert');
    return instance;
  }

  async bulkCreate(records, options) {
    const instances = await this.Model.bulkCreate(records, options);
    await this.binding.bulkWritten(this.Model, options);
    return instances;
  }

  async update(values, options) {
    const result = await this.Model.update(values, options);
    await this.binding.bulkWritten(this.Model, options);
    return result;
  }

  /** Returns what the installed Sequelize's upsert returns. */
  async upsert(values, options) {
    const result = await this.Model.upsert(values, options);
    const instance = Array.isArray(result) ? result[0] : result;
    if (instance && typeof instance.get === 'function') await this.#withoutHooks(options, instance, 'upsert');
    else await this.binding.bulkWritten(this.Model, options);
    return result;
  }

  /** sequelize-transparent-cache's name for upsert. */
  insertOrUpdate(values, options) {
    return this.upsert(values, options);
  }

  async destroy(options) {
    const result = await this.Model.destroy(options);
    await this.binding.bulkWritten(this.Model, options);
    return result;
  }

  /**
   * Drops every cached entity and query of this model, or with `name`, only the query cached under
   * that name (sequelize-memory-clone's `clear(key)`). With a network tier, returns a promise.
   */
  clear(name) {
    if (name !== undefined) return new NamedQueryMethods(this.binding, this.Model, nonEmptyString('clear', 'key', name), undefined).clear();
    return this.binding.background('clear', () => this.binding.engine.applyWrite([{ Model: this.Model, pk: null }]));
  }

  /** Drops every cached query of this model (entities stay). With a network tier, returns a promise. */
  clearAllModelQueries() {
    return this.binding.background('clearAllModelQueries', () => this.binding.engine.invalidateModel(this.Model));
  }
}

/** `Model.cache('key')`: a query cached under a name the caller chose. */
class NamedQueryMethods {
  constructor(binding, Model, name, ttlMs) {
    this.binding = binding;
    this.Model = Model;
    this.name = name;
    this.ttlMs = ttlMs;
  }

  /** The cache client (or adapter) given to withCache. */
  client() {
    return this.binding.client;
  }

  #read(method, options) {
    const target = this.binding.engine.keys.namedTarget(this.Model, method, this.name);
    return this.binding.read(this.Model, method, [options], () => this.Model[method](options), {
      target,
      ...(this.ttlMs ? { ttlMs: this.ttlMs } : {}),
    });
  }

  findAll(options) {
    return this.#read('findAll', options);
  }

  findOne(options) {
    return this.#read('findOne', options);
  }

  findAndCountAll(options) {
    return this.#read('findAndCountAll', options);
  }

  count(options) {
    return this.#read('count', options);
  }

  /** Drops this name's cached results (every method). With a network tier, returns a promise. */
  clear() {
    const { engine } = this.binding;
    const targets = ['findAll', 'findOne', 'findAndCountAll', 'count'].map((m) => engine.keys.namedTarget(this.Model, m, this.name));
    return this.binding.background('clear', () => {
      const pending = targets.map((t) => engine.invalidateKey(t.key, t.path)).filter(Boolean);
      return pending.length > 0 ? Promise.all(pending) : undefined;
    });
  }
}

/** `instance.cache()`: writes that keep the entity entry fresh, and a reload that rewrites it. */
class InstanceCacheMethods {
  constructor(binding, instance) {
    this.binding = binding;
    this.instance = instance;
  }

  /** The cache client (or adapter) given to withCache. */
  client() {
    return this.binding.client;
  }

  get #Model() {
    return this.instance.constructor;
  }

  async #withoutHooks(options, kind) {
    if (options && options.hooks === false) await this.binding.instanceWritten(this.#Model, this.instance, options, kind);
  }

  async save(options) {
    const wasNew = this.instance.isNewRecord;
    await this.instance.save(options);
    await this.#withoutHooks(options, wasNew ? 'insert' : 'update');
    return this.instance;
  }

  async update(values, options) {
    await this.instance.update(values, options);
    await this.#withoutHooks(options, 'update');
    return this.instance;
  }

  /** Reads the row from the database (never the cache), updates this instance, rewrites the entry. */
  async reload(options) {
    const Model = this.#Model;
    const { binding, instance } = this;
    // Options that change what the row read means (paranoid: false reads a deleted row, include,
    // attributes) or a transaction's view: reloaded, the entry left alone.
    const target = isEntityNeutral(options) ? binding.entityTarget(Model, pkOf(Model, instance)) : null;
    if (target === null || rootTransaction(Model, options) !== undefined) return instance.reload(options);
    return binding.engine.refresh({
      Model,
      target,
      ttlMs: binding.ttlMs,
      log: binding.log,
      run: () => instance.reload(options),
      stored: (reloaded) => entityRow(Model, reloaded),
    });
  }

  async destroy(options) {
    await this.instance.destroy(options);
    await this.#withoutHooks(options, 'delete');
    return undefined;
  }

  /** Drops this instance's entity entry. With a network tier, returns a promise. */
  clear() {
    const Model = this.#Model;
    const target = this.binding.entityTarget(Model, pkOf(Model, this.instance));
    if (target === null) return undefined;
    const key = this.binding.engine.keys.text(target.spec);
    if (typeof key !== 'string') return undefined;
    return this.binding.background('clear', () => this.binding.engine.invalidateKey(key, target.path));
  }
}

function staticCache(keyOrOptions, maybeOptions) {
  const Model = this;
  const binding = bindingOf(Model);
  let name;
  let opts;
  if (typeof keyOrOptions === 'string') {
    name = nonEmptyString('cache', 'key', keyOrOptions);
    opts = checkKeys('cache', maybeOptions, ['ttl']);
  } else if (keyOrOptions == null && maybeOptions !== undefined) {
    // `cache(undefined, { ttl })`, as sequelize-transparent-cache 3 writes it.
    opts = checkKeys('cache', maybeOptions, ['ttl']);
  } else {
    opts = checkKeys('cache', keyOrOptions, ['customKey', 'ttl']);
    if (opts.customKey !== undefined) name = nonEmptyString('cache', 'customKey', opts.customKey);
  }
  const ttl = ttlSeconds('cache', 'ttl', opts.ttl, undefined);
  const ttlMs = ttl === undefined ? undefined : Math.round(ttl * 1000);
  if (name !== undefined) return new NamedQueryMethods(binding, Model, name, ttlMs);
  if (ttlMs !== undefined) return new ModelCacheMethods(binding, Model, ttlMs);
  // The common `Model.cache()` reuses one methods object per model.
  let methods = binding.methods.get(Model);
  if (methods === undefined) binding.methods.set(Model, (methods = new ModelCacheMethods(binding, Model, undefined)));
  return methods;
}

function instanceCache() {
  return new InstanceCacheMethods(bindingOf(this.constructor), this);
}

/**
 * @param client  a cache client (MemoryCache, RedisCache, a Momento client), an adapter
 *   (IORedisAdapter, a CacheAdapter, a transparent-cache adaptor), or `{ client, namespace, lifetime }`
 *   with an ioredis client
 * @param {object} [options]
 * @param {number} [options.ttl]           TTL of entries, in seconds (default: the client's)
 * @param {number} [options.negativeTtl=5] how long an absent findByPk row is remembered (0: never)
 * @param {boolean} [options.autoInvalidate=true] invalidate on every write through Sequelize
 * @param {boolean} [options.writeThrough=true] after an instance write, re-read the row into its
 *   entity entry (one SELECT by primary key per write); false only invalidates it
 * @param {{ key: string | Buffer }} [options.integrity]  with an adapter: sign its entries
 *   (HMAC-SHA-256; SNC_INTEGRITY_KEY when not given)
 * @param {number} [options.adapterTimeoutMs=250] with an adapter: the deadline of each call on it,
 *   after which the call counts as failed (the database answers; a write's bump is retried)
 * @param {object} [options.logger]
 */
function withCache(client, options) {
  const o = checkKeys('withCache', options, ['ttl', 'negativeTtl', 'autoInvalidate', 'writeThrough', 'integrity', 'adapterTimeoutMs', 'logger']);
  const adapterTimeoutMs = timeoutMs('withCache', 'adapterTimeoutMs', o.adapterTimeoutMs, ADAPTER_TIMEOUT_MS);
  const engine = engineOf(client, 'withCache', { acceptAdapters: true, adapterOptions: { integrity: o.integrity } });
  // Undefined for a native client, whose own options (commandTimeoutMs) and breaker apply.
  const adapterStore = adapterStoreOf(engine.remote);
  if (adapterStore !== undefined) adapterStore.useTimeout('withCache', 'adapterTimeoutMs', adapterTimeoutMs);
  const ttl = ttlSeconds('withCache', 'ttl', o.ttl, undefined);
  const negativeTtl = ttlSecondsOrZero('withCache', 'negativeTtl', o.negativeTtl, DEFAULT_NEGATIVE_TTL_SECONDS);
  const autoInvalidate = optionalBoolean('withCache', 'autoInvalidate', o.autoInvalidate, true);
  const writeThrough = optionalBoolean('withCache', 'writeThrough', o.writeThrough, true);
  const logger = optionalLogger('withCache', o.logger, undefined);
  const log = new OnceLogger(logger ?? defaultLogger());
  const binding = new Binding(client, engine, {
    ttlMs: ttl === undefined ? undefined : Math.round(ttl * 1000),
    negativeTtlMs: Math.round(negativeTtl * 1000),
    autoInvalidate,
    writeThrough,
    log,
  });

  return {
    /** Adds `cache()` to the model and its instances, and write-through hooks; returns the same class. */
    withCache(Model) {
      if (!isModelClass(Model)) throw new TypeError(`withCache: expected a Sequelize model class, got ${describe(Model)}`);
      if (binding.autoInvalidate) engine.watch(Model.sequelize, log);
      Object.defineProperty(Model, kBinding, { value: binding, configurable: true, writable: true });
      if (Model.cache !== staticCache) Object.defineProperty(Model, 'cache', { value: staticCache, configurable: true, writable: true });
      if (Model.prototype.cache !== instanceCache) {
        Object.defineProperty(Model.prototype, 'cache', { value: instanceCache, configurable: true, writable: true });
      }
      addWriteThroughHooks(Model);
      return Model;
    },
    // With an adapter, its circuit breaker, as RedisCache's breaker().
    ...(adapterStore !== undefined ? { breaker: () => adapterStore.breaker.state() } : {}),
  };
}

module.exports = { withCache };
