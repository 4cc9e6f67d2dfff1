-- Per-tenant email quota: a tenant's own emails-per-hour limit (NULL: the
-- mailer's EMAILS_PER_HOUR), and what each tenant sent and had held back in
-- each hour (the mailer counts a copy before it sends it; an over-limit copy
-- is held, retried in the next hour, and counted in `held`).
ALTER TABLE tenants ADD COLUMN emails_per_hour INTEGER;
CREATE TABLE IF NOT EXISTS tenant_usage (
  tenant      TEXT NOT NULL,
  hour_start  INTEGER NOT NULL,
  sent        INTEGER NOT NULL DEFAULT 0,
  held        INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, hour_start)
);
