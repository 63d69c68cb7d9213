-- The outbox relay and the consumer's de-duplication, in every database that has events (see outbox.sql).

-- name: publish!
-- The event and its wake-up in one statement of the caller's transaction: PostgreSQL delivers the NOTIFY
-- at commit (never for a rolled-back event) and folds repeats within one transaction into one.
WITH e AS (
    INSERT INTO outbox (topic, payload) VALUES (:topic, CAST(:payload AS jsonb)) RETURNING 1
)
SELECT pg_notify('lastunit_outbox', '') FROM e;

-- name: claim_unpublished
-- The relay's batch, marked published in the same statement; the caller's transaction commits only once
-- the events are on the stream (a crash before that leaves them unpublished: they are sent again, and the
-- consumers de-duplicate). SKIP LOCKED lets relays of several processes share the outbox.
UPDATE outbox o SET published_at = clock_timestamp()
  FROM (SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED) due
 WHERE o.id = due.id
RETURNING o.id, o.topic, o.payload::text AS payload;

-- name: mark_processed$
-- Inside the consumer's transaction, before its effect: true the first time this consumer sees the event,
-- NULL for a redelivery (which the effect then skips). A twin delivery in flight waits here for the first.
INSERT INTO processed_events (consumer, event_id) VALUES (:consumer, :event_id)
ON CONFLICT DO NOTHING
RETURNING true;

-- name: prune_outbox$
-- Published events older than the retention; returns how many went.
WITH gone AS (
    DELETE FROM outbox WHERE published_at < clock_timestamp() - make_interval(secs => :keep_s) RETURNING 1
)
SELECT count(*) FROM gone;

-- name: prune_processed$
-- Event ids remembered longer than the retention: a redelivery older than that would run its effect again.
WITH gone AS (
    DELETE FROM processed_events WHERE processed_at < clock_timestamp() - make_interval(secs => :keep_s)
    RETURNING 1
)
SELECT count(*) FROM gone;
