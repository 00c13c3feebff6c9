// The read catalogue: every query shape the generator may issue, with its parameters drawn from
// the small domains. A read descriptor is plain JSON: `{ q, p, m, api }`:
//   q    a shape below;  p  its parameters;  m  the method (findByPk, findOne, findAll, count,
//        findAndCountAll);  api  'wrap' (modelCacheFactory), 'cache' (withCache's Model.cache())
//        or 'named' (Model.cache(name), the name derived from the descriptor).
// `ordered` says the shape orders its top-level rows totally (compared in order); `deep` says it
// orders nested includes too. Anything not ordered is compared as a multiset.
import { Op } from 'sequelize';
import { DOMAIN } from './schema.mjs';
import { show } from './util.mjs';

const byId = [['id', 'ASC']];

/**
 * Each shape: model (or scoped model), allowed methods, params(rng), options(models, params).
 * For findByPk shapes, `pk(params)` is the first argument and options the second (or undefined).
 */
export const QUERIES = {
  userPk: { model: 'User', methods: ['findByPk'], params: (r) => ({ id: r.pick(DOMAIN.userIds) }), pk: (p) => p.id, options: () => undefined },
  // The key spelled as a string, as ids from a URL are: one entity entry with the number's.
  userPkText: { model: 'User', methods: ['findByPk'], params: (r) => ({ id: r.pick(DOMAIN.userIds) }), pk: (p) => String(p.id), options: () => undefined },
  // A table read only through literal SQL (an association count, as Sequelize's docs write it).
  usersWithPostCount: {
    model: 'User',
    methods: ['findAll'],
    ordered: true,
    reads: ['Post'],
    params: () => ({}),
    options: (M) => {
      if (M.Post.sequelize === undefined) return { order: byId };
      const qg = M.Post.sequelize.getQueryInterface().queryGenerator;
      const count = `(SELECT COUNT(*) FROM ${qg.quoteTable(M.Post.getTableName())} AS ${qg.quoteIdentifier('p')} WHERE ${qg.quoteIdentifier('p')}.${qg.quoteIdentifier('userId')} = ${qg.quoteIdentifier('User')}.${qg.quoteIdentifier('id')})`;
      return { attributes: ['id', 'name', [M.Post.sequelize.literal(count), 'postCount']], order: byId };
    },
  },
  userPkWithPosts: {
    model: 'User',
    methods: ['findByPk'],
    params: (r) => ({ id: r.pick(DOMAIN.userIds) }),
    pk: (p) => p.id,
    options: (M) => ({ include: [{ model: M.Post, include: [{ model: M.Comment }] }] }),
  },
  usersAll: { model: 'User', methods: ['findAll', 'count', 'findAndCountAll', 'findOne'], ordered: true, params: () => ({}), options: () => ({ order: byId }) },
  usersByName: {
    model: 'User',
    methods: ['findAll', 'findOne', 'count'],
    ordered: true,
    params: (r) => ({ name: r.pick(DOMAIN.names).trim() }),
    options: (M, p) => ({ where: { name: p.name }, order: byId }),
  },
  usersByHandle: {
    model: 'User',
    methods: ['findOne', 'findAll'],
    ordered: true,
    params: (r) => ({ handle: r.pick(DOMAIN.handles) }),
    options: (M, p) => ({ where: { handle: p.handle }, order: byId }),
  },
  usersTopVisits: {
    model: 'User',
    methods: ['findAll', 'findAndCountAll', 'findOne'],
    ordered: true,
    params: (r) => ({ k: r.pick(DOMAIN.small) }),
    options: (M, p) => ({ where: { visits: { [Op.gt]: p.k } }, order: [['visits', 'DESC'], ['id', 'ASC']], limit: 3 }),
  },
  usersOr: {
    model: 'User',
    methods: ['findAll', 'count'],
    params: (r) => ({ a: r.pick(DOMAIN.names).trim(), b: r.pick(DOMAIN.balances) }),
    options: (M, p) => ({ where: { [Op.or]: [{ active: true, name: { [Op.in]: [p.a, 'zed'] } }, { balance: { [Op.gte]: p.b } }] } }),
  },
  usersHydration: {
    model: 'User',
    methods: ['findAll'],
    ordered: true,
    params: (r) => ({ d: r.pick(DOMAIN.dates) }),
    options: (M, p) => ({
      attributes: ['id', 'handle', 'active', 'points', 'balance', 'born', 'meta', 'updatedAt'],
      where: { [Op.or]: [{ born: { [Op.lte]: new Date(p.d) } }, { born: null }] },
      order: byId,
    }),
  },
  usersVirtual: {
    model: 'User',
    methods: ['findAll', 'findOne'],
    ordered: true,
    params: (r) => ({ v: r.pick([0, 1, 2, 3]) }),
    options: (M, p) => ({ attributes: ['id', 'tag'], where: { visits: { [Op.gte]: p.v } }, order: byId }),
  },
  usersWithPostsComments: {
    model: 'User',
    methods: ['findAll', 'findOne'],
    ordered: true,
    deep: true,
    params: () => ({}),
    options: (M) => ({
      include: [{ model: M.Post, include: [{ model: M.Comment, paranoid: false }] }],
      order: [['id', 'ASC'], [M.Post, 'id', 'ASC'], [M.Post, M.Comment, 'id', 'ASC']],
    }),
  },
  usersWithBadges: {
    model: 'User',
    methods: ['findAll', 'findAndCountAll'],
    ordered: true,
    params: (r) => ({ limit: r.pick([2, 10]) }),
    options: (M, p) => ({ include: [M.Badge], order: byId, limit: p.limit }),
  },
  usersActiveScope: {
    model: 'User',
    scope: 'active',
    methods: ['findAll', 'count', 'findOne'],
    ordered: true,
    params: () => ({}),
    options: () => ({ order: byId }),
  },
  usersActiveScopePk: { model: 'User', scope: 'active', methods: ['findByPk'], params: (r) => ({ id: r.pick(DOMAIN.userIds) }), pk: (p) => p.id, options: () => undefined },
  postPk: { model: 'Post', methods: ['findByPk'], params: (r) => ({ id: r.pick(DOMAIN.postIds) }), pk: (p) => p.id, options: () => undefined },
  postPkWithTags: {
    model: 'Post',
    methods: ['findByPk'],
    params: (r) => ({ id: r.pick(DOMAIN.postIds) }),
    pk: (p) => p.id,
    options: (M) => ({ include: [M.Tag, M.User] }),
  },
  postsByUser: {
    model: 'Post',
    methods: ['findAll', 'count', 'findAndCountAll'],
    ordered: true,
    params: (r) => ({ userId: r.pick(DOMAIN.userIds) }),
    options: (M, p) => ({ where: { userId: p.userId }, include: [{ model: M.Tag, through: { attributes: ['weight'] } }], order: byId }),
  },
  postsWithTagLabel: {
    model: 'Post',
    methods: ['findAll', 'count'],
    ordered: true,
    params: (r) => ({ label: r.pick(DOMAIN.labels) }),
    options: (M, p) => ({ include: [{ model: M.Tag, where: { label: p.label } }], order: byId }),
  },
  postsWithUser: {
    model: 'Post',
    methods: ['findAll', 'findOne'],
    ordered: true,
    params: (r) => ({ published: r.pick([true, false]) }),
    options: (M, p) => ({ where: { published: p.published }, include: [{ model: M.User, include: [M.Badge] }], order: byId }),
  },
  postsWithComments: {
    model: 'Post',
    methods: ['findAll'],
    ordered: true,
    params: (r) => ({ paranoid: r.pick([true, false]) }),
    options: (M, p) => ({ include: [{ model: M.Comment, paranoid: p.paranoid, required: false }], order: byId }),
  },
  postsPage: {
    model: 'Post',
    methods: ['findAndCountAll'],
    ordered: true,
    params: (r) => ({ offset: r.pick([0, 2]) }),
    options: (M, p) => ({ include: [M.Tag], distinct: true, order: byId, limit: 3, offset: p.offset }),
  },
  commentPk: { model: 'Comment', methods: ['findByPk'], params: (r) => ({ id: r.pick(DOMAIN.commentIds) }), pk: (p) => p.id, options: () => undefined },
  commentPkAny: {
    model: 'Comment',
    methods: ['findByPk'],
    params: (r) => ({ id: r.pick(DOMAIN.commentIds) }),
    pk: (p) => p.id,
    options: () => ({ paranoid: false }),
  },
  commentsByPost: {
    model: 'Comment',
    methods: ['findAll', 'count', 'findOne'],
    ordered: true,
    params: (r) => ({ postId: r.pick(DOMAIN.postIds), paranoid: r.pick([true, false]) }),
    options: (M, p) => ({ where: { postId: p.postId }, paranoid: p.paranoid, order: byId }),
  },
  commentsLiked: {
    model: 'Comment',
    methods: ['findAll', 'count'],
    ordered: true,
    params: (r) => ({ likes: r.pick(DOMAIN.small) }),
    options: (M, p) => ({ where: { likes: { [Op.gte]: p.likes } }, order: [['likes', 'DESC'], ['id', 'ASC']] }),
  },
  commentsWithPostUser: {
    model: 'Comment',
    methods: ['findAll'],
    ordered: true,
    params: () => ({}),
    options: (M) => ({ include: [{ model: M.Post, include: [M.User] }], order: byId, paranoid: false }),
  },
  tagPk: { model: 'Tag', methods: ['findByPk'], params: (r) => ({ id: r.pick(DOMAIN.tagIds) }), pk: (p) => p.id, options: () => undefined },
  tagsWithPosts: {
    model: 'Tag',
    methods: ['findAll', 'findAndCountAll'],
    ordered: true,
    params: () => ({}),
    options: (M) => ({ include: [{ model: M.Post, through: { attributes: ['weight'] }, include: [M.User, M.Comment] }], order: byId }),
  },
  postTags: {
    model: 'PostTag',
    methods: ['findAll', 'count'],
    ordered: true,
    params: (r) => ({ postId: r.pick(DOMAIN.postIds) }),
    options: (M, p) => ({ where: { postId: { [Op.lte]: p.postId } }, order: [['postId', 'ASC'], ['tagId', 'ASC']] }),
  },
  badgePk: { model: 'Badge', methods: ['findByPk'], params: (r) => ({ id: r.pick(DOMAIN.badgeIds) }), pk: (p) => p.id, options: () => undefined },
  badgesByHandle: {
    model: 'Badge',
    methods: ['findAll', 'count'],
    ordered: true,
    params: (r) => ({ handle: r.pick(DOMAIN.handles) }),
    options: (M, p) => ({ where: { userHandle: p.handle }, order: byId }),
  },
  badgesWithUser: {
    model: 'Badge',
    methods: ['findAll'],
    ordered: true,
    params: () => ({}),
    options: (M) => ({ include: [M.User], order: byId }),
  },
};

export const QUERY_NAMES = Object.keys(QUERIES);
const NAMED_METHODS = new Set(['findAll', 'findOne', 'findAndCountAll', 'count']);

/** A random read descriptor. */
export function randomRead(r, { apis = ['wrap', 'cache', 'named'] } = {}) {
  const q = r.pick(QUERY_NAMES);
  const shape = QUERIES[q];
  const m = r.pick(shape.methods);
  const allowed = apis.filter((a) => a !== 'named' || NAMED_METHODS.has(m));
  return { q, p: shape.params(r), m, api: r.pick(allowed) };
}

/** The stable text of a read descriptor (its identity in sweeps, signatures and names). */
export function readId(d) {
  return `${d.api}:${d.q}.${d.m}(${JSON.stringify(d.p)})`;
}

/** The name a named query is cached under: derived from the whole descriptor, so one name is one query. */
export function nameOf(d) {
  return `fuzz:${readId(d)}`;
}

/** The model a descriptor reads (scoped where the shape says so). */
export function modelOf(env, d) {
  const shape = QUERIES[d.q];
  const M = env.models[shape.model];
  return shape.scope ? M.scope(shape.scope) : M;
}

/** Fresh arguments for the descriptor's method (Sequelize may mutate what it is given). */
export function argsOf(env, d, extra) {
  const shape = QUERIES[d.q];
  const o = shape.options(env.models, d.p);
  const options = extra === undefined ? o : { ...(o || {}), ...extra };
  if (d.m === 'findByPk') return options === undefined ? [shape.pk(d.p)] : [shape.pk(d.p), options];
  return [options];
}

/** The cached read, through the descriptor's API style. */
export function cachedRead(env, d, extra) {
  const M = modelOf(env, d);
  const args = argsOf(env, d, extra);
  if (d.api === 'wrap') return env.modelCache.wrap(M)[d.m](...args);
  if (d.api === 'named') return M.cache(nameOf(d))[d.m](...args);
  return M.cache()[d.m](...args);
}

/** The same read straight on the model: the database's answer. */
export function dbRead(env, d, extra) {
  return modelOf(env, d)[d.m](...argsOf(env, d, extra));
}

/** The code a descriptor runs, for failure reports (`models` names the models by class). */
export function readCode(models, d, extra) {
  const shape = QUERIES[d.q];
  const M = shape.scope ? `${shape.model}.scope('${shape.scope}')` : shape.model;
  const face = d.api === 'wrap' ? `modelCache.wrap(${M})` : d.api === 'named' ? `${M}.cache(${JSON.stringify(nameOf(d))})` : `${M}.cache()`;
  const args = argsOf({ models }, d, extra).map((a) => show(a));
  return `${face}.${d.m}(${args.join(', ')})`;
}

/** Whether the shape fixes the order of top-level rows / of nested rows. */
export function orderOf(d) {
  const shape = QUERIES[d.q];
  return { ordered: !!shape.ordered, deep: !!shape.deep };
}

const MODEL_NAMES = ['User', 'Post', 'Comment', 'Tag', 'PostTag', 'Badge'];
const tablesMemo = new Map();

/** The models a shape reads: its model and every model in its include tree (a Post–Tag join reads PostTag). */
export function tablesOfShape(q) {
  let out = tablesMemo.get(q);
  if (out !== undefined) return out;
  const shape = QUERIES[q];
  const markers = Object.fromEntries(MODEL_NAMES.map((n) => [n, { marker: n }]));
  const first = { pick: (a) => a[0], chance: () => false, int: (lo) => lo, next: () => 0 };
  const o = shape.options(markers, shape.params(first)) || {};
  out = new Set([shape.model]);
  const walk = (inc) => {
    for (const i of Array.isArray(inc) ? inc : inc ? [inc] : []) {
      if (i.marker) out.add(i.marker);
      else if (i.model && i.model.marker) {
        out.add(i.model.marker);
        walk(i.include);
      }
    }
  };
  walk(o.include);
  for (const m of shape.reads || []) out.add(m);
  if (out.has('Post') && out.has('Tag')) out.add('PostTag');
  tablesMemo.set(q, out);
  return out;
}
