//! Malformed input never breaks the wire contract (docs/api.md "Errors": *every* error is the
//! `{data: null, error: {code, message, hint, docs}}` envelope with `application/json`, and a 500
//! only ever means a server fault). Property tests throw generated query strings, path ids,
//! `Authorization` / `Content-Type` / `Idempotency-Key` headers and bodies (wrong types, huge
//! numbers, invalid UTF-8, arbitrary bytes) at a running server on every backend; fixed tests
//! cover 10 000-level JSON nesting and bodies at, just under and over the 64 KiB limit.
//!
//! Each property runs a modest, deterministic number of cases per backend so the suite stays
//! fast; the generator is seeded so a failure replays identically.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use reqwest::StatusCode;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use idgate_server::testing::backends;

use crate::support::*;

const CASES: u32 = 128;

/// One generated request. `auth` is `None` for no header, `Some(None)` for the app's valid key.
#[derive(Debug, Clone)]
struct Probe {
    method: Method,
    path: String,
    auth: Option<Option<Vec<u8>>>,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Option<Vec<u8>>,
    /// Statuses this probe may legitimately get; empty means any non-500.
    allowed: &'static [u16],
}

/// Sends `probe` and checks the answer is a success body or the error envelope, never a 500.
async fn send_and_check(app: &TestApp, probe: &Probe) -> Result<StatusCode, String> {
    let mut request = app
        .client
        .request(probe.method.clone(), app.url(&probe.path));
    match &probe.auth {
        None => {}
        Some(None) => request = request.bearer_auth(&app.key),
        Some(Some(raw)) => request = request.header("authorization", header_value(raw)?),
    }
    for (name, value) in &probe.headers {
        request = request.header(HeaderName::from_static(name), header_value(value)?);
    }
    if let Some(body) = &probe.body {
        request = request.body(body.clone());
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.bytes().await.map_err(|e| format!("body: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        return Err(format!("500 for {probe:?}: {text}"));
    }
    if !probe.allowed.is_empty() && !probe.allowed.contains(&status.as_u16()) {
        return Err(format!("unexpected {status} for {probe:?}: {text}"));
    }
    if status == StatusCode::NO_CONTENT {
        return if bytes.is_empty() {
            Ok(status)
        } else {
            Err(format!("204 with a body: {text}"))
        };
    }
    if !content_type.starts_with("application/json") {
        return Err(format!(
            "{status} with content type {content_type:?}: {text}"
        ));
    }
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{status}: body is not JSON ({e}): {text}"))?;
    if status.is_success() {
        if body["error"].is_null() && body.get("data").is_some_and(|d| !d.is_null()) {
            return Ok(status);
        }
        return Err(format!("{status}: not a success envelope: {body}"));
    }
    envelope_error(&body).map(|()| status)
}

/// The error envelope of docs/api.md "Errors": `data` null, four strings, `docs` pointing at the
/// code.
fn envelope_error(body: &Value) -> Result<(), String> {
    let error = &body["error"];
    let fields_ok = body.get("data") == Some(&Value::Null)
        && ["code", "message", "hint", "docs"]
            .iter()
            .all(|f| error[f].is_string());
    let code = error["code"].as_str().unwrap_or_default().to_lowercase();
    let docs_ok = error["docs"]
        .as_str()
        .is_some_and(|d| d.ends_with(&format!("/errors#{code}")));
    if fields_ok && docs_ok && !code.is_empty() {
        Ok(())
    } else {
        Err(format!("not the error envelope: {body}"))
    }
}

fn header_value(raw: &[u8]) -> Result<HeaderValue, String> {
    HeaderValue::from_bytes(raw).map_err(|e| format!("generator made an unsendable header: {e}"))
}

/// Runs `strategy` for [`CASES`] cases against a fresh app per backend. In each probe the
/// placeholders `{session}` and `{key_id}` (path) become a real session and a real spare key of
/// the test organization, and `{secret}` (Authorization) the app's valid key.
fn check_property<S>(strategy: S)
where
    S: Strategy<Value = Probe>,
{
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for backend in backends() {
        eprintln!("--- backend: {backend:?}");
        let app = runtime.block_on(TestAppBuilder::default().spawn(backend));
        let (session, key_id) = runtime.block_on(placeholder_objects(&app));
        let config = Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
        let result = runner.run(&strategy, |mut probe| {
            probe.path = probe
                .path
                .replace("{session}", &session)
                .replace("{key_id}", &key_id);
            if let Some(Some(raw)) = &mut probe.auth
                && let Ok(text) = std::str::from_utf8(raw)
                && text.contains("{secret}")
            {
                *raw = text.replace("{secret}", &app.key).into_bytes();
            }
            runtime
                .block_on(send_and_check(&app, &probe))
                .map(|_| ())
                .map_err(TestCaseError::fail)
        });
        if let Err(failure) = result {
            panic!("{backend:?}: {failure}");
        }
        runtime.block_on(app.shutdown());
    }
}

/// A session, and a spare key the body property may rename, rescope or disable without
/// locking the probes out.
async fn placeholder_objects(app: &TestApp) -> (String, String) {
    let session = id_of(&create_session(app, None).await);
    let (status, body) = json(
        app.request(Method::POST, "/v1/api-keys")
            .json(&json!({"name": "spare", "scopes": ["sessions:read"]}))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        session,
        body["data"]["id"].as_str().expect("key id").to_owned(),
    )
}

// ---- generators ------------------------------------------------------------------------------

/// Bytes allowed in an HTTP header value: visible ASCII, space, tab and obs-text (RFC 9110 §5.5).
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            8 => 0x20u8..=0x7e,
            1 => Just(b'\t'),
            2 => 0x80u8..=0xff,
        ],
        0..max,
    )
}

/// `%XX` escapes of arbitrary bytes: invalid UTF-8, NULs and separators once decoded.
fn percent_encoded() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..24)
        .prop_map(|bytes| bytes.iter().map(|b| format!("%{b:02X}")).collect())
}

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        "-?[0-9]{1,40}",
        "-?[0-9]{1,5}(\\.[0-9]{0,5})?[eE][+-]?[0-9]{1,4}",
        percent_encoded(),
        "(created|in_progress|succeeded|failed|expired|cancelled|CREATED|)",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2}|)",
        "vs_[A-Za-z0-9]{60,68}",
    ]
}

fn query_string() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        4 => "(limit|status|created_from|created_to|starting_after)",
        1 => "[a-z_\\[\\]%0-9]{0,12}",
    ];
    let pair = prop_oneof![
        6 => (key.clone(), query_value()).prop_map(|(k, v)| format!("{k}={v}")),
        1 => key.prop_map(|k| k.to_string()),
        1 => Just("==&&=".to_owned()),
    ];
    prop::collection::vec(pair, 0..6).prop_map(|pairs| pairs.join("&"))
}

fn list_path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/v1/sessions".to_owned()),
        Just("/v1/api-keys".to_owned()),
        Just("/v1/sessions/{session}/attempts".to_owned()),
        "[A-Za-z0-9_%.~-]{0,80}".prop_map(|id| format!("/v1/sessions/{id}/attempts")),
        percent_encoded().prop_map(|id| format!("/v1/sessions/{id}")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        "(https?|ftp|javascript)://[a-z.]{0,20}(:[0-9]{1,6})?/.{0,20}".prop_map(Value::String),
        "whe_[A-Za-z0-9]{60,66}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects with the real field names of the create/key bodies holding values of any type.
fn body_with_known_fields() -> impl Strategy<Value = Vec<u8>> {
    let field = "(redirect_url|share_fields|webhook_endpoint_id|expires_in|metadata|name|scopes|environment|enabled|given_names|age_over_18|required|reason)";
    prop::collection::btree_map(field, json_value(), 0..5).prop_map(|m| {
        serde_json::to_vec(&Value::Object(m.into_iter().collect())).expect("serializes")
    })
}

/// JSON texts serde cannot hold in the target types: out-of-range and odd number literals.
fn odd_number_bodies() -> impl Strategy<Value = Vec<u8>> {
    let literal = prop_oneof![
        Just("1e400".to_owned()),
        Just("-1e400".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("-9223372036854775809".to_owned()),
        Just("99999999999999999999999999999999999999999".to_owned()),
        Just("1.5".to_owned()),
        Just("-0".to_owned()),
        Just("0.0000000000000000000000001".to_owned()),
        Just("NaN".to_owned()),
        Just("Infinity".to_owned()),
        "-?[0-9]{1,30}(\\.[0-9]{1,30})?([eE][+-]?[0-9]{1,5})?",
    ];
    let field = "(expires_in|redirect_url|metadata|share_fields|enabled|scopes)";
    (field, literal).prop_map(|(f, l)| format!("{{\"{f}\":{l}}}").into_bytes())
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => json_value().prop_map(|v| serde_json::to_vec(&v).expect("serializes")),
        4 => body_with_known_fields(),
        2 => odd_number_bodies(),
        2 => prop::collection::vec(any::<u8>(), 0..256),
        // Valid JSON around invalid UTF-8 inside a string.
        1 => prop::collection::vec(0x80u8..=0xff, 1..16).prop_map(|bad| {
            let mut body = b"{\"metadata\":{\"k\":\"".to_vec();
            body.extend(bad);
            body.extend(b"\"}}");
            body
        }),
    ]
}

// ---- properties ------------------------------------------------------------------------------

#[test]
fn generated_query_strings_and_path_ids_get_a_success_or_the_envelope() {
    let strategy = (list_path(), query_string()).prop_map(|(path, query)| Probe {
        method: Method::GET,
        path: format!("{path}?{query}"),
        auth: Some(None),
        headers: Vec::new(),
        body: None,
        allowed: &[200, 400, 404],
    });
    check_property(strategy);
}

#[test]
fn generated_authorization_headers_get_200_or_401_envelopes() {
    let auth = prop_oneof![
        1 => Just(None),
        1 => Just(Some(None)),
        2 => "(Bearer|bearer|BEARER|Basic|Token|) ?kk_(live|test)_[A-Za-z0-9]{38,42}"
            .prop_map(|s| Some(Some(s.into_bytes()))),
        1 => "( |\t)?Bearer( |  |\t)\\{secret\\}( |\t)?".prop_map(|s| Some(Some(s.into_bytes()))),
        2 => header_bytes(200).prop_map(|b| Some(Some(b))),
        1 => header_bytes(120).prop_map(|b| {
            let mut value = b"Bearer ".to_vec();
            value.extend(b);
            Some(Some(value))
        }),
        1 => (1usize..8192).prop_map(|n| Some(Some(format!("Bearer {}", "k".repeat(n)).into_bytes()))),
    ];
    let route = prop_oneof![
        Just((Method::GET, "/v1/sessions")),
        Just((Method::POST, "/v1/sessions")),
        Just((Method::GET, "/v1/api-keys")),
    ];
    let strategy = (auth, route).prop_map(|(auth, (method, path))| Probe {
        method,
        path: path.to_owned(),
        auth,
        headers: Vec::new(),
        body: None,
        allowed: &[200, 401],
    });
    check_property(strategy);
}

#[test]
fn generated_content_types_and_idempotency_keys_get_a_success_or_the_envelope() {
    let content_type = prop::option::of(prop_oneof![
        Just(b"application/json".to_vec()),
        Just(b"application/json; charset=utf-8".to_vec()),
        Just(b"APPLICATION/JSON".to_vec()),
        Just(b"application/json; charset=latin1".to_vec()),
        Just(b"text/plain".to_vec()),
        Just(b"application/x-www-form-urlencoded".to_vec()),
        Just(b"multipart/form-data; boundary=x".to_vec()),
        Just(b"application/vnd.api+json".to_vec()),
        header_bytes(60),
    ]);
    let idempotency_key = prop::option::of(prop_oneof![
        "[A-Za-z0-9-]{1,64}".prop_map(String::into_bytes),
        "[ -~]{250,260}".prop_map(String::into_bytes),
        Just(Vec::new()),
        header_bytes(300),
    ]);
    let body = prop::option::of(prop_oneof![
        Just(b"{}".to_vec()),
        Just(b"".to_vec()),
        Just(b"null".to_vec()),
        Just(b"[]".to_vec()),
        Just(br#"{"expires_in":300}"#.to_vec()),
        Just(b"expires_in=300".to_vec()),
    ]);
    let strategy = (content_type, idempotency_key, body).prop_map(|(ct, key, body)| {
        let mut headers = Vec::new();
        if let Some(ct) = ct {
            headers.push(("content-type", ct));
        }
        if let Some(key) = key {
            headers.push(("idempotency-key", key));
        }
        Probe {
            method: Method::POST,
            path: "/v1/sessions".to_owned(),
            auth: Some(None),
            headers,
            body,
            allowed: &[200, 400, 409, 415],
        }
    });
    check_property(strategy);
}

#[test]
fn generated_bodies_get_a_success_or_the_envelope() {
    let route = prop_oneof![
        Just((Method::POST, "/v1/sessions")),
        Just((Method::POST, "/v1/api-keys")),
        Just((Method::PATCH, "/v1/api-keys/{key_id}")),
    ];
    let strategy = (route, body_bytes()).prop_map(|((method, path), body)| Probe {
        method,
        path: path.to_owned(),
        auth: Some(None),
        headers: vec![("content-type", b"application/json".to_vec())],
        body: Some(body),
        allowed: &[200, 400, 403],
    });
    check_property(strategy);
}

// ---- fixed cases -----------------------------------------------------------------------------

async fn post_raw(app: &TestApp, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
    json(
        app.request(Method::POST, path)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn json_nested_ten_thousand_levels_deep_is_invalid_request() {
    on_each_backend(|app| async move {
        let depth = 10_000;
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let in_metadata = format!(
            "{{\"metadata\":{}\"x\"{}}}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        );
        for body in [arrays, objects, in_metadata] {
            for path in ["/v1/sessions", "/v1/api-keys"] {
                let (status, reply) = post_raw(&app, path, body.clone().into_bytes()).await;
                assert_eq!(
                    (status, error_code(&reply).as_str()),
                    (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
                    "{path}: {reply}"
                );
            }
        }
    })
    .await;
}

/// A create body of exactly `size` bytes whose only flaw is a too-long metadata value.
fn body_of_size(size: usize) -> Vec<u8> {
    let frame = br#"{"metadata":{"k":""}}"#.len();
    let body = format!(r#"{{"metadata":{{"k":"{}"}}}}"#, "v".repeat(size - frame));
    assert_eq!(body.len(), size);
    body.into_bytes()
}

#[tokio::test]
async fn bodies_up_to_64_kib_are_read_and_larger_ones_are_payload_too_large() {
    on_each_backend(|app| async move {
        for size in [64 * 1024 - 1, 64 * 1024] {
            let (status, reply) = post_raw(&app, "/v1/sessions", body_of_size(size)).await;
            assert_eq!(
                (status, error_code(&reply).as_str()),
                (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
                "{size} bytes are read and validated (the value is too long): {reply}"
            );
        }
        for size in [64 * 1024 + 1, 1024 * 1024] {
            let (status, reply) = post_raw(&app, "/v1/sessions", body_of_size(size)).await;
            assert_eq!(
                (status, error_code(&reply).as_str()),
                (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
                "{size} bytes"
            );
        }
    })
    .await;
}

/// Sends a chunked request over a raw connection (the HTTP client of the tests cannot stream a
/// body) and returns the status and the parsed JSON body of the answer.
async fn post_chunked(app: &TestApp, path: &str, body: &[u8], chunk: usize) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.key
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    for data in body.chunks(chunk) {
        // The server may answer and close before it has read everything.
        if stream
            .write_all(format!("{:x}\r\n", data.len()).as_bytes())
            .await
            .is_err()
            || stream.write_all(data).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("a complete response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let body = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (status, body)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

#[tokio::test]
async fn a_chunked_body_over_64_kib_without_a_length_is_payload_too_large() {
    on_each_backend(|app| async move {
        let big = vec![b' '; 64 * 1024 + 1];
        let (status, reply) = post_chunked(&app, "/v1/sessions", &big, 4096).await;
        assert_eq!(
            (status, error_code(&reply).as_str()),
            (413, "PAYLOAD_TOO_LARGE"),
            "{reply}"
        );
        let small = br#"{"metadata":{"via":"chunks"}}"#;
        let (status, reply) = post_chunked(&app, "/v1/sessions", small, 5).await;
        assert_eq!(status, 200, "a small chunked body is read: {reply}");
    })
    .await;
}

#[tokio::test]
async fn out_of_range_numbers_are_invalid_request_naming_the_field() {
    on_each_backend(|app| async move {
        for literal in [
            "1e400",
            "18446744073709551616",
            "-1",
            "1.5",
            "299",
            "86401",
            "\"3600\"",
        ] {
            let body = format!("{{\"expires_in\":{literal}}}");
            let (status, reply) = post_raw(&app, "/v1/sessions", body.into_bytes()).await;
            assert_eq!(
                (status, error_code(&reply).as_str()),
                (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
                "{literal}: {reply}"
            );
            assert!(
                reply["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("expires_in"),
                "{literal}: {reply}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn invalid_utf8_in_a_body_is_invalid_request() {
    on_each_backend(|app| async move {
        for body in [
            b"{\"metadata\":{\"k\":\"\xff\xfe\"}}".to_vec(),
            b"\xef\xbb\xbf{}".to_vec(),
            b"{\"redirect_url\":\"https://example.com/\xc3\x28\"}".to_vec(),
        ] {
            let (status, reply) = post_raw(&app, "/v1/sessions", body).await;
            assert_eq!(
                (status, error_code(&reply).as_str()),
                (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
                "{reply}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn the_probe_check_rejects_what_is_not_the_contract() {
    on_each_backend(|app| async move {
        let probe = |path: &str, allowed: &'static [u16]| Probe {
            method: Method::GET,
            path: path.to_owned(),
            auth: Some(None),
            headers: Vec::new(),
            body: None,
            allowed,
        };
        assert!(
            send_and_check(&app, &probe("/v1/sessions", &[]))
                .await
                .is_ok()
        );
        let html = send_and_check(&app, &probe("/docs/", &[])).await;
        assert!(
            html.is_err_and(|e| e.contains("content type")),
            "an HTML page is not JSON"
        );
        let status = send_and_check(&app, &probe("/v1/sessions", &[401])).await;
        assert!(status.is_err_and(|e| e.contains("unexpected 200")));
    })
    .await;
    assert!(envelope_error(&json!({"data": null, "error": {"code": "X"}})).is_err());
    assert!(
        envelope_error(
            &json!({"error": {"code": "NOT_FOUND", "message": "m", "hint": "h",
        "docs": "https://x/docs/errors#not_found"}})
        )
        .is_err(),
        "data must be present and null"
    );
    assert!(
        envelope_error(
            &json!({"data": null, "error": {"code": "NOT_FOUND", "message": "m",
        "hint": "h", "docs": "https://x/docs/errors#other"}})
        )
        .is_err(),
        "docs names the code"
    );
    assert!(
        envelope_error(
            &json!({"data": null, "error": {"code": "NOT_FOUND", "message": "m",
        "hint": "h", "docs": "https://x/docs/errors#not_found"}})
        )
        .is_ok()
    );
}
