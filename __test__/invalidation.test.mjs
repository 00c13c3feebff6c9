// Automatic invalidation: every write that goes through Sequelize makes the cached reads it
// affects stale — by instance, in bulk, through increment, hooks:false, association setters and
// raw queries — and nothing happens before the root transaction commits.
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { Sequelize, DataTypes } from 'sequelize';
import { MemoryCache, modelCacheFactory } from '../js/index.mjs';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function setup(factoryOptions = {}) {
  const sql = [];
  const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: (s) => sql.push(s) });
  const User = sequelize.define('User', { name: DataTypes.STRING, visits: DataTypes.INTEGER }, { paranoid: true });
  const Post = sequelize.define('Post', { title: DataTypes.STRING });
  const Tag = sequelize.define('Tag', { label: DataTypes.STRING });
  User.hasMany(Post, { onDelete: 'CASCADE', hooks: false });
  Post.belongsTo(User);
  Post.belongsToMany(Tag, { through: 'PostTags' });
  Tag.belongsToMany(Post, { through: 'PostTags' });
  await sequelize.sync();
  const alice = await User.create({ name: 'alice', visits: 0 });
  const bob = await User.create({ name: 'bob', visits: 0 });
  await Post.create({ title: 'a1', UserId: alice.id });
  await Post.create({ title: 'b1', UserId: bob.id });
  const client = new MemoryCache();
  const cache = await modelCacheFactory(client, { logger: quiet, ...factoryOptions });
  const t = { sequelize, User, Post, Tag, alice, bob, client, cache, sql };
  /** Runs `read` twice: returns [result, whether the second call hit the database]. */
  t.readTwice = async (read) => {
    await read();
    const n = sql.length;
    const r = await read();
    return [r, sql.length > n];
  };
  /** True if `read` is served from the cache right now. */
  t.isCached = async (read) => {
    const n = sql.length;
    await read();
    return sql.length === n;
  };
  return t;
}

describe('writes through Sequelize invalidate cached reads', () => {
  let t;
  beforeEach(async () => (t = await setup()));
  afterEach(() => t.sequelize.close());

  const userById = () => t.cache.wrap(t.User).findByPk(t.alice.id);
  const allUsers = () => t.cache.wrap(t.User).findAll({ order: [['id', 'ASC']] });
  const usersWithPosts = () => t.cache.wrap(t.User).findAll({ include: t.Post, order: [['id', 'ASC']] });

  async function expectFresh(read, write, check) {
    await read();
    assert.ok(await t.isCached(read), 'cached before the write');
    await write();
    assert.equal(await t.isCached(read), false, 'the write made the cached read stale');
    if (check) check(await read());
  }

  test('instance save and update', async () => {
    await expectFresh(userById, async () => {
      t.alice.name = 'alice2';
      await t.alice.save();
    }, (u) => assert.equal(u.name, 'alice2'));
    await expectFresh(allUsers, () => t.alice.update({ name: 'alice3' }), (rows) => assert.equal(rows[0].name, 'alice3'));
  });

  test('static update, with and without hooks', async () => {
    await expectFresh(userById, () => t.User.update({ name: 'x' }, { where: { id: t.alice.id } }), (u) => assert.equal(u.name, 'x'));
    await expectFresh(userById, () => t.User.update({ name: 'y' }, { where: { id: t.alice.id }, hooks: false }), (u) => assert.equal(u.name, 'y'));
  });

  test('increment and decrement, which fire no hooks', async () => {
    await expectFresh(userById, () => t.User.increment('visits', { where: { id: t.alice.id } }), (u) => assert.equal(u.visits, 1));
    await expectFresh(userById, () => t.alice.increment('visits', { by: 5 }), (u) => assert.equal(u.visits, 6));
    await expectFresh(userById, () => t.alice.decrement('visits'), (u) => assert.equal(u.visits, 5));
  });

  test('create, bulkCreate (also with updateOnDuplicate) and upsert', async () => {
    await expectFresh(allUsers, () => t.User.create({ name: 'carol' }), (rows) => assert.equal(rows.length, 3));
    await expectFresh(allUsers, () => t.User.bulkCreate([{ name: 'dave' }]), (rows) => assert.equal(rows.length, 4));
    await expectFresh(
      userById,
      () => t.User.bulkCreate([{ id: t.alice.id, name: 'dup' }], { updateOnDuplicate: ['name'] }),
      (u) => assert.equal(u.name, 'dup'),
    );
    await expectFresh(userById, () => t.User.upsert({ id: t.alice.id, name: 'ups' }), (u) => assert.equal(u.name, 'ups'));
  });

  test('destroy, restore and truncate', async () => {
    await expectFresh(userById, () => t.alice.destroy(), (u) => assert.equal(u, null));
    await expectFresh(userById, () => t.alice.restore(), (u) => assert.equal(u.name, 'alice'));
    await expectFresh(allUsers, () => t.User.destroy({ where: { id: t.bob.id } }), (rows) => assert.equal(rows.length, 1));
    await expectFresh(() => t.cache.wrap(t.Post).count(), () => t.Post.truncate(), (n) => assert.equal(n, 0));
  });

  test('a write to an included model makes the including query stale', async () => {
    await expectFresh(usersWithPosts, () => t.Post.update({ title: 'edited' }, { where: { title: 'a1' } }), (rows) =>
      assert.equal(rows[0].Posts[0].title, 'edited'),
    );
  });

  test('association setters and adders (they write the target or the through table)', async () => {
    const post = await t.Post.create({ title: 'loose' });
    await expectFresh(usersWithPosts, () => t.alice.addPost(post), (rows) => assert.equal(rows[0].Posts.length, 2));
    const tag = await t.Tag.create({ label: 'news' });
    const postsWithTags = () => t.cache.wrap(t.Post).findAll({ include: t.Tag, order: [['id', 'ASC']] });
    await expectFresh(postsWithTags, () => post.addTag(tag), (rows) => assert.equal(rows.find((p) => p.title === 'loose').Tags.length, 1));
  });

  test('deleting a row also invalidates models whose foreign keys point at it (database cascades)', async () => {
    const posts = () => t.cache.wrap(t.Post).findAll({ order: [['id', 'ASC']] });
    await expectFresh(posts, () => t.alice.destroy({ force: true }), (rows) => assert.deepEqual(rows.map((p) => p.title), ['b1']));
  });

  test('raw writes through sequelize.query that name a cached table', async () => {
    await expectFresh(userById, () => t.sequelize.query(`UPDATE Users SET name = 'raw' WHERE id = ${t.alice.id}`), (u) =>
      assert.equal(u.name, 'raw'),
    );
  });

  test('a read whose result arrives after a write does not store it (no late fill)', async () => {
    let release;
    const gate = new Promise((r) => (release = r));
    let answered;
    const ready = new Promise((r) => (answered = r));
    let armed = true;
    t.sequelize.addHook('afterQuery', 'hold', async (options) => {
      if (armed && options.type === 'SELECT') {
        armed = false;
        answered();
        await gate;
      }
    });
    const reading = userById();
    await ready;
    await t.User.update({ name: 'after' }, { where: { id: t.alice.id } });
    release();
    t.sequelize.removeHook('afterQuery', 'hold');
    assert.equal((await reading).name, 'alice');
    const [fresh, queried] = await t.readTwice(userById);
    assert.equal(fresh.name, 'after');
    assert.equal(queried, false);
    assert.equal(t.client.stats().fillsRejected, 1);
  });
});

describe('invalidation never breaks a write', () => {
  test('a failing write keeps its own error; an invalidation that throws is logged, the write succeeds', async () => {
    const lines = [];
    const logger = { debug() {}, info() {}, warn: (obj) => lines.push(obj.code), error() {} };
    const t = await setup({ logger });
    const { engineOf } = createRequire(import.meta.url)('../js/clients.js');
    await assert.rejects(t.sequelize.query('INSERT INTO NoSuchTable VALUES (1)'), /no such table/i);
    await assert.rejects(t.User.create({ id: t.alice.id, name: 'dup' }), (e) => e.name === 'SequelizeUniqueConstraintError');
    await t.cache.wrap(t.User).findByPk(t.alice.id);
    const engine = engineOf(t.client, 'test');
    const real = engine.applyWrite;
    engine.applyWrite = () => {
      throw new Error('engine down');
    };
    try {
      await t.User.update({ name: 'still written' }, { where: { id: t.alice.id } });
      await t.alice.reload();
      assert.equal(t.alice.name, 'still written');
      assert.ok(lines.includes('cache-invalidate'));
    } finally {
      engine.applyWrite = real;
    }
    await t.sequelize.close();
  });
});

describe('transactions', () => {
  let t;
  beforeEach(async () => (t = await setup()));
  afterEach(() => t.sequelize.close());

  const userById = () => t.cache.wrap(t.User).findByPk(t.alice.id);

  test('nothing is invalidated before the commit; everything after it', async () => {
    await userById();
    const tx = await t.sequelize.transaction();
    await t.User.update({ name: 'in-tx' }, { where: { id: t.alice.id }, transaction: tx });
    await t.alice.increment('visits', { transaction: tx });
    assert.ok(await t.isCached(userById), 'still served from the cache while the transaction is open');
    await tx.commit();
    assert.equal(await t.isCached(userById), false);
    assert.equal((await userById()).name, 'in-tx');
  });

  test('a rollback invalidates what the transaction wrote (a read outside it may have seen the rows), and nothing else', async () => {
    await userById();
    const others = () => t.cache.wrap(t.Post).findAll({ order: [['id', 'ASC']] });
    await others();
    await assert.rejects(
      t.sequelize.transaction(async (transaction) => {
        await t.User.update({ name: 'rolled-back' }, { where: { id: t.alice.id }, transaction });
        throw new Error('abort');
      }),
      /abort/,
    );
    assert.equal(await t.isCached(userById), false, 'the written table is read again');
    assert.equal((await userById()).name, 'alice');
    assert.ok(await t.isCached(others), 'a table the transaction did not write stays cached');
  });

  test('a savepoint waits for the root transaction', async () => {
    await userById();
    const root = await t.sequelize.transaction();
    const savepoint = await t.sequelize.transaction({ transaction: root });
    await t.User.update({ name: 'nested' }, { where: { id: t.alice.id }, transaction: savepoint });
    await savepoint.commit();
    assert.ok(await t.isCached(userById), 'a savepoint commit is not a commit');
    await root.commit();
    assert.equal((await userById()).name, 'nested');
  });
});

describe('opting out and writes outside Sequelize', () => {
  test('{ autoInvalidate: false } leaves cached reads alone until TTL, invalidateModel() or clear()', async () => {
    const t = await setup({ autoInvalidate: false });
    const userById = () => t.cache.wrap(t.User).findByPk(t.alice.id);
    await userById();
    await t.User.update({ name: 'unseen' }, { where: { id: t.alice.id } });
    assert.equal((await userById()).name, 'alice', 'stale by design');
    t.client.invalidateModel(t.User);
    assert.equal((await userById()).name, 'unseen');
    await t.sequelize.close();
  });

  test('a write by another connection (another service) is seen only after the TTL or an explicit invalidation', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snc-external-'));
    const storage = join(dir, 'db.sqlite');
    const app = new Sequelize({ dialect: 'sqlite', storage, logging: false });
    const other = new Sequelize({ dialect: 'sqlite', storage, logging: false });
    try {
      const User = app.define('User', { name: DataTypes.STRING });
      await app.sync();
      const alice = await User.create({ name: 'alice' });
      const cache = await modelCacheFactory(new MemoryCache(), quiet);
      const read = () => cache.wrap(User, { ttl: 0.2 }).findByPk(alice.id);
      await read();
      await other.query(`UPDATE Users SET name = 'external' WHERE id = ${alice.id}`);
      assert.equal((await read()).name, 'alice', 'the cache cannot see a write it was not told about');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await read()).name, 'external', 'after the TTL the database answers');
    } finally {
      await app.close();
      await other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
