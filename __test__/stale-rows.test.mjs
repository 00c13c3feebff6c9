// No stale row: the writes the database makes by itself (foreign-key cascades, any number of levels
// deep), writes hidden in raw SQL, and reads that would join a database read begun before a write.
// Every case reads through the cache, writes, and compares the next cached read with the database.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DataTypes, Op, QueryTypes } from 'sequelize';
import { MemoryCache, modelCacheFactory, withCache } from '../js/index.mjs';
import { dialectsToRun } from './support/dialects.mjs';
import { recordingLogger } from './support/suite.mjs';

const dialects = await dialectsToRun('stale rows after cascades, raw writes and single-flight');

/** Plain data of a result, for comparing a cached read with the database's. */
const plain = (r) => JSON.parse(JSON.stringify(r));

async function schema(sequelize) {
  const prefix = 'sr_';
  const User = sequelize.define('User', { name: DataTypes.STRING }, { tableName: `${prefix}users` });
  const Post = sequelize.define('Post', { title: DataTypes.STRING }, { tableName: `${prefix}posts` });
  const Tag = sequelize.define('Tag', { label: DataTypes.STRING }, { tableName: `${prefix}tags` });
  const PostTag = sequelize.define('PostTag', {}, { tableName: `${prefix}post_tags` });
  User.hasMany(Post, { foreignKey: { name: 'userId', allowNull: false }, onDelete: 'CASCADE' });
  Post.belongsTo(User, { foreignKey: { name: 'userId', allowNull: false }, onDelete: 'CASCADE' });
  Post.belongsToMany(Tag, { through: PostTag, foreignKey: 'postId', otherKey: 'tagId' });
  Tag.belongsToMany(Post, { through: PostTag, foreignKey: 'tagId', otherKey: 'postId' });
  // A key that changes: ON UPDATE CASCADE rewrites the children's foreign keys.
  const Team = sequelize.define('Team', { code: { type: DataTypes.STRING(20), primaryKey: true } }, { tableName: `${prefix}teams`, timestamps: false });
  const Member = sequelize.define('Member', { name: DataTypes.STRING }, { tableName: `${prefix}members`, timestamps: false });
  Team.hasMany(Member, { foreignKey: 'teamCode', onUpdate: 'CASCADE', onDelete: 'CASCADE' });
  Member.belongsTo(Team, { foreignKey: 'teamCode', onUpdate: 'CASCADE', onDelete: 'CASCADE' });
  // A cycle: employees report to employees.
  const Employee = sequelize.define('Employee', { name: DataTypes.STRING }, { tableName: `${prefix}employees`, timestamps: false });
  Employee.belongsTo(Employee, { as: 'manager', foreignKey: 'managerId', onDelete: 'CASCADE' });
  await sequelize.drop();
  await sequelize.sync({ force: true });
  const alice = await User.create({ name: 'alice' });
  const bob = await User.create({ name: 'bob' });
  const p1 = await Post.create({ title: 'a1', userId: alice.id });
  const p2 = await Post.create({ title: 'b1', userId: bob.id });
  const [t1, t2] = await Tag.bulkCreate([{ label: 'x' }, { label: 'y' }]);
  await p1.setTags([t1, t2]);
  await p2.setTags([t1]);
  await Team.create({ code: 'red' });
  await Member.bulkCreate([{ name: 'm1', teamCode: 'red' }, { name: 'm2', teamCode: 'red' }]);
  const boss = await Employee.create({ name: 'boss' });
  const mid = await Employee.create({ name: 'mid', managerId: boss.id });
  await Employee.create({ name: 'low', managerId: mid.id });
  return { User, Post, Tag, PostTag, Team, Member, Employee, alice, bob, p1, p2 };
}

for (const dialect of dialects) {
  describe(`${dialect.label}: no stale row`, () => {
    let sequelize;
    let m;
    let client;
    let cache;
    let cached;
    let logger;
    before(async () => {
      sequelize = dialect.create();
      m = await schema(sequelize);
      client = new MemoryCache();
      logger = recordingLogger();
      cache = await modelCacheFactory(client, logger);
      cached = withCache(client, { logger });
      for (const M of [m.User, m.Post, m.Tag, m.PostTag, m.Team, m.Member, m.Employee]) cached.withCache(M);
    });
    after(() => sequelize.close());

    /** Reads through both API styles twice (the second is a hit), then checks both equal the database. */
    async function agree(Model, method, options, what) {
      const fresh = plain(await Model[method](options));
      for (const read of [() => cache.wrap(Model)[method](options), () => Model.cache()[method](options)]) {
        await read();
        assert.deepEqual(plain(await read()), fresh, `${what}: a cached ${Model.name}.${method} equals the database`);
      }
      return fresh;
    }

    test('a delete cascades through every level: User → Post → PostTag (belongsToMany through)', async () => {
      const q = { where: { postId: m.p1.id } };
      assert.equal(await agree(m.PostTag, 'count', q, 'before'), 2);
      await agree(m.Post, 'findAll', { where: { userId: m.alice.id }, include: m.Tag, order: [['id', 'ASC']] }, 'before');
      await m.User.destroy({ where: { id: m.alice.id } });
      assert.equal(await agree(m.PostTag, 'count', q, 'after the user was deleted'), 0);
      assert.deepEqual(await agree(m.Post, 'findAll', { where: { userId: m.alice.id }, include: m.Tag, order: [['id', 'ASC']] }, 'after'), []);
    });

    test('a key change cascades: ON UPDATE CASCADE rewrites the children, and their cached reads follow', async () => {
      const q = { where: { teamCode: 'red' }, order: [['id', 'ASC']] };
      assert.equal((await agree(m.Member, 'findAll', q, 'before')).length, 2);
      await agree(m.Member, 'count', { where: { teamCode: 'blue' } }, 'before');
      await m.Team.update({ code: 'blue' }, { where: { code: 'red' } });
      assert.equal((await agree(m.Member, 'findAll', q, 'after the key moved')).length, 0);
      assert.equal(await agree(m.Member, 'count', { where: { teamCode: 'blue' } }, 'after the key moved'), 2);
    });

    test('a cycle of references is walked to its end: deleting the boss removes every report below', async () => {
      const q = { order: [['id', 'ASC']] };
      assert.equal((await agree(m.Employee, 'findAll', q, 'before')).length, 3);
      const boss = await m.Employee.findOne({ where: { name: 'boss' } });
      await boss.destroy();
      assert.equal((await agree(m.Employee, 'findAll', q, 'after')).length, 0);
    });

    test('raw writes are seen past a leading comment, and a write to a table no model names invalidates everything (counted)', async () => {
      const users = m.User.getTableName();
      const table = typeof users === 'string' ? users : users.tableName;
      const q = { where: { id: m.bob.id } };
      await agree(m.User, 'findOne', q, 'before');
      const qi = sequelize.getQueryInterface();
      await sequelize.query(`/* app=billing */ UPDATE ${qi.quoteIdentifier(table)} SET ${qi.quoteIdentifier('name')} = 'bob2' WHERE ${qi.quoteIdentifier('id')} = ${m.bob.id}`);
      assert.equal((await agree(m.User, 'findOne', q, 'after a commented UPDATE')).name, 'bob2');
      // (node-sqlite3 runs nothing after a leading line comment, so SQLite gets a second block comment.)
      const lead = dialect.name === 'sqlite' ? '/* nightly job */' : '-- nightly job\n ';
      await sequelize.query(`${lead} UPDATE ${qi.quoteIdentifier(table)} SET ${qi.quoteIdentifier('name')} = 'bob3' WHERE ${qi.quoteIdentifier('id')} = ${m.bob.id}`);
      assert.equal((await agree(m.User, 'findOne', q, 'after a line comment')).name, 'bob3');
      const before = client.stats().conservativeInvalidations;
      await sequelize.query('CREATE TABLE sr_audit (id INTEGER)');
      assert.equal(client.stats().conservativeInvalidations, before, 'creating a table changes no cached row');
      await sequelize.query('INSERT INTO sr_audit VALUES (1)');
      assert.equal(client.stats().conservativeInvalidations, before + 1, 'a write to a table no model names is counted');
      assert.equal((await agree(m.User, 'findOne', q, 'after')).name, 'bob3');
      await sequelize.query('DROP TABLE sr_audit');
    });

    test('raw SQL given a write type and a model is read too: the other tables it writes go stale', async () => {
      const q = { where: { id: m.bob.id } };
      await agree(m.User, 'findOne', q, 'before');
      const qi = sequelize.getQueryInterface();
      const table = m.User.getTableName();
      // Typed as a write of Post, but it writes the users table.
      await sequelize.query(`UPDATE ${qi.quoteIdentifier(table)} SET ${qi.quoteIdentifier('name')} = 'typed' WHERE ${qi.quoteIdentifier('id')} = ${m.bob.id}`, {
        type: QueryTypes.UPDATE,
        model: m.Post,
      });
      assert.equal((await agree(m.User, 'findOne', q, 'after an UPDATE typed as a write of another model')).name, 'typed');
    });

    if (dialect.name === 'postgres') {
      test('PostgreSQL: a data-modifying CTE and UPDATE ... RETURNING run as a SELECT or mapped to the model are writes', async () => {
        const q = { where: { id: m.bob.id } };
        await agree(m.User, 'findOne', q, 'before');
        await sequelize.query(`WITH u AS (UPDATE "sr_users" SET "name" = 'cte' WHERE "id" = ${m.bob.id} RETURNING *) SELECT * FROM u`);
        assert.equal((await agree(m.User, 'findOne', q, 'after a CTE')).name, 'cte');
        await sequelize.query(`UPDATE "sr_users" SET "name" = 'mapped' WHERE "id" = ${m.bob.id} RETURNING *`, { model: m.User, mapToModel: true });
        assert.equal((await agree(m.User, 'findOne', q, 'after UPDATE ... RETURNING mapped to the model')).name, 'mapped');
        await sequelize.query(`UPDATE "sr_users" SET "name" = 'selected' WHERE "id" = ${m.bob.id} RETURNING *`, { type: QueryTypes.SELECT });
        assert.equal((await agree(m.User, 'findOne', q, 'after UPDATE ... RETURNING as SELECT')).name, 'selected');
      });
    }

    /**
     * A gate on the Sequelize instance: a read passing `logging: gate.marker` (which no key takes
     * into account) is held before its SELECT runs until `gate.open()`.
     */
    function gate(name) {
      let open;
      const opened = new Promise((resolve) => (open = resolve));
      const g = { held: 0, open, marker: () => {} };
      sequelize.addHook('beforeQuery', name, async (options) => {
        if (options.logging === g.marker) {
          g.held++;
          await opened;
        }
      });
      g.remove = () => {
        open();
        sequelize.removeHook('beforeQuery', name);
      };
      return g;
    }

    test('a read issued after a committed write never joins a database read that began before it', async () => {
      for (const [style, read] of [
        ['wrap', (o) => cache.wrap(m.Post).findAll(o)],
        ['cache()', (o) => m.Post.cache().findAll(o)],
      ]) {
        const g = gate(`gate-${style}`);
        try {
          // Each style its own query (both styles share one engine and its keys).
          const options = { where: { title: { [Op.ne]: `gate-probe-${style}` } }, order: [['id', 'ASC']] };
          const a = read({ ...options, logging: g.marker });
          await new Promise((r) => setTimeout(r, 20));
          assert.equal(g.held, 1, `${style}: the first read is held at the gate`);
          await m.Post.update({ title: `written-after-a-began-${style}` }, { where: { id: m.p2.id } });
          const b = await read(options);
          assert.ok(plain(b).some((p) => p.title === `written-after-a-began-${style}`), `${style}: B, issued after the write, sees it`);
          g.open();
          await a;
          assert.ok(plain(await read(options)).some((p) => p.title === `written-after-a-began-${style}`), `${style}: A did not store its older rows`);
        } finally {
          g.remove();
        }
      }
    });

    test('Model.cache().findByPk issued after a committed write never joins an older read of the row', async () => {
      await m.Post.cache().clear();
      const g = gate('gate-pk');
      try {
        const a = m.Post.cache().findByPk(m.p2.id, { logging: g.marker });
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(g.held, 1, 'the first read is held at the gate');
        await m.Post.update({ title: 'pk-after' }, { where: { id: m.p2.id } });
        const b = await m.Post.cache().findByPk(m.p2.id);
        assert.equal(b.title, 'pk-after');
        g.open();
        await a;
        assert.equal((await m.Post.cache().findByPk(m.p2.id)).title, 'pk-after', 'the older read stored nothing');
      } finally {
        g.remove();
      }
    });
  });
}
