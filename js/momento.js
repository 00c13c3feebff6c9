'use strict';
// Momento: `MomentoClientGenerator.getInstance(props)` as in @gomomento-poc/momento-sequelize-cache,
// returning a MomentoCache — a client whose entries live in a Momento cache, reached through
// Momento's HTTP API by the Rust core (src/tier/momento.rs). This module resolves credentials and
// props; the tier logic is the shared one (remote/generations.js over remote/batch.js).
//
// Momento's HTTP API has no subscription, so the in-process L1 in front of it cannot be told of
// other processes' writes: it is kept short (1 s by default) and that TTL bounds how long another
// process's write can go unseen. Writes made in this process reach its own L1 at once.

const { createHash } = require('node:crypto');
const { NetworkClient, l1Option, DEFAULT_TTL_SECONDS, DEFAULT_COMPRESS_ABOVE_BYTES, DEFAULT_MAX_VALUE_BYTES } = require('./clients');
const { NativeAdapter } = require('./remote/batch');
const { CompressionType, compressionTypeOf } = require('./model-cache');
const { OnceLogger, defaultLogger } = require('./logger');
const native = require('./native');
const { checkKeys, ownProperties, positiveInteger, nonNegativeInteger, nonEmptyString, optionalBoolean, optionalLogger, ttlSeconds, timeoutMs, integrityKey, describe } = require('./options');

const WHERE = 'MomentoClientGenerator';
const DEFAULT_CACHE_NAME = 'model-cache';
const DEFAULT_L1_TTL_SECONDS = 1;
const DEFAULT_REQUEST_TIMEOUT_MS = 1000;
const DEFAULT_MAX_CONCURRENT_REQUESTS = 64;
/** Momento's limits (src/limits.rs): an item (key and value) of 5 MB, a TTL of 24 h. */
const { MOMENTO_MAX_ITEM_BYTES: MAX_ITEM_BYTES, MOMENTO_MAX_TTL_SECONDS: MAX_TTL_SECONDS, MAX_CONCURRENT_REQUESTS } = native.limits;

const PROPS = [
  'configuration',
  'credentialProvider',
  'defaultTtlSeconds',
  'modelCacheName',
  'forceCreateCache',
  'endpoint',
  'namespace',
  'l1',
  'requestTimeoutMs',
  'maxConcurrentRequests',
  'compressionType',
  'compressAboveBytes',
  'maxValueBytes',
  'integrity',
  'logger',
  // @gomomento/sdk's own client props, which the Momento wrapper passes through: accepted and
  // unused (the HTTP API connects on first use).
  'eagerConnectTimeout',
];

/** Decodes base64 or base64url text, or returns undefined. */
function fromBase64(text) {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return undefined;
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
}

/**
 * The API key to send and the endpoint it carries, if any. A v1 key is base64 of
 * `{"api_key": "<jwt>", "endpoint": "<cell-host>"}`; a v2 key (or a legacy token) is a JWT, and a
 * legacy token names its cache host in the `c` claim. Anything else is a TypeError that never
 * repeats the key.
 */
function parseApiKey(where, source, key) {
  if (typeof key !== 'string' || key.trim() === '') throw new TypeError(`${where}: the API key from ${source} is empty or not a string`);
  key = key.trim();
  const parts = key.split('.');
  if (parts.length === 3 && parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) {
    let claims;
    try {
      claims = JSON.parse(fromBase64(parts[1]) ?? 'null');
    } catch {
      claims = null;
    }
    // A legacy token names its cache host in `c` (and its control host, `control.<cell>`, in `cp`).
    let endpoint;
    if (claims !== null && typeof claims === 'object') {
      if (typeof claims.c === 'string' && claims.c !== '') endpoint = claims.c;
      else if (typeof claims.cp === 'string' && claims.cp !== '') endpoint = claims.cp.replace(/^control\./, '');
    }
    return { token: key, endpoint };
  }
  let v1;
  try {
    v1 = JSON.parse(fromBase64(key) ?? 'null');
  } catch {
    v1 = null;
  }
  if (v1 !== null && typeof v1 === 'object' && typeof v1.api_key === 'string' && v1.api_key !== '') {
    // Sent as a header, which cannot carry these (a JWT cannot hold them): every request would fail.
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(v1.api_key)) throw new TypeError(`${where}: the API key from ${source} holds a control character in its api_key, which cannot be sent`);
    return { token: v1.api_key, endpoint: typeof v1.endpoint === 'string' && v1.endpoint !== '' ? v1.endpoint : undefined };
  }
  throw new TypeError(`${where}: the API key from ${source} could not be parsed (expected a Momento v1 key or a JWT)`);
}

/**
 * The HTTP API's base URL for an endpoint given as a cell host (`cell-1.prod.a.momentohq.com`), a
 * cache host (`cache.cell-...`, what the SDK's getCacheEndpoint() returns), an API host
 * (`api.cache.cell-...`), or a full URL (used as is; plain http only for loopback hosts).
 */
function baseUrlOf(where, source, endpoint) {
  if (typeof endpoint !== 'string' || endpoint.trim() === '') throw new TypeError(`${where}: endpoint (from ${source}) must be a host name, got ${describe(endpoint)}`);
  const e = endpoint.trim();
  if (e.includes('://')) {
    let u;
    try {
      u = new URL(e);
    } catch {
      throw new TypeError(`${where}: endpoint (from ${source}) is not a valid URL: ${JSON.stringify(e)}`);
    }
    const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(u.hostname);
    if (u.protocol === 'http:' && !loopback) throw new TypeError(`${where}: endpoint (from ${source}): plain http:// is accepted only for loopback hosts; use https://`);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`${where}: endpoint (from ${source}) must be an http(s) URL or a host name, got ${JSON.stringify(e)}`);
    // WHATWG URL refuses ports above 65535 but reads :0.
    if (u.port === '0') throw new TypeError(`${where}: endpoint (from ${source}): the port must be from 1 to 65535, got 0`);
    return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
  }
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:\d{1,5})?$/.test(e)) {
    throw new TypeError(`${where}: endpoint (from ${source}) must be a host name, got ${JSON.stringify(e)}`);
  }
  const [name, port] = e.split(':');
  if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) {
    throw new TypeError(`${where}: endpoint (from ${source}): the port must be from 1 to 65535, got ${port}`);
  }
  // A last label of digits makes a URL parser read the host as IPv4 (and fail on api.cache.<ip>).
  if (/^\d+$/.test(name.slice(name.lastIndexOf('.') + 1))) {
    throw new TypeError(`${where}: endpoint (from ${source}) must be a host name, got ${JSON.stringify(e)} (for an IP address, give a full URL such as https://10.0.0.5)`);
  }
  const host = e.startsWith('api.cache.') ? e : e.startsWith('cache.') ? `api.${e}` : `api.cache.${e}`;
  const hostName = host.split(':')[0];
  if (hostName.length > 253 || hostName.split('.').some((l) => l.length > 63)) {
    throw new TypeError(`${where}: endpoint (from ${source}) must be a host name of at most 253 characters (with api.cache.), in labels of at most 63, got one of ${e.length} characters`);
  }
  return `https://${host}`;
}

/**
 * The token and base URL from `credentialProvider` (the SDK's, duck-typed through getAuthToken()
 * and getCacheEndpoint(); or `{ apiKey, endpoint }`) or the environment (MOMENTO_API_KEY). The
 * endpoint is the first of: the `endpoint` prop, MOMENTO_ENDPOINT, the provider's, the key's own.
 */
function resolveCredentials(where, props, env = process.env) {
  const cp = props.credentialProvider;
  let key;
  let source;
  let providerEndpoint;
  if (cp === undefined) {
    key = env.MOMENTO_API_KEY;
    source = 'the MOMENTO_API_KEY environment variable';
    if (key === undefined || key === '') {
      throw new TypeError(`${where}: no credentials: pass credentialProvider (from @gomomento/sdk, or { apiKey, endpoint }) or set MOMENTO_API_KEY`);
    }
  } else if (cp !== null && typeof cp === 'object' && typeof cp.getAuthToken === 'function') {
    source = 'credentialProvider.getAuthToken()';
    try {
      key = cp.getAuthToken();
      providerEndpoint = typeof cp.getCacheEndpoint === 'function' ? cp.getCacheEndpoint() : undefined;
    } catch (err) {
      // The provider's own message may hold the key: only a scrubbed snippet of it.
      throw new TypeError(`${where}: credentialProvider failed: ${native.scrubText(String(err && err.message), [])}`);
    }
    // Newer SDKs may describe the endpoint as an object; only a host string is usable here.
    if (providerEndpoint !== null && typeof providerEndpoint === 'object' && typeof providerEndpoint.endpoint === 'string') providerEndpoint = providerEndpoint.endpoint;
    if (typeof providerEndpoint !== 'string' || providerEndpoint === '') providerEndpoint = undefined;
  } else if (cp !== null && typeof cp === 'object' && !Array.isArray(cp)) {
    const o = checkKeys(`${where}: credentialProvider`, ownProperties(cp), ['apiKey', 'endpoint']);
    key = o.apiKey;
    source = 'credentialProvider.apiKey';
    if (key === undefined) throw new TypeError(`${where}: credentialProvider.apiKey is required in { apiKey, endpoint }`);
    providerEndpoint = o.endpoint;
    if (providerEndpoint !== undefined) baseUrlOf(where, 'credentialProvider.endpoint', providerEndpoint);
  } else {
    // Never echo a string here: it is most likely the key itself.
    const got = typeof cp === 'string' ? 'a string (for a key, pass { apiKey } or CredentialProvider.fromString({ apiKey }))' : describe(cp);
    throw new TypeError(`${where}: credentialProvider must be a Momento credential provider or { apiKey, endpoint }, got ${got}`);
  }
  const parsed = parseApiKey(where, source, key);
  const candidates = [
    ['endpoint', props.endpoint],
    ['the MOMENTO_ENDPOINT environment variable', env.MOMENTO_ENDPOINT || undefined],
    ['the credential provider', providerEndpoint],
    ['the API key', parsed.endpoint],
  ];
  const chosen = candidates.find(([, v]) => v !== undefined);
  if (chosen === undefined) {
    throw new TypeError(`${where}: no endpoint: this API key carries none; pass endpoint or set MOMENTO_ENDPOINT (e.g. cell-4-us-west-2-1.prod.a.momentohq.com)`);
  }
  return { token: parsed.token, baseUrl: baseUrlOf(where, chosen[0], chosen[1]), endpointSource: chosen[0] };
}

/**
 * A request timeout from a configuration preset: ours, or the SDK's (duck-typed); checked like
 * requestTimeoutMs (the core would turn NaN, Infinity or a negative number into 1 ms).
 */
function timeoutOf(where, configuration) {
  if (configuration === undefined || configuration === null) return undefined;
  if (configuration.requestTimeoutMs !== undefined) {
    return timeoutMs(where, 'configuration.requestTimeoutMs', configuration.requestTimeoutMs, undefined);
  }
  let ms;
  try {
    ms = configuration.getTransportStrategy().getGrpcConfig().getDeadlineMillis();
  } catch {
    return undefined;
  }
  return typeof ms === 'number' ? timeoutMs(where, "configuration's deadline (getDeadlineMillis())", ms, undefined) : undefined;
}

/**
 * The validated settings of `props`, and their fingerprint (what getInstance compares to notice a
 * second call with other props; it holds no secret). Throws a TypeError naming a bad prop.
 */
function settingsOf(props, where) {
  const o = checkKeys(where, ownProperties(props), PROPS);
  if (o.configuration !== undefined && (o.configuration === null || typeof o.configuration !== 'object')) {
    throw new TypeError(`${where}: configuration must be a configuration object (e.g. Configurations.Laptop.latest()), got ${describe(o.configuration)}`);
  }
  const { token, baseUrl, endpointSource } = resolveCredentials(where, o);
  const ttl = ttlSeconds(where, 'defaultTtlSeconds', o.defaultTtlSeconds, DEFAULT_TTL_SECONDS);
  const cacheName = nonEmptyString(where, 'modelCacheName', o.modelCacheName, DEFAULT_CACHE_NAME);
  const namespace = nonEmptyString(where, 'namespace', o.namespace, 'snc');
  const forceCreateCache = optionalBoolean(where, 'forceCreateCache', o.forceCreateCache, false);
  const logger = optionalLogger(where, o.logger, undefined) ?? defaultLogger();
  const l1 = l1Option(where, o.l1 === undefined ? Object.create(null) : ownProperties(o.l1), DEFAULT_L1_TTL_SECONDS);
  const requestTimeoutMs = timeoutMs(where, 'requestTimeoutMs', o.requestTimeoutMs, undefined) ?? timeoutOf(where, o.configuration) ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const maxConcurrentRequests = positiveInteger(where, 'maxConcurrentRequests', o.maxConcurrentRequests, DEFAULT_MAX_CONCURRENT_REQUESTS, MAX_CONCURRENT_REQUESTS);
  const compressionType = compressionTypeOf(where, o.compressionType, CompressionType.ZSTD);
  if (o.eagerConnectTimeout !== undefined) timeoutMs(where, 'eagerConnectTimeout', o.eagerConnectTimeout, undefined);
  let compressAboveBytes = nonNegativeInteger(where, 'compressAboveBytes', o.compressAboveBytes, DEFAULT_COMPRESS_ABOVE_BYTES, MAX_ITEM_BYTES, ' bytes (0: never compress)');
  if (compressionType === CompressionType.NONE) compressAboveBytes = 0;
  const maxValueBytes = positiveInteger(where, 'maxValueBytes', o.maxValueBytes, DEFAULT_MAX_VALUE_BYTES, MAX_ITEM_BYTES, " bytes (Momento's item limit)");
  const key = integrityKey(where, ownProperties(o.integrity));
  const fingerprint = JSON.stringify([baseUrl, cacheName, namespace, ttl, l1, requestTimeoutMs, maxConcurrentRequests, compressAboveBytes, maxValueBytes, hashOf(token), key && hashOf(key)]);
  return { props: o, token, baseUrl, endpointSource, ttl, cacheName, namespace, forceCreateCache, logger, l1, requestTimeoutMs, maxConcurrentRequests, compressAboveBytes, maxValueBytes, integrityKey: key, fingerprint };
}

/**
 * A client whose entries live in a Momento cache, with an in-process L1 in front (short TTL).
 * Construct it through MomentoClientGenerator.
 */
class MomentoCache extends NetworkClient {
  constructor(props, where = WHERE) {
    super();
    const c = settingsOf(props, where);
    const log = new OnceLogger(c.logger);
    if (c.ttl > MAX_TTL_SECONDS) log.warn('cache-ttl-clamped', { defaultTtlSeconds: c.ttl, maxTtlSeconds: MAX_TTL_SECONDS }, "defaultTtlSeconds is above Momento's 24 h limit; entries are stored for 24 h");
    const tier = createTier(where, c);
    // No subscription: the L1 is trusted from the start, and its short TTL bounds staleness.
    this.attachTier({
      tier,
      adapter: new NativeAdapter(tier, c.namespace),
      l1: c.l1,
      ttlSeconds: Math.min(c.ttl, MAX_TTL_SECONDS),
      prefix: c.cacheName,
      maxValueBytes: c.maxValueBytes,
      maxRemoteTtlMs: MAX_TTL_SECONDS * 1000,
      // Canonical queries at the Momento wrapper's keys, where its users look for them.
      wrapperKeys: true,
    });
    Object.defineProperty(this, kLog, { value: log });
    Object.defineProperty(this, kFingerprint, { value: c.fingerprint });
    this.modelCacheName = c.cacheName;
    this.defaultTtlSeconds = c.ttl;
    /** Settles when the cache exists or creating it was given up on (forceCreateCache). */
    this.ready = c.forceCreateCache ? createCache(c.cacheName, c.props, c.ttl, log) : Promise.resolve();
  }

  /** Stops using Momento; getInstance makes a new client after the process's one is closed. */
  async close() {
    if (instance === this) instance = undefined;
    return super.close();
  }
}

/**
 * The native tier. What it refuses was checked above, so a refusal here is a TypeError naming the
 * option all the same, scrubbed of the key; only the HTTP client's own failure stays an Error.
 */
function createTier(where, c) {
  try {
    return native.createMomento({
      baseUrl: c.baseUrl,
      cacheName: c.cacheName,
      apiKey: c.token,
      requestTimeoutMs: c.requestTimeoutMs,
      maxConcurrency: c.maxConcurrentRequests,
      compressAboveBytes: c.compressAboveBytes,
      maxValueBytes: c.maxValueBytes,
      integrityKey: c.integrityKey,
    });
  } catch (err) {
    const msg = native.scrubText(String(err && err.message), [c.token]);
    if (msg.startsWith('HTTP client:')) throw new Error(`${where}: ${msg}`);
    const endpoint = /^endpoint: ?(.*)$/s.exec(msg);
    throw new TypeError(endpoint ? `${where}: endpoint (from ${c.endpointSource}): ${endpoint[1]}` : `${where}: ${msg}`);
  }
}

const kFingerprint = Symbol('sequelize-native-cache.momento-fingerprint');
/** Where warnings outside a read go (getInstance's). */
const kLog = Symbol('sequelize-native-cache.momento-log');

function hashOf(text) {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** The key a provider or props hold, to scrub from messages that come from the SDK. */
function secretsOf(props) {
  try {
    const cp = props.credentialProvider;
    const key = cp === undefined ? process.env.MOMENTO_API_KEY : typeof cp.getAuthToken === 'function' ? cp.getAuthToken() : cp.apiKey;
    return typeof key === 'string' && key !== '' ? [key] : [];
  } catch {
    return [];
  }
}

/**
 * forceCreateCache: Momento's HTTP API cannot create caches, so this goes through @gomomento/sdk
 * when it is installed; otherwise it logs one warning saying the cache must exist.
 */
async function createCache(cacheName, props, ttl, log) {
  let sdk;
  try {
    sdk = require('@gomomento/sdk');
  } catch {
    log.warn(
      'cache-force-create',
      { modelCacheName: cacheName },
      `forceCreateCache: Momento's HTTP API cannot create caches and @gomomento/sdk is not installed; create the cache "${cacheName}" in the Momento console (until then every read goes to the database)`,
    );
    return;
  }
  try {
    if (props.credentialProvider === undefined || typeof props.credentialProvider.getAuthToken !== 'function') {
      throw new Error('forceCreateCache through @gomomento/sdk needs an SDK credentialProvider');
    }
    const client = await sdk.CacheClient.create({
      configuration: props.configuration ?? sdk.Configurations.Laptop.latest(),
      credentialProvider: props.credentialProvider,
      defaultTtlSeconds: Math.min(ttl, MAX_TTL_SECONDS),
    });
    const r = await client.createCache(cacheName);
    if (r instanceof sdk.CreateCache.Error) throw new Error(r.message());
    client.close();
  } catch (err) {
    log.warn('cache-force-create', { modelCacheName: cacheName, error: native.scrubText(String(err && err.message), secretsOf(props)) }, `forceCreateCache: could not create the cache "${cacheName}"; it must exist`);
  }
}

let instance;

const MomentoClientGenerator = {
  /**
   * The process's Momento client, created on first call. A later call with different props
   * returns the same client and logs a warning (use newInstance for a second client).
   */
  getInstance(props) {
    if (instance === undefined) {
      instance = new MomentoCache(props, `${WHERE}.getInstance`);
      return instance;
    }
    // Later calls only compare: the first client stands, whatever they pass.
    let differs;
    try {
      differs = settingsOf(props, `${WHERE}.getInstance`).fingerprint !== instance[kFingerprint];
    } catch (err) {
      differs = err.message;
    }
    if (differs) {
      instance[kLog].warn(
        'cache-instance',
        typeof differs === 'string' ? { error: differs } : {},
        'MomentoClientGenerator.getInstance was called again with different props; the first client is returned (use newInstance for another)',
      );
    }
    return instance;
  },

  /** A separate Momento client with its own connections and L1. */
  newInstance(props) {
    return new MomentoCache(props, `${WHERE}.newInstance`);
  },
};

/**
 * Stand-ins for @gomomento/sdk's `Configurations` and `CredentialProvider`, for apps that do not
 * install the SDK: the seed's code runs with `@gomomento/sdk` replaced by this package too.
 */
const preset = (name, requestTimeoutMs) => Object.freeze({ latest: () => Object.freeze({ name, requestTimeoutMs }), v1: () => Object.freeze({ name, requestTimeoutMs }) });
const Configurations = Object.freeze({
  Laptop: preset('Laptop', 5000),
  InRegion: Object.freeze({ Default: preset('InRegion.Default', 1100), LowLatency: preset('InRegion.LowLatency', 500) }),
  Lambda: preset('Lambda', 1100),
});

const CredentialProvider = Object.freeze({
  /** Reads the key from `environmentVariableName` now, like the SDK. */
  fromEnvironmentVariable({ environmentVariableName }) {
    const key = process.env[environmentVariableName];
    if (key === undefined || key === '') throw new TypeError(`CredentialProvider.fromEnvironmentVariable: ${environmentVariableName} is not set`);
    return CredentialProvider.fromString({ apiKey: key });
  },
  /** A provider over a key given as a string (`{ apiKey }`, or the SDK's older `{ authToken }`). */
  fromString({ apiKey, authToken }) {
    const key = apiKey ?? authToken;
    const parsed = parseApiKey('CredentialProvider.fromString', 'apiKey', key);
    const endpoint = parsed.endpoint === undefined || parsed.endpoint.includes('://') ? parsed.endpoint : `cache.${parsed.endpoint.replace(/^(api\.)?cache\./, '')}`;
    return Object.freeze({ getAuthToken: () => key, getCacheEndpoint: () => endpoint });
  },
});

module.exports = { MomentoCache, MomentoClientGenerator, Configurations, CredentialProvider };
