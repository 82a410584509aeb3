-- Rotation without downtime: a rotation with a grace period keeps the
-- replaced token working for a while as the "previous" token (all its
-- columns null when there is none). Only its HMAC is stored, like the
-- current token's.
ALTER TABLE service_accounts ADD COLUMN previous_token_prefix TEXT;
ALTER TABLE service_accounts ADD COLUMN previous_token_public_id TEXT;
ALTER TABLE service_accounts ADD COLUMN previous_token_last4 TEXT;
ALTER TABLE service_accounts ADD COLUMN previous_token_issued_at INTEGER;
ALTER TABLE service_accounts ADD COLUMN previous_token_expires_at INTEGER;
ALTER TABLE service_accounts ADD COLUMN previous_token_last_used_at INTEGER;
ALTER TABLE service_accounts ADD COLUMN previous_token_mac BLOB;
ALTER TABLE service_accounts ADD COLUMN previous_token_key_version INTEGER;

CREATE UNIQUE INDEX service_accounts_by_previous_public_id
    ON service_accounts (previous_token_public_id) WHERE previous_token_public_id IS NOT NULL;

-- Safe retries: one record per idempotency key (scoped to caller, operation
-- and path), under the HMAC of the key: the key itself is never stored. The
-- recorded response is sealed (XChaCha20-Poly1305) under a key derived from
-- the server key and the idempotency key, so this table alone, or with the
-- key file, reveals no token.
CREATE TABLE idempotency_records (
    key_mac           BLOB    PRIMARY KEY NOT NULL,
    key_version       INTEGER NOT NULL,
    -- HMAC of the request made with the key: a different request is refused.
    request_mac       BLOB    NOT NULL,
    operation         TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    -- While an attempt runs: which one, and until when it may.
    lease             BLOB,
    lease_expires_at  INTEGER,
    -- Once answered: the status and the sealed response.
    status            INTEGER,
    response          BLOB
) STRICT, WITHOUT ROWID;

CREATE INDEX idempotency_records_by_expiry ON idempotency_records (expires_at);
