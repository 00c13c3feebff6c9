// withCache over JS adapters: the seed's CacheAdapter interface used as is, IORedisAdapter over a
// real Redis (127.0.0.1:6379; the suite fails if it is not there), transparent-cache adaptors, and
// adapters that fail — which never fail a query.
import { test, describe, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Sequelize, DataTypes } from 'sequelize';
import { withCache, IORedisAdapter } from '../js/index.mjs';
import { recordingLogger, sqlCounter, eventually } from './support/suite.mjs';
import { freePort, startRedis } from './support/redis-server.mjs';

const REDIS_URL = process.env.SNC_REDIS_URL || 'redis://127.0.0.1:6379';

/** The seed's CacheAdapter, in memory: a Map of JSON values with lifetimes. */
class MapAdapter {
  constructor() {
    this.map = new Map();
    this.calls = 0;
  }
  async get(key) {
    this.calls++;
    const e = this.map.get(key.join(':'));
    if (!e || (e.expires && e.expires < Date.now())) return null;
    return JSON.parse(e.json);
  }
  async set(key, value, options = {}) {
    this.calls++;
    this.map.set(key.join(':'), { json: JSON.stringify(value), expires: options.lifetime ? Date.now() + options.lifetime * 1000 : 0 });
  }
  async del(key) {
    this.map.delete(key.join(':'));
  }
  async delModelQueries() {}
  async addQueryKey() {}
}

/** A sequelize-transparent-cache style adaptor: get/set/del, set's lifetime named `ttl`. */
class TransparentAdaptor {
  constructor() {
    this.store = new Map();
    this.ttls = [];
  }
  async get(key) {
    return this.store.has(key.join('|')) ? JSON.parse(this.store.get(key.join('|'))) : null;
  }
  async set(key, value, { ttl } = {}) {
    this.ttls.push(ttl);
    this.store.set(key.join('|'), JSON.stringify(value));
  }
  async del(key) {
    this.store.delete(key.join('|'));
  }
}

async function schema(storage = ':memory:') {
  const { sql, logging, counted } = sqlCounter();
  const sequelize = new Sequelize({ dialect: 'sqlite', storage, logging });
  const User = sequelize.define('User', { name: DataTypes.STRING, status: DataTypes.STRING });
  const Post = sequelize.define('Post', { title: DataTypes.STRING, userId: DataTypes.INTEGER });
  User.hasMany(Post, { foreignKey: 'userId', as: 'Posts' });
  await sequelize.sync();
  return { sequelize, User, Post, sql, counted };
}

describe('a CacheAdapter is used as is', () => {
  test('reads hit the adapter, writes invalidate, and the seed flow holds', async () => {
    const { sequelize, User, Post, counted } = await schema();
    const adapter = new MapAdapter();
    const logger = recordingLogger();
    const { withCache: wrap } = withCache(adapter, { logger });
    wrap(User);
    wrap(Post);
    const u = await User.cache().create({ name: 'Alice', status: 'active' });
    await Post.cache().create({ userId: u.id, title: 'A' });
    let [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['Alice', 0], 'the create wrote the entity through to the adapter');
    assert.ok(row instanceof User);

    const listing = () => User.cache('active_list').findAll({ where: { status: 'active' }, include: 'Posts' });
    await listing();
    [, statements] = await counted(listing);
    assert.equal(statements, 0);
    await Post.update({ title: 'B' }, { where: { userId: u.id } });
    let rows;
    [rows, statements] = await counted(listing);
    assert.deepEqual([rows[0].Posts[0].title, statements], ['B', 1], 'a write to an included table made the named query stale');
    assert.equal(User.cache().client(), adapter);
    assert.equal(logger.lines.length, 0);
    await sequelize.close();
  });

  test('a value the codec did not write is a miss', async () => {
    const { sequelize, User, counted } = await schema();
    const adapter = new MapAdapter();
    const { withCache: wrap } = withCache(adapter, { logger: recordingLogger() });
    wrap(User);
    const u = await User.create({ name: 'real' });
    await adapter.set(['User', String(u.id)], { name: 'forged' });
    const [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['real', 1]);
    await sequelize.close();
  });

  test('a transparent-cache adaptor works, with its ttl option', async () => {
    const { sequelize, User, counted } = await schema();
    const adaptor = new TransparentAdaptor();
    const { withCache: wrap } = withCache(adaptor, { ttl: 90, logger: recordingLogger() });
    wrap(User);
    const u = await User.create({ name: 'x' });
    await User.cache().findByPk(u.id);
    const [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['x', 0]);
    assert.ok(adaptor.ttls.includes(90), 'entries were set with ttl: 90');
    await sequelize.close();
  });
});

describe('an adapter that fails never fails a query', () => {
  function failing(mode) {
    const ok = new MapAdapter();
    const boom = () => {
      throw new Error(`adapter ${mode} failure`);
    };
    return {
      get: mode === 'get-throws' ? boom : mode === 'get-rejects' ? async () => boom() : (k) => ok.get(k),
      set: mode === 'set-rejects' ? async () => boom() : (k, v, o) => ok.set(k, v, o),
      del: mode === 'set-rejects' ? async () => boom() : (k) => ok.del(k),
    };
  }

  for (const mode of ['get-throws', 'get-rejects', 'set-rejects']) {
    test(`${mode}: the database answers, writes succeed, one warning per burst`, async () => {
      const { sequelize, User } = await schema();
      const logger = recordingLogger();
      const { withCache: wrap } = withCache(failing(mode), { logger });
      wrap(User);
      const u = await User.cache().create({ name: 'a' });
      await User.update({ name: 'b' }, { where: { id: u.id } });
      for (let i = 0; i < 5; i++) assert.equal((await User.cache().findByPk(u.id)).name, 'b');
      assert.equal((await User.cache().findAll()).length, 1);
      await u.cache().update({ name: 'c' });
      assert.equal((await User.findByPk(u.id)).name, 'c', 'the write went through');
      const warnings = logger.lines.filter((l) => l.level === 'warn');
      assert.ok(warnings.length >= 1, 'the failure was logged');
      assert.ok(warnings.length <= 3, `logged once per kind, not per call (${warnings.length})`);
      await sequelize.close();
    });
  }

  test('a malformed adapter is a TypeError at withCache()', () => {
    assert.throws(() => withCache({ get() {}, set() {} }), (e) => e instanceof TypeError && /get, set and del/.test(e.message));
    assert.throws(() => withCache(null), TypeError);
  });
});

describe('IORedisAdapter over a real Redis', () => {
  let redis;
  let namespace;
  before(async () => {
    redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      throw new Error(`Redis is required for this suite at ${REDIS_URL}: ${err.message}`);
    }
    namespace = `snc-test-${randomBytes(4).toString('hex')}`;
  });
  after(async () => {
    const keys = await redis.keys(`${namespace}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  test("the seed's key layout: namespace:Model:pk and namespace:Model:query:<key>, with lifetime", async () => {
    const { sequelize, User, counted } = await schema();
    const adapter = new IORedisAdapter({ client: redis, namespace, lifetime: 3600 });
    const { withCache: wrap } = withCache(adapter, { logger: recordingLogger() });
    wrap(User);
    const u = await User.cache().create({ name: 'Alice', status: 'active' });
    assert.equal(await redis.exists(`${namespace}:User:${u.id}`), 1);
    const ttl = await redis.ttl(`${namespace}:User:${u.id}`);
    assert.ok(ttl > 3500 && ttl <= 3600, `lifetime applied (ttl ${ttl})`);
    await User.cache('active_list').findAll({ where: { status: 'active' } });
    assert.equal(await redis.exists(`${namespace}:User:query:active_list`), 1);
    const [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['Alice', 0]);
    await adapter.delModelQueries('User');
    assert.equal(await redis.exists(`${namespace}:User:query:active_list`), 0);
    await sequelize.close();
  });

  test('two app instances sharing one Redis see each other’s writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snc-redis-'));
    const storage = join(dir, 'db.sqlite');
    const a = await schema(storage);
    const b = await schema(storage);
    const clientB = new Redis(REDIS_URL);
    try {
      withCache(new IORedisAdapter({ client: redis, namespace, lifetime: 60 }), { logger: recordingLogger() }).withCache(a.User);
      withCache(new IORedisAdapter({ client: clientB, namespace, lifetime: 60 }), { logger: recordingLogger() }).withCache(b.User);
      const u = await a.User.cache().create({ name: 'one' });
      let [row, statements] = await b.counted(() => b.User.cache().findByPk(u.id));
      assert.deepEqual([row.name, statements], ['one', 0], 'B reads what A wrote through');
      await b.User.findAll({ where: { id: u.id } });
      const listA = () => a.User.cache().findAll({ where: { id: u.id } });
      await listA();
      await b.User.update({ name: 'two' }, { where: { id: u.id } });
      [row, statements] = await a.counted(() => a.User.cache().findByPk(u.id));
      assert.deepEqual([row.name, statements], ['two', 1], "B's write made A's entity stale");
      const [rows] = await a.counted(listA);
      assert.equal(rows[0].name, 'two', "and A's queries");
    } finally {
      clientB.disconnect();
      await a.sequelize.close();
      await b.sequelize.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('withCache({ client, namespace, lifetime }) over an ioredis client works as an IORedisAdapter', async () => {
    const { sequelize, User, counted } = await schema();
    const settings = { client: redis, namespace: `${namespace}-settings`, lifetime: 120 };
    const { withCache: wrap } = withCache(settings, { logger: recordingLogger() });
    wrap(User);
    const u = await User.cache().create({ name: 'Bob', status: 'active' });
    assert.equal(await redis.exists(`${namespace}-settings:User:${u.id}`), 1, "the seed's key layout, in its namespace");
    const ttl = await redis.ttl(`${namespace}-settings:User:${u.id}`);
    assert.ok(ttl > 100 && ttl <= 120, `its lifetime (ttl ${ttl})`);
    const [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['Bob', 0]);
    assert.equal(User.cache().client(), settings);
    await sequelize.close();
  });

  test('bad options are TypeErrors naming the option', () => {
    assert.throws(() => new IORedisAdapter({}), /client/);
    assert.throws(() => new IORedisAdapter({ client: redis, lifetime: -1 }), /lifetime/);
    assert.throws(() => new IORedisAdapter({ client: redis, namespace: 5 }), /namespace/);
    assert.throws(() => new IORedisAdapter({ client: redis, ttl: 5 }), /unknown option "ttl"/);
  });
});

// A hung Redis (SIGSTOP keeps its socket open and answers nothing) behind an ioredis client at its
// default options, which waits for ever. Every call on the adapter must still end by its deadline,
// and the breaker must keep a burst from paying it per read. No timing assertions: calls on the
// adapter are counted instead, and every answer is compared with the database.
describe('IORedisAdapter over a hung Redis: deadlines and a breaker', () => {
  const unhandled = [];
  const onUnhandled = (e) => unhandled.push(e);
  before(() => process.on('unhandledRejection', onUnhandled));
  after(() => {
    process.off('unhandledRejection', onUnhandled);
    assert.deepEqual(unhandled, [], 'no late answer of the adapter rejected unhandled');
  });

  /** An app server: its own Sequelize over `storage`, ioredis client (defaults) and adapter. */
  async function appServer(port, namespace, storage) {
    const db = await schema(storage);
    const client = new Redis({ port });
    const adapter = new IORedisAdapter({ client, namespace });
    // Every call this package makes on the adapter, by method.
    const calls = [];
    for (const m of ['get', 'set', 'del']) {
      const real = adapter[m].bind(adapter);
      adapter[m] = (...args) => (calls.push(m), real(...args));
    }
    const logger = recordingLogger();
    const cached = withCache(adapter, { logger });
    cached.withCache(db.User);
    const close = async () => {
      client.disconnect();
      await db.sequelize.close();
    };
    return { ...db, client, adapter, calls, logger, cached, close };
  }

  /** A read through the cache: the row, the statements it issued, the calls it made on the adapter. */
  async function observe(app, id) {
    const first = app.calls.length;
    const [row, statements] = await app.counted(() => app.User.cache().findByPk(id));
    return { row: row && row.get({ plain: true }), statements, calls: app.calls.slice(first) };
  }

  const fromDb = async (app, id) => (await app.User.findByPk(id)).get({ plain: true });

  /** Runs `fn(port, proc, namespace)` against a redis-server of its own, killed afterwards. */
  async function withRedis(fn) {
    const port = await freePort();
    const proc = await startRedis(port);
    try {
      await fn(port, proc, `snc-hung-${randomBytes(4).toString('hex')}`);
    } finally {
      // A stopped child would keep the test process alive.
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
    }
  }

  test("a read while Redis is hung gets the database's answer, after one round of calls on the adapter", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snc-hung-'));
    try {
      await withRedis(async (port, proc, namespace) => {
        const storage = join(dir, 'db.sqlite');
        const app = await appServer(port, namespace, storage);
        // A connection no cache watches, to change the row behind the cache's back.
        const other = await schema(storage);
        try {
          const u = await app.User.create({ name: 'cached', status: 'a' });
          await app.User.cache().findByPk(u.id);
          const hit = await observe(app, u.id);
          assert.deepEqual([hit.row.name, hit.statements], ['cached', 0], 'a hit before the hang');
          await other.User.update({ name: 'db' }, { where: { id: u.id } });
          proc.kill('SIGSTOP');
          const hung = await observe(app, u.id);
          assert.deepEqual(hung.row, await fromDb(app, u.id), "the database's answer");
          assert.deepEqual([hung.row.name, hung.statements], ['db', 1]);
          assert.deepEqual(hung.calls, hit.calls, 'one round of reads on the adapter, no fill or token write after it failed');
          assert.ok(app.logger.lines.some((l) => l.code === 'cache-adapter'), 'the failure was logged');
        } finally {
          await app.close();
          await other.sequelize.close();
        }
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a burst of reads while Redis is hung asks the adapter a bounded number of times (the breaker), and hits resume after SIGCONT', { timeout: 60_000 }, () =>
    withRedis(async (port, proc, namespace) => {
      const app = await appServer(port, namespace);
      try {
        const u = await app.User.create({ name: 'burst', status: 'a' });
        await app.User.cache().findByPk(u.id);
        const perRead = (await observe(app, u.id)).calls.length;
        assert.deepEqual(app.cached.breaker(), { phase: 'closed', changes: 0 });
        proc.kill('SIGSTOP');
        const first = app.calls.length;
        const reads = 30;
        for (let i = 0; i < reads; i++) {
          const r = await observe(app, u.id);
          assert.deepEqual([r.row, r.statements], [await fromDb(app, u.id), 1], `read ${i}: the database's answer`);
        }
        const made = app.calls.slice(first);
        // 3 failures open the breaker; then a probe at most every 500 ms, 1 s, 2 s...
        assert.ok(made.length <= 6 * perRead, `${made.length} calls for ${reads} reads (${perRead} a read)`);
        assert.ok(made.every((m) => m === 'get'), 'only reads: nothing filled or written while hung');
        assert.equal(app.cached.breaker().phase, 'open', 'the breaker stopped the calls');
        const warnings = app.logger.lines.filter((l) => l.level === 'warn');
        assert.ok(warnings.length >= 1 && warnings.length <= 3, `logged once per burst (${warnings.map((l) => l.code)})`);

        proc.kill('SIGCONT');
        let last;
        assert.ok(await eventually(async () => (last = await observe(app, u.id)), (r) => r.statements === 0, 20), 'hits resume after SIGCONT');
        assert.deepEqual(last.row, await fromDb(app, u.id));
        assert.equal(app.cached.breaker().phase, 'closed');
      } finally {
        await app.close();
      }
    }));

  test('a write while Redis is hung succeeds; the writer reads the table from the database until its retried bump reaches Redis', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snc-hung-'));
    try {
      await withRedis(async (port, proc, namespace) => {
        const storage = join(dir, 'db.sqlite');
        const a = await appServer(port, namespace, storage);
        const b = await appServer(port, namespace, storage);
        try {
          const u = await a.User.create({ name: 'before', status: 'a' });
          await a.User.cache().findByPk(u.id);
          await b.User.cache().findByPk(u.id);
          assert.equal((await observe(a, u.id)).statements, 0, "a hit in A's process");
          assert.equal((await observe(b, u.id)).statements, 0, "and in B's");

          proc.kill('SIGSTOP');
          // With A's breaker open the bump is never sent: only a retry can deliver it.
          assert.ok(await eventually(async () => (await observe(a, u.id), a.cached.breaker().phase), (p) => p === 'open', 20), "A's breaker opened");
          await a.User.update({ name: 'while hung' }, { where: { id: u.id } });
          assert.equal((await b.User.findByPk(u.id)).name, 'while hung', 'the write went through');
          for (let i = 0; i < 5; i++) {
            const r = await observe(a, u.id);
            assert.deepEqual([r.row, r.statements, r.calls], [await fromDb(a, u.id), 1, []], 'pending: the database answers, the adapter is not asked');
          }

          proc.kill('SIGCONT');
          // B is served its old entry from Redis until A's bump arrives; A never reads it.
          const seenByA = [];
          const caughtUp = await eventually(
            async () => {
              seenByA.push((await observe(a, u.id)).row.name);
              return (await observe(b, u.id)).row.name;
            },
            (name) => name === 'while hung',
            20,
          );
          assert.ok(caughtUp, "the pending bump reached Redis: B's entry went stale");
          assert.deepEqual(seenByA.filter((n) => n !== 'while hung'), [], 'A never read its stale row');
          assert.ok(await eventually(() => observe(a, u.id), (r) => r.statements === 0 && r.row.name === 'while hung', 20), 'A is served by the cache again');
        } finally {
          await a.close();
          await b.close();
        }
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an answer after the deadline is dropped, and never rejects unhandled', { timeout: 30_000 }, () =>
    withRedis(async (port, proc, namespace) => {
      const app = await appServer(port, namespace);
      try {
        const u = await app.User.create({ name: 'late', status: 'a' });
        await app.User.cache().findByPk(u.id);
        proc.kill('SIGSTOP');
        const r = await observe(app, u.id);
        assert.deepEqual([r.row, r.statements], [await fromDb(app, u.id), 1]);
        await app.User.update({ name: 'later' }, { where: { id: u.id } });
        // The commands still waiting in ioredis now reject, after their deadlines.
        const ended = new Promise((resolve) => app.client.once('end', resolve));
        app.client.disconnect();
        await ended;
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.deepEqual(unhandled, []);
      } finally {
        await app.close();
      }
    }));

  test("adapterTimeoutMs is each call's deadline, 250 ms by default (on mocked timers)", async () => {
    const { sequelize, User } = await schema();
    const u = await User.create({ name: 'db' });
    const turns = async () => {
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      for (const [options, deadline] of [[{}, 250], [{ adapterTimeoutMs: 1000 }, 1000]]) {
        const never = () => new Promise(() => {});
        withCache({ get: never, set: never, del: never }, { ...options, logger: recordingLogger() }).withCache(User);
        let settled = false;
        const read = User.cache().findByPk(u.id).finally(() => (settled = true));
        await turns();
        mock.timers.tick(deadline - 1);
        await turns();
        assert.equal(settled, false, `still waiting at ${deadline - 1} ms`);
        mock.timers.tick(1);
        assert.equal((await read).name, 'db', `the database answers at ${deadline} ms`);
      }
    } finally {
      mock.timers.reset();
      await sequelize.close();
    }
  });

  test('adapterTimeoutMs: a positive number of milliseconds, one setting per adapter', () => {
    for (const bad of [0, -1, NaN, Infinity, '250', 600_001]) {
      assert.throws(() => withCache(new MapAdapter(), { adapterTimeoutMs: bad }), (e) => e instanceof TypeError && /adapterTimeoutMs/.test(e.message), String(bad));
    }
    const adapter = new IORedisAdapter({ client: { get() {}, set() {}, del() {} } });
    const w = withCache(adapter, { adapterTimeoutMs: 100 });
    assert.deepEqual(w.breaker(), { phase: 'closed', changes: 0 });
    withCache(adapter, { adapterTimeoutMs: 100 });
    assert.throws(() => withCache(adapter), (e) => e instanceof TypeError && /adapterTimeoutMs/.test(e.message), 'the default is another setting');
  });
});

test("IORedisAdapter keeps sequelize-memory-clone's defaults: namespace 'sequelize-cache', lifetime 3600 s", () => {
  const fake = { get() {}, set() {}, del() {} };
  const a = new IORedisAdapter({ client: fake });
  assert.equal(a.namespace, 'sequelize-cache');
  assert.equal(a.lifetime, 3600);
  assert.equal(a.key(['User', '1']), 'sequelize-cache:User:1');
  assert.equal(new IORedisAdapter({ client: fake, namespace: '' }).key(['User', '1']), 'User:1', "'' means no namespace");
});
