-- The seeded shop as a journey swarm buys it: the catalog's SKUs by popularity, and how each was stocked.

-- name: ranked_products
-- catalog: the seed's SKUs, most popular first, ties by SKU: the very ranking `lastunit seed` stocks by
-- (reference_impl/seed/stock.py), so its last-unit SKUs lead. Products written without a popularity (tests,
-- hand-made ones) are not the seed's and are left out.
SELECT sku
  FROM products
 WHERE popularity > 0
 ORDER BY popularity DESC, sku
 LIMIT :n;

-- name: initial_units
-- inventory: the units each SKU was first stocked with, over its warehouses (the seed's `initial`
-- movements; later sales do not change them). A SKU with no row was never stocked.
SELECT sku, sum(qty)::bigint AS units
  FROM stock_movements
 WHERE kind = 'initial' AND sku = ANY(CAST(:skus AS text[]))
 GROUP BY sku;
