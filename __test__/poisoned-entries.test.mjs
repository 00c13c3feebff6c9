// Poisoned entries: whatever sits in a shared cache under one of our keys — garbage, a value cut
// short, a flipped byte, a forged frame, a hostile payload, a huge value, another namespace's or
// another key's value, another Redis type — the read gets the database's answer, nothing leaks
// into Object.prototype, the log gets a bounded number of lines, and with `integrity` no forged
// entry is ever served. Against a real redis-server of this test's own (RedisCache and
// IORedisAdapter) and the Momento stand-in.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import Redis from 'ioredis';
import { freePort, startRedis } from './support/redis-server.mjs';
import { startMomentoServer } from './support/momento-server.mjs';
import { recordingLogger, schema } from './support/suite.mjs';
import { RedisCache, MomentoClientGenerator, IORedisAdapter, modelCacheFactory, withCache } from '../js/index.mjs';

const TOKEN = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl';
// Keys as strings (64 bytes of hex): SNC_INTEGRITY_KEY, which carries the adapters' key here, is one.
const SECRET = randomBytes(32).toString('hex');
const OTHER_SECRET = randomBytes(32).toString('hex');
const HOUR = 3600 * 1000;

// ---- frames, written by hand the way an attacker with write access to the cache could ----------

const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

/** The parts of a checked check input: domain, key length, key, then `rest`. */
function checkInput(domain, boundKey, ...rest) {
  const k = Buffer.from(boundKey);
  return [Buffer.from(domain), u32(k.length), k, ...rest.map((r) => Buffer.from(r))];
}

function checkOf(parts, secret) {
  if (secret !== undefined) {
    const h = createHmac('sha256', secret);
    for (const p of parts) h.update(p);
    return h.digest();
  }
  let c = 0;
  for (const p of parts) c = crc32(p, c);
  return u32(c);
}

/** A binary stored frame (src/frame.rs, version 2), CRC-checked or signed with `secret`. */
function binaryFrame(boundKey, body, { secret, expires = Date.now() + HOUR } = {}) {
  const stored = Buffer.from(body);
  const header = Buffer.concat([Buffer.from('SNC'), Buffer.from([2, secret ? 2 : 0]), u64(expires), u32(stored.length)]);
  return Buffer.concat([header, checkOf(checkInput('snc2', boundKey, header, stored), secret), stored]);
}

/** The body of an uncompressed binary frame (its check unverified). */
function binaryBody(frame) {
  return frame.subarray(17 + (frame[4] & 2 ? 32 : 4)).toString();
}

/** A text frame (a JS adapter's value), CRC-checked or signed with `secret`. */
function textFrame(boundKey, body, { secret, expires = Date.now() + HOUR } = {}) {
  const kind = secret ? 'm' : 'c';
  const check = checkOf(checkInput('snc2t', boundKey, kind, u64(expires), body), secret);
  return `snc2 ${kind}${check.toString('hex')} ${expires}\n${body}`;
}

const textBody = (text) => text.slice(text.indexOf('\n') + 1);

/**
 * An entry body as the generation-token tier writes it, with `payload` in place of the rows.
 * `payload` is written below as `1 <shape> <types>\n<data>`: it is put in the current format with
 * the model definition of the genuine payload in `body`, so what is forged is only what it says.
 */
const withPayload = (body, payload) => {
  const head = body.slice(0, body.indexOf('\n') + 1);
  const [version, , definition] = body.slice(head.length).split(' ', 3);
  return head + payload.replace(/^1 (\S+) /, (_, shape) => `${version} ${shape} ${definition} `);
};
/** A payload whose type table walks to Object.prototype (the decoder must refuse it). */
const PROTO_PAYLOAD = '1 row [["D","__proto__","isAdmin"]]\n{"id":1,"name":"forged"}';
/** A payload whose row has a `__proto__` key spelled with JSON escapes (JSON.parse makes it an own key). */
const ESCAPED_PROTO_PAYLOAD = (id) => `1 row []\n{"id":${id},"name":"forged","\\u005f_proto__":{"isAdmin":true}}`;
const forgedRow = (id) => `1 row []\n{"id":${id},"name":"forged","createdAt":0,"updatedAt":0}`;

// ---- the tiers under test ---------------------------------------------------------------------

let redisPort;
let redisProc;
let inspect;
let momento;

before(async () => {
  redisPort = await freePort();
  redisProc = await startRedis(redisPort);
  inspect = new Redis(redisPort, '127.0.0.1');
  momento = await startMomentoServer({ token: TOKEN, caches: ['model-cache'] });
});

after(async () => {
  inspect.disconnect();
  redisProc.kill('SIGKILL');
  await momento.close();
});

let namespaces = 0;

/**
 * A tier as the suite drives it: `open(namespace, logger)` makes a client and returns `{ client
 * (stats, close), read(User, id), entry(User, id), token }`, where `entry` and `token` are
 * `{ key, bound }`: where a row's entry (and the token of the table it depends on) is stored, and
 * the key its frame is bound to. `get(key)` / `put(key, value)` reach the stored value below the
 * client (a Buffer for binary frames, a string for text frames); `frame(bound, body, o)` and
 * `body(value)` write and read that tier's frames; `putOtherType(key, type)`, where the store has
 * types.
 */
function redisTier(integrity) {
  return {
    kind: 'binary',
    integrity,
    async open(namespace, logger) {
      const client = new RedisCache({ url: `redis://127.0.0.1:${redisPort}`, namespace, l1: false, maxValueBytes: 64 * 1024, integrity: integrity ? { key: integrity } : false });
      const cache = await modelCacheFactory(client, logger);
      const token = `{${namespace}}:#generation:users`;
      return {
        client,
        read: (User, id) => cache.wrap(User).findByPk(id),
        // RedisCache stores an entry at its engine key (the namespace is its first segment).
        entry: (User, id) => {
          const key = client.keyFor(User, 'findByPk', id);
          return { key, bound: key };
        },
        token: { key: token, bound: token },
      };
    },
    get: (key) => inspect.getBuffer(key),
    put: (key, value) => inspect.set(key, value),
    async putOtherType(key, type) {
      await inspect.del(key);
      if (type === 'hash') await inspect.hset(key, 'f', 'v');
      else await inspect.rpush(key, 'a', 'b');
    },
    frame: binaryFrame,
    body: binaryBody,
  };
}

function momentoTier(integrity) {
  const id = (key) => `model-cache\n${key}`;
  return {
    kind: 'binary',
    integrity,
    async open(namespace, logger) {
      const client = MomentoClientGenerator.newInstance({
        credentialProvider: { apiKey: TOKEN, endpoint: momento.url },
        namespace,
        l1: false,
        maxValueBytes: 64 * 1024,
        integrity: integrity ? { key: integrity } : false,
      });
      const cache = await modelCacheFactory(client, logger);
      const token = `{${namespace}}:#generation:users`;
      return {
        client,
        read: (User, userId) => cache.wrap(User).findByPk(userId),
        // MomentoCache stores a query at the Momento wrapper's key.
        entry: (User, userId) => {
          const key = `model-cache:findByPk:${User.tableName}:{"where":{"id":${userId}}}`;
          return { key, bound: id(key) };
        },
        token: { key: token, bound: id(token) },
      };
    },
    get: async (key) => momento.store.get(id(key))?.value ?? null,
    put: async (key, value) => momento.store.set(id(key), { value: Buffer.from(value), expires: Date.now() + HOUR, ttl: 3600 }),
    frame: binaryFrame,
    body: binaryBody,
  };
}

function ioredisTier(integrity) {
  return {
    kind: 'text',
    integrity,
    async open(namespace, logger) {
      const redis = new Redis(redisPort, '127.0.0.1');
      const adapter = new IORedisAdapter({ client: redis, namespace, lifetime: 3600 });
      // The integrity key reaches an adapter through SNC_INTEGRITY_KEY here (withCache's
      // `integrity` option is wired by the face).
      const saved = process.env.SNC_INTEGRITY_KEY;
      if (integrity) process.env.SNC_INTEGRITY_KEY = integrity;
      else delete process.env.SNC_INTEGRITY_KEY;
      let wrap;
      try {
        wrap = withCache(adapter, { logger }).withCache;
      } finally {
        if (saved === undefined) delete process.env.SNC_INTEGRITY_KEY;
        else process.env.SNC_INTEGRITY_KEY = saved;
      }
      const engine = engineOf(adapter, 'test', { acceptAdapters: true, adapterOptions: { integrity: integrity ? { key: integrity } : false } });
      return {
        client: { stats: () => engine.stats(), close: async () => redis.disconnect() },
        read: (User, id) => {
          // Wrapping again binds User.cache() to this adapter (another namespace may have taken it).
          wrap(User);
          return User.cache().findByPk(id);
        },
        entry: (User, id) => ({ key: `${namespace}:User:${id}`, bound: JSON.stringify([namespace, 'User', String(id)]) }),
        token: { key: `${namespace}:#generation:users#entities`, bound: JSON.stringify([namespace, '#generation', 'users#entities']) },
      };
    },
    get: async (key) => {
      const raw = await inspect.get(key);
      return raw === null ? null : JSON.parse(raw);
    },
    put: (key, value) => inspect.set(key, typeof value === 'string' ? JSON.stringify(value) : value),
    async putOtherType(key, type) {
      await inspect.del(key);
      if (type === 'hash') await inspect.hset(key, 'f', 'v');
      else await inspect.rpush(key, 'a', 'b');
    },
    frame: textFrame,
    body: textBody,
  };
}

/** The engine behind an adapter (for its stats): the one every withCache over it shares. */
const { engineOf } = await import('../js/clients.js');

const TIERS = [
  ['RedisCache', redisTier],
  ['MomentoCache', momentoTier],
  ['IORedisAdapter', ioredisTier],
];

for (const [name, makeTier] of TIERS) {
  for (const signed of [false, true]) {
    describe(`${name}${signed ? ' with integrity' : ''}: poisoned entries`, () => {
      const tier = makeTier(signed ? SECRET : undefined);
      let db;
      let logger;
      let c;
      let users;
      const served = { forged: 0 };

      before(async () => {
        db = await schema();
        logger = recordingLogger();
        c = await tier.open(`poison${namespaces++}`, logger);
        users = [await db.User.create({ name: 'alice' }), await db.User.create({ name: 'bob' })];
      });
      after(async () => {
        await c.client.close();
        await db.sequelize.close();
      });

      /** Reads user `u` with `value` stored at its key: the database answers, nothing leaks. */
      async function poisoned(u, value, what) {
        await tier.put(c.entry(db.User, u.id).key, value);
        const [row, statements] = await db.counted(() => c.read(db.User, u.id));
        if (row && row.name === 'forged') served.forged++;
        assert.deepEqual([row && row.name, statements], [u.name, 1], `${what}: the database answers`);
        assert.equal({}.isAdmin, undefined, `${what}: nothing reached Object.prototype`);
      }

      /** The value stored for user `u` after a clean read (a fill), checked to be a hit. */
      async function cleanValue(u) {
        await c.read(db.User, u.id);
        const [row, statements] = await db.counted(() => c.read(db.User, u.id));
        assert.deepEqual([row.name, statements], [u.name, 0], 'a clean entry is a hit');
        const v = await tier.get(c.entry(db.User, u.id).key);
        assert.ok(v !== null, 'the entry is stored');
        return v;
      }

      test('garbage, a cut-short value and an unknown format are misses', async () => {
        const [alice] = users;
        const good = await cleanValue(alice);
        await poisoned(alice, 'not a frame at all', 'garbage text');
        await poisoned(alice, randomBytes(300), 'random bytes');
        await poisoned(alice, '', 'an empty value');
        for (const n of [1, 3, 5, 16, 20, 21, Math.floor(good.length / 2), good.length - 1]) {
          await poisoned(alice, good.slice(0, n), `cut to ${n}`);
        }
        await poisoned(alice, tier.kind === 'text' ? good.replace('snc2 ', 'snc9 ') : Buffer.concat([Buffer.from('SNC'), Buffer.from([9]), good.subarray(4)]), 'another format version');
      });

      test('every byte of a small frame flipped: each one is a miss', async () => {
        const [alice] = users;
        const good = await cleanValue(alice);
        const n = good.length;
        assert.ok(n < 400, `a small frame (${n})`);
        for (let i = 0; i < n; i++) {
          let bad;
          if (tier.kind === 'text') {
            const ch = good.charCodeAt(i) ^ 1;
            bad = good.slice(0, i) + String.fromCharCode(ch) + good.slice(i + 1);
          } else {
            bad = Buffer.from(good);
            bad[i] ^= 0xff;
          }
          await poisoned(alice, bad, `byte ${i} flipped`);
        }
      });

      test('a value copied from another key, or from another namespace, never answers there', async () => {
        const [alice, bob] = users;
        await cleanValue(alice);
        const bobs = await cleanValue(bob);
        await poisoned(alice, bobs, "bob's entry at alice's key");
        const other = await tier.open(`poison${namespaces++}`, recordingLogger());
        try {
          await other.read(db.User, alice.id);
          const foreign = await tier.get(other.entry(db.User, alice.id).key);
          assert.ok(foreign !== null);
          // With its table's token too, so the copied entry's dependencies would match.
          await tier.put(c.token.key, await tier.get(other.token.key));
          await poisoned(alice, foreign, "another namespace's entry (and token) for the same row");
        } finally {
          await other.client.close();
        }
      });

      test('a value over maxValueBytes is a miss, never decoded', async () => {
        const [alice] = users;
        const good = await cleanValue(alice);
        const body = tier.body(good);
        const huge = body + ' '.repeat(5 * 1024 * 1024);
        await poisoned(alice, tier.frame(c.entry(db.User, alice.id).bound, huge, { secret: tier.integrity }), 'a huge, well-framed value');
      });

      test('an entry naming a token that is not a UUID is a miss', async () => {
        const [alice] = users;
        const body = tier.body(await cleanValue(alice));
        const deps = JSON.parse(body.slice('snc1 '.length, body.indexOf('\n')));
        const odd = `snc1 ${JSON.stringify(deps.map(([t]) => [t, 'not-a-uuid']))}${body.slice(body.indexOf('\n'))}`;
        await poisoned(alice, tier.frame(c.entry(db.User, alice.id).bound, odd, { secret: tier.integrity }), 'an entry naming a malformed token');
      });

      test('a generation token not in the format written reads as missing, and the next fill replaces it', async () => {
        const [alice] = users;
        await cleanValue(alice);
        await tier.put(c.token.key, tier.frame(c.token.bound, 'not-a-uuid', { secret: tier.integrity }));
        let [row, statements] = await db.counted(() => c.read(db.User, alice.id));
        assert.deepEqual([row.name, statements], [alice.name, 1], 'the entry is stale: the database answers');
        [row, statements] = await db.counted(() => c.read(db.User, alice.id));
        assert.deepEqual([row.name, statements], [alice.name, 0], 'the fill made a new token, and its entry is a hit');
        assert.match(tier.body(await tier.get(c.token.key)), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      });

      if (tier.putOtherType) {
        test('another Redis type at the key (a hash, a list) is a miss, and the next fill replaces it', async () => {
          const [alice] = users;
          await cleanValue(alice);
          for (const type of ['hash', 'list']) {
            const { key } = c.entry(db.User, alice.id);
            await tier.putOtherType(key, type);
            const [row, statements] = await db.counted(() => c.read(db.User, alice.id));
            assert.deepEqual([row.name, statements], [alice.name, 1], `${type}: the database answers`);
            assert.equal(await inspect.type(key), 'string', `${type}: the fill replaced it`);
          }
        });
      }

      if (signed) {
        test('forged frames are never served: unsigned, signed with another key, or replayed after their signed expiry', async () => {
          const [alice, bob] = users;
          const good = await cleanValue(alice);
          const { bound } = c.entry(db.User, alice.id);
          const forged = withPayload(tier.body(good), forgedRow(alice.id));
          await poisoned(alice, tier.frame(bound, forged), 'a CRC-checked forgery');
          await poisoned(alice, tier.frame(bound, forged, { secret: OTHER_SECRET }), 'a forgery signed with another key');
          await poisoned(alice, tier.frame(bound, tier.body(good), { secret: OTHER_SECRET }), 'a genuine body signed with another key');
          await poisoned(alice, tier.frame(bound, tier.body(good), { secret: tier.integrity, expires: Date.now() - 1 }), 'a genuine body past its signed expiry');
          const bobs = await cleanValue(bob);
          await poisoned(alice, bobs, "bob's signed entry replayed at alice's key");
          await poisoned(alice, tier.frame(bound, withPayload(tier.body(good), PROTO_PAYLOAD)), 'a forged payload walking to __proto__');
          // The same forgery signed with the right key is served: the signature is what stops it.
          const [row] = await db.counted(async () => {
            await tier.put(c.entry(db.User, alice.id).key, tier.frame(bound, forged, { secret: tier.integrity }));
            return c.read(db.User, alice.id);
          });
          assert.equal(row.name, 'forged', 'the test forges what an attacker with the key could');
          assert.equal(served.forged, 0, 'no forged entry was served');
        });
      } else {
        test('a forged payload walking to __proto__, or holding a __proto__ key in any spelling, pollutes nothing', async () => {
          const [alice] = users;
          const good = await cleanValue(alice);
          try {
            await poisoned(alice, tier.frame(c.entry(db.User, alice.id).bound, withPayload(tier.body(good), PROTO_PAYLOAD)), 'a forged payload walking to __proto__');
            const escaped = withPayload(tier.body(good), ESCAPED_PROTO_PAYLOAD(alice.id));
            await poisoned(alice, tier.frame(c.entry(db.User, alice.id).bound, escaped), 'a forged row whose __proto__ key is spelled with escapes');
          } finally {
            delete Object.prototype.isAdmin;
          }
        });
      }

      test('rejected values are counted as corrupt and logged a bounded number of times', async () => {
        const stats = await c.client.stats();
        assert.ok(stats.corrupt >= 20, `counted: ${stats.corrupt}`);
        const corrupt = logger.lines.filter((l) => l.code === 'cache-corrupt');
        assert.ok(corrupt.length >= 1 && corrupt.length <= 2, `cache-corrupt logged once per burst, not per read: ${corrupt.length}`);
        assert.ok(logger.lines.length <= 6, `few lines in all: ${logger.lines.map((l) => l.code).join(', ')}`);
        assert.ok(logger.lines.every((l) => !signed || !l.text.includes(SECRET)));
        assert.equal({}.isAdmin, undefined);
      });
    });
  }
}
