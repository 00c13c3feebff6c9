'use strict';
// Reads that must go straight to the database, leaving the cache alone (no lookup, no fill).
// Each reason is counted in stats().bypassReasons; the README's "What is never served from the
// cache" table lists them.

const { clsTransaction } = require('../invalidation/transactions');

const any = (list) => list !== undefined && list !== null && list.length > 0;

/**
 * True if a hooks table (Sequelize's `options.hooks`) holds a hook that can rewrite a find or its
 * result (beforeFind, beforeFindAfterExpandIncludeAll, beforeFindAfterOptions, afterFind,
 * beforeCount): a hit would skip it, so its presence bypasses. Read by name, not in a loop over
 * the names: every read runs this, and named reads stay monomorphic.
 */
function hasFindHooks(hooks) {
  if (hooks == null) return false;
  return any(hooks.beforeFind) || any(hooks.beforeFindAfterExpandIncludeAll) || any(hooks.beforeFindAfterOptions) || any(hooks.afterFind) || any(hooks.beforeCount);
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
