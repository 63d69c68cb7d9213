-- The source of truth. Every write takes a fresh version from one sequence, so a version never repeats,
-- not even for a SKU deleted and created again: the index can always keep "the newer one".

-- name: upsert_product^
INSERT INTO products AS p (sku, title, description, brand, category, price, rating, images, popularity)
VALUES (:sku, :title, :description, :brand, :category, :price, :rating, :images, :popularity)
ON CONFLICT (sku) DO UPDATE
   SET title = EXCLUDED.title, description = EXCLUDED.description, brand = EXCLUDED.brand,
       category = EXCLUDED.category, price = EXCLUDED.price, rating = EXCLUDED.rating,
       images = EXCLUDED.images, popularity = EXCLUDED.popularity,
       version = nextval('product_version'), updated_at = clock_timestamp()
RETURNING sku, title, description, brand, category, price, rating, images, popularity, version, updated_at;

-- name: set_price^
-- A price change alone, the commonest update on Prime Day.
UPDATE products
   SET price = :price, version = nextval('product_version'), updated_at = clock_timestamp()
 WHERE sku = :sku
RETURNING sku, price, version, updated_at;

-- name: get_product^
SELECT sku, title, description, brand, category, price, rating, images, popularity, version, updated_at
  FROM products
 WHERE sku = :sku;

-- name: delete_product$
WITH d AS (DELETE FROM products WHERE sku = :sku RETURNING 1) SELECT count(*) FROM d;
