// `npm run demo`: the seed-004 schema on an in-memory SQLite database, a dozen realistic queries run
// twice each through the cache (a miss, then a hit), a table of keys and timings, and the stats.
//
// Every hit is checked against its miss, and every miss against a plain (uncached) Sequelize call:
// the demo exits non-zero if any of them differ, or if a query that should be cached was not.
//
// Set DEMO_LOG=debug to see the cache's own log lines.
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Op } from 'sequelize';
import { MemoryCache, modelCacheFactory, LoggerFactory } from '../js/index.mjs';
import { openDatabase, defineSchema, seed } from './schema.mjs';

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code) => (s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const yellow = paint('33');
const cyan = paint('36');

function fmtTime(ms) {
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${(ms * 1000).toFixed(1)} µs`;
}

function truncate(s, n) {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Prints rows as an aligned table. `cols`: [{ title, align: 'l'|'r', style? }]. */
function printTable(cols, rows) {
  const widths = cols.map((c, i) => Math.max(c.title.length, ...rows.map((r) => String(r[i]).length)));
  const cell = (v, i) => {
    const s = String(v);
    const padded = cols[i].align === 'r' ? s.padStart(widths[i]) : s.padEnd(widths[i]);
    return cols[i].style ? cols[i].style(padded, v) : padded;
  };
  const line = (l, m, r) => dim(l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r);
  console.log(line('┌', '┬', '┐'));
  console.log(dim('│') + cols.map((c, i) => ` ${bold(c.title.padEnd(widths[i]))} `).join(dim('│')) + dim('│'));
  console.log(line('├', '┼', '┤'));
  for (const r of rows) console.log(dim('│') + r.map((v, i) => ` ${cell(v, i)} `).join(dim('│')) + dim('│'));
  console.log(line('└', '┴', '┘'));
}

async function main() {
  const t0 = performance.now();
  const sequelize = openDatabase();
  const models = defineSchema(sequelize);
  const { User, Profile, Order, Product, Account } = models;
  const counts = await seed(sequelize, models);
  const seededIn = performance.now() - t0;

  console.log(bold('sequelize-native-cache demo') + dim('  (SQLite in memory, seed-004 schema)'));
  console.log(
    dim('seeded ') +
      Object.entries(counts)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ') +
      dim(` in ${fmtTime(seededIn)}`),
  );
  console.log();

  const client = new MemoryCache({
    maxBytes: 64 * 1024 * 1024,
    defaultTtlSeconds: 60,
    modelCacheName: 'model-cache',
  });
  const logger = process.env.DEMO_LOG ? LoggerFactory.createLogger({ logLevel: process.env.DEMO_LOG }) : undefined;
  const mc = logger ? await modelCacheFactory(client, logger) : await modelCacheFactory(client);

  // Each query's arguments are built fresh for every call: structurally equal options must give the
  // same key even when they are different objects.
  const julyFirst = new Date(Date.UTC(2024, 6, 1));
  const queries = [
    { name: 'User.findByPk', model: User, method: 'findByPk', args: () => [42] },
    {
      name: 'User.findOne Op.like+gte',
      model: User,
      method: 'findOne',
      args: () => [{ where: { email: { [Op.like]: 'user7%' }, id: { [Op.gte]: 700 } }, order: [['id', 'ASC']] }],
    },
    {
      name: 'User.findOne +Profile',
      model: User,
      method: 'findOne',
      args: () => [{ where: { id: 7 }, include: [Profile] }],
    },
    {
      name: 'User.findAll Op.or/in',
      model: User,
      method: 'findAll',
      args: () => [
        {
          where: { [Op.or]: [{ name: { [Op.startsWith]: 'Alice' } }, { id: { [Op.in]: [1, 2, 3] } }] },
          attributes: ['id', 'name', 'email'],
          order: [['id', 'ASC']],
          limit: 25,
        },
      ],
    },
    {
      name: 'User→Orders→Products',
      model: User,
      method: 'findAll',
      args: () => [
        {
          where: { id: { [Op.between]: [1, 20] } },
          include: [{ model: Order, include: [Product] }],
          order: [
            ['id', 'ASC'],
            [Order, 'id', 'ASC'],
            [Order, Product, 'id', 'ASC'],
          ],
        },
      ],
    },
    {
      name: 'Product.findAll between',
      model: Product,
      method: 'findAll',
      args: () => [{ where: { price: { [Op.between]: [100, 200] } }, order: [['price', 'DESC']], limit: 20 }],
    },
    {
      name: 'Product→Orders (N:M)',
      model: Product,
      method: 'findByPk',
      args: () => [13, { include: [{ model: Order, where: { orderDate: { [Op.gte]: julyFirst } } }] }],
    },
    {
      name: 'Account→User (email FK)',
      model: Account,
      method: 'findAll',
      args: () => [{ where: { accountType: 'business' }, include: [User], order: [['id', 'ASC']], limit: 10 }],
    },
    { name: 'Order.count', model: Order, method: 'count', args: () => [] },
    {
      name: 'Order.count where date',
      model: Order,
      method: 'count',
      args: () => [{ where: { orderDate: { [Op.gte]: julyFirst } } }],
    },
    {
      name: 'User.count distinct+incl',
      model: User,
      method: 'count',
      args: () => [{ include: [{ model: Order, where: { orderDetails: { [Op.like]: '%turbo%' } } }], distinct: true }],
    },
    {
      name: 'Order.findAndCountAll',
      model: Order,
      method: 'findAndCountAll',
      args: () => [
        {
          where: { userId: { [Op.lte]: 100 } },
          include: [User],
          order: [['orderDate', 'DESC']],
          limit: 10,
          offset: 5,
        },
      ],
    },
  ];

  const WARM_HITS = 20;
  const rows = [];
  let totalMiss = 0;
  let totalHit = 0;
  for (const [i, q] of queries.entries()) {
    const key = client.keyFor(q.model, q.method, ...q.args());
    assert.ok(key !== null && key !== undefined, `${q.name}: keyFor() returned ${key}, the query would bypass the cache`);
    const wrapped = mc.wrap(q.model);

    const s0 = client.stats();
    let t = performance.now();
    const miss = await wrapped[q.method](...q.args());
    const missMs = performance.now() - t;
    const s1 = client.stats();

    t = performance.now();
    const hit = await wrapped[q.method](...q.args());
    const hitMs = performance.now() - t;
    const s2 = client.stats();

    // The first call must have gone to the database and filled; the second must be a pure hit.
    assert.ok(s1.misses > s0.misses, `${q.name}: the first call was not a miss (stats ${inspect(s1)})`);
    assert.ok(s1.fills > s0.fills, `${q.name}: the first call did not fill the cache (stats ${inspect(s1)})`);
    assert.ok(s2.hits > s1.hits, `${q.name}: the second call was not a hit (stats ${inspect(s2)})`);
    assert.equal(s2.misses, s1.misses, `${q.name}: the second call missed`);

    // The hit must return exactly what the miss returned, and the miss what Sequelize returns.
    const missJson = JSON.stringify(miss);
    const hitJson = JSON.stringify(hit);
    assert.equal(hitJson, missJson, `${q.name}: the hit differs from the miss`);
    const direct = await q.model[q.method](...q.args());
    assert.equal(missJson, JSON.stringify(direct), `${q.name}: the cached result differs from an uncached Sequelize call`);

    const warm = [];
    for (let n = 0; n < WARM_HITS; n++) {
      t = performance.now();
      const again = await wrapped[q.method](...q.args());
      warm.push(performance.now() - t);
      if (n === 0) assert.equal(JSON.stringify(again), missJson, `${q.name}: a repeated hit differs`);
    }
    const s3 = client.stats();
    assert.equal(s3.misses, s1.misses, `${q.name}: a repeated call missed`);
    const warmMs = median(warm);

    totalMiss += missMs;
    totalHit += hitMs;
    rows.push([
      q.name,
      truncate(String(key), 70),
      fmtTime(missMs),
      fmtTime(hitMs),
      `${(missMs / hitMs).toFixed(1)}×`,
      fmtTime(warmMs),
    ]);
  }

  // Results are read-only views: attribute access and get() agree, writes are refused.
  const user = await mc.wrap(User).findByPk(42);
  assert.equal(user.get('email'), user.email);
  assert.equal(user.email, 'user42@example.com');

  // Operators are symbols: JSON.stringify would give these two queries the same key.
  const kGt = client.keyFor(User, 'findAll', { where: { id: { [Op.gt]: 5 } } });
  const kLt = client.keyFor(User, 'findAll', { where: { id: { [Op.lt]: 5 } } });
  assert.notEqual(kGt, kLt, 'Op.gt and Op.lt gave the same key');

  // A query inside a transaction never touches the cache.
  const b0 = client.stats().bypasses;
  await sequelize.transaction(async (transaction) => {
    const inTx = await mc.wrap(User).findByPk(42, { transaction });
    assert.equal(inTx.email, 'user42@example.com');
  });
  const bypassed = client.stats().bypasses - b0;
  assert.ok(bypassed >= 1, 'a findByPk inside a transaction did not bypass the cache');

  const speed = (s) => green(s);
  printTable(
    [
      { title: 'query', align: 'l', style: cyan },
      { title: 'cache key', align: 'l', style: dim },
      { title: 'miss', align: 'r' },
      { title: 'hit', align: 'r' },
      { title: 'speed-up', align: 'r', style: speed },
      { title: 'warm hit', align: 'r' },
    ],
    rows,
  );
  console.log(dim(`  miss: first call (database + fill); hit: second call; speed-up = miss / hit; warm hit: median of ${WARM_HITS} further hits`));
  console.log(
    `${green('✓')} ${queries.length} queries: every hit equals its miss and every miss equals an uncached Sequelize call ` +
      dim(`(total miss ${fmtTime(totalMiss)}, total hit ${fmtTime(totalHit)})`),
  );
  console.log(`${green('✓')} Op.gt and Op.lt give different keys:`);
  console.log(dim(`    ${kGt}`));
  console.log(dim(`    ${kLt}`));
  console.log(`${green('✓')} a findByPk inside a transaction bypassed the cache (${bypassed} bypass)`);
  console.log();
  console.log(bold('client.stats()'));
  console.log(inspect(client.stats(), { depth: null, colors: Boolean(color), breakLength: 110, compact: 3, sorted: false }));
  console.log();
  console.log(yellow('note: ') + dim('single-run timings on a noisy machine; a debug build of the binding (`npm run build:debug`) is much slower than `npm run build`.'));

  await sequelize.close();
  if (typeof client.close === 'function') await client.close();
}

main().catch((err) => {
  console.error(`\n${paint('31')('demo failed:')}`, err);
  process.exitCode = 1;
});
