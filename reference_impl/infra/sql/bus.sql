-- Publishing, the consumer's de-duplication and pruning, in every database that has events (see outbox.sql;
-- the relay's own queries are in relay.sql).

-- name: publish!
-- In the caller's transaction; outbox.sql's trigger wakes the relay at commit.
INSERT INTO outbox (topic, payload) VALUES (:topic, CAST(:payload AS jsonb));

-- name: mark_processed$
-- Inside the consumer's transaction, before its effect: true the first time this consumer sees the event,
-- NULL for a redelivery (which the effect then skips). A twin delivery in flight waits here for the first.
INSERT INTO processed_events (consumer, event_id) VALUES (:consumer, :event_id)
ON CONFLICT DO NOTHING
RETURNING true;

-- name: prune_outbox$
-- Published events older than the retention (policy.RETENTION_S); returns how many went.
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
