-- The audit log is read over the API: each event gets an id (the cursor of
-- its pages; events recorded before now get a random version-4 one), and
-- where the change came from: the public id of the token the actor used, the
-- token the event is about (issued, retired, replayed, reported), and the
-- request's source address and user agent. SQLite cannot add a NOT NULL
-- column without a default, so the table is rebuilt, keeping `seq` (the
-- order of events) as it was.
CREATE TABLE audit_events_new (
    seq                     INTEGER PRIMARY KEY AUTOINCREMENT,
    id                      BLOB    NOT NULL UNIQUE,
    occurred_at             INTEGER NOT NULL,
    account_id              BLOB    NOT NULL REFERENCES accounts (id),
    service_account_id      BLOB,
    action                  TEXT    NOT NULL,
    actor_type              TEXT    NOT NULL,
    actor_id                BLOB,
    actor_token_public_id   TEXT,
    token_public_id         TEXT,
    request_id              TEXT,
    source_ip               TEXT,
    user_agent              TEXT,
    detail                  TEXT
) STRICT;

INSERT INTO audit_events_new
    (seq, id, occurred_at, account_id, service_account_id, action, actor_type, actor_id,
     request_id, detail)
SELECT seq,
       unhex(hex(randomblob(6)) || '4' || substr(hex(randomblob(2)), 1, 3)
             || substr('89AB', 1 + abs(random() % 4), 1) || substr(hex(randomblob(8)), 1, 15)),
       occurred_at, account_id, service_account_id, action, actor_type, actor_id,
       request_id, detail
FROM audit_events;

DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;
CREATE INDEX audit_events_by_account ON audit_events (account_id, seq);
CREATE INDEX audit_events_by_service_account ON audit_events (service_account_id, seq);
