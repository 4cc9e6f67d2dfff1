-- The delivery ledger gets fencing and per-recipient deliveries.
-- claim_token: the token of the consumer holding 'sending'; every write after
--              the claim names it, so a consumer whose lease ran out changes nothing.
-- notification_key: the notification a delivery belongs to (the staff email's
--              key is the notification key; attendee copies add a suffix).
-- message_id: SendGrid's X-Message-Id once it accepted the email.
ALTER TABLE deliveries ADD COLUMN claim_token TEXT;
ALTER TABLE deliveries ADD COLUMN notification_key TEXT;
ALTER TABLE deliveries ADD COLUMN message_id TEXT;
CREATE INDEX IF NOT EXISTS deliveries_notification_key ON deliveries (notification_key);
CREATE INDEX IF NOT EXISTS deliveries_sent_at ON deliveries (state, updated_at);
-- The admin list pages newest first.
CREATE INDEX IF NOT EXISTS dead_letters_newest ON dead_letters (dead_lettered_at, key);
