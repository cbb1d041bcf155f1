//! The HTTP engine against a tiny matcher on 127.0.0.1 started by each test: the documented
//! protocol on success, and a precise error for timeouts, error statuses and malformed answers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use common::{LEFT, NEUTRAL, Pose, RIGHT, frame_image, frame_index, landmarks};
use idgate_face::challenge::{Action, Burst, Challenge, Frame, Nonce};
use idgate_face::http_engine::{ApiToken, HttpEngine};
use idgate_face::liveness::{LivenessPolicy, LivenessReason};
use idgate_face::{BoundingBox, Embedding, Face, FaceEngine, FaceError, Image, Quality};
use serde_json::{Value, json};

/// One request as the matcher saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    body: Value,
}

struct Reply {
    status: u16,
    body: String,
    delay: Duration,
}

fn ok(body: Value) -> Reply {
    Reply {
        status: 200,
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

struct Matcher {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// Starts a matcher answering every request with `handler`; it lives until the test process ends.
fn matcher(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Matcher {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler: Arc<Handler> = Arc::new(handler);
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (handler, log) = (Arc::clone(&handler), Arc::clone(&log));
            std::thread::spawn(move || serve(stream, &*handler, &log));
        }
    });
    Matcher { url, seen }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let (mut length, mut authorization) = (0usize, None);
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "authorization" => authorization = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let seen = Seen {
            method,
            path,
            authorization,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        };
        log.lock().unwrap().push(seen.clone());
        let reply = handler(&seen);
        std::thread::sleep(reply.delay);
        let mut out = &stream;
        let head = format!(
            "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            reply.status,
            reply.body.len()
        );
        if out
            .write_all(head.as_bytes())
            .and_then(|()| out.write_all(reply.body.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

fn wire_face(pose: Pose) -> Value {
    let points: Vec<[f32; 2]> = landmarks(pose).iter().map(|p| [p.x, p.y]).collect();
    json!({"box": {"x": 15.0, "y": 10.0, "width": 30.0, "height": 40.0}, "score": 0.93, "landmarks": points})
}

fn engine(url: &str) -> HttpEngine {
    HttpEngine::new(
        url,
        Duration::from_secs(5),
        Some(ApiToken::new("s3cret-token")),
    )
    .unwrap()
}

/// The image a request carried, decoded back from the protocol's base64 RGB8.
fn image_of(request: &Value) -> Image {
    let image = &request["image"];
    assert_eq!(image["format"], "rgb8");
    let rgb = base64::engine::general_purpose::STANDARD
        .decode(image["data_base64"].as_str().unwrap())
        .unwrap();
    Image::new(
        image["width"].as_u64().unwrap() as u32,
        image["height"].as_u64().unwrap() as u32,
        rgb,
    )
    .unwrap()
}

fn sample_face() -> Face {
    Face {
        bbox: BoundingBox {
            x: 1.0,
            y: 2.0,
            width: 30.0,
            height: 40.0,
        },
        score: 0.9,
        landmarks: landmarks(NEUTRAL),
        quality: Quality::default(),
    }
}

#[test]
fn detect_posts_the_image_and_returns_faces_with_68_landmarks_and_local_quality() {
    let m = matcher(|_| ok(json!({"faces": [wire_face(LEFT)]})));
    let image = frame_image(3);
    let faces = engine(&m.url).detect(&image).unwrap();

    assert_eq!(faces.len(), 1);
    let face = &faces[0];
    assert_eq!(
        face.bbox,
        BoundingBox {
            x: 15.0,
            y: 10.0,
            width: 30.0,
            height: 40.0
        }
    );
    assert_eq!(face.score, 0.93);
    assert_eq!(face.landmarks, landmarks(LEFT));
    assert_eq!(face.quality.face_size_px, 40.0);
    assert!(
        face.quality.brightness > 0.0 && face.quality.sharpness > 0.0,
        "{:?}",
        face.quality
    );

    let seen = m.seen.lock().unwrap();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/detect")
    );
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer s3cret-token")
    );
    assert_eq!(image_of(&seen[0].body), image);
}

#[test]
fn an_image_without_faces_gives_an_empty_list() {
    let m = matcher(|_| ok(json!({"faces": []})));
    assert!(engine(&m.url).detect(&frame_image(0)).unwrap().is_empty());
}

#[test]
fn embed_posts_the_face_box_and_landmarks_and_returns_the_vector() {
    let m = matcher(|_| ok(json!({"embedding": [0.25, -0.5, 1.0]})));
    let face = sample_face();
    let embedding = engine(&m.url).embed(&frame_image(1), &face).unwrap();
    assert_eq!(embedding, Embedding(vec![0.25, -0.5, 1.0]));

    let seen = m.seen.lock().unwrap();
    assert_eq!(seen[0].path, "/embed");
    assert_eq!(
        seen[0].body["face"]["box"],
        json!({"x": 1.0, "y": 2.0, "width": 30.0, "height": 40.0})
    );
    let sent = seen[0].body["face"]["landmarks"].as_array().unwrap();
    assert_eq!(sent.len(), 68);
    assert_eq!(
        sent[30],
        json!([face.landmarks[30].x, face.landmarks[30].y])
    );
    assert_eq!(image_of(&seen[0].body), frame_image(1));
}

#[test]
fn without_a_token_no_authorization_header_is_sent() {
    let m = matcher(|_| ok(json!({"faces": []})));
    let engine = HttpEngine::new(&format!("{}/", m.url), Duration::from_secs(5), None).unwrap();
    engine.detect(&frame_image(0)).unwrap();
    assert_eq!(m.seen.lock().unwrap()[0].authorization, None);
}

#[test]
fn compare_is_local_l2_distance() {
    let engine = engine("http://127.0.0.1:9");
    let s = engine.compare(&Embedding(vec![0.0, 0.0]), &Embedding(vec![0.3, 0.4]));
    assert!((s.distance - 0.5).abs() < 1e-6);
    assert!((s.score - 0.75).abs() < 1e-6);
    assert_eq!(
        engine
            .compare(&Embedding(vec![0.0]), &Embedding(vec![0.0, 1.0]))
            .distance,
        f32::INFINITY
    );
}

#[test]
fn a_slow_matcher_times_out_with_the_configured_limit() {
    let m = matcher(|_| Reply {
        status: 200,
        body: json!({"faces": []}).to_string(),
        delay: Duration::from_secs(3),
    });
    let engine = HttpEngine::new(&m.url, Duration::from_millis(300), None).unwrap();
    // Had the limit not applied, the reply would have come (after 3 s) and detect succeeded.
    let err = engine.detect(&frame_image(0)).unwrap_err();
    assert!(
        matches!(
            err,
            FaceError::HttpTimeout {
                endpoint: "/detect",
                timeout_ms: 300
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_server_error_reports_status_and_the_matchers_error_code() {
    let m = matcher(|_| Reply {
        status: 503,
        body: json!({"error": {"code": "model_loading", "message": "warming up"}}).to_string(),
        delay: Duration::ZERO,
    });
    let err = engine(&m.url).detect(&frame_image(0)).unwrap_err();
    assert!(
        matches!(&err, FaceError::HttpStatus { endpoint: "/detect", status: 503, code: Some(c) } if c == "model_loading"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "face matcher at /detect answered HTTP 503 (model_loading)"
    );
}

#[test]
fn an_error_body_that_is_not_the_protocols_gives_the_status_alone() {
    let m = matcher(|_| Reply {
        status: 500,
        body: "<html>Internal error for Jane Doe</html>".into(),
        delay: Duration::ZERO,
    });
    let err = engine(&m.url)
        .embed(&frame_image(0), &sample_face())
        .unwrap_err();
    assert!(
        matches!(
            err,
            FaceError::HttpStatus {
                endpoint: "/embed",
                status: 500,
                code: None
            }
        ),
        "{err:?}"
    );
}

#[test]
fn an_error_code_with_unexpected_characters_is_dropped() {
    let m = matcher(|_| Reply {
        status: 422,
        body: json!({"error": {"code": "Bad face of Jane Doe"}}).to_string(),
        delay: Duration::ZERO,
    });
    let err = engine(&m.url).detect(&frame_image(0)).unwrap_err();
    assert!(
        matches!(
            err,
            FaceError::HttpStatus {
                status: 422,
                code: None,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_success_with_invalid_json_is_malformed() {
    let m = matcher(|_| Reply {
        status: 200,
        body: "{\"faces\": [".into(),
        delay: Duration::ZERO,
    });
    let err = engine(&m.url).detect(&frame_image(0)).unwrap_err();
    assert!(
        matches!(
            err,
            FaceError::HttpMalformed {
                endpoint: "/detect",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_success_missing_the_faces_field_is_malformed() {
    let m = matcher(|_| ok(json!({"detections": []})));
    let err = engine(&m.url).detect(&frame_image(0)).unwrap_err();
    assert!(
        matches!(
            err,
            FaceError::HttpMalformed {
                endpoint: "/detect",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_face_without_68_landmarks_is_malformed() {
    let m = matcher(|_| {
        let mut face = wire_face(NEUTRAL);
        face["landmarks"].as_array_mut().unwrap().truncate(5);
        ok(json!({"faces": [face]}))
    });
    let err = engine(&m.url).detect(&frame_image(0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "face matcher at /detect sent a malformed response: face has 5 landmarks, the protocol requires 68"
    );
}

#[test]
fn a_face_box_of_negative_size_is_malformed() {
    let m = matcher(|_| {
        let mut face = wire_face(NEUTRAL);
        face["box"]["width"] = json!(-3.0);
        ok(json!({"faces": [face]}))
    });
    assert!(matches!(
        engine(&m.url).detect(&frame_image(0)),
        Err(FaceError::HttpMalformed { .. })
    ));
}

#[test]
fn a_score_outside_zero_to_one_is_malformed() {
    let m = matcher(|_| {
        let mut face = wire_face(NEUTRAL);
        face["score"] = json!(7.5);
        ok(json!({"faces": [face]}))
    });
    assert!(matches!(
        engine(&m.url).detect(&frame_image(0)),
        Err(FaceError::HttpMalformed { .. })
    ));
}

#[test]
fn too_many_faces_are_malformed() {
    let m = matcher(|_| ok(json!({"faces": vec![wire_face(NEUTRAL); 65]})));
    assert!(matches!(
        engine(&m.url).detect(&frame_image(0)),
        Err(FaceError::HttpMalformed { .. })
    ));
}

#[test]
fn an_empty_embedding_is_malformed() {
    let m = matcher(|_| ok(json!({"embedding": []})));
    let err = engine(&m.url)
        .embed(&frame_image(0), &sample_face())
        .unwrap_err();
    assert!(
        matches!(
            err,
            FaceError::HttpMalformed {
                endpoint: "/embed",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_response_larger_than_the_cap_is_malformed() {
    let m = matcher(|_| ok(json!({"embedding": vec![0.123_456_78f32; 100_000]})));
    let err = engine(&m.url)
        .embed(&frame_image(0), &sample_face())
        .unwrap_err();
    assert!(
        matches!(
            err,
            FaceError::HttpMalformed {
                endpoint: "/embed",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn embedding_a_face_without_landmarks_fails_before_any_request() {
    let m = matcher(|_| ok(json!({"embedding": [1.0]})));
    let face = Face {
        landmarks: vec![],
        ..sample_face()
    };
    let err = engine(&m.url).embed(&frame_image(0), &face).unwrap_err();
    assert!(matches!(
        err,
        FaceError::LandmarkCount {
            expected: 68,
            found: 0
        }
    ));
    assert!(m.seen.lock().unwrap().is_empty());
}

#[test]
fn an_unreachable_matcher_is_a_transport_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = engine(&format!("http://127.0.0.1:{port}"))
        .detect(&frame_image(0))
        .unwrap_err();
    assert!(
        matches!(
            err,
            FaceError::HttpTransport {
                endpoint: "/detect",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn malformed_base_urls_and_timeouts_are_configuration_errors() {
    let second = Duration::from_secs(1);
    for url in [
        "ftp://matcher",
        "matcher:8080",
        "http://",
        "http:///detect",
        "http://m/x?y=1",
    ] {
        assert!(
            matches!(
                HttpEngine::new(url, second, None),
                Err(FaceError::Config { .. })
            ),
            "{url}"
        );
    }
    assert!(HttpEngine::new("http://m", Duration::ZERO, None).is_err());
    assert!(HttpEngine::new("http://m", Duration::from_secs(301), None).is_err());
    assert!(HttpEngine::new("https://matcher.internal:8443/v1", second, None).is_ok());
}

#[test]
fn the_token_is_redacted_in_debug_output() {
    let engine = engine("http://127.0.0.1:9");
    assert!(!format!("{engine:?}").contains("s3cret"));
}

/// A matcher that answers from the frame index each image carries, like a real one would from
/// the pixels: poses for `/detect`, one identity for `/embed` except where `impostor` says.
fn scripted_matcher(poses: Vec<Pose>, impostor: Option<usize>) -> Matcher {
    matcher(move |seen| {
        let index = frame_index(&image_of(&seen.body));
        match seen.path.as_str() {
            "/detect" => ok(json!({"faces": [wire_face(poses[index])]})),
            _ => {
                let mut v = vec![0.0f32; 128];
                v[usize::from(impostor == Some(index))] = 1.0;
                ok(json!({"embedding": v}))
            }
        }
    })
}

fn burst(count: usize) -> (Challenge, Burst) {
    let issued = 1_700_000_000_000;
    let challenge = Challenge {
        actions: vec![Action::TurnRight, Action::TurnLeft],
        nonce: Nonce([5; 16]),
        issued_at_ms: issued,
        expires_at_ms: issued + 60_000,
    };
    let frames: Vec<Frame> = (0..count)
        .map(|i| Frame {
            image: frame_image(i),
            captured_at_ms: issued + 1_000 + 200 * i as u64,
            sequence: Some(i as u64),
        })
        .collect();
    let received = issued + 10_000;
    (
        challenge,
        Burst {
            nonce: Nonce([5; 16]),
            received_at_ms: received,
            frames,
        },
    )
}

#[test]
fn liveness_runs_locally_over_the_matchers_detections() {
    let m = scripted_matcher(vec![NEUTRAL, RIGHT, NEUTRAL, LEFT, NEUTRAL], None);
    let (challenge, burst) = burst(5);
    let verdict = engine(&m.url)
        .liveness(&challenge, &burst, &LivenessPolicy::default())
        .unwrap();
    assert!(verdict.live, "{:?}", verdict.reasons);
    assert_eq!(verdict.reference_frame, Some(0));
    let seen = m.seen.lock().unwrap();
    assert_eq!(seen.iter().filter(|s| s.path == "/detect").count(), 5);
    assert!(seen.iter().any(|s| s.path == "/embed"));
}

#[test]
fn liveness_over_http_refuses_an_identity_swap() {
    let m = scripted_matcher(vec![NEUTRAL, RIGHT, NEUTRAL, LEFT, NEUTRAL], Some(3));
    let (challenge, burst) = burst(5);
    let verdict = engine(&m.url)
        .liveness(&challenge, &burst, &LivenessPolicy::default())
        .unwrap();
    assert_eq!(
        verdict.reasons,
        [LivenessReason::IdentityChanged {
            frame: 3,
            reference_frame: 0
        }]
    );
}
