// The withCache API (sequelize-memory-clone / sequelize-transparent-cache style) on the native
// client: living instances, write-through entity entries, named query caches, and the seed's
// seven-step flow, with SQL statements counted to prove which steps reach the database.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sequelize, DataTypes } from 'sequelize';
import { MemoryCache, withCache } from '../js/index.mjs';
import { sqlCounter } from './support/suite.mjs';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** The seed's models (with the `status` column its User lacks), counting SQL statements. */
async function seedSchema(storage = ':memory:') {
  const { sql, logging, counted } = sqlCounter();
  const sequelize = new Sequelize({ dialect: 'sqlite', storage, logging });
  const User = sequelize.define('User', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    name: DataTypes.STRING,
    status: DataTypes.STRING,
  });
  const Post = sequelize.define('Post', { title: DataTypes.STRING, userId: DataTypes.INTEGER });
  User.hasMany(Post, { foreignKey: 'userId', as: 'Posts' });
  await sequelize.sync();
  sql.length = 0;
  return { sequelize, User, Post, sql, counted };
}

describe("the seed's example test flow", () => {
  test('passes as written with { autoInvalidate: false }', async () => {
    const { sequelize, User, Post, counted } = await seedSchema();
    const { withCache: cacheWrapper } = withCache(new MemoryCache(), { autoInvalidate: false, logger: quiet });
    const CacheUser = cacheWrapper(User);
    const CachePost = cacheWrapper(Post);

    // 1. Create: writes to the database and fills the entity entry.
    const user = await CacheUser.cache().create({ id: 1, name: 'Alice', status: 'active' });
    await CachePost.cache().create({ userId: 1, title: 'Post A' });

    // 2. Query miss/set.
    const listing = () => CacheUser.cache('active_list').findAll({ where: { status: 'active' }, include: 'Posts' });
    let [, statements] = await counted(listing);
    assert.equal(statements, 1, 'step 2 queries the database');

    // 3. External write: bypasses the cache.
    await User.update({ name: 'Alicia' }, { where: { id: user.id } });

    // 4. Stale read: served from the entity entry.
    let staleUser;
    [staleUser, statements] = await counted(() => CacheUser.cache().findByPk(user.id));
    assert.equal(statements, 0, 'step 4 is a cache hit');
    assert.equal(staleUser.name, 'Alice');

    // 5. Force reload: fresh from the database, entity entry rewritten.
    [, statements] = await counted(() => staleUser.cache().reload());
    assert.equal(statements, 1);
    assert.equal(staleUser.name, 'Alicia');
    const [afterReload, reloadedStatements] = await counted(() => CacheUser.cache().findByPk(user.id));
    assert.equal(afterReload.name, 'Alicia');
    assert.equal(reloadedStatements, 0, 'the reload rewrote the entity entry');

    // 6. Write through cache(): invalidates the entity and every query of the model.
    await CacheUser.cache().update({ name: 'ALICIA' }, { where: { id: user.id } });

    // 7. Query re-check: a miss, with the new data.
    let rows;
    [rows, statements] = await counted(listing);
    assert.equal(statements, 1, 'step 7 is a miss: the mass invalidation worked');
    assert.equal(rows[0].name, 'ALICIA');
    assert.equal(rows[0].Posts[0].title, 'Post A');
    await sequelize.close();
  });

  test('with the defaults, step 4 reads fresh data; a raw write from elsewhere is stale until reload()', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snc-seed-'));
    const { sequelize, User, counted } = await seedSchema(join(dir, 'db.sqlite'));
    const elsewhere = new Sequelize({ dialect: 'sqlite', storage: join(dir, 'db.sqlite'), logging: false });
    try {
      const { withCache: cacheWrapper } = withCache(new MemoryCache(), { logger: quiet });
      const CacheUser = cacheWrapper(User);
      const user = await CacheUser.cache().create({ id: 1, name: 'Alice', status: 'active' });
      await User.update({ name: 'Alicia' }, { where: { id: user.id } });
      const [fresh] = await counted(() => CacheUser.cache().findByPk(user.id));
      assert.equal(fresh.name, 'Alicia', 'a write through Sequelize invalidated the entity');

      await CacheUser.cache().findByPk(user.id);
      await elsewhere.query(`UPDATE Users SET name = 'External' WHERE id = ${user.id}`);
      const [stale, statements] = await counted(() => CacheUser.cache().findByPk(user.id));
      assert.equal(statements, 0);
      assert.equal(stale.name, 'Alicia', 'a write that bypasses Sequelize is not seen');
      await stale.cache().reload();
      assert.equal(stale.name, 'External');
      assert.equal((await CacheUser.cache().findByPk(user.id)).name, 'External');
    } finally {
      await sequelize.close();
      await elsewhere.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('living instances', () => {
  async function richSchema() {
    const sql = [];
    const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: (s) => sql.push(s) });
    const Author = sequelize.define('Author', { name: DataTypes.STRING }, { createdAt: 'created_on', updatedAt: 'changed_on' });
    const Book = sequelize.define('Book', { title: DataTypes.STRING, published: DataTypes.DATE });
    const Shelf = sequelize.define('Shelf', { label: DataTypes.STRING });
    Author.hasMany(Book);
    Book.belongsTo(Author);
    Book.belongsToMany(Shelf, { through: 'BookShelves' });
    await sequelize.sync();
    const a = await Author.create({ name: 'Le Guin' });
    const b = await Book.create({ title: 'The Dispossessed', published: new Date(Date.UTC(1974, 4, 1)), AuthorId: a.id });
    const s = await Shelf.create({ label: 'classics' });
    await b.addShelf(s);
    const { withCache: wrap } = withCache(new MemoryCache(), { logger: quiet });
    return { sequelize, sql, Author: wrap(Author), Book: wrap(Book), Shelf: wrap(Shelf) };
  }

  test('hits are real instances equal to a fresh database read, at every level', async () => {
    const t = await richSchema();
    const options = { include: [{ model: t.Book, include: [t.Shelf] }] };
    const fresh = await t.Author.findAll(options);
    await t.Author.cache().findAll(options);
    const n = t.sql.length;
    const hit = await t.Author.cache().findAll(options);
    assert.equal(t.sql.length, n, 'served from the cache');
    assert.deepStrictEqual(hit.map((x) => x.get({ plain: true })), fresh.map((x) => x.get({ plain: true })));
    const author = hit[0];
    assert.ok(author instanceof t.Author);
    assert.ok(author.Books[0] instanceof t.Book);
    assert.ok(author.Books[0].Shelves[0] instanceof t.Shelf);
    assert.equal(author.isNewRecord, false);
    assert.equal(author.changed(), false);
    assert.ok(author.created_on instanceof Date, 'custom-named timestamps are Dates');
    assert.ok(author.Books[0].published instanceof Date);
    assert.ok(author.Books[0].Shelves[0].BookShelves.createdAt instanceof Date, 'through rows too');

    const m = t.sql.length;
    await author.save();
    assert.equal(t.sql.length, m, 'an unchanged hit saves without SQL');
    await author.update({ name: 'Ursula K. Le Guin' });
    assert.equal((await t.Author.findByPk(author.id)).name, 'Ursula K. Le Guin');
    const page = await t.Book.cache().findAndCountAll({ include: t.Author });
    assert.equal(page.count, 1);
    assert.ok(page.rows[0] instanceof t.Book);
    await t.sequelize.close();
  });

  test('withCache(Model) returns the same class, and wrapping twice changes nothing', async () => {
    const { sequelize, User } = await seedSchema();
    const { withCache: wrap } = withCache(new MemoryCache(), { logger: quiet });
    assert.equal(wrap(User), User);
    const hooksBefore = sequelize.options.hooks.afterQuery.length;
    const cacheFn = User.cache;
    assert.equal(wrap(User), User);
    assert.equal(User.cache, cacheFn);
    assert.equal(sequelize.options.hooks.afterQuery.length, hooksBefore, 'one invalidation hook per Sequelize instance');
    assert.equal(typeof User.cache().client().stats, 'function');
    await sequelize.close();
  });
});

describe('write-through entity entries', () => {
  async function setup(options = {}) {
    const t = await seedSchema();
    const client = new MemoryCache();
    const { withCache: wrap } = withCache(client, { logger: quiet, ...options });
    wrap(t.User);
    return { ...t, client };
  }

  test('create, save, update and upsert leave the fresh row in the entity entry; destroy removes it', async () => {
    const { sequelize, User, counted } = await setup();
    const u = await User.cache().create({ name: 'a', status: 'new' });
    let [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.equal(statements, 0, 'create filled the entity entry');
    assert.equal(row.name, 'a');

    u.name = 'b';
    await u.cache().save();
    [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['b', 0]);

    await u.cache().update({ status: 'old' });
    [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.status, statements], ['old', 0]);

    await User.cache().upsert({ id: u.id, name: 'c', status: 'old' });
    [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['c', 0]);

    await u.cache().destroy();
    [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row, statements], [null, 1]);
    await sequelize.close();
  });

  test('instance.cache().clear() drops the entity entry; Model.cache().clear() drops everything', async () => {
    const { sequelize, User, counted } = await setup();
    const u = await User.cache().create({ name: 'a' });
    u.cache().clear();
    let [, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.equal(statements, 1);
    await User.cache().findAll();
    User.cache().clear();
    [, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.equal(statements, 1);
    [, statements] = await counted(() => User.cache().findAll());
    assert.equal(statements, 1);
    User.cache().clearAllModelQueries();
    [, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.equal(statements, 0, 'clearAllModelQueries keeps entities');
    [, statements] = await counted(() => User.cache().findAll());
    assert.equal(statements, 1);
    await sequelize.close();
  });

  test('an absent row is remembered for negativeTtl; creating it clears that', async () => {
    const { sequelize, User, counted } = await setup({ negativeTtl: 30 });
    assert.equal(await User.cache().findByPk(42), null);
    let [row, statements] = await counted(() => User.cache().findByPk(42));
    assert.deepEqual([row, statements], [null, 0]);
    await User.create({ id: 42, name: 'late' });
    [row] = await counted(() => User.cache().findByPk(42));
    assert.equal(row.name, 'late');

    const off = await setup({ negativeTtl: 0 });
    await off.User.cache().findByPk(7);
    [, statements] = await off.counted(() => off.User.cache().findByPk(7));
    assert.equal(statements, 1, 'negativeTtl: 0 never caches absence');
    await off.sequelize.close();
    await sequelize.close();
  });

  test('string, UUID and composite primary keys', async () => {
    const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
    const Country = sequelize.define('Country', { code: { type: DataTypes.STRING, primaryKey: true }, name: DataTypes.STRING });
    const Token = sequelize.define('Token', { id: { type: DataTypes.UUID, defaultValue: DataTypes.UUIDV4, primaryKey: true } });
    const Seat = sequelize.define('Seat', {
      row: { type: DataTypes.STRING, primaryKey: true },
      number: { type: DataTypes.INTEGER, primaryKey: true },
      holder: DataTypes.STRING,
    });
    await sequelize.sync();
    const { withCache: wrap } = withCache(new MemoryCache(), { logger: quiet });
    [Country, Token, Seat].forEach(wrap);
    await Country.cache().create({ code: 'NO', name: 'Norway' });
    const token = await Token.cache().create({});
    await Seat.cache().create({ row: 'A', number: 7, holder: 'x' });
    assert.equal((await Country.cache().findByPk('NO')).name, 'Norway');
    assert.equal((await Token.cache().findByPk(token.id)).id, token.id);
    const seat = await Seat.cache().findByPk({ row: 'A', number: 7 });
    assert.equal(seat.holder, 'x');
    await seat.cache().update({ holder: 'y' });
    assert.equal((await Seat.cache().findByPk({ row: 'A', number: 7 })).holder, 'y');
    assert.equal(await Seat.cache().findByPk({ row: 'A', number: 8 }), null);
    await sequelize.close();
  });

  test('inside a transaction nothing reaches the cache before the commit, and nothing at all on rollback', async () => {
    const { sequelize, User, counted, client } = await setup();
    await assert.rejects(
      sequelize.transaction(async (transaction) => {
        await User.cache().create({ id: 5, name: 'ghost' }, { transaction });
        throw new Error('rollback');
      }),
      /rollback/,
    );
    assert.equal(client.stats().fills, 0);
    const tx = await sequelize.transaction();
    await User.cache().create({ id: 6, name: 'real' }, { transaction: tx });
    assert.equal(client.stats().fills, 0, 'nothing stored before the commit');
    await tx.commit();
    const [row, statements] = await counted(() => User.cache().findByPk(6));
    assert.deepEqual([row.name, statements], ['real', 0]);
    await sequelize.close();
  });
});

describe('named query caches', () => {
  test("cache('key'), cache({ customKey, ttl }) and clear()", async () => {
    const { sequelize, User, counted } = await seedSchema();
    const { withCache: wrap } = withCache(new MemoryCache(), { logger: quiet });
    wrap(User);
    await User.bulkCreate([{ name: 'a', status: 'on' }, { name: 'b', status: 'off' }]);
    const on = () => User.cache('on-users').findAll({ where: { status: 'on' } });
    await on();
    let [rows, statements] = await counted(on);
    assert.deepEqual([rows.length, statements], [1, 0]);
    [, statements] = await counted(() => User.cache('on-users').count({ where: { status: 'on' } }));
    assert.equal(statements, 1, 'each method has its own entry under a name');
    User.cache('on-users').clear();
    [, statements] = await counted(on);
    assert.equal(statements, 1);
    const short = () => User.cache({ customKey: 'short', ttl: 0.05 }).findAll();
    await short();
    await new Promise((r) => setTimeout(r, 120));
    [, statements] = await counted(short);
    assert.equal(statements, 1, 'the per-call ttl expired the entry');
    await sequelize.close();
  });
});

describe('bad input', () => {
  test('a missing or malformed client, bad options and non-models are TypeErrors naming the problem', async () => {
    const { sequelize, User } = await seedSchema();
    assert.throws(() => withCache(), (e) => e instanceof TypeError && /withCache: client/.test(e.message));
    assert.throws(() => withCache({ get() {} }), TypeError);
    const client = new MemoryCache();
    assert.throws(() => withCache(client, { negativeTtl: -1 }), /negativeTtl/);
    assert.throws(() => withCache(client, { ttl: 'long' }), /ttl/);
    assert.throws(() => withCache(client, { autoInvalidate: 1 }), /autoInvalidate/);
    assert.throws(() => withCache(client, { lifetime: 3 }), /unknown option "lifetime"/);
    const { withCache: wrap } = withCache(client, { logger: quiet });
    assert.throws(() => wrap({}), /expected a Sequelize model/);
    wrap(User);
    assert.throws(() => User.cache({ ttl: 'x' }), /ttl/);
    assert.throws(() => User.cache(''), /key/);
    await sequelize.close();
  });
});

describe('plain instance writes write through, in both autoInvalidate modes', () => {
  for (const autoInvalidate of [true, false]) {
    test(`autoInvalidate ${autoInvalidate}: create, save, update, upsert, destroy and restore without cache() keep the entity entry fresh`, async () => {
      const { sequelize, counted } = await seedSchema();
      const Doc = sequelize.define('Doc', { title: DataTypes.STRING, n: DataTypes.INTEGER }, { paranoid: true });
      await sequelize.sync();
      const { withCache: wrap } = withCache(new MemoryCache(), { logger: quiet, autoInvalidate });
      wrap(Doc);
      const hit = async (id, check) => {
        const [row, statements] = await counted(() => Doc.cache().findByPk(id));
        assert.equal(statements, 0, 'the entity entry was written through');
        check(row);
      };
      const d = await Doc.create({ title: 'a', n: 1 });
      await hit(d.id, (r) => assert.equal(r.title, 'a'));
      d.title = 'b';
      await d.save();
      await hit(d.id, (r) => assert.equal(r.title, 'b'));
      await d.update({ n: 2 });
      await hit(d.id, (r) => assert.equal(r.n, 2));
      await Doc.upsert({ id: d.id, title: 'c', n: 3 });
      await hit(d.id, (r) => assert.deepEqual([r.title, r.n], ['c', 3]));
      await d.destroy();
      const [gone, statements] = await counted(() => Doc.cache().findByPk(d.id));
      assert.deepEqual([gone, statements], [null, 1], 'destroy dropped the entry; the miss reads the database');
      await d.restore();
      await hit(d.id, (r) => assert.equal(r.title, 'c'));
      // The entry holds what the database returned, not the instance's guess.
      const fresh = await Doc.findByPk(d.id);
      await hit(d.id, (r) => assert.deepEqual(r.get({ plain: true }), fresh.get({ plain: true })));
      await sequelize.close();
    });
  }

  test("autoInvalidate false is exactly the sequelize-memory-clone table: instance writes invalidate the model's queries, static writes without individual hooks do not", async () => {
    const { sequelize, User, counted } = await seedSchema();
    const { withCache: wrap } = withCache(new MemoryCache(), { logger: quiet, autoInvalidate: false });
    wrap(User);
    const alice = await User.create({ name: 'alice', status: 'active' });
    const listing = () => User.cache('active').findAll({ where: { status: 'active' } });
    await listing();
    alice.name = 'ALICIA';
    await alice.save();
    let [rows, statements] = await counted(listing);
    assert.deepEqual([statements, rows[0].name], [1, 'ALICIA'], 'a plain save invalidated the named query');
    await User.update({ name: 'static' }, { where: { id: alice.id } });
    [rows, statements] = await counted(listing);
    assert.deepEqual([statements, rows[0].name], [0, 'ALICIA'], 'a static update without hooks is not seen (as in the original)');
    await User.update({ name: 'hooked' }, { where: { id: alice.id }, individualHooks: true });
    [rows, statements] = await counted(listing);
    assert.deepEqual([statements, rows[0].name], [1, 'hooked'], 'with individualHooks each row writes through');
    await sequelize.close();
  });

  test('inside a transaction, plain writes write through only after the commit; a rollback writes nothing through and drops what it wrote', async () => {
    const { sequelize, User, counted } = await seedSchema();
    const client = new MemoryCache();
    const { withCache: wrap } = withCache(client, { logger: quiet });
    wrap(User);
    const u = await User.create({ name: 'before' });
    await sequelize.transaction(async (transaction) => {
      await u.update({ name: 'inside' }, { transaction });
      const [row] = await counted(() => User.cache().findByPk(u.id));
      assert.equal(row.name, 'before', 'outside the transaction the committed row is served');
    });
    let [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['inside', 0], 'written through after the commit');
    await assert.rejects(
      sequelize.transaction(async (transaction) => {
        await u.update({ name: 'rolled back' }, { transaction });
        throw new Error('roll back');
      }),
      /roll back/,
    );
    [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['inside', 1], 'after a rollback the committed row is read again');
    [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['inside', 0], 'and cached');
    await sequelize.close();
  });
});

describe('sequelize-transparent-cache names', () => {
  test('client() on Model.cache(), Model.cache(name) and instance.cache(); findById; insertOrUpdate; cache(undefined, { ttl }); the module is callable as withCache', async () => {
    const { sequelize, User, counted } = await seedSchema();
    const { default: sequelizeCache } = await import('../js/index.mjs');
    const client = new MemoryCache();
    sequelizeCache(client, { logger: quiet }).withCache(User);
    const u = await User.create({ name: 'ivan' });
    assert.equal(User.cache().client(), client);
    assert.equal(User.cache('k').client(), client);
    assert.equal(u.cache().client(), client);
    let [found, statements] = await counted(() => User.cache().findById(u.id));
    assert.deepEqual([found.name, statements], ['ivan', 0]);
    const result = await User.cache().insertOrUpdate({ id: u.id, name: 'ivan2' });
    assert.deepEqual(JSON.stringify(result), JSON.stringify(await User.upsert({ id: u.id, name: 'ivan2' })), 'what the installed Sequelize returns');
    [found, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([found.name, statements], ['ivan2', 0]);
    const short = User.cache(undefined, { ttl: 0.05 });
    await short.findAll({ where: { name: 'ivan2' } });
    [, statements] = await counted(() => short.findAll({ where: { name: 'ivan2' } }));
    assert.equal(statements, 0);
    await new Promise((r) => setTimeout(r, 120));
    [, statements] = await counted(() => short.findAll({ where: { name: 'ivan2' } }));
    assert.equal(statements, 1, 'the ttl given as cache(undefined, { ttl }) applied');
    await sequelize.close();
  });
});

describe('writeThrough: false', () => {
  test('instance writes only invalidate the entity entry: the next read goes to the database once', async () => {
    const { sequelize, User, counted } = await seedSchema();
    const { withCache: wrap } = withCache(new MemoryCache(), { logger: quiet, writeThrough: false });
    wrap(User);
    const u = await User.create({ name: 'a' });
    let [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['a', 1], 'create did not re-read the row');
    await u.update({ name: 'b' });
    [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['b', 1], 'the update dropped the entry; one read refills it');
    [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['b', 0]);
    assert.throws(() => withCache(new MemoryCache(), { writeThrough: 'yes' }), (e) => e instanceof TypeError && /writeThrough/.test(e.message));
    await sequelize.close();
  });
});

describe('sequelize-memory-clone names', () => {
  test("Model.cache().clear('k') drops only the query cached under that name", async () => {
    const { sequelize, User, counted } = await seedSchema();
    const { withCache: wrap } = withCache(new MemoryCache(), { logger: quiet });
    wrap(User);
    const u = await User.create({ name: 'a', status: 'on' });
    const named = () => User.cache('on').findAll({ where: { status: 'on' } });
    await named();
    await User.cache().findByPk(u.id);
    await User.cache().clear('on');
    let [, statements] = await counted(named);
    assert.equal(statements, 1, 'the named query was dropped');
    [, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.equal(statements, 0, 'the entity entry stayed');
    assert.throws(() => User.cache().clear(''), (e) => e instanceof TypeError && /key/.test(e.message));
    await sequelize.close();
  });
});

describe('the sequelize-memory-clone test flow, step by step, in both modes', () => {
  // SQL statements per step, as the flow's comments describe them. The two modes differ only at
  // step 4: with autoInvalidate the external User.update of step 3 is seen.
  const expected = {
    false: { create: 4, entityAfterCreate: 0, query: 1, external: 1, staleRead: 0, reload: 1, afterReload: 0, cacheUpdate: 2, recheck: 1 },
    true: { create: 4, entityAfterCreate: 0, query: 1, external: 1, staleRead: 1, reload: 1, afterReload: 0, cacheUpdate: 2, recheck: 1 },
  };
  for (const autoInvalidate of [false, true]) {
    test(`autoInvalidate ${autoInvalidate}`, async () => {
      const { sequelize, User, Post, counted } = await seedSchema();
      const { withCache: cacheWrapper } = withCache(new MemoryCache(), { autoInvalidate, logger: quiet });
      const CacheUser = cacheWrapper(User);
      const CachePost = cacheWrapper(Post);
      const seen = {};
      // 1. Create: writes to the database and populates the entity cache (one INSERT and one
      //    re-read of the row per create).
      let user;
      [, seen.create] = await counted(async () => {
        user = await CacheUser.create({ id: 1, name: 'Alice', status: 'active' });
        await CachePost.create({ userId: 1, title: 'Post A' });
      });
      [, seen.entityAfterCreate] = await counted(() => CacheUser.cache().findByPk(1));
      // 2. Query miss/set.
      const listing = () => CacheUser.cache('active_list').findAll({ where: { status: 'active' }, include: 'Posts' });
      [, seen.query] = await counted(listing);
      // 3. External write: bypasses the cache.
      [, seen.external] = await counted(() => User.update({ name: 'Alicia' }, { where: { id: user.id } }));
      // 4. Stale read (with autoInvalidate: false) / fresh read (the default).
      let staleUser;
      [staleUser, seen.staleRead] = await counted(() => CacheUser.cache().findByPk(user.id));
      assert.equal(staleUser.name, autoInvalidate ? 'Alicia' : 'Alice');
      // 5. Force reload: bypasses the cache, updates the entity cache.
      [, seen.reload] = await counted(() => staleUser.cache().reload());
      assert.equal(staleUser.name, 'Alicia');
      let row;
      [row, seen.afterReload] = await counted(() => CacheUser.cache().findByPk(user.id));
      assert.equal(row.name, 'Alicia');
      // 6. Static update through cache(): DEL [User:1], DEL [query:active_q], SET [User:1].
      [, seen.cacheUpdate] = await counted(() => CacheUser.cache().update({ name: 'ALICIA' }, { where: { id: user.id } }));
      [row] = await counted(() => CacheUser.cache().findByPk(user.id));
      assert.equal(row.name, 'ALICIA', 'SET [User:1] with the new data');
      // 7. Query re-check: a miss, with the new data.
      let rows;
      [rows, seen.recheck] = await counted(listing);
      assert.equal(rows[0].name, 'ALICIA');
      assert.equal(rows[0].Posts[0].title, 'Post A');
      assert.deepEqual(seen, expected[autoInvalidate], 'SQL statements per step');
      await sequelize.close();
    });
  }
});

test('named queries whose names differ only in a lone surrogate each get their own entry', async () => {
  // UTF-8 cannot hold a lone surrogate: unescaped, 'q\uD800', 'q\uDC00' and 'q\uFFFD' would all
  // reach the core (and Redis) as 'q\uFFFD', and one name would be answered with another's rows.
  const { sequelize, User } = await seedSchema();
  try {
    const { withCache: cacheWrapper } = withCache(new MemoryCache(), { logger: quiet });
    const CacheUser = cacheWrapper(User);
    await User.bulkCreate([
      { id: 1, name: 'a', status: 'x' },
      { id: 2, name: 'b', status: 'y' },
      { id: 3, name: 'c', status: 'z' },
    ]);
    const names = { 'q\uD800': 'x', 'q\uDC00': 'y', 'q\uFFFD': 'z' };
    for (let pass = 0; pass < 2; pass++) {
      for (const [name, status] of Object.entries(names)) {
        const rows = await CacheUser.cache(name).findAll({ where: { status } });
        assert.deepEqual(
          rows.map((r) => r.status),
          [status],
          `pass ${pass}: ${JSON.stringify(name)} answered with its own rows`,
        );
      }
    }
  } finally {
    await sequelize.close();
  }
});
