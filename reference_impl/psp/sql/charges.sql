-- Charges and the money they move. Every state change is one guarded UPDATE: two requests racing to
-- capture, void or refund the same charge serialize on its row lock, and READ COMMITTED re-checks the
-- loser's WHERE against the winner's committed status, so exactly one of them moves the state.

-- name: insert_charge^
INSERT INTO charges (id, idempotency_key, reference, amount, currency, status, decline_code, card_last4,
                     webhook_url)
VALUES (:id, :key, :reference, :amount, :currency, :status, :decline_code, :card_last4, :webhook_url)
RETURNING *;

-- name: get_charge^
SELECT * FROM charges WHERE id = :id;

-- name: charges_by_reference
SELECT * FROM charges WHERE reference = :reference ORDER BY created_at, id;

-- name: transition^
UPDATE charges
   SET status = :to_status, updated_at = clock_timestamp()
 WHERE id = :id AND status = :from_status
RETURNING *;

-- name: insert_ledger_entry!
-- UNIQUE (charge_id, kind) backs the guarded UPDATE: a second capture of one charge cannot be written.
INSERT INTO ledger_entries (charge_id, kind, amount) VALUES (:charge_id, :kind, :amount);

-- name: insert_event!
-- The outbox row, in the same transaction as the change it reports: no change without its event.
INSERT INTO events (id, type, charge_id, data, webhook_url, next_attempt_at)
VALUES (:id, :type, :charge_id, :data, :webhook_url, clock_timestamp() + make_interval(secs => :delay_s));

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
