// The Redis section of `npm run bench` (issue §7), called by bench/index.mjs.
//
// On one freshly seeded SQLite database (the demo schema), one row fetched by primary key over the
// same hot ids as the rest of the bench, it measures:
//   - the peer: sequelize-transparent-cache + sequelize-transparent-cache-ioredis,
//     `User.cache().findByPk(id)` hits;
//   - a raw ioredis GET of the row's JSON;
//   - RedisCache with the L1 off: `modelCacheFactory(client).wrap(User).findByPk(id)` Redis-tier hits,
//     on the event-loop transport (a single node's default) and on the tokio one (a cluster's);
//   - RedisCache with the default L1: L1 hits (timed only once the L1 is trusted and full);
//   - the uncached `User.findByPk(id)` on SQLite (in memory) and on PostgreSQL (a scratch database
//     created for the run and dropped after it, so other users of the server are not disturbed).
// For each: the serial latency (median per op over batches, like the rest of the bench) and the
// throughput with INFLIGHT calls kept in flight (TOTAL calls, median of RUNS runs).
//
// Hits are checked: client.stats() deltas for this package, database calls and Redis GET/MGET
// counts (INFO commandstats, server-wide) for all. Every Redis key made here is under a random
// namespace `bench-<hex>` (entries `bench-<hex>:...`, generation tokens `{bench-<hex>}:...`) and
// deleted at the end.
//
// Environment: BENCH_REDIS=0 skips the section; SNC_REDIS_URL (default redis://127.0.0.1:6379);
// SNC_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); BENCH_REDIS_CALLS (20000
// calls per throughput run of a cache, a fifth of that for the uncached databases);
// BENCH_REDIS_RUNS (3). The target ratios (this package against the peer and the raw GET, and the
// two transports) are measured again with the ops in alternation, BENCH_REDIS_ROUNDS (15) rounds,
// and are the medians of the per-round ratios.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { Sequelize } from 'sequelize';
import { RedisCache, modelCacheFactory } from '../js/index.mjs';
import nativeCore from '../js/native.js';
import clients from '../js/clients.js';
import { openDatabase, defineSchema, seed } from '../examples/schema.mjs';

const require = createRequire(import.meta.url);

const REDIS_URL = process.env.SNC_REDIS_URL || 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.SNC_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';
const INFLIGHT = 64;
const TOTAL = Number(process.env.BENCH_REDIS_CALLS) || 20000;
const DB_TOTAL = Math.max(500, Math.round(TOTAL / 5));
const RUNS = Number(process.env.BENCH_REDIS_RUNS) || 3;
/** Rounds of the alternating measurement the target ratios come from (see interleaved). */
const PAIRED_ROUNDS = Number(process.env.BENCH_REDIS_ROUNDS) || 15;
/** Calls per op and round with INFLIGHT in flight, in those rounds. */
const PAIRED_TPUT_CALLS = Math.max(INFLIGHT * 8, Math.round(TOTAL / 5));
const TTL = 600; // seconds: whatever the cleanup misses expires by itself

const TARGET_SERIAL = 1; // Redis-tier hit (L1 off) / peer hit, serial: ≤ 1×
const TARGET_THROUGHPUT = 2; // Redis-tier hit / peer hit, ops/s at 64 in flight: ≥ 2×
const TARGET_L1 = 15; // peer hit / L1 hit, serial: ≥ 15×
const TARGET_RAW_SERIAL = 1.3; // Redis-tier hit / raw ioredis GET, serial: ≤ 1.3×
const TARGET_RAW_THROUGHPUT = 1.2; // Redis-tier hit / raw ioredis GET, ops/s at 64 in flight: ≥ 1.2×

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** ops/s of `op(i)` for `total` calls with `inflight` of them outstanding at any time. */
async function throughputRun(op, total, inflight) {
  let next = 0;
  const worker = async () => {
    while (next < total) await op(next++);
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: Math.min(inflight, total) }, worker));
  return (total * 1000) / (performance.now() - t);
}

/** A warm-up run, then RUNS runs: { median, min, max, total } in ops/s. */
export async function throughput(op, total) {
  await throughputRun(op, Math.max(INFLIGHT * 4, Math.round(total / 10)), INFLIGHT);
  const rates = [];
  for (let r = 0; r < RUNS; r++) rates.push(await throughputRun(op, total, INFLIGHT));
  const s = [...rates].sort((a, b) => a - b);
  return { median: s[s.length >> 1], min: s[0], max: s[s.length - 1], total };
}

/**
 * The same ops measured in alternation, round after round (order reversed every other round), so
 * that the machine's drift touches each alike: per round, the serial latency of `serialCalls`
 * awaited calls and the ops/s of `tputCalls` calls with INFLIGHT in flight. Returns per op the
 * lists of per-round values; `ratio(a, b, kind)` is the median over rounds of b / a.
 */
export async function interleaved(ops, { rounds, serialCalls, tputCalls }) {
  const names = Object.keys(ops);
  const serial = Object.fromEntries(names.map((n) => [n, []]));
  const tput = Object.fromEntries(names.map((n) => [n, []]));
  for (const n of names) await throughputRun(ops[n], Math.max(INFLIGHT * 4, tputCalls >> 2), INFLIGHT); // warm-up
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const n of order) {
      const t = performance.now();
      for (let i = 0; i < serialCalls; i++) await ops[n](i);
      serial[n].push(((performance.now() - t) * 1000) / serialCalls);
    }
    for (const n of order) tput[n].push(await throughputRun(ops[n], tputCalls, INFLIGHT));
  }
  const med = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
  const ratio = (a, b, kind) => {
    const m = kind === 'serial' ? serial : tput;
    return med(m[b].map((x, r) => x / m[a][r]));
  };
  return { serial, tput, ratio, median: (n, kind) => med((kind === 'serial' ? serial : tput)[n]) };
}

/** Server-wide GET and MGET call counts (INFO commandstats). */
async function commandCounts(admin) {
  const info = await admin.info('commandstats');
  const calls = (cmd) => {
    const m = new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(info);
    return m ? Number(m[1]) : 0;
  };
  return { get: calls('get'), mget: calls('mget') };
}

/** "GET x + MGET y per call" between two commandCounts() snapshots. */
function perCall(c0, c1, calls) {
  const f = (n) => (n / Math.max(1, calls)).toFixed(2);
  return `GET ${f(c1.get - c0.get)} + MGET ${f(c1.mget - c0.mget)} per call`;
}

/** SCANs the keys matching each of `patterns`, handing each batch to `onKeys`; sums what it returns. */
async function scanKeys(admin, patterns, onKeys) {
  let n = 0;
  for (const match of patterns) {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) n += await onKeys(keys);
    } while (cursor !== '0');
  }
  return n;
}

/** Deletes every key matching one of `patterns`; returns how many. */
function deleteKeys(admin, patterns) {
  return scanKeys(admin, patterns, (keys) => admin.unlink(...keys));
}

function countKeys(admin, patterns) {
  return scanKeys(admin, patterns, (keys) => keys.length);
}

/**
 * @param {object} h  helpers from bench/index.mjs: measure, printTable, fmtUs, bold, dim, green,
 *   red, check (soft check: pushes a problem), ids (the hot ids), BATCHES, BATCH_MS
 */
export async function redisBench(h) {
  const { measure, printTable, printRatios, fmtUs, bold, dim, green, red, check, ids } = h;
  const HOT = ids.length;
  const mark = (ok) => (ok ? green('PASS') : red('MISS'));
  const notes = []; // printed under the tables
  const verify = []; // hit checks, printed under the tables
  const crossings = []; // thread crossings per Redis-tier hit, per transport

  console.log(bold('Redis tier') + dim(`  (${REDIS_URL}; findByPk of one User row, ${HOT} hot ids)`));
  if (process.env.BENCH_REDIS === '0') {
    console.log(red(bold('Redis section SKIPPED: BENCH_REDIS=0')));
    return;
  }

  const ns = `bench-${randomBytes(4).toString('hex')}`;
  const patterns = [`${ns}*`, `{${ns}}*`];
  const warnings = [];
  const logger = {
    debug() {},
    info() {},
    warn: (...args) => warnings.push(args),
    error: (...args) => warnings.push(args),
  };

  let admin;
  let peerRedis;
  let rawRedis;
  let sq;
  let pg;
  let pgAdmin;
  let pgDb;
  const natives = [];
  /** The ops measured again in alternation for the target ratios (see interleaved), by row tag. */
  const paired = {};
  const pairedClients = {};
  const newNative = async (l1, transport = 'event-loop') => {
    // The transport is chosen when the client is made (SNC_REDIS_TRANSPORT, see js/redis.js).
    const before = process.env.SNC_REDIS_TRANSPORT;
    process.env.SNC_REDIS_TRANSPORT = transport;
    let client;
    try {
      client = new RedisCache({ url: REDIS_URL, namespace: ns, defaultTtlSeconds: TTL, ...(l1 ? {} : { l1: false }) });
    } finally {
      if (before === undefined) delete process.env.SNC_REDIS_TRANSPORT;
      else process.env.SNC_REDIS_TRANSPORT = before;
    }
    check(client.transport === transport, `RedisCache runs on the ${client.transport} transport, not ${transport}`);
    natives.push(client);
    return { client, wUser: (await modelCacheFactory(client, logger)).wrap(User) };
  };
  let User;

  try {
    // Redis must answer, or the whole section is skipped (loudly).
    admin = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 1, retryStrategy: () => null });
    admin.on('error', () => {});
    try {
      await withTimeout(admin.connect().then(() => admin.ping()), 3000, `Redis at ${REDIS_URL}`);
    } catch (err) {
      console.log(red(bold(`Redis section SKIPPED: Redis is unreachable: ${err && err.message}`)));
      check(false, `Redis section skipped: Redis at ${REDIS_URL} is unreachable: ${err && err.message}`);
      return;
    }

    // One freshly seeded SQLite database for every row of the table (its own Sequelize instance,
    // so the peer's Model.cache() does not meet the withCache section's).
    sq = openDatabase();
    const models = defineSchema(sq);
    User = models.User;
    await seed(sq, models);
    const dbRows = new Map();
    for (const id of ids) dbRows.set(id, JSON.stringify(await User.findByPk(id)));

    // Database calls are counted by wrapping User.findByPk (the peer and this package's misses
    // both end there; an added hook would make this package bypass the cache).
    let dbCalls = 0;
    const origFindByPk = User.findByPk;
    const countDb = () => {
      User.findByPk = function findByPkCounted(...args) {
        dbCalls++;
        return origFindByPk.apply(this, args);
      };
    };
    const uncountDb = () => {
      User.findByPk = origFindByPk;
    };

    const rows = []; // [label, serial, throughput]
    const sizes = [];

    // 1. The peer.
    let peer;
    let peerUser;
    try {
      const transparent = require('sequelize-transparent-cache');
      const IORedisAdaptor = require('sequelize-transparent-cache-ioredis');
      const peerVersion = require('sequelize-transparent-cache/package.json').version;
      const adaptorVersion = require('sequelize-transparent-cache-ioredis/package.json').version;
      peerRedis = new Redis(REDIS_URL);
      peerRedis.on('error', () => {});
      const adaptor = new IORedisAdaptor({ client: peerRedis, namespace: `${ns}:peer`, lifetime: TTL });
      const { withCache: peerWithCache } = transparent(adaptor);
      peerUser = peerWithCache(User);
      peer = { name: `sequelize-transparent-cache ${peerVersion} + -ioredis ${adaptorVersion}` };
    } catch (err) {
      const reason = err && err.code === 'MODULE_NOT_FOUND' ? `not installed (${err.message.split('\n')[0]})` : err && err.message;
      console.log(red(bold(`peer not installable: ${reason}`)));
      check(false, `peer row skipped: peer not installable: ${reason}`);
    }
    if (peer !== undefined) {
      for (const id of ids) await peerUser.cache().findByPk(id); // fills
      for (const id of ids) {
        const got = await peerUser.cache().findByPk(id);
        check(got instanceof User && JSON.stringify(got) === dbRows.get(id), `peer findByPk(${id}) hit differs from the database`);
      }
      sizes.push(`peer entry ${await admin.strlen(`${ns}:peer:User:${ids[0]}`)} B`);
      countDb();
      const c0 = await commandCounts(admin);
      dbCalls = 0;
      let calls = 0;
      const op = (i) => {
        calls++;
        return peerUser.cache().findByPk(ids[i % HOT]);
      };
      const serial = await measure(op, { isAsync: true });
      const cMid = await commandCounts(admin);
      const callsMid = calls;
      const tp = await throughput(op, TOTAL);
      const c1 = await commandCounts(admin);
      uncountDb();
      const ok = dbCalls === 0;
      check(ok, `peer hits: ${dbCalls} of ${calls} calls reached the database`);
      verify.push([
        ok,
        `peer: ${calls - dbCalls}/${calls} calls were hits (${dbCalls} database reads); ` +
          `Redis commands (server-wide): ${perCall(c0, cMid, callsMid)} serial, ${perCall(cMid, c1, calls - callsMid)} in flight`,
      ]);
      rows.push([`peer: ${peer.name}, User.cache().findByPk(id) hit`, serial, tp, 'peer']);
      paired.peer = (i) => peerUser.cache().findByPk(ids[i % HOT]);
    }

    // 2. A raw ioredis GET of the row's JSON.
    rawRedis = new Redis(REDIS_URL);
    rawRedis.on('error', () => {});
    const rawKeys = ids.map((id) => `${ns}:raw:${id}`);
    for (let x = 0; x < HOT; x++) await rawRedis.set(rawKeys[x], dbRows.get(ids[x]), 'EX', TTL);
    sizes.push(`raw value (the row's JSON) ${Buffer.byteLength(dbRows.get(ids[0]))} B`);
    {
      const op = (i) => rawRedis.get(rawKeys[i % HOT]);
      const serial = await measure(op, { isAsync: true });
      const tp = await throughput(op, TOTAL);
      const back = await Promise.all(rawKeys.map((k) => rawRedis.get(k)));
      const nulls = back.filter((v, x) => v !== dbRows.get(ids[x])).length;
      check(nulls === 0, `raw GET: ${nulls}/${HOT} keys did not hold the row's JSON after the run`);
      rows.push(['raw ioredis GET of the row JSON', serial, tp, 'raw']);
      paired.raw = op;
    }

    // 3. RedisCache, L1 off: Redis-tier hits, on the event-loop transport (the default for a
    // single node) and on the tokio one (a cluster's, and the fallback) for comparison.
    for (const [transport, tag] of [
      ['event-loop', 'redis'],
      ['tokio', 'redis-tokio'],
    ]) {
      const { client, wUser } = await newNative(false, transport);
      for (const id of ids) await wUser.findByPk(id); // fills
      for (const id of ids) {
        const got = await wUser.findByPk(id);
        check(JSON.stringify(got) === dbRows.get(id), `RedisCache (L1 off) findByPk(${id}) hit differs from the database`);
      }
      const entryKey = (await admin.keys(`${ns}:User:*`)).find((k) => k.endsWith(`{"where":{"id":${ids[0]}}}`));
      if (entryKey !== undefined) sizes.push(`RedisCache entry ${await admin.strlen(entryKey)} B`);
      countDb();
      dbCalls = 0;
      let calls = 0;
      const s0 = client.stats();
      const c0 = await commandCounts(admin);
      // Thread crossings, counted rather than assumed: calls handed to the tokio runtime (two
      // crossings each) and, on the event loop, libuv callbacks that ran off the JS thread.
      const tokio0 = nativeCore.tokioCalls();
      const loopStats = () => (transport === 'event-loop' ? clients.engineOf(client).remote.store.tier.transportStats() : undefined);
      const l0 = loopStats();
      const op = (i) => {
        calls++;
        return wUser.findByPk(ids[i % HOT]);
      };
      const serial = await measure(op, { isAsync: true });
      const sMid = client.stats();
      const tokioMid = nativeCore.tokioCalls();
      const cMid = await commandCounts(admin);
      const callsMid = calls;
      const tp = await throughput(op, TOTAL);
      const c1 = await commandCounts(admin);
      const s1 = client.stats();
      const tokioEnd = nativeCore.tokioCalls();
      const tokioPerHit = (tokioEnd - tokio0) / calls;
      const serialPerHit = (tokioMid - tokio0) / callsMid;
      const inflightPerHit = (tokioEnd - tokioMid) / (calls - callsMid);
      const l1s = loopStats();
      const foreign = l1s === undefined ? 'n/a' : String(l1s.foreignThreadCallbacks - l0.foreignThreadCallbacks);
      crossings.push(
        `thread crossings per Redis-tier hit, ${transport} transport: ${(2 * serialPerHit).toFixed(2)} serial, ` +
          `${(2 * inflightPerHit).toFixed(2)} at ${INFLIGHT} in flight (tokio calls counted, two crossings each; ` +
          `libuv callbacks off the JS thread: ${foreign})`,
      );
      if (transport === 'event-loop') check(tokioPerHit === 0 && foreign === '0', `event-loop Redis-tier hits crossed threads: ${crossings[crossings.length - 1]}`);
      uncountDb();
      const d = (a, b, f) => b[f] - a[f];
      const ok = d(s0, s1, 'hits') === calls && d(s0, s1, 'misses') === 0 && d(s0, s1, 'bypasses') === 0 && dbCalls === 0;
      check(ok, `RedisCache (L1 off): ${d(s0, s1, 'hits')} hits, ${d(s0, s1, 'misses')} misses, ${d(s0, s1, 'bypasses')} bypasses, ${dbCalls} database reads for ${calls} calls`);
      verify.push([
        ok,
        `RedisCache L1 off: stats() hits +${d(s0, s1, 'hits')} / ${calls} calls (serial ${d(s0, sMid, 'hits')}/${callsMid}, ` +
          `in flight ${d(sMid, s1, 'hits')}/${calls - callsMid}), misses +${d(s0, s1, 'misses')}, bypasses +${d(s0, s1, 'bypasses')}, ` +
          `fills +${d(s0, s1, 'fills')}, ${dbCalls} database reads; ` +
          `Redis commands (server-wide): ${perCall(c0, cMid, callsMid)} serial, ${perCall(cMid, c1, calls - callsMid)} in flight`,
      ]);
      rows.push([`RedisCache (l1: false) wrap(User).findByPk(id), Redis-tier hit, ${transport} transport`, serial, tp, tag]);
      paired[tag] = (i) => wUser.findByPk(ids[i % HOT]);
      pairedClients[tag] = client;
    }

    // 4. RedisCache with the default L1: L1 hits. The L1 keeps entries 5 s (its default ttlSeconds)
    // and is trusted only once its subscription is live, so each measurement gets a fresh client
    // warmed until every hot id is an L1 hit (stats: hits == calls, no misses: a Redis-tier hit
    // behind the L1 also counts an L1 miss), and is checked the same way afterwards.
    {
      const warmL1 = async () => {
        const n = await newNative(true);
        const t0 = performance.now();
        let passes = 0;
        for (;;) {
          const s = n.client.stats();
          for (const id of ids) await n.wUser.findByPk(id);
          const s2 = n.client.stats();
          passes++;
          if (s2.entries > 0 && s2.misses === s.misses && s2.hits - s.hits === HOT) break;
          if (performance.now() - t0 > 5000) {
            check(false, `RedisCache L1: not every hot id was an L1 hit after 5 s of warm-up (entries ${s2.entries})`);
            break;
          }
          await sleep(5);
        }
        n.warm = { ms: performance.now() - t0, passes };
        return n;
      };
      const timed = async (fn) => {
        const n = await warmL1();
        for (const id of ids.slice(0, 5)) check(JSON.stringify(await n.wUser.findByPk(id)) === dbRows.get(id), `RedisCache L1 hit findByPk(${id}) differs from the database`);
        countDb();
        dbCalls = 0;
        let calls = 0;
        const op = (i) => {
          calls++;
          return n.wUser.findByPk(ids[i % HOT]);
        };
        const s0 = n.client.stats();
        const c0 = await commandCounts(admin);
        const t0 = performance.now();
        const result = await fn(op);
        const ms = performance.now() - t0;
        const c1 = await commandCounts(admin);
        const s1 = n.client.stats();
        uncountDb();
        const d = (f) => s1[f] - s0[f];
        const ok = d('hits') === calls && d('misses') === 0 && d('bypasses') === 0 && dbCalls === 0;
        return { result, calls, ok, d, dbCalls, cmds: c1.get - c0.get + c1.mget - c0.mget, entries: s1.entries, warm: n.warm, ms };
      };
      const a = await timed((op) => measure(op, { isAsync: true }));
      const b = await timed((op) => throughput(op, TOTAL));
      for (const [what, r] of [['serial', a], [`${INFLIGHT} in flight`, b]]) {
        check(r.ok, `RedisCache L1 (${what}): ${r.d('hits')} hits, ${r.d('misses')} misses, ${r.d('bypasses')} bypasses, ${r.dbCalls} database reads for ${r.calls} calls`);
        verify.push([
          r.ok,
          `RedisCache L1 (${what}): stats() hits +${r.d('hits')} / ${r.calls} calls, misses +${r.d('misses')}, bypasses +${r.d('bypasses')}, ` +
            `${r.dbCalls} database reads, L1 entries ${r.entries}; Redis GET+MGET during the run ${r.cmds} (server-wide); ` +
            `L1 trusted and full after ${r.warm.ms.toFixed(0)} ms (${r.warm.passes} passes), run took ${(r.ms / 1000).toFixed(2)} s`,
        ]);
      }
      rows.push(['RedisCache (default L1) wrap(User).findByPk(id), L1 hit', a.result, b.result, 'l1']);
    }

    // 5. Uncached findByPk: SQLite (in memory), then PostgreSQL in a scratch database.
    {
      const op = (i) => User.findByPk(ids[i % HOT]);
      rows.push(['User.findByPk(id), uncached, SQLite (in memory)', await measure(op, { isAsync: true }), await throughput(op, DB_TOTAL), 'sqlite']);
    }
    try {
      pgAdmin = new Sequelize(POSTGRES_URL, {
        dialect: 'postgres',
        logging: false,
        dialectOptions: { connectionTimeoutMillis: 3000 },
        pool: { max: 1, acquire: 5000 },
      });
      await withTimeout(pgAdmin.authenticate(), 5000, `PostgreSQL at ${POSTGRES_URL}`);
      pgDb = `snc_${ns.replace(/-/g, '_')}`;
      await pgAdmin.query(`CREATE DATABASE "${pgDb}"`);
      const u = new URL(POSTGRES_URL);
      u.pathname = `/${pgDb}`;
      pg = new Sequelize(u.toString(), { dialect: 'postgres', logging: false });
      const pgModels = defineSchema(pg);
      await seed(pg, pgModels);
      const PgUser = pgModels.User;
      for (const id of ids.slice(0, 5)) {
        const a = (await PgUser.findByPk(id)).get({ plain: true });
        const b = (await User.findByPk(id)).get({ plain: true });
        check(a.name === b.name && a.email === b.email, `PostgreSQL row ${id} differs from the SQLite one`);
      }
      const op = (i) => PgUser.findByPk(ids[i % HOT]);
      const pool = pg.connectionManager.pool;
      rows.push([
        `User.findByPk(id), uncached, PostgreSQL (pool max ${pool && pool.maxSize !== undefined ? pool.maxSize : 5})`,
        await measure(op, { isAsync: true }),
        await throughput(op, DB_TOTAL),
        'pg',
      ]);
    } catch (err) {
      console.log(red(bold(`PostgreSQL row SKIPPED: ${err && err.message}`)));
      notes.push(`PostgreSQL row skipped: ${err && err.message}`);
    }

    // The tables.
    const ops = (r) => `${Math.round(r.median).toLocaleString('en-US')}`;
    printTable(
      [
        { title: 'Redis section: operation', align: 'l' },
        { title: 'serial, median/op', align: 'r', style: bold },
        { title: 'min', align: 'r', style: dim },
        { title: 'max', align: 'r', style: dim },
        { title: `${INFLIGHT} in flight, ops/s`, align: 'r', style: bold },
        { title: `runs min–max`, align: 'r', style: dim },
        { title: 'calls/run', align: 'r', style: dim },
      ],
      rows.map(([name, s, t]) => [name, fmtUs(s.median), fmtUs(s.min), fmtUs(s.max), ops(t), `${ops({ median: t.min })}–${ops({ median: t.max })}`, t.total]),
    );
    console.log();

    const by = Object.fromEntries(rows.map(([, s, t, tag]) => [tag, { s, t }]));
    // The target ratios come from the ops measured again in alternation: measured one after the
    // other, as in the table above, a drift of this VM's loopback latency between two rows moved
    // the serial ratio by as much as 2x from one run to the next.
    const before = Object.fromEntries(Object.entries(pairedClients).map(([t, c]) => [t, c.stats()]));
    const alt = await interleaved(paired, { rounds: PAIRED_ROUNDS, serialCalls: 200, tputCalls: PAIRED_TPUT_CALLS });
    for (const [t, c] of Object.entries(pairedClients)) {
      const s1 = c.stats();
      const missed = s1.misses - before[t].misses + s1.bypasses - before[t].bypasses;
      check(missed === 0 && s1.hits > before[t].hits, `${t}: ${missed} of the alternating rounds' calls were not Redis-tier hits`);
    }
    const ratios = [];
    if (by.peer !== undefined) {
      const serial = alt.ratio('peer', 'redis', 'serial');
      const tput = alt.ratio('peer', 'redis', 'tput');
      const l1 = by.peer.s.median / by.l1.s.median;
      ratios.push(
        ['Redis-tier hit (L1 off) / peer hit, serial latency', `${serial.toFixed(2)}×`, `≤ ${TARGET_SERIAL}×`, mark(serial <= TARGET_SERIAL)],
        [`Redis-tier hit / peer hit, ops/s at ${INFLIGHT} in flight`, `${tput.toFixed(2)}×`, `≥ ${TARGET_THROUGHPUT}×`, mark(tput >= TARGET_THROUGHPUT)],
        ['peer hit / L1 hit, serial latency (L1 speed-up)', `${l1.toFixed(1)}×`, `≥ ${TARGET_L1}×`, mark(l1 >= TARGET_L1)],
      );
    } else {
      for (const name of ['Redis-tier hit (L1 off) / peer hit, serial latency', `Redis-tier hit / peer hit, ops/s at ${INFLIGHT} in flight`, 'peer hit / L1 hit, serial latency (L1 speed-up)']) {
        ratios.push([name, '—', '', red('NO PEER')]);
      }
    }
    const rawSerial = alt.ratio('raw', 'redis', 'serial');
    const rawTput = alt.ratio('raw', 'redis', 'tput');
    ratios.push(
      ['Redis-tier hit / raw ioredis GET, serial latency', `${rawSerial.toFixed(2)}×`, `≤ ${TARGET_RAW_SERIAL}×`, mark(rawSerial <= TARGET_RAW_SERIAL)],
      [`Redis-tier hit / raw ioredis GET, ops/s at ${INFLIGHT} in flight`, `${rawTput.toFixed(2)}×`, `≥ ${TARGET_RAW_THROUGHPUT}×`, mark(rawTput >= TARGET_RAW_THROUGHPUT)],
      ['tokio transport / event-loop transport, Redis-tier hit, serial latency', `${alt.ratio('redis', 'redis-tokio', 'serial').toFixed(2)}×`, '—', ''],
      [`event-loop / tokio transport, Redis-tier hit, ops/s at ${INFLIGHT} in flight`, `${alt.ratio('redis-tokio', 'redis', 'tput').toFixed(2)}×`, '—', ''],
      ['SQLite uncached / Redis-tier hit, serial', `${(by.sqlite.s.median / by.redis.s.median).toFixed(1)}×`, '—', ''],
      ['SQLite uncached / L1 hit, serial', `${(by.sqlite.s.median / by.l1.s.median).toFixed(1)}×`, '—', ''],
    );
    if (by.pg !== undefined) {
      ratios.push(
        ['PostgreSQL uncached / Redis-tier hit, serial', `${(by.pg.s.median / by.redis.s.median).toFixed(1)}×`, '—', ''],
        ['PostgreSQL uncached / L1 hit, serial', `${(by.pg.s.median / by.l1.s.median).toFixed(1)}×`, '—', ''],
      );
    }
    printRatios('Redis section: ratio', ratios);
    console.log(
      dim(
        `peer, raw GET and Redis-tier ratios: medians over ${PAIRED_ROUNDS} rounds of the ops measured in alternation ` +
          `(per round: 200 serial calls each, then ${PAIRED_TPUT_CALLS} calls with ${INFLIGHT} in flight each); ` +
          `in those rounds, serial median/op ${Object.keys(paired).map((n) => `${n} ${fmtUs(alt.median(n, 'serial'))}`).join(', ')}; ` +
          `ops/s ${Object.keys(paired).map((n) => `${n} ${Math.round(alt.median(n, 'tput')).toLocaleString('en-US')}`).join(', ')}`,
      ),
    );
    for (const [ok, text] of verify) console.log(ok ? dim(text) : red(text));
    for (const text of crossings) console.log(text);
    console.log(dim(`payloads: ${sizes.join(', ')}`));
    console.log(
      dim(
        `serial = median over batches of (batch time / calls), as above; ${INFLIGHT} in flight = ${INFLIGHT} promises kept outstanding ` +
          `for ${TOTAL} calls (${DB_TOTAL} uncached), wall time, median of ${RUNS} runs after a warm-up run.`,
      ),
    );
    for (const n of notes) console.log(red(n));
    if (warnings.length > 0) check(false, `RedisCache logged ${warnings.length} warnings, first: ${JSON.stringify(warnings[0])}`);
  } catch (err) {
    check(false, `Redis section failed: ${err && err.stack}`);
  } finally {
    for (const c of natives) {
      try {
        await c.close();
      } catch (err) {
        check(false, `RedisCache close failed: ${err && err.message}`);
      }
    }
    if (admin !== undefined && admin.status === 'ready') {
      try {
        const n = await deleteKeys(admin, patterns);
        const left = await countKeys(admin, patterns);
        check(left === 0, `Redis cleanup: ${left} keys under ${ns} remain`);
        console.log(dim(`Redis cleanup: deleted ${n} keys matching ${patterns.join(' and ')}; ${left} left`));
      } catch (err) {
        check(false, `Redis cleanup failed: ${err && err.message}`);
      }
    }
    for (const r of [peerRedis, rawRedis, admin]) {
      if (r === undefined) continue;
      try {
        await r.quit();
      } catch {
        r.disconnect();
      }
    }
    if (sq !== undefined) await sq.close();
    if (pg !== undefined) await pg.close().catch(() => {});
    if (pgAdmin !== undefined) {
      if (pgDb !== undefined) {
        await pgAdmin.query(`DROP DATABASE IF EXISTS "${pgDb}" WITH (FORCE)`).catch((err) => check(false, `PostgreSQL: could not drop ${pgDb}: ${err.message}`));
      }
      await pgAdmin.close().catch(() => {});
    }
    console.log();
  }
}
