// The anchor, given calhook's duties: the same verification, then what
// calhook's receiver does for a new booking — RFC 8785 digest in the key, one
// D1 batch (claim, outbox row, booking, attendee, booking event, with
// calhook's SQL), the whole notification on the queue, one log line.
// A measuring fixture: the SQL is copied from calhook-core's
// store/outbox.rs (record_with) and store/bookings.rs (statements) as of
// 2026-12-01, and must follow them if they change.
import canonicalize from "canonicalize";

export interface Env {
  CAL_WEBHOOK_SECRET: string;
  DB: D1Database;
  NOTIFY: Queue;
}

const enc = new TextEncoder();
let keyPromise: Promise<CryptoKey> | undefined;

function hexToBytes(hex: string): Uint8Array | null {
  if (hex.length % 2 !== 0 || /[^0-9a-f]/i.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const CLAIM =
  "INSERT INTO idempotency_keys (key, state, claim_token, trigger, lease_until, expires_at, updated_at, event_at) " +
  "VALUES (?1, 'done', ?2, ?3, 0, ?4, ?5, ?6) " +
  "ON CONFLICT(key) DO UPDATE SET state = 'done', claim_token = excluded.claim_token, " +
  "lease_until = 0, expires_at = excluded.expires_at, updated_at = excluded.updated_at, " +
  "event_at = excluded.event_at " +
  "WHERE idempotency_keys.expires_at <= ?5 " +
  "OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.lease_until <= ?5) " +
  "OR (?7 IS NOT NULL AND idempotency_keys.event_at IS NOT NULL " +
  "AND abs(?6 - idempotency_keys.event_at) > ?7)";
const OUTBOX =
  "INSERT INTO outbox (key, trigger, notification, created_at, attempts) " +
  "SELECT ?1, ?2, ?3, ?4, 0 " +
  "WHERE EXISTS (SELECT 1 FROM idempotency_keys WHERE key = ?6 AND claim_token = ?5) " +
  "ON CONFLICT(key) DO UPDATE SET trigger = excluded.trigger, " +
  "notification = excluded.notification, created_at = excluded.created_at, attempts = 0";
const newerStatus = (c: string) =>
  `${c} = CASE WHEN (excluded.status_rank, excluded.status_at) > (bookings.status_rank, bookings.status_at) THEN excluded.${c} ELSE bookings.${c} END, `;
const newerFact = (c: string) =>
  `${c} = CASE WHEN excluded.facts_at > bookings.facts_at THEN COALESCE(excluded.${c}, bookings.${c}) ELSE COALESCE(bookings.${c}, excluded.${c}) END, `;
const BOOKING =
  "INSERT INTO bookings (uid, status, status_rank, status_at, title, start_at, end_at, organizer_tz, " +
  "organizer_name, organizer_email, location, meeting_url, facts_at, first_seen_at, " +
  "rescheduled_from, rescheduled_to, updated_at) " +
  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) " +
  "ON CONFLICT(uid) DO UPDATE SET " +
  ["status", "status_rank", "status_at"].map(newerStatus).join("") +
  ["title", "start_at", "end_at", "organizer_tz", "organizer_name", "organizer_email", "location", "meeting_url"].map(newerFact).join("") +
  "facts_at = MAX(excluded.facts_at, bookings.facts_at), " +
  "first_seen_at = MIN(excluded.first_seen_at, bookings.first_seen_at), " +
  "rescheduled_from = COALESCE(bookings.rescheduled_from, excluded.rescheduled_from), " +
  "rescheduled_to = COALESCE(bookings.rescheduled_to, excluded.rescheduled_to), " +
  "updated_at = excluded.updated_at";
const ATTENDEE =
  "INSERT INTO booking_attendees (uid, email, name, time_zone, state, state_at, no_show, no_show_at) " +
  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) " +
  "ON CONFLICT(uid, email) DO UPDATE SET " +
  "name = COALESCE(excluded.name, booking_attendees.name), " +
  "time_zone = COALESCE(excluded.time_zone, booking_attendees.time_zone), " +
  "state = CASE WHEN excluded.state_at > booking_attendees.state_at THEN excluded.state ELSE booking_attendees.state END, " +
  "state_at = MAX(excluded.state_at, booking_attendees.state_at), " +
  "no_show = CASE WHEN excluded.no_show_at > booking_attendees.no_show_at THEN excluded.no_show ELSE booking_attendees.no_show END, " +
  "no_show_at = MAX(excluded.no_show_at, booking_attendees.no_show_at)";
const EVENT =
  "INSERT OR IGNORE INTO booking_events (uid, key, trigger, sent_at, received_at, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const started = Date.now();
    const url = new URL(req.url);
    if (url.pathname !== "/webhooks/cal") return new Response("not found", { status: 404 });
    if (req.method !== "POST") return new Response("method not allowed", { status: 405, headers: { Allow: "POST" } });
    const body = new Uint8Array(await req.arrayBuffer());
    let sigHex = req.headers.get("x-cal-signature-256") ?? "";
    if (sigHex.startsWith("sha256=")) sigHex = sigHex.slice(7);
    const sig = hexToBytes(sigHex);
    if (!sig) return Response.json({ error: "invalid signature" }, { status: 401 });
    keyPromise ??= crypto.subtle.importKey("raw", enc.encode(env.CAL_WEBHOOK_SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    const ok = await crypto.subtle.verify("HMAC", await keyPromise, sig, body);
    if (!ok) return Response.json({ error: "invalid signature" }, { status: 401 });
    let event: any;
    try { event = JSON.parse(new TextDecoder().decode(body)); } catch { return Response.json({ error: "invalid JSON" }, { status: 400 }); }
    const p = event?.payload ?? {};
    const uid = p.uid ?? p.bookingUid;
    const trigger = event?.triggerEvent;
    if (typeof trigger !== "string" || !uid) return Response.json({ error: "not a Cal.com booking event" }, { status: 400 });
    const digest = hex(await crypto.subtle.digest("SHA-256", enc.encode(canonicalize(p)))).slice(0, 24);
    const key = `${trigger}:${uid}:${digest}`;
    const now = Date.now();
    const token = `${now}-${crypto.randomUUID()}`;
    const notification = JSON.stringify({ v: 1, key, trigger, created_at: event.createdAt, title: p.title, start: p.startTime, end: p.endTime, organizer: p.organizer, attendees: p.attendees, location: p.location, meeting_url: p.metadata?.videoCallUrl, responses: p.responses, booking_uid: uid });
    const start = Date.parse(p.startTime), end = Date.parse(p.endTime);
    const batch = [
      env.DB.prepare(CLAIM).bind(key, token, trigger, now + 7 * 86400_000, now, null, null),
      env.DB.prepare(OUTBOX).bind(key, trigger, notification, now, token, key),
      env.DB.prepare(BOOKING).bind(uid, "accepted", 0, now, p.title ?? null, start, end, p.organizer?.timeZone ?? null, p.organizer?.name ?? null, p.organizer?.email ?? null, p.location ?? null, p.metadata?.videoCallUrl ?? null, now, now, null, null, now),
      ...(p.attendees ?? []).map((a: any) => env.DB.prepare(ATTENDEE).bind(uid, a.email, a.name ?? null, a.timeZone ?? null, "seated", now, null, 0)),
      env.DB.prepare(EVENT).bind(uid, key, trigger, now, now, "emailed"),
    ];
    const res = await env.DB.batch(batch);
    const log = (status: number, outcome: string) =>
      console.log(JSON.stringify({ svc: "anchor-with-duties", method: req.method, path: url.pathname, status, outcome, trigger, booking_uid: uid, key, duration_ms: Date.now() - started }));
    if (res[0].meta.changes !== 1 || res[1].meta.changes !== 1) {
      log(200, "duplicate");
      return Response.json({ status: "duplicate", event: trigger, key });
    }
    await env.NOTIFY.send(notification);
    log(200, "queued");
    return Response.json({ status: "queued", event: trigger, key });
  },
  async queue(batch: MessageBatch<unknown>): Promise<void> {
    for (const m of batch.messages) m.ack();
  },
};
