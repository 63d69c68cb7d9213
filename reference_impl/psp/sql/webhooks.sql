-- The webhook outbox's delivery protocol: claim due events under a lease, then record each attempt.
-- Delivery is at-least-once by design: a crash after the POST but before `settle_attempt` resends it.

-- name: claim_due
-- Due events in seq order, leased so a second worker (or a restarted process) does not send them at once.
-- An event the reorder knob held back waits until some later event is delivered (or the hold expires).
-- Every row also carries `next_in_s`: when the earliest event not claimed now will be due (the worker's
-- alarm clock; NULL: none waits), so a pass is one statement. A held event counts at its hold's end (a
-- later delivery frees it sooner, and the delivery that does wakes the worker).
WITH claimed AS (
    UPDATE events e
       SET leased_until = clock_timestamp() + make_interval(secs => :lease_s)
     WHERE e.id IN (
            SELECT c.id FROM events c
             WHERE c.delivered_at IS NULL
               AND coalesce(c.webhook_url, :default_url) IS NOT NULL
               AND c.next_attempt_at <= clock_timestamp() + make_interval(secs => :horizon_s)
               AND (c.leased_until IS NULL OR c.leased_until < clock_timestamp())
               AND (c.held_at IS NULL OR :ignore_hold
                    OR c.held_at < clock_timestamp() - make_interval(secs => :max_hold_s)
                    OR EXISTS (SELECT 1 FROM events l WHERE l.seq > c.seq AND l.delivered_at IS NOT NULL))
             ORDER BY c.seq
             LIMIT :batch
               FOR UPDATE SKIP LOCKED)
    RETURNING e.id, e.seq, e.type, e.charge_id, e.data, e.webhook_url, e.created_at, e.attempts, e.held_at
), rest AS (
    SELECT extract(epoch FROM min(CASE WHEN held_at IS NOT NULL
                                       THEN held_at + make_interval(secs => :max_hold_s)
                                       ELSE greatest(next_attempt_at, coalesce(leased_until, next_attempt_at)) END)
                              - clock_timestamp())::float8 AS next_in_s
      FROM events
     WHERE delivered_at IS NULL AND coalesce(webhook_url, :default_url) IS NOT NULL
       AND id NOT IN (SELECT id FROM claimed)
)
SELECT claimed.*, rest.next_in_s FROM rest LEFT JOIN claimed ON true;

-- name: holding_any$
SELECT EXISTS (SELECT 1 FROM events WHERE held_at IS NOT NULL AND delivered_at IS NULL);

-- name: hold_back!
UPDATE events SET held_at = clock_timestamp(), leased_until = NULL WHERE id = :id;

-- name: settle_attempt!
-- One delivery attempt recorded and its event moved on, in one statement: 'delivered' (acked) is done;
-- 'failed' or 'dropped' (lost on purpose) is due again after :backoff_s; a 'duplicate' is only recorded.
WITH a AS (
    INSERT INTO webhook_attempts (event_id, url, outcome, status_code, error)
    VALUES (:event_id, :url, :outcome, :status_code, :error)
)
UPDATE events
   SET attempts = attempts + 1, leased_until = NULL,
       delivered_at = CASE WHEN CAST(:outcome AS text) = 'delivered' THEN clock_timestamp() END,
       next_attempt_at = CASE WHEN CAST(:outcome AS text) = 'delivered' THEN next_attempt_at
                              ELSE clock_timestamp() + make_interval(secs => :backoff_s) END
 WHERE id = :event_id AND CAST(:outcome AS text) <> 'duplicate';

-- name: pending_count$
SELECT count(*) FROM events WHERE delivered_at IS NULL;

-- name: event_log
-- What a test or a notebook wants to see: every attempt of a charge's events, in order.
SELECT e.id AS event_id, e.seq, e.type, e.charge_id, a.url, a.outcome, a.status_code, a.error, a.at
  FROM events e JOIN webhook_attempts a ON a.event_id = e.id
 WHERE e.charge_id = :charge_id
 ORDER BY a.id;

-- name: prune_delivered$
-- Delivered events older than the retention (policy.RETENTION_S), with their delivery attempts, in bounded
-- batches; returns how many events went. Undelivered ones stay, however old.
WITH old AS (
    SELECT id FROM events
     WHERE delivered_at < clock_timestamp() - make_interval(secs => :keep_s)
     LIMIT :batch
), attempts AS (
    DELETE FROM webhook_attempts WHERE event_id IN (SELECT id FROM old)
), gone AS (
    DELETE FROM events WHERE id IN (SELECT id FROM old) RETURNING 1
)
SELECT count(*) FROM gone;
