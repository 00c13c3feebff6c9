'use strict';
// The key walk's JS half: one pass over a query's scope and options that records, in traversal
// order, what each value is and where its parts are, on a tape the Rust core reads in one N-API
// call (src/key/tape.rs, which documents the layout). Reading an object property by property
// through N-API costs about five crossings per value; here V8 reads them at JIT speed.
//
// This pass decides nothing about the key's text: escaping, number and date forms, sorting, the
// ignored top-level options and the limits are all applied in Rust. It recognises only plain data
// of this realm (plain and null-prototype objects, plain arrays, primitives, registered symbols,
// Dates) and models whose active scope is empty; every other value (a scoped model, an
// association, fn/col/literal, a Buffer, a bigint, another realm's object, an unknown class) is
// handed to Rust by reference and walked there as before. The errors it can see itself (a getter
// that throws, an unregistered symbol, a tree past the limits) it reports as the walker's
// Unkeyable codes without crossing at all.
//
// Where it and the walker alone can differ, neither giving a wrong key: a tree holding two
// different unkeyable values may be refused for the other reason (this pass meets values in
// enumeration order, the walker in sorted order), and a Proxy of an array is an array here, as
// Array.isArray and so Sequelize read it, where the walker, to which N-API shows only an object,
// would write an object of index keys. So the walker is never handed one: a Proxy of an array
// that claims another prototype is refused, and so is any value for the walker that holds one
// where the walker reads (proxiedArrayIn).

const { isProxy } = require('node:util').types;
const native = require('../native');

const { TapeOp: Op, Unkeyable } = native;
const { KEY_MAX_DEPTH, KEY_MAX_NODES } = native.limits;

const ObjectPrototype = Object.prototype;
const ArrayPrototype = Array.prototype;
const DatePrototype = Date.prototype;
const getPrototypeOf = Object.getPrototypeOf;
const objectKeys = Object.keys;
const ownSymbols = Object.getOwnPropertySymbols;
const isArray = Array.isArray;
const keyFor = Symbol.keyFor;
const dateValue = Date.prototype.getTime;

/** Slots a tape starts with; it doubles as needed (a tape past KEY_MAX_NODES is refused anyway). */
const INITIAL_SLOTS = 256;
/** A tape grown past this many slots by one large key starts small again after it. */
const KEPT_SLOTS = 8192;

/** Thrown inside a pass to stop it with an Unkeyable code. */
class Refused {
  constructor(code) {
    this.code = code;
  }
}

/** One tape; reused by every key this thread makes, unless a key is made while it is in use. */
class Tape {
  constructor() {
    this.#setSlots(new Float64Array(INITIAL_SLOTS));
    this.n = 0;
    this.text = '';
    this.refs = [];
    this.nodes = 0;
    this.busy = false;
  }

  /** Uses `slots`, and a view of their bits as 32-bit words, two per slot (see words()). */
  #setSlots(slots) {
    this.slots = slots;
    this.slotWords = new Int32Array(slots.buffer);
  }

  #grow() {
    const bigger = new Float64Array(this.slots.length * 2);
    bigger.set(this.slots);
    this.#setSlots(bigger);
  }

  /** The slots' bits as 32-bit words, two per slot (tape-memo.js compares tapes by them). */
  words() {
    return this.slotWords;
  }

  push1(a) {
    if (this.n + 1 > this.slots.length) this.#grow();
    this.slots[this.n++] = a;
  }

  push2(a, b) {
    if (this.n + 2 > this.slots.length) this.#grow();
    const s = this.slots;
    s[this.n] = a;
    s[this.n + 1] = b;
    this.n += 2;
  }

  /** A String or Symbol op with its text. */
  pushText(op, str) {
    if (this.n + 3 > this.slots.length) this.#grow();
    const s = this.slots;
    s[this.n] = op;
    s[this.n + 1] = this.text.length;
    s[this.n + 2] = str.length;
    this.n += 3;
    this.text += str;
  }

  /** Hands `v` to the walker, unless it holds what the walker would misread (see proxiedArrayIn). */
  ref(v) {
    let bad;
    try {
      bad = proxiedArrayIn(v, 0, { left: KEY_MAX_NODES + 1 });
    } catch {
      throw new Refused(Unkeyable.Unreadable);
    }
    if (bad) throw new Refused(Unkeyable.UnknownClass);
    this.push2(Op.Ref, this.refs.length);
    this.refs.push(v);
  }

  value(v, depth) {
    if (++this.nodes > KEY_MAX_NODES) throw new Refused(Unkeyable.TooLarge);
    if (depth > KEY_MAX_DEPTH) throw new Refused(Unkeyable.TooDeep);
    switch (typeof v) {
      case 'string':
        this.pushText(Op.String, v);
        return;
      case 'number':
        this.push2(Op.Number, v);
        return;
      case 'boolean':
        this.push1(v ? Op.True : Op.False);
        return;
      case 'undefined':
        this.push1(Op.Undefined);
        return;
      case 'symbol':
        this.pushText(Op.Symbol, registered(v));
        return;
      case 'object':
        if (v === null) this.push1(Op.Null);
        else this.object(v, depth);
        return;
      case 'function':
        if (!this.model(v)) this.ref(v);
        return;
      default:
        // Bigints: the walker knows them.
        this.ref(v);
    }
  }

  /**
   * A model class whose active scope is empty, as its name, table and schema (the walker's own
   * test of a model: a string tableName and an object rawAttributes). False for anything else,
   * which the walker then reads (a scoped model, or a function that is no model).
   */
  model(v) {
    const table = v.tableName;
    const attrs = v.rawAttributes;
    if (typeof table !== 'string' || typeof attrs !== 'object' || attrs === null) return false;
    const scope = v._scope;
    if (scope != null && !isEmptyPlain(scope)) return false;
    const name = v.name;
    const schema = v._schema;
    const at = this.n;
    this.push2(Op.Model, 0);
    if (typeof name === 'string') this.pushText(Op.String, name);
    else this.push1(Op.Undefined);
    this.pushText(Op.String, table);
    if (typeof schema === 'string') this.pushText(Op.String, schema);
    else this.push1(Op.Undefined);
    if (scope == null) this.push1(Op.Undefined);
    else {
      this.push1(Op.Object);
      this.push2(0, this.n + 2);
    }
    this.slots[at + 1] = this.n;
    return true;
  }

  object(v, depth) {
    // As the walker: an array is what Array.isArray says, asked before the prototype.
    const array = isArray(v);
    const proto = getPrototypeOf(v);
    if (array) {
      // A Proxy of an array is read through its traps, as Sequelize reads it; one whose prototype
      // is not this realm's Array.prototype is refused by ref (see proxiedArrayIn).
      if (proto === ArrayPrototype) this.array(v, depth);
      else this.ref(v);
    } else if (proto === ObjectPrototype || proto === null) {
      this.plain(v, depth);
    } else if (proto === DatePrototype) {
      let ms;
      try {
        ms = dateValue.call(v);
      } catch {
        // Date.prototype without a Date inside: the walker refuses it.
        this.ref(v);
        return;
      }
      this.push2(Op.Date, ms);
    } else {
      this.ref(v);
    }
  }

  array(v, depth) {
    const len = v.length;
    const at = this.n;
    this.push1(Op.Array);
    this.push2(len, 0);
    for (let i = 0; i < len; i++) {
      const e = v[i];
      if (e === undefined && !(i in v)) {
        if (++this.nodes > KEY_MAX_NODES) throw new Refused(Unkeyable.TooLarge);
        this.push1(Op.Hole);
      } else {
        this.value(e, depth + 1);
      }
    }
    this.slots[at + 2] = this.n;
  }

  plain(v, depth) {
    const names = objectKeys(v);
    const symbols = ownSymbols(v);
    const at = this.n;
    this.push1(Op.Object);
    this.push2(names.length + symbols.length, 0);
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      this.pushText(Op.String, name);
      this.value(v[name], depth + 1);
    }
    for (let i = 0; i < symbols.length; i++) {
      const sym = symbols[i];
      this.pushText(Op.Symbol, registered(sym));
      this.value(v[sym], depth + 1);
    }
    this.slots[at + 2] = this.n;
  }

  /** Forgets the last pass (and the values it referred to). */
  clear() {
    if (this.slots.length > KEPT_SLOTS) this.#setSlots(new Float64Array(INITIAL_SLOTS));
    this.n = 0;
    this.text = '';
    // Setting an array's length is a runtime call even when it is already 0.
    if (this.refs.length !== 0) this.refs.length = 0;
    this.nodes = 0;
    this.busy = false;
  }
}

/** Scope objects known to be empty: Sequelize replaces a model's _scope, it never edits one. */
const emptyScopes = new WeakSet();

/** True for a plain object (of this realm, or with no prototype) with no keys the walker reads. */
function isEmptyPlain(o) {
  if (emptyScopes.has(o)) return true;
  if (typeof o !== 'object') return false;
  const proto = getPrototypeOf(o);
  if ((proto !== ObjectPrototype && proto !== null) || isArray(o)) return false;
  if (objectKeys(o).length !== 0 || ownSymbols(o).length !== 0) return false;
  emptyScopes.add(o);
  return true;
}

/**
 * True if `v`, about to be walked by the Rust walker (a value of another realm or class), holds a
 * Proxy whose target is an array where the walker reads values: Array.isArray, and so Sequelize,
 * sees an array there, while N-API sees an object, which the walker would write as an object if
 * the Proxy claims Object.prototype (or null, or a Sequelize method's class) as its prototype, and
 * two different queries could share a key. It descends where the walker does (arrays, plain
 * objects of any realm, fn/col/literal/where/cast/json, models' scopes, associations' source
 * models), at least as deep and as far as the walker goes before it refuses a tree. A getter that
 * throws throws here too.
 */
function proxiedArrayIn(v, depth, budget) {
  if (typeof v === 'function') return proxiedArrayInScope(v);
  if (v === null || typeof v !== 'object') return false;
  const array = isArray(v);
  if (array && isProxy(v)) return true;
  if (depth > KEY_MAX_DEPTH + 1 || --budget.left < 0) return false;
  if (array) {
    for (let i = 0; i < v.length; i++) if (proxiedArrayIn(v[i], depth + 1, budget)) return true;
    return false;
  }
  const proto = getPrototypeOf(v);
  const kind = proto === null ? 'Object' : classNameOf(proto);
  if (ASSOCIATIONS.has(kind)) return proxiedArrayIn(v.source, depth + 1, budget);
  if (kind !== 'Object' && !SEQUELIZE_METHODS.has(kind)) return false;
  const names = objectKeys(v);
  for (let i = 0; i < names.length; i++) if (proxiedArrayIn(v[names[i]], depth + 1, budget)) return true;
  const symbols = ownSymbols(v);
  for (let i = 0; i < symbols.length; i++) if (proxiedArrayIn(v[symbols[i]], depth + 1, budget)) return true;
  return false;
}

const SEQUELIZE_METHODS = new Set(['Fn', 'Col', 'Literal', 'Where', 'Cast', 'Json']);
const ASSOCIATIONS = new Set(['HasOne', 'HasMany', 'BelongsTo', 'BelongsToMany']);

/** The name of `proto.constructor`, as the walker reads a class's name; '' when there is none. */
function classNameOf(proto) {
  const ctor = proto.constructor;
  return typeof ctor === 'function' && typeof ctor.name === 'string' ? ctor.name : '';
}

/** Scopes found to hold no Proxy of an array: Sequelize replaces a model's _scope, never edits it. */
const cleanScopes = new WeakSet();

/** proxiedArrayIn for what the walker reads of a function: a model's active scope. */
function proxiedArrayInScope(fn) {
  const scope = fn._scope;
  if (scope === null || typeof scope !== 'object' || cleanScopes.has(scope)) return false;
  if (proxiedArrayIn(scope, 1, { left: KEY_MAX_NODES + 1 })) return true;
  cleanScopes.add(scope);
  return false;
}

/** A registered symbol's key; an unregistered symbol cannot be told from another of its name. */
function registered(sym) {
  const k = keyFor(sym);
  if (k === undefined) throw new Refused(Unkeyable.Symbol);
  return k;
}

const shared = new Tape();

/**
 * Runs `use(tape)` on a tape holding `scope` then `options`, or returns the Unkeyable code that
 * refused them. The tape is valid only during `use`. A key made while another is being made (a
 * getter of the options makes one) gets its own tape.
 */
function withTape(scope, options, use) {
  const tape = shared.busy ? new Tape() : shared;
  tape.busy = true;
  try {
    // As the walker, an absent scope or options take no node.
    if (scope == null) tape.push1(Op.Undefined);
    else tape.value(scope, 1);
    if (options == null) tape.push1(Op.Undefined);
    else tape.value(options, 0);
  } catch (err) {
    tape.clear();
    return err instanceof Refused ? { refused: err.code } : { refused: Unkeyable.Unreadable };
  }
  try {
    return use(tape);
  } finally {
    tape.clear();
  }
}

module.exports = { withTape };
