// Public typings of sequelize-native-cache. Hand-written: the generated binding typings
// (js/binding/index.d.ts) describe the internal engine and are not part of the API.

import type {
  Attributes,
  BulkCreateOptions,
  CountOptions,
  CreateOptions,
  CreationAttributes,
  DestroyOptions,
  FindAndCountOptions,
  FindOptions,
  Identifier,
  InstanceDestroyOptions,
  InstanceUpdateOptions,
  Model,
  ModelStatic,
  SaveOptions,
  UpdateOptions,
  UpsertOptions,
} from 'sequelize';

/** Levels understood by {@link LoggerFactory.createLogger}, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Any logger with these four methods works (pino, for instance). */
export interface Logger {
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

export declare const LoggerFactory: {
  /** A console logger printing `logLevel` and above (default `info`). */
  createLogger(options?: { logLevel?: LogLevel }): Logger;
};

/** The seed's compression setting. The in-process tier stores values uncompressed. */
export declare const CompressionType: {
  readonly NONE: 'NONE';
  readonly ZLIB: 'ZLIB';
  readonly ZSTD: 'ZSTD';
};
export type CompressionType = (typeof CompressionType)[keyof typeof CompressionType];

/** Counters of one (model, method) pair. */
export interface MethodStats {
  /** Calls answered by a cache tier (in-process or network). */
  hits: number;
  /** Calls the database answered after the cache was consulted. */
  misses: number;
  /** Calls that went to the database without touching the cache. */
  bypasses: number;
  /** Database results stored (in the network tier, for network clients). */
  fills: number;
  /** Database results not stored because an invalidation overtook the read. */
  fillsRejected: number;
  /** Entries that failed to decode (dropped, counted as misses). */
  corrupt: number;
  /** Bypasses by reason: transaction, lock, skipLocked, useMaster, hooks, unkeyable:*, unstorable, value-too-large. */
  bypassReasons: Record<string, number>;
  /** Per tier: `memory` (the in-process tier or L1) and, for network clients, `remote`. */
  tiers: { memory: TierStats; remote?: TierStats };
}

export interface CacheStats extends MethodStats {
  /** Entries removed to stay under `maxBytes`. */
  evictions: number;
  /** Entries removed because their TTL passed. */
  expirations: number;
  /** Entries held now. */
  entries: number;
  /** Bytes held now (keys, values and per-entry overhead). */
  bytes: number;
  /** Table generations tracked (tables this process read or wrote). */
  tables: number;
  /** Writes whose tables could not be told, so every table of their Sequelize instance was invalidated. */
  conservativeInvalidations: number;
  /** Per model name, per method. */
  models: Record<string, Record<string, MethodStats>>;
}

/** Lookups of one tier: each tier a call reached counts once. */
export interface TierStats {
  hits: number;
  misses: number;
  fills: number;
}

export type ReadMethod = 'findByPk' | 'findOne' | 'findAll' | 'count' | 'findAndCountAll';

/** What every cache client offers. */
export declare abstract class CacheClient {
  /** Counters, in total and per model and method. */
  stats(): CacheStats;
  /** Removes every entry; reads in flight do not refill. */
  clear(): void;
  /** Makes every cached read that touches the model's table stale, in O(1). */
  invalidateModel(model: ModelStatic<any>): void;
  /** The key `Model[method](...args)` would use, or null when that call bypasses the cache. */
  keyFor(model: ModelStatic<any>, method: ReadMethod, ...args: unknown[]): string | null;
  /** Releases the client. */
  close(): Promise<void>;
}

export interface MemoryCacheOptions {
  /** Upper bound in bytes (keys + values + overhead). Default 64 MiB. */
  maxBytes?: number;
  /** TTL of entries stored without one, in seconds. Default 60. */
  defaultTtlSeconds?: number;
  /** Key prefix. Default `model-cache`. */
  modelCacheName?: string;
}

/** The embedded client: an in-process tier (Rust, moka) bounded in bytes. */
export declare class MemoryCache extends CacheClient {
  constructor(options?: MemoryCacheOptions);
  readonly modelCacheName: string;
  readonly defaultTtlSeconds: number;
  readonly maxBytes: number;
}

export interface RedisCacheOptions {
  /** `redis://` or `rediss://` (TLS) `[user:password@]host:port[/db]`. Give `url` or `nodes`. */
  url?: string;
  /** A Redis Cluster's nodes (`host:port` or `redis://` URLs). */
  nodes?: string[];
  /** Key prefix, so apps sharing a Redis never meet (default `snc`). */
  namespace?: string;
  /** TTL of entries stored without one, in seconds (default 60). */
  defaultTtlSeconds?: number;
  /**
   * The in-process tier in front of Redis (default `{ maxBytes: 32 MiB, ttlSeconds: 5 }`), kept
   * coherent with every process's writes by pub/sub; `false` turns it off.
   */
  l1?: { maxBytes?: number; ttlSeconds?: number } | false;
  /** Default 2000. */
  connectTimeoutMs?: number;
  /** Default 250. A command that takes longer counts as failed; the database answers. */
  commandTimeoutMs?: number;
  /** Values of at least this many bytes are stored LZ4-compressed (default 16384; 0 never). */
  compressAboveBytes?: number;
  /** Results larger than this are not cached (default 4 MiB). */
  maxValueBytes?: number;
  /** With `rediss://`: the CA certificate (PEM) to trust instead of the system's roots. */
  tls?: { ca: string | Buffer };
  /**
   * Sign every stored value with HMAC-SHA-256 under `key` (at least 32 bytes); `false`: none.
   * Default: the SNC_INTEGRITY_KEY environment variable, when set.
   */
  integrity?: IntegrityOption;
}

/** `{ key }` (a Buffer or string of at least 32 bytes) signs stored values; `false` turns signing off. */
export type IntegrityOption = { key: Buffer | Uint8Array | string } | false;

/** Redis (or a Redis Cluster) through the Rust core, with timeouts and a circuit breaker. */
export declare class RedisCache extends CacheClient {
  constructor(options: RedisCacheOptions);
  readonly namespace: string;
  readonly defaultTtlSeconds: number;
  /**
   * What carries this client's commands: `event-loop` (a single node, on the calling thread's
   * libuv loop) or `tokio` (a cluster, SNC_REDIS_TRANSPORT=tokio, or a runtime without libuv).
   */
  readonly transport: 'event-loop' | 'tokio';
  /** The circuit breaker's phase and how often it changed. */
  breaker(): { phase: 'closed' | 'open' | 'probing'; changes: number };
  /** Same as close(). */
  quit(): Promise<void>;
}

/** The seed's compression setting: NONE never compresses; ZLIB and ZSTD compress long values (LZ4 frames). */
export type CompressionTypeName = 'NONE' | 'ZLIB' | 'ZSTD';

/** A credential provider as @gomomento/sdk makes them (duck-typed: the SDK is not required). */
export interface MomentoCredentialProvider {
  getAuthToken(): string;
  getCacheEndpoint?(): string | undefined;
}

export interface MomentoClientProps {
  /** A configuration preset (`Configurations.Laptop.latest()`, ours or the SDK's); it sets the request timeout. */
  configuration?: object;
  /** The SDK's provider, or `{ apiKey, endpoint }`. Default: the MOMENTO_API_KEY environment variable. */
  credentialProvider?: MomentoCredentialProvider | { apiKey: string; endpoint?: string };
  /** TTL of entries, in seconds (default 60; above 24 h it is clamped, with one warning). */
  defaultTtlSeconds?: number;
  /** The Momento cache to use, and the key prefix (default `model-cache`). */
  modelCacheName?: string;
  /** Create the cache if missing (through @gomomento/sdk when installed; otherwise one warning). */
  forceCreateCache?: boolean;
  /** A cell host, cache host or https URL (a loopback http URL for tests). Overrides MOMENTO_ENDPOINT and the key's own. */
  endpoint?: string;
  /** Prefix of this package's keys inside the cache (default `snc`). */
  namespace?: string;
  /**
   * The in-process tier in front of Momento (default `{ maxBytes: 32 MiB, ttlSeconds: 1 }`). Its TTL
   * bounds how long another process's write can go unseen; `false` turns it off.
   */
  l1?: { maxBytes?: number; ttlSeconds?: number } | false;
  /** Default: the configuration's deadline, else 1000. */
  requestTimeoutMs?: number;
  /** Requests in flight at most (default 64). */
  maxConcurrentRequests?: number;
  /** Default ZSTD (values of compressAboveBytes or more are compressed); NONE turns compression off. */
  compressionType?: CompressionTypeName;
  /** Default 16384. */
  compressAboveBytes?: number;
  /** Results larger than this are not cached (default 4 MiB, at most 5 MB: Momento's item limit). */
  maxValueBytes?: number;
  /** Where warnings at construction go (default: the console, warn and above). */
  /** As RedisCache's `integrity`: sign every stored value (default: SNC_INTEGRITY_KEY, when set). */
  integrity?: IntegrityOption;
  logger?: Logger;
}

/** Momento through its HTTP API, called by the Rust core, with an in-process L1 in front. */
export declare class MomentoCache extends CacheClient {
  readonly modelCacheName: string;
  readonly defaultTtlSeconds: number;
  /** Settles when forceCreateCache has created the cache or given up (logged). */
  readonly ready: Promise<void>;
  /** The circuit breaker's phase and how often it changed. */
  breaker(): { phase: 'closed' | 'open' | 'probing'; changes: number };
}

export declare const MomentoClientGenerator: {
  /** The process's client, made on the first call; a later call with other props logs a warning. */
  getInstance(props?: MomentoClientProps): MomentoCache;
  /** A separate client. */
  newInstance(props?: MomentoClientProps): MomentoCache;
};

/** Stand-ins for @gomomento/sdk's presets, for apps without the SDK. */
export declare const Configurations: {
  Laptop: { latest(): object; v1(): object };
  InRegion: { Default: { latest(): object; v1(): object }; LowLatency: { latest(): object; v1(): object } };
  Lambda: { latest(): object; v1(): object };
};

/** Stand-ins for @gomomento/sdk's credential providers, for apps without the SDK. */
export declare const CredentialProvider: {
  fromEnvironmentVariable(options: { environmentVariableName: string }): MomentoCredentialProvider;
  fromString(options: { apiKey?: string; authToken?: string }): MomentoCredentialProvider;
};

/** A cached result: attributes (nested includes too) and `get()` can be read; nothing else. */
export type ReadOnly<M extends Model> = Readonly<Attributes<M>> & {
  get<K extends keyof Attributes<M>>(key: K): Attributes<M>[K];
  get(key: string): unknown;
  get(options: { plain: true }): Attributes<M>;
  toJSON(): object;
};

/** The model with its read methods served from the cache. */
export type CachedModel<M extends Model> = CachedReads<M> & ModelStatic<M>;

/** The read methods of a wrapped model (listed first so their overloads win). */
export interface CachedReads<M extends Model> {
  findByPk(identifier?: Identifier, options?: Omit<FindOptions<any>, 'where'>): Promise<ReadOnly<M> | null>;
  findOne(options?: FindOptions<any>): Promise<ReadOnly<M> | null>;
  findAll(options?: FindOptions<any>): Promise<ReadonlyArray<ReadOnly<M>>>;
  count(options: CountOptions<any> & { group: unknown }): Promise<ReadonlyArray<Record<string, unknown>>>;
  count(options?: CountOptions<any>): Promise<number>;
  findAndCountAll(options?: FindAndCountOptions<any>): Promise<{ readonly count: number; readonly rows: ReadonlyArray<ReadOnly<M>> }>;
}

export interface WrapOptions {
  /** TTL of entries this wrapper stores, in seconds (default: the client's). */
  ttl?: number;
}

export interface ModelCache {
  readonly compressionType: CompressionType;
  readonly autoInvalidate: boolean;
  /** A view of the model whose read methods go through the cache; other statics pass through. */
  wrap<M extends Model>(model: ModelStatic<M>, options?: WrapOptions): CachedModel<M>;
}

export interface ModelCacheFactoryOptions {
  logger?: Logger;
  compressionType?: CompressionType;
  /** Invalidate on every write through Sequelize (default true). */
  autoInvalidate?: boolean;
}

/** The Momento wrapper's entry point. The second argument is a logger or `{ logger, compressionType }`. */
export declare function modelCacheFactory(client: CacheClient, loggerOrOptions?: Logger | ModelCacheFactoryOptions): Promise<ModelCache>;

// ---- withCache (sequelize-memory-clone / sequelize-transparent-cache style) ----------------------

export interface WithCacheOptions {
  /** TTL of entries, in seconds (default: the client's). */
  ttl?: number;
  /** How long an absent findByPk row is remembered, in seconds; 0 never (default 5). */
  negativeTtl?: number;
  /** Invalidate on every write through Sequelize (default true). */
  autoInvalidate?: boolean;
  /** After an instance write, re-read the row into its entity entry (default true; one SELECT per write). */
  writeThrough?: boolean;
  /** With an adapter: sign its entries (default: SNC_INTEGRITY_KEY, when set; `false`: none). */
  integrity?: IntegrityOption;
  /** With an adapter: the deadline of each call on it, in milliseconds (default 250, at most 600000). */
  adapterTimeoutMs?: number;
  logger?: Logger;
}

/** `Model.cache()`: reads through the cache, writes through to it. Results are living instances. */
export interface CacheMethods<M extends Model> {
  /** What was passed to withCache(): a client or an adapter. */
  client(): CacheClient | CacheAdapter | TransparentCacheAdaptor;
  /** One row by primary key; a composite key is an object of its key columns. */
  findByPk(identifier: Identifier | Record<string, unknown>, options?: Omit<FindOptions<Attributes<M>>, 'where'>): Promise<M | null>;
  /** sequelize-transparent-cache's name for findByPk. */
  findById(identifier: Identifier | Record<string, unknown>, options?: Omit<FindOptions<Attributes<M>>, 'where'>): Promise<M | null>;
  findOne(options?: FindOptions<Attributes<M>>): Promise<M | null>;
  findAll(options?: FindOptions<Attributes<M>>): Promise<M[]>;
  findAndCountAll(options?: FindAndCountOptions<Attributes<M>>): Promise<{ rows: M[]; count: number }>;
  count(options?: CountOptions<Attributes<M>>): Promise<number>;
  create(values?: CreationAttributes<M>, options?: CreateOptions<Attributes<M>>): Promise<M>;
  bulkCreate(records: ReadonlyArray<CreationAttributes<M>>, options?: BulkCreateOptions<Attributes<M>>): Promise<M[]>;
  update(values: Partial<Attributes<M>>, options: UpdateOptions<Attributes<M>>): Promise<[affectedCount: number]>;
  upsert(values: CreationAttributes<M>, options?: UpsertOptions<Attributes<M>>): Promise<[M, boolean | null]>;
  /** sequelize-transparent-cache's name for upsert. */
  insertOrUpdate(values: CreationAttributes<M>, options?: UpsertOptions<Attributes<M>>): Promise<[M, boolean | null]>;
  destroy(options?: DestroyOptions<Attributes<M>>): Promise<number>;
  /** Drops every cached entity and query of the model (a promise with an adapter). */
  clear(): void | Promise<void>;
  /** Drops every cached query of the model; entities stay (a promise with an adapter). */
  clearAllModelQueries(): void | Promise<void>;
}

/** `Model.cache('key')`: a query cached under a name you choose. */
export interface NamedQueryCacheMethods<M extends Model> {
  /** What was passed to withCache(): a client or an adapter. */
  client(): CacheClient | CacheAdapter | TransparentCacheAdaptor;
  findAll(options?: FindOptions<Attributes<M>>): Promise<M[]>;
  findOne(options?: FindOptions<Attributes<M>>): Promise<M | null>;
  findAndCountAll(options?: FindAndCountOptions<Attributes<M>>): Promise<{ rows: M[]; count: number }>;
  count(options?: CountOptions<Attributes<M>>): Promise<number>;
  /** Drops this name's cached results (a promise with an adapter). */
  clear(): void | Promise<void>;
}

/** `instance.cache()`: writes that keep the entity entry fresh. */
export interface InstanceCacheMethods<M extends Model> {
  /** What was passed to withCache(): a client or an adapter. */
  client(): CacheClient | CacheAdapter | TransparentCacheAdaptor;
  save(options?: SaveOptions<Attributes<M>>): Promise<M>;
  update(values: Partial<Attributes<M>>, options?: InstanceUpdateOptions<Attributes<M>>): Promise<M>;
  /** Reads the row from the database (never the cache) and rewrites its entity entry. */
  reload(options?: FindOptions<Attributes<M>>): Promise<M>;
  destroy(options?: InstanceDestroyOptions): Promise<void>;
  /** Drops this instance's entity entry (a promise with an adapter). */
  clear(): void | Promise<void>;
}

export interface CacheOptions {
  customKey?: string;
  /** TTL of the entries this call stores, in seconds. */
  ttl?: number;
}

/** What `withCache(client).withCache(Model)` adds to the model. */
export interface CachedStatics<M extends Model> {
  cache(): CacheMethods<M>;
  cache(options: CacheOptions & { customKey?: undefined }): CacheMethods<M>;
  cache(key: string, options?: { ttl?: number }): NamedQueryCacheMethods<M>;
  cache(options: CacheOptions & { customKey: string }): NamedQueryCacheMethods<M>;
}

export interface CacheWrapper {
  /** Adds `cache()` to the model and its instances; returns the same class. */
  withCache<S extends ModelStatic<any>>(model: S): S & CachedStatics<InstanceType<S>>;
  /** With an adapter: its circuit breaker's phase and how often it changed (absent with a client). */
  breaker?(): { phase: 'closed' | 'open' | 'probing'; changes: number };
}

/** The seed's adapter interface (sequelize-memory-clone). Used as is: get, set and del. */
export interface CacheAdapter {
  get(key: string[]): Promise<any | null>;
  set(key: string[], value: any, options?: { lifetime?: number }): Promise<void>;
  del(key: string[]): Promise<void>;
  delModelQueries?(modelName: string): Promise<void>;
  addQueryKey?(modelName: string, queryKey: string[]): Promise<void>;
}

/** A sequelize-transparent-cache adaptor: the same, with `set`'s lifetime named `ttl`. */
export interface TransparentCacheAdaptor {
  get(key: string[]): Promise<any>;
  set(key: string[], value: any, options?: { ttl?: number }): Promise<any>;
  del(key: string[]): Promise<any>;
}

/** An ioredis client, as far as IORedisAdapter uses it. */
export interface IORedisLike {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ...args: any[]): Promise<unknown>;
  del(...keys: string[]): Promise<number>;
  scan(cursor: string, ...args: any[]): Promise<[string, string[]]>;
}

export interface IORedisAdapterOptions {
  client: IORedisLike;
  namespace?: string;
  /** Default expiry, in seconds. */
  lifetime?: number;
}

/** The seed's CacheAdapter over your ioredis client: keys `namespace:Model:pk` and `namespace:Model:query:<key>`. */
export declare class IORedisAdapter implements CacheAdapter {
  constructor(options: IORedisAdapterOptions);
  readonly namespace?: string;
  readonly lifetime?: number;
  key(parts: string[]): string;
  get(key: string[]): Promise<any | null>;
  set(key: string[], value: any, options?: { lifetime?: number }): Promise<void>;
  del(key: string[]): Promise<void>;
  delModelQueries(modelName: string): Promise<void>;
  addQueryKey(modelName: string, queryKey: string[]): Promise<void>;
}

/** The sequelize-memory-clone entry point: `const { withCache: cacheWrapper } = withCache(client)`. */
export declare function withCache(
  client: CacheClient | CacheAdapter | TransparentCacheAdaptor,
  options?: WithCacheOptions,
): CacheWrapper;

/**
 * The module itself, called as `withCache` (as sequelize-transparent-cache's module is), with every
 * export as a property: `require('sequelize-native-cache')(adaptor).withCache(User)`.
 */
declare const sequelizeNativeCache: typeof withCache & {
  withCache: typeof withCache;
  modelCacheFactory: typeof modelCacheFactory;
  MemoryCache: typeof MemoryCache;
  RedisCache: typeof RedisCache;
  MomentoCache: typeof MomentoCache;
  MomentoClientGenerator: typeof MomentoClientGenerator;
  IORedisAdapter: typeof IORedisAdapter;
  LoggerFactory: typeof LoggerFactory;
  CompressionType: typeof CompressionType;
};
export default sequelizeNativeCache;

declare module 'sequelize' {
  interface Model {
    /** Present once the model went through `withCache(...).withCache(Model)`. */
    cache(): InstanceCacheMethods<this>;
  }
}
