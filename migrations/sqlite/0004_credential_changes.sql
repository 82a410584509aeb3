-- What changed about credentials, for the other processes on this database
-- (another server, or a command run beside one): each polls for rows after
-- the last it saw, and forgets what it had cached about them. Written in the
-- same transaction as the change; old rows are deleted as new ones come.
CREATE TABLE credential_changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    change  TEXT    NOT NULL
) STRICT;
