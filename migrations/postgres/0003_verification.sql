-- Verification for the rest of the platform: when each token was issued (the
-- `iat` of introspection), grants looked up by subject (whoami), and the
-- operator-managed introspection clients.

ALTER TABLE service_accounts ADD COLUMN token_issued_at timestamptz;
UPDATE service_accounts SET token_issued_at = updated_at;
ALTER TABLE service_accounts ALTER COLUMN token_issued_at SET NOT NULL;

CREATE INDEX grants_by_subject ON grants (subject_kind, subject_id);

-- Platform components allowed to introspect tokens. The secret is never
-- stored: only its HMAC-SHA-256 under the token key of version secret_key_version.
CREATE TABLE introspection_clients (
    client_id           text        PRIMARY KEY,
    name                text        NOT NULL,
    created_at          timestamptz NOT NULL,
    revoked_at          timestamptz,
    secret_mac          bytea       NOT NULL,
    secret_key_version  integer     NOT NULL
);
