// The event-loop Redis transport (src/transport/redis), through its test-only N-API surface
// (evloopTest*), against redis-server processes of this suite's own on free ports (the shared
// 6379 is never signalled). No timing assertions: what is asserted is that replies match their
// commands, every waiter settles (none hangs), failures carry the right code, and the connection
// recovers. Relays on localhost reshape the real server's bytes (dribbled, or corrupted once) to
// reach the parser's and the connection's edge cases.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { freePort, startRedis } from './support/redis-server.mjs';
import { eventually } from './support/suite.mjs';

const require = createRequire(import.meta.url);
const b = require('../js/binding/index.js');
const CHILD = fileURLToPath(new URL('./support/evloop-child.mjs', import.meta.url));

const cmd = (c, ...args) => b.evloopTestCommand(c, args);
/** The outcome of a settled command: its value, or `{ code }` of its rejection. */
const outcome = (p) => p.then((value) => ({ value }), (e) => ({ code: e.code, message: e.message }));

/**
 * Resolves to the outcomes of `promises` (made with `outcome`, at the time each command was
 * issued, so that no rejection goes unhandled meanwhile), or rejects if some are still pending
 * after `ms`.
 */
async function allSettle(promises, ms, what) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: some commands never settled`)), ms);
  });
  try {
    return await Promise.race([Promise.all(promises), guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Issues a command; resolves to its outcome (see `outcome`), never rejects. */
const attempt = (c, ...args) => outcome(b.evloopTestCommand(c, args));

/**
 * Kills `c`'s connection from `admin` while a pipeline is half answered: 100 ECHOs (answered),
 * a BLPOP that blocks the server's side of the pipeline, and 5000 ECHOs queued behind it. The
 * first 100 must resolve in order, every later command must fail with connection-lost, and a
 * command after that must work on a new connection.
 */
async function resetMidPipeline(c, admin) {
  const id = await cmd(c, 'CLIENT', 'ID');
  const ps = [];
  for (let i = 0; i < 100; i++) ps.push(attempt(c, 'ECHO', `e${i}`));
  ps.push(attempt(c, 'BLPOP', 'evloop:never', '5'));
  for (let i = 0; i < 5000; i++) ps.push(attempt(c, 'ECHO', `late${i}`));
  assert.deepEqual(await ps[99], { value: 'e99' });
  assert.equal(await cmd(admin, 'CLIENT', 'KILL', 'ID', String(id)), 1);
  const got = await allSettle(ps, 15_000, 'reset');
  got.slice(0, 100).forEach((o, i) => assert.deepEqual(o, { value: `e${i}` }));
  const lost = got.slice(100);
  assert.equal(lost.length, 5001);
  assert.deepEqual([...new Set(lost.map((o) => o.code))], ['connection-lost']);
  const connects = b.evloopTestStats(c).connects;
  assert.equal(await cmd(c, 'ECHO', 'back'), 'back');
  assert.equal(b.evloopTestStats(c).connects, connects + 1, 'on a new connection');
}

/** Runs the child scenario `mode`; resolves to { code, signal, lines, stderr } or rejects after `ms`. */
function child(mode, url, ms = 20_000, nodeFlags = []) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...nodeFlags, CHILD, mode, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`child ${mode} still running after ${ms} ms; stdout: ${out} stderr: ${err}`));
    }, ms);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, lines: out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)), stderr: err });
    });
  });
}

/**
 * A TCP relay to `port` that hands the server's bytes to `onReply(chunk, send)` (requests pass
 * unchanged). Resolves to { port, close }.
 */
async function relay(port, onReply) {
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    client.setNoDelay(true); // each piece its own segment: no coalescing by Nagle
    sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => onReply(d, (bytes) => client.write(bytes)));
  });
  const relayPort = await freePort();
  await new Promise((r) => server.listen(relayPort, '127.0.0.1', r));
  return {
    port: relayPort,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

/** Passes each chunk on in pieces of 1..7 bytes, one piece per loop turn, in order. */
function dribbler() {
  const queue = [];
  let busy = false;
  const pump = () => {
    const next = queue.shift();
    if (!next) {
      busy = false;
      return;
    }
    const [bytes, send] = next;
    const n = 1 + Math.floor(Math.random() * 7);
    send(bytes.subarray(0, n));
    if (bytes.length > n) queue.unshift([bytes.subarray(n), send]);
    setImmediate(pump);
  };
  return (chunk, send) => {
    queue.push([chunk, send]);
    if (!busy) {
      busy = true;
      setImmediate(pump);
    }
  };
}

const sha = (s) => createHash('sha256').update(s).digest('hex');

describe('event-loop Redis transport', () => {
  let port;
  let server;
  let url;
  before(async () => {
    port = await freePort();
    server = await startRedis(port);
    url = `redis://127.0.0.1:${port}`;
  });
  after(() => server.kill('SIGKILL'));

  test('the transport can run in this Node (libuv found at run time)', () => {
    assert.equal(b.evloopTestUnavailable(), null);
  });

  test('pipelined commands get their own replies, in order', async () => {
    const c = b.evloopTestConnect(url);
    const n = 3000;
    const ps = [];
    for (let i = 0; i < n; i++) {
      ps.push(cmd(c, 'SET', `pipe:${i}`, `value-${i}`));
      ps.push(cmd(c, 'INCR', 'pipe:counter'));
      ps.push(cmd(c, 'GET', `pipe:${i}`));
    }
    ps.push(cmd(c, 'MGET', 'pipe:0', 'pipe:missing', `pipe:${n - 1}`));
    const got = await Promise.all(ps);
    for (let i = 0; i < n; i++) {
      assert.deepEqual(got.slice(3 * i, 3 * i + 3), ['OK', i + 1, `value-${i}`], `command group ${i}`);
    }
    assert.deepEqual(got[3 * n], ['value-0', null, `value-${n - 1}`]);
    assert.equal(b.evloopTestStats(c).connects, 1);
    b.evloopTestClose(c);
  });

  test('commands issued by the continuations of replies are written together', async () => {
    const c = b.evloopTestConnect(url);
    await cmd(c, 'SET', 'coalesce', 'x');
    const before = b.evloopTestStats(c);
    const perWorker = 200;
    const workers = 64;
    await Promise.all(
      Array.from({ length: workers }, async () => {
        for (let i = 0; i < perWorker; i++) assert.equal(await cmd(c, 'GET', 'coalesce'), 'x');
      }),
    );
    const after = b.evloopTestStats(c);
    const commands = workers * perWorker;
    const writes = after.writes - before.writes;
    assert.ok(writes < commands / 4, `${commands} commands took ${writes} writes`);
    b.evloopTestClose(c);
  });

  test('a reply split across many reads is parsed whole (bytes relayed 1-7 at a time)', async () => {
    const r = await relay(port, dribbler());
    try {
      const c = b.evloopTestConnect(`redis://127.0.0.1:${r.port}`, { commandTimeoutMs: 20_000 });
      const value = 'split\r\n$-1\r\n*2\r\n'.repeat(40);
      assert.equal(await cmd(c, 'SET', 'split', value), 'OK');
      const got = await Promise.all([cmd(c, 'GET', 'split'), cmd(c, 'MGET', 'split', 'nothing', 'split'), cmd(c, 'PING')]);
      assert.deepEqual(got, [value, [value, null, value], 'PONG']);
      const stats = b.evloopTestStats(c);
      assert.ok(stats.reads > stats.replies * 5, `replies arrived in pieces: ${JSON.stringify(stats)}`);
      b.evloopTestClose(c);
    } finally {
      await r.close();
    }
  });

  test('replies larger than the read buffer, alone and pipelined among small ones', async () => {
    const c = b.evloopTestConnect(url, { commandTimeoutMs: 10_000 });
    const big = 'abcdefghij'.repeat(512 * 1024); // 5 MiB
    assert.equal(await cmd(c, 'SET', 'big', big), 'OK');
    const alone = await cmd(c, 'GET', 'big');
    assert.equal(alone.length, big.length);
    assert.equal(sha(alone), sha(big));
    const ps = [];
    for (let i = 0; i < 6; i++) {
      ps.push(cmd(c, 'GET', 'big'));
      ps.push(cmd(c, 'ECHO', `small-${i}`));
    }
    const got = await Promise.all(ps);
    for (let i = 0; i < 6; i++) {
      assert.equal(sha(got[2 * i]), sha(big), `big reply ${i}`);
      assert.equal(got[2 * i + 1], `small-${i}`);
    }
    b.evloopTestClose(c);
  });

  test('an error reply rejects its command only; neighbours and the connection are fine', async () => {
    const c = b.evloopTestConnect(url);
    await cmd(c, 'SET', 'a-string', 'v');
    const got = await allSettle([attempt(c, 'GET', 'a-string'), attempt(c, 'LPUSH', 'a-string', 'x'), attempt(c, 'ECHO', 'after')], 5000, 'error reply');
    assert.deepEqual(got[0], { value: 'v' });
    assert.equal(got[1].code, 'server');
    assert.match(got[1].message, /WRONGTYPE/);
    assert.deepEqual(got[2], { value: 'after' });
    assert.equal(b.evloopTestStats(c).connects, 1, 'the connection was kept');
    b.evloopTestClose(c);
  });

  test('a malformed reply drops the connection, fails every pending command, and the next command reconnects', async () => {
    let corrupt = false;
    const r = await relay(port, (chunk, send) => {
      if (corrupt) {
        corrupt = false;
        const bad = Buffer.from(chunk);
        bad[0] = 0x21; // '!': no RESP2 type
        send(bad);
      } else send(chunk);
    });
    try {
      const c = b.evloopTestConnect(`redis://127.0.0.1:${r.port}`);
      assert.equal(await cmd(c, 'PING'), 'PONG');
      corrupt = true;
      const got = await allSettle([attempt(c, 'ECHO', 'one'), attempt(c, 'ECHO', 'two')], 5000, 'protocol error');
      assert.deepEqual(
        got.map((o) => o.code),
        ['protocol', 'protocol'],
      );
      assert.equal(await cmd(c, 'ECHO', 'again'), 'again');
      assert.equal(b.evloopTestStats(c).connects, 2);
      b.evloopTestClose(c);
    } finally {
      await r.close();
    }
  });

  test('a connection reset mid-pipeline settles every waiter, then the connection recovers', async () => {
    const c = b.evloopTestConnect(url, { commandTimeoutMs: 10_000 });
    const admin = b.evloopTestConnect(url);
    await resetMidPipeline(c, admin);
    b.evloopTestClose(c);
    b.evloopTestClose(admin);
  });

  test('close() rejects pending and later commands with code closed', async () => {
    const c = b.evloopTestConnect(url);
    await cmd(c, 'PING');
    const ps = Array.from({ length: 100 }, (_, i) => attempt(c, 'ECHO', `${i}`));
    b.evloopTestClose(c);
    const got = await allSettle([...ps, attempt(c, 'PING')], 5000, 'close');
    assert.deepEqual([...new Set(got.map((o) => o.code))], ['closed']);
  });
});

describe('event-loop Redis transport: a server that stops, dies, or asks for credentials', () => {
  test('SIGSTOP: pending commands time out, commands fail fast meanwhile, and work again after SIGCONT', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const server = await startRedis(port);
    try {
      const c = b.evloopTestConnect(`redis://127.0.0.1:${port}`, { commandTimeoutMs: 300, connectTimeoutMs: 300 });
      assert.equal(await cmd(c, 'PING'), 'PONG');
      server.kill('SIGSTOP');
      const got = await allSettle(
        Array.from({ length: 200 }, () => attempt(c, 'PING')),
        5000,
        'stopped server',
      );
      assert.deepEqual([...new Set(got.map((o) => o.code))], ['timeout']);
      assert.equal(b.evloopTestStats(c).timeouts, 1, 'one timeout dropped the connection for all');
      // While the server stays stopped, nothing hangs: every command settles with a failure.
      const later = await allSettle(
        Array.from({ length: 20 }, () => attempt(c, 'PING')),
        5000,
        'still stopped',
      );
      assert.ok(later.every((o) => o.code === 'timeout' || o.code === 'unavailable'), JSON.stringify(later));
      server.kill('SIGCONT');
      assert.ok(
        await eventually(
          () => outcome(cmd(c, 'PING')),
          (o) => o.value === 'PONG',
        ),
        'works again after SIGCONT',
      );
      b.evloopTestClose(c);
    } finally {
      server.kill('SIGCONT');
      server.kill('SIGKILL');
    }
  });

  test('restart: in-flight commands settle, commands fail fast while it is down, and it reconnects', { timeout: 30_000 }, async () => {
    const port = await freePort();
    let server = await startRedis(port);
    try {
      const c = b.evloopTestConnect(`redis://127.0.0.1:${port}`, { commandTimeoutMs: 2000 });
      assert.equal(await cmd(c, 'PING'), 'PONG');
      const inFlight = Array.from({ length: 20_000 }, (_, i) => attempt(c, 'ECHO', `${i}`));
      server.kill('SIGKILL');
      await new Promise((r) => server.once('exit', r));
      const got = await allSettle(inFlight, 10_000, 'server killed');
      assert.ok(got.some((o) => o.code === 'connection-lost' || o.code === 'unavailable'), 'the lost ones fail');
      const down = await allSettle(
        Array.from({ length: 50 }, () => attempt(c, 'PING')),
        3000,
        'server down',
      );
      assert.deepEqual([...new Set(down.map((o) => o.code))], ['unavailable']);
      assert.match(down[0].message, /refused|connect/i);
      server = await startRedis(port);
      assert.ok(
        await eventually(
          () => outcome(cmd(c, 'PING')),
          (o) => o.value === 'PONG',
        ),
        'reconnected after the restart',
      );
      assert.ok(b.evloopTestStats(c).connects >= 2);
      b.evloopTestClose(c);
    } finally {
      server.kill('SIGKILL');
    }
  });

  test('AUTH (password, user and password) and SELECT from the URL; refused credentials or database run nothing', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const server = await startRedis(port, ['--requirepass', 'pa ss@word', '--user', 'app', 'on', '>app-secret', '~*', '&*', '+@all']);
    try {
      const base = `127.0.0.1:${port}`;
      const db0 = b.evloopTestConnect(`redis://:pa%20ss%40word@${base}`);
      const db3 = b.evloopTestConnect(`redis://:pa%20ss%40word@${base}/3`);
      const user = b.evloopTestConnect(`redis://app:app-secret@${base}/3`);
      assert.equal(await cmd(db3, 'SET', 'where', 'db3'), 'OK');
      assert.equal(await cmd(db0, 'GET', 'where'), null, 'db 0 does not see db 3');
      assert.equal(await cmd(db3, 'GET', 'where'), 'db3');
      assert.equal(await cmd(user, 'GET', 'where'), 'db3');
      assert.equal(await cmd(user, 'ACL', 'WHOAMI'), 'app');

      const wrong = b.evloopTestConnect(`redis://:not-the-password@${base}`);
      const refused = await allSettle([attempt(wrong, 'SET', 'must-not-exist', 'x'), attempt(wrong, 'PING')], 5000, 'wrong password');
      assert.deepEqual([...new Set(refused.map((o) => o.code))], ['unavailable']);
      assert.match(refused[0].message, /AUTH/);
      assert.doesNotMatch(refused[0].message, /not-the-password/, 'the password is never in a message');

      const badDb = b.evloopTestConnect(`redis://:pa%20ss%40word@${base}/99`);
      const got = await allSettle([attempt(badDb, 'SET', 'must-not-exist', 'x')], 5000, 'bad db');
      assert.equal(got[0].code, 'unavailable');
      assert.match(got[0].message, /SELECT/);
      assert.equal(await cmd(db0, 'EXISTS', 'must-not-exist'), 0, 'no command ran in the wrong database');

      const none = b.evloopTestConnect(`redis://${base}`);
      const noAuth = await allSettle([attempt(none, 'GET', 'where')], 5000, 'no auth');
      assert.equal(noAuth[0].code, 'server');
      assert.match(noAuth[0].message, /NOAUTH/);
      for (const c of [db0, db3, user, wrong, badDb, none]) b.evloopTestClose(c);
    } finally {
      server.kill('SIGKILL');
    }
  });
});

describe('event-loop Redis transport over TLS', () => {
  let dir;
  let server;
  let port;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'snc-evloop-tls-'));
    const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=snc-evloop-ca');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
    port = await freePort();
    server = await startRedis(port, [
      '--port', '0',
      '--tls-port', String(port),
      '--tls-cert-file', join(dir, 'server.crt'),
      '--tls-key-file', join(dir, 'server.key'),
      '--tls-ca-cert-file', join(dir, 'ca.crt'),
      '--tls-auth-clients', 'no',
    ]);
  });
  after(() => {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('with the CA trusted: pipelined commands and a large value; a reset mid-pipeline settles every waiter and it reconnects', async () => {
    const tlsCa = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const c = b.evloopTestConnect(`rediss://127.0.0.1:${port}`, { tlsCa, commandTimeoutMs: 10_000 });
    const big = 'tls-'.repeat(300_000);
    assert.equal(await cmd(c, 'SET', 'tls:big', big), 'OK');
    const ps = [];
    for (let i = 0; i < 2000; i++) ps.push(cmd(c, 'ECHO', `t${i}`));
    ps.push(cmd(c, 'GET', 'tls:big'));
    const got = await Promise.all(ps);
    got.slice(0, 2000).forEach((v, i) => assert.equal(v, `t${i}`));
    assert.equal(sha(got[2000]), sha(big));

    const admin = b.evloopTestConnect(`rediss://127.0.0.1:${port}`, { tlsCa });
    await resetMidPipeline(c, admin);
    b.evloopTestClose(c);
    b.evloopTestClose(admin);
  });

  test('an untrusted certificate or a name it does not cover is refused with a TLS message', async () => {
    const untrusted = b.evloopTestConnect(`rediss://127.0.0.1:${port}`);
    const [u] = await allSettle([attempt(untrusted, 'PING')], 5000, 'untrusted');
    assert.equal(u.code, 'unavailable');
    assert.match(u.message, /TLS.*(certificate|UnknownIssuer)/i);
    // "localhost" is not in the certificate (an IP SAN only): the name is looked up, connected
    // to, and refused by the certificate check.
    const tlsCa = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const wrongName = b.evloopTestConnect(`rediss://localhost:${port}`, { tlsCa });
    const [w] = await allSettle([attempt(wrongName, 'PING')], 5000, 'wrong name');
    assert.equal(w.code, 'unavailable');
    assert.match(w.message, /TLS.*not valid for name/i);
    b.evloopTestClose(untrusted);
    b.evloopTestClose(wrongName);
  });
});

describe('event-loop Redis transport: pub/sub', () => {
  test('messages arrive; a killed or hung subscription is reported lost, then resubscribes', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const server = await startRedis(port);
    try {
      const url = `redis://127.0.0.1:${port}`;
      const messages = [];
      const states = [];
      const sub = b.evloopTestSubscribe(url, 'evloop:ch', (ch, payload) => messages.push([ch, payload]), (s) => states.push(s), {
        keepaliveMs: 100,
        commandTimeoutMs: 300,
        connectTimeoutMs: 300,
      });
      const pub = b.evloopTestConnect(url);
      assert.ok(await eventually(() => states, (s) => s.at(-1) === true), 'subscribed');
      assert.equal(await cmd(pub, 'PUBLISH', 'evloop:ch', 'one'), 1);
      assert.equal(await cmd(pub, 'PUBLISH', 'evloop:other', 'not for us'), 0);
      assert.ok(await eventually(() => messages, (m) => m.length === 1));
      assert.deepEqual(messages, [['evloop:ch', 'one']]);

      await cmd(pub, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
      assert.ok(await eventually(() => states, (s) => s.join() === 'true,false,true'), `states after a kill: ${states}`);
      assert.equal(await cmd(pub, 'PUBLISH', 'evloop:ch', 'two'), 1);
      assert.ok(await eventually(() => messages, (m) => m.length === 2));

      // A hung server keeps the socket open: only the PING keepalive notices.
      server.kill('SIGSTOP');
      const seen = states.length;
      assert.ok(await eventually(() => states, (s) => s.length > seen && s.at(-1) === false), `lost while hung: ${states}`);
      server.kill('SIGCONT');
      assert.ok(await eventually(() => states, (s) => s.at(-1) === true), 'resubscribed');
      assert.equal(await cmd(pub, 'PUBLISH', 'evloop:ch', 'three'), 1);
      assert.ok(await eventually(() => messages, (m) => m.length === 3));
      assert.deepEqual(messages.at(-1), ['evloop:ch', 'three']);
      const stats = b.evloopTestSubscriberStats(sub);
      assert.equal(stats.messages, 3);
      assert.equal(stats.foreignThreadCallbacks, 0);
      b.evloopTestSubscriberClose(sub);
      b.evloopTestClose(pub);
    } finally {
      server.kill('SIGCONT');
      server.kill('SIGKILL');
    }
  });
});

describe('event-loop Redis transport: processes and threads', () => {
  let port;
  let server;
  let url;
  before(async () => {
    port = await freePort();
    server = await startRedis(port);
    url = `redis://127.0.0.1:${port}`;
  });
  after(() => server.kill('SIGKILL'));

  test('a process with an idle connection and a subscription exits on its own', async () => {
    const r = await child('idle', url);
    assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
    assert.deepEqual(r.lines, [{ got: 'PONG' }, { subscribed: true, idle: true }]);
  });

  test('a pending command keeps the process alive until it is answered', async () => {
    const r = await child('pending', url);
    assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
    assert.deepEqual(r.lines, [{ settled: null }]);
  });

  test('a connection collected with a command in flight answers it, then closes', async () => {
    const r = await child('orphan', url, 20_000, ['--expose-gc']);
    assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
    assert.deepEqual(r.lines, [{ before: 1, settled: null, after: 0 }]);
  });

  test('worker threads each use their own connection on their own loop; ending them with connections open is clean', async () => {
    const r = await child('workers', url);
    assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
    const [out] = r.lines;
    assert.equal(out.pong, 'PONG', 'the main thread still works');
    assert.equal(out.mainStats.foreignThreadCallbacks, 0);
    const byEnd = Object.fromEntries(out.results.map((x) => [x.end, x]));
    for (const end of ['idle-return', 'in-flight-exit', 'in-flight-terminate']) {
      const report = byEnd[end].messages.find((m) => m.stats);
      assert.ok(report, `${end} reported`);
      assert.equal(report.wrong, 0, `${end}: every reply matched its command`);
      assert.equal(report.stats.foreignThreadCallbacks, 0, `${end}: all callbacks on the worker's own thread`);
    }
    assert.equal(byEnd['idle-return'].exitCode, 0);
    assert.equal(byEnd['in-flight-exit'].exitCode, 0);
    assert.equal(byEnd['in-flight-terminate'].exitCode, 1, 'terminate() ends a worker with code 1');
  });
});
