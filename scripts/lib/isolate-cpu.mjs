// CPU per request inside each receiver's own isolate: what the edge bills as
// the Worker's CPU time. Under `wrangler dev`, workerd's process CPU also holds
// the simulated D1 and Queues (Durable Objects in the same process) and the dev
// proxies; on the edge none of that is the Worker's CPU time.
//
// Each target is a running `wrangler dev` whose DevTools session is on the
// receiver (one worker per wrangler). The inspector's sampling profiler runs
// while N signed webhooks are sent; busy samples (all but "(idle)") times the
// interval, over N, is the isolate's CPU per request. The session's Runtime
// and Network domains are switched off first: otherwise every console.log and
// D1 call is also serialised for DevTools, on one side more than the other.
//
// Usage: node isolate-cpu.mjs N ROUNDS LABEL=INSPECTOR_PORT=URL ...
//   prints a Markdown table on stdout (paths interleaved: a, b, a, b per round).
// Or:    node isolate-cpu.mjs --top N MODE INSPECTOR_PORT URL  (heaviest functions)
import { INTERVAL_US, busySamples, heaviest, profiled, session } from './devtools.mjs';
import crypto from 'node:crypto';

const SECRET = 'bench-secret-0123456789';
const IN_FLIGHT = 16;
const MODES = [['bad', 'bad signature → 401'], ['new', 'new event → 200 queued'], ['dup', 'duplicate → 200 duplicate']];

let run = 0;
/** N Cal.com BOOKING_CREATED bodies, unique per call (a fresh uid each). */
function bodies(n, mode) {
  run += 1;
  const stamp = `${Date.now()}-${run}`;
  return Array.from({ length: n }, (_, i) => JSON.stringify({
    triggerEvent: 'BOOKING_CREATED', createdAt: new Date().toISOString(), payload: {
      title: `30 Min Meeting between Ada Lovelace and Guest ${i}`, startTime: '2027-01-15T15:00:00Z', endTime: '2027-01-15T15:30:00Z',
      organizer: { id: 5, name: 'Ada Lovelace', email: 'ada@example.com', timeZone: 'Europe/London' },
      attendees: [{ email: `guest${i}@example.org`, name: `Guest ${i}`, timeZone: 'America/New_York' }],
      location: 'integrations:daily', uid: `cpu-${mode}-${i}-${stamp}`, bookingId: 100000 + i, status: 'ACCEPTED',
      responses: { name: { label: 'your_name', value: `Guest ${i}` } }, metadata: { videoCallUrl: 'https://app.cal.com/video/x' },
    },
  }));
}

const signature = (mode, body) => mode === 'bad' ? '0'.repeat(64) : crypto.createHmac('sha256', SECRET).update(body).digest('hex');

/** Sends every body, IN_FLIGHT at a time; returns the count per "status outcome". */
async function blast(url, list, mode) {
  let next = 0; const counts = {};
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < list.length) {
      const b = list[next++];
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-cal-signature-256': signature(mode, b) }, body: b });
      const t = await r.text();
      const k = `${r.status} ${t.match(/"status":"(\w+)"/)?.[1] ?? ''}`.trim();
      counts[k] = (counts[k] ?? 0) + 1;
    }
  }));
  return counts;
}

const EXPECTED = { bad: '401', new: '200 queued', dup: '200 duplicate' };

/** Profiles N requests of `mode`; returns µs per request: busy, and its wasm share. */
async function measure(target, n, mode) {
  const list = bodies(n, mode);
  if (mode === 'dup') await blast(target.url, list, mode); // recorded once, unprofiled
  const { result: counts, profile } = await profiled(target.session, `${target.label} ${mode}`, () => blast(target.url, list, mode));
  if ((counts[EXPECTED[mode]] ?? 0) !== n) throw new Error(`${target.label} ${mode}: expected ${n} × "${EXPECTED[mode]}", got ${JSON.stringify(counts)}`);
  const { busy, wasm } = busySamples(profile);
  const us = samples => samples * INTERVAL_US / n;
  return { busy: us(busy), wasm: us(wasm), profile };
}

const fmt = v => v.toFixed(0);
const mean = xs => xs.reduce((a, b) => a + b, 0) / xs.length;

async function table(n, rounds, targets) {
  for (const t of targets) t.session = await session(t.port);
  // Warm every path on every side: V8 tiers functions up as they get hot.
  for (const [mode] of MODES) for (const t of targets) await measure(t, 300, mode);
  const rows = [];
  for (const [mode, label] of MODES) {
    const got = targets.map(() => []);
    for (let r = 0; r < rounds; r++) for (const [i, t] of targets.entries()) got[i].push(await measure(t, n, mode));
    rows.push([label, got.map(ms => ({ busy: mean(ms.map(m => m.busy)), wasm: mean(ms.map(m => m.wasm)), each: ms.map(m => m.busy) }))]);
  }
  for (const t of targets) t.session.close();
  // A wasm column for each side that runs any (calhook's builds and the Rust port, not the TypeScript anchors).
  const withWasm = targets.map((_, i) => rows.some(([, cells]) => cells[i].wasm > 0));
  const [first, ...rest] = targets;
  const head = ['path', ...targets.map(t => `${t.label} µs/req`), ...rest.map(t => `${t.label} ÷ ${first.label}`),
    ...targets.filter((_, i) => withWasm[i]).map(t => `of which wasm (${t.label}) µs`)];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => i ? '---:' : '---').join(' | ')} |`];
  for (const [label, cells] of rows) {
    const base = cells[0].busy;
    lines.push(`| ${[label, ...cells.map(c => `${fmt(c.busy)} (${c.each.map(fmt).join(', ')})`),
      ...cells.slice(1).map(c => `**${(c.busy / base).toFixed(2)}×**`),
      ...cells.filter((_, i) => withWasm[i]).map(c => fmt(c.wasm))].join(' | ')} |`);
  }
  return lines.join('\n');
}

async function top(n, mode, port, url) {
  const t = { label: 'target', port, url, session: await session(port) };
  await measure(t, 300, mode);
  const { busy, profile } = await measure(t, n, mode);
  t.session.close();
  console.log(`${fmt(busy)} µs per request busy in the isolate`);
  for (const [k, us] of heaviest(profile, 25)) console.log(`${(us / n).toFixed(1).padStart(7)} µs  ${k.slice(0, 140)}`);
}

const args = process.argv.slice(2);
if (args[0] === '--top') {
  await top(+args[1], args[2], args[3], args[4]);
} else {
  const [n, rounds, ...specs] = args;
  const targets = specs.map(s => { const [label, port, ...url] = s.split('='); return { label, port, url: url.join('=') }; });
  if (!(+n > 0) || !(+rounds > 0) || targets.length < 1) { console.error('usage: isolate-cpu.mjs N ROUNDS LABEL=PORT=URL ...'); process.exit(2); }
  console.log(await table(+n, +rounds, targets));
}
process.exit(0);
