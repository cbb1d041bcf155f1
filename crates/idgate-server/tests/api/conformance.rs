//! Conformance to the seed pages: the OpenAPI YAML of `shared/seeds/000` (cancel), `002` (get)
//! and `004` (list) is parsed at test time, and real responses of a running server — on every
//! backend — are validated against the response schema the seed gives for their status: every
//! field, type, enum, range, pattern, format and required key (docs/api.md, introduction: the seeds
//! are the binding wire contract).
//!
//! Reachable statuses: `200`, `204`, `404` directly; `500` by closing the store's connection
//! pool under a running server (a database outage), which every route reports as the opaque 500.
//!
//! The validator below implements the subset of JSON Schema 2020-12 / OpenAPI 3.1 the seeds use
//! and *refuses* any keyword it does not implement, so a seed change can never be silently
//! ignored. Two readings are deliberate and explained where they are applied:
//! - an `enum` next to `type: [..., 'null']` admits `null` (the seeds' nullable `failure_code`
//!   says "Null in any other state"; strict 2020-12 would reject `null` there);
//! - the 500 schemas pin `docs` to the seed vendor's URL; docs/api.md "Errors" makes `docs` our own
//!   `<docs base>/errors#<code>`, so that one `enum` is replaced by our URL before validation.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use idgate_core::{AttemptPhase, Clock, FailureCode, SessionId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

// ---- the seeds -------------------------------------------------------------------------------

const SEEDS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/seeds");

/// The seed vendor's docs URL that the 500 schemas pin (replaced by ours, see the module doc).
const SEED_500_DOCS: &str = "https://kayle.id/docs/api/errors";

/// One seed page: the OpenAPI document of one operation.
struct Seed {
    file: PathBuf,
    method: String,
    path: String,
    doc: Value,
}

struct Seeds {
    cancel: Seed,
    get: Seed,
    list: Seed,
}

/// The three seed pages, parsed once; `None` (with a "skipped" line) when the directory is absent.
fn seeds() -> Option<&'static Seeds> {
    static SEEDS: OnceLock<Option<Seeds>> = OnceLock::new();
    SEEDS
        .get_or_init(|| {
            let dir = Path::new(SEEDS_DIR);
            // An absent directory and one without the pages (an empty mount, a partial copy)
            // are the same missing prerequisite.
            let pages = ["000_", "002_", "004_"].map(|prefix| seed_page(dir, prefix));
            let [Some(cancel), Some(get), Some(list)] = pages else {
                idgate_testkit::missing(
                    idgate_testkit::Prereq::Seeds,
                    format!("{SEEDS_DIR} does not hold the seed pages 000_, 002_ and 004_"),
                );
                return None;
            };
            Some(Seeds {
                cancel: load_seed(cancel),
                get: load_seed(get),
                list: load_seed(list),
            })
        })
        .as_ref()
}

/// The seed page `<prefix>*.txt` of `dir`, if there is one.
fn seed_page(dir: &Path, prefix: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix) && name.ends_with(".txt"))
        })
}

fn load_seed(file: PathBuf) -> Seed {
    let text = std::fs::read_to_string(&file).expect("read a seed page");
    let (method, path, yaml) =
        yaml_block(&text).unwrap_or_else(|| panic!("{}: no ````yaml block", file.display()));
    let doc: Value = serde_yaml_ng::from_str(&yaml)
        .unwrap_or_else(|e| panic!("{}: YAML does not parse: {e}", file.display()));
    assert!(
        doc["paths"][&path][&method].is_object(),
        "{}: the block header names {method} {path}, which the document does not define",
        file.display()
    );
    Seed {
        file,
        method,
        path,
        doc,
    }
}

/// The fenced block of a seed page: its header line (```` ````yaml <source> <method> <path>````)
/// and the YAML up to the closing fence.
fn yaml_block(text: &str) -> Option<(String, String, String)> {
    let mut lines = text.lines();
    let header = lines.find(|line| line.starts_with("````yaml"))?;
    let mut words = header.split_whitespace().rev();
    let path = words.next()?.to_owned();
    let method = words.next()?.to_lowercase();
    let yaml: Vec<&str> = lines.take_while(|line| !line.starts_with("````")).collect();
    Some((method, path, yaml.join("\n")))
}

impl Seed {
    fn operation(&self) -> &Value {
        &self.doc["paths"][&self.path][&self.method]
    }

    fn documented_statuses(&self) -> Vec<String> {
        self.operation()["responses"]
            .as_object()
            .map(|responses| responses.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The JSON schema of the response with `status`, or `None` for a body-less response.
    /// Panics if the seed does not document `status` for this operation at all.
    fn response_schema(&self, status: StatusCode) -> Option<Value> {
        let response = &self.operation()["responses"][status.as_str()];
        assert!(
            response.is_object(),
            "{}: {} {} does not document status {status} (documented: {:?})",
            self.file.display(),
            self.method,
            self.path,
            self.documented_statuses()
        );
        response
            .get("content")
            .map(|content| content["application/json"]["schema"].clone())
    }

    /// The schema of the parameter `name` (path or query).
    fn parameter_schema(&self, name: &str) -> Value {
        self.operation()["parameters"]
            .as_array()
            .and_then(|params| params.iter().find(|p| p["name"] == name))
            .map(|p| p["schema"].clone())
            .unwrap_or_else(|| panic!("{}: no parameter {name}", self.file.display()))
    }

    /// Validates `value` against `schema`, resolving `$ref`s in this seed's document.
    fn check(&self, schema: &Value, value: &Value) -> Vec<String> {
        validate(&self.doc, schema, value)
    }

    /// Asserts that `response` has the expected status, that the seed documents it and that the
    /// body is exactly what the seed says for it; returns the body (`Null` if none).
    async fn assert_conforms(
        &self,
        app: &TestApp,
        response: reqwest::Response,
        expected: StatusCode,
    ) -> Value {
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.bytes().await.expect("response body");
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(status, expected, "{text}");
        let Some(mut schema) = self.response_schema(status) else {
            assert!(
                bytes.is_empty(),
                "{status} has no content in the seed, got {text}"
            );
            return Value::Null;
        };
        assert!(
            content_type.starts_with("application/json"),
            "{status}: content type {content_type:?}"
        );
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            substitute_our_docs_url(&mut schema, &internal_error_docs(app));
        }
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text}"));
        let errors = self.check(&schema, &body);
        assert!(
            errors.is_empty(),
            "{} {} {status} violates {}:\n  {}\nbody: {body}",
            self.method.to_uppercase(),
            self.path,
            self.file.display(),
            errors.join("\n  ")
        );
        body
    }
}

/// docs/api.md "Errors": `docs` is `<docs base URL>/errors#<code in lower case>`.
fn internal_error_docs(app: &TestApp) -> String {
    format!("{}/errors#internal_server_error", app.state.docs_base.0)
}

/// Replaces the seed vendor's pinned 500 `docs` URL with ours (see the module doc). Asserts the
/// seed still pins exactly that URL, so a changed seed is noticed rather than overwritten.
fn substitute_our_docs_url(schema: &mut Value, ours: &str) {
    let docs = &mut schema["properties"]["error"]["properties"]["docs"];
    assert_eq!(
        docs["enum"],
        json!([SEED_500_DOCS]),
        "the seed's 500 docs enum changed: {docs}"
    );
    docs["enum"] = json!([ours]);
}

// ---- the validator ---------------------------------------------------------------------------

/// Keywords that only annotate; they never constrain a value.
const ANNOTATIONS: &[&str] = &[
    "description",
    "example",
    "examples",
    "title",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Deeper `$ref` chains than this are a cycle in the document.
const MAX_DEPTH: usize = 64;

/// Validation errors of `value` against `schema` (empty when it conforms); `root` is the
/// document `$ref`s resolve against.
fn validate(root: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(root, schema, value, "$", 0, &mut errors);
    errors
}

fn check(
    root: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    depth: usize,
    errors: &mut Vec<String>,
) {
    if depth > MAX_DEPTH {
        errors.push(format!(
            "{at}: schema nesting or $ref chain deeper than {MAX_DEPTH}"
        ));
        return;
    }
    let schema = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => {
            errors.push(format!("{at}: no value is allowed here"));
            return;
        }
        Value::Object(schema) => schema,
        other => {
            errors.push(format!("{at}: schema is not an object: {other}"));
            return;
        }
    };
    let types = schema.get("type").map(type_names);
    let nullable = types
        .as_ref()
        .is_some_and(|types| types.iter().any(|t| t == "null"));
    for (keyword, arg) in schema {
        match keyword.as_str() {
            "$ref" => match arg.as_str().and_then(|r| resolve(root, r)) {
                Some(target) => check(root, target, value, at, depth + 1, errors),
                None => errors.push(format!("{at}: unresolvable $ref {arg}")),
            },
            "type" => {
                let types = type_names(arg);
                if !types.iter().any(|t| has_type(value, t)) {
                    errors.push(format!("{at}: {value} is not of type {types:?}"));
                }
            }
            "enum" => {
                let allowed = arg.as_array().map(Vec::as_slice).unwrap_or_default();
                // The nullable-enum reading (module doc): `type` admits null, so null passes.
                let null_ok = nullable && value.is_null();
                if !null_ok && !allowed.contains(value) {
                    errors.push(format!("{at}: {value} is not one of {arg}"));
                }
            }
            "const" => {
                if value != arg {
                    errors.push(format!("{at}: {value} is not {arg}"));
                }
            }
            "properties" => {
                if let (Some(properties), Some(object)) = (arg.as_object(), value.as_object()) {
                    for (name, property) in properties {
                        if let Some(field) = object.get(name) {
                            check(
                                root,
                                property,
                                field,
                                &format!("{at}.{name}"),
                                depth + 1,
                                errors,
                            );
                        }
                    }
                }
            }
            "required" => {
                if let Some(object) = value.as_object() {
                    for name in arg.as_array().into_iter().flatten() {
                        let name = name.as_str().unwrap_or_default();
                        if !object.contains_key(name) {
                            errors.push(format!("{at}: required key `{name}` is missing"));
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(object) = value.as_object() {
                    let declared = schema.get("properties").and_then(Value::as_object);
                    for (name, field) in object {
                        if declared.is_some_and(|d| d.contains_key(name)) {
                            continue;
                        }
                        if arg == &Value::Bool(false) {
                            errors.push(format!("{at}: undocumented key `{name}`"));
                        } else {
                            check(root, arg, field, &format!("{at}.{name}"), depth + 1, errors);
                        }
                    }
                }
            }
            "items" => {
                for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                    check(root, arg, item, &format!("{at}[{i}]"), depth + 1, errors);
                }
            }
            "anyOf" | "oneOf" => {
                let branches = arg.as_array().map(Vec::as_slice).unwrap_or_default();
                let matching = branches
                    .iter()
                    .filter(|branch| validate_at(root, branch, value, at, depth).is_empty())
                    .count();
                let ok = if keyword == "oneOf" {
                    matching == 1
                } else {
                    matching >= 1
                };
                if !ok {
                    errors.push(format!(
                        "{at}: {value} matches {matching} of the {keyword} branches {arg}"
                    ));
                }
            }
            "allOf" => {
                for branch in arg.as_array().into_iter().flatten() {
                    check(root, branch, value, at, depth + 1, errors);
                }
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                if let (Some(bound), Some(number)) = (arg.as_f64(), value.as_f64()) {
                    let ok = match keyword.as_str() {
                        "minimum" => number >= bound,
                        "maximum" => number <= bound,
                        "exclusiveMinimum" => number > bound,
                        _ => number < bound,
                    };
                    if !ok {
                        errors.push(format!("{at}: {number} violates {keyword} {bound}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let (Some(bound), Some(text)) = (arg.as_u64(), value.as_str()) {
                    let length = text.chars().count() as u64;
                    let ok = if keyword == "minLength" {
                        length >= bound
                    } else {
                        length <= bound
                    };
                    if !ok {
                        errors.push(format!("{at}: length {length} violates {keyword} {bound}"));
                    }
                }
            }
            "pattern" => {
                if let Some(text) = value.as_str() {
                    match regex::Regex::new(arg.as_str().unwrap_or_default()) {
                        Ok(pattern) if pattern.is_match(text) => {}
                        Ok(_) => errors.push(format!("{at}: {value} does not match {arg}")),
                        Err(e) => errors.push(format!("{at}: bad pattern {arg}: {e}")),
                    }
                }
            }
            "format" => {
                if let Some(text) = value.as_str()
                    && let Err(why) = check_format(arg.as_str().unwrap_or_default(), text)
                {
                    errors.push(format!("{at}: {value} {why}"));
                }
            }
            annotation if ANNOTATIONS.contains(&annotation) => {}
            unknown => errors.push(format!(
                "{at}: schema keyword `{unknown}` is not implemented by this validator"
            )),
        }
    }
}

fn validate_at(root: &Value, schema: &Value, value: &Value, at: &str, depth: usize) -> Vec<String> {
    let mut errors = Vec::new();
    check(root, schema, value, at, depth + 1, &mut errors);
    errors
}

/// `"string"` or `["string", "null"]` as a list of names.
fn type_names(arg: &Value) -> Vec<String> {
    match arg {
        Value::String(name) => vec![name.clone()],
        Value::Array(names) => names
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

/// A local `$ref` (`#/json/pointer`, RFC 6901 escapes).
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn check_format(format: &str, text: &str) -> Result<(), String> {
    match format {
        "uri" => match reqwest::Url::parse(text) {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("is not a URI: {e}")),
        },
        "date-time" => {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map(|_| ())
                .map_err(|e| format!("is not an RFC 3339 date-time: {e}"))
        }
        other => Err(format!(
            "has format `{other}`, which this validator does not implement"
        )),
    }
}

// ---- driving the server ----------------------------------------------------------------------

async fn cancel(app: &TestApp, id: &str) -> reqwest::Response {
    app.request(Method::POST, &format!("/v1/sessions/{id}/cancel"))
        .send()
        .await
        .expect("request")
}

async fn get(app: &TestApp, id: &str) -> reqwest::Response {
    app.request(Method::GET, &format!("/v1/sessions/{id}"))
        .send()
        .await
        .expect("request")
}

async fn list(app: &TestApp, query: &str) -> reqwest::Response {
    app.request(Method::GET, &format!("/v1/sessions{query}"))
        .send()
        .await
        .expect("request")
}

/// Sessions in every status of the seed enum and every failure code, built through the API and,
/// for the end-user part of the lifecycle (which has no integrator route), through the store
/// operations the verify flow uses. Returns the session ids; the clock is left past the expiry
/// of the one `expired` session.
async fn sessions_in_every_status(app: &TestApp) -> Vec<String> {
    let store = &app.state.store;
    let mut ids = vec![
        id_of(&create_session(app, None).await),
        id_of(
            &create_session(
                app,
                Some(json!({
                    "redirect_url": "https://example.com/done",
                    "share_fields": {
                        "given_names": {"required": true, "reason": "To greet you"},
                        "age_over_18": {"required": true, "reason": "Adults only"}
                    },
                    "expires_in": 7200,
                    "metadata": {"order": "42"}
                })),
            )
            .await,
        ),
    ];
    let start = |id: String| async move {
        let session = SessionId::parse(&id).expect("session id");
        let (_, attempt) = store
            .start_attempt(&session, app.clock.now())
            .await
            .expect("attempt starts");
        (id, attempt)
    };
    let (in_progress, _) = start(id_of(&create_session(app, None).await)).await;
    ids.push(in_progress);
    let failure_codes = [
        FailureCode::DocumentAuthenticityFailed,
        FailureCode::DocumentActiveAuthenticationFailed,
        FailureCode::DocumentChipAuthenticationFailed,
        FailureCode::DocumentAntiCloningAttestationFailed,
        FailureCode::DocumentDataInvalid,
        FailureCode::LivenessFailed,
        FailureCode::SelfieFaceMismatch,
    ];
    for code in failure_codes {
        let (id, attempt) = start(id_of(&create_session(app, None).await)).await;
        if code.kind() == idgate_core::TryKind::Liveness {
            store
                .advance_attempt(&attempt.id, AttemptPhase::Document, app.clock.now())
                .await
                .expect("document passes");
        }
        for _ in 0..3 {
            store
                .record_attempt_failure(&attempt.id, code, app.clock.now())
                .await
                .expect("failure recorded");
        }
        ids.push(id);
    }
    let (succeeded, attempt) = start(id_of(&create_session(app, None).await)).await;
    for from in [AttemptPhase::Document, AttemptPhase::Liveness] {
        store
            .advance_attempt(&attempt.id, from, app.clock.now())
            .await
            .expect("step passes");
    }
    store
        .complete_attempt(
            &attempt.id,
            &["kayle_document_id".to_owned()],
            app.clock.now(),
        )
        .await
        .expect("attempt completes");
    ids.push(succeeded);
    let cancelled = id_of(&create_session(app, None).await);
    assert_eq!(
        cancel(app, &cancelled).await.status(),
        StatusCode::NO_CONTENT
    );
    ids.push(cancelled);
    let expired = id_of(&create_session(app, Some(json!({"expires_in": 300}))).await);
    app.clock.advance_secs(301);
    ids.push(expired);
    ids
}

/// A database outage under the running server: every store call fails from now on.
async fn break_the_database(app: &TestApp) {
    app.state.store.close().await;
}

// ---- the validator can fail ------------------------------------------------------------------

fn session_200_schema(seeds: &Seeds) -> Value {
    seeds
        .get
        .response_schema(StatusCode::OK)
        .expect("seed 002 documents a 200 body")
}

#[tokio::test]
async fn the_validator_rejects_a_real_session_without_a_required_key() {
    let Some(seeds) = seeds() else { return };
    on_each_backend(|app| async move {
        let id = id_of(&create_session(&app, None).await);
        let mut body: Value = get(&app, &id).await.json().await.unwrap();
        let schema = session_200_schema(seeds);
        assert!(seeds.get.check(&schema, &body).is_empty(), "{body}");
        body["data"].as_object_mut().unwrap().remove("failure_code");
        let errors = seeds.get.check(&schema, &body);
        assert_eq!(
            errors,
            ["$.data: required key `failure_code` is missing"],
            "{body}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_validator_rejects_a_status_outside_the_seed_enum() {
    let Some(seeds) = seeds() else { return };
    let schema = session_200_schema(seeds);
    let mut body = example_session_body(seeds);
    assert!(seeds.get.check(&schema, &body).is_empty());
    body["data"]["status"] = json!("done");
    assert_eq!(seeds.get.check(&schema, &body).len(), 1);
    body["data"]["status"] = json!("created");
    body["data"]["failure_code"] = json!("tired");
    assert_eq!(
        seeds.get.check(&schema, &body).len(),
        1,
        "failure_code enum"
    );
    body["data"]["failure_code"] = Value::Null;
    body["data"]["share_fields"]["family_name"] =
        json!({"required": true, "reason": "x", "source": "integrator"});
    assert_eq!(seeds.get.check(&schema, &body).len(), 1, "source enum");
}

#[tokio::test]
async fn the_validator_rejects_wrong_types_and_out_of_range_numbers() {
    let Some(seeds) = seeds() else { return };
    let schema = session_200_schema(seeds);
    for (field, bad) in [
        ("nfc_tries_used", json!(4)),
        ("liveness_tries_used", json!(-1)),
        ("contract_version", json!("1")),
        ("contract_version", json!(1.5)),
        ("redirect_url", json!(7)),
        ("webhook_endpoint_id", json!({"id": "whe_x"})),
        ("webhook_endpoint_id", json!([1])),
        ("verification_url", json!("not a uri")),
        ("completed_at", json!(false)),
        ("share_fields", json!({"family_name": {"required": true}})),
    ] {
        let mut body = example_session_body(seeds);
        body["data"][field] = bad.clone();
        assert!(
            !seeds.get.check(&schema, &body).is_empty(),
            "{field} = {bad} accepted"
        );
    }
    let mut body = example_session_body(seeds);
    body["error"] = json!({"code": "X"});
    assert!(
        !seeds.get.check(&schema, &body).is_empty(),
        "error must be null"
    );
}

#[tokio::test]
async fn the_validator_resolves_refs_and_enforces_what_they_point_to() {
    let Some(seeds) = seeds() else { return };
    let schema = seeds
        .list
        .response_schema(StatusCode::OK)
        .expect("seed 004 documents a 200 body");
    let ok = json!({"data": [], "error": null,
        "pagination": {"limit": 10, "has_more": false, "next_cursor": null}});
    assert!(seeds.list.check(&schema, &ok).is_empty());
    let mut missing = ok.clone();
    missing["pagination"]
        .as_object_mut()
        .unwrap()
        .remove("next_cursor");
    assert_eq!(
        seeds.list.check(&schema, &missing),
        ["$.pagination: required key `next_cursor` is missing"]
    );
    let mut wrong = ok;
    wrong["pagination"]["has_more"] = json!("no");
    assert_eq!(seeds.list.check(&schema, &wrong).len(), 1);
}

#[test]
fn the_validator_rejects_undocumented_keys_patterns_and_unknown_keywords() {
    let root = json!({});
    let closed = json!({"type": "object", "properties": {"a": {"type": "string",
        "pattern": "^vs_[A-Za-z0-9]{64}$"}}, "additionalProperties": false});
    let good = json!({"a": format!("vs_{}", "a".repeat(64))});
    assert!(validate(&root, &closed, &good).is_empty());
    assert_eq!(
        validate(&root, &closed, &json!({"a": good["a"], "b": 1})),
        ["$: undocumented key `b`"]
    );
    assert_eq!(
        validate(&root, &closed, &json!({"a": "vs_short"})).len(),
        1,
        "pattern"
    );
    assert_eq!(
        validate(
            &root,
            &json!({"type": "string", "uniqueItems": true}),
            &json!("x")
        ),
        ["$: schema keyword `uniqueItems` is not implemented by this validator"]
    );
    assert_eq!(
        validate(
            &root,
            &json!({"$ref": "#/components/schemas/Nope"}),
            &json!(1)
        )
        .len(),
        1
    );
}

/// The seed's own example session in a success envelope (a value known to conform).
fn example_session_body(seeds: &Seeds) -> Value {
    let schema = session_200_schema(seeds);
    let example = schema["properties"]["data"]["examples"][0].clone();
    assert!(example.is_object(), "seed 002 has an example session");
    json!({"data": example, "error": null})
}

// ---- seed 002: GET /v1/sessions/{id} ---------------------------------------------------------

#[tokio::test]
async fn get_200_conforms_to_seed_002_in_every_status_and_failure_code() {
    let Some(seeds) = seeds() else { return };
    on_each_backend(|app| async move {
        let ids = sessions_in_every_status(&app).await;
        let mut statuses = Vec::new();
        let mut codes = Vec::new();
        for id in &ids {
            let body = seeds
                .get
                .assert_conforms(&app, get(&app, id).await, StatusCode::OK)
                .await;
            statuses.push(body["data"]["status"].as_str().unwrap().to_owned());
            if let Some(code) = body["data"]["failure_code"].as_str() {
                codes.push(code.to_owned());
            }
        }
        let schema = session_200_schema(seeds);
        let data = &schema["properties"]["data"]["properties"];
        for status in data["status"]["enum"].as_array().unwrap() {
            assert!(
                statuses.iter().any(|s| s == status),
                "status {status} was not exercised: {statuses:?}"
            );
        }
        for code in data["failure_code"]["enum"].as_array().unwrap() {
            assert!(
                codes.iter().any(|c| c == code),
                "failure code {code} was not exercised: {codes:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn create_200_conforms_to_the_seed_002_session_schema() {
    let Some(seeds) = seeds() else { return };
    on_each_backend(|app| async move {
        let response = app
            .request(Method::POST, "/v1/sessions")
            .json(&json!({"share_fields": {}, "redirect_url": "http://localhost:3000/back"}))
            .send()
            .await
            .unwrap();
        let body = seeds
            .get
            .assert_conforms(&app, response, StatusCode::OK)
            .await;
        assert!(
            body["data"]["cancel_token"].is_string(),
            "only the create response carries the cancel token"
        );
    })
    .await;
}

#[tokio::test]
async fn get_404_conforms_to_seed_002() {
    let Some(seeds) = seeds() else { return };
    on_each_backend(|app| async move {
        let body = seeds
            .get
            .assert_conforms(
                &app,
                get(&app, &unknown_session_id()).await,
                StatusCode::NOT_FOUND,
            )
            .await;
        assert_eq!(body["error"]["code"], "NOT_FOUND");
    })
    .await;
}

#[tokio::test]
async fn get_500_conforms_to_seed_002() {
    let Some(seeds) = seeds() else { return };
    on_each_backend(|app| async move {
        let id = id_of(&create_session(&app, None).await);
        break_the_database(&app).await;
        seeds
            .get
            .assert_conforms(
                &app,
                get(&app, &id).await,
                StatusCode::INTERNAL_SERVER_ERROR,
            )
            .await;
    })
    .await;
}

// ---- seed 004: GET /v1/sessions --------------------------------------------------------------

#[tokio::test]
async fn list_200_conforms_to_seed_004_across_pages_and_filters() {
    let Some(seeds) = seeds() else { return };
    on_each_backend(|app| async move {
        let total = sessions_in_every_status(&app).await.len();
        let mut seen = 0;
        let mut query = "?limit=3".to_owned();
        loop {
            let body = seeds
                .list
                .assert_conforms(&app, list(&app, &query).await, StatusCode::OK)
                .await;
            seen += body["data"].as_array().unwrap().len();
            match body["pagination"]["next_cursor"].as_str() {
                Some(cursor) => query = format!("?limit=3&starting_after={cursor}"),
                None => break,
            }
        }
        assert_eq!(seen, total, "paging visits every session once");
        for query in [
            "",
            "?status=failed&limit=100",
            "?status=in_progress",
            "?created_from=2000-01-01T00:00:00Z&created_to=2999-01-01T00:00:00.000%2B02:00",
            "?created_to=2000-01-01T00:00:00Z",
        ] {
            seeds
                .list
                .assert_conforms(&app, list(&app, query).await, StatusCode::OK)
                .await;
        }
    })
    .await;
}

#[tokio::test]
async fn list_500_conforms_to_seed_004() {
    let Some(seeds) = seeds() else { return };
    on_each_backend(|app| async move {
        create_session(&app, None).await;
        break_the_database(&app).await;
        let body = seeds
            .list
            .assert_conforms(
                &app,
                list(&app, "?limit=7").await,
                StatusCode::INTERNAL_SERVER_ERROR,
            )
            .await;
        // The seed types `limit` as any number; docs/api.md "Envelope" makes it the effective
        // limit.
        assert!(body["pagination"]["limit"].is_number());
    })
    .await;
}

#[tokio::test]
async fn every_status_filter_value_of_seed_004_is_accepted() {
    let Some(seeds) = seeds() else { return };
    let statuses = seeds.list.parameter_schema("status")["enum"].clone();
    on_each_backend(|app| {
        let statuses = statuses.clone();
        async move {
            for status in statuses.as_array().unwrap() {
                let status = status.as_str().unwrap();
                seeds
                    .list
                    .assert_conforms(
                        &app,
                        list(&app, &format!("?status={status}")).await,
                        StatusCode::OK,
                    )
                    .await;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn returned_ids_and_cursors_satisfy_the_seed_parameter_schemas() {
    let Some(seeds) = seeds() else { return };
    on_each_backend(|app| async move {
        for _ in 0..3 {
            create_session(&app, None).await;
        }
        let body: Value = list(&app, "?limit=2").await.json().await.unwrap();
        let cursor = &body["pagination"]["next_cursor"];
        assert!(cursor.is_string(), "{body}");
        let starting_after = seeds.list.parameter_schema("starting_after");
        assert!(seeds.list.check(&starting_after, cursor).is_empty());
        for session in body["data"].as_array().unwrap() {
            for seed in [&seeds.get, &seeds.cancel] {
                let id_schema = seed.parameter_schema("id");
                let errors = seed.check(&id_schema, &session["id"]);
                assert!(errors.is_empty(), "{errors:?}");
            }
        }
    })
    .await;
}

// ---- seed 000: POST /v1/sessions/{id}/cancel -------------------------------------------------

#[tokio::test]
async fn cancel_204_conforms_to_seed_000_for_live_and_terminal_sessions() {
    let Some(seeds) = seeds() else { return };
    on_each_backend(|app| async move {
        for id in sessions_in_every_status(&app).await {
            seeds
                .cancel
                .assert_conforms(&app, cancel(&app, &id).await, StatusCode::NO_CONTENT)
                .await;
        }
    })
    .await;
}

#[tokio::test]
async fn cancel_404_conforms_to_seed_000() {
    let Some(seeds) = seeds() else { return };
    on_each_backend(|app| async move {
        let body = seeds
            .cancel
            .assert_conforms(
                &app,
                cancel(&app, &unknown_session_id()).await,
                StatusCode::NOT_FOUND,
            )
            .await;
        assert_eq!(body["error"]["code"], "NOT_FOUND");
    })
    .await;
}

#[tokio::test]
async fn cancel_500_conforms_to_seed_000() {
    let Some(seeds) = seeds() else { return };
    on_each_backend(|app| async move {
        let id = id_of(&create_session(&app, None).await);
        break_the_database(&app).await;
        seeds
            .cancel
            .assert_conforms(
                &app,
                cancel(&app, &id).await,
                StatusCode::INTERNAL_SERVER_ERROR,
            )
            .await;
    })
    .await;
}

#[test]
fn every_status_the_seeds_document_is_exercised_above() {
    let Some(seeds) = seeds() else { return };
    // 000: 204, 404, 500; 002: 200, 404, 500; 004: 200, 500 — each has a test above.
    assert_eq!(seeds.cancel.documented_statuses(), ["204", "404", "500"]);
    assert_eq!(seeds.get.documented_statuses(), ["200", "404", "500"]);
    assert_eq!(seeds.list.documented_statuses(), ["200", "500"]);
}

#[tokio::test]
async fn session_objects_have_exactly_the_seed_fields_plus_metadata() {
    let Some(seeds) = seeds() else { return };
    let schema = session_200_schema(seeds);
    let seed_fields: std::collections::BTreeSet<String> =
        schema["properties"]["data"]["properties"]
            .as_object()
            .expect("seed 002 session properties")
            .keys()
            .cloned()
            .collect();
    on_each_backend(|app| {
        let seed_fields = seed_fields.clone();
        async move {
            // docs/api.md "Sessions": the seed's fields, `cancel_token` only in the create
            // response, and additionally `metadata`.
            let keys = |object: &Value| -> std::collections::BTreeSet<String> {
                object
                    .as_object()
                    .expect("object")
                    .keys()
                    .cloned()
                    .collect()
            };
            let created = create_session(&app, None).await;
            let mut expected = seed_fields.clone();
            expected.insert("metadata".to_owned());
            assert_eq!(keys(&created), expected, "create response");
            expected.remove("cancel_token");
            let read: Value = get(&app, &id_of(&created)).await.json().await.unwrap();
            assert_eq!(keys(&read["data"]), expected, "get response");
            let listed: Value = list(&app, "").await.json().await.unwrap();
            assert_eq!(keys(&listed["data"][0]), expected, "list item");
        }
    })
    .await;
}
