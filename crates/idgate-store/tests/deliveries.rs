//! The delivery queue on both backends: the outbox fan-out in the event's transaction, leases,
//! attempt recording, endpoint auto-disable, erasure and payload retention.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod common;

use common::{Backend, HOUR_MS, backends, org, session_at, spec_from, t};
use idgate_core::{DeliveryId, EndpointId, Environment, OrgId, Session, Tenant, Timestamp};
use idgate_store::deliveries::{
    AttemptOutcome, AttemptRecord, AttemptResult, DEFAULT_DISABLE_AFTER_MS, DEFAULT_RETENTION_MS,
    Recorded,
};
use idgate_store::{Pool, Store};

const LEASE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Runs one statement with text binds on either backend (endpoint rows are written directly:
/// the endpoint API is the management half of the webhook issue).
async fn exec(store: &Store, q: &str, binds: &[&str]) {
    macro_rules! run {
        ($pool:expr) => {{
            let mut query = sqlx::query(sqlx::AssertSqlSafe(q.to_owned()));
            for b in binds {
                query = query.bind(*b);
            }
            query.execute($pool).await.expect("statement");
        }};
    }
    match store.pool() {
        Pool::Sqlite(s) => run!(s),
        Pool::Postgres(s) => run!(s),
    }
}

/// `(endpoint_id, status, attempt_count)` of every delivery, sorted.
async fn deliveries(store: &Store) -> Vec<(String, String, i64)> {
    let q = "SELECT endpoint_id, status, attempt_count FROM webhook_deliveries ORDER BY endpoint_id, created_at, id";
    let mut rows: Vec<(String, String, i64)> = match store.pool() {
        Pool::Sqlite(s) => sqlx::query_as(q).fetch_all(s).await.expect("rows"),
        Pool::Postgres(s) => sqlx::query_as(q).fetch_all(s).await.expect("rows"),
    };
    rows.sort();
    rows
}

async fn endpoint_state(store: &Store, id: &EndpointId) -> (bool, Option<String>) {
    let q = "SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = $1";
    match store.pool() {
        Pool::Sqlite(s) => sqlx::query_as(q).bind(id.as_str()).fetch_one(s).await,
        Pool::Postgres(s) => sqlx::query_as(q).bind(id.as_str()).fetch_one(s).await,
    }
    .expect("endpoint")
}

/// An enabled endpoint of `tenant` subscribed to `types` (JSON array), with an active key
/// unless `with_key` is false.
async fn endpoint(store: &Store, tenant: &Tenant, types: &str, with_key: bool) -> EndpointId {
    let id = EndpointId::generate();
    exec(
        store,
        "INSERT INTO webhook_endpoints (id, org_id, environment, url, description, enabled, subscribed_event_types, \
         secret_sealed, created_at, updated_at) VALUES ($1, $2, $3, 'https://hooks.example/x', '', TRUE, $4, 'sealed', 0, 0)",
        &[id.as_str(), tenant.org_id.as_str(), tenant.environment.as_str(), types],
    )
    .await;
    if with_key {
        add_key(store, tenant, &id).await;
    }
    id
}

async fn add_key(store: &Store, tenant: &Tenant, endpoint: &EndpointId) {
    let key = idgate_core::EncryptionKeyId::generate();
    exec(
        store,
        "INSERT INTO webhook_keys (id, endpoint_id, org_id, kid, jwk, bits, active, created_at, updated_at) \
         VALUES ($1, $2, $3, NULL, '{\"kty\":\"RSA\"}', 2048, TRUE, 0, 0)",
        &[key.as_str(), endpoint.as_str(), tenant.org_id.as_str()],
    )
    .await;
}

async fn cancelled_session(store: &Store, tenant: &Tenant, now: Timestamp) -> Session {
    let s = session_at(store, tenant, now).await;
    store
        .cancel_session(tenant, &s.id, now)
        .await
        .expect("cancel")
}

fn result(id: &DeliveryId, endpoint: &EndpointId, outcome: AttemptOutcome) -> AttemptResult {
    AttemptResult {
        delivery_id: id.clone(),
        endpoint_id: endpoint.clone(),
        record: AttemptRecord {
            started_at: t(0),
            status_code: Some(if outcome == AttemptOutcome::Succeeded {
                200
            } else {
                503
            }),
            latency_ms: 3,
            response_body: Some("ok".into()),
            error_kind: None,
        },
        outcome,
    }
}

async fn each(test: impl AsyncFn(&Backend)) {
    for b in backends().await {
        eprintln!("--- backend: {}", b.name);
        test(&b).await;
    }
}

#[tokio::test]
async fn an_event_fans_out_to_every_enabled_subscribed_endpoint_of_the_tenant_only() {
    each(async |b| {
        let s = &b.store;
        let tenant = org(s).await;
        let all = endpoint(s, &tenant, r#"["*"]"#, true).await;
        let cancelled_only =
            endpoint(s, &tenant, r#"["verification.session.cancelled"]"#, true).await;
        let _succeeded_only =
            endpoint(s, &tenant, r#"["verification.session.succeeded"]"#, true).await;
        let disabled = endpoint(s, &tenant, r#"["*"]"#, true).await;
        exec(
            s,
            "UPDATE webhook_endpoints SET enabled = FALSE WHERE id = $1",
            &[disabled.as_str()],
        )
        .await;
        let test_env = Tenant {
            org_id: tenant.org_id.clone(),
            environment: Environment::Test,
        };
        let _other_env = endpoint(s, &test_env, r#"["*"]"#, true).await;
        let other = org(s).await;
        let _other_org = endpoint(s, &other, r#"["*"]"#, true).await;

        cancelled_session(s, &tenant, t(0)).await;

        let mut expected = vec![
            (all.to_string(), "pending".to_owned(), 0),
            (cancelled_only.to_string(), "pending".to_owned(), 0),
        ];
        expected.sort();
        assert_eq!(deliveries(s).await, expected);
    })
    .await;
}

#[tokio::test]
async fn a_session_naming_endpoints_feeds_only_those() {
    each(async |b| {
        let s = &b.store;
        let tenant = org(s).await;
        let one = endpoint(s, &tenant, r#"["*"]"#, true).await;
        let two = endpoint(s, &tenant, r#"["*"]"#, true).await;
        let _three = endpoint(s, &tenant, r#"["*"]"#, true).await;
        let session = Session::create(
            &tenant,
            spec_from(serde_json::json!({"webhook_endpoint_id": [one.as_str(), two.as_str()]})),
            t(0),
        );
        s.create_session(&session, None).await.expect("create");
        s.cancel_session(&tenant, &session.id, t(1))
            .await
            .expect("cancel");
        let mut expected = vec![
            (one.to_string(), "pending".to_owned(), 0),
            (two.to_string(), "pending".to_owned(), 0),
        ];
        expected.sort();
        assert_eq!(deliveries(s).await, expected);
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_without_an_active_key_waits_blocked_until_one_is_active() {
    each(async |b| {
        let s = &b.store;
        let tenant = org(s).await;
        let ep = endpoint(s, &tenant, r#"["*"]"#, false).await;
        cancelled_session(s, &tenant, t(0)).await;
        assert_eq!(
            deliveries(s).await,
            vec![(ep.to_string(), "blocked_no_key".into(), 0)]
        );
        assert!(
            s.claim_due("w", t(10), LEASE_MS, 10)
                .await
                .expect("claim")
                .is_empty()
        );
        assert_eq!(
            s.unblock_endpoint(&ep, t(20)).await.expect("unblock"),
            0,
            "no key yet"
        );

        add_key(s, &tenant, &ep).await;
        assert_eq!(s.unblock_endpoint(&ep, t(30)).await.expect("unblock"), 1);
        let claimed = s.claim_due("w", t(30), LEASE_MS, 10).await.expect("claim");
        assert_eq!(claimed.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_claim_carries_the_event_endpoint_and_key_and_leases_it_to_one_owner() {
    each(async |b| {
        let s = &b.store;
        let tenant = org(s).await;
        let ep = endpoint(s, &tenant, r#"["*"]"#, true).await;
        let session = cancelled_session(s, &tenant, t(0)).await;

        let claimed = s.claim_due("a", t(5), LEASE_MS, 10).await.expect("claim");
        assert_eq!(claimed.len(), 1);
        let c = &claimed[0];
        assert_eq!(c.event.session_id, session.id);
        assert_eq!(c.event.event_type, idgate_core::EventType::SessionCancelled);
        assert_eq!(c.endpoint.id, ep);
        assert_eq!(c.endpoint.url, "https://hooks.example/x");
        assert_eq!(c.attempt_count, 0);
        assert_eq!(c.contract_version, session.contract_version);
        assert_eq!(c.lease_expires_at, t(5 + LEASE_MS));

        assert!(
            s.claim_due("b", t(6), LEASE_MS, 10)
                .await
                .expect("claim")
                .is_empty(),
            "leased"
        );
        // A crashed owner's lease runs out and another worker takes the delivery.
        let again = s
            .claim_due("b", t(5 + LEASE_MS), LEASE_MS, 10)
            .await
            .expect("claim");
        assert_eq!(again.len(), 1);
        // The first owner's late report is ignored.
        let late = s
            .record_attempts(
                "a",
                t(5 + LEASE_MS + 1),
                DEFAULT_DISABLE_AFTER_MS,
                &[result(&c.id, &ep, AttemptOutcome::Succeeded)],
            )
            .await
            .expect("record");
        assert_eq!(late, vec![Recorded::LeaseLost]);
        assert_eq!(
            deliveries(s).await,
            vec![(ep.to_string(), "pending".into(), 0)]
        );
    })
    .await;
}

#[tokio::test]
async fn concurrent_claims_never_hand_out_the_same_delivery_twice() {
    each(async |b| {
        let s = &b.store;
        let tenant = org(s).await;
        endpoint(s, &tenant, r#"["*"]"#, true).await;
        for i in 0..40 {
            cancelled_session(s, &tenant, t(i)).await;
        }
        let claims = futures_join(s).await;
        let mut ids: Vec<String> = claims
            .into_iter()
            .flatten()
            .map(|c| c.id.to_string())
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "a delivery was claimed twice");
        assert_eq!(n, 40);
    })
    .await;
}

async fn futures_join(s: &Store) -> Vec<Vec<idgate_store::deliveries::ClaimedDelivery>> {
    let mut handles = Vec::new();
    for w in 0..4 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = s
                    .claim_due(&format!("w{w}"), t(100), LEASE_MS, 3)
                    .await
                    .expect("claim");
                if got.is_empty() {
                    break mine;
                }
                mine.extend(got);
            }
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("join"));
    }
    out
}

#[tokio::test]
async fn outcomes_set_status_attempts_and_the_next_due_time() {
    each(async |b| {
        let s = &b.store;
        let tenant = org(s).await;
        let ep = endpoint(s, &tenant, r#"["*"]"#, true).await;
        for i in 0..3 {
            cancelled_session(s, &tenant, t(i)).await;
        }
        let c = s.claim_due("w", t(10), LEASE_MS, 10).await.expect("claim");
        assert_eq!(c.len(), 3);
        let rec = s
            .record_attempts(
                "w",
                t(20),
                DEFAULT_DISABLE_AFTER_MS,
                &[
                    result(&c[0].id, &ep, AttemptOutcome::Succeeded),
                    result(&c[1].id, &ep, AttemptOutcome::RetryAt(t(5_000))),
                    result(&c[2].id, &ep, AttemptOutcome::Failed),
                ],
            )
            .await
            .expect("record");
        assert!(rec.iter().all(|r| matches!(
            r,
            Recorded::Done {
                endpoint_disabled: false
            }
        )));
        let mut statuses: Vec<(String, i64)> = deliveries(s)
            .await
            .into_iter()
            .map(|(_, st, n)| (st, n))
            .collect();
        statuses.sort();
        assert_eq!(
            statuses,
            vec![
                ("failed".into(), 1),
                ("pending".into(), 1),
                ("succeeded".into(), 1)
            ]
        );
        // The retry is not due before its time, and is due at it, with its attempt counted.
        assert!(
            s.claim_due("w", t(4_999), LEASE_MS, 10)
                .await
                .expect("claim")
                .is_empty()
        );
        let retry = s
            .claim_due("w", t(5_000), LEASE_MS, 10)
            .await
            .expect("claim");
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].id, c[1].id);
        assert_eq!(retry[0].attempt_count, 1);
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_failing_for_three_days_is_disabled_and_no_longer_claimed() {
    each(async |b| {
        let s = &b.store;
        let tenant = org(s).await;
        let ep = endpoint(s, &tenant, r#"["*"]"#, true).await;
        cancelled_session(s, &tenant, t(0)).await;
        let mut now = 0;
        let mut disabled = false;
        while now <= 4 * DAY_MS {
            let c = s.claim_due("w", t(now), LEASE_MS, 10).await.expect("claim");
            assert_eq!(c.len(), 1, "still claimed at {now}");
            let next = now + 10 * HOUR_MS;
            let rec = s
                .record_attempts(
                    "w",
                    t(now),
                    DEFAULT_DISABLE_AFTER_MS,
                    &[result(&c[0].id, &ep, AttemptOutcome::RetryAt(t(next)))],
                )
                .await
                .expect("record");
            disabled = rec
                == vec![Recorded::Done {
                    endpoint_disabled: true,
                }];
            if disabled {
                break;
            }
            now = next;
        }
        assert!(disabled, "disabled after 3 days of failure");
        assert!(now >= 3 * DAY_MS);
        assert_eq!(
            endpoint_state(s, &ep).await,
            (false, Some("failing".into()))
        );
        assert!(
            s.claim_due("w", t(now + 11 * HOUR_MS), LEASE_MS, 10)
                .await
                .expect("claim")
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn a_success_resets_the_failure_clock() {
    each(async |b| {
        let s = &b.store;
        let tenant = org(s).await;
        let ep = endpoint(s, &tenant, r#"["*"]"#, true).await;
        cancelled_session(s, &tenant, t(0)).await;
        cancelled_session(s, &tenant, t(1)).await;
        let c = s.claim_due("w", t(10), LEASE_MS, 10).await.expect("claim");
        s.record_attempts(
            "w",
            t(10),
            DEFAULT_DISABLE_AFTER_MS,
            &[result(
                &c[0].id,
                &ep,
                AttemptOutcome::RetryAt(t(2 * DAY_MS)),
            )],
        )
        .await
        .expect("record");
        s.record_attempts(
            "w",
            t(DAY_MS),
            DEFAULT_DISABLE_AFTER_MS,
            &[result(&c[1].id, &ep, AttemptOutcome::Succeeded)],
        )
        .await
        .expect("record");
        let c = s
            .claim_due("w", t(3 * DAY_MS + 20), LEASE_MS, 10)
            .await
            .expect("claim");
        let rec = s
            .record_attempts(
                "w",
                t(3 * DAY_MS + 20),
                DEFAULT_DISABLE_AFTER_MS,
                &[result(
                    &c[0].id,
                    &ep,
                    AttemptOutcome::RetryAt(t(4 * DAY_MS)),
                )],
            )
            .await
            .expect("record");
        assert_eq!(
            rec,
            vec![Recorded::Done {
                endpoint_disabled: false
            }]
        );
        assert_eq!(endpoint_state(s, &ep).await, (true, None));
    })
    .await;
}

#[tokio::test]
async fn erasing_a_session_cancels_its_unsent_deliveries() {
    each(async |b| {
        let s = &b.store;
        let tenant = org(s).await;
        let ep = endpoint(s, &tenant, r#"["*"]"#, true).await;
        let blocked = endpoint(s, &tenant, r#"["*"]"#, false).await;
        let session = cancelled_session(s, &tenant, t(0)).await;
        s.erase_session(&tenant, &session.id, t(5))
            .await
            .expect("erase");
        let mut expected = vec![
            (ep.to_string(), "cancelled".to_owned(), 0),
            (blocked.to_string(), "cancelled".to_owned(), 0),
        ];
        expected.sort();
        assert_eq!(deliveries(s).await, expected);
        assert!(
            s.claim_due("w", t(10), LEASE_MS, 10)
                .await
                .expect("claim")
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn a_claimed_delivery_of_an_erased_session_may_not_be_sent() {
    each(async |b| {
        let s = &b.store;
        let tenant = org(s).await;
        endpoint(s, &tenant, r#"["*"]"#, true).await;
        let session = cancelled_session(s, &tenant, t(0)).await;
        let c = s.claim_due("w", t(1), LEASE_MS, 10).await.expect("claim");
        assert_eq!(c.len(), 1);
        let on_wire = s
            .erase_session(&tenant, &session.id, t(2))
            .await
            .expect("erase");
        assert!(on_wire.is_empty(), "claimed is not on the wire");
        assert_eq!(
            s.begin_sends("w", t(3), &[c[0].id.clone()])
                .await
                .expect("begin"),
            vec![false]
        );
    })
    .await;
}

#[tokio::test]
async fn an_erase_reports_the_sends_on_the_wire_until_their_outcome_is_recorded() {
    each(async |b| {
        let s = &b.store;
        let tenant = org(s).await;
        let ep = endpoint(s, &tenant, r#"["*"]"#, true).await;
        let session = cancelled_session(s, &tenant, t(0)).await;
        let c = s.claim_due("w", t(1), LEASE_MS, 10).await.expect("claim");
        let id = c[0].id.clone();
        assert_eq!(
            s.begin_sends("w", t(2), std::slice::from_ref(&id))
                .await
                .expect("begin"),
            vec![true]
        );
        let on_wire = s
            .erase_session(&tenant, &session.id, t(3))
            .await
            .expect("erase");
        assert_eq!(on_wire, vec![id.clone()]);
        assert_eq!(s.count_sending(&on_wire).await.expect("count"), 1);
        let rec = s
            .record_attempts(
                "w",
                t(4),
                i64::MAX,
                &[result(&id, &ep, AttemptOutcome::Succeeded)],
            )
            .await
            .expect("record");
        assert_eq!(rec, vec![Recorded::LeaseLost]);
        assert_eq!(s.count_sending(&on_wire).await.expect("count"), 0);
        assert_eq!(
            deliveries(s).await,
            vec![(ep.to_string(), "cancelled".to_owned(), 0)]
        );
    })
    .await;
}

#[tokio::test]
async fn released_leases_are_claimable_at_once() {
    each(async |b| {
        let s = &b.store;
        let tenant = org(s).await;
        endpoint(s, &tenant, r#"["*"]"#, true).await;
        cancelled_session(s, &tenant, t(0)).await;
        cancelled_session(s, &tenant, t(1)).await;
        let c = s.claim_due("a", t(10), LEASE_MS, 10).await.expect("claim");
        assert_eq!(c.len(), 2);
        s.release_lease("a", &c[0].id).await.expect("release one");
        assert_eq!(
            s.claim_due("b", t(11), LEASE_MS, 10)
                .await
                .expect("claim")
                .len(),
            1
        );
        assert_eq!(s.release_leases("a").await.expect("release all"), 1);
        assert_eq!(
            s.claim_due("c", t(12), LEASE_MS, 10)
                .await
                .expect("claim")
                .len(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn payloads_are_purged_after_retention_once_every_delivery_is_final() {
    each(async |b| {
        let s = &b.store;
        let tenant = org(s).await;
        let ep = endpoint(s, &tenant, r#"["*"]"#, true).await;
        let done = cancelled_session(s, &tenant, t(0)).await;
        let waiting = cancelled_session(s, &tenant, t(1)).await;
        let c = s.claim_due("w", t(10), LEASE_MS, 10).await.expect("claim");
        let first = c
            .iter()
            .find(|c| c.event.session_id == done.id)
            .expect("claimed");
        s.record_attempts(
            "w",
            t(10),
            DEFAULT_DISABLE_AFTER_MS,
            &[result(&first.id, &ep, AttemptOutcome::Succeeded)],
        )
        .await
        .expect("record");
        assert_eq!(
            s.purge_payloads(t(DEFAULT_RETENTION_MS - 10), DEFAULT_RETENTION_MS)
                .await
                .expect("purge"),
            0,
            "too young"
        );
        // The session's own events without deliveries (created…) and the delivered one go; the
        // one still pending stays.
        assert_eq!(
            s.purge_payloads(t(DEFAULT_RETENTION_MS + 10), DEFAULT_RETENTION_MS)
                .await
                .expect("purge"),
            1
        );
        let events = s
            .list_session_events(&tenant, &done.id)
            .await
            .expect("events");
        assert_eq!(events[0].data, serde_json::json!({}));
        let kept = s
            .list_session_events(&tenant, &waiting.id)
            .await
            .expect("events");
        assert_ne!(kept[0].data, serde_json::json!({}));
        let _ = OrgId::generate();
    })
    .await;
}

/// Waits up to five seconds for a change `want` accepts; whether one came.
async fn announced(
    subscription: &mut idgate_store::Subscription,
    want: impl Fn(&idgate_store::Change) -> bool,
) -> bool {
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while !want(&subscription.recv().await) {}
    })
    .await
    .is_ok()
}

/// A read that finds a session overdue expires it with its event; that commit wakes the
/// delivery worker like any other, although no caller asked for a write.
#[tokio::test]
async fn a_read_that_expires_a_session_announces_the_event_and_its_due_delivery() {
    use idgate_store::Change;
    each(async |b| {
        let tenant = org(&b.store).await;
        endpoint(&b.store, &tenant, r#"["*"]"#, true).await;
        let session = session_at(&b.store, &tenant, t(0)).await;
        let mut changes = b.store.subscribe().await.unwrap();

        let read = b
            .store
            .get_session(&tenant, &session.id, t(2 * HOUR_MS))
            .await
            .unwrap();

        assert_eq!(read.status, idgate_core::SessionStatus::Expired);
        assert!(
            announced(&mut changes, |c| *c == Change::Session(session.id.clone())).await,
            "{}: the expiry's event was not announced",
            b.name
        );
        assert!(
            announced(&mut changes, |c| *c == Change::Deliveries).await,
            "{}: the expiry's delivery was not announced",
            b.name
        );
    })
    .await;
}

/// PostgreSQL nodes share one database: a commit on one node wakes the subscribers of every
/// other node (`LISTEN`/`NOTIFY`), so each node's worker sends at once.
#[tokio::test]
async fn a_commit_on_one_postgres_node_wakes_the_subscribers_of_another() {
    use idgate_store::Change;
    each(async |b| {
        if b.name != "postgres" {
            return;
        }
        let other = b.another_node().await;
        let mut on_other = other.subscribe().await.unwrap();
        let tenant = org(&b.store).await;
        endpoint(&b.store, &tenant, r#"["*"]"#, true).await;

        let session = cancelled_session(&b.store, &tenant, t(1)).await;

        assert!(
            announced(&mut on_other, |c| *c == Change::Session(session.id.clone())).await,
            "the other node did not hear the cancellation"
        );
        assert!(
            announced(&mut on_other, |c| *c == Change::Deliveries).await,
            "the other node did not hear the due delivery"
        );
        other.close().await;
    })
    .await;
}
