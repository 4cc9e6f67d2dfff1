-- Idempotency keys claimed by the receiver.
-- state: 'in_flight' while a request holds the claim (until lease_until),
--        'done' once the notification is on the queue (until expires_at).
-- Times are milliseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key         TEXT PRIMARY KEY,
  state       TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
  claim_token TEXT NOT NULL,
  trigger     TEXT NOT NULL,
  lease_until INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- The mailer's delivery ledger: one row per notification key.
-- state: 'sending' while a consumer holds it (until lease_until), 'pending' after
--        a transient failure (the queue retries it),
--        'sent' once SendGrid accepted it, 'failed' after a permanent failure.
CREATE TABLE IF NOT EXISTS deliveries (
  key          TEXT PRIMARY KEY,
  state        TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
  trigger      TEXT NOT NULL,
  attempts     INTEGER NOT NULL DEFAULT 0,
  lease_until  INTEGER NOT NULL DEFAULT 0,
  last_status  INTEGER,
  last_error   TEXT,
  notification TEXT,
  updated_at   INTEGER NOT NULL
);
