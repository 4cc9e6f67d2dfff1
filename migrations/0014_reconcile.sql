-- Reconciling the booking ledger with Cal.com's API (issue #31).
-- A tenant's Cal.com API key, sealed like its webhook secrets (AES-256-GCM
-- under TENANT_SECRETS_KEY, associated data "<tenant>/cal-api-key"); NULL:
-- the tenant is not reconciled.
ALTER TABLE tenants ADD COLUMN cal_api_key TEXT;
-- One row per reconciled source (a tenant id, '' for the single route).
-- mark_at: every booking Cal.com updated at or before it was applied (ms);
-- the next run reads from it minus RECONCILE_OVERLAP_SECONDS.
-- more: the last run stopped at its budget; the next minute runs it again.
-- refused_key: a fingerprint of the key Cal.com refused (401/403): that key
-- is not tried again until it changes.
CREATE TABLE IF NOT EXISTS reconcile_sources (
  source      TEXT PRIMARY KEY,
  mark_at     INTEGER,
  last_run_at INTEGER,
  checked     INTEGER NOT NULL DEFAULT 0,
  recovered   INTEGER NOT NULL DEFAULT 0,
  error       TEXT,
  more        INTEGER NOT NULL DEFAULT 0,
  refused_key TEXT,
  refused_at  INTEGER
);
