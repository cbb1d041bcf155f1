//! Operational endpoints without authentication: liveness, readiness and Prometheus metrics
//! (api.md "Operational endpoints").

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use idgate_core::ErrorCode;
use idgate_store::Store;
use serde_json::json;

use crate::envelope::Data;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz`: the process is up and serving; touches nothing else.
#[utoipa::path(get, path = "/healthz", tag = "Operations", security(()), responses((status = 200, description = "The process is up.")))]
pub async fn healthz() -> impl IntoResponse {
    Data::new(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers, so this node can serve API traffic.
#[utoipa::path(get, path = "/readyz", tag = "Operations", security(()), responses(
    (status = 200, description = "The database is reachable."),
    (status = 503, description = "The database is not reachable.")))]
pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(Data::new(json!({ "status": "ready" }))),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            Err(ApiError::new(ErrorCode::ServiceUnavailable))
        }
    }
}

/// `GET /metrics`: Prometheus text exposition format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "Operations", security(()), responses((status = 200, description = "Prometheus metrics.", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
