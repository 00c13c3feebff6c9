'use strict';
// A memo of recent in-process hits, in front of the native lookup of a key text. A hit of a key
// remembered here costs two Map reads and a clock read instead of a native call.
//
// Why it never answers what the tier would not (src/epoch.rs and src/store.rs keep the other half):
// - The store has an epoch: two u32 words JS reads live through an ArrayBuffer over them, the
//   epoch and the count of changes in progress. Every change that can void an answer the tier
//   gave (a table bump, a key invalidation, a clear, a change of trust, another process's
//   invalidation message, on any thread) counts itself and moves the epoch before it touches
//   anything, and moves it again when it ends; an eviction for space moves it too. Everything
//   remembered was looked up with no change in progress and the epoch reading `at` before the
//   lookup and after it. It is answered only while that still holds: once the epoch reads
//   anything else, all of it is forgotten first, and while a change is in progress nothing is
//   answered from here.
// - A fill changes one key without moving the epoch: whoever fills calls forget(key) first.
// - An entry is answered only until the time the tier gave it to live, counted from a clock read
//   made before the lookup (so no pause after the lookup can stretch it), and never for more than
//   MAX_AGE_MS, so hot keys still reach the tier, whose eviction policy counts their reads.
// Where the runtime gives no view of the epoch (no external ArrayBuffers), nothing is remembered.

const { CacheEvent } = require('../native');

/** Entries remembered at most; all are forgotten when one more would exceed it. */
const MAX_REMEMBERED = 1024;
/** Characters of keys and payloads remembered at most, in all. */
const MAX_REMEMBERED_CHARS = 1 << 20;
/** An entry whose key and payload are longer is never remembered: decoding it dwarfs the native call. */
const MAX_ENTRY_CHARS = 8192;
/** The longest a hit is answered from here before the tier is asked again. */
const MAX_AGE_MS = 1000;

/** The words of the epoch view (src/epoch.rs). */
const EPOCH = 0;
const CHANGING = 1;

/**
 * Milliseconds on the monotonic clock: `Performance.prototype.now`, taken from the prototype and
 * called on perf_hooks' own instance. Test runners' fake timers (jest, vitest, sinon) replace
 * `performance.now` (on the global, and as an own property of perf_hooks' instance) and
 * `Date.now`, never the prototype's method; a frozen fake clock would keep an entry here past the
 * tier's own expiry, which runs on the real clock. (`process.uptime()`, which no runner fakes,
 * costs twice as much per call, and every answer reads the clock.)
 */
const perfHooksPerformance = require('node:perf_hooks').performance;
const performanceNow = Object.getPrototypeOf(perfHooksPerformance).now;
const nowMs = () => performanceNow.call(perfHooksPerformance);

class HitMemo {
  /**
   * @param {object} cache   the engine's native cache (native.js createCache)
   * @param {import('./stats').EventCounts} events  where hits answered here are counted
   */
  constructor(cache, events) {
    this.cache = cache;
    this.events = events;
    const buffer = cache.epochView();
    /** The store's epoch words, read live; null when this runtime cannot show them (nothing is remembered). */
    this.epoch = buffer === null ? null : new Uint32Array(buffer);
    /** The epoch every remembered entry was looked up in. */
    this.at = this.epoch === null ? 0 : this.epoch[EPOCH];
    /** key text → { text, header, deadline } */
    this.entries = new Map();
    this.chars = 0;
    this.header = 0;
  }

  /**
   * The tier's answer for `key` (as cache.get: a payload, or a Lookup code), from here when it is
   * remembered and still holds; the payload's header id is lastHeader() after the call. A hit
   * answered here is counted on `slot` as the tier would count it.
   */
  get(key, slot) {
    const epoch = this.epoch;
    if (epoch === null) {
      const got = this.cache.get(key, slot);
      this.header = this.cache.lastHeader();
      return got;
    }
    // Plain reads: in whichever order they happen, an answer given here comes before any change
    // they did not see begin (a change moves the epoch and counts itself before its effects).
    const seen = epoch[EPOCH];
    if (seen !== this.at) {
      this.#forgetAll();
      this.at = seen;
    } else if (epoch[CHANGING] === 0) {
      const e = this.entries.get(key);
      if (e !== undefined) {
        if (nowMs() < e.deadline) {
          this.events.record(slot, CacheEvent.Hit);
          this.header = e.header;
          return e.text;
        }
        this.forget(key);
      }
    }
    // Ordered reads around the lookup (Atomics.load: weakly ordered CPUs may not reorder them
    // with the lookup's own atomics). The clock is read first: the lookup measures the entry's
    // time left after it, so no pause can make the deadline outlast the entry.
    const at = Atomics.load(epoch, EPOCH);
    // Nothing is remembered under another epoch than the entries': no clock read for it.
    const before = at === this.at ? nowMs() : -1;
    const got = this.cache.get(key, slot);
    this.header = this.cache.lastHeader();
    // Remembered only if no change was in progress and none began or ended since `at` was read.
    if (typeof got === 'string' && before >= 0 && Atomics.load(epoch, CHANGING) === 0 && Atomics.load(epoch, EPOCH) === at) {
      // The time left is in whole milliseconds, rounded down; one less covers the rounding of
      // `before` against the tier's clock.
      const left = this.cache.lastTimeLeft() - 1;
      if (left > 0) this.#remember(key, got, this.header, before + Math.min(left, MAX_AGE_MS));
    }
    return got;
  }

  /** The header id of the payload get() last returned (see native.js lastHeader). */
  lastHeader() {
    return this.header;
  }

  /** Forgets `key`; a fill of it calls this before it stores. */
  forget(key) {
    const e = this.entries.get(key);
    if (e !== undefined) {
      this.entries.delete(key);
      this.chars -= key.length + e.text.length;
    }
  }

  /** Forgets everything (after clear(), to give the memory back at once). */
  clear() {
    this.#forgetAll();
  }

  #forgetAll() {
    if (this.entries.size !== 0) this.entries.clear();
    this.chars = 0;
  }

  #remember(key, text, header, deadline) {
    const size = key.length + text.length;
    if (size > MAX_ENTRY_CHARS) return;
    if (this.entries.size >= MAX_REMEMBERED || this.chars + size > MAX_REMEMBERED_CHARS) this.#forgetAll();
    this.entries.set(key, { text, header, deadline });
    this.chars += size;
  }
}

module.exports = { HitMemo, MAX_REMEMBERED, MAX_REMEMBERED_CHARS, MAX_ENTRY_CHARS, MAX_AGE_MS, nowMs };
