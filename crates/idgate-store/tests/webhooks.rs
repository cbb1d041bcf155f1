//! Behaviour of the webhook operations of `Store` on every backend: endpoints (tenant isolation, keyset pages,
//! patch, rotation), encryption keys (one active per endpoint) and the unblocking of waiting
//! deliveries when a key becomes active.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;

use common::{HOUR_MS, backends, org, session_at, t};
use idgate_core::{
    DeliveryId, EncryptionKey, EncryptionKeyId, EndpointId, EndpointPatch, EndpointSpec,
    Environment, EventId, Limit, PageRequest, SealedSecret, Subscription, Tenant, Timestamp,
    WebhookEndpoint,
};
use idgate_store::{Pool, Store, StoreError};

fn page<C>(limit: u32, starting_after: Option<C>) -> PageRequest<C> {
    PageRequest {
        limit: Limit::new(limit).expect("limit"),
        starting_after,
    }
}

fn endpoint_at(tenant: &Tenant, now: Timestamp) -> WebhookEndpoint {
    let spec = EndpointSpec {
        url: "https://hooks.example.com/idgate".to_owned(),
        description: "primary".to_owned(),
        enabled: true,
        subscription: Subscription::All,
    };
    let id = EndpointId::generate();
    let sealed = SealedSecret::new(format!("sealed-{}", &id.as_str()[4..12]));
    WebhookEndpoint::new(tenant, id, spec, sealed, now)
}

async fn create_endpoint(store: &Store, tenant: &Tenant, now: Timestamp) -> WebhookEndpoint {
    let e = endpoint_at(tenant, now);
    store.create_endpoint(&e).await.expect("create endpoint");
    e
}

fn key_for(endpoint: &WebhookEndpoint, active: bool, now: Timestamp) -> EncryptionKey {
    EncryptionKey {
        id: EncryptionKeyId::generate(),
        endpoint_id: endpoint.id.clone(),
        org_id: endpoint.org_id.clone(),
        kid: None,
        jwk: serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
        bits: 2048,
        active,
        created_at: now,
        updated_at: now,
    }
}

/// Runs one statement with text binds on either backend.
async fn exec(store: &Store, sql: &str, binds: &[&str]) -> Result<u64, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match store.pool() {
        Pool::Sqlite(s) => {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(b.to_string());
            }
            q.execute(s).await.map(|r| r.rows_affected())
        }
        Pool::Postgres(s) => {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(b.to_string());
            }
            q.execute(s).await.map(|r| r.rows_affected())
        }
    }
}

async fn delivery_status(store: &Store, id: &DeliveryId) -> (String, Option<i64>) {
    let q = "SELECT status, next_attempt_at FROM webhook_deliveries WHERE id = $1";
    match store.pool() {
        Pool::Sqlite(s) => sqlx::query_as(q)
            .bind(id.as_str())
            .fetch_one(s)
            .await
            .expect("delivery"),
        Pool::Postgres(s) => sqlx::query_as(q)
            .bind(id.as_str())
            .fetch_one(s)
            .await
            .expect("delivery"),
    }
}

/// An event of a new session and one delivery of it to `endpoint` in `status`, as the outbox
/// fan-out would write them.
async fn insert_delivery(
    store: &Store,
    tenant: &Tenant,
    endpoint: &EndpointId,
    status: &str,
) -> DeliveryId {
    let session = session_at(store, tenant, t(0)).await;
    let event = EventId::generate();
    exec(
        store,
        "INSERT INTO events (id, org_id, environment, session_id, attempt_id, type, created_at, data, seq) \
         VALUES ($1, $2, 'live', $3, NULL, 'verification.session.cancelled', 1000, '{}', 0)",
        &[event.as_str(), tenant.org_id.as_str(), session.id.as_str()],
    )
    .await
    .expect("insert event");
    let id = DeliveryId::generate();
    exec(
        store,
        "INSERT INTO webhook_deliveries (id, org_id, environment, event_id, endpoint_id, session_id, status, \
         attempt_count, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, 'live', $3, $4, $5, $6, 0, CASE WHEN $6 = 'pending' THEN 1000 ELSE NULL END, 1000, 1000)",
        &[
            id.as_str(),
            tenant.org_id.as_str(),
            event.as_str(),
            endpoint.as_str(),
            session.id.as_str(),
            status,
        ],
    )
    .await
    .expect("insert delivery");
    id
}

#[tokio::test]
async fn a_created_endpoint_reads_back_identically() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let e = create_endpoint(&b.store, &tenant, t(5)).await;
        let read = b.store.get_endpoint(&tenant, &e.id).await.expect("get");
        assert_eq!(read, e, "{}", b.name);
    }
}

#[tokio::test]
async fn endpoints_of_another_tenant_do_not_exist_for_it() {
    for b in backends().await {
        let owner = org(&b.store).await;
        let other = org(&b.store).await;
        let test_env = Tenant {
            org_id: owner.org_id.clone(),
            environment: Environment::Test,
        };
        let e = create_endpoint(&b.store, &owner, t(0)).await;
        for stranger in [&other, &test_env] {
            assert!(matches!(
                b.store.get_endpoint(stranger, &e.id).await,
                Err(StoreError::NotFound)
            ));
            assert!(matches!(
                b.store
                    .update_endpoint(stranger, &e.id, &EndpointPatch::default(), t(1))
                    .await,
                Err(StoreError::NotFound)
            ));
            assert!(matches!(
                b.store
                    .rotate_endpoint_secret(
                        stranger,
                        &e.id,
                        &SealedSecret::new("x".into()),
                        t(2),
                        t(1)
                    )
                    .await,
                Err(StoreError::NotFound)
            ));
            assert!(matches!(
                b.store.list_keys(stranger, &e.id, &page(10, None)).await,
                Err(StoreError::NotFound)
            ));
            let page = b
                .store
                .list_endpoints(stranger, &page(10, None))
                .await
                .expect("list");
            assert!(page.items.is_empty(), "{}", b.name);
            assert!(matches!(
                b.store.delete_endpoint(stranger, &e.id).await,
                Err(StoreError::NotFound)
            ));
        }
        let mut foreign_key = key_for(&e, true, t(1));
        foreign_key.org_id = other.org_id.clone();
        assert!(matches!(
            b.store.add_key(&other, &foreign_key, t(1)).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            b.store
                .add_key(&test_env, &key_for(&e, true, t(1)), t(1))
                .await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(
            b.store
                .get_endpoint(&owner, &e.id)
                .await
                .expect("still there"),
            e
        );
    }
}

#[tokio::test]
async fn endpoint_pages_are_newest_first_and_cover_every_endpoint_once() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            // Two share a timestamp: the id breaks the tie.
            ids.push(create_endpoint(&b.store, &tenant, t(i.min(3))).await.id);
        }
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let p = b
                .store
                .list_endpoints(&tenant, &page(2, after.clone()))
                .await
                .expect("page");
            seen.extend(p.items.iter().map(|e| e.id.clone()));
            match p.next_cursor(|e| e.id.clone()) {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 5, "{}", b.name);
        // Newest first: the two newest (t(3)) lead, in id order descending.
        assert!(
            seen[..2].iter().all(|id| ids[3..].contains(id)),
            "{}",
            b.name
        );
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 5);
    }
}

#[tokio::test]
async fn a_patch_changes_only_the_given_fields() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let e = create_endpoint(&b.store, &tenant, t(0)).await;
        let patch = EndpointPatch {
            url: Some("https://other.example.com/hook".into()),
            subscription: Some(Subscription::Types(vec![
                idgate_core::EventType::SessionSucceeded,
            ])),
            ..EndpointPatch::default()
        };
        let updated = b
            .store
            .update_endpoint(&tenant, &e.id, &patch, t(9))
            .await
            .expect("patch");
        assert_eq!(updated.url, "https://other.example.com/hook");
        assert_eq!(updated.description, e.description);
        assert!(updated.enabled);
        assert!(
            !updated
                .subscription
                .matches(idgate_core::EventType::SessionFailed)
        );
        assert_eq!(updated.updated_at, t(9));
        assert_eq!(updated.secret_sealed, e.secret_sealed, "{}", b.name);
    }
}

#[tokio::test]
async fn enabling_an_auto_disabled_endpoint_clears_its_failure_state() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let e = create_endpoint(&b.store, &tenant, t(0)).await;
        exec(
            &b.store,
            "UPDATE webhook_endpoints SET enabled = FALSE, failing_since = 1, disabled_reason = 'failing', disabled_at = 2 WHERE id = $1",
            &[e.id.as_str()],
        )
        .await
        .expect("disable");
        let disabled = b.store.get_endpoint(&tenant, &e.id).await.expect("get");
        assert_eq!(
            disabled.disabled_reason,
            Some(idgate_core::DisabledReason::Failing)
        );
        let still = b
            .store
            .update_endpoint(
                &tenant,
                &e.id,
                &EndpointPatch {
                    description: Some("x".into()),
                    ..Default::default()
                },
                t(1),
            )
            .await
            .expect("patch");
        assert!(
            !still.enabled && still.disabled_reason.is_some(),
            "{}",
            b.name
        );
        let enabled = b
            .store
            .update_endpoint(
                &tenant,
                &e.id,
                &EndpointPatch {
                    enabled: Some(true),
                    ..Default::default()
                },
                t(2),
            )
            .await
            .expect("enable");
        assert!(enabled.enabled);
        assert_eq!(enabled.disabled_reason, None);
        assert_eq!(enabled.disabled_at, None);
        assert_eq!(enabled.failing_since, None, "{}", b.name);
    }
}

#[tokio::test]
async fn rotation_keeps_the_old_secret_as_previous_until_its_expiry() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let e = create_endpoint(&b.store, &tenant, t(0)).await;
        let new = SealedSecret::new("sealed-new".into());
        let rotated = b
            .store
            .rotate_endpoint_secret(&tenant, &e.id, &new, t(24 * HOUR_MS), t(0))
            .await
            .expect("rotate");
        assert_eq!(rotated.secret_sealed, new);
        assert_eq!(
            rotated.previous_secret_at(t(HOUR_MS)),
            Some(&e.secret_sealed)
        );
        assert_eq!(
            rotated.previous_secret_at(t(24 * HOUR_MS)),
            None,
            "{}",
            b.name
        );
        assert_eq!(
            b.store.get_endpoint(&tenant, &e.id).await.expect("get"),
            rotated
        );
    }
}

#[tokio::test]
async fn deleting_an_endpoint_removes_it_with_its_keys() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let e = create_endpoint(&b.store, &tenant, t(0)).await;
        b.store
            .add_key(&tenant, &key_for(&e, true, t(1)), t(1))
            .await
            .expect("key");
        b.store
            .delete_endpoint(&tenant, &e.id)
            .await
            .expect("delete");
        assert!(matches!(
            b.store.get_endpoint(&tenant, &e.id).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(
            b.store.active_key(&e.id).await.expect("active"),
            None,
            "{}",
            b.name
        );
        assert!(matches!(
            b.store.delete_endpoint(&tenant, &e.id).await,
            Err(StoreError::NotFound)
        ));
    }
}

#[tokio::test]
async fn a_new_active_key_deactivates_the_others() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let e = create_endpoint(&b.store, &tenant, t(0)).await;
        let first = key_for(&e, true, t(1));
        let second = key_for(&e, true, t(2));
        b.store.add_key(&tenant, &first, t(1)).await.expect("first");
        b.store
            .add_key(&tenant, &second, t(2))
            .await
            .expect("second");
        let keys = b
            .store
            .list_keys(&tenant, &e.id, &page(10, None))
            .await
            .expect("list");
        let active: Vec<_> = keys
            .items
            .iter()
            .filter(|k| k.active)
            .map(|k| k.id.clone())
            .collect();
        assert_eq!(active, std::slice::from_ref(&second.id), "{}", b.name);
        assert_eq!(
            keys.items.first().map(|k| k.id.clone()),
            Some(second.id.clone())
        );
        assert_eq!(
            b.store
                .active_key(&e.id)
                .await
                .expect("active")
                .map(|k| k.id),
            Some(second.id.clone())
        );
        // Reactivating the first one swaps them.
        let swapped = b
            .store
            .set_key_active(&tenant, &e.id, &first.id, true, t(3))
            .await
            .expect("reactivate");
        assert!(swapped.key.active);
        assert_eq!(
            b.store
                .active_key(&e.id)
                .await
                .expect("active")
                .map(|k| k.id),
            Some(first.id.clone()),
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn the_schema_refuses_a_second_active_key() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let e = create_endpoint(&b.store, &tenant, t(0)).await;
        b.store
            .add_key(&tenant, &key_for(&e, true, t(1)), t(1))
            .await
            .expect("first");
        let sneaky = EncryptionKeyId::generate();
        let inserted = exec(
            &b.store,
            "INSERT INTO webhook_keys (id, endpoint_id, org_id, kid, jwk, bits, active, created_at, updated_at) \
             VALUES ($1, $2, $3, NULL, '{}', 2048, TRUE, 0, 0)",
            &[sneaky.as_str(), e.id.as_str(), tenant.org_id.as_str()],
        )
        .await;
        assert!(inserted.is_err(), "{}", b.name);
    }
}

#[tokio::test]
async fn a_key_of_another_endpoint_is_not_found() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let a = create_endpoint(&b.store, &tenant, t(0)).await;
        let other = create_endpoint(&b.store, &tenant, t(0)).await;
        let key = key_for(&a, true, t(1));
        b.store.add_key(&tenant, &key, t(1)).await.expect("key");
        assert!(matches!(
            b.store
                .set_key_active(&tenant, &other.id, &key.id, false, t(2))
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(
            b.store.active_key(&a.id).await.expect("active").is_some(),
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn activating_a_key_makes_blocked_deliveries_due_now() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let e = create_endpoint(&b.store, &tenant, t(0)).await;
        let blocked = insert_delivery(&b.store, &tenant, &e.id, "blocked_no_key").await;
        let done = insert_delivery(&b.store, &tenant, &e.id, "succeeded").await;
        let activation = b
            .store
            .add_key(&tenant, &key_for(&e, true, t(7)), t(7))
            .await
            .expect("key");
        assert_eq!(activation.unblocked, 1, "{}", b.name);
        assert_eq!(
            delivery_status(&b.store, &blocked).await,
            ("pending".to_owned(), Some(t(7).unix_ms()))
        );
        assert_eq!(delivery_status(&b.store, &done).await.0, "succeeded");
    }
}

#[tokio::test]
async fn deactivating_the_active_key_makes_pending_deliveries_wait() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let e = create_endpoint(&b.store, &tenant, t(0)).await;
        let key = key_for(&e, true, t(1));
        b.store.add_key(&tenant, &key, t(1)).await.expect("key");
        let pending = insert_delivery(&b.store, &tenant, &e.id, "pending").await;
        let off = b
            .store
            .set_key_active(&tenant, &e.id, &key.id, false, t(2))
            .await
            .expect("deactivate");
        assert!(!off.key.active);
        assert_eq!(
            delivery_status(&b.store, &pending).await,
            ("blocked_no_key".to_owned(), None)
        );
        let on = b
            .store
            .set_key_active(&tenant, &e.id, &key.id, true, t(3))
            .await
            .expect("reactivate");
        assert_eq!(on.unblocked, 1, "{}", b.name);
        assert_eq!(
            delivery_status(&b.store, &pending).await,
            ("pending".to_owned(), Some(t(3).unix_ms()))
        );
    }
}
