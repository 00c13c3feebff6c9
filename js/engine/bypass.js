'use strict';
// Reads that must go straight to the database, leaving the cache alone (no lookup, no fill).
// Each reason is counted in stats().bypassReasons; the README's "What is never served from the
// cache" table lists them.

const { clsTransaction } = require('../invalidation/transactions');

/** Hooks that can rewrite a find or its result; a hit would skip them, so their presence bypasses. */
const FIND_HOOKS = ['beforeFind', 'beforeFindAfterExpandIncludeAll', 'beforeFindAfterOptions', 'afterFind', 'beforeCount'];

/** True if a hooks table (Sequelize's `options.hooks`) holds any of FIND_HOOKS. */
function hasFindHooks(hooks) {
  if (hooks == null) return false;
  for (const h of FIND_HOOKS) {
    const list = hooks[h];
    if (list !== undefined && list.length > 0) return true;
  }
  return false;
}

/** Why a read of `Model` with `options` must go straight to the database, or null. */
function bypassReason(Model, options) {
  if (options != null) {
    if (options.transaction) return 'transaction';
    if (options.lock) return 'lock';
    if (options.skipLocked) return 'skipLocked';
    if (options.useMaster) return 'useMaster';
  }
  if ((options == null || options.transaction === undefined) && clsTransaction(Model)) return 'transaction';
  // Model hooks and the Sequelize instance's hooks both run on a find (what hasHook reads).
  if ((options == null || options.hooks !== false) && (hasFindHooks(Model.options.hooks) || hasFindHooks(Model.sequelize && Model.sequelize.options.hooks))) {
    return 'hooks';
  }
  return null;
}

module.exports = { bypassReason };
