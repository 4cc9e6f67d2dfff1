-- When each kind of trouble was last emailed to ALERT_TO, per tenant ('' for
-- the single route or the whole deployment): at most one alert per
-- ALERT_INTERVAL_MINUTES, and never twice for the same occurrence.
CREATE TABLE IF NOT EXISTS alerts_sent (
  trouble TEXT NOT NULL,
  tenant  TEXT NOT NULL,
  sent_at INTEGER NOT NULL,
  PRIMARY KEY (trouble, tenant)
);
