//! The operator's trust store: CSCA certificates and CRLs (docs/verify.md "Managing the trust
//! store").
//!
//! Operator-global, not per tenant: which countries' signing authorities a passport check
//! believes is the trust policy of whoever runs the server, and every tenant's documents are
//! judged by it. So no query here carries `org_id`, and no tenant-facing route may write here.
//!
//! The store keeps what it is given as text (hex DER, names, millisecond times) and decides
//! nothing about it: parsing certificates, checking master-list signatures and building the
//! `emrtd` trust store from these rows belong to the callers that depend on `emrtd` (the CLI,
//! later the server). Import is idempotent by the SHA-256 fingerprint of the DER, so importing
//! the same master list twice, or two lists that share CSCAs, keeps one row per certificate.

use idgate_core::{Timestamp, TrustAnchorId, TrustCrlId};

use crate::db::query;
use crate::rows::ts;
use crate::{Store, StoreError, StoreResult};

/// How a certificate entered the trust store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnchorSource {
    /// A certificate file the operator imported directly: an anchor master lists are checked
    /// against.
    Certificate,
    /// An entry of an ICAO master list (ICAO 9303-12 §8).
    MasterList,
}

impl AnchorSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::MasterList => "master_list",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "certificate" => Ok(Self::Certificate),
            "master_list" => Ok(Self::MasterList),
            _ => Err(StoreError::Corrupt("trust anchor source kind")),
        }
    }
}

/// A CSCA certificate to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrustAnchor {
    /// SHA-256 of `der`, lowercase hex: the identity that makes import idempotent.
    pub fingerprint: String,
    pub subject: String,
    pub country: Option<String>,
    pub issuer_country: Option<String>,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub der: Vec<u8>,
    /// The file it came from.
    pub source: String,
    pub source_kind: AnchorSource,
    /// The subject of the master list's signer, for [`AnchorSource::MasterList`].
    pub master_list_signer: Option<String>,
    /// `false` when it came from a master list whose signer did not chain to a directly
    /// imported CSCA and the operator opted in with `--trust-unverified`.
    pub verified: bool,
}

/// A stored CSCA certificate, without its DER (see [`Store::trust_anchor_ders`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    pub id: TrustAnchorId,
    pub fingerprint: String,
    pub subject: String,
    pub country: Option<String>,
    pub issuer_country: Option<String>,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub source: String,
    pub source_kind: AnchorSource,
    pub master_list_signer: Option<String>,
    pub verified: bool,
    pub imported_at: Timestamp,
}

/// A CRL to import, already verified by the caller against a CSCA of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrustCrl {
    /// SHA-256 of `der`, lowercase hex.
    pub fingerprint: String,
    pub issuer: String,
    pub this_update: Timestamp,
    pub next_update: Option<Timestamp>,
    pub der: Vec<u8>,
    pub source: String,
}

/// A stored CRL, without its DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustCrl {
    pub id: TrustCrlId,
    pub fingerprint: String,
    pub issuer: String,
    pub this_update: Timestamp,
    pub next_update: Option<Timestamp>,
    pub source: String,
    pub imported_at: Timestamp,
}

/// What an import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrustImport {
    pub added: usize,
    /// Stored rows whose trust the import raised (see [`Store::import_trust_anchors`]).
    pub upgraded: usize,
    /// Rows whose fingerprint was already stored; left as they were.
    pub already_present: usize,
}

/// Whether importing `new` raises the trust of a stored copy of the same certificate: a
/// certificate file makes it a direct anchor (one that later master lists are checked against),
/// and a verified list replaces the record of an unverified one. Nothing ever lowers it.
fn upgrades(new: &NewTrustAnchor, stored_kind: AnchorSource, stored_verified: bool) -> bool {
    (new.source_kind == AnchorSource::Certificate && stored_kind != AnchorSource::Certificate)
        || (new.verified && !stored_verified)
}

/// The DER of the stored certificates and CRLs, in import order, for building a trust store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustMaterial {
    /// `(source kind, DER)` of each CSCA certificate.
    pub anchors: Vec<(AnchorSource, Vec<u8>)>,
    pub crls: Vec<Vec<u8>>,
}

/// What [`Store::remove_trust_entry`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovedTrustEntry {
    Anchor(TrustAnchorId),
    Crl(TrustCrlId),
}

/// Rows inserted between two calls of the progress callback of an import.
const PROGRESS_EVERY: usize = 50;

const ANCHOR_COLUMNS: &str = "id, fingerprint, subject, country, issuer_country, not_before, \
     not_after, source, source_kind, master_list_signer, verified, imported_at";

#[derive(Debug, sqlx::FromRow)]
struct AnchorRow {
    id: String,
    fingerprint: String,
    subject: String,
    country: Option<String>,
    issuer_country: Option<String>,
    not_before: i64,
    not_after: i64,
    source: String,
    source_kind: String,
    master_list_signer: Option<String>,
    verified: bool,
    imported_at: i64,
}

impl AnchorRow {
    fn into_domain(self) -> StoreResult<TrustAnchor> {
        Ok(TrustAnchor {
            id: TrustAnchorId::parse(&self.id)
                .map_err(|_| StoreError::Corrupt("trust anchor id"))?,
            fingerprint: self.fingerprint,
            subject: self.subject,
            country: self.country,
            issuer_country: self.issuer_country,
            not_before: ts(self.not_before)?,
            not_after: ts(self.not_after)?,
            source: self.source,
            source_kind: AnchorSource::parse(&self.source_kind)?,
            master_list_signer: self.master_list_signer,
            verified: self.verified,
            imported_at: ts(self.imported_at)?,
        })
    }
}

const CRL_COLUMNS: &str = "id, fingerprint, issuer, this_update, next_update, source, imported_at";

#[derive(Debug, sqlx::FromRow)]
struct CrlRow {
    id: String,
    fingerprint: String,
    issuer: String,
    this_update: i64,
    next_update: Option<i64>,
    source: String,
    imported_at: i64,
}

impl CrlRow {
    fn into_domain(self) -> StoreResult<TrustCrl> {
        Ok(TrustCrl {
            id: TrustCrlId::parse(&self.id).map_err(|_| StoreError::Corrupt("trust CRL id"))?,
            fingerprint: self.fingerprint,
            issuer: self.issuer,
            this_update: ts(self.this_update)?,
            next_update: self.next_update.map(ts).transpose()?,
            source: self.source,
            imported_at: ts(self.imported_at)?,
        })
    }
}

fn der_from_hex(text: &str) -> StoreResult<Vec<u8>> {
    hex::decode(text).map_err(|_| StoreError::Corrupt("trust store DER is not hex"))
}

impl Store {
    /// Imports CSCA certificates in one transaction. A certificate whose fingerprint is stored
    /// already is counted, not changed, unless the import raises its trust: a certificate file
    /// makes it a direct anchor, a verified master list clears the mark an unverified one left
    /// (then its source is the new one). `progress(done)` is called every few dozen rows (a master
    /// list holds hundreds), and once at the end.
    pub async fn import_trust_anchors(
        &self,
        anchors: &[NewTrustAnchor],
        now: Timestamp,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> StoreResult<TrustImport> {
        let mut tx = self.begin_write().await?;
        let mut outcome = TrustImport::default();
        for (i, a) in anchors.iter().enumerate() {
            let stored: Option<(String, bool)> = query(format!(
                "SELECT source_kind, verified FROM trust_anchors WHERE fingerprint = $1{}",
                tx.dialect().for_update()
            ))
            .bind(a.fingerprint.as_str())
            .fetch_optional(&mut tx)
            .await?;
            match stored {
                None => {
                    let inserted = query(
                        "INSERT INTO trust_anchors (id, fingerprint, subject, country, \
                         issuer_country, not_before, not_after, der, source, source_kind, \
                         master_list_signer, verified, imported_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                         ON CONFLICT (fingerprint) DO NOTHING",
                    )
                    .bind(TrustAnchorId::generate().to_string())
                    .bind(a.fingerprint.as_str())
                    .bind(a.subject.as_str())
                    .bind(a.country.as_deref())
                    .bind(a.issuer_country.as_deref())
                    .bind(a.not_before.unix_ms())
                    .bind(a.not_after.unix_ms())
                    .bind(hex::encode(&a.der))
                    .bind(a.source.as_str())
                    .bind(a.source_kind.as_str())
                    .bind(a.master_list_signer.as_deref())
                    .bind(a.verified)
                    .bind(now.unix_ms())
                    .execute(&mut tx)
                    .await?;
                    // Zero only when a concurrent import stored it in between (PostgreSQL).
                    if inserted == 0 {
                        outcome.already_present += 1;
                    } else {
                        outcome.added += 1;
                    }
                }
                Some((kind, verified)) => {
                    let kind = AnchorSource::parse(&kind)?;
                    if upgrades(a, kind, verified) {
                        query(
                            "UPDATE trust_anchors SET source = $1, source_kind = $2, \
                             master_list_signer = $3, verified = $4 WHERE fingerprint = $5",
                        )
                        .bind(a.source.as_str())
                        .bind(a.source_kind.as_str())
                        .bind(a.master_list_signer.as_deref())
                        .bind(a.verified)
                        .bind(a.fingerprint.as_str())
                        .execute(&mut tx)
                        .await?;
                        outcome.upgraded += 1;
                    } else {
                        outcome.already_present += 1;
                    }
                }
            }
            if (i + 1) % PROGRESS_EVERY == 0 {
                progress(i + 1);
            }
        }
        tx.commit().await?;
        progress(anchors.len());
        Ok(outcome)
    }

    /// Imports CRLs in one transaction, idempotent by fingerprint like
    /// [`Self::import_trust_anchors`].
    pub async fn import_trust_crls(
        &self,
        crls: &[NewTrustCrl],
        now: Timestamp,
    ) -> StoreResult<TrustImport> {
        let mut tx = self.begin_write().await?;
        let mut outcome = TrustImport::default();
        for c in crls {
            let inserted = query(
                "INSERT INTO trust_crls (id, fingerprint, issuer, this_update, next_update, der, \
                 source, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (fingerprint) DO NOTHING",
            )
            .bind(TrustCrlId::generate().to_string())
            .bind(c.fingerprint.as_str())
            .bind(c.issuer.as_str())
            .bind(c.this_update.unix_ms())
            .bind(c.next_update.map(Timestamp::unix_ms))
            .bind(hex::encode(&c.der))
            .bind(c.source.as_str())
            .bind(now.unix_ms())
            .execute(&mut tx)
            .await?;
            if inserted == 0 {
                outcome.already_present += 1;
            } else {
                outcome.added += 1;
            }
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Every stored CSCA certificate, oldest import first (operator CLI; a trust store holds
    /// hundreds, not millions, so there is no pagination).
    pub async fn list_trust_anchors(&self) -> StoreResult<Vec<TrustAnchor>> {
        query(format!(
            "SELECT {ANCHOR_COLUMNS} FROM trust_anchors ORDER BY imported_at, id"
        ))
        .fetch_all::<AnchorRow>(&self.pool)
        .await?
        .into_iter()
        .map(AnchorRow::into_domain)
        .collect()
    }

    /// Every stored CRL, oldest import first.
    pub async fn list_trust_crls(&self) -> StoreResult<Vec<TrustCrl>> {
        query(format!(
            "SELECT {CRL_COLUMNS} FROM trust_crls ORDER BY imported_at, id"
        ))
        .fetch_all::<CrlRow>(&self.pool)
        .await?
        .into_iter()
        .map(CrlRow::into_domain)
        .collect()
    }

    /// The DER of everything stored, in import order, for building a trust store.
    pub async fn trust_material(&self) -> StoreResult<TrustMaterial> {
        let anchors: Vec<(String, String)> =
            query("SELECT source_kind, der FROM trust_anchors ORDER BY imported_at, id")
                .fetch_all(&self.pool)
                .await?;
        let crls: Vec<(String,)> = query("SELECT der FROM trust_crls ORDER BY imported_at, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(TrustMaterial {
            anchors: anchors
                .iter()
                .map(|(kind, der)| Ok((AnchorSource::parse(kind)?, der_from_hex(der)?)))
                .collect::<StoreResult<_>>()?,
            crls: crls
                .iter()
                .map(|(der,)| der_from_hex(der))
                .collect::<StoreResult<_>>()?,
        })
    }

    /// Removes the certificate or CRL with this id or fingerprint (hex, any case);
    /// `NotFound` when none matches.
    pub async fn remove_trust_entry(&self, key: &str) -> StoreResult<RemovedTrustEntry> {
        let fingerprint = key.to_ascii_lowercase();
        let mut tx = self.begin_write().await?;
        let anchor: Option<(String,)> =
            query("DELETE FROM trust_anchors WHERE id = $1 OR fingerprint = $2 RETURNING id")
                .bind(key)
                .bind(fingerprint.as_str())
                .fetch_optional(&mut tx)
                .await?;
        let removed = if let Some((id,)) = anchor {
            RemovedTrustEntry::Anchor(
                TrustAnchorId::parse(&id).map_err(|_| StoreError::Corrupt("trust anchor id"))?,
            )
        } else {
            let crl: Option<(String,)> =
                query("DELETE FROM trust_crls WHERE id = $1 OR fingerprint = $2 RETURNING id")
                    .bind(key)
                    .bind(fingerprint.as_str())
                    .fetch_optional(&mut tx)
                    .await?;
            let Some((id,)) = crl else {
                tx.rollback().await?;
                return Err(StoreError::NotFound);
            };
            RemovedTrustEntry::Crl(
                TrustCrlId::parse(&id).map_err(|_| StoreError::Corrupt("trust CRL id"))?,
            )
        };
        tx.commit().await?;
        Ok(removed)
    }
}
