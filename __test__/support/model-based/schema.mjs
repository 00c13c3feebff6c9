// The model-based suite's schema, defined on a fresh Sequelize instance per run.
//
//   User ||--o{ Post ||--o{ Comment      delete cascades two levels (User → Post → Comment);
//                                         User.id and Post.userId also cascade ON UPDATE
//   Post }o--o{ Tag  through PostTag     CASCADE both ways; PostTag has its own column (weight)
//   User ||--o{ Badge                    on User.handle (a non-primary key that can change):
//                                         ON UPDATE CASCADE, ON DELETE SET NULL
//   Comment is paranoid. User holds the columns hydration cares about (DATE, BOOLEAN, DECIMAL,
//   BIGINT, JSON). Comment's afterCreate hook writes Post.commentCount (a counter cache, a
//   write made from inside another write). User.scope('active') filters on a BOOLEAN.
//
// Every value domain is small (see DOMAIN) so reads hit often and writes collide often.
// On PostgreSQL the tables live in a schema of their own (`snc_fuzz_<epoch>_<random>`), made
// and dropped by the run, so other suites' tables are never touched.
import { DataTypes } from 'sequelize';

/** The values the generator draws from. Ids are always explicit, so replays are deterministic. */
export const DOMAIN = Object.freeze({
  userIds: [1, 2, 3, 4, 5, 6],
  postIds: [1, 2, 3, 4, 5, 6, 7, 8],
  commentIds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  tagIds: [1, 2, 3, 4],
  badgeIds: [1, 2, 3, 4, 5],
  handles: ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7'],
  names: ['ann', 'bob', 'cy', ' dee '],
  titles: ['t1', 't2', 't3'],
  bodies: ['c1', 'c2', 'c3'],
  labels: ['news', 'tech', 'fun'],
  kinds: ['gold', 'silver'],
  balances: ['0.00', '1.50', '10.25'],
  points: ['0', '7', '9007199254740993'],
  dates: ['2000-01-01T00:00:00.000Z', '1999-12-31T23:59:59.000Z', '2024-02-29T12:30:00.000Z'],
  metas: [{ a: 1 }, { tags: ['x', 'y'] }, null],
  small: [0, 1, 2, 3],
});

/** The tables in an order that deletes cleanly (children first). */
export const MODEL_NAMES = ['PostTag', 'Comment', 'Badge', 'Post', 'Tag', 'User'];

/**
 * Defines the models on `sequelize` (in `schema` on PostgreSQL) and returns them by name.
 * @param {import('sequelize').Sequelize} sequelize
 * @param {{ schema?: string }} [o]
 */
export function defineModels(sequelize, { schema } = {}) {
  const opts = (extra = {}) => (schema ? { schema, ...extra } : extra);
  const User = sequelize.define(
    'User',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      handle: { type: DataTypes.STRING, allowNull: false, unique: true },
      name: DataTypes.STRING,
      active: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
      visits: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      points: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
      balance: { type: DataTypes.DECIMAL(10, 2), allowNull: false, defaultValue: '0.00' },
      born: DataTypes.DATE,
      meta: DataTypes.JSON,
      // A virtual attribute with a dependency: selected, it brings `handle` along.
      tag: {
        type: DataTypes.VIRTUAL(DataTypes.STRING, ['handle']),
        get() {
          return `@${this.getDataValue('handle')}`;
        },
      },
    },
    opts({
      // Not an attribute: get() shows it only when a read names no attributes.
      getterMethods: {
        shout() {
          return typeof this.getDataValue('name') === 'string' ? this.getDataValue('name').toUpperCase() : null;
        },
      },
      scopes: { active: { where: { active: true } } },
      hooks: {
        // A write hook that changes what is stored (the cache must hold the stored value).
        beforeSave(user) {
          if (typeof user.name === 'string') user.name = user.name.trim();
        },
      },
    }),
  );
  const Post = sequelize.define(
    'Post',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      title: DataTypes.STRING,
      views: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      published: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      commentCount: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    },
    opts(),
  );
  const Comment = sequelize.define(
    'Comment',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      body: DataTypes.STRING,
      likes: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    },
    opts({ paranoid: true }),
  );
  const Tag = sequelize.define('Tag', { id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true }, label: DataTypes.STRING }, opts());
  const PostTag = sequelize.define(
    'PostTag',
    {
      postId: { type: DataTypes.INTEGER, primaryKey: true },
      tagId: { type: DataTypes.INTEGER, primaryKey: true },
      weight: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
    },
    opts(),
  );
  const Badge = sequelize.define(
    'Badge',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      kind: DataTypes.STRING,
      awardedAt: DataTypes.DATE,
    },
    opts(),
  );

  const cascade = { onDelete: 'CASCADE', onUpdate: 'CASCADE' };
  User.hasMany(Post, { foreignKey: 'userId', ...cascade });
  Post.belongsTo(User, { foreignKey: 'userId', ...cascade });
  Post.hasMany(Comment, { foreignKey: 'postId', ...cascade });
  Comment.belongsTo(Post, { foreignKey: 'postId', ...cascade });
  Post.belongsToMany(Tag, { through: PostTag, foreignKey: 'postId', otherKey: 'tagId', ...cascade });
  Tag.belongsToMany(Post, { through: PostTag, foreignKey: 'tagId', otherKey: 'postId', ...cascade });
  const byHandle = { foreignKey: 'userHandle', onDelete: 'SET NULL', onUpdate: 'CASCADE' };
  User.hasMany(Badge, { ...byHandle, sourceKey: 'handle' });
  Badge.belongsTo(User, { ...byHandle, targetKey: 'handle' });

  // A counter cache: a write made by a hook of another write, in the same transaction.
  Comment.afterCreate(async (comment, options) => {
    if (comment.postId != null) await Post.increment('commentCount', { where: { id: comment.postId }, transaction: options.transaction });
  });
  return { User, Post, Comment, Tag, PostTag, Badge };
}

/** The rows every run starts from. */
export function seedRows() {
  const d = DOMAIN.dates;
  return {
    User: [
      { id: 1, handle: 'h1', name: 'ann', active: true, visits: 1, points: '7', balance: '1.50', born: d[0], meta: { a: 1 } },
      { id: 2, handle: 'h2', name: 'bob', active: false, visits: 0, points: '0', balance: '0.00', born: null, meta: null },
      { id: 3, handle: 'h3', name: 'cy', active: true, visits: 3, points: '9007199254740993', balance: '10.25', born: d[1], meta: { tags: ['x', 'y'] } },
      { id: 4, handle: 'h4', name: 'ann', active: true, visits: 2, points: '0', balance: '0.00', born: d[2], meta: null },
    ],
    Post: [
      { id: 1, userId: 1, title: 't1', views: 1, published: true },
      { id: 2, userId: 1, title: 't2', views: 0, published: false },
      { id: 3, userId: 2, title: 't1', views: 2, published: true },
      { id: 4, userId: 3, title: 't3', views: 0, published: true },
      { id: 5, userId: null, title: 't2', views: 3, published: false },
    ],
    Comment: [
      { id: 1, postId: 1, body: 'c1', likes: 0 },
      { id: 2, postId: 1, body: 'c2', likes: 2 },
      { id: 3, postId: 2, body: 'c1', likes: 1 },
      { id: 4, postId: 3, body: 'c3', likes: 0 },
      { id: 5, postId: 4, body: 'c2', likes: 3 },
    ],
    Tag: [
      { id: 1, label: 'news' },
      { id: 2, label: 'tech' },
      { id: 3, label: 'fun' },
    ],
    PostTag: [
      { postId: 1, tagId: 1, weight: 1 },
      { postId: 1, tagId: 2, weight: 2 },
      { postId: 3, tagId: 1, weight: 3 },
      { postId: 4, tagId: 3, weight: 1 },
    ],
    Badge: [
      { id: 1, userHandle: 'h1', kind: 'gold', awardedAt: d[0] },
      { id: 2, userHandle: 'h1', kind: 'silver', awardedAt: d[2] },
      { id: 3, userHandle: 'h3', kind: 'gold', awardedAt: null },
    ],
  };
}

/** Empties the tables and inserts the seed rows (hooks off: no counter updates). */
export async function seedDatabase(models) {
  const rows = seedRows();
  for (const name of [...MODEL_NAMES].reverse()) {
    await models[name].bulkCreate(rows[name], { hooks: false });
  }
}
