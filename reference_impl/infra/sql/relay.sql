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
