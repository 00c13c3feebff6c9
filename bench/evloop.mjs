// The event-loop Redis transport (src/transport/redis, through its evloopTest* surface) against a
// raw ioredis GET, and today's redis-rs tier on tokio (remoteMget of one key) as a reference, in
// one run. Run alone (`node bench/evloop.mjs`, after `npm run build`), or call evloopBench()
// from another bench section.
//
// For each path, on one key holding a ~350-byte JSON row:
//   - serial: ops awaited one after the other, in batches interleaved across the paths (A, B, C,
//     A, B, C, ...) so that the machine's drift affects all alike; the median of the per-batch
//     means, and the process CPU time per op;
//   - throughput: 64 ops kept in flight, TOTAL ops per run, runs interleaved; the median ops/s,
//     and CPU time per op;
//   - other-thread wake-ups per op: context switches of every thread but the JS thread during a
//     serial run of that path alone (/proc/self/task/*/status), i.e. how often an op makes
//     another thread run: thread crossings;
//   - for the event-loop transport, its count of libuv callbacks that ran off the JS thread.
// Every reply is checked against the stored value.
//
// Environment: SNC_REDIS_URL (default redis://127.0.0.1:6379; keys `bench-evloop-<hex>:*`,
// deleted at the end); BENCH_EVLOOP_SERIAL (ops per serial batch, 2000), BENCH_EVLOOP_BATCHES
// (7), BENCH_EVLOOP_TOTAL (20000 ops per throughput run), BENCH_EVLOOP_RUNS (3), BENCH_JSON (a
// file to append the results to, one JSON line per run).
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Redis from 'ioredis';

const require = createRequire(import.meta.url);

const INFLIGHT = 64;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Context switches so far of every thread of this process except the JS thread. */
function otherThreadSwitches() {
  let n = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    let status;
    try {
      status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) n += Number(m[1]);
  }
  return n;
}

async function serialBatch(op, n) {
  const t = performance.now();
  for (let i = 0; i < n; i++) await op();
  return ((performance.now() - t) * 1000) / n;
}

async function throughputRun(op, total) {
  let next = 0;
  const worker = async () => {
    while (next++ < total) await op();
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
  return (total * 1000) / (performance.now() - t);
}

/**
 * Runs the comparison; resolves to { rows, foreignThreadCallbacks } where each row is
 * { path, serialUs, serialCpuUs, opsPerSec, throughputCpuUs, otherThreadWakeupsPerOp }.
 */
export async function evloopBench({
  url = process.env.SNC_REDIS_URL || 'redis://127.0.0.1:6379',
  serial = Number(process.env.BENCH_EVLOOP_SERIAL) || 2000,
  batches = Number(process.env.BENCH_EVLOOP_BATCHES) || 7,
  total = Number(process.env.BENCH_EVLOOP_TOTAL) || 20000,
  runs = Number(process.env.BENCH_EVLOOP_RUNS) || 3,
} = {}) {
  const b = require('../js/binding/index.js');
  const unavailable = b.evloopTestUnavailable();
  if (unavailable) throw new Error(`the event-loop transport cannot run here: ${unavailable}`);

  const ns = `bench-evloop-${randomBytes(4).toString('hex')}`;
  const key = `${ns}:row`;
  const tierKey = `${ns}:tier-row`;
  const row = JSON.stringify({
    id: 4242,
    name: 'Ada Lovelace',
    email: 'ada@example.com',
    bio: 'x'.repeat(200),
    createdAt: new Date(0).toISOString(),
    updatedAt: new Date(0).toISOString(),
  });

  const ioredis = new Redis(url);
  const conn = b.evloopTestConnect(url, { commandTimeoutMs: 5000 });
  const tier = b.redisCreate({ urls: [url], cluster: false, connectTimeoutMs: 2000, commandTimeoutMs: 5000, compressAboveBytes: 0 });
  let wrong = 0;
  const expect = (v) => {
    if (v !== row) wrong++;
  };
  try {
    await ioredis.set(key, row, 'EX', 600);
    await b.remoteSet(tier, tierKey, row, 600_000);
    const paths = [
      ['ioredis GET', () => ioredis.get(key).then(expect)],
      ['event-loop transport GET', () => b.evloopTestCommand(conn, ['GET', key]).then(expect)],
      ['redis-rs tier on tokio (remoteMget, 1 key)', () => b.remoteMget(tier, [tierKey]).then((v) => expect(v[0]))],
    ];
    // Warm-up: connections made, JIT warm.
    for (const [, op] of paths) for (let i = 0; i < 500; i++) await op();

    const serialUs = paths.map(() => []);
    const serialCpu = paths.map(() => 0);
    for (let k = 0; k < batches; k++) {
      for (let p = 0; p < paths.length; p++) {
        const cpu = process.cpuUsage();
        serialUs[p].push(await serialBatch(paths[p][1], serial));
        const d = process.cpuUsage(cpu);
        serialCpu[p] += d.user + d.system;
      }
    }

    const rates = paths.map(() => []);
    const rateCpu = paths.map(() => 0);
    for (const [, op] of paths) await throughputRun(op, Math.round(total / 10)); // warm-up
    for (let r = 0; r < runs; r++) {
      for (let p = 0; p < paths.length; p++) {
        const cpu = process.cpuUsage();
        rates[p].push(await throughputRun(paths[p][1], total));
        const d = process.cpuUsage(cpu);
        rateCpu[p] += d.user + d.system;
      }
    }

    const wakeups = [];
    for (const [, op] of paths) {
      const n = serial * 2;
      const before = otherThreadSwitches();
      for (let i = 0; i < n; i++) await op();
      wakeups.push((otherThreadSwitches() - before) / n);
    }

    const rows = paths.map(([path], p) => ({
      path,
      serialUs: median(serialUs[p]),
      serialCpuUs: serialCpu[p] / (serial * batches),
      opsPerSec: median(rates[p]),
      throughputCpuUs: rateCpu[p] / (total * runs),
      otherThreadWakeupsPerOp: wakeups[p],
    }));
    if (wrong > 0) throw new Error(`${wrong} replies were not the stored value`);
    return { rows, foreignThreadCallbacks: b.evloopTestStats(conn).foreignThreadCallbacks };
  } finally {
    await ioredis.del(key, tierKey).catch(() => {});
    ioredis.disconnect();
    b.evloopTestClose(conn);
    b.remoteClose(tier);
  }
}

function print({ rows, foreignThreadCallbacks }) {
  const f1 = (x) => x.toFixed(1);
  const f2 = (x) => x.toFixed(2);
  const table = [
    ['path', 'serial µs (median)', 'serial CPU µs/op', 'ops/s @64', 'CPU µs/op @64', 'other-thread wake-ups/op'],
    ...rows.map((r) => [r.path, f1(r.serialUs), f1(r.serialCpuUs), Math.round(r.opsPerSec).toLocaleString('en-US'), f1(r.throughputCpuUs), f2(r.otherThreadWakeupsPerOp)]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => String(r[i]).length)));
  for (const r of table) console.log(r.map((v, i) => (i === 0 ? String(v).padEnd(widths[i]) : String(v).padStart(widths[i]))).join('  '));
  const [io, ev, tk] = rows;
  console.log(
    `event-loop vs ioredis: serial ${f2(io.serialUs / ev.serialUs)}× faster, throughput ${f2(ev.opsPerSec / io.opsPerSec)}×; ` +
      `vs the tokio tier: serial ${f2(tk.serialUs / ev.serialUs)}×, throughput ${f2(ev.opsPerSec / tk.opsPerSec)}×`,
  );
  console.log(`event-loop transport: libuv callbacks run off the JS thread: ${foreignThreadCallbacks}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await evloopBench();
  print(result);
  if (process.env.BENCH_JSON) appendFileSync(process.env.BENCH_JSON, JSON.stringify({ at: new Date().toISOString(), ...result }) + '\n');
}
