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

/** `value` in a literal form Sequelize does not write: PostgreSQL $tag$ and E'' strings, MySQL "..." strings, SQLite "..." names. */
const literal = (dialect, value, tag) => {
  if (dialect === 'postgres') {
    if (!value.includes(`$${tag}$`) && !value.endsWith('$')) return `$${tag}$${value}$${tag}$`;
    return `E'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  }
  if (dialect === 'sqlite') return `"${value.replace(/"/g, '""')}"`;
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '""')}"`;
};

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
  // What it names may be cut short: every table is invalidated.
  assert.deepEqual(classify('UPDATE "T" SET a = \'x; UPDATE "U" SET a = 1', 'postgres').identifiers, []);
});

test('property: a write carrying any value is a write naming its table, in every dialect', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...DIALECTS),
      fc.string({ unit: fc.constantFrom("'", '"', '`', '\\', '-', '/', '*', '#', '$', ';', '\n', '\r', ' ', 'a', 'E', 'é', 'UPDATE', 'SELECT', '$$', '$t$', '$q1$', '$é$', '/*', '*/', '/*!', '/*M!', '--', '--\u0001', '--\u00a0', '$a(', '[', ']') }),
      fc.constantFrom('update', 'delete', 'insert', 'value-first', 'literal-first'),
      fc.constantFrom('', '/* lead */ ', '-- lead\n', 'CREATE TABLE x (id INT PRIMARY KEY); ', 'SET a = ON; ', 'SELECT 1 FOR UPDATE; '),
      fc.constantFrom('', 'q1', '_9', 'é', 'tag'),
      (dialect, value, kind, lead, tag) => {
        const t = quote(dialect, 'Target');
        const v = escape(dialect, value);
        const sql =
          kind === 'update'
            ? `${lead}UPDATE ${t} SET ${quote(dialect, 'name')} = ${v} WHERE ${quote(dialect, 'id')} = 1`
            : kind === 'delete'
              ? `${lead}DELETE FROM ${t} WHERE ${quote(dialect, 'name')} = ${v}`
              : kind === 'insert'
                ? `${lead}INSERT INTO ${t} (${quote(dialect, 'name')}) VALUES (${v})`
                : `${lead}SELECT ${kind === 'value-first' ? v : literal(dialect, value, tag)} AS ${quote(dialect, 'x')}; UPDATE ${t} SET ${quote(dialect, 'name')} = ${v}`;
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
      fc.property(fc.string(), fc.integer(), fc.boolean(), fc.constantFrom(undefined, 'UPDATE', 'SHARE', 'KEY SHARE', 'NO KEY UPDATE', 'OF'), fc.boolean(), (name, age, include, lock, skipLocked) => {
        const options = { where: { name, age: { [Op.gte]: age }, [Op.or]: [{ name: { [Op.like]: `%${name}%` } }] }, limit: 3 };
        if (lock) Object.assign(options, { lock: lock === 'OF' ? { level: 'UPDATE', of: User } : lock, skipLocked });
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

test('a write word after FOR, KEY or ON is a write unless it is a lock or a foreign-key action', () => {
  const writes = [
    ['postgres', 'CREATE TEMP TABLE IF NOT EXISTS tmp_ids (id int PRIMARY KEY); INSERT INTO "T" (name) VALUES (\'b\')'],
    ['postgres', 'CREATE TABLE x (id int PRIMARY KEY);UPDATE "T" SET a = 1'],
    ['postgres', 'SET enable_seqscan = on; UPDATE "T" SET a = 1'],
    ['postgres', 'SELECT * FROM "U" FOR /* lock */ UPDATE; DELETE FROM "T"'],
    ['mysql', 'SET autocommit = ON; DELETE FROM `T`'],
    ['mariadb', 'CREATE TABLE IF NOT EXISTS x (id INT PRIMARY KEY); UPDATE `T` SET a = 1'],
    ['sqlite', 'CREATE TABLE x (id INTEGER PRIMARY KEY); REPLACE INTO "T" VALUES (1)'],
    // T-SQL needs no `;` between statements.
    ['mssql', 'SET NOCOUNT ON\nUPDATE [T] SET a = 1'],
    ['mssql', 'SET NOCOUNT ON DELETE FROM [T]'],
    // A rule or policy is not a foreign-key action: counted (over-invalidating is safe).
    ['postgres', 'CREATE RULE r AS ON UPDATE TO "T" DO INSTEAD NOTHING'],
    ['postgres', 'CREATE POLICY p ON "T" FOR UPDATE USING (true)'],
  ];
  for (const [dialect, sql] of writes) {
    const c = classify(sql, dialect);
    assert.equal(c.writes, true, `${dialect}: ${sql}`);
    assert.ok(c.identifiers.includes('T'), `${dialect}: names T in ${sql}`);
  }
  assert.equal(classify('SELECT 1; REPLACE(a) VALUES (1)', 'mysql').writes, true, 'a statement never starts with a function');
  const reads = [
    ['postgres', 'SELECT * FROM "T" FOR UPDATE OF "T" SKIP LOCKED;'],
    ['postgres', 'SELECT * FROM "T" FOR NO KEY UPDATE NOWAIT'],
    ['postgres', 'SELECT * FROM (SELECT * FROM "T" FOR UPDATE) s'],
    ['mysql', 'SELECT * FROM `T` LIMIT 1 FOR UPDATE;'],
    ['postgres', 'CREATE TABLE "P" ("u" INTEGER REFERENCES "T" ("id") ON DELETE CASCADE ON UPDATE SET NULL, "v" INT REFERENCES "T" ON UPDATE NO ACTION ON DELETE SET DEFAULT)'],
    ['mysql', 'CREATE TABLE `P` (`u` INT, `t` TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, FOREIGN KEY (`u`) REFERENCES `T` (`id`) ON DELETE RESTRICT ON UPDATE CASCADE)'],
  ];
  for (const [dialect, sql] of reads) assert.equal(classify(sql, dialect).writes, false, `${dialect}: ${sql}`);
});

test('PostgreSQL dollar-quote tags follow its identifier rule; a$b and é$b are identifiers', () => {
  const long = 'q'.repeat(70);
  const writes = [
    `SELECT $q1$'$q1$; UPDATE "T" SET name = 'c'; SELECT $q1$'$q1$`,
    `SELECT $_9$'$_9$; UPDATE "T" SET name = 'c'; SELECT $_9$'$_9$`,
    `SELECT $é1$'$é1$; UPDATE "T" SET name = 'c'; SELECT $é1$'$é1$`,
    `SELECT $${long}$'$${long}$; UPDATE "T" SET name = 'c'; SELECT $${long}$'$${long}$`,
    // é$q$ and a$q$ are identifiers, not a word followed by a tag.
    'SELECT 1 AS é$q$; UPDATE "T" SET a = 1; SELECT 1 AS é$q$',
    'SELECT 1 AS a$q$; UPDATE "T" SET a = 1; SELECT 1 AS a$q$',
  ];
  for (const sql of writes) {
    const c = classify(sql, 'postgres');
    assert.equal(c.writes, true, sql);
    assert.ok(c.identifiers.includes('T'), `names T in ${sql}`);
  }
  assert.equal(classify('SELECT $q1$ UPDATE "T" $q1$, $é$ DELETE $é$ FROM "T" WHERE a = $1', 'postgres').writes, false);
});

test('MySQL and MariaDB executable comments (/*! */, /*M! */) are writes naming nothing, so every table is invalidated', () => {
  const cases = [
    ['mariadb', '/*M! UPDATE `T` SET a = 1 */'],
    ['mariadb', '/*M!100100 DELETE FROM `T` */'],
    ['mysql', '/*M!100100 DELETE FROM `T` */'],
    ['mysql', '/*!50100 UPDATE `T` SET a = 1 */'],
    // A version above the server's makes its text a comment: a quote there opens nothing.
    ['mariadb', "SELECT 1 /*!99999 ' */; UPDATE `T` SET a = 1; -- '"],
  ];
  for (const [dialect, sql] of cases) {
    const c = classify(sql, dialect);
    assert.equal(c.writes, true, `${dialect}: ${sql}`);
    assert.deepEqual(c.identifiers, [], `${dialect}: names nothing in ${sql}`);
  }
  // Optimizer hints are comments; PostgreSQL and SQLite have no executable comments.
  assert.equal(classify("SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM `T` WHERE a = 'update'", 'mysql').writes, false);
  assert.equal(classify('SELECT /*! UPDATE */ 1', 'postgres').writes, false);
});

test('comment, string and parameter forms each dialect lexes its own way', () => {
  const writes = [
    // PostgreSQL ends a -- comment at \r as well as \n.
    ['postgres', 'SELECT 1; -- note\rUPDATE "T" SET a = 1'],
    // Whitespace and a comment with a newline continue an E'' string, backslash escapes included.
    ['postgres', "SELECT E'a'\n'\\''; UPDATE \"T\" SET a = 1; SELECT 'x' -- '"],
    ['postgres', "SELECT E'a' -- c\n  -- d\n'\\''; UPDATE \"T\" SET a = 1; SELECT 'x' -- '"],
    // MySQL: -- then a control character is a comment; -- then a non-ASCII space is not.
    ['mariadb', "SELECT 1; --\u0001 '\nUPDATE `T` SET a = 1 -- '"],
    ['mysql', "SELECT 1; --\u007f '\nUPDATE `T` SET a = 1 -- '"],
    ['mariadb', 'SELECT 1 --\u00a0 FROM (SELECT 2 AS `\u00a0`) d; UPDATE `T` SET a = 1'],
    // Under ANSI_QUOTES "..." is an identifier with no backslash escapes.
    ['mariadb', 'SELECT 1 AS "a\\"; UPDATE `T` SET a = 1 WHERE \'x\' <> \'\\"\'; SELECT 1 -- "'],
    // SQLite's Tcl-style parameters take a (...) suffix, quotes and all.
    ['sqlite', "WITH c AS (SELECT $a(')) UPDATE \"T\" SET x = 1 -- '"],
    ['sqlite', "WITH c AS (SELECT @a::b(')) UPDATE \"T\" SET x = 1 -- '"],
    // T-SQL nests block comments and doubles ] in bracketed names.
    ['mssql', "/* /* */ 'x */ UPDATE [T] SET a = 1 -- '"],
    ['mssql', "SELECT [a]]'] ; UPDATE [T] SET a = 1 -- '"],
  ];
  for (const [dialect, sql] of writes) {
    const c = classify(sql, dialect);
    assert.equal(c.writes, true, `${dialect}: ${JSON.stringify(sql)}`);
    if (!c.identifiers.includes('T')) assert.deepEqual(c.identifiers, [], `${dialect}: names T or nothing in ${JSON.stringify(sql)}`);
  }
});

test('the tables sync() creates with foreign-key actions are reads, in every dialect', () => {
  const actions = ['CASCADE', 'SET NULL', 'SET DEFAULT', 'RESTRICT', 'NO ACTION'];
  for (const dialect of DIALECTS) {
    const s = offline[dialect];
    const qi = s.getQueryInterface();
    for (const onDelete of actions) {
      for (const onUpdate of actions) {
        const attributes = {
          id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
          UserId: { type: DataTypes.INTEGER, references: { model: 'Users', key: 'id' }, onDelete, onUpdate },
        };
        const normalized = Object.fromEntries(Object.entries(attributes).map(([k, a]) => [k, s.normalizeAttribute(a)]));
        const sql = qi.queryGenerator.createTableQuery('Posts', qi.queryGenerator.attributesToSQL(normalized, { table: 'Posts', context: 'createTable' }), {});
        assert.equal(classify(sql, dialect).writes, false, `${dialect}: ${sql}`);
      }
    }
  }
});
