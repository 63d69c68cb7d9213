-- Charges and the money they move. Every state change is one guarded UPDATE: two requests racing to
-- capture, void or refund the same charge serialize on its row lock, and READ COMMITTED re-checks the
-- loser's WHERE against the winner's committed status, so exactly one of them moves the state. Each
-- change is one statement with its event, its ledger entry and the idempotency key's stored response.

-- name: authorize^
-- A new charge, its webhook event (the outbox) and the key's stored response, in one statement, and only
-- while the key is still this request's claim (:claimed_at, locked FOR UPDATE first): a request whose claim
-- was taken over writes nothing (`ours` false). The charge's JSON is `charge_json` (schema.sql).
WITH claim AS (
    SELECT key FROM idempotency_keys
     WHERE key = :key AND response_status IS NULL AND locked_at = :claimed_at
       FOR UPDATE
), body AS (
    SELECT charge_json(:id, :status, :amount, :currency, :reference, :decline_code, now.at) AS j, now.at
      FROM claim, (SELECT clock_timestamp() AS at) now
), c AS (
    INSERT INTO charges (id, idempotency_key, reference, amount, currency, status, decline_code, card_last4,
                         webhook_url, created_at, updated_at)
    SELECT :id, :key, :reference, :amount, :currency, :status, :decline_code, :card_last4, :webhook_url,
           body.at, body.at
      FROM body
    RETURNING id, webhook_url
), e AS (
    INSERT INTO events (id, type, charge_id, data, webhook_url, next_attempt_at)
    SELECT :event_id, :event_type, c.id, body.j, c.webhook_url, clock_timestamp() + make_interval(secs => :delay_s)
      FROM c, body
), k AS (
    UPDATE idempotency_keys
       SET response_status = 200, response_body = body.j, charge_id = :id, locked_at = NULL
      FROM body
     WHERE idempotency_keys.key = :key
)
SELECT EXISTS (SELECT 1 FROM claim) AS ours, (SELECT j::text FROM body) AS body;

-- name: move^
-- capture, void or refund: one guarded UPDATE decides (of two racing moves on one charge, exactly one
-- changes it); its ledger entry (UNIQUE (charge_id, kind) backs the guard: a second capture of one charge
-- cannot be written), its event and the key's stored response come with it, in one statement, only while
-- the key is this request's claim. `body` is NULL when the charge was not in :from_status.
WITH claim AS (
    SELECT key FROM idempotency_keys
     WHERE key = :key AND response_status IS NULL AND locked_at = :claimed_at
       FOR UPDATE
), t AS (
    UPDATE charges SET status = :to_status, updated_at = clock_timestamp()
     WHERE id = :charge_id AND status = :from_status AND EXISTS (SELECT 1 FROM claim)
    RETURNING *
), body AS (
    SELECT charge_json(t.id, t.status, t.amount, t.currency, t.reference, t.decline_code, t.created_at) AS j,
           t.id, t.amount, t.webhook_url
      FROM t
), l AS (
    INSERT INTO ledger_entries (charge_id, kind, amount)
    SELECT id, :ledger_kind, CAST(:sign AS int) * amount FROM body WHERE CAST(:ledger_kind AS text) IS NOT NULL
), e AS (
    INSERT INTO events (id, type, charge_id, data, webhook_url, next_attempt_at)
    SELECT :event_id, :event_type, body.id, body.j, body.webhook_url,
           clock_timestamp() + make_interval(secs => :delay_s)
      FROM body
), k AS (
    UPDATE idempotency_keys
       SET response_status = 200, response_body = body.j, charge_id = body.id, locked_at = NULL
      FROM body
     WHERE idempotency_keys.key = :key
)
SELECT EXISTS (SELECT 1 FROM claim) AS ours, (SELECT j::text FROM body) AS body;

-- name: get_charge^
SELECT c.*, charge_json(c.id, c.status, c.amount, c.currency, c.reference, c.decline_code, c.created_at)::text
       AS json
  FROM charges c
 WHERE id = :id;

-- name: charges_by_reference
SELECT charge_json(c.id, c.status, c.amount, c.currency, c.reference, c.decline_code, c.created_at)::text AS json
  FROM charges c
 WHERE reference = :reference
 ORDER BY created_at, id;

-- name: get_config^
SELECT decline_rate, webhook_delay_ms, webhook_duplicate, webhook_reorder, webhook_drop, webhook_crash, seed
  FROM psp_config WHERE id = 1;

-- name: set_config^
UPDATE psp_config
   SET decline_rate = :decline_rate, webhook_delay_ms = :webhook_delay_ms,
       webhook_duplicate = :webhook_duplicate, webhook_reorder = :webhook_reorder,
       webhook_drop = :webhook_drop, webhook_crash = :webhook_crash, seed = :seed,
       updated_at = clock_timestamp()
 WHERE id = 1
RETURNING decline_rate, webhook_delay_ms, webhook_duplicate, webhook_reorder, webhook_drop, webhook_crash, seed;
