-- Payment status after authorization: driven by the provider's signed webhooks, forward only.

-- name: apply_webhook^
-- A verified webhook in one statement: its event id recorded (a duplicate stops there), the payment moved
-- forward only (authorized < captured < refunded; authorized < voided: a webhook that arrives late or
-- twice cannot move a payment back), and the move announced on the bus (:topic NULL: nothing to
-- announce; the outbox's trigger wakes the relay).
WITH w AS (
    INSERT INTO webhook_events (event_id, type, charge_id) VALUES (:event_id, :type, :charge_id)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
), moved AS (
    UPDATE payments
       SET status = :status, updated_at = clock_timestamp()
     WHERE psp_charge_id = :charge_id AND EXISTS (SELECT 1 FROM w) AND CAST(:status AS text) IS NOT NULL
       AND (CASE status WHEN 'authorizing' THEN 0 WHEN 'authorized' THEN 1 WHEN 'declined' THEN 1
                        WHEN 'captured' THEN 2 WHEN 'voided' THEN 3 WHEN 'refunded' THEN 3 ELSE 4 END)
         < (CASE CAST(:status AS text) WHEN 'authorized' THEN 1 WHEN 'declined' THEN 1 WHEN 'captured' THEN 2
                        WHEN 'voided' THEN 3 WHEN 'refunded' THEN 3 ELSE 0 END)
    RETURNING id, order_id, amount
), announced AS (
    INSERT INTO outbox (topic, payload)
    SELECT :topic, jsonb_build_object('order_id', order_id, 'payment_id', id::text, 'amount', amount)
      FROM moved
     WHERE CAST(:topic AS text) IS NOT NULL
)
SELECT EXISTS (SELECT 1 FROM w) AS fresh, EXISTS (SELECT 1 FROM moved) AS moved;

-- name: payments_of_order
SELECT id, status, psp_charge_id, amount FROM payments WHERE order_id = :order_id ORDER BY created_at;

-- name: prune_webhooks$
-- Webhook ids seen longer ago than the retention (policy.RETENTION_S): a duplicate older than that would be
-- recorded again, and still change nothing (statuses only move forward). Returns how many went.
WITH gone AS (
    DELETE FROM webhook_events WHERE received_at < clock_timestamp() - make_interval(secs => :keep_s) RETURNING 1
)
SELECT count(*) FROM gone;
