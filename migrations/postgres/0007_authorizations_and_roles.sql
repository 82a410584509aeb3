-- Who holds what, in Hybridbox's shape: authorizations (a capability, or
-- ownership, granted to a user, a group or a service account, account-wide or
-- on one resource) and role assignments (a role on a resource). Both are
-- revoked, never deleted, so that their history stays readable. User and
-- group ids are the identity provider's strings; a service account's is its
-- UUID in text. Kinds, types and role keys are checked by the service, so
-- that new ones need no migration; the shape of a row is checked here.
CREATE TABLE authorizations (
    id              uuid        PRIMARY KEY,
    account_id      uuid        NOT NULL REFERENCES accounts (id),
    grant_kind      text        NOT NULL,
    subject_type    text        NOT NULL,
    subject_id      text        NOT NULL,
    capability_key  text,
    resource_type   text,
    resource_id     uuid,
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    CHECK ((grant_kind = 'capability') = (capability_key IS NOT NULL)),
    CHECK ((resource_type IS NULL) = (resource_id IS NULL))
);

-- One live copy of a grant.
CREATE UNIQUE INDEX authorizations_live ON authorizations (
    account_id, subject_type, subject_id, grant_kind, coalesce(capability_key, ''),
    coalesce(resource_type, ''),
    coalesce(resource_id, '00000000-0000-0000-0000-000000000000'::uuid)
) WHERE revoked_at IS NULL;

-- Listing pages through an account in (created_at, id) order.
CREATE INDEX authorizations_by_account ON authorizations (account_id, created_at, id);

-- Authorization reads what a subject holds.
CREATE INDEX authorizations_by_subject
    ON authorizations (subject_type, subject_id) WHERE revoked_at IS NULL;

-- The grants so far, with new ids; user and service account ids as text.
INSERT INTO authorizations
    (id, account_id, grant_kind, subject_type, subject_id, capability_key, created_at)
SELECT gen_random_uuid(), account_id,
    CASE capability WHEN 'account_owner' THEN 'account_owner' ELSE 'capability' END,
    subject_kind, subject_id::text,
    CASE capability WHEN 'account_owner' THEN NULL ELSE capability END,
    created_at
FROM grants;

DROP TABLE grants;

CREATE TABLE role_assignments (
    id              uuid        PRIMARY KEY,
    account_id      uuid        NOT NULL REFERENCES accounts (id),
    role_key        text        NOT NULL,
    subject_type    text        NOT NULL,
    subject_id      text        NOT NULL,
    resource_type   text        NOT NULL,
    resource_id     uuid        NOT NULL,
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz
);

CREATE UNIQUE INDEX role_assignments_live ON role_assignments (
    account_id, subject_type, subject_id, role_key, resource_type, resource_id
) WHERE revoked_at IS NULL;

CREATE INDEX role_assignments_by_account ON role_assignments (account_id, created_at, id);

CREATE INDEX role_assignments_by_subject
    ON role_assignments (subject_type, subject_id) WHERE revoked_at IS NULL;
