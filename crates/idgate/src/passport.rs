//! `idgate passport verify` and `idgate trust inspect`: passive authentication of chip files
//! and inspection of a trust store, from the command line (ICAO 9303-11 §5.1, 9303-12 §8).
//!
//! This module owns reading files; `emrtd` only sees bytes. [`load_trust`] is the one place
//! that turns paths (certificate files, master lists, CRLs, or directories of them) into a
//! [`TrustStore`], in an order that lets master lists be checked against CSCA files loaded
//! beside them and CRLs against the CSCAs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{ArgAction, Args, Subcommand};
use emrtd::passive::{self, CheckName, DataGroupStatus, PassiveReport, Status, Verdict};
use emrtd::pki::{MasterListSignature, SourceKind, SourceReport, TrustStore};
use serde_json::json;
use time::OffsetDateTime;

/// Directory recursion limit and file-count limit when loading a trust store.
const MAX_DEPTH: usize = 4;
const MAX_FILES: usize = 100_000;
/// Largest single trust file read (the ICAO master list is a few MiB).
pub(crate) const MAX_FILE_LEN: u64 = 256 * 1024 * 1024;
/// Largest chip file read (DG2/DG3 images are the big ones).
const MAX_CHIP_FILE_LEN: u64 = 4 * 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum PassportCommand {
    /// Passive authentication of a passport's EF.SOD and data groups against a trust store.
    Verify(VerifyArgs),
    /// Read a passport's chip through a PC/SC reader (BAC or PACE), write its files, and
    /// optionally verify them.
    Read(crate::passport_read::ReadArgs),
    /// List the PC/SC readers `passport read --reader` accepts.
    Readers,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// EF.SOD as read from the chip.
    #[arg(long)]
    pub sod: PathBuf,
    #[arg(long)]
    pub dg1: Option<PathBuf>,
    #[arg(long)]
    pub dg2: Option<PathBuf>,
    #[arg(long)]
    pub dg14: Option<PathBuf>,
    #[arg(long)]
    pub dg15: Option<PathBuf>,
    /// CSCA certificates (DER/PEM), master lists, CRLs, or directories of them.
    #[arg(long, required = true, num_args = 1.., action = ArgAction::Append)]
    pub trust: Vec<PathBuf>,
    /// Issuing state from the MRZ (e.g. `D`, `FRA`), overriding DG1.
    #[arg(long)]
    pub issuing_state: Option<String>,
    /// Time of verification (RFC 3339, e.g. `2015-06-01T00:00:00Z`): certificates must be valid
    /// then. Default: now. Use a past time to check an old file as of that date.
    #[arg(long, value_parser = parse_rfc3339)]
    pub at: Option<OffsetDateTime>,
    /// Also trust the CSCAs of master lists whose signer does not chain to a CSCA given
    /// directly (an explicit opt-in; the report lists such master lists).
    #[arg(long)]
    pub trust_unverified: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn parse_rfc3339(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("expected an RFC 3339 time such as 2015-06-01T00:00:00Z: {e}"))
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Load trust sources and show what they contain: CSCAs per country, expiry dates,
    /// master-list signature status, CRLs.
    Inspect(InspectArgs),
    /// Import CSCA certificates, master lists and CRLs into the database's trust store, under
    /// the same trust policy as `inspect` (progress on stderr).
    Import(crate::trust::ImportArgs),
    /// List the certificates and CRLs of the database's trust store.
    List(crate::trust::ListArgs),
    /// Remove a certificate or CRL from the database's trust store, by id or fingerprint.
    Remove(crate::trust::RemoveArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// CSCA certificates (DER/PEM), master lists, CRLs, or directories of them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Also trust the CSCAs of master lists whose signer does not chain to a CSCA given
    /// directly (an explicit opt-in, shown per list).
    #[arg(long)]
    pub trust_unverified: bool,
    #[arg(long)]
    pub json: bool,
}

/// The outcome of loading one file.
#[derive(Debug)]
pub struct LoadedSource {
    pub path: PathBuf,
    pub result: Result<SourceReport, String>,
}

/// Loads every path (files, or directories walked up to [`MAX_DEPTH`]) into a trust store.
///
/// Each file is read and classified by its content once ([`SourceKind::of`]; names and
/// extensions mean nothing), then loaded in dependency order: CSCA certificates first, master
/// lists next (their signers are checked against the certificates loaded beside them), CRLs last
/// (each is accepted only when a CSCA of the store signed it, ICAO 9303-12 §7.1.4). Within a
/// kind, files keep path order. A file whose content is not a trust source, or that fails to
/// load, is reported and skipped, not fatal. A master list adds its CSCAs only when its signer
/// chains to a CSCA given directly, unless `trust_unverified` (`docs/verify.md`, trust policy).
///
/// # Errors
/// When a path cannot be read (the error names the file), or no CSCA could be loaded.
pub fn load_trust(
    paths: &[PathBuf],
    trust_unverified: bool,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<(TrustStore, Vec<LoadedSource>)> {
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, 0, &mut files)?;
    }
    if files.len() > 1 {
        progress(&format!("loading {} trust files", files.len()));
    }
    let mut sources = Vec::with_capacity(files.len());
    let mut loaded = Vec::new();
    for path in files {
        let bytes = read_capped(&path, MAX_FILE_LEN)?;
        match SourceKind::of(&bytes) {
            Ok(kind) => sources.push((kind, path, bytes)),
            Err(e) => loaded.push(report_source(path, Err(e), progress)),
        }
    }
    // Stable: within a kind, path order.
    sources.sort_by_key(|(kind, _, _)| kind.load_rank());
    let mut store = TrustStore::new();
    store.set_trust_unverified_master_lists(trust_unverified);
    for (kind, path, bytes) in sources {
        let result = store.add_source_of_kind(&path.display().to_string(), &bytes, kind);
        loaded.push(report_source(path, result, progress));
    }
    if store.is_empty() {
        bail!(
            "no CSCA certificate could be loaded from the trust paths (a master list adds its \
             CSCAs only when its signer chains to a CSCA given directly; give that CSCA, or \
             --trust-unverified to opt in)"
        );
    }
    progress(&format!(
        "trust store: {} CSCAs from {} countries",
        store.len(),
        store.count_by_country().len()
    ));
    Ok((store, loaded))
}

/// Reports what loading one trust source did through `progress` and keeps its outcome.
pub(crate) fn report_source(
    path: PathBuf,
    result: Result<SourceReport, emrtd::pki::PkiError>,
    progress: &mut dyn FnMut(&str),
) -> LoadedSource {
    let label = path.display().to_string();
    let result = result.map_err(|e| e.to_string());
    if let Ok(SourceReport::MasterList(ml)) = &result {
        let detail = match &ml.signature {
            MasterListSignature::Verified { anchor, .. } => format!("verified against {anchor}"),
            MasterListSignature::Unverified { reason, .. } if ml.trusted_unverified => {
                format!("UNVERIFIED ({reason}), trusted by --trust-unverified")
            }
            MasterListSignature::Unverified { reason, .. } => {
                format!("unverified ({reason}), its CSCAs are not trusted")
            }
            MasterListSignature::Invalid { reason } => format!("invalid ({reason})"),
        };
        progress(&format!(
            "master list {label}: {} CSCAs ({} added), signature {detail}",
            ml.certificates, ml.added,
        ));
    }
    if let Err(e) = &result {
        progress(&format!("skipped {label}: {e}"));
    }
    LoadedSource { path, result }
}

pub(crate) fn collect_files(
    path: &Path,
    depth: usize,
    out: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.is_file() {
        if out.len() >= MAX_FILES {
            bail!("more than {MAX_FILES} trust files");
        }
        out.push(path.to_path_buf());
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("listing {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        collect_files(&entry, depth + 1, out)?;
    }
    Ok(())
}

pub(crate) fn read_capped(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len > max {
        bail!("{} is larger than {max} bytes", path.display());
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

pub fn run_passport(command: PassportCommand) -> anyhow::Result<()> {
    match command {
        PassportCommand::Verify(args) => {
            let outcome = verify(&args, &mut |line| eprintln!("{line}"))?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report_json(&outcome))?);
            } else {
                print!("{}", report_text(&outcome));
            }
            if outcome.report.verdict() != Verdict::Authentic {
                std::process::exit(2);
            }
            Ok(())
        }
        PassportCommand::Read(args) => crate::passport_read::run_read(args),
        PassportCommand::Readers => crate::passport_read::run_readers(),
    }
}

/// A passive-authentication report with what the trust store was built from.
#[derive(Debug)]
pub struct VerifyOutcome {
    pub report: PassiveReport,
    /// Master lists trusted without verification (`--trust-unverified`), by source.
    pub trusted_unverified: Vec<String>,
}

/// Loads the trust paths and chip files of `args` and runs passive authentication.
///
/// # Errors
/// When a file cannot be read or no trust could be loaded.
pub fn verify(args: &VerifyArgs, progress: &mut dyn FnMut(&str)) -> anyhow::Result<VerifyOutcome> {
    let sod = read_capped(&args.sod, MAX_CHIP_FILE_LEN)?;
    let mut groups: Vec<(u8, Vec<u8>)> = Vec::new();
    for (number, path) in [
        (1u8, &args.dg1),
        (2, &args.dg2),
        (14, &args.dg14),
        (15, &args.dg15),
    ] {
        if let Some(path) = path {
            groups.push((number, read_capped(path, MAX_CHIP_FILE_LEN)?));
        }
    }
    let refs: Vec<(u8, &[u8])> = groups.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    verify_files(
        &sod,
        &refs,
        &args.trust,
        args.trust_unverified,
        args.at,
        args.issuing_state.as_deref(),
        progress,
    )
}

/// Loads the trust paths and runs passive authentication of chip files already in memory: the
/// one verification path of `passport verify` (files from disk) and `passport read --verify`
/// (files from the chip).
///
/// # Errors
/// When no trust could be loaded.
#[allow(
    clippy::disallowed_methods,
    reason = "the command line verifies at the moment it runs unless --at says otherwise"
)]
pub fn verify_files(
    sod: &[u8],
    groups: &[(u8, &[u8])],
    trust: &[PathBuf],
    trust_unverified: bool,
    at: Option<OffsetDateTime>,
    issuing_state: Option<&str>,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<VerifyOutcome> {
    let (store, _) = load_trust(trust, trust_unverified, progress)?;
    let report = passive::verify_with_issuing_state(
        sod,
        groups,
        &store,
        at.unwrap_or_else(OffsetDateTime::now_utc),
        issuing_state,
    );
    Ok(VerifyOutcome {
        report,
        trusted_unverified: store
            .master_lists()
            .iter()
            .filter(|ml| ml.trusted_unverified)
            .map(|ml| ml.label.clone())
            .collect(),
    })
}

fn dg_status(s: DataGroupStatus) -> &'static str {
    match s {
        DataGroupStatus::Match => "match",
        DataGroupStatus::Mismatch => "mismatch",
        DataGroupStatus::NotSupplied => "not supplied",
        DataGroupStatus::NotInSod => "not in sod",
    }
}

/// The `--json` object.
pub fn report_json(outcome: &VerifyOutcome) -> serde_json::Value {
    let report = &outcome.report;
    let rfc3339 = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    };
    let data_groups: BTreeMap<String, &str> = report
        .data_groups
        .iter()
        .map(|(n, s)| (n.to_string(), dg_status(*s)))
        .collect();
    json!({
        "verdict": match report.verdict() { Verdict::Authentic => "authentic", Verdict::Failed => "failed" },
        "failure": report.failure().map(|f| f.code()),
        "signature_valid": report.status(CheckName::Signature) == Status::Pass,
        "chain_valid": report.status(CheckName::Chain) == Status::Pass,
        "dsc_subject": report.document_signer.as_ref().map(|d| &d.subject),
        "dsc_country": report.document_signer.as_ref().and_then(|d| d.country.as_ref()),
        "csca_subject": report.csca.as_ref().map(|c| &c.subject),
        "issuing_country": report.issuing_country,
        "signature_algorithm": report.signature_algorithm,
        "lds_hash_algorithm": report.lds_hash_algorithm,
        "reference_time": report.reference_time.and_then(rfc3339),
        "signing_time": report.signing_time.and_then(rfc3339),
        "deviations": report.deviations,
        "trusted_unverified_master_lists": outcome.trusted_unverified,
        "data_groups": data_groups,
        "checks": report.checks,
    })
}

/// The human-readable report.
pub fn report_text(outcome: &VerifyOutcome) -> String {
    use std::fmt::Write;
    let report = &outcome.report;
    let mut out = String::new();
    let verdict = match report.verdict() {
        Verdict::Authentic => "AUTHENTIC".to_owned(),
        Verdict::Failed => format!(
            "FAILED ({})",
            report.failure().map_or("incomplete", |f| f.code())
        ),
    };
    let _ = writeln!(out, "Passive authentication: {verdict}");
    for check in &report.checks {
        let mark = match check.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::NotApplicable => "n/a ",
        };
        let _ = writeln!(
            out,
            "  [{mark}] {:<16} {}",
            format!("{:?}", check.name),
            check.reason
        );
    }
    for (n, s) in &report.data_groups {
        let _ = writeln!(out, "  DG{n:<2} {}", dg_status(*s));
    }
    for label in &outcome.trusted_unverified {
        let _ = writeln!(
            out,
            "  trust: UNVERIFIED master list {label} trusted by --trust-unverified"
        );
    }
    out
}

#[allow(
    clippy::disallowed_methods,
    reason = "trust inspect reports validity at the moment it runs"
)]
pub fn run_trust(command: TrustCommand) -> anyhow::Result<()> {
    match command {
        TrustCommand::Inspect(args) => {
            let (store, loaded) = load_trust(&args.paths, args.trust_unverified, &mut |line| {
                eprintln!("{line}")
            })?;
            let summary = inspect_json(&store, &loaded, OffsetDateTime::now_utc());
            if args.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", inspect_text(&summary));
            }
            Ok(())
        }
        TrustCommand::Import(args) => crate::trust::import(args),
        TrustCommand::List(args) => crate::trust::list(args),
        TrustCommand::Remove(args) => crate::trust::remove(args),
    }
}

/// Counts by country with the earliest and latest expiry, master lists and CRLs.
pub fn inspect_json(
    store: &TrustStore,
    loaded: &[LoadedSource],
    now: OffsetDateTime,
) -> serde_json::Value {
    let rfc3339 = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let mut countries: BTreeMap<
        String,
        (usize, usize, Option<OffsetDateTime>, Option<OffsetDateTime>),
    > = BTreeMap::new();
    for cert in store.certificates() {
        let entry = countries
            .entry(cert.country.clone().unwrap_or_else(|| "??".into()))
            .or_default();
        entry.0 += 1;
        if cert.not_after < now {
            entry.1 += 1;
        }
        entry.2 = Some(entry.2.map_or(cert.not_after, |t| t.min(cert.not_after)));
        entry.3 = Some(entry.3.map_or(cert.not_after, |t| t.max(cert.not_after)));
    }
    let expired: usize = countries.values().map(|c| c.1).sum();
    json!({
        "cscas": store.len(),
        "expired": expired,
        "countries": countries.iter().map(|(country, (n, exp, first, last))| json!({
            "country": country,
            "cscas": n,
            "expired": exp,
            "first_expiry": first.map(rfc3339),
            "last_expiry": last.map(rfc3339),
        })).collect::<Vec<_>>(),
        "master_lists": store.master_lists().iter().map(|ml| json!({
            "source": ml.label,
            "signature": ml.signature.code(),
            "anchor": match &ml.signature {
                MasterListSignature::Verified { anchor, .. } => Some(anchor),
                _ => None,
            },
            "reason": match &ml.signature {
                MasterListSignature::Verified { .. } => None,
                MasterListSignature::Unverified { reason, .. }
                | MasterListSignature::Invalid { reason } => Some(reason),
            },
            "trusted_unverified": ml.trusted_unverified,
            "signer": ml.signer,
            "signing_time": ml.signing_time.map(rfc3339),
            "certificates": ml.certificates,
            "added": ml.added,
            "undecodable": ml.undecodable,
        })).collect::<Vec<_>>(),
        "crls": store.crls().iter().map(|crl| json!({
            "issuer": crl.issuer,
            "this_update": rfc3339(crl.this_update),
            "next_update": crl.next_update.map(rfc3339),
            "stale": crl.next_update.is_some_and(|next| next < now),
            "revoked": crl.revoked.len(),
        })).collect::<Vec<_>>(),
        "skipped": loaded.iter().filter_map(|l| l.result.as_ref().err().map(|e| json!({
            "source": l.path.display().to_string(),
            "error": e,
        }))).collect::<Vec<_>>(),
    })
}

fn inspect_text(summary: &serde_json::Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "CSCAs: {} ({} expired)",
        summary["cscas"], summary["expired"]
    );
    for ml in summary["master_lists"].as_array().into_iter().flatten() {
        let against = match (ml["anchor"].as_str(), ml["reason"].as_str()) {
            (Some(anchor), _) => format!("against {anchor}"),
            (None, Some(reason)) if ml["trusted_unverified"] == true => {
                format!("({reason}), TRUSTED by --trust-unverified")
            }
            (None, Some(reason)) => format!("({reason}), CSCAs not trusted"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "Master list {}: {} certificates, {} added, signature {} {against} (signer {})",
            ml["source"].as_str().unwrap_or_default(),
            ml["certificates"],
            ml["added"],
            ml["signature"].as_str().unwrap_or_default(),
            ml["signer"].as_str().unwrap_or("unknown"),
        );
    }
    for crl in summary["crls"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "CRL {}: {} revoked",
            crl["issuer"].as_str().unwrap_or_default(),
            crl["revoked"]
        );
    }
    let _ = writeln!(
        out,
        "{:<8} {:>6} {:>8}  {:<20} {:<20}",
        "country", "cscas", "expired", "first expiry", "last expiry"
    );
    for c in summary["countries"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{:<8} {:>6} {:>8}  {:<20} {:<20}",
            c["country"].as_str().unwrap_or_default(),
            c["cscas"],
            c["expired"],
            c["first_expiry"].as_str().unwrap_or("-"),
            c["last_expiry"].as_str().unwrap_or("-"),
        );
    }
    for s in summary["skipped"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "skipped {}: {}",
            s["source"].as_str().unwrap_or_default(),
            s["error"].as_str().unwrap_or_default()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Vec<u8> {
        let path = format!(
            "{}/../emrtd/tests/fixtures/sod/{path}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn outcome<'a>(loaded: &'a [LoadedSource], name: &str) -> &'a Result<SourceReport, String> {
        &loaded
            .iter()
            .find(|l| l.path.file_name().is_some_and(|n| n == name))
            .unwrap_or_else(|| panic!("{name} not reported"))
            .result
    }

    #[test]
    fn a_crl_loads_after_its_csca_whatever_the_file_names() {
        let dir = tempfile::tempdir().unwrap();
        // Named so that path order would put the CRL and the master list before the CSCA.
        std::fs::write(dir.path().join("a.bin"), fixture("p256/crl_revoked.der")).unwrap();
        std::fs::write(dir.path().join("b.bin"), fixture("utopia.ml")).unwrap();
        std::fs::write(dir.path().join("c.bin"), fixture("p256/csca.der")).unwrap();
        let (store, loaded) = load_trust(&[dir.path().to_path_buf()], false, &mut |_| {}).unwrap();
        assert!(matches!(
            outcome(&loaded, "a.bin"),
            Ok(SourceReport::Crl { revoked: 1, .. })
        ));
        assert!(matches!(
            outcome(&loaded, "b.bin"),
            Ok(SourceReport::MasterList(_))
        ));
        assert_eq!(store.crls().len(), 1);
        let order: Vec<_> = loaded.iter().map(|l| l.path.file_name().unwrap()).collect();
        assert_eq!(order, ["c.bin", "b.bin", "a.bin"]);
    }

    #[test]
    fn a_file_that_is_no_trust_source_is_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("csca.der"), fixture("p256/csca.der")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a certificate").unwrap();
        let (store, loaded) = load_trust(&[dir.path().to_path_buf()], false, &mut |_| {}).unwrap();
        assert_eq!(store.len(), 1);
        let err = outcome(&loaded, "notes.txt").as_ref().unwrap_err();
        assert!(
            err.contains("not a certificate, CRL or master list"),
            "{err}"
        );
    }

    #[test]
    fn an_unreadable_trust_file_fails_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone.der");
        let err = load_trust(&[missing], false, &mut |_| {}).unwrap_err();
        assert!(format!("{err:#}").contains("gone.der"), "{err:#}");
    }
}
