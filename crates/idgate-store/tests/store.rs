//! Behaviour of the store, run against every backend (`common::backends`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;

use common::{HOUR_MS, api_key, backends, insert_endpoint, org, session_at, spec, spec_from, t};
use idgate_core::{
    ApiKey, ApiKeyId, ApiKeyPatch, Attempt, AttemptPhase, AttemptStatus, Environment, EventType,
    FailureCode, IdempotencyKey, Limit, PageRequest, RequestFingerprint, Scope, Scopes, Session,
    SessionFilter, SessionId, SessionStatus, Tenant, Timestamp, WebhookTarget,
};
use idgate_store::{CreateOutcome, NewIdempotencyRecord, Pool, Store, StoreError};

fn page<C>(limit: u32, starting_after: Option<C>) -> PageRequest<C> {
    PageRequest {
        limit: Limit::new(limit).unwrap(),
        starting_after,
    }
}

async fn event_types(store: &Store, tenant: &Tenant, id: &SessionId) -> Vec<EventType> {
    store
        .list_session_events(tenant, id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

// ---- organizations and API keys ----------------------------------------------------------------

#[tokio::test]
async fn organizations_are_created_read_and_listed() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let got = b.store.get_organization(&tenant.org_id).await.unwrap();
        assert_eq!(got.name, "Acme", "{}", b.name);
        assert_eq!(got.created_at, t(0));
        assert_eq!(
            b.store.list_organizations().await.unwrap(),
            vec![got.clone()]
        );
        assert!(
            matches!(
                b.store.create_organization(&got).await,
                Err(StoreError::Conflict(_))
            ),
            "{}",
            b.name
        );
        let unknown = idgate_core::OrgId::generate();
        assert!(matches!(
            b.store.get_organization(&unknown).await,
            Err(StoreError::NotFound)
        ));
        b.store.ping().await.unwrap();
    }
}

#[tokio::test]
async fn api_keys_are_created_listed_updated_and_deleted() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let (key, secret) = api_key(&b.store, &tenant.org_id, "ci", t(1)).await;
        assert_eq!(
            b.store
                .get_api_key(&tenant.api_keys(), &key.id)
                .await
                .unwrap(),
            key,
            "{}",
            b.name
        );

        let found = b
            .store
            .authenticate_api_key(&secret.hash(b"server-secret"), t(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, key.id);
        assert_eq!(found.last_used_at, Some(t(2)));
        assert!(
            b.store
                .authenticate_api_key(&secret.hash(b"other-secret"), t(2))
                .await
                .unwrap()
                .is_none()
        );

        let patch = ApiKeyPatch {
            name: Some("renamed".into()),
            scopes: Some(Scopes::new([Scope::SessionsRead]).unwrap()),
            enabled: Some(false),
        };
        let updated = b
            .store
            .update_api_key(&tenant.api_keys(), &key.id, &patch, t(3))
            .await
            .unwrap();
        assert_eq!(updated.name, "renamed");
        assert!(!updated.enabled);
        assert!(!updated.scopes.contains(Scope::SessionsWrite));
        assert_eq!(updated.updated_at, t(3));
        let partial = ApiKeyPatch {
            enabled: Some(true),
            ..ApiKeyPatch::default()
        };
        let again = b
            .store
            .update_api_key(&tenant.api_keys(), &key.id, &partial, t(4))
            .await
            .unwrap();
        assert_eq!((again.name.as_str(), again.enabled), ("renamed", true));

        // A disabled key is still found, so the caller can answer 401 for it deliberately.
        b.store
            .update_api_key(
                &tenant.api_keys(),
                &key.id,
                &ApiKeyPatch {
                    enabled: Some(false),
                    ..Default::default()
                },
                t(5),
            )
            .await
            .unwrap();
        let disabled = b
            .store
            .authenticate_api_key(&secret.hash(b"server-secret"), t(6))
            .await
            .unwrap()
            .unwrap();
        assert!(!disabled.enabled);

        b.store
            .delete_api_key(&tenant.api_keys(), &key.id)
            .await
            .unwrap();
        assert!(matches!(
            b.store.get_api_key(&tenant.api_keys(), &key.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            b.store.delete_api_key(&tenant.api_keys(), &key.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(
            b.store
                .authenticate_api_key(&secret.hash(b"server-secret"), t(7))
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn a_key_disabled_on_another_node_stops_authenticating_within_a_second() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let (key, secret) = api_key(&b.store, &tenant.org_id, "ci", t(1)).await;
        let hash = secret.hash(b"server-secret");
        let other = b.another_node().await;
        let enabled = |store: &Store| {
            let (store, hash) = (store.clone(), hash.clone());
            async move {
                store
                    .authenticate_api_key(&hash, t(2))
                    .await
                    .unwrap()
                    .map(|k| k.enabled)
            }
        };
        assert_eq!(enabled(&b.store).await, Some(true), "{}", b.name);

        let disable = ApiKeyPatch {
            enabled: Some(false),
            ..ApiKeyPatch::default()
        };
        other
            .update_api_key(&tenant.api_keys(), &key.id, &disable, t(3))
            .await
            .unwrap();
        // The node that made the change sees it at once; the first node within its cache's bound.
        assert_eq!(enabled(&other).await, Some(false), "{}", b.name);
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        assert_eq!(enabled(&b.store).await, Some(false), "{}", b.name);

        other
            .delete_api_key(&tenant.api_keys(), &key.id)
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        assert_eq!(enabled(&b.store).await, None, "{}", b.name);
    }
}

/// Hardening (issue 11): the write that records a key's use answers with the row it wrote, so a
/// node whose cache still holds a key deleted on another node refuses it instead of caching it
/// again.
#[tokio::test]
async fn a_cached_key_deleted_on_another_node_is_refused_when_its_use_is_recorded() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let (key, secret) = api_key(&b.store, &tenant.org_id, "ci", t(1)).await;
        let hash = secret.hash(b"server-secret");
        assert!(
            b.store
                .authenticate_api_key(&hash, t(2))
                .await
                .unwrap()
                .is_some(),
            "{}",
            b.name
        );
        let other = b.another_node().await;
        other
            .delete_api_key(&tenant.api_keys(), &key.id)
            .await
            .unwrap();
        // More than a minute later by the request's clock, the use is due to be recorded again.
        let later = t(2 + 61_000);
        for _ in 0..2 {
            assert_eq!(
                b.store.authenticate_api_key(&hash, later).await.unwrap(),
                None,
                "{}",
                b.name
            );
        }
    }
}

#[tokio::test]
async fn api_keys_of_another_organization_are_invisible() {
    for b in backends().await {
        let a = org(&b.store).await;
        let other = org(&b.store).await;
        let (key, _) = api_key(&b.store, &a.org_id, "a", t(1)).await;
        assert!(
            matches!(
                b.store.get_api_key(&other.api_keys(), &key.id).await,
                Err(StoreError::NotFound)
            ),
            "{}",
            b.name
        );
        let patch = ApiKeyPatch {
            enabled: Some(false),
            ..Default::default()
        };
        assert!(matches!(
            b.store
                .update_api_key(&other.api_keys(), &key.id, &patch, t(2))
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            b.store.delete_api_key(&other.api_keys(), &key.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(
            b.store
                .list_api_keys(&other.api_keys(), &PageRequest::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert!(
            b.store
                .get_api_key(&a.api_keys(), &key.id)
                .await
                .unwrap()
                .enabled
        );
    }
}

#[tokio::test]
async fn a_test_mode_caller_sees_and_manages_only_test_keys() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let (live, _) = api_key(&b.store, &tenant.org_id, "live", t(1)).await;
        let (test, secret) = ApiKey::generate(
            &tenant.org_id,
            "test",
            Environment::Test,
            Scopes::all(),
            t(2),
        )
        .unwrap();
        b.store
            .create_api_key(&test, &secret.hash(b"server-secret"))
            .await
            .unwrap();
        let test_mode = Tenant {
            environment: Environment::Test,
            ..tenant.clone()
        }
        .api_keys();

        let listed = b
            .store
            .list_api_keys(&test_mode, &PageRequest::default())
            .await
            .unwrap();
        let ids: Vec<_> = listed.items.iter().map(|k| k.id.clone()).collect();
        assert_eq!(ids, vec![test.id.clone()], "{}", b.name);
        let disable = ApiKeyPatch {
            enabled: Some(false),
            ..Default::default()
        };
        assert!(matches!(
            b.store
                .update_api_key(&test_mode, &live.id, &disable, t(3))
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            b.store.delete_api_key(&test_mode, &live.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(
            b.store
                .get_api_key(&tenant.api_keys(), &live.id)
                .await
                .unwrap()
                .enabled,
            "{}: the live key is untouched",
            b.name
        );
        // The live caller sees both environments' keys.
        let all = b
            .store
            .list_api_keys(&tenant.api_keys(), &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(all.items.len(), 2, "{}", b.name);
    }
}

#[tokio::test]
async fn api_key_list_is_newest_first_and_paginates() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                api_key(&b.store, &tenant.org_id, &format!("k{i}"), t(i))
                    .await
                    .0
                    .id,
            );
        }
        ids.reverse();
        let first = b
            .store
            .list_api_keys(&tenant.api_keys(), &page(2, None))
            .await
            .unwrap();
        assert!(first.has_more);
        let mut seen: Vec<ApiKeyId> = first.items.iter().map(|k| k.id.clone()).collect();
        let mut cursor = first.next_cursor(|k| k.id.clone());
        while let Some(c) = cursor {
            let p = b
                .store
                .list_api_keys(&tenant.api_keys(), &page(2, Some(c)))
                .await
                .unwrap();
            seen.extend(p.items.iter().map(|k| k.id.clone()));
            cursor = p.next_cursor(|k| k.id.clone());
        }
        assert_eq!(seen, ids, "{}", b.name);
    }
}

// ---- sessions: create, read, isolation --------------------------------------------------------

#[tokio::test]
async fn a_created_session_reads_back_identically() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let endpoint = insert_endpoint(&b.store, &tenant.org_id).await;
        let body = serde_json::json!({
            "redirect_url": "https://example.com/done",
            "share_fields": {"age_over_18": {"required": true, "reason": "Age check"}},
            "webhook_endpoint_id": [endpoint.as_str()],
            "expires_in": 600,
            "metadata": {"order": "42"}
        });
        let s = Session::create(&tenant, spec_from(body), t(0));
        assert_eq!(
            b.store.create_session(&s, None).await.unwrap(),
            CreateOutcome::Created
        );
        let got = b.store.get_session(&tenant, &s.id, t(1)).await.unwrap();
        assert_eq!(got, s, "{}", b.name);
        assert_eq!(got.cancel_token.expose(), s.cancel_token.expose());
        assert_eq!(got.webhook_endpoint_id, WebhookTarget::Many(vec![endpoint]));
        assert_eq!(got.expires_at, t(600_000));
    }
}

#[tokio::test]
async fn unknown_webhook_endpoints_are_refused_at_create() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let other = org(&b.store).await;
        let foreign = insert_endpoint(&b.store, &other.org_id).await;
        for target in [
            WebhookTarget::One(idgate_core::EndpointId::generate()),
            WebhookTarget::One(foreign),
        ] {
            let mut spec = spec();
            spec.webhook_endpoint_id = target;
            let s = Session::create(&tenant, spec, t(0));
            assert!(
                matches!(
                    b.store.create_session(&s, None).await,
                    Err(StoreError::WebhookEndpointNotFound)
                ),
                "{}",
                b.name
            );
            assert!(matches!(
                b.store.get_session(&tenant, &s.id, t(0)).await,
                Err(StoreError::NotFound)
            ));
        }
    }
}

#[tokio::test]
async fn sessions_of_another_tenant_do_not_exist_for_it() {
    for b in backends().await {
        let a = org(&b.store).await;
        let other = org(&b.store).await;
        let test_mode = Tenant {
            org_id: a.org_id.clone(),
            environment: Environment::Test,
        };
        let s = session_at(&b.store, &a, t(0)).await;
        for stranger in [&other, &test_mode] {
            assert!(
                matches!(
                    b.store.get_session(stranger, &s.id, t(1)).await,
                    Err(StoreError::NotFound)
                ),
                "{}",
                b.name
            );
            assert!(matches!(
                b.store.cancel_session(stranger, &s.id, t(1)).await,
                Err(StoreError::NotFound)
            ));
            assert!(matches!(
                b.store.erase_session(stranger, &s.id, t(1)).await,
                Err(StoreError::NotFound)
            ));
            assert!(matches!(
                b.store
                    .list_attempts(stranger, &s.id, &PageRequest::default(), t(1))
                    .await,
                Err(StoreError::NotFound)
            ));
            let listed = b
                .store
                .list_sessions(
                    stranger,
                    &SessionFilter::default(),
                    &PageRequest::default(),
                    t(1),
                )
                .await
                .unwrap();
            assert!(listed.items.is_empty());
            assert!(
                b.store
                    .list_session_events(stranger, &s.id)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
        assert_eq!(
            b.store.get_session(&a, &s.id, t(1)).await.unwrap().status,
            SessionStatus::Created
        );
    }
}

// ---- list: keyset pagination and filters -------------------------------------------------------

#[tokio::test]
async fn keyset_pages_cover_every_session_once_newest_first_even_with_equal_timestamps() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let mut all = Vec::new();
        // 23 sessions over 5 distinct milliseconds: many ties on created_at.
        for i in 0..23 {
            all.push(session_at(&b.store, &tenant, t(i % 5)).await);
        }
        all.sort_by(|x, y| (y.created_at, y.id.as_str()).cmp(&(x.created_at, x.id.as_str())));
        let expected: Vec<SessionId> = all.iter().map(|s| s.id.clone()).collect();

        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let p = b
                .store
                .list_sessions(&tenant, &SessionFilter::default(), &page(4, cursor), t(10))
                .await
                .unwrap();
            assert!(p.items.len() <= 4);
            seen.extend(p.items.iter().map(|s| s.id.clone()));
            cursor = p.next_cursor(|s| s.id.clone());
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, expected, "{}", b.name);
    }
}

#[tokio::test]
async fn list_has_no_more_when_the_last_page_is_exactly_full() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        for i in 0..4 {
            session_at(&b.store, &tenant, t(i)).await;
        }
        let p = b
            .store
            .list_sessions(&tenant, &SessionFilter::default(), &page(4, None), t(10))
            .await
            .unwrap();
        assert_eq!(p.items.len(), 4);
        assert!(!p.has_more, "{}", b.name);
    }
}

#[tokio::test]
async fn list_filters_by_status_and_inclusive_creation_range() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let s0 = session_at(&b.store, &tenant, t(0)).await;
        let s1 = session_at(&b.store, &tenant, t(1000)).await;
        let s2 = session_at(&b.store, &tenant, t(2000)).await;
        b.store
            .cancel_session(&tenant, &s1.id, t(3000))
            .await
            .unwrap();
        let ids =
            |p: idgate_core::Page<Session>| p.items.into_iter().map(|s| s.id).collect::<Vec<_>>();

        let cancelled = SessionFilter {
            status: Some(SessionStatus::Cancelled),
            ..Default::default()
        };
        assert_eq!(
            ids(b
                .store
                .list_sessions(&tenant, &cancelled, &PageRequest::default(), t(4000))
                .await
                .unwrap()),
            vec![s1.id.clone()],
            "{}",
            b.name
        );
        let created = SessionFilter {
            status: Some(SessionStatus::Created),
            ..Default::default()
        };
        assert_eq!(
            ids(b
                .store
                .list_sessions(&tenant, &created, &PageRequest::default(), t(4000))
                .await
                .unwrap()),
            vec![s2.id.clone(), s0.id.clone()]
        );
        let range = SessionFilter {
            created_from: Some(t(1000)),
            created_to: Some(t(2000)),
            ..Default::default()
        };
        assert_eq!(
            ids(b
                .store
                .list_sessions(&tenant, &range, &PageRequest::default(), t(4000))
                .await
                .unwrap()),
            vec![s2.id.clone(), s1.id.clone()]
        );
        let empty = SessionFilter {
            created_from: Some(t(3000)),
            created_to: Some(t(0)),
            ..Default::default()
        };
        assert!(
            b.store
                .list_sessions(&tenant, &empty, &PageRequest::default(), t(4000))
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_cursor_that_is_not_in_the_list_is_refused() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let other = org(&b.store).await;
        let foreign = session_at(&b.store, &other, t(0)).await;
        for cursor in [SessionId::generate(), foreign.id] {
            let r = b
                .store
                .list_sessions(
                    &tenant,
                    &SessionFilter::default(),
                    &page(10, Some(cursor)),
                    t(1),
                )
                .await;
            assert!(matches!(r, Err(StoreError::CursorNotFound)), "{}", b.name);
        }
    }
}

// ---- expiry ------------------------------------------------------------------------------------

#[tokio::test]
async fn reading_an_overdue_session_persists_it_as_expired_with_its_event() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let s = session_at(&b.store, &tenant, t(0)).await;
        let (_, attempt) = b.store.start_attempt(&s.id, t(10)).await.unwrap();
        let got = b
            .store
            .get_session(&tenant, &s.id, t(HOUR_MS))
            .await
            .unwrap();
        assert_eq!(got.status, SessionStatus::Expired, "{}", b.name);
        assert_eq!(got.completed_at, Some(t(HOUR_MS)));
        let again = b
            .store
            .get_session(&tenant, &s.id, t(2 * HOUR_MS))
            .await
            .unwrap();
        assert_eq!(
            again.completed_at,
            Some(t(HOUR_MS)),
            "expiry is persisted, not recomputed"
        );
        assert_eq!(
            event_types(&b.store, &tenant, &s.id).await,
            [EventType::SessionInProgress, EventType::SessionExpired]
        );
        let attempts = b
            .store
            .list_attempts(&tenant, &s.id, &PageRequest::default(), t(2 * HOUR_MS))
            .await
            .unwrap();
        assert_eq!(attempts.items[0].id, attempt.id);
        assert_eq!(attempts.items[0].status, AttemptStatus::Cancelled);
    }
}

#[tokio::test]
async fn a_list_never_shows_a_stale_status() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let old = session_at(&b.store, &tenant, t(0)).await;
        let fresh = session_at(&b.store, &tenant, t(HOUR_MS)).await;
        let created = SessionFilter {
            status: Some(SessionStatus::Created),
            ..Default::default()
        };
        let p = b
            .store
            .list_sessions(&tenant, &created, &PageRequest::default(), t(HOUR_MS + 1))
            .await
            .unwrap();
        assert_eq!(
            p.items.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            vec![fresh.id],
            "{}",
            b.name
        );
        let all = b
            .store
            .list_sessions(
                &tenant,
                &SessionFilter::default(),
                &PageRequest::default(),
                t(HOUR_MS + 1),
            )
            .await
            .unwrap();
        let old_now = all.items.iter().find(|s| s.id == old.id).unwrap();
        assert_eq!(old_now.status, SessionStatus::Expired);
        assert_eq!(
            event_types(&b.store, &tenant, &old.id).await,
            [EventType::SessionExpired]
        );
    }
}

#[tokio::test]
async fn the_sweeper_expires_overdue_sessions_in_batches_with_events() {
    for b in backends().await {
        let a = org(&b.store).await;
        let other = org(&b.store).await;
        let mut overdue = Vec::new();
        for i in 0..3 {
            overdue.push((a.clone(), session_at(&b.store, &a, t(i)).await));
            overdue.push((other.clone(), session_at(&b.store, &other, t(i)).await));
        }
        let alive = session_at(&b.store, &a, t(HOUR_MS)).await;
        let cancelled = session_at(&b.store, &a, t(0)).await;
        b.store
            .cancel_session(&a, &cancelled.id, t(5))
            .await
            .unwrap();

        let now = t(HOUR_MS + 10);
        assert_eq!(
            b.store.expire_overdue(now, 4).await.unwrap(),
            4,
            "{}",
            b.name
        );
        assert_eq!(b.store.expire_overdue(now, 4).await.unwrap(), 2);
        assert_eq!(b.store.expire_overdue(now, 4).await.unwrap(), 0);
        for (tenant, s) in &overdue {
            assert_eq!(
                event_types(&b.store, tenant, &s.id).await,
                [EventType::SessionExpired]
            );
            assert_eq!(
                b.store
                    .get_session(tenant, &s.id, now)
                    .await
                    .unwrap()
                    .completed_at,
                Some(now)
            );
        }
        assert_eq!(
            b.store
                .get_session(&a, &alive.id, now)
                .await
                .unwrap()
                .status,
            SessionStatus::Created
        );
        assert_eq!(
            event_types(&b.store, &a, &cancelled.id).await,
            [EventType::SessionCancelled]
        );
    }
}

#[tokio::test]
async fn concurrent_sweeps_expire_each_session_once() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(session_at(&b.store, &tenant, t(i)).await.id);
        }
        let now = t(2 * HOUR_MS);
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let store = b.store.clone();
            tasks.push(tokio::spawn(async move {
                let mut total = 0;
                loop {
                    let n = store.expire_overdue(now, 3).await.unwrap();
                    if n == 0 {
                        break total;
                    }
                    total += n;
                }
            }));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        assert_eq!(total, 20, "{}", b.name);
        for id in &ids {
            assert_eq!(
                event_types(&b.store, &tenant, id).await,
                [EventType::SessionExpired]
            );
        }
    }
}

// ---- cancel --------------------------------------------------------------------------------------

#[tokio::test]
async fn cancel_is_idempotent_and_emits_one_event() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let s = session_at(&b.store, &tenant, t(0)).await;
        let first = b.store.cancel_session(&tenant, &s.id, t(5)).await.unwrap();
        assert_eq!(first.status, SessionStatus::Cancelled, "{}", b.name);
        assert_eq!(first.completed_at, Some(t(5)));
        let second = b.store.cancel_session(&tenant, &s.id, t(9)).await.unwrap();
        assert_eq!(second.completed_at, Some(t(5)));
        assert_eq!(
            event_types(&b.store, &tenant, &s.id).await,
            [EventType::SessionCancelled]
        );
        assert!(matches!(
            b.store
                .cancel_session(&tenant, &SessionId::generate(), t(9))
                .await,
            Err(StoreError::NotFound)
        ));
    }
}

#[tokio::test]
async fn cancel_closes_the_attempt_in_progress() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let s = session_at(&b.store, &tenant, t(0)).await;
        let (started, attempt) = b.store.start_attempt(&s.id, t(1)).await.unwrap();
        assert_eq!(started.status, SessionStatus::InProgress);
        b.store.cancel_session(&tenant, &s.id, t(2)).await.unwrap();
        let attempts = b
            .store
            .list_attempts(&tenant, &s.id, &PageRequest::default(), t(3))
            .await
            .unwrap();
        assert_eq!(attempts.items.len(), 1, "{}", b.name);
        assert_eq!(attempts.items[0].id, attempt.id);
        assert_eq!(attempts.items[0].status, AttemptStatus::Cancelled);
        assert_eq!(attempts.items[0].completed_at, Some(t(2)));
        assert!(matches!(
            b.store.complete_attempt(&attempt.id, &[], t(4)).await,
            Err(StoreError::Transition(_))
        ));
    }
}

/// Starts an attempt and passes its document and liveness steps: it waits for consent.
async fn at_consent(store: &Store, id: &SessionId, at: Timestamp) -> Attempt {
    let (_, attempt) = store.start_attempt(id, at).await.unwrap();
    for from in [AttemptPhase::Document, AttemptPhase::Liveness] {
        store.advance_attempt(&attempt.id, from, at).await.unwrap();
    }
    attempt
}

#[tokio::test]
async fn cancel_of_a_terminal_session_changes_nothing() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let s = session_at(&b.store, &tenant, t(0)).await;
        let attempt = at_consent(&b.store, &s.id, t(1)).await;
        let (done, _) = b
            .store
            .complete_attempt(&attempt.id, &["kayle_document_id".into()], t(2))
            .await
            .unwrap();
        assert_eq!(done.status, SessionStatus::Succeeded);
        let after = b.store.cancel_session(&tenant, &s.id, t(3)).await.unwrap();
        assert_eq!(after, done, "{}", b.name);
        assert_eq!(
            event_types(&b.store, &tenant, &s.id).await,
            [EventType::SessionInProgress, EventType::SessionSucceeded]
        );
    }
}

#[tokio::test]
async fn concurrent_cancels_produce_one_cancellation() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let s = session_at(&b.store, &tenant, t(0)).await;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (store, tenant, id) = (b.store.clone(), tenant.clone(), s.id.clone());
            tasks.push(tokio::spawn(async move {
                store.cancel_session(&tenant, &id, t(10 + i)).await
            }));
        }
        let mut completed = Vec::new();
        for task in tasks {
            let s = task.await.unwrap().unwrap();
            assert_eq!(s.status, SessionStatus::Cancelled);
            completed.push(s.completed_at);
        }
        completed.dedup();
        assert_eq!(
            completed.len(),
            1,
            "every caller sees the one cancellation ({})",
            b.name
        );
        assert_eq!(
            event_types(&b.store, &tenant, &s.id).await,
            [EventType::SessionCancelled]
        );
    }
}

#[tokio::test]
async fn a_cancel_racing_a_completion_never_overwrites_the_terminal_state() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        for round in 0..6 {
            let s = session_at(&b.store, &tenant, t(round)).await;
            let attempt = at_consent(&b.store, &s.id, t(round + 1)).await;
            let (store_a, store_b) = (b.store.clone(), b.store.clone());
            let (tenant_c, id_c, attempt_id) = (tenant.clone(), s.id.clone(), attempt.id.clone());
            let cancel =
                tokio::spawn(async move { store_a.cancel_session(&tenant_c, &id_c, t(100)).await });
            let complete =
                tokio::spawn(
                    async move { store_b.complete_attempt(&attempt_id, &[], t(100)).await },
                );
            let cancelled = cancel.await.unwrap().unwrap();
            let completed = complete.await.unwrap();
            let final_state = b.store.get_session(&tenant, &s.id, t(200)).await.unwrap();
            let events = event_types(&b.store, &tenant, &s.id).await;
            match completed {
                Ok(_) => {
                    assert_eq!(final_state.status, SessionStatus::Succeeded, "{}", b.name);
                    assert_eq!(cancelled.status, SessionStatus::Succeeded);
                    assert_eq!(
                        events,
                        [EventType::SessionInProgress, EventType::SessionSucceeded]
                    );
                }
                Err(StoreError::Transition(_)) => {
                    assert_eq!(final_state.status, SessionStatus::Cancelled, "{}", b.name);
                    assert_eq!(
                        events,
                        [EventType::SessionInProgress, EventType::SessionCancelled]
                    );
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
    }
}

// ---- the verify-flow transitions ---------------------------------------------------------------

#[tokio::test]
async fn the_third_failure_of_a_kind_fails_the_session() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let s = session_at(&b.store, &tenant, t(0)).await;
        let (_, attempt) = b.store.start_attempt(&s.id, t(1)).await.unwrap();
        b.store
            .advance_attempt(&attempt.id, AttemptPhase::Document, t(1))
            .await
            .unwrap();
        for i in 0..2 {
            let (s, a) = b
                .store
                .record_attempt_failure(&attempt.id, FailureCode::SelfieFaceMismatch, t(2 + i))
                .await
                .unwrap();
            assert_eq!(s.status, SessionStatus::InProgress);
            assert_eq!(a.status, AttemptStatus::InProgress);
        }
        let (s, a) = b
            .store
            .record_attempt_failure(&attempt.id, FailureCode::LivenessFailed, t(5))
            .await
            .unwrap();
        assert_eq!(s.status, SessionStatus::Failed, "{}", b.name);
        assert_eq!(s.failure_code, Some(FailureCode::LivenessFailed));
        assert_eq!(s.liveness_tries_used, 3);
        assert_eq!(a.status, AttemptStatus::Failed);
        let stored = b.store.get_session(&tenant, &s.id, t(6)).await.unwrap();
        assert_eq!(stored, s);
        assert_eq!(
            event_types(&b.store, &tenant, &s.id).await,
            [
                EventType::SessionInProgress,
                EventType::AttemptFailed,
                EventType::AttemptFailed,
                EventType::AttemptFailed,
                EventType::SessionFailed
            ]
        );
    }
}

#[tokio::test]
async fn a_new_attempt_closes_the_previous_one() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let s = session_at(&b.store, &tenant, t(0)).await;
        let (_, first) = b.store.start_attempt(&s.id, t(1)).await.unwrap();
        let (_, second) = b.store.start_attempt(&s.id, t(2)).await.unwrap();
        let p = b
            .store
            .list_attempts(&tenant, &s.id, &page(1, None), t(3))
            .await
            .unwrap();
        assert_eq!(p.items[0].id, first.id, "oldest first ({})", b.name);
        assert_eq!(p.items[0].status, AttemptStatus::Cancelled);
        let next = b
            .store
            .list_attempts(
                &tenant,
                &s.id,
                &page(1, p.next_cursor(|a| a.id.clone())),
                t(3),
            )
            .await
            .unwrap();
        assert_eq!(next.items[0].id, second.id);
        assert_eq!(next.items[0].status, AttemptStatus::InProgress);
        assert!(!next.has_more);
    }
}

#[tokio::test]
async fn an_attempt_cannot_start_on_an_overdue_session_which_gets_expired() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let s = session_at(&b.store, &tenant, t(0)).await;
        assert!(
            matches!(
                b.store.start_attempt(&s.id, t(HOUR_MS)).await,
                Err(StoreError::Transition(_))
            ),
            "{}",
            b.name
        );
        assert_eq!(
            b.store
                .get_session(&tenant, &s.id, t(0))
                .await
                .unwrap()
                .status,
            SessionStatus::Expired
        );
    }
}

// ---- erase ---------------------------------------------------------------------------------------

#[tokio::test]
async fn erase_refuses_a_session_that_is_not_terminal() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let s = session_at(&b.store, &tenant, t(0)).await;
        assert!(
            matches!(
                b.store.erase_session(&tenant, &s.id, t(1)).await,
                Err(StoreError::SessionNotTerminal)
            ),
            "{}",
            b.name
        );
        assert_eq!(
            b.store
                .get_session(&tenant, &s.id, t(1))
                .await
                .unwrap()
                .status,
            SessionStatus::Created
        );
    }
}

#[tokio::test]
async fn erase_removes_the_session_its_attempts_and_event_payloads() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let s = session_at(&b.store, &tenant, t(0)).await;
        let (_, attempt) = b.store.start_attempt(&s.id, t(1)).await.unwrap();
        b.store
            .record_attempt_failure(&attempt.id, FailureCode::DocumentDataInvalid, t(2))
            .await
            .unwrap();
        b.store.cancel_session(&tenant, &s.id, t(3)).await.unwrap();
        b.store.erase_session(&tenant, &s.id, t(4)).await.unwrap();
        assert!(
            matches!(
                b.store.get_session(&tenant, &s.id, t(5)).await,
                Err(StoreError::NotFound)
            ),
            "{}",
            b.name
        );
        assert!(matches!(
            b.store.erase_session(&tenant, &s.id, t(5)).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            b.store
                .record_attempt_failure(&attempt.id, FailureCode::DocumentDataInvalid, t(5))
                .await,
            Err(StoreError::NotFound)
        ));
        let events = b.store.list_session_events(&tenant, &s.id).await.unwrap();
        assert_eq!(events.len(), 3, "events remain as the delivery history");
        assert!(
            events.iter().all(|e| e.data == serde_json::json!({})),
            "payloads are blanked"
        );
    }
}

#[tokio::test]
async fn an_overdue_session_can_be_erased_after_expiring() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let s = session_at(&b.store, &tenant, t(0)).await;
        b.store
            .erase_session(&tenant, &s.id, t(HOUR_MS))
            .await
            .unwrap();
        assert!(
            matches!(
                b.store.get_session(&tenant, &s.id, t(HOUR_MS)).await,
                Err(StoreError::NotFound)
            ),
            "{}",
            b.name
        );
    }
}

// ---- idempotency -----------------------------------------------------------------------------------

fn record(
    key: &str,
    body: &[u8],
    response: &str,
    at: idgate_core::Timestamp,
) -> NewIdempotencyRecord {
    NewIdempotencyRecord {
        key: IdempotencyKey::parse(key).unwrap(),
        fingerprint: RequestFingerprint::of("POST", "/v1/sessions", body),
        response_body: response.to_owned(),
        created_at: at,
    }
}

#[tokio::test]
async fn an_idempotent_repeat_replays_the_first_response_and_creates_nothing() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let first = Session::create(&tenant, spec(), t(0));
        let rec = record("order-1", b"{}", "{\"data\":1}", t(0));
        assert_eq!(
            b.store.create_session(&first, Some(&rec)).await.unwrap(),
            CreateOutcome::Created,
            "{}",
            b.name
        );
        let repeat = Session::create(&tenant, spec(), t(1000));
        let rec2 = record("order-1", b"{}", "{\"data\":2}", t(1000));
        assert_eq!(
            b.store.create_session(&repeat, Some(&rec2)).await.unwrap(),
            CreateOutcome::Replayed {
                response_body: "{\"data\":1}".into()
            }
        );
        assert!(matches!(
            b.store.get_session(&tenant, &repeat.id, t(1000)).await,
            Err(StoreError::NotFound)
        ));
        let listed = b
            .store
            .list_sessions(
                &tenant,
                &SessionFilter::default(),
                &PageRequest::default(),
                t(1000),
            )
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 1);
    }
}

/// Creates that reach the store together (on SQLite, committed as one group) succeed or fail
/// each on its own: a refused create leaves no trace and costs its neighbours nothing, and
/// requests racing with one idempotency key create exactly one session.
#[tokio::test]
async fn concurrent_creates_commit_or_fail_each_on_its_own() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..60_i64 {
            let (store, tenant) = (b.store.clone(), tenant.clone());
            tasks.spawn(async move {
                let mut spec = spec();
                let refused = i % 3 == 0;
                if refused {
                    spec.webhook_endpoint_id =
                        WebhookTarget::One(idgate_core::EndpointId::generate());
                }
                let idempotent = i % 3 == 1;
                let rec = idempotent.then(|| record("shared", b"{}", &format!("body {i}"), t(i)));
                let session = Session::create(&tenant, spec, t(i));
                let outcome = store.create_session(&session, rec.as_ref()).await;
                (session, refused, idempotent, outcome)
            });
        }
        let mut created_with_key = Vec::new();
        let mut replayed = Vec::new();
        for (session, refused, idempotent, outcome) in tasks.join_all().await {
            let stored = b.store.get_session(&tenant, &session.id, t(0)).await;
            match outcome {
                Err(StoreError::WebhookEndpointNotFound) if refused => {
                    assert!(matches!(stored, Err(StoreError::NotFound)), "{}", b.name);
                }
                Ok(CreateOutcome::Created) if !refused => {
                    assert_eq!(stored.unwrap(), session, "{}", b.name);
                    if idempotent {
                        created_with_key.push(session.created_at);
                    }
                }
                Ok(CreateOutcome::Replayed { response_body }) if idempotent => {
                    assert!(matches!(stored, Err(StoreError::NotFound)), "{}", b.name);
                    replayed.push(response_body);
                }
                other => panic!("{}: unexpected outcome {other:?}", b.name),
            }
        }
        assert_eq!(created_with_key.len(), 1, "{}", b.name);
        let first_body = format!("body {}", created_with_key[0].unix_ms() - t(0).unix_ms());
        assert_eq!(replayed.len(), 19, "{}", b.name);
        assert!(
            replayed.iter().all(|body| *body == first_body),
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn an_idempotency_key_with_another_body_is_refused() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let first = Session::create(&tenant, spec(), t(0));
        b.store
            .create_session(&first, Some(&record("k", b"{}", "r1", t(0))))
            .await
            .unwrap();
        let other = Session::create(&tenant, spec(), t(1));
        let r = b
            .store
            .create_session(
                &other,
                Some(&record("k", b"{\"expires_in\":600}", "r2", t(1))),
            )
            .await;
        assert!(
            matches!(r, Err(StoreError::IdempotencyKeyReused)),
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn idempotency_keys_are_scoped_per_tenant_and_expire_after_a_day() {
    for b in backends().await {
        let a = org(&b.store).await;
        let other = org(&b.store).await;
        let s1 = Session::create(&a, spec(), t(0));
        b.store
            .create_session(&s1, Some(&record("k", b"{}", "a", t(0))))
            .await
            .unwrap();
        let s2 = Session::create(&other, spec(), t(1));
        assert_eq!(
            b.store
                .create_session(&s2, Some(&record("k", b"{}", "b", t(1))))
                .await
                .unwrap(),
            CreateOutcome::Created,
            "{}",
            b.name
        );
        let day_later = t(24 * HOUR_MS);
        let s3 = Session::create(&a, spec(), day_later);
        assert_eq!(
            b.store
                .create_session(&s3, Some(&record("k", b"{}", "c", day_later)))
                .await
                .unwrap(),
            CreateOutcome::Created
        );
    }
}

#[tokio::test]
async fn concurrent_creates_with_one_key_create_one_session() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (store, tenant) = (b.store.clone(), tenant.clone());
            tasks.push(tokio::spawn(async move {
                let s = Session::create(&tenant, spec(), t(i));
                store
                    .create_session(&s, Some(&record("same", b"{}", &format!("r{i}"), t(i))))
                    .await
                    .unwrap()
            }));
        }
        let mut created = 0;
        let mut bodies = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                CreateOutcome::Created => created += 1,
                CreateOutcome::Replayed { response_body } => bodies.push(response_body),
            }
        }
        assert_eq!(created, 1, "{}", b.name);
        bodies.dedup();
        assert_eq!(bodies.len(), 1);
        let listed = b
            .store
            .list_sessions(
                &tenant,
                &SessionFilter::default(),
                &PageRequest::default(),
                t(10),
            )
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 1);
    }
}

#[tokio::test]
async fn erase_forgets_the_idempotency_record_of_the_session() {
    for b in backends().await {
        let tenant = org(&b.store).await;
        let s = Session::create(&tenant, spec(), t(0));
        b.store
            .create_session(&s, Some(&record("k", b"{}", "secret-bearing body", t(0))))
            .await
            .unwrap();
        b.store.cancel_session(&tenant, &s.id, t(1)).await.unwrap();
        b.store.erase_session(&tenant, &s.id, t(2)).await.unwrap();
        let again = Session::create(&tenant, spec(), t(3));
        assert_eq!(
            b.store
                .create_session(&again, Some(&record("k", b"{}", "new", t(3))))
                .await
                .unwrap(),
            CreateOutcome::Created,
            "{}",
            b.name
        );
    }
}

// ---- schema and query plans ------------------------------------------------------------------------

/// The list page, the filtered list page and the sweeper claim as the store issues them (literal
/// values in place of parameters), with the index each must use.
const PLANNED_QUERIES: [(&str, &str); 4] = [
    (
        "SELECT id FROM sessions WHERE org_id = 'o' AND environment = 'live' AND (created_at, id) < (5, 'x') \
         ORDER BY created_at DESC, id DESC LIMIT 11",
        "sessions_tenant_created_idx",
    ),
    (
        "SELECT id FROM sessions WHERE org_id = 'o' AND environment = 'live' AND status = 'created' \
         AND (created_at, id) < (5, 'x') ORDER BY created_at DESC, id DESC LIMIT 11",
        "sessions_tenant_status_created_idx",
    ),
    (
        "SELECT id FROM sessions WHERE status IN ('created', 'in_progress') AND expires_at <= 5 LIMIT 100",
        "sessions_status_expires_idx",
    ),
    (
        "SELECT id FROM attempts WHERE session_id = 's' ORDER BY created_at, id LIMIT 11",
        "attempts_session_created_idx",
    ),
];

#[tokio::test]
async fn list_and_sweep_queries_use_their_indexes_without_sorting() {
    for b in backends().await {
        for (query, index) in PLANNED_QUERIES {
            let plan: Vec<String> = match b.store.pool() {
                Pool::Sqlite(s) => {
                    let rows: Vec<(i64, i64, i64, String)> =
                        sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {query}")))
                            .fetch_all(s)
                            .await
                            .unwrap();
                    rows.into_iter().map(|r| r.3).collect()
                }
                Pool::Postgres(s) => {
                    let mut conn = s.acquire().await.unwrap();
                    // On empty tables a (bitmap or sequential) scan plus sort is cheapest; forbid
                    // those to see the plan at scale, where the ordered index scan wins.
                    sqlx::query("SET enable_seqscan = off")
                        .execute(&mut *conn)
                        .await
                        .unwrap();
                    sqlx::query("SET enable_bitmapscan = off")
                        .execute(&mut *conn)
                        .await
                        .unwrap();
                    let rows: Vec<(String,)> =
                        sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN {query}")))
                            .fetch_all(&mut *conn)
                            .await
                            .unwrap();
                    sqlx::query("RESET ALL").execute(&mut *conn).await.unwrap();
                    rows.into_iter().map(|r| r.0).collect()
                }
            };
            let text = plan.join("\n");
            assert!(
                text.contains(index),
                "{}: {query}\nexpected {index}, plan:\n{text}",
                b.name
            );
            assert!(
                !text.contains("TEMP B-TREE") && !text.contains("Sort"),
                "{}: {query} sorts:\n{text}",
                b.name
            );
        }
    }
}

#[tokio::test]
async fn sqlite_commits_are_durable_wal_with_full_sync_and_foreign_keys() {
    let backends = backends().await;
    let Some(Pool::Sqlite(s)) = backends.first().map(|b| b.store.pool()) else {
        panic!("sqlite backend first")
    };
    let mut conn = s.acquire().await.unwrap();
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let (busy,): (i64,) = sqlx::query_as("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(sync, 2, "synchronous=FULL");
    assert_eq!(fk, 1);
    assert!(busy >= 1000);
}

#[tokio::test]
async fn a_session_survives_reopening_the_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idgate.db");
    let store = idgate_store::Store::open_sqlite(&path).await.unwrap();
    let tenant = org(&store).await;
    let s = session_at(&store, &tenant, t(0)).await;
    drop(store);
    let reopened = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert_eq!(reopened.get_session(&tenant, &s.id, t(1)).await.unwrap(), s);
}

#[test]
fn both_migration_directories_list_the_same_versions() {
    let names = |backend: &str| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/").to_owned() + backend;
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("sqlite"), names("postgres"));
    assert!(!names("sqlite").is_empty());
}

#[tokio::test]
async fn any_store_refuses_unknown_urls() {
    assert!(matches!(
        Store::connect("mysql://x").await,
        Err(StoreError::InvalidUrl)
    ));
}
