//! The end-user flow over real HTTP (docs/verify.md "HTTP surface", "Document checks", "Tries and
//! outcomes"): a phone played by this file with the test-passport factory's passports and the
//! test faces, against the server on each backend.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use emrtd::chip_auth::ClientInstructions;
use emrtd::chip_auth::sm::SmCipher;
use emrtd::crypto::CurveId;
use emrtd::crypto::hash::HashAlgorithm;
use emrtd::testkit::{AaConfig, CaConfig, Failure, TestPassport};
use idgate_core::{EventType, Timestamp};
use idgate_face::testkit::TestFaces;
use idgate_store::{AnchorSource, NewTrustAnchor};
use idgate_testkit::receiver::Sink;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::delivery_support::{endpoint, fast_retries};
use crate::support::{
    Method, TestApp, TestAppBuilder, error_code, json as json_of, on_each_backend,
    on_each_backend_with,
};

const WAIT: Duration = Duration::from_secs(20);

/// The test faces, or `None` (a counted skip; a failure under `CI=true`).
fn faces() -> Option<&'static TestFaces> {
    static FACES: OnceLock<Option<TestFaces>> = OnceLock::new();
    FACES
        .get_or_init(|| match TestFaces::load_default() {
            Ok(faces) => Some(faces),
            Err(e) => {
                idgate_testkit::missing(idgate_testkit::Prereq::FaceModels, e);
                None
            }
        })
        .as_ref()
}

/// A passport with active and chip authentication; the portrait is the test faces' one when
/// given (the face step needs it), else the factory's placeholder.
fn passport(failure: Option<Failure>, portrait: Option<&TestFaces>) -> TestPassport {
    let mut builder = TestPassport::builder()
        .active_authentication(AaConfig::Rsa {
            hash: HashAlgorithm::Sha256,
        })
        .chip_authentication(CaConfig::Ecdh {
            curve: CurveId::P256,
            cipher: SmCipher::Aes128,
        });
    if let Some(faces) = portrait {
        let p = faces.portrait_jpeg();
        builder = builder.portrait_jpeg(p.jpeg.clone(), p.width, p.height);
    }
    if let Some(failure) = failure {
        builder = builder.failure(failure);
    }
    builder.build().expect("factory passport")
}

/// Makes the operator trust the passport's CSCA, as `idgate trust import` would.
async fn trust(app: &TestApp, passport: &TestPassport) {
    use sha2::Digest as _;
    let der = passport.csca_der.clone();
    let anchor = NewTrustAnchor {
        fingerprint: hex::encode(sha2::Sha256::digest(&der)),
        subject: "CN=test CSCA".into(),
        country: Some("NL".into()),
        issuer_country: Some("NL".into()),
        not_before: Timestamp::from_unix_ms(0).unwrap(),
        not_after: Timestamp::from_unix_ms(4_000_000_000_000).unwrap(),
        der,
        source: "test".into(),
        source_kind: AnchorSource::Certificate,
        master_list_signer: None,
        verified: true,
    };
    app.state
        .store
        .import_trust_anchors(&[anchor], app.state.clock.now(), &mut |_| {})
        .await
        .unwrap();
}

/// One attempt as a phone holds it.
struct Phone<'a> {
    app: &'a TestApp,
    /// The server node the phone talks to (tests switch it between steps).
    base: String,
    session: String,
    attempt: String,
    token: String,
    aa_challenge: Vec<u8>,
}

async fn created(app: &TestApp, body: Value) -> (String, String) {
    let data = crate::support::create_session(app, Some(body)).await;
    (
        data["id"].as_str().unwrap().to_owned(),
        data["cancel_token"].as_str().unwrap().to_owned(),
    )
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    json_of(
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

impl<'a> Phone<'a> {
    /// Handoff with the cancel token, then hello.
    async fn start(app: &'a TestApp, session: &str, cancel_token: &str) -> Self {
        let (status, body) = json_of(
            app.client
                .post(app.url(&format!("/v1/verify/session/{session}/handoff")))
                .json(&json!({"cancel_token": cancel_token}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let attempt = body["data"]["attempt_id"].as_str().unwrap().to_owned();
        let token = body["data"]["token"].as_str().unwrap().to_owned();
        let (status, hello) = post(
            app,
            &format!("/v1/verify/attempts/{attempt}/hello"),
            &token,
            json!({"device_id": "test-device", "app_version": "1.0"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{hello}");
        let aa_challenge = STANDARD
            .decode(
                hello["data"]["active_authentication_challenge"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        Self {
            app,
            base: app.base_url.clone(),
            session: session.to_owned(),
            attempt,
            token,
            aa_challenge,
        }
    }

    fn path(&self, step: &str) -> String {
        format!("/v1/verify/attempts/{}/{step}", self.attempt)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, step: &str, body: Value) -> (StatusCode, Value) {
        json_of(
            self.app
                .client
                .post(self.url(&self.path(step)))
                .bearer_auth(&self.token)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// The document upload: the files, AA over the server's challenge, CA relayed through the
    /// virtual chip.
    async fn document_body(&self, passport: &TestPassport) -> Value {
        let b = |bytes: &[u8]| STANDARD.encode(bytes);
        let mut body = json!({
            "com": b(&passport.com),
            "dg1": b(&passport.dg1),
            "dg2": b(&passport.dg2),
            "sod": b(&passport.sod),
        });
        if let Some(dg15) = &passport.dg15 {
            body["dg15"] = json!(b(dg15));
            let signature = passport
                .chip
                .internal_authenticate(&self.aa_challenge)
                .unwrap();
            body["aa_signature"] = json!(b(&signature));
        }
        if let Some(dg14) = &passport.dg14 {
            body["dg14"] = json!(b(dg14));
            let (status, ca) = self
                .post("chip-authentication", json!({"dg14": b(dg14)}))
                .await;
            assert_eq!(status, StatusCode::OK, "{ca}");
            let bytes = |field: &str| {
                ca["data"][field]
                    .as_str()
                    .map(|s| STANDARD.decode(s).unwrap())
            };
            // The virtual chip reads the ephemeral key from the APDUs, as a real one does.
            let instructions = ClientInstructions {
                ephemeral_public_key: Vec::new(),
                mse_apdu: bytes("mse_apdu").unwrap(),
                general_authenticate_apdu: bytes("general_authenticate_apdu"),
                protected_command_apdu: bytes("protected_command_apdu").unwrap(),
            };
            let response = passport.chip.chip_authenticate(&instructions).unwrap();
            body["ca_response"] = json!(b(&response));
        }
        body
    }

    async fn upload(&self, body: &Value) -> (StatusCode, Value) {
        json_of(
            self.app
                .client
                .put(self.url(&self.path("document")))
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn document(&self, passport: &TestPassport) -> (StatusCode, Value) {
        let body = self.document_body(passport).await;
        self.upload(&body).await
    }

    async fn liveness(
        &self,
        burst: impl Fn(&idgate_face::Challenge, u64) -> Value,
    ) -> (StatusCode, Value) {
        let (status, challenge) = self.post("liveness/challenge", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{challenge}");
        let challenge: idgate_face::Challenge =
            serde_json::from_value(challenge["data"].clone()).unwrap();
        let now_ms = u64::try_from(self.app.state.clock.now().unix_ms()).unwrap();
        self.post("liveness", burst(&challenge, now_ms)).await
    }

    async fn status(&self) -> Value {
        let (status, body) = json_of(
            self.app
                .client
                .get(
                    self.app
                        .url(&format!("/v1/verify/session/{}/status", self.session)),
                )
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].clone()
    }
}

fn live_burst(faces: &TestFaces) -> impl Fn(&idgate_face::Challenge, u64) -> Value + '_ {
    move |challenge, now| serde_json::to_value(faces.live_upload(challenge, now).unwrap()).unwrap()
}

async fn session_json(app: &TestApp, id: &str) -> Value {
    let (status, body) = crate::support::get_session(app, id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

#[tokio::test]
async fn a_verified_person_who_consents_succeeds_and_the_webhook_carries_exactly_the_selected_claims()
 {
    let Some(faces) = faces() else { return };
    on_each_backend_with(
        TestAppBuilder::default()
            .allow_private_webhooks(true)
            .delivery(fast_retries()),
        async |app| {
            let sink = Sink::start().await;
            let ep = endpoint(&app, &sink.url, r#"["*"]"#, true).await;
            let passport = passport(None, Some(faces));
            trust(&app, &passport).await;
            let (session, cancel) = created(
                &app,
                json!({"share_fields": {
                    "family_name": {"required": true, "reason": "Your contract"},
                    "given_names": {"required": false, "reason": "Greeting"},
                    "date_of_birth": {"required": false, "reason": "Age"},
                    "document_photo": {"required": false, "reason": "Badge"}
                }}),
            )
            .await;
            let phone = Phone::start(&app, &session, &cancel).await;
            assert_eq!(session_json(&app, &session).await["status"], "in_progress");
            let (status, verdict) = phone.document(&passport).await;
            assert_eq!(status, StatusCode::OK, "{verdict}");
            assert_eq!(verdict["data"]["verdict"], "accepted", "{verdict}");
            let (status, verdict) = phone.liveness(live_burst(faces)).await;
            assert_eq!(status, StatusCode::OK, "{verdict}");
            assert_eq!(verdict["data"]["verdict"], "accepted", "{verdict}");
            let selected = ["family_name", "kayle_document_id", "document_photo"];
            let (status, done) = phone
                .post("consent", json!({"selected_field_keys": selected}))
                .await;
            assert_eq!(status, StatusCode::OK, "{done}");
            assert_eq!(done["data"]["status"], "succeeded");
            // A consent retried after a dropped answer gets the same answer.
            let (status, again) = phone
                .post("consent", json!({"selected_field_keys": selected}))
                .await;
            assert_eq!((status, &again), (StatusCode::OK, &done));

            let stored = session_json(&app, &session).await;
            assert_eq!(stored["status"], "succeeded");
            assert!(stored["completed_at"].is_string());
            let metrics = app.metrics_text().await;
            assert!(
                metrics.contains("idgate_verifications_total{outcome=\"succeeded\""),
                "{metrics}"
            );
            for step in ["document", "liveness", "consent"] {
                assert!(
                    metrics.contains(&format!(
                        "idgate_verify_step_duration_seconds_count{{step=\"{step}\"}}"
                    )),
                    "{step}: {metrics}"
                );
            }

            let got = sink.wait_for(2, WAIT).await;
            let receiver = ep.receiver();
            let events: Vec<_> = got
                .iter()
                .map(|r| {
                    receiver
                        .open(&r.headers, &r.body)
                        .expect("verifies and decrypts")
                })
                .collect();
            let succeeded = events
                .iter()
                .find(|e| e.event_type() == EventType::SessionSucceeded)
                .expect("a succeeded event");
            let payload: Value = serde_json::from_slice(&succeeded.to_json().unwrap()).unwrap();
            let claims = &payload["data"]["claims"];
            assert_eq!(claims["family_name"], "DE TESTER", "{claims}");
            assert!(
                claims["given_names"].is_null(),
                "requested, not selected: {claims}"
            );
            assert!(claims["date_of_birth"].is_null());
            assert_eq!(
                claims["document_photo"]["width"],
                faces.portrait_jpeg().width
            );
            let expected_id = idgate_core::share::kayle_document_id(
                app.state.secrets.document_id.expose(),
                &app.org,
                "NLD",
                "P",
                "XT1234567",
            );
            assert_eq!(claims["kayle_document_id"], expected_id);
            assert!(
                claims.get("nationality_code").is_none(),
                "a key not requested is absent: {claims}"
            );

            // The attempt records its checks, without personal data.
            let (_, attempts) = json_of(
                app.request(Method::GET, &format!("/v1/sessions/{session}/attempts"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            let checks = attempts["data"][0]["checks"].to_string();
            assert!(checks.contains("passive_authentication"), "{checks}");
            assert!(checks.contains("face"), "{checks}");
            for personal in ["DE TESTER", "XT1234567", "ANNA"] {
                assert!(!checks.contains(personal), "{personal} in {checks}");
            }
            let _ = phone;
        },
    )
    .await;
}

#[tokio::test]
async fn each_document_failure_code_is_reached_by_its_real_cause() {
    on_each_backend(async |app| {
        let cases = [
            (Failure::BadMrzCheckDigit, "document_data_invalid"),
            (Failure::TamperedDg(2), "document_authenticity_failed"),
            (Failure::WrongCsca, "document_authenticity_failed"),
            (Failure::WrongAaKey, "document_active_authentication_failed"),
            (Failure::WrongCaKey, "document_chip_authentication_failed"),
        ];
        for (failure, code) in cases {
            let passport = if failure == Failure::WrongCsca {
                // Fresh keys: the fixed CSCA the other cases trust issued every fixed-key DSC.
                TestPassport::builder()
                    .key_source(emrtd::testkit::keys::KeySource::Generated)
                    .failure(failure)
                    .build()
                    .unwrap()
            } else {
                passport(Some(failure), None)
            };
            trust(&app, &passport).await;
            let (session, cancel) = created(&app, json!({})).await;
            let phone = Phone::start(&app, &session, &cancel).await;
            let (status, verdict) = phone.document(&passport).await;
            assert_eq!(status, StatusCode::OK, "{verdict}");
            let v = &verdict["data"];
            assert_eq!(v["verdict"], "rejected", "{failure:?}: {v}");
            assert_eq!(v["failure_code"], code, "{failure:?}: {v}");
            assert_eq!(v["nfc_tries_left"], 2);
            assert_eq!(v["terminal"], false);
            assert_eq!(session_json(&app, &session).await["nfc_tries_used"], 1);
        }
    })
    .await;
}

#[tokio::test]
async fn a_chip_without_anti_cloning_proof_fails_when_the_operator_requires_one() {
    on_each_backend_with(
        TestAppBuilder::default()
            .clone_detection(idgate_verify::document::CloneDetection::Required),
        async |app| {
            let passport = TestPassport::builder()
                .active_authentication(AaConfig::None)
                .chip_authentication(CaConfig::None)
                .build()
                .unwrap();
            trust(&app, &passport).await;
            let (session, cancel) = created(&app, json!({})).await;
            let phone = Phone::start(&app, &session, &cancel).await;
            let (_, verdict) = phone.document(&passport).await;
            assert_eq!(
                verdict["data"]["failure_code"], "document_anti_cloning_attestation_failed",
                "{verdict}"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn the_third_failed_document_fails_the_session_with_its_code() {
    on_each_backend(async |app| {
        let passport = passport(Some(Failure::TamperedDg(1)), None);
        trust(&app, &passport).await;
        let (session, cancel) = created(&app, json!({})).await;
        for try_number in 1..=3 {
            // Each try is a new read: a new attempt with its own challenge.
            let phone = Phone::start(&app, &session, &cancel).await;
            let (_, verdict) = phone.document(&passport).await;
            let v = &verdict["data"];
            assert_eq!(v["nfc_tries_left"], 3 - try_number, "{v}");
            assert_eq!(v["terminal"], try_number == 3, "{v}");
        }
        let stored = session_json(&app, &session).await;
        assert_eq!(stored["status"], "failed");
        assert_eq!(stored["failure_code"], "document_authenticity_failed");
        assert_eq!(stored["nfc_tries_used"], 3);
        let types: Vec<EventType> = app
            .session_events(&idgate_core::SessionId::parse(&session).unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect();
        assert_eq!(
            types,
            [
                EventType::SessionInProgress,
                EventType::AttemptFailed,
                EventType::AttemptFailed,
                EventType::AttemptFailed,
                EventType::SessionFailed
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn an_unreadable_chip_uses_a_try_and_the_third_fails_with_document_data_invalid() {
    on_each_backend(async |app| {
        let (session, cancel) = created(&app, json!({})).await;
        let phone = Phone::start(&app, &session, &cancel).await;
        for i in 1..=3 {
            let (status, verdict) = phone
                .post(
                    "document/failure",
                    json!({"reason": "tag lost", "report_id": format!("r{i}")}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{verdict}");
            // A retried report with the same id counts once.
            let (_, again) = phone
                .post(
                    "document/failure",
                    json!({"reason": "tag lost", "report_id": format!("r{i}")}),
                )
                .await;
            assert_eq!(again, verdict);
        }
        let stored = session_json(&app, &session).await;
        assert_eq!(stored["status"], "failed");
        assert_eq!(stored["failure_code"], "document_data_invalid");
    })
    .await;
}

#[tokio::test]
async fn a_retried_upload_of_the_same_bytes_gets_the_same_verdict_without_using_a_try() {
    on_each_backend(async |app| {
        let passport = passport(Some(Failure::TamperedDg(2)), None);
        trust(&app, &passport).await;
        let (session, cancel) = created(&app, json!({})).await;
        let phone = Phone::start(&app, &session, &cancel).await;
        let body = phone.document_body(&passport).await;
        let (_, first) = phone.upload(&body).await;
        let (_, second) = phone.upload(&body).await;
        assert_eq!(first, second);
        assert_eq!(session_json(&app, &session).await["nfc_tries_used"], 1);
    })
    .await;
}

#[tokio::test]
async fn steps_out_of_order_wrong_tokens_and_late_first_calls_are_refused() {
    on_each_backend(async |app| {
        let (session, cancel) = created(&app, json!({})).await;
        let phone = Phone::start(&app, &session, &cancel).await;
        let (status, body) = phone.post("liveness/challenge", json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(error_code(&body), "PHASE_OUT_OF_ORDER");
        let (status, body) = phone
            .post(
                "consent",
                json!({"selected_field_keys": ["kayle_document_id"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(error_code(&body), "PHASE_OUT_OF_ORDER");

        let other = idgate_verify::vault::AttemptToken::generate();
        let (status, body) = post(
            &app,
            &phone.path("phase"),
            other.expose(),
            json!({"phase": "nfc_reading"}),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(&body), "INVALID_ATTEMPT_TOKEN");

        // A handoff token not used within five minutes.
        let (_, handoff) = json_of(
            app.client
                .post(app.url(&format!("/v1/verify/session/{session}/handoff")))
                .json(&json!({"cancel_token": cancel}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let attempt = handoff["data"]["attempt_id"].as_str().unwrap();
        let token = handoff["data"]["token"].as_str().unwrap();
        app.clock.advance_secs(301);
        let (status, body) = post(
            &app,
            &format!("/v1/verify/attempts/{attempt}/hello"),
            token,
            json!({"device_id": "d", "app_version": "1"}),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(error_code(&body), "HANDOFF_TOKEN_EXPIRED");
        // The newer handoff closed the first attempt.
        let (status, body) = phone.post("phase", json!({"phase": "nfc_reading"})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(error_code(&body), "ATTEMPT_CLOSED");
    })
    .await;
}

#[tokio::test]
async fn a_cancel_mid_flow_answers_the_phone_with_410_and_the_end_user_token_is_one_shot() {
    on_each_backend(async |app| {
        let passport = passport(None, None);
        trust(&app, &passport).await;
        // Integrator cancel.
        let (session, cancel) = created(&app, json!({})).await;
        let phone = Phone::start(&app, &session, &cancel).await;
        let upload = phone.document_body(&passport).await;
        let res = app
            .request(Method::POST, &format!("/v1/sessions/{session}/cancel"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let (status, body) = phone.upload(&upload).await;
        assert_eq!(status, StatusCode::GONE);
        assert_eq!(error_code(&body), "SESSION_CANCELLED");

        // End-user cancel: wrong token, right token, again.
        let (session, cancel) = created(&app, json!({})).await;
        let phone = Phone::start(&app, &session, &cancel).await;
        let cancel_with = async |token: &str| {
            app.client
                .post(app.url(&format!("/v1/verify/session/{session}/cancel")))
                .json(&json!({"cancel_token": token}))
                .send()
                .await
                .unwrap()
        };
        let wrong = cancel_with("x".repeat(48).as_str()).await;
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
        assert_eq!(cancel_with(&cancel).await.status(), StatusCode::NO_CONTENT);
        let again = cancel_with(&cancel).await;
        assert_eq!(again.status(), StatusCode::CONFLICT);
        let (status, body) = phone.post("phase", json!({"phase": "nfc_reading"})).await;
        assert_eq!(status, StatusCode::GONE);
        assert_eq!(error_code(&body), "SESSION_CANCELLED");
        assert_eq!(phone.status().await["status"], "cancelled");
    })
    .await;
}

#[tokio::test]
async fn expiry_mid_flow_answers_the_phone_with_410_session_expired() {
    on_each_backend(async |app| {
        let (session, cancel) = created(&app, json!({"expires_in": 300})).await;
        let phone = Phone::start(&app, &session, &cancel).await;
        app.clock.advance_secs(301);
        let (status, body) = phone.post("phase", json!({"phase": "nfc_reading"})).await;
        assert_eq!(status, StatusCode::GONE, "{body}");
        assert_eq!(error_code(&body), "SESSION_EXPIRED");
        assert_eq!(session_json(&app, &session).await["status"], "expired");
    })
    .await;
}

#[tokio::test]
async fn a_non_live_burst_and_another_persons_face_use_liveness_tries() {
    let Some(faces) = faces() else { return };
    on_each_backend(async |app| {
        let passport = passport(None, Some(faces));
        trust(&app, &passport).await;
        let (session, cancel) = created(&app, json!({})).await;
        let phone = Phone::start(&app, &session, &cancel).await;
        let (_, verdict) = phone.document(&passport).await;
        assert_eq!(verdict["data"]["verdict"], "accepted", "{verdict}");
        let (_, verdict) = phone
            .liveness(|c, now| serde_json::to_value(faces.still_upload(c, now).unwrap()).unwrap())
            .await;
        assert_eq!(
            verdict["data"]["failure_code"], "liveness_failed",
            "{verdict}"
        );
        assert_eq!(verdict["data"]["liveness_tries_left"], 2);
        let (_, verdict) = phone
            .liveness(|c, now| {
                serde_json::to_value(faces.other_person_upload(c, now).unwrap()).unwrap()
            })
            .await;
        assert_eq!(
            verdict["data"]["failure_code"], "selfie_face_mismatch",
            "{verdict}"
        );
        let (_, verdict) = phone
            .liveness(|c, now| serde_json::to_value(faces.still_upload(c, now).unwrap()).unwrap())
            .await;
        assert_eq!(verdict["data"]["terminal"], true, "{verdict}");
        let stored = session_json(&app, &session).await;
        assert_eq!(stored["status"], "failed");
        assert_eq!(stored["failure_code"], "liveness_failed");
        assert_eq!(stored["liveness_tries_used"], 3);
    })
    .await;
}

/// The built-in engine, answering liveness late: a cancel can land while it works.
struct SlowEngine {
    inner: idgate_face::BuiltinEngine,
    delay: Duration,
    started: std::sync::mpsc::SyncSender<()>,
}

impl idgate_face::FaceEngine for SlowEngine {
    fn detect(
        &self,
        image: &idgate_face::Image,
    ) -> Result<Vec<idgate_face::Face>, idgate_face::FaceError> {
        self.inner.detect(image)
    }

    fn embed(
        &self,
        image: &idgate_face::Image,
        face: &idgate_face::Face,
    ) -> Result<idgate_face::Embedding, idgate_face::FaceError> {
        self.inner.embed(image, face)
    }

    fn liveness(
        &self,
        challenge: &idgate_face::Challenge,
        burst: &idgate_face::Burst,
        policy: &idgate_face::LivenessPolicy,
    ) -> Result<idgate_face::LivenessVerdict, idgate_face::FaceError> {
        let _ = self.started.try_send(());
        std::thread::sleep(self.delay);
        idgate_face::liveness::evaluate(self, challenge, burst, policy)
    }
}

#[tokio::test]
async fn a_cancel_during_a_slow_liveness_evaluation_discards_its_result() {
    let Some(faces) = faces() else { return };
    for backend in idgate_server::testing::backends() {
        let (started_tx, started_rx) = std::sync::mpsc::sync_channel(1);
        let engine = SlowEngine {
            inner: idgate_face::BuiltinEngine::embedded().unwrap(),
            delay: Duration::from_millis(1500),
            started: started_tx,
        };
        let app = TestAppBuilder::default()
            .face_engine(std::sync::Arc::new(engine))
            .spawn(backend)
            .await;
        let passport = passport(None, Some(faces));
        trust(&app, &passport).await;
        let (session, cancel) = created(&app, json!({})).await;
        let phone = Phone::start(&app, &session, &cancel).await;
        let (_, verdict) = phone.document(&passport).await;
        assert_eq!(verdict["data"]["verdict"], "accepted", "{verdict}");
        let (status, challenge) = phone.post("liveness/challenge", json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let challenge: idgate_face::Challenge =
            serde_json::from_value(challenge["data"].clone()).unwrap();
        let now_ms = u64::try_from(app.state.clock.now().unix_ms()).unwrap();
        let burst = serde_json::to_value(faces.live_upload(&challenge, now_ms).unwrap()).unwrap();
        let upload = {
            let request = app
                .client
                .post(app.url(&phone.path("liveness")))
                .bearer_auth(&phone.token)
                .json(&burst);
            tokio::spawn(async move { request.send().await.unwrap() })
        };
        // The evaluation has started on its worker thread; now the person's integrator cancels.
        tokio::task::spawn_blocking(move || started_rx.recv_timeout(WAIT).unwrap())
            .await
            .unwrap();
        let res = app
            .request(Method::POST, &format!("/v1/sessions/{session}/cancel"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let (status, body) = json_of(upload.await.unwrap()).await;
        assert_eq!(status, StatusCode::GONE, "{body}");
        assert_eq!(error_code(&body), "SESSION_CANCELLED");
        let stored = session_json(&app, &session).await;
        assert_eq!(stored["status"], "cancelled");
        assert_eq!(stored["liveness_tries_used"], 0);
        let types: Vec<EventType> = app
            .session_events(&idgate_core::SessionId::parse(&session).unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect();
        assert_eq!(
            types,
            [EventType::SessionInProgress, EventType::SessionCancelled]
        );
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_phone_switching_server_node_between_steps_completes_on_postgresql() {
    let Some(faces) = faces() else { return };
    if idgate_testkit::postgres_url().is_none() {
        return;
    }
    let app = TestAppBuilder::default()
        .spawn(idgate_server::testing::Backend::Postgres)
        .await;
    let other = app.second_node().await;
    let passport = passport(None, Some(faces));
    trust(&app, &passport).await;
    let (session, cancel) = created(&app, json!({})).await;
    // Handoff and hello on the first node.
    let mut phone = Phone::start(&app, &session, &cancel).await;
    // The document on the second node.
    let first_url = std::mem::replace(&mut phone.base, other.base_url.clone());
    let (status, verdict) = phone.document(&passport).await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["data"]["verdict"], "accepted", "{verdict}");
    // The liveness step back on the first.
    phone.base = first_url;
    let (_, verdict) = phone.liveness(live_burst(faces)).await;
    assert_eq!(verdict["data"]["verdict"], "accepted", "{verdict}");
    // Consent on the second.
    phone.base = other.base_url.clone();
    let (status, done) = phone
        .post(
            "consent",
            json!({"selected_field_keys": ["kayle_document_id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(session_json(&app, &session).await["status"], "succeeded");
    other.shutdown().await;
    app.shutdown().await;
}

#[tokio::test]
async fn no_passport_data_reaches_the_database_in_plaintext() {
    let Some(faces) = faces() else { return };
    on_each_backend(async |app| {
        let passport = passport(None, Some(faces));
        trust(&app, &passport).await;
        // A full successful flow that shares every field…
        let (session, cancel) = created(&app, json!({})).await;
        let phone = Phone::start(&app, &session, &cancel).await;
        phone.document(&passport).await;
        phone.liveness(live_burst(faces)).await;
        let every: Vec<String> = session_json(&app, &session).await["share_fields"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let (status, body) = phone
            .post("consent", json!({"selected_field_keys": every}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // …and a failed one, left mid-flow with its document accepted.
        let (session, cancel) = created(&app, json!({})).await;
        let phone = Phone::start(&app, &session, &cancel).await;
        phone.document(&passport).await;
        phone
            .liveness(|c, now| serde_json::to_value(faces.still_upload(c, now).unwrap()).unwrap())
            .await;

        let dump = database_text(&app).await;
        let mrz_line = passport.mrz.get(..44).unwrap().to_owned();
        let portrait_window = STANDARD.encode(passport.portrait_jpeg.get(200..260).unwrap());
        for secret in [
            "DE TESTER",
            "DE<TESTER",
            "ANNA MARIA",
            "XT1234567",
            &mrz_line,
            &portrait_window,
            &hex::encode(passport.portrait_jpeg.get(200..260).unwrap()),
        ] {
            assert!(!dump.contains(secret), "{secret} found in the database");
        }
    })
    .await;
}

/// The database as text: on SQLite every file of the data directory (database, WAL, shared
/// memory) byte for byte, so freed pages count too; on PostgreSQL every row of every table.
async fn database_text(app: &TestApp) -> String {
    use idgate_store::Pool;
    let mut out = String::new();
    match app.state.store.pool() {
        Pool::Sqlite(_) => {
            for entry in std::fs::read_dir(app.data_dir()).unwrap() {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        Pool::Postgres(pool) => {
            let tables: Vec<(String,)> = sqlx::query_as(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for (table,) in tables {
                let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT row_to_json(t)::text FROM \"{table}\" t"
                )))
                .fetch_all(pool)
                .await
                .unwrap();
                for (row,) in rows {
                    out.push_str(&row);
                }
            }
        }
    }
    assert!(out.contains("vs_"), "the dump holds the sessions");
    out
}

#[tokio::test]
async fn the_factory_csca_is_trusted_for_test_mode_sessions_only() {
    on_each_backend(async |app| {
        let passport = passport(None, None);
        // No import: a live session does not trust the test-passport factory…
        let (session, cancel) = created(&app, json!({})).await;
        let phone = Phone::start(&app, &session, &cancel).await;
        let (_, verdict) = phone.document(&passport).await;
        assert_eq!(
            verdict["data"]["failure_code"], "document_authenticity_failed",
            "{verdict}"
        );
        // …a test-mode session does.
        let test_key = app
            .key_with(
                &idgate_core::Scope::ALL,
                idgate_core::api_key::Environment::Test,
            )
            .await;
        let (status, created) = json_of(
            app.request_as(&test_key, Method::POST, "/v1/sessions")
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let session = created["data"]["id"].as_str().unwrap();
        let cancel = created["data"]["cancel_token"].as_str().unwrap();
        let phone = Phone::start(&app, session, cancel).await;
        let (_, verdict) = phone.document(&passport).await;
        assert_eq!(verdict["data"]["verdict"], "accepted", "{verdict}");
    })
    .await;
}

#[tokio::test]
async fn the_claims_of_every_default_field_equal_the_passport_and_the_vault_is_dropped() {
    let Some(faces) = faces() else { return };
    on_each_backend_with(
        TestAppBuilder::default()
            .allow_private_webhooks(true)
            .delivery(fast_retries()),
        async |app| {
            let sink = Sink::start().await;
            let ep = endpoint(
                &app,
                &sink.url,
                r#"["verification.session.succeeded"]"#,
                true,
            )
            .await;
            let passport = passport(None, Some(faces));
            trust(&app, &passport).await;
            // No share_fields: the 13 static claims, all optional but kayle_document_id.
            let (session, cancel) = created(&app, json!({})).await;
            let phone = Phone::start(&app, &session, &cancel).await;
            phone.document(&passport).await;
            phone.liveness(live_burst(faces)).await;
            let every: Vec<String> = session_json(&app, &session).await["share_fields"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            let (status, body) = phone
                .post("consent", json!({"selected_field_keys": every}))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let vaults: Vec<(Option<String>,)> = match app.state.store.pool() {
                idgate_store::Pool::Sqlite(pool) => sqlx::query_as("SELECT vault FROM attempts")
                    .fetch_all(pool)
                    .await
                    .unwrap(),
                idgate_store::Pool::Postgres(pool) => sqlx::query_as("SELECT vault FROM attempts")
                    .fetch_all(pool)
                    .await
                    .unwrap(),
            };
            assert!(
                vaults.iter().all(|(v,)| v.is_none()),
                "vaults dropped: {vaults:?}"
            );

            let got = sink.wait_for(1, WAIT).await;
            let event = ep.receiver().open(&got[0].headers, &got[0].body).unwrap();
            let payload: Value = serde_json::from_slice(&event.to_json().unwrap()).unwrap();
            let claims = &payload["data"]["claims"];
            let h = &passport.holder;
            let expected = json!({
                "document_type_code": "P",
                "issuing_country_code": h.issuing_state,
                "family_name": h.surname,
                "given_names": h.given_names,
                "document_number": h.document_number,
                "nationality_code": h.nationality,
                "date_of_birth": h.date_of_birth.to_string(),
                "sex_marker": h.sex.to_string(),
                "document_expiry_date": h.date_of_expiry.to_string(),
            });
            for (key, value) in expected.as_object().unwrap() {
                assert_eq!(&claims[key], value, "{key}: {claims}");
            }
            assert_eq!(claims["document_photo"]["format"], "jpeg", "{claims}");
            assert!(claims["kayle_human_id"].is_null());
            assert_eq!(
                payload["data"]["selected_field_keys"]
                    .as_array()
                    .unwrap()
                    .len(),
                every.len()
            );
        },
    )
    .await;
}
