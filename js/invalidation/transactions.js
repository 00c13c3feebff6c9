'use strict';
// Transactions, for invalidation and for bypass: nothing a transaction wrote may be invalidated
// before its ROOT transaction commits (a savepoint's afterCommit runs before the outer COMMIT, and
// invalidating then would let a concurrent reader refill the pre-commit rows). A rollback
// invalidates the writes as well (afterRootRollback) but never writes through. Sequelize awaits
// afterCommit callbacks inside commit().

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

/** The root of the transaction a call on `Model` with `options` runs in (explicit or CLS), if any. */
function rootTransaction(Model, options) {
  const t = options && options.transaction !== undefined ? options.transaction : clsTransaction(Model);
  return t ? rootOf(t) : undefined;
}

/**
 * Runs `fn` now when `transaction` is empty, else once its root transaction commits (never on
 * rollback), before the callbacks the application gave afterCommit: inside those, the cache
 * already shows the commit. Returns what `fn` returns when it ran now, else undefined.
 */
function afterRootCommit(transaction, fn) {
  if (!transaction) return fn();
  const root = rootOf(transaction);
  const hooks = root._afterCommitHooks;
  // Sequelize runs its afterCommit list in order; ours go ahead of the application's, in the
  // order they were added. Without that list (another Sequelize), at its end.
  if (Array.isArray(hooks)) hooks.splice(firstAppHook(root, hooks), 0, markOurs(() => fn()));
  else root.afterCommit(() => fn());
  return undefined;
}

const ours = new WeakSet();

function markOurs(fn) {
  ours.add(fn);
  return fn;
}

/** The index of the first afterCommit callback that is not ours. */
function firstAppHook(root, hooks) {
  let i = 0;
  while (i < hooks.length && ours.has(hooks[i])) i++;
  return i;
}

/** Callbacks to run after a root transaction rolls back, by root (see afterRootRollback). */
const rollbackHooks = new WeakMap();

/**
 * Runs `fn` after the root of `transaction` rolls back. A rollback undoes rows that other reads
 * may already have cached where a transaction's writes are visible outside it (SQLite in memory
 * runs every transaction on one connection): the writes are then invalidated as on a commit.
 * Sequelize has no rollback hook, so the root's own rollback method is wrapped, once.
 */
function afterRootRollback(transaction, fn) {
  const root = rootOf(transaction);
  let list = rollbackHooks.get(root);
  if (list === undefined) {
    const rollback = root.rollback;
    if (typeof rollback !== 'function') return;
    rollbackHooks.set(root, (list = []));
    root.rollback = async function rollbackThenInvalidate(...args) {
      try {
        return await rollback.apply(this, args);
      } finally {
        for (const hook of list.splice(0)) hook();
      }
    };
  }
  list.push(fn);
}

module.exports = { rootOf, clsTransaction, rootTransaction, afterRootCommit, afterRootRollback };
