'use strict';
// Key texts the core made from tapes (gather.js), remembered by the exact tape. A query that a
// call site repeats is gathered again each time (its values may have changed, and its getters run
// once per call), but when the tape comes out the same as before, so does its key: the core's text
// is a function of the head and the tape alone when the tape refers to no value (no `Ref` op,
// whose value the core would walk itself). So the memo answers only tapes with no references, and
// only after comparing the whole tape, every slot's bits and every character, with the one it
// remembered: the hash only picks the bucket. Key texts are still made only by the core (src/key).

/** Entries in all; the memo is emptied when full, as the other memos are. */
const MAX_TAPE_KEYS = 2048;
/** Tapes longer than this (slots, text units) are not remembered: a copy is kept per entry. */
const MAX_MEMO_SLOTS = 256;
const MAX_MEMO_TEXT = 1024;
/** Entries per hash: tapes crafted to share one are not all kept (and not all compared). */
const MAX_BUCKET = 4;
/** Hashes of tapes met (see admits); emptied when full. */
const MAX_SEEN = MAX_TAPE_KEYS;

/** One 32-bit unit into a MurmurHash3 state: rotations carry every bit of it into every bit. */
function mix(h, k) {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3 (32-bit) of the head id, the slots' 32-bit halves and the text's UTF-16 units, as a 30-bit Smi. */
function tapeHash(headId, words, wordCount, text) {
  let h = mix(0, headId);
  for (let i = 0; i < wordCount; i++) h = mix(h, words[i]);
  for (let i = 0; i < text.length; i++) h = mix(h, text.charCodeAt(i));
  h ^= wordCount + text.length;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) & 0x3fffffff;
}

class TapeMemo {
  /** @param {typeof tapeHash} [hash]  the bucket hash (tests pass a colliding one) */
  constructor(hash = tapeHash) {
    this.hash = hash;
    /** Buckets by hash: arrays of `{ headId, words, text, key }`. */
    this.buckets = new Map();
    this.count = 0;
    this.seen = new Set();
  }

  /** The hash of (headId, tape), or -1 when the tape is not one the memo keeps. */
  hashOf(headId, tape) {
    if (tape.refs.length !== 0 || tape.n > MAX_MEMO_SLOTS || tape.text.length > MAX_MEMO_TEXT) return -1;
    return this.hash(headId, tape.words(), tape.n * 2, tape.text);
  }

  /**
   * True when a tape of hash `h` that the memo does not hold should now be remembered: one met
   * before (a hash met once is only marked), in a bucket with room. A tape met once, as each of
   * many distinct values more than the memo holds is, is not copied into it: remembering costs more
   * than keying, and such a tape would be forgotten before it was asked for again.
   */
  admits(h) {
    if (h < 0) return false;
    if (!this.seen.has(h)) {
      if (this.seen.size >= MAX_SEEN) this.seen.clear();
      this.seen.add(h);
      return false;
    }
    const bucket = this.buckets.get(h);
    return bucket === undefined || bucket.length < MAX_BUCKET;
  }

  /** The key remembered for exactly this tape under `headId` (h from hashOf), or undefined. */
  get(h, headId, tape) {
    if (h < 0) return undefined;
    const bucket = this.buckets.get(h);
    if (bucket === undefined) return undefined;
    const wordCount = tape.n * 2;
    const words = tape.words();
    const { text } = tape;
    for (let b = 0; b < bucket.length; b++) {
      const e = bucket[b];
      if (e.headId !== headId || e.words.length !== wordCount || e.text !== text) continue;
      const w = e.words;
      let i = 0;
      while (i < wordCount && w[i] === words[i]) i++;
      if (i === wordCount) return e.key;
    }
    return undefined;
  }

  /** Remembers `key` for the tape (h from hashOf; nothing when -1). */
  set(h, headId, tape, key) {
    if (h < 0) return;
    let bucket = this.buckets.get(h);
    if (bucket !== undefined && bucket.length >= MAX_BUCKET) return;
    if (this.count >= MAX_TAPE_KEYS) {
      this.buckets.clear();
      this.count = 0;
      bucket = undefined;
    }
    // A plain array: a typed array's own buffer costs microseconds to allocate.
    const wordCount = tape.n * 2;
    const from = tape.words();
    const words = new Array(wordCount);
    for (let i = 0; i < wordCount; i++) words[i] = from[i];
    const entry = { headId, words, text: tape.text, key };
    if (bucket === undefined) this.buckets.set(h, [entry]);
    else bucket.push(entry);
    this.count++;
  }
}

module.exports = { TapeMemo, MAX_TAPE_KEYS, MAX_MEMO_SLOTS, MAX_MEMO_TEXT, MAX_BUCKET, MAX_SEEN };
