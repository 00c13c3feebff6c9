'use strict';
// Automatic invalidation: every write that goes through Sequelize makes what it changed stale, for
// both API styles. This module decides WHAT a write changed; the engine applies it
// (Engine#applyWrite: table generations, entity entries, the network tier's tokens).
//
// One global `afterQuery` hook per Sequelize instance sees every statement after it ran — instance
// saves and destroys, bulk writes, increment/decrement, `hooks: false` writes, association setters,
// raw `sequelize.query` — and Sequelize awaits it before the write call returns. A write changes:
//   - the written table: every cached query that reads it (as the model, or anywhere in its
//     include tree) is stale, in O(1);
//   - the written rows' entity entries: by primary key when Sequelize names the instance (and the
//     key itself did not change), else all of the table's entities;
//   - every table the database changes by itself through foreign-key actions (cascades.js);
//   - for a statement whose tables cannot be told (raw SQL that may write and names no known
//     table): every table of the Sequelize instance ("conservative", counted in stats()).
// Inside a transaction nothing happens until the root transaction commits or rolls back (the rows
// undone may have been read through a shared connection, as SQLite in memory shares one).
// Sequelize runs the hook even for a statement that failed, which only costs an unneeded
// invalidation.

const { classify, tableNamesIn } = require('./sql');
const { cascadedModels } = require('./cascades');
const { afterRootCommit, afterRootRollback, rootOf } = require('./transactions');
// A table's generation name is what raw SQL names it by, in lower case (one home for both).
const { tableNameOf } = require('../engine/dependencies');

/** Statement types Sequelize gives the writes it builds for a model. */
const WRITE_TYPES = new Set(['INSERT', 'UPDATE', 'BULKUPDATE', 'DELETE', 'BULKDELETE', 'UPSERT']);
const DELETE_TYPES = new Set(['DELETE', 'BULKDELETE']);

/** Per Sequelize instance: the engines to invalidate, each with the loggers of the faces that watch it. */
const watchers = new WeakMap();
/** Writes waiting for their root transaction's commit, per root and Sequelize instance. */
const pendingByTransaction = new WeakMap();

/**
 * Starts invalidating `engine` on every write made through `sequelize`; problems are reported to
 * `log` (an OnceLogger of the face that asked). Idempotent per (engine, log).
 */
function watch(sequelize, engine, log) {
  let engines = watchers.get(sequelize);
  if (engines === undefined) {
    engines = new Map();
    watchers.set(sequelize, engines);
    sequelize.addHook('afterQuery', 'sequelize-native-cache', (options, query) => onQuery(sequelize, engines, options, query));
  }
  let logs = engines.get(engine);
  if (logs === undefined) engines.set(engine, (logs = new Set()));
  logs.add(log);
}

/** Primary-key values of an instance as `{ attr: value }`, or null if any is missing. */
function pkOf(Model, instance) {
  const attrs = Model.primaryKeyAttributes;
  if (!attrs || attrs.length === 0 || !instance || typeof instance.get !== 'function') return null;
  const out = {};
  for (const a of attrs) {
    const v = instance.get(a, { raw: true });
    if (v === undefined || v === null) return null;
    out[a] = v;
  }
  return out;
}

/**
 * What one instance (or bulk) write changed, as engine targets `[{ Model, pk }]` (`pk` null: all of
 * the table's entities). `kind` is 'insert', 'update', 'delete' or 'truncate-cascade'; `fields`
 * are the attributes an update set (undefined when unknown).
 */
function changesOf(sequelize, Model, { instance, kind, fields }) {
  const pkAttrs = Model.primaryKeyAttributes || [];
  const keyRewritten = kind !== 'insert' && (!Array.isArray(fields) || pkAttrs.some((a) => fields.includes(a)));
  // An update that may have moved the key leaves the old key's entity behind: drop them all.
  const pk = instance !== undefined && !(kind === 'update' && keyRewritten) ? pkOf(Model, instance) : null;
  const targets = [{ Model, pk }];
  if (kind !== 'insert') {
    for (const D of cascadedModels(sequelize, Model, kind, fields)) targets.push({ Model: D, pk: null });
  }
  return targets;
}

/** What a statement changed: `{ targets, conservative }`, or null for a read. */
function writesOf(sequelize, options, query) {
  const type = options && options.type;
  const Model = options && options.model;
  const sql = query && typeof query.sql === 'string' ? query.sql : options && typeof options.sql === 'string' ? options.sql : undefined;
  if (typeof Model === 'function' && WRITE_TYPES.has(type)) {
    let kind;
    if (DELETE_TYPES.has(type)) kind = options.truncate && options.cascade ? 'truncate-cascade' : 'delete';
    else if (type === 'INSERT' && !options.updateOnDuplicate) kind = 'insert';
    else kind = 'update';
    const fields = type === 'INSERT' ? options.updateOnDuplicate : options.fields;
    // A write with an instance names its row (an update whose fields are unknown may move the key).
    // An upsert does not: it may update the row another unique column matches.
    const instance = type !== 'UPSERT' && options.instance && typeof options.instance.get === 'function' ? options.instance : undefined;
    const targets = changesOf(sequelize, Model, { instance, kind, fields: Array.isArray(fields) ? fields : undefined });
    if (instance !== undefined || !mayNameAnotherTable(sequelize, Model, sql)) return { targets, conservative: false };
    // Without an instance the statement may be raw SQL given a type and a model
    // (`sequelize.query(sql, { type, model })`), which can write other tables too: read it as well.
    const raw = rawWrites(sequelize, sql, Model);
    if (raw === null) return { targets, conservative: false };
    return { targets: targets.concat(raw.targets), conservative: raw.conservative };
  }
  return rawWrites(sequelize, sql);
}

/** Per Sequelize instance and model: a test for the table names of the other models (see below). */
const otherTables = new WeakMap();

/**
 * Whether `sql`, typed as a write of `Model`, holds the name of another model's table anywhere, a
 * cheap look before the lexer: a 20,000-row bulkCreate is megabytes of SQL the lexer would take
 * a tenth of a second over, and it only ever names its own table. A name inside a value only
 * costs the lexer's pass.
 */
function mayNameAnotherTable(sequelize, Model, sql) {
  if (typeof sql !== 'string') return false;
  const models = Object.values(sequelize.models);
  let byModel = otherTables.get(sequelize);
  if (byModel === undefined || byModel.count !== models.length) {
    byModel = { count: models.length, tests: new Map() };
    otherTables.set(sequelize, byModel);
  }
  let test = byModel.tests.get(Model);
  if (test === undefined) {
    const own = tableNameOf(Model);
    const names = [...new Set(models.map(tableNameOf))].filter((n) => n !== own && n !== '');
    const escape = (n) => n.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
    test = names.length === 0 ? null : new RegExp(names.map(escape).join('|'), 'i');
    byModel.tests.set(Model, test);
  }
  return test !== null && test.test(sql);
}

/**
 * What the SQL text of a statement may write (sql.js), as writesOf answers, or null for a read.
 * With `own`, the model a typed statement writes (already counted, with its known fields): only
 * the other tables the text names, or null when it names none.
 */
function rawWrites(sequelize, sql, own) {
  const seen = classify(sql, sequelize.getDialect());
  if (!seen.writes) return null;
  const named = tableNamesIn(seen.identifiers);
  const models = Object.values(sequelize.models);
  const hit = models.filter((M) => named.has(tableNameOf(M)));
  if (hit.length === 0) return { targets: models.map((M) => ({ Model: M, pk: null })), conservative: true };
  const ownTable = own === undefined ? undefined : tableNameOf(own);
  const others = ownTable === undefined ? hit : hit.filter((M) => tableNameOf(M) !== ownTable);
  if (others.length === 0) return null;
  const kind = seen.truncateCascade ? 'truncate-cascade' : seen.deletes ? 'delete' : 'update';
  const targets = [];
  for (const M of others) targets.push(...changesOf(sequelize, M, { instance: undefined, kind, fields: undefined }));
  return { targets, conservative: false };
}

/**
 * Applies `change` to every engine. In-process engines finish synchronously (then nothing is
 * returned, so the write pays no promise); engines with a network tier return a promise that
 * never rejects: a failure is logged.
 */
function apply(engines, change) {
  const pending = [];
  for (const [engine, logs] of engines) {
    const fail = (err) => {
      for (const log of logs) log.warn('cache-invalidate', { error: err && err.message }, 'invalidation failed; a shared tier retries it, in-process entries expire by TTL');
    };
    try {
      const p = engine.applyWrite(change.targets, change.conservative);
      if (p && typeof p.then === 'function') pending.push(p.catch(fail));
    } catch (err) {
      fail(err);
    }
  }
  return pending.length > 0 ? Promise.all(pending).then(() => undefined) : undefined;
}

function onQuery(sequelize, engines, options, query) {
  // Sequelize runs afterQuery in a `finally`: anything thrown here would replace the caller's
  // result or error. Invalidation problems are logged instead (entries then expire by TTL).
  try {
    if (engines.size === 0) return undefined;
    const change = writesOf(sequelize, options, query);
    if (change === null) return undefined;
    return defer(engines, options.transaction, change);
  } catch (err) {
    for (const logs of engines.values()) {
      for (const log of logs) log.warn('cache-invalidate', { error: err && err.message }, 'invalidation failed; a shared tier retries it, in-process entries expire by TTL');
    }
    return undefined;
  }
}

/** Applies `change` now, or with the other writes of its root transaction when that commits. */
function defer(engines, transaction, change) {
  if (!transaction) return apply(engines, change);
  const root = rootOf(transaction);
  let byInstance = pendingByTransaction.get(root);
  if (byInstance === undefined) pendingByTransaction.set(root, (byInstance = new Map()));
  let batch = byInstance.get(engines);
  if (batch === undefined) {
    batch = { targets: [], conservative: false };
    byInstance.set(engines, batch);
    // Once: on commit, or on rollback (where the rows undone may have been read and cached).
    let done = false;
    const once = () => {
      if (done) return undefined;
      done = true;
      return apply(engines, batch);
    };
    afterRootCommit(root, once);
    afterRootRollback(root, once);
  }
  batch.targets.push(...change.targets);
  batch.conservative ||= change.conservative;
  return undefined;
}

module.exports = { watch, pkOf, changesOf, writesOf, afterRootCommit };
