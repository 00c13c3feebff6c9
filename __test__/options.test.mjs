// Every numeric option of every constructor, against every kind of bad value and its bounds: a
// TypeError that names the option and its bound, or the value accepted at the bound. The bounds
// come from the core (src/limits.rs, through js/native.js), where they are defined once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryCache, RedisCache, MomentoClientGenerator, IORedisAdapter, LoggerFactory, withCache, modelCacheFactory } from '../js/index.mjs';
import { schema, withTransport } from './support/suite.mjs';

const require = createRequire(import.meta.url);
const native = require('../js/native.js');
const { ttlSeconds, ttlSecondsOrZero, MAX_TTL_SECONDS } = require('../js/options.js');
const L = native.limits;

const TOKEN = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl';
const momento = (props) => MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: TOKEN, endpoint: 'http://127.0.0.1:1' }, ...props });
const redis = (options) => new RedisCache({ url: 'redis://127.0.0.1:1', ...options });
const fakeIORedis = { get() {}, set() {}, del() {} };

/** Values no numeric option takes (besides 0 and -1, which depend on the option). */
const NOT_NUMBERS = [NaN, Infinity, -Infinity, 1n, '5', null, {}, [], true];

/**
 * [label, name in the message, make(value) → client or value, kind, max]. kind: 'number' (> 0),
 * 'integer' (≥ 1), 'number0' (≥ 0), 'integer0' (≥ 0).
 */
const OPTIONS = [
  ['MemoryCache maxBytes', 'maxBytes', (v) => new MemoryCache({ maxBytes: v }), 'integer', L.MAX_TIER_BYTES],
  ['MemoryCache defaultTtlSeconds', 'defaultTtlSeconds', (v) => new MemoryCache({ defaultTtlSeconds: v }), 'number', MAX_TTL_SECONDS],
  ['RedisCache defaultTtlSeconds', 'defaultTtlSeconds', (v) => redis({ defaultTtlSeconds: v, l1: false }), 'number', MAX_TTL_SECONDS],
  ['RedisCache l1.maxBytes', 'maxBytes', (v) => redis({ l1: { maxBytes: v } }), 'integer', L.MAX_TIER_BYTES],
  ['RedisCache l1.ttlSeconds', 'ttlSeconds', (v) => redis({ l1: { ttlSeconds: v } }), 'number', MAX_TTL_SECONDS],
  ['RedisCache connectTimeoutMs', 'connectTimeoutMs', (v) => redis({ connectTimeoutMs: v, l1: false }), 'number', L.MAX_TIMEOUT_MS],
  ['RedisCache commandTimeoutMs', 'commandTimeoutMs', (v) => redis({ commandTimeoutMs: v, l1: false }), 'number', L.MAX_TIMEOUT_MS],
  ['RedisCache compressAboveBytes', 'compressAboveBytes', (v) => redis({ compressAboveBytes: v, l1: false }), 'integer0', L.MAX_VALUE_BYTES],
  ['RedisCache maxValueBytes', 'maxValueBytes', (v) => redis({ maxValueBytes: v, l1: false }), 'integer', L.MAX_VALUE_BYTES],
  ['Momento defaultTtlSeconds', 'defaultTtlSeconds', (v) => momento({ defaultTtlSeconds: v, l1: false, logger: quiet() }), 'number', MAX_TTL_SECONDS],
  ['Momento l1.maxBytes', 'maxBytes', (v) => momento({ l1: { maxBytes: v } }), 'integer', L.MAX_TIER_BYTES],
  ['Momento l1.ttlSeconds', 'ttlSeconds', (v) => momento({ l1: { ttlSeconds: v } }), 'number', MAX_TTL_SECONDS],
  ['Momento requestTimeoutMs', 'requestTimeoutMs', (v) => momento({ requestTimeoutMs: v, l1: false }), 'number', L.MAX_TIMEOUT_MS],
  ['Momento maxConcurrentRequests', 'maxConcurrentRequests', (v) => momento({ maxConcurrentRequests: v, l1: false }), 'integer', L.MAX_CONCURRENT_REQUESTS],
  ['Momento compressAboveBytes', 'compressAboveBytes', (v) => momento({ compressAboveBytes: v, l1: false }), 'integer0', L.MOMENTO_MAX_ITEM_BYTES],
  ['Momento maxValueBytes', 'maxValueBytes', (v) => momento({ maxValueBytes: v, l1: false }), 'integer', L.MOMENTO_MAX_ITEM_BYTES],
  ['IORedisAdapter lifetime', 'lifetime', (v) => new IORedisAdapter({ client: fakeIORedis, lifetime: v }), 'number', MAX_TTL_SECONDS],
  // The validators withCache's ttl / negativeTtl and wrap's ttl use.
  ['withCache ttl (validator)', 'ttl', (v) => ttlSeconds('withCache', 'ttl', v), 'number', MAX_TTL_SECONDS],
  ['withCache negativeTtl (validator)', 'negativeTtl', (v) => ttlSecondsOrZero('withCache', 'negativeTtl', v), 'number0', MAX_TTL_SECONDS],
  ['wrap ttl (validator)', 'ttl', (v) => ttlSeconds('wrap', 'ttl', v), 'number', MAX_TTL_SECONDS],
];

function quiet() {
  return { debug() {}, info() {}, warn() {}, error() {} };
}

/** The next number above `max` that is still distinct from it. */
const above = (max) => (Number.isSafeInteger(max) ? max + 1 : max * (1 + Number.EPSILON * 2));

async function closeIfClient(c) {
  if (c !== null && typeof c === 'object' && typeof c.close === 'function') await c.close();
}

/** Throws unless `make(v)` throws a TypeError naming `name` and stating `max`. */
function rejects(label, name, make, v, max) {
  assert.throws(
    () => make(v),
    (e) => {
      assert.ok(e instanceof TypeError, `${label} = ${String(v)}: a TypeError, got ${e && e.name}: ${e && e.message}`);
      assert.ok(e.message.includes(name), `${label} = ${String(v)}: the message names ${name}: ${e.message}`);
      assert.ok(e.message.includes(String(max)), `${label} = ${String(v)}: the message states the bound ${max}: ${e.message}`);
      return true;
    },
    `${label} = ${typeof v === 'bigint' ? `${v}n` : String(v)} was accepted`,
  );
}

for (const [label, name, make, kind, max] of OPTIONS) {
  test(`${label}: bad values are TypeErrors naming it and its bound; the bounds themselves are accepted`, async () => {
    const integer = kind.startsWith('integer');
    const zeroOk = kind.endsWith('0');
    const bad = [...NOT_NUMBERS, -1, 1e300, 2 ** 53, above(max)];
    if (!zeroOk) bad.push(0, -0);
    if (integer) bad.push(1.5);
    for (const v of bad) rejects(label, name, make, v, max);
    const good = [max, zeroOk ? 0 : integer ? 1 : 0.001];
    for (const v of good) {
      let c;
      assert.doesNotThrow(() => (c = make(v)), `${label} = ${v} is within its bounds`);
      await closeIfClient(c);
    }
  });
}

test('withCache ttl / negativeTtl and wrap ttl, through their faces', async () => {
  const { sequelize, User } = await schema();
  const cache = await modelCacheFactory(new MemoryCache(), quiet());
  try {
    for (const v of [1e300, 2 ** 53, MAX_TTL_SECONDS + 1]) {
      assert.throws(() => withCache(new MemoryCache(), { ttl: v }), /ttl must be a positive number of at most 31536000/);
      assert.throws(() => withCache(new MemoryCache(), { negativeTtl: v }), /negativeTtl must be a number from 0 to 31536000/);
      assert.throws(() => cache.wrap(User, { ttl: v }), /ttl must be a positive number of at most 31536000/);
    }
  } finally {
    await sequelize.close();
  }
});

test('LoggerFactory.createLogger names logLevel for any value that is not a level, a BigInt included', () => {
  for (const v of [1n, 1, {}, [], 'verbose', Symbol('debug'), true]) {
    assert.throws(() => LoggerFactory.createLogger({ logLevel: v }), (e) => e instanceof TypeError && /logLevel must be one of debug, info, warn, error, silent/.test(e.message));
  }
  assert.equal(LoggerFactory.createLogger({ logLevel: 'warn' }).level, 'warn');
});

test('the bounds are the core\'s: one definition, exported as constants', () => {
  assert.equal(L.MAX_TTL_MS, 365 * 24 * 3600 * 1000);
  assert.equal(MAX_TTL_SECONDS * 1000, L.MAX_TTL_MS);
  assert.equal(L.MOMENTO_MAX_ITEM_BYTES, 5_000_000);
  assert.equal(L.MOMENTO_MAX_TTL_SECONDS, 24 * 3600);
  for (const [k, v] of Object.entries(L)) assert.ok(Number.isSafeInteger(v) && v > 0, `${k} = ${v}`);
});

// ---- options that reach the native layer: checked here, whichever transport serves them -------

/** The message of what `fn` threw, after checking it is a TypeError; fails when nothing is thrown. */
function typeError(fn, label) {
  let err;
  try {
    const c = fn();
    c?.close?.();
  } catch (e) {
    err = e;
  }
  assert.ok(err !== undefined, `${label}: accepted`);
  assert.ok(err instanceof TypeError, `${label}: a TypeError, got ${err.name}: ${err.message}`);
  return err.message;
}

const LOOP = native.redisLoopUnavailable() === null ? 'event-loop' : 'tokio';
const MAX_DB = 999_999_999;

test('RedisCache url and nodes[i]: port 0 and a database out of range are TypeErrors naming them, without the password', () => {
  const secret = 'Pw7/Kq2@Zx9';
  const cases = [
    [`redis://u:${secret}@127.0.0.1:0`, /port must be from 1 to 65535, got 0/],
    [`rediss://:${secret}@[::1]:0/2`, /port must be from 1 to 65535, got 0/],
    [`redis://:${secret}@127.0.0.1:6379/9999999999`, new RegExp(`database must be a number from 0 to ${MAX_DB}`)],
    [`redis://:${secret}@127.0.0.1:6379/${MAX_DB + 1}`, new RegExp(`database must be a number from 0 to ${MAX_DB}`)],
    [`redis://:${secret}@127.0.0.1:6379/-1`, /database must be a number/],
    [`redis://:${secret}@127.0.0.1:6379/1.5`, /database must be a number/],
    [`rediss://:${secret}@127.0.0.1:6379#other`, /no fragment but #insecure/],
  ];
  for (const transport of [undefined, 'tokio']) {
    for (const [url, why] of cases) {
      const label = `${url} (${transport ?? 'default'})`;
      const msg = withTransport(transport, () => typeError(() => new RedisCache({ url, l1: false }), label));
      assert.match(msg, /^RedisCache: url: /, label);
      assert.match(msg, why, label);
      assert.ok(!msg.includes(secret) && !msg.includes('Kq2'), `${label}: no password in ${msg}`);
      const inNodes = typeError(() => new RedisCache({ nodes: [url.replace(/:0\b|\/[-\d.]+$|#other$/, ''), url], l1: false }), `nodes: ${label}`);
      assert.match(inNodes, /^RedisCache: nodes\[1\]: /, label);
      assert.match(inNodes, why, label);
      assert.ok(!inNodes.includes(secret) && !inNodes.includes('Kq2'), `nodes: ${label}: no password in ${inNodes}`);
    }
  }
});

test('RedisCache url: ports 1 and 65535 and databases 0 and the maximum are accepted, on the event loop when it runs here', async () => {
  for (const url of ['redis://127.0.0.1:1', 'redis://:pw@127.0.0.1:65535', 'redis://127.0.0.1:6379/0', `redis://127.0.0.1:6379/${MAX_DB}`, `rediss://[::1]:65535/${MAX_DB}`]) {
    const c = new RedisCache({ url, l1: false });
    assert.equal(c.transport, LOOP, `${url}: no fallback`);
    await c.close();
    const cluster = new RedisCache({ nodes: [url, url.replace(/:(\d+)/, ':7001')], l1: false });
    await cluster.close();
  }
});

test('RedisCache url: the forms only redis-rs reads still fall back to the tokio transport', async () => {
  for (const url of ['redis://127.0.0.1:6379?protocol=resp3', 'REDIS://127.0.0.1:6379', 'redis://127.0.0.1:', 'redis://:50%off@127.0.0.1:6379']) {
    const c = new RedisCache({ url, l1: false });
    assert.equal(c.transport, 'tokio', url);
    await c.close();
  }
});

test('RedisCache: a CA the event-loop transport refuses is a TypeError naming tls.ca, not a silent fallback to tokio', async (t) => {
  const ca = makeCas();
  if (ca === null) return t.skip('openssl is not available');
  const real = native.createRedisLoop;
  try {
    // rustls may refuse a certificate OpenSSL reads; the tokio transport would refuse it too.
    native.createRedisLoop = () => {
      throw new Error('the CA certificate cannot be used as a trust anchor');
    };
    const msg = typeError(() => new RedisCache({ url: 'rediss://127.0.0.1:6380', tls: { ca: ca.a }, l1: false }), 'refused CA');
    assert.match(msg, /^RedisCache: tls\.ca cannot be used: the CA certificate cannot be used as a trust anchor/);
    native.createRedisLoop = () => {
      throw new Error('the URL has a query or fragment, which this transport does not read');
    };
    const c = new RedisCache({ url: 'rediss://127.0.0.1:6380', tls: { ca: ca.a }, l1: false });
    assert.equal(c.transport, 'tokio', 'a URL form is still served by tokio');
    await c.close();
  } finally {
    native.createRedisLoop = real;
  }
});

test('RedisCache nodes: nodes that differ in scheme, credentials, database or query are a TypeError naming the node, without a password', () => {
  for (const [a, b] of [
    ['redis://:Aa1Secret@127.0.0.1:7000', 'redis://:Bb2Secret@127.0.0.1:7001'],
    ['redis://:Aa1Secret@127.0.0.1:7000', 'redis://127.0.0.1:7001'],
    ['redis://127.0.0.1:7000', 'rediss://127.0.0.1:7001'],
    ['redis://127.0.0.1:7000/0', 'redis://127.0.0.1:7001/3'],
    ['redis://127.0.0.1:7000?protocol=resp3', 'redis://127.0.0.1:7001'],
  ]) {
    const msg = typeError(() => new RedisCache({ nodes: [a, a.replace('7000', '7002'), b], l1: false }), `${a} / ${b}`);
    assert.match(msg, /^RedisCache: nodes\[2\] must have the same scheme, user, password, database and query as nodes\[0\]/, `${a} / ${b}`);
    assert.ok(!/Aa1|Bb2/.test(msg), msg);
  }
});

/** A CA made with openssl in a temporary directory, or null when openssl is missing. */
function makeCas() {
  let dir;
  try {
    dir = mkdtempSync(join(tmpdir(), 'snc-options-ca-'));
    const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    for (const name of ['a', 'b']) ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=snc-options-${name}`);
    return { a: readFileSync(join(dir, 'a.crt'), 'utf8'), b: readFileSync(join(dir, 'b.crt'), 'utf8'), key: readFileSync(join(dir, 'a.key'), 'utf8') };
  } catch {
    return null;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** `pem` with its DER cut short: still base64 between the markers, no longer a certificate. */
function truncated(pem) {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const b64 = der.subarray(0, der.length - 40).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

test('RedisCache tls.ca: certificates that do not parse, a private key among them, or an unclosed block are TypeErrors naming tls.ca on every transport; real CAs are accepted', async (t) => {
  const ca = makeCas();
  if (ca === null) return t.skip('openssl is not available');
  const keyBody = ca.key.split('\n')[1];
  const bad = [
    ['markers around garbage', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
    ['a certificate cut short', truncated(ca.a)],
    ['a good certificate, then one cut short', ca.a + truncated(ca.b)],
    ['a certificate and its private key', ca.a + ca.key],
    ['an unclosed block', `${ca.a}-----BEGIN CERTIFICATE-----\n${ca.b.split('\n')[1]}\n`],
  ];
  const ways = [
    ['url', (tls) => new RedisCache({ url: 'rediss://127.0.0.1:6380', tls, l1: false })],
    ['url on tokio', (tls) => withTransport('tokio', () => new RedisCache({ url: 'rediss://127.0.0.1:6380', tls, l1: false }))],
    ['url with a query (tokio)', (tls) => new RedisCache({ url: 'rediss://127.0.0.1:6380?protocol=resp3', tls, l1: false })],
    ['nodes', (tls) => new RedisCache({ nodes: ['rediss://127.0.0.1:7000', 'rediss://127.0.0.1:7001'], tls, l1: false })],
  ];
  for (const [what, text] of bad) {
    for (const [way, make] of ways) {
      for (const value of [text, Buffer.from(text)]) {
        const msg = typeError(() => make({ ca: value }), `${what}, ${way}`);
        assert.match(msg, /^RedisCache: tls\.ca /, `${what}, ${way}: ${msg}`);
        assert.ok(!msg.includes(keyBody.slice(0, 20)) && !msg.includes('BEGIN'), `${what}, ${way}: the text is not echoed: ${msg}`);
      }
    }
  }
  for (const [what, text] of [['one CA', ca.a], ['a bundle with comments', `# first\n${ca.a}\n# second\n${ca.b}`], ['CRLF line ends', ca.a.replace(/\n/g, '\r\n')]]) {
    for (const [way, make] of ways) {
      for (const value of [text, Buffer.from(text)]) {
        let c;
        assert.doesNotThrow(() => (c = make({ ca: value })), `${what}, ${way}`);
        if (way === 'url') assert.equal(c.transport, LOOP, `${what}: no fallback`);
        await c.close();
      }
    }
  }
});

const V1 = (apiKey, endpoint = 'cell-1.example.com') => Buffer.from(JSON.stringify({ api_key: apiKey, endpoint })).toString('base64');

test('Momento endpoint: an IP address, a port out of range or an over-long label is a TypeError naming where it came from, without the key', () => {
  const ip = /give a full URL such as https:\/\/10\.0\.0\.5/;
  const port = /the port must be from 1 to 65535/;
  const long = /must be a host name of at most 253 characters \(with api\.cache\.\), in labels of at most 63/;
  const bad = [
    ['10.0.0.5', ip],
    ['10.0.0.5:443', ip],
    ['cell.123', ip],
    ['cell-1.example.com:99999', port],
    ['cell-1.example.com:0', port],
    ['https://cell-1.example.com:0', port],
    ['http://127.0.0.1:0', port],
    ['https://10.0.0.5:70000', /is not a valid URL/],
    [`${'a'.repeat(64)}.example.com`, long],
    [`${'abcdefghi.'.repeat(24)}abcd`, long],
  ];
  for (const [endpoint, why] of bad) {
    for (const [source, props, env] of [
      ['endpoint', { credentialProvider: { apiKey: TOKEN }, endpoint }],
      ['credentialProvider.endpoint', { credentialProvider: { apiKey: TOKEN, endpoint } }],
      ['the MOMENTO_ENDPOINT environment variable', { credentialProvider: { apiKey: TOKEN } }, endpoint],
      ['the API key', { credentialProvider: { apiKey: V1('Kk8Secret9', endpoint) } }],
    ]) {
      const saved = process.env.MOMENTO_ENDPOINT;
      if (env !== undefined) process.env.MOMENTO_ENDPOINT = env;
      let msg;
      try {
        msg = typeError(() => MomentoClientGenerator.newInstance({ l1: false, ...props }), `${endpoint} from ${source}`);
      } finally {
        if (saved === undefined) delete process.env.MOMENTO_ENDPOINT;
        else process.env.MOMENTO_ENDPOINT = saved;
      }
      assert.ok(msg.includes(`endpoint (from ${source})`), `${endpoint} from ${source}: ${msg}`);
      assert.match(msg, why, `${endpoint} from ${source}`);
      assert.ok(!msg.includes(TOKEN.split('.')[1]) && !msg.includes('Kk8Secret9'), `${endpoint}: no key in ${msg}`);
    }
  }
});

test('Momento endpoint: ports 1 and 65535, an IP address as a URL and the longest host are accepted', async () => {
  const longest = `${'abcdefghi.'.repeat(24)}abc`; // 243 characters: 253 with api.cache.
  for (const endpoint of ['cell-1.example.com:1', 'cell-1.example.com:65535', 'https://10.0.0.5', 'https://10.0.0.5:1', 'http://127.0.0.1:65535', 'cache.cell-1.example.com', `${'a'.repeat(63)}.example.com`, longest]) {
    const c = MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: TOKEN }, endpoint, l1: false });
    await c.close();
  }
});

test('Momento: an error from the native constructor is a TypeError naming the option, without the key', () => {
  const real = native.createMomento;
  try {
    native.createMomento = () => {
      throw new Error(`endpoint: invalid IPv4 address (token ${TOKEN})`);
    };
    const msg = typeError(() => momento({ l1: false }), 'native endpoint error');
    assert.match(msg, /^MomentoClientGenerator\.newInstance: endpoint \(from the credential provider\): invalid IPv4 address/);
    assert.ok(!msg.includes(TOKEN.split('.')[1]), msg);
    native.createMomento = () => {
      throw new Error('maxValueBytes must be a positive number of bytes of at most 536870912');
    };
    assert.match(typeError(() => momento({ l1: false }), 'native sealer error'), /newInstance: maxValueBytes must be/);
  } finally {
    native.createMomento = real;
  }
});

test('Momento: a v1 key whose api_key holds a control character is a TypeError that does not show it', () => {
  for (const apiKey of ['Ab1\nCd2Secret', 'Ab1\rCd2Secret', 'Ab1\u0000Cd2Secret', 'Ab1\u007fCd2Secret']) {
    const msg = typeError(() => MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: V1(apiKey) }, l1: false }), JSON.stringify(apiKey));
    assert.match(msg, /API key from credentialProvider\.apiKey holds a control character/);
    assert.ok(!msg.includes('Cd2Secret') && !msg.includes(V1(apiKey).slice(4, 24)), msg);
  }
  const c = MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: V1('Ab1\tCd2 é') }, l1: false });
  c.close();
});

test("Momento configuration: a request deadline that is not a timeout is a TypeError naming configuration; requestTimeoutMs overrides it", async () => {
  const sdkLike = (ms) => ({ getTransportStrategy: () => ({ getGrpcConfig: () => ({ getDeadlineMillis: () => ms }) }) });
  for (const v of [NaN, Infinity, -5, 0, -0, L.MAX_TIMEOUT_MS + 1, 1e300, '5000']) {
    assert.match(typeError(() => momento({ configuration: { requestTimeoutMs: v }, l1: false }), `ours: ${String(v)}`), /configuration\.requestTimeoutMs must be a positive number of at most 600000 ms/);
    if (typeof v === 'number') assert.match(typeError(() => momento({ configuration: sdkLike(v), l1: false }), `SDK: ${v}`), /configuration's deadline \(getDeadlineMillis\(\)\) must be/);
  }
  for (const configuration of [{ requestTimeoutMs: L.MAX_TIMEOUT_MS }, sdkLike(1), { requestTimeoutMs: NaN }]) {
    const c = momento({ configuration, requestTimeoutMs: 100, l1: false });
    await c.close();
  }
  await momento({ configuration: sdkLike(L.MAX_TIMEOUT_MS), l1: false }).close();
});

test('options set on Object.prototype are never read; an own __proto__ key is an unknown option', async () => {
  const polluted = { endpoint: 'https://evil.example.com', integrity: false, tls: { ca: 'nothing' }, ca: 'nothing', ttlSeconds: -1, maxBytes: -1, key: 'k'.repeat(40), requestTimeoutMs: -1 };
  const savedKey = process.env.SNC_INTEGRITY_KEY;
  process.env.SNC_INTEGRITY_KEY = 'short-Env7Key';
  const results = [];
  const attempt = (fn) => {
    try {
      const c = fn();
      results.push(['accepted', c]);
    } catch (e) {
      results.push([e.name, e.message]);
    }
  };
  Object.assign(Object.prototype, polluted);
  try {
    attempt(() => new RedisCache({ url: 'redis://127.0.0.1:1' }));
    attempt(() => new RedisCache({ url: 'redis://127.0.0.1:1', integrity: {}, l1: {} }));
    delete process.env.SNC_INTEGRITY_KEY;
    attempt(() => new RedisCache({ url: 'redis://127.0.0.1:1', l1: {} }));
    attempt(() => MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: TOKEN } }));
    attempt(() => MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: TOKEN, endpoint: 'http://127.0.0.1:1' }, l1: {} }));
    attempt(() => MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: TOKEN, endpoint: 'http://127.0.0.1:1' }, integrity: {} }));
    attempt(() => new RedisCache({ url: 'rediss://127.0.0.1:1', tls: {} }));
  } finally {
    for (const k of Object.keys(polluted)) delete Object.prototype[k];
    if (savedKey === undefined) delete process.env.SNC_INTEGRITY_KEY;
    else process.env.SNC_INTEGRITY_KEY = savedKey;
  }
  for (const [, c] of results) await closeIfClient(c);
  assert.match(results[0][1], /SNC_INTEGRITY_KEY environment variable must be at least 32 bytes/, 'integrity: false from the prototype did not turn the key off');
  assert.match(results[1][1], /integrity\.key must be a Buffer or a string/, 'integrity.key is not read from the prototype');
  assert.equal(results[2][0], 'accepted', `tls, l1.ttlSeconds and l1.maxBytes are not read from the prototype: ${results[2][1]}`);
  assert.match(results[3][1], /no endpoint/, 'the endpoint is not read from the prototype');
  assert.equal(results[4][0], 'accepted', `requestTimeoutMs and l1 are not read from the prototype: ${results[4][1]}`);
  assert.match(results[5][1], /integrity\.key must be a Buffer or a string/, 'Momento integrity.key is not read from the prototype');
  assert.match(results[6][1], /tls\.ca must be a PEM certificate \(string or Buffer\), got undefined/, 'tls.ca is not read from the prototype');

  for (const [label, make] of [
    ['RedisCache', (o) => new RedisCache({ url: 'redis://127.0.0.1:1', ...o })],
    ['RedisCache tls', (o) => new RedisCache({ url: 'rediss://127.0.0.1:1', tls: o })],
    ['RedisCache l1', (o) => new RedisCache({ url: 'redis://127.0.0.1:1', l1: o })],
    ['RedisCache integrity', (o) => new RedisCache({ url: 'redis://127.0.0.1:1', integrity: o })],
    ['Momento', (o) => momento(o)],
    ['Momento credentialProvider', (o) => MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: TOKEN, endpoint: 'http://127.0.0.1:1', ...o } })],
  ]) {
    const msg = typeError(() => make(JSON.parse('{"__proto__": {"x": 1}}')), label);
    assert.match(msg, /unknown option "__proto__"/, label);
  }
});

test('withCache and MemoryCache read only their own options: Object.prototype cannot turn invalidation or write-through off', async () => {
  const { Sequelize, DataTypes } = await import('sequelize');
  const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  const User = sequelize.define('User', { name: DataTypes.STRING });
  await sequelize.sync();
  await User.create({ name: 'a' });
  const polluted = { autoInvalidate: false, writeThrough: false, negativeTtl: 3600, defaultTtlSeconds: -1, maxBytes: 1 };
  let client;
  Object.assign(Object.prototype, polluted);
  try {
    client = new MemoryCache({});
    withCache(client, {}).withCache(User);
  } finally {
    for (const k of Object.keys(polluted)) delete Object.prototype[k];
  }
  assert.equal((await User.cache().findByPk(1)).name, 'a');
  await User.update({ name: 'b' }, { where: { id: 1 } });
  assert.equal((await User.cache().findByPk(1)).name, 'b', 'autoInvalidate stayed on');
  assert.ok(client.stats().hits + client.stats().misses > 0, 'the cache was used (maxBytes was not read from the prototype)');
  await sequelize.close();
});

