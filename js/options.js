'use strict';
// Validation of user options: every bad value is a TypeError that names the option.

const { isLogger } = require('./logger');

function describe(v) {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
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
  return options;
}

function positiveNumber(where, name, v, fallback) {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new TypeError(`${where}: ${name} must be a positive number, got ${describe(v)}`);
  }
  return v;
}

function positiveInteger(where, name, v, fallback) {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v <= 0) {
    throw new TypeError(`${where}: ${name} must be a positive integer, got ${describe(v)}`);
  }
  return v;
}

function nonNegativeNumber(where, name, v, fallback, meaning = '') {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new TypeError(`${where}: ${name} must be a number ≥ 0${meaning}, got ${describe(v)}`);
  }
  return v;
}

function nonNegativeInteger(where, name, v, fallback, meaning = '') {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new TypeError(`${where}: ${name} must be an integer ≥ 0${meaning}, got ${describe(v)}`);
  }
  return v;
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

/** Integrity keys shorter than this are refused (src/frame.rs MIN_INTEGRITY_KEY_BYTES). */
const MIN_INTEGRITY_KEY_BYTES = 32;

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
  positiveNumber,
  positiveInteger,
  nonNegativeNumber,
  nonNegativeInteger,
  optionalBoolean,
  optionalLogger,
  nonEmptyString,
  integrityKey,
  isModelClass,
  describe,
};
