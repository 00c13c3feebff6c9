// Runs under the real jest (see ../jest.test.mjs). Jest loads this file and every module it
// requires in a vm context of its own, so the options objects built here belong to another realm
// than the native addon's. Each read below must still be cached: the assertions read stats().
const { Sequelize, DataTypes, Op } = require('sequelize');
const { MemoryCache, modelCacheFactory, withCache } = require('../../js/index.js');

let sequelize;
let User;
let Membership;
let client;
let cache;

beforeAll(async () => {
  sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  User = sequelize.define('User', { name: DataTypes.STRING, age: DataTypes.INTEGER });
  Membership = sequelize.define('Membership', {
    userId: { type: DataTypes.INTEGER, primaryKey: true },
    groupId: { type: DataTypes.INTEGER, primaryKey: true },
    role: DataTypes.STRING,
  });
  await sequelize.sync();
  await User.bulkCreate([
    { name: 'ann', age: 30 },
    { name: 'bo', age: 40 },
  ]);
  await Membership.create({ userId: 1, groupId: 2, role: 'admin' });
  client = new MemoryCache();
  cache = await modelCacheFactory(client, { logger: { debug() {}, info() {}, warn() {}, error() {} } });
  withCache(client).withCache(Membership);
});

afterAll(() => sequelize.close());

/** Reads twice; returns the stats of the second read's (model, method) slot. */
async function twice(Model, method, read) {
  await read();
  const before = client.stats().models[Model.name][method].hits;
  const again = await read();
  const after = client.stats().models[Model.name][method];
  return { hitsAdded: after.hits - before, bypasses: after.bypasses, again };
}

test('findAll with options built in this realm is cached', async () => {
  const r = await twice(User, 'findAll', () => cache.wrap(User).findAll({ where: { age: { [Op.gte]: 30 } }, order: [['id', 'ASC']] }));
  expect(r.hitsAdded).toBe(1);
  expect(r.bypasses).toBe(0);
  expect(r.again.map((u) => u.name)).toEqual(['ann', 'bo']);
});

test('findOne and count with a where are cached', async () => {
  const one = await twice(User, 'findOne', () => cache.wrap(User).findOne({ where: { name: 'bo' } }));
  expect(one.hitsAdded).toBe(1);
  expect(one.again.age).toBe(40);
  const n = await twice(User, 'count', () => cache.wrap(User).count({ where: { age: { [Op.lt]: 35 } } }));
  expect(n.hitsAdded).toBe(1);
  expect(n.again).toBe(1);
});

test('findByPk with options is cached', async () => {
  const r = await twice(User, 'findByPk', () => cache.wrap(User).findByPk(1, { attributes: ['id', 'name'] }));
  expect(r.hitsAdded).toBe(1);
  expect(r.again.name).toBe('ann');
});

test('a composite-key entity entry is cached', async () => {
  const r = await twice(Membership, 'findByPk', () => Membership.cache().findByPk({ userId: 1, groupId: 2 }));
  expect(r.hitsAdded).toBe(1);
  expect(r.again.role).toBe('admin');
});

test('keyFor builds keys for options from this realm', () => {
  expect(client.keyFor(User, 'findAll', { where: { name: 'ann' } })).toBe('model-cache:findAll:Users:{"where":{"name":"ann"}}');
});
