'use strict';
// The bounded memos of the hot paths (build options, payload type tables, entry heads, tokens):
// a Map emptied whenever it is full. Emptying all of it, rather than evicting one entry, keeps a
// hit's bookkeeping to one Map.get; a memo only ever saves work, so forgetting is always safe.

/** Sets `key` to `value` in `memo`, emptying it first when it already holds `max` entries. */
function remember(memo, key, value, max) {
  if (memo.size >= max) memo.clear();
  memo.set(key, value);
  return value;
}

/** Characters of the texts each memo of rememberText holds. */
const charsHeld = new WeakMap();

/**
 * remember, for a memo keyed by texts a cache server chose (type tables, entry heads): a text
 * longer than `maxTextChars` is not remembered, and the memo is emptied before its texts would pass
 * `maxChars` in all. Without an integrity key anyone who can write to the server chooses them, and
 * a memo of their parses must not grow with what they write.
 */
function rememberText(memo, text, value, max, maxChars, maxTextChars) {
  if (text.length > maxTextChars) return value;
  const held = (charsHeld.get(memo) || 0) + text.length;
  if (memo.size >= max || held > maxChars) {
    memo.clear();
    charsHeld.set(memo, text.length);
  } else {
    charsHeld.set(memo, held);
  }
  memo.set(text, value);
  return value;
}

module.exports = { remember, rememberText };
