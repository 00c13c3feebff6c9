// Proof of "drop-in npm install", through the same steps as the release workflow
// (.github/workflows/release.yml): the files `npm pack` would publish are staged in a temporary
// directory with the checked-in npm/ platform folders; the built binding goes into an artifacts
// folder (with placeholder files for the targets this machine cannot build); `napi artifacts`
// moves the binaries into their platform packages and `napi prepublish` writes the root
// package's optionalDependencies, as it does before `npm publish`. The staged root package and
// the linux-x64-gnu platform package are packed, installed offline into a fresh project
// (sequelize and sqlite3 linked from this repo's node_modules, so nothing is downloaded or
// compiled), and the package is loaded there with require() and import() and serves a findByPk
// from the cache. The checkout itself declares no platform package (see the second test).
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
const NAPI_CLI = path.join(ROOT, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js');

/** package.json's napi.targets as napi-rs reads them: { triple, platformArchABI } each. */
async function napiTargets() {
  const { readNapiConfig } = await import('@napi-rs/cli');
  const { targets } = await readNapiConfig(path.join(ROOT, 'package.json'));
  return targets;
}

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
    loaded: Object.keys(require.cache).filter((f) => /^sequelize-native-cache\\..*\\.node$/.test(require('node:path').basename(f))),
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
  loaded: Object.keys(require.cache).filter((f) => /^sequelize-native-cache\\..*\\.node$/.test(require('node:path').basename(f))),
}));
await sequelize.close();
`;

test('prepublish flow, npm pack, offline npm install of the tarballs: require() and import() work', { timeout: 300_000 }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'snc-pack-'));
  t.after(() => {
    if (process.env.KEEP_PACK_TMP) t.diagnostic(`kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  });
  const tarballs = path.join(tmp, 'tarballs');
  fs.mkdirSync(tarballs);

  const rootPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const builtNode = path.join(ROOT, 'js', 'binding', NODE_FILE);
  assert.ok(fs.existsSync(builtNode), `${builtNode} is missing: build the binding first`);
  const targets = await napiTargets();
  assert.ok(
    targets.some((x) => x.platformArchABI === PLATFORM),
    `napi.targets does not build ${PLATFORM}: ${targets.map((x) => x.triple).join(', ')}`,
  );

  // 1. The release job's checkout, reduced to what it publishes: the files `npm pack` lists for
  //    the root package, and the checked-in platform folders.
  const stage = path.join(tmp, 'stage');
  const listed = JSON.parse(run(NPM, ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: ROOT }).replace(/^[^[]*/, ''));
  for (const { path: f } of listed[0].files) {
    fs.mkdirSync(path.dirname(path.join(stage, f)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, f), path.join(stage, f));
  }
  fs.cpSync(path.join(ROOT, 'npm'), path.join(stage, 'npm'), { recursive: true });

  // 2. The build jobs' artifacts: this machine's binding, and a placeholder for every other
  //    target (napi refuses to publish with a target missing). Placeholders never leave `tmp`.
  const artifacts = path.join(stage, 'artifacts');
  for (const target of targets) {
    const dir = path.join(artifacts, `bindings-${target.triple}`);
    const file = path.join(dir, `sequelize-native-cache.${target.platformArchABI}.node`);
    fs.mkdirSync(dir, { recursive: true });
    if (target.platformArchABI === PLATFORM) fs.copyFileSync(builtNode, file);
    else fs.writeFileSync(file, `placeholder for ${target.triple}\n`);
  }

  // 3. The publish job: `napi artifacts`, then `napi prepublish` (which, in the workflow, also
  //    publishes each platform package; here --skip-optional-publish keeps it offline).
  run(process.execPath, [NAPI_CLI, 'artifacts', '--cwd', stage, '--output-dir', 'artifacts']);
  run(process.execPath, [NAPI_CLI, 'prepublish', '--cwd', stage, '-t', 'npm', '--no-gh-release', '--skip-optional-publish']);
  const staged = JSON.parse(fs.readFileSync(path.join(stage, 'package.json'), 'utf8'));
  const expectedOptional = Object.fromEntries(
    targets.map((x) => [`sequelize-native-cache-${x.platformArchABI}`, rootPkg.version]),
  );
  assert.deepEqual(
    staged.optionalDependencies,
    expectedOptional,
    'napi prepublish must list every target\'s platform package, at the root version, as an optional dependency',
  );

  // 4. The root package: JS shim, loader and typings; no native code.
  const root = npmPack(stage, tarballs);
  t.diagnostic(`root tarball: ${path.basename(root.tarball)} (${root.files.length} files)`);
  assert.equal(root.name, 'sequelize-native-cache');
  for (const f of ['package.json', 'js/index.js', 'js/index.mjs', 'js/binding/index.js', 'js/binding/index.d.ts', 'index.d.ts']) {
    assert.ok(root.files.includes(f), `root tarball lacks ${f}; it holds:\n  ${root.files.join('\n  ')}`);
  }
  const native = root.files.filter((f) => f.endsWith('.node'));
  assert.deepEqual(native, [], `root tarball must not ship native code, but holds ${native.join(', ')}`);
  const junk = root.files.filter((f) => /^(target|src|node_modules|__test__|npm|artifacts)\//.test(f) || f.endsWith('.tgz'));
  assert.deepEqual(junk, [], `root tarball holds build or test files: ${junk.join(', ')}`);

  // 5. The platform package, as napi prepublish left it: package.json, README and the binary.
  const platformDir = path.join(stage, 'npm', PLATFORM);
  const platformPkg = JSON.parse(fs.readFileSync(path.join(platformDir, 'package.json'), 'utf8'));
  assert.equal(platformPkg.name, PLATFORM_PKG);
  assert.equal(platformPkg.main, NODE_FILE);
  assert.equal(platformPkg.version, rootPkg.version, 'the platform package version must equal the root version');
  const platform = npmPack(platformDir, tarballs);
  t.diagnostic(`platform tarball: ${path.basename(platform.tarball)} (${platform.files.join(', ')})`);
  assert.deepEqual(platform.files.sort(), ['README.md', NODE_FILE, 'package.json'].sort());

  // 6. A fresh project depending on both tarballs; sequelize and sqlite3 linked from this repo.
  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  const link = (name) => {
    const dir = path.join(ROOT, 'node_modules', name);
    assert.ok(fs.existsSync(path.join(dir, 'package.json')), `${dir} is missing: run npm install in the repo`);
    // The real path: in a worktree whose node_modules is a symlink, npm ls would otherwise
    // see the installed link point somewhere other than the spec says.
    return `file:${fs.realpathSync(dir)}`;
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
  const installedPkg = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
  assert.deepEqual(installedPkg.optionalDependencies, expectedOptional, 'the installed root package lost its optionalDependencies');
  const platforms = fs.readdirSync(path.join(app, 'node_modules')).filter((n) => n.startsWith('sequelize-native-cache-'));
  assert.deepEqual(platforms, [PLATFORM_PKG], 'only this platform\'s package may be installed');

  // 7. CommonJS and ESM consumers.
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
    // The engine came from the platform package, not from a file next to the loader.
    assert.deepEqual(
      out.loaded.map((f) => fs.realpathSync(f)),
      [fs.realpathSync(path.join(app, 'node_modules', PLATFORM_PKG, NODE_FILE))],
      `${file}: loaded native code ${JSON.stringify(out.loaded)}`,
    );
  }
});

test('a checkout declares no platform package; npm/ has one folder per napi target', async () => {
  // An optional dependency that is not published makes every `npm install` in a checkout ask the
  // registry for it, and whoever registers the name would have their code installed and loaded
  // whenever the local build is missing. napi prepublish adds them at publish time (test above).
  const rootPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const ours = (deps) => Object.keys(deps ?? {}).filter((n) => n.startsWith('sequelize-native-cache-'));
  assert.deepEqual(ours(rootPkg.optionalDependencies), [], 'package.json must not list platform packages');
  for (const field of ['dependencies', 'devDependencies', 'peerDependencies']) {
    assert.deepEqual(ours(rootPkg[field]), [], `package.json ${field} must not list platform packages`);
  }
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  assert.deepEqual(ours(lock.packages?.['']?.optionalDependencies), [], 'package-lock.json still lists a platform package');
  const locked = Object.keys(lock.packages ?? {}).filter((k) => /(^|\/)node_modules\/sequelize-native-cache-/.test(k));
  assert.deepEqual(locked, [], 'package-lock.json still installs a platform package');

  const targets = await napiTargets();
  assert.ok(targets.length > 0, 'package.json has no napi.targets');
  const dirs = fs.readdirSync(path.join(ROOT, 'npm')).sort();
  assert.deepEqual(dirs, targets.map((x) => x.platformArchABI).sort(), 'npm/ folders differ from napi.targets');
  for (const target of targets) {
    const dir = path.join(ROOT, 'npm', target.platformArchABI);
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const binary = `sequelize-native-cache.${target.platformArchABI}.node`;
    const what = `npm/${target.platformArchABI}/package.json`;
    assert.equal(pkg.name, `sequelize-native-cache-${target.platformArchABI}`, what);
    assert.equal(pkg.version, rootPkg.version, `${what}: version must equal the root version (npm version runs napi version)`);
    assert.equal(pkg.main, binary, what);
    assert.deepEqual(pkg.files, [binary], what);
    assert.deepEqual(pkg.os, [target.platform], what);
    assert.deepEqual(pkg.cpu, [target.arch], what);
    const libc = { gnu: ['glibc'], musl: ['musl'] }[target.abi];
    assert.deepEqual(pkg.libc, libc, `${what}: libc`);
    const readme = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
    assert.ok(readme.includes(target.triple), `npm/${target.platformArchABI}/README.md does not name ${target.triple}`);
  }
});
