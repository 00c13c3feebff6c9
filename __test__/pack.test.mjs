// Proof of "drop-in npm install": pack the root package and the linux-x64-gnu platform package,
// install both tarballs into a fresh project (sequelize and sqlite3 linked from this repo's
// node_modules, so nothing is downloaded or compiled), then require() and import() the package
// there and serve a findByPk from the cache.
//
// Needs a built binding at js/binding/sequelize-native-cache.linux-x64-gnu.node. Set
// KEEP_PACK_TMP=1 to keep the temporary directories for inspection.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PLATFORM = 'linux-x64-gnu';
const PLATFORM_PKG = `sequelize-native-cache-${PLATFORM}`;
const NODE_FILE = `sequelize-native-cache.${PLATFORM}.node`;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

// Children must not inherit the npm/node:test context of whoever runs this test
// (`npm test` exports npm_config_* / npm_package_*; node --test exports NODE_TEST_CONTEXT).
function childEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'NODE_TEST_CONTEXT' || k === 'NODE_OPTIONS' || k === 'NAPI_RS_NATIVE_LIBRARY_PATH') {
      continue;
    }
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Runs a command; throws with its full output unless it exits 0. Returns stdout. */
function run(cmd, args, { cwd, timeout = 60_000, env } = {}) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd, env: env ?? childEnv(), encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  const where = `\`${cmd} ${args.join(' ')}\` in ${cwd}`;
  if (r.error) {
    throw new Error(`${where} failed to run (${r.error.code ?? r.error.message}) after ${Date.now() - started} ms\n` +
      `--- stdout ---\n${r.stdout ?? ''}\n--- stderr ---\n${r.stderr ?? ''}`);
  }
  if (r.status !== 0) {
    throw new Error(`${where} exited with ${r.status ?? r.signal}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
  }
  return r.stdout;
}

/** `npm pack --json` in `dir`; returns { tarball, files }. */
function npmPack(dir, dest) {
  const out = run(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], { cwd: dir });
  let info;
  try {
    info = JSON.parse(out.slice(out.indexOf('[')));
  } catch (e) {
    throw new Error(`npm pack in ${dir} printed no JSON: ${e.message}\n${out}`);
  }
  assert.equal(info.length, 1, `npm pack in ${dir} produced ${info.length} packages`);
  const tarball = path.resolve(dest, path.basename(info[0].filename));
  assert.ok(fs.existsSync(tarball), `npm pack reported ${info[0].filename} but ${tarball} does not exist`);
  return { tarball, files: info[0].files.map((f) => f.path), name: info[0].name, version: info[0].version };
}

/** The last line of `stdout` that parses as a JSON object. */
function lastJson(stdout, what) {
  const lines = stdout.trim().split('\n').reverse();
  for (const l of lines) {
    if (l.startsWith('{')) {
      try {
        return JSON.parse(l);
      } catch {}
    }
  }
  throw new Error(`${what} printed no JSON line:\n${stdout}`);
}

const CJS_PROGRAM = `'use strict';
const { Sequelize, DataTypes } = require('sequelize');
const { MemoryCache, modelCacheFactory } = require('sequelize-native-cache');

(async () => {
  const sequelize = new Sequelize('sqlite::memory:', { logging: false });
  const User = sequelize.define('User', { name: DataTypes.STRING, email: DataTypes.STRING });
  await sequelize.sync();
  await User.create({ name: 'Ada Lovelace', email: 'ada@example.com' });
  const client = new MemoryCache({ maxBytes: 1024 * 1024, defaultTtlSeconds: 60, modelCacheName: 'model-cache' });
  const mc = await modelCacheFactory(client);
  const first = await mc.wrap(User).findByPk(1);
  const second = await mc.wrap(User).findByPk(1);
  console.log(JSON.stringify({
    kind: 'cjs',
    first,
    row: second,
    name: second.name,
    hits: client.stats().hits,
    key: client.keyFor(User, 'findByPk', 1),
    resolved: require.resolve('sequelize-native-cache'),
    platform: require.resolve('${PLATFORM_PKG}'),
  }));
  await sequelize.close();
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
`;

const ESM_PROGRAM = `import { createRequire } from 'node:module';
import { Sequelize, DataTypes } from 'sequelize';
import { modelCacheFactory, MemoryCache } from 'sequelize-native-cache';

const require = createRequire(import.meta.url);
const sequelize = new Sequelize('sqlite::memory:', { logging: false });
const User = sequelize.define('User', { name: DataTypes.STRING, email: DataTypes.STRING });
await sequelize.sync();
await User.create({ name: 'Grace Hopper', email: 'grace@example.com' });
const client = new MemoryCache({ maxBytes: 1024 * 1024, defaultTtlSeconds: 60, modelCacheName: 'model-cache' });
const mc = await modelCacheFactory(client);
const first = await mc.wrap(User).findByPk(1);
const second = await mc.wrap(User).findByPk(1);
console.log(JSON.stringify({
  kind: 'esm',
  first,
  row: second,
  name: second.name,
  hits: client.stats().hits,
  key: client.keyFor(User, 'findByPk', 1),
  resolved: import.meta.resolve('sequelize-native-cache'),
  platform: require.resolve('${PLATFORM_PKG}'),
}));
await sequelize.close();
`;

test('npm pack + offline npm install of the tarballs: require() and import() work', { timeout: 300_000 }, (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'snc-pack-'));
  t.after(() => {
    if (process.env.KEEP_PACK_TMP) t.diagnostic(`kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  });
  const tarballs = path.join(tmp, 'tarballs');
  fs.mkdirSync(tarballs);

  // 1. The root package: JS shim, loader and typings; no native code.
  const rootPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const root = npmPack(ROOT, tarballs);
  t.diagnostic(`root tarball: ${path.basename(root.tarball)} (${root.files.length} files)`);
  assert.equal(root.name, 'sequelize-native-cache');
  for (const f of ['package.json', 'js/index.js', 'js/index.mjs', 'js/binding/index.js', 'index.d.ts']) {
    assert.ok(root.files.includes(f), `root tarball lacks ${f}; it holds:\n  ${root.files.join('\n  ')}`);
  }
  const native = root.files.filter((f) => f.endsWith('.node'));
  assert.deepEqual(native, [], `root tarball must not ship native code, but holds ${native.join(', ')}`);
  const junk = root.files.filter((f) => /^(target|src|node_modules|__test__)\//.test(f) || f.endsWith('.tgz'));
  assert.deepEqual(junk, [], `root tarball holds build or test files: ${junk.join(', ')}`);

  // 2. The platform package: npm/linux-x64-gnu plus the built binary.
  const platformSrc = path.join(ROOT, 'npm', PLATFORM);
  const builtNode = path.join(ROOT, 'js', 'binding', NODE_FILE);
  assert.ok(fs.existsSync(path.join(platformSrc, 'package.json')), `${platformSrc}/package.json is missing`);
  assert.ok(fs.existsSync(builtNode), `${builtNode} is missing: build the binding first`);
  const platformDir = path.join(tmp, 'platform');
  fs.cpSync(platformSrc, platformDir, { recursive: true });
  fs.copyFileSync(builtNode, path.join(platformDir, NODE_FILE));
  const platformPkg = JSON.parse(fs.readFileSync(path.join(platformDir, 'package.json'), 'utf8'));
  assert.equal(platformPkg.name, PLATFORM_PKG);
  assert.equal(platformPkg.main, NODE_FILE);
  assert.equal(platformPkg.version, rootPkg.version, 'the platform package version must equal the root version');
  const platform = npmPack(platformDir, tarballs);
  t.diagnostic(`platform tarball: ${path.basename(platform.tarball)} (${platform.files.join(', ')})`);
  assert.ok(platform.files.includes(NODE_FILE), `platform tarball lacks ${NODE_FILE}: ${platform.files.join(', ')}`);
  assert.ok(platform.files.includes('package.json'));

  // 3. A fresh project depending on both tarballs; sequelize and sqlite3 linked from this repo.
  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  const link = (name) => {
    const dir = path.join(ROOT, 'node_modules', name);
    assert.ok(fs.existsSync(path.join(dir, 'package.json')), `${dir} is missing: run npm install in the repo`);
    return `file:${dir}`;
  };
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify(
      {
        name: 'snc-pack-check',
        version: '1.0.0',
        private: true,
        dependencies: {
          'sequelize-native-cache': `file:${root.tarball}`,
          [PLATFORM_PKG]: `file:${platform.tarball}`,
          sequelize: link('sequelize'),
          sqlite3: link('sqlite3'),
        },
      },
      null,
      2,
    ),
  );
  const started = Date.now();
  run(NPM, ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--offline', '--install-links=false'], {
    cwd: app,
    timeout: 120_000,
  });
  t.diagnostic(`npm install (offline) took ${Date.now() - started} ms`);
  // The installed tree is consistent: peer dependency (sequelize) and optional dependencies satisfied.
  // (Not a bare `npm ls --all`: it walks into the linked sequelize and flags its devDependencies.)
  const tree = run(NPM, ['ls', '--all', '--offline', 'sequelize', 'sequelize-native-cache', PLATFORM_PKG], { cwd: app });
  t.diagnostic(`npm ls: ${tree.trim().split('\n').slice(1).map((l) => l.replace(/^[│├└─┬\s]+/, '')).join(' | ')}`);

  const installed = path.join(app, 'node_modules', 'sequelize-native-cache');
  assert.ok(fs.existsSync(path.join(installed, 'package.json')), 'sequelize-native-cache was not installed');
  assert.ok(!fs.lstatSync(installed).isSymbolicLink(), 'sequelize-native-cache was linked, not extracted from the tarball');
  const shipped = fs.readdirSync(path.join(installed, 'js', 'binding'));
  assert.deepEqual(shipped.filter((f) => f.endsWith('.node')), [], 'the installed root package holds a .node file');
  assert.ok(
    fs.existsSync(path.join(app, 'node_modules', PLATFORM_PKG, NODE_FILE)),
    `${PLATFORM_PKG} was not installed with its binary`,
  );

  // 4. CommonJS and ESM consumers.
  fs.writeFileSync(path.join(app, 'check.cjs'), CJS_PROGRAM);
  fs.writeFileSync(path.join(app, 'check.mjs'), ESM_PROGRAM);
  const env = childEnv({ NAPI_RS_ENFORCE_VERSION_CHECK: '1' });
  const cases = [
    ['check.cjs', 'cjs', 'Ada Lovelace'],
    ['check.mjs', 'esm', 'Grace Hopper'],
  ];
  for (const [file, kind, name] of cases) {
    const out = lastJson(run(process.execPath, [file], { cwd: app, timeout: 30_000, env }), file);
    t.diagnostic(`${file}: ${JSON.stringify({ row: out.row, hits: out.hits, key: out.key })}`);
    assert.equal(out.kind, kind);
    assert.equal(out.hits, 1, `${file}: expected exactly one hit, stats().hits = ${out.hits}`);
    assert.equal(out.name, name, `${file}: attribute access through the read-only view`);
    assert.equal(out.row?.name, name, `${file}: JSON of the cached row`);
    assert.equal(out.row?.id, 1);
    assert.deepEqual(out.row, out.first, `${file}: the hit differs from the miss`);
    assert.equal(typeof out.key, 'string');
    const resolved = out.resolved.startsWith('file:') ? fileURLToPath(out.resolved) : out.resolved;
    assert.ok(
      fs.realpathSync(resolved).startsWith(fs.realpathSync(installed) + path.sep),
      `${file}: sequelize-native-cache resolved to ${resolved}, not to the installed tarball`,
    );
    assert.ok(
      fs.realpathSync(out.platform).startsWith(fs.realpathSync(path.join(app, 'node_modules', PLATFORM_PKG)) + path.sep),
      `${file}: ${PLATFORM_PKG} resolved to ${out.platform}`,
    );
  }
});

test('the root package pulls in the platform package (optionalDependencies)', () => {
  // `npm install sequelize-native-cache` from a registry only gets the binary if the root package
  // lists the platform package as an optional dependency of the same version.
  const rootPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const platformPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', PLATFORM, 'package.json'), 'utf8'));
  assert.equal(
    rootPkg.optionalDependencies?.[PLATFORM_PKG],
    rootPkg.version,
    `package.json must declare optionalDependencies["${PLATFORM_PKG}"] = "${rootPkg.version}" ` +
      `(has ${JSON.stringify(rootPkg.optionalDependencies ?? null)}); without it a registry install has no native engine`,
  );
  assert.equal(platformPkg.version, rootPkg.version);
});
