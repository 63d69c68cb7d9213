-- The payment provider fake: the ground-truth ledger of money moved, its idempotency keys, its webhook
-- outbox and its run-time knobs. Idempotent (IF NOT EXISTS): `lastunit up` re-applies it by content hash.
-- An auditor reads `charges` and `ledger_entries` directly (see sql/ledger.sql).

CREATE TABLE IF NOT EXISTS charges (
    id               text PRIMARY KEY CHECK (id LIKE 'ch\_%'),
    idempotency_key  text NOT NULL,               -- the key that created it; NOT unique, so an audit can
                                                   -- still count charges beyond one per key
    reference        text NOT NULL,               -- the merchant's order / payment id
    amount           bigint NOT NULL CHECK (amount > 0),   -- integer cents
    currency         text NOT NULL CHECK (currency = 'usd'),
    status           text NOT NULL
                     CHECK (status IN ('authorized', 'declined', 'captured', 'voided', 'refunded')),
    decline_code     text,
    card_last4       text NOT NULL,               -- never the whole card number, even a fake one
    webhook_url      text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((status = 'declined') = (decline_code IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS charges_by_reference ON charges (reference);
CREATE INDEX IF NOT EXISTS charges_by_key ON charges (idempotency_key);

-- Money moved. A capture is +amount, a refund -amount, so SUM(amount) is the net. One entry of each kind
-- per charge at most: a real provider cannot capture one authorization twice, and neither can we.
CREATE TABLE IF NOT EXISTS ledger_entries (
    id         bigserial PRIMARY KEY,
    charge_id  text NOT NULL REFERENCES charges (id),
    kind       text NOT NULL CHECK (kind IN ('capture', 'refund')),
    amount     bigint NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((kind = 'capture' AND amount > 0) OR (kind = 'refund' AND amount < 0)),
    UNIQUE (charge_id, kind)
);

-- One row per Idempotency-Key: claimed (locked_at set, no response) while its request runs, then the stored
-- response that every retry with the same fingerprint gets back. Keys are global across endpoints: the
-- fingerprint covers method, path and body, so a key reused elsewhere is a 409, never a silent replay.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key              text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    fingerprint      text NOT NULL,
    locked_at        timestamptz,
    response_status  int,
    response_body    jsonb,
    charge_id        text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((response_status IS NULL) = (response_body IS NULL)),
    CHECK (response_status IS NOT NULL OR locked_at IS NOT NULL)
);

-- The webhook outbox: written in the same transaction as the state change it reports.
CREATE TABLE IF NOT EXISTS events (
    id               text PRIMARY KEY CHECK (id LIKE 'evt\_%'),
    seq              bigserial UNIQUE,
    type             text NOT NULL CHECK (type IN ('payment.authorized', 'payment.failed', 'payment.captured',
                                                   'payment.voided', 'payment.refunded')),
    charge_id        text NOT NULL REFERENCES charges (id),
    data             jsonb NOT NULL,
    webhook_url      text,                          -- NULL: LAB_PSP_WEBHOOK_URL at delivery time
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    next_attempt_at  timestamptz NOT NULL,
    attempts         int NOT NULL DEFAULT 0,
    leased_until     timestamptz,                   -- a delivery in progress; expires if we crash mid-way
    held_at          timestamptz,                   -- the reorder knob held it back
    delivered_at     timestamptz
);
CREATE INDEX IF NOT EXISTS events_pending ON events (seq) WHERE delivered_at IS NULL;
CREATE INDEX IF NOT EXISTS events_by_charge ON events (charge_id);

CREATE TABLE IF NOT EXISTS webhook_attempts (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL REFERENCES events (id),
    url          text NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'dropped', 'duplicate')),
    status_code  int,
    error        text,
    at           timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS webhook_attempts_by_event ON webhook_attempts (event_id);

-- The knobs, one row, so a scenario's settings survive a crash of the psp process.
CREATE TABLE IF NOT EXISTS psp_config (
    id                 int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    decline_rate       double precision NOT NULL DEFAULT 0 CHECK (decline_rate BETWEEN 0 AND 1),
    webhook_delay_ms   int NOT NULL DEFAULT 0 CHECK (webhook_delay_ms >= 0),
    webhook_duplicate  double precision NOT NULL DEFAULT 0 CHECK (webhook_duplicate BETWEEN 0 AND 1),
    webhook_reorder    double precision NOT NULL DEFAULT 0 CHECK (webhook_reorder BETWEEN 0 AND 1),
    webhook_drop       double precision NOT NULL DEFAULT 0 CHECK (webhook_drop BETWEEN 0 AND 1),
    seed               bigint NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- The process exits right after a webhook was acknowledged, before it is marked delivered (fault
-- `psp.webhook` crash): the restarted psp delivers it again, so the receiver must de-duplicate.
ALTER TABLE psp_config ADD COLUMN IF NOT EXISTS webhook_crash double precision NOT NULL DEFAULT 0
    CHECK (webhook_crash BETWEEN 0 AND 1);
INSERT INTO psp_config (id) VALUES (1) ON CONFLICT (id) DO NOTHING;

-- A charge as the API shows it (answers, stored replies and webhook payloads): one spelling, in SQL, so the
-- statement that changes a charge can store its reply and its event's payload in the same breath.
CREATE OR REPLACE FUNCTION charge_json(id text, status text, amount bigint, currency text, reference text,
                                       decline_code text, created_at timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', id, 'status', status, 'amount', amount, 'currency', currency,
                              'reference', reference, 'decline_code', decline_code,
                              'created_at', to_char(created_at AT TIME ZONE 'UTC',
                                                    'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'))
$$;
