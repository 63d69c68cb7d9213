-- Orders and the saga log. An order's status only moves along
-- pending → confirmed → paid → shipped, or to cancelled from any status before shipped.

CREATE TABLE IF NOT EXISTS orders (
    id               uuid PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,            -- the client's checkout key: a retry finds its order
    user_id          text NOT NULL,
    sku              text NOT NULL,
    qty              int  NOT NULL CHECK (qty > 0),
    amount           bigint NOT NULL CHECK (amount > 0),
    card             text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'confirmed', 'paid', 'shipped', 'cancelled')),
    cancel_reason    text,
    reservation_id   uuid,
    payment_id       uuid,
    shipment_id      text,
    drives           int  NOT NULL DEFAULT 0,         -- how many times the saga was driven (recovery)
    lease_until      timestamptz,                     -- who may drive it now: the request, or recovery
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS orders_in_flight ON orders (updated_at) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS saga_log (
    id        bigserial PRIMARY KEY,
    order_id  uuid NOT NULL REFERENCES orders (id),
    step      text NOT NULL CHECK (step IN ('reserve', 'authorize', 'confirm', 'paid', 'ship', 'sell_stock',
                                            'release_stock', 'refund_or_void', 'cancel')),
    status    text NOT NULL CHECK (status IN ('started', 'done', 'failed', 'compensated')),
    detail    jsonb NOT NULL DEFAULT '{}',
    at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS saga_log_by_order ON saga_log (order_id, id);

-- Orders of several lines (a cart checked out at once). Every order has its lines here, one per SKU, in the
-- order the buyer listed them; `amount` is the sum of qty x unit_price over them (the catalog's price when
-- the checkout started). `sku` and `qty` on the order itself name a single-line order's one line and are
-- NULL on an order of several. A single-line order holds a reservation (`reservation_id`); an order of
-- several holds one all-or-nothing reservation group (`reservation_group_id`), never both.
CREATE TABLE IF NOT EXISTS order_lines (
    order_id    uuid   NOT NULL REFERENCES orders (id),
    n           int    NOT NULL CHECK (n >= 1),
    sku         text   NOT NULL,
    qty         int    NOT NULL CHECK (qty > 0),
    unit_price  bigint NOT NULL CHECK (unit_price > 0),
    PRIMARY KEY (order_id, n),
    UNIQUE (order_id, sku)
);
ALTER TABLE orders ALTER COLUMN sku DROP NOT NULL;
ALTER TABLE orders ALTER COLUMN qty DROP NOT NULL;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS reservation_group_id uuid;
