-- Idempotency keys: the claim that makes "same key twice" mean "one charge". A request first claims its key
-- in its own short statement (so a concurrent twin sees it in flight and gets a 409), then does its work and
-- stores the response in one statement that first locks the claim (charges.sql), so the response exists
-- exactly when the work does, and only the claim's current holder can do it.

-- name: claim_key$
-- A fresh key is ours. A key whose claimant died (claimed longer ago than the lease, no response stored) is
-- taken over only by the same request: the work is one statement, so the dead claimant did nothing, and
-- one that is merely slow finds its claim gone and writes nothing. Returns the claim's time, our token.
INSERT INTO idempotency_keys AS k (key, fingerprint, locked_at)
VALUES (:key, :fingerprint, clock_timestamp())
ON CONFLICT (key) DO UPDATE SET locked_at = clock_timestamp()
 WHERE k.response_status IS NULL
   AND k.fingerprint = EXCLUDED.fingerprint
   AND k.locked_at < clock_timestamp() - make_interval(secs => :lease_s)
RETURNING locked_at;

-- name: get_key^
SELECT fingerprint, response_status, response_body, locked_at FROM idempotency_keys WHERE key = :key;

-- name: store_response$
-- A response the work did not store itself (a stored error, or a move the charge had already made), only
-- while the key is still this request's claim; NULL when a takeover got it first.
UPDATE idempotency_keys
   SET response_status = :status, response_body = CAST(:body AS jsonb), charge_id = :charge_id, locked_at = NULL
 WHERE key = :key AND response_status IS NULL AND locked_at = :claimed_at
RETURNING key;

-- name: release_key!
-- An unexpected failure stored nothing: free the key (if still ours) so the client's retry can run it.
DELETE FROM idempotency_keys WHERE key = :key AND response_status IS NULL AND locked_at = :claimed_at;
