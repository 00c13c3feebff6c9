'use strict';
// THE read path, shared by both API styles:
//   bypass? → canonical key (Rust) → in-process tier (sync) → single-flight → database
//   → version-checked fill (Rust).
// Nothing here stores or compares data itself; the native engine does. A cache problem never
// fails the caller's query: every path falls back to the database.

const native = require('./native');
const codec = require('./codec');
const { toStored, fromStored, prepareBuild } = require('./hydrate');
const invalidate = require('./invalidate');
const { OnceLogger, defaultLogger } = require('./logger');

/** Hooks that can rewrite a find or its result; a hit would skip them, so their presence bypasses. */
const FIND_HOOKS = ['beforeFind', 'beforeFindAfterExpandIncludeAll', 'beforeFindAfterOptions', 'afterFind', 'beforeCount'];

/** Read methods served from the cache. */
const READ_METHODS = ['findByPk', 'findOne', 'findAll', 'count', 'findAndCountAll'];

// Miss codes of the native lookup (src/lib.rs).
const MISS_CORRUPT = 2;
const UNKEYABLE = 16;
// Event codes of native.recordEvent (src/lib.rs); the in-process tier's hits, misses and fills
// are counted by the core itself.
const EVENT_FILL_REJECTED = 3;
const EVENT_CORRUPT = 4;
const EVENT_REMOTE_HIT = 5;
const EVENT_REMOTE_MISS = 6;
const EVENT_REMOTE_FILL = 7;
// Outcome of native.fill (src/engine.rs FillOutcome).
const FILL_REJECTED = 0;

/** Upper bound of the per-key build-options memo. */
const MAX_MEMOIZED_BUILDS = 1024;

/** True if a hooks table (Sequelize's `options.hooks`) holds any of FIND_HOOKS. */
function hasFindHooks(hooks) {
  if (hooks == null) return false;
  for (const h of FIND_HOOKS) {
    const list = hooks[h];
    if (list !== undefined && list.length > 0) return true;
  }
  return false;
}

/** Why a read must go straight to the database (and leave the cache alone), or null. */
function bypassReason(Model, options) {
  if (options != null) {
    if (options.transaction) return 'transaction';
    if (options.lock) return 'lock';
    if (options.skipLocked) return 'skipLocked';
    if (options.useMaster) return 'useMaster';
  }
  if ((options == null || options.transaction === undefined) && invalidate.clsTransaction(Model)) return 'transaction';
  // Model hooks and the Sequelize instance's hooks both run on a find (what hasHook reads).
  if ((options == null || options.hooks !== false) && (hasFindHooks(Model.options.hooks) || hasFindHooks(Model.sequelize && Model.sequelize.options.hooks))) {
    return 'hooks';
  }
  return null;
}

/**
 * The options a read method's key is built from, or null when the arguments are not a
 * cacheable call (Sequelize itself then answers, or throws its own error).
 */
function keyOptionsFor(Model, method, args) {
  if (method === 'findByPk') {
    const [param, options] = args;
    if (!isPkValue(param)) return null;
    if (options != null && typeof options !== 'object') return null;
    if (Model.primaryKeyAttribute === undefined) return null;
    return { ...options, where: { [Model.primaryKeyAttribute]: param } };
  }
  const [options] = args;
  if (options != null && (typeof options !== 'object' || Array.isArray(options))) return null;
  return options == null ? {} : options;
}

/** The options a read method hydrates with. */
function hydrateOptionsFor(method, args) {
  return method === 'findByPk' ? args[1] : args[0];
}

function isEmptyOptions(o) {
  if (o == null) return true;
  if (typeof o !== 'object') return false;
  for (const _ in o) return false;
  return Object.getOwnPropertySymbols(o).length === 0;
}

function isPkValue(v) {
  const t = typeof v;
  return t === 'number' || t === 'string' || t === 'bigint' || Buffer.isBuffer(v);
}

function rejectsOnEmpty(Model, options) {
  if (options != null && Object.prototype.hasOwnProperty.call(options, 'rejectOnEmpty')) return !!options.rejectOnEmpty;
  return !!(Model.options && Model.options.rejectOnEmpty);
}

function isEmptyResult(r) {
  return r === null || (Array.isArray(r) && r.length === 0);
}

function escapeSegment(s) {
  return s.replace(/[%:$@]/g, (c) => '%' + c.charCodeAt(0).toString(16));
}

/**
 * The model part of a key: the table (schema-qualified), plus `@ModelName` unless the table
 * name is the model name's plural (Sequelize's default), so two models over one table differ.
 */
function segmentOf(Model) {
  const table = Model.tableName;
  const schema = Model._schema;
  const base = escapeSegment(schema ? `${schema}${Model._schemaDelimiter || '.'}${table}` : table);
  const plural = Model.options && Model.options.name && Model.options.name.plural;
  return plural === table && Model.name !== table ? base : `${base}@${escapeSegment(Model.name)}`;
}

function tableNameOf(Model) {
  return Model._schema ? `${Model._schema}.${Model.tableName}` : Model.tableName;
}

class Engine {
  /**
   * @param {object} o
   * @param {number} o.maxBytes       bound of the in-process tier
   * @param {number} o.defaultTtlMs   TTL of entries stored without one
   * @param {string} o.prefix         key prefix (modelCacheName)
   * @param {object} [o.remote]       a tier outside this process (adapters/tier.js)
   * @param {number} [o.l1TtlMs]      with `remote`: the in-process tier's TTL in front of it
   * @param {number} [o.maxValueBytes] larger results are not cached
   * @param {number} [o.maxRemoteTtlMs] the remote tier's longest TTL; longer ones are clamped (logged)
   */
  constructor({ maxBytes, defaultTtlMs, prefix, remote, l1TtlMs, maxValueBytes, maxRemoteTtlMs }) {
    this.native = native.createCache({ maxBytes, defaultTtlMs });
    /**
     * With a remote tier: the TTL of the in-process tier (L1) in front of it, or undefined for no
     * L1. An L1 must be kept coherent by whoever sets this (RedisCache: pub/sub in Rust;
     * MomentoCache: a short TTL, since Momento's HTTP API has no subscription).
     */
    this.l1TtlMs = remote !== undefined ? l1TtlMs : undefined;
    /** Results whose stored form is longer are not cached (counted as bypass 'value-too-large'). */
    this.maxValueBytes = maxValueBytes;
    this.maxRemoteTtlMs = maxRemoteTtlMs;
    /**
     * A tier outside this process (a JS adapter; see adapters/tier.js), or undefined. With one,
     * the in-process tier is not used for entries: another process's writes could not reach it.
     * The native engine still guards fills and counts.
     */
    this.remote = remote;
    this.tableIds = new Map();
    this.prefix = prefix;
    this.defaultTtlMs = defaultTtlMs;
    this.inflight = new Map();
    this.meta = new WeakMap();
    /** Validated build options per key (see hydrate.prepareBuild); bounded, cleared when full. */
    this.builds = new Map();
    /** Where problems outside a caller's read (invalidation) are reported; faces set it. */
    this.log = new OnceLogger(defaultLogger());
  }

  #metaOf(Model) {
    let m = this.meta.get(Model);
    if (m === undefined) {
      m = {
        segment: segmentOf(Model),
        heads: Object.create(null),
        slots: Object.create(null),
        tableId: undefined,
        entityId: undefined,
        entityHead: undefined,
        /** Native ids of registered (head, primary-key attribute) pairs, by head. */
        pkHeads: Object.create(null),
        scopeRef: undefined,
        scope: undefined,
      };
      this.meta.set(Model, m);
    }
    return m;
  }

  #slot(m, Model, method) {
    const s = m.slots[method];
    return s !== undefined ? s : (m.slots[method] = this.native.slot(Model.name, method));
  }

  /** The generation id of a table name (see depsOf and entityTable). */
  #idOf(table) {
    let id = this.tableIds.get(table);
    if (id === undefined) this.tableIds.set(table, (id = this.native.modelId(table)));
    return id;
  }

  /** The generation id of the table behind `Model`. */
  tableId(Model) {
    const m = this.#metaOf(Model);
    return m.tableId !== undefined ? m.tableId : (m.tableId = this.#idOf(tableNameOf(Model)));
  }

  /**
   * The generation name of the table's entity entries. Kept apart from the table's query
   * generation so a write whose rows are known drops just those entities, while every write
   * makes the table's queries stale.
   */
  entityTable(Model) {
    return `${tableNameOf(Model)}#entities`;
  }

  #entityGenId(Model) {
    const m = this.#metaOf(Model);
    return m.entityId !== undefined ? m.entityId : (m.entityId = this.#idOf(this.entityTable(Model)));
  }

  /**
   * How one row's entity entry is keyed: `<prefix>:#entity:<model>:{"where":{<pk>}}`. A single
   * key column takes the registered findByPk fast path (one native call to look up or drop);
   * a composite key is a fixed canonical key. Null when the key cannot be encoded.
   */
  entitySpec(Model, pkValues) {
    const m = this.#metaOf(Model);
    const head = m.entityHead || (m.entityHead = `${this.prefix}:#entity:${m.segment}`);
    const attrs = Object.keys(pkValues);
    if (attrs.length === 1) {
      const pk = attrs[0];
      return { head, pk, pkHead: this.#pkHead(m, head, pk), value: pkValues[pk] };
    }
    const k = native.canonicalKey(head, undefined, { where: pkValues });
    return typeof k === 'string' ? { fixed: k } : null;
  }

  /** The key text of one row's entity entry, or null. */
  entityKey(Model, pkValues) {
    const spec = this.entitySpec(Model, pkValues);
    const k = spec === null ? null : this.#keyText(spec);
    return typeof k === 'string' ? k : null;
  }

  /** Primary-key values of an instance as `{ attr: value }`, or null if any is missing. */
  static pkOf(Model, instance) {
    const attrs = Model.primaryKeyAttributes;
    if (!attrs || attrs.length === 0 || !instance || typeof instance.get !== 'function') return null;
    const out = {};
    for (const a of attrs) {
      const v = instance.get(a, { raw: true });
      if (v === undefined || v === null) return null;
      out[a] = v;
    }
    return out;
  }

  /**
   * Makes what a committed write to `Model` affects stale: all of the table's queries, and the
   * written entity (by primary key, when `instance` says which and its key did not change) or
   * else all of the table's entities.
   */
  invalidateWrite(Model, instance, fields) {
    this.native.bumpModel(this.tableId(Model));
    const pkAttrs = Model.primaryKeyAttributes || [];
    const pkRewritten = Array.isArray(fields) && pkAttrs.some((a) => fields.includes(a));
    const pk = instance && !pkRewritten ? Engine.pkOf(Model, instance) : null;
    const spec = pk && this.entitySpec(Model, pk);
    if (spec && spec.pkHead !== undefined) this.native.invalidatePk(spec.pkHead, spec.value);
    else if (spec) this.native.invalidateKey(spec.fixed);
    else this.native.bumpModel(this.#entityGenId(Model));
    // An adapter is shared with other processes whose late fills no lease here can stop: every
    // write moves both of the table's tokens.
    if (this.remote !== undefined) return this.remote.bump([tableNameOf(Model), this.entityTable(Model)]);
    return undefined;
  }

  /** Invalidates this engine's entries on every write made through `sequelize`. Idempotent. */
  watch(sequelize) {
    if (sequelize && typeof sequelize.addHook === 'function') invalidate.watch(sequelize, this);
  }

  /** Reports a problem outside a caller's read, once per burst. */
  warnOnce(code, obj, msg) {
    this.log.warn(code, obj, msg);
  }

  /** The model's active scope, or undefined when it is empty. */
  scopeOf(Model) {
    return this.#scopeOf(this.#metaOf(Model), Model);
  }

  /** The key of a query cached under a caller-chosen name: `<prefix>:#query:<model>:<method>:<name>`. */
  namedKey(Model, method, name) {
    return `${this.prefix}:#query:${this.#metaOf(Model).segment}:${method}:${escapeSegment(name)}`;
  }

  /** Removes one entry (at `path` in an adapter) and voids any fill of it in flight. */
  invalidateKey(key, path) {
    this.native.invalidateKey(key);
    if (this.remote !== undefined && path !== undefined) return this.remote.del(path);
    return undefined;
  }

  /** Where a query's entry lives in an adapter: the seed's `Model:query:<key>`. */
  #pathOf(call, key) {
    return call.target !== undefined && call.target.path !== undefined ? call.target.path : [call.Model.name, 'query', key];
  }

  /** Generation ids and adapter token names of the tables a read depends on. */
  #tablesOf(call, options) {
    return call.target !== undefined && call.target.tables !== undefined ? call.target.tables : this.depsOf(call.Model, options);
  }

  /**
   * Reads from the database (never the cache) and stores what `stored(result)` returns (nothing
   * when it returns null) under `target`, with the same version check as a miss. Returns the
   * database result. A cache problem is logged and the result still returned.
   */
  async refresh({ Model, target, ttlMs, log, run, stored }) {
    const slot = this.#slot(this.#metaOf(Model), Model, 'findByPk');
    const key = target.key !== undefined ? target.key : this.#keyText(target.spec);
    if (typeof key !== 'string') return run();
    const fill = await this.#beginFill({ Model, target, log }, key, undefined);
    let ticket = fill.ticket;
    try {
      const result = await run();
      if (ticket !== undefined) {
        try {
          const row = stored(result);
          if (row !== null) {
            await this.#completeFill({ Model, target, log }, fill, key, codec.encode('row', row), ttlMs, slot);
            ticket = undefined;
          }
        } catch (err) {
          log.warn('cache-fill', { key, error: err && err.message }, 'refreshed row not cached');
        }
      }
      return result;
    } finally {
      if (ticket !== undefined) this.native.abandon(ticket);
    }
  }

  /**
   * Takes what a fill needs before its database read: the local ticket and, with an adapter, the
   * tables' current tokens (read first, so a write during the read makes the entry stale).
   * `knownTokens`, when given, were read earlier in this call and serve as those tokens.
   */
  async #beginFill(call, key, options, knownTokens) {
    const out = { ticket: undefined, tokens: undefined };
    try {
      const tables = this.#tablesOf(call, options);
      out.ticket = this.native.beginFill(key, tables.map((t) => this.#idOf(t)));
      if (this.remote !== undefined) out.tokens = knownTokens !== undefined ? knownTokens : await this.remote.tokensForFill(tables);
    } catch (err) {
      if (out.ticket !== undefined) this.native.abandon(out.ticket);
      out.ticket = undefined;
      if (this.remote !== undefined) call.log.tierFailed(err, { key }, 'cache fill could not start; the result will not be stored');
      else call.log.warn('cache-fill', { key, error: err && err.message }, 'cache fill could not start; the result will not be stored');
    }
    return out;
  }

  /** Stores a payload for a fill begun by #beginFill, unless an invalidation overtook it. */
  async #completeFill(call, fill, key, payload, ttlMs, slot) {
    // String length is a lower bound of the UTF-8 size; measure only when it could matter.
    if (this.maxValueBytes !== undefined && payload.length * 3 > this.maxValueBytes && Buffer.byteLength(payload) > this.maxValueBytes) {
      this.native.abandon(fill.ticket);
      this.native.recordBypass(slot, 'value-too-large');
      call.log.warn('cache-too-large', { key, bytes: Buffer.byteLength(payload), maxValueBytes: this.maxValueBytes }, 'result larger than maxValueBytes; not cached');
      return;
    }
    if (this.remote === undefined) {
      this.native.fill(fill.ticket, payload, ttlMs, slot);
      return;
    }
    if (this.l1TtlMs !== undefined) {
      // One ticket decides both tiers: overtaken means stored nowhere.
      const l1Ttl = Math.min(this.l1TtlMs, ttlMs !== undefined ? ttlMs : this.defaultTtlMs);
      if (this.native.fill(fill.ticket, payload, l1Ttl, slot) === FILL_REJECTED) return;
    } else if (!this.native.settle(fill.ticket)) {
      this.native.recordEvent(slot, EVENT_FILL_REJECTED);
      return;
    }
    try {
      let remoteTtlMs = ttlMs !== undefined ? ttlMs : this.defaultTtlMs;
      if (this.maxRemoteTtlMs !== undefined && remoteTtlMs > this.maxRemoteTtlMs) {
        call.log.warn('cache-ttl-clamped', { key, ttlMs: remoteTtlMs, maxTtlMs: this.maxRemoteTtlMs }, "TTL above the tier's maximum; clamped to it");
        remoteTtlMs = this.maxRemoteTtlMs;
      }
      await this.remote.set(this.#pathOf(call, key), payload, remoteTtlMs, fill.tokens);
      this.native.recordEvent(slot, EVENT_REMOTE_FILL);
    } catch (err) {
      call.log.tierFailed(err, { key }, 'adapter set failed; the result is not cached');
    }
  }

  /** The model's active scope, or undefined when it is empty (then the key does not walk it). */
  #scopeOf(m, Model) {
    const s = Model._scope;
    if (s !== m.scopeRef) {
      m.scopeRef = s;
      m.scope = isEmptyOptions(s) ? undefined : s;
    }
    return m.scope;
  }

  /**
   * How to key a read: `{ head, pk }` for a bare findByPk(id), `{ head, scope, keyOptions }`
   * otherwise, or null when the arguments are not cacheable.
   */
  #keySpec(m, Model, method, args) {
    const head = m.heads[method] || (m.heads[method] = `${this.prefix}:${method}:${m.segment}`);
    const scope = this.#scopeOf(m, Model);
    if (method === 'findByPk' && scope === undefined && isEmptyOptions(args[1]) && isPkValue(args[0]) && Model.primaryKeyAttribute !== undefined) {
      const pk = Model.primaryKeyAttribute;
      return { head, pk, pkHead: this.#pkHead(m, head, pk), value: args[0] };
    }
    const keyOptions = keyOptionsFor(Model, method, args);
    return keyOptions === null ? null : { head, scope, keyOptions };
  }

  /** The native id of (head, pk attribute), registered once per model and head. */
  #pkHead(m, head, pk) {
    const r = m.pkHeads[head];
    if (r !== undefined && r.pk === pk) return r.id;
    const id = this.native.pkHead(head, pk);
    m.pkHeads[head] = { pk, id };
    return id;
  }

  /** The key text of a spec, or `{ bypass: reason }`. */
  #keyText(spec) {
    if (spec.fixed !== undefined) return spec.fixed;
    const k = spec.pk !== undefined ? native.pkKey(spec.head, spec.pk, spec.value) : native.canonicalKey(spec.head, spec.scope, spec.keyOptions);
    return typeof k === 'string' ? k : { bypass: native.unkeyableReason(k) };
  }

  /**
   * Looks a spec up: `{ got, key }` where got is the payload string or a miss / unkeyable code.
   * A bare findByPk is keyed and looked up in one native call (its key text is only made on a
   * miss); other reads need their key for the build-options memo anyway.
   */
  #lookupSpec(spec, slot) {
    if (spec.fixed !== undefined) return { got: this.native.get(spec.fixed, slot), key: spec.fixed };
    if (spec.pk !== undefined) return { got: this.native.lookupPk(spec.pkHead, spec.value, slot), key: undefined };
    const k = native.canonicalKey(spec.head, spec.scope, spec.keyOptions);
    if (typeof k !== 'string') return { got: UNKEYABLE + k, key: undefined };
    return { got: this.native.get(k, slot), key: k };
  }

  /**
   * The result a stored payload stands for, or undefined when the caller must not be answered with
   * it (an empty result where the read rejects on empty). Throws when the payload cannot be rebuilt.
   */
  #fromPayload(payload, key, Model, options) {
    const value = fromStored(Model, this.#buildFor(key, Model, options), codec.decode(payload));
    return isEmptyResult(value) && rejectsOnEmpty(Model, options) ? undefined : value;
  }

  /** Build options for a hit of `key`, memoized when they are not the trivial ones. */
  #buildFor(key, Model, options) {
    let b = key === undefined ? undefined : this.builds.get(key);
    if (b === undefined) {
      b = prepareBuild(Model, options);
      if (key !== undefined && b.include !== undefined) {
        if (this.builds.size >= MAX_MEMOIZED_BUILDS) this.builds.clear();
        this.builds.set(key, b);
      }
    }
    return b;
  }

  /** The key `Model[method](...args)` would use, or null if that call bypasses the cache. */
  keyFor(Model, method, args) {
    if (!READ_METHODS.includes(method)) return null;
    if (bypassReason(Model, hydrateOptionsFor(method, args)) !== null) return null;
    const spec = this.#keySpec(this.#metaOf(Model), Model, method, args);
    const k = spec === null ? null : this.#keyText(spec);
    return typeof k === 'string' ? k : null;
  }

  /** Tables a query reads: the model, every model in its include tree and scopes, through tables. */
  depsOf(Model, options) {
    const tables = new Set();
    const seen = new Set();
    const visitModel = (M, includes, depth) => {
      if (typeof M !== 'function' || depth > 12) return;
      tables.add(tableNameOf(M));
      if (!seen.has(M)) {
        seen.add(M);
        if (M._scope && M._scope.include) visitIncludes(M, M._scope.include, depth + 1);
      }
      visitIncludes(M, includes, depth + 1);
    };
    const visitAssociation = (a, includes, depth) => {
      if (!a || typeof a !== 'object') return;
      if (a.throughModel) visitModel(a.throughModel, undefined, depth);
      visitModel(a.target, includes, depth);
    };
    const visitIncludes = (M, includes, depth) => {
      if (includes == null) return;
      const assocs = (M && M.associations) || {};
      for (const inc of Array.isArray(includes) ? includes : [includes]) {
        if (typeof inc === 'function') {
          visitModel(inc, undefined, depth);
          for (const a of Object.values(assocs)) if (a.target === inc) visitAssociation(a, undefined, depth);
        } else if (typeof inc === 'string') {
          visitAssociation(assocs[inc], undefined, depth);
        } else if (inc && typeof inc === 'object') {
          if (inc.associationType) {
            visitAssociation(inc, undefined, depth);
          } else if (inc.all) {
            for (const a of Object.values(assocs)) visitAssociation(a, inc.nested ? [inc] : undefined, depth);
          } else {
            const a = typeof inc.association === 'string' ? assocs[inc.association] : inc.association;
            if (a) visitAssociation(a, inc.include, depth);
            if (inc.model) {
              visitModel(inc.model, inc.include, depth);
              for (const x of Object.values(assocs)) if (x.target === inc.model) visitAssociation(x, undefined, depth);
            }
            if (inc.as && assocs[inc.as]) visitAssociation(assocs[inc.as], inc.include, depth);
            if (inc.through && inc.through.model) visitModel(inc.through.model, undefined, depth);
          }
        }
      }
    };
    visitModel(Model, options && options.include, 0);
    return [...tables];
  }

  /**
   * Runs one read method through the cache (see plan / fetch).
   * @param {object} call
   * @param {Function} call.Model
   * @param {string} call.method   one of READ_METHODS
   * @param {Array} call.args      the caller's arguments
   * @param {Function} call.run    performs the database read
   * @param {number} [call.ttlMs]
   * @param {number} [call.negativeTtlMs]  TTL of a null result (0: not stored)
   * @param {{ key?: string, spec?: object, tables?: string[], path?: string[] }} [call.target]  a fixed entry instead
   *   of the canonical key: its generation tables (default: the tables the query reads) and its
   *   key in an adapter (default: the seed's [Model, 'query', key])
   * @param {import('./logger').OnceLogger} call.log
   */
  async read(call) {
    const plan = this.plan(call);
    return 'hit' in plan ? plan.hit : this.fetch(call, plan);
  }

  /**
   * The synchronous half of a read: `{ hit }` when the in-process tier answers, otherwise a plan
   * for fetch(). Never throws.
   */
  plan(call) {
    const { Model, method, args, log } = call;
    const options = hydrateOptionsFor(method, args);
    try {
      const m = this.#metaOf(Model);
      const slot = this.#slot(m, Model, method);
      const reason = bypassReason(Model, options);
      // A face may name the entry itself (entity entries, custom query keys).
      const spec = reason !== null ? null : call.target !== undefined ? call.target.spec || { fixed: call.target.key } : this.#keySpec(m, Model, method, args);
      if (spec === null) {
        this.native.recordBypass(slot, reason || 'unkeyable:arguments');
        return { options };
      }
      if (this.remote !== undefined && this.l1TtlMs === undefined) {
        // Adapter lookups are asynchronous: fetch() does them.
        const key = this.#keyText(spec);
        if (typeof key !== 'string') {
          this.native.recordBypass(slot, key.bypass);
          return { options };
        }
        return { key, slot, options, remote: true };
      }
      const { got, key: known } = this.#lookupSpec(spec, slot);
      if (typeof got === 'string') {
        const value = this.#rebuild(got, known, spec, Model, options, log);
        if (value !== undefined) return { hit: value };
      } else if (got >= UNKEYABLE) {
        this.native.recordBypass(slot, native.unkeyableReason(got - UNKEYABLE));
        return { options };
      }
      // A miss: a bare findByPk's key becomes a string only now, for the fill.
      const key = known !== undefined ? known : this.#keyText(spec);
      if (got === MISS_CORRUPT) {
        log.warn('cache-corrupt', { key, reason: this.native.takeDecodeError() }, 'unreadable cache entry dropped; treated as a miss');
      }
      // With a remote tier behind the L1, fetch() asks it next.
      return { key, slot, options, remote: this.remote !== undefined };
    } catch (err) {
      log.warn('cache-read', { error: err && err.message, model: Model.name, method }, 'cache lookup failed; the database answers');
      return { options };
    }
  }

  /**
   * The result of an in-process hit, or undefined: when it must not answer (#fromPayload), or when
   * it cannot be rebuilt (the entry is dropped, logged).
   */
  #rebuild(payload, known, spec, Model, options, log) {
    try {
      return this.#fromPayload(payload, known, Model, options);
    } catch (err) {
      const key = known !== undefined ? known : this.#keyText(spec);
      if (typeof key === 'string') this.native.invalidateKey(key);
      log.warn('cache-decode', { key, error: err && err.message }, 'cache entry could not be rebuilt; dropped and treated as a miss');
      return undefined;
    }
  }

  /** The asynchronous half: the database read (single-flight, version-checked fill) or a bypass. */
  fetch(call, plan) {
    if (plan.key === undefined) return call.run();
    if (plan.remote) return this.#remoteRead(call, plan);
    return this.#missed(call, plan.key, plan.slot, plan.options);
  }

  /** An adapter lookup, then the database on a miss. An adapter failure is a miss, logged once. */
  async #remoteRead(call, { key, slot, options }) {
    const { Model, log } = call;
    let l1Ticket;
    let got;
    try {
      const tables = this.#tablesOf(call, options);
      // An L1 fill from a remote hit is guarded like any fill: the ticket predates the remote read.
      if (this.l1TtlMs !== undefined) {
        try {
          l1Ticket = this.native.beginFill(key, tables.map((t) => this.#idOf(t)));
        } catch {
          l1Ticket = undefined;
        }
      }
      got = await this.remote.get(this.#pathOf(call, key), tables);
    } catch (err) {
      log.tierFailed(err, { key }, 'adapter get failed; the database answers');
      got = { miss: 'error' };
    }
    if (got.payload !== undefined) {
      try {
        const value = this.#fromPayload(got.payload, key, Model, options);
        if (value !== undefined) {
          this.native.recordEvent(slot, EVENT_REMOTE_HIT);
          if (l1Ticket !== undefined) {
            this.native.fill(l1Ticket, got.payload, this.l1TtlMs, slot);
            l1Ticket = undefined;
          }
          return value;
        }
      } catch (err) {
        log.warn('cache-decode', { key, error: err && err.message }, 'adapter entry could not be rebuilt; treated as a miss');
        got = { miss: 'foreign' };
      }
    }
    if (l1Ticket !== undefined) this.native.abandon(l1Ticket);
    if (got.miss === 'foreign') this.native.recordEvent(slot, EVENT_CORRUPT);
    this.native.recordEvent(slot, EVENT_REMOTE_MISS);
    // Tokens read with the entry predate the database read, so the fill may use them.
    return this.#missed(call, key, slot, options, got.tokens);
  }

  async #missed(call, key, slot, options, knownTokens) {
    const { Model, run, log } = call;
    const pending = this.inflight.get(key);
    if (pending !== undefined) {
      // Single-flight: wait for the read already in progress and rebuild its stored rows.
      const payload = await pending;
      if (payload !== null) {
        try {
          const value = this.#fromPayload(payload, key, Model, options);
          if (value !== undefined) return value;
        } catch (err) {
          log.warn('cache-decode', { key, error: err && err.message }, 'shared result could not be rebuilt; the database answers');
        }
      }
      return run();
    }

    let settle;
    this.inflight.set(key, new Promise((resolve) => (settle = resolve)));
    let payload = null;
    let ticket;
    try {
      const fill = await this.#beginFill(call, key, options, knownTokens);
      ticket = fill.ticket;
      const result = await run();
      try {
        const stored = toStored(result);
        payload = codec.encode(stored.shape, stored.data);
        // "Absent" is remembered only for negativeTtlMs (0: not at all).
        const ttlMs = result === null && call.negativeTtlMs !== undefined ? call.negativeTtlMs : call.ttlMs;
        if (ticket !== undefined && ttlMs !== 0) await this.#completeFill(call, fill, key, payload, ttlMs, slot);
        else if (ticket !== undefined) this.native.abandon(ticket);
        ticket = undefined;
      } catch (err) {
        const unstorable = err instanceof codec.UnstorableError;
        if (unstorable) this.native.recordBypass(slot, 'unstorable');
        log.warn(unstorable ? 'cache-unstorable' : 'cache-fill', { key, error: err && err.message }, 'query result not cached');
        payload = null;
      }
      return result;
    } finally {
      if (ticket !== undefined) this.native.abandon(ticket);
      this.inflight.delete(key);
      settle(payload);
    }
  }

  /** Removes every entry and voids every fill in flight. */
  clear() {
    this.native.clear();
    this.builds.clear();
  }

  /** Makes every cached read of `Model`'s table stale (O(1)). */
  invalidateModel(Model) {
    this.native.bumpModel(this.tableId(Model));
    if (this.remote !== undefined) return this.remote.bump([tableNameOf(Model)]);
    return undefined;
  }

  /** Counters, totals and per model / method. */
  stats() {
    const s = this.native.stats();
    const remote = this.remote !== undefined;
    const counters = ['hits', 'misses', 'bypasses', 'fills', 'fillsRejected', 'corrupt'];
    const zeroTiers = () => ({ memory: { hits: 0, misses: 0, fills: 0 }, ...(remote ? { remote: { hits: 0, misses: 0, fills: 0 } } : {}) });
    const out = {
      hits: 0,
      misses: 0,
      bypasses: 0,
      fills: 0,
      fillsRejected: 0,
      corrupt: 0,
      evictions: s.evictions,
      expirations: s.expirations,
      entries: s.entries,
      bytes: s.bytes,
      bypassReasons: {},
      tiers: zeroTiers(),
      models: {},
    };
    for (const x of s.slots) {
      // Per call: with a network tier every in-process miss goes on to it, so a call missed when
      // the network tier missed, and hit when either tier hit. Per tier: each lookup.
      const tiers = zeroTiers();
      tiers.memory = { hits: x.hits, misses: x.misses, fills: x.fills };
      if (remote) tiers.remote = { hits: x.remoteHits, misses: x.remoteMisses, fills: x.remoteFills };
      const row = {
        hits: x.hits + (remote ? x.remoteHits : 0),
        misses: remote ? x.remoteMisses : x.misses,
        bypasses: x.bypasses,
        fills: remote ? x.remoteFills : x.fills,
        fillsRejected: x.fillsRejected,
        corrupt: x.corrupt,
        bypassReasons: { ...x.bypassReasons },
        tiers,
      };
      (out.models[x.model] ||= {})[x.method] = row;
      for (const f of counters) out[f] += row[f];
      for (const [t, c] of Object.entries(tiers)) for (const f of Object.keys(c)) out.tiers[t][f] += c[f];
      for (const [r, n] of Object.entries(row.bypassReasons)) out.bypassReasons[r] = (out.bypassReasons[r] || 0) + n;
    }
    return out;
  }
}

module.exports = { Engine, READ_METHODS, bypassReason, keyOptionsFor };
