// Under jest, reads are cached: the real jest (a dev dependency) runs __test__/jest/*.spec.js, in
// which every options object comes from jest's own vm realm, and those specs assert hits from
// stats(). Most Sequelize apps run their tests under jest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const jest = join(dirname(createRequire(import.meta.url).resolve('jest/package.json')), 'bin', 'jest.js');

test('jest: options built in a test file are keyed, and reads hit', () => {
  const r = spawnSync(process.execPath, [jest, '--config', join(here, 'jest', 'jest.config.js'), '--ci', '--colors=false'], {
    cwd: join(here, '..'),
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NODE_TEST_CONTEXT: undefined },
  });
  const output = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, `jest failed:\n${output}`);
  assert.match(output, /Tests:\s+6 passed, 6 total/, output);
});
