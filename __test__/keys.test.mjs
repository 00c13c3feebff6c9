// Canonical keys: every promise of the key encoder, through the public keyFor() and, where the
// public path would bypass the cache first (a transaction), through the native function itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { Sequelize, DataTypes, Op } from 'sequelize';
import { MemoryCache, modelCacheFactory, LoggerFactory } from '../js/index.mjs';

const require = createRequire(import.meta.url);
const native = require('../js/native.js');

const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
const User = sequelize.define(
  'User',
  { name: DataTypes.STRING, role: DataTypes.STRING, age: DataTypes.INTEGER, data: DataTypes.BLOB, born: DataTypes.DATE },
  { scopes: { adults: { where: { age: { [Op.gte]: 18 } } }, named: (n) => ({ where: { name: n } }) } },
);
const Post = sequelize.define('Post', { title: DataTypes.STRING });
const Comment = sequelize.define('Comment', { body: DataTypes.STRING });
const Summary = sequelize.define('UserSummary', { name: DataTypes.STRING }, { tableName: 'Users' });
User.hasMany(Post, { as: 'posts' });
User.hasMany(Post, { as: 'drafts' });
Post.hasMany(Comment);

const client = new MemoryCache();
const literal$1 = () => sequelize.literal('age = $1');
const key = (options, M = User, method = 'findAll') => client.keyFor(M, method, options);
const distinct = (...keys) => {
  for (const k of keys) assert.equal(typeof k, 'string', `expected a key, got ${k}`);
  assert.equal(new Set(keys).size, keys.length, `keys collide:\n${keys.join('\n')}`);
};

test('simple queries keep the documented readable format', () => {
  assert.equal(client.keyFor(User, 'findByPk', 1), 'model-cache:findByPk:Users:{"where":{"id":1}}');
  assert.equal(client.keyFor(User, 'findAll'), 'model-cache:findAll:Users:{}');
  assert.equal(client.keyFor(User, 'findAll', {}), 'model-cache:findAll:Users:{}');
  assert.equal(key({ where: { name: 'a' }, limit: 2 }), 'model-cache:findAll:Users:{"limit":2,"where":{"name":"a"}}');
});

test('the prefix follows modelCacheName', () => {
  const other = new MemoryCache({ modelCacheName: 'my-model-cache' });
  assert.equal(other.keyFor(User, 'findByPk', 1), 'my-model-cache:findByPk:Users:{"where":{"id":1}}');
});

test('object keys are sorted and arrays keep their order', () => {
  assert.equal(key({ where: { name: 'a', age: 1 } }), key({ where: { age: 1, name: 'a' } }));
  distinct(key({ order: [['name', 'ASC'], ['age', 'DESC']] }), key({ order: [['age', 'DESC'], ['name', 'ASC']] }));
});

test('Op symbols are keyed: gt, lt and a plain "gt" string key differ; and differs from or', () => {
  distinct(
    key({ where: { age: { [Op.gt]: 5 } } }),
    key({ where: { age: { [Op.lt]: 5 } } }),
    key({ where: { age: { gt: 5 } } }),
  );
  distinct(
    key({ where: { [Op.and]: [{ name: 'a' }, { age: 1 }] } }),
    key({ where: { [Op.or]: [{ name: 'a' }, { age: 1 }] } }),
  );
  distinct(key({ where: { age: { [Op.in]: [1, 2] } } }), key({ where: { age: { [Op.notIn]: [1, 2] } } }));
});

test('string values cannot forge structure', () => {
  distinct(key({ where: { name: 'x","role":"admin' } }), key({ where: { name: 'x', role: 'admin' } }));
  distinct(key({ where: { name: 'a\\' } }), key({ where: { name: 'a' } }));
  distinct(key({ where: { name: '@"gt"' } }), key({ where: { name: { [Op.gt]: '' } } }));
  distinct(key({ where: { name: '$u' } }), key({ where: { name: undefined } }));
});

test('typed values: Date vs ISO string, 1n vs 1, NaN, Infinities, undefined', () => {
  const d = new Date(Date.UTC(2020, 0, 1));
  distinct(key({ where: { born: d } }), key({ where: { born: d.toISOString() } }), key({ where: { born: d.getTime() } }));
  assert.equal(key({ where: { born: new Date(d) } }), key({ where: { born: d } }));
  distinct(key({ where: { age: 1n } }), key({ where: { age: 1 } }), key({ where: { age: '1' } }));
  distinct(key({ where: { age: 2n ** 70n } }), key({ where: { age: 2n ** 71n } }), key({ where: { age: -(2n ** 70n) } }));
  distinct(
    key({ where: { age: NaN } }),
    key({ where: { age: Infinity } }),
    key({ where: { age: -Infinity } }),
    key({ where: { age: null } }),
    key({ where: { age: undefined } }),
    key({ where: {} }),
  );
});

test('Buffers are keyed by content', () => {
  assert.equal(key({ where: { data: Buffer.from('abc') } }), key({ where: { data: Buffer.from('abc') } }));
  distinct(key({ where: { data: Buffer.from('abc') } }), key({ where: { data: Buffer.from('abd') } }), key({ where: { data: 'abc' } }));
});

test('fn, col, literal, where, cast and json are keyed by kind and contents', () => {
  const { fn, col, literal, where, cast, json } = sequelize;
  distinct(key({ where: literal('x') }), key({ where: { val: 'x' } }), key({ where: literal('y') }));
  distinct(
    key({ where: where(col('age'), Op.gt, 5) }),
    key({ where: where(col('age'), Op.lt, 5) }),
    key({ where: where(col('name'), Op.gt, 5) }),
  );
  distinct(
    key({ attributes: [[fn('upper', col('name')), 'n']] }),
    key({ attributes: [[fn('lower', col('name')), 'n']] }),
    key({ attributes: [[fn('upper', col('role')), 'n']] }),
    key({ attributes: [[fn('upper', col('name')), 'm']] }),
  );
  distinct(key({ where: where(cast(col('age'), 'TEXT'), '1') }), key({ where: where(cast(col('age'), 'INTEGER'), '1') }));
  distinct(key({ where: json('data.a', 1) }), key({ where: json('data.b', 1) }));
});

test('models are keyed by identity, table, schema and active scope', () => {
  distinct(key({ include: [Post] }), key({ include: [Comment] }), key({ include: [{ model: Post, as: 'drafts' }] }));
  distinct(client.keyFor(User, 'findAll'), client.keyFor(User.scope('adults'), 'findAll'));
  distinct(
    client.keyFor(User.scope({ method: ['named', 'a'] }), 'findAll'),
    client.keyFor(User.scope({ method: ['named', 'b'] }), 'findAll'),
  );
  assert.equal(client.keyFor(User.scope('adults'), 'findAll'), client.keyFor(User.scope('adults'), 'findAll'));
  distinct(client.keyFor(User, 'findAll'), client.keyFor(User.schema('archive'), 'findAll'));
  distinct(key({ include: [Post] }), key({ include: [Post.scope({ where: { title: 'x' } })] }));
});

test('two models over one table never share keys', () => {
  distinct(client.keyFor(User, 'findByPk', 1), client.keyFor(Summary, 'findByPk', 1));
  assert.match(client.keyFor(Summary, 'findByPk', 1), /^model-cache:findByPk:Users@UserSummary:/);
});

test('associations are keyed by source, kind and alias; the whole include tree is keyed', () => {
  distinct(
    key({ include: [User.associations.posts] }),
    key({ include: [User.associations.drafts] }),
    key({ include: ['posts'] }),
  );
  const tree = (title) => ({ include: [{ model: Post, as: 'posts', include: [{ model: Comment, where: { body: title } }] }] });
  distinct(key(tree('a')), key(tree('b')));
  distinct(
    key({ include: [{ model: Post, as: 'posts', required: true }] }),
    key({ include: [{ model: Post, as: 'posts', required: false }] }),
  );
});

test('transaction, logging and benchmark never change the key', () => {
  const head = 'model-cache:findAll:Users';
  const base = native.canonicalKey(head, {}, { where: { id: 1 } });
  const fakeTransaction = { id: 'abc', options: { x: 1 } };
  assert.equal(native.canonicalKey(head, {}, { where: { id: 1 }, transaction: fakeTransaction }), base);
  assert.equal(native.canonicalKey(head, {}, { where: { id: 1 }, logging: console.log, benchmark: true }), base);
  assert.equal(key({ where: { id: 1 }, logging: () => {}, benchmark: true }), key({ where: { id: 1 } }));
});

test('what cannot be encoded makes the query bypass, never throw', () => {
  const cyclic = { name: 'a' };
  cyclic.self = cyclic;
  class Custom {}
  const throwing = {};
  Object.defineProperty(throwing, 'boom', { enumerable: true, get() { throw new Error('getter failed'); } });
  for (const options of [
    { where: { name: () => 'x' } },
    { where: cyclic },
    { where: { name: new Custom() } },
    { where: { name: new Map([['a', 1]]) } },
    { where: throwing },
  ]) {
    assert.equal(key(options), null);
  }
  const reason = native.unkeyableReason(native.canonicalKey('h', {}, { where: cyclic }));
  assert.equal(reason, 'unkeyable:cycle-or-depth');
});

test('long keys end in a SHA-256 of the full text instead of the text', () => {
  const long = key({ where: { name: 'x'.repeat(500) } });
  assert.match(long, /^model-cache:findAll:Users:#[0-9a-f]{64}$/);
  assert.equal(long, key({ where: { name: 'x'.repeat(500) } }));
  distinct(long, key({ where: { name: 'x'.repeat(499) + 'y' } }));
});

// ---- strings are read whole and exactly --------------------------------------------------------

test('long strings are keyed whole: a cut at a UTF-8 character boundary cannot merge two values', () => {
  // 42 three-byte characters fill a 128-byte read to 126 bytes; the last character is what differs.
  const head = '测'.repeat(42);
  distinct(key({ where: { name: head + '甲' } }), key({ where: { name: head + '乙' } }));
  distinct(client.keyFor(User, 'findByPk', head + '甲'), client.keyFor(User, 'findByPk', head + '乙'));
  distinct(key({ where: { [head + '甲']: 1 } }), key({ where: { [head + '乙']: 1 } }));
  // Every length around any read buffer, with 1-, 2-, 3- and 4-byte characters last.
  for (const ch of ['a', 'é', '测', '😀']) {
    for (let n = 100; n < 300; n++) {
      const base = 'x'.repeat(n);
      distinct(
        native.pkKey('h', 'id', base + ch + 'a'),
        native.pkKey('h', 'id', base + ch + 'b'),
        native.pkKey('h', 'id', base + ch),
      );
    }
  }
});

test('two long titles differing in their last character each get their own rows', async () => {
  const s = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  const Book = s.define('Book', { title: DataTypes.STRING });
  await s.sync();
  const long = '测'.repeat(42);
  await Book.bulkCreate([{ title: long + '甲' }, { title: long + '乙' }]);
  const cache = await modelCacheFactory(new MemoryCache({ modelCacheName: 'long-strings' }), LoggerFactory.createLogger({ logLevel: 'error' }));
  const first = await cache.wrap(Book).findAll({ where: { title: long + '甲' } });
  const second = await cache.wrap(Book).findAll({ where: { title: long + '乙' } });
  assert.deepEqual(first.map((b) => b.title), [long + '甲']);
  assert.deepEqual(second.map((b) => b.title), [long + '乙']);
  await s.close();
});

test('a lone surrogate is written as a JSON escape, apart from U+FFFD; well-formed text stays readable', () => {
  assert.equal(key({ where: { name: '\ud800' } }), 'model-cache:findAll:Users:{"where":{"name":"\\ud800"}}');
  distinct(
    key({ where: { name: '\ud800' } }),
    key({ where: { name: '\ufffd' } }),
    key({ where: { name: '\udc00' } }),
    key({ where: { name: '\\ud800' } }),
  );
  distinct(client.keyFor(User, 'findByPk', 'a\ud800'), client.keyFor(User, 'findByPk', 'a\ufffd'));
  distinct(key({ where: { ['\ud800']: 1 } }), key({ where: { ['\ufffd']: 1 } }));
  // A long one takes the second read; a pair is one character and reads as UTF-8.
  distinct(key({ where: { name: 'x'.repeat(300) + '\ud800' } }), key({ where: { name: 'x'.repeat(300) + '\ufffd' } }));
  assert.equal(key({ where: { name: 'é\ufffd😀' } }), 'model-cache:findAll:Users:{"where":{"name":"é\ufffd😀"}}');
  assert.equal(key({ where: { name: '\ud83d\ude00' } }), key({ where: { name: '😀' } }));
});

test('the findByPk fast path writes what the general walk writes for { where: { pk: value } }', () => {
  const head = 'model-cache:findByPk:Users';
  const long = '测'.repeat(42);
  for (const value of [
    1, -0, 0.5, NaN, -Infinity, 2 ** 60, 1n, -(2n ** 70n), '', 'a', '"', '\\', '\n', '\ud800', '\ufffd', long + '甲', 'x'.repeat(300),
    Buffer.from([0, 1]), new Uint8Array([0]), new Date(0), null, undefined, true,
  ]) {
    assert.equal(native.pkKey(head, 'id', value), native.canonicalKey(head, undefined, { where: { id: value } }), String(value));
  }
});

// ---- typed values -------------------------------------------------------------------------------

test('a Buffer and a Uint8Array of the same bytes differ (Sequelize writes different SQL for them)', () => {
  assert.match(key({ where: { data: Buffer.from([0]) } }), /"data":\$Buf\(00\)/);
  distinct(
    key({ where: { data: Buffer.from([0]) } }),
    key({ where: { data: new Uint8Array([0]) } }),
    key({ where: { data: new Int8Array([0]) } }),
    key({ where: { data: new Uint8ClampedArray([0]) } }),
  );
  distinct(client.keyFor(User, 'findByPk', Buffer.from([0])), key({ where: { id: new Uint8Array([0]) } }));
  // A view over part of a buffer is keyed by its own bytes.
  const backing = Buffer.from([1, 2, 3, 4]);
  assert.equal(key({ where: { data: backing.subarray(1, 3) } }), key({ where: { data: Buffer.from([2, 3]) } }));
  for (const opaque of [new ArrayBuffer(1), new DataView(new ArrayBuffer(1)), new (class Bytes extends Uint8Array {})(1)]) {
    assert.equal(key({ where: { data: opaque } }), null);
  }
});

test('-0 differs from 0 (Sequelize hands bind parameters to the driver as they are)', () => {
  distinct(key({ where: literal$1(), bind: [0] }), key({ where: literal$1(), bind: [-0] }));
  assert.equal(key({ where: { age: 0 } }), 'model-cache:findAll:Users:{"where":{"age":0}}');
});

test('array holes differ from undefined elements', () => {
  // eslint-disable-next-line no-sparse-arrays
  distinct(key({ where: { id: [1, , 3] } }), key({ where: { id: [1, undefined, 3] } }), key({ where: { id: [1, 3] } }));
});

// ---- symbols ------------------------------------------------------------------------------------

test('an unregistered symbol, as a key or a value, makes the query unkeyable:symbol', () => {
  const head = 'model-cache:findAll:Users';
  for (const options of [
    { where: { age: { [Symbol('gt')]: 5 } } },
    { where: { age: Symbol('gt') } },
    { where: { age: Symbol() } },
    { where: { age: { [Symbol.iterator]: 5 } } },
  ]) {
    assert.equal(key(options), null);
    assert.equal(native.unkeyableReason(native.canonicalKey(head, undefined, options)), 'unkeyable:symbol');
  }
  assert.equal(native.unkeyableReason(native.pkKey(head, 'id', Symbol('1'))), 'unkeyable:symbol');
  // Op symbols are registered: Symbol.for('gt') is Op.gt, and keys alike.
  assert.equal(key({ where: { age: { [Symbol.for('gt')]: 5 } } }), key({ where: { age: { [Op.gt]: 5 } } }));
  assert.equal(typeof key({ where: { age: { [Symbol.for('custom')]: 5 } } }), 'string');
});

test('an unregistered symbol makes the call bypass the cache (counted as unkeyable:symbol)', async () => {
  const s = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  const Item = s.define('Item', { n: DataTypes.INTEGER });
  await s.sync();
  const symbolClient = new MemoryCache({ modelCacheName: 'symbols' });
  const cache = await modelCacheFactory(symbolClient, LoggerFactory.createLogger({ logLevel: 'error' }));
  // Sequelize ignores a symbol that is not an operator; the call still runs, on the database.
  assert.deepEqual(await cache.wrap(Item).findAll({ where: { [Symbol('x')]: 1 } }), []);
  assert.deepEqual(await cache.wrap(Item).findAll({ where: { [Symbol('x')]: 1 } }), []);
  const stats = symbolClient.stats();
  assert.equal(stats.bypassReasons['unkeyable:symbol'], 2);
  assert.equal(stats.hits + stats.misses, 0);
  await s.close();
});

// ---- realms -------------------------------------------------------------------------------------

test('options built in another realm (vm, as jest runs tests) get the same key as here', () => {
  const realm = vm.createContext({ Op, Post, Comment, User, sequelize });
  const build = `(d) => ({
    where: { name: { [Op.like]: 'a%' }, id: { [Op.in]: [1, 2, 3] }, born: new Date(0), data: new Int8Array([1, 2]), n: null, u: undefined },
    include: [{ model: Post, as: 'posts', where: { title: 'x' }, include: [Comment] }, User.associations.drafts],
    attributes: { exclude: ['role'] },
    order: [['id', 'DESC']],
    limit: 10,
    bare: Object.create(null),
  })`;
  const here = new Function('Op', 'Post', 'Comment', 'User', 'sequelize', `return ${build}`)(Op, Post, Comment, User, sequelize)();
  const there = vm.runInContext(build, realm)();
  assert.notEqual(Object.getPrototypeOf(there), Object.prototype, 'the options really come from another realm');
  assert.equal(typeof key(here), 'string');
  assert.equal(key(there), key(here));
  assert.equal(key(vm.runInContext(build, vm.createContext({ Op, Post, Comment, User, sequelize }))()), key(here), 'a third realm too');
  // Computed twice, the remembered prototypes answer the same.
  assert.equal(key(there), key(here));
});

test('instances of classes from another realm stay unkeyable, whatever their name', () => {
  for (const src of [
    'class Custom {}; new Custom()',
    'new Map([[1, 2]])',
    'class Base {}; class Object extends Base {}; new Object()',
    'class Object {}; new Object()',
    '(() => { class Object extends null {}; return Reflect.construct(function () {}, [], Object); })()',
    '(() => { const real = globalThis.Object; function Object() {} Object.prototype = real.create(null); Object.prototype.constructor = Object; return new Object(); })()',
    'class Stamp extends Date {}; new Stamp(0)',
    'class List extends Array {}; List.from([1])',
    'class Bytes extends Uint8Array {}; new Bytes(1)',
    'Object.create(Date.prototype)',
    'new ArrayBuffer(2)',
  ]) {
    const value = vm.runInContext(src, vm.createContext({}));
    assert.equal(key({ where: { name: value } }), null, src);
  }
});

test('under jest, options built in a test file are keyed like options built here', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'snc-jest-'));
  try {
    const out = join(dir, 'keys.json');
    writeFileSync(
      join(dir, 'realm.test.js'),
      `const { Op } = require(${JSON.stringify(require.resolve('sequelize'))});
       const native = require(${JSON.stringify(require.resolve('../js/native.js'))});
       test('keys', () => {
         const head = 'model-cache:findAll:Users';
         const keys = [
           native.canonicalKey(head, undefined, { where: { id: 1 } }),
           native.canonicalKey(head, undefined, { where: { name: { [Op.gt]: 'a' }, at: new Date(5), tags: ['x', 'y'], b: Buffer.from([1]) }, limit: 2 }),
           native.pkKey(head, 'id', 'abc'),
         ];
         require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ keys, plain: Object.getPrototypeOf({}) === Object.prototype }));
       });`,
    );
    const jest = join(dirname(require.resolve('jest/package.json')), 'bin', 'jest.js');
    const r = spawnSync(process.execPath, [jest, '--rootDir', dir, '--ci', '--silent'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(readFileSync(out, 'utf8'));
    const head = 'model-cache:findAll:Users';
    assert.deepEqual(got.keys, [
      native.canonicalKey(head, undefined, { where: { id: 1 } }),
      native.canonicalKey(head, undefined, { where: { name: { [Op.gt]: 'a' }, at: new Date(5), tags: ['x', 'y'], b: Buffer.from([1]) }, limit: 2 }),
      native.pkKey(head, 'id', 'abc'),
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- environments -------------------------------------------------------------------------------

test('workers that come and go compute correct keys and leave no per-environment state behind', async () => {
  const binding = require('../js/binding/index.js');
  const options = { where: { name: { [Op.like]: 'a%' }, born: new Date(0), data: Buffer.from([1]), id: [1, 2] }, limit: 3 };
  const expected = native.canonicalKey('h', undefined, options);
  assert.equal(typeof expected, 'string');
  const before = binding.keyEnvironments();
  const source = `
    const { parentPort } = require('node:worker_threads');
    const { Op } = require(${JSON.stringify(require.resolve('sequelize'))});
    const native = require(${JSON.stringify(require.resolve('../js/native.js'))});
    const binding = require(${JSON.stringify(require.resolve('../js/binding/index.js'))});
    const keys = [];
    for (let i = 0; i < 200; i++) {
      keys.push(native.canonicalKey('h', undefined, { where: { name: { [Op.like]: 'a%' }, born: new Date(0), data: Buffer.from([1]), id: [1, 2] }, limit: 3 }));
    }
    parentPort.postMessage({ keys: [...new Set(keys)], environments: binding.keyEnvironments() });`;
  const run = () =>
    new Promise((resolve, reject) => {
      const w = new Worker(source, { eval: true });
      let msg;
      w.on('message', (m) => (msg = m));
      w.on('error', reject);
      w.on('exit', (code) => (code === 0 ? resolve(msg) : reject(new Error(`worker exited ${code}`))));
    });
  for (let round = 0; round < 4; round++) {
    const results = await Promise.all([run(), run(), run()]);
    for (const r of results) {
      assert.deepEqual(r.keys, [expected]);
      assert.ok(r.environments > before, 'a live worker holds its own state');
    }
  }
  assert.equal(binding.keyEnvironments(), before, 'every ended worker released its state');
});

// ---- the tape: options gathered in JS, written in Rust ------------------------------------------

/** A model's scope as the engine passes it: undefined when empty. */
const activeScope = (M) => (M._scope && (Object.keys(M._scope).length || Object.getOwnPropertySymbols(M._scope).length) ? M._scope : undefined);

/** The key the walker alone writes (no tape), or null. */
function walkerKey(options, M = User, method = 'findAll') {
  const { segmentOf, keyOptionsFor } = require('../js/engine/keys.js');
  const k = native.canonicalKey(`model-cache:${method}:${segmentOf(M)}`, activeScope(M), keyOptionsFor(M, method, [options]));
  return typeof k === 'string' ? k : null;
}

/** Why keyFor refused `options`: the bypass reason counted by a wrapped findAll. */
async function refusal(options) {
  const c = new MemoryCache();
  const w = (await modelCacheFactory(c)).wrap(User);
  await w.findAll(options).catch(() => {});
  return Object.keys(c.stats().bypassReasons ?? {}).join(',') || JSON.stringify(c.stats());
}

test('the tape and the walker refuse trees at the same node and depth limits', () => {
  const { KEY_MAX_NODES, KEY_MAX_DEPTH } = native.limits;
  // options, where, name's array and its elements: 3 + n nodes.
  const wide = (n) => ({ where: { name: Array.from({ length: n }, (_, i) => i) } });
  assert.equal(typeof key(wide(KEY_MAX_NODES - 3)), 'string');
  assert.equal(key(wide(KEY_MAX_NODES - 3)), walkerKey(wide(KEY_MAX_NODES - 3)));
  assert.equal(key(wide(KEY_MAX_NODES - 2)), null);
  assert.equal(walkerKey(wide(KEY_MAX_NODES - 2)), null);
  const deep = (d) => {
    let v = 1;
    for (let i = 0; i < d; i++) v = { [Op.and]: v };
    return { where: v };
  };
  // options at 0, where at 1: a chain of d objects puts its last value at depth d + 1.
  assert.equal(typeof key(deep(KEY_MAX_DEPTH - 1)), 'string');
  assert.equal(key(deep(KEY_MAX_DEPTH - 1)), walkerKey(deep(KEY_MAX_DEPTH - 1)));
  assert.equal(key(deep(KEY_MAX_DEPTH)), null);
  assert.equal(walkerKey(deep(KEY_MAX_DEPTH)), null);
});

test('a sparse array of a billion holes is refused as too large, not walked to its end', () => {
  const holes = [];
  holes.length = 1e9;
  assert.equal(key({ where: { name: holes } }), null);
  assert.equal(walkerKey({ where: { name: holes } }), null);
  const { Keys } = require('../js/engine/keys.js');
  const { HitMemo } = require('../js/engine/hit-memo.js');
  const cache = native.createCache({ maxBytes: 1 << 20, defaultTtlMs: 1000 });
  const keys = new Keys('p', cache, new HitMemo(cache, { record() {} }), false, false);
  assert.deepEqual(keys.text(keys.querySpec(User, 'findAll', [{ where: { name: holes } }])), { bypass: 'unkeyable:too-large' });
});

test('a throwing getter or an unregistered symbol found while gathering is counted like the walker counts it', async () => {
  const throwing = {};
  Object.defineProperty(throwing, 'name', { enumerable: true, get() { throw new Error('getter failed'); } });
  assert.equal(await refusal({ where: throwing }), 'unkeyable:unreadable');
  assert.equal(await refusal({ where: { name: { [Symbol('gt')]: 1 } } }), 'unkeyable:symbol');
  assert.equal(await refusal({ where: { name: Symbol('x') } }), 'unkeyable:symbol');
});

test('a getter that makes another key while the options are gathered leaves both keys right', () => {
  const inner = { where: { name: 'inner', role: ['a', 'b'] } };
  let innerKey;
  const outer = { where: { role: 'outer' } };
  Object.defineProperty(outer.where, 'name', {
    enumerable: true,
    get() {
      innerKey = key(inner, Post);
      return 'x';
    },
  });
  const k = key(outer);
  assert.equal(k, key({ where: { role: 'outer', name: 'x' } }));
  assert.equal(innerKey, key(inner, Post));
  assert.equal(innerKey, walkerKey(inner, Post));
});

test('models with an empty scope are written from the tape as the walker writes them', () => {
  const include = [{ model: Post, include: [Comment] }, { model: Summary }];
  assert.equal(key({ include }), walkerKey({ include }));
  const scoped = User.scope('adults');
  assert.equal(key({ include: [{ model: scoped }] }, Post), walkerKey({ include: [{ model: scoped }] }, Post));
  assert.notEqual(key({ include: [{ model: scoped }] }, Post), key({ include: [{ model: User }] }, Post));
});

test('a warm hit reads the options once: a getter in them runs once per hit, with includes or without', async () => {
  const s = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  const Author = s.define('Author', { name: DataTypes.STRING });
  const Book = s.define('Book', { title: DataTypes.STRING });
  Author.hasMany(Book);
  await s.sync();
  await Author.create({ name: 'a', Books: [{ title: 't' }] }, { include: [Book] });
  const client = new MemoryCache({ modelCacheName: 'getter-reads' });
  const w = (await modelCacheFactory(client)).wrap(Author);
  for (const include of [undefined, [Book]]) {
    let reads = 0;
    const options = () => {
      const where = {};
      Object.defineProperty(where, 'name', { enumerable: true, get: () => (reads++, 'a') });
      return include === undefined ? { where } : { where, include };
    };
    await w.findAll(options());
    // The first hit of a key with includes prepares its build options (a deep copy of the
    // options reads the getter once more); later hits reuse them.
    await w.findAll(options());
    const before = client.stats().hits;
    reads = 0;
    const hit = await w.findAll(options());
    assert.equal(client.stats().hits, before + 1, 'the second call is a hit');
    assert.equal(hit.length, 1);
    assert.equal(reads, 1, `getter reads on a hit ${include ? 'with' : 'without'} includes`);
  }
  await s.close();
});

test('a key made after a very large one is still right (the tape grown for it starts small again)', () => {
  const big = { where: { name: Array.from({ length: 15_000 }, (_, i) => `n${i}`) } };
  const small = { where: { name: 'a', role: { [Op.in]: ['x', 'y'] } }, limit: 2 };
  for (let i = 0; i < 3; i++) {
    assert.equal(key(big), walkerKey(big));
    assert.equal(typeof key(small), 'string');
    assert.equal(key(small), walkerKey(small));
  }
});

test('a Proxy of an array that claims another prototype is never keyed as the object it claims to be', async () => {
  // Array.isArray, and so Sequelize, sees through a Proxy to its array; N-API does not, so the
  // walker would write `where: px` as the object { name: 'x' } and share that query's key.
  const px = () => Object.assign(new Proxy([], { getPrototypeOf: () => Object.prototype }), { name: 'x' });
  const real = key({ where: { name: 'x' } }, User, 'findOne');
  assert.equal(typeof real, 'string');
  for (const method of ['findOne', 'findAll', 'count']) {
    assert.equal(key({ where: px() }, User, method), null, `${method} with the Proxy as where`);
    assert.equal(key({ where: px(), limit: 1 }, User, method), null, `${method} with the Proxy as where, and a limit`);
  }
  assert.equal(key({ where: { name: px() } }), null, 'as a value');
  assert.equal(key({ where: sequelize.where(sequelize.fn('lower', sequelize.col('name')), px()) }), null, 'inside fn/where');
  // Inside options of another realm (as jest builds them), which the walker reads itself.
  const foreign = vm.runInNewContext('({ where: { name: undefined }, limit: 1 })');
  foreign.where.name = px();
  assert.equal(key(foreign), null, 'inside options of another realm');
  const honest = vm.runInNewContext('({ where: { name: ["a"] } })');
  assert.equal(key(honest), key({ where: { name: ['a'] } }), 'a plain array of another realm is keyed as before');
  // An honest Proxy of an array is an array, as Sequelize reads it.
  assert.equal(key({ where: { name: new Proxy(['a', 'b'], {}) } }), key({ where: { name: ['a', 'b'] } }));
  assert.equal(await refusal({ where: px() }), 'unkeyable:unknown-class');

  // End to end: the Proxy read never answers the genuine query.
  const s = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  const Person = s.define('Person', { name: DataTypes.STRING });
  await s.sync();
  await Person.bulkCreate([{ name: 'a' }, { name: 'x' }]);
  const w = (await modelCacheFactory(new MemoryCache())).wrap(Person);
  await w.findOne({ where: px(), order: [['id', 'ASC']] }).catch(() => {});
  await w.findOne({ where: px() }).catch(() => {});
  assert.equal((await w.findOne({ where: { name: 'x' } })).name, 'x');
  assert.equal((await w.findOne({ where: { name: 'x' } })).name, 'x', 'and on its hit');
  await s.close();
});

test('the memo of key texts made from registered heads stays bounded in all, across heads, and right', () => {
  const c = new MemoryCache();
  const keys = require('../js/clients.js').engineOf(c).keys;
  const MAX = 4096;
  for (let i = 0; i < 3000; i++) {
    for (const method of ['findOne', 'count', 'findAll']) c.keyFor(User, method, { where: { name: `n${i}` } });
    c.keyFor(User, 'findByPk', i);
  }
  let held = 0;
  for (const byValue of keys.pkKeys.values()) held += byValue.size;
  assert.ok(held > 0 && held <= MAX, `${held} key texts held`);
  const fresh = new MemoryCache();
  for (const i of [0, 1500, 2999]) {
    assert.equal(c.keyFor(User, 'count', { where: { name: `n${i}` } }), fresh.keyFor(User, 'count', { where: { name: `n${i}` } }));
    assert.equal(c.keyFor(User, 'findByPk', i), fresh.keyFor(User, 'findByPk', i));
  }
});

test('the memo of key texts made from tapes stays bounded, keeps what is asked for twice, and answers right', () => {
  const { TapeMemo, MAX_TAPE_KEYS, MAX_SEEN, MAX_BUCKET } = require('../js/engine/tape-memo.js');
  const query = (i) => ({ where: { name: `n${i}`, id: { [Op.gt]: i } }, limit: 2 });
  const fresh = new MemoryCache();
  const c = new MemoryCache();
  const keys = require('../js/clients.js').engineOf(c).keys;
  // Asked for once: marked as met, not copied.
  for (let i = 0; i < 10; i++) c.keyFor(User, 'findAll', query(i));
  assert.equal(keys.tapeKeys.count, 0, 'a tape met once is not remembered');
  // Asked for again: remembered, and answered from the memo with the core's text.
  for (let i = 0; i < 10; i++) c.keyFor(User, 'findAll', query(i));
  assert.equal(keys.tapeKeys.count, 10, 'a tape met twice is remembered');
  for (let i = 0; i < 10; i++) assert.equal(c.keyFor(User, 'findAll', query(i)), fresh.keyFor(User, 'findAll', query(i)));
  // Many distinct tapes, each twice in a row: bounded in all.
  for (let i = 0; i < 3 * MAX_TAPE_KEYS; i++) {
    c.keyFor(User, 'findAll', query(i));
    c.keyFor(User, 'findAll', query(i));
  }
  let held = 0;
  for (const bucket of keys.tapeKeys.buckets.values()) held += bucket.length;
  assert.ok(held > 0 && held <= MAX_TAPE_KEYS && keys.tapeKeys.count === held, `${held} tapes held`);
  assert.ok(keys.tapeKeys.seen.size <= MAX_SEEN, `${keys.tapeKeys.seen.size} hashes marked`);
  // Tapes that all share one hash: at most MAX_BUCKET of them kept, every one keyed right.
  keys.tapeKeys = new TapeMemo(() => 7);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 20; i++) assert.equal(c.keyFor(User, 'findAll', query(i)), fresh.keyFor(User, 'findAll', query(i)));
  }
  assert.equal(keys.tapeKeys.buckets.get(7).length, MAX_BUCKET);
});

test('adapter paths keep apart names and values that differ only in a lone surrogate', () => {
  // What a JS adapter sends its store is UTF-8, where a lone surrogate reads as U+FFFD.
  const { Keys } = require('../js/engine/keys.js');
  const { HitMemo } = require('../js/engine/hit-memo.js');
  const cache = native.createCache({ maxBytes: 1 << 20, defaultTtlMs: 1000 });
  const keys = new Keys('p', cache, new HitMemo(cache, { record() {} }), false, false);
  const asSent = (path) => Buffer.from(path.join(':')).toString();
  const texts = ['q\uD800', 'q\uDC00', 'q\uFFFD', 'q\uD83D\uDE00'];
  assert.equal(new Set(texts.map((n) => asSent(keys.namedTarget(User, 'findAll', n).path))).size, texts.length, 'named queries');
  assert.equal(new Set(texts.map((n) => Buffer.from(keys.namedTarget(User, 'findAll', n).key).toString())).size, texts.length, 'their keys');
  const Tag = sequelize.define('SurrogateTag', { code: { type: DataTypes.STRING, primaryKey: true } });
  assert.equal(new Set(texts.map((v) => asSent(keys.entityTarget(Tag, { code: v }).path))).size, texts.length, 'entities');
  assert.equal(asSent(keys.namedTarget(User, 'findAll', 'q\uD83D\uDE00').path).endsWith('q\uD83D\uDE00'), true, 'a surrogate pair stays as it is');
});
