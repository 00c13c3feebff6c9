// The promise: a cache hit is indistinguishable from a fresh database read — through both API
// styles ("faces"), which share one table of cases:
//
//   - wrap:      `modelCacheFactory(client).wrap(Model)[method](...)` — read-only results;
//   - withCache: `Model.cache()[method](...)` / `Model.cache('name')[method](...)` — living
//                Sequelize instances.
//
// For every case, on every reachable database, and through each face that supports the case:
//   1. `fresh` = the query run on the model directly (no cache);
//   2. `miss`  = the query through the face (must count as exactly one miss and one fill);
//      `hit`   = the same query again (must count as exactly one hit);
//   3. plain(miss) and plain(hit) deep-equal plain(fresh) — with Dates still Dates and Buffers
//      still Buffers — and JSON.stringify gives the same text;
//   4. withCache only, when the result holds instances: at every include level (through rows
//      too) the hit is an instance of the right model, with `isNewRecord === false` and
//      `changed() === false`, exactly where the fresh read has instances; and `save()` on each
//      top-level hit instance issues no SQL. `raw: true` rows and counts are plain data, compared
//      as they are.
// Each face has its own MemoryCache. The cache is not cleared between queries, so two queries that
// wrongly share a key show up as a "hit" where a miss was expected. Nothing is written between a
// miss and its hit (automatic invalidation would make the hit a miss).
//
//   node --test __test__/hits-equal-misses.test.mjs
//   SNC_REQUIRE_ALL_DIALECTS=1 node --test __test__/hits-equal-misses.test.mjs   (CI: every DB must run)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Op, Model as SequelizeModel } from 'sequelize';
import { MemoryCache, modelCacheFactory, withCache } from '../js/index.mjs';
import { dialectsToRun } from './support/dialects.mjs';
import { defineSchema, seed, SEED } from './support/schema.mjs';

const SUITE = 'hits equal fresh reads';
const TABLE_PREFIX = 'snc_hem_';

// ---- turning results into comparable data ------------------------------------------------------

/** A deep copy of plain data that keeps Dates as Dates and Buffers as Buffers. */
function copy(value) {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return new Date(value.getTime());
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (Array.isArray(value)) return Array.from(value, copy);
  const out = {};
  for (const k of Object.keys(value)) out[k] = copy(value[k]);
  return out;
}

/** An instance (or a read-only view of one) as plain data. */
const plainRow = (row) => (row === null ? null : copy(row.get({ plain: true })));

/**
 * Any query result as plain data: instances through get({ plain: true }), raw rows and counts
 * copied as they are.
 */
function plain(result, method, options) {
  if (method === 'count' || options?.raw) return copy(result);
  if (method === 'findAndCountAll') return { count: copy(result.count), rows: Array.from(result.rows, plainRow) };
  if (method === 'findAll' && !options?.plain) return Array.from(result, plainRow);
  return plainRow(result);
}

/** Rows in a stable order, for results whose order the database does not promise (GROUP BY). */
function sorted(rows) {
  const text = (r) => JSON.stringify(r);
  return [...rows].sort((a, b) => (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0));
}

function jsonOrNull(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return null; // e.g. a BigInt from the driver: nothing to compare as text
  }
}

// ---- the cases ---------------------------------------------------------------------------------
//
// Each case: a name that reads as the promise, the model to query, the method and its arguments
// (options are rebuilt for every call, as an application would), `meaningful` (asserts the seed
// makes the case worth testing, on the fresh plain result) and `views` (checks on the hit itself,
// through the public instance API, which read-only views and living instances share).
// Optional:
//   - `empty: true`  the result holds no instance (null, [] or no rows); checked against the fresh
//                    read, so the test name never promises a living instance that is not there;
//   - `named`        withCache only: the query is cached under this name, `Model.cache(named)`;
//   - `faces`        the faces that run the case (default: every face that supports it);
//   - `fresh`        how to read it fresh when it is not `Model[method](...args)`;
//   - `entity: true` withCache: a bare findByPk that must be served from the row's entity entry,
//                    which survives `clearAllModelQueries()` (a canonical query entry would not).

const byId = [['id', 'ASC']];

const CASES = [
  // -- plain reads and column types --
  {
    name: 'a plain findAll (the defaultScope hides email) on a hit equals a fresh read, timestamps are Dates',
    model: (m) => m.User,
    options: () => ({ order: byId }),
    meaningful: (rows) => {
      assert.equal(rows.length, 4);
      assert.equal('email' in rows[0], false);
    },
    views: (hit) => {
      assert.ok(hit[0].createdAt instanceof Date, 'hit createdAt is a Date');
      assert.ok(hit[0].get('updatedAt') instanceof Date, "hit get('updatedAt') is a Date");
    },
  },
  {
    name: 'every column type (DATE, DATEONLY, BOOLEAN, DECIMAL, BIGINT, FLOAT, JSON, BLOB, UUID, ENUM, NULLs) on a hit equals a fresh read',
    model: (m) => m.Sample,
    options: () => ({ order: byId }),
    meaningful: (rows) => {
      assert.equal(rows.length, 3);
      assert.ok(rows[0].at instanceof Date && Buffer.isBuffer(rows[0].blob));
      assert.equal(rows[2].meta, null);
    },
    views: (hit, fresh) => {
      assert.ok(hit[0].at instanceof Date, 'DATE column is a Date');
      assert.equal(hit[0].at.toISOString(), fresh[0].at.toISOString());
      assert.ok(hit[0].createdAt instanceof Date, 'createdAt is a Date');
      assert.ok(Buffer.isBuffer(hit[0].blob), 'BLOB column is a Buffer');
      assert.equal(typeof hit[0].day, typeof fresh[0].day, 'DATEONLY keeps the driver type');
      assert.equal(typeof hit[0].amount, typeof fresh[0].amount, 'DECIMAL keeps the driver type');
      assert.equal(typeof hit[0].big, typeof fresh[0].big, 'BIGINT keeps the driver type');
      assert.equal(typeof hit[0].flag, typeof fresh[0].flag, 'BOOLEAN keeps the driver type');
      assert.deepEqual(copy(hit[0].meta), copy(fresh[0].meta), 'JSON column');
      for (const col of ['at', 'day', 'flag', 'amount', 'big', 'ratio', 'meta', 'blob', 'uuid', 'status']) {
        assert.equal(hit[2][col], null, `NULL ${col} stays null`);
      }
    },
  },
  {
    name: 'every column type read with raw: true on a hit equals a fresh read',
    model: (m) => m.Sample,
    options: () => ({ raw: true, order: byId }),
    meaningful: (rows) => assert.equal(rows.length, 3),
  },
  {
    name: 'a bare findByPk(id) of the all-types row (withCache: its entity entry) on a hit equals a fresh read',
    entity: true,
    model: (m) => m.Sample,
    method: 'findByPk',
    pk: 1,
    views: (hit) => {
      assert.ok(hit.at instanceof Date);
      assert.ok(Buffer.isBuffer(hit.blob));
    },
  },
  {
    name: 'a where on BOOLEAN and DATE values on a hit equals a fresh read',
    model: (m) => m.Sample,
    options: () => ({ where: { flag: true, at: { [Op.gte]: new Date('2000-01-01T00:00:00Z') } } }),
    meaningful: (rows) => assert.equal(rows.length, 1),
  },
  {
    name: 'a custom getter is applied once on a hit (price reads $5, not $$5)',
    model: (m) => m.Product,
    options: () => ({ order: byId }),
    meaningful: (rows) => assert.equal(rows[0].price, '$5'),
    views: (hit) => {
      assert.equal(hit[0].price, '$5');
      assert.equal(hit[0].get('price'), '$5');
      assert.equal(hit[0].get({ plain: true }).price, '$5');
      assert.equal(JSON.parse(JSON.stringify(hit))[0].price, '$5');
      assert.equal(hit[2].price, null, 'a NULL price stays null');
    },
  },
  {
    name: 'a bare findByPk(id) through a custom getter (withCache: its entity entry) on a hit equals a fresh read',
    entity: true,
    model: (m) => m.Product,
    method: 'findByPk',
    pk: 2,
    views: (hit) => assert.equal(hit.price, '$12.5'),
  },

  // -- associations --
  {
    name: 'a hasOne include on a hit equals a fresh read (a user without a profile gets null)',
    model: (m) => m.User,
    options: (m) => ({ include: [m.Profile], order: byId }),
    meaningful: (rows) => {
      assert.ok(rows.some((u) => u.Profile === null));
      assert.ok(rows.some((u) => u.Profile !== null));
    },
    views: (hit) => {
      assert.ok(hit[0].Profile.createdAt instanceof Date);
      assert.equal(hit[2].Profile, null);
    },
  },
  {
    name: 'a belongsTo include on a hit equals a fresh read',
    model: (m) => m.Profile,
    options: (m) => ({ include: [m.User], order: byId }),
    meaningful: (rows) => assert.ok(rows.every((p) => p.User !== null)),
    views: (hit) => assert.ok(hit[0].User.createdAt instanceof Date),
  },
  {
    name: 'a hasMany include on a hit equals a fresh read (a user without orders gets [])',
    model: (m) => m.User,
    options: (m) => ({ include: [m.Order], order: [['id', 'ASC'], [m.Order, 'id', 'ASC']] }),
    meaningful: (rows) => {
      assert.ok(rows.some((u) => u.Orders.length === 0));
      assert.ok(rows.some((u) => u.Orders.length > 1));
    },
    views: (hit) => {
      assert.ok(hit[0].Orders[0].orderDate instanceof Date);
      assert.equal(hit[3].Orders.length, 0);
    },
  },
  {
    name: 'a belongsToMany include with its through row on a hit equals a fresh read (an order without products gets [])',
    model: (m) => m.Order,
    options: (m) => ({ include: [m.Product], order: [['id', 'ASC'], [m.Product, 'id', 'ASC']] }),
    meaningful: (rows) => {
      assert.ok(rows.some((o) => o.Products.length === 0));
      assert.ok(rows[0].Products[0].ORDER_PRODUCT.createdAt instanceof Date);
    },
    views: (hit, fresh) => {
      const through = hit[0].Products[0].ORDER_PRODUCT;
      assert.ok(through.createdAt instanceof Date, 'through-row createdAt is a Date');
      assert.equal(through.quantity, fresh[0].Products[0].ORDER_PRODUCT.quantity);
      assert.equal(hit[0].Products[0].price, '$5', 'getter of an included model applied once');
    },
  },
  {
    name: 'a reverse belongsToMany include with a through attribute subset on a hit equals a fresh read',
    model: (m) => m.Product,
    options: (m) => ({
      include: [{ model: m.Order, through: { attributes: ['quantity'] } }],
      order: [['id', 'ASC'], [m.Order, 'id', 'ASC']],
    }),
    meaningful: (rows) => {
      assert.ok(rows.some((p) => p.Orders.length === 0));
      assert.deepEqual(Object.keys(rows[0].Orders[0].ORDER_PRODUCT), ['quantity']);
    },
  },
  {
    name: 'a required belongsToMany include with a where on a hit equals a fresh read',
    model: (m) => m.Order,
    options: (m) => ({
      include: [{ model: m.Product, required: true, where: { id: { [Op.in]: [1, 4] } } }],
      order: [['id', 'ASC'], [m.Product, 'id', 'ASC']],
    }),
    meaningful: (rows) => assert.deepEqual(rows.map((o) => o.id), [1, 3]),
  },
  {
    name: 'an aliased hasMany include (as: purchases) on a hit equals a fresh read',
    model: (m) => m.User,
    options: (m) => ({
      include: [{ association: 'purchases' }],
      order: [['id', 'ASC'], [{ model: m.Order, as: 'purchases' }, 'id', 'ASC']],
    }),
    meaningful: (rows) => assert.equal(rows[0].purchases.length, 2),
    views: (hit) => assert.ok(hit[0].purchases[0].createdAt instanceof Date),
  },
  {
    name: 'an aliased belongsTo include (as: buyer) with an attribute subset on a hit equals a fresh read',
    model: (m) => m.Order,
    options: (m) => ({ include: [{ model: m.User, as: 'buyer', attributes: ['id', 'name'] }], order: byId }),
    meaningful: (rows) => assert.deepEqual(Object.keys(rows[0].buyer), ['id', 'name']),
  },
  {
    name: 'the same target under two aliases in one include tree on a hit equals a fresh read',
    model: (m) => m.User,
    options: (m) => ({
      include: [
        m.Order,
        { association: 'purchases', required: false, where: { orderDetails: { [Op.like]: 'express%' } } },
      ],
      order: [['id', 'ASC'], [m.Order, 'id', 'ASC'], [{ model: m.Order, as: 'purchases' }, 'id', 'ASC']],
    }),
    meaningful: (rows) => assert.notDeepEqual(rows[0].Orders, rows[0].purchases),
  },
  {
    name: 'a hasOne include on a non-primary sourceKey (User.email → Account.userEmail) on a hit equals a fresh read',
    model: (m) => m.User,
    options: (m) => ({ include: [m.Account], order: byId }),
    meaningful: (rows) => {
      assert.ok(rows.some((u) => u.Account === null));
      assert.ok(rows.some((u) => u.Account !== null));
    },
  },
  {
    name: 'a belongsTo include on a non-primary targetKey (Account.userEmail → User.email) on a hit equals a fresh read',
    model: (m) => m.Account,
    options: (m) => ({ include: [m.User], order: byId }),
    meaningful: (rows) => assert.equal(rows[2].User.name, 'Dan'),
  },
  {
    name: 'a nested include (User → Orders → Products + ORDER_PRODUCT) on a hit equals a fresh read',
    model: (m) => m.User,
    options: (m) => ({
      include: [{ model: m.Order, include: [m.Product] }],
      order: [['id', 'ASC'], [m.Order, 'id', 'ASC'], [m.Order, m.Product, 'id', 'ASC']],
    }),
    meaningful: (rows) => {
      assert.ok(rows[0].Orders[0].Products.length > 0);
      assert.ok(rows[2].Orders.some((o) => o.Products.length === 0));
    },
    views: (hit, fresh) => {
      const through = hit[0].Orders[0].Products[0].ORDER_PRODUCT;
      assert.ok(through.createdAt instanceof Date, 'nested through-row createdAt is a Date');
      assert.equal(
        through.get('createdAt').toISOString(),
        fresh[0].Orders[0].Products[0].ORDER_PRODUCT.createdAt.toISOString(),
      );
      assert.equal(hit[0].Orders[0].Products[0].price, '$5');
    },
  },
  {
    name: 'a wide include tree (Profile, Account, Orders → Products) on a findByPk hit equals a fresh read',
    model: (m) => m.User,
    method: 'findByPk',
    pk: SEED.bob,
    options: (m) => ({
      include: [m.Profile, m.Account, { model: m.Order, include: [m.Product] }],
      order: [[m.Order, 'id', 'ASC'], [m.Order, m.Product, 'id', 'ASC']],
    }),
    meaningful: (u) => assert.equal(u.Orders.length, 2),
  },
  {
    name: 'a separate: true hasMany include on a hit equals a fresh read',
    model: (m) => m.User,
    options: (m) => ({ include: [{ model: m.Order, separate: true, order: [['id', 'DESC']] }], order: byId }),
    meaningful: (rows) => assert.deepEqual(rows[0].Orders.map((o) => o.id), [2, 1]),
  },
  {
    name: 'include: { all: true } on a hit equals a fresh read',
    model: (m) => m.Order,
    options: () => ({ include: { all: true }, order: byId }),
    meaningful: (rows) => assert.ok(rows[0].buyer && rows[0].User && Array.isArray(rows[0].Products)),
  },
  {
    name: 'a required hasMany include with an Op.like where on a hit equals a fresh read',
    model: (m) => m.User,
    options: (m) => ({
      include: [{ model: m.Order, where: { orderDetails: { [Op.like]: 'express%' } } }],
      order: [['id', 'ASC'], [m.Order, 'id', 'ASC']],
    }),
    meaningful: (rows) => assert.deepEqual(rows.map((u) => u.id), [1, 2]),
  },

  // -- attributes --
  {
    name: 'attribute subsets (top level and in an include) on a hit equal a fresh read',
    model: (m) => m.User,
    options: (m) => ({
      attributes: ['id', 'name'],
      include: [{ model: m.Order, attributes: ['id', 'orderDate'] }],
      order: [['id', 'ASC'], [m.Order, 'id', 'ASC']],
    }),
    meaningful: (rows) => assert.deepEqual(Object.keys(rows[0]), ['id', 'name', 'Orders']),
  },
  {
    name: 'an attribute subset that leaves out the getter column on a hit equals a fresh read',
    model: (m) => m.Product,
    options: () => ({ attributes: ['id', 'name'], order: byId }),
    meaningful: (rows) => assert.equal('price' in rows[0], false),
  },
  {
    name: 'attributes: { exclude } on a hit equals a fresh read',
    model: (m) => m.Order,
    options: () => ({ attributes: { exclude: ['orderDetails', 'updatedAt'] }, order: byId }),
    meaningful: (rows) => assert.equal('orderDetails' in rows[0], false),
  },
  {
    name: "a computed [fn('upper', col('name')), 'upperName'] attribute on a hit equals a fresh read",
    model: (m) => m.User,
    options: (m, sequelize) => ({
      attributes: ['id', [sequelize.fn('upper', sequelize.col('name')), 'upperName']],
      order: byId,
    }),
    meaningful: (rows) => assert.equal(rows[0].upperName, 'ANN'),
    views: (hit) => assert.equal(hit[0].get('upperName'), 'ANN'),
  },
  {
    name: 'a grouped aggregate attribute (count per user) on a hit equals a fresh read',
    model: (m) => m.Order,
    options: (m, sequelize) => ({
      attributes: ['userId', [sequelize.fn('count', sequelize.col('id')), 'n']],
      group: ['userId'],
      order: [['userId', 'ASC']],
    }),
    meaningful: (rows) => assert.equal(rows.length, 3),
  },

  // -- paranoid --
  {
    name: 'a paranoid model on a hit leaves the soft-deleted row out, like a fresh read',
    model: (m) => m.Order,
    options: () => ({ order: byId }),
    meaningful: (rows) => assert.ok(!rows.some((o) => o.id === SEED.deletedOrder)),
  },
  {
    name: 'paranoid: false on a hit shows the soft-deleted row, like a fresh read',
    model: (m) => m.Order,
    options: () => ({ paranoid: false, order: byId }),
    meaningful: (rows) => assert.ok(rows.some((o) => o.id === SEED.deletedOrder)),
    views: (hit) => assert.ok(hit.find((o) => o.id === SEED.deletedOrder).deletedAt instanceof Date),
  },
  {
    name: 'paranoid: false inside a hasMany include on a hit equals a fresh read',
    model: (m) => m.User,
    options: (m) => ({ include: [{ model: m.Order, paranoid: false }], order: [['id', 'ASC'], [m.Order, 'id', 'ASC']] }),
    meaningful: (rows) => assert.equal(rows[1].Orders.length, 3),
  },
  {
    name: 'a count of a paranoid model on a hit equals a fresh read',
    model: (m) => m.Order,
    method: 'count',
    meaningful: (n) => assert.equal(n, 5),
  },
  {
    name: 'a count with paranoid: false on a hit equals a fresh read',
    model: (m) => m.Order,
    method: 'count',
    options: () => ({ paranoid: false }),
    meaningful: (n) => assert.equal(n, 6),
  },

  // -- scopes --
  {
    // Same options as the first case (defaultScope): must not be served from that entry.
    name: "User.scope('withEmail'), wrapped separately, on a hit equals a fresh read (not the defaultScope's entry)",
    model: (m) => m.User.scope('withEmail'),
    options: () => ({ order: byId }),
    meaningful: (rows) => assert.equal(rows[0].email, 'ann@example.com'),
    views: (hit) => assert.equal(hit[0].email, 'ann@example.com'),
  },
  {
    name: 'User.unscoped() on a hit equals a fresh read',
    model: (m) => m.User.unscoped(),
    options: () => ({ order: byId }),
    meaningful: (rows) => assert.equal(rows[0].email, 'ann@example.com'),
  },
  {
    name: "User.scope('admins') on a hit equals a fresh read",
    model: (m) => m.User.scope('admins'),
    options: () => ({ order: byId }),
    meaningful: (rows) => assert.deepEqual(rows.map((u) => u.name), ['Ann', 'Dan']),
  },
  {
    name: "a scope with an argument, named('Ann'), on a hit equals a fresh read",
    model: (m) => m.User.scope({ method: ['named', 'Ann'] }),
    meaningful: (rows) => assert.deepEqual(rows.map((u) => u.name), ['Ann']),
  },
  {
    name: "the same scope with another argument, named('Bob'), on a hit equals a fresh read",
    model: (m) => m.User.scope({ method: ['named', 'Bob'] }),
    meaningful: (rows) => assert.deepEqual(rows.map((u) => u.name), ['Bob']),
  },
  {
    name: 'merged scopes (withEmail + admins) with an include on a hit equal a fresh read',
    model: (m) => m.User.scope('withEmail', 'admins'),
    options: (m) => ({ include: [m.Account], order: byId }),
    meaningful: (rows) => assert.deepEqual(rows.map((u) => u.Account.accountType), ['checking', 'business']),
  },

  // -- raw --
  {
    name: 'raw: true on a hit equals a fresh read',
    model: (m) => m.User,
    options: () => ({ raw: true, order: byId }),
    meaningful: (rows) => assert.equal(rows.length, 4),
  },
  {
    name: 'raw: true with a hasMany include (flat "Orders.id" keys) on a hit equals a fresh read',
    model: (m) => m.User,
    options: (m) => ({ raw: true, include: [m.Order], order: [['id', 'ASC'], [m.Order, 'id', 'ASC']] }),
    meaningful: (rows) => assert.ok('Orders.id' in rows[0]),
  },
  {
    name: 'raw: true, nest: true with nested includes on a hit equals a fresh read',
    model: (m) => m.User,
    options: (m) => ({
      raw: true,
      nest: true,
      include: [m.Profile, { model: m.Order, include: [m.Product] }],
      order: [['id', 'ASC'], [m.Order, 'id', 'ASC'], [m.Order, m.Product, 'id', 'ASC']],
    }),
    meaningful: (rows) => assert.equal(typeof rows[0].Orders.Products.ORDER_PRODUCT, 'object'),
  },

  {
    name: 'findAll with plain: true (one row, with an include) on a hit equals a fresh read',
    model: (m) => m.User,
    options: (m) => ({ plain: true, where: { id: 1 }, include: [m.Profile] }),
    meaningful: (row) => assert.ok(row !== null && !Array.isArray(row)),
  },

  // -- count and findAndCountAll --
  {
    name: 'a count on a hit equals a fresh read',
    model: (m) => m.User,
    method: 'count',
    meaningful: (n) => assert.equal(n, 4),
  },
  {
    name: 'a count with Op.in on a hit equals a fresh read',
    model: (m) => m.Order,
    method: 'count',
    options: () => ({ where: { userId: { [Op.in]: [1, 2] } } }),
    meaningful: (n) => assert.equal(n, 4),
  },
  {
    name: 'a count of a column (non-null orderDate only) on a hit equals a fresh read',
    model: (m) => m.Order,
    method: 'count',
    options: () => ({ col: 'orderDate' }),
    meaningful: (n) => assert.equal(n, 4),
  },
  {
    name: 'a count with group on a hit equals a fresh read',
    model: (m) => m.Order,
    method: 'count',
    options: () => ({ group: ['userId'] }),
    unordered: true,
    meaningful: (rows) => assert.equal(rows.length, 3),
  },
  {
    name: 'a count with a required include and distinct: true on a hit equals a fresh read',
    model: (m) => m.User,
    method: 'count',
    options: (m) => ({ include: [{ model: m.Order, required: true }], distinct: true }),
    meaningful: (n) => assert.equal(n, 3),
  },
  {
    name: 'findAndCountAll with a hasMany include, distinct: true, limit and offset on a hit equals a fresh read',
    model: (m) => m.User,
    method: 'findAndCountAll',
    options: (m) => ({ include: [m.Order], distinct: true, limit: 2, offset: 1, order: [['id', 'ASC'], [m.Order, 'id', 'ASC']] }),
    meaningful: (r) => {
      assert.equal(r.count, 4);
      assert.deepEqual(r.rows.map((u) => u.id), [2, 3]);
    },
    views: (hit) => assert.ok(hit.rows[0].Orders[0].createdAt instanceof Date),
  },
  {
    name: 'findAndCountAll that matches nothing on a hit equals a fresh read',
    model: (m) => m.User,
    method: 'findAndCountAll',
    options: () => ({ where: { name: 'Nobody' } }),
    empty: true,
    meaningful: (r) => assert.deepEqual(r, { count: 0, rows: [] }),
  },

  // -- limit, offset, order --
  {
    name: 'limit, offset and order DESC on a hit equal a fresh read',
    model: (m) => m.User,
    options: () => ({ order: [['name', 'DESC']], limit: 2, offset: 1 }),
    meaningful: (rows) => assert.deepEqual(rows.map((u) => u.name), ['Cleo', 'Bob']),
  },
  {
    name: 'a limit with a hasMany include (subquery) on a hit equals a fresh read',
    model: (m) => m.User,
    options: (m) => ({ include: [m.Order], limit: 2, order: [['id', 'DESC'], [m.Order, 'id', 'ASC']] }),
    meaningful: (rows) => assert.deepEqual(rows.map((u) => u.id), [4, 3]),
  },
  {
    name: 'an order on an aliased include column on a hit equals a fresh read',
    model: (m) => m.Order,
    options: (m) => ({
      include: [{ model: m.User, as: 'buyer' }],
      order: [[{ model: m.User, as: 'buyer' }, 'name', 'DESC'], ['id', 'ASC']],
    }),
    meaningful: (rows) => assert.equal(rows[0].buyer.name, 'Cleo'),
  },

  // -- operators --
  {
    name: 'Op.gt on a hit equals a fresh read',
    model: (m) => m.User,
    options: () => ({ where: { id: { [Op.gt]: 2 } }, order: byId }),
    meaningful: (rows) => assert.deepEqual(rows.map((u) => u.id), [3, 4]),
  },
  {
    name: 'Op.lt (same shape as the Op.gt query) on a hit equals a fresh read',
    model: (m) => m.User,
    options: () => ({ where: { id: { [Op.lt]: 2 } }, order: byId }),
    meaningful: (rows) => assert.deepEqual(rows.map((u) => u.id), [1]),
  },
  {
    name: 'Op.in on a hit equals a fresh read',
    model: (m) => m.User,
    options: () => ({ where: { id: { [Op.in]: [2, 4, SEED.missingId] } }, order: byId }),
    meaningful: (rows) => assert.deepEqual(rows.map((u) => u.id), [2, 4]),
  },
  {
    name: 'Op.or on a hit equals a fresh read',
    model: (m) => m.User,
    options: () => ({ where: { [Op.or]: [{ name: 'Ann' }, { role: 'member' }] }, order: byId }),
    meaningful: (rows) => assert.deepEqual(rows.map((u) => u.id), [1, 2, 3]),
  },
  {
    name: 'Op.and (same operands as the Op.or query) on a hit equals a fresh read',
    model: (m) => m.User,
    options: () => ({ where: { [Op.and]: [{ name: 'Ann' }, { role: 'member' }] }, order: byId }),
    empty: true,
    meaningful: (rows) => assert.deepEqual(rows, []),
  },
  {
    name: 'Op.like on a hit equals a fresh read',
    model: (m) => m.User,
    options: () => ({ where: { name: { [Op.like]: '%o%' } }, order: byId }),
    meaningful: (rows) => assert.deepEqual(rows.map((u) => u.name), ['Bob', 'Cleo']),
  },
  {
    name: 'Op.between on a DATE column on a hit equals a fresh read',
    model: (m) => m.Order,
    options: () => ({
      where: { orderDate: { [Op.between]: [new Date('2024-01-01T00:00:00Z'), new Date('2024-02-28T00:00:00Z')] } },
      order: byId,
    }),
    meaningful: (rows) => assert.deepEqual(rows.map((o) => o.id), [1, 3]),
  },

  // -- single rows and nulls --
  {
    name: 'a bare findByPk(id) of a missing id of a model with a defaultScope is null on the miss and on the hit',
    model: (m) => m.User,
    method: 'findByPk',
    pk: SEED.missingId,
    empty: true,
    meaningful: (row) => assert.equal(row, null),
  },
  {
    name: 'findByPk with an include on a hit equals a fresh read',
    model: (m) => m.User,
    method: 'findByPk',
    pk: SEED.cleo,
    options: (m) => ({ include: [m.Profile, m.Account] }),
    meaningful: (u) => {
      assert.equal(u.Profile, null);
      assert.equal(u.Account, null);
    },
  },
  {
    name: 'findOne that matches nothing is null on the miss and on the hit',
    model: (m) => m.User,
    method: 'findOne',
    options: () => ({ where: { name: 'Nobody' } }),
    empty: true,
    meaningful: (row) => assert.equal(row, null),
  },
  {
    name: 'findOne with a belongsToMany include and order on a hit equals a fresh read',
    model: (m) => m.Order,
    method: 'findOne',
    options: (m) => ({ where: { userId: SEED.bob }, include: [m.Product], order: [['id', 'DESC']] }),
    meaningful: (o) => assert.equal(o.id, 4),
    views: (hit) => assert.ok(hit.Products[0].ORDER_PRODUCT.createdAt instanceof Date),
  },
  {
    name: 'findOne of an order with no products on a hit equals a fresh read',
    model: (m) => m.Order,
    method: 'findOne',
    options: (m) => ({ where: { id: SEED.orderWithoutProducts }, include: [m.Product] }),
    meaningful: (o) => assert.deepEqual(o.Products, []),
  },

  // -- bare findByPk(id): through withCache, the entity entry (unless the model has a scope) --
  {
    name: "a bare findByPk(id) of a paranoid model's live row (withCache: its entity entry) on a hit equals a fresh read",
    entity: true,
    model: (m) => m.Order,
    method: 'findByPk',
    pk: 3,
    meaningful: (o) => {
      assert.equal(o.id, 3);
      assert.equal(o.deletedAt, null);
    },
    views: (hit) => {
      assert.ok(hit.orderDate instanceof Date);
      assert.ok(hit.createdAt instanceof Date);
    },
  },
  {
    name: "a bare findByPk(id) of a paranoid model's soft-deleted row (withCache: remembered as absent) is null on the miss and on the hit, like a fresh read",
    entity: true,
    model: (m) => m.Order,
    method: 'findByPk',
    pk: SEED.deletedOrder,
    empty: true,
    meaningful: (o) => assert.equal(o, null),
  },
  {
    name: 'a bare findByPk(id) of a model whose defaultScope hides email on a hit equals a fresh read (no email)',
    model: (m) => m.User,
    method: 'findByPk',
    pk: SEED.ann,
    meaningful: (u) => {
      assert.equal(u.name, 'Ann');
      assert.equal('email' in u, false);
    },
    views: (hit) => assert.equal(hit.email, undefined),
  },
  {
    name: 'a bare findByPk(id) on User.unscoped() (withCache: its entity entry) on a hit equals a fresh read (email shown)',
    entity: true,
    model: (m) => m.User.unscoped(),
    method: 'findByPk',
    pk: SEED.ann,
    meaningful: (u) => assert.equal(u.email, 'ann@example.com'),
    views: (hit) => assert.equal(hit.email, 'ann@example.com'),
  },
  {
    name: 'a bare findByPk(id) of a missing id of an unscoped model (withCache: remembered as absent) is null on the miss and on the hit',
    entity: true,
    model: (m) => m.Product,
    method: 'findByPk',
    pk: SEED.missingId,
    empty: true,
    meaningful: (p) => assert.equal(p, null),
  },
  {
    name: 'a bare findByPk of a composite key, { orderId, productId }, of the through model (withCache: its entity entry) on a hit equals a fresh findOne',
    entity: true,
    faces: ['withCache'], // wrap(Model).findByPk takes a single key value, as Sequelize's findByPk does
    model: (m) => m.OrderProduct,
    method: 'findByPk',
    pk: { orderId: 1, productId: 2 },
    fresh: (Model) => Model.findOne({ where: { orderId: 1, productId: 2 } }),
    meaningful: (r) => assert.equal(r.quantity, 1),
    views: (hit) => assert.ok(hit.createdAt instanceof Date),
  },

  // -- named queries (withCache only): Model.cache('name') --
  {
    name: "a named query, cache('user-orders-products').findAll, with a nested include (User → Orders → Products + ORDER_PRODUCT) on a hit equals a fresh read",
    named: 'user-orders-products',
    model: (m) => m.User,
    options: (m) => ({
      include: [{ model: m.Order, include: [m.Product] }],
      order: [['id', 'ASC'], [m.Order, 'id', 'ASC'], [m.Order, m.Product, 'id', 'ASC']],
    }),
    meaningful: (rows) => {
      assert.equal(rows.length, 4);
      assert.ok(rows[0].Orders[0].Products[0].ORDER_PRODUCT.createdAt instanceof Date);
    },
    views: (hit) => {
      assert.ok(hit[0].Orders[0].Products[0].ORDER_PRODUCT.createdAt instanceof Date);
      assert.equal(hit[0].Orders[0].Products[0].price, '$5');
    },
  },
  {
    name: "another method under the same name, cache('user-orders-products').findAndCountAll, gets its own entry and on a hit equals a fresh read",
    named: 'user-orders-products',
    model: (m) => m.User,
    method: 'findAndCountAll',
    options: (m) => ({
      include: [{ model: m.Order, include: [m.Product] }],
      distinct: true,
      limit: 2,
      order: [['id', 'ASC'], [m.Order, 'id', 'ASC'], [m.Order, m.Product, 'id', 'ASC']],
    }),
    meaningful: (r) => {
      assert.equal(r.count, 4);
      assert.deepEqual(r.rows.map((u) => u.id), [1, 2]);
    },
  },
  {
    name: "a named findOne, cache('bob-latest-order'), with a belongsToMany include on a hit equals a fresh read",
    named: 'bob-latest-order',
    model: (m) => m.Order,
    method: 'findOne',
    options: (m) => ({ where: { userId: SEED.bob }, include: [m.Product], order: [['id', 'DESC']] }),
    meaningful: (o) => assert.equal(o.id, 4),
    views: (hit) => assert.ok(hit.Products[0].ORDER_PRODUCT.createdAt instanceof Date),
  },
];

// ---- living instances (withCache) --------------------------------------------------------------

/** The model that a nested value stored under `key` of an instance of `Parent` must be, or undefined. */
function nestedModel(Parent, key) {
  const association = Parent.associations[key];
  if (association) return association.target;
  // A through row sits on the target instance of a belongsToMany, under the through model's name.
  for (const M of Object.values(Parent.sequelize.models)) {
    for (const a of Object.values(M.associations)) {
      if (a.associationType === 'BelongsToMany' && a.target.name === Parent.name && a.through.model.name === key) {
        return a.through.model;
      }
    }
  }
  return undefined;
}

function describeValue(v) {
  if (v === null || typeof v !== 'object') return `${typeof v} ${String(v)}`;
  return `${v.constructor?.name ?? 'null-prototype object'} ${jsonOrNull(v)?.slice(0, 120)}`;
}

/**
 * Every instance of a result tree, depth first: `{ path, instance, Expected }`, where Expected is
 * the model it must be an instance of (from the association it is stored under). A value stored
 * under an association that is not an instance fails here, so a plain object cannot pass for an
 * included row just because its plain data is right.
 */
function instanceTree(instance, Expected, path, out = []) {
  out.push({ path, instance, Expected });
  for (const [key, value] of Object.entries(instance.dataValues)) {
    const Nested = nestedModel(Expected, key);
    const items = Array.isArray(value) ? value.map((v, i) => [v, `${path}.${key}[${i}]`]) : [[value, `${path}.${key}`]];
    for (const [item, itemPath] of items) {
      if (item === null || item === undefined) continue;
      if (Nested === undefined) {
        assert.ok(!(item instanceof SequelizeModel), `${itemPath}: an instance no association of ${Expected.name} explains`);
        continue;
      }
      assert.ok(item instanceof SequelizeModel, `${itemPath} must be a living ${Nested.name} instance, got ${describeValue(item)}`);
      instanceTree(item, Nested, itemPath, out);
    }
  }
  return out;
}

/** The top-level instances of a result (none for null, [] or count results). */
function topInstances(result, method, options) {
  if (result === null || method === 'count' || options?.raw) return [];
  if (method === 'findAndCountAll') return Array.from(result.rows);
  if (method === 'findAll' && !options?.plain) return Array.from(result);
  return [result];
}

/** A result of plain data (raw rows, counts) rather than instances. */
const isPlainData = (method, options) => method === 'count' || Boolean(options?.raw);

/**
 * Asserts the living-instance promises on every instance of `result` (top level: an instance of
 * `Model`, the class that was queried, scoped or not). Returns the instance paths, so a hit can be
 * compared with the fresh read level by level.
 */
function expectLiving(result, Model, method, options, what) {
  const paths = [];
  for (const [i, top] of topInstances(result, method, options).entries()) {
    assert.ok(top instanceof Model, `${what}[${i}] must be an instance of the queried ${Model.name} class, got ${describeValue(top)}`);
    for (const { path, instance, Expected } of instanceTree(top, Model, `${what}[${i}]`)) {
      assert.ok(instance instanceof Expected, `${path} must be an instance of ${Expected.name}, got ${describeValue(instance)}`);
      assert.strictEqual(instance.isNewRecord, false, `${path}.isNewRecord must be false`);
      assert.strictEqual(instance.changed(), false, `${path}.changed() must be false, got ${JSON.stringify(instance.changed())}`);
      paths.push(path.slice(what.length));
    }
  }
  return paths;
}

class SqlGuardError extends Error {}

/**
 * Calls save() on each instance with every statement intercepted: the logging function (on the
 * call and on the Sequelize instance, which Sequelize calls before it runs a statement) records the
 * SQL and throws, so nothing reaches the database. Returns the statements save() tried to run and,
 * per instance, the message of the error save() threw by itself (null when it resolved).
 * Sequelize refuses to save an instance without a primary key (a grouped aggregate row), fresh
 * or not: the hit must refuse the same way.
 */
async function saveOutcome(sequelize, instances) {
  const statements = [];
  const errors = [];
  const guard = (sql) => {
    statements.push(String(sql));
    throw new SqlGuardError(`save() tried to run SQL: ${sql}`);
  };
  const saved = sequelize.options.logging;
  sequelize.options.logging = guard;
  try {
    for (const instance of instances) {
      const before = statements.length;
      try {
        await instance.save({ logging: guard });
        errors.push(null);
      } catch (err) {
        errors.push(statements.length === before ? String(err?.message ?? err) : null);
      }
    }
  } finally {
    sequelize.options.logging = saved;
  }
  return { statements, errors };
}

/**
 * A bare findByPk through withCache reads the row's entity entry: after clearAllModelQueries()
 * (every cached query of the model dropped, entities kept) the same call is still a hit, equal to
 * the fresh read.
 */
async function expectEntityEntry(ctx, c, Model, method, args, fresh) {
  Model.cache().clearAllModelQueries();
  const before = counters(ctx.withCacheClient, Model.name, method);
  const again = await Model.cache()[method](...args);
  expectCounted(before, counters(ctx.withCacheClient, Model.name, method), { hits: 1 }, 'after clearAllModelQueries() the entity entry must still answer');
  assert.deepStrictEqual(plain(again, method, undefined), plain(fresh, method, undefined), 'the entity entry differs from a fresh read');
}

// ---- the faces ---------------------------------------------------------------------------------
//
// A face knows how to send a case's query through one API style, which cases it supports, and what
// it promises on top of "a hit equals a fresh read".

const FACES = [
  // Read-only views (their read-only behaviour is model-cache.test.mjs's subject).
  {
    name: 'wrap',
    prefix: 'through wrap(Model)',
    supports: (c) => c.named === undefined && (c.faces === undefined || c.faces.includes('wrap')),
    client: (ctx) => ctx.wrapClient,
    suffix: () => '',
    read: (ctx, c, Model, method, args) => ctx.modelCache.wrap(Model)[method](...args),
    beforeMiss: (ctx, c, Model, method, args) => {
      assert.equal(typeof ctx.wrapClient.keyFor(Model, method, ...args), 'string', 'the query must be cacheable (keyFor returned null)');
    },
    afterHit: async () => {},
  },
  // Living instances: the right class at every level, not new, unchanged, and save() is a no-op.
  {
    name: 'withCache',
    prefix: 'through withCache',
    supports: (c) => c.faces === undefined || c.faces.includes('withCache'),
    client: (ctx) => ctx.withCacheClient,
    suffix: (c, plainData) => (plainData ? ' (plain data, compared as is)' : c.empty ? '' : ' and is a living instance'),
    read: (ctx, c, Model, method, args) => (c.named === undefined ? Model.cache() : Model.cache(c.named))[method](...args),
    beforeMiss: () => {},
    afterHit: async (ctx, { c, Model, method, options, args, fresh, hit }) => {
      if (!isPlainData(method, options)) {
        const freshPaths = expectLiving(fresh, Model, method, options, 'fresh');
        const hitPaths = expectLiving(hit, Model, method, options, 'hit');
        assert.deepEqual(hitPaths, freshPaths, 'the hit must hold instances exactly where the fresh read does');
        const hitSave = await saveOutcome(ctx.sequelize, topInstances(hit, method, options));
        const freshSave = await saveOutcome(ctx.sequelize, topInstances(fresh, method, options));
        assert.deepEqual(hitSave.statements, [], `save() right after the hit must issue no SQL (after the fresh read it tries ${freshSave.statements.length} statement(s))`);
        assert.deepEqual(hitSave.errors, freshSave.errors, 'save() after the hit must behave as after the fresh read');
      }
      if (c.entity) await expectEntityEntry(ctx, c, Model, method, args, fresh);
    },
  },
];

// ---- running a case ----------------------------------------------------------------------------

function counters(client, modelName, method) {
  const s = client.stats();
  const slot = s.models[modelName]?.[method] ?? { hits: 0, misses: 0, fills: 0, bypasses: 0 };
  return {
    total: { hits: s.hits, misses: s.misses, fills: s.fills, bypasses: s.bypasses },
    slot: { hits: slot.hits, misses: slot.misses, fills: slot.fills, bypasses: slot.bypasses },
  };
}

function delta(before, after) {
  const d = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, b[k] - a[k]]));
  return { total: d(before.total, after.total), slot: d(before.slot, after.slot) };
}

function expectCounted(before, after, expected, what) {
  const want = { hits: 0, misses: 0, fills: 0, bypasses: 0, ...expected };
  assert.deepEqual(delta(before, after), { total: want, slot: want }, `${what}: stats moved by ${JSON.stringify(delta(before, after))}`);
}

/** A logger that records what the cache reports; a case fails if the cache logged a problem. */
function recordingLogger() {
  const lines = [];
  const record = (level) => (obj, msg) => lines.push({ level, obj, msg });
  return { lines, debug() {}, info() {}, warn: record('warn'), error: record('error') };
}

/** Runs one case through one face: fresh read, miss, hit; compares them. */
async function expectHitEqualsFresh(ctx, face, c) {
  const { models, sequelize } = ctx;
  const client = face.client(ctx);
  const method = c.method ?? 'findAll';
  const Model = c.model(models);
  const optionsFor = () => (c.options ? c.options(models, sequelize) : undefined);
  const argsFor = () => (method === 'findByPk' ? [c.pk, optionsFor()] : [optionsFor()]);
  const options = optionsFor();
  const logged = ctx.log.lines.length;

  const fresh = await (c.fresh ? c.fresh(Model, models) : Model[method](...argsFor()));
  const freshPlain = plain(fresh, method, options);
  c.meaningful?.(freshPlain);
  if (!isPlainData(method, options)) {
    assert.equal(topInstances(fresh, method, options).length === 0, c.empty === true, '`empty` must say whether the fresh read holds instances');
  }

  face.beforeMiss(ctx, c, Model, method, argsFor());

  let before = counters(client, Model.name, method);
  const miss = await face.read(ctx, c, Model, method, argsFor());
  expectCounted(before, counters(client, Model.name, method), { misses: 1, fills: 1 }, 'the first cached call must be a miss that fills');

  before = counters(client, Model.name, method);
  const hit = await face.read(ctx, c, Model, method, argsFor());
  expectCounted(before, counters(client, Model.name, method), { hits: 1 }, 'the second cached call must be a hit');

  const norm = c.unordered ? sorted : (x) => x;
  assert.deepStrictEqual(norm(plain(miss, method, options)), norm(freshPlain), 'the miss differs from a fresh read');
  assert.deepStrictEqual(norm(plain(hit, method, options)), norm(freshPlain), 'the hit differs from a fresh read');

  const freshJson = jsonOrNull(fresh);
  if (freshJson !== null && !c.unordered) assert.equal(JSON.stringify(hit), freshJson, 'JSON.stringify(hit) differs from a fresh read');

  c.views?.(hit, fresh, models);
  await face.afterHit(ctx, { c, Model, method, options, args: argsFor(), fresh, hit });

  assert.deepEqual(ctx.log.lines.slice(logged), [], 'the cache logged a problem during the case');
}

// ---- the suite, per dialect --------------------------------------------------------------------

const dialects = await dialectsToRun(SUITE);

for (const dialect of dialects) {
  describe(`${dialect.label}: a cache hit equals a fresh database read`, () => {
    // The models exist from the start (no connection is made until seed), so test names can say
    // what each face promises for each case.
    const ctx = { sequelize: dialect.create() };
    ctx.models = defineSchema(ctx.sequelize, { prefix: TABLE_PREFIX });

    before(async () => {
      await seed(ctx.models);
      ctx.log = recordingLogger();
      const tier = { maxBytes: 64 * 1024 * 1024, defaultTtlSeconds: 60 };
      // One client per face: their counters and entries never mix.
      ctx.wrapClient = new MemoryCache({ ...tier, modelCacheName: `hem-wrap-${dialect.name}` });
      ctx.modelCache = await modelCacheFactory(ctx.wrapClient, ctx.log);
      ctx.withCacheClient = new MemoryCache({ ...tier, modelCacheName: `hem-with-${dialect.name}` });
      // withCache adds cache() to the model classes themselves: this dialect's own models.
      const { withCache: cacheWrapper } = withCache(ctx.withCacheClient, { logger: ctx.log });
      for (const Model of Object.values(ctx.models)) cacheWrapper(Model);
    });

    after(async () => {
      await ctx.wrapClient?.close();
      await ctx.withCacheClient?.close();
      await ctx.sequelize.close();
    });

    for (const face of FACES) {
      for (const c of CASES.filter(face.supports)) {
        const options = c.options?.(ctx.models, ctx.sequelize);
        it(`${face.prefix}, ${c.name}${face.suffix(c, isPlainData(c.method ?? 'findAll', options))}`, () => expectHitEqualsFresh(ctx, face, c));
      }
    }
  });
}
