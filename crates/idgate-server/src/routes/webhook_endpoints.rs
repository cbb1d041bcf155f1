//! `/v1/webhooks/endpoints…`: the integrator's webhook endpoints, with the signing secret shown
//! once on create and on rotation (docs/webhooks.md "Management API"). Scopes `webhooks:read` /
//! `webhooks:write`.
//!
//! Every object belongs to the calling key's organization and environment; another tenant's
//! ids, and ids that are not even well-formed, answer exactly like ids never issued (404 with
//! the resource's own code). The signing secret leaves the server only in the create and
//! rotate responses: stored sealed, never listed, never logged.

use std::borrow::Cow;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use idgate_core::webhook::{MAX_WEBHOOK_URL_LEN, SECRET_ROTATION_OVERLAP_SECS};
use idgate_core::{
    CreateEndpointRequest, EndpointId, EventType, Limit, PageRequest, Scope, SealedSecret,
    Timestamp, UpdateEndpointRequest, WebhookEndpoint,
};
use idgate_webhook::WebhookSecret;
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticated;
use crate::envelope::{Data, Page};
use crate::error::{ApiError, Resource};
use crate::extract::{ApiQuery, RequiredJson};
use crate::routes::cursor;
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
}

// ---- wire types ------------------------------------------------------------------------------

/// A webhook endpoint (never its signing secret).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEndpoint)]
pub struct EndpointOut {
    #[schema(pattern = r"^whe_[A-Za-z0-9]{64}$")]
    pub id: String,
    /// Where deliveries are POSTed.
    pub url: String,
    pub description: String,
    /// A disabled endpoint receives nothing; its deliveries wait.
    pub enabled: bool,
    /// Event types delivered, or `["*"]` for all.
    #[schema(schema_with = subscribed_types_schema)]
    pub subscribed_event_types: Vec<&'static str>,
    /// `failing` when the server disabled the endpoint after 3 days of continuous failure.
    #[schema(schema_with = disabled_reason_schema, required = true)]
    pub disabled_reason: Option<&'static str>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub disabled_at: Option<Timestamp>,
    /// Until this time the secret replaced by the last rotation still signs next to the
    /// current one (a second `v1,` signature); null when there is none.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub previous_secret_expires_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl EndpointOut {
    fn new(e: &WebhookEndpoint, now: Timestamp) -> Self {
        Self {
            id: e.id.to_string(),
            url: e.url.clone(),
            description: e.description.clone(),
            enabled: e.enabled,
            subscribed_event_types: e.subscription.names(),
            disabled_reason: e.disabled_reason.map(|r| r.as_str()),
            disabled_at: e.disabled_at,
            previous_secret_expires_at: e
                .previous_secret
                .as_ref()
                .map(|p| p.expires_at)
                .filter(|at| now.unix_ms() < at.unix_ms()),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its new signing secret: the create and rotate responses, the only ones
/// that ever contain it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEndpointWithSecret)]
pub struct EndpointWithSecretOut {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    /// `whsec_` + base64 of 32 random bytes (Standard Webhooks). Shown once; store it now.
    pub signing_secret: String,
}

fn subscribed_types_schema() -> Schema {
    Schema::Array(
        ArrayBuilder::new()
            .items(utoipa::openapi::RefOr::T(crate::openapi::string_enum(
                EventType::ALL.iter().map(|t| t.as_str()).chain(["*"]),
                "An event type, or `*` for all.",
            )))
            .min_items(Some(1))
            .description(Some("Event types delivered, or `[\"*\"]` for all."))
            .build(),
    )
}

fn disabled_reason_schema() -> Schema {
    crate::openapi::nullable_string_enum(
        ["failing"],
        "`failing` when the server disabled the endpoint after 3 days of continuous failure.",
    )
}

/// Body of `POST /v1/webhooks/endpoints`: idgate-core's request, which reads each field as raw
/// JSON so every rule answers with its own code; its schema is written here.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct CreateEndpointBody(CreateEndpointRequest);

impl ToSchema for CreateEndpointBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CreateWebhookEndpoint")
    }
}

impl PartialSchema for CreateEndpointBody {
    fn schema() -> RefOr<Schema> {
        endpoint_body_schema(true).into()
    }
}

/// Body of `PATCH /v1/webhooks/endpoints/{id}`: each present field replaces the stored one;
/// enabling an endpoint disabled for failing clears that state.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct UpdateEndpointBody(UpdateEndpointRequest);

impl ToSchema for UpdateEndpointBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("UpdateWebhookEndpoint")
    }
}

impl PartialSchema for UpdateEndpointBody {
    fn schema() -> RefOr<Schema> {
        endpoint_body_schema(false).into()
    }
}

/// The fields of an endpoint create (`url` and `subscribed_event_types` required) or patch.
fn endpoint_body_schema(create: bool) -> ObjectBuilder {
    let names = ArrayBuilder::new()
        .items(utoipa::openapi::RefOr::T(crate::openapi::string_enum(
            EventType::ALL.iter().map(|t| t.as_str()),
            "An event type.",
        )))
        .min_items(Some(1))
        .unique_items(true);
    let all = ArrayBuilder::new()
        .items(utoipa::openapi::RefOr::T(crate::openapi::string_enum(
            ["*"],
            "Every event type.",
        )))
        .min_items(Some(1))
        .max_items(Some(1));
    let types = OneOfBuilder::new().item(names).item(all).description(Some(
        "Non-empty list of distinct event types, or `[\"*\"]` for all.",
    ));
    let description = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(idgate_core::webhook::MAX_DESCRIPTION_CHARS))
        .pattern(Some(r"^[^\x00-\x1f\x7f-\x9f]*$"))
        .description(Some("At most 500 characters without control characters."));
    let mut body = ObjectBuilder::new()
        .property(
            "url",
            crate::openapi::webhook_url_schema(MAX_WEBHOOK_URL_LEN),
        )
        .property("subscribed_event_types", types)
        .property("description", description)
        .property(
            "enabled",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .description(Some("Defaults to true on create.")),
        )
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    if create {
        body = body.required("url").required("subscribed_event_types");
    }
    body
}

/// Query of `GET /v1/webhooks/endpoints`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListEndpointsQuery {
    /// Maximum number of items to return. Defaults to 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// ID of the last endpoint of the previous page; one that names no endpoint of this list is
    /// `404 NOT_FOUND`.
    #[param(value_type = Option<String>, pattern = r"^whe_[A-Za-z0-9]{64}$")]
    starting_after: Option<String>,
}

/// A malformed id cannot name an endpoint of this tenant: same answer as an unknown one.
pub(crate) fn endpoint_id(raw: &str) -> Result<EndpointId, ApiError> {
    EndpointId::parse(raw).map_err(|_| ApiError::not_found(Resource::WebhookEndpoint))
}

fn new_secret() -> Result<WebhookSecret, ApiError> {
    WebhookSecret::generate().map_err(|e| ApiError::internal(&e))
}

// ---- handlers --------------------------------------------------------------------------------

/// `POST /v1/webhooks/endpoints`.
#[utoipa::path(post, path = "/v1/webhooks/endpoints", operation_id = "createWebhookEndpoint", tag = "Webhooks", summary = "Create a webhook endpoint",
    request_body = CreateEndpointBody,
    responses(
        (status = 200, description = "The endpoint with its `signing_secret` (shown once).", body = Data<EndpointWithSecretOut>),
        (status = 400, description = "Invalid URL, event types or body.")))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    auth: Authenticated,
    RequiredJson(CreateEndpointBody(body)): RequiredJson<CreateEndpointBody>,
) -> Result<Data<EndpointWithSecretOut>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let spec = body.validate(state.allow_private_webhooks)?;
    let now = state.clock.now();
    let id = EndpointId::generate();
    let secret = new_secret()?;
    let sealed = SealedSecret::new(state.secrets.seal_signing_secret(&id, &secret));
    let endpoint = WebhookEndpoint::new(&auth.tenant(), id, spec, sealed, now);
    state
        .store
        .create_endpoint(&endpoint)
        .await
        .map_err(|e| ApiError::from_store(e, Resource::WebhookEndpoint))?;
    Ok(Data::new(EndpointWithSecretOut {
        endpoint: EndpointOut::new(&endpoint, now),
        signing_secret: secret.expose_whsec(),
    }))
}

/// `GET /v1/webhooks/endpoints`.
#[utoipa::path(get, path = "/v1/webhooks/endpoints", operation_id = "listWebhookEndpoints", tag = "Webhooks", summary = "List webhook endpoints", params(ListEndpointsQuery),
    responses(
        (status = 200, description = "A page of endpoints, newest first.", body = Page<EndpointOut>),
        (status = 404, description = "`starting_after` names no endpoint of this list.")))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(query): ApiQuery<ListEndpointsQuery>,
) -> Result<Page<EndpointOut>, ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let limit = Limit::from_query(query.limit.as_deref())?;
    let starting_after = cursor(
        query.starting_after.as_deref(),
        EndpointId::parse,
        "a webhook endpoint ID (whe_ followed by 64 letters and digits)",
    )?;
    let page = state
        .store
        .list_endpoints(
            &auth.tenant(),
            &PageRequest {
                limit,
                starting_after,
            },
        )
        .await
        .map_err(|e| ApiError::from_store(e, Resource::WebhookEndpoint))?;
    let now = state.clock.now();
    let items = page
        .items
        .iter()
        .map(|e| EndpointOut::new(e, now))
        .collect();
    Ok(Page::new(
        items,
        limit.get(),
        page.has_more,
        |e: &EndpointOut| e.id.clone(),
    ))
}

/// `GET /v1/webhooks/endpoints/{id}`.
#[utoipa::path(get, path = "/v1/webhooks/endpoints/{id}", operation_id = "getWebhookEndpoint", tag = "Webhooks", summary = "Get a webhook endpoint",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID.")),
    responses(
        (status = 200, description = "The endpoint.", body = Data<EndpointOut>),
        (status = 404, description = "No such endpoint for this key.")))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Data<EndpointOut>, ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let id = endpoint_id(&id)?;
    let endpoint = state
        .store
        .get_endpoint(&auth.tenant(), &id)
        .await
        .map_err(|e| ApiError::from_store(e, Resource::WebhookEndpoint))?;
    Ok(Data::new(EndpointOut::new(&endpoint, state.clock.now())))
}

/// `PATCH /v1/webhooks/endpoints/{id}`.
#[utoipa::path(patch, path = "/v1/webhooks/endpoints/{id}", operation_id = "updateWebhookEndpoint", tag = "Webhooks", summary = "Update a webhook endpoint",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID.")),
    request_body = UpdateEndpointBody,
    responses(
        (status = 200, description = "The updated endpoint.", body = Data<EndpointOut>),
        (status = 400, description = "Invalid URL, event types or body."),
        (status = 404, description = "No such endpoint for this key.")))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    RequiredJson(UpdateEndpointBody(body)): RequiredJson<UpdateEndpointBody>,
) -> Result<Data<EndpointOut>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let id = endpoint_id(&id)?;
    let patch = body.validate(state.allow_private_webhooks)?;
    let now = state.clock.now();
    let endpoint = state
        .store
        .update_endpoint(&auth.tenant(), &id, &patch, now)
        .await
        .map_err(|e| ApiError::from_store(e, Resource::WebhookEndpoint))?;
    Ok(Data::new(EndpointOut::new(&endpoint, now)))
}

/// `DELETE /v1/webhooks/endpoints/{id}`.
#[utoipa::path(delete, path = "/v1/webhooks/endpoints/{id}", operation_id = "deleteWebhookEndpoint", tag = "Webhooks", summary = "Delete a webhook endpoint",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID.")),
    responses(
        (status = 204, description = "Deleted with its keys and deliveries."),
        (status = 404, description = "No such endpoint for this key.")))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let id = endpoint_id(&id)?;
    state
        .store
        .delete_endpoint(&auth.tenant(), &id)
        .await
        .map_err(|e| ApiError::from_store(e, Resource::WebhookEndpoint))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/webhooks/endpoints/{id}/rotate-secret`.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/rotate-secret", operation_id = "rotateWebhookSecret", tag = "Webhooks", summary = "Rotate the signing secret",
    description = "Issues a new signing secret, returned once. The previous secret keeps signing next to it for 24 hours, so deliveries carry two `v1,` signatures meanwhile.",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID.")),
    responses(
        (status = 200, description = "The endpoint with its new `signing_secret` (shown once).", body = Data<EndpointWithSecretOut>),
        (status = 404, description = "No such endpoint for this key.")))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Data<EndpointWithSecretOut>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let id = endpoint_id(&id)?;
    let now = state.clock.now();
    let secret = new_secret()?;
    let sealed = SealedSecret::new(state.secrets.seal_signing_secret(&id, &secret));
    let endpoint = state
        .store
        .rotate_endpoint_secret(
            &auth.tenant(),
            &id,
            &sealed,
            now.plus_seconds(SECRET_ROTATION_OVERLAP_SECS),
            now,
        )
        .await
        .map_err(|e| ApiError::from_store(e, Resource::WebhookEndpoint))?;
    Ok(Data::new(EndpointWithSecretOut {
        endpoint: EndpointOut::new(&endpoint, now),
        signing_secret: secret.expose_whsec(),
    }))
}
