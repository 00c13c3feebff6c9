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

module.exports = { remember };
