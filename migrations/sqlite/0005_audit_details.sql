-- The audit log records more than service-account changes: grants added and
-- removed now, more kinds of events later. A service account is no longer
-- required; what an event is about beyond it goes in `detail` (JSON); action
-- and actor kinds are checked by the service, so that new ones need no table
-- rebuild. SQLite cannot drop a NOT NULL or a CHECK, so the table is rebuilt.
CREATE TABLE audit_events_new (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at         INTEGER NOT NULL,
    account_id          BLOB    NOT NULL REFERENCES accounts (id),
    service_account_id  BLOB,
    action              TEXT    NOT NULL,
    actor_type          TEXT    NOT NULL,
    actor_id            BLOB,
    request_id          TEXT,
    detail              TEXT
) STRICT;

INSERT INTO audit_events_new
    (seq, occurred_at, account_id, service_account_id, action, actor_type, actor_id, request_id)
SELECT seq, occurred_at, account_id, service_account_id, action, actor_type, actor_id, request_id
FROM audit_events;

DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;
CREATE INDEX audit_events_by_account ON audit_events (account_id, seq);
