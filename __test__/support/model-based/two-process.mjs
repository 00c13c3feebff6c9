// The two-process run: two Node processes (worker.mjs) share one PostgreSQL schema and one Redis
// namespace, each with its own RedisCache. The parent sends each operation to one of them; after
// every operation both re-read the recent reads through their caches and compare them with the
// database. With `l1: false` a cached read must equal the database at once. With the default L1
// (kept coherent by pub/sub, a small documented window) it must converge: equal within
// `convergeMs`, polled.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import { openEnv } from './runner.mjs';
import { readId } from './queries.mjs';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'worker.mjs');
/** How many of the most recent distinct reads both processes re-check after each operation. */
const CHECK_RECENT = 6;

class Worker {
  constructor(config) {
    this.proc = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    this.waiters = [];
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.proc.on('message', (m) => this.waiters.shift()?.resolve(m));
    this.exited.then(({ code, signal }) => {
      for (const w of this.waiters.splice(0)) w.reject(new Error(`worker exited (${code ?? signal})`));
    });
    this.ready = this.call({ type: 'init', config });
  }

  call(msg) {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.proc.send(msg);
    });
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.call({ type: 'stop' }).catch(() => {});
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(t);
    }
  }
}

/**
 * Runs `ops` (each with `proc`: 0 or 1) on two processes over a freshly seeded schema.
 * @returns {{ failure, counts, lastConsistent }}
 */
export async function runTwoProcess(config, ops, { convergeMs = 3000, onProgress, deadline = Infinity } = {}) {
  // The parent only resets the tables; it caches nothing.
  const setup = await openEnv({ ...config, kind: 'memory' });
  await setup.close();
  const namespace = `${config.namespacePrefix || 'snc-fuzz-'}2p${Math.random().toString(36).slice(2, 10)}`;
  const eventual = config.kind !== 'redis-nol1';
  const workers = [0, 1].map(() => new Worker({ ...config, namespace, eventual, convergeMs }));
  const counts = { ops: 0, reads: 0, writes: 0, writeErrors: 0, converged: 0 };
  const recent = new Map();
  const cacheStats = [{}, {}];
  const withStats = (r) => {
    r.counts.hits = cacheStats.reduce((n, x) => n + (x.hits || 0), 0);
    r.counts.misses = cacheStats.reduce((n, x) => n + (x.misses || 0), 0);
    return r;
  };
  let lastConsistent = -1;
  try {
    for (const w of workers) {
      const m = await w.ready;
      if (m.type !== 'ready') throw new Error(`worker did not start: ${JSON.stringify(m)}`);
    }
    for (let i = 0; i < ops.length && Date.now() < deadline; i++) {
      const op = ops[i];
      counts.ops++;
      const proc = op.proc || 0;
      const res = await workers[proc].call({ type: 'op', op, i });
      add(counts, res.counts);
      cacheStats[proc] = res.stats || cacheStats[proc];
      if (res.failure) return withStats({ failure: { ...res.failure, index: i, where: `process ${proc}, ${res.failure.where}` }, counts, lastConsistent });
      for (const d of readsOf(op)) {
        recent.delete(readId(d));
        recent.set(readId(d), d);
      }
      const reads = [...recent.values()].slice(-CHECK_RECENT);
      const checks = await Promise.all(workers.map((w) => w.call({ type: 'check', reads, where: `after op ${i}` })));
      for (const [p, c] of checks.entries()) {
        add(counts, c.counts);
        cacheStats[p] = c.stats || cacheStats[p];
        if (c.failure) return withStats({ failure: { ...c.failure, index: i, where: `process ${p}, ${c.failure.where}` }, counts, lastConsistent });
      }
      if (op.t === 'sweep') lastConsistent = i;
      if (onProgress && i % 100 === 0) onProgress(i, counts);
    }
    return withStats({ failure: null, counts, lastConsistent });
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

function add(into, c) {
  if (!c) return;
  for (const k of Object.keys(into)) if (k !== 'ops') into[k] += c[k] || 0;
}

function readsOf(op) {
  if (op.t === 'read') return [op.d];
  if (op.t === 'tx') return op.ops.filter((o) => o.t === 'read' && o.outside).map((o) => o.d);
  return [];
}
