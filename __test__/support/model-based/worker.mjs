// One process of the two-process run (see two-process.mjs), started with child_process.fork.
// Messages: { type: 'init', config } → { type: 'ready' }; { type: 'op', op, i } → { counts,
// failure }; { type: 'check', reads, where } → { counts, failure }; { type: 'stop' } → exits.
import { openEnv, Session } from './runner.mjs';

let env;
let eventual = false;
let convergeMs = 3000;

function reply(msg) {
  process.send(msg);
}

function delta(before, after) {
  const out = {};
  for (const k of Object.keys(after)) out[k] = after[k] - (before[k] || 0);
  return out;
}

process.on('message', async (m) => {
  try {
    if (m.type === 'init') {
      ({ eventual, convergeMs } = m.config);
      env = await openEnv({ ...m.config, fresh: false });
      reply({ type: 'ready' });
    } else if (m.type === 'op' || m.type === 'check') {
      const s = new Session(env, { eventual, convergeMs });
      const before = { ...s.counts };
      if (m.type === 'op') await s.op(m.op, m.i);
      else await s.sweep(m.where, m.reads);
      const st = env.client.stats();
      reply({ type: 'done', counts: delta(before, s.counts), failure: s.failure, stats: { hits: st.hits, misses: st.misses } });
    } else if (m.type === 'stop') {
      await env?.close();
      process.exit(0);
    }
  } catch (err) {
    reply({ type: 'done', counts: {}, failure: { kind: 'exception', where: `worker ${m.type}`, error: `${err && err.stack}` } });
  }
});
