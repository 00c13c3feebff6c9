// Public typings of sequelize-native-cache. Hand-written: the generated binding typings
// (js/binding/index.d.ts) describe the internal engine and are not part of the API.

import type { Attributes, CountOptions, FindAndCountOptions, FindOptions, Identifier, Model, ModelStatic } from 'sequelize';

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
  hits: number;
  misses: number;
  /** Calls that went to the database without touching the cache. */
  bypasses: number;
  /** Database results stored. */
  fills: number;
  /** Database results not stored because an invalidation overtook the read. */
  fillsRejected: number;
  /** Entries that failed to decode (dropped, counted as misses). */
  corrupt: number;
  /** Bypasses by reason: transaction, lock, skipLocked, useMaster, hooks, unkeyable:*, unstorable. */
  bypassReasons: Record<string, number>;
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
  /** Per model name, per method. */
  models: Record<string, Record<string, MethodStats>>;
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
