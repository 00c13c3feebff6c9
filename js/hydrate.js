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

/** Build options when neither the call nor the model's scope names includes or attributes. */
const SIMPLE_BUILD = Object.freeze({ isNewRecord: false, raw: true });

/**
 * The build options of a read whose call and model scope name no includes and no attributes
 * (the same for every such read, so never memoized), or undefined for any other read.
 */
function simpleBuild(Model, options) {
  const scope = Model._scope;
  if (
    (options == null || (options.include === undefined && options.attributes === undefined)) &&
    (scope == null || (scope.include === undefined && scope.attributes === undefined))
  ) {
    return SIMPLE_BUILD;
  }
  return undefined;
}

/**
 * The options a database read builds its instances with, for `options` on `Model`: the caller's
 * options with the model's scope injected, attributes expanded and the include tree validated,
 * exactly as findAll prepares them. The result depends only on what the query's key captures,
 * so callers may reuse it for every hit of one key; it is never mutated by a build
 * (`includeValidated` skips the validation that would).
 */
function prepareBuild(Model, options) {
  const simple = simpleBuild(Model, options);
  if (simple !== undefined) return simple;
  const Utils = Model.sequelize.constructor.Utils;
  const o = Utils.cloneDeep(options || {});
  Model._injectScope(o);
  Model._expandAttributes(o);
  const build = { isNewRecord: false, raw: true, include: o.include, attributes: o.attributes };
  if (build.include !== undefined) {
    Model._conformIncludes(build, Model);
    Model._expandIncludeAll(build);
    Model._validateIncludedElements(build);
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
      return build.include === undefined ? Model.build(data, build) : Model.bulkBuild([data], build)[0];
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
