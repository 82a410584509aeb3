-- Workload identity federation: the OIDC issuers an account trusts, the
-- rules by which a token they issue becomes a short-lived token of a service
-- account, the `jti`s already exchanged (each usable once until it expires),
-- and the tokens minted (only their HMAC, like every token). A service
-- account's own token can be turned off (static_token_disabled_at) while its
-- federated tokens keep working.
CREATE TABLE identity_providers (
    id                                  BLOB    PRIMARY KEY NOT NULL,
    account_id                          BLOB    NOT NULL REFERENCES accounts (id),
    name                                TEXT    NOT NULL,
    issuer                              TEXT    NOT NULL,
    kind                                TEXT    NOT NULL,
    keys_source                         TEXT    NOT NULL,
    -- The JWKS URL (keys_source 'jwks_url') or the JWKS itself ('inline').
    keys_location                       TEXT,
    max_subject_token_lifetime_seconds  INTEGER NOT NULL,
    created_at                          INTEGER NOT NULL
) STRICT;

-- An issuer is registered once per account: a presented token's `iss` finds it.
CREATE UNIQUE INDEX identity_providers_by_issuer ON identity_providers (account_id, issuer);
CREATE INDEX identity_providers_by_account ON identity_providers (account_id, created_at, id);

CREATE TABLE federation_rules (
    id                    BLOB    PRIMARY KEY NOT NULL,
    account_id            BLOB    NOT NULL REFERENCES accounts (id),
    service_account_id    BLOB    NOT NULL REFERENCES service_accounts (id),
    identity_provider_id  BLOB    NOT NULL REFERENCES identity_providers (id),
    audience              TEXT    NOT NULL,
    -- JSON: [{"claim", "op", "value" | "values"}].
    conditions            TEXT    NOT NULL,
    -- Capability keys, space-separated.
    capabilities          TEXT    NOT NULL,
    token_ttl_seconds     INTEGER NOT NULL,
    description           TEXT,
    created_at            INTEGER NOT NULL
) STRICT;

CREATE INDEX federation_rules_by_service_account
    ON federation_rules (service_account_id, created_at, id);
CREATE INDEX federation_rules_by_provider ON federation_rules (identity_provider_id);

-- A presented token's `jti`, kept until the token expires: a second exchange
-- of the same token is refused, on every instance.
CREATE TABLE federation_jtis (
    issuer      TEXT    NOT NULL,
    jti         TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
) STRICT, WITHOUT ROWID;

CREATE INDEX federation_jtis_by_expiry ON federation_jtis (expires_at);

CREATE TABLE federated_tokens (
    public_id             TEXT    PRIMARY KEY NOT NULL,
    account_id            BLOB    NOT NULL REFERENCES accounts (id),
    service_account_id    BLOB    NOT NULL REFERENCES service_accounts (id),
    federation_rule_id    BLOB    NOT NULL,
    identity_provider_id  BLOB    NOT NULL,
    token_prefix          TEXT    NOT NULL,
    token_last4           TEXT    NOT NULL,
    token_mac             BLOB    NOT NULL,
    token_key_version     INTEGER NOT NULL,
    -- Capability keys, space-separated: the most the token may exercise.
    capabilities          TEXT    NOT NULL,
    -- JSON: {"issuer", "subject", "claims"}.
    provenance            TEXT    NOT NULL,
    issued_at             INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    revoked_at            INTEGER,
    revoked_reason        TEXT
) STRICT, WITHOUT ROWID;

CREATE INDEX federated_tokens_live_by_service_account
    ON federated_tokens (service_account_id) WHERE revoked_at IS NULL;

ALTER TABLE service_accounts ADD COLUMN static_token_disabled_at INTEGER;

-- Where the federated token an actor used came from (JSON: the rule, the
-- provider, the issuer, the subject, the useful claims), for the audit log's
-- `actor.federation`.
ALTER TABLE audit_events ADD COLUMN actor_federation TEXT;
