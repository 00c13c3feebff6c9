// Release guards, run by .github/workflows/release.yml (and `prepublishOnly`).
//
//   node scripts/release-check.mjs tag <tag>   the tag is v<package.json version>, and every
//                                              npm/<platform>/package.json has that version
//   node scripts/release-check.mjs repository  package.json's repository is the GitHub repository
//                                              the workflow runs in (npm rejects a provenance
//                                              statement that names another); filled in if absent
//   node scripts/release-check.mjs staged      before anything is published: the loader (from the
//                                              build artifacts) and the typings are there and were
//                                              generated for this version, every platform folder
//                                              holds its binary, the repository is declared
//   node scripts/release-check.mjs publish     the root package is ready for `npm publish`: the
//                                              staged checks, inside GitHub Actions, after
//                                              `napi prepublish` (every platform package an
//                                              optional dependency at this version)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PKG = path.join(ROOT, 'package.json');

function fail(message) {
  console.error(`release-check: ${message}`);
  process.exit(1);
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

async function targets() {
  const { readNapiConfig } = await import('@napi-rs/cli');
  return (await readNapiConfig(PKG)).targets;
}

/** `git+https://github.com/o/r.git`, `https://github.com/o/r`, `github:o/r` → `https://github.com/o/r`. */
function normalizeRepoUrl(url) {
  return String(url ?? '')
    .trim()
    .replace(/^github:/, 'https://github.com/')
    .replace(/^git\+/, '')
    .replace(/^git:\/\//, 'https://')
    .replace(/^ssh:\/\/git@/, 'https://')
    .replace(/^git@([^:]+):/, 'https://$1/')
    .replace(/\.git$/, '')
    .replace(/\/+$/, '')
    .toLowerCase();
}

function githubRepoUrl() {
  const { GITHUB_SERVER_URL, GITHUB_REPOSITORY } = process.env;
  if (!GITHUB_SERVER_URL || !GITHUB_REPOSITORY) fail('GITHUB_SERVER_URL and GITHUB_REPOSITORY are not set: not in GitHub Actions');
  return `${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}`;
}

async function checkTag(tag) {
  const pkg = readJson(PKG);
  if (tag !== `v${pkg.version}`) {
    fail(`tag ${JSON.stringify(tag)} does not name package.json's version ${pkg.version} (expected v${pkg.version}); cut releases with \`npm version <new version>\`, which tags the version commit`);
  }
  const stale = [];
  for (const t of await targets()) {
    const file = path.join(ROOT, 'npm', t.platformArchABI, 'package.json');
    const version = fs.existsSync(file) ? readJson(file).version : '(missing)';
    if (version !== pkg.version) stale.push(`npm/${t.platformArchABI}: ${version}`);
  }
  if (stale.length) fail(`platform packages are not at ${pkg.version}: ${stale.join(', ')} (\`npx napi version\` updates them)`);
  console.log(`release-check: tag ${tag} matches package.json and ${(await targets()).length} platform packages`);
}

function checkRepository({ fill }) {
  const pkg = readJson(PKG);
  const here = githubRepoUrl();
  const declared = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  if (!declared && !fill) fail('package.json has no repository (run `release-check.mjs repository` before napi create-npm-dirs)');
  if (!declared) {
    pkg.repository = { type: 'git', url: `git+${here}.git` };
    fs.writeFileSync(PKG, `${JSON.stringify(pkg, null, 2)}\n`);
    console.log(`release-check: package.json has no repository; set to ${pkg.repository.url} for provenance`);
    return;
  }
  if (normalizeRepoUrl(declared) !== normalizeRepoUrl(here)) {
    fail(`package.json's repository (${declared}) is not ${here}, where this release is built; npm would reject the provenance statement`);
  }
  console.log(`release-check: repository ${declared} is ${here}`);
}

/** What must hold before the first package is published; returns the platform package names. */
async function checkStaged() {
  const pkg = readJson(PKG);
  const all = await targets();
  const loaderFile = path.join(ROOT, 'js', 'binding', 'index.js');
  if (!fs.existsSync(loaderFile)) fail('js/binding/index.js (the loader napi build generates) is missing');
  const loader = fs.readFileSync(loaderFile, 'utf8');
  for (const t of all) {
    const name = `${pkg.name}-${t.platformArchABI}`;
    if (!loader.includes(`require('${name}')`)) fail(`js/binding/index.js never loads ${name}`);
    const binary = path.join(ROOT, 'npm', t.platformArchABI, `${pkg.name}.${t.platformArchABI}.node`);
    if (!fs.existsSync(binary)) fail(`${path.relative(ROOT, binary)} is missing (napi artifacts puts it there)`);
  }
  if (!loader.includes(`'${pkg.version}'`)) fail(`js/binding/index.js was generated for another version than ${pkg.version}`);
  if (!fs.existsSync(path.join(ROOT, 'js', 'binding', 'index.d.ts'))) fail('js/binding/index.d.ts is missing');
  checkRepository({ fill: false });
  return { pkg, names: all.map((t) => `${pkg.name}-${t.platformArchABI}`) };
}

async function checkPublish() {
  if (process.env.GITHUB_ACTIONS !== 'true') {
    fail('sequelize-native-cache is published by .github/workflows/release.yml when a v* tag is pushed (see README, Packaging), not from a workstation: a hand-made publish would lack the platform binaries and provenance');
  }
  const { pkg, names } = await checkStaged();
  const want = Object.fromEntries(names.map((n) => [n, pkg.version]));
  const have = Object.fromEntries(Object.entries(pkg.optionalDependencies ?? {}).filter(([n]) => n.startsWith(`${pkg.name}-`)));
  if (JSON.stringify(Object.entries(have).sort()) !== JSON.stringify(Object.entries(want).sort())) {
    fail(`optionalDependencies ${JSON.stringify(have)} are not every platform package at ${pkg.version}: run \`napi prepublish -t npm\` first`);
  }
  console.log(`release-check: ${pkg.name}@${pkg.version} is ready to publish with ${names.length} platform packages`);
}

const [mode, arg] = process.argv.slice(2);
if (mode === 'tag' && arg) await checkTag(arg);
else if (mode === 'repository') checkRepository({ fill: true });
else if (mode === 'staged') {
  const { pkg, names } = await checkStaged();
  console.log(`release-check: ${pkg.name}@${pkg.version} and ${names.length} platform packages are staged`);
} else if (mode === 'publish') await checkPublish();
else fail('usage: release-check.mjs tag <tag> | repository | staged | publish');
