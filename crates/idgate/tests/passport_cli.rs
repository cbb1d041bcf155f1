//! `idgate passport verify` and `idgate trust inspect`, run as a user would run them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::path::PathBuf;
use std::process::Command;

fn testdata() -> Option<PathBuf> {
    idgate_testkit::shared_testdata("emrtd")
}

fn fixtures(family: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../emrtd/tests/fixtures/sod"
    ))
    .join(family)
}

fn idgate(args: &[&std::ffi::OsStr]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_idgate"))
        .args(args)
        .output()
        .expect("idgate runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bsi_reference_passport_verifies_its_hashes_and_signature_but_not_its_test_csca() {
    let Some(td) = testdata() else { return };
    let bsi = td.join("bsi-erika");
    let (code, json, stderr) = idgate(&[
        "passport".as_ref(),
        "verify".as_ref(),
        "--sod".as_ref(),
        bsi.join("EF_SOD.bin").as_os_str(),
        "--dg1".as_ref(),
        bsi.join("Datagroup1.bin").as_os_str(),
        "--dg2".as_ref(),
        bsi.join("Datagroup2.bin").as_os_str(),
        "--dg14".as_ref(),
        bsi.join("Datagroup14.bin").as_os_str(),
        "--trust".as_ref(),
        td.join("masterlists").as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 2, "a failed verdict exits 2; stderr: {stderr}");
    assert_eq!(json["verdict"], "failed");
    assert_eq!(json["failure"], "csca_not_found");
    assert_eq!(json["signature_valid"], true);
    assert_eq!(json["chain_valid"], false);
    assert_eq!(json["data_groups"]["1"], "match");
    assert_eq!(json["data_groups"]["2"], "match");
    assert_eq!(json["data_groups"]["14"], "match");
    assert_eq!(json["data_groups"]["3"], "not supplied");
    assert_eq!(json["issuing_country"], "DE");
    assert!(
        json["dsc_subject"]
            .as_str()
            .is_some_and(|s| s.contains("HJP PB DS"))
    );
    assert!(json["csca_subject"].is_null());
    assert!(
        stderr.contains("master list"),
        "progress on stderr: {stderr}"
    );
}

#[test]
fn generated_p256_passport_is_authentic_with_its_csca() {
    let f = fixtures("p256");
    let (code, json, stderr) = idgate(&[
        "passport".as_ref(),
        "verify".as_ref(),
        "--sod".as_ref(),
        f.join("EF_SOD.bin").as_os_str(),
        "--dg1".as_ref(),
        f.join("dg1.bin").as_os_str(),
        "--dg2".as_ref(),
        f.join("dg2.bin").as_os_str(),
        "--trust".as_ref(),
        f.join("csca.der").as_os_str(),
        f.join("crl_empty.der").as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["verdict"], "authentic");
    assert!(json["failure"].is_null());
    assert_eq!(json["chain_valid"], true);
    assert_eq!(json["issuing_country"], "UT");
    assert!(
        json["csca_subject"]
            .as_str()
            .is_some_and(|s| s.contains("CSCA Utopia p256"))
    );
}

#[test]
fn human_output_names_the_failed_check() {
    let f = fixtures("p256");
    let out = Command::new(env!("CARGO_BIN_EXE_idgate"))
        .args(["passport", "verify", "--sod"])
        .arg(f.join("EF_SOD.bin"))
        .arg("--trust")
        .arg(f.join("csca.der"))
        .arg(f.join("crl_revoked.der"))
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2));
    assert!(text.contains("FAILED (document_signer_revoked)"), "{text}");
}

#[test]
fn trust_inspect_reports_an_unverified_master_list_and_trusts_none_of_its_cscas() {
    let Some(td) = testdata() else { return };
    let (code, json, stderr) = idgate(&[
        "trust".as_ref(),
        "inspect".as_ref(),
        td.join("masterlists").as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    // Only CSCA07, imported directly: CSCA07 did not sign the list, so it adds nothing.
    assert_eq!(json["cscas"], 1);
    let ml = &json["master_lists"][0];
    assert_eq!(ml["certificates"], 541);
    assert_eq!(ml["added"], 0);
    assert_eq!(ml["signature"], "unverified", "{ml}");
    assert!(ml["anchor"].is_null());
    assert_eq!(ml["trusted_unverified"], false);
}

#[test]
fn trust_inspect_with_trust_unverified_loads_the_list_and_says_so() {
    let Some(td) = testdata() else { return };
    let (code, json, stderr) = idgate(&[
        "trust".as_ref(),
        "inspect".as_ref(),
        td.join("masterlists").as_os_str(),
        "--trust-unverified".as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    // 541 CSCAs from the list plus CSCA07 loaded beside it.
    assert_eq!(json["cscas"], 542);
    assert!(json["countries"].as_array().is_some_and(|c| c.len() > 100));
    let ml = &json["master_lists"][0];
    assert_eq!(ml["signature"], "unverified");
    assert_eq!(ml["trusted_unverified"], true);
    assert!(stderr.contains("trusted by --trust-unverified"), "{stderr}");
}
