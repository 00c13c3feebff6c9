// RedisCache: the Redis tier in the Rust core. Each test starts its own redis-server on a free
// port, so it can stop, hang (SIGSTOP) and restart it. No timing assertions: the promises here
// are correctness — the database answers whenever Redis cannot, writes succeed, nothing rejects
// unhandled, the logger is not flooded, and hits resume when Redis is back.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import v8 from 'node:v8';
import vm from 'node:vm';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Sequelize, DataTypes } from 'sequelize';
import { freePort, startRedis } from './support/redis-server.mjs';
import { recordingLogger, schema, eventually, withTransport } from './support/suite.mjs';
import { RedisCache, modelCacheFactory, withCache } from '../js/index.mjs';

const { engineOf } = await import('../js/clients.js');
const { default: nativeCore } = await import('../js/native.js');

const unhandled = [];
process.on('unhandledRejection', (e) => unhandled.push(e));


describe('RedisCache', () => {
  let port;
  let server;
  let inspect;
  before(async () => {
    port = await freePort();
    server = await startRedis(port);
    inspect = new Redis(port, '127.0.0.1');
  });
  after(() => {
    inspect.disconnect();
    server.kill('SIGKILL');
    assert.deepEqual(unhandled, [], 'no promise rejected unhandled');
  });

  test('both API styles read through Redis; keys carry the namespace', async () => {
    const { sequelize, User, counted } = await schema();
    const client = new RedisCache({ url: `redis://127.0.0.1:${port}`, namespace: 'app1' });
    const cache = await modelCacheFactory(client, recordingLogger());
    const u = await User.create({ name: 'alice' });
    await cache.wrap(User).findByPk(u.id);
    let [row, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
    assert.deepEqual([row.name, statements], ['alice', 0], 'a hit served by Redis');
    withCache(client, { logger: recordingLogger() }).withCache(User);
    await User.cache().findByPk(u.id);
    [row, statements] = await counted(() => User.cache().findByPk(u.id));
    assert.deepEqual([row.name, statements], ['alice', 0]);
    const keys = await inspect.keys('*');
    assert.ok(keys.length > 0);
    assert.ok(keys.every((k) => k.startsWith('app1:') || k.startsWith('{app1}:')), `namespaced: ${keys.join(', ')}`);
    assert.ok(keys.includes(`app1:#entity:Users:{"where":{"id":${u.id}}}`), `entities at their engine key: ${keys.join(', ')}`);
    assert.equal(client.stats().hits, 2);
    await client.close();
    await sequelize.close();
  });

  test('storeAtKey: a one-element path is stored at exactly that key; tokens stay under {namespace}', async () => {
    const client = new RedisCache({ url: `redis://127.0.0.1:${port}`, namespace: 'atkey', l1: false });
    const engine = engineOf(client, 'test');
    const key = 'atkey:findAll:UserModels:{}';
    const deps = await engine.remote.tokensForFill(['UserModels']);
    await engine.remote.set([key], key, '1 rows []\n[]', 1500, deps);
    assert.equal(await inspect.exists(key), 1, 'stored at the key itself');
    assert.equal(await inspect.exists('{atkey}:#generation:UserModels'), 1, 'the token where tokens live');
    const ttl = await inspect.pttl(key);
    assert.ok(ttl > 1000 && ttl <= 1500, `milliseconds end to end, not rounded to seconds (pttl ${ttl})`);
    assert.deepEqual(await engine.remote.get([key], ['UserModels'], key), { payload: '1 rows []\n[]', tokens: undefined });
    const absent = 'atkey:findAll:UserModels:{"where":1}';
    assert.deepEqual(await engine.remote.get([absent], ['UserModels'], absent), { miss: 'absent', tokens: deps }, 'a miss carries the tokens read with it, for its fill');
    assert.equal((await engine.remote.get([key], ['UserModels'], 'atkey:findAll:Other:{}')).miss, 'foreign', 'an entry answers only the key it was written for');
    await client.close();
  });

  test("two app servers on one Redis see each other's writes", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snc-redis-'));
    const a = await schema(join(dir, 'db.sqlite'));
    const b = await schema(join(dir, 'db.sqlite'));
    try {
      // Without L1, so the invalidation under test is the generation tokens' alone.
      const ca = await modelCacheFactory(new RedisCache({ url: `redis://127.0.0.1:${port}`, namespace: 'shared', l1: false }), recordingLogger());
      const cb = await modelCacheFactory(new RedisCache({ url: `redis://127.0.0.1:${port}`, namespace: 'shared', l1: false }), recordingLogger());
      const u = await a.User.create({ name: 'v1' });
      const readA = () => ca.wrap(a.User).findAll({ where: { id: u.id } });
      await readA();
      let [rows, statements] = await a.counted(readA);
      assert.deepEqual([rows[0].name, statements], ['v1', 0]);
      cb.wrap(b.User); // b's writes are now watched
      await b.User.update({ name: 'v2' }, { where: { id: u.id } });
      [rows, statements] = await a.counted(readA);
      assert.deepEqual([rows[0].name, statements], ['v2', 1], "B's write made A's cached query stale");
    } finally {
      await a.sequelize.close();
      await b.sequelize.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });


  test("the L1 in front of Redis answers from memory, and another server's write reaches it by pub/sub", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snc-l1-'));
    const a = await schema(join(dir, 'db.sqlite'));
    const b = await schema(join(dir, 'db.sqlite'));
    const clientA = new RedisCache({ url: `redis://127.0.0.1:${port}`, namespace: 'l1', l1: { maxBytes: 1 << 20, ttlSeconds: 30 } });
    const clientB = new RedisCache({ url: `redis://127.0.0.1:${port}`, namespace: 'l1' });
    try {
      const ca = await modelCacheFactory(clientA, recordingLogger());
      const cb = await modelCacheFactory(clientB, recordingLogger());
      cb.wrap(b.User);
      const u = await a.User.create({ name: 'v1' });
      const readA = () => ca.wrap(a.User).findByPk(u.id);
      // Once the subscription is live, reads fill the L1.
      assert.ok(await eventually(async () => (await readA(), clientA.stats().entries), (n) => n > 0), 'the L1 holds entries');
      const [row, statements] = await a.counted(readA);
      assert.deepEqual([row.name, statements], ['v1', 0]);

      await b.User.update({ name: 'v2' }, { where: { id: u.id } });
      assert.ok(await eventually(readA, (r) => r.name === 'v2'), "B's write reached A's L1");
      for (let i = 0; i < 10; i++) assert.equal((await readA()).name, 'v2', 'and it never flips back');
    } finally {
      await clientA.close();
      await clientB.close();
      await a.sequelize.close();
      await b.sequelize.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('while Redis is hung the L1 is not trusted: a write elsewhere is still seen', async () => {
    const own = await freePort();
    const proc = await startRedis(own);
    const dir = mkdtempSync(join(tmpdir(), 'snc-l1h-'));
    const a = await schema(join(dir, 'db.sqlite'));
    const b = await schema(join(dir, 'db.sqlite'));
    const clientA = new RedisCache({ url: `redis://127.0.0.1:${own}`, namespace: 'hung', commandTimeoutMs: 150, connectTimeoutMs: 300, l1: { ttlSeconds: 60 } });
    try {
      const ca = await modelCacheFactory(clientA, recordingLogger());
      const u = await a.User.create({ name: 'before' });
      const readA = () => ca.wrap(a.User).findByPk(u.id);
      assert.ok(await eventually(async () => (await readA(), clientA.stats().entries), (n) => n > 0));
      proc.kill('SIGSTOP');
      // Another server writes; with Redis hung its invalidation cannot be delivered.
      await b.User.update({ name: 'after' }, { where: { id: u.id } });
      assert.ok(await eventually(readA, (r) => r.name === 'after'), 'the L1 stopped answering once Redis stopped answering');
      for (let i = 0; i < 5; i++) assert.equal((await readA()).name, 'after');
    } finally {
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
      await clientA.close();
      await a.sequelize.close();
      await b.sequelize.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a connection slower to make than a command deadline is still made, on either transport', async () => {
    const net = await import('node:net');
    const own = await freePort();
    const proc = await startRedis(own, ['--requirepass', 'slow-pw']);
    // A far server: each new connection's bytes start flowing only 400 ms after it opens, so AUTH
    // (part of connecting) answers after every command deadline (150 ms) has passed.
    const proxy = net.createServer((c) => {
      c.pause();
      setTimeout(() => {
        const u = net.connect(own, '127.0.0.1', () => {
          c.pipe(u);
          u.pipe(c);
          c.resume();
        });
        u.on('error', () => c.destroy());
        c.on('error', () => u.destroy());
      }, 400);
    });
    await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { sequelize, User } = await schema();
    const u = await User.create({ name: 'far' });
    try {
      for (const transport of ['event-loop', 'tokio']) {
        const client = withTransport(
          transport,
          () => new RedisCache({ url: `redis://:slow-pw@127.0.0.1:${proxy.address().port}`, namespace: `far-${transport}`, l1: false, commandTimeoutMs: 150, connectTimeoutMs: 3000 }),
        );
        try {
          const cache = await modelCacheFactory(client, recordingLogger());
          const read = async () => {
            assert.equal((await cache.wrap(User).findByPk(u.id)).name, 'far');
            return client.stats().hits;
          };
          assert.ok(await eventually(read, (hits) => hits > 0, 10), `${transport}: the connection was made and reads hit`);
        } finally {
          await client.close();
        }
      }
    } finally {
      proxy.close();
      proc.kill('SIGKILL');
      await sequelize.close();
    }
  });

  test('a read against a hung Redis asks it once: no fill waits on it again after it failed, on either transport', async () => {
    const own = await freePort();
    const proc = await startRedis(own);
    const { sequelize, User, counted } = await schema();
    const u = await User.create({ name: 'db' });
    try {
      for (const transport of ['event-loop', 'tokio']) {
        const client = withTransport(transport, () => new RedisCache({ url: `redis://127.0.0.1:${own}`, namespace: `once-${transport}`, l1: false, commandTimeoutMs: 200 }));
        const cache = await modelCacheFactory(client, recordingLogger());
        await cache.wrap(User).findByPk(u.id);
        // Every call the read path makes on the tier, counted.
        const remote = engineOf(client).remote;
        const calls = [];
        for (const name of ['get', 'tokensForFill']) {
          const real = remote[name].bind(remote);
          remote[name] = (...args) => (calls.push(name), real(...args));
        }
        proc.kill('SIGSTOP');
        try {
          const [row, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
          assert.deepEqual([row.name, statements], ['db', 1], `${transport}: the database answers`);
          assert.deepEqual(calls, ['get'], `${transport}: one call on the hung tier`);
        } finally {
          proc.kill('SIGCONT');
          await client.close();
        }
      }
    } finally {
      proc.kill('SIGKILL');
      await sequelize.close();
    }
  });

  test('a Redis that is down, hung or back: the database answers, writes succeed, then hits resume', async () => {
    const own = await freePort();
    let proc = await startRedis(own);
    const { sequelize, User, counted } = await schema();
    const logger = recordingLogger();
    const client = new RedisCache({ url: `redis://127.0.0.1:${own}`, namespace: 'flaky', commandTimeoutMs: 200, connectTimeoutMs: 300 });
    try {
      const cache = await modelCacheFactory(client, logger);
      const u = await User.create({ name: 'up' });
      await cache.wrap(User).findByPk(u.id);
      let [row, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
      assert.deepEqual([row.name, statements], ['up', 0]);

      // Hung: SIGSTOP keeps the socket open and answers nothing. The write's bump fails and is
      // retried; the retries (the reads of the written table do not go to Redis meanwhile) open
      // the breaker.
      proc.kill('SIGSTOP');
      await User.update({ name: 'while hung' }, { where: { id: u.id } });
      for (let i = 0; i < 6; i++) assert.equal((await cache.wrap(User).findByPk(u.id)).name, 'while hung');
      assert.ok(await eventually(() => client.breaker().phase, (p) => p === 'open'), 'the breaker stopped sending commands');
      proc.kill('SIGCONT');

      // Down.
      proc.kill('SIGKILL');
      await new Promise((r) => proc.on('exit', r));
      await User.update({ name: 'while down' }, { where: { id: u.id } });
      for (let i = 0; i < 6; i++) assert.equal((await cache.wrap(User).findByPk(u.id)).name, 'while down');
      const warnings = logger.lines.filter((l) => l.level === 'warn').length;
      assert.ok(warnings >= 1 && warnings <= 4, `one warning per kind of failure, not per call (${warnings})`);

      // Back: the breaker probes, the pending bumps go through, and hits resume by themselves.
      proc = await startRedis(own);
      let resumed = false;
      for (let i = 0; i < 100 && !resumed; i++) {
        await new Promise((r) => setTimeout(r, 100));
        await cache.wrap(User).findByPk(u.id);
        [row, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
        resumed = statements === 0;
      }
      assert.ok(resumed, 'hits resumed after Redis came back');
      assert.equal(row.name, 'while down', 'and they are fresh');
      assert.equal(client.breaker().phase, 'closed');
    } finally {
      // A stopped child process would keep the test process alive.
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
      await client.close();
      await sequelize.close();
    }
  });

  test('concurrent hits issued in one tick cost one MGET: entries and their tables\' tokens in one round trip', async () => {
    const { sequelize, User, counted } = await schema();
    const client = new RedisCache({ url: `redis://127.0.0.1:${port}`, namespace: 'batch', l1: false });
    const cache = await modelCacheFactory(client, recordingLogger());
    const users = [];
    for (let i = 0; i < 20; i++) users.push(await User.create({ name: `b${i}` }));
    for (const u of users) await cache.wrap(User).findByPk(u.id);
    await inspect.config('RESETSTAT');
    const [rows, statements] = await counted(() => Promise.all(users.map((u) => cache.wrap(User).findByPk(u.id))));
    assert.equal(statements, 0, 'twenty hits');
    assert.deepEqual(rows.map((r) => r.name), users.map((u) => u.name));
    const stats = await inspect.info('commandstats');
    const calls = (cmd) => Number((stats.match(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`)) || [])[1] || 0);
    assert.equal(calls('get'), 0, 'no single GETs');
    assert.equal(calls('mget'), 1, `twenty hits in ${calls('mget')} MGETs`);
    await inspect.config('RESETSTAT');
    assert.equal((await cache.wrap(User).findByPk(users[0].id)).name, users[0].name);
    const one = await inspect.info('commandstats');
    assert.deepEqual([...one.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].map((m) => `${m[1]}=${m[2]}`).filter((c) => !c.startsWith('info') && !c.startsWith('config')), ['mget=1'], 'a lone hit is one command');
    // More keys than one batch holds: sent as several MGETs that overlap, every answer still right.
    for (let i = 0; i < 40; i++) users.push(await User.create({ name: `c${i}` }));
    for (const u of users) await cache.wrap(User).findByPk(u.id);
    await inspect.config('RESETSTAT');
    const many = await counted(() => Promise.all(users.map((u) => cache.wrap(User).findByPk(u.id))));
    assert.deepEqual([many[0].map((r) => r.name), many[1]], [users.map((u) => u.name), 0]);
    const split = Number(/cmdstat_mget:calls=(\d+)/.exec(await inspect.info('commandstats'))[1]);
    assert.ok(split >= 2 && split <= 4, `60 hits in ${split} MGETs`);
    await client.close();
    await sequelize.close();
  });

  test('a wrong password: the database answers, one clear warning, the password never logged', async () => {
    const own = await freePort();
    const proc = await startRedis(own, ['--requirepass', 'right-secret']);
    const { sequelize, User } = await schema();
    const logger = recordingLogger();
    const lines = [];
    logger.warn = (obj, msg) => lines.push(JSON.stringify(obj) + ' ' + msg);
    const client = new RedisCache({ url: `redis://:wrong-secret@127.0.0.1:${own}`, namespace: 'auth', l1: false });
    try {
      const cache = await modelCacheFactory(client, logger);
      const u = await User.create({ name: 'db' });
      for (let i = 0; i < 5; i++) assert.equal((await cache.wrap(User).findByPk(u.id)).name, 'db');
      assert.ok(lines.length >= 1 && lines.length <= 3, `a warning, not one per call (${lines.length})`);
      assert.match(lines.join('\n'), /WRONGPASS|NOAUTH|auth|password/i, 'the warning says why');
      assert.ok(!lines.join('\n').includes('wrong-secret'), 'the password is never logged');
    } finally {
      proc.kill('SIGKILL');
      await client.close();
      await sequelize.close();
    }
  });

  test('large values are stored compressed and read back equal; values over maxValueBytes are not cached', async () => {
    const sql = [];
    const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: (q) => sql.push(q) });
    const Doc = sequelize.define('Doc', { body: DataTypes.TEXT });
    await sequelize.sync();
    const body = 'All work and no play makes Jack a dull boy. '.repeat(3000);
    const big = await Doc.create({ body });
    const huge = await Doc.create({ body: body.repeat(4) });
    const logger = recordingLogger();
    const client = new RedisCache({ url: `redis://127.0.0.1:${port}`, namespace: 'zip', l1: false, compressAboveBytes: 1024, maxValueBytes: 300_000 });
    const cache = await modelCacheFactory(client, logger);
    await cache.wrap(Doc).findByPk(big.id);
    let n = sql.length;
    assert.equal((await cache.wrap(Doc).findByPk(big.id)).body, body, 'a hit equal to what was stored');
    assert.equal(sql.length, n);
    const [key] = await inspect.keys('zip:*findByPk*');
    const stored = await inspect.getBuffer(key);
    assert.equal(stored.subarray(0, 3).toString(), 'SNC', 'a codec frame');
    assert.equal(stored[4], 1, 'its header marks it LZ4-compressed');
    assert.ok(stored.length < body.length / 5, `${stored.length} bytes stored for a ${body.length}-character row`);

    for (let i = 0; i < 3; i++) {
      n = sql.length;
      assert.equal((await cache.wrap(Doc).findByPk(huge.id)).body.length, body.length * 4);
      assert.equal(sql.length, n + 1, 'a result over maxValueBytes goes to the database every time');
    }
    assert.equal(client.stats().bypassReasons['value-too-large'], 3);
    assert.equal(logger.lines.filter((l) => l.code === 'cache-too-large').length, 1, 'logged once');
    await client.close();
    await sequelize.close();
  });

  test('TLS (rediss://): with the CA trusted, hits and pub/sub work; an untrusted certificate is one clear warning and the database answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snc-tls-'));
    const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=snc-test-ca');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
    const tlsPort = await freePort();
    const proc = await startRedis(tlsPort, [
      '--port', '0',
      '--tls-port', String(tlsPort),
      '--tls-cert-file', join(dir, 'server.crt'),
      '--tls-key-file', join(dir, 'server.key'),
      '--tls-ca-cert-file', join(dir, 'ca.crt'),
      '--tls-auth-clients', 'no',
    ]);
    const { sequelize, User, counted } = await schema();
    try {
      const u = await User.create({ name: 'secure' });
      const trusted = new RedisCache({ url: `rediss://127.0.0.1:${tlsPort}`, namespace: 'tls', tls: { ca: readFileSync(join(dir, 'ca.crt')) } });
      const cache = await modelCacheFactory(trusted, recordingLogger());
      assert.ok(
        await eventually(
          () => counted(() => cache.wrap(User).findByPk(u.id)),
          ([row, statements]) => row.name === 'secure' && statements === 0,
        ),
        'hits over TLS',
      );
      assert.ok(trusted.stats().hits > 0);
      await trusted.close();

      const logger = recordingLogger();
      const untrusted = new RedisCache({ url: `rediss://127.0.0.1:${tlsPort}`, namespace: 'tls', l1: false });
      const plain = await modelCacheFactory(untrusted, logger);
      for (let i = 0; i < 10; i++) {
        const [row, statements] = await counted(() => plain.wrap(User).findByPk(u.id));
        assert.deepEqual([row.name, statements], ['secure', 1], 'the database answers');
      }
      const warnings = logger.lines.filter((l) => l.level === 'warn');
      assert.ok(warnings.length >= 1 && warnings.length <= 3, `one warning per state, not per call: ${JSON.stringify(logger.lines)}`);
      assert.match(JSON.stringify(logger.lines), /certificate|UnknownIssuer|tls/i, 'the warning says it is about TLS');
      await untrusted.close();
    } finally {
      proc.kill('SIGKILL');
      await sequelize.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad options are TypeErrors naming the option; credentials never appear', () => {
    const cases = [
      [{}, /exactly one of url/],
      [{ url: 'http://x' }, /url must be a redis:\/\/ or rediss:\/\/ URL/],
      [{ url: 'redis://h', tls: { ca: 'not pem' } }, /tls.ca must be a PEM certificate/],
      [{ url: 'redis://h', tls: { ca: '-----BEGIN CERTIFICATE-----' } }, /tls.ca needs rediss:\/\//],
      [{ url: 'redis://user:hunter2@' }, /url is not a valid URL/],
      [{ url: 'redis://h/abc' }, /database must be a number/],
      [{ url: 'redis://h', commandTimeoutMs: -1 }, /commandTimeoutMs/],
      [{ url: 'redis://h', connectTimeoutMs: 0 }, /connectTimeoutMs/],
      [{ url: 'redis://h', unknown: 1 }, /unknown option "unknown"/],
      [{ nodes: [] }, /nodes/],
      [{ url: 'redis://h', namespace: 'a{b}' }, /namespace/],
      [{ url: 'redis://h', l1: { ttlSeconds: -1 } }, /ttlSeconds/],
      [{ url: 'redis://h', l1: { size: 1 } }, /unknown option "size"/],
      [{ url: 'redis://h', compressAboveBytes: -1 }, /compressAboveBytes/],
      [{ url: 'redis://h', maxValueBytes: 0 }, /maxValueBytes/],
    ];
    for (const [options, message] of cases) {
      assert.throws(
        () => new RedisCache(options),
        (e) => e instanceof TypeError && message.test(e.message) && !e.message.includes('hunter2'),
      );
    }
  });

  test('a single node is served on the event loop (SNC_REDIS_TRANSPORT=tokio chooses redis-rs); a bad value names the variable', async () => {
    const before = process.env.SNC_REDIS_TRANSPORT;
    const make = (value) => {
      if (value === undefined) delete process.env.SNC_REDIS_TRANSPORT;
      else process.env.SNC_REDIS_TRANSPORT = value;
      try {
        return new RedisCache({ url: `redis://127.0.0.1:${port}`, namespace: 'transport', l1: false });
      } finally {
        if (before === undefined) delete process.env.SNC_REDIS_TRANSPORT;
        else process.env.SNC_REDIS_TRANSPORT = before;
      }
    };
    assert.throws(() => make('threads'), (e) => e instanceof TypeError && /SNC_REDIS_TRANSPORT.*event-loop or tokio/.test(e.message));
    // A URL form only redis-rs reads (an upper-case scheme) is served by the tokio transport.
    const upper = new RedisCache({ url: `REDIS://127.0.0.1:${port}`, namespace: 'transport-upper', l1: false });
    assert.equal(upper.transport, 'tokio');
    {
      const { sequelize: sq2, User: U2, counted: c2 } = await schema();
      const row = await U2.create({ name: 'upper' });
      const cache = await modelCacheFactory(upper, recordingLogger());
      await cache.wrap(U2).findByPk(row.id);
      const [hit, statements] = await c2(() => cache.wrap(U2).findByPk(row.id));
      assert.deepEqual([hit.name, statements], ['upper', 0], 'a Redis-tier hit through the fallback');
      await upper.close();
      await sq2.close();
    }
    const { sequelize, User, counted } = await schema();
    const u = await User.create({ name: 'ev' });
    for (const [value, transport] of [[undefined, 'event-loop'], ['event-loop', 'event-loop'], ['tokio', 'tokio']]) {
      const client = make(value);
      assert.equal(client.transport, transport);
      const cache = await modelCacheFactory(client, recordingLogger());
      await cache.wrap(User).findByPk(u.id);
      const [row, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
      assert.deepEqual([row.name, statements], ['ev', 0], `a Redis-tier hit on the ${transport} transport`);
      // Thread crossings, counted: a hit on the event loop hands nothing to the tokio runtime and
      // no libuv callback of its connection runs off the JS thread; over tokio each hit is a task.
      const tokio0 = nativeCore.tokioCalls();
      const hits0 = client.stats().hits;
      for (let i = 0; i < 20; i++) await cache.wrap(User).findByPk(u.id);
      assert.equal(client.stats().hits - hits0, 20);
      const tasks = nativeCore.tokioCalls() - tokio0;
      if (transport === 'event-loop') {
        assert.equal(tasks, 0, 'no tokio task on the event-loop hit path');
        const t = engineOf(client).remote.store.tier.transportStats();
        assert.equal(t.foreignThreadCallbacks, 0);
        assert.ok(t.replies >= 21, `replies counted: ${JSON.stringify(t)}`);
      } else {
        assert.ok(tasks >= 20, `one tokio task per hit over tokio: ${tasks}`);
      }
      await client.close();
    }
    await sequelize.close();
  });

  test('a command refused at once (breaker open, Redis down) still settles its promise: 200,000 refused reads leave the heap flat', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    const deadPort = await freePort(); // nothing listens: every connect is refused
    const tier = nativeCore.createRedisLoop({ urls: [`redis://127.0.0.1:${deadPort}`], cluster: false, connectTimeoutMs: 200, commandTimeoutMs: 200, compressAboveBytes: 0, maxValueBytes: 1024 });
    const codes = new Map();
    const reads = async (n) => {
      for (let i = 0; i < n; i += 1000) {
        const settled = await Promise.allSettled(Array.from({ length: 1000 }, () => tier.mget(['k'])));
        for (const r of settled) {
          const code = r.status === 'rejected' ? r.reason.code : 'answered';
          codes.set(code, (codes.get(code) || 0) + 1);
        }
      }
    };
    try {
      await reads(10_000);
      gc();
      const before = process.memoryUsage().heapUsed;
      await reads(200_000);
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      assert.ok(!codes.has('answered'), `every read failed: ${JSON.stringify([...codes])}`);
      assert.ok(codes.get('open') > 100_000, `most were refused by the open breaker: ${JSON.stringify([...codes])}`);
      // An unsettled N-API promise is kept alive forever: 200,000 of them hold several MiB.
      assert.ok(grown < 3 * 1024 * 1024, `the heap grew by ${(grown / 1024 / 1024).toFixed(1)} MiB over 200,000 refused reads`);
    } finally {
      tier.close();
    }
  });

  test('worker threads: each RedisCache gets hits over its own connection; a process whose client (L1 on) is never closed exits by itself', async () => {
    const index = new URL('../js/index.js', import.meta.url).pathname;
    const script = `
      const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads');
      const { Sequelize, DataTypes } = require('sequelize');
      const { RedisCache, modelCacheFactory } = require(${JSON.stringify(index)});
      async function run(n) {
        const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
        const User = sequelize.define('User', { name: DataTypes.STRING });
        await sequelize.sync();
        const u = await User.create({ name: 'w' + n });
        const client = new RedisCache({ url: 'redis://127.0.0.1:${port}', namespace: 'workers-' + n });
        const wrapped = (await modelCacheFactory(client)).wrap(User);
        for (let i = 0; i < 20; i++) if ((await wrapped.findByPk(u.id)).name !== 'w' + n) throw new Error('wrong row');
        return { transport: client.transport, hits: client.stats().hits };
      }
      if (isMainThread) {
        const results = [];
        let left = 3;
        for (let n = 0; n < 3; n++) {
          const w = new Worker(__filename, { workerData: n });
          w.on('message', (m) => results.push(m));
          w.on('error', (e) => { console.error(e); process.exitCode = 1; });
          w.on('exit', () => { if (--left === 0) run(3).then((m) => console.log(JSON.stringify([...results, m]))); });
        }
      } else {
        run(workerData).then((m) => parentPort.postMessage(m));
      }`;
    const dir = mkdtempSync(join(tmpdir(), 'snc-workers-'));
    try {
      const file = join(dir, 'workers.cjs');
      writeFileSync(file, script);
      // The process must end on its own: clients are left open on purpose (timeout = a hang).
      const out = execFileSync(process.execPath, [file], { timeout: 20_000, encoding: 'utf8', env: { ...process.env, NODE_PATH: join(process.cwd(), 'node_modules') } });
      const results = JSON.parse(out.trim().split('\n').pop());
      assert.equal(results.length, 4, 'three workers and the main thread reported');
      const expected = process.env.SNC_REDIS_TRANSPORT === 'tokio' ? 'tokio' : 'event-loop';
      for (const r of results) {
        assert.equal(r.transport, expected);
        assert.ok(r.hits >= 15, `hits in each thread: ${JSON.stringify(results)}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
