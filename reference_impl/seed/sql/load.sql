-- Loading a generated catalog into the source of truth. Rows land in a session-local stage by COPY, then
-- one upsert per chunk moves them into products: each chunk is one transaction, so the relay sees commits
-- of a bounded size, and a repeated seed updates rows (new versions) instead of failing on duplicates.

-- name: create_stage#
CREATE TEMP TABLE IF NOT EXISTS seed_stage (
    sku text, title text, description text, brand text, category text, price numeric(12, 2),
    rating numeric(2, 1), image text, popularity double precision
) ON COMMIT DELETE ROWS;

-- name: upsert_from_stage!
INSERT INTO products AS p (sku, title, description, brand, category, price, rating, images, popularity)
SELECT sku, title, description, brand, category, price, rating, ARRAY[image], popularity FROM seed_stage
ON CONFLICT (sku) DO UPDATE
   SET title = EXCLUDED.title, description = EXCLUDED.description, brand = EXCLUDED.brand,
       category = EXCLUDED.category, price = EXCLUDED.price, rating = EXCLUDED.rating,
       images = EXCLUDED.images, popularity = EXCLUDED.popularity,
       version = nextval('product_version'), updated_at = clock_timestamp();

-- name: index_behind$
-- Products whose current version the index does not hold yet: 0 means search has caught up.
SELECT count(*) FROM products p LEFT JOIN search_docs d USING (sku)
 WHERE d.source_version IS DISTINCT FROM p.version;
