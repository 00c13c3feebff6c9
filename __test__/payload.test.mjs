// The typed payload (js/payload.js): whatever a result holds, decode(encode(result)) gives it
// back, value for value and type for type; a list's typed columns (Dates, Buffers, BigInts,
// undefined) take one types entry each however many rows it has, and only where every value of
// that kind there is one of them.
// SNC_PAYLOAD_SEED=<seed> replays a failure (fast-check prints the seed with the counterexample).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';

const require = createRequire(import.meta.url);
const payload = require('../js/payload.js');

const SEED = Number(process.env.SNC_PAYLOAD_SEED) || Math.floor(Math.random() * 2 ** 31);
const RUNS = 500;
const params = { numRuns: RUNS, seed: SEED };

/** Values compared by what they are: Dates by time (an invalid one as such), Buffers by bytes. */
function comparable(v) {
  if (v instanceof Date) return { date: Number.isNaN(v.getTime()) ? 'invalid' : v.getTime() };
  if (Buffer.isBuffer(v)) return { buffer: v.toString('hex') };
  if (Array.isArray(v)) return v.map(comparable);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, comparable(x)]));
  return v;
}

const roundTrip = (shape, v) => payload.decode(payload.encode(shape, v));
const typesOf = (text) => text.slice(text.indexOf(' ', text.indexOf(' ', 2) + 1) + 1, text.indexOf('\n'));

const key = fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__');
const date = fc.oneof(fc.date({ noInvalidDate: true }), fc.constant(new Date(NaN)));
const leaf = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double(),
  fc.constantFrom(-0, NaN, Infinity, -Infinity, null, undefined, true, false),
  fc.bigInt(),
  date,
  fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a)),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('value'), { maxLength: 5 }), fc.dictionary(key, tie('value'), { maxKeys: 5 })),
}));

/** Rows as a list query returns them: fixed columns, each of one kind, some with nested lists. */
const column = fc.constantFrom('date', 'nullableDate', 'number', 'dateOrNumber', 'json', 'string', 'buffer', 'bigint', 'bigintOrString', 'virtual');
const cell = (kind) =>
  ({
    date: fc.date({ noInvalidDate: true }),
    nullableDate: fc.oneof(fc.date({ noInvalidDate: true }), fc.constant(null), fc.constant(new Date(NaN))),
    number: fc.integer(),
    dateOrNumber: fc.oneof(fc.date({ noInvalidDate: true }), fc.integer()),
    json: value,
    string: fc.string({ maxLength: 5 }),
    buffer: fc.oneof(fc.uint8Array({ maxLength: 4 }).map((a) => Buffer.from(a)), fc.constant(null)),
    bigint: fc.bigInt(),
    bigintOrString: fc.oneof(fc.bigInt(), fc.string({ maxLength: 3 })),
    // A virtual attribute's stored value (undefined), or a null.
    virtual: fc.oneof(fc.constant(undefined), fc.constant(undefined), fc.constant(null)),
  })[kind];
const rows = fc
  .uniqueArray(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e'), column), { minLength: 1, maxLength: 4, selector: (c) => c[0] })
  .chain((cols) => {
    const row = fc.record(Object.fromEntries(cols.map(([name, kind]) => [name, cell(kind)])));
    const withChildren = fc.tuple(row, fc.option(fc.array(row, { maxLength: 3 }), { nil: null })).map(([r, children]) => ({ ...r, children }));
    return fc.array(withChildren, { maxLength: 6 });
  });

describe('typed payload', () => {
  test(`any value reads back as itself (seed ${SEED})`, () => {
    fc.assert(
      fc.property(value, fc.constantFrom('value', 'row'), (v, shape) => {
        assert.deepStrictEqual(comparable(roundTrip(shape, v).data), comparable(v));
      }),
      params,
    );
  });

  test(`lists of rows read back as themselves, nested lists and null dates included (seed ${SEED})`, () => {
    fc.assert(
      fc.property(rows, (list) => {
        assert.deepStrictEqual(comparable(roundTrip('rows', list).data), comparable(list));
        const page = { count: list.length, rows: list };
        assert.deepStrictEqual(comparable(roundTrip('page', page).data), comparable(page));
      }),
      params,
    );
  });

  test("a list's typed columns take one types entry each, however many rows", () => {
    const row = (i) => ({
      id: i,
      createdAt: new Date(1_700_000_000_000 + i),
      deletedAt: i % 2 ? null : new Date(i),
      photo: i % 3 ? Buffer.from([i & 255]) : null,
      big: BigInt(i) * 10n ** 20n,
      shout: undefined,
      orders: [{ at: new Date(i) }, { at: new Date(i + 1) }],
    });
    const ten = payload.encode('rows', Array.from({ length: 10 }, (_, i) => row(i)));
    const thousand = payload.encode('rows', Array.from({ length: 1000 }, (_, i) => row(i)));
    assert.equal(typesOf(ten), typesOf(thousand));
    const sorted = (types) => types.map((t) => JSON.stringify(t)).sort();
    assert.deepEqual(
      sorted(JSON.parse(typesOf(ten))),
      sorted([
        ['D', -1, 'createdAt'],
        ['D', -1, 'deletedAt'],
        ['B', -1, 'photo'],
        ['N', -1, 'big'],
        ['U', -1, 'shout'],
        ['D', -1, 'orders', -1, 'at'],
      ]),
    );
    const list = Array.from({ length: 10 }, (_, i) => row(i));
    assert.deepStrictEqual(comparable(roundTrip('rows', list).data), comparable(list));
  });

  test('a column holding numbers beside Dates keeps one entry per Date', () => {
    const list = [{ v: new Date(1) }, { v: 5 }, { v: new Date(2) }];
    assert.deepEqual(JSON.parse(typesOf(payload.encode('rows', list))), [
      ['D', 0, 'v'],
      ['D', 2, 'v'],
    ]);
    assert.deepStrictEqual(comparable(roundTrip('rows', list).data), comparable(list));
  });

  test('a folded entry restores values of its kind only, and is refused for other tags or through __proto__', () => {
    const { data } = payload.decode('2 rows - [["D",-1,"a"]]\n[{"a":"x"},{"a":{"b":1}},{"a":5},{"a":null},{},7,null,{"a":[1]}]');
    assert.deepStrictEqual(comparable(data), comparable([{ a: 'x' }, { a: { b: 1 } }, { a: new Date(5) }, { a: null }, {}, 7, null, { a: [1] }]));
    assert.deepStrictEqual(payload.decode('2 rows - [["D",-1]]\n{"0":1}').data, { 0: 1 }, 'over an object: nothing to do');
    const b = payload.decode('2 rows - [["B",-1,"a"],["U",-1,"u"]]\n[{"a":"aGk=","u":null},{"a":5,"u":0},{"a":null}]').data;
    assert.deepStrictEqual(comparable(b), comparable([{ a: Buffer.from('hi'), u: undefined }, { a: 5, u: 0 }, { a: null }]));
    for (const [what, text] of [
      ['in a tag that is never folded', '2 rows - [["F",-1,"a"]]\n[{"a":"NaN"}]'],
      ['in an invalid-date entry', '2 rows - [["d",-1,"a"]]\n[{"a":null}]'],
      ['walking to __proto__', '2 rows - [["D",-1,"__proto__"]]\n[{"a":1}]'],
      ['walking to constructor', '2 rows - [["D",-1,"constructor","prototype"]]\n[{"a":1}]'],
      ['with a step that is no index', '2 rows - [["D",-2,"a"]]\n[{"a":1}]'],
    ]) {
      assert.throws(() => payload.decode(text), Error, what);
    }
    assert.equal(({}).a, undefined);
  });
});

test("memos keyed by a cache server's texts keep to their bounds, whatever it writes", () => {
  const { rememberText } = require('../js/memo.js');
  const memo = new Map();
  // A text longer than the per-text bound is parsed but never kept.
  rememberText(memo, 'x'.repeat(9000), 1, 1024, 1 << 20, 8192);
  assert.equal(memo.size, 0);
  // Texts are kept until they would pass the bound in all; then the memo starts over.
  let held = 0;
  for (let i = 0; i < 2000; i++) {
    const text = `${i}:`.padEnd(8000, 'y');
    rememberText(memo, text, i, 1024, 1 << 20, 8192);
    held = [...memo.keys()].reduce((n, k) => n + k.length, 0);
    assert.ok(held <= 1 << 20, `${held} characters held`);
    assert.equal(memo.get(text), i, 'the latest is kept');
  }
  // A payload whose type table is past the bound still decodes (it is parsed each time).
  const types = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ['D', `c${i}`]));
  const data = JSON.stringify(Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`c${i}`, i])));
  const { data: decoded } = payload.decode(`${payload.PAYLOAD_VERSION} row - ${types}\n${data}`);
  assert.ok(decoded.c1999 instanceof Date);
});

