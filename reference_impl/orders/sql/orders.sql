-- name: insert_order^
-- The order and its lines (a JSON array of {sku, qty, unit_price}, numbered in the buyer's order) in one
-- statement; nothing when the key is known (a retry). `amount` is the lines' sum, computed here once.
WITH lines AS (
    SELECT l.sku, l.qty, l.unit_price, l.n
      FROM ROWS FROM (jsonb_to_recordset(CAST(:lines AS jsonb)) AS (sku text, qty int, unit_price bigint))
           WITH ORDINALITY AS l(sku, qty, unit_price, n)
), o AS (
    INSERT INTO orders (id, idempotency_key, user_id, sku, qty, amount, card, lease_until)
    SELECT :id, :key, :user_id,
           CASE WHEN count(*) = 1 THEN min(sku) END, CASE WHEN count(*) = 1 THEN min(qty) END,
           sum(qty * unit_price), :card, clock_timestamp() + make_interval(secs => :lease_s)
      FROM lines
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING *
), stored AS (
    INSERT INTO order_lines (order_id, n, sku, qty, unit_price)
    SELECT o.id, lines.n, lines.sku, lines.qty, lines.unit_price FROM o, lines
)
SELECT * FROM o;

-- name: lines_of
-- An order's lines in the buyer's order. An order made before orders had lines has none here: its one
-- line is the order's own sku, qty and amount.
SELECT sku, qty, unit_price, n FROM order_lines WHERE order_id = :order_id
UNION ALL
SELECT o.sku, o.qty, o.amount / o.qty, 1 FROM orders o
 WHERE o.id = :order_id AND NOT EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id)
ORDER BY n;

-- name: order_by_key^
SELECT * FROM orders WHERE idempotency_key = :key;

-- name: get_order^
SELECT * FROM orders WHERE id = :id;

-- name: take_lease^
-- Only one driver at a time: the live request holds the lease; recovery takes it once it ran out.
UPDATE orders SET lease_until = clock_timestamp() + make_interval(secs => :lease_s), drives = drives + 1,
                  updated_at = clock_timestamp()
 WHERE id = :id AND status = 'pending' AND (lease_until IS NULL OR lease_until < clock_timestamp())
RETURNING *;

-- name: record_step^
-- A forward step's result (the reservation or the payment it made) and its saga-log line, in one statement.
WITH o AS (
    UPDATE orders SET reservation_id = COALESCE(:reservation_id, reservation_id),
                      reservation_group_id = COALESCE(:reservation_group_id, reservation_group_id),
                      payment_id = COALESCE(:payment_id, payment_id), updated_at = clock_timestamp()
     WHERE id = :id
    RETURNING id
), logged AS (
    INSERT INTO saga_log (order_id, step, status, detail)
    SELECT id, :step, 'done', CAST(:detail AS jsonb) FROM o
)
SELECT id FROM o;

-- name: transition^
-- The one way an order changes status: from a status the caller expects, or not at all. Its saga-log lines
-- (a JSON array of {step, status, detail}) and the event that announces it (unless :topic is NULL) are
-- written by the same statement, so none exists without the others; the outbox's trigger wakes the relay.
-- An event consumer passes its :consumer and :event_id: the move then happens only the first time this
-- event is seen (processed_events), in the same statement again. Returns the moved order, or nothing.
WITH fresh AS (
    INSERT INTO processed_events (consumer, event_id)
    SELECT :consumer, :event_id WHERE CAST(:event_id AS text) IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
), moved AS (
    UPDATE orders
       SET status = :to_status, updated_at = clock_timestamp(), lease_until = NULL,
           cancel_reason = COALESCE(:reason, cancel_reason), shipment_id = COALESCE(:shipment_id, shipment_id)
     WHERE id = :id AND status = ANY(CAST(:from_statuses AS text[]))
       AND (CAST(:event_id AS text) IS NULL OR EXISTS (SELECT 1 FROM fresh))
    RETURNING *
), logged AS (
    INSERT INTO saga_log (order_id, step, status, detail)
    SELECT moved.id, l.step, l.status, COALESCE(l.detail, '{}')
      FROM moved,
           ROWS FROM (jsonb_to_recordset(CAST(:log AS jsonb)) AS (step text, status text, detail jsonb))
           WITH ORDINALITY AS l(step, status, detail, n)
     ORDER BY l.n
), announced AS (
    INSERT INTO outbox (topic, payload)
    SELECT :topic, CAST(:payload AS jsonb) FROM moved WHERE CAST(:topic AS text) IS NOT NULL
)
SELECT * FROM moved;

-- name: announce_once$
-- An event to publish again (money arrived after a cancellation), once per consumed event: true if written.
WITH fresh AS (
    INSERT INTO processed_events (consumer, event_id) VALUES (:consumer, :event_id)
    ON CONFLICT DO NOTHING
    RETURNING 1
), announced AS (
    INSERT INTO outbox (topic, payload) SELECT :topic, CAST(:payload AS jsonb) FROM fresh RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM announced);

-- name: log_step!
INSERT INTO saga_log (order_id, step, status, detail) VALUES (:order_id, :step, :status, CAST(:detail AS jsonb));

-- name: stale_pending
-- Recovery's work: sagas a crash (or an unanswered call) left pending, whose lease ran out.
SELECT id FROM orders
 WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < clock_timestamp())
 ORDER BY updated_at
 LIMIT 50;

-- name: saga_of
SELECT step, status, detail, at FROM saga_log WHERE order_id = :order_id ORDER BY id;

-- name: next_lease_expiry$
-- Recovery's alarm clock: seconds until the earliest lease of a pending saga runs out (<= 0: due now),
-- NULL when no saga is pending.
SELECT extract(epoch FROM min(coalesce(lease_until, clock_timestamp())) - clock_timestamp())::float8
  FROM orders
 WHERE status = 'pending';

-- name: wake_recovery$
-- A saga was left pending (no answer, a fault, an error): every orders process's recovery worker looks.
SELECT pg_notify('lastunit_orders_recovery', '');
