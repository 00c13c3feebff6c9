// `npm run fuzz`: the model-based consistency fuzz at length (see __test__/support/model-based/).
//
// For each kind (dialect/cache, or 2proc/cache for two processes sharing PostgreSQL and Redis)
// it runs seeded runs of SNC_FUZZ_RUN_OPS operations on a fresh database and cache until
// SNC_FUZZ_OPS operations have run, comparing every cached read with the database. A failure ends
// its run (the cache is then known stale); its seed is printed, and the first failure of each kind
// of defect is shrunk to a short reproduction. At the end: a table of operations, reads compared
// and mismatches per kind.
//
//   SNC_FUZZ_OPS=100000          operations per kind
//   SNC_FUZZ_KINDS=sqlite/memory,postgres/redis-nol1,2proc/redis   (default: all)
//   SNC_FUZZ_SEED=<n>            first seed (with SNC_FUZZ_OPS<=SNC_FUZZ_RUN_OPS: replays that run)
//   SNC_FUZZ_RUN_OPS=1000        operations per run
//   SNC_FUZZ_SHRINK_SECONDS=90   time to shrink a failure (0: do not shrink)
//   SNC_FUZZ_SHRINK_PER=2        failures shrunk per check|model signature and kind
//   SNC_FUZZ_SKIP=raw.cte,sf     operation kinds left out (for local exploration only)
//   SNC_REDIS_URL                a Redis to use instead of starting redis-server
import { startRedis, freePort } from '../__test__/support/redis-server.mjs';
import { runKind, allKinds, parseKinds, describeKind } from '../__test__/support/model-based/index.mjs';

const total = Number(process.env.SNC_FUZZ_OPS || 100_000);
const runOps = Number(process.env.SNC_FUZZ_RUN_OPS || 1000);
const shrinkSeconds = Number(process.env.SNC_FUZZ_SHRINK_SECONDS ?? 90);
const firstSeed = process.env.SNC_FUZZ_SEED !== undefined ? Number(process.env.SNC_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const kinds = process.env.SNC_FUZZ_KINDS ? parseKinds(process.env.SNC_FUZZ_KINDS) : allKinds();

let redisProc;
let redisUrl = process.env.SNC_REDIS_URL;
// Every Redis key of this run starts with it, so a shared Redis is cleaned up afterwards.
const namespacePrefix = `snc-fuzz-${process.pid}-`;
if (!redisUrl && kinds.some((k) => k.kind !== 'memory')) {
  const port = await freePort();
  redisProc = await startRedis(port);
  redisUrl = `redis://127.0.0.1:${port}`;
}

console.log(`fuzz: ${total} operations per kind, ${runOps} per run, first seed ${firstSeed}, kinds ${kinds.map(describeKind).join(', ')}`);
const table = [];
try {
  for (const k of kinds) {
    const started = Date.now();
    let lastPrint = 0;
    const row = await runKind(k, {
      redisUrl,
      namespacePrefix,
      total,
      runOps,
      firstSeed,
      shrinkMs: shrinkSeconds * 1000,
      shrinkPerSignature: Number(process.env.SNC_FUZZ_SHRINK_PER || 2),
      onProgress: (p) => {
        if (Date.now() - lastPrint < 5000) return;
        lastPrint = Date.now();
        const s = (Date.now() - started) / 1000;
        console.log(`  ${describeKind(k)}: ${p.ops} ops, ${p.reads} reads compared, ${p.mismatches} mismatches, ${Math.round(p.ops / s)} ops/s`);
      },
      onFailure: (text) => console.log(`\n${text}\n`),
    });
    row.seconds = (Date.now() - started) / 1000;
    table.push(row);
    console.log(`${describeKind(k)} done: ${row.ops} ops in ${row.seconds.toFixed(0)} s (${Math.round(row.ops / row.seconds)} ops/s), ${row.mismatches} mismatches`);
  }
} finally {
  if (redisProc) redisProc.kill('SIGKILL');
  else if (redisUrl) await deleteKeys(redisUrl, `*${namespacePrefix}*`);
}

/** Deletes the keys matching `pattern` from a Redis this run did not start. */
async function deleteKeys(url, pattern) {
  const { default: Redis } = await import('ioredis');
  const redis = new Redis(url, { lazyConnect: true });
  try {
    await redis.connect();
    let cursor = '0';
    let n = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) n += await redis.del(...keys);
    } while (cursor !== '0');
    console.log(`deleted ${n} Redis keys of this run (${pattern})`);
  } finally {
    redis.disconnect();
  }
}

console.log('\n| kind | operations | reads compared | writes | cache hits / misses | mismatches (by check\\|model) | ops/s |');
console.log('|---|---|---|---|---|---|---|');
for (const r of table) {
  console.log(`| ${describeKind(r.kind)} | ${r.ops} | ${r.reads} | ${r.writes} | ${r.hits} / ${r.misses} | ${r.mismatches}${r.mismatches ? ` (${Object.entries(r.bySignature).map(([k, n]) => `${k.replace('|', ' ')}: ${n}`).join(', ')})` : ''} | ${Math.round(r.ops / r.seconds)} |`);
}
console.log('\nshrunk failures (kind, check|model read, culprit, seed):');
for (const r of table) {
  for (const s of r.signatures) console.log(`  ${describeKind(r.kind)}: ${s.signature}, ${s.culprit ?? 'not shrunk'}, seed ${s.seed}`);
}
process.exit(table.some((r) => r.mismatches > 0) ? 1 : 0);
