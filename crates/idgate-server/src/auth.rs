//! Integrator authentication, tenancy and per-key rate limiting, as one extractor.
//!
//! `Authorization: Bearer kk_live_…` (or `kk_test_…`). The key is HMAC-SHA256'd under the
//! server's API-key hash key and looked up by that hash, so no comparison ever touches the
//! plaintext and timing cannot leak it (docs/api.md "Authentication and tenancy"). Unknown,
//! disabled and deleted keys are all `401 UNAUTHORIZED`; the tenant is the key's organization and
//! its environment, so test-mode keys see only test-mode objects. Order of checks: 401, then 429
//! (per key), then 403 (scope, see [`Authenticated::require`]), then request validation.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use idgate_core::{ApiKey, ApiKeySecret, ErrorCode, Scope, Tenant};

use crate::error::{ApiError, Resource};
use crate::rate_limit::retry_after_secs;
use crate::state::AppState;

/// The caller, once its key is known good and within its rate limit.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub key: ApiKey,
}

impl Authenticated {
    /// The organization and environment every query of this request is scoped to.
    pub fn tenant(&self) -> Tenant {
        Tenant {
            org_id: self.key.org_id.clone(),
            environment: self.key.environment,
        }
    }

    /// `403 FORBIDDEN` unless the key carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.key.allows(scope) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::Forbidden))
        }
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let key = api_key(&state, &parts.headers).await?;
        state
            .limiter
            .check(key.id.as_str())
            .map_err(|wait| ApiError::rate_limited(retry_after_secs(wait)))?;
        Ok(Self { key })
    }
}

/// The enabled API key of `Authorization: Bearer kk_…`, looked up by its keyed hash; `401
/// UNAUTHORIZED` when it is missing, unknown, disabled or deleted. No rate limit or scope yet:
/// the callers apply them.
pub(crate) async fn api_key(state: &AppState, headers: &HeaderMap) -> Result<ApiKey, ApiError> {
    let unauthorized = || ApiError::new(ErrorCode::Unauthorized);
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| ApiKeySecret::parse(token.trim()))
        .ok_or_else(unauthorized)?;
    let hash = secret.hash(state.secrets.api_key_hash.expose());
    state
        .store
        .authenticate_api_key(&hash, state.clock.now())
        .await
        .map_err(|e| ApiError::from_store(e, Resource::ApiKey))?
        .filter(|key| key.enabled)
        .ok_or_else(unauthorized)
}
