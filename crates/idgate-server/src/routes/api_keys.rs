//! `/v1/api-keys…`: integrators with `keys:manage` create, list, rename, rescope, disable and
//! delete their organization's keys (api.md "Authentication and tenancy"); a test-mode key only
//! its organization's test keys ([`idgate_core::KeyAudience`]). The plaintext of a key appears in
//! exactly one response, the create; afterwards only its hash exists.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use idgate_core::{
    ApiKey, ApiKeyId, ApiKeyPatch, Environment, ErrorCode, Limit, PageRequest, Scope, Scopes,
};
use idgate_store::Store;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::envelope::{Data, Page};
use crate::error::ApiError;
use crate::extract::{ApiQuery, RequiredJson};
use crate::schema::{ApiKeyCreatedOut, ApiKeyOut};
use crate::state::AppState;

/// Scopes of a key created without `scopes`: everything except managing keys, so a leaked
/// integration key cannot mint more keys.
const DEFAULT_SCOPES: [Scope; 4] = [
    Scope::SessionsRead,
    Scope::SessionsWrite,
    Scope::WebhooksRead,
    Scope::WebhooksWrite,
];

/// Body of `POST /v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateApiKey)]
pub struct CreateApiKeyIn {
    /// 1..100 printable characters.
    name: String,
    /// Defaults to every scope except `keys:manage`.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// `live` or `test`; defaults to the calling key's. A test key can create only test keys.
    #[serde(default)]
    environment: Option<String>,
}

/// Body of `PATCH /v1/api-keys/{id}`: each present field replaces the stored one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateApiKey)]
pub struct UpdateApiKeyIn {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// A disabled key is answered `401` until enabled again.
    #[serde(default)]
    enabled: Option<bool>,
}

/// Query of `GET /v1/api-keys`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListApiKeysQuery {
    /// Maximum number of keys to return. Defaults to 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// ID of the last key of the previous page.
    #[param(value_type = Option<String>)]
    starting_after: Option<String>,
}

fn key_id(raw: &str) -> Result<ApiKeyId, ApiError> {
    // A malformed id cannot name a key of this organization: same answer as an unknown one.
    ApiKeyId::parse(raw).map_err(|_| ApiError::new(ErrorCode::ApiKeyNotFound))
}

/// `POST /v1/api-keys`.
#[utoipa::path(post, path = "/v1/api-keys", tag = "API keys", summary = "Create an API key", request_body = CreateApiKeyIn,
    responses(
        (status = 200, description = "The new key, including its secret `key` (shown once).", body = crate::schema::ApiKeyCreatedEnvelope),
        (status = 400, description = "Invalid request.", body = crate::schema::ErrorEnvelope),
        (status = 401, description = "Missing or invalid API key.", body = crate::schema::ErrorEnvelope),
        (status = 403, description = "The key lacks `keys:manage`.", body = crate::schema::ErrorEnvelope)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    RequiredJson(body): RequiredJson<CreateApiKeyIn>,
) -> Result<Data<ApiKeyCreatedOut>, ApiError> {
    auth.require(Scope::KeysManage)?;
    let scopes = match &body.scopes {
        Some(names) => Scopes::parse(names)?,
        None => Scopes::new(DEFAULT_SCOPES)
            .ok_or_else(|| ApiError::internal(&"empty default scopes"))?,
    };
    let environment = match body.environment.as_deref() {
        None => auth.key.environment,
        Some(raw) => Environment::parse(raw).ok_or_else(|| {
            ApiError::invalid_request("Invalid `environment`: must be live or test.")
        })?,
    };
    if !auth.tenant().api_keys().sees(environment) {
        return Err(ApiError::new(ErrorCode::Forbidden));
    }
    let (key, secret) = ApiKey::generate(
        &auth.key.org_id,
        &body.name,
        environment,
        scopes,
        state.clock.now(),
    )?;
    state
        .store
        .create_api_key(&key, &secret.hash(state.secrets.api_key_hash.expose()))
        .await?;
    Ok(Data::new(ApiKeyCreatedOut {
        api_key: ApiKeyOut::from(&key),
        key: secret.expose().to_owned(),
    }))
}

/// `GET /v1/api-keys`.
#[utoipa::path(get, path = "/v1/api-keys", tag = "API keys", summary = "List API keys", params(ListApiKeysQuery),
    responses(
        (status = 200, description = "A page of keys (never their secrets).", body = crate::schema::ApiKeyListEnvelope),
        (status = 401, description = "Missing or invalid API key.", body = crate::schema::ListErrorEnvelope),
        (status = 403, description = "The key lacks `keys:manage`.", body = crate::schema::ListErrorEnvelope)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(query): ApiQuery<ListApiKeysQuery>,
) -> Result<Page<ApiKeyOut>, ApiError> {
    auth.require(Scope::KeysManage)?;
    let limit = Limit::from_query(query.limit.as_deref())?;
    let starting_after = query
        .starting_after
        .as_deref()
        .map(|raw| {
            ApiKeyId::parse(raw).map_err(|_| {
                ApiError::invalid_request("Invalid `starting_after`: must be an API key ID.")
            })
        })
        .transpose()?;
    let page = state
        .store
        .list_api_keys(
            &auth.tenant().api_keys(),
            &PageRequest {
                limit,
                starting_after,
            },
        )
        .await?;
    let items: Vec<ApiKeyOut> = page.items.iter().map(ApiKeyOut::from).collect();
    Ok(Page::new(
        items,
        limit.get(),
        page.has_more,
        |key: &ApiKeyOut| key.id.clone(),
    ))
}

/// `PATCH /v1/api-keys/{id}`.
///
/// A change applies at once on the server that made it and within one second on other nodes of
/// a PostgreSQL deployment, which serve recently used keys from a one-second cache.
#[utoipa::path(patch, path = "/v1/api-keys/{id}", tag = "API keys", summary = "Rename, rescope, disable or enable an API key",
    params(("id" = String, Path, description = "The API key ID.")), request_body = UpdateApiKeyIn,
    responses(
        (status = 200, description = "The updated key.", body = crate::schema::ApiKeyEnvelope),
        (status = 400, description = "Invalid request.", body = crate::schema::ErrorEnvelope),
        (status = 404, description = "No such key in this organization.", body = crate::schema::ErrorEnvelope)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    RequiredJson(body): RequiredJson<UpdateApiKeyIn>,
) -> Result<Data<ApiKeyOut>, ApiError> {
    auth.require(Scope::KeysManage)?;
    let id = key_id(&id)?;
    let patch = ApiKeyPatch {
        name: body
            .name
            .as_deref()
            .map(idgate_core::api_key::validate_key_name)
            .transpose()?,
        scopes: body.scopes.as_deref().map(Scopes::parse).transpose()?,
        enabled: body.enabled,
    };
    let key = state
        .store
        .update_api_key(&auth.tenant().api_keys(), &id, &patch, state.clock.now())
        .await
        .map_err(ApiError::from_api_key_store)?;
    Ok(Data::new(ApiKeyOut::from(&key)))
}

/// `DELETE /v1/api-keys/{id}`.
///
/// Like a change, a deletion applies at once on this server and within one second on others.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "API keys", summary = "Delete an API key",
    params(("id" = String, Path, description = "The API key ID.")),
    responses(
        (status = 204, description = "Deleted; the key no longer authenticates."),
        (status = 404, description = "No such key in this organization.", body = crate::schema::ErrorEnvelope)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Scope::KeysManage)?;
    let id = key_id(&id)?;
    state
        .store
        .delete_api_key(&auth.tenant().api_keys(), &id)
        .await
        .map_err(ApiError::from_api_key_store)?;
    Ok(StatusCode::NO_CONTENT)
}
