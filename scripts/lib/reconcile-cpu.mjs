// CPU of one reconcile run inside the admin worker's isolate: what the edge
// bills, and what the Free plan caps at 10 ms per invocation.
//
// The admin worker runs alone under `wrangler dev` (its DevTools session on
// it) against the Cal.com stand-in. Each measurement is one
// `POST /admin/reconcile` with the profiler on; the isolate runs nothing else
// meanwhile (no crons under plain `wrangler dev`).
//
//   quiet      nothing changed since the last run: one empty page
//   full read  `since` before every seeded booking: the run's whole page budget
//              of bookings the ledger already has (RECONCILE_PAGES_PER_RUN ×
//              RECONCILE_PAGE_SIZE), nothing to recover
//   recovery   RECOVER new bookings whose webhook never came: recorded, queued
//
// Usage: node reconcile-cpu.mjs INSPECTOR_PORT ADMIN_URL STANDIN_URL TOKEN BOOKINGS RECOVER ROUNDS
// (BENCH_TOP=N also lists the N heaviest functions of a full read on stderr.)
// The ledger must already hold the BOOKINGS seeded bookings (scripts/bench-reconcile
// writes them with SQL); prints a Markdown table on stdout.
import { INTERVAL_US, busySamples, heaviest, profiled, session } from './devtools.mjs';

const [port, admin, standin, token, bookings, recover, rounds] = process.argv.slice(2);
const START = '2030-01-02T10:00:00.000Z';

/** A Cal.com 2024-08-13 booking as the stand-in takes it, filled in as a
 *  real one is: a description, two attendees, the booking form's answers, a
 *  video link (about 1.3 KB as the API lists it). */
const booking = (uid, updatedAt) => {
  const guest = (name, i) => ({ name, email: `${name.toLowerCase()}-${uid}@example.com`, timeZone: i ? 'America/New_York' : 'Europe/London', language: 'en', absent: false });
  return {
    uid, status: 'accepted', title: `30 Min Meeting between Host Person and Ada Lovelace (${uid})`,
    description: 'Quarterly review of the integration: what shipped, what is blocked, and what we plan for the next quarter.',
    start: START, end: '2030-01-02T10:30:00.000Z', location: 'https://app.cal.com/video/8sZ3bX4kQ9wL2mN7pR5tV1',
    hosts: [{ id: 1, name: 'Host Person', email: 'host@example.com', username: 'host', timeZone: 'Europe/London' }],
    attendees: [guest('Ada', 0), guest('Grace', 1)],
    bookingFieldsResponses: {
      name: 'Ada Lovelace', email: `ada-${uid}@example.com`, guests: [`grace-${uid}@example.com`],
      notes: 'Please bring the numbers from last month; we will look at the failed deliveries first.',
      location: { value: 'integrations:daily', optionValue: '' },
    },
    metadata: { videoCallUrl: 'https://app.cal.com/video/8sZ3bX4kQ9wL2mN7pR5tV1' },
    ...(updatedAt ? { createdAt: updatedAt, updatedAt } : {}),
  };
};

async function put(b) {
  const r = await fetch(`${standin}/_standin/bookings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
  if (!r.ok) throw new Error(`the stand-in refused ${b.uid}: ${r.status} ${await r.text()}`);
}

async function reconcile(body) {
  const r = await fetch(`${admin}/admin/reconcile`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const v = await r.json();
  if (!r.ok) throw new Error(`/admin/reconcile answered ${r.status}: ${JSON.stringify(v)}`);
  const [source] = v.sources;
  if (source.error) throw new Error(`the run failed: ${source.error}`);
  return source;
}

// The seeded bookings changed an hour ago (beyond RECONCILE_OVERLAP_SECONDS),
// one ms apart, as the ledger has them.
const hourAgo = Date.now() - 3600_000;
for (let i = 0; i < +bookings; i++) await put(booking(`bench-${String(i).padStart(4, '0')}`, new Date(hourAgo + i).toISOString()));
const since = new Date(hourAgo - 60_000).toISOString();

let fresh = 0;
const scenarios = [
  ['quiet (nothing changed)', async () => {}, {}],
  ['full read (every page of the budget, all known)', async () => {}, { since }],
  [`recovery (${recover} new bookings, no webhook)`, async () => {
    for (let i = 0; i < +recover; i++) await put(booking(`bench-new-${fresh++}`));
  }, {}],
];

const s = await session(port);
const measure = async ([label, prepare, body]) => {
  await prepare();
  const { result, profile } = await profiled(s, label, () => reconcile(body));
  const { busy, wasm } = busySamples(profile);
  return { ms: busy * INTERVAL_US / 1000, wasm: wasm * INTERVAL_US / 1000, run: result, profile };
};
await reconcile({}); // the first run sets the mark
for (const sc of scenarios) await measure(sc); // warm: V8 tiers functions up
const got = scenarios.map(() => []);
for (let r = 0; r < +rounds; r++) for (const [i, sc] of scenarios.entries()) got[i].push(await measure(sc));
s.close();

// BENCH_TOP=N: where the last full read's time went (self time per function).
if (+process.env.BENCH_TOP > 0) {
  for (const [k, us] of heaviest(got[1].at(-1).profile, +process.env.BENCH_TOP)) {
    console.error(`${(us / 1000).toFixed(2).padStart(6)} ms  ${k.slice(0, 140)}`);
  }
}

const mean = xs => xs.reduce((a, b) => a + b, 0) / xs.length;
const lines = ['| run | checked | recovered | isolate CPU ms (each round) | of which wasm ms |', '| --- | ---: | ---: | ---: | ---: |'];
for (const [i, [label]] of scenarios.entries()) {
  const ms = got[i];
  const counts = [...new Set(ms.map(m => `${m.run.checked}`))].join('/');
  const recovered = [...new Set(ms.map(m => `${m.run.recovered}`))].join('/');
  lines.push(`| ${label} | ${counts} | ${recovered} | ${mean(ms.map(m => m.ms)).toFixed(2)} (${ms.map(m => m.ms.toFixed(2)).join(', ')}) | ${mean(ms.map(m => m.wasm)).toFixed(2)} |`);
}
console.log(lines.join('\n'));
process.exit(0);
