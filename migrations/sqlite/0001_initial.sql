-- Accounts, grants and service accounts.
-- Timestamps are microseconds since the Unix epoch (UTC), so they sort and
-- compare as integers and keep exactly the precision PostgreSQL keeps.
-- UUIDs are 16-byte blobs.

CREATE TABLE accounts (
    id          BLOB    PRIMARY KEY NOT NULL,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE service_accounts (
    id                  BLOB    PRIMARY KEY NOT NULL,
    account_id          BLOB    NOT NULL REFERENCES accounts (id),
    name                TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    created_by_user_id  BLOB,
    expires_at          INTEGER,
    last_used_at        INTEGER,
    revoked_at          INTEGER,
    revoked_by_user_id  BLOB,
    token_prefix        TEXT    NOT NULL,
    token_public_id     TEXT    NOT NULL,
    token_last4         TEXT    NOT NULL,
    -- HMAC-SHA-256 of the whole token under key version token_key_version.
    -- The token itself is never stored.
    token_mac           BLOB    NOT NULL,
    token_key_version   INTEGER NOT NULL
) STRICT;

-- Authentication looks tokens up by their public id.
CREATE UNIQUE INDEX service_accounts_by_public_id
    ON service_accounts (token_public_id);

-- Names are unique among an account's non-revoked service accounts.
CREATE UNIQUE INDEX service_accounts_active_name
    ON service_accounts (account_id, name) WHERE revoked_at IS NULL;

-- Listing pages through an account in (created_at, id) order.
CREATE INDEX service_accounts_by_account
    ON service_accounts (account_id, created_at, id);

CREATE TABLE grants (
    account_id    BLOB    NOT NULL REFERENCES accounts (id),
    subject_kind  TEXT    NOT NULL CHECK (subject_kind IN ('user', 'service_account')),
    subject_id    BLOB    NOT NULL,
    capability    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (account_id, subject_kind, subject_id, capability)
) STRICT, WITHOUT ROWID;
