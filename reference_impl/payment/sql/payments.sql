-- Payment status after authorization: driven by the provider's signed webhooks, forward only.

-- name: advance_status^
-- Statuses only move forward (authorized < captured < refunded; authorized < voided), so a webhook that
-- arrives late or twice cannot move a payment back.
UPDATE payments
   SET status = :status, updated_at = clock_timestamp()
 WHERE psp_charge_id = :charge_id
   AND (CASE status WHEN 'authorizing' THEN 0 WHEN 'authorized' THEN 1 WHEN 'declined' THEN 1
                    WHEN 'captured' THEN 2 WHEN 'voided' THEN 3 WHEN 'refunded' THEN 3 ELSE 4 END)
     < (CASE CAST(:status AS text) WHEN 'authorized' THEN 1 WHEN 'declined' THEN 1 WHEN 'captured' THEN 2
                    WHEN 'voided' THEN 3 WHEN 'refunded' THEN 3 ELSE 0 END)
RETURNING id, order_id, amount, status;

-- name: record_webhook^
INSERT INTO webhook_events (event_id, type, charge_id) VALUES (:event_id, :type, :charge_id)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id;

-- name: payments_of_order
SELECT id, status, psp_charge_id, amount FROM payments WHERE order_id = :order_id ORDER BY created_at;
