// Every numeric option of every constructor, against every kind of bad value and its bounds: a
// TypeError that names the option and its bound, or the value accepted at the bound. The bounds
// come from the core (src/limits.rs, through js/native.js), where they are defined once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { MemoryCache, RedisCache, MomentoClientGenerator, IORedisAdapter, LoggerFactory, withCache, modelCacheFactory } from '../js/index.mjs';
import { schema } from './support/suite.mjs';

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
    if (!zeroOk) bad.push(0);
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
