//! `idgate trust import|list|remove` on the German CSCA master list, run as an operator would,
//! against a SQLite data directory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use emrtd::pki::MasterList;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_idgate");
/// Decodable certificates of the German list (`crates/emrtd/tests/pki_masterlist.rs`), all
/// distinct.
const GERMAN_LIST_CSCAS: usize = 541;

fn german_list() -> Option<PathBuf> {
    idgate_testkit::shared_testdata("emrtd/masterlists/DE_ML_2024-08-07-07-38-24.ml")
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn idgate(data_dir: &Path, args: &[&std::ffi::OsStr]) -> Run {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("IDGATE_DATABASE_URL")
        .env_remove("IDGATE_CONFIG")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("idgate runs");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn list(data_dir: &Path) -> Value {
    let run = idgate(
        data_dir,
        &["trust".as_ref(), "list".as_ref(), "--json".as_ref()],
    );
    assert!(run.ok, "trust list failed: {}", run.stderr);
    serde_json::from_str(&run.stdout).expect("JSON")
}

fn certificates(listed: &Value) -> &Vec<Value> {
    listed["certificates"].as_array().expect("certificates")
}

#[test]
fn an_unverified_master_list_imports_nothing_without_the_opt_in() {
    let Some(ml) = german_list() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = idgate(
        dir.path(),
        &["trust".as_ref(), "import".as_ref(), ml.as_os_str()],
    );
    assert!(!run.ok, "{}", run.stdout);
    assert!(
        run.stderr.contains("its CSCAs are not trusted"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--trust-unverified"), "{}", run.stderr);
    assert!(certificates(&list(dir.path())).is_empty());
}

#[test]
fn the_german_master_list_imports_once_with_progress_and_its_cscas_are_marked_unverified() {
    let Some(ml) = german_list() else { return };
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "trust".as_ref(),
        "import".as_ref(),
        ml.as_os_str(),
        "--trust-unverified".as_ref(),
    ];
    let first = idgate(dir.path(), &args);
    assert!(first.ok, "{}", first.stderr);
    let n = GERMAN_LIST_CSCAS;
    assert!(
        first.stdout.contains(&format!(
            "{n} accepted from the sources, {n} added, 0 raised"
        )),
        "{}",
        first.stdout
    );
    assert!(
        first
            .stderr
            .contains(&format!("stored 250 of {n} certificates"))
            && first
                .stderr
                .contains(&format!("stored {n} of {n} certificates")),
        "progress: {}",
        first.stderr
    );
    let again = idgate(dir.path(), &args);
    assert!(again.ok, "{}", again.stderr);
    assert!(
        again.stdout.contains(&format!(
            "0 added, 0 raised to verified or direct anchor, {n} already stored"
        )),
        "{}",
        again.stdout
    );
    let listed = list(dir.path());
    let certs = certificates(&listed);
    assert_eq!(certs.len(), n);
    assert!(
        certs
            .iter()
            .all(|c| c["verified"] == false && c["source_kind"] == "master_list")
    );
    assert!(
        certs.iter().all(|c| c["master_list_signer"]
            .as_str()
            .is_some_and(|s| s.contains("CSCA Master List Signer"))),
        "{certs:?}"
    );
    assert_eq!(listed["loaded"]["cscas"], n);
    assert_eq!(listed["loaded"]["failed"], 0);
}

/// Writes the CSCA that issued the German list's signer (SKI A40A5FC3…), one of the list's own
/// entries, to `dir` as the operator's own anchor file.
fn write_german_anchor(ml: &Path, dir: &Path) -> PathBuf {
    let bytes = std::fs::read(ml).unwrap();
    let anchor = MasterList::parse(&bytes, &[])
        .unwrap()
        .certificates
        .into_iter()
        .find(|c| {
            c.is_self_issued()
                && c.subject_key_id
                    .as_deref()
                    .is_some_and(|k| k.starts_with(&[0xA4, 0x0A, 0x5F, 0xC3]))
        })
        .expect("csca-germany A40A… is in the list");
    let file = dir.join("csca-germany.cer");
    std::fs::write(&file, anchor.der()).unwrap();
    file
}

#[test]
fn the_german_master_list_is_verified_against_its_csca_imported_beside_it() {
    let Some(ml) = german_list() else { return };
    let dir = tempfile::tempdir().unwrap();
    let anchor_file = write_german_anchor(&ml, dir.path());
    let data = dir.path().join("data");
    let run = idgate(
        &data,
        &[
            "trust".as_ref(),
            "import".as_ref(),
            anchor_file.as_os_str(),
            ml.as_os_str(),
        ],
    );
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stderr.contains("verified against"), "{}", run.stderr);
    let listed = list(&data);
    let certs = certificates(&listed);
    assert_eq!(certs.len(), GERMAN_LIST_CSCAS);
    assert!(certs.iter().all(|c| c["verified"] == true), "{certs:?}");
    let direct: Vec<_> = certs
        .iter()
        .filter(|c| c["source_kind"] == "certificate")
        .collect();
    assert_eq!(direct.len(), 1, "{direct:?}");
    assert_eq!(direct[0]["source"], "csca-germany.cer");
}

#[test]
fn trust_entries_are_removed_by_id_or_fingerprint_and_unknown_ones_fail() {
    let Some(ml) = german_list() else { return };
    let dir = tempfile::tempdir().unwrap();
    let import = idgate(
        dir.path(),
        &[
            "trust".as_ref(),
            "import".as_ref(),
            ml.as_os_str(),
            "--trust-unverified".as_ref(),
        ],
    );
    assert!(import.ok, "{}", import.stderr);
    let listed = list(dir.path());
    let certs = certificates(&listed);
    let id = certs[0]["id"].as_str().unwrap().to_owned();
    let fingerprint = certs[1]["fingerprint"].as_str().unwrap().to_owned();
    for key in [&id, &fingerprint] {
        let run = idgate(
            dir.path(),
            &["trust".as_ref(), "remove".as_ref(), key.as_ref()],
        );
        assert!(run.ok, "{}", run.stderr);
        assert!(
            run.stdout.contains("removed certificate csca_"),
            "{}",
            run.stdout
        );
    }
    let after = list(dir.path());
    let left = certificates(&after);
    assert_eq!(left.len(), GERMAN_LIST_CSCAS - 2);
    assert!(
        left.iter()
            .all(|c| c["id"] != id.as_str() && c["fingerprint"] != fingerprint.as_str())
    );
    let unknown = idgate(
        dir.path(),
        &["trust".as_ref(), "remove".as_ref(), id.as_ref()],
    );
    assert!(!unknown.ok);
    assert!(
        unknown.stderr.contains("no certificate or CRL"),
        "{}",
        unknown.stderr
    );
}

fn sod_fixture(path: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../emrtd/tests/fixtures/sod"
    ))
    .join(path)
}

#[test]
fn a_crl_is_kept_when_a_stored_csca_signed_it_and_stops_loading_once_that_csca_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let crl = sod_fixture("p256/crl_revoked.der");
    let alone = idgate(
        dir.path(),
        &["trust".as_ref(), "import".as_ref(), crl.as_os_str()],
    );
    assert!(
        !alone.ok,
        "a CRL no stored CSCA signed is refused: {}",
        alone.stdout
    );
    let csca = sod_fixture("p256/csca.der");
    let anchor = idgate(
        dir.path(),
        &["trust".as_ref(), "import".as_ref(), csca.as_os_str()],
    );
    assert!(anchor.ok, "{}", anchor.stderr);
    let run = idgate(
        dir.path(),
        &["trust".as_ref(), "import".as_ref(), crl.as_os_str()],
    );
    assert!(run.ok, "{}", run.stderr);
    assert!(
        run.stdout.contains("CRLs: 1 added, 0 already present"),
        "{}",
        run.stdout
    );
    let listed = list(dir.path());
    assert_eq!(listed["crls"].as_array().unwrap().len(), 1);
    assert_eq!(listed["loaded"]["crls"], 1);
    let csca_id = certificates(&listed)[0]["id"].as_str().unwrap().to_owned();
    let removed = idgate(
        dir.path(),
        &["trust".as_ref(), "remove".as_ref(), csca_id.as_ref()],
    );
    assert!(removed.ok, "{}", removed.stderr);
    let after = list(dir.path());
    assert_eq!(after["loaded"]["crls"], 0);
    assert_eq!(after["loaded"]["failed"], 1, "{after}");
}

#[test]
fn importing_the_anchor_later_raises_a_list_imported_unverified_to_verified() {
    let Some(ml) = german_list() else { return };
    let dir = tempfile::tempdir().unwrap();
    let anchor_file = write_german_anchor(&ml, dir.path());
    let data = dir.path().join("data");
    let unverified = idgate(
        &data,
        &[
            "trust".as_ref(),
            "import".as_ref(),
            ml.as_os_str(),
            "--trust-unverified".as_ref(),
        ],
    );
    assert!(unverified.ok, "{}", unverified.stderr);
    let run = idgate(
        &data,
        &[
            "trust".as_ref(),
            "import".as_ref(),
            anchor_file.as_os_str(),
            ml.as_os_str(),
        ],
    );
    assert!(run.ok, "{}", run.stderr);
    let n = GERMAN_LIST_CSCAS;
    assert!(
        run.stdout.contains(&format!(
            "0 added, {n} raised to verified or direct anchor, 0 already stored"
        )),
        "{}",
        run.stdout
    );
    let listed = list(&data);
    let certs = certificates(&listed);
    assert_eq!(certs.len(), n);
    assert!(certs.iter().all(|c| c["verified"] == true), "{certs:?}");
    assert_eq!(
        certs
            .iter()
            .filter(|c| c["source_kind"] == "certificate")
            .count(),
        1
    );
}
