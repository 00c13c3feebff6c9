// Small pieces the model-based suite shares: a seeded PRNG, plain-data comparison, and a printer
// that shows Sequelize options the way they are written in code.
import { Op } from 'sequelize';

/** mulberry32: a small seeded PRNG; the same seed gives the same operations on every machine. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    chance: (p) => next() < p,
    /** Picks a key of `weights` ({ name: weight }) in proportion to its weight. */
    weighted(weights) {
      const entries = Object.entries(weights).filter(([, w]) => w > 0);
      let x = next() * entries.reduce((s, [, w]) => s + w, 0);
      for (const [k, w] of entries) if ((x -= w) < 0) return k;
      return entries[entries.length - 1][0];
    },
    /** 1..n distinct items of `arr`. */
    some(arr, max = arr.length) {
      const n = 1 + Math.floor(next() * Math.min(max, arr.length));
      const pool = [...arr];
      const out = [];
      for (let i = 0; i < n; i++) out.push(pool.splice(Math.floor(next() * pool.length), 1)[0]);
      return out;
    },
  };
  return r;
}

/** A result as plain data: instances (and read-only views) through get({ plain: true }). */
export function toPlain(result) {
  if (result === null || result === undefined) return null;
  if (Array.isArray(result)) return result.map(toPlain);
  // findAndCountAll's { count, rows } first: a read-only view refuses any other property (`get`).
  if (typeof result === 'object' && 'rows' in result && 'count' in result) return { count: toPlain(result.count), rows: toPlain(result.rows) };
  if (typeof result === 'object' && typeof result.get === 'function') return result.get({ plain: true });
  return result;
}

/**
 * A canonical text of plain data: keys sorted, typed values tagged, arrays sorted unless their
 * order is part of the query (`ordered` for the top level, `deep` for nested includes).
 */
export function canonical(value, { ordered = false, deep = false } = {}) {
  const walk = (v, depth) => {
    if (v === undefined) return '$u';
    if (v === null) return 'null';
    if (v instanceof Date) return `$D(${Number.isNaN(v.getTime()) ? 'invalid' : v.toISOString()})`;
    if (Buffer.isBuffer(v)) return `$B(${v.toString('hex')})`;
    if (typeof v === 'bigint') return `$n(${v})`;
    if (typeof v === 'number') return Number.isNaN(v) ? '$NaN' : String(v);
    if (typeof v !== 'object') return JSON.stringify(v);
    if (Array.isArray(v)) {
      const items = v.map((x) => walk(x, depth + 1));
      const keepOrder = depth === 0 ? ordered : deep;
      return `[${(keepOrder ? items : items.sort()).join(',')}]`;
    }
    // findAndCountAll's rows are the top level.
    const rowsDepth = 'rows' in v && 'count' in v && depth === 0 ? -1 : depth;
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${walk(v[k], k === 'rows' ? rowsDepth + 1 : depth + 1)}`)
      .join(',')}}`;
  };
  return walk(value, 0);
}

/** `{ ok: value }` or `{ error: 'Name: message' }`, never a rejection. */
export async function settle(promiseOrFn) {
  try {
    return { ok: await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn) };
  } catch (err) {
    return { error: errorText(err), stack: err && typeof err.stack === 'string' && !/^Sequelize/.test(err.name) ? err.stack : undefined };
  }
}

export function errorText(err) {
  if (err === null || err === undefined) return String(err);
  const name = err.name || 'Error';
  const msg = err.parent && err.parent.message ? err.parent.message : err.message;
  return `${name}: ${msg}`;
}

const OP_NAMES = new Map(Object.entries(Op).map(([k, s]) => [s, k]));

/** Sequelize options written as code: `{ where: { visits: { [Op.gt]: 2 } }, include: [Post] }`. */
export function show(v, depth = 0) {
  if (depth > 8) return '…';
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (v instanceof Date) return `new Date('${v.toISOString()}')`;
  if (typeof v === 'function') return v.name || 'fn';
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => show(x, depth + 1)).join(', ')}]`;
  if (v.constructor && v.constructor.name === 'Literal') return `literal(${JSON.stringify(v.val)})`;
  if (v.constructor && v.constructor.name === 'Transaction') return 't';
  const parts = Object.keys(v).map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${show(v[k], depth + 1)}`);
  for (const s of Object.getOwnPropertySymbols(v)) parts.push(`[Op.${OP_NAMES.get(s) || s.description}]: ${show(v[s], depth + 1)}`);
  return parts.length ? `{ ${parts.join(', ')} }` : '{}';
}
