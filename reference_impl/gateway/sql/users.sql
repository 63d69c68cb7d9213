-- Accounts: the login's one read, and the seed's (or a swarm's) write.

-- name: password_hash$
SELECT password_hash FROM users WHERE user_id = :user_id;

-- name: upsert_user!
-- A seed run again gives the user the new password (its old one is gone: the seed printed the new one).
INSERT INTO users (user_id, password_hash) VALUES (:user_id, :password_hash)
ON CONFLICT (user_id) DO UPDATE SET password_hash = EXCLUDED.password_hash, updated_at = clock_timestamp();
