-- X-Cal-Webhook-Version values other than the one calhook is written for
-- (2021-10-20), counted by the receiver: shown in the admin status
-- (`calhook status`), so a change of Cal.com's payload is noticed.
CREATE TABLE IF NOT EXISTS payload_versions (
  version       TEXT PRIMARY KEY,
  seen          INTEGER NOT NULL,
  first_seen_at INTEGER NOT NULL,
  last_seen_at  INTEGER NOT NULL
);
