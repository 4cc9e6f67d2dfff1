-- Event identity: keys now name what Cal.com sent (a canonical digest), and
-- triggers that repeat with identical payloads are told apart by time.
-- event_at: the signed createdAt (ms since the epoch) of the delivery that
--           recorded the key, for repeatable triggers; NULL for the others
--           (any delivery with the key is then a copy within the TTL).
ALTER TABLE idempotency_keys ADD COLUMN event_at INTEGER;
