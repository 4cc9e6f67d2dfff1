// A worker's isolate seen through wrangler's DevTools session: V8's sampling
// profiler, with the session's Runtime and Network domains switched off
// (otherwise every console.log and D1 call is also serialised for DevTools).
// Shared by isolate-cpu.mjs (the receiver per request) and reconcile-cpu.mjs
// (the admin worker per reconcile run).
import WebSocket from 'ws';

/** The profiler's sampling interval. */
export const INTERVAL_US = 100;

/** Opens the DevTools session of the `wrangler dev` whose inspector is on `port`. */
export async function session(port) {
  const list = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const target = list.find(t => t.webSocketDebuggerUrl);
  if (!target) throw new Error(`no DevTools target on port ${port}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  let id = 0; const pending = new Map();
  ws.on('message', m => { const d = JSON.parse(m); if (d.id && pending.has(d.id)) { pending.get(d.id)(d); pending.delete(d.id); } });
  const send = (method, params = {}) => new Promise(r => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
  await send('Network.disable');
  await send('Runtime.disable');
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval: INTERVAL_US });
  return { send, close: () => ws.close() };
}

const nameOf = n => n.callFrame.functionName || `(${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber})`;
const isWasm = k => /::|^<|wasm-function|^_ZN/.test(k);

/** A stopped profile's busy samples (all but "(idle)"), and those in wasm. */
export function busySamples(profile) {
  let busy = 0, wasm = 0;
  for (const node of profile.nodes) {
    const k = nameOf(node);
    if (k === '(idle)') continue;
    busy += node.hitCount;
    if (isWasm(k)) wasm += node.hitCount;
  }
  return { busy, wasm };
}

/** The `n` heaviest functions of a profile by self time: [[name, µs], …]. */
export function heaviest(profile, n) {
  const self = new Map();
  for (const node of profile.nodes) {
    const k = nameOf(node);
    if (k !== '(idle)') self.set(k, (self.get(k) ?? 0) + node.hitCount);
  }
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => [k, v * INTERVAL_US]);
}

/** Runs `work` with the profiler on; returns its result and the profile. */
export async function profiled(s, label, work) {
  await s.send('Profiler.start');
  const result = await work();
  const stopped = await s.send('Profiler.stop');
  if (!stopped.result) throw new Error(`${label}: the profiler answered ${JSON.stringify(stopped.error ?? stopped)}`);
  return { result, profile: stopped.result.profile };
}
