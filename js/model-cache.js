'use strict';
// The Momento wrapper's API: `await modelCacheFactory(client, logger).wrap(Model).findByPk(1)`.
// Read-aside, results are read-only views. Every other static passes through to the model.

const { READ_METHODS } = require('./engine');
const { engineOf } = require('./clients');
const { isLogger, OnceLogger, defaultLogger } = require('./logger');
const { checkKeys, ttlSeconds, optionalBoolean, optionalLogger, isModelClass, describe } = require('./options');
const { viewOf } = require('./readonly');

/**
 * The Momento wrapper's compression setting. The in-process tier stores values uncompressed;
 * network tiers compress large values (LZ4) unless it is NONE.
 */
const CompressionType = Object.freeze({ NONE: 'NONE', ZLIB: 'ZLIB', ZSTD: 'ZSTD' });

/** The Momento wrapper's numeric enum values (NONE = 0, ZLIB = 1, ZSTD = 2), accepted as aliases. */
const NUMERIC_COMPRESSION = ['NONE', 'ZLIB', 'ZSTD'];

/** A CompressionType given as its name or as the wrapper's number; a TypeError naming `where` otherwise. */
function compressionTypeOf(where, v, fallback) {
  if (v === undefined) return fallback;
  if (Number.isInteger(v) && NUMERIC_COMPRESSION[v] !== undefined) return CompressionType[NUMERIC_COMPRESSION[v]];
  if (Object.values(CompressionType).includes(v)) return v;
  throw new TypeError(`${where}: compressionType must be one of ${Object.values(CompressionType).join(', ')} (or 0, 1, 2), got ${describe(v)}`);
}

function parseSecondArgument(arg) {
  if (arg === undefined || arg === null) return { logger: defaultLogger(), compressionType: CompressionType.NONE, autoInvalidate: true };
  if (isLogger(arg)) return { logger: arg, compressionType: CompressionType.NONE, autoInvalidate: true };
  const o = checkKeys('modelCacheFactory', arg, ['logger', 'compressionType', 'autoInvalidate']);
  const autoInvalidate = optionalBoolean('modelCacheFactory', 'autoInvalidate', o.autoInvalidate, true);
  const logger = optionalLogger('modelCacheFactory', o.logger, undefined);
  const compressionType = compressionTypeOf('modelCacheFactory', o.compressionType, CompressionType.NONE);
  return { logger: logger ?? defaultLogger(), compressionType, autoInvalidate };
}

/**
 * @param client   a cache client (MemoryCache, ...)
 * @param loggerOrOptions  a logger (debug/info/warn/error), or { logger, compressionType }
 * @returns {Promise<{ wrap(Model, options?: { ttl?: number }) }>}
 */
async function modelCacheFactory(client, loggerOrOptions) {
  const engine = engineOf(client, 'modelCacheFactory');
  const { logger, compressionType, autoInvalidate } = parseSecondArgument(loggerOrOptions);
  const log = new OnceLogger(logger);
  const plain = new WeakMap();

  function makeWrapper(Model, ttlMs) {
    const methods = Object.create(null);
    for (const method of READ_METHODS) {
      methods[method] = function cachedRead(...args) {
        const call = { Model, method, args, ttlMs, log, run: () => Model[method](...args) };
        const plan = engine.plan(call);
        // A hit answers without waiting on anything; only the database path is asynchronous.
        if ('hit' in plan) return Promise.resolve(viewOf(plan.hit));
        return engine.fetch(call, plan).then(viewOf);
      };
    }
    const bound = new Map();
    return new Proxy(Model, {
      get(target, prop) {
        if (typeof prop === 'string' && methods[prop] !== undefined) return methods[prop];
        const v = Reflect.get(target, prop, target);
        if (typeof v !== 'function' || prop === 'constructor') return v;
        // Pass-through statics run on the model itself, so their internal calls stay uncached.
        let b = bound.get(prop);
        if (b === undefined || b.original !== v) {
          b = { original: v, fn: v.bind(target) };
          bound.set(prop, b);
        }
        return b.fn;
      },
    });
  }

  return {
    compressionType,
    autoInvalidate,
    /**
     * A view of `Model` whose findByPk / findOne / findAll / count / findAndCountAll read through
     * the cache. `options.ttl` (seconds) overrides the client's default TTL for this wrapper.
     */
    wrap(Model, options) {
      if (!isModelClass(Model)) throw new TypeError(`wrap: expected a Sequelize model class, got ${describe(Model)}`);
      const o = checkKeys('wrap', options, ['ttl']);
      if (autoInvalidate) engine.watch(Model.sequelize, log);
      const ttl = ttlSeconds('wrap', 'ttl', o.ttl, undefined);
      if (ttl !== undefined) return makeWrapper(Model, Math.round(ttl * 1000));
      let w = plain.get(Model);
      if (w === undefined) plain.set(Model, (w = makeWrapper(Model, undefined)));
      return w;
    },
  };
}

module.exports = { modelCacheFactory, CompressionType, compressionTypeOf };
