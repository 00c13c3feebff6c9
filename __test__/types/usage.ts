// Compiled by `npm test` with `tsc --noEmit --strict`: the README's usage must type-check.
import { CreationOptional, DataTypes, InferAttributes, InferCreationAttributes, Model, Op, Sequelize } from 'sequelize';
import {
  CompressionType,
  LoggerFactory,
  MemoryCache,
  RedisCache,
  MomentoClientGenerator,
  MomentoCache,
  Configurations,
  CredentialProvider,
  modelCacheFactory,
  withCache,
  IORedisAdapter,
  type CacheAdapter,
  type CacheClient,
  type TransparentCacheAdaptor,
  type CacheStats,
  type Logger,
} from 'sequelize-native-cache';
import sequelizeCache from 'sequelize-native-cache';

class User extends Model<InferAttributes<User>, InferCreationAttributes<User>> {
  declare id: CreationOptional<number>;
  declare username: string;
  declare age: number | null;
}

export async function usage(sequelize: Sequelize): Promise<void> {
  User.init(
    { id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true }, username: DataTypes.STRING, age: DataTypes.INTEGER },
    { sequelize },
  );

  const client = new MemoryCache({ maxBytes: 32 * 1024 * 1024, defaultTtlSeconds: 60, modelCacheName: 'model-cache' });
  const log: Logger = LoggerFactory.createLogger({ logLevel: 'debug' });
  const cache = await modelCacheFactory(client, log);
  const cache2 = await modelCacheFactory(client, { logger: log, compressionType: CompressionType.ZSTD });
  const cache3 = await modelCacheFactory(new MemoryCache(), { autoInvalidate: false });
  const invalidates: boolean = cache.autoInvalidate;

  const one = await cache.wrap(User).findByPk(1);
  if (one !== null) {
    const name: string = one.username;
    const viaGet: string = one.get('username');
    const plain: { username: string } = one.get({ plain: true });
    JSON.stringify(one.toJSON());
    // @ts-expect-error cached results are read-only
    one.username = 'changed';
    // @ts-expect-error only attributes and get() exist on a cached result
    await one.save();
    void [name, viaGet, plain];
  }
  const many = await cache2.wrap(User, { ttl: 30 }).findAll({ where: { age: { [Op.gt]: 18 } }, limit: 10 });
  const first: number | undefined = many[0]?.id;
  const n: number = await cache3.wrap(User).count({ where: { username: 'a' } });
  const page = await cache.wrap(User).findAndCountAll({ limit: 5 });
  const total: number = page.count + page.rows.length;
  const created = await cache.wrap(User).create({ username: 'passes through' });

  // @ts-expect-error maxBytes is a number
  new MemoryCache({ maxBytes: '64MB' });
  // @ts-expect-error unknown options are rejected
  new MemoryCache({ maxEntries: 10 });
  const key: string | null = client.keyFor(User, 'findByPk', 1);
  const stats: CacheStats = client.stats();
  const hits: number = stats.models['User']?.['findByPk']?.hits ?? 0;
  client.invalidateModel(User);
  client.clear();
  const { withCache: cacheWrapper } = withCache(client, { ttl: 60, negativeTtl: 5, autoInvalidate: true });
  const CacheUser = cacheWrapper(User);
  const alive: User | null = await CacheUser.cache().findByPk(1);
  if (alive !== null) {
    alive.username = 'living instances can be changed';
    await alive.cache().save();
    await alive.cache().reload();
    alive.cache().clear();
  }
  const listed: User[] = await CacheUser.cache('active').findAll({ where: { age: { [Op.gte]: 18 } } });
  const counted: number = await CacheUser.cache({ customKey: 'n', ttl: 10 }).count();
  const made: User = await CacheUser.cache().create({ username: 'x' });
  CacheUser.cache().clearAllModelQueries();
  const sameClient: CacheClient | CacheAdapter | TransparentCacheAdaptor = CacheUser.cache().client();
  const byOldName: User | null = await CacheUser.cache().findById(1);
  const [upserted]: [User, boolean | null] = await CacheUser.cache().insertOrUpdate({ username: 'y' });
  void [sameClient, byOldName, upserted];
  // The module called as withCache, as sequelize-transparent-cache's is.
  sequelizeCache(new MemoryCache()).withCache(User);
  const viaProperty: typeof withCache = sequelizeCache.withCache;
  void viaProperty;
  void [listed, counted, made];
  const memory = new Map<string, unknown>();
  const adapter: CacheAdapter = {
    async get(key) {
      return memory.get(key.join(':')) ?? null;
    },
    async set(key, value) {
      memory.set(key.join(':'), value);
    },
    async del(key) {
      memory.delete(key.join(':'));
    },
  };
  withCache(adapter, { autoInvalidate: false }).withCache(User);
  const redisLike = {
    get: async (_k: string) => null,
    set: async (_k: string, _v: string, ..._rest: any[]) => 'OK',
    del: async (..._keys: string[]) => 0,
    scan: async (_c: string, ..._rest: any[]): Promise<[string, string[]]> => ['0', []],
  };
  withCache(new IORedisAdapter({ client: redisLike, namespace: 'app-cache', lifetime: 3600 }));
  const redis = new RedisCache({ url: 'redis://127.0.0.1:6379', namespace: 'app', commandTimeoutMs: 250, l1: { ttlSeconds: 2 } });
  new RedisCache({ nodes: ['127.0.0.1:7000'], l1: false });
  const transport: 'event-loop' | 'tokio' = redis.transport;
  // @ts-expect-error: transport is read-only
  redis.transport = 'tokio';
  void transport;
  new RedisCache({ url: 'rediss://cache.internal:6380', tls: { ca: '-----BEGIN CERTIFICATE-----' } });
  const momento: MomentoCache = MomentoClientGenerator.getInstance({
    configuration: Configurations.Laptop.latest(),
    credentialProvider: CredentialProvider.fromEnvironmentVariable({ environmentVariableName: 'MOMENTO_API_KEY' }),
    defaultTtlSeconds: 60,
    modelCacheName: 'my-model-cache',
    forceCreateCache: true,
  });
  await momento.ready;
  const other = MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: 'k', endpoint: 'cell-1.example.com' }, l1: false, compressionType: 'NONE' });
  other.breaker().phase;
  // @ts-expect-error: l1 is an object or false
  MomentoClientGenerator.newInstance({ l1: true });
  await (await modelCacheFactory(momento)).wrap(User).findByPk(1);
  const phase: 'closed' | 'open' | 'probing' = redis.breaker().phase;
  await modelCacheFactory(redis);
  await redis.quit();
  void phase;
  await client.close();
  void [first, n, total, created, key, hits, invalidates];
}
