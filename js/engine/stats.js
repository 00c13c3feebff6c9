'use strict';
// stats(): the native counters (per model and method, src/stats.rs) summed into the shape the
// README documents. With a network tier, `hits`, `misses` and `fills` count calls (an L1 miss that
// the network tier answers is one hit) and `tiers` counts each tier's own lookups.

const { CacheEvent } = require('../native');

const COUNTERS = ['hits', 'misses', 'bypasses', 'fills', 'fillsRejected', 'corrupt'];

/** How many CacheEvent values there are (they number from 0). */
const EVENT_KINDS = Math.max(...Object.values(CacheEvent).filter((v) => typeof v === 'number')) + 1;
/** A count reported at once when it gets this high, far below the u32 the core takes. */
const REPORT_AT = 2 ** 30;

/**
 * The events the shim sees (network-tier hits, misses and fills, rejected fills, refused entries),
 * counted here as they happen and reported to the core's counters (src/stats.rs, where every
 * count lives) before stats are read: a network-tier hit then costs no native call to count.
 */
class EventCounts {
  constructor(store) {
    this.store = store;
    /** Unreported counts by slot * EVENT_KINDS + event. */
    this.counts = [];
  }

  record(slot, event) {
    const i = slot * EVENT_KINDS + event;
    const n = (this.counts[i] | 0) + 1;
    this.counts[i] = n;
    if (n >= REPORT_AT) this.report();
  }

  /** Hands every unreported count to the core. */
  report() {
    const c = this.counts;
    for (let i = 0; i < c.length; i++) {
      const n = c[i] | 0;
      if (n === 0) continue;
      this.store.recordEvents(Math.floor(i / EVENT_KINDS), i % EVENT_KINDS, n);
      c[i] = 0;
    }
  }
}

function zeroTiers(remote) {
  return { memory: { hits: 0, misses: 0, fills: 0 }, ...(remote ? { remote: { hits: 0, misses: 0, fills: 0 } } : {}) };
}

/**
 * @param {object} s          native stats (cache_stats)
 * @param {boolean} remote    whether the engine has a network tier
 * @param {number} conservativeInvalidations  writes whose tables could not be told
 */
function summarize(s, remote, conservativeInvalidations) {
  const out = {
    hits: 0,
    misses: 0,
    bypasses: 0,
    fills: 0,
    fillsRejected: 0,
    corrupt: 0,
    evictions: s.evictions,
    expirations: s.expirations,
    entries: s.entries,
    bytes: s.bytes,
    tables: s.tables,
    conservativeInvalidations,
    bypassReasons: {},
    tiers: zeroTiers(remote),
    models: {},
  };
  for (const x of s.slots) {
    // Per call: with a network tier every in-process miss goes on to it, so a call missed when
    // the network tier missed, and hit when either tier hit. Per tier: each lookup.
    const tiers = zeroTiers(remote);
    tiers.memory = { hits: x.hits, misses: x.misses, fills: x.fills };
    if (remote) tiers.remote = { hits: x.remoteHits, misses: x.remoteMisses, fills: x.remoteFills };
    const row = {
      hits: x.hits + (remote ? x.remoteHits : 0),
      misses: remote ? x.remoteMisses : x.misses,
      bypasses: x.bypasses,
      fills: remote ? x.remoteFills : x.fills,
      fillsRejected: x.fillsRejected,
      corrupt: x.corrupt,
      bypassReasons: { ...x.bypassReasons },
      tiers,
    };
    (out.models[x.model] ||= {})[x.method] = row;
    for (const f of COUNTERS) out[f] += row[f];
    for (const [t, c] of Object.entries(tiers)) for (const f of Object.keys(c)) out.tiers[t][f] += c[f];
    for (const [r, n] of Object.entries(row.bypassReasons)) out.bypassReasons[r] = (out.bypassReasons[r] || 0) + n;
  }
  return out;
}

module.exports = { summarize, EventCounts };
