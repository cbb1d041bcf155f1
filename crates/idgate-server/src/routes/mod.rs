//! HTTP handlers, one module per resource. Each module owns its request and response types and
//! registers its handlers, with their OpenAPI documentation, in its `routes()`.

use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;

pub mod api_keys;
pub mod deliveries;
pub mod docs;
pub mod endpoint_keys;
pub mod events;
pub mod ops;
pub mod sessions;
pub mod verify;
pub mod webhook_endpoints;

/// Every route of the application.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(sessions::routes())
        .merge(verify::routes())
        .merge(api_keys::routes())
        .merge(webhook_endpoints::routes())
        .merge(endpoint_keys::routes())
        .merge(deliveries::routes())
        .merge(events::routes())
        .merge(ops::routes())
        .merge(docs::routes())
}

/// The `starting_after` of a list: absent, or an id of the listed type (`what` names it in the
/// message). A well-formed id that names no item of the list is the store's to refuse.
fn cursor<T, E>(
    raw: Option<&str>,
    parse: impl Fn(&str) -> Result<T, E>,
    what: &str,
) -> Result<Option<T>, ApiError> {
    raw.map(|raw| {
        parse(raw).map_err(|_| {
            ApiError::invalid_request(format!("Invalid `starting_after`: must be {what}."))
        })
    })
    .transpose()
}
