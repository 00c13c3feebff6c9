// Which databases a test file runs against.
//
// SQLite (in memory) always runs. PostgreSQL and MariaDB run when they answer; when one does not:
// - with SNC_REQUIRE_ALL_DIALECTS=1 the test file must FAIL (use `registerUnavailable`, which
//   registers a failing test naming the database);
// - otherwise a loud warning is printed and a TODO test names the database that was NOT tested.
// A database is never skipped silently.
//
// Connection URLs can be overridden with SNC_POSTGRES_URL and SNC_MARIADB_URL.
import { test } from 'node:test';
import { Sequelize } from 'sequelize';

export const POSTGRES_URL = process.env.SNC_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';
export const MARIADB_URL = process.env.SNC_MARIADB_URL || 'mariadb://root@127.0.0.1:3306/test';

const CONNECT_TIMEOUT_MS = Number(process.env.SNC_CONNECT_TIMEOUT_MS || 3000);

/** Every dialect the suites know, with a factory for a fresh Sequelize instance. */
export const DIALECTS = Object.freeze([
  {
    name: 'sqlite',
    label: 'SQLite',
    optional: false,
    create: () => new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false }),
  },
  {
    name: 'postgres',
    label: 'PostgreSQL',
    optional: true,
    url: POSTGRES_URL,
    create: () =>
      new Sequelize(POSTGRES_URL, {
        dialect: 'postgres',
        logging: false,
        dialectOptions: { connectionTimeoutMillis: CONNECT_TIMEOUT_MS },
        pool: { max: 2, acquire: CONNECT_TIMEOUT_MS + 2000 },
      }),
  },
  {
    name: 'mariadb',
    label: 'MariaDB',
    optional: true,
    url: MARIADB_URL,
    create: () =>
      new Sequelize(MARIADB_URL, {
        dialect: 'mariadb',
        logging: false,
        dialectOptions: { connectTimeout: CONNECT_TIMEOUT_MS },
        pool: { max: 2, acquire: CONNECT_TIMEOUT_MS + 2000 },
      }),
  },
]);

/** True when SNC_REQUIRE_ALL_DIALECTS=1: an unreachable database fails the suite. */
export const requireAllDialects = () => process.env.SNC_REQUIRE_ALL_DIALECTS === '1';

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Probes every dialect. Resolves to one entry per dialect:
 * `{ name, label, available: true, create }` or `{ name, label, available: false, reason }`.
 * The probe connection is closed; call `create()` for the instance the tests use.
 */
export async function probeDialects({ timeoutMs = CONNECT_TIMEOUT_MS } = {}) {
  return Promise.all(
    DIALECTS.map(async (dialect) => {
      const { name, label, create } = dialect;
      let sequelize;
      try {
        sequelize = create();
        await withTimeout(sequelize.authenticate(), timeoutMs + 1000, `${label} at ${dialect.url ?? 'memory'}`);
        return { name, label, available: true, create };
      } catch (err) {
        return { name, label, available: false, reason: `${label} (${dialect.url ?? 'memory'}) is unreachable: ${err.message}` };
      } finally {
        await sequelize?.close().catch(() => {});
      }
    }),
  );
}

/**
 * Registers what an unavailable dialect leaves behind, so it can never pass unnoticed:
 * a failing test when SNC_REQUIRE_ALL_DIALECTS=1, otherwise a loud warning and a TODO test.
 * @param {{ label: string, reason: string }} dialect
 * @param {string} suiteName what was not tested, for the message
 */
export function registerUnavailable(dialect, suiteName) {
  const message = `${dialect.label} NOT TESTED (${suiteName}): ${dialect.reason}`;
  if (requireAllDialects()) {
    test(`${dialect.label}: the database is reachable (SNC_REQUIRE_ALL_DIALECTS=1)`, () => {
      throw new Error(`${message}. SNC_REQUIRE_ALL_DIALECTS=1 requires every dialect to run.`);
    });
    return;
  }
  console.warn(`!!! ${message}`);
  test(`${dialect.label}: NOT TESTED — database unreachable`, { todo: message }, (t) => {
    t.diagnostic(`!!! ${message}`);
    t.diagnostic('Set SNC_REQUIRE_ALL_DIALECTS=1 to make this a failure.');
  });
}

/**
 * Probes the dialects and returns the reachable ones; registers a failing or TODO test for each
 * unreachable one (see `registerUnavailable`). Call it at the top level of a test file:
 *
 *   for (const dialect of await dialectsToRun('my suite')) describe(dialect.label, () => { ... });
 */
export async function dialectsToRun(suiteName) {
  const probed = await probeDialects();
  for (const d of probed) if (!d.available) registerUnavailable(d, suiteName);
  return probed.filter((d) => d.available);
}
