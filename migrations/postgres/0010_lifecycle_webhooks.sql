-- Lifecycle webhooks: an account's subscriptions (the signing secret sealed
-- under a key derived from the token keys, never in clear), the outbox
-- (one row per event and subscription, written in the transaction of the
-- change it reports, leased by one delivery worker at a time), the log of
-- delivery attempts (kept 30 days), and the notices already sent once
-- (expiry warnings per token and threshold, aggregated exchange denials).
CREATE TABLE webhooks (
    id                          uuid    PRIMARY KEY,
    account_id                  uuid    NOT NULL REFERENCES accounts (id),
    url                         text    NOT NULL,
    -- Event type names or `prefix.*`, space-separated.
    event_types                 text    NOT NULL,
    description                 text,
    -- Seconds before expires_at, space-separated, longest first.
    expiry_warnings             text    NOT NULL,
    secret_sealed               bytea    NOT NULL,
    secret_key_version          integer NOT NULL,
    previous_secret_sealed      bytea,
    previous_secret_key_version integer,
    previous_secret_expires_at  timestamptz,
    disabled_at                 timestamptz,
    disabled_reason             text,
    created_at                  timestamptz NOT NULL
);

CREATE INDEX webhooks_by_account ON webhooks (account_id, created_at, id);

-- Keyed by the event (its `webhook-id`) and the subscription: one row each,
-- with no other index than the due one, since every change writes here.
CREATE TABLE webhook_events (
    -- The `webhook-id` header: the same for every attempt and redelivery.
    message_id       text    NOT NULL,
    webhook_id       uuid    NOT NULL,
    account_id       uuid    NOT NULL,
    event_type       text    NOT NULL,
    payload          text    NOT NULL,
    created_at       timestamptz NOT NULL,
    status           text    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL,
    next_attempt_at  timestamptz NOT NULL,
    lease_owner      uuid,
    lease_until      timestamptz,
    finished_at      timestamptz,
    PRIMARY KEY (message_id, webhook_id)
);

CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE status = 'pending';

CREATE TABLE webhook_deliveries (
    seq              bigserial PRIMARY KEY,
    id               uuid    NOT NULL UNIQUE,
    webhook_id       uuid    NOT NULL,
    message_id       text    NOT NULL,
    event_type       text    NOT NULL,
    attempt          integer NOT NULL,
    attempted_at     timestamptz NOT NULL,
    outcome          text    NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    response_status  integer,
    duration_ms      integer NOT NULL,
    response_body    text,
    error            text
);

CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (attempted_at);

CREATE TABLE webhook_notices (
    webhook_id  uuid    NOT NULL,
    notice_key  text    NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (webhook_id, notice_key)
);
