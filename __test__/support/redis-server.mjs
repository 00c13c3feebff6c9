// redis-server processes of a test's own, on free ports, so a test can stop, hang and restart
// them. Starting fails loudly (never skips) when redis-server is missing.
import { spawn } from 'node:child_process';
import net from 'node:net';

/** A TCP port nothing listens on right now. */
export async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** Resolves once something accepts connections on `port`; throws after ~5 s. */
export async function listening(port, failed = () => undefined) {
  for (let i = 0; i < 100; i++) {
    const err = failed();
    if (err) throw new Error(`redis-server could not start: ${err.message}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not listen on ${port}`);
}

/** Starts a redis-server on `port` (plus `extra` arguments) and waits until it listens. */
export async function startRedis(port, extra = []) {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra], {
    stdio: 'ignore',
  });
  let failed;
  proc.on('error', (e) => (failed = e));
  try {
    await listening(port, () => failed);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return proc;
}
