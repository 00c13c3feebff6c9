// Canonical keys: every promise of the key encoder, through the public keyFor() and, where the
// public path would bypass the cache first (a transaction), through the native function itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Sequelize, DataTypes, Op } from 'sequelize';
import { MemoryCache } from '../js/index.mjs';

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
