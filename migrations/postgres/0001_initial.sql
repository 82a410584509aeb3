-- Accounts, grants, service accounts and the audit log.
-- Timestamps are timestamptz (microsecond precision, as the SQLite store keeps).

CREATE TABLE accounts (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE service_accounts (
    id                  uuid        PRIMARY KEY,
    account_id          uuid        NOT NULL REFERENCES accounts (id),
    name                text        NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    created_by_user_id  uuid,
    expires_at          timestamptz,
    last_used_at        timestamptz,
    revoked_at          timestamptz,
    revoked_by_user_id  uuid,
    token_prefix        text        NOT NULL,
    token_public_id     text        NOT NULL,
    token_last4         text        NOT NULL,
    -- HMAC-SHA-256 of the whole token under key version token_key_version.
    -- The token itself is never stored.
    token_mac           bytea       NOT NULL,
    token_key_version   integer     NOT NULL
);

-- Authentication looks tokens up by their public id.
CREATE UNIQUE INDEX service_accounts_by_public_id
    ON service_accounts (token_public_id);

-- Names are unique among an account's non-revoked service accounts.
CREATE UNIQUE INDEX service_accounts_active_name
    ON service_accounts (account_id, name) WHERE revoked_at IS NULL;

-- Listing pages through an account in (created_at, id) order; the partial index
-- serves the default listing, which leaves revoked service accounts out.
CREATE INDEX service_accounts_by_account
    ON service_accounts (account_id, created_at, id);
CREATE INDEX service_accounts_active_by_account
    ON service_accounts (account_id, created_at, id) WHERE revoked_at IS NULL;

CREATE TABLE grants (
    account_id    uuid        NOT NULL REFERENCES accounts (id),
    subject_kind  text        NOT NULL CHECK (subject_kind IN ('user', 'service_account')),
    subject_id    uuid        NOT NULL,
    capability    text        NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, subject_kind, subject_id, capability)
);

-- Who changed which service account, when, and through which request. Written in
-- the same transaction as the change it records; never updated or deleted.
CREATE TABLE audit_events (
    seq                 bigserial   PRIMARY KEY,
    occurred_at         timestamptz NOT NULL,
    account_id          uuid        NOT NULL REFERENCES accounts (id),
    service_account_id  uuid        NOT NULL,
    action              text        NOT NULL CHECK (action IN ('create', 'rotate', 'revoke')),
    actor_type          text        NOT NULL CHECK (actor_type IN ('user', 'service_account', 'operator')),
    actor_id            uuid,
    request_id          text
);

CREATE INDEX audit_events_by_account ON audit_events (account_id, seq);
