'use strict';
// Where every entry lives: its key text in the engine, and its path in a JS adapter's own layout.
// All key and path building for every tier and adapter is here; the canonical text of query
// options (format, escaping, sorting, hashing) is made by the Rust core (src/key).
//
// Key spaces, kept apart by the second segment whatever a caller passes:
//   <prefix>:<method>:<model>:<options>          a canonical query (method: a read method name)
//   <prefix>:#entity:<model>:{"where":{<pk>}}    one row: withCache's entity entry
//   <prefix>:#query:<model>:<method>:<name>      a query cached under a caller-chosen name
// <model> is the escaped, schema-qualified table name (see segmentOf) and never holds a `:`.
//
// Paths in a JS adapter (IORedisAdapter joins them with `:` under its namespace), in the layout
// sequelize-memory-clone users know, every part escaped so that no value can pass for another:
//   [model, pk]                          entity            app:User:1 (composite: app:User:#{"a":1,"b":2})
//   [model, 'query', name]               named findAll     app:User:query:active
//   [model, 'query', name + ':' + method] named, other methods
//   [model, '#q', key]                   canonical query (keys no user value can produce)
//   ['#generation', table]               generation token
// A network client of this package (RedisCache, MomentoCache) stores an entry at its key text
// itself (`storeAtKey`): the Momento wrapper's documented keys, e.g. `model-cache:findAll:Users:{}`.

const native = require('../native');
const { tableNameOf, entityTableOf } = require('./dependencies');
const { withTape } = require('./gather');
const { TapeMemo } = require('./tape-memo');

/** What a new head's last attribute is before it has one: equal to no attribute name. */
const NO_ATTRIBUTE = Symbol('no attribute yet');

/** Bounds of the key memo of registered heads (Keys#pkKey): texts in all, and the longest string value. */
const MAX_MEMO_PK_KEYS = 4096;
const MAX_MEMO_PK_CHARS = 64;

const { Lookup } = native;

/**
 * `%` and its hex code, for a character an escape takes the place of. The codes are 2 digits
 * (starting 2, 3 or 4) or, for a lone surrogate, 4 (starting d): no escape is the start of another.
 */
const escaped = (c) => '%' + c.charCodeAt(0).toString(16);

/**
 * A lone surrogate, which UTF-8 cannot hold: the core (and Redis, through a client) would read
 * `a\uD800` and `a\uDC00` alike, as `a\uFFFD`, and two names would share one key. So it is escaped.
 */
const LONE_SURROGATE_SOURCE = '[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]';
const SEGMENT_ESCAPES = new RegExp(`[%:$@]|${LONE_SURROGATE_SOURCE}`, 'g');
const PATH_ESCAPES = new RegExp(`[%:]|^#|${LONE_SURROGATE_SOURCE}`, 'g');

/** Escapes the characters that structure keys and paths, and lone surrogates, in one pass. */
function escapeSegment(s) {
  return s.replace(SEGMENT_ESCAPES, escaped);
}

/** A path part made of a caller's value: `:`, `%` and lone surrogates escaped, and a leading `#` (ours) too. */
function pathPart(s) {
  return String(s).replace(PATH_ESCAPES, escaped);
}

/**
 * The model part of a key: the table (schema-qualified), plus `@ModelName` unless the table name
 * is the model name's plural (Sequelize's default), so two models over one table never share keys.
 */
function segmentOf(Model) {
  const table = Model.tableName;
  const schema = Model._schema;
  const base = escapeSegment(schema ? `${schema}${Model._schemaDelimiter || '.'}${table}` : table);
  const plural = Model.options && Model.options.name && Model.options.name.plural;
  return plural === table && Model.name !== table ? base : `${base}@${escapeSegment(Model.name)}`;
}

function isEmptyOptions(o) {
  if (o == null) return true;
  if (typeof o !== 'object') return false;
  for (const _ in o) return false;
  return Object.getOwnPropertySymbols(o).length === 0;
}

/**
 * How `findOne` / `findAll` / `count` / `findAndCountAll` options of exactly the form
 * `{ where: { [attr]: value } }` are keyed: `{ attr, value }` when `attr` is an attribute of the
 * model with a well-formed name and `value` a string or a number, and no object on the way has a
 * symbol key or another prototype. Such a read is keyed as a bare findByPk is, from a registered
 * (head, attribute) pair: the same text the tape gives (a property in key-properties). Otherwise
 * `{ keyOptions }`: what the general path gathers, a copy holding the values already read when
 * some were (so a getter in the options still runs once), or the options themselves.
 */
function singleWhere(Model, options) {
  try {
    return singleWhereOf(Model, options);
  } catch {
    // A getter that throws: the general path reads the options again and refuses them as the
    // walker does (unkeyable:unreadable).
    return { keyOptions: options };
  }
}

function singleWhereOf(Model, options) {
  const none = { keyOptions: options };
  // Array.isArray sees through a Proxy, as Sequelize does, where the prototype may lie.
  if (options === null || typeof options !== 'object' || Array.isArray(options) || Object.getPrototypeOf(options) !== Object.prototype) return none;
  const top = Object.keys(options);
  if (top.length !== 1 || top[0] !== 'where' || Object.getOwnPropertySymbols(options).length !== 0) return none;
  const where = options.where;
  if (where === null || typeof where !== 'object' || Array.isArray(where) || Object.getPrototypeOf(where) !== Object.prototype) return { keyOptions: { where } };
  const inner = Object.keys(where);
  if (inner.length !== 1 || Object.getOwnPropertySymbols(where).length !== 0) return { keyOptions: { where } };
  const attr = inner[0];
  const value = where[attr];
  const t = typeof value;
  if ((t !== 'string' && t !== 'number') || !Object.prototype.hasOwnProperty.call(Model.rawAttributes, attr) || LONE_SURROGATE.test(attr)) {
    return { keyOptions: { where: { [attr]: value } } };
  }
  return { attr, value };
}

/** A name the core would not read back as written: one holding a lone surrogate. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Sequelize's integer types: a key column of one has one spelling per row (canonicalPk). */
const INTEGER_TYPES = new Set(['INTEGER', 'BIGINT', 'SMALLINT', 'MEDIUMINT', 'TINYINT']);
/** An integer as the database writes it back: no sign on zero, no leading zero, no spaces. */
const PLAIN_INTEGER = /^-?(?:0|[1-9][0-9]{0,39})$/;

function isIntegerColumn(Model, attr) {
  const a = Model.rawAttributes && Object.prototype.hasOwnProperty.call(Model.rawAttributes, attr) ? Model.rawAttributes[attr] : undefined;
  const t = a && a.type;
  const key = t && (typeof t === 'function' ? t.key : t.key || (t.constructor && t.constructor.key));
  return INTEGER_TYPES.has(key);
}

/** True when every primary-key column of `Model` is an integer column. */
function hasIntegerKey(Model) {
  const attrs = Model.primaryKeyAttributes || [];
  return attrs.length > 0 && attrs.every((a) => isIntegerColumn(Model, a));
}

/**
 * One integer key value in the spelling every read and write of its row is keyed by, or undefined.
 * The database matches `findByPk('1')`, `findByPk(1)`, `1n` and PostgreSQL's BIGINT `'1'` to one
 * row, so all are keyed as the number 1 (a decimal string past 2^53). A spelling it may read
 * otherwise or that names no integer (`'01'`, `' 1'`, `1.5`, a number past 2^53) is not.
 */
function canonicalInteger(v) {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v + 0 : undefined;
  if (typeof v === 'bigint') {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : String(v);
  }
  if (typeof v === 'string' && PLAIN_INTEGER.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n + 0 : v;
  }
  return undefined;
}

/**
 * Primary-key values (`{ attr: value }`) in the spelling an entity entry is keyed by, or null when
 * one has no such spelling. Integer columns are made canonical (canonicalInteger); other columns
 * keep the value given, and a read whose row spells its key otherwise is not stored (with-cache.js),
 * since a write to that row names it by the row's own spelling.
 */
function canonicalPk(Model, pkValues) {
  const out = {};
  for (const attr of Object.keys(pkValues)) {
    let v = pkValues[attr];
    if (isIntegerColumn(Model, attr)) {
      v = canonicalInteger(v);
      if (v === undefined) return null;
    }
    out[attr] = v;
  }
  return out;
}

function isPkValue(v) {
  const t = typeof v;
  return t === 'number' || t === 'string' || t === 'bigint' || Buffer.isBuffer(v);
}

/**
 * The options a read method's key is built from, or null when the arguments are not a cacheable
 * call (Sequelize itself then answers, or throws its own error).
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

/**
 * The Momento wrapper's text for a value, as its documentation and tests show its keys: JSON-like,
 * object keys in enumeration order then symbol keys by description, strings quoted as they are,
 * symbols by description, Dates in ISO form, a model as its table name. Throws where the wrapper
 * would not make a key (undefined, NaN, functions that are not models, cycles).
 */
function wrapperText(v, depth = 0) {
  if (depth > 64) throw new RangeError('too deep');
  switch (typeof v) {
    case 'string':
      return `"${v}"`;
    case 'boolean':
    case 'bigint':
      return String(v);
    case 'number':
      if (Number.isNaN(v)) throw new TypeError('NaN');
      return String(v);
    case 'symbol':
      return v.description || v.toString();
    case 'function':
      if (typeof v.getTableName === 'function') return wrapperText(v.getTableName(), depth + 1);
      throw new TypeError('function');
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) return `[${v.map((x) => wrapperText(x, depth + 1)).join(',')}]`;
      if (v instanceof Date || Object.prototype.toString.call(v) === '[object Date]') return wrapperText(v.toISOString(), depth + 1);
      const parts = [];
      for (const k in v) parts.push(`"${k}":${wrapperText(v[k], depth + 1)}`);
      for (const sym of Object.getOwnPropertySymbols(v)) parts.push(`"${sym.description || sym.toString()}":${wrapperText(v[sym], depth + 1)}`);
      return `{${parts.join(',')}}`;
    }
    default:
      throw new TypeError(typeof v);
  }
}

/**
 * Where the Momento wrapper (@gomomento-poc/momento-sequelize-cache) stores `Model[method](...args)`:
 * `model-cache:<method>:<table>:<options>` (findByPk as `{ ...options, where: { id } }`), so its
 * users' tools and tests find entries where they always did. Undefined when the wrapper would not
 * cache the call. Such texts can collide (a string holding `"`, `{gt:1}` and `{[Op.gt]:1}`), so a
 * location is never trusted alone: the stored frame binds the canonical key, and a frame stored
 * for another query there reads as a miss.
 */
function momentoWrapperKey(Model, method, args) {
  let options;
  if (method === 'findByPk') options = { ...args[1], where: { id: args[0] } };
  else options = { ...args[0] };
  if (options.transaction) return undefined;
  delete options.transaction;
  try {
    return ['model-cache', method, String(Model.getTableName()), wrapperText(options)].join(':');
  } catch {
    return undefined;
  }
}

/**
 * An entity target whose adapter path is made only when a tier asks for it (an in-process hit
 * never does): a scalar key as is (app:User:1); a composite or binary key as `#` + JSON of its
 * columns, a space no scalar can reach (a leading `#` of a value is escaped).
 */
class AdapterEntityTarget {
  constructor(spec, tables, modelPart, pkValues) {
    this.spec = spec;
    this.tables = tables;
    this.modelPart = modelPart;
    this.pkValues = pkValues;
    this.madePath = undefined;
  }

  get path() {
    if (this.madePath === undefined) {
      const values = Object.values(this.pkValues);
      const part = values.length === 1 && typeof values[0] !== 'object' ? pathPart(values[0]) : `#${pathPart(JSON.stringify(this.pkValues))}`;
      this.madePath = [this.modelPart, part];
    }
    return this.madePath;
  }
}

/**
 * Key and path building for one engine (one prefix). A *spec* says how to key one read:
 *   { fixed }                      a key known in advance (entity with a composite key, named query)
 *   { head, pk, pkHead, value }    findByPk(value) with no options, or another read of exactly
 *                                  `{ where: { [pk]: value } }` (singleWhere): keyed and looked up
 *                                  in Rust in one call, from a (head, attribute) pair registered once
 *   { head, headId, scope, keyOptions }  the canonical key of a query: gathered on a tape
 *                                  (gather.js) and keyed, or keyed and looked up, in one call
 */
class Keys {
  /**
   * @param {string} prefix   the first key segment (modelCacheName / namespace)
   * @param {object} cache    the engine's native cache (registers key heads)
   * @param {import('./hit-memo').HitMemo} hits  lookups by key text, through the memo of recent hits
   * @param {boolean} storeAtKey  entries of a network tier live at their key text (see above)
   * @param {boolean} wrapperKeys  canonical queries live at the Momento wrapper's keys
   */
  constructor(prefix, cache, hits, storeAtKey, wrapperKeys) {
    this.prefix = prefix;
    this.cache = cache;
    this.hits = hits;
    this.storeAtKey = storeAtKey;
    this.wrapperKeys = wrapperKeys;
    this.meta = new WeakMap();
    /**
     * Key texts the core made from a registered (head, attribute) pair (cache.pkKey: findByPk,
     * single-attribute reads, entities), by head id, then by value: a network-tier hit needs the
     * text, and a hot row asks for the same one each time. At most MAX_MEMO_PK_KEYS in all.
     */
    this.pkKeys = new Map();
    this.pkKeyCount = 0;
    /** Key texts the core made from tapes, by the exact tape (tape-memo.js). */
    this.tapeKeys = new TapeMemo();
    /** Entity generation → the entity heads its entries were read under (entitiesSharedBeyond). */
    this.entityHeads = new Map();
  }

  #metaOf(Model) {
    let m = this.meta.get(Model);
    if (m === undefined) {
      m = {
        segment: segmentOf(Model),
        part: pathPart(Model.name),
        /** Per method: `{ text, id }`, the head and its native id. */
        heads: Object.create(null),
        entityHead: undefined,
        /**
         * Native ids of registered (head, attribute) pairs, by head then attribute: findByPk's
         * primary key, an entity's, and the one attribute of a single-attribute where.
         */
        pkHeads: Object.create(null),
        scopeRef: undefined,
        scope: undefined,
        /** The generations an entity entry depends on (entityTarget). */
        entityTables: undefined,
      };
      this.meta.set(Model, m);
    }
    return m;
  }

  #entityHeadOf(m) {
    return m.entityHead || (m.entityHead = `${this.prefix}:#entity:${m.segment}`);
  }

  /** Records that entity entries of `table` are keyed under `head`. */
  #noteEntityHead(table, head) {
    let heads = this.entityHeads.get(table);
    if (heads === undefined) this.entityHeads.set(table, (heads = new Set()));
    heads.add(head);
  }

  /**
   * True when entity entries of `Model`'s table may live under another model's head (two models
   * over one table): a write naming its row through `Model` cannot find those, so it must drop
   * every entity of the table.
   */
  entitiesSharedBeyond(Model) {
    const heads = this.entityHeads.get(entityTableOf(Model));
    if (heads === undefined) return false;
    const own = this.#entityHeadOf(this.#metaOf(Model));
    return heads.size > (heads.has(own) ? 1 : 0);
  }

  /** The model's active scope, or undefined when it is empty (then the key does not walk it). */
  scopeOf(Model) {
    const m = this.#metaOf(Model);
    const s = Model._scope;
    if (s !== m.scopeRef) {
      m.scopeRef = s;
      m.scope = isEmptyOptions(s) ? undefined : s;
    }
    return m.scope;
  }

  /** The native id of (head, attribute), registered once per model, head and attribute. */
  #pkHead(m, head, attr) {
    let h = m.pkHeads[head];
    if (h === undefined) h = m.pkHeads[head] = { attr: NO_ATTRIBUTE, id: 0, byAttr: new Map() };
    // A head is asked for its last attribute again, nearly always (findByPk: always).
    if (h.attr === attr) return h.id;
    let id = h.byAttr.get(attr);
    if (id === undefined) h.byAttr.set(attr, (id = this.cache.head(head, attr)));
    h.attr = attr;
    h.id = id;
    return id;
  }

  /** The head of `method`'s queries on a model, with its native id, made once. */
  #headOf(m, method) {
    let h = m.heads[method];
    if (h === undefined) {
      const text = `${this.prefix}:${method}:${m.segment}`;
      h = m.heads[method] = { text, id: this.cache.head(text, '') };
    }
    return h;
  }

  /** How to key `Model[method](...args)`, or null when the arguments are not cacheable. */
  querySpec(Model, method, args) {
    const m = this.#metaOf(Model);
    const head = this.#headOf(m, method);
    const scope = this.scopeOf(Model);
    if (method === 'findByPk' && scope === undefined && isEmptyOptions(args[1]) && isPkValue(args[0]) && Model.primaryKeyAttribute !== undefined) {
      const pk = Model.primaryKeyAttribute;
      return { head: head.text, pk, pkHead: this.#pkHead(m, head.text, pk), value: args[0] };
    }
    let keyOptions = keyOptionsFor(Model, method, args);
    if (keyOptions === null) return null;
    if (method !== 'findByPk' && scope === undefined) {
      const single = singleWhere(Model, keyOptions);
      if (single.attr !== undefined) return { head: head.text, pk: single.attr, pkHead: this.#pkHead(m, head.text, single.attr), value: single.value };
      keyOptions = single.keyOptions;
    }
    return { head: head.text, headId: head.id, scope, keyOptions };
  }

  /**
   * Keys a query spec and looks it up in the in-process tier: `{ got, key, header }`, where got is
   * the payload or a Lookup code (Unkeyable + reason when it cannot be keyed), key is the key text
   * on a miss, on a hit when `hitKey` asks for it, and whenever the memo of tapes gave it, and
   * header is the payload's header id (see native.js lastHeader). A tape the memo does not answer
   * is keyed and looked up in one native call; one it answers is looked up by its text.
   */
  lookup(spec, slot, hitKey) {
    const r = withTape(spec.scope, spec.keyOptions, (tape) => this.#lookupTape(spec.headId, tape, slot, hitKey));
    return r.refused === undefined ? r : { got: Lookup.Unkeyable + r.refused, key: undefined, header: 0 };
  }

  #lookupTape(headId, tape, slot, hitKey) {
    const { cache } = this;
    const memo = this.tapeKeys;
    const h = memo.hashOf(headId, tape);
    let key = memo.get(h, headId, tape);
    let got;
    let header = 0;
    if (key === undefined && !memo.admits(h)) {
      // A tape met for the first time (or one the memo would not keep): keyed and looked up in
      // one call, as if there were no memo.
      got = cache.lookupTape(headId, tape, slot);
      header = cache.lastHeader();
      if ((typeof got === 'string' && !hitKey) || got >= Lookup.Unkeyable) return { got, key: undefined, header };
      // A miss needs its key for the fill: read from the same tape (its getters ran once).
      key = cache.tapeKey(headId, tape);
    } else {
      if (key === undefined) key = this.#keyOfTape(h, headId, tape);
      if (typeof key === 'string') {
        got = this.hits.get(key, slot);
        header = this.hits.lastHeader();
      }
    }
    return typeof key === 'string' ? { got, key, header } : { got: Lookup.Unkeyable + key, key: undefined, header };
  }

  /** The core's key text of a tape under a head (remembered for a tape met before), or an Unkeyable code. */
  #tapeKey(headId, tape) {
    const memo = this.tapeKeys;
    const h = memo.hashOf(headId, tape);
    const key = memo.get(h, headId, tape);
    if (key !== undefined) return key;
    return memo.admits(h) ? this.#keyOfTape(h, headId, tape) : this.cache.tapeKey(headId, tape);
  }

  /** The core's key text of a tape of hash `h` (from hashOf), remembered; or an Unkeyable code. */
  #keyOfTape(h, headId, tape) {
    const key = this.cache.tapeKey(headId, tape);
    // Only key texts: an Unkeyable code is cheap to make again.
    if (typeof key === 'string') this.tapeKeys.set(h, headId, tape, key);
    return key;
  }

  /**
   * How one row's entity entry is keyed: `<prefix>:#entity:<model>:{"where":{<pk>}}`. A single key
   * column takes the registered findByPk fast path (one native call to look up or drop); a
   * composite key is a fixed canonical key. Null when the key cannot be encoded.
   */
  entitySpec(Model, pkValues) {
    const pk = canonicalPk(Model, pkValues);
    return pk === null ? null : this.#entitySpecOf(Model, pk);
  }

  /** entitySpec of values already canonical. */
  #entitySpecOf(Model, pkValues) {
    const m = this.#metaOf(Model);
    const head = this.#entityHeadOf(m);
    const attrs = Object.keys(pkValues);
    if (attrs.length === 1) {
      const pk = attrs[0];
      return { head, pk, pkHead: this.#pkHead(m, head, pk), value: pkValues[pk] };
    }
    const k = native.canonicalKey(head, undefined, { where: pkValues });
    return typeof k === 'string' ? { fixed: k } : null;
  }

  /** The key text of a spec, or `{ bypass: reason }` when it cannot be encoded. */
  text(spec) {
    if (spec.fixed !== undefined) return spec.fixed;
    let k;
    if (spec.pk !== undefined) {
      k = this.#pkKey(spec.pkHead, spec.value);
    } else {
      const r = withTape(spec.scope, spec.keyOptions, (tape) => this.#tapeKey(spec.headId, tape));
      k = typeof r === 'object' ? r.refused : r;
    }
    return typeof k === 'string' ? k : { bypass: native.unkeyableReason(k) };
  }

  /**
   * The key text of a registered (head, attribute) pair's `value` if it is remembered (see
   * #pkKey), else undefined; never a native call.
   */
  knownPkKey(pkHead, value) {
    const byValue = this.pkKeys.get(pkHead);
    return byValue === undefined || Object.is(value, -0) ? undefined : byValue.get(value);
  }

  /**
   * cache.pkKey, memoized for numbers and short strings (a Map tells 1 from '1' but not 0 from -0,
   * so -0 is not memoized). At most MAX_MEMO_PK_KEYS texts across every head, all forgotten when full.
   */
  #pkKey(pkHead, value) {
    const memoizable = (typeof value === 'number' && !Object.is(value, -0)) || (typeof value === 'string' && value.length <= MAX_MEMO_PK_CHARS);
    if (!memoizable) return this.cache.pkKey(pkHead, value);
    let byValue = this.pkKeys.get(pkHead);
    if (byValue === undefined) this.pkKeys.set(pkHead, (byValue = new Map()));
    let k = byValue.get(value);
    if (k === undefined) {
      k = this.cache.pkKey(pkHead, value);
      // Only key texts: an Unkeyable code is cheap to make again and says nothing of the value.
      if (typeof k === 'string') {
        if (++this.pkKeyCount > MAX_MEMO_PK_KEYS) {
          // Full: forgotten all at once, as the other memos are (see ../memo.js).
          this.pkKeys.clear();
          this.pkKeys.set(pkHead, (byValue = new Map()));
          this.pkKeyCount = 1;
        }
        byValue.set(value, k);
      }
    }
    return k;
  }

  /** The key text of one row's entity entry, or null. */
  entityKey(Model, pkValues) {
    const spec = this.entitySpec(Model, pkValues);
    const k = spec === null ? null : this.text(spec);
    return typeof k === 'string' ? k : null;
  }

  /**
   * Where one row's entity entry lives: `{ spec, tables, path }`. `tables` are the generations it
   * depends on (its table's entity generation only: query writes do not touch entities).
   */
  entityTarget(Model, pkValues) {
    const pk = canonicalPk(Model, pkValues);
    if (pk === null) return null;
    const spec = this.#entitySpecOf(Model, pk);
    if (spec === null) return null;
    const m = this.#metaOf(Model);
    const tables = m.entityTables || (m.entityTables = Object.freeze([entityTableOf(Model)]));
    this.#noteEntityHead(tables[0], m.entityHead);
    if (this.storeAtKey) {
      const key = this.text(spec);
      if (typeof key !== 'string') return null;
      return { spec, tables, path: [key] };
    }
    return new AdapterEntityTarget(spec, tables, m.part, pk);
  }

  /** Where a query cached under the name `name` lives, for `method`: `{ key, path }`. */
  namedTarget(Model, method, name) {
    const m = this.#metaOf(Model);
    const key = `${this.prefix}:#query:${m.segment}:${method}:${escapeSegment(name)}`;
    const part = pathPart(name);
    const path = this.storeAtKey ? [key] : [m.part, 'query', method === 'findAll' ? part : `${part}:${method}`];
    return { key, path };
  }

  /**
   * Where the entry of `Model[method](...args)` (engine key `key`) lives in a network tier or an
   * adapter. The entry's body names `key`, so a location shared by two queries (the wrapper's keys
   * can be) answers only the one that stored it.
   */
  queryPath(Model, key, method, args) {
    if (this.wrapperKeys) return [momentoWrapperKey(Model, method, args) ?? key];
    return this.storeAtKey ? [key] : [this.#metaOf(Model).part, '#q', key];
  }
}

module.exports = { Keys, keyOptionsFor, tableNameOf, segmentOf, momentoWrapperKey, canonicalPk, hasIntegerKey };
