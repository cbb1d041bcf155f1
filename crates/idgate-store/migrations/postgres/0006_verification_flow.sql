-- The end-user verification flow (docs/verify.md "HTTP surface"), PostgreSQL dialect.
-- The other dialect's file of the same name has the same statements.
--
-- An attempt carries what its mobile client needs between steps:
-- - checks: the record of every check (no personal data), shown in the attempt object;
-- - progress: what the phone last reported doing, for the browser;
-- - token_hash: HMAC-SHA256 of the attempt's bearer token under the server's API key hashing
--   key, so a token is found by hash and never stored; token_expires_at bounds its first use;
-- - device_hash / app_version: the device that said hello (the id hashed like the token);
-- - vault: the attempt's encrypted vault (AES-256-GCM under a key derived from the bearer token,
--   which the server does not keep), NULL once the attempt has ended;
-- - vault_version: bumped by every step, the guard that keeps two racing steps from both writing;
-- - last_verdict: the last step's verdict with a keyed digest of its upload, so a retried upload
--   of the same bytes gets the same verdict even after the session ended.
ALTER TABLE attempts ADD COLUMN checks TEXT NOT NULL DEFAULT '{}';
ALTER TABLE attempts ADD COLUMN progress TEXT;
ALTER TABLE attempts ADD COLUMN token_hash TEXT;
ALTER TABLE attempts ADD COLUMN token_expires_at BIGINT;
ALTER TABLE attempts ADD COLUMN device_hash TEXT;
ALTER TABLE attempts ADD COLUMN app_version TEXT;
ALTER TABLE attempts ADD COLUMN vault TEXT;
ALTER TABLE attempts ADD COLUMN vault_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN last_verdict TEXT;
CREATE UNIQUE INDEX attempts_token_idx ON attempts (token_hash);

-- The claims of a succeeded session, sealed (AES-256-GCM under the server's key-encryption key,
-- bound to the event id) until the webhook worker encrypts them to the integrator's key. Blanked
-- with the rest of the payload by erasure and by retention.
ALTER TABLE events ADD COLUMN sealed_claims TEXT;
