'use strict';
// What a SQL statement may write, read from its text.
//
// Sequelize tells the afterQuery hook the type and model of the writes it builds itself. Every
// other statement — raw `sequelize.query`, queryInterface calls, and a find run with SQL that
// writes (`UPDATE ... RETURNING *` with `mapToModel` or `type: SELECT`) — is classified here. The
// rule is never to guess "read-only": a statement is a read only when no write keyword appears in
// it outside comments, string literals and quoted identifiers, and any text the lexer cannot
// follow (an unterminated string or comment, a MySQL executable comment) counts as a write naming
// nothing, so every table is invalidated.
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
/** Words that may follow the UPDATE of a locking read (`FOR UPDATE OF "T" SKIP LOCKED`). */
const LOCK_TAIL = new Set(['OF', 'NOWAIT', 'SKIP', 'WAIT', 'LIMIT', 'OFFSET', 'FETCH', 'FOR', 'UNION', 'INTERSECT', 'EXCEPT']);
/** What follows ON DELETE / ON UPDATE in a foreign key (SET and NO are checked with their next word) or MySQL's column default. */
const KEY_ACTIONS = new Set(['CASCADE', 'RESTRICT', 'CURRENT_TIMESTAMP', 'LOCALTIME', 'LOCALTIMESTAMP', 'NOW']);
/** Write words that are also SQL functions (`REPLACE(s, a, b)`, MySQL's `INSERT(s, ...)`). */
const ALSO_FUNCTIONS = new Set(['REPLACE', 'INSERT']);
/** Statements that delete rows, so foreign keys' ON DELETE actions apply. */
const DELETE_WORDS = new Set(['DELETE', 'TRUNCATE', 'DROP', 'REPLACE', 'MERGE']);

/**
 * A cheap first look: a text in which no write word ends a word (as the lexer below cuts words)
 * cannot write. (`"updatedAt"` and `createdAt` pass it; most SELECTs never reach the lexer.)
 */
const MAYBE_WRITE = /(insert|update|delete|merge|truncate|replace|upsert|alter|drop|rename|copy|call|exec|execute|do|load|refresh)(?![A-Za-z0-9_$])/i;

/** A PostgreSQL dollar-quote delimiter: `$$` or `$` + a name that starts like an identifier (not `$1`) + `$`. */
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;
/** PostgreSQL continues a string across whitespace holding a newline (`--` comments allowed), keeping its E'' escapes. */
const PG_STRING_GOES_ON = /(?:[ \t\f\v]|--[^\n\r]*)*[\n\r](?:[ \t\n\r\f\v]|--[^\n\r]*[\n\r])*'/y;
const SPACE = /[ \t\n\r\f\v]/;

/**
 * Reads `sql` as the dialect does and returns `{ writes, deletes, truncateCascade, identifiers }`:
 * whether it may write, whether it may delete rows, whether it truncates with CASCADE, and every
 * identifier it names (quoted or not, each part of a dotted name separately). `dialect` is
 * Sequelize's dialect name (string escapes and comment syntax differ). Text the lexer cannot
 * follow is a write naming nothing, so every table is invalidated.
 */
function classify(sql, dialect) {
  if (typeof sql !== 'string' || !MAYBE_WRITE.test(sql)) return { writes: false, deletes: false, truncateCascade: false, identifiers: [] };
  const lexed = lex(sql, dialect);
  if (lexed === null) return { writes: true, deletes: true, truncateCascade: false, identifiers: [] };
  const { tokens, identifiers } = lexed;
  const wordAt = (k) => (k >= 0 && k < tokens.length ? tokens[k].word : null);
  // `FOR UPDATE` / `FOR NO KEY UPDATE`, ended by the statement, `)` or a lock clause's next word.
  const isLock = (k) => {
    if (!(wordAt(k - 1) === 'FOR' || (wordAt(k - 1) === 'KEY' && wordAt(k - 2) === 'NO' && wordAt(k - 3) === 'FOR'))) return false;
    const after = tokens[k + 1];
    return after === undefined || after.mark === ';' || after.mark === ')' || LOCK_TAIL.has(after.word);
  };
  // `ON DELETE CASCADE`, `ON UPDATE SET NULL`, ... in a foreign key; MySQL's `ON UPDATE CURRENT_TIMESTAMP`.
  const isKeyAction = (k) => {
    if (wordAt(k - 1) !== 'ON') return false;
    const action = wordAt(k + 1);
    if (action === 'SET') return wordAt(k + 2) === 'NULL' || wordAt(k + 2) === 'DEFAULT';
    if (action === 'NO') return wordAt(k + 2) === 'ACTION';
    return KEY_ACTIONS.has(action);
  };
  let writes = false;
  let deletes = false;
  let truncate = false;
  let cascade = false;
  for (let k = 0; k < tokens.length; k++) {
    const { word, call, first: starts } = tokens[k];
    if (word === 'CASCADE') cascade = true;
    if (!WRITE_WORDS.has(word)) continue;
    // Only a word inside a statement can be a clause or a function: one that starts it is a write.
    if (!starts) {
      if (call && ALSO_FUNCTIONS.has(word)) continue;
      if (word === 'UPDATE' && isLock(k)) continue;
      if ((word === 'UPDATE' || word === 'DELETE') && isKeyAction(k)) continue;
    }
    writes = true;
    if (DELETE_WORDS.has(word)) deletes = true;
    if (word === 'TRUNCATE') truncate = true;
  }
  return { writes, deletes, truncateCascade: truncate && cascade, identifiers };
}

/**
 * Reads `sql` as the dialect does: its tokens and every identifier it names (quoted or not, each
 * part of a dotted name separately), or null when the text cannot be followed (an unterminated
 * string or comment, a MySQL executable comment).
 */
function lex(sql, dialect) {
  const mysql = dialect === 'mysql' || dialect === 'mariadb';
  const postgres = dialect === 'postgres';
  const sqlite = dialect === 'sqlite';
  const mssql = dialect === 'mssql';
  // Non-ASCII characters are identifier characters (PostgreSQL, SQLite, MySQL up to U+FFFF): `é$q$`
  // is one identifier on PostgreSQL, not `é` and a dollar quote.
  const wordStart = (code) =>
    (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95 || (code >= 0x80 && !(mysql && code >= 0xd800 && code <= 0xdfff));
  const wordPart = (code) => wordStart(code) || (code >= 48 && code <= 57) || code === 36;
  // Words, and a mark for every other token (comments too), so adjacency of words is known.
  const tokens = [];
  const identifiers = [];
  let anomaly = false;
  let first = true; // the next token starts a statement
  const mark = (m) => {
    tokens.push({ word: null, mark: m });
    first = m === ';';
  };
  const comment = () => tokens.push({ word: null, mark: '' });
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
  const lineEnd = (from) => {
    // PostgreSQL ends a line comment at \r too; MySQL, MariaDB and SQLite only at \n.
    for (let j = from; j < n; j++) if (sql[j] === '\n' || (postgres && sql[j] === '\r')) return j + 1;
    return n;
  };
  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '-' && next === '-' && (!mysql || i + 2 >= n || sql.charCodeAt(i + 2) <= 0x20 || sql.charCodeAt(i + 2) === 0x7f)) {
      // MySQL needs a space or control character after `--` (`a--1` is arithmetic, `--\u00a0` a column).
      i = lineEnd(i);
      comment();
    } else if (c === '#' && mysql) {
      i = lineEnd(i);
      comment();
    } else if (c === '/' && next === '*') {
      // MySQL runs /*! */ and MariaDB /*M! */ text unless its version is above the server's (then a
      // quote in it opens nothing): either reading may be wrong, so the statement names nothing.
      if (mysql && (sql[i + 2] === '!' || ((sql[i + 2] === 'M' || sql[i + 2] === 'm') && sql[i + 3] === '!'))) anomaly = true;
      // PostgreSQL and T-SQL nest block comments; the others end at the first */.
      const nests = postgres || mssql;
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
        } else if (nests && sql[j] === '/' && sql[j + 1] === '*') {
          depth++;
          j += 2;
        } else {
          j++;
        }
      }
      if (depth > 0) anomaly = true;
      i = j;
      comment();
    } else if (c === "'") {
      // MySQL takes backslash escapes in strings; PostgreSQL only in E'' strings (below).
      const end = skipQuoted(i, "'", mysql);
      if (end < 0) {
        anomaly = true;
        break;
      }
      i = end;
      mark("'");
    } else if (c === '"' || c === '`' || (c === '[' && (sqlite || mssql))) {
      // Quoted identifiers (MySQL's "..." is a string unless ANSI_QUOTES: an identifier either way
      // for our purpose, since table names are compared loosely). T-SQL doubles ] in [...].
      const close = c === '[' ? ']' : c;
      const end = c === '[' && !mssql ? sql.indexOf(']', i + 1) + 1 : skipQuoted(i, close, mysql && c === '"');
      if (end <= 0) {
        anomaly = true;
        break;
      }
      // Under ANSI_QUOTES a backslash escapes nothing in "...": if that ends it elsewhere, the
      // text between is code on such a server.
      if (mysql && c === '"' && skipQuoted(i, '"', false) !== end) anomaly = true;
      identifiers.push(sql.slice(i + 1, end - 1).split(close + close).join(close));
      i = end;
      mark('"');
    } else if (c === '$' && postgres && ((DOLLAR_TAG.lastIndex = i), DOLLAR_TAG.test(sql))) {
      // A dollar-quoted body ($$...$$ or $tag$...$tag$): its SQL runs elsewhere (DO, functions).
      const tag = sql.slice(i, DOLLAR_TAG.lastIndex);
      const end = sql.indexOf(tag, i + tag.length);
      if (end < 0) {
        anomaly = true;
        break;
      }
      i = end + tag.length;
      mark('$');
    } else if (sqlite && (c === '$' || c === '@' || c === ':' || c === '#')) {
      // SQLite parameters: `$a::b`, and a Tcl-style `$a(...)` suffix that takes any character up to
      // a space or `)`, quotes included.
      let j = i + 1;
      let named = 0;
      while (j < n) {
        if (wordPart(sql.charCodeAt(j))) {
          named++;
          j++;
        } else if (sql[j] === '(' && named > 0) {
          j++;
          while (j < n && sql[j] !== ')' && sql[j] !== '\0' && !SPACE.test(sql[j])) j++;
          if (sql[j] === ')') j++;
          break;
        } else if (sql[j] === ':' && sql[j + 1] === ':') {
          j += 2;
        } else {
          break;
        }
      }
      i = j;
      mark('?');
    } else if (wordStart(sql.charCodeAt(i))) {
      let j = i + 1;
      while (j < n && wordPart(sql.charCodeAt(j))) j++;
      const word = sql.slice(i, j);
      if (postgres && (word === 'E' || word === 'e') && sql[j] === "'") {
        let end = skipQuoted(j, "'", true);
        while (end > 0) {
          PG_STRING_GOES_ON.lastIndex = end;
          if (!PG_STRING_GOES_ON.test(sql)) break;
          end = skipQuoted(PG_STRING_GOES_ON.lastIndex - 1, "'", true);
        }
        if (end < 0) {
          anomaly = true;
          break;
        }
        i = end;
        mark("'");
        continue;
      }
      let k = j;
      while (k < n && SPACE.test(sql[k])) k++;
      tokens.push({ word: word.toUpperCase(), call: sql[k] === '(', first });
      first = false;
      identifiers.push(word);
      i = j;
    } else {
      if (!SPACE.test(c)) mark(c);
      i++;
    }
  }
  return anomaly ? null : { tokens, identifiers };
}

/** Every identifier `sql` names, as classify reads them, or null when the lexer cannot follow it. */
function namesIn(sql, dialect) {
  if (typeof sql !== 'string') return [];
  const lexed = lex(sql, dialect);
  return lexed === null ? null : lexed.identifiers;
}

/**
 * The table names a list of identifiers (classify's or namesIn's) may mean, in lower case: each
 * one, and for a dotted one the part after its last dot (SQLite names a table in a schema
 * `` `tenant.Users` ``, one quoted identifier).
 */
function tableNamesIn(identifiers) {
  const out = new Set();
  for (const id of identifiers) {
    const name = id.toLowerCase();
    out.add(name);
    const dot = name.lastIndexOf('.');
    if (dot >= 0) out.add(name.slice(dot + 1));
  }
  return out;
}

module.exports = { classify, namesIn, tableNamesIn };
