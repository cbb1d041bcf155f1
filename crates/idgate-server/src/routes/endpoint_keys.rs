//! `/v1/webhooks/endpoints/{id}/keys…`: the RSA public keys webhook payloads are encrypted to
//! (docs/webhooks.md "Management API"), one active per endpoint. Scopes `webhooks:read` /
//! `webhooks:write`. Only public material is ever stored or returned.

use std::borrow::Cow;

use axum::extract::{Path, State};
use idgate_core::webhook::validate_kid;
use idgate_core::{
    EncryptionKey, EncryptionKeyId, Error as DomainError, ErrorCode, Limit, PageRequest, Scope,
    Timestamp,
};
use idgate_webhook::keys::{KeyError, RecipientKey};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticated;
use crate::envelope::{Data, Page};
use crate::error::{ApiError, Resource};
use crate::extract::{ApiQuery, RequiredJson};
use crate::openapi::string_enum;
use crate::routes::cursor;
use crate::routes::webhook_endpoints::endpoint_id;
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(deactivate_key))
        .routes(routes!(reactivate_key))
}

// ---- wire types ------------------------------------------------------------------------------

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

/// Body of `POST /v1/webhooks/endpoints/{id}/keys`: exactly one of `jwk` or `pem`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyIn {
    /// A public RSA JWK (`kty: RSA`, `n`, `e`; no private members), ≥ 2048 bits.
    #[serde(default)]
    jwk: Option<serde_json::Value>,
    /// An SPKI PEM block `-----BEGIN PUBLIC KEY-----…`, ≥ 2048 bits.
    #[serde(default)]
    pem: Option<String>,
    /// Optional key id for the JWE header (1..255 printable ASCII); overrides the JWK's `kid`.
    #[serde(default)]
    kid: Option<String>,
}

impl ToSchema for CreateKeyIn {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CreateWebhookEncryptionKey")
    }
}

/// Two shapes, one per way to give the key; the other member is absent or null. Whether the
/// material is a real RSA key of at least 2048 bits only parsing it can tell (400).
impl PartialSchema for CreateKeyIn {
    fn schema() -> RefOr<Schema> {
        let base64url = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Za-z0-9_-]+$"))
        };
        let jwk = ObjectBuilder::new()
            .property("kty", string_enum(["RSA"], "Key type."))
            .required("kty")
            .property("n", base64url().description(Some("Modulus, base64url.")))
            .required("n")
            .property(
                "e",
                base64url().description(Some("Public exponent, base64url.")),
            )
            .required("e")
            .description(Some(
                "A public RSA JWK (RFC 7517), at least 2048 bits; private members are refused.",
            ));
        let pem = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(idgate_webhook::keys::MAX_UPLOAD_LEN))
            .pattern(Some(
                r"^\s*-----BEGIN PUBLIC KEY-----\r?\n(?:[A-Za-z0-9+/=]+\r?\n)+-----END PUBLIC KEY-----\s*$",
            ))
            .description(Some("An SPKI PEM block, at least 2048 bits."));
        let kid = || {
            ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .min_length(Some(1))
            .max_length(Some(idgate_core::webhook::MAX_KID_LEN))
            .pattern(Some("^[!-~]+$"))
            .description(Some(
                "Key id for the JWE header (1..255 printable ASCII); overrides the JWK's `kid`.",
            ))
        };
        let null = || ObjectBuilder::new().schema_type(Type::Null);
        let shape = |given: &str, material: ObjectBuilder, other: &str| {
            ObjectBuilder::new()
                .property(given, material)
                .required(given)
                .property(other, null())
                .property("kid", kid())
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        };
        Schema::OneOf(
            OneOfBuilder::new()
                .item(shape("jwk", jwk, "pem"))
                .item(shape("pem", pem, "jwk"))
                .description(Some("Exactly one of `jwk` or `pem`."))
                .build(),
        )
        .into()
    }
}

/// Query of `GET /v1/webhooks/endpoints/{id}/keys`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListKeysQuery {
    /// Maximum number of items to return. Defaults to 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// ID of the last key of the previous page; one that names no key of this endpoint is
    /// `404 NOT_FOUND`.
    #[param(value_type = Option<String>, pattern = r"^whk_[A-Za-z0-9]{64}$")]
    starting_after: Option<String>,
}

/// A malformed id cannot name a key of this endpoint: same answer as an unknown one.
fn key_id(raw: &str) -> Result<EncryptionKeyId, ApiError> {
    EncryptionKeyId::parse(raw).map_err(|_| ApiError::not_found(Resource::EncryptionKey))
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
    serde_json::json!({"kty": "RSA", "n": full.get("n"), "e": full.get("e")})
}

// ---- handlers --------------------------------------------------------------------------------

/// `POST /v1/webhooks/endpoints/{id}/keys`.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/keys", operation_id = "createEncryptionKey", tag = "Webhooks", summary = "Upload an encryption key",
    description = "The new key becomes the endpoint's active key (the others are deactivated) and deliveries waiting for a key are sent.",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID.")),
    request_body = CreateKeyIn,
    responses(
        (status = 200, description = "The stored key.", body = Data<EncryptionKeyOut>),
        (status = 400, description = "Not a usable RSA public key, or under 2048 bits."),
        (status = 404, description = "No such endpoint for this key.")))]
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
        .map_err(|e| ApiError::from_store(e, Resource::WebhookEndpoint))?;
    Ok(Data::new(EncryptionKeyOut::from(&activation.key)))
}

/// `GET /v1/webhooks/endpoints/{id}/keys`.
#[utoipa::path(get, path = "/v1/webhooks/endpoints/{id}/keys", operation_id = "listEncryptionKeys", tag = "Webhooks", summary = "List an endpoint's encryption keys",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID."), ListKeysQuery),
    responses(
        (status = 200, description = "A page of keys, newest first.", body = Page<EncryptionKeyOut>),
        (status = 404, description = "No such endpoint for this key, or `starting_after` names no key of it.")))]
pub async fn list_keys(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ListKeysQuery>,
) -> Result<Page<EncryptionKeyOut>, ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let endpoint = endpoint_id(&id)?;
    let limit = Limit::from_query(query.limit.as_deref())?;
    let starting_after = cursor(
        query.starting_after.as_deref(),
        EncryptionKeyId::parse,
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
        .map_err(|e| ApiError::from_store(e, Resource::WebhookEndpoint))?;
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
        .map_err(|e| ApiError::from_store(e, Resource::WebhookEndpoint))?;
    let activation = state
        .store
        .set_key_active(&tenant, &endpoint, &key, active, state.clock.now())
        .await
        .map_err(|e| ApiError::from_store(e, Resource::EncryptionKey))?;
    Ok(Data::new(EncryptionKeyOut::from(&activation.key)))
}

/// `POST /v1/webhooks/endpoints/{id}/keys/{key_id}/deactivate`.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/keys/{key_id}/deactivate", operation_id = "deactivateEncryptionKey", tag = "Webhooks", summary = "Deactivate an encryption key",
    description = "Idempotent. Without an active key the endpoint's deliveries wait (`blocked_no_key`) until a key is activated.",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID."), ("key_id" = String, Path, pattern = r"^whk_[A-Za-z0-9]{64}$", description = "The key ID.")),
    responses(
        (status = 200, description = "The key.", body = Data<EncryptionKeyOut>),
        (status = 404, description = "No such endpoint or key.")))]
pub async fn deactivate_key(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, key)): Path<(String, String)>,
) -> Result<Data<EncryptionKeyOut>, ApiError> {
    set_key_active(&state, &auth, &id, &key, false).await
}

/// `POST /v1/webhooks/endpoints/{id}/keys/{key_id}/reactivate`.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/keys/{key_id}/reactivate", operation_id = "reactivateEncryptionKey", tag = "Webhooks", summary = "Reactivate an encryption key",
    description = "Makes this the endpoint's active key (deactivating the others) and releases deliveries waiting for a key. Idempotent.",
    params(("id" = String, Path, pattern = r"^whe_[A-Za-z0-9]{64}$", description = "The endpoint ID."), ("key_id" = String, Path, pattern = r"^whk_[A-Za-z0-9]{64}$", description = "The key ID.")),
    responses(
        (status = 200, description = "The key.", body = Data<EncryptionKeyOut>),
        (status = 404, description = "No such endpoint or key.")))]
pub async fn reactivate_key(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, key)): Path<(String, String)>,
) -> Result<Data<EncryptionKeyOut>, ApiError> {
    set_key_active(&state, &auth, &id, &key, true).await
}
