//! The hosted page over real HTTP, as a browser without script sees it (docs/verify.md "Hosted
//! page"): what it shows, in which language, what its forms do, and the pages a person meets
//! when the link is wrong or the session has ended. The page's script is driven in a real browser
//! by `crates/idgate/tests/hosted_page_browser.rs`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{ACCEPT_LANGUAGE, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use reqwest::{Client, StatusCode, redirect};
use serde_json::{Value, json};

use crate::support::{
    TestApp, create_session, error_code, json as json_of, on_each_backend, unknown_session_id,
};

/// A browser: no API key, no automatic redirects (the tests look at each one).
fn browser() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .expect("client")
}

/// A session with a share request of the integrator's own and a redirect URL.
async fn session(app: &TestApp) -> Value {
    create_session(
        app,
        Some(json!({
            "redirect_url": "https://shop.example/done?order=7",
            "share_fields": {
                "family_name": {"required": true, "reason": "To address the parcel"},
                "age_over_18": {"required": false, "reason": "Some goods are for adults only"}
            }
        })),
    )
    .await
}

/// The page at `url` (a `verification_url` or a path), with its status and body.
async fn get(
    app: &TestApp,
    url: &str,
    language: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let url = if url.starts_with("http") {
        url.to_owned()
    } else {
        app.url(url)
    };
    let response = browser()
        .get(url)
        .header(ACCEPT_LANGUAGE, language)
        .send()
        .await
        .expect("page");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}

/// A form post, as the page's buttons send it.
async fn post_form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    browser()
        .post(app.url(path))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).expect("form"))
        .send()
        .await
        .expect("form post")
}

fn verification_url(session: &Value) -> String {
    session["verification_url"]
        .as_str()
        .expect("url")
        .to_owned()
}

/// The handoff payload behind the page's app link.
fn payload(page: &str) -> Value {
    let start = page.find("idgate://verify?d=").expect("app link") + "idgate://verify?d=".len();
    let end = start + page[start..].find('"').expect("end of link");
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(&page[start..end])
            .expect("base64url"),
    )
    .expect("payload JSON")
}

async fn hello(app: &TestApp, payload: &Value) -> (StatusCode, Value) {
    let attempt = payload["attempt_id"].as_str().unwrap();
    json_of(
        app.client
            .post(app.url(&format!("/v1/verify/attempts/{attempt}/hello")))
            .bearer_auth(payload["token"].as_str().unwrap())
            .json(&json!({"device_id": "page-test-phone", "app_version": "1.0"}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn the_page_shows_the_share_request_a_qr_code_and_a_working_app_link() {
    on_each_backend(|app| async move {
        let session = session(&app).await;
        let (status, headers, page) = get(&app, &verification_url(&session), "en").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        for text in [
            "Family name",
            "To address the parcel",
            "Whether you are at least 18 years old",
            "Some goods are for adults only",
            "Required",
            "Optional",
        ] {
            assert!(page.contains(text), "{text} missing");
        }
        assert!(
            page.contains("<svg") && page.contains("<path fill=\"#000\" d=\"M"),
            "QR code"
        );
        // The app link is a real handoff: its token binds a phone.
        let payload = payload(&page);
        let (status, body) = hello(&app, &payload).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["session_id"], session["id"]);
        app.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_page_allows_no_inline_script_or_style_and_no_other_origin() {
    on_each_backend(|app| async move {
        let session = session(&app).await;
        let (_, headers, page) = get(&app, &verification_url(&session), "en").await;
        let csp = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe") && !csp.contains("http"), "{csp}");
        assert_eq!(
            headers["cache-control"], "no-store",
            "the page embeds a bearer token"
        );
        assert_eq!(
            headers["referrer-policy"], "no-referrer",
            "its URL carries the cancel token"
        );
        // Every script is either the external file or an inert JSON block; no inline handlers.
        for script in page.split("<script").skip(1) {
            let tag = &script[..script.find('>').unwrap()];
            assert!(
                tag.contains("src=\"assets/verify.js?v=")
                    || tag.contains("type=\"application/json\""),
                "<script{tag}>"
            );
        }
        for attribute in [" onclick=", " onload=", " style=", "javascript:", "<style"] {
            assert!(!page.contains(attribute), "{attribute}");
        }
        // The assets it links are served here.
        for asset in ["assets/verify.js", "assets/verify.css"] {
            let start = page.find(asset).unwrap();
            let link = &page[start..start + page[start..].find('"').unwrap()];
            let (status, headers, body) = get(&app, &format!("/verify/{link}"), "en").await;
            assert_eq!(status, StatusCode::OK, "{link}");
            assert_eq!(headers["x-content-type-options"], "nosniff");
            assert!(!body.is_empty());
        }
        app.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_page_speaks_the_language_the_browser_prefers() {
    on_each_backend(|app| async move {
        let url = verification_url(&session(&app).await);
        for (accept, lang, title, label) in [
            (
                "de-DE,de;q=0.9,en;q=0.8",
                "de",
                "Identität bestätigen",
                "Familienname",
            ),
            (
                "fr-CH, fr;q=0.9",
                "fr",
                "Confirmez votre identité",
                "Nom de famille",
            ),
            ("ja, en;q=0.5", "en", "Verify your identity", "Family name"),
            ("ja", "en", "Verify your identity", "Family name"),
        ] {
            let (_, headers, page) = get(&app, &url, accept).await;
            assert!(page.contains(&format!("<html lang=\"{lang}\"")), "{accept}");
            assert_eq!(headers["content-language"], lang, "{accept}");
            assert!(page.contains(title) && page.contains(label), "{accept}");
        }
        app.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_link_without_its_cancel_token_gets_a_page_not_an_error_dump() {
    on_each_backend(|app| async move {
        let session = session(&app).await;
        let id = session["id"].as_str().unwrap();
        for path in [
            format!("/verify/{id}"),
            format!("/verify/{id}?cancel_token=wrong"),
        ] {
            let (status, headers, page) = get(&app, &path, "en").await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            assert!(
                headers[CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            assert!(page.contains("This link is incomplete"), "{page}");
            assert!(!page.contains("idgate://"), "no handoff for a wrong link");
        }
        app.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_unknown_or_malformed_session_gets_a_not_found_page() {
    on_each_backend(|app| async move {
        for path in [
            format!("/verify/{}", unknown_session_id()),
            "/verify/not-a-session".to_owned(),
        ] {
            let (status, _, page) = get(&app, &path, "de").await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert!(page.contains("Dieser Link ist ungültig"), "{page}");
        }
        app.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_cancel_form_ends_the_session_and_the_page_then_leads_back() {
    on_each_backend(|app| async move {
        let session = session(&app).await;
        let id = session["id"].as_str().unwrap();
        let form = [("cancel_token", session["cancel_token"].as_str().unwrap())];
        let response = post_form(&app, &format!("/verify/{id}/cancel"), &form).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION], format!("../{id}"));
        let (_, session_now) = crate::support::get_session(&app, id).await;
        assert_eq!(session_now["data"]["status"], "cancelled");
        // The ended page, reached without the token, says so and leads back to the integrator.
        let (status, _, page) = get(&app, &format!("/verify/{id}"), "en").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("This verification was cancelled."), "{page}");
        // askama escapes `&` as `&#38;`, which an HTML parser reads back as `&`.
        let back = format!("https://shop.example/done?order=7&#38;session_id={id}");
        assert!(page.contains(&format!("href=\"{back}\"")), "{page}");
        // The script takes the person back; no timed <meta> refresh (WCAG 2.2 SC 2.2.1).
        assert!(page.contains("assets/verify.js?v="), "{page}");
        assert!(!page.contains("http-equiv=\"refresh\""));
        // The token was one-shot; a second press only shows the ended page again.
        let again = post_form(&app, &format!("/verify/{id}/cancel"), &form).await;
        assert_eq!(again.status(), StatusCode::SEE_OTHER);
        app.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_wrong_cancel_token_in_the_form_cancels_nothing() {
    on_each_backend(|app| async move {
        let session = session(&app).await;
        let id = session["id"].as_str().unwrap();
        let response = post_form(
            &app,
            &format!("/verify/{id}/cancel"),
            &[("cancel_token", "wrong")],
        )
        .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let (_, session_now) = crate::support::get_session(&app, id).await;
        assert_eq!(session_now["data"]["status"], "created");
        app.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn reloading_replaces_an_unused_code_but_never_takes_the_session_from_a_phone() {
    on_each_backend(|app| async move {
        let session = session(&app).await;
        let url = verification_url(&session);
        let (_, _, first) = get(&app, &url, "en").await;
        let (_, _, second) = get(&app, &url, "en").await;
        let (unused, current) = (payload(&first), payload(&second));
        assert_ne!(
            unused["token"], current["token"],
            "a new code per view while none is used"
        );
        let (status, body) = hello(&app, &unused).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "the replaced code is closed: {body}"
        );
        assert_eq!(error_code(&body), "ATTEMPT_CLOSED");
        let (status, _) = hello(&app, &current).await;
        assert_eq!(status, StatusCode::OK);
        // A phone has started: the page shows that, and issues no code that would replace it.
        let (_, _, third) = get(&app, &url, "en").await;
        assert!(!third.contains("idgate://verify"), "no new handoff");
        assert!(third.contains("A phone is working on this verification."));
        assert!(third.contains("Phone connected: reading the passport."));
        let (status, _) = hello(&app, &current).await;
        assert_eq!(status, StatusCode::OK, "the phone's attempt is still open");
        app.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_expired_session_shows_that_it_expired() {
    on_each_backend(|app| async move {
        let session = session(&app).await;
        app.clock.advance_secs(24 * 3600 + 1);
        let (status, _, page) = get(&app, &verification_url(&session), "fr").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Cette vérification a expiré."), "{page}");
        assert!(!page.contains("idgate://verify"));
        app.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_unknown_asset_is_not_found() {
    on_each_backend(|app| async move {
        let (status, body) = json_of(
            browser()
                .get(app.url("/verify/assets/other.js"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(error_code(&body), "NOT_FOUND");
        app.shutdown().await;
    })
    .await;
}

/// A test-mode session (created with a `kk_test_` key), and that key.
async fn test_mode_session(app: &TestApp) -> (Value, String) {
    let key = app
        .key_with(
            &idgate_core::Scope::ALL,
            idgate_core::api_key::Environment::Test,
        )
        .await;
    let (status, body) = json_of(
        app.request_as(&key, crate::support::Method::POST, "/v1/sessions")
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (body["data"].clone(), key)
}

#[tokio::test]
async fn a_test_mode_page_simulates_a_passport_through_the_real_pipeline() {
    on_each_backend(|app| async move {
        let (session, key) = test_mode_session(&app).await;
        let id = session["id"].as_str().unwrap();
        let (_, _, page) = get(&app, &verification_url(&session), "en").await;
        assert!(
            page.contains("<option value=\"succeeded\""),
            "the outcomes are offered"
        );
        assert!(
            page.contains("<option value=\"document_data_invalid\">Invalid passport data</option>")
        );
        let token = session["cancel_token"].as_str().unwrap();
        let response = post_form(
            &app,
            &format!("/verify/{id}/simulate"),
            &[
                ("cancel_token", token),
                ("outcome", "document_data_invalid"),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers()[LOCATION],
            format!("../{id}?cancel_token={token}")
        );
        // The page shown meanwhile leaves the simulated phone its attempt.
        let (_, _, meanwhile) = get(&app, &verification_url(&session), "en").await;
        assert!(
            !meanwhile.contains("idgate://verify"),
            "no handoff while a simulation runs"
        );
        let mut status = Value::Null;
        for _ in 0..200 {
            let (_, body) = json_of(
                app.request_as(
                    &key,
                    crate::support::Method::GET,
                    &format!("/v1/sessions/{id}"),
                )
                .send()
                .await
                .unwrap(),
            )
            .await;
            status = body["data"].clone();
            if status["status"] != "created" && status["status"] != "in_progress" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status["status"], "failed", "{status}");
        assert_eq!(status["failure_code"], "document_data_invalid");
        app.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_live_page_offers_no_simulation_and_refuses_one() {
    on_each_backend(|app| async move {
        let session = session(&app).await;
        let id = session["id"].as_str().unwrap();
        let (_, _, page) = get(&app, &verification_url(&session), "en").await;
        assert!(
            !page.contains("name=\"outcome\""),
            "no test panel on a live session"
        );
        let response = post_form(
            &app,
            &format!("/verify/{id}/simulate"),
            &[
                ("cancel_token", session["cancel_token"].as_str().unwrap()),
                ("outcome", "succeeded"),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let page = response.text().await.unwrap();
        assert!(page.contains("The simulation could not start"), "{page}");
        let (_, body) = crate::support::get_session(&app, id).await;
        assert_eq!(body["data"]["status"], "created", "nothing was simulated");
        app.shutdown().await;
    })
    .await;
}
