// Operations: a seeded generator of plain-JSON operations, and what each one runs.
//
// An operation is plain JSON (so it can be printed, replayed, shrunk and sent to another process):
//   { t: 'read', d }                      a cached read compared with the same read uncached
//   { t: 'write', kind, model, ... }      a write of one of the kinds in WRITE_KINDS
//   { t: 'tx', ops, rollback }            a managed transaction holding writes, reads (with the
//                                         transaction, or outside it on PostgreSQL) and savepoints
//   { t: 'batch', lanes }                 lanes run concurrently, each lane's ops in sequence
//   { t: 'sf', d, w }                     single-flight: slow miss A, write w, then read B
//   { t: 'lf', d, w }                     late fill: slow miss A, write w, A ends; then a read
//   { t: 'cacheop', kind, ... }           the clients' own invalidation calls
//   { t: 'sweep' }                        every read seen so far, cached vs uncached
// Writes name rows by explicit ids from small domains; a write that hits a constraint fails like
// it would in an app, and the run goes on (the database and the cache must still agree).
import { Op, QueryTypes } from 'sequelize';
import { DOMAIN } from './schema.mjs';
import { QUERIES, randomRead, readCode, modelOf, nameOf, tablesOfShape } from './queries.mjs';
import { show } from './util.mjs';

/** Operation kinds that only PostgreSQL runs. */
const PG_ONLY = new Set(['raw.cte', 'raw.cteDelete']);

const MODEL_WEIGHTS = { User: 3, Post: 3, Comment: 2, Tag: 1, PostTag: 2, Badge: 1 };
const DATE_FIELDS = new Set(['born', 'awardedAt', 'deletedAt']);

/** Write kinds and their weights. Raw SQL forms are `raw.<form>`. */
export const WRITE_KINDS = {
  create: 6,
  bulkCreate: 3,
  upsert: 3,
  instUpdate: 7,
  instDestroy: 3,
  instRestore: 2,
  instIncrement: 3,
  instReload: 2,
  staticUpdate: 6,
  staticDestroy: 3,
  staticRestore: 2,
  staticIncrement: 3,
  truncate: 0.5,
  assoc: 6,
  'raw.update': 2,
  'raw.delete': 1.2,
  'raw.insert': 1.2,
  'raw.comment': 2,
  'raw.cte': 1.6,
  'raw.cteDelete': 0.8,
  'raw.returningModel': 1.8,
  'raw.returningSelect': 1.8,
  'raw.typed': 1,
};

/** Top-level operation weights. */
const TOP_WEIGHTS = { read: 55, write: 30, tx: 5, batch: 5, sf: 2, lf: 1.5, cacheop: 1 };

function randomRow(r, model, ctx) {
  const row = anyRow(r, model);
  // Without key updates, a row's handle follows its id, so upserts never move a handle.
  if (ctx && ctx.skip.has('keyUpdates') && model === 'User') row.handle = `h${row.id}`;
  return row;
}

function anyRow(r, model) {
  switch (model) {
    case 'User':
      return {
        id: r.pick(DOMAIN.userIds),
        handle: r.pick(DOMAIN.handles),
        name: r.pick(DOMAIN.names),
        active: r.chance(0.6),
        visits: r.pick(DOMAIN.small),
        points: r.pick(DOMAIN.points),
        balance: r.pick(DOMAIN.balances),
        born: r.chance(0.3) ? null : r.pick(DOMAIN.dates),
        meta: r.pick(DOMAIN.metas),
      };
    case 'Post':
      return { id: r.pick(DOMAIN.postIds), userId: r.chance(0.15) ? null : r.pick(DOMAIN.userIds), title: r.pick(DOMAIN.titles), views: r.pick(DOMAIN.small), published: r.chance(0.5) };
    case 'Comment':
      return { id: r.pick(DOMAIN.commentIds), postId: r.pick(DOMAIN.postIds), body: r.pick(DOMAIN.bodies), likes: r.pick(DOMAIN.small) };
    case 'Tag':
      return { id: r.pick(DOMAIN.tagIds), label: r.pick(DOMAIN.labels) };
    case 'PostTag':
      return { postId: r.pick(DOMAIN.postIds), tagId: r.pick(DOMAIN.tagIds), weight: r.int(1, 3) };
    case 'Badge':
      return { id: r.pick(DOMAIN.badgeIds), userHandle: r.chance(0.2) ? null : r.pick(DOMAIN.handles), kind: r.pick(DOMAIN.kinds), awardedAt: r.chance(0.3) ? null : r.pick(DOMAIN.dates) };
    default:
      throw new Error(`no rows for ${model}`);
  }
}

/** Fields an update may set, per model; keys (id, handle) included so cascades happen. */
const UPDATABLE = {
  User: ['name', 'active', 'visits', 'points', 'balance', 'born', 'meta', 'handle', 'handle', 'id'],
  Post: ['title', 'views', 'published', 'userId', 'userId', 'id'],
  Comment: ['body', 'likes', 'postId'],
  Tag: ['label', 'id'],
  PostTag: ['weight', 'tagId'],
  Badge: ['kind', 'awardedAt', 'userHandle'],
};

/** Key columns other rows refer to (ON UPDATE CASCADE); `keyUpdates` in skip leaves them alone. */
const KEY_COLUMNS = new Set(['id', 'handle', 'tagId']);

function randomVals(r, model, ctx) {
  const row = randomRow(r, model);
  const out = {};
  const fields = ctx && ctx.skip.has('keyUpdates') ? UPDATABLE[model].filter((f) => !KEY_COLUMNS.has(f)) : UPDATABLE[model];
  for (const f of r.some(fields, 2)) out[f] = row[f];
  return out;
}

/** A row's identity: its id, or PostTag's { postId, tagId }. */
function randomRef(r, model) {
  if (model === 'PostTag') return { postId: r.pick(DOMAIN.postIds), tagId: r.pick(DOMAIN.tagIds) };
  return randomRow(r, model).id;
}

/** A where clause in a small JSON form (see whereOf). */
function randomWhere(r, model) {
  const kind = r.weighted({ pk: 4, pks: 2, field: 3, all: 0.5 });
  if (model === 'PostTag') {
    if (kind === 'all') return {};
    return r.chance(0.5) ? { eq: ['postId', r.pick(DOMAIN.postIds)] } : { eq: ['tagId', r.pick(DOMAIN.tagIds)] };
  }
  if (kind === 'pk') return { eq: ['id', randomRow(r, model).id] };
  if (kind === 'pks') return { in: ['id', [randomRow(r, model).id, randomRow(r, model).id]] };
  if (kind === 'all') return {};
  const field = { User: ['name', 'handle', 'visits'], Post: ['userId', 'title'], Comment: ['postId', 'body'], Tag: ['label'], Badge: ['userHandle', 'kind'] }[model];
  const f = r.pick(field);
  const v = randomRow(r, model)[f];
  if (typeof v === 'number' && r.chance(0.4)) return { gte: [f, v] };
  return { eq: [f, v] };
}

/** A JSON where as Sequelize options. */
export function whereOf(w) {
  if (w.eq) return { [w.eq[0]]: w.eq[1] };
  if (w.in) return { [w.in[0]]: { [Op.in]: w.in[1] } };
  if (w.gte) return { [w.gte[0]]: { [Op.gte]: w.gte[1] } };
  return {};
}

/** JSON values as model values (ISO strings to Dates, names trimmed by the model's hook). */
function valuesOf(vals) {
  const out = {};
  for (const [k, v] of Object.entries(vals)) out[k] = DATE_FIELDS.has(k) && typeof v === 'string' ? new Date(v) : v;
  return out;
}

function pickModel(r, allowed = Object.keys(MODEL_WEIGHTS)) {
  return r.weighted(Object.fromEntries(allowed.map((m) => [m, MODEL_WEIGHTS[m]])));
}

/**
 * A random write. `ctx`: { dialect, skip: Set }; `skip` may name a kind (`staticDestroy`), a
 * family (`raw`) or a kind on one model (`staticDestroy:User`).
 */
export function randomWrite(r, ctx, forcedModel) {
  for (let i = 0; ; i++) {
    const w = oneWrite(r, ctx, forcedModel);
    if (i >= 50 || !(ctx.skip.has(`${w.kind}:${w.model}`) || ctx.skip.has(`${w.kind.split('.')[0]}:${w.model}`))) return w;
  }
}

function oneWrite(r, ctx, forcedModel) {
  const kinds = Object.fromEntries(
    Object.entries(WRITE_KINDS).filter(([k]) => !ctx.skip.has(k) && !ctx.skip.has(k.split('.')[0]) && (ctx.dialect === 'postgres' || !PG_ONLY.has(k))),
  );
  const kind = r.weighted(kinds);
  const via = () => (r.chance(0.4) ? 'cache' : 'static');
  const hooks = () => (r.chance(0.15) ? { hooks: false } : r.chance(0.2) ? { individualHooks: true } : {});
  let model = forcedModel;
  const m = (allowed) => (model = model && (!allowed || allowed.includes(model)) ? model : pickModel(r, allowed));
  switch (kind) {
    case 'create':
      m();
      return { kind, model, row: randomRow(r, model, ctx), via: via(), hooksOff: r.chance(0.15) };
    case 'bulkCreate': {
      m();
      const rows = Array.from({ length: r.int(1, 3) }, () => randomRow(r, model, ctx));
      const dup = r.chance(0.5) ? r.some(UPDATABLE[model].filter((f) => f !== 'id' && f !== 'handle' && f !== 'tagId'), 2) : undefined;
      // Sequelize itself throws a TypeError for updateOnDuplicate with individualHooks.
      const h = hooks();
      if (dup) delete h.individualHooks;
      return { kind, model, rows, updateOnDuplicate: dup, via: via(), ...h };
    }
    case 'upsert':
      m();
      return { kind, model, row: randomRow(r, model, ctx), via: via() };
    case 'instUpdate':
      m();
      return {
        kind,
        model,
        ref: randomRef(r, model),
        vals: randomVals(r, model, ctx),
        how: r.pick(['update', 'save']),
        load: r.pick(['db', 'cache']),
        write: r.pick(['plain', 'cache']),
      };
    case 'instDestroy':
      m();
      return { kind, model, ref: randomRef(r, model), load: r.pick(['db', 'cache']), write: r.pick(['plain', 'cache']), force: model === 'Comment' && r.chance(0.4) };
    case 'instRestore':
      return { kind, model: 'Comment', ref: randomRef(r, 'Comment') };
    case 'instIncrement': {
      m(['User', 'Post', 'Comment', 'PostTag']);
      const field = { User: 'visits', Post: 'views', Comment: 'likes', PostTag: 'weight' }[model];
      return { kind, model, ref: randomRef(r, model), field, by: r.int(1, 2), dec: r.chance(0.3), load: r.pick(['db', 'cache']) };
    }
    case 'instReload':
      m();
      return { kind, model, ref: randomRef(r, model), load: r.pick(['db', 'cache']), dirty: r.chance(0.5) ? randomVals(r, model, ctx) : undefined };
    case 'staticUpdate':
      m();
      return { kind, model, vals: randomVals(r, model, ctx), where: randomWhere(r, model), via: via(), ...hooks() };
    case 'staticDestroy':
      m();
      return { kind, model, where: randomWhere(r, model), via: via(), force: model === 'Comment' && r.chance(0.4), ...hooks() };
    case 'staticRestore':
      return { kind, model: 'Comment', where: randomWhere(r, 'Comment'), ...hooks() };
    case 'staticIncrement': {
      m(['User', 'Post', 'Comment', 'PostTag']);
      const field = { User: 'visits', Post: 'views', Comment: 'likes', PostTag: 'weight' }[model];
      return { kind, model, field, by: r.int(1, 2), dec: r.chance(0.3), where: randomWhere(r, model) };
    }
    case 'truncate':
      m();
      return { kind, model, force: r.chance(0.5) };
    case 'assoc':
      return randomAssoc(r);
    default: {
      // raw.<form>
      return randomRaw(r, kind.slice(4), model, ctx);
    }
  }
}

function randomAssoc(r) {
  const kind = 'assoc';
  const op = r.pick(['setTags', 'addTag', 'removeTag', 'addPost', 'removePost', 'setPosts', 'setUser', 'setPost', 'addBadge', 'tagSetPosts']);
  switch (op) {
    case 'setTags':
      return { kind, model: 'Post', op, ref: randomRef(r, 'Post'), ids: r.chance(0.2) ? [] : r.some(DOMAIN.tagIds, 3) };
    case 'addTag':
      return { kind, model: 'Post', op, ref: randomRef(r, 'Post'), id: r.pick(DOMAIN.tagIds), weight: r.int(1, 3) };
    case 'removeTag':
      return { kind, model: 'Post', op, ref: randomRef(r, 'Post'), id: r.pick(DOMAIN.tagIds) };
    case 'tagSetPosts':
      return { kind, model: 'Tag', op, ref: randomRef(r, 'Tag'), ids: r.some(DOMAIN.postIds, 3) };
    case 'addPost':
    case 'removePost':
      return { kind, model: 'User', op, ref: randomRef(r, 'User'), id: r.pick(DOMAIN.postIds) };
    case 'setPosts':
      return { kind, model: 'User', op, ref: randomRef(r, 'User'), ids: r.some(DOMAIN.postIds, 2) };
    case 'setUser':
      return { kind, model: 'Post', op, ref: randomRef(r, 'Post'), id: r.chance(0.2) ? null : r.pick(DOMAIN.userIds) };
    case 'setPost':
      return { kind, model: 'Comment', op, ref: randomRef(r, 'Comment'), id: r.pick(DOMAIN.postIds) };
    case 'addBadge':
    default:
      return { kind, model: 'User', op: 'addBadge', ref: randomRef(r, 'User'), id: r.pick(DOMAIN.badgeIds) };
  }
}

/** Columns a raw UPDATE may set, per model. */
const RAW_COLUMNS = {
  User: ['visits', 'name', 'handle', 'handle', 'active', 'id'],
  Post: ['views', 'title', 'userId', 'id'],
  Comment: ['likes', 'body', 'deletedAt'],
  Tag: ['label'],
  PostTag: ['weight'],
  Badge: ['kind', 'userHandle'],
};

function randomRaw(r, form, forcedModel, ctx) {
  const model = forcedModel || pickModel(r);
  let statement = 'update';
  if (form === 'insert') statement = 'insert';
  else if (form === 'delete' || form === 'cteDelete') statement = 'delete';
  else if (form === 'comment' || form === 'typed') statement = r.weighted({ update: 2, delete: 1, insert: 1 });
  else if (form === 'returningModel' || form === 'returningSelect') statement = r.weighted({ update: 2, delete: 1 });
  const op = { kind: `raw.${form}`, model, statement };
  if (statement === 'insert') op.row = randomRow(r, model, ctx);
  else if (model === 'PostTag') op.where = { eq: [r.pick(['postId', 'tagId']), r.pick(DOMAIN.tagIds)] };
  // A range half the time, so that the statement usually meets rows.
  else op.where = r.chance(0.5) ? { eq: ['id', randomRow(r, model).id] } : { lte: ['id', r.int(1, 3)] };
  if (statement === 'update') {
    const cols = ctx && ctx.skip.has('keyUpdates') ? RAW_COLUMNS[model].filter((c) => !KEY_COLUMNS.has(c)) : RAW_COLUMNS[model];
    const col = r.pick(cols);
    const v = randomRow(r, model)[col];
    op.set = [col, col === 'deletedAt' ? (r.chance(0.5) ? null : DOMAIN.dates[0]) : v === undefined ? null : v];
    // Counters move by one (always a change where a row matches).
    if (['visits', 'views', 'likes', 'weight'].includes(col) && r.chance(0.7)) op.set = [col, { add: 1 }];
  }
  return op;
}

/** Tables whose rows the database itself changes when a row of the key changes (FK cascades). */
const CASCADES = { User: ['Post', 'Badge'], Post: ['Comment', 'PostTag'], Tag: ['PostTag'], Comment: ['Post'] };

/** The models a write may change, directly, through an association, a hook or a database cascade. */
export function touchedBy(op) {
  const out = new Set();
  const add = (m) => {
    if (out.has(m)) return;
    out.add(m);
    for (const c of CASCADES[m] || []) add(c);
  };
  const walk = (o) => {
    if (o.t === 'write') {
      add(o.w.model);
      if (o.w.kind === 'assoc') for (const m of { setTags: ['PostTag'], addTag: ['PostTag'], removeTag: ['PostTag'], tagSetPosts: ['PostTag'], addPost: ['Post'], removePost: ['Post'], setPosts: ['Post'], setUser: ['Post'], setPost: ['Comment'], addBadge: ['Badge'] }[o.w.op] || []) add(m);
    } else if (o.t === 'sf' || o.t === 'lf') walk({ t: 'write', w: o.w });
    else for (const x of [...(o.ops || []), ...(o.lanes || []).flat()]) walk(x);
  };
  walk(op);
  return out;
}

/**
 * Reads of recent queries that `op` may have made stale: a missed invalidation shows up at once,
 * before a later write to the same table hides it.
 */
function probesAfter(r, op) {
  const touched = touchedBy(op);
  const recent = [...new Set(recentReads.slice(0, 30))];
  const direct = op.t === 'write' ? recent.filter((d) => QUERIES[d.q].model === op.w.model) : [];
  const related = recent.filter((d) => !direct.includes(d) && [...tablesOfShape(d.q)].some((t) => touched.has(t)));
  const out = [];
  // The written row itself, by primary key (an entity entry through withCache, a canonical key
  // through wrap), when the write names one row.
  if (op.t === 'write') {
    const pkShape = { User: 'userPk', Post: 'postPk', Comment: 'commentPk', Tag: 'tagPk', Badge: 'badgePk' }[op.w.model];
    const id = typeof op.w.ref === 'number' ? op.w.ref : op.w.where && op.w.where.eq && op.w.where.eq[0] === 'id' ? op.w.where.eq[1] : undefined;
    if (pkShape && id !== undefined) out.push({ t: 'read', d: { q: pkShape, p: { id }, m: 'findByPk', api: r.chance(0.7) ? 'cache' : 'wrap' } });
  }
  // One read of the written model's own queries when there is one, one of anything related.
  for (const pool of [direct.length > 0 ? direct : related, related]) {
    if (pool.length > 0) out.push({ t: 'read', d: pool.splice(Math.floor(r.next() * pool.length), 1)[0] });
  }
  return out;
}

/** Reads drawn so far in this generation; re-reading them is how stale entries show up. */
let recentReads = [];

/** A read descriptor: most often one read recently (a likely hit), else a new one. */
function pickRead(r) {
  if (recentReads.length > 0 && r.chance(0.65)) return recentReads[Math.floor(r.next() * Math.min(recentReads.length, 30))];
  const d = randomRead(r);
  recentReads.unshift(d);
  if (recentReads.length > 60) recentReads.length = 60;
  return d;
}

/** A random read op (outside transactions). */
function readOp(r) {
  return { t: 'read', d: pickRead(r) };
}

/**
 * True if `op` (or anything inside it) is a TRUNCATE. A TRUNCATE holds an ACCESS EXCLUSIVE lock
 * until its transaction ends, and a read outside a transaction that waits (in JS) for that read
 * would never end: a lock cycle through the application that PostgreSQL cannot see, which hangs
 * with or without a cache. The generator never builds one (see randomTx and randomBatch).
 */
function truncates(op) {
  if (op.t === 'write') return op.w.kind === 'truncate';
  return (op.ops || []).some(truncates) || (op.lanes || []).some((lane) => lane.some(truncates));
}

function randomTx(r, ctx) {
  const ops = [];
  const n = r.int(1, 4);
  for (let i = 0; i < n; i++) {
    const k = r.weighted({ write: 5, read: 2, outside: ctx.dialect === 'postgres' ? 1.5 : 0, savepoint: 1 });
    if (k === 'write') ops.push({ t: 'write', w: randomWrite(r, ctx) });
    else if (k === 'read') ops.push({ t: 'read', d: pickRead(r) });
    // After this transaction's TRUNCATE, a read outside it would wait for the commit that waits
    // for the read: it reads inside instead.
    else if (k === 'outside') ops.push(ops.some(truncates) ? { t: 'read', d: pickRead(r) } : { t: 'read', d: pickRead(r), outside: true });
    else ops.push({ t: 'savepoint', ops: [{ t: 'write', w: randomWrite(r, ctx) }], rollback: r.chance(0.4) });
  }
  return { t: 'tx', ops, rollback: r.chance(0.35) };
}

/** `op` with every TRUNCATE in it replaced by another write drawn from `r`. */
function withoutTruncates(op, r, ctx) {
  if (op.t === 'write' && op.w.kind === 'truncate') return { ...op, w: randomWrite(r, { ...ctx, skip: new Set([...ctx.skip, 'truncate']) }) };
  if (op.ops) return { ...op, ops: op.ops.map((o) => withoutTruncates(o, r, ctx)) };
  return op;
}

function randomBatch(r, ctx) {
  const lanes = [];
  const n = r.int(2, 4);
  for (let i = 0; i < n; i++) {
    const lane = [];
    const len = r.int(1, 3);
    for (let j = 0; j < len; j++) {
      const k = r.weighted({ read: 5, write: 4, tx: ctx.dialect === 'postgres' && !ctx.skip.has('tx') ? 0.7 : 0 });
      if (k === 'read') lane.push(readOp(r));
      else if (k === 'write') lane.push({ t: 'write', w: randomWrite(r, ctx) });
      else lane.push(randomTx(r, ctx));
    }
    lanes.push(lane);
  }
  // Reads of one query in several lanes make single-flight joins likely.
  if (r.chance(0.5)) {
    const d = pickRead(r);
    for (const lane of lanes) if (r.chance(0.7)) lane.splice(r.int(0, lane.length), 0, { t: 'read', d });
  }
  // A transaction waiting for its read outside it, beside a TRUNCATE in any lane, can close a
  // lock cycle through the application (see truncates): such a batch truncates nothing.
  const waitsOutside = lanes.some((lane) => lane.some((o) => o.t === 'tx' && o.ops.some((x) => x.outside)));
  if (waitsOutside && lanes.some((lane) => lane.some(truncates))) {
    return { t: 'batch', lanes: lanes.map((lane) => lane.map((o) => withoutTruncates(o, r, ctx))) };
  }
  return { t: 'batch', lanes };
}

/** A single-flight probe: a write that certainly changes what the read returns. */
function randomSingleFlight(r, ctx) {
  const d = pickRead(r);
  const model = QUERIES[d.q].model;
  const field = { User: 'visits', Post: 'views', Comment: 'likes', PostTag: 'weight' }[model];
  const w = field
    ? { kind: 'staticIncrement', model, field, by: 1, dec: false, where: {} }
    : { kind: 'staticUpdate', model, vals: model === 'Tag' ? { label: r.pick(DOMAIN.labels) } : { kind: r.pick(DOMAIN.kinds) }, where: {}, via: 'static' };
  if (ctx.skip.has(w.kind)) return readOp(r);
  return { t: 'sf', d, w };
}

function randomCacheOp(r) {
  const kind = r.pick(['invalidateModel', 'clear', 'modelClear', 'clearAllModelQueries', 'namedClear', 'instanceClear']);
  return { t: 'cacheop', kind, model: pickModel(r), d: pickRead(r) };
}

/**
 * The operations of one run: `n` top-level operations drawn from `r` (a seeded rng), with a sweep
 * every `ctx.sweepEvery`. `ctx`: { dialect, concurrency (batches and single-flight probes), skip }.
 */
export function generate(n, ctx, r) {
  recentReads = [];
  const ops = [];
  const top = { ...TOP_WEIGHTS };
  if (!ctx.concurrency) top.batch = 0;
  if (!ctx.concurrency) top.sf = 0;
  if (!ctx.concurrency) top.lf = 0;
  for (const k of Object.keys(top)) if (ctx.skip.has(k)) top[k] = 0;
  for (let i = 0; i < n; i++) {
    if (ctx.sweepEvery && i > 0 && i % ctx.sweepEvery === 0) ops.push({ t: 'sweep' });
    const k = r.weighted(top);
    let op;
    if (k === 'read') op = readOp(r);
    else if (k === 'write') op = { t: 'write', w: randomWrite(r, ctx) };
    else if (k === 'tx') op = randomTx(r, ctx);
    else if (k === 'batch') op = randomBatch(r, ctx);
    else if (k === 'sf') op = randomSingleFlight(r, ctx);
    else if (k === 'lf') {
      op = randomSingleFlight(r, ctx);
      if (op.t === 'sf') op.t = 'lf';
    }
    else op = randomCacheOp(r);
    ops.push(op);
    if ((op.t === 'write' || op.t === 'tx') && r.chance(0.75)) ops.push(...probesAfter(r, op));
  }
  ops.push({ t: 'sweep' });
  return ops;
}

// ---------------------------------------------------------------------------------------------
// Running writes.

/** Thrown inside a managed transaction to roll it back on purpose. */
export class Rollback extends Error {
  constructor() {
    super('rollback on purpose');
    this.name = 'Rollback';
  }
}

const tOpt = (t) => (t ? { transaction: t } : {});

function whereOfRef(model, ref) {
  return model === 'PostTag' ? { postId: ref.postId, tagId: ref.tagId } : { id: ref };
}

/** Loads the instance a write works on: from the database, or through withCache's entity read. */
async function loadInstance(env, model, ref, load, t, { paranoid = true } = {}) {
  const M = env.models[model];
  if (load === 'cache') {
    const opts = paranoid ? (t ? { transaction: t } : undefined) : { paranoid: false, ...tOpt(t) };
    return M.cache().findByPk(model === 'PostTag' ? { ...ref } : ref, opts);
  }
  return M.findOne({ where: whereOfRef(model, ref), ...(paranoid ? {} : { paranoid: false }), ...tOpt(t) });
}

function sqlParts(env, model) {
  const qi = env.sequelize.getQueryInterface();
  const qg = qi.queryGenerator;
  return { table: qg.quoteTable(env.models[model].getTableName()), col: (c) => qg.quoteIdentifier(c) };
}

/** The raw SQL of a raw write, with its replacements. */
export function rawSql(env, op) {
  const { table, col } = sqlParts(env, op.model);
  const repl = {};
  let sql;
  const whereSql = () => {
    const [f, v] = op.where.eq || op.where.lte;
    repl.w = v;
    return `${col(f)} ${op.where.eq ? '=' : '<='} :w`;
  };
  if (op.statement === 'insert') {
    const row = { ...op.row };
    if (row.meta !== undefined) row.meta = row.meta === null ? null : JSON.stringify(row.meta);
    const now = new Date('2020-01-01T00:00:00.000Z');
    const cols = Object.keys(row);
    cols.forEach((c, i) => (repl[`v${i}`] = DATE_FIELDS.has(c) && row[c] ? new Date(row[c]) : row[c]));
    const stamps = ['createdAt', 'updatedAt'];
    repl.now = now;
    sql = `INSERT INTO ${table} (${[...cols, ...stamps].map(col).join(', ')}) VALUES (${[...cols.map((c, i) => `:v${i}`), ...stamps.map(() => ':now')].join(', ')})`;
  } else if (op.statement === 'delete') {
    sql = `DELETE FROM ${table} WHERE ${whereSql()}`;
  } else {
    const [c, v] = op.set;
    let value = ':s';
    if (v && typeof v === 'object' && v.add !== undefined) value = `${col(c)} + ${Number(v.add)}`;
    else repl.s = DATE_FIELDS.has(c) && v ? new Date(v) : v;
    sql = `UPDATE ${table} SET ${col(c)} = ${value} WHERE ${whereSql()}`;
  }
  const form = op.kind.slice(4);
  let options = { replacements: repl };
  if (form === 'comment') sql = `/* app=billing */ ${sql}`;
  else if (form === 'cte' || form === 'cteDelete') {
    sql = `WITH u AS (${sql} RETURNING *) SELECT * FROM u`;
    options.type = QueryTypes.SELECT;
  } else if (form === 'returningModel') {
    sql = `${sql} RETURNING *`;
    options = { ...options, model: env.models[op.model], mapToModel: true };
  } else if (form === 'returningSelect') {
    sql = `${sql} RETURNING *`;
    options.type = QueryTypes.SELECT;
  } else if (form === 'typed') {
    options.type = op.statement === 'insert' ? QueryTypes.INSERT : op.statement === 'delete' ? QueryTypes.DELETE : QueryTypes.UPDATE;
  }
  return { sql, options };
}

/**
 * Runs one write (inside `t` when given). Resolves to what it returned; rejects like Sequelize.
 * `saves` (a Set), when given, receives the promise of every row save of an individualHooks
 * bulkCreate, which Sequelize leaves running when it rejects (see openEnv).
 */
export async function runWrite(env, w, t, saves = undefined) {
  const M = env.models[w.model];
  const to = tOpt(t);
  switch (w.kind) {
    case 'create': {
      const opts = { ...to, ...(w.hooksOff ? { hooks: false } : {}) };
      return w.via === 'cache' ? M.cache().create(valuesOf(w.row), opts) : M.create(valuesOf(w.row), opts);
    }
    case 'bulkCreate': {
      const opts = { ...to, ...(w.updateOnDuplicate ? { updateOnDuplicate: w.updateOnDuplicate } : {}), ...hookOpts(w) };
      // Marked, so that a failed one's rows still being saved can be waited out (see openEnv).
      if (w.individualHooks) opts.logging = env.bulkMarker(saves);
      const rows = w.rows.map(valuesOf);
      return w.via === 'cache' ? M.cache().bulkCreate(rows, opts) : M.bulkCreate(rows, opts);
    }
    case 'upsert':
      return w.via === 'cache' ? M.cache().upsert(valuesOf(w.row), to) : M.upsert(valuesOf(w.row), to);
    case 'instUpdate': {
      const inst = await loadInstance(env, w.model, w.ref, w.load, t);
      if (!inst) return null;
      if (w.how === 'update') return w.write === 'cache' ? inst.cache().update(valuesOf(w.vals), to) : inst.update(valuesOf(w.vals), to);
      inst.set(valuesOf(w.vals));
      return w.write === 'cache' ? inst.cache().save(to) : inst.save(to);
    }
    case 'instDestroy': {
      const inst = await loadInstance(env, w.model, w.ref, w.load, t);
      if (!inst) return null;
      const opts = { ...to, ...(w.force ? { force: true } : {}) };
      return w.write === 'cache' ? inst.cache().destroy(opts) : inst.destroy(opts);
    }
    case 'instRestore': {
      const inst = await loadInstance(env, 'Comment', w.ref, 'db', t, { paranoid: false });
      return inst ? inst.restore(to) : null;
    }
    case 'instIncrement': {
      const inst = await loadInstance(env, w.model, w.ref, w.load, t);
      if (!inst) return null;
      return w.dec ? inst.decrement(w.field, { by: w.by, ...to }) : inst.increment(w.field, { by: w.by, ...to });
    }
    case 'instReload': {
      const inst = await loadInstance(env, w.model, w.ref, w.load, t);
      if (!inst) return null;
      if (w.dirty) inst.set(valuesOf(w.dirty));
      return inst.cache().reload(to);
    }
    case 'staticUpdate': {
      const opts = { where: whereOf(w.where), ...to, ...hookOpts(w) };
      return w.via === 'cache' ? M.cache().update(valuesOf(w.vals), opts) : M.update(valuesOf(w.vals), opts);
    }
    case 'staticDestroy': {
      const opts = { where: whereOf(w.where), ...to, ...hookOpts(w), ...(w.force ? { force: true } : {}) };
      return w.via === 'cache' ? M.cache().destroy(opts) : M.destroy(opts);
    }
    case 'staticRestore':
      return M.restore({ where: whereOf(w.where), ...to, ...hookOpts(w) });
    case 'staticIncrement': {
      const opts = { where: whereOf(w.where), ...to };
      return w.dec ? M.decrement({ [w.field]: w.by }, opts) : M.increment({ [w.field]: w.by }, opts);
    }
    case 'truncate':
      return M.truncate({ cascade: true, ...to, ...(w.force ? { force: true } : {}) });
    case 'assoc':
      return runAssoc(env, w, t);
    default: {
      const { sql, options } = rawSql(env, w);
      return env.sequelize.query(sql, { ...options, ...to });
    }
  }
}

function hookOpts(w) {
  return { ...(w.hooks === false ? { hooks: false } : {}), ...(w.individualHooks ? { individualHooks: true } : {}) };
}

async function runAssoc(env, w, t) {
  const to = tOpt(t);
  const inst = await loadInstance(env, w.model, w.ref, 'db', t);
  if (!inst) return null;
  switch (w.op) {
    case 'setTags':
      return inst.setTags(w.ids, to);
    case 'addTag':
      return inst.addTag(w.id, { through: { weight: w.weight }, ...to });
    case 'removeTag':
      return inst.removeTag(w.id, to);
    case 'tagSetPosts':
      return inst.setPosts(w.ids, to);
    case 'addPost':
      return inst.addPost(w.id, to);
    case 'removePost':
      return inst.removePost(w.id, to);
    case 'setPosts':
      return inst.setPosts(w.ids, to);
    case 'setUser':
      return inst.setUser(w.id, to);
    case 'setPost':
      return inst.setPost(w.id, to);
    case 'addBadge':
      return inst.addBadge(w.id, to);
    default:
      throw new Error(`unknown association op ${w.op}`);
  }
}

/** Runs a cache-client operation (invalidation calls of the public API). */
export async function runCacheOp(env, op) {
  const M = env.models[op.model];
  switch (op.kind) {
    case 'invalidateModel':
      return env.client.invalidateModel(M);
    case 'clear':
      return env.client.clear();
    case 'modelClear':
      return M.cache().clear();
    case 'clearAllModelQueries':
      return M.cache().clearAllModelQueries();
    case 'namedClear':
      return modelOf(env, op.d).cache(nameOf(op.d)).clear();
    case 'instanceClear': {
      const inst = await env.models[op.model].findOne({ order: [[env.models[op.model].primaryKeyAttributes[0], 'ASC']] });
      return inst ? inst.cache().clear() : null;
    }
    default:
      throw new Error(`unknown cache op ${op.kind}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Printing.

function refText(model, ref) {
  return model === 'PostTag' ? show(ref) : String(ref);
}

/** The code a write runs, for reports. `env` gives the SQL of raw writes. */
export function writeCode(env, w, t) {
  const tx = t ? ', transaction: t' : '';
  const txOnly = t ? '{ transaction: t }' : '';
  const M = w.model;
  const face = w.via === 'cache' ? `${M}.cache()` : M;
  const hk = [w.hooks === false ? 'hooks: false' : '', w.individualHooks ? 'individualHooks: true' : ''].filter(Boolean).join(', ');
  const load = (x) =>
    x.load === 'cache'
      ? `const inst = await ${M}.cache().findByPk(${refText(M, x.ref)}${t ? ', { transaction: t }' : ''})`
      : `const inst = await ${M}.findOne({ where: ${show(whereOfRef(M, x.ref))}${tx} })`;
  switch (w.kind) {
    case 'create':
      return `await ${face}.create(${show(w.row)}${w.hooksOff || t ? `, { ${[w.hooksOff ? 'hooks: false' : '', t ? 'transaction: t' : ''].filter(Boolean).join(', ')} }` : ''})`;
    case 'bulkCreate':
      return `await ${face}.bulkCreate(${show(w.rows)}, { ${[w.updateOnDuplicate ? `updateOnDuplicate: ${show(w.updateOnDuplicate)}` : '', hk, t ? 'transaction: t' : ''].filter(Boolean).join(', ')} })`;
    case 'upsert':
      return `await ${face}.upsert(${show(w.row)}${t ? ', { transaction: t }' : ''})`;
    case 'instUpdate': {
      const target = w.write === 'cache' ? 'inst.cache()' : 'inst';
      const act = w.how === 'update' ? `await ${target}.update(${show(w.vals)}${t ? ', { transaction: t }' : ''})` : `inst.set(${show(w.vals)}); await ${target}.save(${txOnly})`;
      return `${load(w)}; ${act}`;
    }
    case 'instDestroy':
      return `${load(w)}; await inst${w.write === 'cache' ? '.cache()' : ''}.destroy(${w.force || t ? `{ ${[w.force ? 'force: true' : '', t ? 'transaction: t' : ''].filter(Boolean).join(', ')} }` : ''})`;
    case 'instRestore':
      return `const inst = await Comment.findOne({ where: { id: ${w.ref} }, paranoid: false${tx} }); await inst.restore(${txOnly})`;
    case 'instIncrement':
      return `${load(w)}; await inst.${w.dec ? 'decrement' : 'increment'}('${w.field}', { by: ${w.by}${tx} })`;
    case 'instReload':
      return `${load(w)};${w.dirty ? ` inst.set(${show(w.dirty)});` : ''} await inst.cache().reload(${txOnly})`;
    case 'staticUpdate':
      return `await ${face}.update(${show(w.vals)}, { where: ${show(whereOf(w.where))}${hk ? `, ${hk}` : ''}${tx} })`;
    case 'staticDestroy':
      return `await ${face}.destroy({ where: ${show(whereOf(w.where))}${w.force ? ', force: true' : ''}${hk ? `, ${hk}` : ''}${tx} })`;
    case 'staticRestore':
      return `await ${M}.restore({ where: ${show(whereOf(w.where))}${hk ? `, ${hk}` : ''}${tx} })`;
    case 'staticIncrement':
      return `await ${M}.${w.dec ? 'decrement' : 'increment'}({ ${w.field}: ${w.by} }, { where: ${show(whereOf(w.where))}${tx} })`;
    case 'truncate':
      return `await ${M}.truncate({ cascade: true${w.force ? ', force: true' : ''}${tx} })`;
    case 'assoc': {
      const arg = w.ids !== undefined ? show(w.ids) : String(w.id);
      const extra = w.op === 'addTag' ? `, { through: { weight: ${w.weight} }${tx} }` : t ? ', { transaction: t }' : '';
      return `const inst = await ${M}.findOne({ where: ${show(whereOfRef(M, w.ref))}${tx} }); await inst.${w.op === 'tagSetPosts' ? 'setPosts' : w.op}(${arg}${extra})`;
    }
    default: {
      const { sql, options } = rawSql(env, w);
      const o = { ...options };
      if (o.model) o.model = { name: w.model };
      const shown = show(o).replace(/model: \{ name: "(\w+)" \}/, 'model: $1').replace(/type: "(\w+)"/, 'type: QueryTypes.$1');
      return `await sequelize.query(${JSON.stringify(sql)}, ${shown.replace(/ }$/, `${tx} }`)})`;
    }
  }
}

/** One operation as code lines (nested operations indented; `[process n]` in two-process runs). */
export function opLines(env, op, indent = '', t) {
  if (op.proc !== undefined) {
    const { proc, ...rest } = op;
    return opLines(env, rest, `${indent}[process ${proc}] `, t);
  }
  switch (op.t) {
    case 'read':
      return [`${indent}${op.outside || !t ? '' : '[in t] '}compare ${readCode(env.models, op.d, t && !op.outside ? { transaction: 't' } : undefined).replace(/transaction: "t"/, 'transaction: t')}`];
    case 'write':
      return [`${indent}${writeCode(env, op.w, t)}`];
    case 'tx':
      return [
        `${indent}await sequelize.transaction(async (t) => {`,
        ...op.ops.flatMap((o) => opLines(env, o, `${indent}  `, true)),
        ...(op.rollback ? [`${indent}  throw new Rollback();`] : []),
        `${indent}});`,
      ];
    case 'savepoint':
      return [
        `${indent}await sequelize.transaction({ transaction: t }, async () => {  // savepoint`,
        ...op.ops.flatMap((o) => opLines(env, o, `${indent}  `, true)),
        ...(op.rollback ? [`${indent}  throw new Rollback();  // caught: the outer transaction goes on`] : []),
        `${indent}});`,
      ];
    case 'batch':
      return [
        `${indent}await Promise.all([  // concurrent lanes`,
        ...op.lanes.flatMap((lane, i) => [`${indent}  (async () => {  // lane ${i}`, ...lane.flatMap((o) => opLines(env, o, `${indent}    `)), `${indent}  })(),`]),
        `${indent}]);`,
      ];
    case 'sf':
      return [
        `${indent}// single-flight: A = a slow cached miss (its database read done, its answer held back)`,
        `${indent}const A = ${readCode(env.models, op.d)};`,
        `${indent}${writeCode(env, op.w)};  // resolves while A is still in flight`,
        `${indent}const B = await ${readCode(env.models, op.d)};  // issued after the write returned: must see it`,
      ];
    case 'lf':
      return [
        `${indent}// late fill: A = a slow cached miss (its database read done, its answer held back)`,
        `${indent}const A = ${readCode(env.models, op.d)};`,
        `${indent}${writeCode(env, op.w)};  // resolves while A is still in flight`,
        `${indent}await A;  // A must not store what it read before the write`,
        `${indent}compare ${readCode(env.models, op.d)}`,
      ];
    case 'cacheop':
      return [`${indent}cache op: ${op.kind}(${op.kind === 'namedClear' ? readCode(env.models, op.d) : op.model})`];
    case 'sweep':
      return [`${indent}sweep: every read seen so far, cached vs uncached`];
    default:
      return [`${indent}${JSON.stringify(op)}`];
  }
}
