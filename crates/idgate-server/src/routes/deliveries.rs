//! `/v1/webhooks/deliveries…`: each event sent (or waiting to be sent) to each endpoint, with
//! every try, and retry (docs/webhooks.md "Management API"). Scopes `webhooks:read` /
//! `webhooks:write`.

use axum::extract::{Path, State};
use idgate_core::{
    Delivery, DeliveryAttempt, DeliveryFilter, DeliveryId, DeliveryStatus, Error as DomainError,
    ErrorCode, Limit, PageRequest, Scope, Timestamp,
};
use idgate_store::RetryOutcome;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticated;
use crate::envelope::{Data, Page};
use crate::error::{ApiError, Resource};
use crate::extract::ApiQuery;
use crate::routes::cursor;
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(retry_delivery))
}

// ---- wire types ------------------------------------------------------------------------------

/// One try of a delivery.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDeliveryAttempt)]
pub struct DeliveryAttemptOut {
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

impl From<&DeliveryAttempt> for DeliveryAttemptOut {
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
    #[schema(pattern = r"^evt_[A-Za-z0-9]{64}$")]
    pub event_id: String,
    #[schema(pattern = r"^whe_[A-Za-z0-9]{64}$")]
    pub endpoint_id: String,
    #[schema(pattern = r"^vs_[A-Za-z0-9]{64}$")]
    pub session_id: String,
    #[schema(schema_with = delivery_status_schema)]
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
    pub attempts: Vec<DeliveryAttemptOut>,
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
            attempts: d.attempts.iter().map(DeliveryAttemptOut::from).collect(),
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
    #[param(schema_with = delivery_status_schema)]
    status: Option<String>,
    /// Maximum number of deliveries to return. Defaults to 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// ID of the last delivery of the previous page; one that names no delivery of this list is
    /// `404 NOT_FOUND`.
    #[param(value_type = Option<String>, pattern = r"^whd_[A-Za-z0-9]{64}$")]
    starting_after: Option<String>,
}

/// A malformed id cannot name a delivery of this tenant: same answer as an unknown one.
fn delivery_id(raw: &str) -> Result<DeliveryId, ApiError> {
    DeliveryId::parse(raw).map_err(|_| ApiError::not_found(Resource::Delivery))
}

fn delivery_status_schema() -> Schema {
    crate::openapi::string_enum(
        DeliveryStatus::ALL.map(DeliveryStatus::as_str),
        "`pending`, `blocked_no_key`, `succeeded`, `failed` or `cancelled`.",
    )
}

// ---- handlers --------------------------------------------------------------------------------

/// `GET /v1/webhooks/deliveries`.
#[utoipa::path(get, path = "/v1/webhooks/deliveries", operation_id = "listDeliveries", tag = "Webhooks", summary = "List deliveries with their attempts", params(ListDeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries, newest first.", body = Page<DeliveryOut>),
        (status = 404, description = "`starting_after` names no delivery of this list.")))]
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
        DeliveryId::parse,
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
        .await
        .map_err(|e| ApiError::from_store(e, Resource::Delivery))?;
    let items = page.items.iter().map(DeliveryOut::from).collect();
    Ok(Page::new(
        items,
        limit.get(),
        page.has_more,
        |d: &DeliveryOut| d.id.clone(),
    ))
}

/// `GET /v1/webhooks/deliveries/{id}`.
#[utoipa::path(get, path = "/v1/webhooks/deliveries/{id}", operation_id = "getDelivery", tag = "Webhooks", summary = "Get a delivery with its attempts",
    params(("id" = String, Path, pattern = r"^whd_[A-Za-z0-9]{64}$", description = "The delivery ID.")),
    responses(
        (status = 200, description = "The delivery.", body = Data<DeliveryOut>),
        (status = 404, description = "No such delivery for this key.")))]
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
        .map_err(|e| ApiError::from_store(e, Resource::Delivery))?;
    Ok(Data::new(DeliveryOut::from(&delivery)))
}

/// `POST /v1/webhooks/deliveries/{id}/retry`.
#[utoipa::path(post, path = "/v1/webhooks/deliveries/{id}/retry", operation_id = "retryDelivery", tag = "Webhooks", summary = "Retry a delivery",
    description = "A `failed` delivery is sent again and a `pending` one is made due now; attempt numbers continue. `succeeded` (replay the event instead), `cancelled` (its session was erased) and `blocked_no_key` (activate a key instead) answer 409.",
    params(("id" = String, Path, pattern = r"^whd_[A-Za-z0-9]{64}$", description = "The delivery ID.")),
    responses(
        (status = 200, description = "The delivery, pending and due now.", body = Data<DeliveryOut>),
        (status = 404, description = "No such delivery for this key."),
        (status = 409, description = "The delivery cannot be retried in its state.")))]
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
        .map_err(|e| ApiError::from_store(e, Resource::Delivery))?;
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
