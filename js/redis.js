'use strict';
// RedisCache: entries and generation tokens in Redis (or a Redis Cluster), every command made by
// the Rust core, with the L1 in front kept coherent by pub/sub in Rust. A single node is served on
// this thread's event loop (src/tier/redis_loop.rs); a cluster by redis-rs on tokio
// (src/tier/redis.rs). This module validates the options (URLs and their credentials included)
// and wires the parts.

const { NetworkClient, l1Option, DEFAULT_TTL_SECONDS, DEFAULT_COMPRESS_ABOVE_BYTES, DEFAULT_MAX_VALUE_BYTES } = require('./clients');
const { NativeRedisAdapter } = require('./remote/batch');
const native = require('./native');
const debug = require('node:util').debuglog('sequelize-native-cache');
const { X509Certificate } = require('node:crypto');
const { checkKeys, ownProperties, nonNegativeInteger, nonEmptyString, ttlSeconds, timeoutMs, byteSize, integrityKey, describe } = require('./options');

const { MAX_VALUE_BYTES } = native.limits;
const DEFAULT_L1_TTL_SECONDS = 5;
/**
 * Highest database index. Redis takes up to 2147483646 (`databases` is an int), redis-rs any
 * i64, the event-loop transport at most 9 digits: up to this, both transports read the same URL.
 */
const MAX_DB = 999_999_999;

/**
 * The Redis client: entries and generation tokens in Redis (or a Redis Cluster), every command
 * made by the Rust core with a timeout and a circuit breaker. A Redis problem never fails a
 * query: the database answers.
 */
class RedisCache extends NetworkClient {
  /**
   * @param {object} options
   * @param {string} [options.url]               redis://[user:password@]host:port[/db]
   * @param {string[]} [options.nodes]           a Redis Cluster's nodes (host:port or redis:// URLs)
   * @param {string} [options.namespace='snc']  key prefix, so apps sharing a Redis never meet
   * @param {number} [options.defaultTtlSeconds=60]
   * @param {{ maxBytes?: number, ttlSeconds?: number } | false} [options.l1]  the in-process tier
   *   in front of Redis (default 32 MiB, 5 s), kept coherent by pub/sub; false turns it off
   * @param {number} [options.connectTimeoutMs=2000]
   * @param {number} [options.commandTimeoutMs=250]
   * @param {number} [options.compressAboveBytes=16384]  values this long or longer are stored
   *   LZ4-compressed (0: never)
   * @param {number} [options.maxValueBytes=4194304]      longer results are not cached
   * @param {{ key: Buffer | string } | false} [options.integrity]  sign every stored value with
   *   HMAC-SHA-256 under `key` (at least 32 bytes); default: SNC_INTEGRITY_KEY when set
   */
  constructor(options) {
    super();
    const where = 'RedisCache';
    const o = checkKeys(where, ownProperties(options), [
      'url',
      'nodes',
      'namespace',
      'defaultTtlSeconds',
      'l1',
      'connectTimeoutMs',
      'commandTimeoutMs',
      'compressAboveBytes',
      'maxValueBytes',
      'tls',
      'integrity',
    ]);
    if ((o.url === undefined) === (o.nodes === undefined)) {
      throw new TypeError(`${where}: give exactly one of url (a single Redis) or nodes (a Redis Cluster)`);
    }
    const urls = o.url !== undefined ? [redisUrl(where, 'url', o.url)] : redisNodes(where, o.nodes);
    const namespace = nonEmptyString(where, 'namespace', o.namespace, 'snc');
    if (/[{}]/.test(namespace)) throw new TypeError(`${where}: namespace must not contain { or } (they mark Redis hash tags)`);
    const ttl = ttlSeconds(where, 'defaultTtlSeconds', o.defaultTtlSeconds, DEFAULT_TTL_SECONDS);
    const l1 = l1Option(where, o.l1 === undefined ? Object.create(null) : ownProperties(o.l1), DEFAULT_L1_TTL_SECONDS);
    const connectTimeoutMs = timeoutMs(where, 'connectTimeoutMs', o.connectTimeoutMs, 2000);
    const commandTimeoutMs = timeoutMs(where, 'commandTimeoutMs', o.commandTimeoutMs, 250);
    const compressAboveBytes = nonNegativeInteger(where, 'compressAboveBytes', o.compressAboveBytes, DEFAULT_COMPRESS_ABOVE_BYTES, MAX_VALUE_BYTES, ' bytes (0: never compress)');
    const maxValueBytes = byteSize(where, 'maxValueBytes', o.maxValueBytes, DEFAULT_MAX_VALUE_BYTES, MAX_VALUE_BYTES);
    const tlsCa = tlsOption(where, o.tls, urls);
    const key = integrityKey(where, ownProperties(o.integrity));
    const tierOptions = { urls, cluster: o.nodes !== undefined, connectTimeoutMs, commandTimeoutMs, compressAboveBytes, tlsCa, maxValueBytes, integrityKey: key };
    this.transport = transportFor(where, tierOptions.cluster);
    let redis;
    if (this.transport === 'event-loop') {
      try {
        redis = native.createRedisLoop(tierOptions);
      } catch (err) {
        // The CA is checked above, but rustls may still refuse one OpenSSL reads; the tokio
        // transport would then fail on every connect, so it is an option error here too.
        if (/\bCA\b/.test(String(err && err.message))) throw new TypeError(`${where}: tls.ca cannot be used: ${err.message}`);
        // A URL form only redis-rs reads (a query string or fragment, an upper-case scheme, an
        // empty port, a non-ASCII host, a password with a bare %), or a loop that refused a
        // handle: the tokio transport serves it as before.
        debug('RedisCache: the event-loop transport refused this client (%s); using the tokio transport', err && err.message);
        this.transport = 'tokio';
      }
    }
    if (redis === undefined) redis = native.createRedis(tierOptions);
    const adapter = new NativeRedisAdapter(redis, namespace);
    const engine = this.attachTier({ tier: redis, adapter, l1, ttlSeconds: ttl, prefix: namespace, maxValueBytes });
    // The L1 stays untrusted (it answers nothing) until Rust's subscription is live.
    if (l1) redis.attachL1(engine.native, adapter.channel);
    this.namespace = namespace;
    this.defaultTtlSeconds = ttl;
  }

  /** The same as close() (which also ends the subscription), for ioredis users. */
  async quit() {
    return this.close();
  }
}

/**
 * Which transport carries this client's commands: `event-loop` (the socket on this thread's
 * libuv loop, RESP in Rust: no thread crossing) for a single node, `tokio` (redis-rs on the
 * core's runtime) for a cluster, in a runtime without libuv, or when SNC_REDIS_TRANSPORT=tokio.
 */
function transportFor(where, cluster) {
  const asked = process.env.SNC_REDIS_TRANSPORT;
  if (asked !== undefined && asked !== '' && asked !== 'event-loop' && asked !== 'tokio') {
    throw new TypeError(`${where}: the SNC_REDIS_TRANSPORT environment variable must be event-loop or tokio, got ${JSON.stringify(asked.slice(0, 40))}`);
  }
  if (cluster || asked === 'tokio') return 'tokio';
  const why = native.redisLoopUnavailable();
  if (why) {
    debug('RedisCache: the event-loop transport is not available here (%s); using the tokio transport', why);
    return 'tokio';
  }
  return 'event-loop';
}

/**
 * A redis:// URL as the core gets it: characters of the user name or password that would end
 * the authority early (`/ ? # @ \`) percent-encoded, so that everything before the last `@` is the
 * credentials, as a person reads it. Anything else is a TypeError that shows the URL redacted.
 */
function redisUrl(where, name, v) {
  if (typeof v !== 'string') throw new TypeError(`${where}: ${name} must be a redis:// URL, got ${describe(v)}`);
  const at = v.lastIndexOf('@');
  const sep = v.indexOf('://');
  const normalized = sep >= 0 && at > sep ? `${v.slice(0, sep + 3)}${v.slice(sep + 3, at).replace(/[/?#@\\]/g, (c) => encodeURIComponent(c))}${v.slice(at)}` : v;
  let u;
  try {
    u = new URL(normalized);
  } catch {
    throw new TypeError(`${where}: ${name} is not a valid URL: ${JSON.stringify(redactUrl(v))}`);
  }
  if ((u.protocol !== 'redis:' && u.protocol !== 'rediss:') || !u.hostname) {
    throw new TypeError(`${where}: ${name} must be a redis:// or rediss:// URL, got ${JSON.stringify(redactUrl(v))}`);
  }
  // WHATWG URL refuses ports above 65535 but reads :0.
  if (u.port !== '' && !(Number(u.port) >= 1 && Number(u.port) <= 65535)) {
    throw new TypeError(`${where}: ${name}: the port must be from 1 to 65535, got ${u.port} (in ${JSON.stringify(redactUrl(v))})`);
  }
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !(/^\d+$/.test(db) && Number(db) <= MAX_DB)) {
    throw new TypeError(`${where}: ${name}: the database must be a number from 0 to ${MAX_DB} (the path of ${JSON.stringify(redactUrl(v))})`);
  }
  // redis-rs refuses any other fragment of a rediss:// URL, but only when it connects.
  if (u.protocol === 'rediss:' && u.hash !== '' && u.hash !== '#insecure') {
    throw new TypeError(`${where}: ${name}: a rediss:// URL takes no fragment but #insecure (in ${JSON.stringify(redactUrl(v))})`);
  }
  return normalized;
}

/**
 * `tls: { ca }` as PEM text for the core; only meaningful with rediss:// URLs. Every certificate
 * in it must parse: both transports would otherwise fail on every connect, not here. The text is
 * never echoed (a private key passed by mistake would land in the message).
 */
function tlsOption(where, tls, urls) {
  if (tls === undefined) return undefined;
  const o = checkKeys(`${where}: tls`, ownProperties(tls), ['ca']);
  const ca = Buffer.isBuffer(o.ca) ? o.ca.toString('utf8') : o.ca;
  const bad = (got) => new TypeError(`${where}: tls.ca must be a PEM certificate (string or Buffer), got ${got}`);
  if (typeof ca !== 'string' || !ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw bad(typeof ca === 'string' ? `text of ${ca.length} characters without a certificate` : describe(o.ca));
  }
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(ca)) throw bad('text that holds a private key (give only the CA certificate)');
  if (!urls.every((u) => u.startsWith('rediss://'))) throw new TypeError(`${where}: tls.ca needs rediss:// URLs (TLS)`);
  const begins = ca.match(/-----BEGIN [^-\r\n]*-----/g).length;
  const blocks = [...ca.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[A-Za-z0-9+/=\s]*?-----END \1-----/g)];
  if (blocks.length !== begins) throw bad('text whose PEM blocks are not all closed by a matching END line, or hold other than base64');
  let n = 0;
  for (const [block, label] of blocks) {
    if (label !== 'CERTIFICATE') continue;
    n += 1;
    try {
      new X509Certificate(block);
    } catch {
      throw bad(`certificate ${n} of ${blocks.filter((b) => b[1] === 'CERTIFICATE').length}, which does not parse`);
    }
  }
  return ca;
}

function redisNodes(where, nodes) {
  if (!Array.isArray(nodes) || nodes.length === 0) throw new TypeError(`${where}: nodes must be a non-empty array of host:port or redis:// URLs`);
  const urls = nodes.map((n, i) => redisUrl(where, `nodes[${i}]`, typeof n === 'string' && !n.includes('://') ? `redis://${n}` : n));
  // redis-rs refuses nodes that differ in these, but only when it first connects.
  const sameness = (u) => {
    const p = new URL(u);
    return JSON.stringify([p.protocol, p.username, p.password, Number(p.pathname.replace(/^\//, '') || 0), p.search, p.hash]);
  };
  const first = sameness(urls[0]);
  urls.forEach((u, i) => {
    if (sameness(u) !== first) throw new TypeError(`${where}: nodes[${i}] must have the same scheme, user, password, database and query as nodes[0] (the cluster client uses one set)`);
  });
  return urls;
}

/**
 * `v` with its credentials hidden, for error messages, whatever its shape: everything between the
 * scheme and the last `@` (a password may hold `/`, `:` or `@`), and any password-like query value.
 */
function redactUrl(v) {
  let out = v;
  const at = out.lastIndexOf('@');
  if (at >= 0) {
    const colon = out.indexOf(':');
    const start = colon >= 0 && colon < at ? colon + (out.startsWith('//', colon + 1) ? 3 : 1) : 0;
    out = `${out.slice(0, start)}***${out.slice(at)}`;
  }
  return out.replace(/([?&;](?:password|pass|pwd|auth|token|secret)=)[^&#;]*/gi, '$1***');
}

module.exports = { RedisCache, redactUrl };
