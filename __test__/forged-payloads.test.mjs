// A payload read back from a cache is untrusted: one whose framing is intact but whose content
// was forged must never reach a prototype, never be served as another method's result, and never
// fail the query. (Frames themselves — checksums, HMAC — are tested in poisoned-entries.test.mjs.)
// Also: the key spaces of entity entries, named queries and canonical queries never meet.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Sequelize, DataTypes } from 'sequelize';
import { MemoryCache, modelCacheFactory, withCache } from '../js/index.mjs';
import { recordingLogger } from './support/suite.mjs';

const require = createRequire(import.meta.url);
const { engineOf } = require('../js/clients.js');
const { definitionOf } = require('../js/engine/definition.js');
const { PAYLOAD_VERSION } = require('../js/payload.js');

/**
 * A payload written below as `1 <shape> <types>\n<data>`, in the current format and carrying the
 * definition of `Model`: so what is forged is only what each case says (another version stays).
 */
const asStored = (Model, text) => text.replace(/^1 (\S+) /, (_, shape) => `${PAYLOAD_VERSION} ${shape} ${definitionOf(Model)} `);

async function setup() {
  const sql = [];
  const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: (s) => sql.push(s) });
  const User = sequelize.define('User', { name: DataTypes.STRING, born: DataTypes.DATE });
  await sequelize.sync();
  await User.bulkCreate([{ name: 'ann', born: new Date(0) }, { name: 'bo', born: new Date(1000) }]);
  const client = new MemoryCache();
  const logger = recordingLogger();
  const cache = await modelCacheFactory(client, logger);
  return { sequelize, User, client, cache, logger, sql };
}

/** Stores `text` (see asStored) as the payload under `key` (a well-framed entry with forged content). */
function plant(client, key, text, Model) {
  const engine = engineOf(client, 'test');
  const store = engine.native;
  // As the read path does before a fill: a hit remembered for this key would outlive it.
  engine.hits.forget(key);
  const ticket = store.beginFill(key, []);
  assert.equal(store.fill(ticket, asStored(Model, text), undefined, 0), 1, 'planted');
  store.release(ticket);
}

describe('forged payloads', () => {
  const forged = [
    ['a type table walking __proto__', '1 row [["D","__proto__","isAdmin"]]\n{"id":1,"name":"x","__proto__":{"isAdmin":0}}'],
    ['a type table walking __proto__ of the root', '1 row [["D","__proto__","isAdmin"]]\n{"id":1,"name":"x"}'],
    ['a type table walking constructor.prototype', '1 row [["N","constructor","prototype","isAdmin"]]\n{"id":1}'],
    ['data with a __proto__ key', '1 row []\n{"id":1,"name":"x","__proto__":{"isAdmin":true}}'],
    ['data with a __proto__ key spelled with escapes', '1 row []\n{"id":1,"name":"x","\\u005f_proto__":{"isAdmin":true}}'],
    ['data with an escaped __proto__ key deep inside', '1 row []\n{"id":1,"name":"x","tags":[{"a":{"__pr\\u006fto__":{"isAdmin":true}}}]}'],
    ['a path into a string', '1 row [["D","name","length"]]\n{"id":1,"name":"x"}'],
    ['a path into nothing', '1 row [["D","missing","deeper"]]\n{"id":1}'],
    ['an unknown tag', '1 row [["Q","name"]]\n{"id":1,"name":"x"}'],
    ['types that are not a table', '1 row {"a":1}\n{"id":1}'],
    ['another format version', '9 row []\n{"id":1}'],
    ['a rows entry answering findByPk', '1 rows []\n[{"id":1,"name":"x"},{"id":2,"name":"y"}]'],
    ['a page entry answering findByPk', '1 page []\n{"count":1,"rows":[{"id":1}]}'],
    ['an unknown shape', '1 cells []\n{"id":1}'],
    ['garbage JSON', '1 row []\n{"id":1,'],
    ['a row entry holding a list', '1 row []\n[{"id":1,"name":"x"},{"id":2,"name":"y"}]'],
    ['a row entry holding a string', '1 row []\n"abc"'],
    ['a value entry holding a list', '1 value []\n[1,2]'],
    ['a value entry holding a string', '1 value []\n"str"'],
    ['a value entry holding a number', '1 value []\n7'],
  ];
  for (const [what, text] of forged) {
    test(`${what}: the database answers, no prototype is touched`, async () => {
      const t = await setup();
      try {
        const key = t.client.keyFor(t.User, 'findByPk', 1);
        plant(t.client, key, text, t.User);
        const n = t.sql.length;
        const u = await t.cache.wrap(t.User).findByPk(1);
        assert.equal(u.name, 'ann', 'the database answered');
        assert.equal(t.sql.length, n + 1, 'one database read');
        assert.equal(({}).isAdmin, undefined, 'Object.prototype untouched');
        assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'isAdmin'), false);
        assert.equal('isAdmin' in u.get({ plain: true }), false, 'no attribute came from a forged prototype');
        assert.ok(t.logger.lines.filter((l) => l.code === 'cache-decode').length <= 1, 'logged at most once');
        // The forged entry was dropped and replaced by the database's row.
        const again = await t.cache.wrap(t.User).findByPk(1);
        assert.equal(t.sql.length, n + 1, 'then a hit');
        assert.deepEqual(again.get({ plain: true }), u.get({ plain: true }));
      } finally {
        await t.sequelize.close();
      }
    });
  }

  test('a well-formed entry answers only the model definition that stored it', async () => {
    const t = await setup();
    try {
      const key = t.client.keyFor(t.User, 'findByPk', 1);
      const row = '1 row []\n{"id":1,"name":"planted"}';
      plant(t.client, key, row, t.User);
      assert.equal((await t.cache.wrap(t.User).findByPk(1)).name, 'planted', 'its own definition: served');
      // The same table and name, another definition (a paranoid one, a new column): a miss.
      const Other = t.sequelize.define('User', { name: DataTypes.STRING, born: DataTypes.DATE, extra: DataTypes.STRING }, { tableName: 'Users' });
      assert.notEqual(definitionOf(Other), definitionOf(t.User));
      plant(t.client, key, row, Other);
      const n = t.sql.length;
      assert.equal((await t.cache.wrap(t.User).findByPk(1)).name, 'ann', 'another definition: the database answers');
      assert.equal(t.sql.length, n + 1);
      assert.equal((await t.cache.wrap(t.User).findByPk(1)).name, 'ann', 'and its row replaced the entry');
      assert.equal(t.sql.length, n + 1);
    } finally {
      await t.sequelize.close();
    }
  });

  test('a row entry never answers a findAll that returns a list', async () => {
    const t = await setup();
    try {
      const options = { where: { id: 1 } };
      plant(t.client, t.client.keyFor(t.User, 'findAll', options), '1 row []\n{"id":1,"name":"x"}', t.User);
      const rows = await t.cache.wrap(t.User).findAll(options);
      assert.ok(Array.isArray(rows), 'a list, from the database');
      assert.deepEqual(rows.map((r) => r.name), ['ann']);
    } finally {
      await t.sequelize.close();
    }
  });

  test('a withCache entity entry with a forged payload is a miss too', async () => {
    const t = await setup();
    try {
      const { withCache: wrap } = withCache(t.client, { logger: recordingLogger() });
      wrap(t.User);
      await t.User.cache().findByPk(2);
      const engine = engineOf(t.client, 'test');
      const key = engine.keys.entityKey(t.User, { id: 2 });
      plant(t.client, key, '1 row [["D","__proto__","isAdmin"]]\n{"id":2}', t.User);
      const u = await t.User.cache().findByPk(2);
      assert.equal(u.name, 'bo');
      assert.equal(({}).isAdmin, undefined);
    } finally {
      await t.sequelize.close();
    }
  });
});

describe('key spaces never meet', () => {
  /** A CacheAdapter over a Map, keeping every path it was given. */
  function mapAdapter() {
    const map = new Map();
    return {
      map,
      async get(path) {
        return map.has(path.join(':')) ? map.get(path.join(':')) : null;
      },
      async set(path, value) {
        map.set(path.join(':'), value);
      },
      async del(path) {
        map.delete(path.join(':'));
      },
    };
  }

  test('a name equal to a canonical key, and an entity whose key reads like a named query, each keep their own entry', async () => {
    const sql = [];
    const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: (s) => sql.push(s) });
    const Item = sequelize.define('Item', { id: { type: DataTypes.STRING, primaryKey: true }, label: DataTypes.STRING });
    await sequelize.sync();
    await Item.bulkCreate([
      { id: 'a', label: 'A' },
      { id: 'query:x', label: 'entity whose key looks like a named query' },
      { id: 'query', label: 'entity named query' },
    ]);
    for (const client of [new MemoryCache(), mapAdapter()]) {
      const { withCache: wrap } = withCache(client, { logger: recordingLogger() });
      wrap(Item);
      const everything = await Item.cache().findAll({ order: [['id', 'ASC']] });
      assert.equal(everything.length, 3);
      // Names that equal the text of the canonical key and of adapter paths.
      const names = ['model-cache:findAll:Items:{"order":[["id","ASC"]]}', 'x', 'a', '#q', 'query'];
      for (const name of names) {
        const mine = await Item.cache(name).findAll({ where: { id: 'a' } });
        assert.equal(mine.length, 1, `named ${name}`);
        assert.equal((await Item.cache(name).findAll({ where: { id: 'a' } })).length, 1, `named ${name}, hit`);
      }
      assert.equal((await Item.cache().findAll({ order: [['id', 'ASC']] })).length, 3, 'the canonical query keeps its own entry');
      assert.equal((await Item.cache().findByPk('query:x')).label, 'entity whose key looks like a named query');
      assert.equal((await Item.cache().findByPk('query')).label, 'entity named query');
      assert.equal((await Item.cache('x').findAll({ where: { id: 'a' } }))[0].id, 'a');
      if (client.map) {
        const paths = [...client.map.keys()];
        assert.ok(paths.some((p) => p.startsWith('Item:query%3ax')), `the entity "query:x" is escaped: ${paths.join(' | ')}`);
      }
    }
    await sequelize.close();
  });
});
