-- The transactional outbox and the consumer's de-duplication table, in every database that has events.
-- An event is written in the same transaction as the change it announces; the relay publishes it later.
-- A crash between commit and publish loses nothing: the row waits. A crash after publish and before the
-- row is marked publishes it twice: consumers de-duplicate by event id.

CREATE TABLE IF NOT EXISTS outbox (
    id           bigserial PRIMARY KEY,
    topic        text  NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE IF NOT EXISTS processed_events (
    consumer     text NOT NULL,
    event_id     text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, event_id)
);

-- Whatever writes an event wakes the relay, in the same transaction: PostgreSQL delivers the notification at
-- commit (never for a rolled-back event) and folds repeats within one transaction into one. A trigger, so
-- an event written inside a larger statement (a CTE that moves an order and announces it) wakes it too.
CREATE OR REPLACE FUNCTION lastunit_outbox_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lastunit_outbox', '');
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER outbox_written AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION lastunit_outbox_written();
-- The relay records which stream entry a row became and which run of Redis (its INFO run_id) took it: a
-- Redis restarted without some entries gets those rows again (reference_impl/infra/sql/relay.sql).
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS stream_id text;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS redis_epoch text;
