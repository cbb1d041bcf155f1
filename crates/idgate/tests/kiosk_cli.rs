//! `idgate kiosk` against the built `idgate serve`: a test-mode session handed off as the hosted
//! page does (or by the kiosk itself from the verification URL), the document step run by the
//! kiosk with its virtual passport — PACE, secure messaging, active authentication over hello's
//! challenge, chip authentication relayed for the server, the upload — then the liveness step
//! and consent over HTTP with the attempt's token, as the page would, to a succeeded session.
//! Needs the test photos of `scripts/fetch-face-models.sh` (the DG2 portrait and the burst).

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

use idgate_face::challenge::Challenge;
use idgate_face::testkit::TestFaces;
use serde_json::{Value, json};
use support::flow::{Fixture, photos};
use support::{BIN, http_client};

/// `idgate kiosk --virtual-passport --json ARGS INPUT`.
fn kiosk(input: &str, photos: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["kiosk", "--virtual-passport", "--json"])
        .args(args)
        .arg("--photos")
        .arg(photos)
        .arg(input)
        .env_remove("IDGATE_PASSPORT_MRZ")
        .env_remove("IDGATE_PASSPORT_CAN")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run idgate kiosk")
}

/// The kiosk's stdout, one JSON object a line.
fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The hosted page's side of the flow: the mobile API with the attempt's token.
struct Page {
    base: String,
    session_id: String,
}

impl Page {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut request = http_client()
            .request(method, format!("{}{path}", self.base))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, value)
    }

    /// The handoff with the browser's cancel token: the attempt id, token and payload.
    async fn handoff(&self, cancel_token: &str) -> (String, String, String) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/verify/session/{}/handoff", self.session_id),
                None,
                json!({ "cancel_token": cancel_token }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let data = &body["data"];
        let deep_link = data["deep_link"].as_str().unwrap();
        let payload = data["payload"].as_str().unwrap();
        assert_eq!(deep_link, format!("idgate://verify?d={payload}"));
        (
            data["attempt_id"].as_str().unwrap().to_owned(),
            data["token"].as_str().unwrap().to_owned(),
            payload.to_owned(),
        )
    }

    async fn status(&self) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/verify/session/{}/status", self.session_id),
                None,
                Value::Null,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"].clone()
    }

    /// The liveness step with the test faces' live burst, then consent to every requested field.
    async fn finish(&self, attempt: &str, token: &str, faces: &TestFaces, share_fields: &Value) {
        let path = |route: &str| format!("/v1/verify/attempts/{attempt}/{route}");
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &path("liveness/challenge"),
                Some(token),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let c = &body["data"];
        let challenge: Challenge = serde_json::from_value(json!({
            "actions": c["actions"], "nonce": c["nonce"],
            "issued_at_ms": c["issued_at_ms"], "expires_at_ms": c["expires_at_ms"],
        }))
        .unwrap();
        let now = u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap();
        let burst = serde_json::to_value(faces.live_upload(&challenge, now).unwrap()).unwrap();
        let (status, body) = self
            .call(reqwest::Method::POST, &path("liveness"), Some(token), burst)
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["verdict"], "accepted", "{body}");

        let keys: Vec<&String> = share_fields.as_object().unwrap().keys().collect();
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &path("consent"),
                Some(token),
                json!({ "selected_field_keys": keys }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["status"], "succeeded", "{body}");
    }
}

/// A session and the page that shows it.
async fn session(fixture: &Fixture) -> (Page, String, Value) {
    let (id, url) = fixture.session().await;
    let share_fields = fixture.stored(&id).await["share_fields"].clone();
    assert!(share_fields.is_object(), "{share_fields}");
    let page = Page {
        base: format!("http://{}", fixture.node.addr),
        session_id: id,
    };
    (page, url, share_fields)
}

fn cancel_token(url: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "cancel_token")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn a_kiosk_reads_the_chip_and_the_page_finishes_liveness_and_consent() {
    let Some(photos) = photos() else { return };
    let faces = TestFaces::load_photos(&photos).unwrap();
    let fixture = Fixture::start();
    let (page, url, share_fields) = session(&fixture).await;
    let (attempt, token, payload) = page.handoff(&cancel_token(&url)).await;

    let output = kiosk(&payload, &photos, &[]);
    let err = stderr(&output);
    assert!(output.status.success(), "kiosk failed: {err}");
    let out = lines(&output);
    assert_eq!(out.len(), 1, "{out:?}");
    let verdict = &out[0]["verdict"];
    assert_eq!(verdict["verdict"], "accepted", "{verdict}");
    assert_eq!(verdict["attempt_id"], attempt.as_str());
    // The whole terminal path ran: PACE, active authentication, the chip-authentication relay.
    assert!(err.contains("access control: PACE"), "{err}");
    assert!(
        err.contains("active authentication: the chip signed"),
        "{err}"
    );
    assert!(err.contains("chip authentication: relayed"), "{err}");
    // Nothing personal, and not the token, on the kiosk's output.
    assert!(!err.contains(&token) && !String::from_utf8_lossy(&output.stdout).contains(&token));

    let status = page.status().await;
    assert_eq!(status["status"], "in_progress", "{status}");
    assert_eq!(status["phase"], "liveness", "{status}");

    page.finish(&attempt, &token, &faces, &share_fields).await;
    assert_eq!(page.status().await["status"], "succeeded");
    let stored = fixture.stored(&page.session_id).await;
    assert_eq!(stored["status"], "succeeded");
    assert_eq!(stored["nfc_tries_used"], 0);
}

#[tokio::test]
async fn a_kiosk_given_the_verification_url_hands_off_and_prints_the_attempt_for_the_page() {
    let Some(photos) = photos() else { return };
    let faces = TestFaces::load_photos(&photos).unwrap();
    let fixture = Fixture::start();
    let (page, url, share_fields) = session(&fixture).await;

    let output = kiosk(&url, &photos, &[]);
    assert!(output.status.success(), "kiosk failed: {}", stderr(&output));
    let out = lines(&output);
    assert_eq!(out.len(), 2, "{out:?}");
    let handoff = &out[0]["handoff"];
    let attempt = handoff["attempt_id"].as_str().unwrap();
    let token = handoff["token"].as_str().unwrap();
    let deep_link = handoff["deep_link"].as_str().unwrap();
    assert!(deep_link.starts_with("idgate://verify?d="), "{deep_link}");
    assert_eq!(out[1]["verdict"]["verdict"], "accepted", "{}", out[1]);
    assert_eq!(out[1]["verdict"]["attempt_id"], attempt);
    assert_eq!(page.status().await["phase"], "liveness");

    // The page continues the same attempt with the printed token.
    page.finish(attempt, token, &faces, &share_fields).await;
    assert_eq!(
        fixture.stored(&page.session_id).await["status"],
        "succeeded"
    );
}

#[tokio::test]
async fn a_chip_that_leaves_the_field_is_reported_unreadable_and_uses_one_read() {
    let Some(photos) = photos() else { return };
    let fixture = Fixture::start();
    let (page, url, _) = session(&fixture).await;
    let (_, _, payload) = page.handoff(&cancel_token(&url)).await;

    let output = kiosk(&payload, &photos, &["--virtual-card-removed-after", "20"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("the card was removed"), "{err}");
    let out = lines(&output);
    assert_eq!(out[0]["verdict"]["verdict"], "rejected", "{out:?}");
    assert_eq!(out[0]["verdict"]["nfc_tries_left"], 2);
    assert!(err.contains("2 read(s) left"), "{err}");
    let stored = fixture.stored(&page.session_id).await;
    assert_eq!(stored["status"], "in_progress");
    assert_eq!(stored["nfc_tries_used"], 1);

    // The operator runs it again on the same attempt (same device) and the chip is read.
    let output = kiosk(&payload, &photos, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(lines(&output)[0]["verdict"]["verdict"], "accepted");
}

#[test]
fn a_kiosk_with_a_reader_needs_the_access_key_and_never_echoes_it() {
    let output = Command::new(BIN)
        .args(["kiosk", "--reader", "none", "idgate://verify?d=e30"])
        .env_remove("IDGATE_PASSPORT_MRZ")
        .env_remove("IDGATE_PASSPORT_CAN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("payload"), "{err}");

    let output = Command::new(BIN)
        .args([
            "kiosk",
            "--reader",
            "none",
            "--mrz",
            "L898902C3,7408XX,120415",
        ])
        .arg("https://h.example/verify/vs_abc?cancel_token=t")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("date of birth"), "{err}");
    assert!(
        !err.contains("L898902C3") && !err.contains("7408XX"),
        "{err}"
    );
}

#[test]
fn without_pcsc_the_kiosk_says_so_before_calling_the_server() {
    if cfg!(feature = "pcsc") {
        return;
    }
    use base64::Engine as _;
    // Nothing listens on port 9: an attempt to call the server would fail differently.
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        json!({"v": 1, "server": "http://127.0.0.1:9", "attempt_id": "va_abc", "token": "t"})
            .to_string(),
    );
    let output = Command::new(BIN)
        .args([
            "kiosk",
            "--reader",
            "ACS ACR122U",
            "--mrz",
            "L898902C3,740812,120415",
        ])
        .arg(format!("idgate://verify?d={payload}"))
        .env_remove("IDGATE_PASSPORT_CAN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("built without PC/SC support"), "{err}");
    assert!(err.contains("libpcsclite-dev"), "{err}");
}
