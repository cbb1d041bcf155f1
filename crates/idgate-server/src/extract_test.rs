use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Body {
    name: String,
    count: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Query {
    limit: Option<String>,
}

fn message(error: ApiError) -> String {
    let response = axum::response::IntoResponse::into_response(error);
    response
        .extensions()
        .get::<crate::error::PendingError>()
        .map(|p| p.error.message.to_string())
        .unwrap_or_default()
}

#[test]
fn a_mistyped_field_is_named_in_the_message() {
    let error = parse_json::<Body>(br#"{"name":"a","count":"x"}"#).unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidRequest);
    let text = message(error);
    assert!(text.starts_with("Invalid `count`:"), "{text}");
    assert!(!text.contains("line"), "{text}");
}

#[test]
fn an_unknown_field_is_named_in_the_message() {
    let text = message(parse_json::<Body>(br#"{"name":"a","colour":1}"#).unwrap_err());
    assert!(text.contains("colour"), "{text}");
}

#[test]
fn malformed_json_and_trailing_data_are_rejected() {
    for raw in [&b"{"[..], b"{\"name\":\"a\"} x", b"\xff"] {
        assert_eq!(
            message(parse_json::<Body>(raw).unwrap_err()),
            "Invalid request body: malformed JSON."
        );
    }
}

#[test]
fn an_array_body_is_refused_instead_of_filling_fields_in_order() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Optional {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        count: Option<u32>,
    }
    assert_eq!(
        message(parse_json::<Optional>(b" [null, null]").unwrap_err()),
        "Invalid request body: must be a JSON object."
    );
}

#[test]
fn a_number_beyond_any_json_number_names_its_field() {
    let text = message(parse_json::<Body>(br#"{"name":"a","count":1e400}"#).unwrap_err());
    assert!(
        text.contains("`count`") && text.contains("out of range"),
        "{text}"
    );
}

#[test]
fn json_content_types_include_parameters_and_suffixes() {
    let mut headers = HeaderMap::new();
    for (value, ok) in [
        ("application/json", true),
        ("application/json; charset=utf-8", true),
        ("Application/JSON", true),
        ("application/vnd.api+json", true),
        ("text/plain", false),
        ("application/jsonx", false),
    ] {
        headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
        assert_eq!(require_json_content_type(&headers).is_ok(), ok, "{value}");
    }
    headers.remove(header::CONTENT_TYPE);
    assert_eq!(
        require_json_content_type(&headers).unwrap_err().code(),
        ErrorCode::UnsupportedMediaType
    );
}

#[test]
fn repeated_and_unknown_query_parameters_are_named() {
    assert_eq!(
        message(parse_query::<Query>("limit=1&limit=2").unwrap_err()),
        "Invalid `limit`: must be given at most once."
    );
    assert!(message(parse_query::<Query>("lmit=1").unwrap_err()).contains("`lmit`"));
    assert!(parse_query::<Query>("limit=5").is_ok());
    assert!(parse_query::<Query>("").is_ok());
}
