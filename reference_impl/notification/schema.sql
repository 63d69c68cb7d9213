CREATE TABLE IF NOT EXISTS notifications (
    id        bigserial PRIMARY KEY,
    order_id  text NOT NULL,
    user_id   text,
    kind      text NOT NULL,
    message   text NOT NULL,
    sent_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS notifications_by_order ON notifications (order_id);
