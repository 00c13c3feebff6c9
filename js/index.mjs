// Public entry point (ESM): the CommonJS entry's objects, not a second copy. Node finds the named
// exports in index.js's `module.exports.<name> = ...` lines, so the names are listed there only;
// the default export is the module itself (callable as withCache).
export * from './index.js';
export { default } from './index.js';
