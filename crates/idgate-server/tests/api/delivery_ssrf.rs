//! The SSRF guard at send time (docs/webhooks.md "SSRF guard"): without the operator switch, a
//! stored endpoint URL aimed at loopback, private, link-local (cloud metadata) or unique-local
//! space is refused before any connection. The attempt records one `refused` kind whatever the
//! range (naming it would let a tenant map internal names), and the delivery fails at once.

use std::time::{Duration, Instant};

use crate::delivery_support::{
    attempt_error_kinds, cancelled_session, delivery_states, endpoint, fast_retries,
};
use crate::support::{TestAppBuilder, on_each_backend_with};

#[tokio::test]
async fn internal_destinations_are_refused_at_send_time_without_the_operator_switch() {
    let builder = TestAppBuilder::default()
        .allow_private_webhooks(false)
        .delivery(fast_retries());
    on_each_backend_with(builder, async |app| {
        // Stored directly: the management API refuses these URLs up front, but a URL accepted
        // under a laxer configuration, or a name that resolves inward, must still be stopped.
        let urls = [
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://10.1.2.3/hook",
            "https://172.16.0.1/hook",
            "https://192.168.1.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[fd00::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://localhost/hook",
        ];
        let mut endpoints = Vec::new();
        for url in urls {
            endpoints.push((endpoint(&app, url, r#"["*"]"#, true).await, url));
        }
        cancelled_session(&app, serde_json::Value::Null).await;
        for (ep, url) in &endpoints {
            let deadline = Instant::now() + Duration::from_secs(10);
            let kinds = loop {
                let kinds = attempt_error_kinds(&app, &ep.id).await;
                if !kinds.is_empty() {
                    break kinds;
                }
                assert!(Instant::now() < deadline, "{url} was never attempted");
                tokio::time::sleep(Duration::from_millis(25)).await;
            };
            assert_eq!(kinds[0].as_deref(), Some("refused"), "{url}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_refused_destination_fails_its_delivery_after_one_attempt() {
    let builder = TestAppBuilder::default()
        .allow_private_webhooks(false)
        .delivery(fast_retries());
    on_each_backend_with(builder, async |app| {
        let ep = endpoint(&app, "https://10.1.2.3/hook", r#"["*"]"#, true).await;
        cancelled_session(&app, serde_json::Value::Null).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while attempt_error_kinds(&app, &ep.id).await.is_empty() {
            assert!(Instant::now() < deadline, "never attempted");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // Long enough for several retries under `fast_retries` (200 ms ceiling, 1 s cap), had
        // the refusal been scheduled for another attempt.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            delivery_states(&app, &ep.id).await,
            vec![("failed".to_owned(), 1)]
        );
        assert_eq!(
            attempt_error_kinds(&app, &ep.id).await,
            vec![Some("refused".to_owned())]
        );
    })
    .await;
}
