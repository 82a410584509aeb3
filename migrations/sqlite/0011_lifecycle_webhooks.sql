-- Lifecycle webhooks: an account's subscriptions (the signing secret sealed
-- under a key derived from the token keys, never in clear), the outbox
-- (one row per event and subscription, written in the transaction of the
-- change it reports, leased by one delivery worker at a time), the log of
-- delivery attempts (kept 30 days), and the notices already sent once
-- (expiry warnings per token and threshold, aggregated exchange denials).
CREATE TABLE webhooks (
    id                          BLOB    PRIMARY KEY NOT NULL,
    account_id                  BLOB    NOT NULL REFERENCES accounts (id),
    url                         TEXT    NOT NULL,
    -- Event type names or `prefix.*`, space-separated.
    event_types                 TEXT    NOT NULL,
    description                 TEXT,
    -- Seconds before expires_at, space-separated, longest first.
    expiry_warnings             TEXT    NOT NULL,
    secret_sealed               BLOB    NOT NULL,
    secret_key_version          INTEGER NOT NULL,
    previous_secret_sealed      BLOB,
    previous_secret_key_version INTEGER,
    previous_secret_expires_at  INTEGER,
    disabled_at                 INTEGER,
    disabled_reason             TEXT,
    created_at                  INTEGER NOT NULL
) STRICT;

CREATE INDEX webhooks_by_account ON webhooks (account_id, created_at, id);

-- Keyed by the event (its `webhook-id`) and the subscription: one row each,
-- with no other index than the due one, since every change writes here.
CREATE TABLE webhook_events (
    -- The `webhook-id` header: the same for every attempt and redelivery.
    message_id       TEXT    NOT NULL,
    webhook_id       BLOB    NOT NULL,
    account_id       BLOB    NOT NULL,
    event_type       TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    lease_owner      BLOB,
    lease_until      INTEGER,
    finished_at      INTEGER,
    PRIMARY KEY (message_id, webhook_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE status = 'pending';

CREATE TABLE webhook_deliveries (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               BLOB    NOT NULL UNIQUE,
    webhook_id       BLOB    NOT NULL,
    message_id       TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    attempt          INTEGER NOT NULL,
    attempted_at     INTEGER NOT NULL,
    outcome          TEXT    NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    response_status  INTEGER,
    duration_ms      INTEGER NOT NULL,
    response_body    TEXT,
    error            TEXT
) STRICT;

CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (attempted_at);

CREATE TABLE webhook_notices (
    webhook_id  BLOB    NOT NULL,
    notice_key  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, notice_key)
) STRICT, WITHOUT ROWID;
