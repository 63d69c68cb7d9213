-- Idempotency keys: the claim that makes "same key twice" mean "one charge". A request first claims its key
-- in its own short statement (so a concurrent twin sees it in flight and gets a 409), then does its work and
-- stores the response in one transaction (so the response exists exactly when the work does).

-- name: claim_key$
-- A fresh key is ours. A key whose claimant died (claimed longer ago than the lease, no response stored) is
-- taken over only by the same request: the work is one transaction, so the dead claimant did nothing.
INSERT INTO idempotency_keys AS k (key, fingerprint, locked_at)
VALUES (:key, :fingerprint, clock_timestamp())
ON CONFLICT (key) DO UPDATE SET locked_at = clock_timestamp()
 WHERE k.response_status IS NULL
   AND k.fingerprint = EXCLUDED.fingerprint
   AND k.locked_at < clock_timestamp() - make_interval(secs => :lease_s)
RETURNING key;

-- name: get_key^
SELECT fingerprint, response_status, response_body, locked_at FROM idempotency_keys WHERE key = :key;

-- name: store_response!
-- Inside the work's own transaction for a success; alone (after the rollback) for a stored error.
UPDATE idempotency_keys
   SET response_status = :status, response_body = :body, charge_id = :charge_id, locked_at = NULL
 WHERE key = :key;

-- name: release_key!
-- An unexpected failure stored nothing: free the key so the client's retry can run the request.
DELETE FROM idempotency_keys WHERE key = :key AND response_status IS NULL;
