// What a cached read depends on: every table it reads, including tables named only inside
// `sequelize.literal(...)` SQL, and one generation per table whatever the schema. Each case reads
// through the cache, writes, and checks the next cached read against the database.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { DataTypes, Op } from 'sequelize';
import { MemoryCache, modelCacheFactory, withCache } from '../js/index.mjs';
import { dialectsToRun } from './support/dialects.mjs';
import { recordingLogger } from './support/suite.mjs';

const require = createRequire(import.meta.url);
const { tablesRead, tableNameOf, entityTableOf } = require('../js/engine/dependencies.js');
const { limits } = require('../js/native.js');

const dialects = (await dialectsToRun('read dependencies: literals and schemas')).filter((d) => d.name === 'sqlite' || d.name === 'postgres');
const RUNS = Number(process.env.SNC_LITERAL_RUNS || 25);

/** A literal as another copy of Sequelize makes it: told by its class name, not by instanceof. */
class SequelizeMethod {}
class OtherLiteral extends SequelizeMethod {
  constructor(val) {
    super();
    this.val = val;
  }
}
Object.defineProperty(OtherLiteral, 'name', { value: 'Literal' });

/** Plain data of a result, for comparing a cached read with the database's. */
const plain = (r) => JSON.parse(JSON.stringify(r));

async function literalSchema(sequelize) {
  const User = sequelize.define('User', { name: DataTypes.STRING }, { tableName: 'rd_users', timestamps: false });
  const Order = sequelize.define('Order', { item: DataTypes.STRING }, { tableName: 'rd_orders', timestamps: false });
  const Tag = sequelize.define('Tag', { label: DataTypes.STRING }, { tableName: 'rd_tags', timestamps: false });
  const Note = sequelize.define('Note', { body: DataTypes.STRING }, { tableName: 'rd_notes', timestamps: false });
  User.hasMany(Order, { foreignKey: 'userId' });
  Order.belongsTo(User, { foreignKey: 'userId' });
  // An association whose scope holds a literal.
  User.hasMany(Note, { as: 'untagged', foreignKey: 'userId', constraints: false, scope: { body: { [Op.notIn]: sequelize.literal('(SELECT label FROM rd_tags)') } } });
  await sequelize.sync({ force: true });
  const users = await User.bulkCreate([{ name: 'ann' }, { name: 'bob' }, { name: 'cy' }]);
  await Order.bulkCreate([{ item: 'a1', userId: users[0].id }, { item: 'a2', userId: users[0].id }, { item: 'b1', userId: users[1].id }]);
  await Tag.create({ label: 't' });
  await Note.create({ body: 'n' });
  return { User, Order, Tag, Note, users };
}

/** The two API styles: the wrapper, and a withCache query cached under a name. */
function readers(cache) {
  return [
    ['wrap()', (Model, options) => cache.wrap(Model).findAll(options)],
    ["cache('name')", (Model, options, name) => Model.cache(name).findAll(options)],
  ];
}

for (const dialect of dialects) {
  describe(`${dialect.label}: a table named only in a literal is a dependency`, () => {
    let sequelize;
    let m;
    let cache;
    let statements = 0;
    const q = (name) => sequelize.getQueryInterface().quoteIdentifier(name);
    before(async () => {
      sequelize = dialect.create();
      m = await literalSchema(sequelize);
      const client = new MemoryCache();
      cache = await modelCacheFactory(client, recordingLogger());
      const { withCache: cached } = withCache(client, { logger: recordingLogger() });
      for (const M of [m.User, m.Order, m.Tag, m.Note]) cached(M);
      sequelize.addHook('beforeQuery', 'rd-count', () => {
        statements++;
      });
    });
    after(async () => {
      await sequelize.drop();
      await sequelize.close();
    });

    /** Reads `options()` twice through `read` (the second a hit) and checks it equals the database. */
    async function agree(read, Model, options, name, what) {
      const fresh = plain(await Model.findAll(options()));
      await read(Model, options(), name);
      assert.deepEqual(plain(await read(Model, options(), name)), fresh, `${what}: the cached read equals the database`);
      return fresh;
    }

    test("a count of another table in attributes (the Sequelize docs' association count) is stale once that table is written", async () => {
      for (const [style, read] of readers(cache)) {
        const count = `(SELECT COUNT(*) FROM ${q('rd_orders')} AS ${q('o')} WHERE ${q('o')}.${q('userId')} = ${q('User')}.${q('id')})`;
        const options = () => ({ attributes: ['id', [sequelize.literal(count), 'orderCount']], order: [['id', 'ASC']] });
        const before = await agree(read, m.User, options, 'order-counts', `${style} before`);
        await m.Order.create({ item: `new-${style}`, userId: m.users[2].id });
        const after = await agree(read, m.User, options, 'order-counts', `${style} after Order.create`);
        assert.equal(Number(after[2].orderCount), Number(before[2].orderCount) + 1, `${style}: the new order is counted`);
      }
    });

    test('a where on a literal subquery (Op.in) is stale once the subquery’s table is written', async () => {
      for (const [style, read] of readers(cache)) {
        const options = () => ({ where: { id: { [Op.in]: sequelize.literal(`(SELECT ${q('userId')} FROM ${q('rd_orders')} WHERE ${q('item')} = 'buyer')`) } }, order: [['id', 'ASC']] });
        assert.deepEqual(await agree(read, m.User, options, 'buyers', `${style} before`), []);
        await m.Order.create({ item: 'buyer', userId: m.users[1].id });
        assert.deepEqual((await agree(read, m.User, options, 'buyers', `${style} after Order.create`)).map((u) => u.id), [m.users[1].id]);
        await m.Order.destroy({ where: { item: 'buyer' } });
      }
    });

    /** Places a literal can sit in a findAll on User; each yields [Model, options]. */
    const places = {
      attributes: (L) => [m.User, { attributes: ['id', [L, 'n']] }],
      'attributes.include': (L) => [m.User, { attributes: { include: [[L, 'n']] } }],
      'where Op.gt': (L) => [m.User, { where: { id: { [Op.gt]: sequelize.literal(`${L.val} * 0`) } } }],
      'where Op.or / Op.in': (L, ids) => [m.User, { where: { [Op.or]: [{ id: { [Op.in]: ids } }, { id: 0 }] } }],
      'sequelize.where in Op.and': (L) => [m.User, { where: { [Op.and]: [sequelize.where(L, Op.gte, 0)] } }],
      'fn argument': (L) => [m.User, { attributes: ['id', [sequelize.fn('COALESCE', L, 0), 'n']] }],
      'cast argument': (L) => [m.User, { where: sequelize.where(sequelize.cast(L, 'INTEGER'), Op.gte, 0) }],
      order: (L) => [m.User, { order: [[L, 'ASC'], ['id', 'ASC']] }],
      'group / having': (L) => [m.User, { attributes: ['id'], group: ['id'], having: sequelize.where(L, Op.gte, 0) }],
      "an include's where": (L) => [m.User, { include: [{ model: m.Order, required: false, where: sequelize.where(L, Op.gte, 0) }] }],
      "an include's attributes": (L) => [m.User, { include: [{ model: m.Order, attributes: ['id', [L, 'n']] }] }],
      "the model's scope": (L, ids, tag) => {
        m.User.addScope(`lit_${tag}`, { attributes: { include: [[L, 'n']] } }, { override: true });
        return [m.User.scope(`lit_${tag}`), {}];
      },
      "an included model's scope": (L, ids, tag) => {
        m.Order.addScope(`lit_${tag}`, { where: sequelize.where(L, Op.gte, 0) }, { override: true });
        return [m.User, { include: [{ model: m.Order.scope(`lit_${tag}`), required: false }] }];
      },
    };

    test('property: a literal naming any known table, anywhere in the options, makes the read stale once that table is written', async () => {
      const writes = {
        rd_orders: () => m.Order.create({ item: 'p', userId: m.users[0].id }),
        rd_tags: () => m.Tag.create({ label: 'p' }),
        rd_notes: () => m.Note.create({ body: 'p' }),
      };
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...Object.keys(writes)), fc.constantFrom(...Object.keys(places)), fc.constantFrom(0, 1), async (table, place, styleIndex) => {
          const [style, read] = readers(cache)[styleIndex];
          const tag = `${table}_${run}`;
          const name = `prop-${run++}`;
          const build = () => {
            const L = sequelize.literal(`(SELECT COUNT(*) FROM ${q(table)})`);
            const ids = sequelize.literal(`(SELECT ${q('id')} FROM ${q(table)})`);
            const [Model, options] = places[place](L, ids, tag);
            return [Model, { ...options, order: options.order || [['id', 'ASC']] }];
          };
          const [Model] = build();
          const options = () => build()[1];
          await read(Model, options(), name);
          let n = statements;
          await read(Model, options(), name);
          assert.equal(statements - n, 0, `${style}, ${place}: the second read is a hit`);
          await writes[table]();
          n = statements;
          const got = plain(await read(Model, options(), name));
          assert.ok(statements - n > 0, `${style}, ${place}: after a write to ${table} the read goes to the database`);
          assert.deepEqual(got, plain(await Model.findAll(options())), `${style}, ${place}: it equals the database`);
        }),
        { numRuns: dialect.name === 'sqlite' ? RUNS * 2 : RUNS },
      );
    });

    test('tablesRead finds literals behind operators, in where/fn/cast/json arguments, includes and through options', () => {
      const L = sequelize.literal(`(SELECT 1 FROM ${q('rd_notes')})`);
      const named = (options, Model = m.User) => tablesRead(Model, options);
      const cases = {
        'Op.in': { where: { id: { [Op.in]: L } } },
        'Op.and array': { where: { [Op.and]: [{ [Op.or]: [{ id: L }] }] } },
        'a column named val': { where: { val: { [Op.in]: L } } },
        'cast (which has a val too)': { where: sequelize.where(sequelize.cast(L, 'INTEGER'), 1) },
        'fn args': { attributes: [[sequelize.fn('MAX', sequelize.fn('ABS', L)), 'x']] },
        'json value': { where: sequelize.json({ id: L }) },
        'include on': { include: [{ model: m.Order, on: { userId: { [Op.in]: L } } }] },
        'include through': { include: [{ model: m.Order, through: { where: { x: L } } }] },
        'nested include': { include: [{ model: m.Order, include: [{ model: m.User, where: { id: L } }] }] },
        'include given as an association': { include: [{ association: 'Orders', attributes: [[L, 'x']] }] },
        'a literal of another copy of Sequelize': { where: { id: new OtherLiteral(`(SELECT 1 FROM ${q('rd_notes')})`) } },
      };
      for (const [what, options] of Object.entries(cases)) {
        const tables = named(options);
        assert.ok(tables.includes('rd_notes'), `${what}: ${JSON.stringify(tables)}`);
        assert.ok(tables.includes('rd_users'), `${what}: its own table too`);
      }
      assert.ok(named({ include: ['untagged'] }).includes('rd_tags'), "an association's scope");
      // Table names are matched as the lexer reads them: case-insensitively, any quoting, schema-qualified.
      assert.ok(named({ where: { id: sequelize.literal('(SELECT 1 FROM RD_TAGS)') } }).includes('rd_tags'));
      assert.ok(named({ where: { id: sequelize.literal('(SELECT 1 FROM public."rd_tags" t)') } }).includes('rd_tags'));
      // Names inside string literals and comments are not tables.
      assert.deepEqual(named({ where: { id: sequelize.literal("(SELECT 'rd_tags' /* rd_notes */)") } }), ['rd_users']);
      // Plain values are values: a string equal to a table name adds nothing, and nor does a plain
      // object with a `val` key.
      assert.deepEqual(named({ where: { name: 'rd_orders', x: { val: 'SELECT * FROM rd_orders' } } }), ['rd_users']);
      assert.deepEqual(named(undefined), ['rd_users']);
    });

    test('a literal the lexer cannot follow (an unterminated string or comment) depends on every table', () => {
      for (const text of ["(SELECT id FROM rd_users WHERE name = 'x)", '(SELECT id FROM rd_users /* open', '(SELECT id FROM rd_users AS "rd_orders']) {
        const tables = tablesRead(m.User, { where: { id: sequelize.literal(text) } });
        for (const M of Object.values(sequelize.models)) assert.ok(tables.includes(tableNameOf(M)), `${text}: ${M.tableName}`);
      }
    });

    test('options past the key limits are not cached: tablesRead returns null, as for a too-deep include tree', () => {
      let deep = { id: sequelize.literal('1') };
      for (let i = 0; i <= limits.KEY_MAX_DEPTH; i++) deep = { [Op.and]: [deep] };
      assert.equal(tablesRead(m.User, { where: deep }), null);
      const wide = Array.from({ length: limits.KEY_MAX_NODES + 1 }, () => ({ id: 1 }));
      assert.equal(tablesRead(m.User, { where: { [Op.or]: wide } }), null);
    });
  });
}

const postgres = dialects.find((d) => d.name === 'postgres');
if (postgres) {
  describe('PostgreSQL: one generation per table, whatever the schema', () => {
    const schemas = ['rd_t1', 'rd_t2'];
    let sequelize;
    let TUser;
    let TOrder;
    let PubOrder;
    let PlainOrder;
    let cache;
    before(async () => {
      sequelize = postgres.create();
      TUser = sequelize.define('TUser', { name: DataTypes.STRING }, { tableName: 'rd_tusers', timestamps: false });
      TOrder = sequelize.define('TOrder', { item: DataTypes.STRING, userId: DataTypes.INTEGER }, { tableName: 'rd_torders', timestamps: false });
      TUser.hasMany(TOrder, { foreignKey: 'userId', onDelete: 'CASCADE' });
      TOrder.belongsTo(TUser, { foreignKey: 'userId', onDelete: 'CASCADE' });
      PubOrder = sequelize.define('PubOrder', { item: DataTypes.STRING }, { tableName: 'rd_porders', schema: 'public', timestamps: false });
      PlainOrder = sequelize.define('PlainOrder', { item: DataTypes.STRING }, { tableName: 'rd_porders', timestamps: false });
      for (const s of schemas) {
        // The tenant tables come from DDL: Sequelize's sync would point the foreign key at public.
        await sequelize.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
        await sequelize.query(`CREATE SCHEMA ${s}`);
        await sequelize.query(`CREATE TABLE ${s}."rd_tusers" (id serial PRIMARY KEY, name text)`);
        await sequelize.query(`CREATE TABLE ${s}."rd_torders" (id serial PRIMARY KEY, item text, "userId" integer REFERENCES ${s}."rd_tusers"(id) ON DELETE CASCADE)`);
      }
      await PlainOrder.sync({ force: true });
      await PlainOrder.bulkCreate([{ item: 'p1' }, { item: 'p2' }]);
      const client = new MemoryCache();
      cache = await modelCacheFactory(client, recordingLogger());
      const { withCache: cached } = withCache(client, { logger: recordingLogger() });
      for (const M of [TUser, TOrder, PubOrder, PlainOrder]) cached(M);
    });
    after(async () => {
      for (const s of schemas) await sequelize.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await PlainOrder.drop();
      await sequelize.close();
    });

    async function agree(read, Model, options, name, what) {
      const fresh = plain(await Model.findAll(options));
      await read(Model, options, name);
      assert.deepEqual(plain(await read(Model, options, name)), fresh, `${what}: the cached read equals the database`);
      return fresh;
    }

    test('a generation is named by the table alone: schemas share it, entity generations follow', () => {
      assert.equal(tableNameOf(TOrder.schema('rd_t1')), 'rd_torders');
      assert.equal(tableNameOf(PubOrder), tableNameOf(PlainOrder));
      assert.equal(entityTableOf(TOrder.schema('rd_t1')), entityTableOf(TOrder));
      assert.deepEqual(tablesRead(TOrder.schema('rd_t1'), { include: [TUser.schema('rd_t1')] }).sort(), ['rd_torders', 'rd_tusers']);
    });

    test("a delete in a tenant schema cascades to that schema's cached reads of the child table", async () => {
      for (const [style, read] of readers(cache)) {
        const Users = TUser.schema('rd_t1');
        const Orders = TOrder.schema('rd_t1');
        const u = await Users.create({ name: `u-${style}` });
        await Orders.bulkCreate([{ item: 'x', userId: u.id }, { item: 'y', userId: u.id }]);
        const options = { where: { userId: u.id }, order: [['id', 'ASC']] };
        const [first] = await agree(read, Orders, options, `cascade-${style}`, `${style} before`);
        await Orders.cache().findByPk(first.id);
        assert.equal((await Orders.cache().findByPk(first.id)).item, 'x', `${style}: the entity entry before`);
        await Users.destroy({ where: { id: u.id } });
        assert.deepEqual(await agree(read, Orders, options, `cascade-${style}`, `${style} after the cascade`), []);
        assert.equal(await Orders.cache().findByPk(first.id), null, `${style}: the entity entry after the cascade`);
      }
    });

    test('a raw UPDATE naming schema."Table" makes that schema’s cached reads stale', async () => {
      for (const [style, read] of readers(cache)) {
        const Orders = TOrder.schema('rd_t2');
        const o = await Orders.create({ item: `raw-${style}` });
        const options = { where: { id: o.id } };
        await agree(read, Orders, options, `raw-${style}`, `${style} before`);
        await sequelize.query(`UPDATE rd_t2."rd_torders" SET item = 'changed' WHERE id = ${o.id}`);
        assert.equal((await agree(read, Orders, options, `raw-${style}`, `${style} after the raw UPDATE`))[0].item, 'changed');
      }
    });

    test("a model with schema 'public' and a model without a schema over the same table see each other's writes", async () => {
      for (const [style, read] of readers(cache)) {
        const options = { order: [['id', 'ASC']] };
        await agree(read, PubOrder, options, `pub-${style}`, `${style} PubOrder before`);
        await agree(read, PlainOrder, options, `plain-${style}`, `${style} PlainOrder before`);
        await PlainOrder.create({ item: `plain-write-${style}` });
        await agree(read, PubOrder, options, `pub-${style}`, `${style} PubOrder after a PlainOrder write`);
        await agree(read, PlainOrder, options, `plain-${style}`, `${style} PlainOrder before`);
        await PubOrder.update({ item: `pub-write-${style}` }, { where: { item: 'p1' } });
        await agree(read, PlainOrder, options, `plain-${style}`, `${style} PlainOrder after a PubOrder write`);
      }
    });

    test('entries stay apart per schema: the same query in two schemas answers each its own rows', async () => {
      for (const [style, read] of readers(cache)) {
        for (const s of schemas) await TUser.schema(s).create({ name: `${s}-${style}` });
        const options = { where: { name: { [Op.like]: `%-${style}` } }, order: [['id', 'ASC']] };
        for (const s of schemas) {
          const rows = await agree(read, TUser.schema(s), options, `apart-${style}`, `${style} ${s}`);
          assert.deepEqual(rows.map((r) => r.name), [`${s}-${style}`]);
        }
      }
    });
  });
}

test('SQLite: two models naming one table in different cases see each other\'s writes', async () => {
  const { Sequelize } = await import('sequelize');
  const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  try {
    const Lower = sequelize.define('Lower', { name: DataTypes.STRING }, { tableName: 'rd_items', timestamps: false });
    const Upper = sequelize.define('Upper', { name: DataTypes.STRING }, { tableName: 'RD_ITEMS', timestamps: false });
    await Lower.sync();
    await Lower.create({ name: 'a' });
    const cache = await modelCacheFactory(new MemoryCache(), recordingLogger());
    const names = async (M) => (await M.findAll({ order: [['id', 'ASC']] })).map((r) => r.name);
    const cached = async (M) => (await cache.wrap(M).findAll({ order: [['id', 'ASC']] })).map((r) => r.name);
    assert.deepEqual(await cached(Upper), ['a']);
    await Lower.create({ name: 'b' });
    assert.deepEqual(await cached(Upper), await names(Upper));
    assert.deepEqual(await cached(Upper), ['a', 'b']);
  } finally {
    await sequelize.close();
  }
});

test("SQLite: a table in a schema (one quoted name, `tenant.Users`) is a literal's dependency, and its model's writes stay precise", async () => {
  const { Sequelize } = await import('sequelize');
  const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  try {
    const U = sequelize.define('User', { name: DataTypes.STRING }, { schema: 'tenant' });
    const P = sequelize.define('Post', { title: DataTypes.STRING });
    await sequelize.sync();
    await P.create({ id: 1, title: 't' });
    const client = new MemoryCache();
    const cache = await modelCacheFactory(client, recordingLogger());
    const q = () => cache.wrap(P).findAll({ attributes: ['id', [sequelize.literal('(SELECT COUNT(*) FROM `tenant.Users`)'), 'users']], raw: true });
    assert.equal((await q())[0].users, 0);
    await U.create({ name: 'a' });
    assert.equal((await q())[0].users, 1, 'the literal depends on tenant.Users');
    const before = client.stats().conservativeInvalidations;
    await U.update({ name: 'b' }, { where: { name: 'a' } });
    assert.equal(client.stats().conservativeInvalidations, before, "the model's own bulk write names its table");
  } finally {
    await sequelize.close();
  }
});
