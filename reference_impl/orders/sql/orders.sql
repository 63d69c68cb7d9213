-- name: insert_order^
INSERT INTO orders (id, idempotency_key, user_id, sku, qty, amount, card, lease_until)
VALUES (:id, :key, :user_id, :sku, :qty, :amount, :card, clock_timestamp() + make_interval(secs => :lease_s))
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING *;

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

-- name: set_reservation!
UPDATE orders SET reservation_id = :reservation_id, updated_at = clock_timestamp() WHERE id = :id;

-- name: set_payment!
UPDATE orders SET payment_id = :payment_id, updated_at = clock_timestamp() WHERE id = :id;

-- name: move^
-- The one way an order changes status: from the status the caller expects, or not at all.
UPDATE orders SET status = :to_status, updated_at = clock_timestamp(), lease_until = NULL,
                  cancel_reason = COALESCE(:reason, cancel_reason),
                  shipment_id = COALESCE(:shipment_id, shipment_id)
 WHERE id = :id AND status = ANY(CAST(:from_statuses AS text[]))
RETURNING *;

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
