-- The recommendation batch's one read of the orders database (read only, like a warehouse export job).

-- name: read_time$
-- The watermark this build will store: its transaction's start, taken from the database's clock.
SELECT transaction_timestamp();

-- name: paid_lines_since
-- THE basket rule, in one place: today an order holds one SKU and a cart checkout makes one order per line
-- with Idempotency-Key `<checkout key>:<sku>`, so a basket = the paid orders of one user sharing that key
-- prefix; an order whose key has no `:<sku>` tail (a single `/checkout`) is a basket of its own. When an
-- order holds several lines, this becomes `basket = the order's id` over its lines table.
-- Read: orders paid for (paid, shipped) and touched after :since (NULL: all of them). `updated_at` moves
-- on every status change, so a shipped order comes back once more; merge.py ignores lines it counted.
-- No index serves `updated_at` for paid orders: each build scans the orders table once (milliseconds at
-- the lab's 10^5 orders); what it saves is the lines it sends and merges.
SELECT json_build_array(user_id,
                        CASE WHEN right(idempotency_key, length(sku) + 1) = ':' || sku
                             THEN left(idempotency_key, length(idempotency_key) - length(sku) - 1)
                             ELSE idempotency_key END)::text AS basket,
       sku
  FROM orders
 WHERE status = ANY(CAST(:statuses AS text[]))
   AND updated_at > COALESCE(CAST(:since AS timestamptz), '-infinity')
 ORDER BY updated_at;
