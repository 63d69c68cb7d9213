-- name: record_notification!
-- One message per order event, never two: the event id is recorded by the same statement.
WITH fresh AS (
    INSERT INTO processed_events (consumer, event_id) VALUES (:consumer, :event_id)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
INSERT INTO notifications (order_id, user_id, kind, message)
SELECT :order_id, :user_id, :kind, :message FROM fresh;

-- name: notifications_of
SELECT kind, message, sent_at FROM notifications WHERE order_id = :order_id ORDER BY id;
