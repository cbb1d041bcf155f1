//! `/v1/events…`: the tenant's event history (the transactional outbox, webhooks.md "Events"),
//! newest first with keyset pagination, one event, and replay, which writes new deliveries to
//! the endpoints that receive the event now. Scopes `webhooks:read` / `webhooks:write`.

use axum::extract::{Path, State};
use idgate_core::{
    ErrorCode, Event, EventFilter, EventId, EventType, Limit, PageRequest, Scope, Timestamp,
};
use idgate_store::{ReplayOutcome, StoreError, WebhookStore};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::envelope::{Data, Page};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::routes::webhooks::{DeliveryOut, envelope};
use crate::state::AppState;

/// An event as stored: ids, type and the non-personal details of the change. The claims of a
/// verification are never here; they travel only inside the encrypted webhook payload.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventOut {
    #[schema(pattern = r"^evt_[A-Za-z0-9]{64}$")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub event_type: EventType,
    #[schema(pattern = r"^vs_[A-Za-z0-9]{64}$")]
    pub session_id: String,
    #[schema(required = true)]
    pub attempt_id: Option<String>,
    /// Status, failure code and tries used; `{}` once erased or past retention.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<&Event> for EventOut {
    fn from(e: &Event) -> Self {
        Self {
            id: e.id.to_string(),
            event_type: e.event_type,
            session_id: e.session_id.to_string(),
            attempt_id: e.attempt_id.as_ref().map(ToString::to_string),
            data: e.data.clone(),
            created_at: e.created_at,
        }
    }
}

/// The deliveries a replay created.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EventReplay)]
pub struct ReplayOut {
    pub event_id: String,
    /// One per endpoint that receives the event now; empty when none does.
    pub deliveries: Vec<DeliveryOut>,
}

/// Query of `GET /v1/events`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListEventsQuery {
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<String>)]
    event_type: Option<String>,
    /// Only events of this session.
    #[param(value_type = Option<String>, pattern = r"^vs_[A-Za-z0-9]{64}$")]
    session_id: Option<String>,
    /// Events created at or after this RFC 3339 time.
    #[param(value_type = Option<String>, format = DateTime)]
    created_from: Option<String>,
    /// Events created at or before this RFC 3339 time.
    #[param(value_type = Option<String>, format = DateTime)]
    created_to: Option<String>,
    /// Maximum number of events to return. Defaults to 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// ID of the last event of the previous page.
    #[param(value_type = Option<String>, pattern = r"^evt_[A-Za-z0-9]{64}$")]
    starting_after: Option<String>,
}

fn event_id(raw: &str) -> Result<EventId, ApiError> {
    EventId::parse(raw).map_err(|_| ApiError::new(ErrorCode::EventNotFound))
}

fn event_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::new(ErrorCode::EventNotFound),
        other => ApiError::from(other),
    }
}

/// `GET /v1/events`.
#[utoipa::path(get, path = "/v1/events", tag = "Events", summary = "List events", params(ListEventsQuery),
    responses(
        (status = 200, description = "A page of events, newest first.", body = crate::routes::events::EventListEnvelope),
        (status = 400, description = "Invalid query parameter.", body = crate::schema::ListErrorEnvelope),
        (status = 403, description = "The key lacks `webhooks:read`.", body = crate::schema::ListErrorEnvelope)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(query): ApiQuery<ListEventsQuery>,
) -> Result<Page<EventOut>, ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let limit = Limit::from_query(query.limit.as_deref())?;
    let filter = EventFilter::from_query(
        query.event_type.as_deref(),
        query.session_id.as_deref(),
        query.created_from.as_deref(),
        query.created_to.as_deref(),
    )?;
    let starting_after = query
        .starting_after
        .as_deref()
        .map(|raw| {
            EventId::parse(raw).map_err(|_| {
                ApiError::invalid_request(
                    "Invalid `starting_after`: must be an event ID (evt_ followed by 64 letters and digits).",
                )
            })
        })
        .transpose()?;
    let page = state
        .store
        .list_events(
            &auth.tenant(),
            &filter,
            &PageRequest {
                limit,
                starting_after,
            },
        )
        .await?;
    let items = page.items.iter().map(EventOut::from).collect();
    Ok(Page::new(
        items,
        limit.get(),
        page.has_more,
        |e: &EventOut| e.id.clone(),
    ))
}

/// `GET /v1/events/{id}`.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "Events", summary = "Get an event",
    params(("id" = String, Path, pattern = r"^evt_[A-Za-z0-9]{64}$", description = "The event ID.")),
    responses(
        (status = 200, description = "The event.", body = crate::routes::events::EventEnvelope),
        (status = 404, description = "No such event for this key.", body = crate::schema::ErrorEnvelope)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Data<EventOut>, ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let id = event_id(&id)?;
    let event = state
        .store
        .get_event(&auth.tenant(), &id)
        .await
        .map_err(event_error)?;
    Ok(Data::new(EventOut::from(&event)))
}

/// `POST /v1/events/{id}/replay`.
#[utoipa::path(post, path = "/v1/events/{id}/replay", tag = "Events", summary = "Replay an event",
    description = "Creates new deliveries of the event to the endpoints that receive it now: the session's named endpoints if it named any, else every enabled endpoint subscribed to the type. Endpoints without an active key get a `blocked_no_key` delivery.",
    params(("id" = String, Path, pattern = r"^evt_[A-Za-z0-9]{64}$", description = "The event ID.")),
    responses(
        (status = 200, description = "The new deliveries.", body = crate::routes::events::ReplayEnvelope),
        (status = 404, description = "No such event for this key.", body = crate::schema::ErrorEnvelope),
        (status = 409, description = "The event's payload was erased or purged.", body = crate::schema::ErrorEnvelope)))]
pub async fn replay(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Data<ReplayOut>, ApiError> {
    auth.require(Scope::WebhooksWrite)?;
    let id = event_id(&id)?;
    let outcome = state
        .store
        .replay_event(&auth.tenant(), &id, state.clock.now())
        .await
        .map_err(event_error)?;
    match outcome {
        ReplayOutcome::Replayed(deliveries) => {
            Ok(Data::new(ReplayOut {
                event_id: id.to_string(),
                deliveries: deliveries.iter().map(DeliveryOut::from).collect(),
            }))
        }
        ReplayOutcome::PayloadGone => Err(ApiError::new(ErrorCode::EventNotReplayable)),
    }
}

envelope!(EventEnvelope, EventOut, "One event.");
envelope!(
    EventListEnvelope,
    EventOut,
    "A page of events, newest first.",
    paginated
);
envelope!(
    ReplayEnvelope,
    ReplayOut,
    "The deliveries created by a replay."
);
