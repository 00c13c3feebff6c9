'use strict';
// Loggers: the seed's LoggerFactory, detection of user loggers (pino and the like), and
// "once per burst" warnings so a failing cache logs a line per state change, not per call.

const { createHash } = require('node:crypto');

const LEVELS = Object.freeze({ debug: 10, info: 20, warn: 30, error: 40, silent: 100 });
const METHODS = ['debug', 'info', 'warn', 'error'];

/** True for any object with debug/info/warn/error methods. */
function isLogger(x) {
  return x != null && typeof x === 'object' && METHODS.every((m) => typeof x[m] === 'function');
}

function format(level, obj, msg) {
  if (typeof obj === 'string' && msg === undefined) return `${level.toUpperCase()} ${obj}`;
  let extra = '';
  if (obj !== undefined) {
    try {
      extra = ' ' + JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    } catch {
      extra = ' [unserializable]';
    }
  }
  return `${level.toUpperCase()} ${msg ?? ''}${extra}`;
}

class ConsoleLogger {
  constructor(level) {
    this.level = level;
    this.threshold = LEVELS[level];
  }
}
for (const m of METHODS) {
  ConsoleLogger.prototype[m] = function log(obj, msg) {
    if (LEVELS[m] < this.threshold) return;
    const line = `[sequelize-native-cache] ${new Date().toISOString()} ${format(m, obj, msg)}`;
    if (m === 'warn' || m === 'error') console.error(line);
    else console.log(line);
  };
}

const LoggerFactory = {
  /**
   * A console logger that prints `level` and above. `logLevel` is one of
   * debug, info, warn, error, silent (default info).
   */
  createLogger(options = {}) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('LoggerFactory.createLogger: options must be an object like { logLevel: "info" }');
    }
    const level = options.logLevel ?? 'info';
    if (typeof level !== 'string' || !Object.prototype.hasOwnProperty.call(LEVELS, level)) {
      // Required here: options.js requires this module for isLogger.
      const { describe } = require('./options');
      throw new TypeError(`LoggerFactory.createLogger: logLevel must be one of ${Object.keys(LEVELS).join(', ')}; got ${describe(level)}`);
    }
    return new ConsoleLogger(level);
  },
};

/**
 * A key as a log line shows it: its head (prefix, kind and model: `model-cache:findOne:Users:`),
 * then a hash of the whole key. The rest of a key holds the query's values (an e-mail address, a
 * token in a `where`), and every log line is public; the hash still tells entries apart.
 */
function keyForLog(key) {
  let end = -1;
  for (let n = 0; n < 3; n++) {
    end = key.indexOf(':', end + 1);
    if (end < 0) return `#${digest(key)}`;
  }
  return `${key.slice(0, end + 1)}#${digest(key)}`;
}

function digest(text) {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** `obj` with its `key` and `path` (a network tier's location of an entry) shown as keyForLog. */
function withoutValues(obj) {
  const hasKey = typeof obj.key === 'string';
  const hasPath = Array.isArray(obj.path);
  if (!hasKey && !hasPath) return obj;
  const out = { ...obj };
  if (hasKey) out.key = keyForLog(obj.key);
  if (hasPath) out.path = `#${digest(obj.path.map(String).join('\u0000'))}`;
  return out;
}

/** How long a repeated warning stays quiet. */
const BURST_MS = 60_000;

/**
 * Logs each kind of cache problem once per burst: the first occurrence is logged, repeats within
 * BURST_MS are counted and reported with the next line of that kind.
 */
class OnceLogger {
  constructor(logger) {
    this.logger = logger;
    this.last = new Map();
  }

  warn(code, obj, msg) {
    this.#emit('warn', code, obj, msg);
  }

  error(code, obj, msg) {
    this.#emit('error', code, obj, msg);
  }

  /**
   * Reports a failed network-tier call (an error from js/native.js, whose `code` names the
   * failure, or whatever a JS adapter threw). Rejected credentials and a missing cache are errors
   * with their own log codes (they need the user's attention); anything else is an adapter warning.
   */
  tierFailed(err, obj, msg) {
    const message = err && err.message;
    const code = err && err.code;
    if (code === 'unauthorized' || code === 'cache-not-found') this.error(`cache-${code}`, { ...obj, error: message }, `${message}; the database answers`);
    else this.warn('cache-adapter', { ...obj, error: message, ...(typeof code === 'string' ? { reason: code } : {}) }, msg);
  }

  #emit(level, code, obj, msg) {
    if (obj !== undefined && obj !== null) obj = withoutValues(obj);
    const now = Date.now();
    const seen = this.last.get(code);
    if (seen && now - seen.at < BURST_MS) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen ? seen.suppressed : 0;
    this.last.set(code, { at: now, suppressed: 0 });
    try {
      this.logger[level]({ code, ...obj, ...(suppressed ? { suppressed } : {}) }, msg);
    } catch {
      // A broken logger must not break a query.
    }
  }
}

module.exports = { LoggerFactory, LEVELS, isLogger, OnceLogger, keyForLog, defaultLogger: () => new ConsoleLogger('warn') };
