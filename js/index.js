'use strict';
// Public entry point (CommonJS). The ESM entry (index.mjs) re-exports these names.

const { MemoryCache, CacheClient } = require('./clients');
const { RedisCache } = require('./redis');
const { modelCacheFactory, CompressionType } = require('./model-cache');
const { LoggerFactory } = require('./logger');
const { withCache } = require('./with-cache');
const { IORedisAdapter } = require('./adapters/ioredis');
const { MomentoCache, MomentoClientGenerator, Configurations, CredentialProvider } = require('./momento');

module.exports = {
  MemoryCache,
  RedisCache,
  MomentoCache,
  MomentoClientGenerator,
  Configurations,
  CredentialProvider,
  CacheClient,
  modelCacheFactory,
  withCache,
  IORedisAdapter,
  CompressionType,
  LoggerFactory,
};
