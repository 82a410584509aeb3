-- The audit log is read over the API: each event gets an id (the cursor of
-- its pages; events recorded before now get a random one), and where the
-- change came from: the public id of the token the actor used, the token the
-- event is about (issued, retired, replayed, reported), and the request's
-- source address and user agent.
ALTER TABLE audit_events ADD COLUMN id uuid;
UPDATE audit_events SET id = gen_random_uuid();
ALTER TABLE audit_events ALTER COLUMN id SET NOT NULL;
CREATE UNIQUE INDEX audit_events_id ON audit_events (id);
ALTER TABLE audit_events ADD COLUMN actor_token_public_id text;
ALTER TABLE audit_events ADD COLUMN token_public_id text;
ALTER TABLE audit_events ADD COLUMN source_ip text;
ALTER TABLE audit_events ADD COLUMN user_agent text;
CREATE INDEX audit_events_by_service_account ON audit_events (service_account_id, seq);
