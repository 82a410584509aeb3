-- Listing without revoked service accounts walks only the active ones, however
-- many revoked ones an account has accumulated.
CREATE INDEX service_accounts_active_by_account
    ON service_accounts (account_id, created_at, id) WHERE revoked_at IS NULL;

-- Who changed which service account, when, and through which request. Written in
-- the same transaction as the change it records; never updated or deleted.
CREATE TABLE audit_events (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at         INTEGER NOT NULL,
    account_id          BLOB    NOT NULL REFERENCES accounts (id),
    service_account_id  BLOB    NOT NULL,
    action              TEXT    NOT NULL CHECK (action IN ('create', 'rotate', 'revoke')),
    actor_type          TEXT    NOT NULL CHECK (actor_type IN ('user', 'service_account', 'operator')),
    actor_id            BLOB,
    request_id          TEXT
) STRICT;

CREATE INDEX audit_events_by_account ON audit_events (account_id, seq);
