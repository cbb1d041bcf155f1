//! The delivery worker end to end: sessions change state over the API, the outbox fans out, the
//! worker sends to a loopback receiver which verifies and decrypts with the receiver crate.

use std::time::{Duration, Instant};

use idgate_server::delivery::DeliverySettings;
use idgate_webhook::EventType;

use crate::delivery_support::{
    Sink, add_key, attempt_error_kinds, attempt_starts, cancelled_session, delivery_rows,
    delivery_states, endpoint, exec, fast_retries, leased_count,
};
use crate::support::{Method, TestAppBuilder, on_each_backend_with};

const ALL: &str = r#"["*"]"#;
const WAIT: Duration = Duration::from_secs(10);

fn builder() -> TestAppBuilder {
    TestAppBuilder::default()
        .allow_private_webhooks(true)
        .delivery(fast_retries())
}

/// Waits until the endpoint's deliveries reach exactly `expected` states.
async fn wait_states(
    app: &idgate_server::testing::TestApp,
    ep: &idgate_core::EndpointId,
    expected: &[(&str, i64)],
) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = delivery_states(app, ep).await;
        let want: Vec<(String, i64)> = expected
            .iter()
            .map(|(s, n)| ((*s).to_owned(), *n))
            .collect();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn the_first_attempt_leaves_at_once_after_a_cancel_without_waiting_for_a_poll() {
    // A poll interval far longer than the test: only a wake-up can explain any delivery after the
    // worker's first round, so no duration needs measuring.
    let no_poll = DeliverySettings {
        poll_interval: Duration::from_secs(3600),
        ..DeliverySettings::default()
    };
    on_each_backend_with(
        TestAppBuilder::default()
            .allow_private_webhooks(true)
            .delivery(no_poll),
        async |app| {
            let sink = Sink::start().await;
            let ep = endpoint(&app, &sink.url, ALL, true).await;
            // The first delivery may be found by the worker's first claim; once it is recorded the
            // worker has claimed again, found nothing and waits for a wake-up or the hour's poll.
            cancelled_session(&app, serde_json::Value::Null).await;
            sink.wait_for(1, WAIT).await;
            wait_states(&app, &ep.id, &[("succeeded", 1)]).await;

            let session = cancelled_session(&app, serde_json::Value::Null).await;
            let got = sink.wait_for(2, WAIT).await;
            let event = ep
                .receiver()
                .open(&got[1].headers, &got[1].body)
                .expect("verifies and decrypts");
            assert_eq!(event.event_type(), EventType::SessionCancelled);
            assert_eq!(event.metadata.verification_session_id.as_str(), session);
            wait_states(&app, &ep.id, &[("succeeded", 1), ("succeeded", 1)]).await;
        },
    )
    .await;
}

#[tokio::test]
async fn a_session_routes_to_its_named_endpoint_its_list_or_every_subscribed_endpoint() {
    on_each_backend_with(builder(), async |app| {
        let sinks = [
            Sink::start().await,
            Sink::start().await,
            Sink::start().await,
        ];
        let a = endpoint(&app, &sinks[0].url, ALL, true).await;
        let b = endpoint(&app, &sinks[1].url, ALL, true).await;
        let c = endpoint(
            &app,
            &sinks[2].url,
            r#"["verification.session.cancelled"]"#,
            true,
        )
        .await;
        let _unsubscribed = endpoint(
            &app,
            &sinks[2].url,
            r#"["verification.session.succeeded"]"#,
            true,
        )
        .await;

        cancelled_session(&app, serde_json::Value::Null).await;
        cancelled_session(&app, serde_json::json!(a.id.as_str())).await;
        cancelled_session(&app, serde_json::json!([b.id.as_str(), c.id.as_str()])).await;

        wait_states(&app, &a.id, &[("succeeded", 1), ("succeeded", 1)]).await;
        wait_states(&app, &b.id, &[("succeeded", 1), ("succeeded", 1)]).await;
        wait_states(&app, &c.id, &[("succeeded", 1), ("succeeded", 1)]).await;
        assert_eq!(sinks[0].received().len(), 2);
        assert_eq!(sinks[1].received().len(), 2);
        assert_eq!(
            sinks[2].received().len(),
            2,
            "the unsubscribed endpoint got nothing"
        );
    })
    .await;
}

#[tokio::test]
async fn deliveries_to_a_receiver_that_is_down_all_arrive_once_it_is_up() {
    on_each_backend_with(builder(), async |app| {
        // A port with nothing listening: connections are refused.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let ep = endpoint(&app, &format!("http://{addr}/hook"), ALL, true).await;
        let mut sessions = Vec::new();
        for _ in 0..5 {
            sessions.push(cancelled_session(&app, serde_json::Value::Null).await);
        }
        // Every delivery fails at least once.
        let deadline = Instant::now() + WAIT;
        while delivery_states(&app, &ep.id)
            .await
            .iter()
            .any(|(_, n)| *n == 0)
        {
            assert!(
                Instant::now() < deadline,
                "not all deliveries were attempted"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(
            attempt_error_kinds(&app, &ep.id)
                .await
                .iter()
                .all(|k| k.as_deref() == Some("connect"))
        );

        let sink = Sink::start_on(addr).await;
        let got = sink.wait_for(5, WAIT).await;
        let mut ids: Vec<String> = got
            .iter()
            .map(|r| {
                ep.receiver()
                    .open(&r.headers, &r.body)
                    .unwrap()
                    .metadata
                    .verification_session_id
                    .to_string()
            })
            .collect();
        ids.sort();
        ids.dedup();
        sessions.sort();
        assert_eq!(ids, sessions);
        let deadline = Instant::now() + WAIT;
        while !delivery_states(&app, &ep.id)
            .await
            .iter()
            .all(|(s, _)| s == "succeeded")
        {
            assert!(Instant::now() < deadline, "not all succeeded");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn gone_and_bad_request_fail_the_delivery_without_a_retry() {
    on_each_backend_with(builder(), async |app| {
        for status in [410, 400] {
            let sink = Sink::start().await;
            sink.always(status);
            let ep = endpoint(&app, &sink.url, ALL, true).await;
            cancelled_session(&app, serde_json::Value::Null).await;
            wait_states(&app, &ep.id, &[("failed", 1)]).await;
            // Final as recorded: no retry is scheduled and no worker holds it, so none can follow.
            let rows = delivery_rows(&app, &ep.id).await;
            assert_eq!(
                rows[0].next_attempt_at, None,
                "{status} was scheduled again"
            );
            assert_eq!(rows[0].lease_owner, None);
            assert_eq!(sink.received().len(), 1, "{status} was retried");
            exec(
                &app.state.store,
                "UPDATE webhook_endpoints SET enabled = FALSE WHERE id = $1",
                &[ep.id.as_str()],
            )
            .await;
        }
    })
    .await;
}

#[tokio::test]
async fn too_many_requests_is_retried_no_earlier_than_retry_after() {
    // First retry ceiling 200 ms, but a cap above the receiver's 2 s.
    let mut settings = fast_retries();
    settings.retry.cap = Duration::from_secs(10);
    on_each_backend_with(
        TestAppBuilder::default()
            .allow_private_webhooks(true)
            .delivery(settings),
        async |app| {
            let sink = Sink::start().await;
            sink.then(429, Some("2"));
            let ep = endpoint(&app, &sink.url, ALL, true).await;
            cancelled_session(&app, serde_json::Value::Null).await;
            let got = sink.wait_for(2, WAIT).await;
            assert_eq!(
                got[0].headers["webhook-id"], got[1].headers["webhook-id"],
                "same webhook-id on retry"
            );
            wait_states(&app, &ep.id, &[("succeeded", 2)]).await;
            // By the server's own clock, as recorded: the retry could not be claimed before the
            // time the first attempt scheduled. Without the header the 200 ms schedule would
            // have retried well within a second.
            let starts = attempt_starts(&app, &ep.id).await;
            assert_eq!(starts.len(), 2);
            let gap_ms = starts[1] - starts[0];
            assert!(gap_ms >= 2000, "retried after {gap_ms} ms");
        },
    )
    .await;
}

#[tokio::test]
async fn server_errors_are_retried_until_the_receiver_accepts() {
    on_each_backend_with(builder(), async |app| {
        let sink = Sink::start().await;
        sink.then(500, None).then(502, None).then(503, None);
        let ep = endpoint(&app, &sink.url, ALL, true).await;
        cancelled_session(&app, serde_json::Value::Null).await;
        sink.wait_for(4, WAIT).await;
        wait_states(&app, &ep.id, &[("succeeded", 4)]).await;
        let kinds = attempt_error_kinds(&app, &ep.id).await;
        assert_eq!(
            kinds,
            vec![None, None, None, None],
            "HTTP answers are not network errors"
        );
    })
    .await;
}

#[tokio::test]
async fn deliveries_wait_blocked_without_a_key_and_go_out_once_one_is_uploaded() {
    on_each_backend_with(builder(), async |app| {
        let sink = Sink::start().await;
        let ep = endpoint(&app, &sink.url, ALL, false).await;
        // A second endpoint with a key gets a delivery of the same event in the same commit:
        // once that one is recorded, the worker has claimed after the blocked one existed.
        let witness_sink = Sink::start().await;
        let witness = endpoint(&app, &witness_sink.url, ALL, true).await;
        cancelled_session(&app, serde_json::Value::Null).await;
        wait_states(&app, &witness.id, &[("succeeded", 1)]).await;
        let rows = delivery_rows(&app, &ep.id).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, "blocked_no_key");
        assert_eq!(rows[0].attempt_count, 0);
        assert_eq!(rows[0].lease_owner, None, "a blocked delivery was claimed");
        assert!(sink.received().is_empty());
        add_key(&app, &ep).await;
        sink.wait_for(1, WAIT).await;
        wait_states(&app, &ep.id, &[("succeeded", 1)]).await;
    })
    .await;
}

#[tokio::test]
async fn erasing_a_session_cancels_its_pending_deliveries() {
    on_each_backend_with(builder(), async |app| {
        let sink = Sink::start().await;
        sink.always(503);
        let ep = endpoint(&app, &sink.url, ALL, true).await;
        let session = cancelled_session(&app, serde_json::Value::Null).await;
        sink.wait_for(1, WAIT).await;
        let res = app
            .request(Method::DELETE, &format!("/v1/sessions/{session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        let seen = sink.received().len();
        let rows = delivery_rows(&app, &ep.id).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, "cancelled");
        assert_eq!(rows[0].next_attempt_at, None, "a retry is still scheduled");
        // A later session's delivery to the same endpoint shows the worker kept working; none of
        // what arrived since the erase is about the erased session.
        let later = cancelled_session(&app, serde_json::Value::Null).await;
        let deadline = Instant::now() + WAIT;
        while !sink.received().iter().any(|r| session_of(&ep, r) == later) {
            assert!(
                Instant::now() < deadline,
                "the later session's delivery never arrived"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            sink.received()[seen..]
                .iter()
                .all(|r| session_of(&ep, r) == later),
            "a request about the erased session arrived after the erase returned"
        );
    })
    .await;
}

/// The session an opened delivery is about.
fn session_of(
    ep: &crate::delivery_support::Endpoint,
    r: &crate::delivery_support::Received,
) -> String {
    ep.receiver()
        .open(&r.headers, &r.body)
        .expect("verifies and decrypts")
        .metadata
        .verification_session_id
        .to_string()
}

#[tokio::test]
async fn nothing_about_an_erased_session_arrives_after_the_erase_returns() {
    // One send at a time to the endpoint: while the first delivery is held on the wire by the
    // receiver, the second one of the same session is claimed and waits for the endpoint's slot.
    let settings = DeliverySettings {
        per_endpoint_concurrency: 1,
        ..fast_retries()
    };
    on_each_backend_with(
        TestAppBuilder::default()
            .allow_private_webhooks(true)
            .delivery(settings),
        async |app| {
            let sink = Sink::start().await;
            let release = sink.hold();
            let ep = endpoint(&app, &sink.url, ALL, true).await;
            let session = cancelled_session(&app, serde_json::Value::Null).await;
            let first = sink.wait_for(1, WAIT).await;
            let event = ep
                .receiver()
                .open(&first[0].headers, &first[0].body)
                .expect("verifies and decrypts");
            let res = app
                .request(Method::POST, &format!("/v1/events/{}/replay", event.id))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let deadline = Instant::now() + WAIT;
            while leased_count(&app, &ep.id).await < 2 {
                assert!(Instant::now() < deadline, "the replay was not claimed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }

            let erase = tokio::spawn(
                app.request(Method::DELETE, &format!("/v1/sessions/{session}"))
                    .send(),
            );
            // The erase has committed: both deliveries are cancelled.
            wait_states(&app, &ep.id, &[("cancelled", 0), ("cancelled", 0)]).await;
            let erase_waited_for_the_wire = !erase.is_finished();
            release.send(true).unwrap();
            let res = erase.await.unwrap().unwrap();
            assert_eq!(res.status(), 204);
            // Ordering counter: every request at this index or later arrived after the erase
            // returned.
            let returned_at = sink.received().len();

            // A later session's delivery to the same endpoint waits for the slot behind the
            // claimed one of the erased session, so once it has arrived that one was decided.
            let later = cancelled_session(&app, serde_json::Value::Null).await;
            let deadline = Instant::now() + WAIT;
            while !sink.received().iter().any(|r| session_of(&ep, r) == later) {
                assert!(
                    Instant::now() < deadline,
                    "the later session's delivery never arrived"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let after: Vec<String> = sink.received()[returned_at..]
                .iter()
                .map(|r| session_of(&ep, r))
                .filter(|s| *s == session)
                .collect();
            assert!(
                after.is_empty(),
                "{} request(s) about the erased session arrived after the erase returned",
                after.len()
            );
            assert!(
                erase_waited_for_the_wire,
                "the erase returned while a request about the session was still on the wire"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn during_a_secret_rotation_both_secrets_sign_and_each_verifies() {
    on_each_backend_with(builder(), async |app| {
        let sink = Sink::start().await;
        let ep = endpoint(&app, &sink.url, ALL, true).await;
        // Rotate: the old secret becomes the previous one for another 24 h.
        let new = idgate_webhook::WebhookSecret::generate().unwrap();
        let sealed_new = app.state.secrets.seal_signing_secret(&ep.id, &new);
        let sealed_old = app.state.secrets.seal_signing_secret(&ep.id, &ep.secret);
        let until = (app.state.clock.now().unix_ms() + 24 * 3_600_000).to_string();
        exec(
            &app.state.store,
            &format!(
                "UPDATE webhook_endpoints SET secret_sealed = $1, previous_secret_sealed = $2, \
                 previous_secret_expires_at = {until} WHERE id = $3"
            ),
            &[&sealed_new, &sealed_old, ep.id.as_str()],
        )
        .await;
        cancelled_session(&app, serde_json::Value::Null).await;
        let got = sink.wait_for(1, WAIT).await;
        let signatures = got[0].headers["webhook-signature"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
        let old_receiver = ep.receiver();
        let new_receiver =
            idgate_webhook::Receiver::new(new, crate::delivery_support::keys().private.clone());
        let a = old_receiver
            .open(&got[0].headers, &got[0].body)
            .expect("old secret verifies");
        let b = new_receiver
            .open(&got[0].headers, &got[0].body)
            .expect("new secret verifies");
        assert_eq!(a, b);
    })
    .await;
}

/// Four days, past the 3-day retry window.
const FOUR_DAYS_MS: &str = "345600000";

/// Makes every delivery of `ep` look created four days ago.
async fn age_deliveries(app: &idgate_server::testing::TestApp, ep: &idgate_core::EndpointId) {
    exec(
        &app.state.store,
        &format!("UPDATE webhook_deliveries SET created_at = created_at - {FOUR_DAYS_MS} WHERE endpoint_id = $1"),
        &[ep.as_str()],
    )
    .await;
}

#[tokio::test]
async fn a_manual_retry_of_an_old_failed_delivery_gets_a_whole_retry_window() {
    on_each_backend_with(builder(), async |app| {
        let sink = Sink::start().await;
        sink.then(410, None).then(503, None);
        let ep = endpoint(&app, &sink.url, ALL, true).await;
        cancelled_session(&app, serde_json::Value::Null).await;
        wait_states(&app, &ep.id, &[("failed", 1)]).await;
        age_deliveries(&app, &ep.id).await;
        let list: serde_json::Value = app
            .request(
                Method::GET,
                &format!("/v1/webhooks/deliveries?endpoint_id={}", ep.id),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let delivery = list["data"][0]["id"].as_str().unwrap().to_owned();
        let res = app
            .request(
                Method::POST,
                &format!("/v1/webhooks/deliveries/{delivery}/retry"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        // The 503 after the retry is retried (not the end of a window that began at creation),
        // and the receiver's next answer, 200, completes the delivery.
        wait_states(&app, &ep.id, &[("succeeded", 3)]).await;
    })
    .await;
}

#[tokio::test]
async fn a_delivery_released_days_after_it_began_waiting_for_a_key_gets_a_whole_retry_window() {
    on_each_backend_with(builder(), async |app| {
        let sink = Sink::start().await;
        sink.then(503, None);
        let ep = endpoint(&app, &sink.url, ALL, false).await;
        cancelled_session(&app, serde_json::Value::Null).await;
        wait_states(&app, &ep.id, &[("blocked_no_key", 0)]).await;
        age_deliveries(&app, &ep.id).await;
        add_key(&app, &ep).await;
        wait_states(&app, &ep.id, &[("succeeded", 2)]).await;
    })
    .await;
}
