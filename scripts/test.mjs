// `npm test`: the Rust unit tests, the node:test suites, and the typings check — in that order,
// stopping at the first failure.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tests = readdirSync(join(root, '__test__'))
  .filter((f) => f.endsWith('.test.mjs'))
  .sort()
  .map((f) => join('__test__', f));

const steps = [
  ['cargo', ['test', '--quiet']],
  [process.execPath, ['--test', '--test-concurrency=1', ...tests]],
  [process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '-p', join('__test__', 'types')]],
];

for (const [cmd, args] of steps) {
  console.log(`\n$ ${[cmd === process.execPath ? 'node' : cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`\nnpm test: step failed (${cmd} exited ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}
