// `npm run bench`: per-operation medians of the cache against SQLite and against the in-process floor.
//
// Every operation runs in BATCHES batches of N iterations (N calibrated so a batch takes about
// BATCH_MS); the figure reported is the median over the batches of (batch time / N). The same data
// as the demo (examples/schema.mjs). Exits 0 whatever the numbers: it reports, it does not gate.
//
// Besides the Momento-style wrapper, it measures the withCache API (entity findByPk hits and named
// query hits) and what automatic invalidation costs a write: the same SQLite writes on two
// Sequelize instances with the same seeded data, one without any cache (no hook at all) and one
// whose models are wrapped by withCache (autoInvalidate on), in interleaved batches (A, B, A, B, ...).
//
// The Redis section (bench/redis.mjs) compares RedisCache with sequelize-transparent-cache's ioredis
// adaptor, a raw ioredis GET and the uncached read (SQLite, PostgreSQL); BENCH_REDIS=0 skips it.
// The Momento section (bench/momento.mjs) runs against the local stand-in; BENCH_MOMENTO=0 skips it.
// The hit-path section (bench/hits.mjs) compares each common query's hit with its floor;
// BENCH_HITS=0 skips it.
//
// Only meaningful against a release build of the binding (`npm run build`).
import assert from 'node:assert/strict';
import os from 'node:os';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Op } from 'sequelize';
import { MemoryCache, modelCacheFactory, withCache } from '../js/index.mjs';
import { openDatabase, defineSchema, seed } from '../examples/schema.mjs';
import { redisBench } from './redis.mjs';
import { momentoBench } from './momento.mjs';
import { hitsBench } from './hits.mjs';

const BATCHES = Number(process.env.BENCH_BATCHES) || 30;
const BATCH_MS = Number(process.env.BENCH_BATCH_MS) || 20;
const HOT_IDS = 100;
// The write comparison (A vs B) is a small difference between two noisy figures: more batch pairs
// (with 60 pairs the A vs A′ control still moved by ±8 % on a shared 2-core VM; with 150, ±1–2 %).
const WRITE_BATCHES = Number(process.env.BENCH_WRITE_BATCHES) || 5 * BATCHES;
const WRITE_OVERHEAD_TARGET = 5; // %

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

function batchRunner(op, isAsync) {
  return isAsync
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
}

/** Warms `runBatch` up, then returns the iteration count n for a batch of about BATCH_MS. */
async function calibrate(runBatch) {
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
  return Math.max(1, Math.round((n * BATCH_MS) / Math.max(ms, 1e-3)));
}

const summary = (per, n) => ({ median: median(per), min: Math.min(...per), max: Math.max(...per), n });

/**
 * Measures `op(i)` (sync or async; `i` is the iteration counter). Returns per-op times in µs:
 * { median, min, max, n } over the batches.
 */
async function measure(op, { isAsync }) {
  const runBatch = batchRunner(op, isAsync);
  const n = await calibrate(runBatch);
  const per = [];
  let base = 0;
  for (let b = 0; b < BATCHES; b++) {
    per.push(((await runBatch(n, base)) * 1000) / n);
    base += n;
  }
  return summary(per, n);
}

/**
 * Measures two async ops the same way, with the same n per batch, in interleaved batches
 * (A, B, A, B, ...) so that drift of the machine affects both alike (`syncA`: A is synchronous,
 * called without await). Returns { a, b, pairRatio }:
 * a and b as measure() returns them, pairRatio the median over the pairs of (B batch / A batch).
 */
async function measurePair(opA, opB, { batches, syncA = false }) {
  const [r] = await measurePairs([{ opA, opB, syncA }], { batches });
  return r;
}

/**
 * measurePair for several pairs at once, in rounds: each round runs one A batch and one B batch of
 * every pair, starting from the next pair each round. So the drift of the machine and the JIT's
 * changing state touch every pair alike, and no pair is always measured first or last.
 * Returns one { a, b, pairRatio } per pair, in order.
 */
async function measurePairs(pairs, { batches }) {
  const runners = [];
  for (const { opA, opB, syncA = false } of pairs) {
    const runA = batchRunner(opA, !syncA);
    const runB = batchRunner(opB, true);
    const nA = await calibrate(runA);
    const nB = await calibrate(runB);
    runners.push({ runA, runB, n: Math.max(1, Math.round((nA + nB) / 2)), perA: [], perB: [], base: 0 });
  }
  for (let k = 0; k < batches; k++) {
    for (let j = 0; j < runners.length; j++) {
      const r = runners[(k + j) % runners.length];
      r.perA.push(((await r.runA(r.n, r.base)) * 1000) / r.n);
      r.perB.push(((await r.runB(r.n, r.base)) * 1000) / r.n);
      r.base += r.n;
    }
  }
  return runners.map(({ perA, perB, n }) => ({ a: summary(perA, n), b: summary(perB, n), pairRatio: median(perB.map((x, k) => x / perA[k])) }));
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

/** A table of ratios: [what, value, target ('—' for none), PASS/MISS mark]. */
function printRatios(title, rows) {
  printTable(
    [
      { title, align: 'l' },
      { title: 'value', align: 'r', style: bold },
      { title: 'target', align: 'r', style: dim },
      { title: '', align: 'l' },
    ],
    rows,
  );
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

  // Soft checks of the sections below: a failure is printed (in red) at the end, the bench goes on.
  const problems = [];
  const check = (ok, msg) => {
    if (!ok) problems.push(msg);
    return ok;
  };
  const warnings = [];
  const quiet = {
    debug() {},
    info() {},
    warn: (...args) => warnings.push(args),
    error: (...args) => warnings.push(args),
  };
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  /** "N/N calls were hits" from two stats() snapshots around `calls` cached reads. */
  const hitCheck = (label, s0, s1, calls) => {
    const d = (f) => s1[f] - s0[f];
    const ok = d('hits') === calls && d('misses') === 0 && d('bypasses') === 0;
    check(ok, `${label}: ${d('hits')} hits, ${d('misses')} misses, ${d('bypasses')} bypasses for ${calls} calls`);
    return { ok, text: `${label}: ${d('hits')}/${calls} calls were hits (${d('misses')} misses, ${d('bypasses')} bypasses)` };
  };
  const hitChecks = [];

  // 6. withCache: User.cache().findByPk(id), entity entries; one warm-up pass over the hot ids.
  // 7. withCache: User.cache('k').findAll(nested), a named query, vs the same findAll uncached (5.).
  let wcClient;
  let wcHitPk;
  let wcHitNamed;
  try {
    wcClient = new MemoryCache();
    const { withCache: cacheWrapper } = withCache(wcClient, { logger: quiet });
    cacheWrapper(User);
    for (const id of ids) {
      const fromCache = await User.cache().findByPk(id);
      const fromDb = await User.findByPk(id);
      check(same(fromCache, fromDb), `withCache findByPk(${id}) differs from the database`);
    }
    const again = await User.cache().findByPk(ids[0]);
    check(again instanceof User && again.isNewRecord === false, 'withCache findByPk hit is not a stored User instance');
    let calls = 0;
    const s0 = wcClient.stats();
    wcHitPk = await measure(
      (i) => {
        calls++;
        return User.cache().findByPk(ids[i % HOT_IDS]);
      },
      { isAsync: true },
    );
    hitChecks.push(hitCheck('withCache User.cache().findByPk hit', s0, wcClient.stats(), calls));

    const first = await User.cache('bench-nested').findAll(nested());
    check(same(first, await User.findAll(nested())), "withCache User.cache('k').findAll(nested) differs from the database");
    calls = 0;
    const s2 = wcClient.stats();
    wcHitNamed = await measure(
      () => {
        calls++;
        return User.cache('bench-nested').findAll(nested());
      },
      { isAsync: true },
    );
    hitChecks.push(hitCheck("withCache User.cache('k').findAll hit", s2, wcClient.stats(), calls));
  } catch (err) {
    problems.push(`withCache read section failed: ${err && err.stack}`);
  }

  // 8. What a write pays for automatic invalidation. Two more in-memory SQLite databases with the
  // same seeded data: A has no cache at all (no hook); B's models are wrapped by withCache with
  // autoInvalidate on (one afterQuery hook that bumps generations and drops entities).
  const writes = [];
  const staleChecks = [];
  let controlRow;
  let A;
  let B;
  let C;
  let clientB;
  try {
    const openSeeded = async () => {
      const sq = openDatabase();
      const ms = defineSchema(sq);
      await seed(sq, ms);
      return { sq, User: ms.User, models: ms };
    };
    A = await openSeeded();
    B = await openSeeded();
    clientB = new MemoryCache();
    const { withCache: wrapB } = withCache(clientB, { logger: quiet, autoInvalidate: true });
    for (const M of Object.values(B.models)) wrapB(M);
    check(!A.sq.hasHook('afterQuery'), 'baseline A has an afterQuery hook');
    check(!!B.sq.hasHook('afterQuery'), 'B (withCache, autoInvalidate) has no afterQuery hook');

    // B holds entries, and the writes must make them stale: an entity of a written row and a named
    // query over Users. Filled before each measured pair, read after it: both must miss.
    const probeId = ids[0];
    const fillB = async () => {
      await B.User.cache().findByPk(probeId);
      await B.User.cache('bench-b').findAll({ order: [['id', 'ASC']], limit: 10 });
      const s = clientB.stats();
      await B.User.cache().findByPk(probeId);
      await B.User.cache('bench-b').findAll({ order: [['id', 'ASC']], limit: 10 });
      const s2 = clientB.stats();
      check(s2.hits - s.hits === 2, 'B: entries filled before the writes were not hits');
    };
    // The named query must miss (stale); the entity entry was written through by instance writes
    // (a hit) or dropped by bulk ones (a miss): either way it must equal the database.
    const staleB = async (label) => {
      const entity = await B.User.cache().findByPk(probeId);
      const s = clientB.stats();
      const list = await B.User.cache('bench-b').findAll({ order: [['id', 'ASC']], limit: 10 });
      const s2 = clientB.stats();
      staleChecks.push(s2.misses - s.misses === 1);
      check(s2.misses - s.misses === 1, `B after ${label}: the named query filled before the writes did not miss (auto invalidation did not run?)`);
      check(same(entity, await B.User.findByPk(probeId)), `B after ${label}: the entity read differs from the database`);
      check(same(list, await B.User.findAll({ order: [['id', 'ASC']], limit: 10 })), `B after ${label}: the named query differs from the database`);
    };

    // The time B's afterQuery hook itself takes per write, inside real writes (not timed batches:
    // `count` more writes on B with the hook's function wrapped by a timer). Median and mean, µs.
    const hookSelf = async (op, count) => {
      const list = (B.sq.options.hooks && B.sq.options.hooks.afterQuery) || [];
      const entry = list.find((h) => h && typeof h === 'object' && h.name === 'sequelize-native-cache');
      if (entry === undefined) return undefined;
      const fn = entry.fn;
      const times = [];
      entry.fn = function timed(...args) {
        const t = performance.now();
        try {
          return fn.apply(this, args);
        } finally {
          times.push((performance.now() - t) * 1000);
        }
      };
      try {
        for (let x = 0; x < count; x++) await op();
      } finally {
        entry.fn = fn;
      }
      return times.length === 0 ? undefined : { median: median(times), mean: times.reduce((a, b) => a + b, 0) / times.length };
    };

    // User.update({ name }, { where: { id } }): every write sets a name never used before.
    const updater = (side, tag) => {
      side.k = 0;
      side.notOne = 0;
      return async () => {
        const j = side.k++;
        const [n] = await side.User.update({ name: `${tag} ${j}` }, { where: { id: ids[j % HOT_IDS] } });
        if (n !== 1) side.notOne++;
      };
    };
    const checkUpdates = async (side, tag) => {
      const j = side.k - 1;
      const row = await side.User.findByPk(ids[j % HOT_IDS], { raw: true });
      check(side.notOne === 0, `update: ${side.notOne} updates did not change exactly one row`);
      check(row.name === `${tag} ${j}`, `update: the last write is not in the database (${row.name})`);
    };
    await fillB();
    const updateB = updater(B, 'bench update');
    const update = await measurePair(updater(A, 'bench update'), updateB, { batches: WRITE_BATCHES });
    for (const side of [A, B]) await checkUpdates(side, 'bench update');
    await staleB('the updates');
    writes.push(['User.update({ name }, { where: { id } })', update, A.k, B.k, await hookSelf(updateB, 500)]);

    // instance.save() of one changed attribute (name; Sequelize adds updatedAt).
    const saver = async (side) => {
      side.insts = await side.User.findAll({ where: { id: ids }, order: [['id', 'ASC']] });
      side.k = 0;
      return async () => {
        const j = side.k++;
        const inst = side.insts[j % side.insts.length];
        inst.name = `bench save ${j}`;
        await inst.save();
      };
    };
    const saveA = await saver(A);
    const saveB = await saver(B);
    await fillB();
    const save = await measurePair(saveA, saveB, { batches: WRITE_BATCHES });
    for (const side of [A, B]) {
      const rows = await side.User.findAll({ where: { id: ids }, order: [['id', 'ASC']], raw: true });
      const stale = rows.filter((r, x) => r.name !== side.insts[x].name).length;
      check(stale === 0, `save: ${stale} rows do not hold their instance's last saved name`);
    }
    await staleB('the saves');
    writes.push(['instance.save() of one changed attribute', save, A.k, B.k, await hookSelf(saveB, 500)]);

    // Control: the same update on A and on A′, a third database without any cache. Its
    // "overhead" is the noise floor of the comparison.
    C = await openSeeded();
    check(!C.sq.hasHook('afterQuery'), "control A' has an afterQuery hook");
    const control = await measurePair(updater(A, 'bench control'), updater(C, 'bench control'), { batches: WRITE_BATCHES });
    for (const side of [A, C]) await checkUpdates(side, 'bench control');
    controlRow = ["control: the update, A vs A′ (no cache on either)", control, A.k, C.k, undefined];
  } catch (err) {
    problems.push(`write section failed: ${err && err.stack}`);
  }
  if (warnings.length > 0) {
    problems.push(`withCache logged ${warnings.length} warnings, first: ${JSON.stringify(warnings[0])}`);
  }

  if (sink === 0.5) console.log(sink); // keep the sink alive

  const rows = [
    ['User.findByPk(id), uncached (SQLite)', uncachedPk],
    [`wrap(User).findByPk(id), hit (${HOT_IDS} hot ids)`, hitPk],
    ['floor: Map.get + JSON.parse + User.build(raw)', floor],
    ['client.keyFor(User, findAll, typical query)', keyTime],
    ['User.findAll(nested include, limit 10), uncached', uncachedNested],
    ['wrap(User).findAll(nested include, limit 10), hit', hitNested],
    [`User.cache().findByPk(id), withCache hit (${HOT_IDS} hot ids)`, wcHitPk],
    ["User.cache('k').findAll(nested include, limit 10), hit", wcHitNamed],
  ]
    .filter(([, m]) => m !== undefined)
    .map(([name, m]) => [name, fmtUs(m.median), fmtUs(m.min), fmtUs(m.max), m.n]);
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
  if (wcHitPk !== undefined) {
    ratios.push(
      ['withCache findByPk hit / floor', `${(wcHitPk.median / floor.median).toFixed(2)}×`, '—', ''],
      ['withCache findByPk uncached / hit', `${(uncachedPk.median / wcHitPk.median).toFixed(1)}×`, '—', ''],
      ['withCache findByPk hit / wrap() hit', `${(wcHitPk.median / hitPk.median).toFixed(2)}×`, '—', ''],
    );
  }
  if (wcHitNamed !== undefined) {
    ratios.push(
      ['named findAll uncached / hit', `${(uncachedNested.median / wcHitNamed.median).toFixed(1)}×`, '—', ''],
      ['named findAll hit / wrap() hit', `${(wcHitNamed.median / hitNested.median).toFixed(2)}×`, '—', ''],
    );
  }
  printRatios('ratio', ratios);
  for (const h of hitChecks) console.log(h.ok ? dim(h.text) : red(h.text));
  console.log();

  if (writes.length > 0) {
    const pct = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} %`;
    const wrow = ([name, { a, b, pairRatio }, , , hook], gated) => {
      const overhead = (b.median / a.median - 1) * 100;
      return [
        name,
        fmtUs(a.median),
        fmtUs(b.median),
        pct(overhead),
        pct((pairRatio - 1) * 100),
        hook === undefined ? '—' : `${fmtUs(hook.median)} (${((hook.median / a.median) * 100).toFixed(1)} %)`,
        gated ? `< ${WRITE_OVERHEAD_TARGET} %` : '—',
        gated ? mark(overhead < WRITE_OVERHEAD_TARGET) : '',
      ];
    };
    const wrows = writes.map((w) => wrow(w, true));
    if (controlRow !== undefined) wrows.push(wrow(controlRow, false));
    printTable(
      [
        { title: 'write (SQLite), median/op', align: 'l' },
        { title: 'A: no cache', align: 'r', style: bold },
        { title: 'B: withCache', align: 'r', style: bold },
        { title: 'overhead', align: 'r', style: bold },
        { title: 'paired', align: 'r', style: dim },
        { title: 'hook self, p50 (/ A)', align: 'r', style: dim },
        { title: 'target', align: 'r', style: dim },
        { title: '', align: 'l' },
      ],
      wrows,
    );
    const legend = [
      `A, B (and A′): in-memory SQLite databases with the same seed; only B's models are wrapped by withCache (autoInvalidate).`,
      `${WRITE_BATCHES} interleaved batch pairs (A, B, A, B, ...) of ${writes.map(([, m]) => m.a.n).join(' / ')} writes; ` +
        `writes per side: ${writes.map(([, , ka, kb]) => `${ka} + ${kb}`).join(', ')}, each to a new value.`,
      `overhead = median B / median A - 1; paired = median over the pairs of (B batch / A batch) - 1.`,
      `hook self = time inside B's afterQuery hook per write, over 500 more writes on B (outside the batches).`,
      staleChecks.every(Boolean)
        ? `B's named query filled before each pair was stale after it, and its entity equal to the database (${staleChecks.length}/${staleChecks.length} probes).`
        : `B's entries were NOT all stale after the writes: see the failed checks.`,
    ];
    for (const l of legend) console.log(dim(l));
    console.log();
  }

  // 8b. The in-process hit path query by query (bench/hits.mjs): key, hit, floor.
  if (process.env.BENCH_HITS !== '0') {
    try {
      await hitsBench({ measure, measurePairs, printTable, printRatios, fmtUs, dim, green, red, check }, { client, mc, models, counts, ids });
    } catch (err) {
      problems.push(`hit-path section failed: ${err && err.stack}`);
    }
  }

  // 9. The Redis tier (bench/redis.mjs): the peer (sequelize-transparent-cache + ioredis), a raw
  // GET, RedisCache hits with the L1 off and on, and the uncached read on SQLite and PostgreSQL.
  await redisBench({ measure, printTable, printRatios, fmtUs, bold, dim, green, red, check, ids });

  // 10. The Momento tier (bench/momento.mjs) against the local stand-in: hits with the L1 off and
  // on, a raw HTTP GET and the uncached read.
  await momentoBench({ measure, printTable, printRatios, fmtUs, bold, dim, green, red, check, ids });

  console.log(dim(`sample key: ${sampleKey}`));
  const st = client.stats();
  console.log(
    dim(
      `cache: ${st.hits} hits, ${st.misses} misses, ${st.fills} fills, ${st.entries} entries, ${st.bytes} bytes; ` +
        `total ${((performance.now() - tStart) / 1000).toFixed(1)} s`,
    ),
  );

  if (problems.length > 0) {
    console.log();
    console.log(red(bold(`${problems.length} check(s) failed:`)));
    for (const p of problems) console.log(red(`  - ${p}`));
  }

  await sequelize.close();
  if (typeof client.close === 'function') await client.close();
  for (const side of [A, B, C]) if (side !== undefined) await side.sq.close();
  for (const c of [wcClient, clientB]) if (c !== undefined && typeof c.close === 'function') await c.close();
}

main().catch((err) => {
  console.error('bench failed:', err);
  process.exitCode = 1;
});
