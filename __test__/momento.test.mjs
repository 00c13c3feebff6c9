// The Momento tier: MomentoClientGenerator and Momento's HTTP API called from Rust, against the
// local stand-in (support/momento-server.mjs) — and against real Momento when MOMENTO_API_KEY is
// set. No timing assertions: the promises are correctness, failing open, and clear errors.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMomentoServer } from './support/momento-server.mjs';
import { recordingLogger, schema, eventually } from './support/suite.mjs';
import { MomentoClientGenerator, MomentoCache, Configurations, CredentialProvider, modelCacheFactory, withCache } from '../js/index.mjs';

const run = promisify(execFile);
const unhandled = [];
process.on('unhandledRejection', (e) => unhandled.push(e));

const TOKEN = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl';
const v1Key = (apiKey, endpoint) => Buffer.from(JSON.stringify({ api_key: apiKey, endpoint })).toString('base64');



describe('MomentoCache over the local Momento HTTP API', () => {
  let server;
  let clients = 0;
  // Each test's databases are its own, so each gets its own namespace (as two apps would).
  const client = (props = {}) =>
    MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: TOKEN, endpoint: server.url }, defaultTtlSeconds: 60, namespace: `t${clients++}`, ...props });

  before(async () => {
    server = await startMomentoServer({ token: TOKEN, caches: ['model-cache', 'other'] });
  });
  after(async () => {
    await server.close();
    assert.deepEqual(unhandled, [], 'no promise rejected unhandled');
  });

  test('both API styles read through Momento: a miss PUTs with ttl_seconds, a hit is a GET and no SQL', async () => {
    const { sequelize, User, counted } = await schema();
    const c = client({ l1: false, defaultTtlSeconds: 90 });
    const cache = await modelCacheFactory(c, recordingLogger());
    const u = await User.create({ name: 'alice' });
    await cache.wrap(User).findByPk(u.id);
    const key = c.keyFor(User, 'findByPk', u.id);
    const stored = [...server.store.keys()].find((k) => k.endsWith(key));
    assert.ok(stored, `an item was PUT for ${key}`);
    assert.equal(server.store.get(stored).ttl, 90, 'ttl_seconds is defaultTtlSeconds');
    const before = server.requests.GET;
    const [row, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
    assert.deepEqual([row.name, statements], ['alice', 0], 'a hit served by Momento');
    assert.ok(server.requests.GET > before, 'the hit went to Momento (L1 off)');
    withCache(c, { logger: recordingLogger() }).withCache(User);
    await User.cache().findByPk(u.id);
    const [living, s2] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([living.name, s2, living instanceof User], ['alice', 0, true]);
    await c.close();
    await sequelize.close();
  });

  test("a write in one app server is seen by another at once with the L1 off (generation tokens in Momento)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snc-momento-'));
    const open = () => schema(join(dir, 'db.sqlite'));
    const a = await open();
    const b = await open();
    const ca = await modelCacheFactory(client({ l1: false, namespace: 'shared' }), recordingLogger());
    const cb = await modelCacheFactory(client({ l1: false, namespace: 'shared' }), recordingLogger());
    const u = await a.User.create({ name: 'v1' });
    const readA = () => ca.wrap(a.User).findAll({ where: { id: u.id } });
    assert.equal((await readA())[0].name, 'v1');
    assert.equal((await readA())[0].name, 'v1');
    cb.wrap(b.User);
    await b.User.update({ name: 'v2' }, { where: { id: u.id } });
    assert.equal((await readA())[0].name, 'v2', "B's write made A's entry stale");
    await a.sequelize.close();
    await b.sequelize.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("with the L1 on, this process's writes are seen at once and another's within the L1 TTL", async () => {
    const { sequelize, User, counted } = await schema();
    const c = client({ l1: { ttlSeconds: 0.3 } });
    const cache = await modelCacheFactory(c, recordingLogger());
    const u = await User.create({ name: 'v1' });
    await cache.wrap(User).findByPk(u.id);
    const getsBefore = server.requests.GET;
    const [row, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
    assert.deepEqual([row.name, statements, server.requests.GET], ['v1', 0, getsBefore], 'an L1 hit asks nobody');
    const st = c.stats();
    assert.deepEqual(
      [st.hits, st.misses, st.fills, st.tiers.memory, st.tiers.remote],
      [1, 1, 1, { hits: 1, misses: 1, fills: 1 }, { hits: 0, misses: 1, fills: 1 }],
      'per call: one miss then one hit; per tier: each lookup',
    );
    await User.update({ name: 'v2' }, { where: { id: u.id } });
    assert.equal((await cache.wrap(User).findByPk(u.id)).name, 'v2', 'own write: fresh at once');
    // Another process's write: simulated by moving the table's token in Momento directly, as a
    // writer elsewhere would, after changing the row behind this process's back.
    await sequelize.query(`UPDATE Users SET name = 'v3' WHERE id = ${u.id}`, { hooks: false, logging: false });
    const other = client({ l1: false });
    other.invalidateModel(User);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(await eventually(() => cache.wrap(User).findByPk(u.id), (r) => r.name === 'v3'), "another writer's change is seen once the L1 entry expires");
    await c.close();
    await other.close();
    await sequelize.close();
  });

  test('a rejected API key: the database answers, one clear error, the key never logged', async () => {
    const { sequelize, User, counted } = await schema();
    const logger = recordingLogger();
    const wrongKey = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ3cm9uZyJ9.d3Jvbmc';
    const c = MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: wrongKey, endpoint: server.url }, l1: false });
    const cache = await modelCacheFactory(c, logger);
    const u = await User.create({ name: 'alice' });
    for (let i = 0; i < 20; i++) {
      const [row, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
      assert.deepEqual([row.name, statements], ['alice', 1]);
    }
    const errors = logger.lines.filter((l) => l.level === 'error');
    assert.equal(errors.length, 1, JSON.stringify(logger.lines));
    assert.equal(errors[0].code, 'cache-unauthorized');
    assert.match(errors[0].msg, /API key was rejected/);
    assert.ok(logger.lines.length <= 3, `few lines: ${logger.lines.length}`);
    assert.ok(logger.lines.every((l) => !l.text.includes(wrongKey) && !l.text.includes('d3Jvbmc')), 'the key never appears');
    assert.equal(c.breaker().phase !== 'closed', true, 'the breaker stopped the requests');
    await c.close();
    await sequelize.close();
  });

  test('a cache that does not exist: one clear error naming it; the database answers', async () => {
    const { sequelize, User, counted } = await schema();
    const logger = recordingLogger();
    const c = client({ modelCacheName: 'no-such-cache', l1: false });
    const cache = await modelCacheFactory(c, logger);
    const u = await User.create({ name: 'bob' });
    for (let i = 0; i < 5; i++) {
      const [row, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
      assert.deepEqual([row.name, statements], ['bob', 1]);
    }
    const errors = logger.lines.filter((l) => l.level === 'error');
    assert.equal(errors.length, 1, JSON.stringify(logger.lines));
    assert.equal(errors[0].code, 'cache-cache-not-found');
    assert.match(errors[0].msg, /"no-such-cache" not found/);
    await c.close();
    await sequelize.close();
  });

  test('429 and 500: fail open, the breaker stops a retry storm, then hits resume by themselves', async () => {
    const { sequelize, User, counted } = await schema();
    const logger = recordingLogger();
    const c = client({ l1: false });
    const cache = await modelCacheFactory(c, logger);
    const u = await User.create({ name: 'carol' });
    await cache.wrap(User).findByPk(u.id);
    for (const status of [429, 500]) {
      server.fail(status, 1000);
      const before = Object.values(server.requests).reduce((a, b) => a + b, 0);
      for (let i = 0; i < 50; i++) {
        const [row] = await counted(() => cache.wrap(User).findByPk(u.id));
        assert.equal(row.name, 'carol');
      }
      const sent = Object.values(server.requests).reduce((a, b) => a + b, 0) - before;
      assert.ok(sent <= 10, `${status}: 50 reads sent only ${sent} requests (breaker open)`);
      assert.equal(c.breaker().phase, 'open');
      server.injected.length = 0;
      assert.ok(
        await eventually(
          () => counted(() => cache.wrap(User).findByPk(u.id)),
          ([row, statements]) => row.name === 'carol' && statements === 0,
          15, // the breaker's back-off grows to 10 s while the failures last
        ),
        `after ${status} stops, hits resume`,
      );
    }
    // Another 4xx refuses a request, not the service: the breaker stays closed.
    server.fail(400, 30);
    for (let i = 0; i < 10; i++) assert.equal((await cache.wrap(User).findByPk(u.id)).name, 'carol');
    assert.equal(c.breaker().phase, 'closed', 'a 400 does not open the breaker');
    server.injected.length = 0;
    assert.ok(logger.lines.length <= 7, `one line per state, not per call: ${logger.lines.length}`);
    await c.close();
    await sequelize.close();
  });

  test('a slow Momento: each read gives up after requestTimeoutMs and the database answers', async () => {
    const { sequelize, User, counted } = await schema();
    const c = client({ l1: false, requestTimeoutMs: 50 });
    const cache = await modelCacheFactory(c, recordingLogger());
    const u = await User.create({ name: 'dan' });
    server.delayMs = 400;
    try {
      for (let i = 0; i < 3; i++) {
        const [row, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
        assert.deepEqual([row.name, statements], ['dan', 1]);
      }
    } finally {
      server.delayMs = 0;
    }
    await c.close();
    await sequelize.close();
  });

  test('an endpoint that streams a body without a length is not read past what a value can be', async () => {
    const { sequelize, User, counted } = await schema();
    const c = client({ l1: false, requestTimeoutMs: 5000 });
    const cache = await modelCacheFactory(c, recordingLogger());
    const u = await User.create({ name: 'eve' });
    const flood = server.flood(256 * 1024 * 1024);
    try {
      const [row, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
      assert.deepEqual([row.name, statements], ['eve', 1], 'the database answers');
      assert.ok(await eventually(async () => flood.closed, (closed) => closed), 'the client hung up');
      assert.ok(flood.written < flood.total / 4, `read ${flood.written} of ${flood.total} bytes`);
    } finally {
      server.flooding = undefined;
    }
    await c.close();
    await sequelize.close();
  });

  test("Momento's limits: a TTL over 24 h is clamped (one warning); an item over maxValueBytes is not cached", async () => {
    const { sequelize, User } = await schema();
    const logger = recordingLogger();
    const c = client({ l1: false, defaultTtlSeconds: 7 * 24 * 3600, logger, maxValueBytes: 2000, compressionType: 'NONE', namespace: 'limits' });
    assert.equal(logger.lines.filter((l) => l.code === 'cache-ttl-clamped').length, 1);
    const cache = await modelCacheFactory(c, logger);
    const u = await User.create({ name: 'erin' });
    await cache.wrap(User).findByPk(u.id);
    // Queries are stored at the Momento wrapper's keys.
    const item = [...server.store.entries()].find(([k]) => k === `model-cache\nmodel-cache:findByPk:Users:{"where":{"id":${u.id}}}`);
    assert.equal(item[1].ttl, 24 * 3600, 'stored for 24 h');
    await User.create({ name: 'x'.repeat(5000) });
    // Every client stores queries at the wrapper's keys: clear what other tests left there.
    for (const k of [...server.store.keys()]) if (k.startsWith('model-cache\nmodel-cache:findAll:')) server.store.delete(k);
    await cache.wrap(User).findAll();
    assert.equal(c.stats().bypassReasons['value-too-large'], 1);
    assert.ok(![...server.store.keys()].some((k) => k.startsWith('model-cache\nmodel-cache:findAll:')), 'the large result was not stored');
    await c.close();
    await sequelize.close();
  });

  test('bad input is a TypeError naming it, and the key never appears in the message', () => {
    const cases = [
      [{ credentialProvider: undefined }, /no credentials/],
      [{ credentialProvider: { apiKey: 'not a key!' } }, /could not be parsed/],
      [{ credentialProvider: { apiKey: v1Key('secret-inner', 'cell-1.example.com') }, endpoint: 'not a host!' }, /endpoint .*host name/],
      [{ credentialProvider: { apiKey: TOKEN } }, /no endpoint/],
      [{ credentialProvider: { apiKey: TOKEN, endpoint: 'http://example.com' } }, /loopback/],
      [{ credentialProvider: { apiKey: TOKEN, endpoint: server.url }, defaultTtlSeconds: 0 }, /defaultTtlSeconds must be a positive number/],
      [{ credentialProvider: { apiKey: TOKEN, endpoint: server.url }, defaultTtlSeconds: '60' }, /defaultTtlSeconds must be a positive number/],
      [{ credentialProvider: { apiKey: TOKEN, endpoint: server.url }, requestTimeoutMs: -1 }, /requestTimeoutMs/],
      [{ credentialProvider: { apiKey: TOKEN, endpoint: server.url }, colour: 1 }, /unknown option "colour"/],
      [{ credentialProvider: 42 }, /credentialProvider must be/],
      [{ credentialProvider: TOKEN }, /credentialProvider must be .*a string \(for a key, pass \{ apiKey \}/],
    ];
    const saved = process.env.MOMENTO_API_KEY;
    delete process.env.MOMENTO_API_KEY;
    try {
      for (const [props, message] of cases) {
        assert.throws(
          () => MomentoClientGenerator.newInstance(props),
          (e) => e instanceof TypeError && message.test(e.message) && !e.message.includes('secret-inner') && !e.message.includes(TOKEN),
          String(message),
        );
      }
    } finally {
      if (saved !== undefined) process.env.MOMENTO_API_KEY = saved;
    }
  });

  test('credentials: an SDK-shaped provider, a v1 key from the environment with MOMENTO_ENDPOINT, CredentialProvider', async () => {
    const { sequelize, User, counted } = await schema();
    const u = await User.create({ name: 'fay' });
    /** The name read twice and the second read's SQL statements (0: a hit through Momento). */
    const reads = async (c) => {
      const cache = await modelCacheFactory(c, recordingLogger());
      await cache.wrap(User).findByPk(u.id);
      const [r, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
      const hits = c.stats().hits;
      await c.close();
      return [r.name, statements, hits > 0];
    };
    // Duck-typed like @gomomento/sdk's provider: getAuthToken() and getCacheEndpoint().
    const provider = { getAuthToken: () => TOKEN, getCacheEndpoint: () => server.url };
    assert.deepEqual(await reads(MomentoClientGenerator.newInstance({ credentialProvider: provider, l1: false })), ['fay', 0, true]);
    const saved = { ...process.env };
    try {
      process.env.MOMENTO_API_KEY = v1Key(TOKEN, 'cell-9.example.com');
      process.env.MOMENTO_ENDPOINT = server.url;
      assert.deepEqual(await reads(MomentoClientGenerator.newInstance({ l1: false })), ['fay', 0, true], 'MOMENTO_API_KEY (v1) + MOMENTO_ENDPOINT');
      const fromEnv = CredentialProvider.fromEnvironmentVariable({ environmentVariableName: 'MOMENTO_API_KEY' });
      assert.deepEqual(await reads(MomentoClientGenerator.newInstance({ credentialProvider: fromEnv, configuration: Configurations.InRegion.Default.latest(), l1: false })), ['fay', 0, true]);
    } finally {
      process.env = saved;
    }
    // A legacy token carries its cache host in the `c` claim (`cp` is the control plane).
    const claims = Buffer.from(JSON.stringify({ sub: 'x', c: server.url, cp: 'control.cell-9.example.com' })).toString('base64url');
    const legacy = `eyJhbGciOiJub25lIn0.${claims}.c2ln`;
    server.token = legacy;
    try {
      assert.deepEqual(await reads(MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: legacy }, l1: false })), ['fay', 0, true], 'legacy token');
    } finally {
      server.token = TOKEN;
    }
    await sequelize.close();
  });

  test('getInstance returns one client per process and warns when called again with other props', async () => {
    const logger = recordingLogger();
    const first = MomentoClientGenerator.getInstance({ credentialProvider: { apiKey: TOKEN, endpoint: server.url }, logger, defaultTtlSeconds: 60 });
    const same = MomentoClientGenerator.getInstance({ credentialProvider: { apiKey: TOKEN, endpoint: server.url }, logger, defaultTtlSeconds: 60 });
    assert.equal(first, same);
    assert.ok(first instanceof MomentoCache);
    assert.equal(logger.lines.length, 0, 'the same props: no warning');
    await modelCacheFactory(first, logger);
    const other = MomentoClientGenerator.getInstance({ credentialProvider: { apiKey: TOKEN, endpoint: server.url }, defaultTtlSeconds: 5 });
    assert.equal(other, first);
    assert.equal(logger.lines.filter((l) => l.code === 'cache-instance').length, 1);
    assert.notEqual(MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: TOKEN, endpoint: server.url } }), first);
    // Invalid props on a later call: the client stands and nothing throws (the warning is the
    // same kind as above, so within its burst it is counted, not repeated).
    assert.equal(MomentoClientGenerator.getInstance({ defaultTtlSeconds: -1 }), first);
    assert.equal(logger.lines.filter((l) => l.code === 'cache-instance').length, 1);
    await first.close();
    const next = MomentoClientGenerator.getInstance({ credentialProvider: { apiKey: TOKEN, endpoint: server.url } });
    assert.notEqual(next, first, 'after close, a new client');
    await next.close();
  });

  test("the seeds' code runs against it: the tutorial (seed 000) and the README's doWork() (seed 001)", async () => {
    const env = { ...process.env };
    delete env.MOMENTO_API_KEY;
    delete env.MOMENTO_ENDPOINT;
    const tutorial = await run(process.execPath, ['examples/momento-tutorial.mjs'], { env });
    assert.match(tutorial.stdout, /findByPk\(1\), a hit: +\{"id":1,"username":"user1"/);
    assert.match(tutorial.stdout, /key: model-cache:findByPk:Users:\{"where":\{"id":1\}\}/, "the seed's key format");
    assert.match(tutorial.stdout, /stats: hits=1 /);
    const readme = await run(process.execPath, ['examples/momento-readme.mjs'], { env });
    assert.match(readme.stdout, /DEBUG Found user: .*user1/);
    assert.match(readme.stdout, /DEBUG Found users: .*user1.*user2/);
    assert.match(readme.stdout, /findByPk\(1\) again: \{"username":"user1"/);
    assert.match(readme.stdout, /stats: hits=1 /, 'the repeated read was a hit');
    assert.match(readme.stderr, /forceCreateCache: Momento's HTTP API cannot create caches/, 'forceCreateCache without the SDK: one clear warning');
  });
});

// Real Momento, when a key is configured. Skipped with a printed notice otherwise.
const realKey = process.env.MOMENTO_API_KEY;
describe('MomentoCache against real Momento (MOMENTO_API_KEY)', { skip: realKey ? false : 'MOMENTO_API_KEY is not set' }, () => {
  test('a miss, then a hit, through the cache named by MOMENTO_CACHE (default model-cache)', async () => {
    const { sequelize, User, counted } = await schema();
    const c = MomentoClientGenerator.newInstance({ modelCacheName: process.env.MOMENTO_CACHE || 'model-cache', namespace: `snc-test-${process.pid}`, l1: false });
    const cache = await modelCacheFactory(c, recordingLogger());
    const u = await User.create({ name: 'real' });
    await cache.wrap(User).findByPk(u.id);
    const [row, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
    assert.deepEqual([row.name, statements], ['real', 0]);
    await c.close();
    await sequelize.close();
  });
});
if (!realKey) console.log('# notice: the real-Momento suite is skipped (set MOMENTO_API_KEY, and MOMENTO_CACHE if not model-cache, to run it)');
