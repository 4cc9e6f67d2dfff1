-- The receiver's transactional outbox: every accepted event's notification,
-- written in the same D1 transaction that marks its idempotency key done, and
-- deleted once the queue has taken it. A row left here (queue down, crash
-- between the write and the send) is sent by the per-minute cron.
-- Times are milliseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS outbox (
  key          TEXT PRIMARY KEY,
  trigger      TEXT NOT NULL,
  notification TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  -- Sends the cron tried and the queue refused.
  attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_oldest ON outbox (created_at, key);
