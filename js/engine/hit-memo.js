'use strict';
// A memo of recent in-process hits, in front of the native lookup of a key text. A hit of a key
// remembered here costs two Map reads and a clock read instead of a native call.
//
// Why it never answers what the tier would not (src/store.rs keeps the other half):
// - The store has an epoch, a u32 JS reads live through an ArrayBuffer over it. Every change that
//   can make an entry it returned unreturnable (a table bump, a key invalidation, a clear, a
//   change of trust, another process's invalidation message) moves it, after the change is
//   visible. Everything remembered was looked up while the epoch read `at`; once it reads
//   anything else, all of it is forgotten before anything is answered. A lookup that raced a
//   change on another thread is remembered under the old epoch, which that change then moves.
// - A fill changes one key without moving the epoch: whoever fills calls forget(key) first.
// - An entry is answered only until the time the tier gave it to live (whole milliseconds,
//   rounded down) and never for more than MAX_AGE_MS, so hot keys still reach the tier, whose
//   eviction policy counts their reads.
// Where the runtime gives no view of the epoch (no external ArrayBuffers), nothing is remembered.

const { CacheEvent } = require('../native');

/** Entries remembered at most; all are forgotten when one more would exceed it. */
const MAX_REMEMBERED = 1024;
/** Characters of payload text remembered at most, in all. */
const MAX_REMEMBERED_CHARS = 1 << 20;
/** A longer payload is never remembered: its decoding dwarfs the native call. */
const MAX_PAYLOAD_CHARS = 8192;
/** The longest a hit is answered from here before the tier is asked again. */
const MAX_AGE_MS = 1000;

/**
 * Milliseconds on the monotonic clock. Not performance.now() or Date.now(): test runners' fake
 * timers (jest, vitest, sinon) replace those, and a frozen fake clock would keep an entry here past
 * the tier's own expiry, which runs on the real clock.
 */
const uptime = process.uptime;
const nowMs = () => uptime() * 1000;

class HitMemo {
  /**
   * @param {object} cache   the engine's native cache (native.js createCache)
   * @param {import('./stats').EventCounts} events  where hits answered here are counted
   */
  constructor(cache, events) {
    this.cache = cache;
    this.events = events;
    const buffer = cache.epochView();
    /** The store's epoch, read live; null when this runtime cannot show it (nothing is remembered). */
    this.epoch = buffer === null ? null : new Uint32Array(buffer);
    /** The epoch every remembered entry was looked up in. */
    this.at = this.epoch === null ? 0 : this.epoch[0];
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
    if (epoch !== null) {
      if (epoch[0] !== this.at) {
        this.#forgetAll();
        this.at = epoch[0];
      } else {
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
    }
    const got = this.cache.get(key, slot);
    this.header = this.cache.lastHeader();
    // Remembered only if nothing moved the epoch since `at` was read, before the lookup.
    if (typeof got === 'string' && epoch !== null && epoch[0] === this.at) this.#remember(key, got, this.header, this.cache.lastTimeLeft());
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
      this.chars -= e.text.length;
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

  #remember(key, text, header, timeLeftMs) {
    if (text.length > MAX_PAYLOAD_CHARS || timeLeftMs <= 1) return;
    if (this.entries.size >= MAX_REMEMBERED || this.chars + text.length > MAX_REMEMBERED_CHARS) this.#forgetAll();
    // The time left was measured before this line ran: one millisecond less covers the call.
    const deadline = nowMs() + Math.min(timeLeftMs - 1, MAX_AGE_MS);
    this.entries.set(key, { text, header, deadline });
    this.chars += text.length;
  }
}

module.exports = { HitMemo, MAX_REMEMBERED, MAX_REMEMBERED_CHARS, MAX_PAYLOAD_CHARS, MAX_AGE_MS, nowMs };
