-- Verification for the rest of the platform: when each token was issued (the
-- `iat` of introspection), grants looked up by subject (whoami), and the
-- operator-managed introspection clients.

ALTER TABLE service_accounts ADD COLUMN token_issued_at INTEGER NOT NULL DEFAULT 0;
UPDATE service_accounts SET token_issued_at = updated_at;

CREATE INDEX grants_by_subject ON grants (subject_kind, subject_id);

-- Platform components allowed to introspect tokens. The secret is never
-- stored: only its HMAC-SHA-256 under the token key of version secret_key_version.
CREATE TABLE introspection_clients (
    client_id           TEXT    PRIMARY KEY NOT NULL,
    name                TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    revoked_at          INTEGER,
    secret_mac          BLOB    NOT NULL,
    secret_key_version  INTEGER NOT NULL
) STRICT;
