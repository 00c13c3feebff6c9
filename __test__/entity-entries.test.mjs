// withCache's entity entries (one row by primary key) stay fresh whatever spelling a read used and
// whichever model or statement wrote the row: every read here goes through the cache, and every
// answer is compared with the database's, on each reachable dialect.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DataTypes } from 'sequelize';
import { MemoryCache, withCache, modelCacheFactory } from '../js/index.mjs';
import { dialectsToRun } from './support/dialects.mjs';

const dialects = await dialectsToRun('entity entries: key spellings, shared tables, upserts, reloads, transactions');
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const nameOf = (row) => (row === null ? null : row.name);

for (const dialect of dialects) {
  describe(dialect.label, () => {
    let sequelize;
    before(() => {
      sequelize = dialect.create();
    });
    after(() => sequelize.close());

    async function fresh(define) {
      const models = define(sequelize);
      for (const M of Object.values(models)) await M.drop().catch(() => undefined);
      for (const M of Object.values(models)) await M.sync({ force: true });
      const client = new MemoryCache();
      const { withCache: wrap } = withCache(client, { logger: quiet, negativeTtl: 60 });
      for (const M of Object.values(models)) if (M.options.wrapped !== false) wrap(M);
      return { ...models, client };
    }

    /** Asserts each spelling's cached read equals the database's read. */
    async function sameAsDatabase(Model, spellings, what) {
      for (const s of spellings) {
        const db = nameOf(await Model.findByPk(s));
        assert.equal(nameOf(await Model.cache().findByPk(s)), db, `${what}: findByPk(${typeof s} ${String(s)})`);
      }
    }

    test('every spelling of an integer key reads one entity entry, which a write through any of them refreshes', async () => {
      const { User, client } = await fresh((sq) => ({
        User: sq.define('User', { name: DataTypes.STRING }, { tableName: 'ee_users', timestamps: false }),
      }));
      await User.create({ name: 'a' });
      const spellings = [1, '1', 1n, '01', ' 1', 1.0];
      await sameAsDatabase(User, spellings, 'first reads');
      await sameAsDatabase(User, spellings, 'hits');
      assert.ok(client.stats().hits >= 3, 'the plain spellings hit one entry');
      await (await User.findByPk(1)).update({ name: 'b' });
      await sameAsDatabase(User, spellings, 'after an instance update');
      await User.cache().findByPk('2');
      await User.create({ name: 'c' });
      await sameAsDatabase(User, [2, '2', 2n], 'after creating a row first read as absent');
    });

    test('a BIGINT key (a string on some dialects) is one entry with its number spelling', async () => {
      const { Account } = await fresh((sq) => ({
        Account: sq.define('Account', { id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true }, name: DataTypes.STRING }, { tableName: 'ee_accounts', timestamps: false }),
      }));
      await Account.create({ name: 'a' });
      await sameAsDatabase(Account, [1, '1'], 'first reads');
      const row = await Account.findByPk(1);
      await row.update({ name: 'b' });
      await sameAsDatabase(Account, [1, '1', 1n], 'after an update through the instance the database gave');
    });

    test('a string key read in another spelling than the row holds is answered but not stored', async () => {
      const { Tag, client } = await fresh((sq) => ({
        Tag: sq.define('Tag', { code: { type: DataTypes.STRING(20), primaryKey: true }, name: DataTypes.STRING }, { tableName: 'ee_tags', timestamps: false }),
      }));
      await Tag.create({ code: 'abc', name: 'a' });
      const spellings = ['abc', 'ABC', 'abc '];
      await sameAsDatabase(Tag, spellings, 'first reads');
      await sameAsDatabase(Tag, spellings, 'second reads');
      await (await Tag.findByPk('abc')).update({ name: 'b' });
      await sameAsDatabase(Tag, spellings, 'after an update');
      await sameAsDatabase(Tag, ['xyz', 'XYZ'], 'absent rows');
      await Tag.create({ code: 'xyz', name: 'x' });
      await sameAsDatabase(Tag, ['xyz', 'XYZ'], 'after creating a row first read as absent');
      // Under a case-insensitive collation (MariaDB's default) 'ABC' finds the row 'abc'.
      if (dialect.name === 'mariadb') assert.ok(client.stats().bypassReasons['pk-spelling'] > 0, 'counted');
    });

    test('a write through another model over the same table refreshes the entity entries', async () => {
      const { User, Admin } = await fresh((sq) => ({
        User: sq.define('User', { name: DataTypes.STRING }, { tableName: 'ee_people', timestamps: false }),
        Admin: sq.define('Admin', { name: DataTypes.STRING }, { tableName: 'ee_people', timestamps: false, wrapped: false }),
      }));
      await User.create({ name: 'a' });
      await sameAsDatabase(User, [1], 'first read');
      await (await Admin.findByPk(1)).update({ name: 'b' });
      await sameAsDatabase(User, [1], 'after an update through the other model');
      await (await Admin.findByPk(1)).destroy();
      await sameAsDatabase(User, [1], 'after a destroy through the other model');
    });

    test('an upsert that updates the row another unique column matches refreshes that row', async () => {
      const { Member } = await fresh((sq) => ({
        Member: sq.define('Member', { email: { type: DataTypes.STRING, unique: true }, name: DataTypes.STRING }, { tableName: 'ee_members', timestamps: false }),
      }));
      await Member.create({ email: 'a@x', name: 'a' });
      await sameAsDatabase(Member, [1, 99], 'first reads');
      const conflict = dialect.name === 'mariadb' ? {} : { conflictFields: ['email'] };
      await Member.upsert({ id: 99, email: 'a@x', name: 'b' }, { fields: ['name'], ...conflict });
      assert.equal(nameOf(await Member.findByPk(1)), 'b', 'the upsert updated row 1');
      await sameAsDatabase(Member, [1, 99], 'after the upsert');
    });

    test('reload() with options that change what the row means leaves the entity entry alone', async () => {
      const { Doc } = await fresh((sq) => ({
        Doc: sq.define('Doc', { name: DataTypes.STRING }, { tableName: 'ee_docs', paranoid: true }),
      }));
      const doc = await Doc.create({ name: 'a' });
      await doc.destroy();
      await sameAsDatabase(Doc, [1], 'a deleted row');
      await doc.cache().reload({ paranoid: false });
      assert.equal(doc.name, 'a', 'the instance reloaded the deleted row');
      await sameAsDatabase(Doc, [1], 'after reload({ paranoid: false })');
    });

    test("the application's afterCommit callbacks already see the commit in the cache", async () => {
      const { User } = await fresh((sq) => ({
        User: sq.define('User', { name: DataTypes.STRING }, { tableName: 'ee_commits', timestamps: false }),
      }));
      await User.create({ name: 'a' });
      const c = await modelCacheFactory(User.cache().client(), quiet);
      await sameAsDatabase(User, [1], 'first read');
      await c.wrap(User).findByPk(1);
      const seen = [];
      await sequelize.transaction(async (t) => {
        t.afterCommit(async () => {
          seen.push([nameOf(await User.cache().findByPk(1)), nameOf(await c.wrap(User).findByPk(1)), nameOf(await User.findByPk(1))]);
        });
        await User.update({ name: 'b' }, { where: { id: 1 }, transaction: t });
      });
      assert.deepEqual(seen, [['b', 'b', 'b']]);
    });

    test('a rollback invalidates what the transaction wrote, in case a read outside it saw the rows', async () => {
      const { User } = await fresh((sq) => ({
        User: sq.define('User', { name: DataTypes.STRING }, { tableName: 'ee_rollbacks', timestamps: false }),
      }));
      await User.create({ name: 'a' });
      const c = await modelCacheFactory(User.cache().client(), quiet);
      const W = c.wrap(User);
      await W.count();
      const t = await sequelize.transaction();
      await User.update({ name: 'uncommitted' }, { where: { id: 1 }, transaction: t });
      // SQLite in memory runs every transaction on one connection: this read sees the write.
      if (dialect.name === 'sqlite') assert.equal(nameOf(await W.findByPk(1)), 'uncommitted');
      await t.rollback();
      assert.equal(nameOf(await W.findByPk(1)), nameOf(await User.findByPk(1)));
      assert.equal(nameOf(await W.findByPk(1)), 'a');
    });
  });
}
