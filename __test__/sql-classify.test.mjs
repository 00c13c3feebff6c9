// Raw SQL is never guessed read-only: a statement that writes is classified as a write naming its
// table whatever values it carries, in every dialect's quoting; the SELECTs Sequelize builds for
// finds are reads (else every cache miss would invalidate).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { Sequelize, DataTypes, Op } from 'sequelize';

const require = createRequire(import.meta.url);
const { classify } = require('../js/invalidation/sql.js');

const DIALECTS = ['sqlite', 'postgres', 'mysql', 'mariadb'];

/** A Sequelize instance per dialect that never connects: only its escaping and query generator are used. */
const offline = Object.fromEntries(
  DIALECTS.map((d) => [d, new Sequelize({ dialect: d === 'mysql' ? 'mariadb' : d, storage: ':memory:', logging: false })]),
);
const quote = (d, s) => offline[d].getQueryInterface().quoteIdentifier(s);
const escape = (d, v) => offline[d].escape(v);

test('the forms a write can hide behind are writes, naming their table', () => {
  const cases = [
    ['postgres', '/* app=billing */ UPDATE "T" SET a = 1'],
    ['postgres', '-- job\nDELETE FROM "T"'],
    ['postgres', 'WITH u AS (UPDATE "T" SET a = 1 RETURNING *) SELECT * FROM u'],
    ['postgres', '  (UPDATE "T" SET a = 1)'],
    ['postgres', 'EXPLAIN ANALYZE DELETE FROM "T"'],
    ['postgres', 'SELECT 1; UPDATE "T" SET a = 2'],
    ['postgres', 'TRUNCATE "T" CASCADE'],
    ['postgres', "SELECT E'it\\'s'; UPDATE \"T\" SET a = 1"],
    ['postgres', 'SELECT $tag$ ; $tag$; DELETE FROM "T"'],
    ['postgres', 'INSERT INTO "T" (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2'],
    ['mysql', '/*!40101 UPDATE `T` SET a = 1 */'],
    ['mysql', "SELECT 'a\\\\'; UPDATE `T` SET a = 1"],
    ['mysql', 'SELECT a--1 FROM `T`; UPDATE `T` SET a = 1'],
    ['mysql', 'REPLACE INTO `T` VALUES (1)'],
    ['mariadb', '# note\nUPDATE `T` SET a = 1'],
    ['sqlite', 'UPDATE [T] SET a = 1'],
    ['sqlite', 'INSERT OR REPLACE INTO "T" VALUES (1)'],
    ['postgres', 'CREATE OR REPLACE VIEW "T" AS SELECT 1'],
    ['postgres', 'ALTER TABLE "T" DROP COLUMN "a"'],
  ];
  for (const [dialect, sql] of cases) {
    const c = classify(sql, dialect);
    assert.equal(c.writes, true, `${dialect}: ${sql}`);
    assert.ok(c.identifiers.includes('T'), `${dialect}: names T in ${sql}`);
  }
  assert.equal(classify('TRUNCATE "T" CASCADE', 'postgres').truncateCascade, true);
  assert.equal(classify('DELETE FROM "T"', 'postgres').deletes, true);
  assert.equal(classify('UPDATE "T" SET a = 1', 'postgres').deletes, false);
});

test('reads stay reads: locks, functions named like writes, and keywords inside strings, comments and identifiers', () => {
  const reads = [
    ['postgres', 'SELECT * FROM "T" FOR UPDATE'],
    ['postgres', 'SELECT * FROM "T" FOR NO KEY UPDATE SKIP LOCKED'],
    ['postgres', 'SELECT "updatedAt", "createdAt", "deletedAt" FROM "T"'],
    ['postgres', "SELECT * FROM \"T\" WHERE name = 'DROP TABLE x; UPDATE y'"],
    ['postgres', 'SELECT * FROM "T" /* DELETE FROM T */ WHERE 1 = 1'],
    ['postgres', 'SELECT * FROM "update"'],
    ['sqlite', "SELECT REPLACE(name, 'a', 'b') FROM `T`"],
    ['mysql', 'SELECT INSERT(name, 1, 2, \'x\') FROM `T`'],
    ['mysql', "SELECT * FROM `T` WHERE a = 'it\\'s -- UPDATE'"],
    // sync() creates tables and indexes: no row a cached read returned changes.
    ['sqlite', 'CREATE TABLE IF NOT EXISTS `T` (`id` INTEGER PRIMARY KEY AUTOINCREMENT)'],
    ['postgres', 'CREATE INDEX "t_a" ON "T" ("a")'],
  ];
  for (const [dialect, sql] of reads) assert.equal(classify(sql, dialect).writes, false, `${dialect}: ${sql}`);
});

test('text the lexer cannot follow counts as a write', () => {
  assert.equal(classify("SELECT 'unterminated; UPDATE", 'postgres').writes, true);
  assert.equal(classify('SELECT 1 /* UPDATE', 'postgres').writes, true);
});

test('property: a write carrying any value is a write naming its table, in every dialect', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...DIALECTS),
      fc.string({ unit: fc.constantFrom("'", '"', '`', '\\', '-', '/', '*', '#', '$', ';', '\n', ' ', 'a', 'E', 'UPDATE', 'SELECT', '$$', '$t$', '/*', '*/', '--') }),
      fc.constantFrom('update', 'delete', 'insert', 'value-first'),
      fc.constantFrom('', '/* lead */ ', '-- lead\n'),
      (dialect, value, kind, lead) => {
        const t = quote(dialect, 'Target');
        const v = escape(dialect, value);
        const sql =
          kind === 'update'
            ? `${lead}UPDATE ${t} SET ${quote(dialect, 'name')} = ${v} WHERE ${quote(dialect, 'id')} = 1`
            : kind === 'delete'
              ? `${lead}DELETE FROM ${t} WHERE ${quote(dialect, 'name')} = ${v}`
              : kind === 'insert'
                ? `${lead}INSERT INTO ${t} (${quote(dialect, 'name')}) VALUES (${v})`
                : `${lead}SELECT ${v} AS ${quote(dialect, 'x')}; UPDATE ${t} SET ${quote(dialect, 'name')} = ${v}`;
        const c = classify(sql, dialect);
        return c.writes && c.identifiers.includes('Target');
      },
    ),
    { numRuns: 3000 },
  );
});

test("property: the SELECTs Sequelize builds for finds are reads, whatever values they carry", async () => {
  for (const dialect of DIALECTS) {
    const s = offline[dialect];
    const User = s.define('User', { name: DataTypes.STRING, age: DataTypes.INTEGER }, { paranoid: true });
    const Post = s.define('Post', { title: DataTypes.STRING });
    User.hasMany(Post);
    const qg = s.getQueryInterface().queryGenerator;
    fc.assert(
      fc.property(fc.string(), fc.integer(), fc.boolean(), (name, age, include) => {
        const options = { where: { name, age: { [Op.gte]: age }, [Op.or]: [{ name: { [Op.like]: `%${name}%` } }] }, limit: 3 };
        if (include) options.include = [{ model: Post, where: { title: name }, required: false }];
        User._injectScope(options);
        User._conformIncludes(options, User);
        User._expandIncludeAll(options);
        if (options.include) User._validateIncludedElements(options);
        const sql = qg.selectQuery(User.getTableName(), { ...options, model: User, attributes: Object.keys(User.rawAttributes) }, User);
        return classify(sql, dialect).writes === false;
      }),
      { numRuns: 300 },
    );
  }
});
