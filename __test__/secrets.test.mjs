// Secrets never reach a log line or an error message: passwords in Redis URLs of every shape (bad
// URLs, a wrong password against a real redis-server with requirepass, a TLS failure), Momento API
// keys echoed back by a proxy in 400/401/403/500 answers, a credential provider whose error holds
// the key, integrity keys, and a private key passed as a CA. Each secret is searched for, whole and
// in pieces, in every line logged and every error thrown.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startRedis } from './support/redis-server.mjs';
import { startMomentoServer } from './support/momento-server.mjs';
import { recordingLogger, schema, withTransport } from './support/suite.mjs';
import { RedisCache, MomentoClientGenerator, modelCacheFactory } from '../js/index.mjs';

/** Throws unless no piece of `secret` (split at its punctuation, pieces of 3+ characters) is in `text`. */
function assertFree(text, secret, where) {
  const pieces = [secret, ...secret.split(/[^A-Za-z0-9]+/).filter((p) => p.length >= 3)];
  for (const p of pieces) assert.ok(!text.includes(p), `${where}: "${p}" (from a secret) appears in: ${text}`);
}

/** Runs `fn`; returns the message of what it threw ('' if nothing). */
function thrown(fn) {
  try {
    fn();
    return '';
  } catch (err) {
    return `${err && err.name}: ${err && err.message}`;
  }
}

describe('Redis URLs', () => {
  let port;
  let proc;
  before(async () => {
    port = await freePort();
    proc = await startRedis(port, ['--requirepass', 'the-right-one']);
  });
  after(() => proc.kill('SIGKILL'));

  const badUrls = (host) => [
    // [url, the secret in it]
    [`redis://u:Qv8/Rt5@${host}:bad`, 'Qv8/Rt5'],
    [`redis://u:Mx6/Nq4@${host}/abc`, 'Mx6/Nq4'],
    ['redis:user:Pf7Gq2@127.0.0.1', 'Pf7Gq2'],
    ['http://u:Ts3Vb8@127.0.0.1:6379', 'Ts3Vb8'],
    ['redis://u:Jk5@Wq2@', 'Jk5@Wq2'],
    [`redis://${host}:bad?password=Dd4Ee5`, 'Dd4Ee5'],
  ];

  test('a bad URL is a TypeError that never shows its password, whatever the URL looks like', () => {
    for (const [url, secret] of badUrls('127.0.0.1')) {
      const msg = thrown(() => new RedisCache({ url, l1: false }));
      assert.match(msg, /^TypeError: RedisCache: url/, url);
      assertFree(msg, secret, url);
      // (A node without a scheme gets redis:// in front, which makes the third one a usable URL.)
      if (!url.includes('://')) continue;
      const inNodes = thrown(() => new RedisCache({ nodes: ['127.0.0.1:7000', url], l1: false }));
      assert.match(inNodes, /^TypeError: RedisCache: nodes\[1\]/, url);
      assertFree(inNodes, secret, `nodes: ${url}`);
    }
  });

  test('a wrong password of any shape: the database answers, and no log line holds the password', async () => {
    const { sequelize, User } = await schema();
    const u = await User.create({ name: 'db' });
    try {
      for (const secret of ['Zq9/Xw7@Kp3', 'Hn4@Jm6', 'Lk2#Bz9', 'Wc5?Yd1', 'Gh8\\Kl2', 'Rr1%Ee2']) {
        const logger = recordingLogger();
        const url = `redis://someone:${secret}@127.0.0.1:${port}/0`;
        const client = new RedisCache({ url, namespace: 'secrets', l1: false, commandTimeoutMs: 500 });
        const cache = await modelCacheFactory(client, logger);
        for (let i = 0; i < 3; i++) assert.equal((await cache.wrap(User).findByPk(u.id)).name, 'db');
        await client.close();
        assert.ok(logger.lines.length >= 1, `${secret}: the failure was logged`);
        assert.match(logger.lines.map((l) => l.text).join('\n'), /WRONGPASS|NOAUTH|auth|password/i, `${secret}: the warning says why`);
        for (const l of logger.lines) assertFree(l.text, secret, `log line (${url})`);
      }
    } finally {
      await sequelize.close();
    }
  });

  test('a server that echoes the AUTH command back (an unknown command, a proxy) logs no password, on either transport', async () => {
    const own = await freePort();
    // With AUTH renamed away, Redis answers "unknown command 'AUTH', with args beginning with: ..."
    const server = await startRedis(own, ['--rename-command', 'AUTH', '']);
    const { sequelize, User } = await schema();
    const u = await User.create({ name: 'db' });
    try {
      for (const transport of ['event-loop', 'tokio']) {
        const secret = transport === 'tokio' ? 'Echo7Tokio9' : 'Echo7Loop9';
        const logger = recordingLogger();
        const client = withTransport(transport, () => new RedisCache({ url: `redis://admin:${secret}@127.0.0.1:${own}`, namespace: 'secrets', l1: false, commandTimeoutMs: 500 }));
        assert.equal(client.transport, transport);
        const cache = await modelCacheFactory(client, logger);
        assert.equal((await cache.wrap(User).findByPk(u.id)).name, 'db');
        await client.close();
        assert.ok(logger.lines.length >= 1, `${transport}: the failure was logged`);
        for (const l of logger.lines) assertFree(l.text, secret, `${transport} log line`);
        assert.throws(() => assertFree(`args: 'admin' '${secret}'`, secret, 'self-check'), 'the check sees an echoed password');
      }
    } finally {
      await sequelize.close();
      server.kill('SIGKILL');
    }
  });

  test('the password is the whole text before the last @: a password holding / ? # @ authenticates', async () => {
    const own = await freePort();
    const secret = 'Zq9/Xw7@Kp3?a#b';
    const server = await startRedis(own, ['--requirepass', secret]);
    const { sequelize, User, counted } = await schema();
    const logger = recordingLogger();
    const client = new RedisCache({ url: `redis://:${secret}@127.0.0.1:${own}`, namespace: 'secrets', l1: false });
    try {
      const cache = await modelCacheFactory(client, logger);
      const u = await User.create({ name: 'hit' });
      await cache.wrap(User).findByPk(u.id);
      const [row, statements] = await counted(() => cache.wrap(User).findByPk(u.id));
      assert.deepEqual([row.name, statements], ['hit', 0], 'served by Redis: the password was understood');
      assert.deepEqual(logger.lines, []);
    } finally {
      await client.close();
      await sequelize.close();
      server.kill('SIGKILL');
    }
  });

  test('a TLS failure (rediss:// to a plain port) is one warning without the password', async () => {
    const { sequelize, User } = await schema();
    const logger = recordingLogger();
    const secret = 'Tz4/Uy6@Vx7';
    const client = new RedisCache({ url: `rediss://:${secret}@127.0.0.1:${port}`, namespace: 'secrets', l1: false, commandTimeoutMs: 500, connectTimeoutMs: 500 });
    try {
      const cache = await modelCacheFactory(client, logger);
      const u = await User.create({ name: 'db' });
      for (let i = 0; i < 3; i++) assert.equal((await cache.wrap(User).findByPk(u.id)).name, 'db');
      assert.ok(logger.lines.length >= 1);
      for (const l of logger.lines) assertFree(l.text, secret, 'TLS failure');
    } finally {
      await client.close();
      await sequelize.close();
    }
  });

  test('a private key passed as tls.ca, and integrity keys, never appear in an error', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjSecretKeyBytes\n-----END PRIVATE KEY-----\n';
    const msg = thrown(() => new RedisCache({ url: 'rediss://127.0.0.1:6379', tls: { ca: pem } }));
    assert.match(msg, /tls\.ca must be a PEM certificate/);
    assertFree(msg, 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjSecretKeyBytes', 'tls.ca');
    const short = thrown(() => new RedisCache({ url: 'redis://127.0.0.1:6379', integrity: { key: 'too-short-Yy7Uu8' } }));
    assert.match(short, /integrity\.key must be at least 32 bytes, got 16 bytes/);
    assertFree(short, 'too-short-Yy7Uu8', 'integrity.key');
    const saved = process.env.SNC_INTEGRITY_KEY;
    process.env.SNC_INTEGRITY_KEY = 'Qe3-short-Ww6Ii5';
    try {
      const fromEnv = thrown(() => new RedisCache({ url: 'redis://127.0.0.1:6379' }));
      assert.match(fromEnv, /SNC_INTEGRITY_KEY environment variable must be at least 32 bytes/);
      assertFree(fromEnv, 'Qe3-short-Ww6Ii5', 'SNC_INTEGRITY_KEY');
    } finally {
      if (saved === undefined) delete process.env.SNC_INTEGRITY_KEY;
      else process.env.SNC_INTEGRITY_KEY = saved;
    }
  });
});

describe('Momento API keys', () => {
  const TOKEN = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJzZWNyZXRzIn0.U2VjcmV0U2lnbmF0dXJlWHg5';
  let server;
  before(async () => {
    server = await startMomentoServer({ token: TOKEN });
    server.echoRequest = true;
  });
  after(() => server.close());

  for (const status of [400, 401, 403, 500]) {
    test(`a ${status} whose body echoes the Authorization header: no log line holds the key`, async () => {
      const { sequelize, User } = await schema();
      const logger = recordingLogger();
      // 401 and 403 come from the stand-in itself (no key, another key); 400 and 500 are injected.
      const key = status === 403 ? `${TOKEN.slice(0, -4)}Zz9q` : TOKEN;
      const client = MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: key, endpoint: server.url }, namespace: `s${status}`, l1: false, logger });
      if (status === 401) server.token = 'another-token-so-the-header-is-refused';
      try {
        const cache = await modelCacheFactory(client, logger);
        const u = await User.create({ name: 'db' });
        if (status === 400 || status === 500) server.fail(status, 6);
        for (let i = 0; i < 3; i++) assert.equal((await cache.wrap(User).findByPk(u.id)).name, 'db');
        assert.ok(logger.lines.length >= 1, 'the failure was logged');
        for (const l of logger.lines) {
          assertFree(l.text, TOKEN, `${status} log line`);
          assertFree(l.text, key, `${status} log line`);
        }
        if (status === 400 || status === 500) assert.match(logger.lines.map((l) => l.text).join('\n'), /injected failure/, 'a snippet of the answer is kept');
      } finally {
        server.token = TOKEN;
        server.injected.length = 0;
        await client.close();
        await sequelize.close();
      }
    });
  }

  test('a credential provider whose error holds the key: the TypeError does not', () => {
    const provider = {
      getAuthToken() {
        throw new Error(`could not use token ${TOKEN} (Authorization: ${TOKEN})`);
      },
    };
    const msg = thrown(() => MomentoClientGenerator.newInstance({ credentialProvider: provider, endpoint: server.url }));
    assert.match(msg, /^TypeError: MomentoClientGenerator.newInstance: credentialProvider failed: could not use token/);
    assertFree(msg, TOKEN, 'credentialProvider error');
  });
});

describe('secrets in the errors of options checked before the native layer', () => {
  test('a Redis URL with port 0 or a database out of range, and cluster nodes with different passwords: no piece of a password in the TypeError', () => {
    for (const secret of ['Qp4/Wm8@Zr2', 'Lt6#Hs3?Vn9']) {
      const enc = secret.replace(/[#?]/g, encodeURIComponent);
      for (const url of [`redis://u:${secret}@127.0.0.1:0`, `redis://:${secret}@127.0.0.1:6379/4294967296`, `rediss://:${enc}@[::1]:0`]) {
        for (const options of [{ url }, { nodes: ['127.0.0.1:7000', url] }]) {
          const msg = thrown(() => new RedisCache({ ...options, l1: false }));
          assert.match(msg, /^TypeError: RedisCache: (url|nodes\[1\]): the (port|database) must be/, url);
          assertFree(msg, secret, url);
        }
      }
      const msg = thrown(() => new RedisCache({ nodes: [`redis://:${secret}@127.0.0.1:7000`, `redis://:other-${secret}@127.0.0.1:7001`], l1: false }));
      assert.match(msg, /^TypeError: RedisCache: nodes\[1\] must have the same/);
      assertFree(msg, secret, 'nodes');
    }
  });

  test('a private key after a certificate in tls.ca never appears in the error', () => {
    const body = 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSecretKeyBytesHere0123';
    const ca = `-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n-----BEGIN EC PRIVATE KEY-----\n${body}\n-----END EC PRIVATE KEY-----\n`;
    const msg = thrown(() => new RedisCache({ url: 'rediss://127.0.0.1:6379', tls: { ca } }));
    assert.match(msg, /^TypeError: RedisCache: tls\.ca must be a PEM certificate .*holds a private key/);
    assertFree(msg, body, 'tls.ca');
  });

  test('a Momento endpoint refused, here or by the core, and a v1 key that cannot be sent: no piece of the key in the TypeError', () => {
    const TOKEN = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJzZWNyZXRzIn0.U2VjcmV0U2lnbmF0dXJlWHg5';
    for (const endpoint of ['10.0.0.5', 'cell-1.example.com:99999', 'https://h.example.com:0']) {
      const msg = thrown(() => MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: TOKEN }, endpoint, l1: false }));
      assert.match(msg, /^TypeError: MomentoClientGenerator\.newInstance: endpoint \(from endpoint\)/, endpoint);
      assertFree(msg, TOKEN, endpoint);
    }
    const v1 = Buffer.from(JSON.stringify({ api_key: `Ks9Secret\n${TOKEN}`, endpoint: 'cell-1.example.com' })).toString('base64');
    const msg = thrown(() => MomentoClientGenerator.newInstance({ credentialProvider: { apiKey: v1 }, l1: false }));
    assert.match(msg, /^TypeError: .*holds a control character/);
    assertFree(msg, TOKEN, 'v1 key');
    assertFree(msg, v1, 'v1 key');
  });
});
