'use strict';
// Public entry point (CommonJS). The ESM entry (index.mjs) re-exports these names.

const { MemoryCache, CacheClient } = require('./clients');
const { modelCacheFactory, CompressionType } = require('./model-cache');
const { LoggerFactory } = require('./logger');
const { withCache } = require('./with-cache');
const { IORedisAdapter } = require('./adapters/ioredis');

module.exports = { MemoryCache, CacheClient, modelCacheFactory, withCache, IORedisAdapter, CompressionType, LoggerFactory };
