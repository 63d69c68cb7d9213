-- The outbox relay and the consumer's de-duplication, in every database that has events (see outbox.sql).

-- name: publish!
-- In the caller's transaction; outbox.sql's trigger wakes the relay at commit.
INSERT INTO outbox (topic, payload) VALUES (:topic, CAST(:payload AS jsonb));

-- name: lead_relay$
-- One relay per database publishes; the others stand by. A session lock, held as long as the leader's
-- connection lives (its process dying frees it): the stream keeps outbox order, and the leader needs no
-- row locks.
SELECT pg_try_advisory_lock(hashtext('lastunit_outbox_relay'));

-- name: relay_round
-- The leader's one statement per round: mark what its last round put on the stream (:done) as published,
-- and read the next batch (the same snapshot still sees :done unpublished, so they are left out). A crash
-- before a batch is marked sends it again after the restart: consumers de-duplicate.
WITH marked AS (
    UPDATE outbox SET published_at = clock_timestamp()
     WHERE id = ANY(CAST(:done AS bigint[])) AND published_at IS NULL
)
SELECT id, topic, payload::text AS payload
  FROM outbox
 WHERE published_at IS NULL AND NOT (id = ANY(CAST(:done AS bigint[])))
 ORDER BY id
 LIMIT :batch;

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
