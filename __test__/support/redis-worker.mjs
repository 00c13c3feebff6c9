// One process of __test__/redis-processes.test.mjs or redis-outage.test.mjs, started with
// startWorker (child_process.fork, IPC, advanced serialization). `node redis-worker.mjs
// <reader|writer|peer> <json config>`; config is `{ url, namespace, storage, versions?,
// intervalMs?, commandTimeoutMs?, connectTimeoutMs? }`.
//
// Every timestamp is CLOCK_MONOTONIC (process.hrtime), in ms. On Linux that clock is system-wide,
// so the writer's and the readers' times compare directly.
//
// reader: reads wrap(User).findByPk(1) until its L1 holds the entry, sends { type: 'warm' }, then
//         reads in a tight loop (each read awaited), recording (start, end, version) per read,
//         until told { type: 'stop' }; answers { type: 'result', starts, ends, versions, stats,
//         dbReads, reads } and exits.
// writer: sets up, connects its cache, sends { type: 'ready' }; on { type: 'go' } runs
//         User.update({ version: v }, { where: { id: 1 } }) for v = 1..versions every intervalMs,
//         recording when each update's promise resolved (committed and invalidated), and answers
//         { type: 'done', writes: [{ v, start, t }] }.
// peer:   another app server: sends { type: 'ready' }; answers each { type: 'read' } with
//         { type: 'row', version, dbReads } (wrap(User).findByPk(1), with the default L1, and the
//         database statements it took); on { type: 'close' } closes its client and exits.
import { fork } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import { Sequelize, DataTypes } from 'sequelize';
import { RedisCache, modelCacheFactory } from '../../js/index.mjs';

export const now = () => Number(process.hrtime.bigint()) / 1e6;

/** The shared schema over one SQLite file. `onSql` sees every statement. */
export async function openDb(storage, onSql = () => {}) {
  const sequelize = new Sequelize({ dialect: 'sqlite', storage, logging: onSql });
  const User = sequelize.define('User', { version: { type: DataTypes.INTEGER, allowNull: false } }, { timestamps: false });
  await sequelize.query('PRAGMA busy_timeout = 5000');
  return { sequelize, User };
}

/** Creates the database file: WAL (persistent in the file), the table, row 1 at version 0. */
export async function createDb(storage) {
  const { sequelize, User } = await openDb(storage);
  await sequelize.query('PRAGMA journal_mode = WAL');
  await sequelize.sync({ force: true });
  await User.create({ id: 1, version: 0 });
  await sequelize.close();
}

function send(msg) {
  return new Promise((resolve, reject) => process.send(msg, (err) => (err ? reject(err) : resolve())));
}

/** Warnings from the cache go to stderr, which the test shows when it fails. */
const logger = {
  debug() {},
  info() {},
  warn: (obj, msg) => process.stderr.write(`[${process.argv[2]} ${process.pid}] warn ${msg} ${JSON.stringify(obj)}\n`),
  error: (obj, msg) => process.stderr.write(`[${process.argv[2]} ${process.pid}] error ${msg} ${JSON.stringify(obj)}\n`),
};

let stopRequested = false;
let goRequested;
const go = new Promise((r) => (goRequested = r));
/** Messages a peer has not handled yet, and the handler waiting for the next one. */
const inbox = [];
let inboxWaiter;
const nextMessage = () => (inbox.length > 0 ? Promise.resolve(inbox.shift()) : new Promise((r) => (inboxWaiter = r)));

async function reader({ url, namespace, storage }) {
  let dbReads = 0;
  const { sequelize, User } = await openDb(storage, (sql) => {
    if (/\bSELECT\b/i.test(sql)) dbReads++;
  });
  const client = new RedisCache({ url, namespace });
  const cache = await modelCacheFactory(client, logger);
  const read = () => cache.wrap(User).findByPk(1);

  // Warm: the L1 stores nothing until its subscription is live, so read until it holds the row.
  const warmBy = now() + 10_000;
  for (;;) {
    await read();
    if (client.stats().entries > 0) break;
    if (now() > warmBy) throw new Error(`L1 not warm after 10 s: ${JSON.stringify(client.stats())}`);
    await sleep(10);
  }
  const warmStats = client.stats();
  const warmDbReads = dbReads;
  await send({ type: 'warm', stats: { hits: warmStats.hits, misses: warmStats.misses, entries: warmStats.entries } });

  const starts = [];
  const ends = [];
  const versions = [];
  let lastYield = now();
  while (!stopRequested) {
    const start = now();
    const row = await read();
    const end = now();
    starts.push(start);
    ends.push(end);
    versions.push(row === null ? -1 : row.version);
    // L1 hits resolve without a macrotask; give the event loop (IPC, timers) a turn now and then.
    if (end - lastYield > 2) {
      await immediate();
      lastYield = now();
    }
  }
  const s = client.stats();
  const stats = { hits: s.hits - warmStats.hits, misses: s.misses - warmStats.misses, fills: s.fills, fillsRejected: s.fillsRejected, bypasses: s.bypasses, entries: s.entries };
  await send({
    type: 'result',
    starts: Float64Array.from(starts),
    ends: Float64Array.from(ends),
    versions: Int32Array.from(versions),
    stats,
    dbReads: dbReads - warmDbReads,
    reads: versions.length,
    breaker: client.breaker(),
  });
  await client.close();
  await sequelize.close();
}

async function writer({ url, namespace, storage, versions = 100, intervalMs = 20 }) {
  const { sequelize, User } = await openDb(storage);
  const client = new RedisCache({ url, namespace });
  const cache = await modelCacheFactory(client, logger);
  // Wrapping registers the automatic invalidation hook; one read makes the Redis connection.
  await cache.wrap(User).findByPk(1);
  await send({ type: 'ready' });
  await go;
  const writes = [];
  const t0 = now();
  for (let v = 1; v <= versions; v++) {
    const start = now();
    const [affected] = await User.update({ version: v }, { where: { id: 1 } });
    const t = now();
    if (affected !== 1) throw new Error(`update to version ${v} affected ${affected} rows`);
    writes.push({ v, start, t });
    const wait = t0 + v * intervalMs - now();
    if (wait > 0) await sleep(wait);
  }
  await send({ type: 'done', writes, breaker: client.breaker() });
  await client.close();
  await sequelize.close();
}

async function peer({ url, namespace, storage, commandTimeoutMs, connectTimeoutMs }) {
  let dbReads = 0;
  const { sequelize, User } = await openDb(storage, (sql) => {
    if (/\bSELECT\b/i.test(sql)) dbReads++;
  });
  const client = new RedisCache({ url, namespace, commandTimeoutMs, connectTimeoutMs });
  const cache = await modelCacheFactory(client, logger);
  await send({ type: 'ready' });
  for (;;) {
    const m = await nextMessage();
    if (m.type === 'close') break;
    if (m.type !== 'read') continue;
    const before = dbReads;
    const row = await cache.wrap(User).findByPk(1);
    await send({ type: 'row', version: row === null ? -1 : row.version, dbReads: dbReads - before });
  }
  await client.close();
  await sequelize.close();
}

const WORKER = fileURLToPath(import.meta.url);

/** Starts a worker process in `role`; its output is kept (child.output) for failure messages. */
export function startWorker(role, config) {
  const child = fork(WORKER, [role, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'advanced' });
  child.role = role;
  child.output = '';
  child.stdout.on('data', (d) => (child.output += d));
  child.stderr.on('data', (d) => (child.output += d));
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return child;
}

/** The next message of `type` from `child`; rejects on an error message, an exit or a timeout. */
export function message(child, type, timeoutMs = 15_000) {
  return new Promise((resolve, reject) => {
    const done = (fn, v) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      fn(v);
    };
    const fail = (why) => done(reject, new Error(`${child.role} ${child.pid}: ${why}\n--- its output ---\n${child.output}`));
    const onMessage = (m) => {
      if (m.type === type) done(resolve, m);
      else if (m.type === 'error') fail(m.message);
    };
    const onExit = (code, signal) => fail(`exited (${code ?? signal}) before sending '${type}'`);
    const timer = setTimeout(() => fail(`no '${type}' within ${timeoutMs} ms`), timeoutMs);
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const role = process.argv[2];
  const config = JSON.parse(process.argv[3]);
  // If the test goes away, so do we.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m) => {
    if (m && m.type === 'stop') stopRequested = true;
    if (m && m.type === 'go') goRequested();
    if (inboxWaiter !== undefined) {
      const w = inboxWaiter;
      inboxWaiter = undefined;
      w(m);
    } else inbox.push(m);
  });
  const main = { reader, writer, peer }[role] ?? null;
  try {
    if (main === null) throw new Error(`unknown role ${role}`);
    await main(config);
    process.disconnect();
    process.exit(0);
  } catch (err) {
    try {
      await send({ type: 'error', message: err && err.stack ? err.stack : String(err) });
    } catch {
      // The parent is gone.
    }
    process.exit(1);
  }
}
