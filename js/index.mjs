// Public entry point (ESM): the same objects as the CommonJS entry, not a second copy.
import { createRequire } from 'node:module';

const cjs = createRequire(import.meta.url)('./index.js');

export const {
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
} = cjs;
export default cjs;
