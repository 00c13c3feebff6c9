'use strict';
// Rows ⇄ results. A stored result keeps raw dataValues (through the typed codec); a hit rebuilds
// instances exactly as a database read builds them: bulkBuild with raw:true, isNewRecord:false
// and the caller's own include tree, so instances, includes, through rows, getters and
// `changed()` match a fresh read.

const { isInstance } = require('./payload');

/**
 * Describes a query result for storage: { shape, data }, or null if the result holds something
 * other than instances and plain data (then it is not cached).
 */
function toStored(result) {
  if (result !== null && typeof result === 'object') {
    if (isInstance(result)) return { shape: 'row', data: result };
    if (Array.isArray(result) && result.length > 0 && result.every((r) => r !== null && typeof r === 'object' && isInstance(r))) {
      return { shape: 'rows', data: result };
    }
    if (
      Array.isArray(result.rows) &&
      Object.keys(result).length === 2 &&
      'count' in result &&
      result.rows.length > 0 &&
      result.rows.every((r) => r !== null && typeof r === 'object' && isInstance(r))
    ) {
      return { shape: 'page', data: result };
    }
  }
  return { shape: 'value', data: result };
}

/** Per model: the build options of a read that names no includes and no attributes. */
const simpleBuilds = new WeakMap();

/**
 * The build options of a read whose call and model scope name no includes and no attributes
 * (the same for every such read of a model, so never memoized by key), or undefined for any
 * other read. As findAll, they name every attribute of the model (and what its virtual
 * attributes depend on): Sequelize's get() leaves out getters (getterMethods) not among them.
 */
function simpleBuild(Model, options) {
  const scope = Model._scope;
  if (
    (options == null || (options.include === undefined && options.attributes === undefined)) &&
    (scope == null || (scope.include === undefined && scope.attributes === undefined))
  ) {
    let s = simpleBuilds.get(Model);
    if (s === undefined || s.rawAttributes !== Model.rawAttributes) {
      s = { rawAttributes: Model.rawAttributes, build: bareBuild(Model) };
      simpleBuilds.set(Model, s);
    }
    return s.build;
  }
  return undefined;
}

/**
 * The build options of a read naming no attributes. The query's are every attribute (and what the
 * virtual ones depend on). They matter only to a model with custom getters (get() shows a getter
 * only for a named attribute) or virtual attributes (build() sets only named attributes and virtual
 * ones); for any other model, the stored row holds exactly the query's attributes, so building
 * without the list gives the same instance, by Sequelize's faster path.
 */
function bareBuild(Model) {
  if (!Model.prototype._hasCustomGetters && !Model._hasVirtualAttributes) return SIMPLE_BUILD;
  const attributes = Object.freeze(Model._injectDependentVirtualAttributes(Object.keys(Model.rawAttributes)));
  return Object.freeze({ isNewRecord: false, raw: true, attributes });
}

/** Build options of a bare read of a model with no custom getters and no virtual attributes. */
const SIMPLE_BUILD = Object.freeze({ isNewRecord: false, raw: true });

/**
 * The options a database read builds its instances with, for `options` on `Model`: prepared as
 * findAll prepares them (the model's scope injected, includes conformed and expanded, attributes
 * expanded, the include tree validated) and as the query then builds with them (the attributes
 * the caller selected plus what their virtual attributes depend on; each include's own). The
 * result depends only on the model, its scope and the call's include tree and attributes, so
 * callers may reuse it for every hit of any query that has those; it is never mutated by a build
 * (`includeValidated` skips the validation that would).
 */
function prepareBuild(Model, options) {
  const simple = simpleBuild(Model, options);
  if (simple !== undefined) return simple;
  const Utils = Model.sequelize.constructor.Utils;
  const o = Utils.cloneDeep(options || {});
  Model._injectScope(o);
  Model._conformIncludes(o, Model);
  Model._expandAttributes(o);
  Model._expandIncludeAll(o);
  // Only what building reads: the include tree and the attributes (not where, order or limit).
  const v = { include: o.include, attributes: o.attributes, raw: o.raw };
  v.originalAttributes = Model._injectDependentVirtualAttributes(v.attributes);
  if (v.include) {
    v.hasJoin = true;
    Model._validateIncludedElements(v);
  }
  if (!v.attributes) v.originalAttributes = Model._injectDependentVirtualAttributes(Object.keys(Model.rawAttributes));
  const build = { isNewRecord: false, raw: true, attributes: v.originalAttributes || v.attributes };
  if (v.include) {
    build.include = v.include;
    build.includeNames = v.includeNames;
    build.includeMap = v.includeMap;
    build.includeValidated = true;
  }
  return build;
}

function buildRows(Model, build, rows) {
  // Without includes, build() per row is what bulkBuild does, minus its include bookkeeping.
  if (build.include === undefined) return rows.map((r) => Model.build(r, build));
  return Model.bulkBuild(rows, build);
}

/** Turns decoded stored data back into what the query returned, with options from prepareBuild. */
function fromStored(Model, build, { shape, data }) {
  switch (shape) {
    case 'row':
      return buildRows(Model, build, [data])[0];
    case 'rows':
      return buildRows(Model, build, data);
    case 'page':
      return { count: data.count, rows: buildRows(Model, build, data.rows) };
    case 'value':
      return data;
    default:
      throw new Error(`unknown stored shape ${JSON.stringify(shape)}`);
  }
}

module.exports = { toStored, fromStored, prepareBuild, simpleBuild };
