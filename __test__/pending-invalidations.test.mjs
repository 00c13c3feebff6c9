// A write during a Redis outage is not lost. The writer (this process) and a peer (another
// process, support/redis-worker.mjs) share one SQLite file and one redis-server of this test's own,
// which keeps its data across a restart (append-only file). Twice, the writer updates the row while
// it cannot reach Redis, so its token bump and PUBLISH are not delivered:
//   1. Redis hung (SIGSTOP) and the writer's breaker open: the commands are never sent;
//   2. Redis down (killed), then restarted with its data: the old entry and tokens come back.
// Promised: the writer never reads its own stale row, and after recovery both processes see the
// write (the failed bump was kept and retried). No timing assertions.
//
// Also, against the Momento stand-in (no subscription, so a pending write is the only reason to
// distrust the L1): while a write is pending the L1 answers nothing and the tier is not read. And
// past its bound, the set of pending tables makes every table pending until a bump of every known
// table succeeds (over a JS adapter whose writes can be made to fail).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createDb, openDb, startWorker, message } from './support/redis-worker.mjs';
import { freePort, startRedis } from './support/redis-server.mjs';
import { startMomentoServer } from './support/momento-server.mjs';
import { recordingLogger, eventually, schema } from './support/suite.mjs';
import { RedisCache, MomentoClientGenerator, modelCacheFactory } from '../js/index.mjs';

const { adapterTier, PendingInvalidation, MAX_PENDING_TABLES } = await import('../js/remote/generations.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('writes while Redis is hung or down: the writer never reads its stale row, and both processes see them after recovery', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'snc-outage-'));
  const port = await freePort();
  const persistent = ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];
  let redis = await startRedis(port, persistent);
  const storage = join(dir, 'db.sqlite');
  await createDb(storage);
  const timeouts = { commandTimeoutMs: 150, connectTimeoutMs: 300 };
  const config = { url: `redis://127.0.0.1:${port}`, namespace: `outage-${randomBytes(4).toString('hex')}`, storage, ...timeouts };
  const peer = startWorker('peer', config);
  const { sequelize, User } = await openDb(storage);
  const logger = recordingLogger();
  const writer = new RedisCache({ url: config.url, namespace: config.namespace, ...timeouts });
  try {
    const cache = await modelCacheFactory(writer, logger);
    const readWriter = async () => (await cache.wrap(User).findByPk(1)).version;
    const readPeer = async () => {
      const got = message(peer, 'row');
      peer.send({ type: 'read' });
      return got;
    };
    await message(peer, 'ready');

    /** Reads both every 50 ms until the peer has seen `version`, then a while more. */
    async function recover(version, seen) {
      const peerSaw = [];
      let caughtUp;
      for (let i = 0; i < 400 && (caughtUp === undefined || i < caughtUp + 40); i++) {
        seen.push(await readWriter());
        const p = await readPeer();
        peerSaw.push(p.version);
        if (p.version === version && caughtUp === undefined) caughtUp = i;
        await sleep(50);
      }
      t.diagnostic(`version ${version}: the peer caught up after ${caughtUp} rounds (${peerSaw.filter((v) => v < version).length} reads of the old row)`);
      assert.notEqual(caughtUp, undefined, `the peer saw version ${version} after recovery`);
      assert.deepEqual(peerSaw.slice(caughtUp).filter((v) => v !== version), [], 'and never went back');
    }

    // Warm: both processes are served by the cache, and Redis holds the entry.
    assert.ok(await eventually(async () => (await readWriter(), writer.stats().entries), (n) => n > 0), 'the writer L1 is warm');
    assert.ok(await eventually(readPeer, (r) => r.version === 0 && r.dbReads === 0), 'the peer is served by the cache');

    // 1. Hung, with the writer's breaker open: the bump is never sent.
    redis.kill('SIGSTOP');
    assert.ok(await eventually(async () => (await readWriter(), writer.breaker().phase), (p) => p === 'open', 10), "the writer's breaker opened");
    await User.update({ version: 1 }, { where: { id: 1 } });
    const seen1 = [];
    for (let i = 0; i < 10; i++) seen1.push(await readWriter());
    redis.kill('SIGCONT');
    await recover(1, seen1);
    assert.deepEqual(seen1.filter((v) => v !== 1), [], 'the writer never read its own stale row (hung)');

    // 2. Down, then restarted with its data: the old entry and tokens come back with it.
    assert.ok(await eventually(readPeer, (r) => r.version === 1 && r.dbReads === 0), 'the peer is served by the cache again');
    assert.ok(await eventually(async () => (await readWriter(), writer.stats().entries), (n) => n > 0), "the writer's L1 is warm again");
    redis.kill('SIGKILL');
    await new Promise((r) => (redis.exitCode !== null || redis.signalCode !== null ? r() : redis.on('exit', r)));
    await User.update({ version: 2 }, { where: { id: 1 } });
    const seen2 = [];
    for (let i = 0; i < 10; i++) seen2.push(await readWriter());
    redis = await startRedis(port, persistent);
    await recover(2, seen2);
    assert.deepEqual(seen2.filter((v) => v !== 2), [], 'the writer never read its own stale row (down)');

    // The cache serves again: the retried bumps settled, the writer's L1 is trusted again.
    assert.ok(await eventually(async () => (await readWriter(), writer.stats().entries), (n) => n > 0), "the writer's L1 fills again");
    const warnings = logger.lines.filter((l) => l.level === 'warn');
    assert.ok(warnings.length >= 1 && warnings.length <= 8, `the outages were logged, a line per kind: ${warnings.map((l) => l.code).join(', ')}`);
  } finally {
    redis.kill('SIGCONT');
    peer.send({ type: 'close' });
    await Promise.race([peer.exited, sleep(5000)]);
    if (peer.exitCode === null) peer.kill('SIGKILL');
    await writer.close();
    await sequelize.close();
    redis.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('MomentoCache: while a write has not reached Momento, its L1 answers nothing and Momento is not read for it', async () => {
  const TOKEN = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl';
  const server = await startMomentoServer({ token: TOKEN });
  const { sequelize, User, counted } = await schema();
  const client = MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: TOKEN, endpoint: server.url }, namespace: 'pending', l1: { ttlSeconds: 30 } });
  try {
    const cache = await modelCacheFactory(client, recordingLogger());
    const u = await User.create({ name: 'v1' });
    const read = () => counted(() => cache.wrap(User).findByPk(u.id));
    await read();
    assert.deepEqual((await read()).map((x, i) => (i === 0 ? x.name : x)), ['v1', 0], 'an L1 hit');
    // The write's two token PUTs (the table's queries and its entities) fail.
    server.fail(500, 2);
    await User.update({ name: 'v2' }, { where: { id: u.id } });
    assert.equal(client.stats().entries, 0, 'the L1 was emptied: it is not trusted while the write is pending');
    const gets = server.requests.GET;
    const [row, statements] = await read();
    assert.deepEqual([row.name, statements], ['v2', 1], 'the database answers, not the old entry in Momento');
    assert.equal(server.requests.GET, gets, 'Momento was not asked');
    assert.equal(client.stats().entries, 0, 'and the L1 stored nothing');
    // The retry goes through (the failures are used up): hits resume.
    assert.ok(await eventually(read, ([r, n]) => r.name === 'v2' && n === 0), 'hits resume once the retried bump reached Momento');
    assert.ok(client.stats().entries > 0);
  } finally {
    await client.close();
    await sequelize.close();
    await server.close();
  }
});

/** An adapter (the seed's CacheAdapter interface) in memory, whose writes fail while `failing`. */
class FlakyAdapter {
  constructor() {
    this.map = new Map();
    this.failing = false;
  }
  async get(key) {
    return this.map.get(key.join(':')) ?? null;
  }
  async set(key, value) {
    if (this.failing) throw new Error('adapter unreachable');
    this.map.set(key.join(':'), value);
  }
  async del(key) {
    this.map.delete(key.join(':'));
  }
}

test('past its bound the pending set makes every table pending, until every known table is bumped', async () => {
  const adapter = new FlakyAdapter();
  const changes = [];
  const tier = adapterTier(adapter, { maxValueBytes: 1 << 20, onPendingChange: (p) => changes.push(p) });
  const known = await tier.tokensForFill(['Users', 'Orders']);
  adapter.failing = true;
  await assert.rejects(tier.bump(['Users']));
  assert.deepEqual(changes, [true]);
  assert.deepEqual(await tier.get(['Users', 'query', 'k'], ['Users']), { miss: 'pending', tokens: undefined }, 'a pending table is not read');
  await assert.rejects(tier.tokensForFill(['Users']), PendingInvalidation, 'nor filled');
  assert.ok((await tier.tokensForFill(['Orders'])).length === 1, 'other tables still are');
  for (let i = 0; i < MAX_PENDING_TABLES; i++) await assert.rejects(tier.bump([`t${i}`]));
  assert.ok(tier.pendingAll, 'the bound overflowed');
  await assert.rejects(tier.tokensForFill(['Orders']), PendingInvalidation, 'now every table is pending');
  await assert.rejects(tier.set(['Orders', 'query', 'k'], 'k', 'payload', 1000, known.slice(1)), PendingInvalidation, 'and nothing is stored');

  adapter.failing = false;
  assert.ok(await eventually(() => !tier.hasPending(), (done) => done, 15), 'the retry settled it');
  assert.deepEqual(changes, [true, false]);
  const orders = await adapter.get(['#generation', 'Orders']);
  assert.notEqual(orders, null);
  assert.ok(!orders.endsWith(known[1][1]), 'every known table was bumped, Orders too');
  for (const t of ['Users', 't0', `t${MAX_PENDING_TABLES - 1}`]) assert.notEqual(await adapter.get(['#generation', t]), null, `${t} was bumped`);
  assert.equal((await tier.tokensForFill(['Orders'])).length, 1, 'and fills go through again');
});
