// The model-based consistency suite's entry point, shared by __test__/consistency.test.mjs and
// scripts/fuzz.mjs. A kind is { dialect: 'sqlite'|'postgres'|'2proc', kind: cache kind }; 2proc
// runs two processes over PostgreSQL and Redis.
import { rng } from './util.mjs';
import { openEnv, runOps, opsFor, shrink, signature, culprit, report, printEnv, preparePg, dropPg, newPgSchema, replay, CACHE_KINDS } from './runner.mjs';
import { runTwoProcess } from './two-process.mjs';

export { openEnv, runOps, opsFor, shrink, signature, culprit, report, printEnv, preparePg, dropPg, newPgSchema, replay, runTwoProcess, CACHE_KINDS };
export { DOMAIN, defineModels, seedDatabase } from './schema.mjs';
export { cachedRead, dbRead, readCode } from './queries.mjs';
export { runWrite, opLines } from './ops.mjs';
export { diff, Session } from './runner.mjs';

/** Every kind: each cache kind on each dialect, and the two-process runs over Redis. */
export function allKinds() {
  const out = [];
  for (const dialect of ['sqlite', 'postgres']) for (const kind of CACHE_KINDS) out.push({ dialect, kind });
  for (const kind of ['redis-nol1', 'redis']) out.push({ dialect: '2proc', kind });
  return out;
}

export function describeKind(k) {
  return `${k.dialect}/${k.kind}`;
}

/** `sqlite/memory,2proc/redis` → kinds; throws on an unknown one. */
export function parseKinds(text) {
  const known = new Map(allKinds().map((k) => [describeKind(k), k]));
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const k = known.get(s);
      if (!k) throw new TypeError(`SNC_FUZZ_KINDS: unknown kind ${JSON.stringify(s)}; known: ${[...known.keys()].join(', ')}`);
      return k;
    });
}

/** Two-process operations: no batches or single-flight probes; each op names its process. */
function twoProcessOps(config, seed, n) {
  const ops = opsFor({ ...config, dialect: 'postgres', concurrency: false }, seed, n);
  const r = rng(seed ^ 0x5bd1e995);
  return ops.map((op) => ({ ...op, proc: r.chance(0.5) ? 1 : 0 }));
}

/**
 * Runs one kind: seeded runs of `runOps` operations from `firstSeed` on, until `total` operations
 * ran or `deadline` passed. Each failure ends its run; the first failure of each signature is
 * shrunk (for up to `shrinkMs`) and reported through `onFailure(text, failure)`.
 * @returns {{ kind, ops, reads, writes, mismatches, runs, signatures: { signature, seed, count, text }[] }}
 */
export async function runKind(k, { redisUrl, namespacePrefix, total, runOps: perRun, firstSeed, shrinkMs = 0, shrinkPerSignature = 2, deadline = Infinity, onProgress, onFailure = () => {}, convergeMs = 3000 }) {
  const two = k.dialect === '2proc';
  const dialect = two ? 'postgres' : k.dialect;
  const schema = dialect === 'postgres' ? newPgSchema() : undefined;
  if (schema) await preparePg(schema);
  const config = { dialect, kind: k.kind, redisUrl, namespacePrefix, schema, label: describeKind(k) };
  const row = { kind: k, ops: 0, reads: 0, writes: 0, hits: 0, misses: 0, converged: 0, mismatches: 0, runs: 0, signatures: [] };
  const bySig = new Map();
  const open = () => openEnv(config);
  const printer = printEnv(dialect, schema);
  try {
    for (let seed = firstSeed; row.ops < total && Date.now() < deadline; seed++) {
      const n = Math.min(perRun, total - row.ops);
      const ops = two ? twoProcessOps(config, seed, n) : opsFor(config, seed, n);
      const progress = (i, c) => onProgress && onProgress({ ops: row.ops + c.ops, reads: row.reads + c.reads, mismatches: row.mismatches });
      const res = two ? await runTwoProcess(config, ops, { convergeMs, onProgress: progress, deadline }) : await replay(open, ops, { onProgress: progress, deadline });
      row.runs++;
      row.ops += res.counts.ops;
      row.reads += res.counts.reads;
      row.writes += res.counts.writes;
      row.hits += res.counts.hits || 0;
      row.converged += res.counts.converged || 0;
      row.misses += res.counts.misses || 0;
      if (res.failure === null) continue;
      row.mismatches++;
      const sig = signature(res.failure);
      const seen = bySig.get(sig) || { count: 0, shrunkCount: 0 };
      bySig.set(sig, seen);
      seen.count++;
      if (seen.shrunkCount >= shrinkPerSignature) {
        onFailure(`${describeKind(k)}: seed ${seed} fails again as ${sig} (${res.failure.kind} at ${res.failure.where}; ${res.failure.code || res.failure.error})`, res.failure);
        continue;
      }
      seen.shrunkCount++;
      let shrunk;
      if (shrinkMs > 0) {
        const replayOne = two ? (cand) => runTwoProcess(config, cand, { convergeMs }) : undefined;
        shrunk = await shrink(open, ops, res.failure, { deadline: Math.min(deadline + shrinkMs, Date.now() + shrinkMs), run: replayOne, lastConsistent: res.lastConsistent });
      }
      const text = report(printer, { seed, config: { dialect: k.dialect, kind: k.kind, n }, failure: res.failure, ops, lastConsistent: res.lastConsistent, shrunk });
      const entry = { signature: sig, culprit: shrunk ? culprit(shrunk.ops) : undefined, seed, text, failure: res.failure, shrunk };
      row.signatures.push(entry);
      onFailure(text, res.failure);
    }
    row.bySignature = Object.fromEntries([...bySig].map(([sig, v]) => [sig, v.count]));
  } finally {
    await printer.close();
    if (schema) await dropPg(schema);
  }
  return row;
}
