-- Webhook delivery (webhooks.md), SQLite dialect. The PostgreSQL file of the same name has the
-- same text. Endpoints gain their environment, encrypted signing secrets and failure tracking;
-- encryption keys and deliveries (with their attempts) get their tables.

-- Nothing could create an endpoint before this version (no route existed), so the table is
-- rebuilt rather than altered: SQLite cannot add a constrained NOT NULL column in place.
DROP TABLE webhook_endpoints;
CREATE TABLE webhook_endpoints (
    id                          TEXT PRIMARY KEY NOT NULL,
    org_id                      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- Like sessions: kk_test_ keys see, and test sessions feed, only test endpoints.
    environment                 TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    url                         TEXT NOT NULL,
    description                 TEXT NOT NULL,
    enabled                     BOOLEAN NOT NULL,
    -- JSON array of event type names, or ["*"].
    subscribed_event_types      TEXT NOT NULL,
    -- The whsec_ signing secret sealed with AES-256-GCM under the key-encryption key; the
    -- endpoint id is the associated data, so a sealed secret cannot be moved to another row.
    secret_sealed               TEXT NOT NULL,
    -- The secret replaced by the last rotation; it keeps signing until the expiry (24 h).
    previous_secret_sealed      TEXT,
    previous_secret_expires_at  BIGINT,
    -- Start of the current run of failed attempts, null after any success: an endpoint failing
    -- continuously for 3 days is disabled (disabled_reason 'failing', webhook.endpoint.disabled).
    failing_since               BIGINT,
    disabled_reason             TEXT,
    disabled_at                 BIGINT,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_tenant_created_idx ON webhook_endpoints (org_id, environment, created_at DESC, id DESC);

-- RSA public keys the payloads are encrypted to; at most one active per endpoint.
CREATE TABLE webhook_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    endpoint_id  TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- The integrator's kid if given; the JWE header carries kid, else the key id.
    kid          TEXT,
    -- The public key as a JWK (kty, n, e) in canonical JSON: public material only.
    jwk          TEXT NOT NULL,
    bits         BIGINT NOT NULL,
    active       BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX webhook_keys_endpoint_created_idx ON webhook_keys (endpoint_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX webhook_keys_one_active_idx ON webhook_keys (endpoint_id) WHERE active;

-- One row per (event, endpoint), written in the transaction of the event (the outbox fan-out).
-- The body is not stored: the worker renders the event, encrypts it to the endpoint's active key
-- and signs it at send time, so nothing readable waits here.
CREATE TABLE webhook_deliveries (
    id                TEXT PRIMARY KEY NOT NULL,
    org_id            TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    environment       TEXT NOT NULL,
    event_id          TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id       TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    session_id        TEXT NOT NULL,
    -- pending: due at next_attempt_at; blocked_no_key: waits for an active key; succeeded/failed:
    -- final; cancelled: its session was erased before it could be sent.
    status            TEXT NOT NULL CHECK (status IN ('pending', 'blocked_no_key', 'succeeded', 'failed', 'cancelled')),
    attempt_count     BIGINT NOT NULL,
    next_attempt_at   BIGINT,
    -- A worker's claim: no other worker sends the delivery until the lease expires.
    lease_owner       TEXT,
    lease_expires_at  BIGINT,
    last_error        TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    completed_at      BIGINT
);
-- Claiming: due pending deliveries in order, O(log n + batch).
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_tenant_created_idx ON webhook_deliveries (org_id, environment, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_endpoint_status_idx ON webhook_deliveries (endpoint_id, status);
CREATE INDEX webhook_deliveries_session_idx ON webhook_deliveries (session_id);

-- What happened on each try (webhooks.md: time, status code, latency, first 1 KiB of the
-- response body, error kind).
CREATE TABLE webhook_delivery_attempts (
    delivery_id    TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt        BIGINT NOT NULL,
    started_at     BIGINT NOT NULL,
    status_code    BIGINT,
    latency_ms     BIGINT NOT NULL,
    response_body  TEXT,
    error_kind     TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

-- Retention: the payload of an event is blanked (data '{}', purged_at set) once the retention
-- period has passed; events stay as the index of the delivery history.
ALTER TABLE events ADD COLUMN purged_at BIGINT;
CREATE INDEX events_created_idx ON events (created_at);
