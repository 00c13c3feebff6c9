// `node scripts/smoke.mjs <target triple>`: loads this checkout's package with the binding that
// sits in js/binding/ (the release workflow puts each build job's artifact there, on a machine of
// that platform) and makes native calls that need no database. Fails unless the binary napi-rs
// names for <target triple> is the one that got loaded.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

const triple = process.argv[2];
if (!triple) {
  console.error('usage: node scripts/smoke.mjs <target triple>, e.g. x86_64-unknown-linux-gnu');
  process.exit(2);
}
const { parseTriple } = await import('@napi-rs/cli');
const expected = path.join(ROOT, 'js', 'binding', `sequelize-native-cache.${parseTriple(triple).platformArchABI}.node`);

const cjs = require('../js/index.js');
const esm = await import('../js/index.mjs');
assert.equal(esm.MemoryCache, cjs.MemoryCache, 'the ESM entry must re-export the CommonJS classes');

// A model on a dialect whose driver is plain JS; nothing connects (keys need no database).
const { Sequelize, DataTypes, Op } = require('sequelize');
const sequelize = new Sequelize('postgres://smoke@127.0.0.1:9/smoke', { logging: false });
const User = sequelize.define('User', { name: DataTypes.STRING, age: DataTypes.INTEGER });

const client = new cjs.MemoryCache({ maxBytes: 1 << 20, defaultTtlSeconds: 5 });
const gt = client.keyFor(User, 'findAll', { where: { age: { [Op.gt]: 30 } } });
const lt = client.keyFor(User, 'findAll', { where: { age: { [Op.lt]: 30 } } });
assert.equal(typeof gt, 'string');
assert.notEqual(gt, lt, 'Op.gt and Op.lt must not share a key');
assert.equal(client.keyFor(User, 'findAll', { where: { age: { [Op.gt]: 30 } } }), gt, 'keys must be stable');
const stats = client.stats();
assert.equal(typeof stats, 'object');
client.close();
await sequelize.close();

const loaded = Object.keys(require.cache).filter((f) => /^sequelize-native-cache\..*\.node$/.test(path.basename(f)));
assert.deepEqual(loaded, [expected], `expected ${expected} to be the engine loaded, got ${JSON.stringify(loaded)}`);
console.log(`smoke ok: ${triple} on node ${process.version} ${process.platform}-${process.arch}: ${path.relative(ROOT, loaded[0])}`);
console.log(`key: ${gt}`);
