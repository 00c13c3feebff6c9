'use strict';
// What a cached read depends on: the tables it reads. Every entry carries the generation of each
// of these tables, taken before its database read, and is stale once any of them moved on
// (src/fill.rs). Missing a table here would let a write to it go unseen, so the walk errs on the
// side of more tables: the model, every model its include tree or scopes reach, through tables,
// and every model table named in the SQL of a `sequelize.literal` anywhere in the options.

const { limits } = require('../native');
const { namesIn, tableNamesIn } = require('../invalidation/sql');

// (src/limits.rs) How deep an include tree is followed, and how deep and large the options the
// literal walk reads may be (the key's own limits); past either the read is not cached.
const { MAX_INCLUDE_DEPTH, KEY_MAX_DEPTH, KEY_MAX_NODES } = limits;

/**
 * The generation name of a model's table: its table name alone, in lower case, whatever its schema. Cascades and
 * raw SQL name a table without its schema (or with one the model does not carry), so one
 * generation per table is what every write can reach; a write in one schema then also makes the
 * other schemas' reads of that table stale, which costs misses but never serves an old row.
 * (Entries of different schemas still have different keys: see segmentOf in keys.js.)
 */
function tableNameOf(Model) {
  // Lower case: SQLite and MySQL read table names without regard to case, and a write that names
  // its table in another case must still reach the reads (on PostgreSQL two tables whose names
  // differ only in case then share a generation, which costs misses, never a stale row).
  return Model.tableName.toLowerCase();
}

/**
 * The generation name of a table's entity entries (withCache's one-row entries). Kept apart from
 * the table's query generation, so a write whose rows are known drops just those entities while
 * every write makes the table's queries stale.
 */
function entityTableOf(Model) {
  return `${tableNameOf(Model)}#entities`;
}

/** Option keys (of a find, an include entry or a scope) whose values Sequelize turns into SQL. */
const SQL_KEYS = ['attributes', 'where', 'on', 'through', 'order', 'group', 'having'];
/** Sequelize's utility classes by name, for a copy of Sequelize other than the model's. */
const METHOD_NAMES = new Set(['Fn', 'Col', 'Literal', 'Where', 'Cast', 'Json', 'SequelizeMethod']);
/** Modes of the literal walk: strings are values, SQL text, or SQL when they hold parentheses. */
const VALUES = 0;
const SQL = 1;
const ATTRIBUTE = 2;

/** The class name `proto.constructor` gives, or ''. */
function classNameOf(proto) {
  const ctor = proto.constructor;
  return typeof ctor === 'function' && typeof ctor.name === 'string' ? ctor.name : '';
}

/**
 * Finds the SQL text of every literal in the values it walks, within the key walker's limits
 * (a tree past them sets `over`). Sequelize's classes are told by the instance's own classes or
 * by name along the prototype chain, never by their fields: a plain object with a `val` key is
 * walked as the where clause it is.
 */
class LiteralFinder {
  constructor(sequelize) {
    const Utils = sequelize && sequelize.constructor && sequelize.constructor.Utils;
    this.Method = Utils && typeof Utils.SequelizeMethod === 'function' ? Utils.SequelizeMethod : undefined;
    this.Literal = Utils && typeof Utils.Literal === 'function' ? Utils.Literal : undefined;
    this.texts = [];
    this.nodes = 0;
    this.over = false;
  }

  /** Walks the SQL-bearing keys of a find's options, an include entry or a scope. */
  options(o) {
    if (o === null || typeof o !== 'object') return;
    for (const k of SQL_KEYS) if (o[k] !== undefined) this.walk(o[k], 1, k === 'attributes' ? ATTRIBUTE : VALUES);
  }

  walk(v, depth, mode) {
    if (this.over) return;
    if (++this.nodes > KEY_MAX_NODES || depth > KEY_MAX_DEPTH) {
      this.over = true;
      return;
    }
    if (typeof v === 'string') {
      // attributeBehavior 'unsafe-legacy' sends an attribute with parentheses as SQL.
      if (mode === SQL || (mode === ATTRIBUTE && (v.includes('(') || v.includes(')')))) this.texts.push(v);
      return;
    }
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) this.walk(v[i], depth + 1, mode);
      return;
    }
    const proto = Object.getPrototypeOf(v);
    const kind = proto === null ? 'Object' : this.kindOf(v, proto);
    if (kind === 'Literal') {
      this.walk(v.val, depth + 1, SQL);
    } else if (kind === 'Object' || kind === 'Method') {
      // A method's fields (fn args, where logic, cast value, json conditions) are values again.
      const inner = kind === 'Object' ? mode : VALUES;
      for (const k of Object.keys(v)) this.walk(v[k], depth + 1, inner);
      if (kind === 'Object') for (const s of Object.getOwnPropertySymbols(v)) this.walk(v[s], depth + 1, inner);
    }
    // Anything else (a Date, a Buffer, an instance, a model) holds no SQL Sequelize would write.
  }

  /** 'Object' (plain, of any realm, as the key walker reads it), 'Literal', 'Method' or ''. */
  kindOf(v, proto) {
    if (this.Literal !== undefined && v instanceof this.Literal) return 'Literal';
    if (this.Method !== undefined && v instanceof this.Method) return 'Method';
    if (classNameOf(proto) === 'Object') return 'Object';
    // Another copy of Sequelize, or a subclass: its classes' names along the chain.
    for (let p = proto, i = 0; p !== null && i < 8; p = Object.getPrototypeOf(p), i++) {
      const name = classNameOf(p);
      if (name === 'Literal') return 'Literal';
      if (METHOD_NAMES.has(name)) return 'Method';
    }
    return '';
  }
}

/** Adds the table of every model of `sequelize` whose table name one of `texts` names. */
function addNamedTables(tables, sequelize, texts) {
  const models = sequelize && sequelize.models ? Object.values(sequelize.models) : [];
  const dialect = sequelize && typeof sequelize.getDialect === 'function' ? sequelize.getDialect() : undefined;
  const named = new Set();
  for (const text of texts) {
    // The lexer of raw writes (../invalidation/sql.js), so both read SQL alike.
    const ids = namesIn(text, dialect);
    if (ids === null) {
      // Text the lexer cannot follow may name any table.
      for (const M of models) tables.add(tableNameOf(M));
      return;
    }
    for (const name of tableNamesIn(ids)) named.add(name);
  }
  for (const M of models) if (typeof M.tableName === 'string' && named.has(tableNameOf(M))) tables.add(tableNameOf(M));
}

/**
 * Tables a query on `Model` with `options` reads: the model, every model in its include tree and
 * in the scopes of the models it reaches, through tables, and the model tables named by literal
 * SQL in any of their options. Returns null when the include tree is deeper than
 * MAX_INCLUDE_DEPTH or the options are past the key limits (the caller then does not cache the read).
 */
function tablesRead(Model, options) {
  if (typeof Model !== 'function') return [];
  const literals = new LiteralFinder(Model.sequelize);
  literals.options(options);
  literals.options(Model._scope);
  // Most reads include nothing and hold no literal: their table alone, without the include walk.
  if ((options == null || options.include == null) && !(Model._scope && Model._scope.include) && literals.texts.length === 0) {
    return literals.over ? null : [tableNameOf(Model)];
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
      // (The root's scope was read above.)
      if (M !== Model) literals.options(M._scope);
      if (M._scope && M._scope.include) visitIncludes(M, M._scope.include, depth + 1);
    }
    visitIncludes(M, includes, depth + 1);
  };
  const visitAssociation = (a, includes, depth) => {
    if (!a || typeof a !== 'object') return;
    // An association's scope is a where on its target (or through) rows.
    if (a.scope !== undefined) literals.walk(a.scope, 1, VALUES);
    if (a.through && a.through.scope !== undefined) literals.walk(a.through.scope, 1, VALUES);
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
          literals.options(inc);
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
  if (tooDeep || literals.over) return null;
  if (literals.texts.length > 0) addNamedTables(tables, Model.sequelize, literals.texts);
  return [...tables];
}

module.exports = { tableNameOf, entityTableOf, tablesRead, MAX_INCLUDE_DEPTH };
