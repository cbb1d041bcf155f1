-- idgate schema, SQLite dialect. The PostgreSQL file of the same name has the same text: the
-- schema keeps to the common subset. Times are unix milliseconds (BIGINT), JSON is TEXT.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY NOT NULL,
    org_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    environment   TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    scopes        TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    key_prefix    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX api_keys_org_created_idx ON api_keys (org_id, created_at DESC, id DESC);

-- The fields of webhooks.md; signing secrets and encryption keys come with the webhook worker.
CREATE TABLE webhook_endpoints (
    id                      TEXT PRIMARY KEY NOT NULL,
    org_id                  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url                     TEXT NOT NULL,
    description             TEXT NOT NULL DEFAULT '',
    enabled                 BOOLEAN NOT NULL DEFAULT TRUE,
    subscribed_event_types  TEXT NOT NULL DEFAULT '["*"]',
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_org_created_idx ON webhook_endpoints (org_id, created_at DESC, id DESC);

CREATE TABLE sessions (
    id                   TEXT PRIMARY KEY NOT NULL,
    org_id               TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    environment          TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    status               TEXT NOT NULL CHECK (status IN ('created', 'in_progress', 'succeeded', 'failed', 'expired', 'cancelled')),
    failure_code         TEXT,
    nfc_tries_used       BIGINT NOT NULL CHECK (nfc_tries_used BETWEEN 0 AND 3),
    liveness_tries_used  BIGINT NOT NULL CHECK (liveness_tries_used BETWEEN 0 AND 3),
    contract_version     BIGINT NOT NULL,
    share_fields         TEXT NOT NULL,
    redirect_url         TEXT,
    webhook_endpoint_id  TEXT NOT NULL,
    metadata             TEXT NOT NULL,
    cancel_token         TEXT NOT NULL,
    expires_at           BIGINT NOT NULL,
    completed_at         BIGINT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    -- api.md: failure_code is non-null exactly when failed; completed_at exactly when terminal.
    CHECK ((status = 'failed') = (failure_code IS NOT NULL)),
    CHECK ((status IN ('created', 'in_progress')) = (completed_at IS NULL))
);
-- List pages: keyset on (created_at DESC, id DESC) within a tenant, with or without a status filter.
CREATE INDEX sessions_tenant_created_idx ON sessions (org_id, environment, created_at DESC, id DESC);
CREATE INDEX sessions_tenant_status_created_idx ON sessions (org_id, environment, status, created_at DESC, id DESC);
-- The expiry sweeper: overdue non-terminal sessions.
CREATE INDEX sessions_status_expires_idx ON sessions (status, expires_at);

CREATE TABLE attempts (
    id            TEXT PRIMARY KEY NOT NULL,
    session_id    TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    status        TEXT NOT NULL CHECK (status IN ('in_progress', 'succeeded', 'failed', 'cancelled')),
    failure_code  TEXT,
    phase         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    completed_at  BIGINT
);
CREATE INDEX attempts_session_created_idx ON attempts (session_id, created_at, id);

-- The transactional outbox: one row per state change, written in the transaction of the change.
-- session_id is deliberately not a foreign key: an erased session's events remain (with their
-- payload blanked, erased_at set) so the history of deliveries stays consistent.
CREATE TABLE events (
    id           TEXT PRIMARY KEY NOT NULL,
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    environment  TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    attempt_id   TEXT,
    type         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    data         TEXT NOT NULL,
    -- Order of the event within its transaction (events of one change share created_at).
    seq          BIGINT NOT NULL,
    erased_at    BIGINT
);
CREATE INDEX events_tenant_created_idx ON events (org_id, environment, created_at DESC, id DESC);
CREATE INDEX events_session_created_idx ON events (session_id, created_at, seq, id);

-- Idempotency-Key records, 24 h per organization and environment.
CREATE TABLE idempotency_keys (
    org_id         TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    environment    TEXT NOT NULL,
    idem_key       TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    response_body  TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (org_id, environment, idem_key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
CREATE INDEX idempotency_keys_session_idx ON idempotency_keys (session_id);
