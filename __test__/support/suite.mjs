// Helpers shared by the suites: a logger that records its lines, SQL statement counting, a
// one-table SQLite schema, and polling without timing assertions.
import { Sequelize, DataTypes } from 'sequelize';

/**
 * A logger keeping `{ level, code, obj, msg, error, text }` per line (`text`: all of it, for leak
 * checks).
 */
export function recordingLogger() {
  const lines = [];
  const log = (level) => (obj, msg) => lines.push({ level, code: obj && obj.code, obj, msg, error: obj && obj.error, text: `${msg} ${JSON.stringify(obj)}` });
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/**
 * SQL statement counting: pass `logging` to Sequelize; `counted(fn)` runs `fn` and resolves to
 * [its result, the statements it issued]; `sql` holds every statement.
 */
export function sqlCounter() {
  const sql = [];
  const counted = async (fn) => {
    const n = sql.length;
    const r = await fn();
    return [r, sql.length - n];
  };
  return { sql, logging: (s) => sql.push(s), counted };
}

/** A `User` table on SQLite (`storage`: a file shared by two "app servers", or memory). */
export async function schema(storage = ':memory:') {
  const { logging, counted } = sqlCounter();
  const sequelize = new Sequelize({ dialect: 'sqlite', storage, logging });
  const User = sequelize.define('User', { name: DataTypes.STRING });
  await sequelize.sync();
  return { sequelize, User, counted };
}

/** Polls `read` until `done(result)`, for up to about `seconds`; returns whether it got there. */
export async function eventually(read, done, seconds = 5) {
  for (let i = 0; i < seconds * 20; i++) {
    if (done(await read())) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Runs `fn` with SNC_REDIS_TRANSPORT set to `transport` (undefined: the default), then restores it. */
export function withTransport(transport, fn) {
  const saved = process.env.SNC_REDIS_TRANSPORT;
  if (transport === undefined) delete process.env.SNC_REDIS_TRANSPORT;
  else process.env.SNC_REDIS_TRANSPORT = transport;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.SNC_REDIS_TRANSPORT;
    else process.env.SNC_REDIS_TRANSPORT = saved;
  }
}
