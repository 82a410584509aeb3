-- The audit log records more than service-account changes: grants added and
-- removed now, more kinds of events later. A service account is no longer
-- required; what an event is about beyond it goes in `detail` (JSON); action
-- and actor kinds are checked by the service, so that new ones need no
-- migration.
ALTER TABLE audit_events ALTER COLUMN service_account_id DROP NOT NULL;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_action_check;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_actor_type_check;
ALTER TABLE audit_events ADD COLUMN detail text;
