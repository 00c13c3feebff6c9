'use strict';
// What a SQL statement may write, read from its text.
//
// Sequelize tells the afterQuery hook the type and model of the writes it builds itself. Every
// other statement — raw `sequelize.query`, queryInterface calls, and a find run with SQL that
// writes (`UPDATE ... RETURNING *` with `mapToModel` or `type: SELECT`) — is classified here. The
// rule is never to guess "read-only": a statement is a read only when no write keyword appears in
// it outside comments, string literals and quoted identifiers, and any text the lexer cannot
// follow (an unterminated string or comment) counts as a write.
//
// Not seen (documented in the README): writes made by functions or procedures a SELECT calls.

/**
 * Words that start or mark a statement that changes rows. `CREATE` is not one: a new table, index
 * or function changes no row a cached read returned (`sync()` runs it for every model), while
 * `CREATE OR REPLACE VIEW` is caught by its REPLACE.
 */
const WRITE_WORDS = new Set([
  'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'TRUNCATE', 'REPLACE', 'UPSERT', 'ALTER', 'DROP', 'RENAME',
  'COPY', 'CALL', 'EXEC', 'EXECUTE', 'DO', 'LOAD', 'REFRESH',
]);
/** Words after which a write word is part of a clause, not a write: FOR UPDATE, FOR NO KEY UPDATE, ON DELETE. */
const CLAUSE_LEADS = new Set(['FOR', 'KEY', 'ON']);
/** Write words that are also SQL functions (`REPLACE(s, a, b)`, MySQL's `INSERT(s, ...)`). */
const ALSO_FUNCTIONS = new Set(['REPLACE', 'INSERT']);
/** Statements that delete rows, so foreign keys' ON DELETE actions apply. */
const DELETE_WORDS = new Set(['DELETE', 'TRUNCATE', 'DROP', 'REPLACE', 'MERGE']);

/**
 * A cheap first look: a text in which no write word ends a word (as the lexer below cuts words)
 * cannot write. (`"updatedAt"` and `createdAt` pass it; most SELECTs never reach the lexer.)
 */
const MAYBE_WRITE = /(insert|update|delete|merge|truncate|replace|upsert|alter|drop|rename|copy|call|exec|execute|do|load|refresh)(?![A-Za-z0-9_$])/i;

/**
 * Reads `sql` as the dialect does and returns `{ writes, deletes, truncateCascade, identifiers }`:
 * whether it may write, whether it may delete rows, whether it truncates with CASCADE, and every
 * identifier it names (quoted or not, each part of a dotted name separately). `dialect` is
 * Sequelize's dialect name (string escapes and comment syntax differ).
 */
function classify(sql, dialect) {
  if (typeof sql !== 'string' || !MAYBE_WRITE.test(sql)) return { writes: false, deletes: false, truncateCascade: false, identifiers: [] };
  const mysql = dialect === 'mysql' || dialect === 'mariadb';
  const postgres = dialect === 'postgres';
  const brackets = dialect === 'sqlite' || dialect === 'mssql';
  const words = [];
  const identifiers = [];
  let anomaly = false;
  let i = 0;
  const n = sql.length;
  // Finds the end of a quoted run that starts at `i` with `quote`; returns the index after it, or -1.
  const skipQuoted = (start, quote, backslashEscapes) => {
    let j = start + 1;
    while (j < n) {
      const c = sql[j];
      if (backslashEscapes && c === '\\') {
        j += 2;
        continue;
      }
      if (c === quote) {
        if (sql[j + 1] === quote) {
          j += 2;
          continue;
        }
        return j + 1;
      }
      j++;
    }
    return -1;
  };
  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '-' && next === '-' && (!mysql || /[\s]/.test(sql[i + 2] ?? ' '))) {
      // MySQL needs whitespace after `--` for a comment (`a--1` is arithmetic there).
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (c === '#' && mysql) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (c === '/' && next === '*' && mysql && sql[i + 2] === '!') {
      // MySQL runs the text of /*! ... */ comments: read it as code.
      i += 3;
    } else if (c === '/' && next === '*') {
      // PostgreSQL nests block comments; the others end at the first */.
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
        } else if (postgres && sql[j] === '/' && sql[j + 1] === '*') {
          depth++;
          j += 2;
        } else {
          j++;
        }
      }
      if (depth > 0) anomaly = true;
      i = j;
    } else if (c === "'") {
      // MySQL takes backslash escapes in strings; PostgreSQL only in E'' strings (below).
      const end = skipQuoted(i, "'", mysql);
      if (end < 0) {
        anomaly = true;
        break;
      }
      i = end;
    } else if (c === '"' || c === '`' || (c === '[' && brackets)) {
      // Quoted identifiers (MySQL's "..." is a string unless ANSI_QUOTES: an identifier either way
      // for our purpose, since table names are compared loosely).
      const close = c === '[' ? ']' : c;
      const end = c === '[' ? sql.indexOf(']', i + 1) + 1 : skipQuoted(i, close, mysql && c === '"');
      if (end <= 0) {
        anomaly = true;
        break;
      }
      identifiers.push(sql.slice(i + 1, end - 1).split(close + close).join(close));
      i = end;
    } else if (c === '$' && postgres && /^\$[A-Za-z_]*\$/.test(sql.slice(i, i + 64))) {
      // A dollar-quoted body ($$...$$ or $tag$...$tag$): its SQL runs elsewhere (DO, functions).
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i, i + 64))[0];
      const end = sql.indexOf(tag, i + tag.length);
      if (end < 0) {
        anomaly = true;
        break;
      }
      i = end + tag.length;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j])) j++;
      const word = sql.slice(i, j);
      if (postgres && (word === 'E' || word === 'e') && sql[j] === "'") {
        const end = skipQuoted(j, "'", true);
        if (end < 0) {
          anomaly = true;
          break;
        }
        i = end;
        continue;
      }
      let k = j;
      while (k < n && (sql[k] === ' ' || sql[k] === '\t' || sql[k] === '\n' || sql[k] === '\r')) k++;
      words.push({ upper: word.toUpperCase(), call: sql[k] === '(' });
      identifiers.push(word);
      i = j;
    } else {
      i++;
    }
  }
  let writes = anomaly;
  let deletes = anomaly;
  let truncate = false;
  let cascade = false;
  for (let w = 0; w < words.length; w++) {
    const { upper, call } = words[w];
    if (upper === 'CASCADE') cascade = true;
    if (!WRITE_WORDS.has(upper)) continue;
    if (w > 0 && CLAUSE_LEADS.has(words[w - 1].upper)) continue;
    if (call && ALSO_FUNCTIONS.has(upper)) continue;
    writes = true;
    if (DELETE_WORDS.has(upper)) deletes = true;
    if (upper === 'TRUNCATE') truncate = true;
  }
  return { writes, deletes, truncateCascade: truncate && cascade, identifiers };
}

module.exports = { classify };
