//! `idgate simulate` against the built `idgate serve`: an organization and a `kk_test_` key made
//! with the CLI, a session created over the integrator API, then the simulator plays the phone to
//! each kind of end — success, a document failure, a liveness failure, the person's cancel — and
//! the integrator API shows the session's final status and failure code. Needs the test photos of
//! `scripts/fetch-face-models.sh` (the DG2 portrait and the liveness bursts).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::BIN;
use support::flow::{Fixture, photos};

impl Fixture {
    /// `idgate simulate --session URL --server … --outcome OUTCOME --json`.
    fn simulate(&self, session: &str, outcome: &str, photos: &Path) -> Run {
        self.simulate_with_key(session, outcome, photos, None)
    }

    /// [`Fixture::simulate`], with `IDGATE_API_KEY` set to `key` when given.
    fn simulate_with_key(
        &self,
        session: &str,
        outcome: &str,
        photos: &Path,
        key: Option<&str>,
    ) -> Run {
        let mut command = Command::new(BIN);
        command
            .args([
                "simulate",
                "--session",
                session,
                "--outcome",
                outcome,
                "--json",
            ])
            .arg("--server")
            .arg(format!("http://{}", self.node.addr))
            .arg("--photos")
            .arg(photos)
            .env_remove("IDGATE_API_KEY")
            .env_remove("RUST_BACKTRACE");
        if let Some(key) = key {
            command.env("IDGATE_API_KEY", key);
        }
        Run::new(command.output().expect("run idgate simulate"))
    }
}

/// One simulator run: its exit, its JSON lines, its error text.
struct Run {
    output: Output,
    lines: Vec<Value>,
}

impl Run {
    fn new(output: Output) -> Self {
        let lines = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))
            })
            .collect();
        Self { output, lines }
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn assert_success(&self) {
        assert!(
            self.output.status.success(),
            "simulate failed: {}\n{:#?}",
            self.stderr(),
            self.lines
        );
    }

    /// The lines of `step`.
    fn steps(&self, step: &str) -> Vec<&Value> {
        self.lines.iter().filter(|l| l["step"] == step).collect()
    }
}

#[tokio::test]
async fn a_simulated_phone_completes_a_session_with_both_chip_protocols_and_consent() {
    let Some(photos) = photos() else { return };
    let fixture = Fixture::start();
    let (id, url) = fixture.session().await;
    let run = fixture.simulate(&url, "succeeded", &photos);
    run.assert_success();

    // Active authentication answered hello's challenge; chip authentication ran through the relay.
    assert_eq!(run.steps("internal-authenticate").len(), 1);
    assert_eq!(run.steps("chip-authentication")[0]["status"], 200);
    assert_eq!(run.steps("document")[0]["verdict"], "accepted");
    assert_eq!(run.steps("liveness")[0]["verdict"], "accepted");
    assert_eq!(run.steps("consent")[0]["status"], 200);
    let last = run.lines.last().unwrap();
    assert_eq!(last["session"]["status"], "succeeded", "{last}");

    let stored = fixture.stored(&id).await;
    assert_eq!(stored["status"], "succeeded");
    assert_eq!(stored["failure_code"], Value::Null);
    assert_eq!(stored["nfc_tries_used"], 0);
    assert_eq!(stored["liveness_tries_used"], 0);
}

#[tokio::test]
async fn a_tampered_portrait_fails_the_session_after_three_reads() {
    let Some(photos) = photos() else { return };
    let fixture = Fixture::start();
    let (id, url) = fixture.session().await;
    let run = fixture.simulate(&url, "document_authenticity_failed", &photos);
    run.assert_success();

    // Each try is a new handoff: three attempts, three rejected uploads, the last terminal.
    assert_eq!(run.steps("handoff").len(), 3);
    let documents = run.steps("document");
    assert_eq!(documents.len(), 3);
    for document in &documents {
        assert_eq!(document["verdict"], "rejected");
        assert_eq!(document["failure_code"], "document_authenticity_failed");
    }

    let stored = fixture.stored(&id).await;
    assert_eq!(stored["status"], "failed");
    assert_eq!(stored["failure_code"], "document_authenticity_failed");
    assert_eq!(stored["nfc_tries_used"], 3);
}

#[tokio::test]
async fn every_other_failure_outcome_ends_the_session_with_its_code() {
    let Some(photos) = photos() else { return };
    let fixture = Fixture::start();
    for (outcome, tries) in [
        ("document_data_invalid", "nfc_tries_used"),
        ("document_active_authentication_failed", "nfc_tries_used"),
        ("document_chip_authentication_failed", "nfc_tries_used"),
        ("selfie_face_mismatch", "liveness_tries_used"),
    ] {
        let (id, url) = fixture.session().await;
        let run = fixture.simulate(&url, outcome, &photos);
        run.assert_success();
        let stored = fixture.stored(&id).await;
        assert_eq!(stored["status"], "failed", "{outcome}");
        assert_eq!(stored["failure_code"], outcome);
        assert_eq!(stored[tries], 3, "{outcome}");
    }
}

#[tokio::test]
async fn a_photo_held_up_to_the_camera_fails_liveness_three_times() {
    let Some(photos) = photos() else { return };
    let fixture = Fixture::start();
    let (id, url) = fixture.session().await;
    let run = fixture.simulate(&url, "liveness_failed", &photos);
    run.assert_success();

    assert_eq!(run.steps("document")[0]["verdict"], "accepted");
    // A fresh challenge per try, on the same attempt.
    assert_eq!(run.steps("handoff").len(), 1);
    assert_eq!(run.steps("liveness/challenge").len(), 3);
    let bursts = run.steps("liveness");
    assert_eq!(bursts.len(), 3);
    assert!(
        bursts
            .iter()
            .all(|b| b["failure_code"] == "liveness_failed")
    );

    let stored = fixture.stored(&id).await;
    assert_eq!(stored["status"], "failed");
    assert_eq!(stored["failure_code"], "liveness_failed");
    assert_eq!(stored["liveness_tries_used"], 3);
    assert_eq!(stored["nfc_tries_used"], 0);
}

#[tokio::test]
async fn the_person_cancels_and_the_phone_gets_410() {
    let Some(photos) = photos() else { return };
    let fixture = Fixture::start();
    let (id, url) = fixture.session().await;
    let run = fixture.simulate(&url, "cancel", &photos);
    run.assert_success();

    assert_eq!(run.steps("cancel")[0]["status"], 204);
    let after = run.steps("liveness/challenge");
    assert_eq!(after[0]["status"], 410);
    assert_eq!(after[0]["error"], "SESSION_CANCELLED");

    let stored = fixture.stored(&id).await;
    assert_eq!(stored["status"], "cancelled");
}

#[tokio::test]
async fn a_bare_session_id_is_handed_off_and_cancelled_with_the_integrator_key() {
    let Some(photos) = photos() else { return };
    let fixture = Fixture::start();
    let (id, _) = fixture.session().await;
    let without = fixture.simulate(&id, "cancel", &photos);
    assert!(!without.output.status.success());
    assert!(
        without.stderr().contains("IDGATE_API_KEY"),
        "{}",
        without.stderr()
    );

    // The key authorizes the handoff; the cancel token comes from the session's verification URL.
    let run = fixture.simulate_with_key(&id, "cancel", &photos, Some(&fixture.key));
    run.assert_success();
    assert_eq!(run.steps("handoff")[0]["status"], 200);
    assert_eq!(
        run.steps("liveness/challenge")[0]["error"],
        "SESSION_CANCELLED"
    );
    assert_eq!(fixture.stored(&id).await["status"], "cancelled");
}

#[tokio::test]
async fn a_chip_without_anti_cloning_proof_is_reported_when_the_server_does_not_require_one() {
    let Some(photos) = photos() else { return };
    let fixture = Fixture::start();
    let (id, url) = fixture.session().await;
    let run = fixture.simulate(&url, "document_anti_cloning_attestation_failed", &photos);

    // The default clone_detection is `when_supported`: the document passes, and the simulator
    // says why the outcome could not be played instead of claiming it.
    assert!(!run.output.status.success());
    assert_eq!(run.steps("document")[0]["verdict"], "accepted");
    let stderr = run.stderr();
    assert!(
        stderr.contains("clone_detection is `when_supported`"),
        "{stderr}"
    );
    assert!(stderr.contains("required"), "{stderr}");
    assert_eq!(fixture.stored(&id).await["status"], "in_progress");
}

#[tokio::test]
async fn a_chip_without_anti_cloning_proof_fails_where_the_operator_requires_one() {
    let Some(photos) = photos() else { return };
    let fixture = Fixture::start_with(&[("IDGATE_CLONE_DETECTION", "required".to_owned())]);
    let (id, url) = fixture.session().await;
    let run = fixture.simulate(&url, "document_anti_cloning_attestation_failed", &photos);
    run.assert_success();

    // Neither protocol was offered by the chip, so nothing was relayed or signed.
    assert!(run.steps("chip-authentication").is_empty());
    assert!(run.steps("internal-authenticate").is_empty());
    assert_eq!(run.steps("document").len(), 3);
    let stored = fixture.stored(&id).await;
    assert_eq!(stored["status"], "failed");
    assert_eq!(
        stored["failure_code"],
        "document_anti_cloning_attestation_failed"
    );
}

#[test]
fn missing_photos_name_the_script_that_fetches_them() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["simulate", "--session", "vs_abc", "--api-key", "kk_test_x"])
        .arg("--photos")
        .arg(dir.path().join("photos"))
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("scripts/fetch-face-models.sh"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing was simulated");
}

#[tokio::test]
async fn no_passport_data_reaches_the_logs_or_the_database_files() {
    let Some(photos) = photos() else { return };
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("server.log");
    let fixture = Fixture::start_logging(&[("IDGATE_LOG_FORMAT", "json".to_owned())], &log);
    // A full success that shares every requested field, and two failed sessions.
    for outcome in [
        "succeeded",
        "selfie_face_mismatch",
        "document_authenticity_failed",
    ] {
        let (_, url) = fixture.session().await;
        fixture.simulate(&url, outcome, &photos).assert_success();
    }
    let data = fixture.data_dir().to_owned();
    let portrait = std::fs::read(photos.join("obama.jpg")).unwrap();
    let window = portrait.get(400..460).unwrap();
    let holder = emrtd::testkit::Holder::default();
    let mrz_name = format!("{}<<", holder.surname.replace(' ', "<"));
    let searched = [
        holder.surname.clone(),
        holder.given_names.clone(),
        holder.document_number.clone(),
        mrz_name,
    ];
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(log.clone());
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("request"),
        "the server logged its requests at debug level: {log_text:.300}"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for needle in &searched {
            assert!(
                !text.contains(needle.as_str()),
                "{needle} in {}",
                file.display()
            );
        }
        assert!(
            !bytes.windows(window.len()).any(|w| w == window),
            "portrait bytes in {}",
            file.display()
        );
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(window);
        assert!(
            !text.contains(&encoded[..40]),
            "base64 portrait bytes in {}",
            file.display()
        );
    }
}
