-- Console sessions signed out before they expired: a session cookie is signed
-- and self-contained, so signing out records its tag here and the console
-- refuses it from then on. Rows past `expires_at` are pruned daily.
CREATE TABLE IF NOT EXISTS console_signed_out (
  tag        TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
