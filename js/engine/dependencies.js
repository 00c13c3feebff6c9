'use strict';
// What a cached read depends on: the tables it reads. Every entry carries the generation of each
// of these tables, taken before its database read, and is stale once any of them moved on
// (src/fill.rs). Missing a table here would let a write to it go unseen, so the walk errs on the
// side of more tables: the model, every model its include tree or scopes reach, and through tables.

const { limits } = require('../native');

/** How deep an include tree is followed (src/limits.rs); a deeper tree is not cached. */
const { MAX_INCLUDE_DEPTH } = limits;

/** The generation name of a model's table: its schema-qualified table name. */
function tableNameOf(Model) {
  return Model._schema ? `${Model._schema}.${Model.tableName}` : Model.tableName;
}

/**
 * The generation name of a table's entity entries (withCache's one-row entries). Kept apart from
 * the table's query generation, so a write whose rows are known drops just those entities while
 * every write makes the table's queries stale.
 */
function entityTableOf(Model) {
  return `${tableNameOf(Model)}#entities`;
}

/**
 * Tables a query on `Model` with `options` reads: the model, every model in its include tree and
 * in the scopes of the models it reaches, and through tables. Returns null when the include tree
 * is deeper than MAX_INCLUDE_DEPTH (the caller then does not cache the read).
 */
function tablesRead(Model, options) {
  // Most reads include nothing: their table alone, without the walk.
  if (typeof Model === 'function' && (options == null || options.include == null) && !(Model._scope && Model._scope.include)) {
    return [tableNameOf(Model)];
  }
  const tables = new Set();
  const scoped = new Set();
  // `include: { all: true, nested: true }` expands each model once: a cycle of associations
  // adds no table the first expansion did not.
  const expandedAll = new Set();
  let tooDeep = false;
  const visitModel = (M, includes, depth) => {
    if (typeof M !== 'function') return;
    if (depth > MAX_INCLUDE_DEPTH) {
      tooDeep = true;
      return;
    }
    tables.add(tableNameOf(M));
    if (!scoped.has(M)) {
      scoped.add(M);
      if (M._scope && M._scope.include) visitIncludes(M, M._scope.include, depth + 1);
    }
    visitIncludes(M, includes, depth + 1);
  };
  const visitAssociation = (a, includes, depth) => {
    if (!a || typeof a !== 'object') return;
    if (a.throughModel) visitModel(a.throughModel, undefined, depth);
    visitModel(a.target, includes, depth);
  };
  const associationsTo = (assocs, Target, depth) => {
    for (const a of Object.values(assocs)) if (a.target === Target) visitAssociation(a, undefined, depth);
  };
  const visitIncludes = (M, includes, depth) => {
    if (includes == null) return;
    const assocs = (M && M.associations) || {};
    for (const inc of Array.isArray(includes) ? includes : [includes]) {
      if (typeof inc === 'function') {
        visitModel(inc, undefined, depth);
        associationsTo(assocs, inc, depth);
      } else if (typeof inc === 'string') {
        visitAssociation(assocs[inc], undefined, depth);
      } else if (inc && typeof inc === 'object') {
        if (inc.associationType) {
          visitAssociation(inc, undefined, depth);
        } else if (inc.all) {
          const nested = inc.nested && !expandedAll.has(M);
          expandedAll.add(M);
          for (const a of Object.values(assocs)) visitAssociation(a, nested ? [inc] : undefined, depth);
        } else {
          const a = typeof inc.association === 'string' ? assocs[inc.association] : inc.association;
          if (a) visitAssociation(a, inc.include, depth);
          if (inc.model) {
            visitModel(inc.model, inc.include, depth);
            associationsTo(assocs, inc.model, depth);
          }
          if (inc.as && assocs[inc.as]) visitAssociation(assocs[inc.as], inc.include, depth);
          if (inc.through && inc.through.model) visitModel(inc.through.model, undefined, depth);
        }
      }
    }
  };
  visitModel(Model, options && options.include, 0);
  return tooDeep ? null : [...tables];
}

module.exports = { tableNameOf, entityTableOf, tablesRead, MAX_INCLUDE_DEPTH };
