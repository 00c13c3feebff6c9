// The Momento section of `npm run bench` (issue 5 §4), called by bench/index.mjs.
//
// Against the local stand-in for Momento's HTTP API (__test__/support/momento-server.mjs, on
// 127.0.0.1, no TLS), on one freshly seeded SQLite database, one row fetched by primary key over
// the same hot ids as the rest of the bench:
//   - a raw keep-alive HTTP GET of the same stored value with node:http (what a JS client of the
//     HTTP API pays for the request alone);
//   - MomentoCache with the L1 off: `wrap(User).findByPk(id)` hits through Momento (one native
//     call per batch; concurrent GETs for the entry and its tables' tokens);
//   - MomentoCache with the default L1 (1 s): L1 hits;
//   - the uncached `User.findByPk(id)` on SQLite.
// Serial latency (median per op over batches) and throughput at 64 in flight (median of runs).
// Hits are checked with client.stats() and the server's own GET counts. The ratios to the raw GET
// come from the two measured again in alternation, BENCH_MOMENTO_ROUNDS (15) rounds, as in the
// Redis section (bench/redis.mjs interleaved).
//
// The stand-in runs in a child process, as a service would (in this process it would share the
// event loop with the client). Its cost is in every Momento row alike, so the rows compare the
// client side; real Momento adds the network.
import http from 'node:http';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { MomentoClientGenerator, modelCacheFactory } from '../js/index.mjs';
import { openDatabase, defineSchema, seed } from '../examples/schema.mjs';
import { throughput, interleaved } from './redis.mjs';
import keys from '../js/engine/keys.js';

const INFLIGHT = 64;
const TOTAL = Number(process.env.BENCH_REDIS_CALLS) || 20000;
/** Rounds of the alternating measurement the ratios to the raw GET come from. */
const PAIRED_ROUNDS = Number(process.env.BENCH_MOMENTO_ROUNDS) || 15;
/** Calls per op and round with INFLIGHT in flight, in those rounds. */
const PAIRED_TPUT_CALLS = Math.max(INFLIGHT * 8, Math.round(TOTAL / 5));
const TARGET_SERIAL = 1.5; // Momento-tier hit / raw keep-alive HTTP GET, serial: ≤ 1.5×
const DB_TOTAL = Math.max(500, Math.round(TOTAL / 5));
/** The delay of every answer in the run that stands for a network between client and Momento. */
const DELAYED_MS = 1;
const TOKEN = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJiZW5jaCJ9.YmVuY2g';

export async function momentoBench(h) {
  const { measure, printTable, printRatios, fmtUs, bold, dim, green, red, check, ids } = h;
  const mark = (ok) => (ok ? green('PASS') : red('MISS'));
  const HOT = ids.length;
  console.log(bold('Momento tier') + dim(`  (local stand-in for Momento's HTTP API; findByPk of one User row, ${HOT} hot ids)`));
  if (process.env.BENCH_MOMENTO === '0') {
    console.log(red(bold('Momento section SKIPPED: BENCH_MOMENTO=0')));
    return;
  }
  const child = spawn(process.execPath, [fileURLToPath(new URL('../__test__/support/momento-server.mjs', import.meta.url)), TOKEN], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [first] = await once(child.stdout, 'data');
  const port = Number(String(first).trim());
  const server = {
    port,
    url: `http://127.0.0.1:${port}`,
    gets: async () => JSON.parse(await (await fetch(`http://127.0.0.1:${port}/_stand-in/requests`)).text()).GET,
  };
  const sq = openDatabase();
  const clients = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: INFLIGHT });
  try {
    const models = defineSchema(sq);
    const { User } = models;
    await seed(sq, models);
    const rows = [];
    const verify = [];
    const newClient = async (l1) => {
      const client = MomentoClientGenerator.newInstance({
        credentialProvider: { apiKey: TOKEN, endpoint: server.url },
        defaultTtlSeconds: 600,
        namespace: 'bench',
        ...(l1 ? {} : { l1: false }),
      });
      clients.push(client);
      const warnings = [];
      const logger = { debug() {}, info() {}, warn: (...a) => warnings.push(a), error: (...a) => warnings.push(a) };
      return { client, warnings, wUser: (await modelCacheFactory(client, logger)).wrap(User) };
    };

    // 1. MomentoCache, L1 off: fill, then time hits.
    const off = await newClient(false);
    /** The Momento-tier hit and the raw GET, measured again in alternation for the ratios. */
    const paired = {};
    for (const id of ids) await off.wUser.findByPk(id);
    {
      const h0 = off.client.stats().hits;
      const g0 = await server.gets();
      let calls = 0;
      const op = (i) => {
        calls++;
        return off.wUser.findByPk(ids[i % HOT]);
      };
      const serial = await measure(op, { isAsync: true });
      const tp = await throughput(op, TOTAL);
      const hits = off.client.stats().hits - h0;
      const ok = hits === calls && off.warnings.length === 0;
      check(ok, `Momento-tier hits: ${hits} of ${calls} calls (${off.warnings.length} warnings)`);
      verify.push([ok, `MomentoCache L1 off: stats() hits +${hits} / ${calls} calls; server GETs ${(((await server.gets()) - g0) / calls).toFixed(2)} per call (entry + tokens, deduplicated per batch)`]);
      rows.push(['MomentoCache (l1: false) wrap(User).findByPk(id), Momento-tier hit', serial, tp, 'momento']);
      paired.momento = (i) => off.wUser.findByPk(ids[i % HOT]);
    }

    // 2. A raw keep-alive HTTP GET of one stored entry.
    {
      // Where MomentoCache stores the entry: the Momento wrapper's key for the call.
      const path = `/cache/model-cache?key=${encodeURIComponent(keys.momentoWrapperKey(User, 'findByPk', [ids[0]]))}`;
      const get = () =>
        new Promise((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port: server.port, path, agent, headers: { authorization: TOKEN } }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}`))));
          });
          req.on('error', reject);
          req.end();
        });
      rows.push(['raw keep-alive HTTP GET (node:http) of one stored entry', await measure(get, { isAsync: true }), await throughput(get, TOTAL), 'raw']);
      paired.raw = get;
    }

    // 3. MomentoCache, default L1.
    const on = await newClient(true);
    for (let pass = 0; pass < 2; pass++) for (const id of ids) await on.wUser.findByPk(id);
    {
      const h0 = on.client.stats().hits;
      let calls = 0;
      const op = (i) => {
        calls++;
        return on.wUser.findByPk(ids[i % HOT]);
      };
      const serial = await measure(op, { isAsync: true });
      const tp = await throughput(op, TOTAL);
      const hits = on.client.stats().hits - h0;
      const ok = hits === calls && on.warnings.length === 0;
      check(ok, `L1 hits: ${hits} of ${calls} calls`);
      verify.push([ok, `MomentoCache default L1 (1 s): stats() hits +${hits} / ${calls} calls (L1 entries expire each second and refill from Momento)`]);
      rows.push(['MomentoCache (default L1) wrap(User).findByPk(id), L1 hit', serial, tp, 'l1']);
    }

    // 4. Uncached SQLite.
    {
      const op = (i) => User.findByPk(ids[i % HOT]);
      rows.push(['User.findByPk(id), uncached, SQLite (in memory)', await measure(op, { isAsync: true }), await throughput(op, DB_TOTAL), 'sqlite']);
    }

    const ops = (r) => `${Math.round(r.median).toLocaleString('en-US')}`;
    printTable(
      [
        { title: 'Momento section: operation', align: 'l' },
        { title: 'serial, median/op', align: 'r', style: bold },
        { title: 'min', align: 'r', style: dim },
        { title: 'max', align: 'r', style: dim },
        { title: `${INFLIGHT} in flight, ops/s`, align: 'r', style: bold },
        { title: 'runs min–max', align: 'r', style: dim },
      ],
      rows.map(([name, s, t]) => [name, fmtUs(s.median), fmtUs(s.min), fmtUs(s.max), ops(t), `${ops({ median: t.min })}–${ops({ median: t.max })}`]),
    );
    console.log();
    const by = Object.fromEntries(rows.map(([, s, t, tag]) => [tag, { s, t }]));
    // As in the Redis section: the target ratio from the two measured in alternation.
    const h0 = off.client.stats();
    const alt = await interleaved(paired, { rounds: PAIRED_ROUNDS, serialCalls: 50, tputCalls: PAIRED_TPUT_CALLS });
    const h1 = off.client.stats();
    check(h1.misses === h0.misses && h1.hits > h0.hits, `Momento: ${h1.misses - h0.misses} of the alternating rounds' calls missed`);
    const serialRatio = alt.ratio('raw', 'momento', 'serial');
    printRatios('Momento section: ratio', [
      ['Momento-tier hit / raw HTTP GET, serial latency', `${serialRatio.toFixed(2)}×`, `≤ ${TARGET_SERIAL}×`, mark(serialRatio <= TARGET_SERIAL)],
      [`Momento-tier hit / raw HTTP GET, ops/s at ${INFLIGHT} in flight`, `${alt.ratio('raw', 'momento', 'tput').toFixed(2)}×`, '—', ''],
      ['Momento-tier hit / L1 hit, serial latency (L1 speed-up)', `${(by.momento.s.median / by.l1.s.median).toFixed(1)}×`, '—', ''],
      ['SQLite uncached / Momento-tier hit, serial', `${(by.sqlite.s.median / by.momento.s.median).toFixed(1)}×`, '—', ''],
      ['SQLite uncached / L1 hit, serial', `${(by.sqlite.s.median / by.l1.s.median).toFixed(1)}×`, '—', ''],
    ]);
    console.log(
      dim(
        `the first two ratios: medians over ${PAIRED_ROUNDS} rounds of the two measured in alternation (per round: 50 serial calls each, ` +
          `then ${PAIRED_TPUT_CALLS} calls with ${INFLIGHT} in flight each); in those rounds, serial median/op ` +
          `momento ${fmtUs(alt.median('momento', 'serial'))}, raw ${fmtUs(alt.median('raw', 'serial'))}; ops/s momento ` +
          `${Math.round(alt.median('momento', 'tput')).toLocaleString('en-US')}, raw ${Math.round(alt.median('raw', 'tput')).toLocaleString('en-US')}`,
      ),
    );
    // The same two with every answer of the stand-in delayed by DELAYED_MS, as a network would
    // delay it: a hit's three concurrent GETs then cost about one round trip, not three answers
    // of a single-threaded server on loopback.
    await fetch(`${server.url}/_stand-in/delay?ms=${DELAYED_MS}`);
    const slow = await interleaved(paired, { rounds: 9, serialCalls: 30, tputCalls: INFLIGHT * 4 });
    await fetch(`${server.url}/_stand-in/delay?ms=0`);
    const slowRatio = slow.ratio('raw', 'momento', 'serial');
    printRatios(`Momento section: with every answer delayed ${DELAYED_MS} ms (a network's round trip)`, [
      ['Momento-tier hit / raw HTTP GET, serial latency', `${slowRatio.toFixed(2)}×`, `≤ ${TARGET_SERIAL}×`, mark(slowRatio <= TARGET_SERIAL)],
    ]);
    console.log(dim(`9 rounds of 30 serial calls each, in alternation; serial median/op momento ${fmtUs(slow.median('momento', 'serial'))}, raw ${fmtUs(slow.median('raw', 'serial'))}`));
    for (const [ok, text] of verify) console.log(ok ? dim(text) : red(text));
    console.log();
  } catch (err) {
    check(false, `Momento section failed: ${err && err.stack}`);
  } finally {
    for (const c of clients) await c.close();
    agent.destroy();
    await sq.close();
    child.kill();
  }
}
