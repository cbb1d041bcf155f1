//! Events: the transactional outbox every state change writes (docs/webhooks.md "Delivery
//! guarantees"), the routing of each event to webhook deliveries, and the tenant's view of its
//! events (list, get, replay) and their retention.

use std::collections::HashMap;

use idgate_core::{
    AttemptId, DeliveryId, Event, EventFilter, EventId, Page, PageRequest, SessionId, Subscription,
    Tenant, Timestamp, WebhookTarget,
};

use crate::changes::Change;
use crate::db::{Tx, query};
use crate::deliveries::fetch_delivery_row;
use crate::page::TenantPage;
use crate::rows::{EVENT_COLUMNS, EventRow, json_text};
use crate::{Store, StoreError, StoreResult};

/// Outcome of [`Store::replay_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// New deliveries, one per endpoint that receives the event now (possibly none).
    Replayed(Vec<idgate_core::Delivery>),
    /// The event's payload was erased with its session or purged after retention.
    PayloadGone,
}

/// The outbox write. Every event of the system passes here, inside the transaction of its state
/// change, together with its webhook delivery rows ([`fan_out`]), so a crash can
/// neither lose a delivery nor produce one for a change that did not commit.
pub(crate) async fn insert_events(tx: &mut Tx, events: &[Event]) -> StoreResult<()> {
    for (seq, e) in (0_i64..).zip(events) {
        query(
            "INSERT INTO events (id, org_id, environment, session_id, attempt_id, type, created_at, data, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(e.id.as_str())
        .bind(e.org_id.as_str())
        .bind(e.environment.as_str())
        .bind(e.session_id.as_str())
        .bind(e.attempt_id.as_ref().map(AttemptId::as_str))
        .bind(e.event_type.as_str())
        .bind(e.created_at.unix_ms())
        .bind(json_text(&e.data))
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        tx.note(Change::Session(e.session_id.clone()));
    }
    fan_out(tx, events).await
}

/// Where a session's events go, as stored with the session; `None` when the session row
/// is gone (erased).
pub(crate) async fn session_target(
    tx: &mut Tx,
    session: &SessionId,
) -> StoreResult<Option<WebhookTarget>> {
    let stored: Option<(String,)> = query("SELECT webhook_endpoint_id FROM sessions WHERE id = $1")
        .bind(session.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    stored
        .map(|(text,)| {
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|_| StoreError::Corrupt("webhook_endpoint_id"))?;
            WebhookTarget::from_json(&value).map_err(|_| StoreError::Corrupt("webhook_endpoint_id"))
        })
        .transpose()
}

/// The routing rule of the outbox (docs/webhooks.md "Event types", routing), the one place it
/// is written: one new delivery of `event` per endpoint it goes to — the endpoints `target`
/// names, else every endpoint of the event's tenant; in both cases only enabled endpoints
/// subscribed to the event's type. A delivery is `pending` and due at `at` when its endpoint
/// has an active key, else `blocked_no_key` (it then waits visibly instead of failing
/// silently). Used by the fan-out of new events and by replay, so a replay reaches exactly the
/// endpoints a new event would. Returns the new deliveries' ids in endpoint creation order.
pub(crate) async fn route_event(
    tx: &mut Tx,
    event: &Event,
    target: &WebhookTarget,
    at: Timestamp,
) -> StoreResult<Vec<DeliveryId>> {
    let named = target.endpoint_ids();
    let candidates: Vec<(String, String, bool)> = query(
        "SELECT e.id, e.subscribed_event_types, \
         EXISTS (SELECT 1 FROM webhook_keys k WHERE k.endpoint_id = e.id AND k.active) \
         FROM webhook_endpoints e WHERE e.org_id = $1 AND e.environment = $2 AND e.enabled \
         ORDER BY e.created_at, e.id",
    )
    .bind(event.org_id.as_str())
    .bind(event.environment.as_str())
    .fetch_all(&mut *tx)
    .await?;
    let mut created = Vec::new();
    for (endpoint_id, types, has_key) in candidates {
        if !named.is_empty() && !named.iter().any(|n| n.as_str() == endpoint_id) {
            continue;
        }
        if !Subscription::from_stored(&types).is_some_and(|t| t.matches(event.event_type)) {
            continue;
        }
        let (status, due) = if has_key {
            ("pending", Some(at.unix_ms()))
        } else {
            ("blocked_no_key", None)
        };
        let id = DeliveryId::generate();
        query(
            "INSERT INTO webhook_deliveries (id, org_id, environment, event_id, endpoint_id, session_id, \
             status, attempt_count, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $9)",
        )
        .bind(id.as_str())
        .bind(event.org_id.as_str())
        .bind(event.environment.as_str())
        .bind(event.id.as_str())
        .bind(endpoint_id.as_str())
        .bind(event.session_id.as_str())
        .bind(status)
        .bind(due)
        .bind(at.unix_ms())
        .execute(&mut *tx)
        .await?;
        if has_key {
            tx.note(Change::Deliveries);
        }
        created.push(id);
    }
    Ok(created)
}

/// The outbox fan-out, run by `insert_events` inside the transaction of the state change:
/// each event is routed by [`route_event`], due at the event's time.
pub(crate) async fn fan_out(tx: &mut Tx, events: &[Event]) -> StoreResult<()> {
    let mut targets: HashMap<SessionId, WebhookTarget> = HashMap::new();
    for event in events {
        let target = match targets.get(&event.session_id) {
            Some(target) => target.clone(),
            None => {
                let target = session_target(tx, &event.session_id)
                    .await?
                    .unwrap_or(WebhookTarget::AllSubscribed);
                targets.insert(event.session_id.clone(), target.clone());
                target
            }
        };
        route_event(tx, event, &target, event.created_at).await?;
    }
    Ok(())
}

/// Whether the event's payload still exists (not erased with its session, not purged).
pub(crate) async fn payload_present(tx: &mut Tx, event: &str) -> StoreResult<bool> {
    let row: Option<(Option<i64>, Option<i64>)> =
        query("SELECT erased_at, purged_at FROM events WHERE id = $1")
            .bind(event)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(matches!(row, Some((None, None))))
}

impl Store {
    /// The session's events, oldest first.
    pub async fn list_session_events(
        &self,
        tenant: &Tenant,
        session_id: &SessionId,
    ) -> StoreResult<Vec<Event>> {
        query(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE session_id = $1 AND org_id = $2 AND environment = $3 \
             ORDER BY created_at, seq, id"
        ))
        .bind(session_id.as_str())
        .bind(tenant.org_id.as_str())
        .bind(tenant.environment.as_str())
        .fetch_all::<EventRow>(&self.pool)
        .await?
        .into_iter()
        .map(EventRow::into_domain)
        .collect()
    }

    /// The tenant's events, newest first, keyset-paginated on `(created_at DESC, id DESC)`.
    pub async fn list_events(
        &self,
        tenant: &Tenant,
        filter: &EventFilter,
        page: &PageRequest<EventId>,
    ) -> StoreResult<Page<Event>> {
        let mut list = TenantPage::new("events", tenant);
        list.filter("type", "=", filter.event_type.map(|t| t.as_str()))
            .filter(
                "session_id",
                "=",
                filter.session_id.as_ref().map(SessionId::to_string),
            )
            .created_between(filter.created_from, filter.created_to);
        list.after(
            &self.pool,
            page.starting_after.as_ref().map(EventId::as_str),
        )
        .await?;
        let rows: Vec<EventRow> = list.fetch(&self.pool, EVENT_COLUMNS, page.limit).await?;
        let events = rows
            .into_iter()
            .map(EventRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(events, page.limit))
    }

    pub async fn get_event(&self, tenant: &Tenant, id: &EventId) -> StoreResult<Event> {
        query(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE id = $1 AND org_id = $2 AND environment = $3"
        ))
        .bind(id.as_str())
        .bind(tenant.org_id.as_str())
        .bind(tenant.environment.as_str())
        .fetch_optional::<EventRow>(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?
        .into_domain()
    }

    /// New deliveries of the event, by the same routing rule as the outbox fan-out of a new
    /// event (one function serves both): the endpoints the session names, else every endpoint
    /// of the tenant, in both cases only enabled ones subscribed to the type; `pending` due now
    /// with an active key, else `blocked_no_key`.
    pub async fn replay_event(
        &self,
        tenant: &Tenant,
        id: &EventId,
        now: Timestamp,
    ) -> StoreResult<ReplayOutcome> {
        let mut tx = self.begin_write().await?;
        let event = query(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE id = $1 AND org_id = $2 AND environment = $3"
        ))
        .bind(id.as_str())
        .bind(tenant.org_id.as_str())
        .bind(tenant.environment.as_str())
        .fetch_optional::<EventRow>(&mut tx)
        .await?
        .ok_or(StoreError::NotFound)?
        .into_domain()?;
        if !payload_present(&mut tx, id.as_str()).await? {
            tx.rollback().await?;
            return Ok(ReplayOutcome::PayloadGone);
        }
        let Some(target) = session_target(&mut tx, &event.session_id).await? else {
            // Only erasure removes a session, and it blanks the payload with it.
            tx.rollback().await?;
            return Ok(ReplayOutcome::PayloadGone);
        };
        let ids = route_event(&mut tx, &event, &target, now).await?;
        let mut created = Vec::with_capacity(ids.len());
        for id in &ids {
            let row = fetch_delivery_row(&mut tx, tenant, id)
                .await?
                .ok_or(StoreError::Corrupt("replayed delivery"))?;
            created.push(row.into_domain()?);
        }
        tx.commit().await?;
        Ok(ReplayOutcome::Replayed(created))
    }

    /// Blanks the `data` of events older than `retention_ms` whose deliveries are all final
    /// (`succeeded`, `failed`, `cancelled`) and sets `purged_at`. Returns how many.
    pub async fn purge_payloads(&self, now: Timestamp, retention_ms: i64) -> StoreResult<u64> {
        let done = query(
            "UPDATE events SET data = '{}', sealed_claims = NULL, purged_at = $1 WHERE created_at < $2 AND purged_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = events.id \
             AND d.status IN ('pending', 'blocked_no_key'))",
        )
        .bind(now.unix_ms())
        .bind(now.unix_ms().saturating_sub(retention_ms))
        .execute(&self.pool)
        .await?;
        Ok(done)
    }
}
