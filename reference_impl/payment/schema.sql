-- Payment: one row per idempotency key, a state machine over a persisted recovery point, so a crash at
-- any point resumes instead of repeating the provider call.

CREATE TABLE IF NOT EXISTS idempotency_keys (
    key             text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),  -- the service takes 191 (policy)
    fingerprint     text NOT NULL,                  -- the request it was first used for
    recovery_point  text NOT NULL DEFAULT 'started'
                    CHECK (recovery_point IN ('started', 'provider_called', 'finished')),
    locked_at       timestamptz,                    -- a request is working on it (NULL: free)
    payment_id      uuid,
    response_code   int,
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- Tries the provider did not settle, and when the completer may try again (backoff, not every tick).
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS tries int NOT NULL DEFAULT 0;
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS retry_at timestamptz;
CREATE INDEX IF NOT EXISTS idempotency_keys_unfinished ON idempotency_keys (locked_at)
    WHERE recovery_point <> 'finished';

CREATE TABLE IF NOT EXISTS payments (
    id              uuid PRIMARY KEY,
    order_id        text NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        text NOT NULL DEFAULT 'usd',
    card            text NOT NULL,
    status          text NOT NULL DEFAULT 'authorizing'
                    CHECK (status IN ('authorizing', 'authorized', 'declined', 'captured', 'voided',
                                      'refunded', 'failed')),
    psp_charge_id   text,
    decline_code    text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS payments_by_order ON payments (order_id);
-- Every provider webhook finds its payment by the provider's charge id: without this, a scan of every
-- payment per webhook, two per checkout, growing with the table (the largest PostgreSQL cost per checkout).
CREATE INDEX IF NOT EXISTS payments_by_charge ON payments (psp_charge_id);

-- Provider webhooks seen, by the provider's event id: a duplicate is acknowledged and ignored.
CREATE TABLE IF NOT EXISTS webhook_events (
    event_id     text PRIMARY KEY,
    type         text NOT NULL,
    charge_id    text,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
