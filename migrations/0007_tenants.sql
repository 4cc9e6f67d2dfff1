-- Tenants: several Cal.com accounts served by one deployment (issue #14).
-- secrets: JSON list of {"id": "<8 hex>", "sealed": "v1.<nonce>.<ciphertext>"},
--          AES-256-GCM under TENANT_SECRETS_KEY with the tenant id as associated
--          data; never a secret in clear. Every other column, when NULL, falls
--          back to the deployment's environment value.
CREATE TABLE IF NOT EXISTS tenants (
  id               TEXT PRIMARY KEY,
  name             TEXT,
  secrets          TEXT NOT NULL DEFAULT '[]',
  email_to         TEXT,
  email_from       TEXT,
  notify_events    TEXT,
  notify_attendees INTEGER,
  reminder_offsets TEXT,
  time_zone        TEXT,
  enabled          INTEGER NOT NULL DEFAULT 1,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
