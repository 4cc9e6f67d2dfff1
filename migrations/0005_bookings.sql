-- The booking ledger: one row per Cal.com booking uid, updated by every
-- booking event in any arrival order (see crates/calhook-core/src/store/bookings.rs).
-- status_rank: 0 requested/accepted, 1 ended, 2 terminal (rejected, cancelled,
--              rescheduled); a status is replaced only by a higher (rank, status_at).
-- status_at / facts_at: Cal.com's signed createdAt (ms) of the event that set
--              the status / the facts (title, times, zones).
CREATE TABLE IF NOT EXISTS bookings (
  uid              TEXT PRIMARY KEY,
  status           TEXT NOT NULL CHECK (status IN ('requested', 'accepted', 'ended', 'rejected', 'cancelled', 'rescheduled')),
  status_rank      INTEGER NOT NULL,
  status_at        INTEGER NOT NULL,
  title            TEXT,
  start_at         INTEGER,
  end_at           INTEGER,
  organizer_tz     TEXT,
  organizer_name   TEXT,
  organizer_email  TEXT,
  location         TEXT,
  meeting_url      TEXT,
  facts_at         INTEGER NOT NULL,
  -- The earliest signed createdAt of any of its events: reminders due before
  -- calhook first heard of the booking are never sent.
  first_seen_at    INTEGER NOT NULL,
  rescheduled_from TEXT,
  rescheduled_to   TEXT,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS bookings_upcoming ON bookings (status, start_at);
-- Who is on a booking (seats come and go on one row), by lower-cased address.
-- state: 'seated' or 'cancelled', set by the newest event (state_at);
-- no_show likewise by no_show_at.
CREATE TABLE IF NOT EXISTS booking_attendees (
  uid        TEXT NOT NULL,
  email      TEXT NOT NULL,
  name       TEXT,
  time_zone  TEXT,
  state      TEXT NOT NULL CHECK (state IN ('seated', 'cancelled')),
  state_at   INTEGER NOT NULL,
  no_show    INTEGER,
  no_show_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (uid, email)
);
-- Every event received for a booking (the timeline), once per notification key.
CREATE TABLE IF NOT EXISTS booking_events (
  uid         TEXT NOT NULL,
  key         TEXT NOT NULL,
  trigger     TEXT NOT NULL,
  sent_at     INTEGER,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (uid, key)
);
-- Reminders and follow-ups decided for a booking, once each (the cron claims
-- a row before it queues the email). kind: 'reminder' (offset_minutes before
-- the start) or 'follow_up' (offset_minutes after the end); state: 'sent' or
-- 'skipped' (a nearer reminder was due at the same time). start_at is part of
-- the key, so a booking whose time changed gets its reminders anew.
CREATE TABLE IF NOT EXISTS reminders (
  uid            TEXT NOT NULL,
  kind           TEXT NOT NULL CHECK (kind IN ('reminder', 'follow_up')),
  offset_minutes INTEGER NOT NULL,
  start_at       INTEGER NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('sent', 'skipped')),
  key            TEXT NOT NULL,
  claim_token    TEXT NOT NULL,
  decided_at     INTEGER NOT NULL,
  PRIMARY KEY (uid, kind, offset_minutes, start_at)
);
