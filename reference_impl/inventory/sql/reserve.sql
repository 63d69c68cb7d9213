-- The SQL that decides whether the last unit is sold once. One block per step; `reserve.py` names which
-- strategy runs which blocks, `lastunit bench reserve` feeds the same blocks to pgbench.

-- name: candidate_warehouses
-- Where a buyer tries, fullest first. Stock only falls during a burst, so a warehouse seen empty stays empty.
-- The version is for a line of a group under optimistic (sql/lines.sql), which has no read of its own.
SELECT warehouse, on_hand - reserved AS available, version
  FROM stock
 WHERE sku = :sku AND (CAST(:warehouse AS text) IS NULL OR warehouse = :warehouse)
 ORDER BY on_hand - reserved DESC, warehouse;

-- name: read_counter^
-- naive, optimistic, serializable: the read half of read-check-write, no lock taken.
SELECT on_hand, reserved, version
  FROM stock
 WHERE sku = :sku AND warehouse = :warehouse;

-- name: lock_counter^
-- pessimistic: the same read, but the row lock is ours until commit; other buyers queue here.
SELECT on_hand, reserved, version
  FROM stock
 WHERE sku = :sku AND warehouse = :warehouse
   FOR UPDATE;

-- name: write_back_counter!
-- naive (the control): writes the value the app computed from its earlier read. Any reservation another
-- buyer counted since that read is overwritten: a lost update the CHECK constraint cannot see.
UPDATE stock
   SET reserved = :new_reserved
 WHERE sku = :sku AND warehouse = :warehouse;

-- name: increment_reserved!
-- pessimistic and serializable: safe only because the row lock (or SSI) orders us after the read. Every
-- statement that reserves moves the version, so an optimistic buyer who read before it re-reads.
UPDATE stock
   SET reserved = reserved + :qty, version = version + 1
 WHERE sku = :sku AND warehouse = :warehouse;

-- name: increment_if_version$
-- optimistic: compare-and-set on the version we read; no row back means someone wrote first: retry.
UPDATE stock
   SET reserved = reserved + :qty, version = version + 1
 WHERE sku = :sku AND warehouse = :warehouse AND version = :version
RETURNING version;

-- name: insert_reservation^
INSERT INTO reservations (sku, warehouse, qty, strategy, attempt_id, retries, expires_at)
VALUES (:sku, :warehouse, :qty, :strategy, :attempt_id, :retries,
        clock_timestamp() + make_interval(secs => :ttl_s))
RETURNING id, expires_at;

-- name: reserve_guarded^
-- guarded: check and increment in one statement. Under READ COMMITTED a second buyer blocked on the row
-- lock re-evaluates the WHERE clause against the winner's committed row once the lock is released
-- (EvalPlanQual), so it sees on_hand - reserved = 0 and updates nothing. The reservation row is written in
-- the same statement: one round trip, and no reservation without its counted unit or the reverse. The
-- version moves too, as with every reserving write: an optimistic buyer on the same row re-reads.
WITH claimed AS (
    UPDATE stock
       SET reserved = reserved + :qty, version = version + 1
     WHERE sku = :sku AND warehouse = :warehouse AND on_hand - reserved >= :qty
    RETURNING sku, warehouse
)
INSERT INTO reservations (sku, warehouse, qty, strategy, attempt_id, retries, expires_at)
SELECT sku, warehouse, :qty, :strategy, :attempt_id, 0, clock_timestamp() + make_interval(secs => :ttl_s)
  FROM claimed
RETURNING id, expires_at;

-- name: record_redis_grant^
-- redis: Redis already granted the unit atomically; PostgreSQL records it so the audit reads one truth.
WITH counted AS (
    UPDATE stock
       SET reserved = reserved + :qty, version = version + 1
     WHERE sku = :sku AND warehouse = :warehouse
    RETURNING sku, warehouse
)
INSERT INTO reservations (sku, warehouse, qty, strategy, attempt_id, retries, expires_at)
SELECT sku, warehouse, :qty, :strategy, :attempt_id, 0, clock_timestamp() + make_interval(secs => :ttl_s)
  FROM counted
RETURNING id, expires_at;

-- name: reservation_by_attempt^
SELECT id, sku, warehouse, qty, state, retries, expires_at
  FROM reservations
 WHERE attempt_id = :attempt_id;
