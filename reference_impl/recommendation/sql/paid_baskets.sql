-- The recommendation batch's one read of the orders database (read only, like a warehouse export job).

-- name: read_time$
-- The watermark this build will store: its transaction's start, taken from the database's clock.
SELECT transaction_timestamp();

-- name: paid_lines_since
-- THE basket rule, in one place: a basket = one paid order's lines (order_lines: a cart checkout is one
-- order of all its lines, keyed by the client's checkout key). Orders from before orders had several lines
-- were one per cart line, keyed `<checkout key>:<sku>`: those of one user sharing that key prefix are still
-- one basket, as they were then; an order whose key has no `:<sku>` tail is a basket of its own. An order
-- with no order_lines rows (made before they existed) is its own sku.
-- Read: orders paid for (paid, shipped) and touched after :since (NULL: all of them). `updated_at` moves
-- on every status change, so a shipped order comes back once more; merge.py ignores lines it counted.
-- No index serves `updated_at` for paid orders: each build scans the orders table once (milliseconds at
-- the lab's 10^5 orders); what it saves is the lines it sends and merges.
SELECT json_build_array(o.user_id,
                        CASE WHEN o.sku IS NOT NULL AND right(o.idempotency_key, length(o.sku) + 1) = ':' || o.sku
                             THEN left(o.idempotency_key, length(o.idempotency_key) - length(o.sku) - 1)
                             ELSE o.idempotency_key END)::text AS basket,
       COALESCE(l.sku, o.sku) AS sku
  FROM orders o
  LEFT JOIN order_lines l ON l.order_id = o.id
 WHERE o.status = ANY(CAST(:statuses AS text[]))
   AND o.updated_at > COALESCE(CAST(:since AS timestamptz), '-infinity')
 ORDER BY o.updated_at, l.n;
