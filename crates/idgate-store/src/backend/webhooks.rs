// `WebhookStore` for one backend, `include!`d by `sqlite.rs` and `postgres.rs` after
// `backend/ops.rs` (which supplies `Db`, `Conn`, `This`, `FOR_UPDATE`, `sql`, `Bind` and
// `cursor_or_error`). The code sits in its own module so its imports cannot collide with those
// of `ops.rs`; the SQL is shared by both dialects like the rest of the backend.

mod webhooks_impl {
    use super::*;

    use idgate_core::{
        Delivery, DeliveryFilter, DeliveryId, EncryptionKey, EncryptionKeyId, EndpointId,
        EndpointPatch, Event, EventFilter, EventId, Page, PageRequest, SealedSecret, Tenant,
        Timestamp, WebhookEndpoint,
    };

    use crate::StoreError;
    use crate::rows::{EVENT_COLUMNS, EventRow};
    use crate::webhooks::{
        AttemptRecordRow, DELIVERY_COLUMNS, DeliveryRow, ENDPOINT_COLUMNS, EndpointRow,
        KEY_COLUMNS, KeyActivation, KeyRow, ReplayOutcome, RetryOutcome, WebhookStore,
    };

    /// Attaches their attempts (oldest first) to `deliveries`: one query for the whole page.
    async fn with_attempts(
        pool: &sqlx::Pool<Db>,
        rows: Vec<DeliveryRow>,
    ) -> StoreResult<Vec<Delivery>> {
        let mut deliveries = rows
            .into_iter()
            .map(DeliveryRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        if deliveries.is_empty() {
            return Ok(deliveries);
        }
        let placeholders: Vec<String> = (1..=deliveries.len()).map(|n| format!("${n}")).collect();
        let text = format!(
            "SELECT delivery_id, attempt, started_at, status_code, latency_ms, response_body, error_kind \
             FROM webhook_delivery_attempts WHERE delivery_id IN ({}) ORDER BY delivery_id, attempt",
            placeholders.join(", ")
        );
        let binds = deliveries
            .iter()
            .map(|d| Bind::Text(d.id.to_string()))
            .collect();
        let attempts: Vec<AttemptRecordRow> = fetch_all_bound(pool, text, binds).await?;
        for row in attempts {
            let owner = row.delivery_id.clone();
            let attempt = row.into_domain()?;
            if let Some(d) = deliveries.iter_mut().find(|d| d.id.as_str() == owner) {
                d.attempts.push(attempt);
            }
        }
        Ok(deliveries)
    }

    async fn fetch_delivery_row(
        conn: &mut Conn,
        tenant: &Tenant,
        id: &DeliveryId,
    ) -> StoreResult<Option<DeliveryRow>> {
        Ok(sqlx::query_as::<_, DeliveryRow>(sql(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 AND org_id = $2 AND environment = $3"
        )))
        .bind(id.as_str())
        .bind(tenant.org_id.as_str())
        .bind(tenant.environment.as_str())
        .fetch_optional(&mut *conn)
        .await?)
    }

    /// Whether the event's payload still exists (not erased with its session, not purged).
    async fn payload_present(conn: &mut Conn, event: &str) -> StoreResult<bool> {
        let row: Option<(Option<i64>, Option<i64>)> =
            sqlx::query_as("SELECT erased_at, purged_at FROM events WHERE id = $1")
                .bind(event)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(matches!(row, Some((None, None))))
    }

    /// Locks the tenant's endpoint row for the rest of the transaction (serialising key
    /// activations of one endpoint); `NotFound` if the endpoint is not the tenant's.
    async fn lock_endpoint(conn: &mut Conn, tenant: &Tenant, id: &EndpointId) -> StoreResult<()> {
        let found: Option<(String,)> = sqlx::query_as(sql(format!(
            "SELECT id FROM webhook_endpoints WHERE id = $1 AND org_id = $2 AND environment = $3{FOR_UPDATE}"
        )))
        .bind(id.as_str())
        .bind(tenant.org_id.as_str())
        .bind(tenant.environment.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        found.map(|_| ()).ok_or(StoreError::NotFound)
    }

    /// The endpoint has an active key now: its waiting deliveries become due at once, each with
    /// a whole retry window from now (it may have waited days for the key).
    async fn unblock_deliveries(
        tx: &mut Tx,
        endpoint: &EndpointId,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, updated_at = $1, \
             retry_window_start = $1 WHERE endpoint_id = $2 AND status = 'blocked_no_key'",
        )
        .bind(now.unix_ms())
        .bind(endpoint.as_str())
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() > 0 {
            tx.note(Change::Deliveries);
        }
        Ok(done.rows_affected())
    }

    /// The endpoint lost its active key: deliveries not in a worker's hands wait for a new one
    /// instead of failing (docs/webhooks.md "Encryption keys"). A leased delivery is finished by
    /// its worker, which finds no key and blocks it itself.
    async fn block_deliveries(
        conn: &mut Conn,
        endpoint: &EndpointId,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'blocked_no_key', next_attempt_at = NULL, updated_at = $1 \
             WHERE endpoint_id = $2 AND status = 'pending' AND (lease_expires_at IS NULL OR lease_expires_at <= $1)",
        )
        .bind(now.unix_ms())
        .bind(endpoint.as_str())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn deactivate_all(
        conn: &mut Conn,
        endpoint: &EndpointId,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_keys SET active = FALSE, updated_at = $1 WHERE endpoint_id = $2 AND active",
        )
        .bind(now.unix_ms())
        .bind(endpoint.as_str())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn fetch_key(
        conn: &mut Conn,
        tenant: &Tenant,
        endpoint: &EndpointId,
        key: &EncryptionKeyId,
    ) -> StoreResult<EncryptionKey> {
        sqlx::query_as::<_, KeyRow>(sql(format!(
            "SELECT {KEY_COLUMNS} FROM webhook_keys WHERE id = $1 AND endpoint_id = $2 AND org_id = $3"
        )))
        .bind(key.as_str())
        .bind(endpoint.as_str())
        .bind(tenant.org_id.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?
        .into_domain()
    }

    impl WebhookStore for This {
        async fn create_endpoint(&self, e: &WebhookEndpoint) -> StoreResult<()> {
            let previous = e.previous_secret.as_ref();
            sqlx::query(
                "INSERT INTO webhook_endpoints (id, org_id, environment, url, description, enabled, \
                 subscribed_event_types, secret_sealed, previous_secret_sealed, previous_secret_expires_at, \
                 failing_since, disabled_reason, disabled_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(e.id.as_str())
            .bind(e.org_id.as_str())
            .bind(e.environment.as_str())
            .bind(e.url.as_str())
            .bind(e.description.as_str())
            .bind(e.enabled)
            .bind(e.subscription.to_stored())
            .bind(e.secret_sealed.as_str())
            .bind(previous.map(|p| p.sealed.as_str()))
            .bind(previous.map(|p| p.expires_at.unix_ms()))
            .bind(e.failing_since.map(Timestamp::unix_ms))
            .bind(e.disabled_reason.map(|r| r.as_str()))
            .bind(e.disabled_at.map(Timestamp::unix_ms))
            .bind(e.created_at.unix_ms())
            .bind(e.updated_at.unix_ms())
            .execute(&self.pool)
            .await
            .map_err(|err| {
                if StoreError::is_unique_violation(&err) {
                    StoreError::Conflict("endpoint id exists")
                } else {
                    err.into()
                }
            })?;
            Ok(())
        }

        async fn get_endpoint(
            &self,
            tenant: &Tenant,
            id: &EndpointId,
        ) -> StoreResult<WebhookEndpoint> {
            sqlx::query_as::<_, EndpointRow>(sql(format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND org_id = $2 AND environment = $3"
            )))
            .bind(id.as_str())
            .bind(tenant.org_id.as_str())
            .bind(tenant.environment.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?
            .into_domain()
        }

        async fn list_endpoints(
            &self,
            tenant: &Tenant,
            page: &PageRequest<EndpointId>,
        ) -> StoreResult<Page<WebhookEndpoint>> {
            let fetch = i64::from(page.limit.get()) + 1;
            let rows = match &page.starting_after {
                None => {
                    sqlx::query_as::<_, EndpointRow>(sql(format!(
                        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1 AND environment = $2 \
                         ORDER BY created_at DESC, id DESC LIMIT $3"
                    )))
                    .bind(tenant.org_id.as_str())
                    .bind(tenant.environment.as_str())
                    .bind(fetch)
                    .fetch_all(&self.pool)
                    .await?
                }
                Some(after) => {
                    let cursor = sqlx::query_as::<_, CursorRow>(
                        "SELECT created_at, id FROM webhook_endpoints WHERE id = $1 AND org_id = $2 AND environment = $3",
                    )
                    .bind(after.as_str())
                    .bind(tenant.org_id.as_str())
                    .bind(tenant.environment.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                    let (at, id) = cursor_or_error(cursor)?;
                    sqlx::query_as::<_, EndpointRow>(sql(format!(
                        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1 AND environment = $2 \
                         AND (created_at, id) < ($3, $4) ORDER BY created_at DESC, id DESC LIMIT $5"
                    )))
                    .bind(tenant.org_id.as_str())
                    .bind(tenant.environment.as_str())
                    .bind(at)
                    .bind(id)
                    .bind(fetch)
                    .fetch_all(&self.pool)
                    .await?
                }
            };
            let items = rows
                .into_iter()
                .map(EndpointRow::into_domain)
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Page::from_overfetch(items, page.limit))
        }

        async fn update_endpoint(
            &self,
            tenant: &Tenant,
            id: &EndpointId,
            patch: &EndpointPatch,
            now: Timestamp,
        ) -> StoreResult<WebhookEndpoint> {
            // Right-hand sides see the row as it was, so `NOT enabled` means "was disabled".
            let endpoint = sqlx::query_as::<_, EndpointRow>(sql(format!(
                "UPDATE webhook_endpoints SET url = COALESCE($1, url), description = COALESCE($2, description), \
                 subscribed_event_types = COALESCE($3, subscribed_event_types), enabled = COALESCE($4, enabled), \
                 failing_since = CASE WHEN $4 AND NOT enabled THEN NULL ELSE failing_since END, \
                 disabled_reason = CASE WHEN $4 THEN NULL ELSE disabled_reason END, \
                 disabled_at = CASE WHEN $4 THEN NULL ELSE disabled_at END, \
                 updated_at = $5 WHERE id = $6 AND org_id = $7 AND environment = $8 RETURNING {ENDPOINT_COLUMNS}"
            )))
            .bind(patch.url.as_deref())
            .bind(patch.description.as_deref())
            .bind(patch.subscription.as_ref().map(|s| s.to_stored()))
            .bind(patch.enabled)
            .bind(now.unix_ms())
            .bind(id.as_str())
            .bind(tenant.org_id.as_str())
            .bind(tenant.environment.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?
            .into_domain()?;
            if patch.enabled == Some(true) {
                // Its waiting deliveries may be sent again.
                self.announce(Change::Deliveries).await?;
            }
            Ok(endpoint)
        }

        async fn delete_endpoint(&self, tenant: &Tenant, id: &EndpointId) -> StoreResult<()> {
            let done = sqlx::query(
                "DELETE FROM webhook_endpoints WHERE id = $1 AND org_id = $2 AND environment = $3",
            )
            .bind(id.as_str())
            .bind(tenant.org_id.as_str())
            .bind(tenant.environment.as_str())
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        }

        async fn rotate_endpoint_secret(
            &self,
            tenant: &Tenant,
            id: &EndpointId,
            new_secret: &SealedSecret,
            previous_expires_at: Timestamp,
            now: Timestamp,
        ) -> StoreResult<WebhookEndpoint> {
            // One statement: the right-hand sides read the old row, so the current secret moves
            // to `previous_secret_sealed` atomically with the new one taking its place.
            sqlx::query_as::<_, EndpointRow>(sql(format!(
                "UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed, \
                 previous_secret_expires_at = $1, secret_sealed = $2, updated_at = $3 \
                 WHERE id = $4 AND org_id = $5 AND environment = $6 RETURNING {ENDPOINT_COLUMNS}"
            )))
            .bind(previous_expires_at.unix_ms())
            .bind(new_secret.as_str())
            .bind(now.unix_ms())
            .bind(id.as_str())
            .bind(tenant.org_id.as_str())
            .bind(tenant.environment.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?
            .into_domain()
        }

        async fn add_key(
            &self,
            tenant: &Tenant,
            key: &EncryptionKey,
            now: Timestamp,
        ) -> StoreResult<KeyActivation> {
            if key.org_id != tenant.org_id {
                return Err(StoreError::NotFound);
            }
            let mut tx = self.begin_write().await?;
            lock_endpoint(&mut tx, tenant, &key.endpoint_id).await?;
            if key.active {
                deactivate_all(&mut tx, &key.endpoint_id, now).await?;
            }
            sqlx::query(
                "INSERT INTO webhook_keys (id, endpoint_id, org_id, kid, jwk, bits, active, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(key.id.as_str())
            .bind(key.endpoint_id.as_str())
            .bind(key.org_id.as_str())
            .bind(key.kid.as_deref())
            .bind(json_text(&key.jwk))
            .bind(i64::from(key.bits))
            .bind(key.active)
            .bind(key.created_at.unix_ms())
            .bind(key.updated_at.unix_ms())
            .execute(&mut *tx)
            .await
            .map_err(|err| {
                if StoreError::is_unique_violation(&err) {
                    StoreError::Conflict("key id exists or a second active key")
                } else {
                    err.into()
                }
            })?;
            let unblocked = if key.active {
                unblock_deliveries(&mut tx, &key.endpoint_id, now).await?
            } else {
                0
            };
            tx.commit().await?;
            Ok(KeyActivation {
                key: key.clone(),
                unblocked,
            })
        }

        async fn list_keys(
            &self,
            tenant: &Tenant,
            endpoint: &EndpointId,
            page: &PageRequest<EncryptionKeyId>,
        ) -> StoreResult<Page<EncryptionKey>> {
            // The endpoint decides the environment: keys carry only the organization.
            self.get_endpoint(tenant, endpoint).await?;
            let fetch = i64::from(page.limit.get()) + 1;
            let rows = match &page.starting_after {
                None => sqlx::query_as::<_, KeyRow>(sql(format!(
                    "SELECT {KEY_COLUMNS} FROM webhook_keys WHERE endpoint_id = $1 AND org_id = $2 \
                         ORDER BY created_at DESC, id DESC LIMIT $3"
                )))
                .bind(endpoint.as_str())
                .bind(tenant.org_id.as_str())
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?,
                Some(after) => {
                    let cursor = sqlx::query_as::<_, CursorRow>(
                        "SELECT created_at, id FROM webhook_keys WHERE id = $1 AND endpoint_id = $2 AND org_id = $3",
                    )
                    .bind(after.as_str())
                    .bind(endpoint.as_str())
                    .bind(tenant.org_id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                    let (at, id) = cursor_or_error(cursor)?;
                    sqlx::query_as::<_, KeyRow>(sql(format!(
                        "SELECT {KEY_COLUMNS} FROM webhook_keys WHERE endpoint_id = $1 AND org_id = $2 \
                         AND (created_at, id) < ($3, $4) ORDER BY created_at DESC, id DESC LIMIT $5"
                    )))
                    .bind(endpoint.as_str())
                    .bind(tenant.org_id.as_str())
                    .bind(at)
                    .bind(id)
                    .bind(fetch)
                    .fetch_all(&self.pool)
                    .await?
                }
            };
            let items = rows
                .into_iter()
                .map(KeyRow::into_domain)
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Page::from_overfetch(items, page.limit))
        }

        async fn set_key_active(
            &self,
            tenant: &Tenant,
            endpoint: &EndpointId,
            key: &EncryptionKeyId,
            active: bool,
            now: Timestamp,
        ) -> StoreResult<KeyActivation> {
            let mut tx = self.begin_write().await?;
            lock_endpoint(&mut tx, tenant, endpoint).await?;
            let current = fetch_key(&mut tx, tenant, endpoint, key).await?;
            let mut unblocked = 0;
            if active {
                if !current.active {
                    deactivate_all(&mut tx, endpoint, now).await?;
                    sqlx::query(
                        "UPDATE webhook_keys SET active = TRUE, updated_at = $1 WHERE id = $2",
                    )
                    .bind(now.unix_ms())
                    .bind(key.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
                unblocked = unblock_deliveries(&mut tx, endpoint, now).await?;
            } else if current.active {
                sqlx::query(
                    "UPDATE webhook_keys SET active = FALSE, updated_at = $1 WHERE id = $2",
                )
                .bind(now.unix_ms())
                .bind(key.as_str())
                .execute(&mut *tx)
                .await?;
                block_deliveries(&mut tx, endpoint, now).await?;
            }
            let key = fetch_key(&mut tx, tenant, endpoint, key).await?;
            tx.commit().await?;
            Ok(KeyActivation { key, unblocked })
        }

        async fn active_key(&self, endpoint: &EndpointId) -> StoreResult<Option<EncryptionKey>> {
            sqlx::query_as::<_, KeyRow>(sql(format!(
                "SELECT {KEY_COLUMNS} FROM webhook_keys WHERE endpoint_id = $1 AND active"
            )))
            .bind(endpoint.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(KeyRow::into_domain)
            .transpose()
        }

        async fn list_events(
            &self,
            tenant: &Tenant,
            filter: &EventFilter,
            page: &PageRequest<EventId>,
        ) -> StoreResult<Page<Event>> {
            let mut query = TenantPage::new("events", tenant);
            query
                .filter("type", "=", filter.event_type.map(|t| Bind::Text(t.as_str().to_owned())))
                .filter("session_id", "=", filter.session_id.as_ref().map(|id| Bind::Text(id.to_string())))
                .created_between(filter.created_from, filter.created_to);
            query
                .after(&self.pool, page.starting_after.as_ref().map(EventId::as_str))
                .await?;
            let rows: Vec<EventRow> = query.fetch(&self.pool, EVENT_COLUMNS, page.limit).await?;
            let events = rows
                .into_iter()
                .map(EventRow::into_domain)
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Page::from_overfetch(events, page.limit))
        }

        async fn get_event(&self, tenant: &Tenant, id: &EventId) -> StoreResult<Event> {
            sqlx::query_as::<_, EventRow>(sql(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE id = $1 AND org_id = $2 AND environment = $3"
        )))
        .bind(id.as_str())
        .bind(tenant.org_id.as_str())
        .bind(tenant.environment.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?
        .into_domain()
        }

        async fn replay_event(
            &self,
            tenant: &Tenant,
            id: &EventId,
            now: Timestamp,
        ) -> StoreResult<ReplayOutcome> {
            let mut tx = self.begin_write().await?;
            let event = sqlx::query_as::<_, EventRow>(sql(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE id = $1 AND org_id = $2 AND environment = $3"
        )))
        .bind(id.as_str())
        .bind(tenant.org_id.as_str())
        .bind(tenant.environment.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?
        .into_domain()?;
            if !payload_present(&mut tx, id.as_str()).await? {
                tx.rollback().await?;
                return Ok(ReplayOutcome::PayloadGone);
            }
            let Some(target) =
                super::delivery_queue::session_target(&mut tx, &event.session_id).await?
            else {
                // Only erasure removes a session, and it blanks the payload with it.
                tx.rollback().await?;
                return Ok(ReplayOutcome::PayloadGone);
            };
            let ids = super::delivery_queue::route_event(&mut tx, &event, &target, now).await?;
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

        async fn list_deliveries(
            &self,
            tenant: &Tenant,
            filter: &DeliveryFilter,
            page: &PageRequest<DeliveryId>,
        ) -> StoreResult<Page<Delivery>> {
            let mut query = TenantPage::new("webhook_deliveries", tenant);
            query
                .filter("endpoint_id", "=", filter.endpoint_id.as_ref().map(|id| Bind::Text(id.to_string())))
                .filter("event_id", "=", filter.event_id.as_ref().map(|id| Bind::Text(id.to_string())))
                .filter("status", "=", filter.status.map(|s| Bind::Text(s.as_str().to_owned())));
            query
                .after(&self.pool, page.starting_after.as_ref().map(DeliveryId::as_str))
                .await?;
            let mut rows: Vec<DeliveryRow> =
                query.fetch(&self.pool, DELIVERY_COLUMNS, page.limit).await?;
            let has_more = rows.len() > usize::try_from(page.limit.get()).unwrap_or(usize::MAX);
            rows.truncate(usize::try_from(page.limit.get()).unwrap_or(usize::MAX));
            let items = with_attempts(&self.pool, rows).await?;
            Ok(Page { items, has_more })
        }

        async fn get_delivery(&self, tenant: &Tenant, id: &DeliveryId) -> StoreResult<Delivery> {
            let mut conn = self.pool.acquire().await?;
            let row = fetch_delivery_row(&mut conn, tenant, id)
                .await?
                .ok_or(StoreError::NotFound)?;
            drop(conn);
            with_attempts(&self.pool, vec![row])
                .await?
                .pop()
                .ok_or(StoreError::NotFound)
        }

        async fn retry_delivery(
            &self,
            tenant: &Tenant,
            id: &DeliveryId,
            now: Timestamp,
        ) -> StoreResult<RetryOutcome> {
            let mut tx = self.begin_write().await?;
            let current = fetch_delivery_row(&mut tx, tenant, id)
                .await?
                .ok_or(StoreError::NotFound)?
                .into_domain()?;
            if !current.status.is_retryable() {
                tx.rollback().await?;
                return Ok(RetryOutcome::NotRetryable(current.status));
            }
            if !payload_present(&mut tx, current.event_id.as_str()).await? {
                tx.rollback().await?;
                return Ok(RetryOutcome::PayloadGone);
            }
            // Guarded by status, so a worker's outcome recorded meanwhile (succeeded) is not
            // overwritten; a lease in progress is left alone and the worker finishes its send.
            // A new retry window starts now: counted from creation, an old failed delivery would
            // fail again on its first error.
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, completed_at = NULL, \
                 retry_window_start = $1, updated_at = $1 WHERE id = $2 AND org_id = $3 AND environment = $4 AND status IN ('failed', 'pending')",
            )
            .bind(now.unix_ms())
            .bind(id.as_str())
            .bind(tenant.org_id.as_str())
            .bind(tenant.environment.as_str())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(RetryOutcome::NotRetryable(current.status));
            }
            tx.note(Change::Deliveries);
            tx.commit().await?;
            let delivery = self.get_delivery(tenant, id).await?;
            Ok(RetryOutcome::Retried(Box::new(delivery)))
        }
    }
}
