//! Operational endpoints without authentication: liveness, readiness and Prometheus metrics
//! (docs/api.md "Operational endpoints").

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use idgate_core::ErrorCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::envelope::Data;
use crate::error::{ApiError, ErrorChain};
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The answer of a health or readiness check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    #[schema(pattern = "^(ok|ready)$")]
    status: &'static str,
}

/// `GET /healthz`: the process is up and serving; touches nothing else.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "Operations", security(()),
    responses((status = 200, description = "The process is up.", body = Data<Health>)))]
pub async fn healthz() -> Data<Health> {
    Data::new(Health { status: "ok" })
}

/// `GET /readyz`: the database answers, so this node can serve API traffic.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "Operations", security(()), responses(
    (status = 200, description = "The database is reachable.", body = Data<Health>),
    (status = 503, description = "The database is not reachable.")))]
pub async fn readyz(State(state): State<AppState>) -> Result<Data<Health>, ApiError> {
    state.store.ping().await.map_err(|error| {
        ApiError::new(ErrorCode::ServiceUnavailable).with_cause(&ErrorChain(&error))
    })?;
    Ok(Data::new(Health { status: "ready" }))
}

/// `GET /metrics`: Prometheus text exposition format 0.0.4.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "Operations", security(()), responses((status = 200, description = "Prometheus metrics.", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
