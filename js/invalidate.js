'use strict';
// Automatic invalidation: every write that goes through Sequelize makes what it affects stale,
// for both API styles.
//
// One global `afterQuery` hook per Sequelize instance sees every statement after it ran (instance
// saves and destroys, bulk writes, increment/decrement, `hooks: false` writes, association
// setters, raw `sequelize.query` writes), and Sequelize awaits it before the write call returns.
// Per written table:
//   - the table's query generation is bumped: every cached query that reads it (as the model or
//     anywhere in its include tree) is stale, in O(1);
//   - entity entries are dropped by primary key when the statement names its instance, else the
//     table's entity generation is bumped;
//   - a delete also bumps the tables whose foreign keys point at the deleted one (database
//     cascades fire no hooks).
// Inside a transaction nothing happens until the root transaction commits (savepoints included);
// on rollback nothing happens at all. Sequelize runs the hook even for a statement that failed,
// which only costs an unneeded invalidation.

const WRITE_TYPES = new Set(['INSERT', 'UPDATE', 'BULKUPDATE', 'DELETE', 'BULKDELETE', 'UPSERT']);
const DELETE_TYPES = new Set(['DELETE', 'BULKDELETE']);
const RAW_WRITE = /^\s*(insert|update|delete|replace|truncate|merge|alter|drop)\b/i;

/** Engines watching each Sequelize instance. */
const watchers = new WeakMap();
/** Pending invalidations per root transaction. */
const pendingByTransaction = new WeakMap();

/**
 * Starts invalidating `engine` on every write made through `sequelize`. Idempotent.
 * @returns {boolean} whether the engine was newly registered
 */
function watch(sequelize, engine) {
  let engines = watchers.get(sequelize);
  if (engines === undefined) {
    engines = new Set();
    watchers.set(sequelize, engines);
    sequelize.addHook('afterQuery', 'sequelize-native-cache', (options, query) => onQuery(sequelize, engines, options, query));
  }
  if (engines.has(engine)) return false;
  engines.add(engine);
  return true;
}

/** Stops invalidating `engine` for `sequelize`. */
function unwatch(sequelize, engine) {
  const engines = watchers.get(sequelize);
  if (engines !== undefined) engines.delete(engine);
}

function rootOf(transaction) {
  let t = transaction;
  while (t.parent) t = t.parent;
  return t;
}

/** The transaction a CLS namespace (`Sequelize.useCLS`) holds for the current call, if any. */
function clsTransaction(Model) {
  const cls = Model.sequelize && Model.sequelize.constructor._cls;
  return cls ? cls.get('transaction') : undefined;
}

/** The root of the transaction a call with `options` on `Model` runs in (explicit or CLS), if any. */
function rootTransaction(Model, options) {
  const t = options && options.transaction !== undefined ? options.transaction : clsTransaction(Model);
  return t ? rootOf(t) : undefined;
}

/** What one write statement affects: [{ Model, instance?, cascade }], or [] for a read. */
function affectedBy(sequelize, options, query) {
  const type = options && options.type;
  const Model = options && options.model;
  if (typeof Model === 'function' && WRITE_TYPES.has(type)) {
    return [{ Model, instance: options.instance, fields: options.fields, cascade: DELETE_TYPES.has(type) }];
  }
  const sql = query && typeof query.sql === 'string' ? query.sql : '';
  if (Model === undefined && (WRITE_TYPES.has(type) || RAW_WRITE.test(sql))) {
    // A raw write: every model whose table the statement names.
    const out = [];
    for (const M of Object.values(sequelize.models)) {
      if (new RegExp(`(^|[^\\w])${escapeRegExp(M.tableName)}([^\\w]|$)`, 'i').test(sql)) {
        out.push({ Model: M, instance: undefined, fields: undefined, cascade: /^\s*(delete|truncate|drop)\b/i.test(sql) });
      }
    }
    return out;
  }
  return [];
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Models whose foreign keys reference `Model`'s table. */
function dependentsOf(sequelize, Model) {
  const out = [];
  for (const M of Object.values(sequelize.models)) {
    if (M === Model) continue;
    for (const attr of Object.values(M.rawAttributes)) {
      const ref = attr.references && attr.references.model;
      if (ref === undefined) continue;
      const table = typeof ref === 'string' ? ref : ref.tableName || (typeof ref === 'function' ? ref.tableName : undefined);
      if (table === Model.tableName || ref === Model) {
        out.push(M);
        break;
      }
    }
  }
  return out;
}

/**
 * Invalidates what `affected` touched in every engine. In-process engines finish synchronously
 * (and then nothing is returned, so the write pays no promise); adapter engines return a promise
 * that never rejects: a failure is logged.
 */
function apply(sequelize, engines, affected) {
  const pending = [];
  for (const { Model, instance, fields, cascade } of affected) {
    const dependents = cascade ? dependentsOf(sequelize, Model) : [];
    for (const engine of engines) {
      const fail = (err) =>
        engine.warnOnce('cache-invalidate', { model: Model.name, error: err && err.message }, 'invalidation failed; entries expire by TTL');
      try {
        // Native engines finish synchronously; adapter engines return promises, awaited here so
        // the write call returns only once its invalidation is done.
        for (const p of [engine.invalidateWrite(Model, instance, fields), ...dependents.map((D) => engine.invalidateWrite(D, undefined))]) {
          if (p && typeof p.then === 'function') pending.push(p.catch(fail));
        }
      } catch (err) {
        fail(err);
      }
    }
  }
  return pending.length > 0 ? Promise.all(pending).then(() => undefined) : undefined;
}

function onQuery(sequelize, engines, options, query) {
  // Sequelize runs afterQuery in a `finally`: anything thrown here would replace the caller's
  // result or error. Invalidation problems are logged instead (entries then expire by TTL).
  try {
    return invalidateAfter(sequelize, engines, options, query);
  } catch (err) {
    for (const engine of engines) {
      engine.warnOnce('cache-invalidate', { error: err && err.message }, 'invalidation failed; entries expire by TTL');
    }
    return undefined;
  }
}

function invalidateAfter(sequelize, engines, options, query) {
  if (engines.size === 0) return undefined;
  const affected = affectedBy(sequelize, options, query);
  if (affected.length === 0) return undefined;
  const t = options.transaction;
  if (!t) return apply(sequelize, engines, affected);
  // Deferred to the root transaction's commit; a rollback drops them with the transaction.
  const root = rootOf(t);
  let pending = pendingByTransaction.get(root);
  if (pending === undefined) {
    pending = [];
    pendingByTransaction.set(root, pending);
    root.afterCommit(() => apply(sequelize, engines, pending));
  }
  pending.push(...affected);
  return undefined;
}

module.exports = { watch, unwatch, affectedBy, dependentsOf, clsTransaction, rootTransaction };
