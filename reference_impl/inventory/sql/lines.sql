-- Several lines (an order's basket) reserved all-or-nothing in one transaction: `lines.py` runs, per line and
-- in lock order, the strategy's step (pessimistic: lock_line_rows + increment_reserved; guarded: claim_guarded;
-- optimistic: candidate_warehouses + increment_if_version; serializable: candidate_warehouses +
-- increment_reserved), then insert_group writes the group and its lines. A line that cannot be had rolls the
-- whole transaction back: no group is ever half made.

-- name: lock_line_rows
-- pessimistic: every row a line may take, locked in warehouse order (the lock order within one SKU), so the
-- line then takes the fullest of them with room without any other buyer moving it meanwhile.
SELECT warehouse, on_hand - reserved AS available
  FROM stock
 WHERE sku = :sku AND (CAST(:warehouse AS text) IS NULL OR warehouse = :warehouse)
 ORDER BY warehouse
   FOR UPDATE;

-- name: claim_guarded$
-- guarded, one line: the check and the increment in one UPDATE (READ COMMITTED re-checks the WHERE after a
-- lock wait); no row back means another buyer took the units since our snapshot. The row lock (also the one
-- a failed re-check leaves behind) is held to commit, so lines.py retries from a fresh transaction rather
-- than try a second warehouse out of lock order.
UPDATE stock
   SET reserved = reserved + :qty, version = version + 1
 WHERE sku = :sku AND warehouse = :warehouse AND on_hand - reserved >= :qty
RETURNING warehouse;

-- name: insert_group
-- The group and its lines in one statement, all with the group's expiry (the sweeper expires them together).
-- :skus, :warehouses, :qtys are parallel arrays in the request's order. One row back per line.
WITH g AS (
    INSERT INTO reservation_groups (strategy, lock_order, lines, attempt_id, retries, expires_at)
    VALUES (:strategy, :lock_order, cardinality(CAST(:skus AS text[])), :attempt_id, :retries,
            clock_timestamp() + make_interval(secs => :ttl_s))
    RETURNING id, created_at, expires_at
), made AS (
    INSERT INTO reservations (sku, warehouse, qty, strategy, retries, expires_at, group_id)
    SELECT u.sku, u.warehouse, u.qty, :strategy, :retries, g.expires_at, g.id
      FROM g, unnest(CAST(:skus AS text[]), CAST(:warehouses AS text[]), CAST(:qtys AS bigint[]))
              WITH ORDINALITY AS u(sku, warehouse, qty, n)
    RETURNING id, sku, warehouse, qty
)
SELECT g.id AS group_id, g.created_at, g.expires_at, made.id, made.sku, made.warehouse, made.qty
  FROM g, made;

-- name: group_lines
-- A group (by id, or by the client's attempt id) with its lines, one row per line, in the order made.
SELECT g.id AS group_id, g.state AS group_state, g.strategy, g.lock_order, g.lines, g.attempt_id, g.retries,
       g.created_at, g.expires_at, g.settled_at,
       r.id, r.sku, r.warehouse, r.qty, r.state
  FROM reservation_groups g
  LEFT JOIN reservations r ON r.group_id = g.id
 WHERE g.id = CAST(:id AS uuid) OR g.attempt_id = CAST(:attempt_id AS text)
 ORDER BY r.created_at, r.id;

-- name: settle_group
-- Commit (sell), release or expire every held line of a group together, in one statement:
--   g:       the group moves from held to :to_state, once: a second settlement (or the sweeper racing a
--            commit) waits on the group row, re-checks `state = 'held'`, and does nothing.
--   locked:  the group's stock rows, locked in (sku, warehouse) order: the same global order reservations
--            lock in, so a settlement never closes a cycle with a buyer.
--   lines:   the lines move with their group.
--   per_row: what each stock row gives back; a sale also leaves on_hand and counts as sold.
-- One row back per line settled; none when the group was not held.
WITH g AS (
    UPDATE reservation_groups
       SET state = :to_state, settled_at = clock_timestamp()
     WHERE id = :id AND state = 'held'
    RETURNING id
), locked AS MATERIALIZED (
    SELECT s.sku, s.warehouse
      FROM stock s
     WHERE (s.sku, s.warehouse) IN (SELECT r.sku, r.warehouse FROM reservations r JOIN g ON r.group_id = g.id)
     ORDER BY s.sku, s.warehouse
       FOR UPDATE
), lines AS (
    UPDATE reservations r
       SET state = :to_state, settled_at = clock_timestamp()
      FROM g
     WHERE r.group_id = g.id AND r.state = 'held'
    RETURNING r.sku, r.warehouse, r.qty, r.strategy
), per_row AS (
    SELECT l.sku, l.warehouse, sum(l.qty) AS qty
      FROM lines l JOIN locked k ON k.sku = l.sku AND k.warehouse = l.warehouse
     GROUP BY l.sku, l.warehouse
), counted AS (
    UPDATE stock s
       SET reserved = CASE WHEN :to_state = 'committed' THEN s.reserved - p.qty
                           ELSE GREATEST(s.reserved - p.qty, 0) END,
           on_hand = s.on_hand - CASE WHEN :to_state = 'committed' THEN p.qty ELSE 0 END,
           sold = s.sold + CASE WHEN :to_state = 'committed' THEN p.qty ELSE 0 END
      FROM per_row p
     WHERE s.sku = p.sku AND s.warehouse = p.warehouse
    RETURNING 1
)
SELECT sku, warehouse, qty, strategy FROM lines;

-- name: due_groups
-- The sweeper's groups: held past their TTL. settle_group expires each one, all its lines together.
SELECT id
  FROM reservation_groups
 WHERE state = 'held' AND expires_at <= :as_of
 ORDER BY expires_at
 LIMIT :batch;

-- name: record_deadlock!
-- After the victim's rollback, in a transaction of its own: the count survives the abort it counts.
INSERT INTO lock_deadlocks (strategy, lock_order, skus, attempt_id)
VALUES (:strategy, :lock_order, CAST(:skus AS text[]), :attempt_id);

-- name: deadlock_counts
-- GET /stats: deadlocks broken so far, per strategy and lock order.
SELECT strategy, lock_order, count(*) AS deadlocks
  FROM lock_deadlocks
 GROUP BY strategy, lock_order
 ORDER BY strategy, lock_order;
