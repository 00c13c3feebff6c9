'use strict';
// Transactions, for invalidation and for bypass: nothing a transaction wrote may be invalidated
// before its ROOT transaction commits (a savepoint's afterCommit runs before the outer COMMIT, and
// invalidating then would let a concurrent reader refill the pre-commit rows), and nothing at all
// happens on rollback. Sequelize awaits afterCommit callbacks inside commit().

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
 * rollback). Returns what `fn` returns when it ran now, else undefined.
 */
function afterRootCommit(transaction, fn) {
  if (!transaction) return fn();
  rootOf(transaction).afterCommit(() => fn());
  return undefined;
}

module.exports = { rootOf, clsTransaction, rootTransaction, afterRootCommit };
