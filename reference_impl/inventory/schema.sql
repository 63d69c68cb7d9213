-- Inventory: the stock counters, the reservations that explain them, and the supply that bounds them.
-- The auditor never trusts the counters alone: oversell is counted from reservations against supply.

CREATE TABLE IF NOT EXISTS warehouses (
    id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64)
);

CREATE TABLE IF NOT EXISTS stock (
    sku        text   NOT NULL CHECK (length(sku) BETWEEN 1 AND 128),
    warehouse  text   NOT NULL REFERENCES warehouses (id),
    on_hand    bigint NOT NULL CHECK (on_hand >= 0),
    reserved   bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    sold       bigint NOT NULL DEFAULT 0 CHECK (sold >= 0),
    version    bigint NOT NULL DEFAULT 0,           -- the optimistic strategy's compare-and-set guard
    -- Stops a check-then-increment, but not a lost update: the naive control writes back a value that
    -- satisfies it while a reservation goes missing from the count. Hence the auditor.
    CONSTRAINT reserved_within_on_hand CHECK (reserved <= on_hand),
    PRIMARY KEY (sku, warehouse)
);

-- Every unit that ever entered a warehouse: initial + restock, the left side of stock conservation.
CREATE TABLE IF NOT EXISTS stock_movements (
    id         bigserial PRIMARY KEY,
    sku        text   NOT NULL,
    warehouse  text   NOT NULL,
    kind       text   NOT NULL CHECK (kind IN ('initial', 'restock')),
    qty        bigint NOT NULL CHECK (qty > 0),
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    FOREIGN KEY (sku, warehouse) REFERENCES stock (sku, warehouse)
);

CREATE TABLE IF NOT EXISTS reservations (
    id          uuid   PRIMARY KEY DEFAULT gen_random_uuid(),
    sku         text   NOT NULL,
    warehouse   text   NOT NULL,
    qty         bigint NOT NULL CHECK (qty > 0),
    state       text   NOT NULL DEFAULT 'held'
                CHECK (state IN ('held', 'committed', 'released', 'expired')),
    strategy    text   NOT NULL,
    attempt_id  text   UNIQUE,                       -- a client's retry gets its reservation back
    retries     int    NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at  timestamptz NOT NULL,
    settled_at  timestamptz,
    FOREIGN KEY (sku, warehouse) REFERENCES stock (sku, warehouse)
);

CREATE INDEX IF NOT EXISTS reservations_held_expiry ON reservations (expires_at) WHERE state = 'held';
CREATE INDEX IF NOT EXISTS reservations_by_row ON reservations (sku, warehouse);

-- Units came back (a release, an expiry, a restock, a new warehouse row): tell every inventory process, whose
-- sold-out memory must reopen. NOTIFY is delivered at commit, so a listener hears only what it can then see.
-- A reservation or a sale never makes more units available, so the hot path never fires it.
CREATE OR REPLACE FUNCTION notify_stock_returned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('stock_returned', json_build_array(NEW.sku, NEW.warehouse)::text);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER stock_row_added AFTER INSERT ON stock
    FOR EACH ROW EXECUTE FUNCTION notify_stock_returned();

CREATE OR REPLACE TRIGGER stock_returned AFTER UPDATE OF on_hand, reserved ON stock
    FOR EACH ROW WHEN (NEW.on_hand - NEW.reserved > OLD.on_hand - OLD.reserved)
    EXECUTE FUNCTION notify_stock_returned();
