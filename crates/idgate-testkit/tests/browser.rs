//! The headless-Chromium harness (feature `browser`) against tiny pages served from this test:
//! navigation and JavaScript, the problems a page shows (a CSP violation, a console error, a
//! failed request), clicks, language, screenshots, axe-core, and the fake camera. Chromium and
//! axe-core are prerequisites: a counted skip without them, a failure under CI.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::convert::Infallible;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use futures_util::{StreamExt as _, stream};
use idgate_testkit::browser::{
    Browser, BrowserError, BrowserOptions, PageOptions, ProblemKind, screenshot_dir,
};
use idgate_testkit::http::{base_url, serve};
use serde_json::json;

const STRICT_CSP: &str = "default-src 'none'; script-src 'self'";

/// A page under a strict CSP whose inline script must be blocked, and whose external script runs
/// and logs an error.
const STRICT_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Strict</title>
<script>document.title = "the inline script ran";</script>
<script src="/app.js"></script>
</head><body><main><h1>Strict</h1></main></body></html>"#;

const APP_JS: &str = "window.appRan = true; console.error('app.js reports a failure');";

/// Nothing for axe-core to find.
const CLEAN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Clean</title></head>
<body><main><h1>A clean page</h1><p>Some text in a paragraph.</p>
<button id="more" type="button" onclick="this.dataset.clicks = (+this.dataset.clicks || 0) + 1">More</button>
<p><a id="next" href="/img">Next page</a></p>
</main></body></html>"#;

/// A page with an open event stream (the hosted page's live status is one).
const LIVE_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Live</title></head>
<body><main><h1 id="status">Waiting</h1>
<script>new EventSource('/events').onmessage = (e) => { document.querySelector('#status').textContent = e.data; };</script>
</main></body></html>"#;

/// An image without a text alternative (axe-core's `image-alt`, WCAG 1.1.1).
const IMG_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Image</title></head>
<body><main><h1>An image</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=" width="40" height="40">
</main></body></html>"#;

/// A page that asks for an image from `{refused}`, a port nothing listens on.
const BROKEN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Broken</title></head>
<body><main><h1>Broken</h1><img alt="missing" src="{refused}/missing.png"></main></body></html>"#;

/// `http://127.0.0.1:<port>` where nothing listens: a port the system handed out and that was
/// closed again.
fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

async fn site() -> String {
    let router = Router::new()
        .route(
            "/strict",
            get(|| async {
                (
                    [(header::CONTENT_SECURITY_POLICY, STRICT_CSP)],
                    Html(STRICT_PAGE),
                )
            }),
        )
        .route(
            "/app.js",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript"),
                        (header::CONTENT_SECURITY_POLICY, STRICT_CSP),
                    ],
                    APP_JS,
                )
            }),
        )
        .route("/clean", get(|| async { Html(CLEAN_PAGE) }))
        .route("/img", get(|| async { Html(IMG_PAGE) }))
        .route("/live", get(|| async { Html(LIVE_PAGE) }))
        .route(
            "/events",
            get(|| async {
                // One event, then the stream stays open until the browser leaves.
                let first = Ok::<_, Infallible>(Event::default().data("Started"));
                Sse::new(stream::once(async { first }).chain(stream::pending()))
            }),
        )
        .route(
            "/broken",
            get(|| async { Html(BROKEN_PAGE.replace("{refused}", &refused_url())) }),
        )
        .route(
            "/language",
            get(|headers: HeaderMap| async move {
                let language = headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                Html(format!("<!doctype html><title>{language}</title>")).into_response()
            }),
        );
    base_url(serve(router).await)
}

const SECS_10: Duration = Duration::from_secs(10);

#[tokio::test]
async fn goto_and_eval_run_the_page_and_problems_report_the_csp_violation_and_console_error() {
    let Some(browser) = Browser::launch(BrowserOptions::default()).await else {
        return;
    };
    let base = site().await;
    let page = browser.new_page(PageOptions::desktop()).await.unwrap();
    page.goto(&format!("{base}/strict")).await.unwrap();

    assert_eq!(page.url().await.unwrap(), format!("{base}/strict"));
    assert_eq!(page.eval("window.appRan").await.unwrap(), json!(true));
    assert_eq!(page.eval("document.title").await.unwrap(), json!("Strict"));
    assert_eq!(
        page.eval("Promise.resolve(6 * 7)").await.unwrap(),
        json!(42)
    );

    let thrown = page.eval("undefinedFunction()").await.unwrap_err();
    assert!(
        matches!(&thrown, BrowserError::Js(m) if m.contains("undefinedFunction is not defined")),
        "{thrown}"
    );

    let problems = page.problems().await.unwrap();
    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let csp: Vec<_> = problems
        .iter()
        .filter(|p| p.kind == ProblemKind::Csp)
        .collect();
    assert_eq!(csp.len(), 1, "{listed:#?}");
    assert!(
        csp[0].message.starts_with("script-src-elem blocked inline"),
        "{listed:#?}"
    );
    assert!(
        problems.iter().any(|p| p.kind == ProblemKind::Log
            && p.message.starts_with("[security]")
            && p.message.contains("Content Security Policy")),
        "{listed:#?}"
    );
    let console: Vec<_> = problems
        .iter()
        .filter(|p| p.kind == ProblemKind::Console)
        .collect();
    assert_eq!(console.len(), 1, "{listed:#?}");
    assert_eq!(console[0].message, "app.js reports a failure");
    assert_eq!(
        console[0].url.as_deref(),
        Some(format!("{base}/app.js").as_str())
    );
    // The exception of an evaluation is its caller's, not the page's.
    assert!(
        !problems.iter().any(|p| p.kind == ProblemKind::Exception),
        "{listed:#?}"
    );

    // A clean page in a fresh page has none of them.
    let clean = browser.new_page(PageOptions::phone()).await.unwrap();
    clean.goto(&format!("{base}/clean")).await.unwrap();
    assert_eq!(clean.problems().await.unwrap(), []);
}

#[tokio::test]
async fn failed_requests_uncaught_exceptions_and_refused_navigations_are_reported() {
    let Some(browser) = Browser::launch(BrowserOptions::default()).await else {
        return;
    };
    let base = site().await;
    let page = browser.new_page(PageOptions::desktop()).await.unwrap();
    page.goto(&format!("{base}/broken")).await.unwrap();
    page.eval("setTimeout(() => { window.later = true; throw new Error('thrown later'); }, 0)")
        .await
        .unwrap();
    page.wait_for(
        "new Promise((r) => setTimeout(() => r(window.later), 50))",
        SECS_10,
    )
    .await
    .unwrap();

    let problems = page.problems().await.unwrap();
    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        problems.iter().any(|p| p.kind == ProblemKind::Network
            && p.message == "Image net::ERR_CONNECTION_REFUSED"
            && p.url
                .as_deref()
                .is_some_and(|u| u.ends_with("/missing.png"))),
        "{listed:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.kind == ProblemKind::Exception && p.message.contains("thrown later")),
        "{listed:#?}"
    );

    // Leaving a page with an open event stream aborts the stream: not a problem.
    let live = browser.new_page(PageOptions::desktop()).await.unwrap();
    live.goto(&format!("{base}/live")).await.unwrap();
    live.wait_for(
        "document.querySelector('#status').textContent === 'Started'",
        SECS_10,
    )
    .await
    .unwrap();
    live.goto(&format!("{base}/clean")).await.unwrap();
    assert_eq!(live.problems().await.unwrap(), []);

    let refused = page.goto(&refused_url()).await.unwrap_err();
    assert!(
        matches!(&refused, BrowserError::Navigation { error, .. } if error.contains("CONNECTION_REFUSED")),
        "{refused}"
    );
    let waited = page
        .wait_for("false", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(waited, BrowserError::Timeout(_)), "{waited}");
}

#[tokio::test]
async fn clicks_language_and_a_phone_screenshot() {
    let Some(browser) = Browser::launch(BrowserOptions::default()).await else {
        return;
    };
    let base = site().await;
    let page = browser
        .new_page(PageOptions::phone().language("de-DE,de"))
        .await
        .unwrap();
    page.goto(&format!("{base}/clean")).await.unwrap();

    page.click("#more").await.unwrap();
    page.click_mouse("#more").await.unwrap();
    page.wait_for(
        "document.querySelector('#more').dataset.clicks === '2'",
        SECS_10,
    )
    .await
    .unwrap();
    // A click that navigates: wait_for rides out the old document going away.
    page.click_mouse("#next").await.unwrap();
    page.wait_for(
        "location.pathname === '/img' && document.readyState === 'complete'",
        SECS_10,
    )
    .await
    .unwrap();
    page.goto(&format!("{base}/clean")).await.unwrap();
    let missing = page.click("#absent").await.unwrap_err();
    assert!(
        matches!(&missing, BrowserError::Js(m) if m.contains("#absent")),
        "{missing}"
    );

    assert_eq!(
        page.eval("navigator.language").await.unwrap(),
        json!("de-DE")
    );
    assert_eq!(page.eval("innerWidth").await.unwrap(), json!(360));
    page.goto(&format!("{base}/language")).await.unwrap();
    assert_eq!(
        page.eval("document.title").await.unwrap(),
        json!("de-DE,de;q=0.9")
    );

    page.goto(&format!("{base}/clean")).await.unwrap();
    let path = screenshot_dir().join("testkit-browser-clean-phone.png");
    let _ = std::fs::remove_file(&path);
    page.screenshot(&path).await.unwrap();
    let (width, height) = png_size(&path);
    assert_eq!(width, 360);
    assert!(height >= 740, "{height}");
}

#[tokio::test]
async fn axe_finds_an_image_without_alt_and_nothing_on_a_clean_page() {
    let Some(browser) = Browser::launch(BrowserOptions {
        axe: true,
        ..BrowserOptions::default()
    })
    .await
    else {
        return;
    };
    let base = site().await;
    let page = browser.new_page(PageOptions::phone()).await.unwrap();

    page.goto(&format!("{base}/img")).await.unwrap();
    let violations = page.axe().await.unwrap();
    let ids: Vec<&str> = violations.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["image-alt"], "{violations:#?}");
    assert_eq!(violations[0].targets, ["img"]);
    assert_eq!(violations[0].impact.as_deref(), Some("critical"));

    page.goto(&format!("{base}/clean")).await.unwrap();
    assert_eq!(page.axe().await.unwrap(), []);

    // axe-core is injected through DevTools, so a strict CSP does not stop it.
    page.goto(&format!("{base}/strict")).await.unwrap();
    assert_eq!(page.axe().await.unwrap(), []);

    let without = Browser::launch(BrowserOptions::default()).await.unwrap();
    let plain = without.new_page(PageOptions::phone()).await.unwrap();
    assert!(matches!(plain.axe().await, Err(BrowserError::AxeNotLoaded)));
}

/// Frame side of the test video.
const SIDE: usize = 480;
/// The test video's frame rate.
const FPS: usize = 10;

/// A 3 s YUV4MPEG2 video, 480×480 at 10 fps: a bright square on a grey field for 1.5 s, then a
/// dark one.
fn write_test_video(path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "YUV4MPEG2 W{SIDE} H{SIDE} F{FPS}:1 Ip A1:1 C420jpeg").unwrap();
    for frame in 0..3 * FPS {
        let level: u8 = if frame < FPS * 3 / 2 { 220 } else { 30 };
        out.write_all(b"FRAME\n").unwrap();
        for y in 0..SIDE {
            let row: Vec<u8> = (0..SIDE)
                .map(|x| {
                    if (120..360).contains(&x) && (120..360).contains(&y) {
                        level
                    } else {
                        128
                    }
                })
                .collect();
            out.write_all(&row).unwrap();
        }
        out.write_all(&vec![128u8; SIDE * SIDE / 2]).unwrap();
    }
    out.flush().unwrap();
}

/// Opens the camera, then draws its frames into a canvas until both the bright and the dark
/// square were seen (the video loops, so within a few seconds whatever the machine's load);
/// resolves to the track's size and the luma levels seen in the square and the border.
const GRAB_FRAMES: &str = r"(async () => {
  const stream = await navigator.mediaDevices.getUserMedia({ video: true });
  const [track] = stream.getVideoTracks();
  const { width, height } = track.getSettings();
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  await video.play();
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  const mean = (x, y, w, h) => {
    const data = context.getImageData(x, y, w, h).data;
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) sum += (data[i] + data[i + 1] + data[i + 2]) / 3;
    return Math.round(sum / (data.length / 4));
  };
  const centres = new Set();
  const borders = new Set();
  const started = performance.now();
  while (performance.now() - started < 20000) {
    context.drawImage(video, 0, 0);
    centres.add(mean(200, 200, 80, 80));
    borders.add(mean(0, 0, 80, 80));
    if ([...centres].some((c) => c > 180) && [...centres].some((c) => c < 70)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  track.stop();
  return { width, height, centres: [...centres].sort((a, b) => a - b), borders: [...borders] };
})()";

#[tokio::test]
async fn the_fake_camera_shows_the_video_file() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("camera.y4m");
    write_test_video(&video);
    let Some(browser) = Browser::launch(BrowserOptions {
        fake_video: Some(video),
        ..BrowserOptions::default()
    })
    .await
    else {
        return;
    };
    let base = site().await;
    let page = browser.new_page(PageOptions::phone()).await.unwrap();
    // Loopback is a secure context, where getUserMedia exists.
    page.goto(&format!("{base}/clean")).await.unwrap();
    let seen = page.eval(GRAB_FRAMES).await.unwrap();
    assert_eq!(
        (seen["width"].as_u64(), seen["height"].as_u64()),
        (Some(480), Some(480)),
        "{seen}"
    );
    let centres: Vec<i64> = seen["centres"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert!(centres.iter().any(|&c| c > 180), "no bright frame: {seen}");
    assert!(centres.iter().any(|&c| c < 70), "no dark frame: {seen}");
    for border in seen["borders"].as_array().unwrap() {
        let border = border.as_i64().unwrap();
        assert!(
            (118..=138).contains(&border),
            "the grey border drawn as {border}: {seen}"
        );
    }
    assert_eq!(page.problems().await.unwrap(), []);
}

/// A PNG's width and height from its IHDR chunk (ISO/IEC 15948 §11.2.2).
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.len() > 100,
        "{} is {} bytes",
        path.display(),
        bytes.len()
    );
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}
