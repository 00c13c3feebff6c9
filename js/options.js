'use strict';
// Validation of user options: every bad value is a TypeError that names the option.

const { isLogger } = require('./logger');
const native = require('./native');

function describe(v) {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n (a BigInt)`;
  if (typeof v === 'symbol') return 'a symbol';
  if (typeof v === 'function') return `function ${v.name || '(anonymous)'}`;
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : `an object (${Object.keys(v).slice(0, 5).join(', ')})`;
  return String(v);
}

/** Throws unless `options` is undefined or a plain object whose keys are all in `allowed`. */
function checkKeys(where, options, allowed) {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${where}: options must be an object, got ${describe(options)}`);
  }
  for (const k of Object.keys(options)) {
    if (!allowed.includes(k)) {
      throw new TypeError(`${where}: unknown option "${k}" (known: ${allowed.join(', ')})`);
    }
  }
  // Own properties only: an option set on Object.prototype is never read (see ownProperties).
  return ownProperties(options);
}

/**
 * A plain options object's own enumerable properties, on a null prototype, so that an option set
 * on Object.prototype (prototype pollution: `endpoint`, `integrity`, `tls`) is never read. Anything
 * else is returned as is, for checkKeys to judge.
 */
function ownProperties(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const out = Object.create(null);
  for (const k of Object.keys(v)) out[k] = v[k];
  return out;
}

/**
 * The one numeric check behind every numeric option: `v` (or `fallback` when undefined) must be a
 * finite number, an integer if `integer`, at least `min` (or above 0 when `min` is 0 and `positive`)
 * and at most `max`. The TypeError names the option, what it must be, and the bound.
 */
function numberOption(where, name, v, fallback, { max, integer = false, positive = true, unit = '', meaning = '' }) {
  if (v === undefined) return fallback;
  const ok = typeof v === 'number' && Number.isFinite(v) && (integer ? Number.isSafeInteger(v) : true) && (positive ? v > 0 : v >= 0) && v <= max;
  if (!ok) {
    const kind = `${positive ? 'a positive' : 'a'} ${integer ? 'integer' : 'number'}`;
    const range = max === Infinity ? (positive ? '' : ' ≥ 0') : positive ? ` of at most ${max}` : ` from 0 to ${max}`;
    throw new TypeError(`${where}: ${name} must be ${kind}${range}${unit}${meaning}, got ${describe(v)}`);
  }
  return v;
}

/** A number in (0, max]. */
function positiveNumber(where, name, v, fallback, max, unit) {
  return numberOption(where, name, v, fallback, { max, unit });
}

/** An integer in [1, max]. */
function positiveInteger(where, name, v, fallback, max, unit) {
  return numberOption(where, name, v, fallback, { max, unit, integer: true });
}

/** A number in [0, max]; `meaning` says what 0 means. */
function nonNegativeNumber(where, name, v, fallback, max, meaning) {
  return numberOption(where, name, v, fallback, { max, positive: false, meaning });
}

/** An integer in [0, max]; `meaning` says what 0 means. */
function nonNegativeInteger(where, name, v, fallback, max, meaning) {
  return numberOption(where, name, v, fallback, { max, positive: false, integer: true, meaning });
}

/** Longest TTL option, in seconds (src/limits.rs MAX_TTL_MS). */
const MAX_TTL_SECONDS = native.limits.MAX_TTL_MS / 1000;

/** A TTL in seconds: positive, at most MAX_TTL_SECONDS (a year). For every `ttl`-like option. */
function ttlSeconds(where, name, v, fallback) {
  return positiveNumber(where, name, v, fallback, MAX_TTL_SECONDS, ' seconds');
}

/** A TTL in seconds where 0 means "not at all" (withCache's negativeTtl). */
function ttlSecondsOrZero(where, name, v, fallback) {
  return nonNegativeNumber(where, name, v, fallback, MAX_TTL_SECONDS, ' seconds (0: never)');
}

/** A timeout in milliseconds: positive, at most src/limits.rs MAX_TIMEOUT_MS. */
function timeoutMs(where, name, v, fallback) {
  return positiveNumber(where, name, v, fallback, native.limits.MAX_TIMEOUT_MS, ' ms');
}

/** A size bound in bytes: a positive integer, at most `max`. */
function byteSize(where, name, v, fallback, max) {
  return positiveInteger(where, name, v, fallback, max, ' bytes');
}

function optionalBoolean(where, name, v, fallback) {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new TypeError(`${where}: ${name} must be a boolean, got ${describe(v)}`);
  return v;
}

/** The logger given, or `fallback`; anything without debug/info/warn/error is a TypeError. */
function optionalLogger(where, v, fallback) {
  if (v === undefined) return fallback;
  if (!isLogger(v)) throw new TypeError(`${where}: logger must have debug, info, warn and error methods, got ${describe(v)}`);
  return v;
}

function nonEmptyString(where, name, v, fallback) {
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || v.length === 0) {
    throw new TypeError(`${where}: ${name} must be a non-empty string, got ${describe(v)}`);
  }
  return v;
}

const { MIN_INTEGRITY_KEY_BYTES } = native.limits;

/**
 * The integrity key of a network client or adapter, as a Buffer, or undefined for none:
 * `integrity: { key }` (a Buffer or a string of at least 32 bytes), `integrity: false` (none, even
 * with the environment variable set), or, when `integrity` is not given, SNC_INTEGRITY_KEY. The key
 * itself never appears in an error.
 */
function integrityKey(where, value, env = process.env) {
  if (value === false) return undefined;
  let key;
  let name;
  if (value === undefined) {
    key = env.SNC_INTEGRITY_KEY;
    name = 'the SNC_INTEGRITY_KEY environment variable';
    if (key === undefined || key === '') return undefined;
  } else {
    const o = checkKeys(`${where}: integrity`, value, ['key']);
    key = o.key;
    name = 'integrity.key';
  }
  let bytes;
  if (Buffer.isBuffer(key)) bytes = Buffer.from(key);
  else if (key instanceof Uint8Array) bytes = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  else if (typeof key === 'string') bytes = Buffer.from(key, 'utf8');
  else {
    const got = key === null ? 'null' : Array.isArray(key) ? 'an array' : typeof key;
    throw new TypeError(`${where}: ${name} must be a Buffer or a string of at least ${MIN_INTEGRITY_KEY_BYTES} bytes, got ${got}`);
  }
  if (bytes.length < MIN_INTEGRITY_KEY_BYTES) {
    throw new TypeError(`${where}: ${name} must be at least ${MIN_INTEGRITY_KEY_BYTES} bytes, got ${bytes.length} bytes`);
  }
  return bytes;
}

/** True for a Sequelize model class (duck-typed, so any copy of sequelize v6 works). */
function isModelClass(M) {
  return (
    typeof M === 'function' &&
    typeof M.findAll === 'function' &&
    typeof M.tableName === 'string' &&
    M.rawAttributes !== null &&
    typeof M.rawAttributes === 'object'
  );
}

module.exports = {
  checkKeys,
  ownProperties,
  positiveNumber,
  positiveInteger,
  nonNegativeNumber,
  nonNegativeInteger,
  ttlSeconds,
  ttlSecondsOrZero,
  timeoutMs,
  byteSize,
  MAX_TTL_SECONDS,
  optionalBoolean,
  optionalLogger,
  nonEmptyString,
  integrityKey,
  isModelClass,
  describe,
};
