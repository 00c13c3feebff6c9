'use strict';
// The sequelize-memory-clone / sequelize-transparent-cache API:
//
//   const { withCache: cacheWrapper } = withCache(client, options);
//   const CacheUser = cacheWrapper(User);          // the same class, with cache() added
//   await CacheUser.cache().findByPk(1);           // entity entry, write-through
//   await CacheUser.cache('active').findAll(q);    // a query cached under a name you choose
//   await user.cache().reload();                   // fresh from the database, entity rewritten
//
// Results are living instances. Reads go through the shared engine (engine.js). Writes go to
// the database, then — after the root transaction commits — invalidate what they touched (so
// `{ autoInvalidate: false }` still sees writes made through cache()) and re-read the written
// row into its entity entry, so the entry is what the database holds, not what the instance
// guessed (defaults, DECIMAL formatting, triggers).

const { engineOf } = require('./clients');
const { rootTransaction } = require('./invalidate');
const { OnceLogger, defaultLogger } = require('./logger');
const {
  checkKeys,
  positiveNumber,
  nonNegativeNumber,
  optionalBoolean,
  optionalLogger,
  nonEmptyString,
  isModelClass,
  describe,
} = require('./options');

const kBinding = Symbol('sequelize-native-cache.withCache');

/** Default time an "absent" findByPk answer is remembered, in seconds. */
const DEFAULT_NEGATIVE_TTL_SECONDS = 5;

/** Options of a findByPk that still reads the plain entity row. */
const ENTITY_NEUTRAL_OPTIONS = new Set(['transaction', 'logging', 'benchmark']);

/** Runs `fn` now, or once the root transaction of `options` commits (never on rollback). */
function afterCommit(Model, options, fn) {
  const root = rootTransaction(Model, options);
  if (root === undefined) return fn();
  root.afterCommit(() => fn());
  return undefined;
}

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
  constructor(client, engine, { ttlMs, negativeTtlMs, autoInvalidate, log }) {
    this.client = client;
    this.engine = engine;
    this.ttlMs = ttlMs;
    this.negativeTtlMs = negativeTtlMs;
    this.autoInvalidate = autoInvalidate;
    this.log = log;
    this.methods = new WeakMap();
  }

  /** The entity entry of one row of `Model`, or null when the model's reads are scoped. */
  entityTarget(Model, pk) {
    if (pk === null || this.engine.scopeOf(Model) !== undefined) return null;
    const spec = this.engine.entitySpec(Model, pk);
    if (spec === null) return null;
    let path;
    if (this.engine.remote !== undefined) {
      // In an adapter, the seed's layout: Model:pk (a composite key as JSON of its columns).
      const values = Object.values(pk);
      path = [Model.name, values.length === 1 ? String(values[0]) : JSON.stringify(pk)];
    }
    return { spec, tables: [this.engine.entityTable(Model)], path };
  }

  /** Runs a cache operation that may be asynchronous (adapters) without letting it reject unhandled. */
  background(what, op) {
    try {
      const p = op();
      if (p && typeof p.then === 'function') {
        return p.catch((err) => this.log.tierFailed(err, { what }, `${what} failed in the adapter; entries expire by TTL`));
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
   * After a write through cache(): invalidate (once committed), then — unless the row is gone —
   * re-read it into its entity entry.
   */
  async afterWrite(Model, instance, options, { refill = true } = {}) {
    await afterCommit(Model, options, async () => {
      try {
        await this.engine.invalidateWrite(Model, instance);
        const pk = refill && instance ? this.engine.constructor.pkOf(Model, instance) : null;
        const target = this.entityTarget(Model, pk);
        if (target !== null) {
          // transaction: null — after a commit, a CLS context may still name the finished transaction.
          const options = { transaction: null };
          await this.read(Model, 'findByPk', [pk, options], () => Model.findOne({ where: pk, ...options }), {
            target,
            negativeTtlMs: this.negativeTtlMs,
          });
        }
      } catch (err) {
        this.log.warn('cache-write-through', { model: Model.name, error: err && err.message }, 'write-through failed; the entry is refreshed on the next read');
      }
    });
  }

  /** After a write whose rows are unknown: every entity and query of the model, once committed. */
  async afterBulkWrite(Model, options) {
    await afterCommit(Model, options, () => this.background('invalidation', () => this.engine.invalidateWrite(Model, undefined)));
  }
}

/** `Model.cache()`: entity reads, canonical query reads, and write-through writes. */
class ModelCacheMethods {
  constructor(binding, Model, ttlMs) {
    this.binding = binding;
    this.Model = Model;
    this.ttlMs = ttlMs;
  }

  get client() {
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
    if (target !== null) {
      return this.#read('findByPk', [param, options], run, { target, negativeTtlMs: binding.negativeTtlMs });
    }
    if (composite) return this.#read('findOne', [{ ...options, where: pk }], run);
    return this.#read('findByPk', [param, options], run);
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

  async create(values, options) {
    const instance = await this.Model.create(values, options);
    await this.binding.afterWrite(this.Model, instance, options);
    return instance;
  }

  async bulkCreate(records, options) {
    const instances = await this.Model.bulkCreate(records, options);
    await this.binding.afterBulkWrite(this.Model, options);
    return instances;
  }

  async update(values, options) {
    const result = await this.Model.update(values, options);
    await this.binding.afterBulkWrite(this.Model, options);
    return result;
  }

  async upsert(values, options) {
    const result = await this.Model.upsert(values, options);
    const instance = Array.isArray(result) ? result[0] : result;
    if (instance && typeof instance.get === 'function') await this.binding.afterWrite(this.Model, instance, options);
    else await this.binding.afterBulkWrite(this.Model, options);
    return result;
  }

  async destroy(options) {
    const result = await this.Model.destroy(options);
    await this.binding.afterBulkWrite(this.Model, options);
    return result;
  }

  /** Drops every cached entity and query of this model. With an adapter, returns a promise. */
  clear() {
    return this.binding.background('clear', () => this.binding.engine.invalidateWrite(this.Model, undefined));
  }

  /** Drops every cached query of this model (entities stay). With an adapter, returns a promise. */
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

  get client() {
    return this.binding.client;
  }

  #target(method) {
    // In an adapter, the seed's layout: Model:query:<name>.
    const name = method === 'findAll' ? this.name : `${this.name}:${method}`;
    return { key: this.binding.engine.namedKey(this.Model, method, this.name), path: [this.Model.name, 'query', name] };
  }

  #read(method, options) {
    const target = this.#target(method);
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

  /** Drops this name's cached results (every method). With an adapter, returns a promise. */
  clear() {
    const targets = ['findAll', 'findOne', 'findAndCountAll', 'count'].map((m) => this.#target(m));
    return this.binding.background('clear', () => {
      const pending = targets.map((t) => this.binding.engine.invalidateKey(t.key, t.path)).filter(Boolean);
      return pending.length > 0 ? Promise.all(pending) : undefined;
    });
  }
}

/** `instance.cache()`: writes that keep the entity entry fresh. */
class InstanceCacheMethods {
  constructor(binding, instance) {
    this.binding = binding;
    this.instance = instance;
  }

  get client() {
    return this.binding.client;
  }

  get #Model() {
    return this.instance.constructor;
  }

  async save(options) {
    await this.instance.save(options);
    await this.binding.afterWrite(this.#Model, this.instance, options);
    return this.instance;
  }

  async update(values, options) {
    await this.instance.update(values, options);
    await this.binding.afterWrite(this.#Model, this.instance, options);
    return this.instance;
  }

  /** Reads the row from the database (never the cache), updates this instance, rewrites the entry. */
  async reload(options) {
    const Model = this.#Model;
    const { binding, instance } = this;
    const pk = binding.engine.constructor.pkOf(Model, instance);
    const target = binding.entityTarget(Model, pk);
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
    await this.binding.afterWrite(this.#Model, this.instance, options, { refill: false });
    return undefined;
  }

  /** Drops this instance's entity entry. With an adapter, returns a promise. */
  clear() {
    const Model = this.#Model;
    const target = this.binding.entityTarget(Model, this.binding.engine.constructor.pkOf(Model, this.instance));
    if (target === null) return undefined;
    const key = this.binding.engine.entityKey(Model, this.binding.engine.constructor.pkOf(Model, this.instance));
    return this.binding.background('clear', () => this.binding.engine.invalidateKey(key, target.path));
  }
}

function staticCache(keyOrOptions, maybeOptions) {
  const Model = this;
  const binding = Model[kBinding];
  let name;
  let opts;
  if (typeof keyOrOptions === 'string') {
    name = nonEmptyString('cache', 'key', keyOrOptions);
    opts = checkKeys('cache', maybeOptions, ['ttl']);
  } else {
    opts = checkKeys('cache', keyOrOptions, ['customKey', 'ttl']);
    if (opts.customKey !== undefined) name = nonEmptyString('cache', 'customKey', opts.customKey);
  }
  const ttl = positiveNumber('cache', 'ttl', opts.ttl, undefined);
  const ttlMs = ttl === undefined ? undefined : Math.round(ttl * 1000);
  if (name !== undefined) return new NamedQueryMethods(binding, Model, name, ttlMs);
  if (ttlMs !== undefined) return new ModelCacheMethods(binding, Model, ttlMs);
  // The common `Model.cache()` reuses one methods object per model.
  let methods = binding.methods.get(Model);
  if (methods === undefined) binding.methods.set(Model, (methods = new ModelCacheMethods(binding, Model, undefined)));
  return methods;
}

function instanceCache() {
  return new InstanceCacheMethods(this.constructor[kBinding], this);
}

/**
 * @param client  a cache client (MemoryCache, ...)
 * @param {object} [options]
 * @param {number} [options.ttl]           TTL of entries, in seconds (default: the client's)
 * @param {number} [options.negativeTtl=5] how long an absent findByPk row is remembered (0: never)
 * @param {boolean} [options.autoInvalidate=true] invalidate on every write through Sequelize
 * @param {object} [options.logger]
 */
function withCache(client, options) {
  const engine = engineOf(client, 'withCache', { acceptAdapters: true });
  const o = checkKeys('withCache', options, ['ttl', 'negativeTtl', 'autoInvalidate', 'logger']);
  const ttl = positiveNumber('withCache', 'ttl', o.ttl, undefined);
  const negativeTtl = nonNegativeNumber('withCache', 'negativeTtl', o.negativeTtl, DEFAULT_NEGATIVE_TTL_SECONDS, ' (seconds)');
  const autoInvalidate = optionalBoolean('withCache', 'autoInvalidate', o.autoInvalidate, true);
  const logger = optionalLogger('withCache', o.logger, undefined);
  const log = new OnceLogger(logger ?? defaultLogger());
  // Problems outside a caller's read (invalidation) go to this logger too.
  if (logger !== undefined) engine.log = log;
  const binding = new Binding(client, engine, {
    ttlMs: ttl === undefined ? undefined : Math.round(ttl * 1000),
    negativeTtlMs: Math.round(negativeTtl * 1000),
    autoInvalidate,
    log,
  });

  return {
    /** Adds `cache()` to the model and its instances; returns the same class. */
    withCache(Model) {
      if (!isModelClass(Model)) throw new TypeError(`withCache: expected a Sequelize model class, got ${describe(Model)}`);
      if (binding.autoInvalidate) engine.watch(Model.sequelize);
      Object.defineProperty(Model, kBinding, { value: binding, configurable: true, writable: true });
      if (Model.cache !== staticCache) Object.defineProperty(Model, 'cache', { value: staticCache, configurable: true, writable: true });
      if (Model.prototype.cache !== instanceCache) {
        Object.defineProperty(Model.prototype, 'cache', { value: instanceCache, configurable: true, writable: true });
      }
      return Model;
    },
  };
}

module.exports = { withCache };
