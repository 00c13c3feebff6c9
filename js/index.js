'use strict';
// Public entry point (CommonJS). The ESM entry (index.mjs) re-exports these names.
//
// The module itself is callable as `withCache`, because sequelize-transparent-cache's module is
// that function (`const { withCache } = require('sequelize-transparent-cache')(adaptor)`): its
// users change only the module name. Every export is also a property of it.

const { MemoryCache, CacheClient } = require('./clients');
const { RedisCache } = require('./redis');
const { modelCacheFactory, CompressionType } = require('./model-cache');
const { LoggerFactory } = require('./logger');
const { withCache } = require('./with-cache');
const { IORedisAdapter } = require('./adapters/ioredis');
const { MomentoCache, MomentoClientGenerator, Configurations, CredentialProvider } = require('./momento');

/** `withCache(client, options)`: the module called as a function. */
function sequelizeNativeCache(client, options) {
  return withCache(client, options);
}

module.exports = sequelizeNativeCache;
module.exports.MemoryCache = MemoryCache;
module.exports.RedisCache = RedisCache;
module.exports.MomentoCache = MomentoCache;
module.exports.MomentoClientGenerator = MomentoClientGenerator;
module.exports.Configurations = Configurations;
module.exports.CredentialProvider = CredentialProvider;
module.exports.CacheClient = CacheClient;
module.exports.modelCacheFactory = modelCacheFactory;
module.exports.withCache = withCache;
module.exports.IORedisAdapter = IORedisAdapter;
module.exports.CompressionType = CompressionType;
module.exports.LoggerFactory = LoggerFactory;
