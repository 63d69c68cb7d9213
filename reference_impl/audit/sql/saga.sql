-- The auditor's questions about checkouts, one database at a time (the services' databases are separate,
-- as they would be in production; the auditor joins the answers in Python).

-- name: orders_in_scope
-- Orders of one run (idempotency keys start with the run id) or, with no prefix, every order.
-- `lines_amount`: what its lines add up to (NULL for an order made before orders had lines).
SELECT id::text, status, amount, reservation_id::text, reservation_group_id::text, payment_id::text,
       cancel_reason, extract(epoch FROM clock_timestamp() - updated_at) AS idle_s,
       (SELECT sum(l.qty * l.unit_price) FROM order_lines l WHERE l.order_id = orders.id)::bigint AS lines_amount
  FROM orders
 WHERE CAST(:prefix AS text) IS NULL OR starts_with(idempotency_key, CAST(:prefix AS text))
 ORDER BY created_at;

-- name: money_by_reference
-- Per order (the charge's reference): live charges, captures, and net money moved, from the provider's
-- own ledger: the ground truth of what the customer paid.
SELECT c.reference,
       count(*) FILTER (WHERE c.status IN ('authorized', 'captured')) AS live_charges,
       count(*) AS charges,
       count(*) FILTER (WHERE c.status = 'authorized') AS held,
       coalesce(sum(l.captured), 0)::bigint AS captures,
       coalesce(sum(l.net), 0)::bigint AS net,
       array_agg(c.id ORDER BY c.created_at) AS charge_ids,
       array_agg(DISTINCT c.amount) AS authorized_amounts
  FROM charges c
  LEFT JOIN (SELECT charge_id, count(*) FILTER (WHERE kind = 'capture') AS captured, sum(amount) AS net
               FROM ledger_entries GROUP BY charge_id) l ON l.charge_id = c.id
 WHERE c.reference = ANY(CAST(:refs AS text[]))
 GROUP BY c.reference;

-- name: live_charges
-- Charges holding (authorized) or having taken (captured) money: of the given references, or with no
-- references given, every one at the provider, so money held for no order cannot hide outside a run.
SELECT id, reference, status, amount, idempotency_key
  FROM charges
 WHERE status IN ('authorized', 'captured')
   AND (CAST(:refs AS text[]) IS NULL OR reference = ANY(CAST(:refs AS text[])))
 ORDER BY created_at DESC;                     -- newest first: the witnesses name the freshest breach

-- name: payment_rows
-- The payment service's rows: of the given orders, or with none given, all of them.
SELECT id::text, order_id, status, amount
  FROM payments
 WHERE CAST(:order_ids AS text[]) IS NULL OR order_id = ANY(CAST(:order_ids AS text[]))
 ORDER BY created_at DESC;

-- name: existing_orders
-- Which of these ids name an order (any status): the rest are references to nothing.
SELECT id::text FROM orders WHERE id = ANY(CAST(:ids AS uuid[]));

-- name: reservation_states
SELECT id::text, state FROM reservations WHERE id = ANY(CAST(:ids AS uuid[]));

-- name: group_states
-- Each reservation group's state as one: the group's own when every promised line exists and is in it,
-- else 'partial' (some lines held or sold and others not: the basket was split).
SELECT g.id::text,
       CASE WHEN count(r.id) = g.lines AND bool_and(r.state = g.state) THEN g.state ELSE 'partial' END AS state
  FROM reservation_groups g
  LEFT JOIN reservations r ON r.group_id = g.id
 WHERE g.id = ANY(CAST(:ids AS uuid[]))
 GROUP BY g.id;
