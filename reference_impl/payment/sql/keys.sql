-- The idempotency key's phases. Each phase is one transaction; the provider call sits alone between them.

-- name: begin_key^
-- Phase 1 of a new key: the key (locked by this request) and its payment row, in one statement. Nothing
-- when the key exists: the caller then loads it (lock_key).
WITH k AS (
    INSERT INTO idempotency_keys (key, fingerprint, locked_at, payment_id)
    VALUES (:key, :fingerprint, clock_timestamp(), :payment_id)
    ON CONFLICT (key) DO NOTHING
    RETURNING key, recovery_point, payment_id
), p AS (
    INSERT INTO payments (id, order_id, amount, card)
    SELECT payment_id, CAST(:order_id AS text), CAST(:amount AS bigint), CAST(:card AS text) FROM k
    ON CONFLICT (id) DO NOTHING
)
SELECT * FROM k;

-- name: lock_key^
SELECT key, fingerprint, recovery_point, locked_at, payment_id, response_code, response_body,
       locked_at > clock_timestamp() - make_interval(secs => :lock_timeout_s) AS in_flight
  FROM idempotency_keys
 WHERE key = :key
   FOR UPDATE;

-- name: take_lock!
UPDATE idempotency_keys SET locked_at = clock_timestamp(), updated_at = clock_timestamp() WHERE key = :key;

-- name: defer_key!
-- The provider did not settle it (away, 5xx, key in use there): free the key and try again after a backoff
-- that doubles with each try, capped (policy.payment_retry_s spells the same numbers), instead of every tick.
UPDATE idempotency_keys
   SET locked_at = NULL, tries = tries + 1, updated_at = now(),
       retry_at = now() + make_interval(secs => least(:cap_s, :base_s * 2 ^ least(tries, 30)))
 WHERE key = :key;

-- name: fail_key!
-- The provider refused the request for good (a 4xx other than 409): no charge exists, none will. The payment
-- is failed and the key finished with the stored answer, so a retry replays it and the completer stops.
WITH p AS (
    UPDATE payments SET status = 'failed', decline_code = :reason, updated_at = clock_timestamp()
     WHERE id = :payment_id AND status = 'authorizing'
    RETURNING id
)
UPDATE idempotency_keys
   SET recovery_point = 'finished', response_code = :code, response_body = :body, locked_at = NULL,
       updated_at = clock_timestamp()
 WHERE key = :key;

-- name: get_payment^
SELECT id, order_id, amount, currency, card, status, psp_charge_id, decline_code FROM payments WHERE id = :id;

-- name: record_provider_result!
-- Phase 3: what the provider said, and the key moves on, in one statement.
WITH p AS (
    UPDATE payments SET status = :status, psp_charge_id = :charge_id, decline_code = :decline_code,
                        updated_at = clock_timestamp()
     WHERE id = :payment_id AND status = 'authorizing'
    RETURNING id
)
UPDATE idempotency_keys SET recovery_point = 'provider_called', updated_at = clock_timestamp()
 WHERE key = :key;

-- name: finish_key^
-- Phase 4: the response, built from the payment as the provider left it, stored and the key finished, in
-- one statement: 201 for an authorized payment, 402 for a declined one.
WITH p AS (
    SELECT id, order_id, status, amount, psp_charge_id, decline_code FROM payments WHERE id = :payment_id
)
UPDATE idempotency_keys
   SET recovery_point = 'finished', locked_at = NULL, updated_at = clock_timestamp(),
       response_code = CASE WHEN p.status = 'authorized' THEN 201 ELSE 402 END,
       response_body = jsonb_build_object('payment_id', p.id::text, 'order_id', p.order_id, 'status', p.status,
                                          'amount', p.amount, 'psp_charge_id', p.psp_charge_id,
                                          'decline_code', p.decline_code)
  FROM p
 WHERE key = :key
RETURNING response_code, response_body::text AS response_body;

-- name: abandoned_keys
-- The completer's work: keys a crashed request left mid-flight (locked long ago, or never finished), once
-- their backoff after a failed try has run out.
SELECT key FROM idempotency_keys
 WHERE recovery_point <> 'finished'
   AND (locked_at IS NULL OR locked_at < clock_timestamp() - make_interval(secs => :lock_timeout_s))
   AND (retry_at IS NULL OR retry_at <= clock_timestamp())
 ORDER BY created_at
 LIMIT 50;

-- name: next_abandoned_due$
-- The completer's alarm clock: seconds until the earliest unfinished key is due (its lock run out, its
-- backoff over; <= 0: due now), NULL when every key is finished.
SELECT extract(epoch FROM min(greatest(coalesce(locked_at + make_interval(secs => :lock_timeout_s),
                                                clock_timestamp()),
                                       coalesce(retry_at, clock_timestamp())))
                          - clock_timestamp())::float8
  FROM idempotency_keys
 WHERE recovery_point <> 'finished';

-- name: wake_completer$
-- A request left its key unfinished (the provider failed, a fault fired): every completer looks.
SELECT pg_notify('lastunit_payment_completer', '');
