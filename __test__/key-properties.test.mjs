// Properties of canonical keys, checked on generated findAll / findOne / count calls over a small
// SQLite schema:
//
// 1. Different SQL never shares a key. The oracle is the SQL (and bind parameters) Sequelize itself
//    sends to SQLite for the call. Every tree is keyed; only a tree whose key equals an earlier,
//    different tree's key is run, and both trees' statements must then be the same. Generators draw
//    from small pools and, for every tree, also emit its "twin": the same tree with one value or
//    key replaced by one a careless encoder would confuse with it ('\ud800' / '\ufffd', a Buffer /
//    a Uint8Array, 0 / -0, Op.gt / Symbol('gt'), two long strings differing past byte 124, ...).
// 2. Same tree, same key: with object keys inserted in another order, built in another realm (vm,
//    as jest runs tests), and computed twice.
// 3. Both ways of reading a tree write the same text: the tape (js/engine/gather.js gathers, Rust
//    writes; what every query uses) and the walker (Rust reads each value through N-API; what the
//    tape hands it by reference).
//
// CI-sized by default; SNC_KEY_TREES=1000000 runs a million trees (plus their twins), and
// SNC_KEY_SEED=<seed> replays a failure (fast-check prints the seed with the counterexample).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import util from 'node:util';
import vm from 'node:vm';
import fc from 'fast-check';
import { Sequelize, DataTypes, Op } from 'sequelize';
import { createRequire } from 'node:module';
import { MemoryCache } from '../js/index.mjs';

// Generated dates reach moment through Sequelize; its deprecation notes are noise here.
createRequire(import.meta.url)('moment').suppressDeprecationWarnings = true;

const TREES = Number(process.env.SNC_KEY_TREES || 4000);
const SEED = process.env.SNC_KEY_SEED === undefined ? undefined : Number(process.env.SNC_KEY_SEED);

// ---- the schema ---------------------------------------------------------------------------------

const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
const User = sequelize.define(
  'User',
  {
    name: DataTypes.STRING,
    role: DataTypes.STRING,
    age: DataTypes.INTEGER,
    data: DataTypes.BLOB,
    born: DataTypes.DATE,
    score: DataTypes.FLOAT,
    meta: DataTypes.JSON,
  },
  {
    scopes: {
      adults: { where: { age: { [Op.gte]: 18 } } },
      named: (n) => ({ where: { name: n } }),
      withPosts: () => ({ include: [{ model: Post, as: 'posts' }] }),
    },
  },
);
const Post = sequelize.define('Post', { title: DataTypes.STRING, body: DataTypes.TEXT, views: DataTypes.INTEGER }, {
  scopes: { popular: { where: { views: { [Op.gt]: 10 } } } },
});
const Comment = sequelize.define('Comment', { body: DataTypes.STRING });
const Tag = sequelize.define('Tag', { label: DataTypes.STRING });
User.hasMany(Post, { as: 'posts', foreignKey: 'userId' });
User.hasMany(Post, { as: 'drafts', foreignKey: 'userId' });
Post.belongsTo(User, { as: 'author', foreignKey: 'userId' });
Post.hasMany(Comment, { as: 'comments' });
Post.belongsToMany(Tag, { through: 'PostTags', as: 'tags' });
await sequelize.sync();
{
  const [u1, u2] = await User.bulkCreate([
    { name: 'a', role: 'admin', age: 30, data: Buffer.from([0]), born: new Date(0), score: 1.5, meta: { a: 1 } },
    { name: 'b', role: 'user', age: 12, data: Buffer.from([1]), born: new Date(1), score: 0, meta: { b: 1 } },
  ]);
  const posts = await Post.bulkCreate([
    { title: 'a', body: 'x', views: 20, userId: u1.id },
    { title: 'b', body: 'y', views: 1, userId: u1.id },
    { title: 'c', body: 'z', views: 11, userId: u2.id },
  ]);
  await Comment.bulkCreate([{ body: 'a', PostId: posts[0].id }, { body: 'b', PostId: posts[2].id }]);
  const tags = await Tag.bulkCreate([{ label: 'a' }, { label: 'b' }]);
  await posts[0].addTags(tags);
}
after(() => sequelize.close());

const MODELS = { User, Post, Comment, Tag };
const SCOPES = { User: [['adults'], [{ method: ['named', 'a'] }], [{ method: ['named', 'b'] }], ['withPosts'], ['adults', 'withPosts']], Post: [['popular']] };

const client = new MemoryCache({ modelCacheName: 'props' });

// ---- leaves: every value kind the encoder reads, with their twins ------------------------------

const UNREGISTERED_GT = Symbol('gt');
const UNREGISTERED_CUSTOM = Symbol('custom');
// Sequelize skips a symbol key that is not an operator: { [Symbol('or')]: [...] } is no condition.
const UNREGISTERED_OR = Symbol('or');
const UNREGISTERED_NOT = Symbol('not');
const long = '测'.repeat(42); // 126 bytes: a 128-byte read ends inside the next character
/** Strings whose last characters cross a 128-, 256-, 512- or 1024-byte read, in pairs. */
const BOUNDARY = [128, 256, 512, 1024].flatMap((size) => ['a', 'b'].map((last) => 'x'.repeat(size - 3) + '测' + last));

/** Leaves: [label, make(realm)]. Labels are unique; twins name each other by label. */
const LEAVES = [];
const leafIndex = new Map();
function leaf(label, make) {
  leafIndex.set(label, LEAVES.length);
  LEAVES.push({ label, make });
}
const STRINGS = [
  '', 'a', 'b', 'a ', ' ', '"', '\\', '\\"', '\n', '\\n', '\u0000', '\u001f', '\u007f', 'é', 'e\u0301', '\ufffd', '\ud800',
  '\udc00', '\udc00\ud800', '\ud83d\ude00', long + '甲', long + '乙', ...BOUNDARY, 'y'.repeat(300),
  'y'.repeat(299) + 'z', '$u', '@"gt"', 'null', 'true', '1', '0', '-0', "it's", 'a%', 'x","role":"admin', '\\ud800', 'gt',
];
for (const s of STRINGS) leaf(`s:${JSON.stringify(s)}`, () => s);
const NUMBERS = [0, -0, 1, -1, 2, 18, 1.5, 0.1 + 0.2, 0.3, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 53 + 2, 1e21, 1e-7, 5e-324, Number.MAX_VALUE];
for (const n of NUMBERS) leaf(`n:${Object.is(n, -0) ? '-0' : String(n)}`, () => n);
const BIGINTS = [0n, 1n, -1n, 2n ** 63n, -(2n ** 63n), 2n ** 64n, 2n ** 64n + 1n, -(2n ** 70n)];
for (const b of BIGINTS) leaf(`b:${b}`, () => b);
leaf('true', () => true);
leaf('false', () => false);
leaf('null', () => null);
leaf('undefined', () => undefined);
for (const ms of [0, 1, -1, NaN, 1e12]) leaf(`D:${ms}`, (realm) => realm.date(ms));
for (const bytes of [[], [0], [0, 0], [1], [0x30]]) leaf(`Buf:${bytes}`, () => Buffer.from(bytes));
for (const [kind, bytes] of [
  ['Uint8Array', [0]], ['Uint8Array', [0, 0]], ['Uint8Array', [0x30]], ['Int8Array', [0]], ['Uint16Array', [0]],
  ['Uint8ClampedArray', [0]], ['Float64Array', [-0]], ['Float64Array', [0]],
]) {
  leaf(`${kind}:${bytes.map((b) => (Object.is(b, -0) ? '-0' : b))}`, (realm) => realm.typed(kind, bytes));
}
leaf('sym:Op.gt', () => Op.gt);
leaf('sym:Symbol(gt)', () => UNREGISTERED_GT);
leaf('sym:Symbol.for(custom)', () => Symbol.for('custom'));
leaf('sym:Symbol(custom)', () => UNREGISTERED_CUSTOM);

/** Pairs a careless encoder would merge (by label). */
const S = (s) => `s:${JSON.stringify(s)}`;
const N = (n) => `n:${Object.is(n, -0) ? '-0' : String(n)}`;
const LEAF_TWINS = [
  [S('\ud800'), S('\ufffd')], [S('\udc00'), S('\ud800')], [S('\udc00\ud800'), S('\ud83d\ude00')],
  [S(long + '甲'), S(long + '乙')], [S('y'.repeat(300)), S('y'.repeat(299) + 'z')],
  ...[0, 2, 4, 6].map((i) => [S(BOUNDARY[i]), S(BOUNDARY[i + 1])]),
  [S('\\ud800'), S('\ud800')], [S('a'), S('a ')], [S('"'), S('\\"')], [S('\n'), S('\\n')], [S('é'), S('e\u0301')],
  [S('null'), 'null'], [S('true'), 'true'], [S('1'), N(1)], [N(1), 'b:1'], [N(0), N(-0)], [N(-0), S('-0')],
  [N(NaN), 'null'], ['undefined', 'null'], [S('$u'), 'undefined'], [N(0.1 + 0.2), N(0.3)], [N(2 ** 53), N(2 ** 53 + 2)],
  ['D:0', N(0)], ['D:NaN', 'D:0'], ['Buf:0', 'Uint8Array:0'], ['Uint8Array:0', 'Int8Array:0'], ['Uint8Array:0,0', 'Uint16Array:0'],
  ['Uint8Array:0', 'Uint8ClampedArray:0'], ['Float64Array:-0', 'Float64Array:0'], ['Buf:48', S('0')], ['Buf:', S('')],
  ['sym:Op.gt', 'sym:Symbol(gt)'], ['sym:Symbol.for(custom)', 'sym:Symbol(custom)'], [S('@"gt"'), 'sym:Op.gt'],
  [`b:${2n ** 64n}`, `b:${2n ** 64n + 1n}`], ['b:1', 'b:-1'], [`b:${2n ** 63n}`, `b:${-(2n ** 63n)}`],
];
const twinsOfLeaf = new Map();
for (const [a, b] of LEAF_TWINS) {
  const ia = leafIndex.get(a);
  const ib = leafIndex.get(b);
  assert.ok(ia !== undefined && ib !== undefined, `twin labels ${a} / ${b}`);
  for (const [x, y] of [[ia, ib], [ib, ia]]) twinsOfLeaf.set(x, [...(twinsOfLeaf.get(x) || []), y]);
}

/** Symbol keys: operators (registered), and symbols a careless encoder would take for them. */
const SYMBOL_KEYS = [
  Op.eq, Op.ne, Op.gt, Op.gte, Op.lt, Op.in, Op.notIn, Op.like, Op.is, Op.not, Op.between, Op.or, Op.and,
  Symbol.for('custom'), UNREGISTERED_GT, UNREGISTERED_CUSTOM, UNREGISTERED_OR, UNREGISTERED_NOT,
];
const sym = (s) => ({ s: SYMBOL_KEYS.indexOf(s) });
const COMPARISONS = [Op.eq, Op.ne, Op.gt, Op.gte, Op.lt, Op.in, Op.notIn, Op.like, Op.is, Op.between, UNREGISTERED_GT].map(sym);
/** Key twins: a symbol key and what it could be confused with, as spec keys. */
const KEY_TWINS = [
  [sym(Op.gt), sym(UNREGISTERED_GT)], [sym(Op.gt), 'gt'], [sym(Symbol.for('custom')), sym(UNREGISTERED_CUSTOM)],
  [sym(Op.or), sym(UNREGISTERED_OR)], [sym(Op.not), sym(UNREGISTERED_NOT)], [sym(Op.or), sym(Op.and)],
  [long + '甲', long + '乙'], [BOUNDARY[0], BOUNDARY[1]], [BOUNDARY[2], BOUNDARY[3]], ['\ud800', '\ufffd'], ['name', 'name '],
  ['a"b', 'a\\"b'],
];
const keyId = (k) => (typeof k === 'string' ? `s:${k}` : `y:${k.s}`);

const ATTRS = {
  User: ['id', 'name', 'role', 'age', 'data', 'born', 'score', 'meta'],
  Post: ['id', 'title', 'body', 'views', 'userId'],
  Comment: ['id', 'body', 'PostId'],
  Tag: ['id', 'label'],
};
const TRICKY_NAMES = ['gt', long + '甲', long + '乙', ...BOUNDARY.slice(0, 4), '\ud800', '\ufffd', 'a"b', 'a\\"b', '$u', 'name '];

/** The leaf of a string (attribute names, aliases and directions join the pool). */
function stringLeaf(s) {
  const label = `s:${JSON.stringify(s)}`;
  if (!leafIndex.has(label)) leaf(label, () => s);
  return leafIndex.get(label);
}
for (const s of [...Object.values(ATTRS).flat(), 'posts', 'drafts', 'author', 'comments', 'tags', 'ASC', 'DESC', 'n', 'm']) stringLeaf(s);

// ---- generators (specs are plain JSON: leaves are pool indices) --------------------------------

/** Builds each arbitrary once per argument list. */
function memo(make) {
  const made = new Map();
  return (...args) => {
    const k = args.join('|');
    if (!made.has(k)) made.set(k, make(...args));
    return made.get(k);
  };
}

// Half of the leaves drawn have a twin, so most trees carry a value a careless encoder would merge.
const leafArb = fc.oneof(
  fc.integer({ min: 0, max: LEAVES.length - 1 }).map((l) => ({ l })),
  fc.constantFrom(...twinsOfLeaf.keys()).map((l) => ({ l })),
);
const L = (label) => ({ l: leafIndex.get(label) });
const smallLeaf = fc.constantFrom(...['n:0', 'n:1', 'n:2', 'n:-0', 's:"1"', 'b:1', 'null', 'undefined', 'n:NaN', 's:"a"'].map(L));
const holeArb = fc.constant({ h: 1 });
const listArb = fc.array(fc.oneof({ weight: 6, arbitrary: leafArb }, { weight: 1, arbitrary: holeArb }), { maxLength: 3 }).map((a) => ({ a }));

/** A plain object spec from [key, value] pairs, keys unique. */
const objectOf = (entryArb, max) => fc.uniqueArray(entryArb, { maxLength: max, selector: (e) => keyId(e[0]) }).map((o) => ({ o }));

const methodArb = memo(function methodArb(model) {
  const attr = fc.constantFrom(...ATTRS[model]);
  const col = attr.map((c) => ({ col: c }));
  return fc.oneof(
    col,
    fc.tuple(fc.constantFrom('upper', 'lower', 'length'), col).map(([f, c]) => ({ fn: f, args: [c] })),
    // Placeholders make replacements and bind parameters part of the statement.
    fc.constantFrom('1', '1=1', "'a'", '"a"', 'name = :a', 'age = $1').map((s) => ({ lit: s })),
    fc.tuple(col, fc.constantFrom(-1, ...COMPARISONS.map((k) => k.s)), leafArb).map(([c, op, v]) => ({ w: [c, op, v] })),
    fc.tuple(col, fc.constantFrom('TEXT', 'INTEGER')).map(([c, t]) => ({ cast: [c, t] })),
    fc.tuple(fc.constantFrom('meta.a', 'meta.b'), fc.option(leafArb, { nil: undefined })).map(([p, v]) => ({ json: [p, v] })),
  );
});

const whereArb = memo(function whereArb(model, depth = 2) {
  const value = fc.oneof(
    { weight: 6, arbitrary: leafArb },
    { weight: 3, arbitrary: objectOf(fc.tuple(fc.oneof(fc.constantFrom(...COMPARISONS), fc.constant('gt')), fc.oneof(leafArb, listArb)), 2) },
    { weight: 2, arbitrary: listArb },
    { weight: 1, arbitrary: methodArb(model) },
  );
  const name = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...ATTRS[model]) }, { weight: 1, arbitrary: fc.constantFrom(...TRICKY_NAMES) });
  const entries = [fc.tuple(name, value)];
  if (depth > 0) {
    const sub = whereArb(model, depth - 1);
    entries.push(fc.tuple(fc.constantFrom(sym(Op.or), sym(Op.and)), fc.array(sub, { minLength: 1, maxLength: 2 }).map((a) => ({ a }))));
    entries.push(fc.tuple(fc.constant(sym(Op.not)), sub));
  }
  return objectOf(fc.oneof({ weight: 4, arbitrary: entries[0] }, ...entries.slice(1).map((arbitrary) => ({ weight: 1, arbitrary }))), 3);
});

const attributesArb = memo(function attributesArb(model) {
  const names = fc.subarray(ATTRS[model], { maxLength: Math.min(3, ATTRS[model].length) }).map((a) => a.map((n) => ({ l: stringLeaf(n) })));
  const name = fc.constantFrom(...ATTRS[model]).map((n) => ({ l: stringLeaf(n) }));
  const aliased = fc.tuple(methodArb(model), fc.constantFrom('n', 'm')).map(([m, alias]) => ({ a: [m, { l: stringLeaf(alias) }] }));
  const list = fc.array(fc.oneof({ weight: 3, arbitrary: name }, { weight: 1, arbitrary: aliased }), { maxLength: 3 }).map((a) => ({ a }));
  const exclude = names.map((a) => ({ o: [['exclude', { a }]] }));
  const include = fc.array(aliased, { maxLength: 2 }).map((a) => ({ o: [['include', { a }]] }));
  return fc.oneof(names.map((a) => ({ a })), list, exclude, include);
});

const INCLUDES = {
  User: [['Post', 'posts'], ['Post', 'drafts']],
  Post: [['User', 'author'], ['Comment', 'comments'], ['Tag', 'tags']],
};

const includeArb = memo(function includeArb(model, depth = 1) {
  const one = fc.constantFrom(...INCLUDES[model]).chain(([target, as]) => {
    const parts = {
      model: fc.constantFrom(-1, ...(SCOPES[target] ? SCOPES[target].map((_, i) => i) : [])).map((sc) => ({ m: target, sc })),
      as: fc.constant({ l: stringLeaf(as) }),
      where: whereArb(target, 1),
      required: fc.constantFrom(L('true'), L('false'), L('undefined')),
      attributes: attributesArb(target),
      separate: fc.constantFrom(L('true'), L('false')),
      ...(depth > 0 && INCLUDES[target] ? { include: fc.array(includeArb(target, depth - 1), { maxLength: 1 }).map((a) => ({ a })) } : {}),
    };
    return fc.oneof(
      { weight: 3, arbitrary: fc.record(parts, { requiredKeys: ['model'] }).map((r) => ({ o: Object.entries(r) })) },
      { weight: 1, arbitrary: fc.constant({ as: [model, as] }) },
      { weight: 1, arbitrary: fc.constant({ l: stringLeaf(as) }) },
      { weight: 1, arbitrary: fc.constant({ m: target, sc: -1 }) },
    );
  });
  return one;
});

const orderArb = memo(function orderArb(model) {
  const dir = fc.constantFrom('ASC', 'DESC').map((d) => ({ l: stringLeaf(d) }));
  const item = fc.oneof(
    fc.tuple(fc.constantFrom(...ATTRS[model]), dir).map(([a, d]) => ({ a: [{ l: stringLeaf(a) }, d] })),
    fc.tuple(methodArb(model), dir).map(([m, d]) => ({ a: [m, d] })),
    fc.constantFrom(...ATTRS[model]).map((a) => ({ l: stringLeaf(a) })),
  );
  return fc.array(item, { maxLength: 2 }).map((a) => ({ a }));
});

const optionsArb = memo(function optionsArb(model, method) {
  const parts = {
    where: fc.oneof({ weight: 5, arbitrary: whereArb(model) }, { weight: 1, arbitrary: methodArb(model) }),
    attributes: attributesArb(model),
    include: fc.array(includeArb(model), { maxLength: 2 }).map((a) => ({ a })),
    order: orderArb(model),
    group: fc.subarray(ATTRS[model], { maxLength: 1 }).map((a) => ({ a: a.map((n) => ({ l: stringLeaf(n) })) })),
    limit: smallLeaf,
    offset: smallLeaf,
    raw: fc.constantFrom(L('true'), L('false')),
    subQuery: fc.constantFrom(L('true'), L('false')),
    paranoid: fc.constantFrom(L('true'), L('false')),
    replacements: objectOf(fc.tuple(fc.constantFrom('a', 'b'), leafArb), 2),
    // Bind parameters reach the driver as they are (-0 stays -0, a Buffer stays a Buffer).
    bind: fc.array(fc.oneof(leafArb, smallLeaf), { minLength: 1, maxLength: 2 }).map((a) => ({ a })),
    ...(method === 'count' ? { distinct: fc.constantFrom(L('true'), L('false')), col: fc.constantFrom(...ATTRS[model]).map((c) => ({ l: stringLeaf(c) })) } : {}),
    Where: leafArb,
  };
  // A few options per call: small trees repeat and differ from each other by little.
  return fc
    .shuffledSubarray(Object.keys(parts), { maxLength: 4 })
    .chain((names) => fc.tuple(...names.map((n) => parts[n])).map((values) => ({ o: names.map((n, i) => [n, values[i]]) })));
});

const treeArb = fc
  .tuple(fc.constantFrom('User', 'User', 'Post'), fc.constantFrom('findAll', 'findOne', 'count'))
  .chain(([model, method]) =>
    fc.record({
      model: fc.constant(model),
      method: fc.constant(method),
      scope: fc.constantFrom(-1, ...(SCOPES[model] || []).map((_, i) => i)),
      options: optionsArb(model, method),
      twin: fc.nat(),
      shuffle: fc.nat(),
    }),
  );

// ---- building specs into values, in a realm and a key order -------------------------------------

const MAIN = { obj: () => ({}), arr: () => [], date: (ms) => new Date(ms), typed: (kind, bytes) => new globalThis[kind](bytes) };
const realmSource = `({ obj: () => ({}), arr: () => [], date: (ms) => new Date(ms), typed: (kind, bytes) => new globalThis[kind](bytes) })`;
const OTHER = vm.runInContext(realmSource, vm.createContext({}));
assert.notEqual(Object.getPrototypeOf(OTHER.obj()), Object.prototype);

const keyOf = (k) => (typeof k === 'string' ? k : SYMBOL_KEYS[k.s]);
const describeKey = (k) => (typeof k === 'string' ? k : String(SYMBOL_KEYS[k.s]));
/** The order every canonical build and serial uses: string keys, then symbols, each by text. */
const canonicalOrder = (entries) =>
  [...entries].sort(([a], [b]) => {
    const ka = `${typeof a === 'string' ? 0 : 1}${describeKey(a)}`;
    const kb = `${typeof b === 'string' ? 0 : 1}${describeKey(b)}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
function shuffledOrder(seed) {
  let x = seed >>> 0 || 1;
  return (entries) => {
    const out = [...entries];
    for (let i = out.length - 1; i > 0; i--) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const j = (x >>> 0) % (i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  };
}
const naturalOrder = (entries) => entries;

function build(n, realm, order) {
  if ('l' in n) return LEAVES[n.l].make(realm);
  if ('o' in n) {
    const o = realm.obj();
    for (const [k, v] of order(n.o)) o[keyOf(k)] = build(v, realm, order);
    return o;
  }
  if ('a' in n) {
    const a = realm.arr();
    a.length = n.a.length;
    n.a.forEach((e, i) => {
      if (!('h' in e)) a[i] = build(e, realm, order);
    });
    return a;
  }
  if ('col' in n) return sequelize.col(n.col);
  if ('fn' in n) return sequelize.fn(n.fn, ...n.args.map((x) => build(x, realm, order)));
  if ('lit' in n) return sequelize.literal(n.lit);
  if ('w' in n) {
    const [left, op, right] = n.w;
    return op === -1
      ? sequelize.where(build(left, realm, order), build(right, realm, order))
      : sequelize.where(build(left, realm, order), SYMBOL_KEYS[op], build(right, realm, order));
  }
  if ('cast' in n) return sequelize.cast(build(n.cast[0], realm, order), n.cast[1]);
  if ('json' in n) return n.json[1] === undefined ? sequelize.json(n.json[0]) : sequelize.json(n.json[0], build(n.json[1], realm, order));
  if ('m' in n) return n.sc === -1 ? MODELS[n.m] : MODELS[n.m].scope(...SCOPES[n.m][n.sc]);
  if ('as' in n) return MODELS[n.as[0]].associations[n.as[1]];
  throw new Error(`unknown spec node ${JSON.stringify(n)}`);
}

/** The same spec with every object's entries in canonical order: equal for reordered trees. */
function canonicalSpec(n) {
  if ('o' in n) return { o: canonicalOrder(n.o).map(([k, v]) => [k, canonicalSpec(v)]) };
  if ('a' in n) return { a: n.a.map(canonicalSpec) };
  if ('fn' in n) return { fn: n.fn, args: n.args.map(canonicalSpec) };
  if ('w' in n) return { w: [canonicalSpec(n.w[0]), n.w[1], canonicalSpec(n.w[2])] };
  if ('cast' in n) return { cast: [canonicalSpec(n.cast[0]), n.cast[1]] };
  if ('json' in n) return { json: [n.json[0], n.json[1] && canonicalSpec(n.json[1])] };
  return n;
}

/** Every place a twin can go: leaves with twins, symbol keys with twins, array holes. */
function twinSites(n, sites = [], path = []) {
  if ('l' in n && twinsOfLeaf.has(n.l)) for (const t of twinsOfLeaf.get(n.l)) sites.push({ path, node: { l: t } });
  if ('l' in n && LEAVES[n.l].label === 'undefined' && path[path.length - 2] === 'a') sites.push({ path, node: { h: 1 } });
  if ('h' in n) sites.push({ path, node: L('undefined') });
  if ('o' in n) {
    n.o.forEach(([k, v], i) => {
      for (const [a, b] of KEY_TWINS) {
        for (const [x, y] of [[a, b], [b, a]]) {
          if (keyId(x) === keyId(k) && !n.o.some(([other]) => keyId(other) === keyId(y))) sites.push({ path: [...path, 'o', i, 0], node: y });
        }
      }
      twinSites(v, sites, [...path, 'o', i, 1]);
    });
  }
  if ('a' in n) n.a.forEach((e, i) => twinSites(e, sites, [...path, 'a', i]));
  if ('fn' in n) n.args.forEach((e, i) => twinSites(e, sites, [...path, 'args', i]));
  if ('w' in n) [0, 2].forEach((i) => twinSites(n.w[i], sites, [...path, 'w', i]));
  if ('json' in n && n.json[1] !== undefined) twinSites(n.json[1], sites, [...path, 'json', 1]);
  return sites;
}

function withTwin(spec, pick) {
  const sites = twinSites(spec.options);
  if (sites.length === 0) return null;
  const { path, node } = sites[pick % sites.length];
  const options = structuredClone(spec.options);
  if (path.length === 0) return { ...spec, options: node };
  let parent = options;
  for (const step of path.slice(0, -1)) parent = parent[step];
  parent[path[path.length - 1]] = node;
  return { ...spec, options };
}

const modelOf = (spec) => (spec.scope === -1 ? MODELS[spec.model] : MODELS[spec.model].scope(...SCOPES[spec.model][spec.scope]));
const keyFor = (spec, realm, order) => client.keyFor(modelOf(spec), spec.method, build(spec.options, realm, order));

const internal = createRequire(import.meta.url);
const native = internal('../js/native.js');
const { keyOptionsFor, segmentOf } = internal('../js/engine/keys.js');
/** A model's scope as the engine passes it: undefined when empty. */
const activeScope = (M) => (M._scope && (Object.keys(M._scope).length || Object.getOwnPropertySymbols(M._scope).length) ? M._scope : undefined);

/** The key the walker alone writes for a spec (no tape), or null when it refuses the tree. */
function walkerKeyFor(spec, realm, order) {
  const Model = modelOf(spec);
  const head = `props:${spec.method}:${segmentOf(Model)}`;
  const k = native.canonicalKey(head, activeScope(Model), keyOptionsFor(Model, spec.method, [build(spec.options, realm, order)]));
  return typeof k === 'string' ? k : null;
}

// ---- the SQL oracle ---------------------------------------------------------------------------

let captured = null;
const QueryClass = sequelize.dialect.Query;
const run = QueryClass.prototype.run;
QueryClass.prototype.run = function (sql, parameters) {
  if (captured) captured.push(`${sql} ${exact(parameters)}`);
  return run.call(this, sql, parameters);
};

/** An exact text of a bind parameter value (Buffer vs Uint8Array, -0, lone surrogates, bigint). */
function exact(v) {
  if (v === undefined) return 'u';
  if (v === null) return 'null';
  switch (typeof v) {
    case 'number':
      return Object.is(v, -0) ? 'n-0' : `n${v}`;
    case 'bigint':
      return `b${v}`;
    case 'string':
      return `s${JSON.stringify(v)}`;
    case 'boolean':
      return String(v);
    case 'symbol':
      return `y${String(v)}`;
  }
  if (Buffer.isBuffer(v)) return `B${v.toString('hex')}`;
  if (ArrayBuffer.isView(v)) return `T${v.constructor.name}${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  if (v instanceof Date) return `D${v.getTime()}`;
  if (Array.isArray(v)) return `[${v.map(exact).join(',')}]`;
  return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${exact(v[k])}`).join(',')}}`;
}

/** The statements Sequelize sends for a spec built in canonical order; null if none (it threw first). */
async function sqlOf(spec) {
  captured = [];
  try {
    await modelOf(spec)[spec.method](build(spec.options, MAIN, canonicalOrder));
  } catch {
    // A rejected call is fine either way; whatever it sent before is still compared.
  }
  const out = captured;
  captured = null;
  return out.length ? out.join('\n') : null;
}

const show = (spec) => util.inspect(build(spec.options, MAIN, naturalOrder), { depth: 12, breakLength: 120 });

// ---- the properties ---------------------------------------------------------------------------

test(`different SQL never shares a key; the same tree keys alike in any key order, realm and run (${TREES} trees and their twins)`, async () => {
  /** key → { serial, sql } of the first tree with that key (the serial is its canonical spec). */
  const seen = new Map();
  const stats = { trees: 0, twins: 0, unkeyable: 0, repeats: 0, sqlChecks: 0, rejected: 0 };
  const started = Date.now();

  async function check(spec) {
    stats.trees++;
    const k = keyFor(spec, MAIN, naturalOrder);
    // Same tree, same key: computed twice, with keys inserted in another order, in another realm.
    assert.equal(keyFor(spec, MAIN, naturalOrder), k, 'computed twice');
    assert.equal(keyFor(spec, MAIN, shuffledOrder(spec.shuffle)), k, `keys inserted in another order:\n${show(spec)}`);
    assert.equal(keyFor(spec, OTHER, naturalOrder), k, `built in another realm:\n${show(spec)}`);
    assert.equal(walkerKeyFor(spec, MAIN, naturalOrder), k, `the walker alone wrote another key:\n${show(spec)}`);
    if (k === null) {
      stats.unkeyable++;
      return;
    }
    const serial = JSON.stringify([spec.model, spec.scope, spec.method, canonicalSpec(spec.options)]);
    const first = seen.get(k);
    if (first === undefined) {
      seen.set(k, { serial, sql: undefined });
      return;
    }
    if (first.serial === serial) {
      stats.repeats++; // the same tree, up to key order: nothing to compare
      return;
    }
    stats.sqlChecks++;
    const [model, scope, method, options] = JSON.parse(first.serial);
    first.spec = { model, scope, method, options };
    if (first.sql === undefined) first.sql = await sqlOf(first.spec);
    const sql = await sqlOf(spec);
    if (first.sql === null || sql === null) {
      stats.rejected++;
      return;
    }
    if (sql !== first.sql) {
      throw new Error(
        `two trees share the key ${k}\nbut Sequelize sends different SQL.\n` +
          `first (${first.spec.model}.${first.spec.method}, scope ${first.spec.scope}):\n${show(first.spec)}\n${first.sql}\n` +
          `second (${spec.model}.${spec.method}, scope ${spec.scope}):\n${show(spec)}\n${sql}`,
      );
    }
  }

  await fc.assert(
    fc.asyncProperty(treeArb, async (spec) => {
      await check(spec);
      const twin = withTwin(spec, spec.twin);
      if (twin !== null) {
        stats.twins++;
        await check(twin);
      }
      if (stats.trees % 200_000 < 2 && TREES >= 200_000) {
        console.log(`# ${stats.trees} trees, ${seen.size} keys, ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
    }),
    { numRuns: TREES, seed: SEED, endOnFailure: true, includeErrorInReport: true },
  );
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (TREES >= 200_000) console.log(`# heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`);
  console.log(
    `# key properties: ${stats.trees} trees (${stats.twins} of them twins), ${seen.size} distinct keys, ` +
      `${stats.repeats} repeated trees, ${stats.unkeyable} unkeyable, ${stats.sqlChecks} different trees with equal keys ` +
      `compared by SQL (${stats.rejected} rejected by Sequelize), 0 collisions, ${seconds} s`,
  );
  // The generators must keep making near-duplicates, or the property proves little.
  assert.ok(stats.twins > TREES / 3, `too few twins: ${stats.twins}`);
  assert.ok(seen.size > TREES / 2, `too few distinct keys: ${seen.size}`);
});

test('a findByPk key is the same text however often, and after whichever other values, it is asked for', () => {
  // Values a memo keyed by the value could confuse: 0 and -0 (one Map key), 1 and '1', NaN, long
  // strings past the memo's bound, bigints and Buffers it does not memoize.
  const pkArb = fc.oneof(
    fc.constantFrom(0, -0, 1, '1', NaN, Infinity, -Infinity, '', '0', 10n, -0.5),
    fc.integer({ min: -3, max: 3 }),
    fc.double({ noNaN: false }),
    fc.string({ maxLength: 3 }),
    fc.string({ minLength: 60, maxLength: 70 }),
    fc.bigInt({ min: -3n, max: 3n }),
    fc.uint8Array({ maxLength: 2 }).map((a) => Buffer.from(a)),
  );
  fc.assert(
    fc.property(fc.array(pkArb, { minLength: 1, maxLength: 40 }), (values) => {
      const asked = new MemoryCache();
      for (const v of values) {
        // The oracle: a client that has never keyed a findByPk before.
        const expected = new MemoryCache().keyFor(User, 'findByPk', v);
        assert.equal(asked.keyFor(User, 'findByPk', v), expected, `findByPk(${util.inspect(v)}) after ${util.inspect(values)}`);
      }
    }),
    { numRuns: Math.max(200, TREES / 10), seed: SEED },
  );
});

test('a read of exactly { where: { [attribute]: value } } is keyed by the findByPk path with the text the walker writes', () => {
  const engine = internal('../js/clients.js').engineOf(client);
  const attrs = [...Object.keys(User.rawAttributes), 'notAnAttribute', '__proto__', 'a"b', '\ud800'];
  const valueArb = fc.oneof(
    fc.constantFrom(0, -0, NaN, Infinity, -Infinity, '', '\ud800', '\ufffd', 'a"b\\', long, ...BOUNDARY),
    fc.double(),
    fc.integer(),
    fc.string(),
    fc.string({ unit: 'binary' }),
    // Not eligible: keyed by the general path, which must see these values as well.
    fc.constantFrom(null, true, 10n, undefined, [1, 2], { [Op.gt]: 1 }, new Date(0), Buffer.from('a')),
  );
  const stats = { fast: 0, general: 0 };
  fc.assert(
    fc.property(fc.constantFrom('findOne', 'findAll', 'count', 'findAndCountAll'), fc.constantFrom(...attrs), valueArb, (method, attr, value) => {
      const options = { where: { [attr]: value } };
      const spec = engine.keys.querySpec(User, method, [options]);
      const fast = spec !== null && spec.pk !== undefined;
      const eligible = (typeof value === 'string' || typeof value === 'number') && Object.prototype.hasOwnProperty.call(User.rawAttributes, attr) && attr !== '\ud800';
      assert.equal(fast, eligible, `${method}(${util.inspect(options)}) takes the single-attribute path exactly when it is eligible`);
      stats[fast ? 'fast' : 'general']++;
      const k = client.keyFor(User, method, options);
      const walker = native.canonicalKey(`props:${method}:${segmentOf(User)}`, undefined, options);
      assert.equal(k, typeof walker === 'string' ? walker : null, `${method}(${util.inspect(options)})`);
    }),
    { numRuns: Math.max(500, TREES / 4), seed: SEED },
  );
  assert.ok(stats.fast > 50 && stats.general > 50, `both paths were taken: ${JSON.stringify(stats)}`);
  // Extra keys, symbols, scopes and prototypes take the general path, with the same text.
  const C = class {};
  for (const options of [{ where: { name: 'x' }, limit: 1 }, { where: { name: 'x', role: 'y' } }, { where: { name: 'x', [Op.or]: [] } }, { where: Object.assign(new C(), { name: 'x' }) }]) {
    const spec = engine.keys.querySpec(User, 'findOne', [options]);
    assert.equal(spec.pk, undefined, util.inspect(options));
  }
  const scoped = User.scope('adults');
  assert.equal(engine.keys.querySpec(scoped, 'findOne', [{ where: { name: 'x' } }]).pk, undefined, 'a scoped model');
});

test('a key remembered for one tape is given to no other tape, even when every tape shares one hash', () => {
  const { TapeMemo } = internal('../js/engine/tape-memo.js');
  /** A memo whose every tape lands in one bucket, so only the full comparison tells tapes apart. */
  class Colliding extends TapeMemo {
    constructor() {
      super(() => 0);
      this.answered = 0;
    }
    get(h, headId, tape) {
      const k = super.get(h, headId, tape);
      if (k !== undefined) this.answered++;
      return k;
    }
  }
  const colliding = new MemoryCache({ modelCacheName: 'props' });
  const keys = internal('../js/clients.js').engineOf(colliding).keys;
  const stats = { pairs: 0, answered: 0 };
  fc.assert(
    fc.property(treeArb, (spec) => {
      // One fresh memo per tree: the tree, then its twin (one value away), each asked twice.
      const memo = (keys.tapeKeys = new Colliding());
      const twin = withTwin(spec, spec.twin);
      if (twin !== null) stats.pairs++;
      for (const s of twin === null ? [spec, spec] : [spec, twin, spec, twin]) {
        const k = colliding.keyFor(modelOf(s), s.method, build(s.options, MAIN, naturalOrder));
        assert.equal(k, walkerKeyFor(s, MAIN, naturalOrder), `remembered key of another tape:\n${show(s)}`);
      }
      stats.answered += memo.answered;
    }),
    { numRuns: Math.max(500, TREES / 4), seed: SEED },
  );
  // The memo must have answered, or the property proves nothing about it.
  assert.ok(stats.answered > stats.pairs / 2, `the memo answered too rarely: ${JSON.stringify(stats)}`);
});
