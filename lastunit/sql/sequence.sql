-- What each service recorded about one order, for its sequence diagram (lastunit/sequence.py).
-- Times are epoch seconds from the one PostgreSQL cluster every service uses, so they share one clock.

-- name: checkout_of
-- orders: the client's POST /checkouts arrived when the order row was written.
SELECT extract(epoch FROM created_at) AS at
  FROM orders
 WHERE id = CAST(:order_id AS uuid);

-- name: saga_steps
-- orders: each step as the saga logged it (a reply received, a decision taken, a compensation done).
SELECT step, status, detail, extract(epoch FROM at) AS at
  FROM saga_log
 WHERE order_id = CAST(:order_id AS uuid)
 ORDER BY id;

-- name: published
-- orders, payments, shipping: events written to the outbox in the transaction of the change they announce.
SELECT id, topic, extract(epoch FROM created_at) AS at
  FROM outbox
 WHERE payload->>'order_id' = :order_id
 ORDER BY id;

-- name: delivered
-- any consumer's database: when it began handling an event (the de-duplication row, same transaction).
SELECT consumer, event_id, extract(epoch FROM processed_at) AS at
  FROM processed_events
 WHERE event_id = ANY(:event_ids);

-- name: reservation_of
-- inventory: the reservation the saga made (its attempt id is the order's), and when it was settled.
SELECT state, extract(epoch FROM created_at) AS at, extract(epoch FROM settled_at) AS settled_at
  FROM reservations
 WHERE attempt_id = :attempt_id;

-- name: authorizations_of
-- payments: one row per authorize request that reached the service with a new key.
SELECT id::text, extract(epoch FROM created_at) AS at
  FROM payments
 WHERE order_id = :order_id
 ORDER BY created_at;

-- name: webhooks_of
-- payments: the provider's signed webhooks as received, for the charges of this order.
SELECT w.type, extract(epoch FROM w.received_at) AS at
  FROM webhook_events w
  JOIN payments p ON p.psp_charge_id = w.charge_id
 WHERE p.order_id = :order_id;

-- name: provider_calls
-- psp: every call the payment service made with one of our derived keys (created when the call arrived).
SELECT key, extract(epoch FROM created_at) AS at
  FROM idempotency_keys
 WHERE charge_id IN (SELECT id FROM charges WHERE reference = :order_id)
    OR starts_with(key, 'lastunit-order-' || :order_id);

-- name: charges_of
-- psp: the charges made for this order, and when a void last touched one.
SELECT id, status, extract(epoch FROM created_at) AS at, extract(epoch FROM updated_at) AS updated_at
  FROM charges
 WHERE reference = :order_id;

-- name: ledger_of
-- psp: money moved (captures and refunds), the ground truth the auditor reads.
SELECT l.kind, l.amount, extract(epoch FROM l.at) AS at
  FROM ledger_entries l
  JOIN charges c ON c.id = l.charge_id
 WHERE c.reference = :order_id;
