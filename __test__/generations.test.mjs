// The shared tier's judgement of an entry (js/remote/generations.js get): an entry answers only
// while every table it read still has the token it was written under, whether or not the caller
// foresaw that table; a miss hands back the tokens read with it, for the fill.
import { test } from 'node:test';
import assert from 'node:assert/strict';

const { adapterTier } = await import('../js/remote/generations.js');

/** A JS adapter over a Map (keys are key arrays). */
class MapAdapter {
  constructor() {
    this.map = new Map();
  }
  async get(key) {
    return this.map.get(key.join(':')) ?? null;
  }
  async set(key, value) {
    this.map.set(key.join(':'), value);
  }
  async del(key) {
    this.map.delete(key.join(':'));
  }
}

async function fixture() {
  const tier = adapterTier(new MapAdapter(), { maxValueBytes: 1 << 20 });
  const path = ['Users', 'query', 'k1'];
  // The entry read Users and Orders; callers below foresee only some of them.
  const deps = await tier.tokensForFill(['Users', 'Orders']);
  await tier.set(path, 'k1', 'the payload', 60_000, deps);
  return { tier, path, deps };
}

test('an entry answers while every table it read is unmoved, the foreseen and the unforeseen', async () => {
  const { tier, path } = await fixture();
  assert.deepEqual(await tier.get(path, ['Users', 'Orders'], 'k1'), { payload: 'the payload', tokens: undefined });
  assert.deepEqual(await tier.get(path, ['Users'], 'k1'), { payload: 'the payload', tokens: undefined }, 'Orders not foreseen: read in a second round trip');
});

test('a moved table the caller did not foresee makes the entry stale', async () => {
  const { tier, path, deps } = await fixture();
  await tier.bump(['Orders']);
  const got = await tier.get(path, ['Users'], 'k1');
  assert.equal(got.miss, 'stale');
  assert.deepEqual(got.tokens, [deps[0]], 'the foreseen token comes back for the fill');
});

test('a moved table the caller foresaw makes the entry stale, and the miss carries the new token', async () => {
  const { tier, path, deps } = await fixture();
  await tier.bump(['Users']);
  const got = await tier.get(path, ['Users', 'Orders'], 'k1');
  assert.equal(got.miss, 'stale');
  assert.equal(got.tokens.length, 2);
  assert.notEqual(got.tokens[0][1], deps[0][1], 'Users has a new token');
  assert.deepEqual(got.tokens[1], deps[1], 'Orders has its old one');
});

test('an entry that did not read a table the caller expects is stale; a missing token gives no tokens', async () => {
  const { tier, path } = await fixture();
  const other = await tier.tokensForFill(['Products']);
  const got = await tier.get(path, ['Users', 'Products'], 'k1');
  assert.equal(got.miss, 'stale', 'written without Products');
  assert.deepEqual(got.tokens.map((t) => t[0]), ['Users', 'Products']);
  assert.deepEqual(got.tokens[1], other[0]);
  const absent = await tier.get(path, ['Users', 'Invoices'], 'k1');
  assert.deepEqual(absent, { miss: 'stale', tokens: undefined }, 'Invoices has no token yet');
  assert.deepEqual(await tier.get(['Users', 'query', 'nothing'], ['Users'], 'k2'), { miss: 'absent', tokens: [['Users', got.tokens[0][1]]] });
});

test('an entry stored for another key is refused and reported', async () => {
  const { tier, path } = await fixture();
  const reports = [];
  const got = await tier.get(path, ['Users'], 'k2', (what, reason) => reports.push([what, reason]));
  assert.equal(got.miss, 'foreign');
  assert.equal(reports.length, 1);
  assert.match(reports[0][1], /another key/);
});
