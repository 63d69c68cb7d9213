-- name: create_shipment^
-- One label per order: a redelivered OrderPaid finds the row and creates nothing.
INSERT INTO shipments (id, order_id, carrier, tracking_id, label_url)
VALUES (:id, :order_id, :carrier, :tracking_id, :label_url)
ON CONFLICT (order_id) DO NOTHING
RETURNING id;

-- name: cancel_shipment!
UPDATE shipments SET status = 'cancelled' WHERE order_id = :order_id;

-- name: shipment_of^
SELECT * FROM shipments WHERE order_id = :order_id;
