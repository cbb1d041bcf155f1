//! `/v1/api-keys…`: integrators with `keys:manage` create, list, rename, rescope, disable and
//! delete their organization's keys (docs/api.md "Organizations and keys"); a test-mode key only
//! its organization's test keys ([`idgate_core::KeyAudience`]). The plaintext of a key appears in
//! exactly one response, the create; afterwards only its hash exists.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use idgate_core::{
    ApiKey, ApiKeyId, ApiKeyPatch, Environment, ErrorCode, Limit, PageRequest, Scope, Scopes,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, Schema, SchemaType, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticated;
use crate::envelope::{Data, Page};
use crate::error::{ApiError, Resource};
use crate::extract::{ApiQuery, RequiredJson};
use crate::openapi::{nullable_string_enum, string_enum};
use crate::routes::cursor;
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(update, delete))
}

/// Scopes of a key created without `scopes`: everything except managing keys, so a leaked
/// integration key cannot mint more keys.
const DEFAULT_SCOPES: [Scope; 4] = [
    Scope::SessionsRead,
    Scope::SessionsWrite,
    Scope::WebhooksRead,
    Scope::WebhooksWrite,
];

/// An API key as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKey)]
pub struct ApiKeyOut {
    #[schema(pattern = r"^key_[A-Za-z0-9]{64}$")]
    pub id: String,
    pub name: String,
    /// `live` or `test`; test keys see only test-mode objects.
    #[schema(schema_with = environment_schema)]
    pub environment: Environment,
    /// Granted scopes.
    #[schema(schema_with = scopes_schema)]
    pub scopes: Scopes,
    pub enabled: bool,
    /// The first characters of the key, to tell keys apart.
    pub key_prefix: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub last_used_at: Option<Timestamp>,
}

impl From<&ApiKey> for ApiKeyOut {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name.clone(),
            environment: k.environment,
            scopes: k.scopes.clone(),
            enabled: k.enabled,
            key_prefix: k.key_prefix.clone(),
            created_at: k.created_at,
            updated_at: k.updated_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// A newly created API key: the only response that ever contains `key`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKeyCreated)]
pub struct ApiKeyCreatedOut {
    #[serde(flatten)]
    pub api_key: ApiKeyOut,
    /// The secret key (`kk_live_…` or `kk_test_…`). Shown once; store it now.
    #[schema(pattern = r"^kk_(live|test)_[A-Za-z0-9]{40}$")]
    pub key: String,
}

fn environment_schema() -> Schema {
    string_enum(
        [Environment::Live, Environment::Test].map(Environment::as_str),
        "`live` or `test`; test keys see only test-mode objects.",
    )
}

/// `environment` of a create: `live`, `test`, or null for the calling key's.
fn environment_input_schema() -> Schema {
    nullable_string_enum(
        [Environment::Live, Environment::Test].map(Environment::as_str),
        "`live` or `test`; defaults to the calling key's. A test key can create only test keys.",
    )
}

/// `scopes` of a create or update: a non-empty set, or null (default scopes, or unchanged).
fn scopes_input_schema() -> Schema {
    Schema::Array(
        ArrayBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .items(utoipa::openapi::RefOr::T(string_enum(
                Scope::ALL.map(Scope::as_str),
                "A scope.",
            )))
            .min_items(Some(1))
            .build(),
    )
}

fn scopes_schema() -> Schema {
    Schema::Array(
        ArrayBuilder::new()
            .items(utoipa::openapi::RefOr::T(string_enum(
                Scope::ALL.map(Scope::as_str),
                "A scope.",
            )))
            .min_items(Some(1))
            .unique_items(true)
            .build(),
    )
}

/// Body of `POST /v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateApiKey)]
pub struct CreateApiKeyIn {
    /// 1..100 printable characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    /// Defaults to every scope except `keys:manage`.
    #[serde(default)]
    #[schema(schema_with = scopes_input_schema)]
    scopes: Option<Vec<String>>,
    /// `live` or `test`; defaults to the calling key's. A test key can create only test keys.
    #[serde(default)]
    #[schema(schema_with = environment_input_schema)]
    environment: Option<String>,
}

/// Body of `PATCH /v1/api-keys/{id}`: each present field replaces the stored one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateApiKey)]
pub struct UpdateApiKeyIn {
    /// 1..100 printable characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = scopes_input_schema)]
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
    /// ID of the last key of the previous page; one that names no key of this list is
    /// `404 NOT_FOUND`.
    #[param(value_type = Option<String>, pattern = r"^key_[A-Za-z0-9]{64}$")]
    starting_after: Option<String>,
}

fn key_id(raw: &str) -> Result<ApiKeyId, ApiError> {
    // A malformed id cannot name a key of this organization: same answer as an unknown one.
    ApiKeyId::parse(raw).map_err(|_| ApiError::not_found(Resource::ApiKey))
}

/// `POST /v1/api-keys`.
#[utoipa::path(post, path = "/v1/api-keys", operation_id = "createApiKey", tag = "API keys", summary = "Create an API key", request_body = CreateApiKeyIn,
    responses(
        (status = 200, description = "The new key, including its secret `key` (shown once).", body = Data<ApiKeyCreatedOut>),
        (status = 403, description = "The key lacks `keys:manage`, or a test key asked for a live key.")))]
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
        .await
        .map_err(|e| ApiError::from_store(e, Resource::ApiKey))?;
    Ok(Data::new(ApiKeyCreatedOut {
        api_key: ApiKeyOut::from(&key),
        key: secret.expose().to_owned(),
    }))
}

/// `GET /v1/api-keys`.
#[utoipa::path(get, path = "/v1/api-keys", operation_id = "listApiKeys", tag = "API keys", summary = "List API keys", params(ListApiKeysQuery),
    responses(
        (status = 200, description = "A page of keys (never their secrets).", body = Page<ApiKeyOut>),
        (status = 404, description = "`starting_after` names no key of this list.")))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(query): ApiQuery<ListApiKeysQuery>,
) -> Result<Page<ApiKeyOut>, ApiError> {
    auth.require(Scope::KeysManage)?;
    let limit = Limit::from_query(query.limit.as_deref())?;
    let starting_after = cursor(
        query.starting_after.as_deref(),
        ApiKeyId::parse,
        "an API key ID",
    )?;
    let page = state
        .store
        .list_api_keys(
            &auth.tenant().api_keys(),
            &PageRequest {
                limit,
                starting_after,
            },
        )
        .await
        .map_err(|e| ApiError::from_store(e, Resource::ApiKey))?;
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
#[utoipa::path(patch, path = "/v1/api-keys/{id}", operation_id = "updateApiKey", tag = "API keys", summary = "Rename, rescope, disable or enable an API key",
    params(("id" = String, Path, pattern = r"^key_[A-Za-z0-9]{64}$", description = "The API key ID.")), request_body = UpdateApiKeyIn,
    responses(
        (status = 200, description = "The updated key.", body = Data<ApiKeyOut>),
        (status = 404, description = "No such key in this organization.")))]
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
        .map_err(|e| ApiError::from_store(e, Resource::ApiKey))?;
    Ok(Data::new(ApiKeyOut::from(&key)))
}

/// `DELETE /v1/api-keys/{id}`.
///
/// Like a change, a deletion applies at once on this server and within one second on others.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", operation_id = "deleteApiKey", tag = "API keys", summary = "Delete an API key",
    params(("id" = String, Path, pattern = r"^key_[A-Za-z0-9]{64}$", description = "The API key ID.")),
    responses(
        (status = 204, description = "Deleted; the key no longer authenticates."),
        (status = 404, description = "No such key in this organization.")))]
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
        .map_err(|e| ApiError::from_store(e, Resource::ApiKey))?;
    Ok(StatusCode::NO_CONTENT)
}
