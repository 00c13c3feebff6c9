// `npm run bench`: per-operation medians of the cache against SQLite and against the in-process floor.
//
// Every operation runs in BATCHES batches of N iterations (N calibrated so a batch takes about
// BATCH_MS); the figure reported is the median over the batches of (batch time / N). The same data
// as the demo (examples/schema.mjs). Exits 0 whatever the numbers: it reports, it does not gate.
//
// Only meaningful against a release build of the binding (`npm run build`).
import assert from 'node:assert/strict';
import os from 'node:os';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Op } from 'sequelize';
import { MemoryCache, modelCacheFactory } from '../js/index.mjs';
import { openDatabase, defineSchema, seed } from '../examples/schema.mjs';

const BATCHES = Number(process.env.BENCH_BATCHES) || 30;
const BATCH_MS = Number(process.env.BENCH_BATCH_MS) || 20;
const HOT_IDS = 100;

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code) => (s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const red = paint('31');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmtUs(us) {
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  if (us >= 10) return `${us.toFixed(1)} µs`;
  return `${us.toFixed(3)} µs`;
}

/**
 * Measures `op(i)` (sync or async; `i` is the iteration counter). Returns per-op times in µs:
 * { median, min, max, n } over the batches.
 */
async function measure(op, { isAsync }) {
  const runBatch = isAsync
    ? async (n, base) => {
        const t = performance.now();
        for (let i = 0; i < n; i++) await op(base + i);
        return performance.now() - t;
      }
    : async (n, base) => {
        const t = performance.now();
        for (let i = 0; i < n; i++) op(base + i);
        return performance.now() - t;
      };
  // Warm up (first calls are cold: statement preparation, JIT), for at least ~BATCH_MS.
  const warmUntil = performance.now() + BATCH_MS;
  let warmed = 0;
  while (warmed < 3 || performance.now() < warmUntil) await runBatch(1, warmed++);
  // Calibrate: grow n until a batch takes at least BATCH_MS / 2, then scale to BATCH_MS.
  let n = 1;
  let ms = await runBatch(n, 0);
  while (ms < BATCH_MS / 2 && n < 1e7) {
    n *= 2;
    ms = await runBatch(n, 0);
  }
  n = Math.max(1, Math.round((n * BATCH_MS) / Math.max(ms, 1e-3)));
  const per = [];
  let base = 0;
  for (let b = 0; b < BATCHES; b++) {
    per.push(((await runBatch(n, base)) * 1000) / n);
    base += n;
  }
  return { median: median(per), min: Math.min(...per), max: Math.max(...per), n };
}

function printTable(cols, rows) {
  const widths = cols.map((c, i) => Math.max(c.title.length, ...rows.map((r) => String(r[i]).length)));
  const fmt = (r, bolden) =>
    r
      .map((v, i) => {
        const s = String(v);
        const p = cols[i].align === 'r' ? s.padStart(widths[i]) : s.padEnd(widths[i]);
        return bolden ? bold(p) : cols[i].style ? cols[i].style(p) : p;
      })
      .join('  ');
  console.log(fmt(cols.map((c) => c.title), true));
  console.log(dim(widths.map((w) => '─'.repeat(w)).join('  ')));
  for (const r of rows) console.log(fmt(r, false));
}

function bindingInfo() {
  try {
    const p = fileURLToPath(new URL('../js/binding/sequelize-native-cache.linux-x64-gnu.node', import.meta.url));
    const st = statSync(p);
    return `${(st.size / 1024 / 1024).toFixed(1)} MiB, built ${st.mtime.toISOString()}`;
  } catch {
    return 'not found next to js/binding/index.js';
  }
}

async function main() {
  const tStart = performance.now();
  const sequelize = openDatabase();
  const models = defineSchema(sequelize);
  const { User, Order, Product } = models;
  const counts = await seed(sequelize, models);

  console.log(bold('sequelize-native-cache bench'));
  console.log(
    dim(
      `node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; ` +
        `${BATCHES} batches of ~${BATCH_MS} ms per op, median per op; ` +
        `${counts.users} users, ${counts.orders} orders, ${counts.orderProducts} order-products`,
    ),
  );
  console.log(dim(`binding: ${bindingInfo()}`));
  console.log();

  const client = new MemoryCache({ maxBytes: 64 * 1024 * 1024, defaultTtlSeconds: 600, modelCacheName: 'model-cache' });
  const mc = await modelCacheFactory(client);
  const wUser = mc.wrap(User);
  const ids = Array.from({ length: HOT_IDS }, (_, i) => 1 + ((i * 37) % counts.users));

  // 1. Uncached findByPk on SQLite.
  const uncachedPk = await measure((i) => User.findByPk(ids[i % HOT_IDS]), { isAsync: true });

  // 2. Cached findByPk hit: one warm-up miss per hot id, then only hits.
  for (const id of ids) {
    const fromCache = await wUser.findByPk(id);
    const fromDb = await User.findByPk(id);
    assert.equal(JSON.stringify(fromCache), JSON.stringify(fromDb), `findByPk(${id}) differs from the database`);
  }
  const sPk0 = client.stats();
  const hitPk = await measure((i) => wUser.findByPk(ids[i % HOT_IDS]), { isAsync: true });
  const sPk1 = client.stats();
  assert.equal(sPk1.misses, sPk0.misses, 'findByPk hit benchmark: some calls missed');
  assert.ok(sPk1.hits > sPk0.hits, 'findByPk hit benchmark: no hits were counted');

  // 3. The floor: Map.get + JSON.parse + Model.build(raw) of the same rows.
  const floorMap = new Map();
  const floorKeys = [];
  for (const id of ids) {
    const row = await User.findByPk(id);
    const key = client.keyFor(User, 'findByPk', id);
    floorKeys.push(key);
    floorMap.set(key, JSON.stringify(row.get({ plain: true, raw: true })));
  }
  let sink = 0;
  const floor = await measure(
    (i) => {
      const json = floorMap.get(floorKeys[i % HOT_IDS]);
      const inst = User.build(JSON.parse(json), { raw: true, isNewRecord: false });
      sink += inst.dataValues.id;
    },
    { isAsync: false },
  );

  // 4. Key canonicalization of a typical query.
  const keyOpts = () => ({
    where: { name: { [Op.like]: 'a%' }, id: { [Op.gt]: 5 } },
    include: [{ model: Order, include: [Product] }],
    order: [['id', 'DESC']],
    limit: 10,
  });
  const opts = keyOpts();
  const sampleKey = client.keyFor(User, 'findAll', opts);
  assert.equal(typeof sampleKey, 'string', 'keyFor(User, findAll, typical query) did not return a key');
  assert.equal(client.keyFor(User, 'findAll', keyOpts()), sampleKey, 'equal options gave different keys');
  const keyTime = await measure(
    () => {
      sink += client.keyFor(User, 'findAll', opts).length;
    },
    { isAsync: false },
  );

  // 5. Nested findAll (User → Orders → Products, limit 10): uncached vs hit.
  const nested = () => ({
    include: [{ model: Order, include: [Product] }],
    order: [['id', 'ASC']],
    limit: 10,
  });
  const uncachedNested = await measure(() => User.findAll(nested()), { isAsync: true });
  const wFirst = await wUser.findAll(nested());
  assert.equal(JSON.stringify(wFirst), JSON.stringify(await User.findAll(nested())), 'nested findAll differs');
  const sN0 = client.stats();
  const hitNested = await measure(() => wUser.findAll(nested()), { isAsync: true });
  const sN1 = client.stats();
  assert.equal(sN1.misses, sN0.misses, 'nested findAll hit benchmark: some calls missed');

  if (sink === 0.5) console.log(sink); // keep the sink alive

  const rows = [
    ['User.findByPk(id), uncached (SQLite)', uncachedPk],
    [`wrap(User).findByPk(id), hit (${HOT_IDS} hot ids)`, hitPk],
    ['floor: Map.get + JSON.parse + User.build(raw)', floor],
    ['client.keyFor(User, findAll, typical query)', keyTime],
    ['User.findAll(nested include, limit 10), uncached', uncachedNested],
    ['wrap(User).findAll(nested include, limit 10), hit', hitNested],
  ].map(([name, m]) => [name, fmtUs(m.median), fmtUs(m.min), fmtUs(m.max), m.n]);
  printTable(
    [
      { title: 'operation', align: 'l' },
      { title: 'median/op', align: 'r', style: bold },
      { title: 'min', align: 'r', style: dim },
      { title: 'max', align: 'r', style: dim },
      { title: 'ops/batch', align: 'r', style: dim },
    ],
    rows,
  );
  console.log();

  const mark = (ok) => (ok ? green('PASS') : red('MISS'));
  const hitVsFloor = hitPk.median / floor.median;
  const uncachedVsHit = uncachedPk.median / hitPk.median;
  const nestedRatio = uncachedNested.median / hitNested.median;
  const ratios = [
    ['findByPk hit / floor', `${hitVsFloor.toFixed(2)}×`, '≤ 2×', mark(hitVsFloor <= 2)],
    ['findByPk uncached / hit', `${uncachedVsHit.toFixed(1)}×`, '≥ 30×', mark(uncachedVsHit >= 30)],
    ['key canonicalization', fmtUs(keyTime.median), '≤ 2 µs', mark(keyTime.median <= 2)],
    ['nested findAll uncached / hit', `${nestedRatio.toFixed(1)}×`, '—', ''],
  ];
  printTable(
    [
      { title: 'ratio', align: 'l' },
      { title: 'value', align: 'r', style: bold },
      { title: 'target', align: 'r', style: dim },
      { title: '', align: 'l' },
    ],
    ratios,
  );
  console.log();
  console.log(dim(`sample key: ${sampleKey}`));
  const st = client.stats();
  console.log(
    dim(
      `cache: ${st.hits} hits, ${st.misses} misses, ${st.fills} fills, ${st.entries} entries, ${st.bytes} bytes; ` +
        `total ${((performance.now() - tStart) / 1000).toFixed(1)} s`,
    ),
  );

  await sequelize.close();
  if (typeof client.close === 'function') await client.close();
}

main().catch((err) => {
  console.error('bench failed:', err);
  process.exitCode = 1;
});
