-- The outbox job reads rows never refused first, then by refusals, oldest
-- first within each (`store::outbox::due`): this index serves that order, so
-- a large backlog is paged without sorting the whole table each run.
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (attempts, created_at, key);
