-- The outbox relay's queries (the table: reference_impl/infra/outbox.sql). A row remembers the stream
-- entry it became and which run of Redis took it, so a Redis that restarts without some of them (no
-- persistence, or the last second of an append-only file) gets those rows again.

-- name: claim_unpublished
SELECT id, topic, payload FROM outbox WHERE published_at IS NULL ORDER BY id
 LIMIT :n FOR UPDATE SKIP LOCKED;

-- name: mark_published!
UPDATE outbox o SET published_at = clock_timestamp(), stream_id = u.stream_id, redis_epoch = :epoch
  FROM unnest(:ids::bigint[], :stream_ids::text[]) AS u(id, stream_id)
 WHERE o.id = u.id;

-- name: lead_relay$
-- One relay per database publishes; the others stand by. A session lock, held as long as the leader's
-- connection lives (its process dying frees it): the stream keeps outbox order, and the leader needs no
-- row locks.
SELECT pg_try_advisory_lock(hashtext('lastunit_outbox_relay'));

-- name: relay_round
-- The leader's one statement per round: mark what its last round put on the stream (:done, the entries
-- they became, the run of Redis that took them) as published, and read the next batch (the same snapshot
-- still sees :done unpublished, so they are left out). A crash before a batch is marked sends it again
-- after the restart: consumers de-duplicate.
WITH marked AS (
    UPDATE outbox o SET published_at = clock_timestamp(), stream_id = u.stream_id, redis_epoch = :epoch
      FROM unnest(CAST(:done AS bigint[]), CAST(:stream_ids AS text[])) AS u(id, stream_id)
     WHERE o.id = u.id AND o.published_at IS NULL
)
SELECT id, topic, payload::text AS payload
  FROM outbox
 WHERE published_at IS NULL AND NOT (id = ANY(CAST(:done AS bigint[])))
 ORDER BY id
 LIMIT :batch;

-- name: republish_lost$
-- Rows published to an earlier run of Redis whose entries are newer than the newest entry this run kept
-- from before it started: lost with that Redis. They go out again (consumers de-duplicate by event id);
-- every other row of an earlier run is now known to be kept. Returns how many go out again.
WITH lost AS (
    UPDATE outbox SET published_at = NULL, stream_id = NULL, redis_epoch = NULL
     WHERE published_at IS NOT NULL AND redis_epoch IS DISTINCT FROM :epoch AND stream_id IS NOT NULL
       AND (split_part(stream_id, '-', 1)::numeric, split_part(stream_id, '-', 2)::numeric)
           > (:kept_ms::numeric, :kept_seq::numeric)
    RETURNING 1
), kept AS (
    UPDATE outbox SET redis_epoch = :epoch
     WHERE published_at IS NOT NULL AND redis_epoch IS DISTINCT FROM :epoch AND stream_id IS NOT NULL
       AND (split_part(stream_id, '-', 1)::numeric, split_part(stream_id, '-', 2)::numeric)
           <= (:kept_ms::numeric, :kept_seq::numeric)
)
SELECT count(*) FROM lost;
