//! `/v1/events…`: the tenant's event history (the transactional outbox, docs/webhooks.md "Events"),
//! newest first with keyset pagination, one event, and replay, which writes new deliveries to
//! the endpoints that receive the event now. Scopes `webhooks:read` / `webhooks:write`.

use axum::extract::{Path, State};
use idgate_core::{
    ErrorCode, Event, EventFilter, EventId, EventType, Limit, PageRequest, Scope, Timestamp,
};
use idgate_store::ReplayOutcome;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticated;
use crate::envelope::{Data, Page};
use crate::error::{ApiError, Resource};
use crate::extract::ApiQuery;
use crate::openapi::string_enum;
use crate::routes::cursor;
use crate::routes::deliveries::DeliveryOut;
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(replay))
}

/// An event as stored: ids, type and the non-personal details of the change. The claims of a
/// verification are never here; they travel only inside the encrypted webhook payload.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventOut {
    #[schema(pattern = r"^evt_[A-Za-z0-9]{64}$")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(schema_with = event_type_schema)]
    pub event_type: EventType,
    #[schema(pattern = r"^vs_[A-Za-z0-9]{64}$")]
    pub session_id: String,
    #[schema(required = true, pattern = r"^va_[A-Za-z0-9]{64}$")]
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
    #[schema(pattern = r"^evt_[A-Za-z0-9]{64}$")]
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
    #[param(rename = "type", schema_with = event_type_schema)]
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
    /// ID of the last event of the previous page; one that names no event of this list is
    /// `404 NOT_FOUND`.
    #[param(value_type = Option<String>, pattern = r"^evt_[A-Za-z0-9]{64}$")]
    starting_after: Option<String>,
}

fn event_type_schema() -> Schema {
    string_enum(EventType::ALL.iter().map(|t| t.as_str()), "The event type.")
}

/// A malformed id cannot name an event of this tenant: same answer as an unknown one.
fn event_id(raw: &str) -> Result<EventId, ApiError> {
    EventId::parse(raw).map_err(|_| ApiError::not_found(Resource::Event))
}

/// `GET /v1/events`.
#[utoipa::path(get, path = "/v1/events", operation_id = "listEvents", tag = "Events", summary = "List events", params(ListEventsQuery),
    responses(
        (status = 200, description = "A page of events, newest first.", body = Page<EventOut>),
        (status = 404, description = "`starting_after` names no event of this list.")))]
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
    let starting_after = cursor(
        query.starting_after.as_deref(),
        EventId::parse,
        "an event ID (evt_ followed by 64 letters and digits)",
    )?;
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
        .await
        .map_err(|e| ApiError::from_store(e, Resource::Event))?;
    let items = page.items.iter().map(EventOut::from).collect();
    Ok(Page::new(
        items,
        limit.get(),
        page.has_more,
        |e: &EventOut| e.id.clone(),
    ))
}

/// `GET /v1/events/{id}`.
#[utoipa::path(get, path = "/v1/events/{id}", operation_id = "getEvent", tag = "Events", summary = "Get an event",
    params(("id" = String, Path, pattern = r"^evt_[A-Za-z0-9]{64}$", description = "The event ID.")),
    responses(
        (status = 200, description = "The event.", body = Data<EventOut>),
        (status = 404, description = "No such event for this key.")))]
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
        .map_err(|e| ApiError::from_store(e, Resource::Event))?;
    Ok(Data::new(EventOut::from(&event)))
}

/// `POST /v1/events/{id}/replay`.
#[utoipa::path(post, path = "/v1/events/{id}/replay", operation_id = "replayEvent", tag = "Events", summary = "Replay an event",
    description = "Creates new deliveries of the event to the endpoints that receive it now: the session's named endpoints if it named any, else every enabled endpoint subscribed to the type. Endpoints without an active key get a `blocked_no_key` delivery.",
    params(("id" = String, Path, pattern = r"^evt_[A-Za-z0-9]{64}$", description = "The event ID.")),
    responses(
        (status = 200, description = "The new deliveries.", body = Data<ReplayOut>),
        (status = 404, description = "No such event for this key."),
        (status = 409, description = "The event's payload was erased or purged.")))]
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
        .map_err(|e| ApiError::from_store(e, Resource::Event))?;
    match outcome {
        ReplayOutcome::Replayed(deliveries) => Ok(Data::new(ReplayOut {
            event_id: id.to_string(),
            deliveries: deliveries.iter().map(DeliveryOut::from).collect(),
        })),
        ReplayOutcome::PayloadGone => Err(ApiError::new(ErrorCode::EventNotReplayable)),
    }
}
