'use strict';
// Writes the database makes by itself. Foreign-key actions (ON DELETE / ON UPDATE CASCADE,
// SET NULL, SET DEFAULT) fire no Sequelize hook and no statement the afterQuery hook could see,
// so a delete or a key change in one table also changes rows in every table whose foreign keys
// reach it — transitively, through any number of levels and around cycles. This module answers
// "which models can a write to this one change", from the models' own `references`.
//
// It errs towards more tables: a reference with no declared action counts as acting (the
// database's constraints may come from migrations that say CASCADE), and only RESTRICT and
// NO ACTION stop the walk. TRUNCATE ... CASCADE follows every reference, whatever its action.

const STOPPING_ACTIONS = new Set(['RESTRICT', 'NO ACTION']);

/** Per Sequelize instance: { signature, edges } (see graphOf). */
const graphs = new WeakMap();

/** The table name a `references.model` points at (a table name, a model class, or { tableName }). */
function referencedTable(ref) {
  if (typeof ref === 'string') return ref;
  if (ref && (typeof ref === 'object' || typeof ref === 'function') && typeof ref.tableName === 'string') return ref.tableName;
  return undefined;
}

/** Changes whenever models or their attributes are added (associations add foreign keys). */
function signatureOf(models) {
  let s = '';
  for (const M of models) s += `${M.tableName}/${Object.keys(M.rawAttributes).length};`;
  return s;
}

/**
 * Edges of the foreign-key graph, by referenced table (lower case): the referencing model, the
 * referenced column (attribute or field name), and its ON DELETE / ON UPDATE actions.
 */
function graphOf(sequelize) {
  const models = Object.values(sequelize.models);
  const signature = signatureOf(models);
  const cached = graphs.get(sequelize);
  if (cached !== undefined && cached.signature === signature) return cached.edges;
  const edges = new Map();
  for (const Child of models) {
    for (const attr of Object.values(Child.rawAttributes)) {
      const table = attr.references && referencedTable(attr.references.model);
      if (table === undefined) continue;
      const key = table.toLowerCase();
      let list = edges.get(key);
      if (list === undefined) edges.set(key, (list = []));
      list.push({
        Child,
        column: typeof attr.references.key === 'string' ? attr.references.key : undefined,
        onDelete: typeof attr.onDelete === 'string' ? attr.onDelete.toUpperCase() : undefined,
        onUpdate: typeof attr.onUpdate === 'string' ? attr.onUpdate.toUpperCase() : undefined,
      });
    }
  }
  graphs.set(sequelize, { signature, edges });
  return edges;
}

/** Whether an update that set `fields` (undefined: unknown) can change the column `column` of `Model`. */
function touchesColumn(Model, fields, column) {
  if (!Array.isArray(fields)) return true;
  const names = new Set([column ?? Model.primaryKeyAttribute]);
  for (const [name, attr] of Object.entries(Model.rawAttributes)) {
    if (names.has(name) || names.has(attr.field)) {
      names.add(name);
      if (attr.field) names.add(attr.field);
    }
  }
  if (column === undefined) for (const pk of Model.primaryKeyAttributes || []) names.add(pk);
  return fields.some((f) => names.has(f));
}

/**
 * Models (other than `Model` itself, unless a cycle leads back to it) whose rows the database may
 * change when rows of `Model` are written: `kind` is 'delete', 'update' (with the written `fields`,
 * or undefined when unknown) or 'truncate-cascade'.
 */
function cascadedModels(sequelize, Model, kind, fields) {
  const edges = graphOf(sequelize);
  const out = new Set();
  // States are (model, how its rows changed): deleted rows act through ON DELETE, modified rows
  // through ON UPDATE (only when a referenced column may have changed).
  const seen = new Set();
  const queue = [[Model, kind, fields]];
  while (queue.length > 0) {
    const [Parent, how, changed] = queue.shift();
    const list = edges.get(Parent.tableName.toLowerCase()) || [];
    for (const { Child, column, onDelete, onUpdate } of list) {
      let next;
      if (how === 'truncate-cascade') {
        next = 'truncate-cascade';
      } else if (how === 'delete') {
        if (STOPPING_ACTIONS.has(onDelete)) continue;
        next = onDelete === 'CASCADE' || onDelete === undefined ? 'delete' : 'update';
      } else {
        if (STOPPING_ACTIONS.has(onUpdate) || !touchesColumn(Parent, changed, column)) continue;
        next = 'update';
      }
      out.add(Child);
      // A child's rows changed in an unknown way: its own referenced columns may have changed.
      const state = `${Child.tableName}\u0000${next}`;
      if (seen.has(state)) continue;
      seen.add(state);
      queue.push([Child, next, undefined]);
    }
  }
  return [...out];
}

module.exports = { cascadedModels };
