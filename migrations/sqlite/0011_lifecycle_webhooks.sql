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

-- An audit event and the lifecycle events it makes, written by one
-- statement (the store inserts here, not into audit_events): `lifecycle` is
-- a JSON array of {message_id, type, body, name_pattern, kind_pattern}, one
-- row queued per event and enabled subscription of the account whose
-- space-padded event_types match a pattern. One statement, because every
-- change of the service passes here and each statement costs a round trip.
CREATE VIEW audit_events_with_lifecycle AS
    SELECT id, occurred_at, account_id, service_account_id, action, actor_type, actor_id,
        actor_token_public_id, token_public_id, request_id, source_ip, user_agent, detail,
        actor_federation, NULL AS lifecycle
    FROM audit_events;

CREATE TRIGGER audit_events_with_lifecycle_insert
    INSTEAD OF INSERT ON audit_events_with_lifecycle
BEGIN
    INSERT INTO audit_events (id, occurred_at, account_id, service_account_id, action,
        actor_type, actor_id, actor_token_public_id, token_public_id, request_id, source_ip,
        user_agent, detail, actor_federation)
    VALUES (NEW.id, NEW.occurred_at, NEW.account_id, NEW.service_account_id, NEW.action,
        NEW.actor_type, NEW.actor_id, NEW.actor_token_public_id, NEW.token_public_id,
        NEW.request_id, NEW.source_ip, NEW.user_agent, NEW.detail, NEW.actor_federation);
    INSERT INTO webhook_events (message_id, webhook_id, account_id, event_type, payload,
        created_at, status, attempts, next_attempt_at)
    SELECT json_extract(e.value, '$.message_id'), w.id, w.account_id,
        json_extract(e.value, '$.type'), json_extract(e.value, '$.body'),
        NEW.occurred_at, 'pending', 0, NEW.occurred_at
    FROM json_each(coalesce(NEW.lifecycle, '[]')) AS e, webhooks AS w
    WHERE w.account_id = NEW.account_id AND w.disabled_at IS NULL
        AND ((' ' || w.event_types || ' ') LIKE json_extract(e.value, '$.name_pattern') ESCAPE '\'
            OR (' ' || w.event_types || ' ') LIKE json_extract(e.value, '$.kind_pattern') ESCAPE '\');
END;
