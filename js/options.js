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
  isModelClass,
  describe,
};
