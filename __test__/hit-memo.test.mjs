// The memo of recent in-process hits (js/engine/hit-memo.js) answers only what the tier itself
// would answer at that moment: random sequences of fills, lookups, table bumps, key
// invalidations, clears, changes of trust and waits past TTLs are run against a real native
// store, and before every lookup through the memo the tier is asked directly. Nothing is answered
// from it while a change runs on another thread (an invalidation message applied by the
// subscription's thread), after an eviction, or past the TTL when a pause follows the lookup. It
// is bounded, and remembers no entry for longer than its maximum age.
// SNC_HIT_MEMO_SEED=<seed> replays a failure (fast-check prints the seed with the counterexample).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startRedis } from './support/redis-server.mjs';
import fc from 'fast-check';

const require = createRequire(import.meta.url);
const native = require('../js/native.js');
const { HitMemo, MAX_REMEMBERED, MAX_REMEMBERED_CHARS, MAX_ENTRY_CHARS, MAX_AGE_MS, nowMs } = require('../js/engine/hit-memo.js');
const { EventCounts } = require('../js/engine/stats.js');

const SEED = Number(process.env.SNC_HIT_MEMO_SEED) || Math.floor(Math.random() * 2 ** 31);

const KEYS = ['k0', 'k1', 'k2'];
const TABLES = ['Users', 'Orders'];

function fresh() {
  const cache = native.createCache({ maxBytes: 1 << 20, defaultTtlMs: 60_000 });
  const events = new EventCounts(cache);
  const slot = cache.slot('User', 'findAll');
  return { cache, events, slot, memo: new HitMemo(cache, events) };
}

const op = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('lookup'), key: fc.constantFrom(...KEYS) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('fill'),
      key: fc.constantFrom(...KEYS),
      tables: fc.subarray(TABLES),
      ttlMs: fc.oneof(fc.constant(undefined), fc.integer({ min: 2, max: 40 })),
      // A bump or an invalidation between the ticket and the fill: the fill must not land.
      overtaken: fc.constantFrom(null, 'bump', 'key'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bump'), table: fc.constantFrom(...TABLES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('invalidate'), key: fc.constantFrom(...KEYS) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' }) },
  {
    weight: 1,
    // Trust is lost less often than it is given back, so that most sequences have hits to remember.
    arbitrary: fc.record({
      kind: fc.constant('trust'),
      reason: fc.constantFrom(native.TrustReason.Subscription, native.TrustReason.PendingInvalidation),
      trusted: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wait'), ms: fc.integer({ min: 0, max: 15 }) }) },
);

test('the memo of hits answers only what the tier answers, whatever ran before', async () => {
  let version = 0;
  let answeredHere = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 60, size: 'max' }), async (ops) => {
      const { cache, memo, slot } = fresh();
      const tableId = (t) => cache.tableId(t);
      for (const o of ops) {
        switch (o.kind) {
          case 'lookup': {
            // The tier first, then the memo: an entry the memo answers cannot have expired in
            // between unless the memo kept it past the tier's own expiry.
            const direct = cache.get(o.key, slot);
            const tierCalls = countCalls(cache, () => memo.get(o.key, slot));
            const { result: got } = tierCalls;
            if (typeof got === 'string') {
              assert.equal(typeof direct, 'string', `the memo answered ${o.key} where the tier had nothing`);
              assert.equal(got, direct, `the memo answered ${o.key} with another payload than the tier`);
              assert.equal(memo.lastHeader(), cache.lastHeader(), 'the header id of the payload answered');
              if (tierCalls.calls === 0) answeredHere++;
            }
            break;
          }
          case 'fill': {
            const ticket = cache.beginFill(o.key, o.tables.map(tableId));
            if (o.overtaken === 'bump' && o.tables.length > 0) cache.bumpTable(tableId(o.tables[0]));
            if (o.overtaken === 'key') cache.invalidateKey(o.key);
            memo.forget(o.key);
            cache.fill(ticket, `{"v":${++version}}`, o.ttlMs, slot);
            cache.release(ticket);
            break;
          }
          case 'bump':
            cache.bumpTable(tableId(o.table));
            break;
          case 'invalidate':
            cache.invalidateKey(o.key);
            break;
          case 'clear':
            cache.clear();
            break;
          case 'trust':
            cache.setTrust(o.reason, o.trusted);
            break;
          case 'wait':
            await sleep(o.ms);
            break;
        }
      }
    }),
    { numRuns: 300, seed: SEED },
  );
  // The property means little unless the memo itself answered often.
  assert.ok(answeredHere >= 100, `the memo answered ${answeredHere} lookups itself`);
});

/** Runs `f` counting the calls it makes to the native get. */
function countCalls(cache, f) {
  const get = cache.get;
  let calls = 0;
  cache.get = (...args) => {
    calls++;
    return get(...args);
  };
  try {
    return { result: f(), calls };
  } finally {
    cache.get = get;
  }
}

function fill(cache, key, text, ttlMs) {
  const ticket = cache.beginFill(key, []);
  cache.fill(ticket, text, ttlMs, 0);
  cache.release(ticket);
}

test('a remembered hit is counted as a hit of its model and method', () => {
  const { cache, memo, events, slot } = fresh();
  fill(cache, 'k', '[1]', undefined);
  for (let i = 0; i < 5; i++) assert.equal(memo.get('k', slot), '[1]');
  events.report();
  const s = cache.stats().slots.find((x) => x.model === 'User' && x.method === 'findAll');
  assert.equal(s.hits, 5);
  assert.equal(countCalls(cache, () => memo.get('k', slot)).calls, 0, 'answered without the tier');
});

test('the memo stays within its bounds of entries, characters and entry length', () => {
  const { cache, memo, slot } = fresh();
  const long = `"${'x'.repeat(MAX_ENTRY_CHARS - 2 - 'long'.length + 1)}"`;
  fill(cache, 'long', long, undefined);
  memo.get('long', slot);
  assert.equal(memo.entries.has('long'), false, 'a key and payload over MAX_ENTRY_CHARS are not remembered');
  const longKey = 'k'.repeat(MAX_ENTRY_CHARS);
  fill(cache, longKey, '[1]', undefined);
  memo.get(longKey, slot);
  assert.equal(memo.entries.has(longKey), false, 'nor is a long key with a short payload');
  const big = `"${'y'.repeat(MAX_ENTRY_CHARS - 16)}"`;
  for (let i = 0; i < MAX_REMEMBERED * 2; i++) {
    const key = `k${i}`;
    fill(cache, key, i % 2 === 0 ? big : `[${i}]`, undefined);
    assert.equal(memo.get(key, slot), i % 2 === 0 ? big : `[${i}]`);
    assert.ok(memo.entries.size <= MAX_REMEMBERED, 'entries');
    assert.ok(memo.chars <= MAX_REMEMBERED_CHARS, 'characters');
    assert.equal(memo.chars, [...memo.entries].reduce((n, [k, e]) => n + k.length + e.text.length, 0), 'characters of keys and payloads counted');
  }
});

test('an entry is remembered no longer than its time left, and at most MAX_AGE_MS', async () => {
  const { cache, memo, slot } = fresh();
  fill(cache, 'short', '[1]', 30);
  fill(cache, 'long', '[2]', 3_600_000);
  const t = nowMs();
  memo.get('short', slot);
  memo.get('long', slot);
  assert.ok(memo.entries.get('short').deadline <= t + 30, 'within the TTL');
  assert.ok(memo.entries.get('long').deadline <= nowMs() + MAX_AGE_MS, 'within the maximum age');
  await sleep(40);
  assert.equal(memo.get('short', slot), native.Lookup.Absent, 'expired here as in the tier');
});

test("an entry expires on the real clock even when a test runner's fake timers freeze performance.now and Date.now", async () => {
  const { cache, memo, slot } = fresh();
  // The fake timers jest and vitest install (@sinonjs/fake-timers, here through jest's own
  // dependency): on this global they replace performance, Date and process.hrtime, and define an
  // own `now` on perf_hooks' performance instance. Only the clocks are faked, so sleep still runs.
  const FakeTimers = createRequire(require.resolve('@jest/fake-timers'))('@sinonjs/fake-timers');
  const clock = FakeTimers.install({ toFake: ['Date', 'performance', 'hrtime'] });
  try {
    assert.equal(performance.now(), 0, 'the global clock is frozen');
    assert.equal(require('node:perf_hooks').performance.now(), 0, "so is perf_hooks' own");
    fill(cache, 'short', '[1]', 30);
    assert.equal(memo.get('short', slot), '[1]');
    assert.equal(memo.get('short', slot), '[1]', 'remembered');
    await sleep(40);
    assert.equal(performance.now(), 0, 'still frozen');
    assert.equal(memo.get('short', slot), native.Lookup.Absent);
  } finally {
    clock.uninstall();
  }
});

test('a pause after the lookup cannot keep an entry past its TTL', async () => {
  const { cache, memo, slot } = fresh();
  const spin = (ms) => {
    const end = nowMs() + ms;
    while (nowMs() < end);
  };
  fill(cache, 'k', '[1]', 100);
  spin(60);
  // A 50 ms pause right after the native lookup (a GC, the thread preempted): the entry has about
  // 40 ms left when the lookup measures it, and none when the memo would stamp it.
  const realGet = cache.get;
  cache.get = (...args) => {
    const got = realGet(...args);
    spin(50);
    return got;
  };
  try {
    assert.equal(memo.get('k', slot), '[1]');
  } finally {
    cache.get = realGet;
  }
  const direct = cache.get('k', slot);
  const viaMemo = memo.get('k', slot);
  assert.equal(typeof direct, 'number', 'the tier has expired it');
  assert.equal(viaMemo, direct, 'and so has the memo');
});

test('nothing is answered from the memo while a change is in progress', () => {
  const { cache, memo, slot } = fresh();
  fill(cache, 'k', '[1]', undefined);
  memo.get('k', slot);
  assert.equal(countCalls(cache, () => memo.get('k', slot)).calls, 0, 'remembered');
  // As the store's epoch shows a change running on another thread (src/epoch.rs), for this test.
  memo.epoch[1] += 1;
  try {
    assert.equal(countCalls(cache, () => memo.get('k', slot)).calls, 1, 'the tier is asked');
    memo.forget('k');
    memo.get('k', slot);
    assert.equal(memo.entries.has('k'), false, 'and nothing is remembered');
  } finally {
    memo.epoch[1] -= 1;
  }
});

test('an entry the tier evicted for space is not answered from the memo', () => {
  const cache = native.createCache({ maxBytes: 64 * 1024, defaultTtlMs: 60_000 });
  const memo = new HitMemo(cache, new EventCounts(cache));
  const payload = (i) => `"${String(i).padStart(200, 'z')}"`;
  for (let i = 0; i < 100; i++) {
    fill(cache, `first${i}`, payload(i), undefined);
    assert.equal(memo.get(`first${i}`, 0), payload(i));
  }
  // Entries read more often than those: the tier's admission policy keeps them instead.
  for (let i = 0; i < 2000; i++) {
    fill(cache, `other${i}`, payload(i), undefined);
    cache.get(`other${i}`, 0);
    cache.get(`other${i}`, 0);
  }
  // stats() lets the tier finish its pending evictions.
  assert.ok(cache.stats().evictions > 0);
  let evicted = 0;
  for (let i = 0; i < 100; i++) {
    const direct = cache.get(`first${i}`, 0);
    if (typeof direct === 'string') continue;
    evicted++;
    assert.equal(memo.get(`first${i}`, 0), direct, `first${i} was evicted from the tier`);
  }
  assert.ok(evicted > 0, 'some remembered entries were evicted');
});

test('an invalidation message applied on the subscription thread stops memo answers from its first line to its last', async () => {
  // The tokio transport's subscription (redis-rs) applies messages off the JS thread. While the JS
  // thread sees the tier refuse entry A of a table the message names, the memo must not answer
  // entry B of that table.
  const port = await freePort();
  const proc = await startRedis(port);
  const opts = { urls: [`redis://127.0.0.1:${port}`], cluster: false, connectTimeoutMs: 2000, commandTimeoutMs: 1000, compressAboveBytes: 0, maxValueBytes: 1 << 20 };
  const cache = native.createCache({ maxBytes: 1 << 20, defaultTtlMs: 60_000 });
  const memo = new HitMemo(cache, new EventCounts(cache));
  const slot = cache.slot('User', 'findAll');
  const subscriber = native.createRedis(opts);
  const publisher = native.createRedis(opts);
  try {
    subscriber.attachL1(cache, 'hit-memo');
    const users = cache.tableId('Users');
    const fillUsers = (k, v) => {
      const t = cache.beginFill(k, [users]);
      const outcome = cache.fill(t, v, undefined, slot);
      cache.release(t);
      return outcome;
    };
    // The tier is trusted once the subscription is up.
    for (let i = 0; fillUsers('probe', '[0]') !== native.FillOutcome.Stored; i++) {
      assert.ok(i < 200, 'the subscription came up');
      await sleep(25);
    }
    let refusals = 0;
    let violations = 0;
    for (let round = 0; round < 30; round++) {
      assert.equal(fillUsers('A', '[1]'), native.FillOutcome.Stored);
      assert.equal(fillUsers('B', '[2]'), native.FillOutcome.Stored);
      assert.equal(memo.get('B', slot), '[2]');
      // A long message (under the 16 KiB read line by line): many lines after the known table,
      // each read while the change runs. Not awaited: the subscriber may apply it before the
      // publisher hears back.
      const published = publisher.publish('hit-memo', `Users\n${'z\n'.repeat(8000)}`);
      const until = nowMs() + 3000;
      for (;;) {
        const direct = cache.get('A', slot);
        const viaMemo = memo.get('B', slot);
        if (typeof direct !== 'string') {
          refusals++;
          if (typeof viaMemo === 'string') violations++;
          if (memo.epoch[1] === 0) break;
        }
        assert.ok(nowMs() < until, 'the message was applied');
      }
      await published;
      await sleep(5);
    }
    assert.ok(refusals > 0);
    assert.equal(violations, 0, 'the memo answered B after the tier refused A');
  } finally {
    subscriber.close();
    publisher.close();
    proc.kill();
  }
});
