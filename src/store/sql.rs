//! The SQL every store runs. SQLite and PostgreSQL accept the same text here
//! (`$n` parameters, row values, `RETURNING`, `ON CONFLICT`); only the column
//! types differ, and [`super::rows`] binds and reads them for both.

pub const INSERT_ACCOUNT: &str = "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)";

pub const SELECT_ACCOUNT: &str = "SELECT id, name, created_at FROM accounts WHERE id = $1";

pub const ACCOUNT_EXISTS: &str = "SELECT 1 FROM accounts WHERE id = $1";

/// Locks a service account's row for the rest of the write transaction and
/// returns its tokens' public ids (no row: not in that account). The update
/// changes nothing; it is there for its lock, which PostgreSQL takes per row
/// (SQLite's write transaction already holds the whole database): a rotation
/// and a grant to the same service account then run one after the other, so
/// the rotation's escalation check sees every grant committed before it.
/// Both databases know this form; `SELECT ... FOR UPDATE` is PostgreSQL's
/// alone.
pub const LOCK_SERVICE_ACCOUNT: &str = "UPDATE service_accounts SET id = id \
    WHERE id = $1 AND account_id = $2 RETURNING token_public_id, previous_token_public_id";

/// Adds a grant unless it exists; returns a row only when it was added.
pub const INSERT_GRANT: &str = "INSERT INTO grants \
    (account_id, subject_kind, subject_id, capability, created_at) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING *";

/// Removes a grant; returns a row only when there was one.
pub const DELETE_GRANT: &str = "DELETE FROM grants \
    WHERE account_id = $1 AND subject_kind = $2 AND subject_id = $3 AND capability = $4 \
    RETURNING *";

/// Every grant on an account.
pub const SELECT_GRANTS_IN: &str = "SELECT * FROM grants WHERE account_id = $1 \
    ORDER BY subject_kind, subject_id, capability";

pub const LIST_ACCOUNTS: &str = "SELECT * FROM accounts ORDER BY created_at, id";

/// Every grant a subject holds, in every account.
pub const SELECT_GRANTS_OF: &str = "SELECT * FROM grants \
    WHERE subject_kind = $1 AND subject_id = $2 ORDER BY account_id, capability";

pub const SELECT_CAPABILITIES: &str = "SELECT capability FROM grants \
    WHERE account_id = $1 AND subject_kind = $2 AND subject_id = $3";

pub const INSERT_SERVICE_ACCOUNT: &str = "INSERT INTO service_accounts (id, account_id, name, \
    created_at, updated_at, created_by_user_id, expires_at, last_used_at, revoked_at, \
    revoked_by_user_id, revoked_reason, token_prefix, token_public_id, token_last4, \
    token_issued_at, token_mac, token_key_version) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";

pub const SELECT_SERVICE_ACCOUNT: &str =
    "SELECT * FROM service_accounts WHERE id = $1 AND account_id = $2";

/// The service account with a current or previous token of public id `$1`:
/// two index lookups (a token is one or the other, never both).
pub const SELECT_BY_PUBLIC_ID: &str = "SELECT * FROM service_accounts WHERE token_public_id = $1 \
    UNION ALL SELECT * FROM service_accounts WHERE previous_token_public_id = $1";

pub const SELECT_CURSOR: &str =
    "SELECT created_at FROM service_accounts WHERE id = $1 AND account_id = $2";

/// A page of an account's service accounts after a `(created_at, id)` position.
pub const LIST_ALL: &str = "SELECT * FROM service_accounts \
    WHERE account_id = $1 AND (created_at, id) > ($2, $3) \
    ORDER BY created_at, id LIMIT $4";

/// The same, non-revoked only: a separate statement so that it can use the
/// partial index of non-revoked service accounts.
pub const LIST_ACTIVE: &str = "SELECT * FROM service_accounts \
    WHERE account_id = $1 AND (created_at, id) > ($2, $3) AND revoked_at IS NULL \
    ORDER BY created_at, id LIMIT $4";

/// Replaces the token unless revoked or expired at `$8` (the rotation's time).
/// With `$10` (until when the replaced token keeps working) the replaced token
/// becomes the previous one, working until `$10` or the service account's
/// expiry, whichever comes first; without, there is no previous token. The
/// right-hand sides read the row as it was before the update.
pub const ROTATE_TOKEN: &str = "UPDATE service_accounts SET \
    previous_token_prefix = CASE WHEN $10 IS NULL THEN NULL ELSE token_prefix END, \
    previous_token_public_id = CASE WHEN $10 IS NULL THEN NULL ELSE token_public_id END, \
    previous_token_last4 = CASE WHEN $10 IS NULL THEN NULL ELSE token_last4 END, \
    previous_token_issued_at = CASE WHEN $10 IS NULL THEN NULL ELSE token_issued_at END, \
    previous_token_expires_at = CASE WHEN $10 IS NULL THEN NULL \
        WHEN expires_at IS NOT NULL AND expires_at < $10 THEN expires_at ELSE $10 END, \
    previous_token_last_used_at = CASE WHEN $10 IS NULL THEN NULL ELSE last_used_at END, \
    previous_token_mac = CASE WHEN $10 IS NULL THEN NULL ELSE token_mac END, \
    previous_token_key_version = CASE WHEN $10 IS NULL THEN NULL ELSE token_key_version END, \
    token_prefix = $3, token_public_id = $4, token_last4 = $5, \
    token_mac = $6, token_key_version = $7, last_used_at = NULL, updated_at = $8, \
    token_issued_at = $9 \
    WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL \
      AND (expires_at IS NULL OR expires_at > $8) \
    RETURNING *";

/// Ends the previous token's grace period at `$3`, if it is still in it and
/// the service account still works.
pub const RETIRE_PREVIOUS_TOKEN: &str = "UPDATE service_accounts SET \
    previous_token_prefix = NULL, previous_token_public_id = NULL, \
    previous_token_last4 = NULL, previous_token_issued_at = NULL, \
    previous_token_expires_at = NULL, previous_token_last_used_at = NULL, \
    previous_token_mac = NULL, previous_token_key_version = NULL, updated_at = $3 \
    WHERE id = $1 AND account_id = $2 AND previous_token_expires_at > $3 \
      AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3) \
    RETURNING *";

/// Revokes unless revoked already, for reason `$5`; returns the revoked row.
pub const REVOKE: &str = "UPDATE service_accounts SET \
    revoked_at = $3, revoked_by_user_id = $4, revoked_reason = $5, updated_at = $3 \
    WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL \
    RETURNING *";

/// Records a use of the current token, unless one was recorded after `$4`.
pub const RECORD_LAST_USE: &str = "UPDATE service_accounts SET last_used_at = $3 \
    WHERE id = $1 AND token_public_id = $2 AND (last_used_at IS NULL OR last_used_at <= $4)";

/// The same for the previous token.
pub const RECORD_PREVIOUS_LAST_USE: &str = "UPDATE service_accounts \
    SET previous_token_last_used_at = $3 \
    WHERE id = $1 AND previous_token_public_id = $2 \
      AND (previous_token_last_used_at IS NULL OR previous_token_last_used_at <= $4)";

pub const INSERT_INTROSPECTION_CLIENT: &str = "INSERT INTO introspection_clients \
    (client_id, name, created_at, revoked_at, secret_mac, secret_key_version) \
    VALUES ($1, $2, $3, $4, $5, $6)";

pub const SELECT_INTROSPECTION_CLIENT: &str =
    "SELECT * FROM introspection_clients WHERE client_id = $1";

pub const LIST_INTROSPECTION_CLIENTS: &str =
    "SELECT * FROM introspection_clients ORDER BY created_at, client_id";

/// Revokes unless revoked already; returns the revoked row.
pub const REVOKE_INTROSPECTION_CLIENT: &str = "UPDATE introspection_clients \
    SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL RETURNING *";

pub const COUNT_ACTIVE_SERVICE_ACCOUNTS: &str =
    "SELECT count(*) AS count FROM service_accounts WHERE revoked_at IS NULL";

pub const COUNT_APPLIED_MIGRATIONS: &str =
    "SELECT count(*) AS count FROM _sqlx_migrations WHERE success";

pub const PROBE: &str = "SELECT 1";

pub const INSERT_AUDIT_EVENT: &str = "INSERT INTO audit_events (occurred_at, account_id, \
    service_account_id, action, actor_type, actor_id, request_id, detail) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub const SELECT_AUDIT_EVENTS: &str =
    "SELECT * FROM audit_events WHERE account_id = $1 ORDER BY seq";

pub const SELECT_IDEMPOTENCY_RECORD: &str = "SELECT * FROM idempotency_records WHERE key_mac = $1";

pub const DELETE_IDEMPOTENCY_RECORD: &str = "DELETE FROM idempotency_records WHERE key_mac = $1";

/// Records a running attempt, unless another attempt recorded one first
/// (then no row: on PostgreSQL two claims can race here).
pub const INSERT_IDEMPOTENCY_RECORD: &str = "INSERT INTO idempotency_records \
    (key_mac, key_version, request_mac, operation, created_at, expires_at, lease, \
    lease_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
    ON CONFLICT (key_mac) DO NOTHING RETURNING key_mac";

/// A new attempt takes over a record whose attempt died (its lease ran out
/// before `$4`, the claim's time); no row if another took it over first.
pub const TAKE_OVER_IDEMPOTENCY_RECORD: &str = "UPDATE idempotency_records \
    SET lease = $2, lease_expires_at = $3 WHERE key_mac = $1 AND status IS NULL \
      AND (lease_expires_at IS NULL OR lease_expires_at <= $4) \
    RETURNING key_mac";

/// Completes a record, if the attempt still holds its lease; returns a row
/// only then.
pub const COMPLETE_IDEMPOTENCY_RECORD: &str = "UPDATE idempotency_records \
    SET status = $3, response = $4, lease = NULL, lease_expires_at = NULL \
    WHERE key_mac = $1 AND lease = $2 AND status IS NULL RETURNING key_mac";

/// Drops a running attempt's record.
pub const RELEASE_IDEMPOTENCY_RECORD: &str = "DELETE FROM idempotency_records \
    WHERE key_mac = $1 AND lease = $2 AND status IS NULL";

/// Deletes up to 1000 expired records (in batches, so that SQLite's write
/// lock is held briefly); returns one row per record deleted.
pub const DELETE_EXPIRED_IDEMPOTENCY_RECORDS: &str = "DELETE FROM idempotency_records \
    WHERE key_mac IN (SELECT key_mac FROM idempotency_records WHERE expires_at <= $1 LIMIT 1000) \
    RETURNING key_mac";
