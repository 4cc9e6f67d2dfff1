-- Notifications that reached the dead-letter queue (permanent SendGrid failure,
-- unreadable message, or retries exhausted), kept for inspection and redrive.
-- key is the notification key, or 'unreadable:<queue message id>' when the
-- message could not be read. Times are milliseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS dead_letters (
  key              TEXT PRIMARY KEY,
  trigger          TEXT,
  notification     TEXT NOT NULL,
  reason           TEXT,
  dead_lettered_at INTEGER NOT NULL
);
