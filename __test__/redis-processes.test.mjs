// RedisCache with real processes: one writer and two readers on one Redis (this test's own
// redis-server) and one SQLite file (WAL). The readers read wrap(User).findByPk(1) in a tight loop
// with the default L1 on, so they are served from memory and only learn of the writer's updates
// through Redis pub/sub. The writer updates the row about every 20 ms through Sequelize, with the
// automatic invalidation active.
//
// Measured and reported (never asserted, timings belong in benchmarks): the stale window of each
// write, from the moment the writer's update resolved (committed and invalidated) to the start of
// the last read, in any reader, that still returned an older version.
//
// Asserted (correctness): a reader's versions go backwards only while the newer version's write
// is still reaching it (bounded like a lost invalidation, below); a read that started more
// than 1000 ms after version v was written saw v or later (fails only if an invalidation is lost);
// no read saw a version before it was written (the processes share the clock); the readers were
// served by the cache, not by the database.
//
// Times are CLOCK_MONOTONIC (process.hrtime), which on Linux is one clock for all processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createDb, startWorker, message } from './support/redis-worker.mjs';
import { freePort, startRedis } from './support/redis-server.mjs';

const VERSIONS = 100;
const INTERVAL_MS = 20;
/** How long the readers keep reading after the last write. Longer than LOST_BOUND_MS, so the
 * last versions are checked by that bound too. */
const TAIL_MS = 1500;
/** A read starting this long after a write must see it. Generous: only a lost invalidation fails it. */
const LOST_BOUND_MS = 1000;

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

test('three processes on one Redis: readers with an L1 see every write, in order, within a small window', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'snc-procs-'));
  const children = [];
  let redis;
  try {
    const port = await freePort();
    redis = await startRedis(port);
    const storage = join(dir, 'db.sqlite');
    await createDb(storage);
    const config = { url: `redis://127.0.0.1:${port}`, namespace: `procs-${randomBytes(4).toString('hex')}`, storage, versions: VERSIONS, intervalMs: INTERVAL_MS };

    const readers = [startWorker('reader', config), startWorker('reader', config)];
    children.push(...readers);
    await Promise.all(readers.map((r) => message(r, 'warm')));
    const writer = startWorker('writer', config);
    children.push(writer);
    await message(writer, 'ready');
    const done = message(writer, 'done', 20_000);
    writer.send({ type: 'go' });
    const { writes, breaker: writerBreaker } = await done;
    await new Promise((r) => setTimeout(r, TAIL_MS));
    const results = await Promise.all(
      readers.map((r) => {
        const got = message(r, 'result');
        r.send({ type: 'stop' });
        return got;
      }),
    );
    await Promise.all(children.map((c) => c.exited));
    for (const c of children) assert.equal(c.exitCode, 0, `${c.role} ${c.pid} exited cleanly\n${c.output}`);

    // --- the data ---
    assert.equal(writes.length, VERSIONS);
    const lastWrite = writes[writes.length - 1].t;
    const windows = writes.map(({ v, t: tv }) => {
      let lastStale = -Infinity;
      for (const r of results) {
        // Reads are sequential, so starts are increasing; the last stale read is found from the end.
        for (let i = r.versions.length - 1; i >= 0; i--) {
          if (r.versions[i] < v) {
            lastStale = Math.max(lastStale, r.starts[i]);
            break;
          }
        }
      }
      return Math.max(0, lastStale - tv);
    });
    const sorted = [...windows].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    const max = sorted[sorted.length - 1];
    const staleWrites = windows.filter((w) => w > 0).length;
    const line =
      `stale window over ${VERSIONS} writes (ms, from the update resolving to the start of the last read of an older version): ` +
      `p50 ${p50.toFixed(2)}, p99 ${p99.toFixed(2)}, max ${max.toFixed(2)}; ${staleWrites} writes had a non-zero window`;
    t.diagnostic(line);
    console.log(line);
    const updateMs = writes.map((w) => w.t - w.start).sort((a, b) => a - b);
    const updLine = `writer: User.update + invalidation took p50 ${percentile(updateMs, 50).toFixed(2)} ms, max ${updateMs[updateMs.length - 1].toFixed(2)} ms; breaker ${JSON.stringify(writerBreaker)}`;
    t.diagnostic(updLine);
    console.log(updLine);
    results.forEach((r, n) => {
      const seen = new Set(r.versions).size;
      const readLine =
        `reader ${n + 1}: ${r.reads} reads, ${r.stats.hits} cache hits, ${r.stats.misses} misses, ${r.dbReads} database reads, ` +
        `${r.stats.fills} fills (${r.stats.fillsRejected} rejected), ${seen} distinct versions seen, breaker ${JSON.stringify(r.breaker)}`;
      t.diagnostic(readLine);
      console.log(readLine);
    });

    // --- correctness ---
    results.forEach((r, n) => {
      const who = `reader ${n + 1}`;
      assert.ok(r.reads > 0, `${who} read`);
      // Monotonic once the write is out: a reader may go back from version a only while a's
      // write is still reaching it (the README's Consistency: between another process's commit
      // and its invalidation, this reader's database read can see a while its L1 still holds an
      // entry of a - 1 with current tokens). A step back that starts LOST_BOUND_MS after a's
      // update resolved would be an entry outliving its invalidation.
      let backSteps = 0;
      for (let i = 1; i < r.versions.length; i++) {
        if (r.versions[i] < r.versions[i - 1]) {
          const newer = writes.find((w) => w.v === r.versions[i - 1]);
          backSteps++;
          if (newer === undefined || r.starts[i] > newer.t + LOST_BOUND_MS) {
            assert.fail(
              `${who} went back from version ${r.versions[i - 1]} to ${r.versions[i]} at read ${i}, ` +
                `${newer ? (r.starts[i] - newer.t).toFixed(2) : '?'} ms after version ${r.versions[i - 1]} was written`,
            );
          }
        }
      }
      const backLine = `${who}: ${backSteps} reads went back a version while its write was in flight`;
      t.diagnostic(backLine);
      console.log(backLine);
      // No lost invalidation: a read starting LOST_BOUND_MS after a write sees it. Sweep reads
      // and writes together (both in time order).
      let w = -1; // the last write older than LOST_BOUND_MS at the current read's start
      for (let i = 0; i < r.versions.length; i++) {
        while (w + 1 < writes.length && writes[w + 1].t + LOST_BOUND_MS < r.starts[i]) w++;
        if (w >= 0 && r.versions[i] < writes[w].v) {
          assert.fail(
            `${who} served version ${r.versions[i]} at ${(r.starts[i] - writes[w].t).toFixed(2)} ms after version ${writes[w].v} was written ` +
              `(read ${i} of ${r.reads}); an invalidation was lost`,
          );
        }
      }
      // The bound covered every version, the last one included.
      assert.ok(r.starts[r.starts.length - 1] > lastWrite + LOST_BOUND_MS, `${who} kept reading until ${LOST_BOUND_MS} ms after the last write`);
      assert.equal(r.versions[r.versions.length - 1], VERSIONS, `${who} ends on the last version`);
      // Sanity of the shared clock: no read saw a version before its update started.
      let u = 0; // versions whose update started before the current read ended
      for (let i = 0; i < r.versions.length; i++) {
        while (u < writes.length && writes[u].start <= r.ends[i]) u++;
        assert.ok(r.versions[i] <= u, `${who} read ${i} saw version ${r.versions[i]} before its update started (clock not shared?)`);
      }
      // Served by the cache: most reads are hits, and the database is read about once per write.
      assert.ok(r.stats.hits > 0, `${who} got cache hits`);
      assert.ok(r.stats.hits >= r.reads / 2, `${who}: ${r.stats.hits} hits of ${r.reads} reads`);
      assert.ok(r.dbReads <= r.reads / 2, `${who}: ${r.dbReads} database reads of ${r.reads} reads`);
      assert.ok(new Set(r.versions).size >= 2, `${who} saw the row change`);
    });
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    if (redis) {
      redis.kill('SIGKILL');
      await new Promise((r) => (redis.exitCode !== null || redis.signalCode !== null ? r() : redis.on('exit', r)));
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
