-- The durable cart. Every change runs as: bump_version (locks the user's cart row) -> the line change ->
-- lines_of, in one transaction; the Redis copy is then replaced only if its version is older.

-- name: bump_version$
INSERT INTO carts AS c (user_id, version) VALUES (:user_id, 1)
ON CONFLICT (user_id) DO UPDATE SET version = c.version + 1, updated_at = clock_timestamp()
RETURNING version;

-- name: cart_version$
SELECT version FROM carts WHERE user_id = :user_id;

-- name: set_line!
INSERT INTO cart_lines (user_id, sku, list, qty) VALUES (:user_id, :sku, :list, :qty)
ON CONFLICT (user_id, list, sku) DO UPDATE SET qty = EXCLUDED.qty;

-- name: delete_line$
WITH d AS (DELETE FROM cart_lines WHERE user_id = :user_id AND list = :list AND sku = :sku RETURNING qty)
SELECT qty FROM d;

-- name: clear_list!
DELETE FROM cart_lines WHERE user_id = :user_id AND list = :list;

-- name: count_lines$
SELECT count(*) FROM cart_lines WHERE user_id = :user_id AND list = :list;

-- name: lines_of
SELECT sku, qty FROM cart_lines WHERE user_id = :user_id AND list = :list ORDER BY added_at, sku;
