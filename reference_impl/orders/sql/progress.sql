-- How far a batch of checkouts (by their Idempotency-Keys) has got, read from outside (benchmarks, tools).

-- name: open_orders$
-- Orders of these checkouts not final yet (final: shipped or cancelled).
SELECT count(*) FROM orders WHERE idempotency_key = ANY(:keys) AND status NOT IN ('shipped', 'cancelled');

-- name: last_step_at$
-- When the last saga step of these checkouts' orders was logged (unix seconds): when the last became final.
SELECT extract(epoch FROM max(l.at))::float8
  FROM saga_log l JOIN orders o ON o.id = l.order_id
 WHERE o.idempotency_key = ANY(:keys);
