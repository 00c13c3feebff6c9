// Runs under the real jest (see ../jest.test.mjs), with jest's modern fake timers freezing the
// clocks a test suite fakes (Date, performance, process.hrtime). A cached entry must still expire
// on the real clock, as the in-process tier's own expiry does: the memo of recent hits must not
// read a frozen clock and keep answering past the TTL.
const { Sequelize, DataTypes } = require('sequelize');
const { MemoryCache, modelCacheFactory } = require('../../js/index.js');

let sequelize;
let User;

beforeAll(async () => {
  sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  User = sequelize.define('User', { name: DataTypes.STRING });
  await sequelize.sync();
  await User.create({ name: 'ann' });
});

afterAll(() => sequelize.close());

afterEach(() => jest.useRealTimers());

/** Waits on a clock no test runner fakes. */
function spin(ms) {
  const end = process.uptime() + ms / 1000;
  while (process.uptime() < end);
}

test('an entry expires at its TTL while fake timers freeze Date and performance.now', async () => {
  const client = new MemoryCache({ defaultTtlSeconds: 0.2 });
  const cache = await modelCacheFactory(client, { logger: { debug() {}, info() {}, warn() {}, error() {} }, autoInvalidate: false });
  // Only the clocks are faked, so the database's own timers still run.
  jest.useFakeTimers({ doNotFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask'] });
  const frozen = performance.now();
  const w = cache.wrap(User);
  await w.findByPk(1);
  await w.findByPk(1);
  await w.findByPk(1);
  expect(client.stats().hits).toBe(2);
  spin(300);
  expect(performance.now()).toBe(frozen);
  // A write the cache does not watch (autoInvalidate is off): only the TTL can show it.
  await sequelize.query('UPDATE "Users" SET "name" = \'bo\' WHERE "id" = 1');
  const again = await w.findByPk(1);
  expect(client.stats().misses).toBe(2);
  expect(again.name).toBe('bo');
});
