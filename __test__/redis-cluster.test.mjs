// RedisCache on a Redis Cluster: three redis-server processes in cluster mode on free ports,
// joined with `redis-cli --cluster create`, then the caching and invalidation promises again.
// Generation tokens share a hash tag, so reading them together works across slots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sequelize, DataTypes } from 'sequelize';
import { freePort, listening } from './support/redis-server.mjs';
import { RedisCache, modelCacheFactory, withCache } from '../js/index.mjs';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

let dir;
let ports;
let procs;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'snc-cluster-'));
  ports = [await freePort(), await freePort(), await freePort()];
  procs = ports.map((port) =>
    spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    ),
  );
  await Promise.all(ports.map((p) => listening(p)));
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
    stdio: 'ignore',
    timeout: 30_000,
  });
  // Wait until every node reports the cluster as ok.
  for (let i = 0; i < 100; i++) {
    const states = ports.map((p) => execFileSync('redis-cli', ['-p', String(p), 'cluster', 'info']).toString());
    if (states.every((s) => s.includes('cluster_state:ok'))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the Redis Cluster did not become ready');
});

after(() => {
  for (const p of procs || []) p.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('caching and invalidation on a three-node Redis Cluster', async () => {
  const storage = join(dir, 'db.sqlite');
  const sql = [];
  const a = new Sequelize({ dialect: 'sqlite', storage, logging: (s) => sql.push(s) });
  const b = new Sequelize({ dialect: 'sqlite', storage, logging: false });
  const UserA = a.define('User', { name: DataTypes.STRING });
  const PostA = a.define('Post', { title: DataTypes.STRING });
  UserA.hasMany(PostA);
  const UserB = b.define('User', { name: DataTypes.STRING });
  await a.sync();
  const nodes = ports.map((p) => `127.0.0.1:${p}`);
  // Without L1: what is under test is the cluster's tokens and entries.
  const cacheA = await modelCacheFactory(new RedisCache({ nodes, namespace: 'cl', l1: false }), quiet);
  const cacheB = await modelCacheFactory(new RedisCache({ nodes, namespace: 'cl', l1: false }), quiet);
  cacheB.wrap(UserB);

  const users = [];
  for (let i = 0; i < 20; i++) users.push(await UserA.create({ name: `u${i}` }));
  // Entries spread over the cluster's slots; each read is a miss then a hit.
  for (const u of users) await cacheA.wrap(UserA).findByPk(u.id);
  let n = sql.length;
  for (const u of users) assert.equal((await cacheA.wrap(UserA).findByPk(u.id)).name, u.name);
  assert.equal(sql.length, n, 'all twenty reads were hits');
  const holding = ports.filter((p) => execFileSync('redis-cli', ['-p', String(p), '--scan', '--pattern', 'cl:*']).toString().trim() !== '');
  assert.ok(holding.length > 1, `entries are spread over the nodes (on ${holding.length} of 3)`);

  // A query reading two tables checks both tokens in one MGET (same hash tag).
  const withPosts = () => cacheA.wrap(UserA).findAll({ include: PostA, where: { id: users[0].id } });
  await withPosts();
  n = sql.length;
  await withPosts();
  assert.equal(sql.length, n);

  // A write from the other app server makes the entries stale.
  await UserB.update({ name: 'renamed' }, { where: { id: users[0].id } });
  n = sql.length;
  assert.equal((await cacheA.wrap(UserA).findByPk(users[0].id)).name, 'renamed');
  assert.equal(sql.length, n + 1);
  assert.equal((await withPosts())[0].name, 'renamed');

  // The withCache face too.
  withCache(new RedisCache({ nodes, namespace: 'cl2', l1: false }), { logger: quiet }).withCache(UserA);
  await UserA.cache().findByPk(users[1].id);
  n = sql.length;
  assert.equal((await UserA.cache().findByPk(users[1].id)).name, 'u1');
  assert.equal(sql.length, n);
  await a.close();
  await b.close();
});
