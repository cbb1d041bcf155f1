//! The hosted page in a real browser (headless Chromium) against the built `idgate serve`
//! (docs/verify.md "Hosted page"): it loads without a console error or a CSP violation, passes
//! axe-core, follows a phone that runs in another process, cancels, takes the person back to the
//! integrator, and finishes the selfie and consent steps with the browser's (fake) camera.
//!
//! Screenshots land in `<target>/screenshots/hosted-page-*.png`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use idgate_face::challenge::Action;
use idgate_face::testkit::TestFaces;
use idgate_testkit::browser::{Browser, BrowserOptions, Page, PageOptions, screenshot_dir};
use serde_json::{Value, json};

use support::BIN;
use support::flow::{Fixture, photos};

/// Longest wait for something the page does on its own (a debug build on a busy machine).
const WAIT: Duration = Duration::from_secs(30);
/// Longest wait for the face engine's verdict on a debug build.
const FACE_WAIT: Duration = Duration::from_secs(180);

/// A test-mode session with a share request and a redirect back to a page of the server itself
/// (loopback `http://` is a valid `redirect_url`), so the browser can follow it.
async fn session(fixture: &Fixture) -> (Value, String) {
    let back = format!("http://{}/docs/errors", fixture.node.addr);
    let (status, body) = fixture
        .api
        .call(
            reqwest::Method::POST,
            "/v1/sessions",
            Some(json!({
                "redirect_url": back,
                "share_fields": {
                    "family_name": {"required": true, "reason": "To address the parcel"},
                    "date_of_birth": {"required": false, "reason": "A birthday discount"},
                    "nationality_code": {"required": false, "reason": "Some goods ship to some countries only"}
                }
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let session = body["data"].clone();
    let back = format!("{back}?session_id={}", session["id"].as_str().unwrap());
    (session, back)
}

fn url_of(session: &Value) -> String {
    session["verification_url"].as_str().unwrap().to_owned()
}

/// Opens the session's page and waits until its status stream is connected.
async fn open(browser: &Browser, options: PageOptions, session: &Value) -> Page {
    let page = browser.new_page(options).await.expect("page");
    page.goto(&url_of(session)).await.expect("goto");
    page.wait_for("document.documentElement.dataset.live === 'open'", WAIT)
        .await
        .expect("the status stream connects");
    page
}

/// A browser that can run axe-core; `None`: a prerequisite is missing (recorded).
async fn browser_with_axe() -> Option<Browser> {
    Browser::launch(BrowserOptions {
        axe: true,
        ..BrowserOptions::default()
    })
    .await
}

async fn assert_clean(page: &Page, what: &str) {
    let problems = page.problems().await.expect("problems");
    assert!(
        problems.is_empty(),
        "{what}: {}",
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

async fn assert_accessible(page: &Page, what: &str) {
    let serious: Vec<String> = page
        .axe()
        .await
        .expect("axe")
        .into_iter()
        .filter(|v| matches!(v.impact.as_deref(), Some("serious" | "critical")))
        .map(|v| v.to_string())
        .collect();
    assert!(serious.is_empty(), "{what}: {}", serious.join("\n"));
}

async fn text(page: &Page, id: &str) -> String {
    page.eval(&format!("document.getElementById('{id}').textContent"))
        .await
        .expect("eval")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Unix milliseconds, on the clock the browser's `Date.now()` also reads.
fn now_ms() -> i64 {
    use idgate_core::Clock as _;
    idgate_core::SystemClock.now().unix_ms()
}

fn run(command: &mut Command) -> Output {
    command
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run idgate")
}

#[tokio::test]
async fn the_page_loads_clean_and_accessible_in_english_and_german_on_a_phone_and_a_desktop() {
    let Some(browser) = browser_with_axe().await else {
        return;
    };
    let fixture = Fixture::start();
    let (session, _) = session(&fixture).await;
    for (language, accept, title) in [
        ("en", "en-US,en", "Verify your identity"),
        ("de", "de-DE,de", "Identität bestätigen"),
    ] {
        for (width, options) in [
            ("360", PageOptions::phone()),
            ("1280", PageOptions::desktop()),
        ] {
            let what = format!("{language} at {width} px");
            let page = open(&browser, options.language(accept), &session).await;
            assert!(text(&page, "main").await.contains(title), "{what}");
            // The share request, the QR code and the app link are there.
            let shown = page
                .eval("[document.querySelectorAll('#share-request li').length, !!document.querySelector('#phone svg.qr'), document.getElementById('app-link').getAttribute('href').startsWith('idgate://verify?d=')]")
                .await
                .unwrap();
            assert_eq!(shown, json!([4, true, true]), "{what}");
            // Nothing is wider than the screen.
            let overflow = page
                .eval("document.documentElement.scrollWidth > window.innerWidth")
                .await
                .unwrap();
            assert_eq!(overflow, json!(false), "{what}: horizontal scrolling");
            assert_clean(&page, &what).await;
            assert_accessible(&page, &what).await;
            page.screenshot(&screenshot_dir().join(format!("hosted-page-{language}-{width}.png")))
                .await
                .expect("screenshot");
        }
    }
}

#[tokio::test]
async fn the_page_follows_a_phone_in_another_process_and_takes_the_person_back() {
    let Some(photos) = photos() else { return };
    let Some(browser) = Browser::launch(BrowserOptions::default()).await else {
        return;
    };
    let fixture = Fixture::start();
    let (session, back) = session(&fixture).await;
    let page = open(&browser, PageOptions::desktop(), &session).await;
    // Every status the page announces, with the time it did.
    page.eval(
        "window.seen = []; new MutationObserver(() => window.seen.push([document.getElementById('status').textContent, Date.now()])).observe(document.getElementById('status'), {childList: true, characterData: true, subtree: true}); true",
    )
    .await
    .unwrap();
    let url = url_of(&session);
    let server = format!("http://{}", fixture.node.addr);
    let output = tokio::task::spawn_blocking(move || {
        run(Command::new(BIN)
            .args(["simulate", "--json", "--session", &url, "--server", &server])
            .arg("--photos")
            .arg(&photos))
    })
    .await
    .unwrap();
    let finished = now_ms();
    assert!(
        output.status.success(),
        "simulate: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    page.wait_for(
        "document.getElementById('status').textContent.startsWith('Your identity is verified.')",
        WAIT,
    )
    .await
    .expect("the page shows the success");
    let seen = page.eval("window.seen").await.unwrap();
    let texts: Vec<&str> = seen
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s[0].as_str())
        .collect();
    let steps = [
        "Phone connected: reading the passport.",
        "Your phone is reading the passport's chip.",
        "Passport checked. Next: a short selfie.",
        "Your phone is taking the selfie.",
        "All checks passed. Next: choose what to share.",
        "You are reviewing what to share on your phone.",
    ];
    assert!(
        texts.iter().any(|t| steps.contains(t)),
        "the page announced the phone's steps as they happened: {texts:?}"
    );
    let shown_at = seen
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s[0].as_str()
                .is_some_and(|t| t.starts_with("Your identity is verified."))
        })
        .and_then(|s| s[1].as_i64())
        .unwrap();
    eprintln!(
        "the page showed the success {} ms after the simulator's process ended",
        shown_at - finished
    );
    page.wait_for(&format!("location.href === {back:?}"), WAIT)
        .await
        .expect("the page takes the person back to the integrator");
    let stored = fixture.stored(session["id"].as_str().unwrap()).await;
    assert_eq!(stored["status"], "succeeded");
}

#[tokio::test]
async fn the_cancel_button_ends_the_session_and_the_page_takes_the_person_back() {
    let Some(browser) = browser_with_axe().await else {
        return;
    };
    let fixture = Fixture::start();
    let (session, back) = session(&fixture).await;
    let page = open(
        &browser,
        PageOptions::phone().language("de-DE,de"),
        &session,
    )
    .await;
    page.click_mouse("#cancel-button").await.unwrap();
    page.wait_for(
        "!!document.getElementById('outcome') && document.getElementById('outcome').textContent === 'Diese Verifizierung wurde abgebrochen.'",
        WAIT,
    )
    .await
    .expect("the ended page");
    let stored = fixture.stored(session["id"].as_str().unwrap()).await;
    assert_eq!(stored["status"], "cancelled");
    assert_clean(&page, "the ended page").await;
    assert_accessible(&page, "the ended page").await;
    page.screenshot(&screenshot_dir().join("hosted-page-de-360-cancelled.png"))
        .await
        .unwrap();
    // Without script too: the ended page refreshes to the integrator after a few seconds.
    page.wait_for(&format!("location.href === {back:?}"), WAIT)
        .await
        .expect("back to the integrator");
}

/// `idgate kiosk` reads the virtual passport's chip with the code of `link` (a desktop with a USB
/// reader), leaving the selfie to the page.
async fn kiosk(photos: &Path, link: &str) {
    let (photos, link) = (photos.to_owned(), link.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        run(Command::new(BIN)
            .args(["kiosk", "--virtual-passport", "--json", "--photos"])
            .arg(&photos)
            .arg(&link))
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "kiosk: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Who the fake camera shows.
#[derive(Clone, Copy)]
enum Performer {
    /// The passport's holder, performing the challenge.
    Holder,
    /// Someone else, performing it live.
    SomeoneElse,
}

/// A page whose document step a kiosk has done, recording the selfie with the fake camera.
struct CameraStep {
    page: Page,
    fixture: Fixture,
    session: Value,
    back: String,
    _browser: Browser,
    _video: tempfile::TempDir,
}

/// Opens a session's page in a browser whose camera plays `performer` turning left then right,
/// lets `idgate kiosk` read the chip with the page's code (a desktop with a USB reader), asks for
/// challenges until the server draws that order of turns (each draw is random), and starts the
/// recording. `None`: a prerequisite is missing (recorded).
async fn record_selfie(performer: Performer) -> Option<CameraStep> {
    let photos = photos()?;
    let video_dir = tempfile::tempdir().unwrap();
    let order = [Action::TurnLeft, Action::TurnRight];
    let faces = TestFaces::load_photos(&photos).expect("test faces");
    let video = video_dir.path().join("camera.y4m");
    match performer {
        Performer::Holder => faces.write_camera_video(&order, &video),
        Performer::SomeoneElse => faces.write_other_person_camera_video(&order, &video),
    }
    .expect("camera video");
    let browser = Browser::launch(BrowserOptions {
        fake_video: Some(video),
        ..BrowserOptions::default()
    })
    .await?;
    let fixture = Fixture::start();
    let (session, back) = session(&fixture).await;
    let page = open(&browser, PageOptions::desktop(), &session).await;
    let link = page
        .eval("document.getElementById('app-link').getAttribute('href')")
        .await
        .unwrap();
    kiosk(&photos, link.as_str().unwrap()).await;
    page.wait_for("!document.getElementById('camera').hidden", WAIT)
        .await
        .expect("the page offers the camera once the document is accepted");
    let wanted = order.map(Action::code).join(",");
    let mut drawn = String::new();
    for _ in 0..40 {
        page.eval("delete document.getElementById('camera-steps').dataset.actions; true")
            .await
            .unwrap();
        page.click("#camera-open").await.unwrap();
        page.wait_for(
            "!!document.getElementById('camera-steps').dataset.actions",
            WAIT,
        )
        .await
        .expect("a challenge");
        drawn = page
            .eval("document.getElementById('camera-steps').dataset.actions")
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        if drawn == wanted {
            break;
        }
    }
    assert_eq!(drawn, wanted, "the server never drew the video's order");
    page.click_mouse("#camera-start").await.unwrap();
    Some(CameraStep {
        page,
        fixture,
        session,
        back,
        _browser: browser,
        _video: video_dir,
    })
}

#[tokio::test]
async fn the_page_takes_the_selfie_with_the_camera_and_the_person_consents_there() {
    let Some(step) = record_selfie(Performer::Holder).await else {
        return;
    };
    let page = &step.page;
    if let Err(error) = page
        .wait_for("!document.getElementById('consent').hidden", FACE_WAIT)
        .await
    {
        let said = text(page, "camera-message").await;
        panic!("no consent step ({error}); the page says {said:?}");
    }
    assert_eq!(text(page, "camera-message").await, "Selfie accepted.");
    // Share the required name, decline the optional date of birth.
    page.click_mouse("#share-date_of_birth").await.unwrap();
    page.click_mouse("#consent-submit").await.unwrap();
    page.wait_for(&format!("location.href === {:?}", step.back), WAIT)
        .await
        .expect("back to the integrator");
    assert_clean(page, "after the camera step").await;
    let stored = step
        .fixture
        .stored(step.session["id"].as_str().unwrap())
        .await;
    assert_eq!(stored["status"], "succeeded", "{stored}");
}

#[tokio::test]
async fn a_refused_selfie_says_why_uses_one_try_and_can_be_taken_again() {
    let Some(step) = record_selfie(Performer::SomeoneElse).await else {
        return;
    };
    let page = &step.page;
    page.wait_for(
        "document.getElementById('camera-message').textContent.startsWith('That did not work')",
        FACE_WAIT,
    )
    .await
    .expect("the refusal");
    // Someone else's burst is refused at the liveness step: by the match, or already by the
    // liveness check on these re-encoded frames; either way the page names the reason.
    let said = text(page, "camera-message").await;
    assert!(
        [
            "That did not work: The face in the selfie does not match the passport photo. Tries left: 2.",
            "That did not work: The selfie did not show a live person following the instructions. Tries left: 2.",
        ]
        .contains(&said.as_str()),
        "{said}"
    );
    // The try is counted, the step stays open, and the person can take it again.
    assert_eq!(text(page, "camera-open").await, "Try again");
    assert_eq!(
        page.eval("document.getElementById('camera').hidden")
            .await
            .unwrap(),
        json!(false)
    );
    page.wait_for(
        "document.getElementById('tries').textContent === 'Tries left: passport chip 3, selfie 2.'",
        WAIT,
    )
    .await
    .expect("the tries left, from the status stream");
    let stored = step
        .fixture
        .stored(step.session["id"].as_str().unwrap())
        .await;
    assert_eq!(stored["status"], "in_progress", "{stored}");
    assert_eq!(stored["liveness_tries_used"], 1, "{stored}");
}

#[tokio::test]
async fn the_test_mode_panel_simulates_a_passport_and_the_page_follows_it_to_the_end() {
    let Some(browser) = Browser::launch(BrowserOptions::default()).await else {
        return;
    };
    let fixture = Fixture::start();
    let (session, back) = session(&fixture).await;
    let page = open(&browser, PageOptions::phone(), &session).await;
    page.eval("document.getElementById('outcome').value = 'document_authenticity_failed'; true")
        .await
        .unwrap();
    page.click_mouse("#simulate").await.unwrap();
    // The server's simulated phone fails three documents; the page follows and takes the person
    // back once the session has failed.
    page.wait_for(&format!("location.href === {back:?}"), WAIT)
        .await
        .expect("back to the integrator");
    let stored = fixture.stored(session["id"].as_str().unwrap()).await;
    assert_eq!(stored["status"], "failed", "{stored}");
    assert_eq!(stored["failure_code"], "document_authenticity_failed");
}

#[tokio::test]
async fn a_page_whose_code_another_device_replaced_stops_offering_its_steps() {
    let Some(photos) = photos() else { return };
    let Some(browser) = Browser::launch(BrowserOptions::default()).await else {
        return;
    };
    let fixture = Fixture::start();
    let (session, _) = session(&fixture).await;
    let id = session["id"].as_str().unwrap();
    let page = open(&browser, PageOptions::desktop(), &session).await;
    // Another device hands off anew (closing the page's attempt) and gets to the selfie step.
    let (status, handoff) = fixture
        .api
        .call(
            reqwest::Method::POST,
            &format!("/v1/verify/session/{id}/handoff"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{handoff}");
    kiosk(&photos, handoff["data"]["deep_link"].as_str().unwrap()).await;
    // The page sees the selfie step and still holds its own, now closed, attempt's token.
    page.wait_for("!document.getElementById('camera').hidden", WAIT)
        .await
        .expect("the camera step is offered");
    page.click("#camera-open").await.unwrap();
    page.wait_for("document.getElementById('camera').hidden", WAIT)
        .await
        .expect("the page withdraws the step once its token is refused");
    assert_eq!(
        text(&page, "status").await,
        "Another device has taken over this verification; continue there."
    );
    assert_eq!(
        page.eval("sessionStorage.length").await.unwrap(),
        json!(0),
        "the dead token is forgotten"
    );
}
