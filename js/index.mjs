// Public entry point (ESM): the CommonJS entry's objects, not a second copy. Node finds the named
// exports in index.js's `module.exports = { ... }` literal, so the names are listed there only.
export * from './index.js';
export { default } from './index.js';
