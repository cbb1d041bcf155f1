//! `idgate trust import|list|remove`: the operator's trust store kept in the database
//! (docs/verify.md "Managing the trust store").
//!
//! Import applies the same trust policy as `trust inspect` and `passport verify --trust`
//! (`passport::load_trust`): a master list adds its CSCAs only when its signer chains to a CSCA
//! imported directly — given in the same command or imported before — unless
//! `--trust-unverified`, which is recorded on every certificate it let in. CRLs are kept only
//! when a CSCA of the store signed them (ICAO 9303-12 §7.1.4). The database keeps the DER of
//! what passed; [`trust_store_from_database`] rebuilds the `emrtd` trust store from it.

use std::path::PathBuf;

use anyhow::{Context, bail};
use emrtd::pki::{SourceKind, SourceReport, TrustStore};
use idgate_core::{Clock, SystemClock, Timestamp};
use idgate_store::{AnchorSource, NewTrustAnchor, NewTrustCrl, StoreError, TrustMaterial};
use serde_json::json;
use sha2::Digest as _;
use time::OffsetDateTime;

use crate::passport::{MAX_FILE_LEN, collect_files, read_capped, report_source};
use crate::serve::ConfigArgs;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// CSCA certificates (DER/PEM), master lists, CRLs, or directories of them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Also trust the CSCAs of master lists whose signer does not chain to a CSCA imported
    /// directly (an explicit opt-in, recorded on each such certificate).
    #[arg(long)]
    pub trust_unverified: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The id (`csca_…`, `crl_…`) or SHA-256 fingerprint (hex) of a certificate or CRL.
    pub id: String,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn timestamp(t: OffsetDateTime) -> anyhow::Result<Timestamp> {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .ok()
        .and_then(Timestamp::from_unix_ms)
        .context("a certificate date outside years 1 to 9999")
}

/// Adds the stored certificates of `kind` to `store`. Certificates are added as directly
/// imported ones (the only public way in), so a loader adds master-list CSCAs only after the
/// last master list it checks: otherwise they would vouch for later lists, which the trust
/// policy forbids.
/// Adds the stored CSCAs of one source kind to `store`; returns how many no longer load.
fn add_stored(store: &mut TrustStore, material: &TrustMaterial, kind: AnchorSource) -> usize {
    material
        .anchors
        .iter()
        .filter(|(k, _)| *k == kind)
        .filter(|(_, der)| store.add_certificate_der(der).is_err())
        .count()
}

/// The `emrtd` trust store of everything the database holds, as the server builds it (see
/// `idgate_server::verification::trust_from_material`). Returns how many stored rows no longer
/// load (corrupt DER, or a CRL whose CSCA was removed), which a caller reports.
pub fn trust_store_from_database(material: &TrustMaterial) -> (TrustStore, usize) {
    let loaded = idgate_server::verification::trust_from_material(material, &[]);
    (loaded.store, loaded.rows_not_loaded)
}

/// A new source's contribution, kept to store it.
struct Imported {
    anchors: Vec<NewTrustAnchor>,
    crls: Vec<NewTrustCrl>,
    /// Certificates of trusted master lists and certificate files, repeats included.
    accepted: usize,
}

/// Loads `paths` into a trust store seeded with the database's anchors, and returns the
/// certificates and CRLs the sources added.
fn load_new(
    paths: &[PathBuf],
    trust_unverified: bool,
    material: &TrustMaterial,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Imported> {
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, 0, &mut files)?;
    }
    let mut sources = Vec::with_capacity(files.len());
    for path in files {
        let bytes = read_capped(&path, MAX_FILE_LEN)?;
        match SourceKind::of(&bytes) {
            Ok(kind) => sources.push((kind, path, bytes)),
            Err(e) => {
                let _ = report_source(path, Err(e), progress);
            }
        }
    }
    sources.sort_by_key(|(kind, _, _)| kind.load_rank());
    let mut store = TrustStore::new();
    store.set_trust_unverified_master_lists(trust_unverified);
    add_stored(&mut store, material, AnchorSource::Certificate);
    let mut out = Imported {
        anchors: Vec::new(),
        crls: Vec::new(),
        accepted: 0,
    };
    let mut stored_master_list_cscas = false;
    for (kind, path, bytes) in sources {
        if kind == SourceKind::Crl && !stored_master_list_cscas {
            // CRLs may be signed by a CSCA that arrived by an earlier master list.
            add_stored(&mut store, material, AnchorSource::MasterList);
            stored_master_list_cscas = true;
        }
        let label = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let before = store.len();
        let result = store.add_source_of_kind(&label, &bytes, kind);
        let (source_kind, signer, verified) = match &result {
            Ok(SourceReport::MasterList(ml)) => {
                if ml.signature.is_verified() || ml.trusted_unverified {
                    out.accepted += ml.certificates;
                }
                (
                    AnchorSource::MasterList,
                    ml.signer.clone(),
                    ml.signature.is_verified(),
                )
            }
            Ok(SourceReport::Certificates {
                added, duplicates, ..
            }) => {
                out.accepted += added + duplicates;
                (AnchorSource::Certificate, None, true)
            }
            Ok(SourceReport::Crl { issuer, .. }) => {
                let crl = store.crls().last().context("the CRL just loaded")?;
                let der = emrtd::pki::cert::pem_or_der_blocks(&bytes, "X509 CRL")?
                    .into_iter()
                    .next()
                    .context("the CRL just loaded")?;
                out.crls.push(NewTrustCrl {
                    fingerprint: hex(&sha2::Sha256::digest(&der)),
                    issuer: issuer.clone(),
                    this_update: timestamp(crl.this_update)?,
                    next_update: crl.next_update.map(timestamp).transpose()?,
                    der,
                    source: label.clone(),
                });
                (AnchorSource::Certificate, None, true)
            }
            Err(_) => (AnchorSource::Certificate, None, true),
        };
        for cert in store.certificates().skip(before) {
            out.anchors.push(NewTrustAnchor {
                fingerprint: hex(cert.fingerprint()),
                subject: cert.subject.clone(),
                country: cert.country.clone(),
                issuer_country: cert.issuer_country.clone(),
                not_before: timestamp(cert.not_before)?,
                not_after: timestamp(cert.not_after)?,
                der: cert.der().to_vec(),
                source: label.clone(),
                source_kind,
                master_list_signer: signer.clone(),
                verified,
            });
        }
        let _ = report_source(path, result, progress);
    }
    Ok(out)
}

pub fn import(args: ImportArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    runtime()?.block_on(async {
        let db = idgate_server::open_store(&config).await?;
        let material = db.trust_material().await?;
        let mut progress = |line: &str| eprintln!("{line}");
        let new = load_new(&args.paths, args.trust_unverified, &material, &mut progress)?;
        if new.anchors.is_empty() && new.crls.is_empty() && new.accepted == 0 {
            bail!(
                "nothing to import: no CSCA certificate or CRL was accepted from the paths (a \
                 master list adds its CSCAs only when its signer chains to a CSCA imported \
                 directly; import that CSCA first, or pass --trust-unverified to opt in)"
            );
        }
        let total = new.anchors.len();
        let now = SystemClock.now();
        let anchors = db
            .import_trust_anchors(&new.anchors, now, &mut |done| {
                eprintln!("stored {done} of {total} certificates");
            })
            .await?;
        let crls = db.import_trust_crls(&new.crls, now).await?;
        let unverified = new.anchors.iter().filter(|a| !a.verified).count();
        println!(
            "certificates: {} accepted from the sources, {} added, {} raised to verified or \
             direct anchor, {} already stored{}",
            new.accepted,
            anchors.added,
            anchors.upgraded,
            anchors.already_present,
            if unverified > 0 {
                format!(" ({unverified} of them from master lists trusted UNVERIFIED by --trust-unverified)")
            } else {
                String::new()
            }
        );
        println!(
            "CRLs: {} added, {} already present",
            crls.added, crls.already_present
        );
        anyhow::Ok(())
    })
}

pub fn list(args: ListArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    runtime()?.block_on(async {
        let db = idgate_server::open_store(&config).await?;
        let anchors = db.list_trust_anchors().await?;
        let crls = db.list_trust_crls().await?;
        // What a verifier would load from these rows (the same loader), so an operator sees
        // rows that no longer load (a CRL whose CSCA was removed) before a passport check does.
        let (loaded, failed) = trust_store_from_database(&db.trust_material().await?);
        if args.json {
            let value = json!({
                "certificates": anchors.iter().map(|a| json!({
                    "id": a.id,
                    "fingerprint": a.fingerprint,
                    "subject": a.subject,
                    "country": a.country,
                    "issuer_country": a.issuer_country,
                    "not_before": a.not_before,
                    "not_after": a.not_after,
                    "source": a.source,
                    "source_kind": a.source_kind.as_str(),
                    "master_list_signer": a.master_list_signer,
                    "verified": a.verified,
                    "imported_at": a.imported_at,
                })).collect::<Vec<_>>(),
                "crls": crls.iter().map(|c| json!({
                    "id": c.id,
                    "fingerprint": c.fingerprint,
                    "issuer": c.issuer,
                    "this_update": c.this_update,
                    "next_update": c.next_update,
                    "source": c.source,
                    "imported_at": c.imported_at,
                })).collect::<Vec<_>>(),
                "loaded": {
                    "cscas": loaded.len(),
                    "countries": loaded.count_by_country().len(),
                    "crls": loaded.crls().len(),
                    "failed": failed,
                },
            });
            println!("{}", serde_json::to_string_pretty(&value)?);
            return anyhow::Ok(());
        }
        println!(
            "{:<71} {:<7} {:<10} {:<10} {:<11} subject",
            "id", "country", "expires", "source", "trust"
        );
        for a in &anchors {
            println!(
                "{:<71} {:<7} {:<10} {:<10} {:<11} {}",
                a.id.as_str(),
                a.country.as_deref().unwrap_or("??"),
                a.not_after.to_rfc3339().get(..10).unwrap_or_default(),
                a.source,
                if a.verified { "verified" } else { "UNVERIFIED" },
                a.subject
            );
        }
        for c in &crls {
            println!(
                "{:<71} CRL of {} (this update {})",
                c.id.as_str(),
                c.issuer,
                c.this_update
            );
        }
        println!(
            "{} certificates, {} CRLs; the trust store loads {} CSCAs from {} countries and {} \
             CRLs ({failed} rows do not load)",
            anchors.len(),
            crls.len(),
            loaded.len(),
            loaded.count_by_country().len(),
            loaded.crls().len()
        );
        anyhow::Ok(())
    })
}

pub fn remove(args: RemoveArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    runtime()?.block_on(async {
        let db = idgate_server::open_store(&config).await?;
        match db.remove_trust_entry(&args.id).await {
            Ok(idgate_store::RemovedTrustEntry::Anchor(id)) => println!("removed certificate {id}"),
            Ok(idgate_store::RemovedTrustEntry::Crl(id)) => println!("removed CRL {id}"),
            Err(StoreError::NotFound) => {
                bail!("no certificate or CRL with id or fingerprint {}", args.id)
            }
            Err(e) => return Err(e.into()),
        }
        anyhow::Ok(())
    })
}
