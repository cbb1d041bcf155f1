//! ICAO master lists (ICAO 9303-12 §8) and the trust store, on the German CSCA master list.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::pki::{
    Certificate, MasterList, MasterListSignature, PkiError, SourceReport, TrustStore,
};

fn testdata(path: &str) -> Option<Vec<u8>> {
    idgate_testkit::read_shared_testdata(&format!("emrtd/{path}"))
}

const ML: &str = "masterlists/DE_ML_2024-08-07-07-38-24.ml";
const CSCA07: &str = "masterlists/DE_ROOT_CA_CSCA07.cer";

/// The CSCA that issued the German list's signer: csca-germany with SKI A40A5FC3…, one of the
/// list's own entries. An operator imports it directly (as a file) to verify the list.
fn german_list_anchor(ml: &[u8]) -> Certificate {
    let ski = [
        0xA4, 0x0A, 0x5F, 0xC3, 0x80, 0xAE, 0x3E, 0x59, 0xAF, 0x1B, 0x32, 0xD6, 0x13, 0x6A, 0xEF,
        0xEE, 0xC8, 0xCA, 0x35, 0xE8,
    ];
    MasterList::parse(ml, &[])
        .expect("parses")
        .certificates
        .into_iter()
        .find(|c| c.subject_key_id.as_deref() == Some(&ski[..]) && c.is_self_issued())
        .expect("csca-germany A40A… is in the list")
}

#[test]
fn german_master_list_loads_with_hundreds_of_cscas_from_many_countries() {
    let Some(ml) = testdata(ML) else { return };
    let anchor = german_list_anchor(&ml);
    let mut store = TrustStore::new();
    let summary = store.add_master_list("DE", &ml, &[&anchor]).expect("loads");
    assert!(summary.signature.is_verified(), "{:?}", summary.signature);
    let countries = store.count_by_country();
    println!(
        "DE master list: {} entries, {} distinct CSCAs added, {} undecodable, {} countries, signature {:?}",
        summary.certificates,
        summary.added,
        summary.undecodable,
        countries.len(),
        summary.signature
    );
    assert!(summary.added > 300, "{summary:?}");
    assert!(countries.len() > 50, "{countries:?}");
    assert!(countries.get("DE").is_some_and(|n| *n >= 3));
    assert_eq!(summary.added, store.len());
}

#[test]
fn master_list_without_anchor_is_reported_unverified() {
    let Some(ml) = testdata(ML) else { return };
    let mut store = TrustStore::new();
    let summary = store.add_master_list("DE", &ml, &[]).expect("loads");
    assert!(
        matches!(summary.signature, MasterListSignature::Unverified { .. }),
        "{:?}",
        summary.signature
    );
    assert_eq!(summary.added, 0, "an unverified list adds no CSCA");
    assert!(store.is_empty());
    assert!(
        summary
            .signer
            .as_deref()
            .is_some_and(|s| s.contains("CSCA Master List Signer"))
    );
}

#[test]
fn csca07_beside_the_list_did_not_sign_it_so_the_list_stays_unverified() {
    // Finding: the list (signed 2024-08-07) is signed by "CSCA Master List Signer" (serial
    // 0038), issued by the csca-germany key with SKI A40A5FC3…, not by CSCA07 (SKI E8A62993…,
    // issued 2024-10-01, after the list).
    let (Some(ml), Some(csca07)) = (testdata(ML), testdata(CSCA07)) else {
        return;
    };
    let anchor = Certificate::from_der(&csca07).expect("CSCA07 decodes");
    let mut store = TrustStore::new();
    let summary = store.add_master_list("DE", &ml, &[&anchor]).expect("loads");
    assert_eq!(
        summary.signature.code(),
        "unverified",
        "{:?}",
        summary.signature
    );
}

#[test]
fn master_list_verifies_against_the_csca_that_issued_its_signer() {
    let Some(ml) = testdata(ML) else { return };
    // The issuing CSCA (SKI A40A5FC3…) is one of the list's own entries; imported directly as
    // the anchor the operator trusts, the list's signature and the signer's certificate (with
    // the master-list-signer EKU) both verify.
    let issuer = german_list_anchor(&ml);
    let mut store = TrustStore::new();
    store.add_certificate_der(issuer.der()).expect("anchor");
    let summary = store.add_master_list("DE", &ml, &[]).expect("loads");
    match &summary.signature {
        MasterListSignature::Verified { signer, anchor } => {
            assert!(signer.contains("CSCA Master List Signer"));
            assert!(anchor.contains("csca-germany"));
        }
        other => panic!("expected verified, got {other:?}"),
    }
}

#[test]
fn a_tampered_master_list_is_refused() {
    let Some(mut ml) = testdata(ML) else { return };
    // Flip a byte inside the eContent (a certificate of the list): messageDigest no longer matches.
    ml[5000] ^= 0x01;
    let mut store = TrustStore::new();
    match store.add_master_list("DE", &ml, &[]) {
        Err(PkiError::MasterListSignatureInvalid(_)) => {}
        other => panic!("expected an invalid signature, got {other:?}"),
    }
    assert!(store.is_empty());
}

#[test]
fn loading_the_same_list_twice_deduplicates() {
    let Some(ml) = testdata(ML) else { return };
    let anchor = german_list_anchor(&ml);
    let mut store = TrustStore::new();
    let first = store.add_master_list("a", &ml, &[&anchor]).expect("loads");
    let second = store.add_master_list("b", &ml, &[&anchor]).expect("loads");
    assert!(first.added > 300);
    assert_eq!(second.added, 0);
    assert_eq!(store.len(), first.added);
}

#[test]
fn add_source_recognises_a_master_list_and_a_certificate() {
    let (Some(ml), Some(csca07)) = (testdata(ML), testdata(CSCA07)) else {
        return;
    };
    let mut store = TrustStore::new();
    assert_eq!(
        store.add_source("csca07", &csca07).expect("cert"),
        SourceReport::Certificates {
            added: 1,
            duplicates: 0,
            undecodable: 0
        }
    );
    assert!(matches!(
        store.add_source("ml", &ml).expect("ml"),
        SourceReport::MasterList(_)
    ));
}

fn fixture(path: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/sod/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn a_master_list_whose_signer_chains_to_a_given_csca_is_verified() {
    let mut store = TrustStore::new();
    store
        .add_source("ml_csca", &fixture("ml_csca.pem"))
        .expect("anchor loads");
    let SourceReport::MasterList(summary) = store
        .add_source("utopia.ml", &fixture("utopia.ml"))
        .expect("ml loads")
    else {
        panic!("not recognised as a master list");
    };
    assert!(summary.signature.is_verified(), "{:?}", summary.signature);
    assert_eq!(summary.certificates, 4);
    assert_eq!(store.count_by_country().get("UT"), Some(&5));
}

#[test]
fn a_master_list_loaded_before_its_anchor_is_unverified() {
    let mut store = TrustStore::new();
    let summary = store
        .add_master_list("utopia.ml", &fixture("utopia.ml"), &[])
        .expect("loads");
    assert_eq!(summary.signature.code(), "unverified");
}

#[test]
fn every_csca_of_the_german_list_passes_the_csca_role_rule() {
    // The role rule (docs/verify.md): cA and keyCertSign; keyUsage decides whenever it is
    // present, cA only when keyUsage is absent. Real CSCAs omit or empty one of the two,
    // so a strict rule would lose genuine CSCAs; this counts them.
    let Some(ml) = testdata(ML) else { return };
    let list = MasterList::parse(&ml, &[]).expect("parses");
    let total = list.certificates.len();
    let strict = list
        .certificates
        .iter()
        .filter(|c| {
            c.basic_constraints_ca == Some(true) && c.key_usage.is_some_and(|k| k & 0x20 != 0)
        })
        .count();
    let refused: Vec<&Certificate> = list
        .certificates
        .iter()
        .filter(|c| c.check_csca_role().is_err())
        .collect();
    println!(
        "DE list: {total} decodable certificates, {strict} pass the strict rule, {} refused by the documented rule: {:?}",
        refused.len(),
        refused.iter().map(|c| &c.subject).collect::<Vec<_>>()
    );
    assert_eq!(total, 541);
    assert_eq!(strict, 529, "the strict rule would lose 12 genuine CSCAs");
    // Every self-signed CSCA stays a CSCA; the one certificate refused is a link certificate
    // whose keyUsage lacks keyCertSign (the CSCAs it links are on the list themselves).
    assert!(refused.iter().all(|c| !c.is_self_issued()), "{refused:#?}");
    assert_eq!(refused.len(), 1, "{refused:#?}");
}
