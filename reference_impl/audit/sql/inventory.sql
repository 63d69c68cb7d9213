-- name: stock_rows
-- Each stock row with its supply (every movement in) and what its reservations hold and sold.
SELECT s.sku, s.warehouse, s.on_hand, s.reserved, s.sold,
       COALESCE((SELECT sum(qty) FROM stock_movements m
                  WHERE m.sku = s.sku AND m.warehouse = s.warehouse), 0) AS supply,
       COALESCE(sum(r.qty) FILTER (WHERE r.state = 'held'), 0) AS held,
       COALESCE(sum(r.qty) FILTER (WHERE r.state = 'committed'), 0) AS committed,
       COALESCE(array_agg(DISTINCT r.strategy) FILTER (WHERE r.strategy IS NOT NULL), '{}') AS strategies
  FROM stock s
  LEFT JOIN reservations r ON r.sku = s.sku AND r.warehouse = s.warehouse
 WHERE CAST(:skus AS text[]) IS NULL OR s.sku = ANY(CAST(:skus AS text[]))
 GROUP BY s.sku, s.warehouse
 ORDER BY s.sku, s.warehouse;

-- name: late_reservations
-- The reservations past the supply, in the order they were made: the ones that oversold (the witnesses).
SELECT id::text FROM (
    SELECT id, sum(qty) OVER (ORDER BY created_at, id) AS running
      FROM reservations
     WHERE sku = :sku AND warehouse = :warehouse AND state IN ('held', 'committed')
) t WHERE running > :supply ORDER BY running LIMIT :witnesses;

-- name: availability_events
-- Every change of `available` on the SKUs' rows, as (sku, warehouse, epoch seconds, delta): receipts in,
-- each reservation out when made, back when released or expired (a sale moves nothing: the unit left
-- `available` when it was reserved). The liveness check (scenarios/liveness.py) rebuilds availability from it.
SELECT sku, warehouse, CAST(extract(epoch FROM at) AS float8) AS t, qty AS delta
  FROM stock_movements WHERE sku = ANY(CAST(:skus AS text[]))
UNION ALL
SELECT sku, warehouse, CAST(extract(epoch FROM created_at) AS float8), -qty
  FROM reservations WHERE sku = ANY(CAST(:skus AS text[]))
UNION ALL
SELECT sku, warehouse, CAST(extract(epoch FROM settled_at) AS float8), qty
  FROM reservations WHERE sku = ANY(CAST(:skus AS text[])) AND state IN ('released', 'expired');
