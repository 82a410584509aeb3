-- Rotation without downtime: a rotation with a grace period keeps the
-- replaced token working for a while as the "previous" token (all its
-- columns null when there is none). Only its HMAC is stored, like the
-- current token's.
ALTER TABLE service_accounts
    ADD COLUMN previous_token_prefix text,
    ADD COLUMN previous_token_public_id text,
    ADD COLUMN previous_token_last4 text,
    ADD COLUMN previous_token_issued_at timestamptz,
    ADD COLUMN previous_token_expires_at timestamptz,
    ADD COLUMN previous_token_last_used_at timestamptz,
    ADD COLUMN previous_token_mac bytea,
    ADD COLUMN previous_token_key_version integer;

CREATE UNIQUE INDEX service_accounts_by_previous_public_id
    ON service_accounts (previous_token_public_id) WHERE previous_token_public_id IS NOT NULL;

-- Safe retries: one record per idempotency key (scoped to caller, operation
-- and path), under the HMAC of the key: the key itself is never stored. The
-- recorded response is sealed (XChaCha20-Poly1305) under a key derived from
-- the server key and the idempotency key, so this table alone, or with the
-- key file, reveals no token.
CREATE TABLE idempotency_records (
    key_mac           bytea       PRIMARY KEY,
    key_version       integer     NOT NULL,
    -- HMAC of the request made with the key: a different request is refused.
    request_mac       bytea       NOT NULL,
    operation         text        NOT NULL,
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    -- While an attempt runs: which one, and until when it may.
    lease             uuid,
    lease_expires_at  timestamptz,
    -- Once answered: the status and the sealed response.
    status            integer,
    response          bytea
);

CREATE INDEX idempotency_records_by_expiry ON idempotency_records (expires_at);
