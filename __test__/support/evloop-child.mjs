// Child-process scenarios for __test__/evloop.test.mjs: things that must be judged from outside
// a process (does it exit on its own, does it survive its workers ending). Prints one JSON line
// per result on stdout.
//
//   node evloop-child.mjs idle <url>      an idle connection and a subscription; must exit by itself
//   node evloop-child.mjs pending <url>   a command still pending must keep the process alive
//   node evloop-child.mjs workers <url>   worker threads with their own connections end in three ways
//   node --expose-gc evloop-child.mjs orphan <url>   a connection collected with a command in flight
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const BINDING = fileURLToPath(new URL('../../js/binding/index.js', import.meta.url));
const b = require(BINDING);
const [mode, url] = process.argv.slice(2);
const say = (o) => console.log(JSON.stringify(o));

if (mode === 'idle') {
  const c = b.evloopTestConnect(url);
  say({ got: await b.evloopTestCommand(c, ['PING']) });
  let subscribed = false;
  b.evloopTestSubscribe(url, 'evloop:idle', () => {}, (s) => {
    subscribed = s;
  });
  // Wait until subscribed, without anything else keeping the loop alive afterwards.
  for (let i = 0; i < 100 && !subscribed; i++) await new Promise((r) => setTimeout(r, 20));
  say({ subscribed, idle: true });
  // Nothing else to do: the process must exit now, with both connections open.
} else if (mode === 'pending') {
  const c = b.evloopTestConnect(url, { commandTimeoutMs: 5000 });
  await b.evloopTestCommand(c, ['PING']);
  // Not awaited: only the pending command can keep the process alive until BLPOP answers.
  b.evloopTestCommand(c, ['BLPOP', 'evloop:nothing', '0.3']).then((v) => say({ settled: v }));
} else if (mode === 'workers') {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const b = require(workerData.binding);
    (async () => {
      const c = b.evloopTestConnect(workerData.url);
      const n = 300;
      const got = await Promise.all(Array.from({ length: n }, (_, i) => b.evloopTestCommand(c, ['ECHO', workerData.name + ':' + i])));
      const wrong = got.filter((v, i) => v !== workerData.name + ':' + i).length;
      parentPort.postMessage({ name: workerData.name, wrong, stats: b.evloopTestStats(c) });
      if (workerData.end === 'in-flight-exit') {
        for (let i = 0; i < 1000; i++) b.evloopTestCommand(c, ['ECHO', 'x']).catch(() => {});
        process.exit(0);
      }
      if (workerData.end === 'in-flight-terminate') {
        for (let i = 0; i < 1000; i++) b.evloopTestCommand(c, ['ECHO', 'x']).catch(() => {});
        parentPort.postMessage({ name: workerData.name, busy: true });
        setInterval(() => b.evloopTestCommand(c, ['ECHO', 'y']).catch(() => {}), 1);
      }
      // 'idle-return': the script ends with the connection open and idle.
    })();
  `;
  const main = b.evloopTestConnect(url);
  const ends = ['idle-return', 'in-flight-exit', 'in-flight-terminate'];
  const results = await Promise.all(
    ends.map(
      (end) =>
        new Promise((resolve, reject) => {
          // One worker reaches the server by name: a lookup on libuv's thread pool, then teardown.
          const workerUrl = end === 'in-flight-terminate' ? url.replace('127.0.0.1', 'localhost') : url;
          const w = new Worker(code, { eval: true, workerData: { binding: BINDING, url: workerUrl, name: end, end } });
          const messages = [];
          w.on('message', (m) => {
            messages.push(m);
            if (m.busy) w.terminate();
          });
          w.on('error', reject);
          w.on('exit', (exitCode) => resolve({ end, exitCode, messages }));
        }),
    ),
  );
  say({ pong: await b.evloopTestCommand(main, ['PING']), mainStats: b.evloopTestStats(main), results });
} else if (mode === 'orphan') {
  const admin = b.evloopTestConnect(url);
  const named = async () => (await b.evloopTestCommand(admin, ['CLIENT', 'LIST'])).split('\n').filter((l) => l.includes('name=evloop-orphan')).length;
  // The connection is reachable only from this function's frame: once it returns, only the
  // command in flight (the server's side) keeps anything going.
  const start = async () => {
    const c = b.evloopTestConnect(url, { commandTimeoutMs: 5000 });
    await b.evloopTestCommand(c, ['CLIENT', 'SETNAME', 'evloop-orphan']);
    return b.evloopTestCommand(c, ['BLPOP', 'evloop:nothing', '0.3']);
  };
  const pending = await start().then((p) => ({ p }));
  const before = await named();
  globalThis.gc();
  await new Promise((r) => setImmediate(r));
  globalThis.gc();
  const settled = await pending.p;
  let after = await named();
  for (let i = 0; i < 100 && after > 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    globalThis.gc();
    after = await named();
  }
  say({ before, settled, after });
  b.evloopTestClose(admin);
} else {
  throw new Error(`unknown mode ${mode}`);
}
