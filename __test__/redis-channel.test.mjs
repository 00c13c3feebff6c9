// The invalidation channel ({namespace}:#invalidate) is open to anyone who can PUBLISH on the
// Redis: a flood of made-up table names must not grow a subscriber, and the tables it knows must
// still be invalidated. Counts, not timings: the subscriber's table count (native stats) before and
// after; its RSS is printed for the record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort, startRedis } from './support/redis-server.mjs';
import { recordingLogger, schema, eventually } from './support/suite.mjs';
import { RedisCache, modelCacheFactory } from '../js/index.mjs';

const { engineOf } = await import('../js/clients.js');

const NAMES = 400_000;
const PER_MESSAGE = 200;

test('a flood of unknown table names on the invalidation channel takes no memory; known tables are still invalidated', async () => {
  const port = await freePort();
  const proc = await startRedis(port);
  const dir = mkdtempSync(join(tmpdir(), 'snc-flood-'));
  const a = await schema(join(dir, 'db.sqlite'));
  const b = await schema(join(dir, 'db.sqlite'));
  const publisher = new Redis(port, '127.0.0.1');
  const clientA = new RedisCache({ url: `redis://127.0.0.1:${port}`, namespace: 'flood', l1: { ttlSeconds: 60 } });
  const clientB = new RedisCache({ url: `redis://127.0.0.1:${port}`, namespace: 'flood', l1: false });
  try {
    const ca = await modelCacheFactory(clientA, recordingLogger());
    const cb = await modelCacheFactory(clientB, recordingLogger());
    cb.wrap(b.User);
    const u = await a.User.create({ name: 'v1' });
    const readA = () => ca.wrap(a.User).findByPk(u.id);
    assert.ok(await eventually(async () => (await readA(), clientA.stats().entries), (n) => n > 0), 'the L1 holds the row');
    const native = engineOf(clientA, 'test').native;
    const tablesBefore = native.stats().tables;
    const rssBefore = process.memoryUsage().rss;

    // Every message lists PER_MESSAGE names nobody uses, as a write would list its tables.
    for (let sent = 0; sent < NAMES; ) {
      const pipe = publisher.pipeline();
      for (let m = 0; m < 100 && sent < NAMES; m++, sent += PER_MESSAGE) {
        const names = Array.from({ length: PER_MESSAGE }, (_, i) => `made-up-table-${sent + i}`);
        pipe.publish('{flood}:#invalidate', names.join('\n'));
      }
      await pipe.exec();
    }
    // A write elsewhere, published after the flood: once A sees it, A has read the whole flood.
    await b.User.update({ name: 'v2' }, { where: { id: u.id } });
    assert.ok(await eventually(readA, (r) => r.name === 'v2'), "the known table was invalidated: B's write reached A's L1");

    const tablesAfter = native.stats().tables;
    const rssAfter = process.memoryUsage().rss;
    console.log(`# ${NAMES} made-up names: tables ${tablesBefore} -> ${tablesAfter}, RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MiB`);
    assert.equal(tablesAfter, tablesBefore, 'no made-up name was registered');

    // An oversized message is not read name by name: the L1 is dropped instead (always safe).
    assert.ok(await eventually(async () => (await readA(), clientA.stats().entries), (n) => n > 0), 'the L1 holds the row again');
    await publisher.publish('{flood}:#invalidate', 'x'.repeat(64 * 1024));
    assert.ok(await eventually(() => clientA.stats().entries, (n) => n === 0), 'an oversized message empties the L1');
    assert.equal(native.stats().tables, tablesBefore);
  } finally {
    publisher.disconnect();
    await clientA.close();
    await clientB.close();
    await a.sequelize.close();
    await b.sequelize.close();
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
