// withCache over JS adapters: the seed's CacheAdapter interface used as is, IORedisAdapter over a
// real Redis (127.0.0.1:6379; the suite fails if it is not there), transparent-cache adaptors, and
// adapters that fail — which never fail a query.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Sequelize, DataTypes } from 'sequelize';
import { withCache, IORedisAdapter } from '../js/index.mjs';
import { recordingLogger, sqlCounter } from './support/suite.mjs';

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

test("IORedisAdapter keeps sequelize-memory-clone's defaults: namespace 'sequelize-cache', lifetime 3600 s", () => {
  const fake = { get() {}, set() {}, del() {} };
  const a = new IORedisAdapter({ client: fake });
  assert.equal(a.namespace, 'sequelize-cache');
  assert.equal(a.lifetime, 3600);
  assert.equal(a.key(['User', '1']), 'sequelize-cache:User:1');
  assert.equal(new IORedisAdapter({ client: fake, namespace: '' }).key(['User', '1']), 'User:1', "'' means no namespace");
});
