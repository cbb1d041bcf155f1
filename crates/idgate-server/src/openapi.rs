//! The OpenAPI 3.1 document served at `/openapi.json`, and the router it describes: both come
//! out of one [`OpenApiRouter`], where each resource module registers its handlers with
//! `routes!`, so a route cannot exist without its `#[utoipa::path]` documentation.
//!
//! The error responses every operation shares are not written by hand on each route:
//! [`complete_error_responses`] derives them from what the operation is (authenticated, takes a
//! body, a query, a path id, is a list) — the same facts that make the server answer them — and
//! gives every error response the one error envelope, [`ErrorBody`].

use std::collections::BTreeSet;

use axum::Router;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ErrorBody;
use crate::routes;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "idgate",
        description = "Self-hostable, privacy-first identity verification: the integrator API.",
        license(name = "Apache License 2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearerAuth" = [])),
    tags(
        (name = "Sessions", description = "Verification sessions."),
        (name = "API keys", description = "Keys of the calling organization (scope `keys:manage`)."),
        (name = "Webhooks", description = "Webhook endpoints, their encryption keys and deliveries (scopes `webhooks:read` / `webhooks:write`)."),
        (name = "Events", description = "The event history behind webhooks, and replay (scopes `webhooks:read` / `webhooks:write`)."),
        (name = "Operations", description = "Health, readiness and metrics; no authentication."),
        (name = "Documentation", description = "The error reference every error's `docs` link points at."),
    )
)]
struct ApiDoc;

/// Every route of the application with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(routes::router())
}

/// The axum router of every documented route, and the finished document describing it.
pub fn split() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = routes().split_for_parts();
    complete_error_responses(&mut document);
    add_links(&mut document);
    (router, document)
}

/// The finished document served at `/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    split().1
}

/// Declares `bearerAuth` (HTTP bearer), the scheme every `/v1` operation requires.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("kk_live_…")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "attemptToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("vat_…")
                    .description(Some(
                        "The attempt's token from the handoff; the mobile API of docs/verify.md.",
                    ))
                    .build(),
            ),
        );
    }
}

// ---- shared error responses -----------------------------------------------------------------

/// Adds the error responses an operation can produce by its nature, keeping any the route
/// documents itself, and gives every error response without content the error envelope.
fn complete_error_responses(document: &mut utoipa::openapi::OpenApi) {
    for item in document.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.put,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            complete_operation(operation);
        }
    }
}

fn complete_operation(operation: &mut Operation) {
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let located = |place: ParameterIn| {
        parameters
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
    };
    let is_list = parameters.iter().any(
        |p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query && p.name == "limit"),
    );
    // Operations without their own `security` use the document's bearer requirement.
    let authenticated = operation.security.is_none();
    let attempt_route =
        serde_json::to_string(&operation.security).is_ok_and(|text| text.contains("attemptToken"));
    let mut statuses = BTreeSet::new();
    if authenticated {
        statuses.extend([401, 403, 429]);
    }
    if attempt_route {
        statuses.extend([401, 409, 410, 429]);
    }
    statuses.insert(500);
    if operation.request_body.is_some() {
        statuses.extend([400, 413, 415]);
    }
    if located(ParameterIn::Query) || located(ParameterIn::Header) {
        statuses.insert(400);
    }
    if located(ParameterIn::Path) {
        statuses.insert(404);
    }
    let responses = &mut operation.responses.responses;
    for status in statuses {
        responses.entry(status.to_string()).or_insert_with(|| {
            RefOr::T(if attempt_route {
                attempt_response(status)
            } else {
                shared_response(status)
            })
        });
    }
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let RefOr::T(response) = response
            && is_error
            && response.content.is_empty()
        {
            response.content.insert(
                "application/json".to_owned(),
                RefOr::T(
                    ContentBuilder::new()
                        .schema(Some(error_schema(is_list)))
                        .build(),
                ),
            );
        }
    }
}

/// The description (and headers) of an error status every operation of a kind shares.
/// The responses every route of the mobile API (`attemptToken`) can give by its nature.
fn attempt_response(status: u16) -> utoipa::openapi::Response {
    let description = match status {
        401 => "Missing or wrong attempt token, or a token not used within its 5 minutes.",
        409 => "The step is out of order, or the attempt was replaced by a newer handoff.",
        410 => "The session has ended (cancelled, expired, succeeded or failed).",
        429 => "Too many requests for this attempt.",
        _ => return shared_response(status),
    };
    ResponseBuilder::new().description(description).build()
}

fn shared_response(status: u16) -> utoipa::openapi::Response {
    let description = match status {
        400 => {
            "Invalid request: a parameter, header or the body breaks a rule; the message names it."
        }
        401 => "Missing, unknown, disabled or deleted API key.",
        403 => "The API key lacks the scope this operation requires.",
        404 => "No such object for this API key.",
        413 => "The request body is over 64 KiB.",
        415 => "The request body is not JSON (`Content-Type: application/json`).",
        429 => "The API key's rate limit is exhausted.",
        _ => "Internal server error.",
    };
    let mut response = ResponseBuilder::new().description(description);
    if status == 429 {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                ))
                .description(Some("Seconds until the key may call again."))
                .build(),
        );
    }
    response.build()
}

/// `ErrorBody`; on list routes with `pagination` required (seed 004).
fn error_schema(is_list: bool) -> RefOr<Schema> {
    let envelope = RefOr::Ref(Ref::from_schema_name("ErrorBody"));
    if !is_list {
        return envelope;
    }
    RefOr::T(Schema::AllOf(
        AllOfBuilder::new()
            .item(envelope)
            .item(ObjectBuilder::new().required("pagination"))
            .build(),
    ))
}

// ---- links ------------------------------------------------------------------------------------

/// Where the ids a `200` response returns lead (OpenAPI links): operation, link name, target
/// operation and its parameters. Links that follow from names alone (`GET /v1/sessions` →
/// `GET /v1/sessions/{id}`) clients infer; these are the ones they cannot.
/// One link: from the `200` of operation `from`, named `name`, to operation `to`.
struct Link {
    from: &'static str,
    name: &'static str,
    to: &'static str,
    /// Target parameter → runtime expression.
    parameters: &'static [(&'static str, &'static str)],
}

const LINKS: &[Link] = &[
    Link {
        from: "createEncryptionKey",
        name: "DeactivateKey",
        to: "deactivateEncryptionKey",
        parameters: &[
            ("id", "$request.path.id"),
            ("key_id", "$response.body#/data/id"),
        ],
    },
    Link {
        from: "createEncryptionKey",
        name: "ReactivateKey",
        to: "reactivateEncryptionKey",
        parameters: &[
            ("id", "$request.path.id"),
            ("key_id", "$response.body#/data/id"),
        ],
    },
    Link {
        from: "listEvents",
        name: "GetEvent",
        to: "getEvent",
        parameters: &[("id", "$response.body#/data/0/id")],
    },
    Link {
        from: "listEvents",
        name: "ReplayEvent",
        to: "replayEvent",
        parameters: &[("id", "$response.body#/data/0/id")],
    },
    Link {
        from: "listDeliveries",
        name: "RetryDelivery",
        to: "retryDelivery",
        parameters: &[("id", "$response.body#/data/0/id")],
    },
    Link {
        from: "replayEvent",
        name: "GetDelivery",
        to: "getDelivery",
        parameters: &[("id", "$response.body#/data/deliveries/0/id")],
    },
];

fn add_links(document: &mut utoipa::openapi::OpenApi) {
    for item in document.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.put,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let Some(id) = operation.operation_id.clone() else {
                continue;
            };
            let Some(RefOr::T(ok)) = operation.responses.responses.get_mut("200") else {
                continue;
            };
            for link in LINKS.iter().filter(|link| link.from == id) {
                let built = link.parameters.iter().fold(
                    LinkBuilder::new().operation_id(link.to),
                    |built, (name, value)| built.parameter(*name, *value),
                );
                ok.links
                    .insert(link.name.to_owned(), RefOr::T(built.build()));
            }
        }
    }
}

// ---- schema helpers used by the wire types -------------------------------------------------

/// `null`: the `error` of a success and the `data` of an error.
pub fn null_schema() -> Schema {
    Schema::Object(ObjectBuilder::new().schema_type(Type::Null).build())
}

/// A string that is one of `values`.
pub fn string_enum<'a>(values: impl IntoIterator<Item = &'a str>, description: &str) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values))
            .description(Some(description))
            .build(),
    )
}

/// A string that is one of `values`, or null.
pub fn nullable_string_enum<'a>(
    values: impl IntoIterator<Item = &'a str>,
    description: &str,
) -> Schema {
    let values: Vec<serde_json::Value> = values
        .into_iter()
        .map(|value| serde_json::Value::String(value.to_owned()))
        .chain([serde_json::Value::Null])
        .collect();
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .enum_values(Some(values))
            .description(Some(description))
            .build(),
    )
}

/// `code` of the error object: every code of the catalog.
pub fn error_code_schema() -> Schema {
    string_enum(
        idgate_core::ErrorCode::ALL.iter().map(|code| code.as_str()),
        "The error code (the catalog at `/docs/errors`).",
    )
}

// ---- URLs ------------------------------------------------------------------------------------
//
// idgate-core's URL parser (`idgate_core::url`) accepts a strict, regular subset of RFC 3986:
// printable ASCII, `http(s)://` in any case, no user info, a DNS name or IP literal, an optional
// numeric port. The patterns below spell the same language, so generated clients and API
// fuzzers see the rule the server applies. They bound a host to four labels and leave IP
// literals out: a subset of what the server accepts, so every URL they allow is accepted.

/// One DNS label: letters, digits, `_`, inner `-` (RFC 1035 §2.3.4 plus `_`).
const LABEL: &str = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,60}[A-Za-z0-9_])?";
/// A TCP port, 1..65535.
const PORT: &str = "(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?";
/// One octet of a dotted IPv4 address, without leading zeros.
const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";

/// The last label of a DNS name starts with a letter or `_`: the URL standard (WHATWG URL
/// "ends in a number") reads a host whose last label is numeric or `0x…` as an IPv4 address,
/// and the server parses hosts that way (it is what the delivery client connects to).
const LAST_LABEL: &str = "[A-Za-z_](?:[A-Za-z0-9_-]{0,60}[A-Za-z0-9_])?";

fn host() -> String {
    format!("(?:{LABEL}\\.){{0,3}}{LAST_LABEL}")
}

fn url_schema(pattern: String, max_len: usize, nullable: bool, description: &str) -> Schema {
    let schema_type = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    };
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(schema_type)
            .min_length(Some(1))
            .max_length(Some(max_len))
            .pattern(Some(pattern))
            .description(Some(description))
            .build(),
    )
}

/// `redirect_url` of a session (docs/api.md "Sessions"): `https:`, or `http:` to `localhost`,
/// `*.localhost` or `127.0.0.0/8`; any path, query and fragment.
pub fn redirect_url_schema() -> Schema {
    let loopback = format!(
        "(?:(?:{LABEL}\\.){{0,2}}[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]|127\\.{OCTET}\\.{OCTET}\\.{OCTET})"
    );
    let pattern = format!(
        "^(?:[Hh][Tt][Tt][Pp][Ss]://{host}|[Hh][Tt][Tt][Pp]://{loopback}){PORT}(?:[/?#][!-~]*)?$",
        host = host()
    );
    url_schema(
        pattern,
        idgate_core::create::MAX_REDIRECT_URL_LEN,
        true,
        "Absolute `https:` URL (or `http:` to localhost/loopback) of printable ASCII, at most 2048 characters, without credentials; null for none.",
    )
}

/// `url` of a webhook endpoint (docs/webhooks.md "SSRF guard"): `https:` without a fragment. A server
/// run with `--allow-private-webhooks` accepts `http:` too.
pub fn webhook_url_schema(max_len: usize) -> Schema {
    let pattern = format!(
        "^[Hh][Tt][Tt][Pp][Ss]://{host}{PORT}(?:[/?][!-\"$-~]*)?$",
        host = host()
    );
    url_schema(
        pattern,
        max_len,
        false,
        "Absolute `https:` URL of printable ASCII, at most 2048 characters, without credentials or fragment.",
    )
}

/// `^<prefix>[A-Za-z0-9]{64}$`, the shape of every id (docs/api.md "Conventions").
pub fn id_pattern(prefix: &str) -> String {
    format!("^{prefix}[A-Za-z0-9]{{64}}$")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern_of(schema: &Schema) -> regex::Regex {
        let Schema::Object(object) = schema else {
            panic!("a URL schema is an object schema")
        };
        regex::Regex::new(object.pattern.as_deref().expect("a pattern")).expect("a valid regex")
    }

    #[test]
    fn a_webhook_url_the_document_allows_is_one_the_server_accepts() {
        let pattern = pattern_of(&webhook_url_schema(2048));
        let cases = [
            "https://example.com/hook",
            "HTTPS://a.b.c.example:8443/x?y=1",
            "https://e.0/",
            "https://a.0x1f/",
            "https://127.1/",
            "https://2130706433/",
            "https://999.1.1.1/",
            "https://_srv.example/",
        ];
        for url in cases {
            if pattern.is_match(url) {
                assert!(
                    idgate_core::webhook::parse_webhook_url(url, false).is_ok(),
                    "{url} matches the documented pattern but the server refuses it"
                );
            }
        }
        assert!(pattern.is_match("https://example.com/hook"));
        assert!(
            !pattern.is_match("https://e.0/"),
            "a numeric last label is an IPv4 address"
        );
    }

    #[test]
    fn a_redirect_url_the_document_allows_is_one_the_server_accepts() {
        let pattern = pattern_of(&redirect_url_schema());
        for url in [
            "https://shop.example/done",
            "https://e.0/",
            "http://localhost:3000/x#y",
        ] {
            if pattern.is_match(url) {
                assert!(
                    idgate_core::create::validate_redirect_url(url).is_ok(),
                    "{url} matches the documented pattern but the server refuses it"
                );
            }
        }
        assert!(!pattern.is_match("https://e.0/"));
    }

    #[test]
    fn every_operation_lists_the_errors_of_its_kind() {
        let document = serde_json::to_value(document()).unwrap();
        let list = &document["paths"]["/v1/sessions"]["get"]["responses"];
        for status in ["400", "401", "403", "429", "500"] {
            assert!(list[status].is_object(), "{status}");
        }
        assert_eq!(
            list["500"]["content"]["application/json"]["schema"]["allOf"][1]["required"],
            serde_json::json!(["pagination"])
        );
        let create = &document["paths"]["/v1/sessions"]["post"]["responses"];
        for status in ["400", "401", "403", "409", "413", "415", "429", "500"] {
            assert!(create[status].is_object(), "{status}");
        }
        assert!(
            document["paths"]["/healthz"]["get"]["responses"]["401"].is_null(),
            "public operations are not 401"
        );
    }

    #[test]
    fn every_link_names_documented_operations_and_parameters() {
        let document = serde_json::to_value(document()).unwrap();
        let operations: Vec<&serde_json::Value> = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .collect();
        let by_id = |id: &str| {
            operations
                .iter()
                .find(|operation| operation["operationId"] == id)
                .unwrap_or_else(|| panic!("no operation {id}"))
        };
        for link in LINKS {
            let documented = &by_id(link.from)["responses"]["200"]["links"][link.name];
            assert_eq!(documented["operationId"], link.to);
            let names: Vec<&str> = by_id(link.to)["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["name"].as_str())
                .collect();
            for (parameter, _) in link.parameters {
                assert!(
                    names.contains(parameter),
                    "{} has no `{parameter}`",
                    link.to
                );
            }
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let document = serde_json::to_value(document()).unwrap();
        let mut ids = Vec::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                ids.push(operation["operationId"].as_str().unwrap().to_owned());
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "{ids:?}");
    }
}
