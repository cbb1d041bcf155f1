//! The server's own test-mode simulation (docs/verify.md "Test passports and the simulator"):
//! what the hosted page's "simulate a passport" buttons call, played here through the app's state
//! as the page's route will, on each backend. The outcome runs through the real pipeline — the
//! handoff, every check, the store, the events — and arrives as a real, encrypted webhook.

use std::sync::Arc;
use std::time::Duration;

use idgate_core::api_key::Environment;
use idgate_core::{ErrorCode, Scope, Session, SessionId};
use idgate_server::AppState;
use idgate_server::error::ApiError;
use idgate_server::simulation::{self, Outcome, SimulationError, Simulations};
use idgate_server::testing::TestApp;
use idgate_testkit::receiver::Sink;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::delivery_support::{Endpoint, endpoint_in, fast_retries};
use crate::support::{Method, TestAppBuilder, json as json_of, on_each_backend_with};

/// Long enough for three face checks of a debug build; a run that hangs fails the wait.
const WAIT: Duration = Duration::from_secs(90);

/// Whether the test photos are there (`scripts/fetch-face-models.sh`); `false` is a counted skip,
/// a failure under `CI=true`.
fn have_faces() -> bool {
    match idgate_face::testkit::TestFaces::load_default() {
        Ok(_) => true,
        Err(e) => {
            idgate_testkit::missing(idgate_testkit::Prereq::FaceModels, e);
            false
        }
    }
}

fn builder() -> TestAppBuilder {
    TestAppBuilder::default()
        .allow_private_webhooks(true)
        .delivery(fast_retries())
}

/// A test-mode key of the app's organization, a test-mode endpoint subscribed to `types` on a
/// fresh receiver, and a session created with that key.
struct TestMode {
    key: String,
    sink: Sink,
    endpoint: Endpoint,
    session: Session,
}

impl TestMode {
    async fn new(app: &TestApp, types: &str) -> Self {
        let key = app.key_with(&Scope::ALL, Environment::Test).await;
        let sink = Sink::start().await;
        let endpoint = endpoint_in(app, Environment::Test, &sink.url, types, true).await;
        let session = create(app, &key).await;
        Self {
            key,
            sink,
            endpoint,
            session,
        }
    }

    /// The session as the integrator API shows it.
    async fn stored(&self, app: &TestApp) -> Value {
        let path = format!("/v1/sessions/{}", self.session.id);
        let (status, body) = json_of(
            app.request_as(&self.key, Method::GET, &path)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].clone()
    }

    /// The one webhook the endpoint receives, verified and decrypted by the receiver.
    async fn webhook(&self) -> Value {
        let got = self.sink.wait_for(1, WAIT).await;
        let event = self
            .endpoint
            .receiver()
            .open(&got[0].headers, &got[0].body)
            .expect("verifies and decrypts");
        serde_json::from_slice(&event.to_json().unwrap()).unwrap()
    }
}

/// A session created over the API with `key`, as the store holds it (what the page loads).
async fn create(app: &TestApp, key: &str) -> Session {
    let (status, body) = json_of(
        app.request_as(key, Method::POST, "/v1/sessions")
            .json(&json!({"share_fields": {
                "family_name": {"required": true, "reason": "Your contract"},
                "date_of_birth": {"required": false, "reason": "Age"}
            }}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = SessionId::parse(body["data"]["id"].as_str().unwrap()).unwrap();
    app.state
        .store
        .session_by_id_applying_expiry(&id, app.state.clock.now())
        .await
        .unwrap()
}

/// Waits until the session's simulation has ended on this node (its background task let go).
async fn idle(state: &AppState, session: &SessionId) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while state.simulations.is_running(session) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the simulation still runs after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn code(error: SimulationError) -> ErrorCode {
    ApiError::from(error).code()
}

#[tokio::test]
async fn a_simulated_success_verifies_the_factory_passport_and_sends_the_claims() {
    if !have_faces() {
        return;
    }
    on_each_backend_with(builder(), async |app| {
        let test = TestMode::new(&app, r#"["verification.session.succeeded"]"#).await;
        simulation::start(&app.state, &test.session, Outcome::Succeeded)
            .await
            .unwrap();

        let payload = test.webhook().await;
        assert_eq!(payload["type"], "verification.session.succeeded");
        assert_eq!(payload["metadata"]["environment"], "test");
        assert_eq!(
            payload["metadata"]["verification_session_id"],
            test.session.id.as_str()
        );
        // The factory's holder (emrtd's testkit), every requested field consented to.
        let claims = &payload["data"]["claims"];
        assert_eq!(claims["family_name"], "DE TESTER", "{claims}");
        assert!(claims["date_of_birth"].is_string(), "{claims}");

        idle(&app.state, &test.session.id).await;
        let stored = test.stored(&app).await;
        assert_eq!(stored["status"], "succeeded");
        assert_eq!(stored["nfc_tries_used"], 0);
        assert_eq!(stored["liveness_tries_used"], 0);
        let metrics = app.metrics_text().await;
        assert!(
            metrics.contains("idgate_simulations_total{outcome=\"succeeded\"}"),
            "{metrics}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_simulated_tampered_passport_fails_the_session_after_three_documents_without_photos() {
    on_each_backend_with(builder(), async |app| {
        let test = TestMode::new(&app, r#"["verification.session.failed"]"#).await;
        // A node without the test photos: the face outcomes are refused, naming the script…
        let mut state = app.state.clone();
        let nowhere = app.data_dir().join("no-photos");
        state.services_mut().simulations = Arc::new(Simulations::new(nowhere));
        let offered = simulation::outcomes(&state);
        assert_eq!(offered.len(), Outcome::ALL.len());
        for (outcome, playable) in offered {
            assert_eq!(
                playable,
                outcome.is_document_failure()
                    && outcome != Outcome::DocumentAntiCloningAttestationFailed
                    || outcome == Outcome::Cancel,
                "{outcome}"
            );
        }
        let error = simulation::start(&state, &test.session, Outcome::Succeeded)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("scripts/fetch-face-models.sh"),
            "{error}"
        );
        assert_eq!(code(error), ErrorCode::SimulationUnavailable);
        assert_eq!(test.stored(&app).await["status"], "created", "nothing ran");

        // …the document outcomes play with the factory's placeholder portrait.
        simulation::start(&state, &test.session, Outcome::DocumentAuthenticityFailed)
            .await
            .unwrap();
        // One at a time per session.
        let again = simulation::start(&state, &test.session, Outcome::DocumentAuthenticityFailed)
            .await
            .unwrap_err();
        assert!(matches!(again, SimulationError::AlreadyRunning), "{again}");
        assert_eq!(code(again), ErrorCode::SimulationInProgress);

        let payload = test.webhook().await;
        assert_eq!(payload["type"], "verification.session.failed");
        assert_eq!(
            payload["data"]["failure_code"],
            "document_authenticity_failed"
        );
        idle(&state, &test.session.id).await;
        let stored = test.stored(&app).await;
        assert_eq!(stored["status"], "failed");
        assert_eq!(stored["failure_code"], "document_authenticity_failed");
        assert_eq!(stored["nfc_tries_used"], 3);
        assert_eq!(stored["liveness_tries_used"], 0);

        // The session has ended: nothing more to simulate.
        let ended = store_session(&app, &test.session.id).await;
        let error = simulation::start(&state, &ended, Outcome::Succeeded)
            .await
            .unwrap_err();
        assert!(matches!(error, SimulationError::Ended(_)), "{error}");
        assert_eq!(code(error), ErrorCode::SessionTerminal);
    })
    .await;
}

#[tokio::test]
async fn a_simulated_photo_fails_the_session_after_three_liveness_tries() {
    if !have_faces() {
        return;
    }
    on_each_backend_with(builder(), async |app| {
        let test = TestMode::new(&app, r#"["verification.session.failed"]"#).await;
        simulation::start(&app.state, &test.session, Outcome::LivenessFailed)
            .await
            .unwrap();
        let payload = test.webhook().await;
        assert_eq!(payload["data"]["failure_code"], "liveness_failed");
        idle(&app.state, &test.session.id).await;
        let stored = test.stored(&app).await;
        assert_eq!(stored["status"], "failed");
        assert_eq!(stored["failure_code"], "liveness_failed");
        assert_eq!(stored["liveness_tries_used"], 3);
        assert_eq!(stored["nfc_tries_used"], 0);
    })
    .await;
}

#[tokio::test]
async fn a_live_session_and_an_outcome_the_policy_cannot_produce_are_refused() {
    on_each_backend_with(builder(), async |app| {
        let live = create(&app, &app.key).await;
        let error = simulation::start(&app.state, &live, Outcome::DocumentDataInvalid)
            .await
            .unwrap_err();
        assert!(matches!(error, SimulationError::LiveSession), "{error}");
        assert_eq!(code(error), ErrorCode::TestModeOnly);
        let after = store_session(&app, &live.id).await;
        assert_eq!(after.status, live.status, "no attempt was handed off");
        assert!(!app.state.simulations.is_running(&live.id));

        // clone_detection is `when_supported` here: a chip without either protocol passes.
        let test = TestMode::new(&app, r#"["*"]"#).await;
        let error = simulation::start(
            &app.state,
            &test.session,
            Outcome::DocumentAntiCloningAttestationFailed,
        )
        .await
        .unwrap_err();
        assert!(
            error.to_string().contains("clone_detection = required"),
            "{error}"
        );
        assert_eq!(code(error), ErrorCode::SimulationUnavailable);
        let anti_cloning = simulation::outcomes(&app.state)
            .into_iter()
            .find(|(o, _)| *o == Outcome::DocumentAntiCloningAttestationFailed);
        assert_eq!(
            anti_cloning,
            Some((Outcome::DocumentAntiCloningAttestationFailed, false))
        );
        assert_eq!(test.stored(&app).await["status"], "created");
        assert!(test.sink.received().is_empty(), "no event");
    })
    .await;
}

#[tokio::test]
async fn a_node_that_shuts_down_stops_its_simulations_without_ending_the_session() {
    on_each_backend_with(builder(), async |app| {
        let test = TestMode::new(&app, r#"["*"]"#).await;
        simulation::start(&app.state, &test.session, Outcome::DocumentDataInvalid)
            .await
            .unwrap();
        app.state.simulations.stop();
        idle(&app.state, &test.session.id).await;
        let status = test.stored(&app).await["status"].clone();
        assert!(
            status == "created" || status == "in_progress",
            "the run stopped before the session ended: {status}"
        );
    })
    .await;
}

async fn store_session(app: &TestApp, id: &SessionId) -> Session {
    app.state
        .store
        .session_by_id_applying_expiry(id, app.state.clock.now())
        .await
        .unwrap()
}
