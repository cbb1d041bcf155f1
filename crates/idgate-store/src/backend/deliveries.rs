// The delivery queue of one backend, `include!`d by `sqlite.rs` and `postgres.rs` after
// `backend/ops.rs` (see there for the shared-SQL scheme). Wrapped in a module so its imports do
// not collide with those of `ops.rs`; `super::*` brings `Db`, `Conn`, `This` and the lock words.

mod delivery_queue {
    use std::collections::HashMap;

    use idgate_core::{
        DeliveryId, EncryptionKeyId, EndpointId, Event, SessionId, Subscription, Timestamp,
        WebhookTarget,
    };

    use super::{Conn, FOR_UPDATE, SKIP_LOCKED, This, Tx};
    use crate::changes::Change;
    use crate::StoreError;
    use crate::StoreResult;
    use crate::deliveries::{
        AttemptOutcome, AttemptResult, ClaimedDelivery, DISABLED_REASON_FAILING, DeliveryEndpoint,
        DeliveryKey, DeliveryQueue, Recorded,
    };
    use crate::rows::EventRow;

    fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(text)
    }

    fn ts(ms: i64) -> StoreResult<Timestamp> {
        Timestamp::from_unix_ms(ms).ok_or(StoreError::Corrupt("timestamp out of range"))
    }

    /// Where a session's events go, as stored with the session; `None` when the session row
    /// is gone (erased).
    pub(super) async fn session_target(
        conn: &mut Conn,
        session: &SessionId,
    ) -> StoreResult<Option<WebhookTarget>> {
        let stored: Option<(String,)> =
            sqlx::query_as("SELECT webhook_endpoint_id FROM sessions WHERE id = $1")
                .bind(session.as_str())
                .fetch_optional(&mut *conn)
                .await?;
        stored
            .map(|(text,)| {
                let value: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|_| StoreError::Corrupt("webhook_endpoint_id"))?;
                WebhookTarget::from_json(&value)
                    .map_err(|_| StoreError::Corrupt("webhook_endpoint_id"))
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
    pub(super) async fn route_event(
        tx: &mut Tx,
        event: &Event,
        target: &WebhookTarget,
        at: Timestamp,
    ) -> StoreResult<Vec<DeliveryId>> {
        let named = target.endpoint_ids();
        let candidates: Vec<(String, String, bool)> = sqlx::query_as(
            "SELECT e.id, e.subscribed_event_types, \
             EXISTS (SELECT 1 FROM webhook_keys k WHERE k.endpoint_id = e.id AND k.active) \
             FROM webhook_endpoints e WHERE e.org_id = $1 AND e.environment = $2 AND e.enabled \
             ORDER BY e.created_at, e.id",
        )
        .bind(event.org_id.as_str())
        .bind(event.environment.as_str())
        .fetch_all(&mut **tx)
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
            sqlx::query(
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
            .execute(&mut **tx)
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
    pub(super) async fn fan_out(tx: &mut Tx, events: &[Event]) -> StoreResult<()> {
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

    /// Erasure (docs/api.md "Erase"): the session's deliveries not yet sent are `cancelled`, so
    /// nothing about an erased session leaves the server afterwards. A claimed delivery is
    /// cancelled too: its worker asks [`DeliveryQueue::begin_sends`] before sending and is
    /// refused. A delivery whose request is already on the wire (`sending_since` set by that
    /// call, which commits before or after this statement, never across it) keeps its lease until
    /// its worker clears it with the outcome; those are returned, so the erase can wait for them.
    /// A mark whose lease has run out belongs to a worker that died: its request is over.
    pub(super) async fn cancel_session_deliveries(
        conn: &mut Conn,
        session_id: &SessionId,
        now: Timestamp,
    ) -> StoreResult<Vec<DeliveryId>> {
        let on_wire = "sending_since IS NOT NULL AND lease_expires_at > $1";
        let rows: Vec<(String, bool)> = sqlx::query_as(sql(format!(
            "UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL, \
             lease_owner = CASE WHEN {on_wire} THEN lease_owner ELSE NULL END, \
             lease_expires_at = CASE WHEN {on_wire} THEN lease_expires_at ELSE NULL END, \
             sending_since = CASE WHEN {on_wire} THEN sending_since ELSE NULL END, \
             completed_at = $1, updated_at = $1 \
             WHERE session_id = $2 AND status IN ('pending', 'blocked_no_key') \
             RETURNING id, sending_since IS NOT NULL"
        )))
        .bind(now.unix_ms())
        .bind(session_id.as_str())
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter()
            .filter(|(_, sending)| *sending)
            .map(|(id, _)| DeliveryId::parse(&id).map_err(|_| StoreError::Corrupt("delivery id")))
            .collect()
    }

    #[derive(Debug, sqlx::FromRow)]
    struct ClaimRow {
        d_id: String,
        d_attempt_count: i64,
        d_retry_window_start: i64,
        d_lease_expires_at: i64,
        #[sqlx(flatten)]
        event: EventRow,
        e_id: String,
        e_url: String,
        e_secret_sealed: String,
        e_previous_secret_sealed: Option<String>,
        e_previous_secret_expires_at: Option<i64>,
        k_id: Option<String>,
        k_kid: Option<String>,
        k_jwk: Option<String>,
        s_contract_version: Option<i64>,
    }

    impl ClaimRow {
        fn into_domain(self, key: DeliveryKey) -> StoreResult<ClaimedDelivery> {
            Ok(ClaimedDelivery {
                id: DeliveryId::parse(&self.d_id)
                    .map_err(|_| StoreError::Corrupt("delivery id"))?,
                attempt_count: u32::try_from(self.d_attempt_count)
                    .map_err(|_| StoreError::Corrupt("attempt count"))?,
                retry_window_start: ts(self.d_retry_window_start)?,
                lease_expires_at: ts(self.d_lease_expires_at)?,
                event: self.event.into_domain()?,
                // An erased session cancels its deliveries, so the session is normally there;
                // version 1 is the only contract version so far.
                contract_version: self
                    .s_contract_version
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(1),
                endpoint: DeliveryEndpoint {
                    id: EndpointId::parse(&self.e_id)
                        .map_err(|_| StoreError::Corrupt("endpoint id"))?,
                    url: self.e_url,
                    secret_sealed: self.e_secret_sealed,
                    previous_secret_sealed: self.e_previous_secret_sealed,
                    previous_secret_expires_at: self
                        .e_previous_secret_expires_at
                        .map(ts)
                        .transpose()?,
                },
                key,
            })
        }
    }

    impl DeliveryQueue for This {
        async fn claim_due(
            &self,
            owner: &str,
            now: Timestamp,
            lease_ms: i64,
            limit: u32,
        ) -> StoreResult<Vec<ClaimedDelivery>> {
            let mut tx = self.begin_write().await?;
            let lease_until = now.unix_ms().saturating_add(lease_ms);
            let ids: Vec<(String,)> = sqlx::query_as(sql(format!(
                "UPDATE webhook_deliveries SET lease_owner = $1, lease_expires_at = $2, sending_since = NULL WHERE id IN (\
                 SELECT d.id FROM webhook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= $3 \
                 AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= $3) \
                 AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = d.endpoint_id AND e.enabled) \
                 ORDER BY d.next_attempt_at LIMIT $4{FOR_UPDATE}{SKIP_LOCKED}) RETURNING id"
            )))
            .bind(owner)
            .bind(lease_until)
            .bind(now.unix_ms())
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
            if ids.is_empty() {
                tx.commit().await?;
                return Ok(Vec::new());
            }
            let placeholders = (0..ids.len())
                .map(|i| format!("${}", i + 1))
                .collect::<Vec<_>>()
                .join(", ");
            let text = format!(
                "SELECT d.id AS d_id, d.attempt_count AS d_attempt_count, \
                 COALESCE(d.retry_window_start, d.created_at) AS d_retry_window_start, \
                 d.lease_expires_at AS d_lease_expires_at, \
                 ev.id AS id, ev.org_id AS org_id, ev.environment AS environment, ev.session_id AS session_id, \
                 ev.attempt_id AS attempt_id, ev.type AS type, ev.created_at AS created_at, ev.data AS data, \
                 e.id AS e_id, e.url AS e_url, e.secret_sealed AS e_secret_sealed, \
                 e.previous_secret_sealed AS e_previous_secret_sealed, \
                 e.previous_secret_expires_at AS e_previous_secret_expires_at, \
                 k.id AS k_id, k.kid AS k_kid, k.jwk AS k_jwk, s.contract_version AS s_contract_version \
                 FROM webhook_deliveries d \
                 JOIN events ev ON ev.id = d.event_id \
                 JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                 LEFT JOIN webhook_keys k ON k.endpoint_id = d.endpoint_id AND k.active \
                 LEFT JOIN sessions s ON s.id = d.session_id \
                 WHERE d.id IN ({placeholders}) ORDER BY d.next_attempt_at, d.id"
            );
            let mut query = sqlx::query_as::<_, ClaimRow>(sql(text));
            for (id,) in &ids {
                query = query.bind(id.as_str());
            }
            let rows = query.fetch_all(&mut *tx).await?;
            let mut claimed = Vec::with_capacity(rows.len());
            for mut row in rows {
                let key = match (row.k_id.take(), row.k_jwk.take()) {
                    (Some(id), Some(jwk)) => DeliveryKey {
                        id: EncryptionKeyId::parse(&id)
                            .map_err(|_| StoreError::Corrupt("key id"))?,
                        kid: row.k_kid.take(),
                        jwk,
                    },
                    _ => {
                        // The active key was deactivated after the fan-out: wait for a new one.
                        sqlx::query(
                            "UPDATE webhook_deliveries SET status = 'blocked_no_key', lease_owner = NULL, \
                             lease_expires_at = NULL, updated_at = $1 WHERE id = $2",
                        )
                        .bind(now.unix_ms())
                        .bind(row.d_id.as_str())
                        .execute(&mut *tx)
                        .await?;
                        continue;
                    }
                };
                claimed.push(row.into_domain(key)?);
            }
            tx.commit().await?;
            Ok(claimed)
        }

        async fn record_attempts(
            &self,
            owner: &str,
            now: Timestamp,
            disable_after_ms: i64,
            results: &[AttemptResult],
        ) -> StoreResult<Vec<Recorded>> {
            let mut tx = self.begin_write().await?;
            let mut out = Vec::with_capacity(results.len());
            for r in results {
                let (status, next, completed) = match r.outcome {
                    AttemptOutcome::Succeeded => ("succeeded", None, Some(now.unix_ms())),
                    AttemptOutcome::RetryAt(at) => ("pending", Some(at.unix_ms()), None),
                    AttemptOutcome::Failed => ("failed", None, Some(now.unix_ms())),
                };
                let last_error = match (r.outcome, &r.record.error_kind, r.record.status_code) {
                    (AttemptOutcome::Succeeded, _, _) => None,
                    (_, Some(kind), _) => Some(kind.clone()),
                    (_, None, Some(code)) => Some(format!("http_{code}")),
                    (_, None, None) => None,
                };
                let updated: Option<(i64,)> = sqlx::query_as(
                    "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, completed_at = $3, \
                     attempt_count = attempt_count + 1, last_error = $4, lease_owner = NULL, \
                     lease_expires_at = NULL, sending_since = NULL, updated_at = $5 \
                     WHERE id = $6 AND lease_owner = $7 AND status = 'pending' RETURNING attempt_count",
                )
                .bind(status)
                .bind(next)
                .bind(completed)
                .bind(last_error.as_deref())
                .bind(now.unix_ms())
                .bind(r.delivery_id.as_str())
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((attempt,)) = updated else {
                    // Cancelled by an erase while on the wire (the erase waits for this), or the
                    // lease ran out: give back whatever is still ours.
                    sqlx::query(
                        "UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL, \
                         sending_since = NULL WHERE id = $1 AND lease_owner = $2",
                    )
                    .bind(r.delivery_id.as_str())
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?;
                    out.push(Recorded::LeaseLost);
                    continue;
                };
                sqlx::query(
                    "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at, status_code, \
                     latency_ms, response_body, error_kind) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(r.delivery_id.as_str())
                .bind(attempt)
                .bind(r.record.started_at.unix_ms())
                .bind(r.record.status_code.map(i64::from))
                .bind(i64::try_from(r.record.latency_ms).unwrap_or(i64::MAX))
                .bind(r.record.response_body.as_deref())
                .bind(r.record.error_kind.as_deref())
                .execute(&mut *tx)
                .await?;
                let mut endpoint_disabled = false;
                if r.outcome == AttemptOutcome::Succeeded {
                    // Conditional, so the common case takes no row lock on the endpoint.
                    sqlx::query(
                        "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
                    )
                    .bind(r.endpoint_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                } else {
                    sqlx::query(
                        "UPDATE webhook_endpoints SET failing_since = $1 WHERE id = $2 AND failing_since IS NULL",
                    )
                    .bind(now.unix_ms())
                    .bind(r.endpoint_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                    let disabled = sqlx::query(
                        "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $1, disabled_at = $2, \
                         updated_at = $2 WHERE id = $3 AND enabled AND failing_since <= $4",
                    )
                    .bind(DISABLED_REASON_FAILING)
                    .bind(now.unix_ms())
                    .bind(r.endpoint_id.as_str())
                    .bind(now.unix_ms().saturating_sub(disable_after_ms))
                    .execute(&mut *tx)
                    .await?;
                    endpoint_disabled = disabled.rows_affected() > 0;
                }
                out.push(Recorded::Done { endpoint_disabled });
            }
            tx.commit().await?;
            Ok(out)
        }

        async fn release_lease(&self, owner: &str, id: &DeliveryId) -> StoreResult<()> {
            sqlx::query(
                "UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL, sending_since = NULL \
                 WHERE id = $1 AND lease_owner = $2",
            )
            .bind(id.as_str())
            .bind(owner)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn release_leases(&self, owner: &str) -> StoreResult<u64> {
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL, sending_since = NULL \
                 WHERE lease_owner = $1",
            )
            .bind(owner)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected())
        }

        async fn begin_sends(
            &self,
            owner: &str,
            now: Timestamp,
            ids: &[DeliveryId],
        ) -> StoreResult<Vec<bool>> {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let placeholders = (0..ids.len())
                .map(|i| format!("${}", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            // A write transaction, so that it commits wholly before or after an erase's cancel.
            let mut tx = self.begin_write().await?;
            let mut query = sqlx::query_as::<_, (String,)>(sql(format!(
                "UPDATE webhook_deliveries SET sending_since = $1 \
                 WHERE lease_owner = $2 AND status = 'pending' AND id IN ({placeholders}) RETURNING id"
            )))
            .bind(now.unix_ms())
            .bind(owner);
            for id in ids {
                query = query.bind(id.as_str());
            }
            let allowed: std::collections::HashSet<String> = query
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|(id,)| id)
                .collect();
            tx.commit().await?;
            Ok(ids.iter().map(|id| allowed.contains(id.as_str())).collect())
        }

        async fn count_sending(&self, ids: &[DeliveryId]) -> StoreResult<u64> {
            if ids.is_empty() {
                return Ok(0);
            }
            let placeholders = (0..ids.len())
                .map(|i| format!("${}", i + 1))
                .collect::<Vec<_>>()
                .join(", ");
            let mut query = sqlx::query_as::<_, (i64,)>(sql(format!(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE sending_since IS NOT NULL AND id IN ({placeholders})"
            )));
            for id in ids {
                query = query.bind(id.as_str());
            }
            let (n,) = query.fetch_one(&self.pool).await?;
            Ok(u64::try_from(n).unwrap_or(0))
        }

        async fn unblock_endpoint(
            &self,
            endpoint: &EndpointId,
            now: Timestamp,
        ) -> StoreResult<u64> {
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, updated_at = $1, \
                 retry_window_start = $1 WHERE endpoint_id = $2 AND status = 'blocked_no_key' \
                 AND EXISTS (SELECT 1 FROM webhook_keys k WHERE k.endpoint_id = $2 AND k.active)",
            )
            .bind(now.unix_ms())
            .bind(endpoint.as_str())
            .execute(&self.pool)
            .await?;
            if done.rows_affected() > 0 {
                self.announce(Change::Deliveries).await?;
            }
            Ok(done.rows_affected())
        }

        async fn purge_payloads(&self, now: Timestamp, retention_ms: i64) -> StoreResult<u64> {
            let done = sqlx::query(
                "UPDATE events SET data = '{}', purged_at = $1 WHERE created_at < $2 AND purged_at IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = events.id \
                 AND d.status IN ('pending', 'blocked_no_key'))",
            )
            .bind(now.unix_ms())
            .bind(now.unix_ms().saturating_sub(retention_ms))
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected())
        }
    }
}
