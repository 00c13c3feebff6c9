// Running operations against a real database through the cache, checking every cached read
// against the same read uncached, and shrinking a failing sequence.
//
// The checks:
// - sequential read: the cached read and the uncached read run one after the other with nothing
//   in between, so they must be equal;
// - concurrent batch: each cached read is paired with an uncached read issued in the same tick;
//   when no write of the batch overlapped the pair (a write that resolved before the pair started
//   must be visible), they must be equal. After the batch, the batch's reads are re-read
//   sequentially (anything stale left in the cache shows there);
// - single-flight: a slow miss A is held after its database read, a write commits, then read B
//   starts: B must equal the database;
// - sweep: every read seen so far (the most recent SWEEP_MAX), cached vs uncached. A sweep that
//   passes is a fully consistent point; a failure report shows the operations since the last one.
// In `eventual` mode (another process's L1 with pub/sub) a mismatch is retried until the cached
// read equals the database or `convergeMs` passes.
import { Sequelize } from 'sequelize';
import { MemoryCache, RedisCache, modelCacheFactory, withCache } from '../../../js/index.mjs';
import { defineModels, seedDatabase } from './schema.mjs';
import { QUERIES, cachedRead, dbRead, readId, readCode, orderOf } from './queries.mjs';
import { generate, runWrite, runCacheOp, opLines, Rollback } from './ops.mjs';
import { rng, toPlain, canonical, settle } from './util.mjs';

export const POSTGRES_URL = process.env.SNC_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';
export const CACHE_KINDS = ['memory', 'redis', 'redis-nol1'];
export const DIALECT_NAMES = ['sqlite', 'postgres'];
const SWEEP_MAX = 80;

/** Errors a write may meet in a healthy app (constraints, deadlocks); anything else is a finding. */
const EXPECTED_ERRORS = /^(Sequelize\w*Error|Rollback|AggregateError)\b/;

/** A fresh PostgreSQL schema name that says when it was made (stale ones are swept by age). */
export function newPgSchema() {
  return `snc_fuzz_${Math.floor(Date.now() / 1000)}_${Math.random().toString(36).slice(2, 8)}`;
}

function newSequelize(dialect) {
  if (dialect === 'sqlite') return new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  return new Sequelize(POSTGRES_URL, { dialect: 'postgres', logging: false, pool: { max: 8, acquire: 20000 } });
}

/** Creates the schema (PostgreSQL) and drops schemas of this suite older than two hours. */
export async function preparePg(schema) {
  const s = newSequelize('postgres');
  try {
    const rows = await s.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'snc\\_fuzz\\_%'", { type: 'SELECT' });
    const cutoff = Date.now() / 1000 - 7200;
    for (const { nspname } of rows) {
      const epoch = Number(nspname.split('_')[2]);
      if (Number.isFinite(epoch) && epoch < cutoff) await s.query(`DROP SCHEMA IF EXISTS "${nspname}" CASCADE`);
    }
    await s.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  } finally {
    await s.close();
  }
}

export async function dropPg(schema) {
  const s = newSequelize('postgres');
  try {
    await s.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await s.close();
  }
}

/**
 * A database and a cache over it, with both API faces.
 * @param {object} c
 * @param {'sqlite'|'postgres'} c.dialect
 * @param {'memory'|'redis'|'redis-nol1'} c.kind
 * @param {string} [c.schema]      PostgreSQL schema (made by preparePg)
 * @param {string} [c.redisUrl]
 * @param {string} [c.namespace]   Redis namespace (default: a fresh one)
 * @param {boolean} [c.fresh=true] recreate the tables and seed them
 */
export async function openEnv(c) {
  const sequelize = newSequelize(c.dialect);
  const models = defineModels(sequelize, { schema: c.dialect === 'postgres' ? c.schema : undefined });
  if (c.fresh !== false) {
    await sequelize.sync({ force: true });
    await seedDatabase(models);
  }
  const warnings = [];
  const note = (level) => (obj, msg) => {
    if (warnings.length < 50) warnings.push(`${level} ${msg} ${JSON.stringify(obj)}`);
  };
  const logger = { debug() {}, info() {}, warn: note('warn'), error: note('error') };
  let client;
  if (c.kind === 'memory') client = new MemoryCache({ defaultTtlSeconds: 3600 });
  else {
    const namespace = c.namespace || `${c.namespacePrefix || 'snc-fuzz-'}${Math.random().toString(36).slice(2, 10)}`;
    client = new RedisCache({ url: c.redisUrl, namespace, defaultTtlSeconds: 3600, ...(c.kind === 'redis-nol1' ? { l1: false } : {}) });
  }
  const modelCache = await modelCacheFactory(client, { logger });
  const wc = withCache(client, { logger });
  for (const M of Object.values(models)) wc.withCache(M);

  const env = {
    c,
    sequelize,
    models,
    client,
    modelCache,
    warnings,
    seen: new Map(),
    lastGood: new Map(),
    gate: null,
    slowMarker: function sncSlowMarker() {},
    // Sequelize's bulkCreate with individualHooks saves each row in parallel (`instance.save`)
    // and rejects with the first failure while the other rows are still being saved: waiting
    // for a pooled connection, inserting, or running their after-hooks (the cache's
    // invalidation among them). Such a write logs through a marker of its own, which holds the
    // set its row saves' promises go into, so that a failed one is waited out before anything
    // compares. Only its own saves: one of another lane may wait for a lock this lane's
    // transaction holds.
    bulkMarker(saves = new Set()) {
      const marker = function sncBulkMarker() {};
      marker.rowSaves = saves;
      return marker;
    },
  };
  for (const M of Object.values(models)) {
    const save = M.prototype.save;
    // Shadows Model.prototype.save on this model only; the call itself is unchanged.
    M.prototype.save = function trackedSave(options) {
      const p = save.call(this, options);
      const marker = options != null ? options.logging : undefined;
      if (typeof marker === 'function' && marker.rowSaves instanceof Set) marker.rowSaves.add(p);
      return p;
    };
  }
  // Holds back the first SELECT run with the slow marker (a real database read, already done)
  // until the single-flight check releases it.
  sequelize.addHook('afterQuery', 'snc-fuzz-slow', async (options) => {
    const g = env.gate;
    if (g !== null && options.logging === env.slowMarker && !g.taken) {
      g.taken = true;
      g.entered();
      await g.released;
    }
  });
  env.close = async () => {
    await client.close().catch(() => {});
    await sequelize.close().catch(() => {});
  };
  return env;
}

/** The difference between a cached and an uncached outcome, or null when they agree. */
export function diff(d, c, u) {
  const ord = orderOf(d);
  const text = (o) => (o.error !== undefined ? `error ${o.error}` : canonical(toPlain(o.ok), ord));
  const cs = text(c);
  const us = text(u);
  if (cs === us) return null;
  return { cached: cs, db: us, detail: explain(d, c, u) };
}

/** Where the cached answer and the database's differ: `path: cached → database` lines. */
function explain(d, c, u) {
  if (c.error !== undefined || u.error !== undefined) return undefined;
  const out = [];
  const fmt = (v) => (v === undefined ? 'absent' : canonical(v).slice(0, 200));
  const idOf = (x) => (x && typeof x === 'object' && !Array.isArray(x) ? (x.id !== undefined ? `id=${x.id}` : x.postId !== undefined && x.tagId !== undefined ? `postId=${x.postId},tagId=${x.tagId}` : undefined) : undefined);
  const walk = (a, b, path) => {
    if (out.length >= 12) return;
    if (canonical(a) === canonical(b)) return;
    if (Array.isArray(a) && Array.isArray(b)) {
      const ids = [...a, ...b].map(idOf);
      if (ids.every((x) => x !== undefined)) {
        const ma = new Map(a.map((x) => [idOf(x), x]));
        const mb = new Map(b.map((x) => [idOf(x), x]));
        for (const k of new Set([...ma.keys(), ...mb.keys()])) walk(ma.get(k), mb.get(k), `${path}[${k}]`);
        if (out.length === 0) out.push(`${path}: same rows in another order`);
        return;
      }
      if (a.length === b.length) {
        for (let i = 0; i < a.length; i++) walk(a[i], b[i], `${path}[${i}]`);
        return;
      }
    } else if (a && b && typeof a === 'object' && typeof b === 'object' && !(a instanceof Date) && !(b instanceof Date) && !Array.isArray(a) && !Array.isArray(b)) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[k], b[k], `${path}.${k}`);
      return;
    }
    out.push(`${path}: cached ${fmt(a)} → database ${fmt(b)}`);
  };
  walk(toPlain(c.ok), toPlain(u.ok), 'result');
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One process's checking state over an environment: counts, the first failure, reads seen. */
export class Session {
  constructor(env, { eventual = false, convergeMs = 3000 } = {}) {
    this.env = env;
    this.eventual = eventual;
    this.convergeMs = convergeMs;
    this.counts = { ops: 0, reads: 0, writes: 0, writeErrors: 0, converged: 0 };
    this.failure = null;
  }

  note(d) {
    const id = readId(d);
    this.env.seen.delete(id);
    this.env.seen.set(id, d);
  }

  fail(f) {
    if (this.failure === null) this.failure = { ...f, warnings: this.env.warnings.slice() };
  }

  /**
   * A cached read vs the same read uncached (with `extra` options on both). Inside a concurrent
   * batch (`ctx.batch`) the pair is only recorded, and judged when the batch has settled.
   */
  async compare(d, extra, where, kind = 'stale', ctx = undefined) {
    this.counts.reads++;
    if (extra === undefined) this.note(d);
    if (ctx !== undefined) {
      const start = performance.now();
      // With a transaction the two reads share one connection: one after the other.
      const [c, u] =
        extra === undefined
          ? await Promise.all([settle(() => cachedRead(this.env, d)), settle(() => dbRead(this.env, d))])
          : [await settle(() => cachedRead(this.env, d, extra)), await settle(() => dbRead(this.env, d, extra))];
      ctx.batch.reads.push({ d, extra, c, u, start, end: performance.now(), at: where, tx: ctx.tx });
      return true;
    }
    const c = await settle(() => cachedRead(this.env, d, extra));
    const u = await settle(() => dbRead(this.env, d, extra));
    let delta = diff(d, c, u);
    if (delta !== null && this.eventual) {
      const until = Date.now() + this.convergeMs;
      while (delta !== null && Date.now() < until) {
        await sleep(50);
        delta = diff(d, await settle(() => cachedRead(this.env, d, extra)), await settle(() => dbRead(this.env, d, extra)));
      }
      if (delta !== null) kind = 'no-convergence';
      else this.counts.converged++;
    }
    if (delta !== null) this.fail({ kind, where, read: d, code: readCode(this.env.models, d, extra), ...delta });
    else if (extra === undefined) this.env.lastGood.set(readId(d), this.index);
    return delta === null;
  }

  async write(w, t, where = 'write') {
    this.counts.writes++;
    const saves = new Set();
    const r = await settle(() => runWrite(this.env, w, t, saves));
    if (r.error !== undefined) {
      // The rows a failed bulkCreate (individualHooks) still saves land, hooks and all, before
      // this write counts as done.
      await Promise.allSettled(saves);
      this.counts.writeErrors++;
      if (!EXPECTED_ERRORS.test(r.error)) this.fail({ kind: 'exception', where, error: r.error, stack: r.stack, write: w });
    }
    return r;
  }

  async sweep(where, reads = [...this.env.seen.values()].slice(-SWEEP_MAX)) {
    for (const d of reads) {
      if (!(await this.compare(d, undefined, where, 'stale'))) return false;
    }
    return true;
  }

  /** A managed transaction; `ctx` (inside a batch) says which batch and which transaction id. */
  async tx(op, where, ctx = undefined) {
    const env = this.env;
    const r = await settle(() =>
      env.sequelize.transaction(async (t) => {
        for (const [k, sub] of op.ops.entries()) {
          const at = `${where} > tx item ${k}`;
          if (sub.t === 'read') {
            if (sub.outside) await this.compare(sub.d, undefined, `${at} (outside the transaction)`, 'stale', ctx);
            else await this.compare(sub.d, { transaction: t }, `${at} (with the transaction)`, 'stale', ctx);
          } else if (sub.t === 'write') {
            const res = await this.write(sub.w, t, at);
            if (res.error !== undefined) throw new Rollback();
          } else if (sub.t === 'savepoint') {
            await settle(() =>
              env.sequelize.transaction({ transaction: t }, async (t2) => {
                for (const s of sub.ops) {
                  const res = await this.write(s.w, t2, `${at} (savepoint)`);
                  if (res.error !== undefined) throw new Rollback();
                }
                if (sub.rollback) throw new Rollback();
              }),
            );
          }
        }
        if (op.rollback) throw new Rollback();
      }),
    );
    if (r.error !== undefined && !EXPECTED_ERRORS.test(r.error)) this.fail({ kind: 'exception', where, error: r.error });
    return r;
  }

  async batch(op, where) {
    const writes = [];
    const state = { reads: [] };
    const now = () => performance.now();
    let txSeq = 0;
    await Promise.all(
      op.lanes.map(async (lane, li) => {
        for (const [j, o] of lane.entries()) {
          const at = `${where} > lane ${li} op ${j}`;
          const start = now();
          if (o.t === 'read') {
            await this.compare(o.d, undefined, at, 'stale', { batch: state });
          } else if (o.t === 'tx') {
            const id = ++txSeq;
            await this.tx(o, at, { batch: state, tx: id });
            writes.push({ start, end: now(), at, tx: id });
          } else {
            await this.write(o.w, undefined, at);
            writes.push({ start, end: now(), at });
          }
        }
      }),
    );
    const { reads } = state;
    for (const rd of reads) {
      const delta = diff(rd.d, rd.c, rd.u);
      if (delta === null) continue;
      // A read inside a transaction is not judged against that transaction itself.
      const overlapping = writes.filter((w) => (w.tx === undefined || w.tx !== rd.tx) && w.start < rd.end && w.end > rd.start);
      if (overlapping.length === 0) {
        const before = writes.filter((w) => w.end <= rd.start).map((w) => w.at);
        this.fail({
          kind: 'stale-in-batch',
          where: rd.at,
          read: rd.d,
          code: readCode(this.env.models, rd.d, rd.extra),
          note: `no write overlapped this read; writes that had resolved before it started: ${before.join(', ') || 'none'}`,
          ...delta,
        });
        return;
      }
    }
    // Anything stale left behind by the concurrent writes shows up on a sequential re-read.
    const distinct = new Map(reads.filter((rd) => rd.extra === undefined).map((rd) => [readId(rd.d), rd.d]));
    await this.sweep(`${where} (after the batch)`, [...distinct.values()]);
  }

  async singleFlight(op, where) {
    const env = this.env;
    const gate = { taken: false };
    gate.enteredP = new Promise((r) => (gate.entered = r));
    gate.released = new Promise((r) => (gate.release = r));
    env.gate = gate;
    const mark = { logging: env.slowMarker };
    try {
      const a = settle(() => cachedRead(env, op.d, mark));
      const first = await Promise.race([gate.enteredP.then(() => 'held'), a.then(() => 'done')]);
      await this.write(op.w, undefined, `${where} (the write)`);
      this.counts.reads++;
      const b = settle(() => cachedRead(env, op.d, mark));
      // A is released once B has answered on its own, or after B had ample time to reach the
      // database (a B that waits for A cannot answer before A is released).
      await Promise.race([b, sleep(150)]);
      gate.release();
      await a;
      const got = await b;
      const db = await settle(() => dbRead(env, op.d));
      const delta = diff(op.d, got, db);
      if (delta !== null) {
        this.fail({
          kind: 'single-flight',
          where,
          read: op.d,
          code: readCode(env.models, op.d),
          note: `read B started after the write resolved${first === 'held' ? ', while miss A (same key) was still in flight' : ''}`,
          ...delta,
        });
      }
    } finally {
      gate.release();
      env.gate = null;
    }
  }

  /**
   * Late fill: miss A is held after its database read (the row before the write), write w
   * commits, A goes on and ends; A must not have stored what it read. A sequential read shows it.
   */
  async lateFill(op, where) {
    const env = this.env;
    const gate = { taken: false };
    gate.enteredP = new Promise((r) => (gate.entered = r));
    gate.released = new Promise((r) => (gate.release = r));
    env.gate = gate;
    try {
      const a = settle(() => cachedRead(env, op.d, { logging: env.slowMarker }));
      await Promise.race([gate.enteredP, a]);
      await this.write(op.w, undefined, `${where} (the write)`);
      gate.release();
      await a;
    } finally {
      gate.release();
      env.gate = null;
    }
    return this.compare(op.d, undefined, `${where} (after the held miss ended)`);
  }

  async op(op, i) {
    this.index = i;
    this.counts.ops++;
    const where = `op ${i}`;
    switch (op.t) {
      case 'read':
        return this.compare(op.d, undefined, where);
      case 'write':
        return this.write(op.w, undefined, where);
      case 'tx':
        return this.tx(op, where);
      case 'batch':
        return this.batch(op, where);
      case 'sf':
        return this.singleFlight(op, where);
      case 'lf':
        return this.lateFill(op, where);
      case 'cacheop': {
        const r = await settle(() => runCacheOp(this.env, op));
        if (r.error !== undefined) this.fail({ kind: 'exception', where, error: r.error });
        return r;
      }
      case 'sweep':
        return this.sweep(where);
      default:
        throw new Error(`unknown op ${op.t}`);
    }
  }
}

/**
 * Runs `ops` on `env`; stops at the first failure.
 * @returns {{ failure, counts, lastConsistent }} lastConsistent: index of the last sweep that
 *   passed (-1: the start)
 */
export async function runOps(env, ops, { eventual, convergeMs, onProgress, deadline = Infinity } = {}) {
  const run = new Session(env, { eventual, convergeMs });
  let lastConsistent = -1;
  for (let i = 0; i < ops.length && Date.now() < deadline; i++) {
    await run.op(ops[i], i);
    if (run.failure !== null) {
      Object.assign(run.counts, hitCounts(env));
      const lastGood = run.failure.read ? env.lastGood.get(readId(run.failure.read)) : undefined;
      return { failure: { ...run.failure, index: i, lastGood }, counts: run.counts, lastConsistent };
    }
    if (ops[i].t === 'sweep') lastConsistent = i;
    if (onProgress && i % 100 === 0) onProgress(i, run.counts);
  }
  Object.assign(run.counts, hitCounts(env));
  return { failure: null, counts: run.counts, lastConsistent };
}

function hitCounts(env) {
  try {
    const st = env.client.stats();
    return { hits: st.hits, misses: st.misses };
  } catch {
    return {};
  }
}

/**
 * What makes two failures "the same bug" while shrinking: the check that failed and the model
 * read (the error's class for exceptions). Coarse on purpose, so shrinking has room.
 */
export function signature(f) {
  if (f.kind === 'single-flight') return f.kind;
  if (f.kind === 'exception') return `exception|${String(f.error).split(':')[0]}`;
  const kind = f.kind === 'stale-in-batch' ? f.kind : 'stale';
  return `${kind}|${f.read ? QUERIES[f.read.q].model : '?'}`;
}

/** The last writing operation of a (shrunk) sequence, as a short name: what made the read stale. */
export function culprit(ops) {
  const name = (op) => {
    if (op.t === 'write') return `${op.w.kind}${op.w.statement && op.w.kind !== `raw.${op.w.statement}` ? `(${op.w.statement})` : ''} on ${op.w.model}`;
    if (op.t === 'tx') return `transaction[${op.ops.map(name).filter(Boolean).join(', ')}]${op.rollback ? ' rolled back' : ''}`;
    if (op.t === 'savepoint') return `savepoint[${op.ops.map(name).join(', ')}]`;
    if (op.t === 'batch') return `batch[${op.lanes.flat().map(name).filter(Boolean).join(', ')}]`;
    if (op.t === 'sf') return `single-flight around ${name({ t: 'write', w: op.w })}`;
    if (op.t === 'lf') return `late fill around ${name({ t: 'write', w: op.w })}`;
    if (op.t === 'cacheop') return `cache ${op.kind}`;
    return null;
  };
  for (let i = ops.length - 1; i >= 0; i--) {
    const n = name(ops[i]);
    if (n) return n;
  }
  return 'no write';
}

/** The generation context of a configuration. */
export function contextOf(c, sweepEvery = 100) {
  return {
    dialect: c.dialect,
    concurrency: c.concurrency !== false,
    sweepEvery,
    skip: new Set((c.skip || process.env.SNC_FUZZ_SKIP || '').split(',').filter(Boolean)),
  };
}

/** The operations of seed `seed`: deterministic for one configuration. */
export function opsFor(c, seed, n) {
  return generate(n, contextOf(c), rng(seed));
}

/**
 * Runs a list of operations on a fresh environment; returns its result.
 * `open` makes the environment (and is closed after).
 */
export async function replay(open, ops, opts) {
  const env = await open();
  try {
    return await runOps(env, ops, opts);
  } finally {
    await env.close();
  }
}

/** `ops` without sweeps and without reads of queries other than `id` (at any depth). */
function stripReads(ops, id) {
  const keep = (op) => op.t !== 'sweep' && !(op.t === 'read' && readId(op.d) !== id);
  const walk = (op) => {
    if (op.t === 'tx') return { ...op, ops: op.ops.filter(keep).map(walk) };
    if (op.t === 'batch') {
      const lanes = op.lanes.map((lane) => lane.filter(keep).map(walk)).filter((lane) => lane.length > 0);
      return lanes.length === 0 ? null : { ...op, lanes };
    }
    return op;
  };
  return ops.filter(keep).map(walk).filter((op) => op !== null);
}

/** Every operation of a list except position `i`'s inner item `k` (tx/savepoint/batch lanes). */
function innerVariants(op) {
  const out = [];
  if (op.t === 'tx') {
    for (let k = 0; k < op.ops.length; k++) out.push({ ...op, ops: op.ops.filter((_, j) => j !== k) });
    if (op.rollback) out.push({ ...op, rollback: false });
  } else if (op.t === 'batch') {
    // The lanes one after another: simpler when the failure does not need the concurrency.
    out.push({ t: 'flat', ops: op.lanes.flat() });
    for (let l = 0; l < op.lanes.length; l++) {
      if (op.lanes.length > 1) out.push({ ...op, lanes: op.lanes.filter((_, j) => j !== l) });
      for (let k = 0; k < op.lanes[l].length; k++) {
        if (op.lanes[l].length > 1) out.push({ ...op, lanes: op.lanes.map((lane, j) => (j === l ? lane.filter((_, x) => x !== k) : lane)) });
      }
    }
  }
  return out;
}

/**
 * Shrinks a failing sequence: the prefix up to the failure, then delta debugging (ddmin) over the
 * top-level operations, then removing items inside transactions and batches. A candidate counts
 * when it fails with the same signature. Stops at `deadline` (ms since the epoch).
 * @returns {{ ops, failure, tries }}
 */
export async function shrink(open, ops, failure, options = {}) {
  const { deadline, eventual, convergeMs, run } = options;
  const sig = signature(failure);
  let best = ops.slice(0, failure.index + 1);
  let bestFailure = failure;
  let tries = 0;
  const lastConsistent = options.lastConsistent ?? -1;
  const test = async (cand) => {
    if (Date.now() > deadline) return false;
    tries++;
    const t0 = Date.now();
    const r = run ? await run(cand) : await replay(open, cand, { eventual, convergeMs });
    if (process.env.SNC_FUZZ_DEBUG_SHRINK) console.log(`shrink: ${cand.length} ops, ${Date.now() - t0} ms, ${r.failure ? signature(r.failure) : 'passes'}`);
    if (r.failure !== null && signature(r.failure) === sig) {
      best = cand.slice(0, r.failure.index + 1);
      bestFailure = r.failure;
      return true;
    }
    return false;
  };
  const plainStale = failure.read && failure.kind !== 'stale-in-batch' && failure.kind !== 'single-flight';
  /** `ops` ending with a read of the failing query (it replaces a sweep that saw it). */
  const endingWithRead = (ops) => {
    const id = readId(failure.read);
    const last = ops[ops.length - 1];
    return last && last.t === 'read' && readId(last.d) === id ? ops : [...ops, { t: 'read', d: failure.read }];
  };
  // The stale query last agreed with the database at op `lastGood`; what made it stale lies
  // between there and the failure. Reads change only what is cached, so: every write up to
  // there, a read of the query, the writes after it, and the read that must see them.
  if (plainStale && failure.lastGood !== undefined && failure.lastGood < failure.index) {
    const q = { t: 'read', d: failure.read };
    const id = readId(failure.read);
    await test([...stripReads(best.slice(0, failure.lastGood), null), q, ...stripReads(best.slice(failure.lastGood + 1, failure.index), id), q]);
  }
  // Sweeps are the slowest operations: replays go much faster without them.
  if (plainStale && best.some((op) => op.t === 'sweep')) await test(endingWithRead(best.filter((op) => op.t !== 'sweep')));
  // Most failures need only the operations since the last consistent point (from the seed data).
  if (lastConsistent >= 0 && best.length > lastConsistent + 1) await test(best.slice(lastConsistent + 1));
  // Reads of other queries and sweeps change only what is cached: drop them all at once, and
  // read the failing query at the end instead of a sweep.
  // The latest start (bisected) from which the failure still happens on the seed data. `test`
  // keeps the last candidate that failed, which is the one with the latest start.
  {
    const base = best;
    let lo = 0;
    let hi = base.length - 1;
    while (lo < hi && Date.now() < deadline) {
      const mid = Math.ceil((lo + hi) / 2);
      if (await test(base.slice(mid))) lo = mid;
      else hi = mid - 1;
    }
  }
  if (plainStale) {
    const kept = endingWithRead(stripReads(best, readId(failure.read)));
    if (kept.length < best.length) await test(kept);
  }
  let n = 2;
  while (best.length >= 2 && Date.now() < deadline) {
    const size = Math.ceil(best.length / n);
    let reduced = false;
    for (let s = 0; s < best.length; s += size) {
      const cand = [...best.slice(0, s), ...best.slice(s + size)];
      if (cand.length > 0 && (await test(cand))) {
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= best.length) break;
      n = Math.min(n * 2, best.length);
    }
  }
  // Inside transactions and batches.
  for (let changed = true; changed && Date.now() < deadline; ) {
    changed = false;
    for (let i = 0; i < best.length && !changed; i++) {
      for (const v of innerVariants(best[i])) {
        const replacement = v.t === 'flat' ? v.ops : [v];
        if (await test([...best.slice(0, i), ...replacement, ...best.slice(i + 1)])) {
          changed = true;
          break;
        }
      }
    }
  }
  return { ops: best, failure: bestFailure, tries };
}

/** A failure as text: what was stale, and the operations that lead to it. */
export function report(env, { seed, config, failure, ops, lastConsistent, shrunk }) {
  const lines = [];
  const name = `${config.dialect}/${config.kind}`;
  const skip = process.env.SNC_FUZZ_SKIP ? ` SNC_FUZZ_SKIP=${process.env.SNC_FUZZ_SKIP}` : '';
  const length = config.n !== undefined ? ` SNC_FUZZ_OPS=${config.n} SNC_FUZZ_RUN_OPS=${config.n}` : '';
  lines.push(`consistency failure on ${name}, seed ${seed} (replay: SNC_FUZZ_SEED=${seed} SNC_FUZZ_KINDS=${name}${length}${skip} npm run fuzz)`);
  lines.push(`  kind: ${failure.kind} at ${failure.where}`);
  if (failure.code) lines.push(`  read: ${failure.code}`);
  if (failure.note) lines.push(`  note: ${failure.note}`);
  if (failure.error) lines.push(`  error: ${failure.error}`);
  if (failure.stack) lines.push(`  stack: ${failure.stack.split('\n').slice(1, 6).join(' | ')}`);
  if (failure.detail !== undefined) lines.push('  difference (cached → database):', ...failure.detail.map((x) => `    ${x}`));
  else if (failure.cached !== undefined) lines.push(`  cached: ${failure.cached.slice(0, 1500)}`, `  db:     ${failure.db.slice(0, 1500)}`);
  if (failure.warnings && failure.warnings.length) lines.push(`  cache warnings: ${failure.warnings.slice(0, 5).join(' | ')}`);
  if (ops && lastConsistent !== undefined) {
    lines.push(`  operations since the last fully consistent point (op ${lastConsistent}):`);
    for (let i = lastConsistent + 1; i <= failure.index && i < ops.length; i++) lines.push(...opLines(env, ops[i], `    ${String(i).padStart(4)}: `));
  }
  if (shrunk) {
    lines.push(`  culprit (last write of the reproduction): ${culprit(shrunk.ops)}`);
    lines.push(`  shortest reproduction found (${shrunk.ops.length} ops from the seed data, ${shrunk.tries} replays; fails as: ${shrunk.failure.kind} at ${shrunk.failure.where}):`);
    for (const [i, o] of shrunk.ops.entries()) lines.push(...opLines(env, o, `    ${String(i).padStart(4)}: `));
    if (shrunk.failure.code) lines.push(`  stale read there: ${shrunk.failure.code}`);
    if (shrunk.failure.detail !== undefined) lines.push('  difference there:', ...shrunk.failure.detail.map((x) => `    ${x}`));
    lines.push(`  shrunk ops as JSON: ${JSON.stringify(shrunk.ops)}`);
  }
  return lines.join('\n');
}

/** A model-only environment for printing (no database, no cache). */
export function printEnv(dialect, schema) {
  const sequelize = newSequelize(dialect);
  const models = defineModels(sequelize, { schema: dialect === 'postgres' ? schema : undefined });
  return { sequelize, models, close: () => sequelize.close() };
}

