// For the Momento examples: when MOMENTO_API_KEY is not set, starts the local stand-in for
// Momento's HTTP API (__test__/support/momento-server.mjs) and points the environment at it, so
// the seeds' code runs offline. With MOMENTO_API_KEY set, the examples use real Momento.
import { startMomentoServer } from '../__test__/support/momento-server.mjs';

/** Returns the local server (or undefined when real Momento is used). */
export async function momentoForExamples(caches) {
  if (process.env.MOMENTO_API_KEY) return undefined;
  const token = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJleGFtcGxlIn0.c2ln';
  const server = await startMomentoServer({ token, caches });
  // A v1 key: base64 of { api_key, endpoint }; the endpoint is overridden by MOMENTO_ENDPOINT.
  process.env.MOMENTO_API_KEY = Buffer.from(JSON.stringify({ api_key: token, endpoint: 'cell-local.example.com' })).toString('base64');
  process.env.MOMENTO_ENDPOINT = server.url;
  console.log(`(no MOMENTO_API_KEY: using the local Momento stand-in at ${server.url})`);
  return server;
}
