//! Webhook endpoints with their sealed signing secrets, and their encryption keys (one active
//! per endpoint): the management API of docs/webhooks.md. Every method is scoped by `Tenant`:
//! another tenant's objects answer `NotFound`, exactly like ids that were never issued.
//!
//! Activating a key (upload or reactivate) moves the endpoint's `blocked_no_key` deliveries to
//! `pending`, due at once, in the same transaction, so a delivery can never stay blocked while
//! its endpoint has an active key; the commit announces it to the delivery workers.

use idgate_core::{
    EncryptionKey, EncryptionKeyId, EndpointId, EndpointPatch, Page, PageRequest, SealedSecret,
    Tenant, Timestamp, WebhookEndpoint,
};

use crate::changes::Change;
use crate::db::{Tx, query};
use crate::page::{TenantPage, cursor_or_error};
use crate::rows::{CursorRow, ENDPOINT_COLUMNS, EndpointRow, KEY_COLUMNS, KeyRow, json_text};
use crate::{Store, StoreError, StoreResult};

/// What activating a key changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyActivation {
    /// The key as stored after the change.
    pub key: EncryptionKey,
    /// Deliveries that waited for a key and are now pending.
    pub unblocked: u64,
}

/// Locks the tenant's endpoint row for the rest of the transaction (serialising key
/// activations of one endpoint); `NotFound` if the endpoint is not the tenant's.
async fn lock_endpoint(tx: &mut Tx, tenant: &Tenant, id: &EndpointId) -> StoreResult<()> {
    let found: Option<(String,)> = query(format!(
        "SELECT id FROM webhook_endpoints WHERE id = $1 AND org_id = $2 AND environment = $3{}",
        tx.dialect().for_update()
    ))
    .bind(id.as_str())
    .bind(tenant.org_id.as_str())
    .bind(tenant.environment.as_str())
    .fetch_optional(&mut *tx)
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
    let done = query(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, updated_at = $1, \
         retry_window_start = $1 WHERE endpoint_id = $2 AND status = 'blocked_no_key'",
    )
    .bind(now.unix_ms())
    .bind(endpoint.as_str())
    .execute(&mut *tx)
    .await?;
    if done > 0 {
        tx.note(Change::Deliveries);
    }
    Ok(done)
}

/// The endpoint lost its active key: deliveries not in a worker's hands wait for a new one
/// instead of failing (docs/webhooks.md "Encryption keys"). A leased delivery is finished by
/// its worker, which finds no key and blocks it itself.
async fn block_deliveries(tx: &mut Tx, endpoint: &EndpointId, now: Timestamp) -> StoreResult<()> {
    query(
        "UPDATE webhook_deliveries SET status = 'blocked_no_key', next_attempt_at = NULL, updated_at = $1 \
         WHERE endpoint_id = $2 AND status = 'pending' AND (lease_expires_at IS NULL OR lease_expires_at <= $1)",
    )
    .bind(now.unix_ms())
    .bind(endpoint.as_str())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn deactivate_all(tx: &mut Tx, endpoint: &EndpointId, now: Timestamp) -> StoreResult<()> {
    query(
        "UPDATE webhook_keys SET active = FALSE, updated_at = $1 WHERE endpoint_id = $2 AND active",
    )
    .bind(now.unix_ms())
    .bind(endpoint.as_str())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn fetch_key(
    tx: &mut Tx,
    tenant: &Tenant,
    endpoint: &EndpointId,
    key: &EncryptionKeyId,
) -> StoreResult<EncryptionKey> {
    query(format!(
        "SELECT {KEY_COLUMNS} FROM webhook_keys WHERE id = $1 AND endpoint_id = $2 AND org_id = $3"
    ))
    .bind(key.as_str())
    .bind(endpoint.as_str())
    .bind(tenant.org_id.as_str())
    .fetch_optional::<KeyRow>(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound)?
    .into_domain()
}

impl Store {
    /// Inserts a new endpoint (built by [`WebhookEndpoint::new`], secret already sealed).
    pub async fn create_endpoint(&self, e: &WebhookEndpoint) -> StoreResult<()> {
        let previous = e.previous_secret.as_ref();
        query(
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

    pub async fn get_endpoint(
        &self,
        tenant: &Tenant,
        id: &EndpointId,
    ) -> StoreResult<WebhookEndpoint> {
        query(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND org_id = $2 AND environment = $3"
        ))
        .bind(id.as_str())
        .bind(tenant.org_id.as_str())
        .bind(tenant.environment.as_str())
        .fetch_optional::<EndpointRow>(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?
        .into_domain()
    }

    /// Newest first, keyset-paginated on `(created_at DESC, id DESC)`.
    pub async fn list_endpoints(
        &self,
        tenant: &Tenant,
        page: &PageRequest<EndpointId>,
    ) -> StoreResult<Page<WebhookEndpoint>> {
        let mut list = TenantPage::new("webhook_endpoints", tenant);
        list.after(
            &self.pool,
            page.starting_after.as_ref().map(EndpointId::as_str),
        )
        .await?;
        let items = list
            .fetch::<EndpointRow>(&self.pool, ENDPOINT_COLUMNS, page.limit)
            .await?
            .into_iter()
            .map(EndpointRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.limit))
    }

    /// Applies the present fields. Enabling an endpoint clears `disabled_reason`,
    /// `disabled_at` and `failing_since`, so an auto-disabled endpoint starts afresh.
    pub async fn update_endpoint(
        &self,
        tenant: &Tenant,
        id: &EndpointId,
        patch: &EndpointPatch,
        now: Timestamp,
    ) -> StoreResult<WebhookEndpoint> {
        // Right-hand sides see the row as it was, so `NOT enabled` means "was disabled".
        let endpoint = query(format!(
            "UPDATE webhook_endpoints SET url = COALESCE($1, url), description = COALESCE($2, description), \
             subscribed_event_types = COALESCE($3, subscribed_event_types), enabled = COALESCE($4, enabled), \
             failing_since = CASE WHEN $4 AND NOT enabled THEN NULL ELSE failing_since END, \
             disabled_reason = CASE WHEN $4 THEN NULL ELSE disabled_reason END, \
             disabled_at = CASE WHEN $4 THEN NULL ELSE disabled_at END, \
             updated_at = $5 WHERE id = $6 AND org_id = $7 AND environment = $8 RETURNING {ENDPOINT_COLUMNS}"
        ))
        .bind(patch.url.as_deref())
        .bind(patch.description.as_deref())
        .bind(patch.subscription.as_ref().map(|s| s.to_stored()))
        .bind(patch.enabled)
        .bind(now.unix_ms())
        .bind(id.as_str())
        .bind(tenant.org_id.as_str())
        .bind(tenant.environment.as_str())
        .fetch_optional::<EndpointRow>(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?
        .into_domain()?;
        if patch.enabled == Some(true) {
            // Its waiting deliveries may be sent again.
            self.announce(Change::Deliveries).await?;
        }
        Ok(endpoint)
    }

    /// Deletes the endpoint with its keys and deliveries (and their attempts).
    pub async fn delete_endpoint(&self, tenant: &Tenant, id: &EndpointId) -> StoreResult<()> {
        let done = query(
            "DELETE FROM webhook_endpoints WHERE id = $1 AND org_id = $2 AND environment = $3",
        )
        .bind(id.as_str())
        .bind(tenant.org_id.as_str())
        .bind(tenant.environment.as_str())
        .execute(&self.pool)
        .await?;
        if done == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Makes `new_secret` current; the current one becomes the previous, signing until
    /// `previous_expires_at`. A previous secret still in its overlap is dropped.
    pub async fn rotate_endpoint_secret(
        &self,
        tenant: &Tenant,
        id: &EndpointId,
        new_secret: &SealedSecret,
        previous_expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<WebhookEndpoint> {
        // One statement: the right-hand sides read the old row, so the current secret moves
        // to `previous_secret_sealed` atomically with the new one taking its place.
        query(format!(
            "UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed, \
             previous_secret_expires_at = $1, secret_sealed = $2, updated_at = $3 \
             WHERE id = $4 AND org_id = $5 AND environment = $6 RETURNING {ENDPOINT_COLUMNS}"
        ))
        .bind(previous_expires_at.unix_ms())
        .bind(new_secret.as_str())
        .bind(now.unix_ms())
        .bind(id.as_str())
        .bind(tenant.org_id.as_str())
        .bind(tenant.environment.as_str())
        .fetch_optional::<EndpointRow>(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?
        .into_domain()
    }

    /// Stores a key for an endpoint of the tenant (`NotFound` otherwise). If `key.active`, the
    /// endpoint's other keys are deactivated and its blocked deliveries unblocked.
    pub async fn add_key(
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
        query(
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
        .execute(&mut tx)
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

    /// The endpoint's keys, newest first, keyset-paginated.
    pub async fn list_keys(
        &self,
        tenant: &Tenant,
        endpoint: &EndpointId,
        page: &PageRequest<EncryptionKeyId>,
    ) -> StoreResult<Page<EncryptionKey>> {
        // The endpoint decides the environment: keys carry only the organization.
        self.get_endpoint(tenant, endpoint).await?;
        let fetch = i64::from(page.limit.get()) + 1;
        let rows = match &page.starting_after {
            None => {
                query(format!(
                    "SELECT {KEY_COLUMNS} FROM webhook_keys WHERE endpoint_id = $1 AND org_id = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                ))
                .bind(endpoint.as_str())
                .bind(tenant.org_id.as_str())
                .bind(fetch)
                .fetch_all::<KeyRow>(&self.pool)
                .await?
            }
            Some(after) => {
                let cursor = query(
                    "SELECT created_at, id FROM webhook_keys WHERE id = $1 AND endpoint_id = $2 AND org_id = $3",
                )
                .bind(after.as_str())
                .bind(endpoint.as_str())
                .bind(tenant.org_id.as_str())
                .fetch_optional::<CursorRow>(&self.pool)
                .await?;
                let (at, id) = cursor_or_error(cursor)?;
                query(format!(
                    "SELECT {KEY_COLUMNS} FROM webhook_keys WHERE endpoint_id = $1 AND org_id = $2 \
                     AND (created_at, id) < ($3, $4) ORDER BY created_at DESC, id DESC LIMIT $5"
                ))
                .bind(endpoint.as_str())
                .bind(tenant.org_id.as_str())
                .bind(at)
                .bind(id)
                .bind(fetch)
                .fetch_all::<KeyRow>(&self.pool)
                .await?
            }
        };
        let items = rows
            .into_iter()
            .map(KeyRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.limit))
    }

    /// Activates (deactivating the others, unblocking deliveries) or deactivates one key.
    /// Idempotent. `NotFound` when the endpoint is not the tenant's or the key not the
    /// endpoint's.
    pub async fn set_key_active(
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
                query("UPDATE webhook_keys SET active = TRUE, updated_at = $1 WHERE id = $2")
                    .bind(now.unix_ms())
                    .bind(key.as_str())
                    .execute(&mut tx)
                    .await?;
            }
            unblocked = unblock_deliveries(&mut tx, endpoint, now).await?;
        } else if current.active {
            query("UPDATE webhook_keys SET active = FALSE, updated_at = $1 WHERE id = $2")
                .bind(now.unix_ms())
                .bind(key.as_str())
                .execute(&mut tx)
                .await?;
            block_deliveries(&mut tx, endpoint, now).await?;
        }
        let key = fetch_key(&mut tx, tenant, endpoint, key).await?;
        tx.commit().await?;
        Ok(KeyActivation { key, unblocked })
    }

    /// The endpoint's active key, if any (for the delivery worker; no tenant: endpoint ids
    /// come from the delivery rows).
    pub async fn active_key(&self, endpoint: &EndpointId) -> StoreResult<Option<EncryptionKey>> {
        query(format!(
            "SELECT {KEY_COLUMNS} FROM webhook_keys WHERE endpoint_id = $1 AND active"
        ))
        .bind(endpoint.as_str())
        .fetch_optional::<KeyRow>(&self.pool)
        .await?
        .map(KeyRow::into_domain)
        .transpose()
    }

    /// `blocked_no_key → pending` (due now) for the endpoint's deliveries, after a key became
    /// active. Returns how many.
    pub async fn unblock_endpoint(
        &self,
        endpoint: &EndpointId,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let done = query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, updated_at = $1, \
             retry_window_start = $1 WHERE endpoint_id = $2 AND status = 'blocked_no_key' \
             AND EXISTS (SELECT 1 FROM webhook_keys k WHERE k.endpoint_id = $2 AND k.active)",
        )
        .bind(now.unix_ms())
        .bind(endpoint.as_str())
        .execute(&self.pool)
        .await?;
        if done > 0 {
            self.announce(Change::Deliveries).await?;
        }
        Ok(done)
    }
}
