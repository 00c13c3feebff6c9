// The Momento wrapper's API on the in-process tier: read-aside, pass-through statics, read-only
// results, bypasses, single-flight, the no-late-fill rule, TTL and byte bounds, fail-safe
// decoding, loggers, stats and bad input.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import util from 'node:util';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { Sequelize, DataTypes, Op, EmptyResultError } from 'sequelize';
import { MemoryCache, modelCacheFactory, LoggerFactory, CompressionType } from '../js/index.mjs';
import { recordingLogger } from './support/suite.mjs';

const require = createRequire(import.meta.url);

/** A fresh SQLite database with User → Post, counting the SQL statements it runs. */
async function setup() {
  const sql = [];
  const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: (s) => sql.push(s) });
  const User = sequelize.define('User', {
    username: DataTypes.STRING,
    birthday: DataTypes.DATE,
    age: DataTypes.INTEGER,
    isActive: DataTypes.BOOLEAN,
    accountBalance: DataTypes.FLOAT,
  });
  const Post = sequelize.define('Post', { title: DataTypes.STRING });
  User.hasMany(Post);
  Post.belongsTo(User);
  await sequelize.sync();
  const birthday = new Date(Date.UTC(1992, 5, 21));
  for (const username of ['user1', 'user2', 'user3']) {
    const u = await User.create({ username, birthday, age: 29, isActive: true, accountBalance: 70.07 });
    await Post.create({ title: `${username} post`, UserId: u.id });
  }
  sql.length = 0;
  const logger = recordingLogger();
  const client = new MemoryCache();
  const cache = await modelCacheFactory(client, logger);
  return { sequelize, User, Post, sql, client, cache, logger };
}

describe('read-aside', () => {
  let t;
  before(async () => (t = await setup()));
  after(() => t.sequelize.close());

  test('the first read queries the database, the second is served from the cache', async () => {
    const { cache, User, sql, client } = t;
    const miss = await cache.wrap(User).findByPk(1);
    assert.equal(sql.length, 1);
    const hit = await cache.wrap(User).findByPk(1);
    assert.equal(sql.length, 1, 'a hit must not query the database');
    assert.deepEqual(JSON.parse(JSON.stringify(hit)), JSON.parse(JSON.stringify(miss)));
    assert.equal(hit.username, 'user1');
    assert.ok(hit.birthday instanceof Date);
    const s = client.stats().models.User.findByPk;
    assert.deepEqual([s.hits, s.misses, s.fills], [1, 1, 1]);
  });

  test('a hit shows what the database read shows: its own attributes, getters and virtual attributes, also where another query differs only in them', async () => {
    const { cache, User, Post } = t;
    const variants = [
      { include: [Post], order: [['id', 'ASC']], limit: 3 },
      { include: [Post], order: [['id', 'DESC']], limit: 2 },
      { include: [{ model: Post, attributes: ['id'] }], order: [['id', 'ASC']] },
      { include: [{ model: Post, attributes: ['id', 'title'] }], order: [['id', 'ASC']] },
      { include: [Post], attributes: ['id', 'username'], order: [['id', 'ASC']] },
      { include: [Post], attributes: ['id'], order: [['id', 'ASC']] },
      { include: [{ model: Post, attributes: { exclude: ['title'] } }], attributes: { exclude: ['birthday'] }, order: [['id', 'ASC']] },
    ];
    const shape = (rows) => rows.map((r) => ({ keys: Object.keys(r.get({ plain: true })), row: r.get({ plain: true }), json: r.toJSON() }));
    // A getter is read only for the attributes a query selected (Sequelize's get()), so a hit built
    // with another query's attributes would show it where the database read does not, or not show
    // it; getterMethods are not attributes at all; a virtual attribute's dependencies are selected
    // with it.
    const Gadget = t.sequelize.define(
      'Gadget',
      {
        name: DataTypes.STRING,
        shout: { type: DataTypes.VIRTUAL(DataTypes.STRING, ['name']), get() { return `${this.getDataValue('name')}!`; } },
      },
      { getterMethods: { loud() { return `LOUD ${this.getDataValue('name')}`; } } },
    );
    Gadget.belongsTo(User);
    User.hasMany(Gadget);
    await Gadget.sync();
    await Gadget.bulkCreate([{ name: 'a', UserId: 1 }, { name: 'b', UserId: 2 }]);
    const cases = [
      ...variants.map((o) => [User, o]),
      [Gadget, { order: [['id', 'ASC']] }],
      [Gadget, { attributes: ['id'], order: [['id', 'ASC']] }],
      [Gadget, { attributes: ['id', 'shout'], order: [['id', 'ASC']], limit: 5 }],
      [Gadget, { attributes: ['id', 'name', 'shout'], order: [['id', 'ASC']], limit: 5 }],
      [User, { include: [Gadget], order: [['id', 'ASC']] }],
      [User, { include: [{ model: Gadget, attributes: ['id'] }], order: [['id', 'ASC']] }],
      [User, { include: [{ model: Gadget, attributes: ['id', 'shout'] }], order: [['id', 'ASC']] }],
      [User, { include: [{ model: Gadget, attributes: ['id', 'name', 'shout'] }], order: [['id', 'ASC']] }],
    ];
    for (const [M, o] of cases) await cache.wrap(M).findAll(o);
    for (const [M, o] of cases) {
      const before = t.sql.length;
      const hit = await cache.wrap(M).findAll(o);
      assert.equal(t.sql.length, before, 'a hit');
      const fresh = await M.findAll(o);
      assert.deepEqual(JSON.parse(JSON.stringify(shape(hit))), JSON.parse(JSON.stringify(shape(fresh))), `${M.name} ${JSON.stringify(o)}`);
    }
  });

  test('findAll with plain: true is cached as the one row it returns', async () => {
    const { cache, User, sql, logger } = t;
    const o = { plain: true, where: { username: 'user2' } };
    await cache.wrap(User).findAll(o);
    const n = sql.length;
    const hit = await cache.wrap(User).findAll(o);
    assert.equal(sql.length, n, 'a hit');
    assert.equal(hit.username, 'user2');
    assert.deepEqual(JSON.parse(JSON.stringify(hit)), JSON.parse(JSON.stringify(await User.findAll(o))));
    assert.equal(await cache.wrap(User).findAll({ plain: true, where: { username: 'nobody' } }), null);
    assert.equal(await cache.wrap(User).findAll({ plain: true, where: { username: 'nobody' } }), null);
    assert.ok(!logger.lines.some((l) => l.obj.code === 'cache-decode'), 'no entry was refused');
  });

  test('findOne, findAll, count and findAndCountAll are all read-aside', async () => {
    const { cache, User, Post, sql } = t;
    const queries = [
      () => cache.wrap(User).findOne({ where: { username: { [Op.like]: 'user%' } }, order: [['id', 'DESC']] }),
      () => cache.wrap(User).findAll({ include: Post, order: [['id', 'ASC']] }),
      () => cache.wrap(User).count({ where: { age: { [Op.gt]: 18 } } }),
      () => cache.wrap(User).findAndCountAll({ limit: 2, order: [['id', 'ASC']] }),
    ];
    for (const q of queries) {
      const before = sql.length;
      const miss = await q();
      assert.ok(sql.length > before);
      const after = sql.length;
      const hit = await q();
      assert.equal(sql.length, after, 'a hit must not query the database');
      assert.equal(JSON.stringify(hit), JSON.stringify(miss));
    }
  });

  test('concurrent misses of one key run one query and every caller gets an equal result', async () => {
    const { cache, User, Post, sql } = t;
    const before = sql.length;
    const opts = { where: { age: 29 }, include: Post, order: [['id', 'ASC']] };
    const results = await Promise.all(Array.from({ length: 10 }, () => cache.wrap(User).findAll(opts)));
    assert.equal(sql.length - before, 1, 'single-flight: one database query for ten callers');
    const first = JSON.stringify(results[0]);
    for (const r of results) assert.equal(JSON.stringify(r), first);
    assert.equal(results[9][2].Posts[0].title, 'user3 post');
  });

  test('a per-wrapper ttl expires entries', async () => {
    const { cache, User, sql } = t;
    const W = cache.wrap(User, { ttl: 0.05 });
    await W.findByPk(2);
    const n = sql.length;
    await W.findByPk(2);
    assert.equal(sql.length, n);
    await new Promise((r) => setTimeout(r, 150));
    await W.findByPk(2);
    assert.equal(sql.length, n + 1, 'an expired entry is a miss');
  });

  test('findByPk of a missing row and findOne with no match are null on a miss and on a hit', async () => {
    const { cache, User } = t;
    assert.equal(await cache.wrap(User).findByPk(999), null);
    assert.equal(await cache.wrap(User).findByPk(999), null);
    assert.equal(await cache.wrap(User).findOne({ where: { username: 'nobody' } }), null);
    assert.equal(await cache.wrap(User).findOne({ where: { username: 'nobody' } }), null);
  });

  test('rejectOnEmpty still rejects when the cached answer is empty', async () => {
    const { cache, User } = t;
    await cache.wrap(User).findOne({ where: { username: 'ghost' } });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(cache.wrap(User).findOne({ where: { username: 'ghost' }, rejectOnEmpty: true }), EmptyResultError);
    }
  });
});

describe('models that share keys', () => {
  test('two models whose default table names coincide never answer with each other\'s rows', async () => {
    const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
    // Both default to the table Analyses, so their keys coincide; one is paranoid.
    const Analysis = sequelize.define('Analysis', { title: DataTypes.STRING }, { paranoid: true });
    const Analyse = sequelize.define('Analyse', { title: DataTypes.STRING, deletedAt: DataTypes.DATE });
    assert.equal(Analysis.tableName, Analyse.tableName);
    await sequelize.sync();
    await Analysis.create({ title: 'live' });
    await (await Analysis.create({ title: 'trashed' })).destroy();
    const client = new MemoryCache();
    const cache = await modelCacheFactory(client, recordingLogger());
    const titles = (rows) => rows.map((r) => r.title);
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(titles(await cache.wrap(Analyse).findAll({ order: [['id', 'ASC']] })), ['live', 'trashed']);
      assert.deepEqual(titles(await cache.wrap(Analysis).findAll({ order: [['id', 'ASC']] })), ['live']);
    }
    await sequelize.close();
  });
});

describe('pass-through', () => {
  let t;
  before(async () => (t = await setup()));
  after(() => t.sequelize.close());

  test('every other static passes through to the model unchanged', async () => {
    const { cache, User } = t;
    const W = cache.wrap(User);
    assert.equal(W.name, 'User');
    assert.equal(W.rawAttributes, User.rawAttributes);
    const created = await W.create({ username: 'via wrapper', age: 3 });
    assert.ok(created instanceof User);
    assert.equal((await User.findByPk(created.id)).username, 'via wrapper');
    assert.ok(W.build({ username: 'x' }) instanceof User);
    assert.equal(await W.max('age'), 29);
  });

  test('findOrCreate and findCreateFind are never served from the cache', async () => {
    const { cache, User, sql, client } = t;
    const W = cache.wrap(User);
    await W.findOne({ where: { username: 'user1' } });
    const hitsBefore = client.stats().hits;
    for (let i = 0; i < 2; i++) {
      const n = sql.length;
      const [u] = await W.findOrCreate({ where: { username: 'user1' } });
      assert.equal(u.username, 'user1');
      assert.ok(sql.length > n, 'findOrCreate queries the database every time');
      const m = sql.length;
      await W.findCreateFind({ where: { username: 'user1' } });
      assert.ok(sql.length > m, 'findCreateFind queries the database every time');
    }
    assert.equal(client.stats().hits, hitsBefore);
  });

  test('wrap returns the same wrapper for the same model', async () => {
    const { cache, User } = t;
    assert.equal(cache.wrap(User), cache.wrap(User));
  });
});

describe('read-only results', () => {
  let t;
  let row;
  let rows;
  before(async () => {
    t = await setup();
    await t.cache.wrap(t.User).findByPk(1, { include: t.Post });
    row = await t.cache.wrap(t.User).findByPk(1, { include: t.Post });
    await t.cache.wrap(t.User).findAll({ include: t.Post });
    rows = await t.cache.wrap(t.User).findAll({ include: t.Post });
  });
  after(() => t.sequelize.close());

  test('attributes and get() can be read, nested includes and arrays too', () => {
    assert.equal(row.username, 'user1');
    assert.equal(row.get('username'), 'user1');
    assert.equal(row.Posts[0].title, 'user1 post');
    assert.equal(row.get('Posts')[0].get('title'), 'user1 post');
    assert.equal(rows.length, 3);
    assert.equal(rows[1].Posts[0].User, undefined);
    assert.deepEqual(rows.map((r) => r.username), ['user1', 'user2', 'user3']);
    assert.equal(row.get({ plain: true }).Posts[0].title, 'user1 post');
    assert.ok(row instanceof t.User);
  });

  test('JSON.stringify, util.inspect and returning from an async function work', async () => {
    const json = JSON.parse(JSON.stringify(row));
    assert.equal(json.username, 'user1');
    assert.equal(json.Posts[0].title, 'user1 post');
    assert.match(util.inspect(row), /username: 'user1'/);
    assert.match(util.inspect(rows), /user3/);
    assert.equal(row.then, undefined);
    assert.equal(await (async () => row)(), row);
  });

  test('anything else throws a TypeError', () => {
    const fails = [
      () => row.save(),
      () => row.destroy(),
      () => row.update({ username: 'x' }),
      () => row.notAnAttribute,
      () => row.dataValues,
      () => {
        row.username = 'x';
      },
      () => {
        delete row.username;
      },
      () => {
        row.Posts[0].title = 'x';
      },
      () => rows.push(rows[0]),
      () => {
        rows[0] = null;
      },
      () => row.get('notAnAttribute'),
    ];
    for (const f of fails) assert.throws(f, TypeError);
    assert.equal(row.username, 'user1');
  });

  test('a hit and a miss have the same shape and values', async () => {
    const { cache, User, Post, client } = t;
    client.clear();
    const opts = { include: Post, where: { id: 2 } };
    const miss = await cache.wrap(User).findOne(opts);
    const hit = await cache.wrap(User).findOne(opts);
    assert.deepEqual(hit.get({ plain: true }), miss.get({ plain: true }));
    assert.deepEqual(Object.keys(hit), Object.keys(miss));
    assert.throws(() => miss.save(), TypeError);
  });

  test('raw results and counts with group are read-only plain data', async () => {
    const { cache, User } = t;
    await cache.wrap(User).findAll({ raw: true, where: { id: 1 } });
    const raw = await cache.wrap(User).findAll({ raw: true, where: { id: 1 } });
    assert.equal(raw[0].username, 'user1');
    assert.ok(raw[0].birthday instanceof Date || typeof raw[0].birthday === 'string');
    assert.throws(() => {
      raw[0].username = 'x';
    }, TypeError);
    await cache.wrap(User).count({ group: ['age'] });
    const grouped = await cache.wrap(User).count({ group: ['age'] });
    assert.deepEqual(JSON.parse(JSON.stringify(grouped)), [{ age: 29, count: 3 }]);
  });

  test('util.inspect shows raw rows, grouped counts and findAndCountAll results as read', async () => {
    const { cache, User } = t;
    const raw = await cache.wrap(User).findAll({ raw: true, where: { id: 1 } });
    assert.match(util.inspect(raw), /username: 'user1'/);
    const grouped = await cache.wrap(User).count({ group: ['age'] });
    assert.match(util.inspect(grouped), /age: 29, count: 3/);
    await cache.wrap(User).findAndCountAll({ where: { id: 1 } });
    const counted = await cache.wrap(User).findAndCountAll({ where: { id: 1 } });
    const shown = util.inspect(counted, { depth: 4 });
    assert.match(shown, /count: 1/);
    assert.match(shown, /User \(read-only\) \{[^}]*username: 'user1'/);
  });
});

describe('bypasses: reads that must not touch the cache', () => {
  let t;
  before(async () => (t = await setup()));
  after(() => t.sequelize.close());

  async function assertBypassed(reason, read) {
    const { sql, client } = t;
    const before = client.stats();
    for (let i = 0; i < 2; i++) {
      const n = sql.length;
      await read();
      assert.ok(sql.length > n, `${reason}: every call goes to the database`);
    }
    const after = client.stats();
    assert.equal(after.hits, before.hits);
    assert.equal(after.fills, before.fills, `${reason}: nothing is stored`);
    assert.equal((after.bypassReasons[reason] || 0) - (before.bypassReasons[reason] || 0), 2);
  }

  test('reads inside an explicit transaction', async () => {
    const { sequelize, cache, User } = t;
    await sequelize.transaction(async (transaction) => {
      await assertBypassed('transaction', () => cache.wrap(User).findByPk(1, { transaction }));
    });
  });

  test('reads inside a CLS transaction', async () => {
    const { cache, User } = t;
    const als = new AsyncLocalStorage();
    const namespace = {
      run(fn) {
        return als.run(new Map(), () => fn(als.getStore()));
      },
      get: (k) => als.getStore()?.get(k),
      set: (k, v) => als.getStore()?.set(k, v),
      bind: (fn) => fn,
    };
    Sequelize.useCLS(namespace);
    try {
      const cls = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: (s) => t.sql.push(s) });
      const M = cls.define('Thing', { name: DataTypes.STRING });
      await M.sync();
      await M.create({ name: 'a' });
      await cls.transaction(async () => {
        await assertBypassed('transaction', () => cache.wrap(M).findAll());
      });
      await cls.close();
    } finally {
      delete Sequelize._cls;
    }
  });

  test('reads with lock, skipLocked or useMaster', async () => {
    const { cache, User } = t;
    await assertBypassed('lock', () => cache.wrap(User).findAll({ lock: true }));
    await assertBypassed('skipLocked', () => cache.wrap(User).findAll({ skipLocked: true }));
    await assertBypassed('useMaster', () => cache.wrap(User).findAll({ useMaster: true }));
  });

  test('models with find hooks (which a hit would skip), unless hooks are off for the call', async () => {
    const { sequelize, cache, sql } = t;
    const Tenant = sequelize.define('Tenant', { name: DataTypes.STRING });
    await Tenant.sync();
    Tenant.addHook('beforeFind', (options) => {
      options.where = { ...options.where, name: 'acme' };
    });
    await assertBypassed('hooks', () => cache.wrap(Tenant).findAll());
    await cache.wrap(Tenant).findAll({ hooks: false });
    const n = sql.length;
    await cache.wrap(Tenant).findAll({ hooks: false });
    assert.equal(sql.length, n, 'with hooks: false the read is cached');
  });

  for (const hook of ['beforeFind', 'beforeFindAfterExpandIncludeAll', 'beforeFindAfterOptions', 'afterFind', 'beforeCount']) {
    test(`a ${hook} hook on the model, or on the Sequelize instance, bypasses`, async () => {
      const { sequelize, cache } = t;
      const M = sequelize.define(`Hooked_${hook}`, { name: DataTypes.STRING });
      await M.sync();
      M.addHook(hook, () => {});
      const read = hook === 'beforeCount' ? () => cache.wrap(M).count() : () => cache.wrap(M).findAll();
      await assertBypassed('hooks', read);

      const other = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
      try {
        const N = other.define('Plain', { name: DataTypes.STRING });
        await N.sync();
        other.addHook(hook, () => {});
        const before = t.client.stats().bypassReasons.hooks ?? 0;
        await (hook === 'beforeCount' ? cache.wrap(N).count() : cache.wrap(N).findAll());
        assert.equal(t.client.stats().bypassReasons.hooks, before + 1, `an instance-wide ${hook} hook bypasses`);
      } finally {
        await other.close();
      }
    });
  }

  test('queries the encoder cannot key', async () => {
    const { cache, User } = t;
    class Opaque {}
    await assertBypassed('unkeyable:unknown-class', () => cache.wrap(User).findAll({ where: { id: 1 }, x: new Opaque() }));
  });
});

describe('no late fill', () => {
  let t;
  before(async () => (t = await setup()));
  after(() => t.sequelize.close());

  /** Holds the next SELECT's result (after the database answered) until `release()`. */
  function holdNextSelect(sequelize) {
    let release;
    const gate = new Promise((r) => (release = r));
    let answered;
    const ready = new Promise((r) => (answered = r));
    let armed = true;
    sequelize.addHook('afterQuery', 'hold', async (options) => {
      if (!armed || options.type !== 'SELECT') return;
      armed = false;
      answered();
      await gate;
    });
    return { ready, release: () => (release(), sequelize.removeHook('afterQuery', 'hold')) };
  }

  test('a read whose result arrives after an invalidation does not store it', async () => {
    const { sequelize, cache, User, client, sql } = t;
    await cache.wrap(User).findByPk(1);
    client.invalidateModel(User);

    const hold = holdNextSelect(sequelize);
    const reading = cache.wrap(User).findByPk(1);
    await hold.ready; // the database has answered with 'user1'
    await User.update({ username: 'renamed' }, { where: { id: 1 } });
    client.invalidateModel(User);
    hold.release();
    assert.equal((await reading).username, 'user1', 'the held read still returns what it read');

    const n = sql.length;
    const fresh = await cache.wrap(User).findByPk(1);
    assert.equal(sql.length, n + 1, 'the stale result was not stored');
    assert.equal(fresh.username, 'renamed');
    assert.equal(client.stats().models.User.findByPk.fillsRejected, 1);
  });

  test('clear() during a read keeps that read from refilling', async () => {
    const { sequelize, cache, User, client, sql } = t;
    const hold = holdNextSelect(sequelize);
    const reading = cache.wrap(User).findAll({ where: { age: 29 } });
    await hold.ready;
    client.clear();
    hold.release();
    await reading;
    const n = sql.length;
    await cache.wrap(User).findAll({ where: { age: 29 } });
    assert.equal(sql.length, n + 1);
  });

  test('invalidating an included model makes the including query stale', async () => {
    const { cache, User, Post, client, sql } = t;
    const opts = { include: Post, where: { id: 2 } };
    await cache.wrap(User).findOne(opts);
    await cache.wrap(User).findOne(opts);
    const n = sql.length;
    client.invalidateModel(Post);
    await cache.wrap(User).findOne(opts);
    assert.equal(sql.length, n + 1);
  });
});

describe('bounds and fail-safety', () => {
  test('the in-process tier stays under maxBytes and counts evictions', async () => {
    const t = await setup();
    const client = new MemoryCache({ maxBytes: 8 * 1024 });
    const cache = await modelCacheFactory(client, t.logger);
    for (let i = 0; i < 60; i++) await cache.wrap(t.User).findAll({ where: { age: { [Op.ne]: i } } });
    const s = client.stats();
    assert.ok(s.bytes <= 8 * 1024, `bytes ${s.bytes} over the bound`);
    assert.ok(s.evictions > 0);
    await t.sequelize.close();
  });

  test('a payload reads back exactly as stored: split at its header line while the header table has room, whole after', async () => {
    const t = await setup();
    const { engineOf } = require('../js/clients.js');
    const native = engineOf(t.client, 'test').native;
    const { limits } = require('../js/native.js');
    let split = 0;
    let whole = 0;
    const n = limits.PAYLOAD_MAX_HEADERS + 50;
    for (let i = 0; i < n; i++) {
      // Distinct header lines; every tenth row also holds an escape, which is always kept whole.
      const text = `2 row - [["D","t${i}"]]\n{"t${i}":${i},"s":"${i % 10 === 0 ? '\\u00e9' : 'e'}"}`;
      const key = `k${i}`;
      const ticket = native.beginFill(key, []);
      assert.equal(native.fill(ticket, text, undefined, 0), 1);
      native.release(ticket);
      const got = native.get(key, 0);
      const id = native.lastHeader();
      if (id === 0) whole++;
      else split++;
      assert.equal(id === 0 ? got : `${native.header(id)}\n${got}`, text, `payload ${i}`);
    }
    assert.ok(split > 0 && split <= limits.PAYLOAD_MAX_HEADERS, `split: ${split}`);
    assert.ok(whole >= n - limits.PAYLOAD_MAX_HEADERS, `whole: ${whole}`);
    await t.sequelize.close();
  });

  test('bytes the codec did not write, cut short or of another version are misses, logged once', async () => {
    const t = await setup();
    const { engineOf } = require('../js/clients.js');
    const native = engineOf(t.client, 'test').native;
    const key = t.client.keyFor(t.User, 'findByPk', 1);
    const good = Buffer.concat([Buffer.from('SNC'), Buffer.from([1, 0]), Buffer.alloc(8), Buffer.from('')]);
    const otherVersion = Buffer.from(good);
    otherVersion[3] = 9;
    const entries = [Buffer.from('{"not":"ours"}'), Buffer.from('SNC'), otherVersion];
    for (const bytes of entries) {
      assert.ok(native.fillRaw(native.beginFill(key, []), bytes, undefined, 0));
      const n = t.sql.length;
      const u = await t.cache.wrap(t.User).findByPk(1);
      assert.equal(u.username, 'user1');
      assert.equal(t.sql.length, n + 1, 'a corrupt entry is a miss');
    }
    const warnings = t.logger.lines.filter((l) => l.obj.code === 'cache-corrupt');
    assert.equal(warnings.length, 1, 'logged once per burst');
    assert.ok(t.client.stats().corrupt >= 3);

    // A well-framed payload that is not what the shim wrote is a miss too.
    const { definitionOf } = require('../js/engine/definition.js');
    const { PAYLOAD_VERSION } = require('../js/payload.js');
    engineOf(t.client, 'test').hits.forget(key);
    assert.ok(native.fill(native.beginFill(key, []), `${PAYLOAD_VERSION} row ${definitionOf(t.User)} [["?","id"]]\n{"id":1}`, undefined, 0));
    assert.equal((await t.cache.wrap(t.User).findByPk(1)).username, 'user1');
    assert.ok(t.logger.lines.some((l) => l.obj.code === 'cache-decode'));
    await t.sequelize.close();
  });
});

describe('log lines show no query values', () => {
  test("a warning about an entry names its key's head and a hash, never the where's values", async () => {
    const t = await setup();
    const { engineOf } = require('../js/clients.js');
    const { keyForLog } = require('../js/logger.js');
    const native = engineOf(t.client, 'test').native;
    const secret = 'tok_9f8e7d6c5b4a';
    await t.User.update({ username: secret }, { where: { id: 1 } });
    const options = { where: { username: secret } };
    const key = t.client.keyFor(t.User, 'findOne', options);
    assert.ok(key.includes(secret), 'the key itself holds the value');
    // An unreadable entry at that key: the read warns about it.
    assert.ok(native.fillRaw(native.beginFill(key, []), Buffer.from('not a frame'), undefined, 0));
    assert.equal((await t.cache.wrap(t.User).findOne(options)).username, secret);
    const lines = t.logger.lines.filter((l) => l.code === 'cache-corrupt');
    assert.equal(lines.length, 1, 'warned');
    assert.ok(!lines[0].text.includes(secret), lines[0].text);
    assert.equal(lines[0].obj.key, keyForLog(key));
    assert.match(lines[0].obj.key, /^model-cache:findOne:Users:#[0-9a-f]{12}$/);
    await t.sequelize.close();
  });
});

describe('loggers', () => {
  test('LoggerFactory.createLogger filters below its level', () => {
    const printed = [];
    const orig = [console.log, console.error];
    console.log = (l) => printed.push(l);
    console.error = (l) => printed.push(l);
    try {
      const log = LoggerFactory.createLogger({ logLevel: 'warn' });
      log.debug({ a: 1 }, 'hidden');
      log.info({ a: 1 }, 'hidden');
      log.warn({ userId: 1 }, 'shown warn');
      log.error({ userId: 2 }, 'shown error');
      const dbg = LoggerFactory.createLogger({ logLevel: 'debug' });
      dbg.debug({ userId: 1 }, 'Issuing a read');
    } finally {
      [console.log, console.error] = orig;
    }
    assert.equal(printed.length, 3);
    assert.match(printed[0], /WARN shown warn \{"userId":1\}/);
    assert.match(printed[2], /DEBUG Issuing a read/);
    assert.throws(() => LoggerFactory.createLogger({ logLevel: 'loud' }), /logLevel/);
  });

  test('a logger, or { logger, compressionType }, is accepted as the second argument', async () => {
    const client = new MemoryCache();
    const pinoLike = recordingLogger();
    assert.ok(await modelCacheFactory(client, pinoLike));
    const mc = await modelCacheFactory(client, { logger: pinoLike, compressionType: CompressionType.ZSTD });
    assert.equal(mc.compressionType, 'ZSTD');
    assert.ok(await modelCacheFactory(client));
  });
});

describe('bad input', () => {
  test('invalid options throw a TypeError naming the option', async () => {
    const t = await setup();
    const cases = [
      [() => new MemoryCache({ maxBytes: -1 }), /maxBytes/],
      [() => new MemoryCache({ maxBytes: 1.5 }), /maxBytes/],
      [() => new MemoryCache({ defaultTtlSeconds: 'abc' }), /defaultTtlSeconds/],
      [() => new MemoryCache({ defaultTtlSeconds: 0 }), /defaultTtlSeconds/],
      [() => new MemoryCache({ modelCacheName: '' }), /modelCacheName/],
      [() => new MemoryCache({ maxEntries: 3 }), /unknown option "maxEntries"/],
      [() => new MemoryCache('big'), /options/],
      [() => t.cache.wrap({ findAll() {} }), /wrap: expected a Sequelize model/],
      [() => t.cache.wrap(t.User, { ttl: 'abc' }), /ttl/],
      [() => t.cache.wrap(t.User, { ttl: -5 }), /ttl/],
      [() => t.cache.wrap(t.User, { tll: 5 }), /unknown option "tll"/],
    ];
    for (const [f, msg] of cases) assert.throws(f, (e) => e instanceof TypeError && msg.test(e.message));
    await assert.rejects(modelCacheFactory({ get() {} }), (e) => e instanceof TypeError && /client/.test(e.message));
    await assert.rejects(modelCacheFactory(t.client, 5), TypeError);
    await assert.rejects(modelCacheFactory(t.client, { compressionType: 'GZIP' }), /compressionType/);
    await assert.rejects(modelCacheFactory(t.client, { logger: {} }), /logger/);
    await assert.rejects(modelCacheFactory(t.client, { autoInvalidate: 'yes' }), (e) => e instanceof TypeError && /autoInvalidate/.test(e.message));
    await t.sequelize.close();
  });

  test('a failing cache never fails the query: the database answers', async () => {
    const t = await setup();
    const { engineOf } = require('../js/clients.js');
    const native = engineOf(t.client, 'test').native;
    const real = { get: native.get, lookupPk: native.lookupPk };
    native.get = native.lookupPk = () => {
      throw new Error('engine exploded');
    };
    try {
      const u = await t.cache.wrap(t.User).findByPk(3);
      assert.equal(u.username, 'user3');
      const all = await t.cache.wrap(t.User).findAll({ where: { id: 2 } });
      assert.equal(all[0].username, 'user2');
      assert.equal(t.logger.lines.filter((l) => l.obj.code === 'cache-read').length, 1, 'logged once per burst');
      assert.equal(t.client.stats().hits, 0);
    } finally {
      Object.assign(native, real);
    }
    await assert.rejects(t.cache.wrap(t.User).findAll({ where: { nope: 1 } }), /nope/, 'database errors still reach the caller, once');
    await t.sequelize.close();
  });
});

test("compressionType accepts the Momento wrapper's numeric enum values", async () => {
  const client = new MemoryCache();
  assert.equal((await modelCacheFactory(client, { compressionType: 0 })).compressionType, 'NONE');
  assert.equal((await modelCacheFactory(client, { compressionType: 2 })).compressionType, 'ZSTD');
  await assert.rejects(modelCacheFactory(client, { compressionType: 3 }), (e) => e instanceof TypeError && /compressionType/.test(e.message));
});
