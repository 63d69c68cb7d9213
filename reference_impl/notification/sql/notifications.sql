-- name: record_notification!
-- In the consumer's transaction, beside the processed event id: one message per event, never two.
INSERT INTO notifications (order_id, user_id, kind, message) VALUES (:order_id, :user_id, :kind, :message);

-- name: notifications_of
SELECT kind, message, sent_at FROM notifications WHERE order_id = :order_id ORDER BY id;
