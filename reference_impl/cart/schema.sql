-- Cart: the durable copy of every user's cart and "save for later" list. Redis holds the session copy.

CREATE TABLE IF NOT EXISTS carts (
    user_id     text PRIMARY KEY CHECK (length(user_id) BETWEEN 1 AND 100),
    -- Bumped by every change, under the row lock: the Redis copy only ever moves to a newer version.
    version     bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE IF NOT EXISTS cart_lines (
    user_id     text NOT NULL REFERENCES carts (user_id),
    sku         text NOT NULL CHECK (length(sku) BETWEEN 1 AND 128),
    list        text NOT NULL CHECK (list IN ('cart', 'saved')),
    qty         int  NOT NULL CHECK (qty BETWEEN 1 AND 99),
    added_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (user_id, list, sku)
);
