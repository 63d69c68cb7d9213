-- Shipping's effects, each one statement with the id of the event that caused it (processed_events), so a
-- redelivered event changes nothing; the outbox's trigger wakes the relay.

-- name: create_label$
-- The label for a paid order and its ShipmentCreated, once per order however often OrderPaid comes.
-- Returns true when this call made the label.
WITH fresh AS (
    INSERT INTO processed_events (consumer, event_id) VALUES (:consumer, :event_id)
    ON CONFLICT DO NOTHING
    RETURNING 1
), shipment AS (
    INSERT INTO shipments (id, order_id, carrier, tracking_id, label_url)
    SELECT :id, :order_id, :carrier, :tracking_id, :label_url FROM fresh
    ON CONFLICT (order_id) DO NOTHING
    RETURNING id
), announced AS (
    INSERT INTO outbox (topic, payload)
    SELECT 'ShipmentCreated', jsonb_build_object('order_id', CAST(:order_id AS text), 'shipment_id', id,
                                                 'carrier', CAST(:carrier AS text),
                                                 'tracking_id', CAST(:tracking_id AS text))
      FROM shipment
)
SELECT EXISTS (SELECT 1 FROM shipment);

-- name: refuse_label!
-- The carrier refused: ShipmentFailed, once per OrderPaid event.
WITH fresh AS (
    INSERT INTO processed_events (consumer, event_id) VALUES (:consumer, :event_id)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
INSERT INTO outbox (topic, payload)
SELECT 'ShipmentFailed', jsonb_build_object('order_id', CAST(:order_id AS text), 'reason', CAST(:reason AS text))
  FROM fresh;

-- name: cancel_shipment!
-- The order was cancelled after its label: void the label (repeating it changes nothing).
UPDATE shipments SET status = 'cancelled' WHERE order_id = :order_id;

-- name: shipment_of^
SELECT * FROM shipments WHERE order_id = :order_id;
