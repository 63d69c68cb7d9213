-- What happens to stock and reservations after the race: receipts, reads, the sale, release, expiry.

-- name: ensure_warehouse!
INSERT INTO warehouses (id) VALUES (:warehouse) ON CONFLICT DO NOTHING;

-- name: receive_stock$
-- A goods receipt: creates the SKU's row in a warehouse (initial) or adds to it (restock).
INSERT INTO stock (sku, warehouse, on_hand)
VALUES (:sku, :warehouse, :qty)
ON CONFLICT (sku, warehouse) DO UPDATE SET on_hand = stock.on_hand + EXCLUDED.on_hand
RETURNING CASE WHEN xmax = 0 THEN 'initial' ELSE 'restock' END;

-- name: record_movement!
INSERT INTO stock_movements (sku, warehouse, kind, qty) VALUES (:sku, :warehouse, :kind, :qty);

-- name: stock_of
SELECT warehouse, on_hand, reserved, on_hand - reserved AS available, sold
  FROM stock
 WHERE sku = :sku
 ORDER BY warehouse;

-- name: warehouse_exists$
SELECT EXISTS (SELECT 1 FROM warehouses WHERE id = :warehouse);

-- name: get_reservation^
SELECT id, sku, warehouse, qty, state, strategy, attempt_id, retries, created_at, expires_at, settled_at, group_id
  FROM reservations
 WHERE id = :id;

-- name: commit_reservation^
-- The sale: held units leave reserved and on_hand together and are counted as sold, in one statement.
-- A line of a group is settled only with its group (sql/lines.sql: settle_group), never alone. Returns the
-- settled reservation as get_reservation reads it (the answer, without a second round trip).
WITH r AS (
    UPDATE reservations
       SET state = 'committed', settled_at = clock_timestamp()
     WHERE id = :id AND state = 'held' AND group_id IS NULL
    RETURNING id, sku, warehouse, qty, state, strategy, attempt_id, retries, created_at, expires_at, settled_at,
              group_id
)
UPDATE stock s
   SET reserved = s.reserved - r.qty, on_hand = s.on_hand - r.qty, sold = s.sold + r.qty
  FROM r
 WHERE s.sku = r.sku AND s.warehouse = r.warehouse
RETURNING r.id, r.sku, r.warehouse, r.qty, r.state, r.strategy, r.attempt_id, r.retries, r.created_at,
          r.expires_at, r.settled_at, r.group_id;

-- name: release_reservation^
WITH r AS (
    UPDATE reservations
       SET state = 'released', settled_at = clock_timestamp()
     WHERE id = :id AND state = 'held' AND group_id IS NULL
    RETURNING id, sku, warehouse, qty, state, strategy, attempt_id, retries, created_at, expires_at, settled_at,
              group_id
)
UPDATE stock s
   SET reserved = GREATEST(s.reserved - r.qty, 0)
  FROM r
 WHERE s.sku = r.sku AND s.warehouse = r.warehouse
RETURNING r.id, r.sku, r.warehouse, r.qty, r.state, r.strategy, r.attempt_id, r.retries, r.created_at,
          r.expires_at, r.settled_at, r.group_id;

-- name: expire_due
-- The sweeper: held reservations past their TTL give their units back. SKIP LOCKED lets several sweepers
-- share the work; GREATEST keeps a control's corrupted counter from blocking every other row's expiry (the
-- auditor still reports the drift, from the rows). The stock rows are locked in (sku, warehouse) order, the
-- order a basket locks in (sql/lines.sql), so a sweep holding several rows never closes a cycle with one.
WITH due AS (
    SELECT id FROM reservations
     WHERE state = 'held' AND expires_at <= :as_of AND group_id IS NULL   -- groups: expire_due_groups
     ORDER BY expires_at
     LIMIT :batch
       FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE reservations t
       SET state = 'expired', settled_at = clock_timestamp()
      FROM due
     WHERE t.id = due.id
    RETURNING t.sku, t.warehouse, t.qty, t.strategy
), locked AS MATERIALIZED (
    SELECT s.sku, s.warehouse
      FROM stock s
     WHERE (s.sku, s.warehouse) IN (SELECT sku, warehouse FROM expired)
     ORDER BY s.sku, s.warehouse
       FOR UPDATE
), per_row AS (
    SELECT e.sku, e.warehouse, sum(e.qty) AS qty
      FROM expired e JOIN locked k ON k.sku = e.sku AND k.warehouse = e.warehouse
     GROUP BY e.sku, e.warehouse
), counted AS (
    UPDATE stock s
       SET reserved = GREATEST(s.reserved - per_row.qty, 0)
      FROM per_row
     WHERE s.sku = per_row.sku AND s.warehouse = per_row.warehouse
    RETURNING 1
)
SELECT sku, warehouse, qty, strategy FROM expired;

-- name: next_expiry$
-- The sweeper's alarm clock: when the earliest held reservation runs out (NULL: none is held).
SELECT min(expires_at) FROM reservations WHERE state = 'held';
