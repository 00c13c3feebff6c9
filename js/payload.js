'use strict';
// The typed payload: how a query result is written as text, inside a stored frame (the frame —
// magic, version, length, checksum, optional HMAC — is written and checked in Rust, src/frame.rs).
//
// Payload text:   <PAYLOAD_VERSION> <shape> <definition> <types>\n<data>
//   shape  'row' | 'rows' | 'page' | 'value': how the query result was laid out (see hydrate.js)
//   definition  the fingerprint of the model definition that stored it (engine/definition.js), or
//          '-' for none: a reader with another definition treats the payload as a miss
//   types  JSON [[tag, ...path], ...]: where the placeholders in data are and what they were
//   data   JSON of the result with every instance replaced by its raw dataValues (not getter
//          output) and every value JSON cannot carry replaced by a placeholder
//
// Tags: D Date (ms), d invalid Date, B Buffer (base64), N BigInt (decimal), U undefined,
//       F non-finite number ('NaN' | 'Infinity' | '-Infinity'), Z negative zero.
// A D, B, N or U entry whose path holds -1 (EVERY) stands for every array element there: a list's
// typed columns take one entry each, whatever the number of rows (see fold).
// Keeping types beside the data (instead of tagging values inline) means a JSON column holding
// any shape at all can never be mistaken for a tagged value. The types line repeats across
// entries of one query shape, so its parse is memoized and a hit parses only its data.
//
// A payload read back from a cache server is untrusted input. decode() follows a types path only
// through own properties of the plain objects and arrays JSON.parse made, never through
// `__proto__`, `constructor` or `prototype`, and refuses data holding a `__proto__` key at all,
// however it is spelled (`"\u005f_proto__"` parses to the same key; Sequelize's build would
// assign it, giving a row a prototype of the data's choosing). Such a payload is an error: the
// caller treats it as a miss and the database answers.

const { rememberText } = require('./memo');

const PAYLOAD_VERSION = 2;
const VERSION_TEXT = String(PAYLOAD_VERSION);

class UnstorableError extends Error {}

function isInstance(v) {
  return typeof v.get === 'function' && v.dataValues !== undefined && typeof v.constructor.rawAttributes === 'object';
}

function isPlainObject(v) {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function prepare(value, path, types) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value)) {
        if (value === 0 && 1 / value < 0) types.push(['Z', ...path]);
        return value;
      }
      types.push(['F', ...path]);
      return String(value);
    case 'bigint':
      types.push(['N', ...path]);
      return value.toString();
    case 'undefined':
      types.push(['U', ...path]);
      return null;
    case 'object':
      break;
    default:
      throw new UnstorableError(`cannot store a ${typeof value}`);
  }
  if (value === null) return null;
  if (value instanceof Date) {
    const ms = value.getTime();
    types.push([Number.isNaN(ms) ? 'd' : 'D', ...path]);
    return Number.isNaN(ms) ? null : ms;
  }
  if (Buffer.isBuffer(value)) {
    types.push(['B', ...path]);
    return value.toString('base64');
  }
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      out[i] = prepare(value[i], path, types);
      path.pop();
    }
    return out;
  }
  if (isInstance(value)) return prepare(value.get({ plain: true, raw: true }), path, types);
  if (!isPlainObject(value)) throw new UnstorableError(`cannot store an instance of ${value.constructor?.name}`);
  const out = {};
  for (const k of Object.keys(value)) {
    path.push(k);
    out[k] = prepare(value[k], path, types);
    path.pop();
  }
  return out;
}

/** A types path step that stands for every element of an array (only in foldable entries). */
const EVERY = -1;

/**
 * What each foldable tag stands in for in the data: a D entry's value is a number (ms), a B or N
 * entry's a string (base64, decimal), a U entry's null. Other tags are never folded.
 */
const FOLDED_KIND = Object.freeze({ __proto__: null, D: 'number', B: 'string', N: 'string', U: 'null' });

const kindOf = (v) => (v === null ? 'null' : typeof v);

/** A types entry's pattern: its path with every array index read as EVERY. */
const patternOf = (t) => t.map((step, i) => (i > 0 && typeof step === 'number' ? EVERY : step));

/**
 * Folds the entries of one tag and path pattern (the path with every array index read as EVERY)
 * into one entry for the pattern, when every value of that tag's kind the data holds at that
 * pattern is one of those entries' (every number there a Date, every string a Buffer, ...). A list
 * of N rows then needs one entry per typed column, not N, and its types line is the same whatever
 * the rows' number, so a hit parses it once (and the in-process tier interns it). Returns the
 * types with the folded entries first (decode() restores them before the others).
 */
function fold(types, prepared) {
  // Each entry's group (its pattern's text), or undefined for an entry that cannot fold.
  const ids = types.map((t) => (FOLDED_KIND[t[0]] !== undefined && t.some((step, i) => i > 0 && typeof step === 'number') ? JSON.stringify(patternOf(t)) : undefined));
  const groups = new Map();
  for (let i = 0; i < types.length; i++) {
    if (ids[i] === undefined) continue;
    const g = groups.get(ids[i]);
    if (g === undefined) groups.set(ids[i], { pattern: patternOf(types[i]), count: 1 });
    else g.count++;
  }
  const folded = [];
  for (const g of groups.values()) {
    if (g.count > 1 && countAt(prepared, g.pattern, 1, FOLDED_KIND[g.pattern[0]]) === g.count) folded.push(g);
  }
  if (folded.length === 0) return types;
  const foldedGroups = new Set(folded);
  const rest = types.filter((t, i) => ids[i] === undefined || !foldedGroups.has(groups.get(ids[i])));
  return [...folded.map((g) => g.pattern), ...rest];
}

/** How many values of `kind` `v` holds at `pattern` (from step `i` on). */
function countAt(v, pattern, i, kind) {
  if (i === pattern.length) return kindOf(v) === kind ? 1 : 0;
  if (v === null || typeof v !== 'object') return 0;
  const step = pattern[i];
  if (step === EVERY) {
    if (!Array.isArray(v)) return 0;
    let n = 0;
    for (const e of v) n += countAt(e, pattern, i + 1, kind);
    return n;
  }
  return Object.prototype.hasOwnProperty.call(v, step) ? countAt(v[step], pattern, i + 1, kind) : 0;
}

/**
 * Serializes a stored result of the model definition `definition` (a fingerprint without spaces;
 * '-' when none). Throws UnstorableError for values the format cannot carry.
 */
function encode(shape, data, definition = '-') {
  const types = [];
  const prepared = prepare(data, [], types);
  return `${PAYLOAD_VERSION} ${shape} ${definition} ${JSON.stringify(fold(types, prepared))}\n${JSON.stringify(prepared)}`;
}

/** Parsed types lines by text; bounded, cleared when full. */
const typesMemo = new Map();
const TYPES_MEMO_MAX = 1024;
/** Characters of type tables the memo holds in all, and the longest it keeps (memo.js rememberText). */
const TYPES_MEMO_MAX_CHARS = 1 << 20;
const TYPES_MEMO_MAX_TEXT = 8192;

/** Property names a types path must never name. */
const FORBIDDEN_STEPS = new Set(['__proto__', 'constructor', 'prototype']);

function isStep(k) {
  return (typeof k === 'string' && !FORBIDDEN_STEPS.has(k)) || (Number.isSafeInteger(k) && k >= 0);
}

/** A well-formed types entry: a tag and steps, EVERY only in a foldable entry's path. */
function isEntry(t) {
  if (!Array.isArray(t) || typeof t[0] !== 'string') return false;
  for (let i = 1; i < t.length; i++) if (!isStep(t[i]) && !(t[i] === EVERY && FOLDED_KIND[t[0]] !== undefined)) return false;
  return true;
}

/** The last types line parsed: consecutive hits of one query shape compare, without hashing. */
let lastTypesText = '';
let lastTypes = [];

/**
 * A types line read into the steps decodeData takes: per entry, its path, its restorer, whether it
 * is folded and, if foldable, the kind of value it restores (made once per distinct line). Throws
 * on a line this module does not write.
 */
function parseTypes(text) {
  if (text === lastTypesText) return lastTypes;
  let types = typesMemo.get(text);
  if (types === undefined) {
    const entries = JSON.parse(text);
    const wellFormed = Array.isArray(entries) && entries.every(isEntry);
    if (!wellFormed) throw new Error('payload types are not in the expected format');
    types = entries.map((entry) => {
      const kind = FOLDED_KIND[entry[0]];
      return Object.freeze({ entry, make: restorerOf(entry[0]), kind, folded: kind !== undefined && entry.includes(EVERY) });
    });
    rememberText(typesMemo, text, types, TYPES_MEMO_MAX, TYPES_MEMO_MAX_CHARS, TYPES_MEMO_MAX_TEXT);
  }
  lastTypesText = text;
  lastTypes = types;
  return types;
}

/** The value each type tag stands for, made from what the data holds there. */
const RESTORERS = Object.freeze({
  __proto__: null,
  D: (v) => new Date(v),
  d: () => new Date(NaN),
  B: (v) => Buffer.from(v, 'base64'),
  N: (v) => BigInt(v),
  U: () => undefined,
  F: (v) => Number(v),
  Z: () => -0,
});

function restorerOf(tag) {
  const r = typeof tag === 'string' ? RESTORERS[tag] : undefined;
  if (r === undefined) throw new Error(`unknown type tag ${JSON.stringify(tag)}`);
  return r;
}

/** True if `v` is one of JSON's own objects or arrays and has an own property `step`. */
function holdsOwn(v, step) {
  return v !== null && typeof v === 'object' && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype) && Object.prototype.hasOwnProperty.call(v, step);
}

/** The container a types path step leads into: only own properties of JSON's own objects and arrays. */
function containerAt(parent, step) {
  if (!holdsOwn(parent, step)) throw new Error('payload types name a path the data does not hold');
  return parent;
}

/**
 * A payload's header line (`<version> <shape> <definition> <types>`) read into
 * `{ shape, definition, types }`. Throws when it is not one this module writes.
 */
function parseHeader(header) {
  const a = header.indexOf(' ');
  const b = header.indexOf(' ', a + 1);
  const c = header.indexOf(' ', b + 1);
  if (a < 0 || b < 0 || c < 0 || header.slice(0, a) !== VERSION_TEXT) throw new Error('payload is not in the expected format');
  return { shape: header.slice(a + 1, b), definition: header.slice(b + 1, c), types: parseTypes(header.slice(c + 1)) };
}

const protoKeyError = () => new Error('payload data holds a __proto__ key');

/** True if a value JSON.parse made has an own `__proto__` key anywhere inside it. */
function holdsProtoKey(v) {
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some(holdsProtoKey);
  if (Object.prototype.hasOwnProperty.call(v, '__proto__')) return true;
  for (const k in v) if (holdsProtoKey(v[k])) return true;
  return false;
}

/**
 * Reads a payload's data back, with its parsed header: `{ shape, data }`. `checked` says the
 * data text is already known to hold no `__proto__` key in any spelling (the in-process tier
 * checks that once, when it stores a payload split: src/payload.rs); otherwise it is checked here.
 * Throws on anything this module did not write.
 */
function decodeData({ shape, definition, types }, data, checked) {
  if (!checked && data.includes('"__proto__"')) throw protoKeyError();
  let root = JSON.parse(data);
  // A `\u` escape can spell any letter of `__proto__` (JSON has no other way to write them), so
  // data holding one is searched as parsed.
  if (!checked && data.includes('\\u') && holdsProtoKey(root)) throw protoKeyError();
  for (const t of types) {
    const { entry, make } = t;
    if (t.folded) {
      restoreEvery(root, t, 1);
      continue;
    }
    if (entry.length === 1) {
      root = make(root);
      continue;
    }
    let parent = root;
    for (let i = 1; i < entry.length - 1; i++) parent = containerAt(parent, entry[i])[entry[i]];
    const last = entry[entry.length - 1];
    containerAt(parent, last)[last] = make(parent[last]);
  }
  return { shape, definition, data: root };
}

/**
 * Restores every value a folded entry stands for (see fold): each value of its tag's kind at its
 * pattern (a number for D, a string for B and N, null for U), and nothing else. Only such values
 * there were written for that tag (fold checked); any other value there (a null date, a value an
 * explicit entry restores, a JSON column of another shape in another row) and a path that ends
 * early (a null include) are left as they are. It only ever writes own properties of JSON's own
 * objects and arrays, and the entry's restorer decides what it writes. `t` is the entry as
 * parseTypes made it.
 */
function restoreEvery(v, t, i) {
  if (v === null || typeof v !== 'object') return;
  const { entry } = t;
  const step = entry[i];
  const last = i === entry.length - 1;
  if (step === EVERY) {
    if (!Array.isArray(v)) return;
    // The common leaf, a column of a list of rows ([..., EVERY, name]): one loop, with the
    // checks the step below makes.
    if (i === entry.length - 2 && typeof entry[i + 1] === 'string') {
      const name = entry[i + 1];
      for (let k = 0; k < v.length; k++) if (holdsOwn(v[k], name)) restoreFoldedAt(v[k], name, t);
      return;
    }
    for (let k = 0; k < v.length; k++) {
      if (last) restoreFoldedAt(v, k, t);
      else restoreEvery(v[k], t, i + 1);
    }
    return;
  }
  if (!holdsOwn(v, step)) return;
  if (last) restoreFoldedAt(v, step, t);
  else restoreEvery(v[step], t, i + 1);
}

/** Restores `container[k]` if it holds a value of the kind entry `t` restores. */
function restoreFoldedAt(container, k, t) {
  const x = container[k];
  if (kindOf(x) === t.kind) container[k] = t.make(x);
}

/** Reads a whole payload back into { shape, definition, data }. Throws on anything it did not write. */
function decode(payload) {
  // Cut where the in-process tier splits (src/payload.rs): the first newline after two spaces.
  const a = payload.indexOf(' ');
  const b = payload.indexOf(' ', a + 1);
  const nl = payload.indexOf('\n', b + 1);
  if (a < 0 || b < 0 || nl < 0) throw new Error('payload is not in the expected format');
  return decodeData(parseHeader(payload.slice(0, nl)), payload.slice(nl + 1), false);
}

module.exports = { encode, decode, parseHeader, decodeData, UnstorableError, isInstance, PAYLOAD_VERSION };
