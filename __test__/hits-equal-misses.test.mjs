// The promise: a cache hit is indistinguishable from a fresh database read.
//
// For every query below, on every reachable database:
//   1. `fresh` = the query run on the model directly (no cache);
//   2. `miss`  = the query through the cache wrapper (must count as a miss and a fill);
//      `hit`   = the same query again (must count as a hit);
//   3. plain(miss) and plain(hit) deep-equal plain(fresh) — with Dates still Dates and Buffers
//      still Buffers — and JSON.stringify gives the same text.
// The cache is not cleared between queries, so two queries that wrongly share a key show up as a
// "hit" where a miss was expected.
//
//   node --test __test__/hits-equal-misses.test.mjs
//   SNC_REQUIRE_ALL_DIALECTS=1 node --test __test__/hits-equal-misses.test.mjs   (CI: every DB must run)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Op } from 'sequelize';
import { MemoryCache, modelCacheFactory, LoggerFactory } from '../js/index.mjs';
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
  if (method === 'findAll') return Array.from(result, plainRow);
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
// read through the read-only view).

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
    name: 'a findByPk of the all-types row on a hit equals a fresh read',
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
    name: 'a findByPk through a custom getter on a hit equals a fresh read',
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
    name: 'findByPk of a missing id is null on the miss and on the hit',
    model: (m) => m.User,
    method: 'findByPk',
    pk: SEED.missingId,
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

/** Runs one case: fresh read, miss, hit; compares them. */
async function expectHitEqualsFresh(ctx, c) {
  const { client, cache, models, sequelize } = ctx;
  const method = c.method ?? 'findAll';
  const Model = c.model(models);
  const W = cache.wrap(Model);
  const optionsFor = () => (c.options ? c.options(models, sequelize) : undefined);
  const call = (target) => (method === 'findByPk' ? target.findByPk(c.pk, optionsFor()) : target[method](optionsFor()));
  const keyArgs = method === 'findByPk' ? [c.pk, optionsFor()] : [optionsFor()];
  const options = optionsFor();

  const fresh = await call(Model);
  const freshPlain = plain(fresh, method, options);
  c.meaningful?.(freshPlain);

  assert.equal(typeof client.keyFor(Model, method, ...keyArgs), 'string', 'the query must be cacheable (keyFor returned null)');

  let before = counters(client, Model.name, method);
  const miss = await call(W);
  expectCounted(before, counters(client, Model.name, method), { misses: 1, fills: 1 }, 'the first cached call must be a miss that fills');

  before = counters(client, Model.name, method);
  const hit = await call(W);
  expectCounted(before, counters(client, Model.name, method), { hits: 1 }, 'the second cached call must be a hit');

  const norm = c.unordered ? sorted : (x) => x;
  assert.deepStrictEqual(norm(plain(miss, method, options)), norm(freshPlain), 'the miss differs from a fresh read');
  assert.deepStrictEqual(norm(plain(hit, method, options)), norm(freshPlain), 'the hit differs from a fresh read');

  const freshJson = jsonOrNull(fresh);
  if (freshJson !== null && !c.unordered) assert.equal(JSON.stringify(hit), freshJson, 'JSON.stringify(hit) differs from a fresh read');

  c.views?.(hit, fresh, models);
}

// ---- the suite, per dialect --------------------------------------------------------------------

const dialects = await dialectsToRun(SUITE);

for (const dialect of dialects) {
  describe(`${dialect.label}: a cache hit equals a fresh database read`, () => {
    const ctx = {};

    before(async () => {
      ctx.sequelize = dialect.create();
      ctx.models = defineSchema(ctx.sequelize, { prefix: TABLE_PREFIX });
      await seed(ctx.models);
      ctx.client = new MemoryCache({ maxBytes: 64 * 1024 * 1024, defaultTtlSeconds: 60, modelCacheName: `hem-${dialect.name}` });
      ctx.cache = await modelCacheFactory(ctx.client, LoggerFactory.createLogger({ logLevel: 'warn' }));
    });

    after(async () => {
      await ctx.client?.close();
      await ctx.sequelize?.close();
    });

    for (const c of CASES) {
      it(c.name, () => expectHitEqualsFresh(ctx, c));
    }
  });
}
