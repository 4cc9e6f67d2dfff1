-- Why a reminder or follow-up decided by the cron was not emailed after all:
-- the mailer checks the booking again when it sends (cancelled, moved, already
-- started, or the tenant disabled) and records the reason here for the
-- booking's timeline. NULL: not dropped.
ALTER TABLE reminders ADD COLUMN dropped TEXT;
