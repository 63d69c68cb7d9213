-- The gateway's own database: who may log in. Idempotent (IF NOT EXISTS): `lastunit up` re-applies it by
-- content hash. Passwords are never stored, only their scrypt hash (see reference_impl/gateway/passwords.py).

CREATE TABLE IF NOT EXISTS users (
    user_id        text PRIMARY KEY CHECK (user_id ~ '^[A-Za-z0-9._:-]{1,100}$'),
    password_hash  text NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
