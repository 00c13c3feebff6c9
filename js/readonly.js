'use strict';
// Read-only views, the seed's promise for modelCacheFactory results: attributes (nested includes
// too) and get() can be read; JSON.stringify, util.inspect and `await` work; anything else —
// an unknown attribute, save(), destroy(), update(), an assignment — throws a TypeError.

const { inspect } = require('node:util');
const { isInstance } = require('./payload');

const kInstance = Symbol('sequelize-native-cache.instance');
const kPlain = Symbol('sequelize-native-cache.plain');

function refuse(what, prop) {
  return new TypeError(
    `${what} is a read-only cached result: only its attributes and get() can be read ` +
      `("${String(prop)}" is not available)`,
  );
}

function refuseWrite(what, prop) {
  return new TypeError(`${what} is a read-only cached result: "${String(prop)}" cannot be assigned or deleted`);
}

/** The read-only view of any query result value. */
function viewOf(value) {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return arrayView(value);
  const p = Object.getPrototypeOf(value);
  if (p === Object.prototype || p === null) return plainView(value);
  // Then instances (the common case: rows) before Dates and Buffers, which have no get() and so
  // fail the instance test at once.
  if (isInstance(value)) return instanceView(value);
  return value;
}

// ---- instances -------------------------------------------------------------------------------

// Each view's proxy target holds the wrapped value in a class field: fields are configurable,
// so the ownKeys trap may leave them out. Node's util.inspect looks at a proxy's target, not
// through its traps, so the target class carries the custom inspector.
class InstanceTarget {
  constructor(inst) {
    this[kInstance] = inst;
  }

  [inspect.custom](depth, options, insp) {
    const inst = this[kInstance];
    return `${inst.constructor.name} (read-only) ${insp(inst.get({ plain: true }), { ...options, depth })}`;
  }
}

function isAttribute(inst, prop) {
  const M = inst.constructor;
  return (
    Object.prototype.hasOwnProperty.call(inst.dataValues, prop) ||
    Object.prototype.hasOwnProperty.call(M.rawAttributes, prop) ||
    (M._hasCustomGetters > 0 && Object.prototype.hasOwnProperty.call(M.prototype._customGetters || {}, prop)) ||
    (inst._options.includeNames !== undefined && inst._options.includeNames.includes(prop)) ||
    // An association that was not included reads as undefined, as on the instance.
    Object.prototype.hasOwnProperty.call(M.associations, prop)
  );
}

function attributeKeys(inst) {
  const keys = new Set(Object.keys(inst.dataValues));
  const getters = inst.constructor.prototype._customGetters;
  if (getters) for (const k of Object.keys(getters)) keys.add(k);
  return [...keys];
}

const instanceHandler = {
  get(target, prop) {
    const inst = target[kInstance];
    if (typeof prop === 'symbol') return prop === kInstance ? inst : undefined;
    switch (prop) {
      case 'get':
        return function get(key, options) {
          if (typeof key === 'string') {
            if (!isAttribute(inst, key)) throw refuse(inst.constructor.name, key);
            return viewOf(inst.get(key, options));
          }
          // get({ plain: true }) returns a fresh copy; get() alone returns the live dataValues.
          const v = inst.get(key, options);
          return key === undefined && (options === undefined || !options.plain) ? viewOf(v) : v;
        };
      case 'toJSON':
        return () => inst.toJSON();
      case 'then':
        return undefined;
      default:
        if (isAttribute(inst, prop)) return viewOf(inst.get(prop));
        throw refuse(inst.constructor.name, prop);
    }
  },
  has(target, prop) {
    const inst = target[kInstance];
    return typeof prop === 'string' && (isAttribute(inst, prop) || prop === 'get' || prop === 'toJSON');
  },
  ownKeys(target) {
    return attributeKeys(target[kInstance]);
  },
  getOwnPropertyDescriptor(target, prop) {
    const inst = target[kInstance];
    if (typeof prop !== 'string' || !attributeKeys(inst).includes(prop)) return undefined;
    return { value: viewOf(inst.get(prop)), writable: false, enumerable: true, configurable: true };
  },
  getPrototypeOf(target) {
    return Object.getPrototypeOf(target[kInstance]);
  },
  set(target, prop) {
    throw refuseWrite(target[kInstance].constructor.name, prop);
  },
  defineProperty(target, prop) {
    throw refuseWrite(target[kInstance].constructor.name, prop);
  },
  deleteProperty(target, prop) {
    throw refuseWrite(target[kInstance].constructor.name, prop);
  },
  setPrototypeOf(target) {
    throw refuseWrite(target[kInstance].constructor.name, '__proto__');
  },
};

function instanceView(inst) {
  return new Proxy(new InstanceTarget(inst), instanceHandler);
}

// ---- arrays and plain objects ------------------------------------------------------------------

const arrayHandler = {
  set(_t, prop) {
    throw refuseWrite('This array', prop);
  },
  defineProperty(_t, prop) {
    throw refuseWrite('This array', prop);
  },
  deleteProperty(_t, prop) {
    throw refuseWrite('This array', prop);
  },
  setPrototypeOf() {
    throw refuseWrite('This array', '__proto__');
  },
};

function arrayView(arr) {
  return new Proxy(arr.map(viewOf), arrayHandler);
}

class PlainTarget {
  constructor(obj) {
    this[kPlain] = obj;
  }

  [inspect.custom](depth, options, insp) {
    // Shown as read: each value through its own view (rows as read-only instances).
    const obj = this[kPlain];
    const shown = {};
    for (const k of Object.keys(obj)) shown[k] = viewOf(obj[k]);
    return insp(shown, { ...options, depth });
  }
}

const plainHandler = {
  get(target, prop) {
    const obj = target[kPlain];
    // util.inspect calls the target's inspector with the proxy as `this`: it reads kPlain here.
    if (typeof prop === 'symbol') return prop === kPlain ? obj : undefined;
    if (Object.prototype.hasOwnProperty.call(obj, prop)) return viewOf(obj[prop]);
    if (prop === 'then' || prop === 'toJSON') return undefined;
    throw refuse('This object', prop);
  },
  has(target, prop) {
    return typeof prop === 'string' && Object.prototype.hasOwnProperty.call(target[kPlain], prop);
  },
  ownKeys(target) {
    return Object.keys(target[kPlain]);
  },
  getOwnPropertyDescriptor(target, prop) {
    const obj = target[kPlain];
    if (typeof prop !== 'string' || !Object.prototype.hasOwnProperty.call(obj, prop)) return undefined;
    return { value: viewOf(obj[prop]), writable: false, enumerable: true, configurable: true };
  },
  set(_t, prop) {
    throw refuseWrite('This object', prop);
  },
  defineProperty(_t, prop) {
    throw refuseWrite('This object', prop);
  },
  deleteProperty(_t, prop) {
    throw refuseWrite('This object', prop);
  },
  setPrototypeOf() {
    throw refuseWrite('This object', '__proto__');
  },
};

function plainView(obj) {
  return new Proxy(new PlainTarget(obj), plainHandler);
}

module.exports = { viewOf };
