-- Leaked tokens: why a service account was revoked. `requested` (the revoke
-- operation), `leaked` (a secret-scanning partner's report) or `reported`
-- (the public revocation endpoint); null while it is not revoked. The
-- service checks the values, so that new ones need no table rebuild.
ALTER TABLE service_accounts ADD COLUMN revoked_reason TEXT;
UPDATE service_accounts SET revoked_reason = 'requested' WHERE revoked_at IS NOT NULL;
