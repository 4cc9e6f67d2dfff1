// Where workerd spends CPU: samples one running receiver through its inspector while
// it answers N webhooks. Start `wrangler dev -c wrangler.toml --inspector-port P` first, with
// the receiver as its only worker (with several, the inspector may attach to another).
// Usage: node profile.mjs INSPECTOR_PORT URL N MODE(new|dup|bad)
import WebSocket from 'ws';
import crypto from 'node:crypto';
const [port, url, nStr, mode] = process.argv.slice(2);
const N = +nStr;
const list = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
const target = list.find(t => t.webSocketDebuggerUrl) ;
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise(r => ws.on('open', r));
let id = 0; const pending = new Map();
ws.on('message', m => { const d = JSON.parse(m); if (d.id && pending.has(d.id)) { pending.get(d.id)(d); pending.delete(d.id); } });
const send = (method, params = {}) => new Promise(r => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
const secret = 'bench-secret-0123456789';
const body = i => JSON.stringify({ triggerEvent: 'BOOKING_CREATED', createdAt: new Date().toISOString(), payload: {
  title: `30 Min Meeting between Ada Lovelace and Guest ${i}`, startTime: '2027-01-15T15:00:00Z', endTime: '2027-01-15T15:30:00Z',
  organizer: { id: 5, name: 'Ada Lovelace', email: 'ada@example.com', timeZone: 'Europe/London' },
  attendees: [{ email: `guest${i}@example.org`, name: `Guest ${i}`, timeZone: 'America/New_York' }],
  location: 'integrations:daily', uid: `prof-${mode}-${i}-${Date.now()}`, bookingId: 100000 + i, status: 'ACCEPTED',
  responses: { name: { label: 'your_name', value: `Guest ${i}` } }, metadata: { videoCallUrl: 'https://app.cal.com/video/x' } } });
const bodies = Array.from({ length: N }, (_, i) => body(i));
const sig = b => mode === 'bad' ? '0'.repeat(64) : crypto.createHmac('sha256', secret).update(b).digest('hex');
async function blast(list) {
  let next = 0; const counts = {};
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < list.length) { const b = list[next++];
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-cal-signature-256': sig(b) }, body: b });
      const t = await r.text(); const k = r.status + ' ' + (t.match(/"status":"(\w+)"/)?.[1] ?? ''); counts[k] = (counts[k] ?? 0) + 1; } }));
  return counts;
}
if (mode === 'dup') await blast(bodies);
await send('Profiler.enable');
await send('Profiler.setSamplingInterval', { interval: 100 });
await send('Profiler.start');
const t0 = Date.now();
const counts = await blast(bodies);
const ms = Date.now() - t0;
const { result } = await send('Profiler.stop');
const p = result.profile; const self = new Map(); let total = 0;
for (const node of p.nodes) { const k = node.callFrame.functionName || `(${node.callFrame.url.split('/').pop()}:${node.callFrame.lineNumber})`; self.set(k, (self.get(k) ?? 0) + node.hitCount); total += node.hitCount; }
console.log(JSON.stringify(counts), `${(N / ms * 1000).toFixed(0)} req/s`, 'samples', total);
const cat = {}; for (const [k, v] of self) { const c = k === '(idle)' ? 'idle' : /::|^<|wasm-function|^__r|^_ZN/.test(k) ? 'wasm (Rust)' : k === '(program)' || k === '(garbage collector)' ? 'runtime' : 'JS (glue, miniflare, wrangler)'; cat[c] = (cat[c] ?? 0) + v; }
console.log(Object.entries(cat).map(([c, v]) => `${c} ${(100 * v / total).toFixed(1)}%`).join(' · '));
for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log((100 * v / total).toFixed(1).padStart(5) + '%  ' + k.slice(0, 140));
process.exit(0);
