//! `/v1/webhooks/…`: the integrator's webhook endpoints (signing secret shown once on create and
//! on rotation), their RSA encryption keys (one active per endpoint) and the deliveries with
//! their attempts (webhooks.md "Management API"). Scopes `webhooks:read` / `webhooks:write`.
//!
//! Every object belongs to the calling key's organization and environment; another tenant's
//! ids, and ids that are not even well-formed, answer exactly like ids never issued (404 with
//! the resource's own code). The signing secret leaves the server only in the create and
//! rotate responses: stored sealed, never listed, never logged.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use idgate_core::webhook::{SECRET_ROTATION_OVERLAP_SECS, validate_kid};
use idgate_core::{
    CreateEndpointRequest, Delivery, DeliveryAttempt, DeliveryFilter, DeliveryId, DeliveryStatus,
    EncryptionKey, EncryptionKeyId, EndpointId, Error as DomainError, ErrorCode, Limit,
    PageRequest, Scope, SealedSecret, Timestamp, UpdateEndpointRequest, WebhookEndpoint,
};
use idgate_store::{RetryOutcome, StoreError, WebhookStore};
use idgate_webhook::WebhookSecret;
use idgate_webhook::keys::{KeyError, RecipientKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::envelope::{Data, Page};
use crate::error::ApiError;
use crate::extract::{ApiQuery, RequiredJson};
use crate::state::AppState;

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
    pub subscribed_event_types: Vec<&'static str>,
    /// `failing` when the server disabled the endpoint after 3 days of continuous failure.
    #[schema(value_type = Option<String>, required = true)]
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

/// An encryption key (public material only).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEncryptionKey)]
pub struct EncryptionKeyOut {
    #[schema(pattern = r"^whk_[A-Za-z0-9]{64}$")]
    pub id: String,
    #[schema(pattern = r"^whe_[A-Za-z0-9]{64}$")]
    pub endpoint_id: String,
    /// The integrator's `kid`, if given.
    #[schema(required = true)]
    pub kid: Option<String>,
    /// The `kid` the JWE header carries: `kid` if given, else this key's id.
    pub header_kid: String,
    /// The public key as a JWK (`kty`, `n`, `e`).
    #[schema(value_type = Object)]
    pub jwk: serde_json::Value,
    /// RSA modulus size.
    pub bits: u32,
    /// Exactly one key per endpoint is active; payloads are encrypted to it.
    pub active: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&EncryptionKey> for EncryptionKeyOut {
    fn from(k: &EncryptionKey) -> Self {
        Self {
            id: k.id.to_string(),
            endpoint_id: k.endpoint_id.to_string(),
            kid: k.kid.clone(),
            header_kid: k.header_kid().to_owned(),
            jwk: k.jwk.clone(),
            bits: k.bits,
            active: k.active,
            created_at: k.created_at,
            updated_at: k.updated_at,
        }
    }
}

/// Body of `POST /v1/webhooks/endpoints` (documentation; parsing is idgate-core's).
#[derive(ToSchema)]
#[schema(as = CreateWebhookEndpoint)]
#[allow(dead_code)]
pub struct CreateEndpointIn {
    /// Absolute `https` URL, ≤ 2048 characters, no credentials (`http` only when the operator
    /// allows private webhooks).
    url: String,
    /// Non-empty list of event types, or `["*"]`.
    subscribed_event_types: Vec<String>,
    /// ≤ 500 characters.
    description: Option<String>,
    /// Defaults to true.
    enabled: Option<bool>,
}

/// Body of `PATCH /v1/webhooks/endpoints/{id}`: each present field replaces the stored one;
/// enabling an endpoint disabled for failing clears that state.
#[derive(ToSchema)]
#[schema(as = UpdateWebhookEndpoint)]
#[allow(dead_code)]
pub struct UpdateEndpointIn {
    url: Option<String>,
    subscribed_event_types: Option<Vec<String>>,
    description: Option<String>,
    enabled: Option<bool>,
}

/// Body of `POST /v1/webhooks/endpoints/{id}/keys`: exactly one of `jwk` or `pem`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateWebhookEncryptionKey)]
pub struct CreateKeyIn {
    /// A public RSA JWK (`kty: RSA`, `n`, `e`; no private members), ≥ 2048 bits.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    jwk: Option<serde_json::Value>,
    /// An SPKI PEM block `-----BEGIN PUBLIC KEY-----…`, ≥ 2048 bits.
    #[serde(default)]
    pem: Option<String>,
    /// Optional key id for the JWE header (1..255 printable ASCII); overrides the JWK's `kid`.
    #[serde(default)]
    kid: Option<String>,
}

/// Query of the list routes of this module.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Maximum number of items to return. Defaults to 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// ID of the last item of the previous page.
    #[param(value_type = Option<String>)]
    starting_after: Option<String>,
}

// ---- helpers ---------------------------------------------------------------------------------

/// A malformed id cannot name an endpoint of this tenant: same answer as an unknown one.
pub(crate) fn endpoint_id(raw: &str) -> Result<EndpointId, ApiError> {
    EndpointId::parse(raw).map_err(|_| ApiError::new(ErrorCode::EndpointNotFound))
}

fn key_id(raw: &str) -> Result<EncryptionKeyId, ApiError> {
    EncryptionKeyId::parse(raw).map_err(|_| ApiError::new(ErrorCode::EncryptionKeyNotFound))
}

fn endpoint_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::new(ErrorCode::EndpointNotFound),
        other => ApiError::from(other),
    }
}

fn cursor<T>(
    raw: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
    what: &str,
) -> Result<Option<T>, ApiError> {
    raw.map(|raw| {
        parse(raw).ok_or_else(|| {
            ApiError::invalid_request(format!("Invalid `starting_after`: must be {what}."))
        })
    })
    .transpose()
}

fn new_secret() -> Result<WebhookSecret, ApiError> {
    WebhookSecret::generate().map_err(|e| ApiError::internal(&e))
}

/// The key of an upload, or the precise reason it is refused (never echoing the upload).
fn parse_key(body: &CreateKeyIn) -> Result<(RecipientKey, Option<String>), ApiError> {
    let parsed = match (&body.jwk, &body.pem) {
        (Some(jwk), None) => {
            if !jwk.is_object() {
                return Err(DomainError::with_message(
                    ErrorCode::InvalidEncryptionKey,
                    "Invalid `jwk`: must be a JSON object.",
                )
                .into());
            }
            let bytes = serde_json::to_vec(jwk).map_err(|e| ApiError::internal(&e))?;
            RecipientKey::from_jwk(&bytes)
        }
        (None, Some(pem)) => RecipientKey::from_spki_pem(pem),
        _ => {
            return Err(DomainError::with_message(
                ErrorCode::InvalidEncryptionKey,
                "Invalid request body: give exactly one of `jwk` or `pem`.",
            )
            .into());
        }
    };
    let key = parsed.map_err(|e| {
        let code = match e {
            KeyError::ModulusTooSmall { .. } => ErrorCode::EncryptionKeyTooWeak,
            _ => ErrorCode::InvalidEncryptionKey,
        };
        let mut text = e.to_string();
        if let Some(first) = text.get(..1) {
            let upper = first.to_ascii_uppercase();
            text.replace_range(..1, &upper);
        }
        ApiError::from(DomainError::with_message(code, format!("{text}.")))
    })?;
    let jwk_kid = body
        .jwk
        .as_ref()
        .and_then(|j| j.get("kid"))
        .and_then(|k| k.as_str())
        .map(str::to_owned);
    let kid = body
        .kid
        .clone()
        .or(jwk_kid)
        .map(|k| validate_kid(&k))
        .transpose()?;
    Ok((key, kid))
}

/// The stored public JWK: only `kty`, `n` and `e` (the RFC 7638 members), so what is kept is
/// exactly the key, whatever else the upload carried.
fn canonical_jwk(key: &RecipientKey) -> serde_json::Value {
    let full = key.to_jwk();
    serde_json::json!({"kty": "RSA", "n": full["n"], "e": full["e"]})
}

// ---- endpoints -------------------------------------------------------------------------------

/// `POST /v1/webhooks/endpoints`.
#[utoipa::path(post, path = "/v1/webhooks/endpoints", tag = "Webhooks", summary = "Create a webhook endpoint",
    request_body = CreateEndpointIn,
    responses(
        (status = 200, description = "The endpoint with its `signing_secret` (shown once).", body = crate::routes::webhooks::EndpointWithSecretEnvelope),
        (status = 400, description = "Invalid URL, event types or body.", body = crate::schema::ErrorEnvelope),
        (status = 401, description = "Missing or invalid API key.", body = crate::schema::ErrorEnvelope),
        (status = 403, description = "The key lacks `webhooks:write`.", body = crate::schema::ErrorEnvelope)))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    auth: Authenticated,
    RequiredJson(body): RequiredJson<CreateEndpointRequest>,
) -> Result<Data<EndpointWithSecretOut>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let spec = body.validate(state.allow_private_webhooks)?;
    let now = state.clock.now();
    let id = EndpointId::generate();
    let secret = new_secret()?;
    let sealed = SealedSecret::new(state.secrets.seal_signing_secret(&id, &secret));
    let endpoint = WebhookEndpoint::new(&auth.tenant(), id, spec, sealed, now);
    state.store.create_endpoint(&endpoint).await?;
    Ok(Data::new(EndpointWithSecretOut {
        endpoint: EndpointOut::new(&endpoint, now),
        signing_secret: secret.expose_whsec(),
    }))
}

/// `GET /v1/webhooks/endpoints`.
#[utoipa::path(get, path = "/v1/webhooks/endpoints", tag = "Webhooks", summary = "List webhook endpoints", params(ListQuery),
    responses(
        (status = 200, description = "A page of endpoints, newest first.", body = crate::routes::webhooks::EndpointListEnvelope),
        (status = 400, description = "Invalid query parameter.", body = crate::schema::ListErrorEnvelope),
        (status = 401, description = "Missing or invalid API key.", body = crate::schema::ListErrorEnvelope),
        (status = 403, description = "The key lacks `webhooks:read`.", body = crate::schema::ListErrorEnvelope)))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Page<EndpointOut>, ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let limit = Limit::from_query(query.limit.as_deref())?;
    let starting_after = cursor(
        query.starting_after.as_deref(),
        |s| EndpointId::parse(s).ok(),
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
        .await?;
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
#[utoipa::path(get, path = "/v1/webhooks/endpoints/{id}", tag = "Webhooks", summary = "Get a webhook endpoint",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID.")),
    responses(
        (status = 200, description = "The endpoint.", body = crate::routes::webhooks::EndpointEnvelope),
        (status = 404, description = "No such endpoint for this key.", body = crate::schema::ErrorEnvelope)))]
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
        .map_err(endpoint_error)?;
    Ok(Data::new(EndpointOut::new(&endpoint, state.clock.now())))
}

/// `PATCH /v1/webhooks/endpoints/{id}`.
#[utoipa::path(patch, path = "/v1/webhooks/endpoints/{id}", tag = "Webhooks", summary = "Update a webhook endpoint",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID.")),
    request_body = UpdateEndpointIn,
    responses(
        (status = 200, description = "The updated endpoint.", body = crate::routes::webhooks::EndpointEnvelope),
        (status = 400, description = "Invalid URL, event types or body.", body = crate::schema::ErrorEnvelope),
        (status = 404, description = "No such endpoint for this key.", body = crate::schema::ErrorEnvelope)))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    RequiredJson(body): RequiredJson<UpdateEndpointRequest>,
) -> Result<Data<EndpointOut>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let id = endpoint_id(&id)?;
    let patch = body.validate(state.allow_private_webhooks)?;
    let now = state.clock.now();
    let endpoint = state
        .store
        .update_endpoint(&auth.tenant(), &id, &patch, now)
        .await
        .map_err(endpoint_error)?;
    Ok(Data::new(EndpointOut::new(&endpoint, now)))
}

/// `DELETE /v1/webhooks/endpoints/{id}`.
#[utoipa::path(delete, path = "/v1/webhooks/endpoints/{id}", tag = "Webhooks", summary = "Delete a webhook endpoint",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID.")),
    responses(
        (status = 204, description = "Deleted with its keys and deliveries."),
        (status = 404, description = "No such endpoint for this key.", body = crate::schema::ErrorEnvelope)))]
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
        .map_err(endpoint_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/webhooks/endpoints/{id}/rotate-secret`.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/rotate-secret", tag = "Webhooks", summary = "Rotate the signing secret",
    description = "Issues a new signing secret, returned once. The previous secret keeps signing next to it for 24 hours, so deliveries carry two `v1,` signatures meanwhile.",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID.")),
    responses(
        (status = 200, description = "The endpoint with its new `signing_secret` (shown once).", body = crate::routes::webhooks::EndpointWithSecretEnvelope),
        (status = 404, description = "No such endpoint for this key.", body = crate::schema::ErrorEnvelope)))]
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
        .map_err(endpoint_error)?;
    Ok(Data::new(EndpointWithSecretOut {
        endpoint: EndpointOut::new(&endpoint, now),
        signing_secret: secret.expose_whsec(),
    }))
}

// ---- encryption keys -------------------------------------------------------------------------

/// `POST /v1/webhooks/endpoints/{id}/keys`.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/keys", tag = "Webhooks", summary = "Upload an encryption key",
    description = "The new key becomes the endpoint's active key (the others are deactivated) and deliveries waiting for a key are sent.",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID.")),
    request_body = CreateKeyIn,
    responses(
        (status = 200, description = "The stored key.", body = crate::routes::webhooks::EncryptionKeyEnvelope),
        (status = 400, description = "Not a usable RSA public key, or under 2048 bits.", body = crate::schema::ErrorEnvelope),
        (status = 404, description = "No such endpoint for this key.", body = crate::schema::ErrorEnvelope)))]
pub async fn create_key(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    RequiredJson(body): RequiredJson<CreateKeyIn>,
) -> Result<Data<EncryptionKeyOut>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let endpoint = endpoint_id(&id)?;
    let (parsed, kid) = parse_key(&body)?;
    let now = state.clock.now();
    let tenant = auth.tenant();
    let key = EncryptionKey {
        id: EncryptionKeyId::generate(),
        endpoint_id: endpoint,
        org_id: tenant.org_id.clone(),
        kid,
        jwk: canonical_jwk(&parsed),
        bits: parsed.modulus_bits(),
        active: true,
        created_at: now,
        updated_at: now,
    };
    let activation = state
        .store
        .add_key(&tenant, &key, now)
        .await
        .map_err(endpoint_error)?;
    Ok(Data::new(EncryptionKeyOut::from(&activation.key)))
}

/// `GET /v1/webhooks/endpoints/{id}/keys`.
#[utoipa::path(get, path = "/v1/webhooks/endpoints/{id}/keys", tag = "Webhooks", summary = "List an endpoint's encryption keys",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID."), ListQuery),
    responses(
        (status = 200, description = "A page of keys, newest first.", body = crate::routes::webhooks::EncryptionKeyListEnvelope),
        (status = 404, description = "No such endpoint for this key.", body = crate::schema::ListErrorEnvelope)))]
pub async fn list_keys(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Page<EncryptionKeyOut>, ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let endpoint = endpoint_id(&id)?;
    let limit = Limit::from_query(query.limit.as_deref())?;
    let starting_after = cursor(
        query.starting_after.as_deref(),
        |s| EncryptionKeyId::parse(s).ok(),
        "an encryption key ID (whk_ followed by 64 letters and digits)",
    )?;
    let page = state
        .store
        .list_keys(
            &auth.tenant(),
            &endpoint,
            &PageRequest {
                limit,
                starting_after,
            },
        )
        .await
        .map_err(endpoint_error)?;
    let items = page.items.iter().map(EncryptionKeyOut::from).collect();
    Ok(Page::new(
        items,
        limit.get(),
        page.has_more,
        |k: &EncryptionKeyOut| k.id.clone(),
    ))
}

async fn set_key_active(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
    key: &str,
    active: bool,
) -> Result<Data<EncryptionKeyOut>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let endpoint = endpoint_id(id)?;
    let key = key_id(key)?;
    let tenant = auth.tenant();
    // Tell a foreign endpoint apart from a foreign key, as a client would need to fix either.
    state
        .store
        .get_endpoint(&tenant, &endpoint)
        .await
        .map_err(endpoint_error)?;
    let activation = state
        .store
        .set_key_active(&tenant, &endpoint, &key, active, state.clock.now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::new(ErrorCode::EncryptionKeyNotFound),
            other => ApiError::from(other),
        })?;
    Ok(Data::new(EncryptionKeyOut::from(&activation.key)))
}

/// `POST /v1/webhooks/endpoints/{id}/keys/{key_id}/deactivate`.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/keys/{key_id}/deactivate", tag = "Webhooks", summary = "Deactivate an encryption key",
    description = "Idempotent. Without an active key the endpoint's deliveries wait (`blocked_no_key`) until a key is activated.",
    params(("id" = String, Path, description = "The endpoint ID."), ("key_id" = String, Path, description = "The key ID.")),
    responses(
        (status = 200, description = "The key.", body = crate::routes::webhooks::EncryptionKeyEnvelope),
        (status = 404, description = "No such endpoint or key.", body = crate::schema::ErrorEnvelope)))]
pub async fn deactivate_key(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, key)): Path<(String, String)>,
) -> Result<Data<EncryptionKeyOut>, ApiError> {
    set_key_active(&state, &auth, &id, &key, false).await
}

/// `POST /v1/webhooks/endpoints/{id}/keys/{key_id}/reactivate`.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/keys/{key_id}/reactivate", tag = "Webhooks", summary = "Reactivate an encryption key",
    description = "Makes this the endpoint's active key (deactivating the others) and releases deliveries waiting for a key. Idempotent.",
    params(("id" = String, Path, description = "The endpoint ID."), ("key_id" = String, Path, description = "The key ID.")),
    responses(
        (status = 200, description = "The key.", body = crate::routes::webhooks::EncryptionKeyEnvelope),
        (status = 404, description = "No such endpoint or key.", body = crate::schema::ErrorEnvelope)))]
pub async fn reactivate_key(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, key)): Path<(String, String)>,
) -> Result<Data<EncryptionKeyOut>, ApiError> {
    set_key_active(&state, &auth, &id, &key, true).await
}

// ---- deliveries ------------------------------------------------------------------------------

/// One try of a delivery.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDeliveryAttempt)]
pub struct AttemptOut {
    /// 1 for the first try.
    pub attempt: u32,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    /// The receiver's HTTP status, null when no response arrived.
    #[schema(required = true)]
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// The first 1 KiB of the receiver's response body.
    #[schema(required = true)]
    pub response_body: Option<String>,
    /// Why the try failed without a usable answer (timeout, connect, refused address, …).
    #[schema(required = true)]
    pub error_kind: Option<String>,
}

impl From<&DeliveryAttempt> for AttemptOut {
    fn from(a: &DeliveryAttempt) -> Self {
        let response_body = a.response_body.as_ref().map(|body| {
            let mut end = body.len().min(idgate_core::webhook::MAX_ATTEMPT_BODY_BYTES);
            while !body.is_char_boundary(end) {
                end -= 1;
            }
            body.get(..end).unwrap_or_default().to_owned()
        });
        Self {
            attempt: a.attempt,
            started_at: a.started_at,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            response_body,
            error_kind: a.error_kind.clone(),
        }
    }
}

/// One event sent (or waiting to be sent) to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct DeliveryOut {
    #[schema(pattern = r"^whd_[A-Za-z0-9]{64}$")]
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub session_id: String,
    /// `pending`, `blocked_no_key`, `succeeded`, `failed` or `cancelled`.
    #[schema(value_type = String)]
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    /// When the next try is due (pending only).
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub next_attempt_at: Option<Timestamp>,
    #[schema(required = true)]
    pub last_error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub completed_at: Option<Timestamp>,
    /// Every try, oldest first.
    pub attempts: Vec<AttemptOut>,
}

impl From<&Delivery> for DeliveryOut {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id.to_string(),
            event_id: d.event_id.to_string(),
            endpoint_id: d.endpoint_id.to_string(),
            session_id: d.session_id.to_string(),
            status: d.status,
            attempt_count: d.attempt_count,
            next_attempt_at: d.next_attempt_at,
            last_error: d.last_error.clone(),
            created_at: d.created_at,
            updated_at: d.updated_at,
            completed_at: d.completed_at,
            attempts: d.attempts.iter().map(AttemptOut::from).collect(),
        }
    }
}

/// Query of `GET /v1/webhooks/deliveries`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveriesQuery {
    /// Only deliveries to this endpoint.
    #[param(value_type = Option<String>, pattern = r"^whe_[A-Za-z0-9]{64}$")]
    endpoint_id: Option<String>,
    /// Only deliveries of this event.
    #[param(value_type = Option<String>, pattern = r"^evt_[A-Za-z0-9]{64}$")]
    event_id: Option<String>,
    /// Only deliveries in this status.
    #[param(value_type = Option<String>)]
    status: Option<String>,
    /// Maximum number of deliveries to return. Defaults to 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// ID of the last delivery of the previous page.
    #[param(value_type = Option<String>, pattern = r"^whd_[A-Za-z0-9]{64}$")]
    starting_after: Option<String>,
}

fn delivery_id(raw: &str) -> Result<DeliveryId, ApiError> {
    DeliveryId::parse(raw).map_err(|_| ApiError::new(ErrorCode::DeliveryNotFound))
}

fn delivery_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::new(ErrorCode::DeliveryNotFound),
        other => ApiError::from(other),
    }
}

/// `GET /v1/webhooks/deliveries`.
#[utoipa::path(get, path = "/v1/webhooks/deliveries", tag = "Webhooks", summary = "List deliveries with their attempts", params(ListDeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries, newest first.", body = crate::routes::webhooks::DeliveryListEnvelope),
        (status = 400, description = "Invalid query parameter.", body = crate::schema::ListErrorEnvelope),
        (status = 403, description = "The key lacks `webhooks:read`.", body = crate::schema::ListErrorEnvelope)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(query): ApiQuery<ListDeliveriesQuery>,
) -> Result<Page<DeliveryOut>, ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let limit = Limit::from_query(query.limit.as_deref())?;
    let filter = DeliveryFilter::from_query(
        query.endpoint_id.as_deref(),
        query.event_id.as_deref(),
        query.status.as_deref(),
    )?;
    let starting_after = cursor(
        query.starting_after.as_deref(),
        |s| DeliveryId::parse(s).ok(),
        "a delivery ID (whd_ followed by 64 letters and digits)",
    )?;
    let page = state
        .store
        .list_deliveries(
            &auth.tenant(),
            &filter,
            &PageRequest {
                limit,
                starting_after,
            },
        )
        .await?;
    let items = page.items.iter().map(DeliveryOut::from).collect();
    Ok(Page::new(
        items,
        limit.get(),
        page.has_more,
        |d: &DeliveryOut| d.id.clone(),
    ))
}

/// `GET /v1/webhooks/deliveries/{id}`.
#[utoipa::path(get, path = "/v1/webhooks/deliveries/{id}", tag = "Webhooks", summary = "Get a delivery with its attempts",
    params(("id" = String, Path, pattern = r"^whd_[A-Za-z0-9]{64}$", description = "The delivery ID.")),
    responses(
        (status = 200, description = "The delivery.", body = crate::routes::webhooks::DeliveryEnvelope),
        (status = 404, description = "No such delivery for this key.", body = crate::schema::ErrorEnvelope)))]
pub async fn get_delivery(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Data<DeliveryOut>, ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let id = delivery_id(&id)?;
    let delivery = state
        .store
        .get_delivery(&auth.tenant(), &id)
        .await
        .map_err(delivery_error)?;
    Ok(Data::new(DeliveryOut::from(&delivery)))
}

/// `POST /v1/webhooks/deliveries/{id}/retry`.
#[utoipa::path(post, path = "/v1/webhooks/deliveries/{id}/retry", tag = "Webhooks", summary = "Retry a delivery",
    description = "A `failed` delivery is sent again and a `pending` one is made due now; attempt numbers continue. `succeeded` (replay the event instead), `cancelled` (its session was erased) and `blocked_no_key` (activate a key instead) answer 409.",
    params(("id" = String, Path, pattern = r"^whd_[A-Za-z0-9]{64}$", description = "The delivery ID.")),
    responses(
        (status = 200, description = "The delivery, pending and due now.", body = crate::routes::webhooks::DeliveryEnvelope),
        (status = 404, description = "No such delivery for this key.", body = crate::schema::ErrorEnvelope),
        (status = 409, description = "The delivery cannot be retried in its state.", body = crate::schema::ErrorEnvelope)))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Data<DeliveryOut>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let id = delivery_id(&id)?;
    let outcome = state
        .store
        .retry_delivery(&auth.tenant(), &id, state.clock.now())
        .await
        .map_err(delivery_error)?;
    match outcome {
        RetryOutcome::Retried(delivery) => Ok(Data::new(DeliveryOut::from(&*delivery))),
        RetryOutcome::NotRetryable(status) => Err(DomainError::with_message(
            ErrorCode::DeliveryNotRetryable,
            format!("This delivery cannot be retried: it is {status}."),
        )
        .into()),
        RetryOutcome::PayloadGone => Err(DomainError::with_message(
            ErrorCode::DeliveryNotRetryable,
            "This delivery cannot be retried: its event's payload was erased or purged.",
        )
        .into()),
    }
}

// ---- envelopes (OpenAPI) ---------------------------------------------------------------------

pub(crate) fn null_schema() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::Schema::Object(
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Null)
            .build(),
    )
}

macro_rules! envelope {
    ($name:ident, $data:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            data: $data,
            #[schema(schema_with = $crate::routes::webhooks::null_schema)]
            error: (),
        }
    };
    ($name:ident, $data:ty, $doc:literal, paginated) => {
        #[doc = $doc]
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            data: Vec<$data>,
            #[schema(schema_with = $crate::routes::webhooks::null_schema)]
            error: (),
            pagination: crate::envelope::Pagination,
        }
    };
}
pub(crate) use envelope;

envelope!(EndpointEnvelope, EndpointOut, "One webhook endpoint.");
envelope!(
    EndpointWithSecretEnvelope,
    EndpointWithSecretOut,
    "A webhook endpoint with its signing secret (create and rotate only)."
);
envelope!(
    EndpointListEnvelope,
    EndpointOut,
    "A page of webhook endpoints, newest first.",
    paginated
);
envelope!(
    EncryptionKeyEnvelope,
    EncryptionKeyOut,
    "One encryption key."
);
envelope!(
    EncryptionKeyListEnvelope,
    EncryptionKeyOut,
    "A page of encryption keys, newest first.",
    paginated
);
envelope!(
    DeliveryEnvelope,
    DeliveryOut,
    "One delivery with its attempts."
);
envelope!(
    DeliveryListEnvelope,
    DeliveryOut,
    "A page of deliveries with their attempts, newest first.",
    paginated
);
