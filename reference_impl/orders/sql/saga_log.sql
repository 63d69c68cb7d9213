-- name: run_saga_log
-- Every step of every order of one run, in order: what the model's step times are fitted to.
SELECT o.id::text, o.status, l.step, l.status, extract(epoch FROM l.at)::float8
  FROM orders o JOIN saga_log l ON l.order_id = o.id
 WHERE o.idempotency_key LIKE :key_pattern
 ORDER BY o.id, l.id;
