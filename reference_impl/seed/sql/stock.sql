-- name: ensure_warehouses!
INSERT INTO warehouses (id) SELECT unnest(CAST(:ids AS text[])) ON CONFLICT DO NOTHING;

-- name: stock_new_rows$
-- The seed's first goods receipt for every (sku, warehouse) not stocked yet, with its `initial` movement,
-- in one statement: a second seed adds nothing, and stock conservation holds from the first unit.
WITH wanted AS (
    SELECT * FROM unnest(CAST(:skus AS text[]), CAST(:warehouses AS text[]), CAST(:qtys AS bigint[]))
             AS w (sku, warehouse, qty)
), stocked AS (
    INSERT INTO stock (sku, warehouse, on_hand)
    SELECT sku, warehouse, qty FROM wanted
    ON CONFLICT (sku, warehouse) DO NOTHING
    RETURNING sku, warehouse, on_hand
), moved AS (
    INSERT INTO stock_movements (sku, warehouse, kind, qty)
    SELECT sku, warehouse, 'initial', on_hand FROM stocked
    RETURNING 1
)
SELECT count(*) FROM moved;
