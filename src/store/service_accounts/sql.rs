//! The SQL of the `service_accounts` table. SQLite and PostgreSQL accept the
//! same text (`$n` parameters, row values, `RETURNING`); only the column
//! types differ, and the row ([`super::row`]) reads them for both.

/// Every column of the table, in the order [`INSERT`] names the first
/// seventeen.
macro_rules! columns {
    () => {
        "id, account_id, name, created_at, updated_at, created_by_user_id, expires_at, \
         last_used_at, revoked_at, revoked_by_user_id, revoked_reason, token_prefix, \
         token_public_id, token_last4, token_issued_at, token_mac, token_key_version, \
         previous_token_prefix, previous_token_public_id, previous_token_last4, \
         previous_token_issued_at, previous_token_expires_at, previous_token_last_used_at, \
         previous_token_mac, previous_token_key_version, static_token_disabled_at"
    };
}

pub const INSERT: &str = "INSERT INTO service_accounts (id, account_id, name, \
    created_at, updated_at, created_by_user_id, expires_at, last_used_at, revoked_at, \
    revoked_by_user_id, revoked_reason, token_prefix, token_public_id, token_last4, \
    token_issued_at, token_mac, token_key_version) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";

pub const SELECT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM service_accounts WHERE id = $1 AND account_id = $2"
);

/// The service account with a current or previous token of public id `$1`:
/// two index lookups (a token is one or the other, never both).
pub const SELECT_BY_PUBLIC_ID: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM service_accounts WHERE token_public_id = $1 UNION ALL SELECT ",
    columns!(),
    " FROM service_accounts WHERE previous_token_public_id = $1"
);

/// The federated token of public id `$1` (its columns prefixed `f_`) with
/// the service account it speaks for.
pub const SELECT_FEDERATED_BY_PUBLIC_ID: &str = concat!(
    "SELECT ",
    columns!(),
    ", f.* FROM service_accounts, (SELECT public_id AS f_public_id, \
     account_id AS f_account_id, service_account_id AS f_service_account_id, \
     federation_rule_id AS f_federation_rule_id, \
     identity_provider_id AS f_identity_provider_id, token_prefix AS f_token_prefix, \
     token_last4 AS f_token_last4, token_mac AS f_token_mac, \
     token_key_version AS f_token_key_version, capabilities AS f_capabilities, \
     provenance AS f_provenance, issued_at AS f_issued_at, expires_at AS f_expires_at, \
     revoked_at AS f_revoked_at, revoked_reason AS f_revoked_reason \
     FROM federated_tokens WHERE public_id = $1) f \
     WHERE service_accounts.id = f.f_service_account_id"
);

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

pub const SELECT_CURSOR: &str =
    "SELECT created_at FROM service_accounts WHERE id = $1 AND account_id = $2";

/// A page of an account's service accounts after a `(created_at, id)` position.
pub const LIST_ALL: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM service_accounts WHERE account_id = $1 AND (created_at, id) > ($2, $3) \
     ORDER BY created_at, id LIMIT $4"
);

/// The same, non-revoked only: a separate statement so that it can use the
/// partial index of non-revoked service accounts.
pub const LIST_ACTIVE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM service_accounts \
     WHERE account_id = $1 AND (created_at, id) > ($2, $3) AND revoked_at IS NULL \
     ORDER BY created_at, id LIMIT $4"
);

/// Replaces the token unless revoked or expired at `$8` (the rotation's time),
/// turning the service account's own token back on if it was off (a token
/// turned off never comes back as the previous one).
/// With `$10` (until when the replaced token keeps working) the replaced token
/// becomes the previous one, working until `$10` or the service account's
/// expiry, whichever comes first; without, there is no previous token. The
/// right-hand sides read the row as it was before the update.
pub const ROTATE_TOKEN: &str = concat!(
    "UPDATE service_accounts SET \
    previous_token_prefix = CASE WHEN $10 IS NULL OR static_token_disabled_at IS NOT NULL THEN NULL ELSE token_prefix END, \
    previous_token_public_id = CASE WHEN $10 IS NULL OR static_token_disabled_at IS NOT NULL THEN NULL ELSE token_public_id END, \
    previous_token_last4 = CASE WHEN $10 IS NULL OR static_token_disabled_at IS NOT NULL THEN NULL ELSE token_last4 END, \
    previous_token_issued_at = CASE WHEN $10 IS NULL OR static_token_disabled_at IS NOT NULL THEN NULL ELSE token_issued_at END, \
    previous_token_expires_at = CASE WHEN $10 IS NULL OR static_token_disabled_at IS NOT NULL THEN NULL \
        WHEN expires_at IS NOT NULL AND expires_at < $10 THEN expires_at ELSE $10 END, \
    previous_token_last_used_at = CASE WHEN $10 IS NULL OR static_token_disabled_at IS NOT NULL THEN NULL ELSE last_used_at END, \
    previous_token_mac = CASE WHEN $10 IS NULL OR static_token_disabled_at IS NOT NULL THEN NULL ELSE token_mac END, \
    previous_token_key_version = CASE WHEN $10 IS NULL OR static_token_disabled_at IS NOT NULL THEN NULL ELSE token_key_version END, \
    static_token_disabled_at = NULL, token_prefix = $3, token_public_id = $4, token_last4 = $5, \
    token_mac = $6, token_key_version = $7, last_used_at = NULL, updated_at = $8, \
    token_issued_at = $9 \
    WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL \
      AND (expires_at IS NULL OR expires_at > $8) \
    RETURNING ",
    columns!()
);

/// Ends the previous token's grace period at `$3`, if it is still in it and
/// the service account still works.
pub const RETIRE_PREVIOUS_TOKEN: &str = concat!(
    "UPDATE service_accounts SET \
    previous_token_prefix = NULL, previous_token_public_id = NULL, \
    previous_token_last4 = NULL, previous_token_issued_at = NULL, \
    previous_token_expires_at = NULL, previous_token_last_used_at = NULL, \
    previous_token_mac = NULL, previous_token_key_version = NULL, updated_at = $3 \
    WHERE id = $1 AND account_id = $2 AND previous_token_expires_at > $3 \
      AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3) \
    RETURNING ",
    columns!()
);

/// Revokes unless revoked already, for reason `$5`; returns the revoked row.
pub const REVOKE: &str = concat!(
    "UPDATE service_accounts SET \
    revoked_at = $3, revoked_by_user_id = $4, revoked_reason = $5, updated_at = $3 \
    WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL \
    RETURNING ",
    columns!()
);

/// Turns the service account's own token off at `$3` (the previous one
/// with it), unless revoked or off already; returns the changed row.
pub const DISABLE_STATIC_TOKEN: &str = concat!(
    "UPDATE service_accounts SET static_token_disabled_at = $3, updated_at = $3, \
    previous_token_prefix = NULL, previous_token_public_id = NULL, \
    previous_token_last4 = NULL, previous_token_issued_at = NULL, \
    previous_token_expires_at = NULL, previous_token_last_used_at = NULL, \
    previous_token_mac = NULL, previous_token_key_version = NULL \
    WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL \
      AND static_token_disabled_at IS NULL \
    RETURNING ",
    columns!()
);

/// Records a use of the current token, unless one was recorded after `$4`.
pub const RECORD_LAST_USE: &str = "UPDATE service_accounts SET last_used_at = $3 \
    WHERE id = $1 AND token_public_id = $2 AND (last_used_at IS NULL OR last_used_at <= $4)";

/// The same for the previous token.
pub const RECORD_PREVIOUS_LAST_USE: &str = "UPDATE service_accounts \
    SET previous_token_last_used_at = $3 \
    WHERE id = $1 AND previous_token_public_id = $2 \
      AND (previous_token_last_used_at IS NULL OR previous_token_last_used_at <= $4)";

pub const COUNT_ACTIVE: &str =
    "SELECT count(*) AS count FROM service_accounts WHERE revoked_at IS NULL";
