// A local stand-in for Momento's HTTP API (the one allowed stand-in: Momento is a hosted
// service), following its documented behaviour:
//   GET    /cache/<cache>?key=K              200 with the raw bytes, 404 "Key Not Found"
//   PUT    /cache/<cache>?key=K&ttl_seconds=N  204; ttl_seconds is required and honoured
//   DELETE /cache/<cache>?key=K              204, also when the key is absent
// `key_base64` (base64url) may replace `key`. Every request needs `Authorization: <token>` (or a
// `token` query parameter): 401 without one, 403 with a wrong one. An unknown cache is 404
// "Cache Not Found"; an item (key + value) over 5 MB or a TTL over 24 h is 400.
//
// Tests can inject failures: `server.fail(status, count)` answers the next `count` requests with
// `status` (e.g. 429, 500); `server.delayMs` delays every answer. With `server.echoRequest` set,
// every error answer ends with the request's headers, `Authorization` included, as a careless
// proxy might. `server.flood(bytes)` answers the next GET with an endless-looking body (no length). `server.requests` counts
// requests by method (also served as JSON at /_stand-in/requests); `/_stand-in/delay?ms=N` sets
// `delayMs` of a server in another process.
//
// Run as a script (`node momento-server.mjs <token>`), it serves in its own process and prints
// its port on the first line of stdout.
import http from 'node:http';

const MAX_ITEM_BYTES = 5_000_000;
const MAX_TTL_SECONDS = 24 * 3600;

export async function startMomentoServer({ token = 'test-token', caches = ['model-cache'] } = {}) {
  const store = new Map(); // `${cache}\n${key}` -> { value: Buffer, expires: ms }
  const state = {
    token,
    caches: new Set(caches),
    delayMs: 0,
    echoRequest: false,
    injected: [],
    requests: { GET: 0, PUT: 0, DELETE: 0 },
    hits: 0,
    misses: 0,
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const answer = (status, body = '') => {
        if (status >= 400 && state.echoRequest) body = `${body}\nrequest: ${req.method} ${req.url}\nAuthorization: ${req.headers.authorization}\ntoken=${req.headers.authorization}`;
        const send = () => {
          res.writeHead(status, { 'content-type': status === 200 ? 'application/octet-stream' : 'text/plain' });
          res.end(body);
        };
        if (state.delayMs > 0) setTimeout(send, state.delayMs);
        else send();
      };
      const url = new URL(req.url, 'http://localhost');
      // Not Momento's: lets a server in another process report its counters, or delay its answers
      // as a network would (bench).
      if (url.pathname === '/_stand-in/requests') return answer(200, JSON.stringify(state.requests));
      if (url.pathname === '/_stand-in/delay') {
        state.delayMs = Math.max(0, Number(url.searchParams.get('ms')) || 0);
        return answer(204);
      }
      const m = /^\/cache\/([^/]+)$/.exec(url.pathname);
      if (!m) return answer(404, 'Not Found');
      if (state.requests[req.method] !== undefined) state.requests[req.method]++;
      const auth = req.headers.authorization ?? url.searchParams.get('token');
      if (!auth) return answer(401, 'Unauthorized: missing Authorization header');
      if (auth !== state.token) return answer(403, 'Forbidden: invalid token');
      if (state.injected.length > 0) return answer(state.injected.shift(), 'injected failure');
      const cache = decodeURIComponent(m[1]);
      if (!state.caches.has(cache)) return answer(404, 'Cache Not Found');
      let key = url.searchParams.get('key');
      if (key === null && url.searchParams.has('key_base64')) key = Buffer.from(url.searchParams.get('key_base64'), 'base64url').toString('utf8');
      if (key === null || key === '') return answer(400, 'Bad Request: key is required');
      const id = `${cache}\n${key}`;
      if (req.method === 'GET' && state.flooding !== undefined) {
        // A hostile or broken endpoint: 200 with a body streamed without a length.
        const flood = state.flooding;
        state.flooding = undefined;
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        res.on('close', () => (flood.closed = true));
        const pump = () => {
          while (flood.written < flood.total && !flood.closed) {
            flood.written += chunk.length;
            if (!res.write(chunk)) return res.once('drain', pump);
          }
          if (!flood.closed) res.end();
        };
        return pump();
      }
      if (req.method === 'GET') {
        const item = store.get(id);
        if (item === undefined || item.expires <= Date.now()) {
          store.delete(id);
          state.misses++;
          return answer(404, 'Key Not Found');
        }
        state.hits++;
        return answer(200, item.value);
      }
      if (req.method === 'PUT') {
        const ttl = url.searchParams.get('ttl_seconds');
        if (ttl === null || !/^\d+$/.test(ttl) || Number(ttl) < 1) return answer(400, 'Bad Request: ttl_seconds is required');
        if (Number(ttl) > MAX_TTL_SECONDS) return answer(400, 'Bad Request: ttl_seconds exceeds the maximum');
        const value = Buffer.concat(chunks);
        if (value.length + Buffer.byteLength(key) > MAX_ITEM_BYTES) return answer(400, 'Bad Request: item size exceeds the limit');
        store.set(id, { value, expires: Date.now() + Number(ttl) * 1000, ttl: Number(ttl) });
        return answer(204);
      }
      if (req.method === 'DELETE') {
        store.delete(id);
        return answer(204);
      }
      return answer(405, 'Method Not Allowed');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return Object.assign(state, {
    port,
    url: `http://127.0.0.1:${port}`,
    store,
    /** Answers the next `count` requests with `status`. */
    fail(status, count = 1) {
      for (let i = 0; i < count; i++) state.injected.push(status);
    },
    /**
     * Answers the next GET of a key with `bytes` of body streamed without a length; returns
     * `{ total, written, closed }`, updated as it streams (written stops when the client hangs up).
     */
    flood(bytes) {
      state.flooding = { total: bytes, written: 0, closed: false };
      return state.flooding;
    },
    /** The stored item under `key` in `cache`, or undefined. */
    item(key, cache = caches[0]) {
      return store.get(`${cache}\n${key}`);
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  });
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const server = await startMomentoServer({ token: process.argv[2] || 'test-token' });
  console.log(server.port);
}
