// Jest over the specs in this folder only (the project's own suites run on node:test).
module.exports = { rootDir: __dirname, testMatch: ['<rootDir>/*.spec.js'], testEnvironment: 'node' };
