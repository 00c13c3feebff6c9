// The in-process hit path, query by query: the key alone, a hit through wrap(), and the floor a
// hand-written JS cache would pay for the same stored rows (Map.get + JSON.parse + Model.build /
// bulkBuild with raw: true and the same include tree), all measured in the same run; hit / floor is
// the median over interleaved batch pairs (floor, hit, floor, hit, ...), the queries taken in turn
// round by round (measurePairs). Plus the first hit of a
// nested query (its build options made cold) against a warm hit.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Op } from 'sequelize';

/**
 * @param {object} h  the bench's helpers (measure, printTable, printRatios, fmtUs, dim, green, red, check)
 * @param {object} ctx  { client, mc (modelCacheFactory result), models, counts, ids }
 */
export async function hitsBench(h, { client, mc, models, counts, ids }) {
  const { measure, measurePairs, printTable, printRatios, fmtUs, dim, green, red, check } = h;
  const { User, Order, Product } = models;
  const users = await User.findAll({ where: { id: ids }, order: [['id', 'ASC']] });
  const emails = users.map((u) => u.email);
  const userIds = users.map((u) => u.id);
  const since = new Date(Date.UTC(2020, 0, 1));
  const nestedInclude = () => [{ model: Order, include: [Product] }];

  /**
   * Each case: [label, Model, method, options for call i]. The call's options are built fresh per
   * call (as application code does), over a small pool of values so every call after the warm-up
   * is a hit.
   */
  const POOL = 20;
  const cases = [
    ['findByPk(id)', User, 'findByPk', (i) => [userIds[i % POOL]]],
    ['findOne({ where: { email } })', User, 'findOne', (i) => [{ where: { email: emails[i % POOL] } }]],
    [
      'findAll(flat where, order, limit 10)',
      Order,
      'findAll',
      (i) => [{ where: { userId: userIds[i % POOL], orderDate: { [Op.gte]: since } }, order: [['id', 'ASC']], limit: 10 }],
    ],
    ['count({ where: { userId } })', Order, 'count', (i) => [{ where: { userId: userIds[i % POOL] } }]],
    [
      'findAndCountAll(flat where, limit 10)',
      Product,
      'findAndCountAll',
      (i) => [{ where: { price: { [Op.lt]: 10 + (i % POOL) } }, order: [['id', 'ASC']], limit: 10 }],
    ],
    ['findAll(User → Orders → Products, limit 10)', User, 'findAll', (i) => [{ include: nestedInclude(), order: [['id', 'ASC']], limit: 1 + (i % POOL) }]],
  ];

  const rows = [];
  const results = {};
  const measured = [];
  for (const [label, Model, method, argsOf] of cases) {
    const w = mc.wrap(Model);
    // Warm-up: every pooled call once (a miss), checked against the database.
    const stored = [];
    for (let i = 0; i < POOL; i++) {
      const args = argsOf(i);
      const miss = await w[method](...args);
      const fresh = await Model[method](...args);
      assert.equal(JSON.stringify(miss), JSON.stringify(fresh), `${label}: a miss differs from the database`);
      stored.push(fresh);
    }
    // The floor's store: the same rows as JSON of their raw values, under a string key.
    const floorMap = new Map();
    const floorKeys = [];
    const raw = (r) => (r && typeof r.get === 'function' ? r.get({ plain: true, raw: true }) : r);
    for (let i = 0; i < POOL; i++) {
      const v = stored[i];
      const key = `floor:${label}:${i}`;
      floorKeys.push(key);
      const json = Array.isArray(v) ? v.map(raw) : v && v.rows ? { count: v.count, rows: v.rows.map(raw) } : raw(v);
      floorMap.set(key, JSON.stringify(json));
    }
    const buildOptions = method === 'findAll' && Model === User ? { raw: true, isNewRecord: false, include: nestedInclude() } : { raw: true, isNewRecord: false };
    if (buildOptions.include) {
      // As findAll prepares its include tree, once (a JS cache would memoize it the same way).
      User._conformIncludes(buildOptions, User);
      User._expandIncludeAll(buildOptions);
      User._validateIncludedElements(buildOptions);
      buildOptions.includeValidated = true;
    }
    let sink = 0;
    const floorOp = (i) => {
      const parsed = JSON.parse(floorMap.get(floorKeys[i % POOL]));
      let out;
      if (method === 'count') out = parsed;
      else if (method === 'findAndCountAll') out = { count: parsed.count, rows: Model.bulkBuild(parsed.rows, buildOptions) };
      else if (Array.isArray(parsed)) out = Model.bulkBuild(parsed, buildOptions);
      else out = parsed === null ? null : Model.build(parsed, buildOptions);
      sink += out === null ? 0 : 1;
    };
    const key = await measure(
      (i) => {
        sink += client.keyFor(Model, method, ...argsOf(i)).length;
      },
      { isAsync: false },
    );
    measured.push({ label, key, floorOp, hitOp: (i) => w[method](...argsOf(i)) });
    if (sink === 0.5) console.log(sink);
  }

  // The floor and the hit in interleaved batches (floor, hit, floor, hit, ...), every query in turn
  // in each round: the machine's drift and the JIT's state touch all of them alike, and each ratio
  // is the median of its pairs'.
  const s0 = client.stats();
  const pairs = await measurePairs(
    measured.map((m) => ({ opA: m.floorOp, opB: m.hitOp, syncA: true })),
    { batches: 30 },
  );
  const s1 = client.stats();
  check(s1.misses === s0.misses && s1.bypasses === s0.bypasses, 'hit path: calls in the hit benchmark missed or bypassed');
  measured.forEach(({ label, key }, j) => {
    const { a: floor, b: hit, pairRatio } = pairs[j];
    results[label] = { key, hit, floor, pairRatio };
    rows.push([label, fmtUs(key.median), fmtUs(hit.median), fmtUs(floor.median), `${pairRatio.toFixed(2)}×`]);
  });

  // The first hit of a nested query: a new key each time (limit i), filled by a miss, then read once.
  const w = mc.wrap(User);
  let n = 0;
  const firstHits = [];
  for (let i = 0; i < 60; i++) {
    const options = () => ({ include: nestedInclude(), order: [['id', 'DESC']], limit: 100 + i });
    await w.findAll(options());
    const t = performance.now();
    await w.findAll(options());
    firstHits.push((performance.now() - t) * 1000);
    n++;
  }
  firstHits.sort((a, b) => a - b);
  const firstHit = firstHits[firstHits.length >> 1];
  const warmHit = await measure(() => w.findAll({ include: nestedInclude(), order: [['id', 'DESC']], limit: 100 }), { isAsync: true });

  console.log(dim(`in-process hit path (MemoryCache, wrap(), SQLite seed of ${counts.users} users); floor = Map.get + JSON.parse + build/bulkBuild(raw); hit / floor = median of interleaved batch pairs`));
  printTable(
    [
      { title: 'query', align: 'l' },
      { title: 'key', align: 'r' },
      { title: 'hit', align: 'r' },
      { title: 'floor', align: 'r' },
      { title: 'hit / floor', align: 'r' },
    ],
    rows,
  );
  console.log();
  const mark = (ok) => (ok ? green('PASS') : red('MISS'));
  const r = (label) => results[label];
  const ratio = (label) => r(label).pairRatio;
  const pk = r('findByPk(id)');
  const cnt = r('count({ where: { userId } })');
  const flat = r('findAll(flat where, order, limit 10)');
  const nestedKey = r('findAll(User → Orders → Products, limit 10)').key.median;
  printRatios('hit path', [
    ['findByPk hit / floor', `${ratio('findByPk(id)').toFixed(2)}×`, '≤ 1.5×', mark(ratio('findByPk(id)') <= 1.5)],
    ['findOne hit / floor', `${ratio('findOne({ where: { email } })').toFixed(2)}×`, '≤ 1.5×', mark(ratio('findOne({ where: { email } })') <= 1.5)],
    ['findAll (flat where) hit / floor', `${ratio('findAll(flat where, order, limit 10)').toFixed(2)}×`, '≤ 1.5×', mark(ratio('findAll(flat where, order, limit 10)') <= 1.5)],
    ['count hit / findByPk hit', `${(cnt.hit.median / pk.hit.median).toFixed(2)}×`, '≤ 2×', mark(cnt.hit.median / pk.hit.median <= 2)],
    ['key of the nested findAll', fmtUs(nestedKey), '≤ 2 µs', mark(nestedKey <= 2)],
    ['key of a flat where (findAll)', fmtUs(flat.key.median), '≤ 0.8 µs', mark(flat.key.median <= 0.8)],
    ['nested: first hit / warm hit', `${(firstHit / warmHit.median).toFixed(2)}× (${fmtUs(firstHit)} / ${fmtUs(warmHit.median)})`, '—', ''],
  ]);
  console.log(dim(`first hits: median of ${n} nested queries, each filled by a miss and then read once`));
  console.log();
  return results;
}
