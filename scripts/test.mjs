// `npm test`: the Rust unit tests, the node:test suites (the single-node Redis ones twice: once per
// transport), and the typings check — in that order, stopping at the first failure.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tests = readdirSync(join(root, '__test__'))
  .filter((f) => f.endsWith('.test.mjs'))
  .sort()
  .map((f) => join('__test__', f));

// RedisCache serves a single node on the event loop; the tokio transport (a cluster's, and the
// fallback where libuv is missing) runs the single-node suites again so both stay covered.
const tokioSuites = ['redis.test.mjs', 'redis-channel.test.mjs', 'redis-processes.test.mjs'].map((f) => join('__test__', f));

const steps = [
  ['cargo', ['test', '--quiet']],
  [process.execPath, ['--test', '--test-concurrency=1', ...tests]],
  [process.execPath, ['--test', '--test-concurrency=1', ...tokioSuites], { SNC_REDIS_TRANSPORT: 'tokio' }],
  [process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '-p', join('__test__', 'types')]],
];

for (const [cmd, args, env = {}] of steps) {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v} `).join('');
  console.log(`\n$ ${vars}${[cmd === process.execPath ? 'node' : cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.error(`\nnpm test: step failed (${cmd} exited ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}
