-- The operator's CSCA trust store (docs/verify.md "Managing the trust store"), SQLite dialect.
-- The other dialect's file of the same name has the same statements.
--
-- Operator-global, not per tenant: which countries' signing authorities to believe is the
-- operator's trust policy. Certificates and CRLs are public documents; DER is kept as hex TEXT.
-- `verified` is false for the CSCAs of a master list accepted with --trust-unverified.
CREATE TABLE trust_anchors (
    id TEXT NOT NULL PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    country TEXT,
    issuer_country TEXT,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    der TEXT NOT NULL,
    source TEXT NOT NULL,
    source_kind TEXT NOT NULL,
    master_list_signer TEXT,
    verified BOOLEAN NOT NULL,
    imported_at BIGINT NOT NULL
);
CREATE INDEX trust_anchors_by_import ON trust_anchors (imported_at, id);

-- CRLs, each accepted only once a CSCA of the store verified its signature (ICAO 9303-12 §7.1.4).
CREATE TABLE trust_crls (
    id TEXT NOT NULL PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    issuer TEXT NOT NULL,
    this_update BIGINT NOT NULL,
    next_update BIGINT,
    der TEXT NOT NULL,
    source TEXT NOT NULL,
    imported_at BIGINT NOT NULL
);
CREATE INDEX trust_crls_by_import ON trust_crls (imported_at, id);
