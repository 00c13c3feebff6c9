// Model-based consistency: seeded random operations run against a real database through the
// cache, and every cached read is compared with the same read run uncached. Any difference is a
// stale or wrong row; the failure prints the seed, the operations since the last fully consistent
// point, and the shortest reproduction the shrinker found in its time budget.
//
//   SNC_FUZZ_SEED=<n>  replays a seed (default: a new one per run, printed in the suite's name)
//   npm run fuzz       the same at length (scripts/fuzz.mjs)
//
// Then deterministic regressions, one per defect the fuzz found, each a few operations long.
// The schema, the operations and the checks live in support/model-based/.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { QueryTypes } from 'sequelize';
import { probeDialects, registerUnavailable } from './support/dialects.mjs';
import { startRedis, freePort } from './support/redis-server.mjs';
import {
  runKind,
  describeKind,
  CACHE_KINDS,
  openEnv,
  preparePg,
  dropPg,
  newPgSchema,
  diff,
} from './support/model-based/index.mjs';

const seed = process.env.SNC_FUZZ_SEED !== undefined ? Number(process.env.SNC_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
/** Operations and wall-clock budget per kind, sized so the whole file stays near two minutes. */
const BUDGET = {
  sqlite: { ops: 400, seconds: 9 },
  postgres: { ops: 300, seconds: 10 },
  '2proc': { ops: 100, seconds: 12 },
};
const SHRINK_SECONDS = 5;

const probed = (await probeDialects()).filter((d) => d.name === 'sqlite' || d.name === 'postgres');
for (const d of probed) if (!d.available) registerUnavailable(d, 'model-based consistency');
const dialects = probed.filter((d) => d.available).map((d) => d.name);

let redisProc;
let redisUrl;
before(async () => {
  const port = await freePort();
  redisProc = await startRedis(port);
  redisUrl = `redis://127.0.0.1:${port}`;
});
after(() => redisProc?.kill('SIGKILL'));

/** Runs one kind within its budget; fails with the reports of what was stale. */
async function fuzzKind(t, k) {
  const budget = BUDGET[k.dialect];
  const row = await runKind(k, {
    redisUrl,
    total: budget.ops,
    runOps: budget.ops,
    firstSeed: seed,
    shrinkMs: SHRINK_SECONDS * 1000,
    shrinkPerSignature: 1,
    deadline: Date.now() + budget.seconds * 1000,
  });
  t.diagnostic(`${describeKind(k)}: seed ${seed}, ${row.ops} operations, ${row.reads} reads compared, ${row.hits} hits / ${row.misses} misses${row.converged ? `, ${row.converged} reads stale at first that converged` : ''}`);
  assert.ok(row.ops > 0 && row.reads > 0, 'the run compared reads');
  if (row.mismatches > 0) assert.fail(row.signatures.map((s) => s.text).join('\n\n'));
}

describe(`model-based consistency (seed ${seed}; SNC_FUZZ_SEED=${seed} replays it)`, () => {
  for (const dialect of dialects) {
    for (const kind of CACHE_KINDS) {
      test(`${dialect}/${kind}: every cached read equals the database`, (t) => fuzzKind(t, { dialect, kind }));
    }
  }
  if (dialects.includes('postgres')) {
    test('two processes over PostgreSQL and Redis, l1: false: no staleness window at all', (t) => fuzzKind(t, { dialect: '2proc', kind: 'redis-nol1' }));
    test('two processes over PostgreSQL and Redis, default L1: every cached read converges to the database', (t) =>
      fuzzKind(t, { dialect: '2proc', kind: 'redis' }));
  }
});

// ---------------------------------------------------------------------------------------------
// Regressions: one per defect the fuzz found (see the findings notes), each the shortest
// sequence that showed it, written out. Each runs on the fuzz schema and its seed rows:
// users 1–4 (handles h1–h4), posts 1–5 (posts 1 and 2 belong to user 1), comments 1–5 (1 and 2
// on post 1, 3 on post 2), tags 1–3, post-tags (1,1) (1,2) (3,1) (4,3), badges 1–3 (1 and 2 on
// handle h1).

let pgSchema;
before(async () => {
  if (dialects.includes('postgres')) await preparePg((pgSchema = newPgSchema()));
});
after(async () => {
  if (pgSchema) await dropPg(pgSchema);
});

/** Runs `fn(env)` on a freshly seeded database with a cache of `kind`. */
async function withEnv(dialect, kind, fn) {
  const env = await openEnv({ dialect, kind, schema: pgSchema, redisUrl });
  try {
    await fn(env);
  } finally {
    await env.close();
  }
}

/** Asserts that `cached()` now answers what the database answers (`uncached()`). */
async function assertFresh(what, cached, uncached, d = { q: 'usersAll' }) {
  const c = { ok: await cached() };
  const u = { ok: await uncached() };
  const delta = diff(d, c, u);
  if (delta !== null) assert.fail(`${what}: the cached read is stale (cached → database):\n  ${delta.detail ? delta.detail.join('\n  ') : `${delta.cached} → ${delta.db}`}`);
}

/** The quoted, schema-qualified table of a model, for raw SQL. */
function tableOf(env, Model) {
  return env.sequelize.getQueryInterface().queryGenerator.quoteTable(Model.getTableName());
}

const REGRESSION_KINDS = ['memory'];

describe('regressions found by the model-based fuzz', () => {
  for (const dialect of dialects) {
    for (const kind of REGRESSION_KINDS) {
      const name = (s) => `${dialect}/${kind}: ${s}`;

      test(name('a delete that cascades two levels (User → Post → Comment, PostTag) makes the grandchildren stale'), () =>
        withEnv(dialect, kind, async (env) => {
          const { User, Comment, PostTag } = env.models;
          const comment = () => env.modelCache.wrap(Comment).findByPk(1);
          const tags = () => PostTag.cache().findAll({ order: [['postId', 'ASC'], ['tagId', 'ASC']] });
          await comment();
          await tags();
          await User.destroy({ where: { id: 1 } }); // the database deletes posts 1, 2, their comments and post-tags
          await assertFresh('Comment 1 (its post was deleted by cascade)', comment, () => Comment.findByPk(1));
          await assertFresh('PostTag rows', tags, () => PostTag.findAll({ order: [['postId', 'ASC'], ['tagId', 'ASC']] }));
        }),
      );

      test(name('ON UPDATE CASCADE of a non-primary key (User.handle → Badge.userHandle) makes the referencing rows stale'), () =>
        withEnv(dialect, kind, async (env) => {
          const { User, Badge } = env.models;
          const badges = () => env.modelCache.wrap(Badge).findAll({ where: { userHandle: 'h1' }, order: [['id', 'ASC']] });
          const badge = () => Badge.cache().findByPk(1);
          await badges();
          await badge();
          await User.update({ handle: 'h9' }, { where: { id: 1 } }); // the database rewrites badges 1 and 2
          await assertFresh("badges of handle 'h1'", badges, () => Badge.findAll({ where: { userHandle: 'h1' }, order: [['id', 'ASC']] }));
          await assertFresh('badge 1 (entity entry)', badge, () => Badge.findByPk(1));
        }),
      );

      test(name('ON UPDATE CASCADE of a primary key (Post.id → Comment.postId) makes the referencing rows stale'), () =>
        withEnv(dialect, kind, async (env) => {
          const { Post, Comment } = env.models;
          const count = () => env.modelCache.wrap(Comment).count({ where: { postId: 1 } });
          await count();
          await Post.cache().update({ id: 9 }, { where: { id: 1 } }); // the database moves comments 1 and 2 to post 9
          await assertFresh('comments of post 1', count, () => Comment.count({ where: { postId: 1 } }));
        }),
      );

      test(name('a raw write with a leading comment (/* app=billing */ UPDATE ...) invalidates'), () =>
        withEnv(dialect, kind, async (env) => {
          const { User } = env.models;
          const read = () => env.modelCache.wrap(User).findByPk(2);
          await read();
          await env.sequelize.query(`/* app=billing */ UPDATE ${tableOf(env, User)} SET "visits" = 9 WHERE "id" = 2`);
          await assertFresh('user 2', read, () => User.findByPk(2));
        }),
      );

      test(name('UPDATE ... RETURNING * run with { model, mapToModel: true } invalidates'), () =>
        withEnv(dialect, kind, async (env) => {
          const { User } = env.models;
          const read = () => User.cache().findAll({ order: [['id', 'ASC']] });
          await read();
          await env.sequelize.query(`UPDATE ${tableOf(env, User)} SET "visits" = 9 WHERE "id" = 2 RETURNING *`, { model: User, mapToModel: true });
          await assertFresh('all users', read, () => User.findAll({ order: [['id', 'ASC']] }));
        }),
      );

      if (dialect === 'postgres') {
        test(name('a data-modifying CTE (WITH u AS (UPDATE ... RETURNING *) SELECT ...) invalidates'), () =>
          withEnv(dialect, kind, async (env) => {
            const { User, Post } = env.models;
            const user = () => env.modelCache.wrap(User).findByPk(2);
            const posts = () => Post.cache('posts-of-user-1').findAll({ where: { userId: 1 }, order: [['id', 'ASC']] });
            await user();
            await posts();
            await env.sequelize.query(`WITH u AS (UPDATE ${tableOf(env, User)} SET "visits" = 9 WHERE "id" = 2 RETURNING *) SELECT * FROM u`, {
              type: QueryTypes.SELECT,
            });
            await env.sequelize.query(`WITH d AS (DELETE FROM ${tableOf(env, Post)} WHERE "id" = 1 RETURNING *) SELECT count(*) FROM d`, {
              type: QueryTypes.SELECT,
            });
            await assertFresh('user 2 (CTE update)', user, () => User.findByPk(2));
            await assertFresh('posts of user 1 (CTE delete)', posts, () => Post.findAll({ where: { userId: 1 }, order: [['id', 'ASC']] }));
          }),
        );
      }
    }

    for (const kind of CACHE_KINDS) {
      test(`${dialect}/${kind}: single-flight: a read issued after a write returned does not get the result of a miss that started before the write`, () =>
        withEnv(dialect, kind, async (env) => {
          const { User } = env.models;
          // Holds miss A back after its database read (of the old row) until B has been issued.
          const slow = function slowRead() {};
          let entered;
          let release;
          const inDatabase = new Promise((r) => (entered = r));
          const held = new Promise((r) => (release = r));
          let taken = false;
          env.sequelize.addHook('afterQuery', async (options) => {
            if (options.logging === slow && !taken) {
              taken = true;
              entered();
              await held;
            }
          });
          const read = () => env.modelCache.wrap(User).findByPk(1, { logging: slow });
          const a = read();
          await inDatabase;
          await User.update({ visits: 99 }, { where: { id: 1 } });
          const b = read(); // issued after the write returned: must see it
          // A B that answers on its own does so quickly; a B waiting for A cannot answer before A goes on.
          await Promise.race([b, new Promise((r) => setTimeout(r, 150))]);
          release();
          await a;
          assert.equal((await b).visits, 99, 'B returned the row as it was before the write');
        }),
      );
    }
  }
});
