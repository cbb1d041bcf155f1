//! `idgate passport verify --json` and `idgate trust inspect --json` on factory-built passports
//! and master lists: every genuine field deviation verifies, every forgery the security review
//! reproduced is refused (`docs/verify.md`, trust policy).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use emrtd::testkit::masterlist::{ListSigner, MasterListBuilder};
use emrtd::testkit::{Algo, Deviation, Failure, TestPassport, TestPassportBuilder};

struct Run {
    code: i32,
    json: serde_json::Value,
    stderr: String,
}

fn idgate(args: &[OsString]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_idgate"))
        .args(args)
        .output()
        .expect("idgate runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> OsString {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.into_os_string()
}

/// Writes the passport's files and runs `passport verify --json` with `trust` and `extra`.
fn verify(p: &TestPassport, dir: &Path, trust: &[OsString], extra: &[&str]) -> Run {
    let mut args: Vec<OsString> = vec!["passport".into(), "verify".into(), "--sod".into()];
    args.push(write(dir, "sod.bin", &p.sod));
    args.push("--dg1".into());
    args.push(write(dir, "dg1.bin", &p.dg1));
    args.push("--dg2".into());
    args.push(write(dir, "dg2.bin", &p.dg2));
    args.push("--trust".into());
    args.extend(trust.iter().cloned());
    args.extend(extra.iter().map(OsString::from));
    args.push("--json".into());
    idgate(&args)
}

fn verify_with_own_csca(builder: TestPassportBuilder) -> Run {
    let p = builder.build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csca = write(dir.path(), "csca.der", &p.csca_der);
    let at = p
        .signed_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    verify(&p, dir.path(), &[csca], &["--at", &at])
}

fn assert_authentic(run: &Run) {
    assert_eq!(run.code, 0, "{}\n{:#}", run.stderr, run.json);
    assert_eq!(run.json["verdict"], "authentic");
}

fn assert_failure(run: &Run, code: &str) {
    assert_eq!(run.code, 2, "{}\n{:#}", run.stderr, run.json);
    assert_eq!(run.json["failure"], code, "{:#}", run.json);
}

fn with(d: Deviation) -> TestPassportBuilder {
    TestPassport::builder().deviation(d)
}

#[test]
fn cli_accepts_a_serial_with_its_top_bit_set() {
    assert_authentic(&verify_with_own_csca(with(Deviation::SerialTopBit)));
}

#[test]
fn cli_accepts_a_signer_serial_without_its_sign_byte() {
    assert_authentic(&verify_with_own_csca(with(
        Deviation::SerialWithoutSignByte,
    )));
}

#[test]
fn cli_accepts_econtent_type_id_data_and_names_the_deviation() {
    let run = verify_with_own_csca(with(Deviation::EContentTypeIdData));
    assert_authentic(&run);
    assert!(
        run.json["deviations"].as_array().is_some_and(|d| d
            .iter()
            .any(|d| d.as_str().unwrap_or("").contains("id-data"))),
        "{:#}",
        run.json
    );
}

#[test]
fn cli_accepts_issuer_rdns_in_another_order() {
    assert_authentic(&verify_with_own_csca(with(Deviation::IssuerRdnsReordered)));
}

#[test]
fn cli_names_why_an_embedded_certificate_could_not_be_parsed() {
    let run = verify_with_own_csca(with(Deviation::UnparseableEmbeddedCertificate));
    assert_failure(&run, "document_signer_missing");
    let reason = run.json["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "document_signer"))
        .and_then(|c| c["reason"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(reason.contains("could not be parsed"), "{reason}");
}

#[test]
fn cli_refuses_signed_attributes_without_content_type() {
    assert_failure(
        &verify_with_own_csca(with(Deviation::NoContentTypeAttribute)),
        "sod_malformed",
    );
}

#[test]
fn cli_refuses_a_sod_signed_by_a_ca_certificate() {
    assert_failure(
        &verify_with_own_csca(TestPassport::builder().failure(Failure::SignedByCaCertificate)),
        "document_signer_role",
    );
}

#[test]
fn cli_refuses_a_sod_signed_by_a_master_list_signer() {
    assert_failure(
        &verify_with_own_csca(TestPassport::builder().failure(Failure::SignedByMasterListSigner)),
        "document_signer_role",
    );
}

#[test]
fn cli_checks_validity_at_the_time_of_verification_and_at_a_past_time() {
    let p = TestPassport::builder()
        .deviation(Deviation::NoSigningTime)
        .at(time::OffsetDateTime::now_utc() - time::Duration::days(5 * 365))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csca = write(dir.path(), "csca.der", &p.csca_der);
    // Now: the DSC (valid three years after signing) has expired.
    assert_failure(
        &verify(&p, dir.path(), std::slice::from_ref(&csca), &[]),
        "document_signer_not_valid",
    );
    // As of one year after signing, the old file verifies.
    let then = (p.signed_at + time::Duration::days(365))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_authentic(&verify(&p, dir.path(), &[csca], &["--at", &then]));
}

#[test]
fn cli_trusts_a_master_list_verified_to_a_directly_given_anchor() {
    let p = TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .build()
        .unwrap();
    let ml = MasterListBuilder::new()
        .certificate(p.csca_der.clone())
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let list = write(dir.path(), "list.ml", &ml.der);
    let anchor = write(dir.path(), "anchor.der", &ml.anchor_csca_der);
    assert_authentic(&verify(
        &p,
        dir.path(),
        &[list.clone(), anchor.clone()],
        &[],
    ));

    let inspect = idgate(&[
        "trust".into(),
        "inspect".into(),
        list,
        anchor,
        "--json".into(),
    ]);
    assert_eq!(inspect.code, 0, "{}", inspect.stderr);
    let entry = &inspect.json["master_lists"][0];
    assert_eq!(entry["signature"], "verified");
    assert!(
        entry["anchor"]
            .as_str()
            .is_some_and(|a| a.contains("idgate test CSCA UT")),
        "{entry}"
    );
}

#[test]
fn cli_refuses_a_forged_passport_carried_by_a_self_signed_master_list() {
    let forged = TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .build()
        .unwrap();
    let crafted = MasterListBuilder::new()
        .signer(ListSigner::SelfSigned)
        .certificate(forged.csca_der.clone())
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let list = write(dir.path(), "crafted.ml", &crafted.der);
    // A genuine anchor loaded beside it does not make the crafted list trusted.
    let anchor = write(dir.path(), "anchor.der", &crafted.anchor_csca_der);
    let run = verify(&forged, dir.path(), &[list.clone(), anchor.clone()], &[]);
    assert_failure(&run, "csca_not_found");
    assert!(
        run.stderr.contains("its CSCAs are not trusted"),
        "{}",
        run.stderr
    );

    let inspect = idgate(&[
        "trust".into(),
        "inspect".into(),
        list.clone(),
        anchor,
        "--json".into(),
    ]);
    let entry = &inspect.json["master_lists"][0];
    assert_eq!(entry["signature"], "unverified", "{entry}");
    assert_eq!(entry["added"], 0);

    // The explicit opt-in trusts it, and the report records that it did.
    let run = verify(&forged, dir.path(), &[list], &["--trust-unverified"]);
    assert_authentic(&run);
    assert_eq!(
        run.json["trusted_unverified_master_lists"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn cli_refuses_a_master_list_signed_by_a_document_signer() {
    let forged = TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .build()
        .unwrap();
    let ml = MasterListBuilder::new()
        .signer(ListSigner::DocumentSigner)
        .certificate(forged.csca_der.clone())
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let list = write(dir.path(), "list.ml", &ml.der);
    let anchor = write(dir.path(), "anchor.der", &ml.anchor_csca_der);
    assert_failure(
        &verify(&forged, dir.path(), &[list, anchor], &[]),
        "csca_not_found",
    );
}
