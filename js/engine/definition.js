'use strict';
// A model definition's fingerprint, written into every payload it stores and compared on every
// hit. A key names a query, not the model definition that ran it: two definitions can share keys
// (two models whose default table names coincide, like Analysis and Analyse; two processes of a
// rolling deploy where one has a new column or turned paranoid on, over one Redis). A payload
// stored under another definition is not an answer for this one: it is a miss, and the fill
// replaces it.
//
// What goes in: everything of the model, and of every model its associations reach (an include
// builds those), that shapes a row a query returns: names, tables, attributes (name, column,
// type), primary keys, paranoid and timestamp columns, and each association's kind, alias, target,
// keys and through model. Getters and setters do not: a hit applies the reader's own.

const { createHash } = require('node:crypto');

/** Model → `{ raw, fingerprint }`: the rawAttributes object it was made from. */
const made = new WeakMap();

/**
 * The fingerprint of `Model`'s definition: 16 hex digits, made at the model's first cached read
 * and kept while its rawAttributes object is the same (Model.init replaces it). Every hit asks,
 * so it checks nothing that grows with the model: an association declared after the first read
 * (which edits models in place) is not seen, and two processes that declared theirs in another
 * order then do not share entries (each misses and refills; no row is wrong). README: define
 * every model and association before the first query.
 */
function definitionOf(Model) {
  const m = made.get(Model);
  if (m !== undefined && m.raw === Model.rawAttributes) return m.fingerprint;
  const fingerprint = createHash('sha256').update(describeReachable(Model)).digest('hex').slice(0, 16);
  made.set(Model, { raw: Model.rawAttributes, fingerprint });
  return fingerprint;
}

/** The description of `Model` and of every model its associations reach, in a stable order. */
function describeReachable(Model) {
  const seen = new Map();
  const visit = (M) => {
    if (typeof M !== 'function' || seen.has(M)) return;
    seen.set(M, undefined);
    seen.set(M, describeModel(M));
    for (const a of Object.values(M.associations || {})) {
      visit(a.target);
      if (a.throughModel) visit(a.throughModel);
    }
  };
  visit(Model);
  // The model itself first, then the others by description (names can repeat across instances).
  const [own, ...others] = [...seen.values()];
  return JSON.stringify([own, others.sort()]);
}

function typeText(type) {
  if (type == null) return '';
  let text;
  try {
    text = String(type);
  } catch {
    text = String(type.key);
  }
  // What String() leaves out but a row depends on: an enum's values, and the attributes a virtual
  // one reads (a read selects them for it).
  if (Array.isArray(type.values)) text += `(${JSON.stringify(type.values)})`;
  if (Array.isArray(type.fields)) text += `<${JSON.stringify(type.fields)}>`;
  return text;
}

function describeModel(M) {
  const o = M.options || {};
  const attributes = Object.entries(M.rawAttributes || {})
    .map(([name, a]) => [name, a.field, typeText(a.type), !!a.primaryKey])
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const associations = Object.entries(M.associations || {})
    .map(([as, a]) => [as, a.associationType, a.target && a.target.name, a.foreignKey, a.sourceKey, a.targetKey, a.otherKey, a.throughModel && a.throughModel.name])
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return JSON.stringify([M.name, M.tableName, M._schema || '', !!o.paranoid, M._timestampAttributes || {}, attributes, associations]);
}

module.exports = { definitionOf };
