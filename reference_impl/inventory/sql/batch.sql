-- The batched strategy: a whole batch of asks granted by one statement, so a crowd on one row pays one lock
-- wait and one commit (one WAL flush) per batch instead of one per buyer. `batch.py` gathers the asks.

-- name: reserve_batch
-- One statement, so one transaction: asks for one SKU (in one warehouse, or in any when :warehouse is NULL),
-- all of qty :qty, granted in arrival order (:ids, :attempt_ids, :ttls are parallel arrays in that order),
-- exactly as many as the stock allows; the rest are refused. Steps:
--   prior:   an ask whose attempt_id already has a reservation is a replay, answered with that reservation.
--   locked:  rows with room for one ask in our snapshot, locked in warehouse order (two batches never
--            deadlock). A row another writer holds is waited for and re-read at its newest version (READ
--            COMMITTED re-checks the WHERE, as for guarded): a row that has no room any more drops out.
--   split:   fullest row first, each row takes the next asks it has room for.
--   claimed: the guarded UPDATE: a row's counter moves by what it grants, and only if it still has room,
--            so the database stays the one judge even when other processes or strategies write the row.
--   made:    the reservations, inserted together; the caller chose their ids, so it can tell who won.
-- A row `none` says the SKU (or the named warehouse) has no stock row at all: a 404, not out-of-stock.
WITH asks AS (
    SELECT a.id, a.attempt_id, a.ttl_s, a.n
      FROM unnest(CAST(:ids AS uuid[]), CAST(:attempt_ids AS text[]), CAST(:ttls AS float8[]))
           WITH ORDINALITY AS a(id, attempt_id, ttl_s, n)
), prior AS (
    SELECT r.id, r.attempt_id, r.warehouse, r.state, r.retries, r.expires_at
      FROM reservations r
     WHERE r.attempt_id = ANY (CAST(:attempt_ids AS text[]))
), fresh AS (
    SELECT a.id, a.attempt_id, a.ttl_s, row_number() OVER (ORDER BY a.n) AS k
      FROM asks a
     WHERE a.attempt_id IS NULL OR a.attempt_id NOT IN (SELECT p.attempt_id FROM prior p)
), locked AS MATERIALIZED (
    SELECT warehouse, (on_hand - reserved) / CAST(:qty AS bigint) AS fits, on_hand - reserved AS available
      FROM stock
     WHERE sku = :sku AND (CAST(:warehouse AS text) IS NULL OR warehouse = :warehouse)
       AND on_hand - reserved >= CAST(:qty AS bigint)
     ORDER BY warehouse
       FOR UPDATE
), split AS (
    SELECT warehouse, before, GREATEST(0, LEAST(fits, (SELECT count(*) FROM fresh) - before)) AS units
      FROM (SELECT warehouse, fits,
                   COALESCE(sum(fits) OVER (ORDER BY available DESC, warehouse
                                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
              FROM locked) l
), claimed AS (
    UPDATE stock s
       SET reserved = s.reserved + CAST(:qty AS bigint) * sp.units
      FROM split sp
     WHERE s.sku = :sku AND s.warehouse = sp.warehouse AND sp.units > 0
       AND s.on_hand - s.reserved >= CAST(:qty AS bigint) * sp.units
    RETURNING s.warehouse, sp.before, sp.units
), made AS (
    INSERT INTO reservations (id, sku, warehouse, qty, strategy, attempt_id, retries, expires_at)
    SELECT f.id, :sku, c.warehouse, CAST(:qty AS bigint), :strategy, f.attempt_id, 0,
           clock_timestamp() + make_interval(secs => f.ttl_s)
      FROM fresh f
      JOIN claimed c ON f.k > c.before AND f.k <= c.before + c.units
    RETURNING id, warehouse, expires_at
)
SELECT 'made' AS kind, id, CAST(NULL AS text) AS attempt_id, warehouse, 'held' AS state, 0 AS retries,
       expires_at
  FROM made
UNION ALL
SELECT 'prior', id, attempt_id, warehouse, state, retries, expires_at
  FROM prior
UNION ALL
SELECT 'none', NULL, NULL, NULL, NULL, NULL, NULL
 WHERE NOT EXISTS (SELECT 1 FROM stock
                    WHERE sku = :sku AND (CAST(:warehouse AS text) IS NULL OR warehouse = :warehouse));

-- name: attempts_holding
-- What a sold-out entry remembers: the attempt ids that have a reservation on the SKU (in the warehouse, or
-- in any), so a retry of one of them still reaches the database and gets its reservation back.
SELECT attempt_id
  FROM reservations
 WHERE sku = :sku AND (CAST(:warehouse AS text) IS NULL OR warehouse = :warehouse) AND attempt_id IS NOT NULL
 LIMIT :cap;
