CREATE TABLE IF NOT EXISTS shipments (
    id           text PRIMARY KEY,
    order_id     text NOT NULL UNIQUE,          -- one shipment per order, however often the event comes
    carrier      text NOT NULL,
    tracking_id  text NOT NULL,
    label_url    text NOT NULL,
    status       text NOT NULL DEFAULT 'label_created' CHECK (status IN ('label_created', 'cancelled')),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
